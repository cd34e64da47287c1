#!/usr/bin/env bash
# Issue #27 step 3 (docs/results.md, the plan): the variant the screen picked, on the datasets the screen did not
# use: 5 seeds vectorised in one process, each seed with its own world model and synthetic set (the intervals then
# include the world model's variation), 300k updates, bfloat16, evaluation every 10k updates x 10 episodes, the
# plain agents read off their long runs (benchmarks/long_plain_runs.sh). One queue per core, e.g.
#     bash benchmarks/confirm_runs.sh VARIANT walker2d-medium-replay        # core 1
#     bash benchmarks/confirm_runs.sh VARIANT hopper-medium-expert          # core 2
# Resumable cell by cell, and within a cell from its last checkpoint (every 20k updates) while runs/ holds it.
# Finished cells' records and curves are copied to benchmarks/results/confirm/VARIANT/ (read by `table`).
# From a frozen worktree W, the code fixed while this tree changes (runs/ and the records stay in this tree):
#     PYTHONPATH=W/src STUDY=W/benchmarks/study_synthetic.py bash benchmarks/confirm_runs.sh ...
# AGENTS=td3bc (or iql) runs one agent, so a cell's two agents can take a core each.
# ACTION=world-models trains (or finds) only the 5 world models per dataset, e.g. before the variant is chosen
# (they do not depend on it).
set -u
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python=${PYTHON:-.venv/bin/python}
variant=$1
shift
"$python" "${STUDY:-benchmarks/study_synthetic.py}" "${ACTION:-run}" --variants "$variant" --datasets "$@" \
  --seeds 0 1 2 3 4 --vectorise --world-model-per-seed --steps 300000 --eval-every 10000 --checkpoint-every 20000 --precision bfloat16 \
  --workers 1 --out runs/confirm --baseline benchmarks/results/long-plain --final 10 --agents ${AGENTS:-td3bc iql}
[ "${ACTION:-run}" = run ] || exit 0
bash benchmarks/keep_records.sh "runs/confirm/$variant" "benchmarks/results/confirm/$variant"
echo "== done $(date)"
