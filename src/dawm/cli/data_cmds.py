"""`dawm dataset ...`: inspect offline datasets and take subsets of them."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from dawm.cli.app import command
from dawm.data.cache import cache_dir, d4rl_root, list_d4rl, list_generated, list_minari
from dawm.data.d4rl import write_dataset
from dawm.data.dataset import episode_subset
from dawm.data.minari_io import minari_root
from dawm.data.registry import HDF5_SUFFIXES, dataset_info
from dawm.envs.collect import ENVS, CollectConfig, available_levels, collect, load_dataset, policies_dir
from dawm.utils.errors import DataError, DawmError


@dataclass
class DatasetInfoCli:
    dataset: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="NAME_OR_PATH")] = ""
    """HDF5 file (D4RL layout), Minari id on local disk (mujoco/hopper/medium-v0) or generated name (hopper-medium)."""
    env_id: str | None = None
    """Environment to assume (default: from the dataset's metadata, else its file name)."""
    json: bool = False
    """Print the summary as JSON."""


def format_info(info: dict) -> str:
    """Aligned, human-readable lines for `dataset_info`."""
    env = info["env_id"] or "unknown"
    if info.get("env_id_source"):
        env += f" (from {info['env_id_source']})"
    rows = [
        ("name", info["name"]),
        ("env id", env),
        ("episodes", f"{info['episodes']:,}"),
        ("transitions", f"{info['transitions']:,} (terminals {info['terminals']:,}, timeouts {info['timeouts']:,})"),
        ("return", f"{info['return_mean']:.1f} ± {info['return_std']:.1f} "
                   f"(min {info['return_min']:.1f}, max {info['return_max']:.1f})"),
    ]
    if "score_mean" in info:
        rows.append(("normalised score", f"{info['score_mean']:.1f} ± {info['score_std']:.1f} "
                     f"(ref min {info['ref_min_score']:.2f}, ref max {info['ref_max_score']:.2f})"))
    else:
        rows.append(("normalised score", "n/a (no reference scores for this env)"))
    rows += [("obs / act dims", f"{info['obs_dim']} / {info['act_dim']}"),
             ("next_observations", "yes" if info["next_observations"] else "no")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@command("dataset info", DatasetInfoCli, "summarise a dataset: episodes, returns, normalised score",
         required=("dataset",))
def _info(cfg: DatasetInfoCli) -> dict:
    info = dataset_info(load_dataset(cfg.dataset, cfg.env_id or None))
    print(_json.dumps(info, indent=2) if cfg.json else format_info(info))
    return info


@dataclass
class DatasetSubsetCli:
    dataset: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="NAME_OR_PATH")] = ""
    """Dataset to take episodes from (any form `dawm dataset info` accepts)."""
    fraction: float = 0.1
    """Fraction of its episodes to keep, in (0, 1] (whole episodes, drawn uniformly)."""
    seed: int = 0
    """Seed of the draw."""
    out: str = ""
    """Output HDF5 file (D4RL layout; written atomically). Its name becomes the dataset's name."""
    overwrite: bool = False
    """Replace an existing output file."""


@command("dataset subset", DatasetSubsetCli, "keep a random fraction of a dataset's episodes (HDF5)",
         required=("dataset",))
def _subset(cfg: DatasetSubsetCli) -> Path:
    if not 0.0 < cfg.fraction <= 1.0:
        raise DawmError(f"--fraction {cfg.fraction}: expected a value in (0, 1]")
    if not cfg.out:
        raise DawmError("--out is required (an .hdf5 path)")
    out = Path(cfg.out)
    if out.suffix.lower() not in HDF5_SUFFIXES:
        raise DawmError(f"--out {out}: expected a path ending in .hdf5 or .h5")
    if out.exists() and not cfg.overwrite:  # before loading, which may first generate the source
        raise DataError(out, None, "already exists", "a new path, or --overwrite")
    ds = load_dataset(cfg.dataset)
    sub = episode_subset(ds, cfg.fraction, cfg.seed)
    sub.metadata["name"] = out.stem
    path = write_dataset(sub, out, overwrite=cfg.overwrite)
    print(f"wrote {path}: {sub.n_episodes:,} of {ds.n_episodes:,} episodes, {len(sub):,} transitions")
    return path


