"""Did a change of shape keep the numbers? Compare two `dawm run` roots made by two versions of the code.

    python benchmarks/same_numbers.py ROOT_BEFORE ROOT_AFTER

For every run summary found in both roots (<root>/<method>-<dataset>-seed<k>.json, or
<root>/<method>-<dataset>-seed<k>/summary.json since run directories exist), it compares the final
score and return, every data array of the synthetic set (hdf5; its metadata/ group records settings,
not data) and every tensor of the world model and the IDM, and prints one table row per item: equal
bit for bit, or the largest absolute difference.
File names may differ between versions (a config hash changes when a setting is added), so files
are matched through the summaries, not by name. Exit status 1 when anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

from dawm.world_model.diffusion import current_keys


def summaries(root: Path) -> dict[str, dict]:
    found = {p.stem: p for p in root.glob("*-seed*.json")}
    found.update({p.parent.name: p for p in root.glob("*-seed*/summary.json")})
    return {name: json.loads(p.read_text()) for name, p in found.items()}


def arrays_h5(path: str) -> dict[str, np.ndarray]:
    """Every data array of an HDF5 file; metadata/ is left out (it records settings, whose names may change)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()])
                     if isinstance(v, h5py.Dataset) and not k.startswith("metadata/") else None)
    return out


def arrays_pt(path: Path) -> dict[str, np.ndarray]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt)
    if path.name == "world_model.pt":  # tensors under their current names, whichever version wrote them
        state = current_keys(state)
    return {k: v.float().numpy() for k, v in state.items() if torch.is_tensor(v)}


def compare(label: str, a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[str, bool]:
    if a.keys() != b.keys():
        return f"| {label} | keys differ: {sorted(a.keys() ^ b.keys())} |", False
    worst, same = 0.0, True
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape:
            return f"| {label} | shape of {k}: {x.shape} vs {y.shape} |", False
        if not np.array_equal(x, y):
            same = False
            worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return f"| {label} | {'bit for bit' if same else f'max |diff| {worst:.3g}'} ({len(a)} arrays) |", same


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    before, after = (Path(p) for p in sys.argv[1:])
    sa, sb = summaries(before), summaries(after)
    common = sorted(sa.keys() & sb.keys())
    if not common:
        print(f"no run summary found in both {before} and {after}")
        return 2
    print("| item | result |\n|---|---|")
    ok = True
    for name in common:
        a, b = sa[name], sb[name]
        same = a.get("score_mean") == b.get("score_mean") and a.get("return_mean") == b.get("return_mean")
        ok &= same
        print(f"| {name} score | {a.get('score_mean')} vs {b.get('score_mean')}: {'equal' if same else 'DIFFERENT'} |")
        if a.get("synthetic_file") and b.get("synthetic_file"):
            row, same = compare(f"{name} synthetic set", arrays_h5(a["synthetic_file"]), arrays_h5(b["synthetic_file"]))
            ok &= same
            print(row)
        if a.get("world_model") and b.get("world_model"):
            for file in ("world_model.pt", "idm.pt"):
                row, same = compare(f"{name} {file}", arrays_pt(Path(a["world_model"]) / file),
                                    arrays_pt(Path(b["world_model"]) / file))
                ok &= same
                print(row)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
