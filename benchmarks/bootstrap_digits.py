"""How much a bootstrap interval's ends move with the bootstrap's own seed, by number of resamples (issue #29).

    python benchmarks/bootstrap_digits.py [--study RECORDS] [--variant combined+ratio-0.25] [--agent td3bc]
        [--datasets hopper-medium-replay-2pct hopper-medium-2pct walker2d-medium-replay-2pct]

RECORDS: a study's committed records (default benchmarks/results/study-scarce). For P(variant > plain agent)
and the IQM difference in points over the datasets (rliable's stratified bootstrap, as the tables compute
them), each number of resamples is run with `--seeds` bootstrap seeds; the table gives each interval end's
median, range and standard deviation across them, and the seconds one estimate takes. A printed digit is
honest when the end's standard deviation is well under half a unit of it (0.005 for P's two decimals, 0.05
for a score's one).
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
    p.add_argument("--study", default=str(Path(__file__).resolve().parent / "results" / "study-scarce"))
    p.add_argument("--variant", default="combined+ratio-0.25")
    p.add_argument("--agent", default="td3bc")
    p.add_argument("--datasets", nargs="+",
                   default=["hopper-medium-replay-2pct", "hopper-medium-2pct", "walker2d-medium-replay-2pct"])
    p.add_argument("--reps", nargs="+", type=int, default=[2000, 5000, 10000, 20000])
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
    print(f"P({args.variant} {args.agent} > plain) over {', '.join(datasets)} ({study.name} records)\n")
    print("| estimate | resamples | value | low: median [min, max] | low sd | high: median [min, max] | high sd "
          "| s per estimate |")
    print("|---|---:|---:|---|---:|---|---:|---:|")
    for name, estimate, digits in (("P(variant > plain)", stats.probability_of_improvement, 3),
                                   ("IQM difference (points)", stats.difference, 2)):
        for reps in args.reps:
            ends, t0 = [], time.perf_counter()
            for seed in range(args.seeds):
                e = estimate(scores, "variant", "plain", datasets, reps, seed=seed)
                ends.append((e.value, e.low, e.high))
            seconds = (time.perf_counter() - t0) / args.seeds
            v, lo, hi = np.array(ends).T
            f = f".{digits}f"
            print(f"| {name} | {reps} | {v[0]:{f}} | {np.median(lo):{f}} [{lo.min():{f}}, {lo.max():{f}}] | "
                  f"{lo.std():.4f} | {np.median(hi):{f}} [{hi.min():{f}}, {hi.max():{f}}] | {hi.std():.4f} | "
                  f"{seconds:.2f} |")


if __name__ == "__main__":
    main()