# ================================================================================================
# `dawm collect` and `dawm datasets`: datasets generated from the published behaviour policies
# (library: dawm.envs.collect, dawm.data.cache).
# ================================================================================================


@dataclass
class CollectCli(CollectConfig):
    env: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="ENV")] = ""
    """hopper, walker2d or halfcheetah."""
    level: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="LEVEL")] = ""
    """random, medium, medium-replay, expert or medium-expert."""


@command("collect", CollectCli, "make a D4RL-style dataset by rolling out the published behaviour policies",
         required=("env", "level"))
def _collect(cfg: CollectCli):
    path = collect(cfg)
    print(path)
    return path


@dataclass
class DatasetsCli:
    json: bool = False
    """Print the listing as JSON."""


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 10 * 2**20 else f"{n / 2**20:,.0f} MB"


def format_catalog(cat: dict) -> str:
    """Human-readable `dawm datasets` listing."""
    lines = [f"Generated datasets (cache {cat['cache_dir']}; use them by name):"]
    for d in cat["generated"]:
        if "error" in d:
            lines.append(f"  {d['name']:<32} unreadable: {d['error']}")
            continue
        ret = "" if d.get("return_mean") is None else f"return {d['return_mean']:.1f} ± {d['return_std']:.1f}"
        eps = "?" if d.get("episodes") is None else f"{d['episodes']:,}"
        lines.append(f"  {d['name']:<32} {d['transitions'] or 0:>11,} steps {eps:>7} episodes  {ret:<26} "
                     f"{_mb(d['bytes']):>8}")
    if not cat["generated"]:
        lines.append("  (none yet)")
    lines += ["", f"Can be generated (policies {cat['policies_dir']}); a name is generated and cached on first use,",
              "or run `dawm collect ENV LEVEL`:"]
    for env, levels in cat["can_generate"].items():
        note = "" if len(levels) > 1 else "   (no behaviour policies published yet)"
        lines.append(f"  {env:<12} " + ", ".join(f"{env}-{lvl}" for lvl in levels) + note)
    lines += _section(f"Minari datasets on local disk ({cat['minari_root']}; use them by id):", cat["minari"],
                      _minari_line, "(none; `minari download mujoco/hopper/medium-v0` fetches one)")
    lines += _section(f"D4RL files in {cat['d4rl_root']} (use them by path; any other D4RL file works too):",
                      cat["d4rl"], _d4rl_line, "(none)")
    return "\n".join(lines)


def _section(title: str, rows: list[dict], line, empty: str) -> list[str]:
    """A titled block of the listing: one line per row, or `empty`."""
    return ["", title, *(line(d) for d in rows)] + ([] if rows else [f"  {empty}"])


def _minari_line(d: dict) -> str:
    detail = d.get("error") or f"{d.get('transitions') or 0:,} steps, {d.get('episodes') or 0:,} episodes"
    return f"  {d['id']:<32} {detail}"


def _d4rl_line(d: dict) -> str:
    detail = d.get("error") or f"{d['transitions']:,} steps"
    return f"  {d['path']:<48} {detail:>16} {_mb(d['bytes']):>8}"


def catalog() -> dict:
    """Everything `dawm datasets` shows: cached generated datasets, levels that can be generated
    per env from the published policies, and Minari and D4RL datasets on local disk."""
    return {
        "cache_dir": str(cache_dir()),
        "generated": list_generated(),
        "policies_dir": str(policies_dir()),
        "can_generate": {env: available_levels(env) for env in ENVS},
        "minari_root": str(minari_root()),
        "minari": list_minari(),
        "d4rl_root": str(d4rl_root()),
        "d4rl": list_d4rl(),
    }


@command("datasets", DatasetsCli, "list generated, generatable, local Minari and local D4RL datasets")
def _datasets(cfg: DatasetsCli) -> dict:
    cat = catalog()
    print(_json.dumps(cat, indent=2) if cfg.json else format_catalog(cat))
    return cat
