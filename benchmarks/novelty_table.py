"""How new are DAWM's synthetic (s, a) pairs? The novelty table of docs/results.md from `dawm fidelity` records.

    python benchmarks/novelty_table.py [benchmarks/results/novelty]

Each record is `dawm fidelity SET.hdf5 --dataset DATASET --ensemble-steps 0 --n-plots 0 --out
<dir>/<dataset>/<variant>` on one study cell's synthetic set (seed 0's; the set's path is in the
record as `synthetic_file`, and in the cell's record under benchmarks/results/study-synthetic/).
Novelty per horizon step = median distance of a synthetic (s, a) to its nearest real pair over the
same for held-out real episodes (docs/fidelity.md): 0 = copies of the data, 1 = as new as unseen
episodes of the behaviour policy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/novelty")
    records = sorted(root.glob("*/*/fidelity.json"))
    if not records:
        sys.exit(f"no fidelity.json under {root}/<dataset>/<variant>/")
    steps = max(len(json.loads(f.read_text())["novelty"].get("by_horizon", {})) for f in records)
    print("| dataset | variant | held-out real distance | " + " | ".join(f"step {k}" for k in range(steps))
          + " | action spread |")
    print("|---|---|---:|" + "---:|" * (steps + 1))
    for f in records:
        r = json.loads(f.read_text())
        nov, by = r["novelty"], r["novelty"].get("by_horizon", {})
        cells = [f"{by[str(k)]['novelty']:.2f}" if by.get(str(k), {}).get("novelty") is not None else "–"
                 for k in range(steps)]
        print(f"| {f.parent.parent.name} | {f.parent.name} | {nov['heldout_real_median_distance']:.3f} | "
              + " | ".join(cells) + f" | {r['spread']['all']['action_spread']:.2f} |")


if __name__ == "__main__":
    main()
