"""rliable statistics (IQM, 95% bootstrap CIs, probability of improvement) of a per-seed scores CSV.

    python benchmarks/stats_from_csv.py docs/results-cpu-grid.csv

The CSV has columns dataset, method, seed, score (a grid's scores.csv, or an older grid's
results.csv); prints the same Markdown tables `dawm bench` writes to results.md.
"""

from __future__ import annotations

import argparse
import csv

from dawm.results.tables import GridStats, markdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", help="per-seed scores: dataset, method, seed, score")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    args = p.parse_args()
    rows = sorted(csv.DictReader(open(args.csv)), key=lambda r: int(r["seed"]))
    scores: dict = {}
    for r in rows:
        scores.setdefault(r["dataset"], {}).setdefault(r["method"], []).append(float(r["score"]))
    datasets = list(scores)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print(markdown(GridStats.compute(scores, datasets, methods, args.reps)), end="")


if __name__ == "__main__":
    main()
