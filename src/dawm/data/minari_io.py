"""Minari datasets already on local disk -> flat `Dataset` (never downloads).

A Minari episode holds T+1 observations (the last is the state after the final action), T
actions, rewards, terminations and truncations. Flattened: observations[:-1] become the step
observations, observations[1:] the next_observations; terminations -> terminals, truncations ->
timeouts. Per-step infos with T+1 entries (aligned with observations) keep their first T.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dawm.data.dataset import Dataset
from dawm.data.validate import build_dataset
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DataError, DawmError


def minari_root(root: str | None = None) -> Path:
    """Where Minari keeps datasets: `root`, else $MINARI_DATASETS_PATH, else ~/.minari/datasets."""
    return Path(root or os.environ.get("MINARI_DATASETS_PATH") or Path.home() / ".minari" / "datasets")


def _flat_infos(infos: dict | None, steps: int, prefix: str = "") -> dict:
    out = {}
    for key, value in (infos or {}).items():
        if isinstance(value, dict):
            out.update(_flat_infos(value, steps, f"{prefix}{key}/"))
            continue
        value = np.asarray(value)
        if value.ndim >= 1 and value.dtype.kind in "biuf" and len(value) in (steps, steps + 1):
            out[prefix + key] = value[:steps]
    return out


def load_minari(dataset_id: str, root: str | None = None, env_id: str | None = None) -> Dataset:
    """Read Minari dataset `dataset_id` (e.g. "mujoco/hopper/medium-v0") from local disk."""
    data_path = minari_root(root) / dataset_id / "data"
    if not data_path.is_dir():
        raise DataError(dataset_id, None, "Minari dataset not on local disk", f"it under {data_path.parent}; "
                        f"fetch it with `minari download {dataset_id}` or set MINARI_DATASETS_PATH")
    try:
        import minari
    except ImportError:
        raise DawmError("reading Minari datasets needs the minari package: pip install minari") from None
    try:
        md = minari.MinariDataset(data_path)
        episodes = list(md.iterate_episodes())
    except (ValueError, OSError, KeyError, AssertionError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(data_path, None, f"unreadable Minari dataset ({msg})", "a dataset written by minari") from None
    if not episodes:
        raise DataError(data_path, "episodes", "empty: 0 transitions in 0 episodes", "at least one episode")

    parts: dict[str, list] = {k: [] for k in ("observations", "next_observations", "actions", "rewards",
                                              "terminals", "timeouts")}
    ep_infos = []
    for ep in episodes:
        obs, steps = ep.observations, len(ep.rewards)
        if not isinstance(obs, np.ndarray) or not isinstance(ep.actions, np.ndarray):
            raise DataError(data_path, f"episode_{ep.id}/observations", "structured (dict/tuple) spaces are "
                            "not supported", "Box observations and actions")
        if len(obs) != steps + 1 or len(ep.actions) != steps:
            raise DataError(data_path, f"episode_{ep.id}/observations", f"{len(obs)} observations, "
                            f"{len(ep.actions)} actions for {steps} rewards", f"{steps + 1}, {steps}")
        timeouts = np.asarray(ep.truncations, dtype=bool).copy()
        terminals = np.asarray(ep.terminations, dtype=bool)
        if steps and not (terminals[-1] or timeouts[-1]):
            timeouts[-1] = True  # keep the episode boundary even if the recorder did not flag it
        for key, value in (("observations", obs[:-1]), ("next_observations", obs[1:]), ("actions", ep.actions),
                           ("rewards", ep.rewards), ("terminals", terminals), ("timeouts", timeouts)):
            parts[key].append(np.asarray(value))
        ep_infos.append(_flat_infos(ep.infos, steps))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    # Only infos every episode has, with one trailing shape, can become flat arrays.
    keys = set.intersection(*(set(i) for i in ep_infos))
    infos = {k: np.concatenate([i[k] for i in ep_infos]) for k in sorted(keys)
             if len({i[k].shape[1:] for i in ep_infos}) == 1}

    raw = md.storage.metadata
    meta = {"name": dataset_id, "source": "minari", "minari_id": dataset_id}
    for key in ("ref_min_score", "ref_max_score", "algorithm_name"):
        if raw.get(key) is not None:
            meta[key] = raw[key]
    spec_id = md.env_spec.id if md.env_spec is not None else None
    chosen, source = (env_id, "argument") if env_id else (spec_id, "minari metadata")
    if chosen:
        spec = get_env_spec(chosen)
        meta.update(env_id=spec.env_id if spec else chosen, env_id_source=source)
    return build_dataset(data_path, arrays, meta, infos)
