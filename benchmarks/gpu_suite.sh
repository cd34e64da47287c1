#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md in one command (about 8 minutes on one H100):
# the test suite on CUDA (the CUDA-graph tests run there), agent update rates (eager, CUDA graph,
# torch.compile; 1 and many seeds per process; d3rlpy on the same GPU), world-model throughput, and
# float32 vs bfloat16 for the captured agent update and world-model step.
#
#     bash benchmarks/gpu_suite.sh OUT_DIR            # the figures (about 8 minutes)
#     bash benchmarks/gpu_suite.sh OUT_DIR long       # instead: issue #12's long comparison (IQL vs
#                                                     # DAWM-IQL, 200k updates, 5 seeds vectorised)
#     bash benchmarks/gpu_suite.sh OUT_DIR parity     # instead: issue #13's d3rlpy parity grid at 30k
#                                                     # updates, 8 runs sharing the GPU
#     bash benchmarks/gpu_suite.sh OUT_DIR confirm V  # instead: issue #27's confirmation of variant V
#                                                     # (study_synthetic.py) on its three datasets, 5 seeds
#                                                     # vectorised, each its own world model, 300k updates,
#                                                     # with its own plain baseline
#     bash benchmarks/gpu_suite.sh OUT_DIR study      # instead: issue #12's study (the default, combined+ratio-0.25, and the
#                                                     # oracle on three datasets and on 2% subsets of
#                                                     # them, then the world-model variants), with its
#                                                     # own plain baseline, 5 seeds
#
# Datasets: a machine without the generated datasets makes them on first use (minutes each). To
# skip that, copy them into gpu-cache/datasets/ (ignored by git; e.g. cp ~/.cache/dawm/datasets/
# hopper-medium-replay.hdf5 gpu-cache/datasets/) and carry gpu-cache; the suite then uses it.
#
# Expects dawm, its dependencies and d3rlpy importable (`pip install -e '.[dev]'` and d3rlpy as in
# the `bench` extra's note); src/ is put on PYTHONPATH so an uninstalled checkout also runs.
#
# Each step has its own time limit, so one slow step costs only its own figures; all logs go to
# OUT_DIR/suite.log, one section per step.
set -u
out=${1:-gpu-suite}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ -d gpu-cache ] && export DAWM_CACHE="$PWD/gpu-cache"
log="$out/suite.log"
step() {  # step NAME SECONDS CMD...: run CMD with a limit, appending its output to the log
    local name=$1 limit=$2; shift 2
    echo "== $name: $*" | tee -a "$log"
    local t0=$SECONDS
    timeout "$limit" "$@" >>"$log" 2>&1
    echo "== $name: exit $? after $((SECONDS - t0)) s" | tee -a "$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$log"

if [ "${2:-}" = long ]; then  # resumable: a second call continues the runs under OUT_DIR/long
    L="python3 benchmarks/long_comparison.py --out $out/long --steps 200000 --seeds 5 --eval-every 50000"
    step long_comparison 540 $L --checkpoint-every 25000 run
    $L table | tee -a "$log"
    exit 0
fi

if [ "${2:-}" = parity ]; then  # resumable: each finished run leaves a record under OUT_DIR/parity/runs
    P="python3 benchmarks/parity_d3rlpy.py --out $out/parity --steps 30000 --algos iql td3bc"
    step parity_d3rlpy 540 $P --device cuda --workers 8
    $P --table | tee -a "$log"
    exit 0
fi

if [ "${2:-}" = confirm ]; then  # resumable cell by cell; GPU runs differ from CPU ones, so the baseline runs here too
    C="python3 benchmarks/study_synthetic.py --out $out/confirm --seeds 0 1 2 3 4 --vectorise --world-model-per-seed \
       --steps 300000 --eval-every 10000 --checkpoint-every 20000 --final 10 --variants ${3:?the variant to confirm} \
       --datasets walker2d-medium-replay hopper-medium-expert halfcheetah-medium-replay"
    step confirm 540 $C run
    $C table | tee -a "$log"
    exit 0
fi

if [ "${2:-}" = study ]; then  # resumable cell by cell; GPU runs differ from CPU ones, so the baseline runs here too
    # first the default (combined+ratio-0.25) and the oracle bound on all three datasets (issue #12's
    # decision), then the world-model variants on hopper-medium-replay
    D="python3 benchmarks/study_synthetic.py --out $out/study --seeds 0 1 2 3 4 --variants combined+ratio-0.25 \
       combined+ratio-0.25+oracle --datasets hopper-medium-replay hopper-medium walker2d-medium-replay"
    S="python3 benchmarks/study_synthetic.py --out $out/study --seeds 0 1 2 3 4 --variants combined+ratio-0.25+karras \
       combined+ratio-0.25+mlp-denoiser"
    step study_decide 270 $D --workers 6 run  # makes the datasets first where they are not cached
    # the data-scarce setting: a random 2% of each dataset's episodes (seed 0), where the plain agents are
    # short of data (docs/results.md), plain vs the default and its oracle
    scarce=""
    for d in hopper-medium-replay hopper-medium walker2d-medium-replay; do
        f=$out/$d-2pct.hdf5
        [ -f "$f" ] || step "subset_$d" 60 python3 -m dawm dataset subset $d --fraction 0.02 --seed 0 --out "$f"
        scarce="$scarce $f"
    done
    C="python3 benchmarks/study_synthetic.py --out $out/study-scarce --seeds 0 1 2 3 4 --variants combined+ratio-0.25 \
       combined+ratio-0.25+oracle --datasets$scarce"
    step study_scarce 150 $C --workers 6 run
    step study_screen 90 $S --workers 6 run
    $D table | tee -a "$log"
    $C table | tee -a "$log"
    $S table | tee -a "$log"
    exit 0
fi

step cuda_tests 120 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests/test_agents_compiled.py \
    tests/test_precision.py
A="python3 benchmarks/speed_agents.py --device cuda --threads 4 --seconds 2 --rounds 2"
step agents_s1 90 $A
step agents_s1_graph 90 $A --compile cuda-graph --no-d3rlpy --precision float32 bfloat16
step agents_s1_compile 200 $A --compile torch-compile --no-d3rlpy --rounds 1
step agents_s10 60 $A --seeds 10 --no-d3rlpy
step agents_s10_graph 60 $A --seeds 10 --compile cuda-graph --no-d3rlpy
step agents_s50_graph 60 $A --seeds 50 --compile cuda-graph --no-d3rlpy
step world_model 150 python3 benchmarks/speed_world_model.py --device cuda --threads 4 --rounds 2 \
    --n-starts 131072 --batch 16384 --train-batches 128 1024 4096
step world_model_graph 90 python3 benchmarks/speed_world_model.py --device cuda --threads 4 --rounds 2 \
    --quick --compile cuda-graph --n-starts 131072 --batch 16384 --train-batches 64 128 1024 \
    --precision float32 bfloat16
step tests 240 python3 -m pytest -q -p no:cacheprovider -p no:warnings tests

grep -E "^== |passed|failed|^\| |peak" "$log" | grep -v -- "|---"
