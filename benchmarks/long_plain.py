"""Issue #27: the plain agents' long-budget runs, read at several budgets off the same curves.

    python benchmarks/long_plain.py [--records benchmarks/results/long-plain] [--at 30000 100000 300000]

Each record is a `dawm run` of the plain agent with its seeds vectorised in one process (read as one cell per
seed, `results.grid.seed_cells`), its learning curves committed beside it (<record>.metrics.jsonl). Per dataset
and agent, at each budget (`Grid.at`: the run as if it had stopped there): the IQM over seeds [95% CI] of each
seed's mean over its final 10 evaluations (the score the study decides on, TD3+BC's convention), of its last
evaluation (CORL's "last"), and of its mean over every evaluation up to there (the area under the learning curve
divided by its length).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from dawm.results import stats
from dawm.results.grid import Grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default=str(Path(__file__).resolve().parent / "results" / "long-plain"))
    p.add_argument("--at", nargs="+", type=int, default=[30_000, 100_000, 300_000])
    p.add_argument("--reps", type=int, default=stats.REPS)
    args = p.parse_args()
    full = Grid.load(args.records, sorted(Path(args.records).glob("*__*__seed*.json")))
    print("| dataset | agent | updates | seeds | final-10 mean IQM [95% CI] | last IQM [95% CI] | "
          "mean over the curve IQM [95% CI] |\n|---|---|---:|---:|---|---|---|")
    for step in args.at:
        grid = full.at(step)
        tables = [stats.dataset_table(s, args.reps)
                  for s in (grid.scores(final=10), grid.scores(), grid.scores(area=True))]
        for d, method in sorted(set(tables[1]) | set(tables[0])):  # final-10 needs 10 evaluations by `step`
            cells = [t[d, method]["iqm"].text() if (d, method) in t else "–" for t in tables]
            print(f"| {d} | {method} | {step:,} | {tables[1][d, method]['iqm'].n} | " + " | ".join(cells) + " |")
    for line in full.problems:
        print(f"note: {line}")
    print("\n" + "\n".join(full.comparability.lines()) + f"\nEach interval: {args.reps} resamples.")
    print("\nTraining speed, stacked updates/s between log rows without an evaluation (quartiles over the run; "
          "wall time, so it shows what else ran on the machine):\n")
    for record in sorted(Path(args.records).glob("*__*__seed*.metrics.jsonl")):
        rates = sorted(speeds(record))
        if rates:
            q = statistics.quantiles(rates, n=4)
            print(f"- {record.name.split('.')[0]}: {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} ({len(rates)} intervals)")


def speeds(metrics: Path) -> list[float]:
    """Updates/s between consecutive training log rows of a run's metrics.jsonl, where no evaluation came between
    (its `time` column: seconds since the run's start)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [(b["step"] - a["step"]) / (b["time"] - a["time"]) for a, b in zip(rows, rows[1:])
            if "time" in a and "time" in b and b["time"] > a["time"] and b["step"] > a["step"]  # not across a resume
            and not any(k.startswith("eval/") for k in b)]


if __name__ == "__main__":
    main()
