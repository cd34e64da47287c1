#!/usr/bin/env bash
# Issue #27: the plain agents' long-budget runs that every later comparison reads (docs/results.md, the plan):
# 300k updates, 5 seeds vectorised in one process, bfloat16, evaluation every 10k updates with 10 episodes per
# seed. One queue per core, e.g.
#     bash benchmarks/long_plain_runs.sh hopper-medium-replay walker2d-medium-replay      # core 1
#     bash benchmarks/long_plain_runs.sh hopper-medium-expert halfcheetah-medium-replay   # core 2
# Resumable: the same command continues each run from its last checkpoint (every 20k updates) while runs/ holds
# it. A finished run's record and curves go to benchmarks/results/long-plain/ (read by benchmarks/long_plain.py).
# Set PYTHONPATH to a frozen worktree's src/ to keep the code fixed while the tree changes.
set -u
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
dawm=${DAWM:-.venv/bin/dawm}
for d in "$@"; do
  for algo in td3bc iql; do
    echo "== $algo $d $(date)"
    if "$dawm" run --method $algo --dataset "$d" --root runs/long/pipeline --agent.seeds 5 --agent.steps 300000 \
        --agent.eval-every 10000 --agent.eval-episodes 10 --agent.precision bfloat16 --agent.checkpoint-every 20000 \
        --agent.log-every 5000; then
      run=runs/long/pipeline/$algo-$d-seed0
      cp "$run/summary.json" "benchmarks/results/long-plain/${algo}__${d}__seed0.json"
      agent=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['agent_run'])" "$run/summary.json")
      cp "$agent/metrics.jsonl" "benchmarks/results/long-plain/${algo}__${d}__seed0.metrics.jsonl"
    else
      echo "FAILED $algo $d"
    fi
  done
done
echo "== done $(date)"
