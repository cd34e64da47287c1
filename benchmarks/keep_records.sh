#!/usr/bin/env bash
# Copy a study's finished cell records and their learning curves into the repository, where tables read them:
#     bash benchmarks/keep_records.sh runs/screen/VARIANT benchmarks/results/screen/VARIANT
# Each <cell>.json goes beside <cell>.metrics.jsonl (its agent run's every evaluation; dawm.results.grid.metrics_file),
# and each synthetic set's fidelity report to fidelity/<set>-fidelity.json (read by benchmarks/achieved_returns.py).
set -eu
from=$1 to=$2
python=${PYTHON:-.venv/bin/python}
mkdir -p "$to"
for cell in "$from"/cells/*.json; do
  [ -e "$cell" ] || continue
  cp "$cell" "$to/"
  agent=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['agent_run'])" "$cell")
  cp "$agent/metrics.jsonl" "$to/$(basename "$cell" .json).metrics.jsonl"
  "$python" -c "import json,sys; c=json.load(open(sys.argv[1]))
for s in c.get('per_seed_stages') or [c]: print((s.get('fidelity') or {}).get('report', ''))" "$cell" |
  while read -r report; do
    [ -f "$report" ] || continue
    mkdir -p "$to/fidelity"
    cp "$report" "$to/fidelity/$(basename "$(dirname "$report")").json"
  done
done
