"""Policy evaluation in Gymnasium MuJoCo: n seeded episodes run side by side, batched actions."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Callable

import gymnasium as gym
import numpy as np

from dawm.utils.env_specs import get_env_spec, normalized_score, reference_scores

PolicyFn = Callable[[np.ndarray], np.ndarray]  # (n, obs_dim) float32 -> (n, act_dim)


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    return_mean: float
    return_std: float
    score_mean: float | None  # D4RL normalised score x 100, when references are known
    score_std: float | None


def make_env(env_id: str, **kwargs) -> gym.Env:
    """`gym.make` for a registered id or a short name (hopper -> Hopper-v5); every env of the package is made here."""
    _quiet_known_mujoco_warnings()
    spec = get_env_spec(env_id)
    return gym.make(spec.env_id if spec and "-v" not in env_id else env_id, **kwargs)


@cache
def _quiet_known_mujoco_warnings() -> None:
    """MuJoCo >= 4 warns that Gymnasium's v5 XML uses the deprecated `settotalmass` on every env
    made (stderr + MUJOCO_LOG.TXT in the working dir). It is harmless; drop only that message.
    Installed once, on the first env made (importing the package loads no simulator)."""
    try:
        import mujoco
    except ImportError:
        return
    if mujoco.get_mju_user_warning() is not None:  # someone installed a handler: respect it
        return

    def handler(msg: str) -> None:
        if "settotalmass" not in msg:
            print(f"MuJoCo warning: {msg}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)


def evaluate(
    policy: PolicyFn,
    env_id: str,
    episodes: int = 10,
    seed: int = 0,
    ref_scores: tuple[float, float] | None = None,
    max_steps: int | None = None,
) -> EvalResult:
    """Roll `policy` out for `episodes` episodes (episode i seeded with seed + i), all in lockstep."""
    envs = [make_env(env_id) for _ in range(episodes)]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]).astype(np.float32)
    active = np.ones(episodes, dtype=bool)
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=int)
    limit = max_steps or envs[0].spec.max_episode_steps or 1000
    for _ in range(limit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        actions = np.asarray(policy(obs[idx]), dtype=np.float32)
        for j, i in enumerate(idx):
            o, r, term, trunc, _ = envs[i].step(actions[j])
            obs[i], returns[i], lengths[i] = o, returns[i] + r, lengths[i] + 1
            if term or trunc:
                active[i] = False
    for e in envs:
        e.close()
    ref = ref_scores if ref_scores is not None else reference_scores(env_id)
    scores = normalized_score(returns, *ref) if ref else None
    return EvalResult(
        returns=returns.tolist(),
        lengths=lengths.tolist(),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        score_mean=float(scores.mean()) if scores is not None else None,
        score_std=float(scores.std()) if scores is not None else None,
    )
