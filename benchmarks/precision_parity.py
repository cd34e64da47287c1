"""float32 vs bfloat16 scores: two `dawm bench` grids side by side, with rliable statistics.

    python benchmarks/precision_parity.py runs/parity-precision      # reads <dir>/float32 and <dir>/bfloat16

Prints, per dataset and agent, the final normalised score of each precision as IQM with its 95%
stratified bootstrap CI (and mean ± std), whether the two intervals overlap, P(bfloat16 > float32)
with its CI, and the verdict issue #15 asks for: `auto` may default to bfloat16 only if every
comparison's intervals overlap and no run diverged (a failed cell counts as diverged).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dawm.results import stats
from dawm.results.grid import Grid

PRECISIONS = ("float32", "bfloat16")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="directory holding the float32/ and bfloat16/ bench grids")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    args = p.parse_args()
    scores: stats.Scores = {}
    failed = []
    for prec in PRECISIONS:
        grid = Grid.load(Path(args.root) / prec)
        failed += grid.problems + [str(f) for f in (Path(args.root) / prec / "cells").glob("*.error.txt")]
        for dataset, by_method in grid.scores().items():
            for method, values in by_method.items():
                scores.setdefault(dataset, {})[f"{method}/{prec}"] = values
    table = stats.dataset_table(scores, args.reps)
    print("| dataset | agent | float32 IQM [95% CI] | bfloat16 IQM [95% CI] | float32 mean ± std | "
          "bfloat16 mean ± std | seeds | overlap | P(bf16 > f32) |")
    print("|---|---|---|---|---|---|---|---|---|")
    all_overlap, complete = True, True
    for dataset in scores:
        for agent in ("td3bc", "iql"):
            a, b = table.get((dataset, f"{agent}/float32")), table.get((dataset, f"{agent}/bfloat16"))
            if a is None or b is None:
                complete = False
                continue
            ea, eb = a["iqm"], b["iqm"]
            overlap = ea.low <= eb.high and eb.low <= ea.high
            all_overlap &= overlap
            complete &= min(ea.n, eb.n) >= 5
            poi = stats.probability_of_improvement(scores, f"{agent}/bfloat16", f"{agent}/float32", [dataset],
                                                   args.reps)
            print(f"| {dataset} | {agent} | {ea.text()} | {eb.text()} | {a['mean']:.1f} ± {a['std']:.1f} | "
                  f"{b['mean']:.1f} ± {b['std']:.1f} | {ea.n} / {eb.n} | {'yes' if overlap else 'NO'} | "
                  f"{poi.text(2)} |")
    if failed:
        print("\nfailed or unreadable cells (count as diverged):\n" + "\n".join(f"  {f}" for f in failed))
    if not complete:
        verdict = "incomplete: some dataset x agent lacks 5 seeds in either precision; no decision yet"
    elif all_overlap and not failed:
        verdict = "every interval pair overlaps and no run failed: `auto` may pick bfloat16"
    else:
        verdict = "parity NOT shown: keep float32 where the intervals separate or a run failed"
    print(f"\nverdict: {verdict}")


if __name__ == "__main__":
    main()
