"""`load_dataset`: a dataset given as a file, a Minari id or a name, read and validated.

Accepted forms, tried in this order:
  1. a file path ending in .hdf5/.h5 (D4RL raw file or one written by dawm) -> `read_d4rl`
  2. a Minari id containing '/' (mujoco/hopper/medium-v0), read from local disk -> `load_minari`
  3. a name, turned into a file by the `names` function passed in.

Generated-dataset names (hopper-medium) are made by envs/, a layer above: data/ does not import it.
The public entry point, `dawm.load_dataset` = `dawm.envs.collect.load_dataset` (used wherever a
dataset is accepted: CLI, pipeline, trainers), calls this one with `names=generated_dataset_path`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from dawm.data.d4rl import read_d4rl
from dawm.data.dataset import Dataset
from dawm.data.minari_io import load_minari
from dawm.utils.errors import DataError, DawmError

HDF5_SUFFIXES = (".hdf5", ".h5")
FILE, MINARI = "an HDF5 file (path ending in .hdf5/.h5)", "a Minari id on local disk (mujoco/hopper/medium-v0)"
ACCEPTED = f"{FILE}, {MINARI} or a generated dataset name (hopper-medium, see `dawm datasets`)"


def slug(name: str) -> str:
    """A file-name-safe stem of a dataset name or path ("~/d/hopper_medium-v2.hdf5" -> "hopper_medium-v2").
    Only a data file's extension is dropped: a dot inside a name ("hopper-medium-0.3pct") is part of it, else
    two subsets' runs would share a directory."""
    path = Path(name)
    stem = path.stem if path.suffix.lower() in HDF5_SUFFIXES else path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "dataset"


def load_dataset(name_or_path: str, env_id: str | None = None, *,
                 names: Callable[[str], Path | None] | None = None) -> Dataset:
    """Load a dataset given in any accepted form (see module docstring); always validated.
    `names`: a name -> its file, None when it is no such name (dawm.load_dataset passes the generated datasets')."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix.lower() in HDF5_SUFFIXES or path.is_file():
        if not path.is_file():
            raise DataError(path, None, "file not found", "an existing HDF5 file")
        ds = read_d4rl(path, env_id)
    elif "/" in text:
        ds = load_minari(text, env_id=env_id)
    else:
        if names is None:
            raise DawmError(f"unknown dataset '{text}' (dawm.data.load_dataset expects {FILE} or {MINARI}; "
                            "generated names such as hopper-medium are read by dawm.load_dataset)")
        found = names(text)
        if found is None:
            raise DawmError(f"unknown dataset '{text}' (expected {ACCEPTED})")
        ds = read_d4rl(found, env_id)
        ds.metadata["name"] = text
    ds.metadata.setdefault("name", text)
    return ds


def dataset_info(ds: Dataset) -> dict:
    """`Dataset.summary()` plus what a user checks first: dims, flags, where the env id came from."""
    info = ds.summary()
    info.update(env_id_source=ds.metadata.get("env_id_source"), timeouts=int(ds.timeouts.sum()),
                obs_dim=ds.obs_dim, act_dim=ds.act_dim, next_observations=ds.next_observations is not None)
    return info
