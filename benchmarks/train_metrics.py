"""Training metrics of runs at chosen updates, from their committed learning curves (<record>.metrics.jsonl), e.g.
how high a critic sits on mixed batches against the plain agent's:

    python benchmarks/train_metrics.py --at 100000 300000 --keys train/q_mean train/critic_loss \\
        benchmarks/results/long-plain/td3bc__hopper-medium-expert__seed0.metrics.jsonl \\
        'benchmarks/results/confirm/combined+ratio-0.25+own*1.5+return-filter/dawm-td3bc__hopper-medium-expert__seed0.metrics.jsonl'

A vectorised run logs each metric as the mean over its seeds (the key without /seed<k>/), which is what is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def logged(path: Path, keys: list[str]) -> dict[int, dict[str, float]]:
    """step -> the named metrics logged at that step (training and evaluation lines are separate)."""
    out: dict[int, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out.setdefault(row["step"], {}).update({k: row[k] for k in keys if k in row})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--keys", nargs="+", default=["train/q_mean", "train/critic_loss"])
    p.add_argument("--at", nargs="+", type=int, default=[100_000, 300_000])
    args = p.parse_args()
    print("| run | update | " + " | ".join(args.keys) + " |\n|---|---:|" + "---:|" * len(args.keys))
    for path in args.files:
        if not path.is_file():
            sys.exit(f"train_metrics.py: no such file: {path}")
        by_step = logged(path, args.keys)
        for step in args.at:
            values = by_step.get(step, {})
            cells = [f"{values[k]:.3f}" if k in values else "–" for k in args.keys]
            print(f"| {path.parent.name}/{path.name.split('.')[0]} | {step} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
