#!/usr/bin/env bash
# The tiny runs that `benchmarks/same_numbers.py` compares between two versions of the code (issue #30):
#     bash benchmarks/same_numbers_runs.sh TREE ROOT      # TREE: a worktree of the version, ROOT: a fresh run root
#     python benchmarks/same_numbers.py ROOT_BEFORE ROOT_AFTER
# DAWM with the default synthesis, DAWM-IQL with the oracle's labels and a refresh schedule, DWM, and DAWM with the
# better-data knobs (own*1.5, the return filter, partial noising) at another seed, all at the tiny preset on the 2%
# subset of hopper-medium-replay (`dawm dataset subset hopper-medium-replay --fraction 0.02 --seed 0 --out FILE`;
# set DATA to its path).
set -eu
tree=$1 root=$2
data=${DATA:-runs/data/hopper-medium-replay-2pct.hdf5}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$tree/src
run() { python3 -m dawm run --preset tiny --dataset "$data" --root "$root" --no-baseline "$@"; }
run
run --method dawm-iql --synthesis.labels oracle --synthesis.refresh-every 100
run --method dwm-td3bc
run --method dawm-td3bc --synthesis.return-filter --synthesis.target-rtg 'own*1.5' --synthesis.noise-level 0.5 --seed 1
