#!/usr/bin/env bash
# Issue #27: rebuild the confirmation's printouts from the committed records (benchmarks/results/confirm/):
# confirm.md (the verdict at 300k and at `dawm run`'s 30k budget, what the rollouts earn), oracle.md (the
# simulator's answers to the same pairs, and the one-step ensemble's where run) and train-metrics.md (the critics'
# level and loss, seed means, from the curves). Reads only records; the bootstrap is seeded, so a rerun prints the same.
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
  if [ -d "$dir/$V+ensemble-labels" ]; then
    echo
    echo "## The same pairs answered by the one-step ensemble (a diagnostic, walker2d-medium-replay)"
    echo
    shown "$python" benchmarks/study_synthetic.py table --variants "$V" "$V+ensemble-labels" "$V+oracle" --versus "$V" \
      "${common[@]}" --datasets walker2d-medium-replay --final 10
  fi
} > "$dir/oracle.md.new"
mv "$dir/oracle.md.new" "$dir/oracle.md"
curves() {  # seed 0's curve file (a vectorised run's: the seed means) of each run there is, plain first
  local agent=$1 data run f
  for data in walker2d-medium-replay hopper-medium-expert halfcheetah-medium-replay; do
    for run in "benchmarks/results/long-plain/${agent}" "$dir/$V/dawm-$agent" "$dir/$V+oracle/dawm-$agent" \
      "$dir/$V+ensemble-labels/dawm-$agent"; do
      f="${run}__${data}__seed0.metrics.jsonl"
      [ -f "$f" ] && echo "$f"
    done
  done
}
{
  echo "# Issue #27: the critics' training metrics at chosen updates (from the committed curves)"
  for agent in td3bc iql; do
    echo
    mapfile -t files < <(curves "$agent")
    shown "$python" benchmarks/train_metrics.py "${files[@]}" --at 100000 150000 300000 --keys train/q_mean \
      train/critic_loss
  done
} > "$dir/train-metrics.md.new"
mv "$dir/train-metrics.md.new" "$dir/train-metrics.md"
