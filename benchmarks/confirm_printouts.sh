#!/usr/bin/env bash
# Issue #27: rebuild the confirmation's printouts from the committed records (benchmarks/results/confirm/):
# confirm.md (the verdict at 300k and at `dawm run`'s 30k budget, what the rollouts earn) and oracle.md (the
# simulator's answers to the same pairs). Reads only records; the bootstrap is seeded, so a rerun prints the same.
#     bash benchmarks/confirm_printouts.sh
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
python=${PYTHON:-.venv/bin/python}
V='combined+ratio-0.25+own*1.5+return-filter'
dir=benchmarks/results/confirm
common=(--out "$dir" --baseline benchmarks/results/long-plain)
shown() {  # the command as a reader would type it (a variant's * quoted), then what it prints
  local line=python arg
  for arg in "${@:2}"; do [[ $arg == *'*'* ]] && line+=" '$arg'" || line+=" $arg"; done
  printf '```\n%s\n```\n' "$line"
  "$@"
}
{
  echo "# Issue #27 step 3: the confirmation (records in this folder; the plain agents' in ../long-plain)"
  echo
  shown "$python" benchmarks/study_synthetic.py table --variants "$V" "${common[@]}" --final 10 --goal
  echo
  echo "## At dawm run's 30k budget"
  echo
  shown "$python" benchmarks/study_synthetic.py table --variants "$V" "${common[@]}" --at 30000 --goal
  echo
  echo "## What the rollouts earn"
  shown "$python" benchmarks/achieved_returns.py "$dir/$V"
} > "$dir/confirm.md.new"
mv "$dir/confirm.md.new" "$dir/confirm.md"
{
  echo "# Issue #27: the oracle of the confirmed variant (its filtered (s, a), the simulator's r, s', done)"
  echo
  shown "$python" benchmarks/study_synthetic.py table --variants "$V" "$V+oracle" --versus "$V" "${common[@]}" --final 10
} > "$dir/oracle.md.new"
mv "$dir/oracle.md.new" "$dir/oracle.md"
