"""`dawm behaviour ...`: SAC behaviour policies for making datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import tyro

from dawm.cli.app import command
from dawm.envs.behaviour import BehaviourConfig, publish_behaviour, train_behaviour


@dataclass
class BehaviourTrainCli(BehaviourConfig):
    env: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="ENV")] = ""
    """Env short name (hopper, walker2d, halfcheetah) or Gymnasium id."""


@command("behaviour train", BehaviourTrainCli, "train a SAC behaviour policy (resumable)", required=("env",))
def _train(cfg: BehaviourTrainCli) -> None:
    run = train_behaviour(cfg)
    print(f"run directory: {run}")


@dataclass
class BehaviourPublishCli:
    run: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="RUN_DIR")] = ""
    """Behaviour run directory (from `dawm behaviour train`)."""
    dest: str = ""
    """Destination (default: assets/policies/<env>)."""
    expert_step: int = -1
    """Snapshot step to publish as expert (-1: the best evaluated one)."""
    medium_step: int = -1
    """Snapshot step to publish as medium (-1: the first whose evaluation lies in the medium band)."""
    note: str = ""
    """Why these snapshots were chosen (stored in manifest.json)."""


@command("behaviour publish", BehaviourPublishCli, "copy medium/expert/replay-series policies into assets",
         required=("run",))
def _publish(cfg: BehaviourPublishCli) -> None:
    import json
    from pathlib import Path

    from dawm.utils.env_specs import get_env_spec

    env_id = json.loads((Path(cfg.run) / "index.json").read_text())["env_id"]
    dest = cfg.dest or f"assets/policies/{get_env_spec(env_id).name}"
    out = publish_behaviour(cfg.run, dest, None if cfg.expert_step < 0 else cfg.expert_step,
                            None if cfg.medium_step < 0 else cfg.medium_step, cfg.note)
    print(f"published to {out}")
