"""Checks every reader applies before handing out a `Dataset`.

Each failure raises one `DataError(path, key, problem, expected)`, e.g.
``data/x.hdf5: rewards: length 999 does not match observations (expected 1000)``.
All checks are whole-array numpy operations, so a 1M-step file is validated in well under a second.
"""

from __future__ import annotations

import numpy as np

from dawm.data.dataset import Dataset
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DataError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
MATRIX_KEYS = ("observations", "actions", "next_observations")  # (N, dim)
VECTOR_KEYS = ("rewards", "terminals", "timeouts")  # (N,), (N, 1) accepted


def check_raw_arrays(path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Shape and dtype checks on arrays as read from a file, before a `Dataset` is built.

    Returns the arrays with (N, 1) vectors squeezed to (N,). `timeouts` may be absent (old D4RL
    files): it becomes all False, so episodes end only at terminals and at the end of the data.
    """
    for key in REQUIRED_KEYS:
        if arrays.get(key) is None:
            raise DataError(path, key, "missing", f"keys {', '.join(REQUIRED_KEYS)} (+ timeouts)")
    out = {}
    for key, a in arrays.items():
        if a is None:
            continue
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise DataError(path, key, f"dtype {a.dtype} is not numeric", "float or bool values")
        if key in MATRIX_KEYS and a.ndim != 2:
            raise DataError(path, key, f"shape {a.shape} is not 2-D", "(steps, dim)")
        if key in VECTOR_KEYS:
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 1:
                raise DataError(path, key, f"shape {a.shape} is not 1-D", "(steps,)")
        out[key] = a
    if out.get("timeouts") is None:
        out["timeouts"] = np.zeros(len(out["rewards"]), dtype=bool)
    return out


def _check_finite(path, key: str, a: np.ndarray) -> None:
    if a.dtype.kind != "f":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argmax(bad.reshape(len(a), -1).any(axis=1)))
        kind = "NaN" if np.isnan(a[row]).any() else "inf"
        raise DataError(path, key, f"contains {kind} at step {row}", "finite values")


def validate_dataset(ds: Dataset, path="<in memory>") -> Dataset:
    """Lengths, emptiness, finiteness and dims against the env spec; returns `ds` unchanged."""
    n = len(ds.observations)
    if n == 0:
        raise DataError(path, "observations", "empty: 0 transitions in 0 episodes", "at least one episode")
    arrays = {"observations": ds.observations, "actions": ds.actions, "rewards": ds.rewards,
              "terminals": ds.terminals, "timeouts": ds.timeouts, "next_observations": ds.next_observations}
    arrays.update({f"infos/{k}": v for k, v in ds.infos.items()})
    for key, a in arrays.items():
        if a is None:
            continue
        if key in MATRIX_KEYS and a.ndim != 2:
            raise DataError(path, key, f"shape {a.shape} is not 2-D", "(steps, dim)")
        if len(a) != n:
            raise DataError(path, key, f"length {len(a)} does not match observations", str(n))
        _check_finite(path, key, a)
    if ds.next_observations is not None and ds.next_observations.shape != ds.observations.shape:
        raise DataError(path, "next_observations", f"shape {ds.next_observations.shape} does not match "
                        "observations", str(ds.observations.shape))
    spec = get_env_spec(ds.env_id) if ds.env_id else None
    if spec is not None:
        if ds.obs_dim != spec.obs_dim:
            raise DataError(path, "observations", f"observation size {ds.obs_dim} does not match {ds.env_id}",
                            str(spec.obs_dim))
        if ds.act_dim != spec.act_dim:
            raise DataError(path, "actions", f"action size {ds.act_dim} does not match {ds.env_id}",
                            str(spec.act_dim))
    return ds


def build_dataset(path, arrays: dict[str, np.ndarray], metadata: dict, infos: dict | None = None) -> Dataset:
    """Raw arrays -> checked `Dataset` (the last step every reader takes)."""
    arrays = check_raw_arrays(path, arrays)
    n = len(arrays["observations"])
    for key, a in arrays.items():  # before Dataset() reshapes anything
        if len(a) != n:
            raise DataError(path, key, f"length {len(a)} does not match observations", str(n))
    for key, a in (infos or {}).items():
        if np.asarray(a).dtype.kind not in "biuf":
            raise DataError(path, f"infos/{key}", f"dtype {np.asarray(a).dtype} is not numeric", "numeric values")
    ds = Dataset(metadata=metadata, infos=dict(infos or {}), **arrays)
    return validate_dataset(ds, path)
