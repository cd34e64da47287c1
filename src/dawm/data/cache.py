"""Where generated datasets are cached, and what datasets this machine already holds.

The cache root is $DAWM_CACHE, else the platform's user cache directory: $XDG_CACHE_HOME/dawm
or ~/.cache/dawm on Linux, ~/Library/Caches/dawm on macOS, %LOCALAPPDATA%\\dawm\\Cache on Windows.
Generated datasets live in ``<root>/datasets/<name>.hdf5``. Files are written atomically (temp
file + rename), so a name's file is either complete or absent; temp files start with a dot and
are never listed or reused.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import h5py

from dawm.data.minari_io import minari_root


def cache_root() -> Path:
    """$DAWM_CACHE, else the user cache directory for dawm (see module docstring)."""
    if os.environ.get("DAWM_CACHE"):
        return Path(os.environ["DAWM_CACHE"]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "dawm"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "dawm" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dawm"


def cache_dir() -> Path:
    """Directory of generated datasets (not created until something is written)."""
    return cache_root() / "datasets"


def cached_dataset_path(name: str) -> Path:
    return cache_dir() / f"{name}.hdf5"


def _scalar(group, key):
    if group is None or key not in group:
        return None
    value = group[key][()]
    value = value.decode() if isinstance(value, bytes) else value
    return value.item() if hasattr(value, "item") else value


def list_generated(directory: str | Path | None = None) -> list[dict]:
    """One dict per cached dataset: name, path, bytes, transitions, episodes, return mean/std, level.

    Reads only the small metadata items `collect` stores (no arrays), so listing is instant.
    Unreadable files are listed with an ``error`` entry instead of failing the listing.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    rows = []
    for path in sorted(directory.glob("*.hdf5")) if directory.is_dir() else []:
        if path.name.startswith("."):
            continue
        row = {"name": path.stem, "path": str(path), "bytes": path.stat().st_size}
        try:
            with h5py.File(path, "r") as f:
                meta = f.get("metadata")
                row["transitions"] = int(f["rewards"].shape[0]) if "rewards" in f else None
                for key in ("env_id", "level", "seed", "episodes", "return_mean", "return_std", "score_mean"):
                    row[key] = _scalar(meta, key)
        except (OSError, KeyError, ValueError) as exc:
            row["error"] = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        rows.append(row)
    return rows


def list_minari(root: str | Path | None = None) -> list[dict]:
    """Minari datasets on local disk (ids under $MINARI_DATASETS_PATH or ~/.minari/datasets).

    Reads each dataset's ``data/metadata.json`` directly: no network, no minari import.
    """
    base = minari_root(str(root) if root is not None else None)
    rows = []
    if not base.is_dir():
        return rows
    for data_dir in sorted(base.rglob("data")):
        if not data_dir.is_dir() or any(p.startswith(".") for p in data_dir.relative_to(base).parts):
            continue
        row = {"id": data_dir.parent.relative_to(base).as_posix(), "path": str(data_dir.parent)}
        try:
            meta = json.loads((data_dir / "metadata.json").read_text())
            spec = meta.get("env_spec")
            spec = json.loads(spec) if isinstance(spec, str) else spec
            row.update(episodes=meta.get("total_episodes"), transitions=meta.get("total_steps"),
                       env_id=spec.get("id") if isinstance(spec, dict) else None)
        except (OSError, ValueError, TypeError, AttributeError):
            row["error"] = "no readable data/metadata.json"
        rows.append(row)
    return rows


def d4rl_root() -> Path:
    """D4RL's download directory: $D4RL_DATASET_DIR, else ~/.d4rl/datasets (D4RL's own default)."""
    return Path(os.environ.get("D4RL_DATASET_DIR") or Path.home() / ".d4rl" / "datasets").expanduser()


def list_d4rl(root: str | Path | None = None) -> list[dict]:
    """D4RL HDF5 files already downloaded (used by path); sizes read from the file, nothing loaded."""
    rows = []
    for path in sorted(Path(root or d4rl_root()).glob("*.hdf5")):
        row: dict = {"path": str(path), "bytes": path.stat().st_size}
        try:
            with h5py.File(path, "r") as f:
                row["transitions"] = int(f["rewards"].shape[0])
        except Exception as exc:  # listing must not fail on one bad file
            row["error"] = type(exc).__name__
        rows.append(row)
    return rows
