"""What a `dawm bench` grid cost and how faithful its synthetic data was, from its cell records.

    python benchmarks/bench_summary.py runs/bench-cpu

Prints two Markdown tables: the agent stage's wall time per method and dataset (mean over seeds;
the world model runs once per dataset, synthesis and fidelity once per seed; they are listed apart), and
the fidelity headline of the DAWM cells' synthetic data against the simulator (next-state RMSE
in the data's std units, reward MAE, termination agreement; mean over the seeds' synthetic sets),
beside the one-step ensemble and the real-data floor measured the same way.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from dawm.pipeline import METHODS


def mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="the bench's --out directory")
    args = p.parse_args()
    cells = [json.loads(f.read_text()) for f in sorted(Path(args.out, "cells").glob("*.json"))]
    if not cells:
        raise SystemExit(f"{args.out}/cells: no finished cells")
    methods = [m for m in METHODS if any(c["method"] == m for c in cells)]
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))

    agent = defaultdict(list)
    stages = defaultdict(lambda: defaultdict(list))
    for c in cells:
        agent[c["dataset"], c["method"]].append(c["stage_seconds"]["agent"])
        for stage in ("world_model", "synthesis", "fidelity"):
            if c["stage_seconds"].get(stage, 0.0) > 1.0:  # 0 = reused from another cell
                stages[c["dataset"]][stage].append(c["stage_seconds"][stage])
    print("Agent stage, wall seconds (mean over seeds):\n")
    print("| dataset | " + " | ".join(methods) + " | world model | synthesis | fidelity |")
    print("|---" * (len(methods) + 4) + "|")
    for d in datasets:
        row = [f"{mean(agent[d, m]):.0f}" if agent[d, m] else "–" for m in methods]
        pick = {"world_model": max, "synthesis": mean, "fidelity": mean}
        once = [f"{pick[s](stages[d][s]):.0f}" if stages[d][s] else "–" for s in pick]
        print(f"| {d} | " + " | ".join(row + once) + " |")
    print("\n(world model: the longest recorded time, the cell that trained it; cells that waited for it record "
          "their wait. synthesis / fidelity: mean over the seeds' synthetic sets.)")

    fid = defaultdict(lambda: defaultdict(list))
    seen = set()
    for c in cells:
        if c.get("synthetic_file") in seen:  # dawm-td3bc and dawm-iql of a seed share one synthetic set
            continue
        seen.add(c.get("synthetic_file"))
        for source, values in (c.get("fidelity") or {}).items():
            if isinstance(values, dict):
                for key, v in values.items():
                    fid[c["dataset"], source][key].append(v)
    if fid:
        print("\nFidelity against the simulator (mean over the DAWM cells' synthetic sets):\n")
        print("| dataset | data | next-state RMSE (std units) | reward MAE | termination agreement | sets |")
        print("|---|---|---:|---:|---:|---:|")
        for d in datasets:
            for source in ("synthetic", "ensemble", "real"):
                v = fid.get((d, source))
                if v:
                    print(f"| {d} | {source} | {mean(v['state_rmse']):.3f} | {mean(v['reward_mae']):.3f} | "
                          f"{mean(v.get('term_accuracy', [])):.3f} | {len(v['state_rmse'])} |")


if __name__ == "__main__":
    main()
