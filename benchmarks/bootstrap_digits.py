"""How much a bootstrap interval's ends move with the bootstrap's own seed, by number of resamples (issue #29).

    python benchmarks/bootstrap_digits.py [--study benchmarks/results/study-scarce] [--variant combined+ratio-0.25]
        [--agent td3bc] [--datasets hopper-medium-replay-2pct hopper-medium-2pct walker2d-medium-replay-2pct]

For P(variant > plain agent) over the datasets (rliable's stratified bootstrap, as the tables compute it), each
number of resamples is run with `--seeds` bootstrap seeds; the table gives each interval end's median, range and
standard deviation across them, and the seconds one estimate takes. A printed digit is honest when the end's
standard deviation is well under half a unit of it (0.005 for P's two decimals).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dawm.results import stats
from dawm.results.grid import Grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", default="benchmarks/results/study-scarce")
    p.add_argument("--variant", default="combined+ratio-0.25")
    p.add_argument("--agent", default="td3bc")
    p.add_argument("--datasets", nargs="+",
                   default=["hopper-medium-replay-2pct", "hopper-medium-2pct", "walker2d-medium-replay-2pct"])
    p.add_argument("--reps", nargs="+", type=int, default=[2000, 10000, 50000])
    p.add_argument("--seeds", type=int, default=10, help="bootstrap seeds per number of resamples")
    args = p.parse_args()
    study = Path(args.study)
    scores: stats.Scores = {}
    for folder, method, label in (("baseline", args.agent, "plain"), (args.variant, f"dawm-{args.agent}", "variant")):
        grid = Grid.load(study / folder, sorted((study / folder).glob(f"{method}__*__seed*.json")))
        for d, by in grid.scores().items():
            if d in args.datasets:
                scores.setdefault(d, {})[label] = by[method]
    datasets = [d for d in args.datasets if len(scores.get(d, {})) == 2]
    print(f"P({args.variant} {args.agent} > plain) over {', '.join(datasets)} ({args.study})\n")
    print("| resamples | value | low: median [min, max] | low sd | high: median [min, max] | high sd "
          "| s per estimate |")
    print("|---:|---:|---|---:|---|---:|---:|")
    for reps in args.reps:
        ends, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            e = stats.probability_of_improvement(scores, "variant", "plain", datasets, reps, seed=seed)
            ends.append((e.value, e.low, e.high))
        seconds = (time.perf_counter() - t0) / args.seeds
        v, lo, hi = np.array(ends).T
        print(f"| {reps} | {v[0]:.3f} | {np.median(lo):.3f} [{lo.min():.3f}, {lo.max():.3f}] | {lo.std():.4f} | "
              f"{np.median(hi):.3f} [{hi.min():.3f}, {hi.max():.3f}] | {hi.std():.4f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
