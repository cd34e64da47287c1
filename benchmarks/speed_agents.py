"""Gradient updates per second of our TD3+BC / IQL vs d3rlpy 2.8.1, and our FLOP/s vs the matmul peak.

    python benchmarks/speed_agents.py                # 2 threads, hopper sizes, 3 interleaved rounds
    python benchmarks/speed_agents.py --threads 1 --seconds 3 --rounds 5
    python benchmarks/speed_agents.py --seeds 5 --compile cuda-graph --device cuda --no-d3rlpy
    python benchmarks/speed_agents.py --threads 1 --precision float32 bfloat16   # the precision column

`--seeds S` times one vectorised update of S independent agents (dawm.agents.seeds) and also
reports seed-updates/s = S * updates/s, the rate to compare with S separate runs; `--compile`
times the update captured as a CUDA graph or torch.compile'd (dawm.agents.compiled; compilation
happens in the warm-up updates, outside the timing).

Every round measures, back to back: the matmul peak of each precision (256^3 and 1024^3), then each
algorithm in our implementation (once per `--precision`, dawm.utils.precision) and in d3rlpy (batch
256, sampling included, as in a training loop). Rounds are interleaved so that a change in machine
load hits all rows alike; the table gives the median over rounds. Rates are wall-clock; "per CPU-s"
divides by the process CPU time instead (robust to other processes on a shared machine, meaningful
with --threads 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _common import (d3rlpy_algo, d3rlpy_available, d3rlpy_build, d3rlpy_dataset,  # noqa: E402
                     load_average, matmul_peak, random_dataset, timed, update_flops)
from dawm.agents import TD3BC, IQL, TransitionBuffer  # noqa: E402
from dawm.agents.compiled import COMPILE_MODES, compiled_update  # noqa: E402
from dawm.agents.seeds import StackedSource  # noqa: E402
from dawm.data.transitions import Transitions  # noqa: E402
from dawm.utils.errors import DawmError  # noqa: E402
from dawm.utils.precision import resolve_precision  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per measurement")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    p.add_argument("--algos", nargs="+", default=["td3bc", "iql"], choices=["td3bc", "iql"])
    p.add_argument("--obs-dim", type=int, default=11, help="observation size (hopper 11, walker2d 17)")
    p.add_argument("--act-dim", type=int, default=3, help="action size (hopper 3, walker2d 6)")
    p.add_argument("--no-d3rlpy", action="store_true", help="skip d3rlpy")
    p.add_argument("--seeds", type=int, default=1, help="independent agents per vectorised update (default 1)")
    p.add_argument("--compile", default="none", choices=COMPILE_MODES, help="update execution (default none)")
    p.add_argument("--device", default="cpu", help="device of our agents, d3rlpy's and the matmul peak")
    p.add_argument("--steps", type=int, default=0, help="time exactly this many updates instead of --seconds")
    p.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                   help="matmul precisions of our agents, one row each (default float32)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    use_d3 = not args.no_d3rlpy and d3rlpy_available()
    ds = random_dataset(obs_dim=args.obs_dim, act_dim=args.act_dim)
    data = Transitions.from_dataset(ds)
    buffer = TransitionBuffer(data, args.device)
    source = buffer if args.seeds == 1 else StackedSource([buffer.reseeded(k) for k in range(args.seeds)])
    dtypes = {p: resolve_precision(p, args.device) for p in args.precision}
    ours = {(algo, p): (TD3BC.from_transitions(data, device=args.device, n_seeds=args.seeds) if algo == "td3bc" else
                        IQL.from_transitions(data, reward_scale=1.0, device=args.device, n_seeds=args.seeds))
            for algo in args.algos for p in args.precision}
    updates = {key: compiled_update(agent, args.compile, dtypes[key[1]]) for key, agent in ours.items()}
    theirs = {}
    if use_d3:
        d3ds = d3rlpy_dataset(ds)
        for algo in args.algos:
            theirs[algo] = d3rlpy_algo(algo, device="cuda:0" if args.device.startswith("cuda") else "cpu:0")
            d3rlpy_build(theirs[algo], d3ds)

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, cpus {os.cpu_count()}, load average before {load_average()}; "
          f"ours: device {args.device}, seeds {args.seeds}, compile {args.compile}")
    big = 4096 if args.device.startswith("cuda") else 1024  # 1024^3 is far from filling a GPU
    results: dict[str, list[tuple[float, float]]] = {}
    for r in range(args.rounds):
        for prec, dtype in dtypes.items():
            results.setdefault(f"peak256/{prec}", []).append(matmul_peak(256, args.seconds / 2, args.device, dtype))
            results.setdefault(f"peakbig/{prec}", []).append(matmul_peak(big, args.seconds / 2, args.device, dtype))
        for algo in args.algos:
            for prec in args.precision:
                update = updates[algo, prec]
                results.setdefault(f"ours/{algo}/{prec}", []).append(
                    timed(lambda: update(source.sample(256)), args.seconds, steps=args.steps))
            if use_d3:
                d3 = theirs[algo]
                results.setdefault(f"d3rlpy/{algo}", []).append(
                    timed(lambda: d3.update(d3ds.sample_transition_batch(256)), args.seconds, steps=args.steps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1][0]:.0f}" for k, v in results.items()),
              flush=True)

    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    print(f"\nload average after {load_average()}; matmul peak (median of rounds), GFLOP/s per wall s and per CPU s:")
    for prec in args.precision:
        print(f"  {prec}: 256^3 {med[f'peak256/{prec}'][0]:.1f} / {med[f'peak256/{prec}'][1]:.1f}, "
              f"{big}^3 {med[f'peakbig/{prec}'][0]:.1f} / {med[f'peakbig/{prec}'][1]:.1f}")
    print("\n| algo | impl | precision | updates/s | seed-updates/s | vs d3rlpy | updates per CPU-s | vs d3rlpy (CPU) "
          f"| GFLOP/update | GFLOP/s | % peak 256^3 | % peak {big}^3 | % peak 256^3 (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for algo in args.algos:
        gflop = args.seeds * update_flops(algo, args.obs_dim, args.act_dim) / 1e9
        base, base_cpu = med.get(f"d3rlpy/{algo}", (None, None))
        rows = [(f"ours/{algo}/{prec}", prec) for prec in args.precision] + [(f"d3rlpy/{algo}", "float32")]
        for key, prec in rows:
            if key not in med:
                continue
            impl = key.split("/")[0]
            wall, cpu = med[key]
            seeds = args.seeds if impl == "ours" else 1
            ratio = f"{seeds * wall / base:.2f}x" if base else "-"  # per seed: S vectorised vs 1 d3rlpy run
            ratio_cpu = f"{seeds * cpu / base_cpu:.2f}x" if base_cpu else "-"
            flops = "- | - | - | - | -"
            if impl == "ours":  # % of the peak of the precision the update runs in
                (p256, p256_cpu), (pbig, _) = med[f"peak256/{prec}"], med[f"peakbig/{prec}"]
                flops = (f"{gflop:.3f} | {wall * gflop:.1f} | {100 * wall * gflop / p256:.0f}% | "
                         f"{100 * wall * gflop / pbig:.0f}% | {100 * cpu * gflop / p256_cpu:.0f}%")
            name = impl if impl == "d3rlpy" else f"ours (seeds {args.seeds}, {args.compile})"
            print(f"| {algo} | {name} | {prec} | {wall:.0f} | {seeds * wall:.0f} | {ratio} | {cpu:.0f} | {ratio_cpu} "
                  f"| {flops} |")
    if not use_d3:
        print("\n(d3rlpy not installed or skipped: `pip install d3rlpy==2.8.1` for the comparison)")


if __name__ == "__main__":
    try:
        main()
    except DawmError as e:
        sys.exit(f"error: {e}")
