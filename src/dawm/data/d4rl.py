"""D4RL-layout HDF5: reading D4RL's raw files and writing the project's own datasets.

Layout (D4RL v2): ``observations`` (N, obs_dim), ``actions`` (N, act_dim), ``rewards``,
``terminals``, ``timeouts`` (N,), optional ``next_observations``, per-step ``infos/<key>``
(e.g. infos/qpos, infos/qvel) and ``metadata/<key>``. Our files use exactly these keys (float32
arrays, bool flags) and store every metadata item as a scalar or string dataset under
``metadata/`` (lists and dicts as JSON strings marked with a ``json`` attribute), so plain h5py
users and D4RL-style loaders read them too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np

from dawm.data.dataset import Dataset
from dawm.data.validate import build_dataset, validate_dataset
from dawm.utils.checkpoint import atomic_write
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DataError, DawmError

_ARRAY_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")
_ENV_KEYS = ("env_id", "env_name", "env")  # where metadata may name the environment
_EXPECTED = "an HDF5 file in the D4RL layout"


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_decode(v) for v in value.tolist()] if value.dtype.kind in "OS" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_metadata(f: h5py.File) -> dict:
    """Scalars and strings from root attributes and ``metadata/*`` (nested groups, e.g. D4RL's
    stored policy weights, and large arrays are skipped)."""
    meta = {k: _decode(v) for k, v in f.attrs.items() if not k.startswith("dawm_")}
    group = f.get("metadata")
    if isinstance(group, h5py.Group):
        meta.update({k: _decode(v) for k, v in group.attrs.items()})
        for key, item in group.items():
            if not isinstance(item, h5py.Dataset) or item.size > 1000:
                continue
            value = _decode(item[()])
            if item.attrs.get("json", False):
                value = json.loads(value)
            meta[key] = value
    return meta


def _read_infos(group: h5py.Group, prefix: str = "") -> dict:
    infos = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            infos.update(_read_infos(item, f"{prefix}{key}/"))
        else:
            infos[prefix + key] = item[()]
    return infos


def _env_from_file_name(path: Path) -> str | None:
    spec = get_env_spec(re.split(r"[_\-.]", path.stem.lower())[0])
    return spec.env_id if spec else None


def _resolve_env(path: Path, env_id: str | None, meta: dict, obs_dim: int) -> tuple[str | None, str | None]:
    """(env_id, where it came from). Known envs are mapped to their Gymnasium id."""
    candidates = [(env_id, "argument")] + [(meta.get(k), "metadata") for k in _ENV_KEYS]
    for value, source in candidates:
        if isinstance(value, str) and value:
            spec = get_env_spec(value)
            return (spec.env_id if spec else value), source
    guess = _env_from_file_name(path)
    # A file-name guess is only a guess: it must not turn a file into an error.
    if guess and get_env_spec(guess).obs_dim == obs_dim:
        return guess, "file name"
    return None, None


def read_d4rl(path, env_id: str | None = None) -> Dataset:
    """Read a D4RL raw HDF5 file (or one written by `write_dataset`) into a checked `Dataset`.

    `env_id` overrides the environment named in the file's metadata; without either, it is
    inferred from the file name (``hopper_medium-v2.hdf5`` -> Hopper-v5).
    ``metadata["env_id_source"]`` records which of the three it was.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found", _EXPECTED)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        msg = _short(exc)
        problem = ("truncated HDF5 file (incomplete download or copy?)" if "truncated" in msg
                   else "not an HDF5 file" if "signature" in msg else f"not a readable HDF5 file ({msg})")
        raise DataError(path, None, problem, _EXPECTED) from None
    with f:
        arrays, key = {}, None
        try:
            for key in _ARRAY_KEYS:
                if key in f:
                    if not isinstance(f[key], h5py.Dataset):
                        raise DataError(path, key, "is a group, not an array", "an (N, ...) array")
                    arrays[key] = f[key][()]
            key = "infos"
            infos = _read_infos(f["infos"], "") if isinstance(f.get("infos"), h5py.Group) else {}
            key = "metadata"
            meta = _read_metadata(f)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise DataError(path, key, f"unreadable, the file is truncated or corrupt ({_short(exc)})",
                            _EXPECTED) from None
    obs = arrays.get("observations")
    obs_dim = obs.shape[-1] if isinstance(obs, np.ndarray) and obs.ndim == 2 else -1
    env, source = _resolve_env(path, env_id, meta, obs_dim)
    meta.pop("env_id_source", None)
    if env is not None:
        meta.update(env_id=env, env_id_source=source)
    meta.setdefault("name", path.stem)
    return build_dataset(path, arrays, meta, infos)


def _write_metadata_item(group: h5py.Group, key: str, value) -> None:
    if value is None:
        return  # HDF5 has no null; absent reads back as missing, like None
    if "/" in key:
        raise DawmError(f"metadata key '{key}' contains '/' (HDF5 would nest it); rename it")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        group.create_dataset(key, data=json.dumps(value), dtype=h5py.string_dtype())
        group[key].attrs["json"] = True
    elif isinstance(value, str):
        group.create_dataset(key, data=value, dtype=h5py.string_dtype())
    elif isinstance(value, (bool, int, float, np.generic)):
        group.create_dataset(key, data=value)
    else:
        raise DawmError(f"metadata '{key}': cannot store a {type(value).__name__} (use str, number, list, dict)")


def write_dataset(dataset: Dataset, path, overwrite: bool = False) -> Path:
    """Write `dataset` in the D4RL layout plus a ``metadata`` group; atomic (temp file + rename).

    Refuses to replace an existing file unless `overwrite`. `read_d4rl` reads it back exactly
    (arrays, infos, metadata; None-valued metadata items are not stored).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(path, None, "already exists", "a new path, or overwrite=True")
    validate_dataset(dataset, path)

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["dawm_format"] = 1
            f.create_dataset("observations", data=dataset.observations.astype(np.float32))
            f.create_dataset("actions", data=dataset.actions.astype(np.float32))
            f.create_dataset("rewards", data=dataset.rewards.astype(np.float32))
            f.create_dataset("terminals", data=dataset.terminals.astype(bool))
            f.create_dataset("timeouts", data=dataset.timeouts.astype(bool))
            if dataset.next_observations is not None:
                f.create_dataset("next_observations", data=dataset.next_observations.astype(np.float32))
            for key, value in dataset.infos.items():
                f.create_dataset(f"infos/{key}", data=np.asarray(value))
            group = f.create_group("metadata")
            for key, value in dataset.metadata.items():
                if key != "env_id_source":  # describes how a file was read, not the data
                    _write_metadata_item(group, key, value)

    return atomic_write(path, write, suffix=".tmp")
