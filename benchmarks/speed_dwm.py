"""DWM's cost: TD3+BC updates/s with one-step targets, with Diffusion-MVE sampled per batch, and with
the rollout pool (dawm.agents.value_expansion.RolloutPool).

    python benchmarks/speed_dwm.py [--threads 1] [--seconds 10] [--pool-size 50000] [--refresh-every 5000]

Self-contained: random Hopper-sized data (obs 11, act 3), the default world model (untrained:
throughput does not depend on the weights) and H = 5. The pool's rate is amortised: one refresh
(drawing `pool_size` rollouts) is timed and spread over `refresh_every` updates served from it.
Rates per wall second and per CPU-second of this process (less disturbed by other jobs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average, random_dataset, timed  # noqa: E402

from dawm.agents import TD3BC, TransitionBuffer  # noqa: E402
from dawm.agents.value_expansion import DiffusionMVE, RolloutPool  # noqa: E402
from dawm.data.transitions import Transitions  # noqa: E402
from dawm.world_model.config import WorldModelConfig  # noqa: E402
from dawm.world_model.diffusion import TrajectoryDiffusion  # noqa: E402
from dawm.world_model.config import diffusion_settings  # noqa: E402

OBS, ACT, N = 11, 3, 100_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--pool-size", type=int, default=50_000)
    p.add_argument("--refresh-every", type=int, default=5_000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = Transitions.from_dataset(random_dataset(N, OBS, ACT))
    cfg = WorldModelConfig()
    wm = TrajectoryDiffusion(OBS, ACT, **diffusion_settings(cfg)).eval()
    mve = DiffusionMVE(wm, args.horizon, rtg=100.0)

    def trainer(target_fn, source):
        agent = TD3BC.from_transitions(data, target_fn=target_fn) if target_fn else TD3BC.from_transitions(data)
        return lambda: agent.update(source.sample(256))

    rows = [("TD3+BC, one-step target", *timed(trainer(None, TransitionBuffer(data)), args.seconds))]
    rows.append(("DWM-TD3BC, rollout per batch (pool 0)",
                 *timed(trainer(mve, RolloutPool(TransitionBuffer(data), mve, 0)), args.seconds)))
    pool = RolloutPool(TransitionBuffer(data), mve, args.pool_size, refresh_every=10**12)
    w, c = time.perf_counter(), time.process_time()
    pool.sample(256)  # the first call draws the pool
    refresh_wall, refresh_cpu = time.perf_counter() - w, time.process_time() - c
    served_wall, served_cpu = timed(trainer(mve, pool), args.seconds)
    k = args.refresh_every
    rows.append((f"DWM-TD3BC, pool {args.pool_size:,} / {k:,} updates",
                 k / (refresh_wall + k / served_wall), k / (refresh_cpu + k / served_cpu)))

    print(f"threads {args.threads}  load {load_average()}  torch {torch.__version__}  H = {args.horizon}  batch 256")
    print(f"pool refresh: {args.pool_size:,} rollouts in {refresh_wall:.1f} s wall, {refresh_cpu:.1f} s CPU\n")
    print("| variant | updates/s (wall) | updates/s (CPU-s) | vs TD3+BC (CPU-s) |")
    print("|---|---:|---:|---:|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {cpu / rows[0][2]:.2f}x |")


if __name__ == "__main__":
    main()
