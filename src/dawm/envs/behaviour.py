"""Behaviour policies for D4RL-style datasets, trained with Stable-Baselines3 SAC.

A run directory holds:
  policies/step_XXXXXXXX.safetensors  actor snapshots (random-init one at `learning_starts`, then
                                      every `checkpoint_every` steps) — the medium-replay recipe
  index.json                          per snapshot: step, training episodes so far, eval return
  resume/                             SB3's own model + replay buffer, for resuming (local only)
  metrics.jsonl, tb/                  learning curve
`publish_behaviour` copies medium / expert / the replay series into the repo's assets.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal


from dawm.envs.evaluation import evaluate, make_env
from dawm.envs.policies import GaussianMLPPolicy
from dawm.utils.checkpoint import write_json
from dawm.utils.config import check_choices
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DawmError
from dawm.utils.progress import progress
from dawm.utils.torch_utils import set_threads


@dataclass
class BehaviourConfig:
    """Train a SAC behaviour policy (Stable-Baselines3) on a Gymnasium MuJoCo env."""

    env: str = "hopper"
    """Env short name (hopper, walker2d, halfcheetah) or Gymnasium id."""
    total_steps: int = 1_000_000
    """Environment steps to train for (a resumed run continues up to this)."""
    checkpoint_every: int = 20_000
    """Save an actor snapshot and evaluate it every this many steps."""
    learning_starts: int = 10_000
    """Uniform-random steps before SAC updates start (they open medium-replay too)."""
    eval_episodes: int = 10
    """Deterministic evaluation episodes per snapshot."""
    stop_at: Literal["none", "medium"] = "none"
    """Stop early: 'medium' (first snapshot inside the medium band) or 'none'."""
    seed: int = 0
    """Seed for SAC and the environment."""
    threads: int | None = 1
    """torch CPU threads (SAC's small nets gain little from more)."""
    out: str | None = None
    """Run directory (default: runs/behaviour/<env>-seed<seed>)."""


def _run_dir(cfg: BehaviourConfig) -> Path:
    spec = get_env_spec(cfg.env)
    return Path(cfg.out or f"runs/behaviour/{spec.name}-seed{cfg.seed}")


def train_behaviour(cfg: BehaviourConfig) -> Path:
    """Train (or resume) SAC; returns the run directory."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from torch.utils.tensorboard import SummaryWriter

    spec = get_env_spec(cfg.env)
    if spec is None:
        raise DawmError(f"unknown env '{cfg.env}' (expected hopper, walker2d or halfcheetah)")
    check_choices(cfg)
    set_threads(cfg.threads)
    run = _run_dir(cfg)
    (run / "policies").mkdir(parents=True, exist_ok=True)
    (run / "resume").mkdir(exist_ok=True)
    write_json(run / "config.json", asdict(cfg))
    index_path = run / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"env_id": spec.env_id, "snapshots": []}
    resume_zip = run / "resume" / "sac.zip"
    env = make_env(spec.env_id)
    if resume_zip.exists():
        model = SAC.load(resume_zip, env=env, device="cpu")
        model.load_replay_buffer(run / "resume" / "replay.pkl")
        print(f"resuming {run} at step {model.num_timesteps}", flush=True)
    else:
        model = SAC("MlpPolicy", env, learning_starts=cfg.learning_starts, seed=cfg.seed, device="cpu", verbose=0)
    writer = SummaryWriter(str(run / "tb"))

    class Snapshots(BaseCallback):
        def __init__(self):
            super().__init__()
            self.episodes = index["snapshots"][-1]["episodes"] if index["snapshots"] else 0
            self.bar = progress(cfg.total_steps, f"SAC {spec.env_id}", "steps", initial=model.num_timesteps)
            self.ep_return, self.stop = 0.0, False

        def _on_step(self) -> bool:
            self.bar.update(1)
            self.ep_return += float(self.locals["rewards"][0])
            if self.locals["dones"][0]:
                self.episodes += 1
                writer.add_scalar("train/episode_return", self.ep_return, self.num_timesteps)
                self.ep_return = 0.0
            step = self.num_timesteps
            if step == cfg.learning_starts or (step % cfg.checkpoint_every == 0 and step > cfg.learning_starts):
                self._snapshot(step)
            return not self.stop

        def _snapshot(self, step: int) -> None:
            policy = GaussianMLPPolicy.from_sb3(self.model.policy, {"env_id": spec.env_id, "step": step})
            name = f"step_{step:08d}.safetensors"
            policy.save(run / "policies" / name)
            res = evaluate(lambda o: policy.act(o), spec.env_id, cfg.eval_episodes, seed=10_000 + step)
            entry = {"step": step, "episodes": self.episodes, "file": name, "eval_return_mean": res.return_mean,
                     "eval_return_std": res.return_std, "eval_score_mean": res.score_mean, "time": time.time()}
            index["snapshots"].append(entry)
            writer.add_scalar("eval/return_mean", res.return_mean, step)
            with open(run / "metrics.jsonl", "a") as f:
                f.write(json.dumps(entry) + "\n")
            # Resume state first, then the index: a crash in between repeats a snapshot, never loses one.
            self.model.save(run / "resume" / "sac.zip")
            self.model.save_replay_buffer(run / "resume" / "replay.pkl")
            write_json(index_path, index)
            self.bar.set_postfix_str(f"eval {res.return_mean:.0f}")
            lo, hi = spec.medium_band
            if cfg.stop_at == "medium" and lo <= res.return_mean <= hi:
                self.stop = True

    remaining = cfg.total_steps - model.num_timesteps
    if remaining > 0:
        cb = Snapshots()
        model.learn(remaining, callback=cb, reset_num_timesteps=False, progress_bar=False)
        cb.bar.close()
    writer.close()
    snaps = index["snapshots"]
    medium = select_medium(index, spec.medium_band)
    write_json(run / "summary.json", {
        "env_id": spec.env_id, "steps": int(model.num_timesteps), "snapshots": len(snaps),
        "best": _summary(max(snaps, key=lambda s: s["eval_return_mean"])) if snaps else None,
        "medium_candidate": _summary(medium) if medium else None, "medium_band": list(spec.medium_band)})
    return run


def select_medium(index: dict, band: tuple[float, float]) -> dict | None:
    """The first snapshot whose evaluated return lies in the medium band (D4RL: SAC stopped early)."""
    for snap in index["snapshots"]:
        if band[0] <= snap["eval_return_mean"] <= band[1]:
            return snap
    return None


def publish_behaviour(run: str | Path, dest: str | Path, expert_step: int | None = None,
                      medium_step: int | None = None, note: str = "") -> Path:
    """Copy medium, expert (best snapshot, or `expert_step`) and the medium-replay series to `dest`.

    `medium_step` overrides the automatic choice (first snapshot whose deterministic evaluation is
    in the band) — e.g. when SAC jumps over the band between snapshots; `note` records why.

    manifest.json records, for medium-replay, which snapshot acted for how many steps: the
    random phase, then each snapshot until the next one — the data SAC's replay buffer held.
    """
    run, dest = Path(run), Path(dest)
    index = json.loads((run / "index.json").read_text())
    spec = get_env_spec(index["env_id"])
    snaps = index["snapshots"]
    if not snaps:
        raise DawmError(f"{run}: no snapshots yet")
    dest.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"env_id": spec.env_id, "levels": {}, "snapshots": snaps}
    medium = select_medium(index, spec.medium_band) if medium_step is None else _snapshot(snaps, medium_step, run)
    expert = max(snaps, key=lambda s: s["eval_return_mean"]) if expert_step is None else _snapshot(
        snaps, expert_step, run)
    if note:
        manifest["note"] = note
    if medium is not None:
        shutil.copy(run / "policies" / medium["file"], dest / "medium.safetensors")
        manifest["levels"]["medium"] = {"file": "medium.safetensors", **_summary(medium)}
        series, prev_step, prev_file = [], 0, None
        for snap in [s for s in snaps if s["step"] <= medium["step"]]:
            series.append({"policy": prev_file or "random", "steps": snap["step"] - prev_step})
            shutil.copy(run / "policies" / snap["file"], dest / snap["file"])
            prev_step, prev_file = snap["step"], snap["file"]
        manifest["levels"]["medium-replay"] = {"series": series, "total_steps": medium["step"]}
    # "expert" only when clearly beyond medium; otherwise the best policy reached is recorded as such.
    if medium is None or expert["eval_return_mean"] > spec.medium_band[1] * 1.5:
        shutil.copy(run / "policies" / expert["file"], dest / "expert.safetensors")
        manifest["levels"]["expert"] = {"file": "expert.safetensors", **_summary(expert)}
    manifest["best"] = _summary(expert)
    write_json(dest / "manifest.json", manifest)
    return dest


def _snapshot(snaps: list[dict], step: int, run: Path) -> dict:
    for snap in snaps:
        if snap["step"] == step:
            return snap
    raise DawmError(f"{run}: no snapshot at step {step} (expected one of: {', '.join(str(s['step']) for s in snaps)})")


def _summary(snap: dict) -> dict:
    return {k: snap[k] for k in ("step", "episodes", "eval_return_mean", "eval_return_std")}
