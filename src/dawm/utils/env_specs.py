"""Per-environment facts: D4RL reference scores, termination rules, state from observation.

Everything that differs between Hopper, Walker2d and HalfCheetah lives here, so the rest of
the code stays environment-agnostic. Numpy only, on the ground floor: data/ reads it without
importing envs/ (or Gymnasium).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _never_done(obs: np.ndarray) -> np.ndarray:
    return np.zeros(obs.shape[:-1], dtype=bool)


def _hopper_done(obs: np.ndarray) -> np.ndarray:
    # Gymnasium v5 Hopper.is_healthy: obs[0] = z, obs[1] = torso angle, obs[1:] = state_vector()[2:].
    z, angle = obs[..., 0], obs[..., 1]
    healthy = (np.abs(obs[..., 1:]) < 100.0).all(-1) & (z > 0.7) & (np.abs(angle) < 0.2)
    return ~healthy


def _walker2d_done(obs: np.ndarray) -> np.ndarray:
    z, angle = obs[..., 0], obs[..., 1]
    healthy = (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)
    return ~healthy


@dataclass(frozen=True)
class EnvSpec:
    """What the project knows about one locomotion environment."""

    name: str  # short name used in dataset names: "hopper"
    env_id: str  # Gymnasium id: "Hopper-v5"
    obs_dim: int
    act_dim: int
    ref_min_score: float  # D4RL random-policy return
    ref_max_score: float  # D4RL expert return
    rtg_scale: float  # DWM's return-to-go divisor
    termination: Callable[[np.ndarray], np.ndarray]  # next_obs -> done, the env's own health check
    nq: int  # qpos size; obs = qpos[1:] + qvel (x position excluded)
    medium_band: tuple[float, float]  # D4RL-like "medium" return band for behaviour policies

    def normalized_score(self, returns):
        """D4RL normalised score x 100."""
        return normalized_score(returns, self.ref_min_score, self.ref_max_score)


ENV_SPECS: dict[str, EnvSpec] = {
    s.name: s
    for s in [
        EnvSpec("hopper", "Hopper-v5", 11, 3, -20.272305, 3234.3, 400.0, _hopper_done, 6, (1000.0, 1600.0)),
        EnvSpec("walker2d", "Walker2d-v5", 17, 6, 1.629008, 4592.3, 550.0, _walker2d_done, 9, (2500.0, 3500.0)),
        EnvSpec(
            "halfcheetah", "HalfCheetah-v5", 17, 6, -280.178953, 12135.0, 1200.0, _never_done, 9, (4000.0, 5000.0)
        ),
    ]
}


def get_env_spec(name_or_id: str) -> EnvSpec | None:
    """Look up by short name ("hopper"), Gymnasium id ("Hopper-v5", any version) or D4RL name."""
    for key in reversed(name_or_id.lower().replace("_", "-").split("/")):  # Minari ids: mujoco/hopper/medium-v0
        for spec in ENV_SPECS.values():
            base = spec.env_id.lower().split("-v")[0]
            if key in (spec.name, base) or key.startswith((spec.name + "-", base + "-")):
                return spec
    return None


def normalized_score(returns, ref_min: float, ref_max: float) -> np.ndarray:
    """D4RL normalised score x 100 = 100 (R - R_random) / (R_expert - R_random)."""
    return 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)


def reference_scores(env_id: str, metadata: dict | None = None) -> tuple[float, float] | None:
    """(ref_min, ref_max) from dataset metadata, else D4RL's table for the env, else None."""
    metadata = metadata or {}
    if metadata.get("ref_min_score") is not None and metadata.get("ref_max_score") is not None:
        return float(metadata["ref_min_score"]), float(metadata["ref_max_score"])
    spec = get_env_spec(env_id)
    return (spec.ref_min_score, spec.ref_max_score) if spec else None
