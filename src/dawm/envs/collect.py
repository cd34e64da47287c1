"""D4RL-style datasets made here: behaviour policies rolled out in many envs at once.

Levels follow D4RL's definitions (docs/datasets.md has the details and the reasons):
  random         uniform random actions in [-1, 1]
  medium         the published medium SAC actor; actions *sampled* from its tanh-Gaussian
  expert         likewise with the expert actor
  medium-expert  the medium dataset followed by the expert dataset (same seed), 50/50
  medium-replay  the SAC run's replay buffer re-created from the manifest's series: uniform random
                 actions for the random phase, then each snapshot acting (sampled) for the steps
                 it acted in training — the same distribution, not the same bytes
A dataset is a function of (policies, level, size, seed, n_envs): the same values give identical
arrays. Episodes are stored in the order they finish; the one that crosses `size` is cut there
and ends with a timeout, episodes still running at that point are dropped.

A generated name (hopper-medium, walker2d-random-seed1-size100k) names a cached file, made on first
use. `load_dataset` here is the public `dawm.load_dataset`: `dawm.data.load_dataset` (files, Minari
ids) with these names added — composed in envs/, since data/ sits below and does not import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from dawm.data import registry
from dawm.data.cache import cached_dataset_path
from dawm.data.dataset import Dataset
from dawm.envs.rollout import Phase, rollout
from dawm.utils.env_specs import EnvSpec, get_env_spec
from dawm.utils.errors import DataError, DawmError
from dawm.utils.progress import progress

ENVS = ("hopper", "walker2d", "halfcheetah")
LEVELS = ("random", "medium", "medium-replay", "expert", "medium-expert")
DEFAULT_SIZE = 1_000_000  # D4RL: 1M transitions; medium-expert 2M (1M + 1M); medium-replay its buffer
_REPO_POLICIES = Path(__file__).resolve().parents[3] / "assets" / "policies"
_NAME = re.compile(rf"({'|'.join(ENVS)})-({'|'.join(sorted(LEVELS, key=len, reverse=True))})"
                   r"(?:-seed(\d+))?(?:-size(\d+)([km]?))?")


@dataclass
class CollectConfig:
    """Make a D4RL-style dataset by rolling out a published behaviour policy."""

    env: str = "hopper"
    """Env short name: hopper, walker2d or halfcheetah."""
    level: str = "medium"
    """random, medium, medium-replay, expert or medium-expert."""
    size: int | None = None
    """Transitions (default: D4RL's size: 1M; medium-expert 2M = 1M + 1M; medium-replay the run's step count)."""
    seed: int = 0
    """Seed for env resets and action sampling; same seed, same arrays."""
    n_envs: int = 16
    """Environments stepped in lockstep (policy inference is batched over them)."""
    policies: str | None = None
    """Behaviour policy root holding <env>/manifest.json (default: $DAWM_POLICIES, else assets/policies)."""
    out: str | None = None
    """Output HDF5 file (default: the dataset cache, under the dataset's name)."""
    overwrite: bool = False
    """Replace an existing output file."""
    snapshot: str = ""
    """A policy file of the env's behaviour run (e.g. step_00020000.safetensors) that acts for the whole dataset
    instead of the level's policies, e.g. for a low-quality dataset (`level` then only labels it; needs --out)."""
    action_noise: float = 0.0
    """Std of Gaussian noise added to every behaviour action (clipped to [-1, 1]); needs --out."""


# --- names, policies, recipes -----------------------------------------------------------------
def dataset_name(env: str, level: str, seed: int = 0, size: int | None = None) -> str:
    """Canonical name: <env>-<level>[-seed<k>][-size<n>] (seed 0 and the D4RL size are implied)."""
    if size and size % 1_000_000 == 0:
        size = f"{size // 1_000_000}m"
    elif size and size % 1_000 == 0:
        size = f"{size // 1_000}k"
    return f"{env}-{level}" + (f"-seed{seed}" if seed else "") + (f"-size{size}" if size else "")


def parse_dataset_name(name: str) -> CollectConfig | None:
    """'hopper-medium-seed1-size100k' -> CollectConfig; None when `name` is not such a name."""
    m = _NAME.fullmatch(name.strip().lower())
    if m is None:
        return None
    env, level, seed, size, unit = m.groups()
    size = int(size) * {"": 1, "k": 1_000, "m": 1_000_000}[unit or ""] if size else None
    return CollectConfig(env=env, level=level, seed=int(seed or 0), size=size)


def policies_dir(override: str | None = None) -> Path:
    return Path(override or os.environ.get("DAWM_POLICIES") or _REPO_POLICIES).expanduser()


def load_manifest(env: str, root: str | Path | None = None) -> dict | None:
    """The published manifest for `env` (see `dawm.envs.behaviour.publish_behaviour`), or None."""
    path = Path(root or policies_dir()) / env / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(path, None, f"not valid JSON ({exc})", "a manifest written by `dawm behaviour publish`")


def available_levels(env: str, root: str | Path | None = None) -> list[str]:
    """Levels that can be generated for `env` from the published policies (random always)."""
    have = set((load_manifest(env, root) or {}).get("levels", {}))
    if {"medium", "expert"} <= have:
        have.add("medium-expert")
    return [lvl for lvl in LEVELS if lvl == "random" or lvl in have]


def _require(env: str, level: str, manifest: dict | None, root: Path) -> dict:
    levels = (manifest or {}).get("levels", {})
    if level not in levels:
        where = root / env / "manifest.json"
        has = f"{where} has: {', '.join(levels) or 'no levels'}" if manifest else f"no {where}"
        raise DawmError(f"{level} policy for {env} not published yet ({has}; "
                        f"make it with `dawm behaviour train {env}` + `dawm behaviour publish`)")
    return levels[level]


def _scaled(series: list[dict], size: int, where: Path) -> list[Phase]:
    """The replay series with every phase's steps scaled so that they sum to `size`."""
    total = sum(int(s["steps"]) for s in series)
    if total <= 0:
        raise DataError(where, "levels.medium-replay.series", "empty", "the phases written by `dawm behaviour publish`")
    bounds = np.rint(np.cumsum([int(s["steps"]) for s in series]) * (size / total)).astype(int)
    steps = np.diff(np.concatenate([[0], bounds]))
    return [Phase(None if s["policy"] == "random" else s["policy"], int(n)) for s, n in zip(series, steps)]


def plan(cfg: CollectConfig) -> tuple[int, list[tuple[str, int, list[Phase]]], dict]:
    """(total size, parts [(level, size, phases)], policy metadata) for `cfg`; DawmError if unavailable."""
    spec, level = _spec(cfg.env), cfg.level
    if level not in LEVELS:
        raise DawmError(f"unknown level '{level}' (expected one of: {', '.join(LEVELS)})")
    if cfg.snapshot:
        root = policies_dir(cfg.policies)
        if not (root / spec.name / cfg.snapshot).is_file():
            raise DawmError(f"--snapshot {cfg.snapshot}: no such policy file in {root / spec.name}")
        size = cfg.size or DEFAULT_SIZE
        return size, [(level, size, [Phase(cfg.snapshot, size)])], {"snapshot": cfg.snapshot}
    if level == "random":
        size = cfg.size or DEFAULT_SIZE
        return size, [("random", size, [Phase(None, size)])], {"policy": "uniform random actions in [-1, 1]"}
    root = policies_dir(cfg.policies)
    manifest = load_manifest(spec.name, root)
    if level == "medium-expert":
        med, exp = _require(spec.name, "medium", manifest, root), _require(spec.name, "expert", manifest, root)
        size = cfg.size or 2 * DEFAULT_SIZE
        half = size // 2
        return size, [("medium", half, [Phase(med["file"], half)]), ("expert", size - half, [Phase(exp["file"],
                      size - half)])], {"medium": med, "expert": exp}
    entry = _require(spec.name, level, manifest, root)
    if level == "medium-replay":
        size = cfg.size or int(entry["total_steps"])
        phases = _scaled(entry["series"], size, root / spec.name / "manifest.json")
        return size, [(level, size, phases)], {"medium-replay": entry}
    size = cfg.size or DEFAULT_SIZE
    return size, [(level, size, [Phase(entry["file"], size)])], {level: entry}


def _spec(env: str) -> EnvSpec:
    spec = get_env_spec(env)
    if spec is None or spec.name not in ENVS:
        raise DawmError(f"unknown env '{env}' (expected one of: {', '.join(ENVS)})")
    return spec


def policies_digest(parts, root: Path) -> str:
    """sha256 over the policy files a dataset is made from (to notice republished policies)."""
    h = hashlib.sha256()
    for _, _, phases in parts:
        for phase in phases:
            h.update(f"{phase.policy}:{phase.steps};".encode())
            if phase.policy is not None:
                h.update((root / phase.policy).read_bytes())
    return h.hexdigest()


# --- collecting ---------------------------------------------------------------------------------
def collect(cfg: CollectConfig) -> Path:
    """Roll out the level's behaviour policy and write the dataset (D4RL layout + metadata)."""
    import torch  # heavy imports here, so that listing and name parsing stay instant

    from dawm.data.d4rl import write_dataset

    spec = _spec(cfg.env)
    total, parts, policy_meta = plan(cfg)
    if cfg.n_envs < 1 or total < 1 or cfg.seed < 0:
        raise DawmError(f"--n-envs and --size must be positive, --seed >= 0 (got {cfg.n_envs}, {total}, {cfg.seed})")
    name = dataset_name(spec.name, cfg.level, cfg.seed, cfg.size)
    if cfg.snapshot or cfg.action_noise:
        if not cfg.out:  # not what the generated name promises: it needs a name of its own
            raise DawmError("--snapshot / --action-noise make a dataset of their own: give it a file with --out")
        name = Path(cfg.out).stem
    if cfg.action_noise < 0:
        raise DawmError(f"--action-noise {cfg.action_noise}: must be >= 0")
    out = Path(cfg.out).expanduser() if cfg.out else cached_dataset_path(name)
    if out.exists() and not cfg.overwrite:
        raise DataError(out, None, "already exists", "a new --out path, or --overwrite to regenerate")
    policy_root = policies_dir(cfg.policies) / spec.name
    policies = {p.policy: _load_policy(policy_root / p.policy, spec) for _, _, ph in parts for p in ph if p.policy}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is fastest, and keeps results bit-identical
    bar = progress(total, f"collect {name}", "steps")
    try:
        start = time.perf_counter()
        chunks = [rollout(spec.env_id, phases, policies, size, (cfg.seed, LEVELS.index(level)), cfg.n_envs, bar,
                          cfg.action_noise) for level, size, phases in parts]
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
        bar.close()
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0] if k != "env_steps"}
    env_steps = sum(c["env_steps"] for c in chunks)
    ds = Dataset(observations=arrays["observations"], actions=arrays["actions"], rewards=arrays["rewards"],
                 terminals=arrays["terminals"], timeouts=arrays["timeouts"],
                 next_observations=arrays["next_observations"], infos={"qpos": arrays["qpos"], "qvel": arrays["qvel"]},
                 metadata={"env_id": spec.env_id, "name": name, "level": cfg.level})
    stats = ds.summary()
    ds.metadata.update(
        source="dawm collect", seed=cfg.seed, size=total, n_envs=cfg.n_envs, episodes=stats["episodes"],
        return_mean=stats["return_mean"], return_std=stats["return_std"], score_mean=stats.get("score_mean"),
        ref_min_score=spec.ref_min_score, ref_max_score=spec.ref_max_score, policy=policy_meta,
        policies_digest=policies_digest(parts, policy_root),
        action_sampling=("uniform in [-1, 1]" if cfg.level == "random" and not cfg.snapshot else
                         "tanh(mu + std * N(0, 1)) from the actor")
        + (f", plus N(0, {cfg.action_noise}^2) noise clipped to [-1, 1]" if cfg.action_noise else ""),
        max_episode_steps=1000, env_steps=env_steps, collect_seconds=round(seconds, 3),
        steps_per_second=round(env_steps / max(seconds, 1e-9), 1), dawm_version=version("dawm"),
        gymnasium_version=version("gymnasium"), mujoco_version=version("mujoco"), command=command_line(cfg, total),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    write_dataset(ds, out, overwrite=cfg.overwrite)
    print(f"{name}: {total:,} transitions, {stats['episodes']:,} episodes, return {stats['return_mean']:.1f} ± "
          f"{stats['return_std']:.1f}; {ds.metadata['steps_per_second']:,.0f} env steps/s with {cfg.n_envs} envs "
          f"-> {out}", file=sys.stderr, flush=True)
    return out


def command_line(cfg: CollectConfig, size: int | None = None) -> str:
    """The `dawm collect` command for `cfg` (with `size`: every value spelled out, to re-create a file)."""
    cmd = f"dawm collect {cfg.env} {cfg.level}"
    if cfg.snapshot or cfg.action_noise:
        cmd += (f" --snapshot {cfg.snapshot}" if cfg.snapshot else "") + (
            f" --action-noise {cfg.action_noise}" if cfg.action_noise else "") + f" --out {cfg.out}"
    if size is not None:
        return cmd + f" --size {size} --seed {cfg.seed} --n-envs {cfg.n_envs}" + (
            f" --policies {cfg.policies}" if cfg.policies else "")
    return cmd + (f" --size {cfg.size}" if cfg.size else "") + (f" --seed {cfg.seed}" if cfg.seed else "")


def _load_policy(path: Path, spec: EnvSpec):
    from dawm.envs.policies import GaussianMLPPolicy

    policy = GaussianMLPPolicy.load(path)
    dims = (policy.trunk[0].in_features, policy.mu.out_features)
    if dims != (spec.obs_dim, spec.act_dim):
        raise DataError(path, None, f"policy for obs/act dims {dims}", f"{(spec.obs_dim, spec.act_dim)} for "
                        f"{spec.env_id}")
    return policy


# --- names -> cached files: dawm.load_dataset ---------------------------------------------------
def load_dataset(name_or_path: str, env_id: str | None = None) -> Dataset:
    """`dawm.load_dataset`: what `dawm.data.load_dataset` reads, plus generated names (module docstring)."""
    return registry.load_dataset(name_or_path, env_id, names=generated_dataset_path)


def generated_dataset_path(name: str) -> Path | None:
    """The cached file for a generated-dataset name, generating it on first use; None if not such a name."""
    cfg = parse_dataset_name(name)
    if cfg is None:
        if re.fullmatch(rf"({'|'.join(ENVS)})[-_]\S+-v\d+", name.strip().lower()):
            base, ver = name.strip().rsplit("-v", 1)
            raise DawmError(f"'{name}' is a D4RL-style name: pass the downloaded D4RL file by path "
                            f"(…/{base.replace('-', '_')}-v{ver}.hdf5), a Minari id (mujoco/hopper/medium-v0), "
                            "or a generated name without version (hopper-medium)")
        return None
    path = cached_dataset_path(dataset_name(cfg.env, cfg.level, cfg.seed, cfg.size))
    if path.is_file():
        if _made_from_other_policies(path, cfg):
            print(f"warning: cached '{name}' was made from other behaviour policies than those now published; "
                  f"regenerate it with `{command_line(cfg)} --overwrite`", file=sys.stderr, flush=True)
        return path
    plan(cfg)  # a missing policy fails here, before anything is announced
    print(f"dataset '{name}' not cached yet: generating it into {path}", file=sys.stderr, flush=True)
    return collect(cfg)


def _made_from_other_policies(path: Path, cfg: CollectConfig) -> bool:
    import h5py

    try:
        _, parts, _ = plan(cfg)
        with h5py.File(path, "r") as f:
            stored = f["metadata/policies_digest"][()]
        stored = stored.decode() if isinstance(stored, bytes) else str(stored)
        return stored != policies_digest(parts, policies_dir(cfg.policies) / cfg.env)
    except (DawmError, OSError, KeyError):
        return False  # policies gone or a foreign file: nothing to compare against
