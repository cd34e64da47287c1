"""What a study's synthetic rollouts earn, from their fidelity reports (issue #27, point 1): per dataset, the mean over
the synthetic sets of the discounted reward sum over a rollout's steps as the real segment from the same start has
it, as the world model claims it, as the one-step ensemble answers the same (s, a), and as the simulator does.

    python benchmarks/achieved_returns.py benchmarks/results/confirm/VARIANT [more record folders]

Reads every cell record (<cell>.json) in the folders, and each synthetic set's fidelity report where the run left it
(runs/...) or, once runs/ is gone, where benchmarks/keep_records.sh copied it (<folder>/fidelity/).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

SOURCES = ("real", "model", "ensemble", "simulator")


def reports(folder: Path) -> dict[str, list[dict]]:
    """dataset -> the fidelity reports of its synthetic sets (each once: the agents of a cell share them)."""
    out, seen = defaultdict(list), set()
    for cell_file in sorted(folder.glob("*.json")):
        cell = json.loads(cell_file.read_text())
        for stage in cell.get("per_seed_stages") or [cell]:
            recorded = Path((stage.get("fidelity") or {}).get("report", ""))
            if not recorded.name or recorded in seen:
                continue
            seen.add(recorded)
            kept = folder / "fidelity" / f"{recorded.parent.name}.json"
            path = recorded if recorded.is_file() else kept
            if not path.is_file():
                sys.exit(f"achieved_returns.py: {cell_file}: no fidelity report at {recorded} or {kept}")
            out[cell["dataset"]].append(json.loads(path.read_text()))
    return out


def row(label: str, parts: list[dict]) -> str:
    mean = {s: sum(p[s] for p in parts) / len(parts) for s in SOURCES}
    return (f"| {label} | {len(parts)} | " + " | ".join(f"{mean[s]:.2f}" for s in SOURCES)
            + f" | {mean['simulator'] - mean['real']:+.2f} | {mean['model'] - mean['simulator']:+.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path)
    args = p.parse_args()
    for folder in args.folders:
        by_dataset = reports(folder)
        print(f"\n{folder}\n\n| dataset (own-return quartile) | sets | real segment | model | ensemble | simulator "
              "| gain (simulator − real) | model's excess (model − simulator) |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|")
        for dataset, reps in by_dataset.items():
            achieved = [r["achieved_return"] for r in reps]
            print(row(dataset, [a["all"] for a in achieved]))
            for q in ("1", "2", "3", "4"):
                print(row(f"{dataset} ({q})", [a["by_own_return_quartile"][q] for a in achieved]))
        gammas = sorted({r["achieved_return"]["gamma"] for reps in by_dataset.values() for r in reps})
        print(f"\ndiscount {', '.join(map(str, gammas)) or '–'}; each row the mean over the sets of each set's mean "
              "over its checked rollouts")

if __name__ == "__main__":
    main()
