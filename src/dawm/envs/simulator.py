"""Ground truth for any (s, a): set MuJoCo from an observation, step it, read s', r, done.

Hopper-v5, Walker2d-v5 and HalfCheetah-v5 observe qpos[1:] + qvel; the missing x position does
not enter the dynamics, and the reward uses the x *velocity* (a difference of x before and after
the step), so the state rebuilt with qpos[0] = 0 gives the same next observation, reward and
termination as the original. Stepping goes through the environment's own `step` (the unwrapped
env, so no time limit or reset-order checks), hence frame_skip, control cost and health checks
are Gymnasium's exactly.

One caveat: Hopper and Walker2d clip qvel to ±10 *in the observation*. A row whose observed
velocity sits at the clip bound hides the true velocity, so its reconstruction (and everything
simulated from it) is only approximate; `velocity_clipped` flags such rows. HalfCheetah does not
clip. Actions are passed through unchanged, as Gymnasium does: MuJoCo clamps the control to its
range but the control cost is charged on the raw action.
"""

from __future__ import annotations

import contextlib

import mujoco
import numpy as np

from dawm.envs.evaluation import make_env
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DawmError

SIMULATED_ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
_CLIPS_VELOCITY = {"Hopper-v5": 10.0, "Walker2d-v5": 10.0}  # observation clips qvel to ± this
_BAD_STATE_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                       mujoco.mjtWarning.mjWARN_BADQACC)


def resolve_env_id(env_id: str) -> str:
    """The Gymnasium id of a simulated env (short names accepted); DawmError for any other env."""
    spec = get_env_spec(env_id or "")
    if spec is None or spec.env_id not in SIMULATED_ENVS:
        raise DawmError(f"no simulator for env '{env_id}' (expected one of: {', '.join(SIMULATED_ENVS)})")
    return spec.env_id


@contextlib.contextmanager
def _quiet_mujoco():
    """Silence MuJoCo's per-event "simulation is unstable" prints; unstable rows come back as NaN."""
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda msg: None)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def velocity_clipped(env_id: str, obs: np.ndarray) -> np.ndarray:
    """(N,) True where an observed velocity sits at the env's clip bound (reconstruction approximate)."""
    env_id = resolve_env_id(env_id)
    bound = _CLIPS_VELOCITY.get(env_id)
    obs = np.asarray(obs)
    if bound is None:
        return np.zeros(obs.shape[:-1], dtype=bool)
    nq = get_env_spec(env_id).nq
    return (np.abs(obs[..., nq - 1 :]) >= bound * (1 - 1e-6)).any(-1)


class Simulator:
    """A MuJoCo env that can be put into the state of any observation.

    `step(obs, actions)` handles a batch, row by row (MuJoCo steps are serial, so one env is as
    fast as a pool of them); `rollout(obs0, actions)` replays action sequences open loop.
    """

    def __init__(self, env_id: str, seed: int = 0):
        self.env_id = resolve_env_id(env_id)
        self.spec = get_env_spec(self.env_id)
        self.env = make_env(self.env_id).unwrapped
        self.env.reset(seed=seed)
        self.nq = self.env.model.nq

    def _check(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs = np.asarray(obs, dtype=np.float64)
        actions = np.asarray(actions, dtype=np.float64)
        if obs.shape[-1] != self.spec.obs_dim or actions.shape[-1] != self.spec.act_dim:
            raise DawmError(f"{self.env_id}: got observations of width {obs.shape[-1]} and actions of width "
                            f"{actions.shape[-1]} (expected {self.spec.obs_dim} and {self.spec.act_dim})")
        return obs, actions

    def set_state(self, obs: np.ndarray) -> None:
        """qpos = [0, obs[:nq-1]], qvel = obs[nq-1:]."""
        qpos = np.concatenate([[0.0], obs[: self.nq - 1]])
        self.env.set_state(qpos, np.asarray(obs[self.nq - 1 :], dtype=np.float64))

    def _clear_warnings(self) -> None:
        # MuJoCo's auto-reset zeroes the counters and then counts 1, so "went up" cannot be detected
        # across two bad rows; start each trajectory from zero instead.
        for w in _BAD_STATE_WARNINGS:
            self.env.data.warning[w].number = 0

    def _step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """One env step -> (next_obs, reward, terminated, ok). ok is False when MuJoCo has found the
        state unstable (huge or NaN values, in set_state or the step) and auto-reset it."""
        next_obs, reward, terminated, _, _ = self.env.step(action)
        if any(self.env.data.warning[w].number for w in _BAD_STATE_WARNINGS):
            return np.full(self.spec.obs_dim, np.nan), np.nan, False, False
        return next_obs, float(reward), bool(terminated), True

    def step(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, obs_dim), (N, act_dim) -> true (next_obs (N, obs_dim), rewards (N,), terminated (N,)).

        Rows that cannot be simulated (non-finite input, unstable state) are NaN, not terminated."""
        obs, actions = self._check(obs, actions)
        n = len(obs)
        next_obs = np.full((n, self.spec.obs_dim), np.nan, dtype=np.float32)
        rewards = np.full(n, np.nan, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        ok = np.isfinite(obs).all(-1) & np.isfinite(actions).all(-1)
        with _quiet_mujoco():
            for i in np.flatnonzero(ok):
                self._clear_warnings()
                self.set_state(obs[i])
                next_obs[i], rewards[i], terminated[i], _ = self._step(actions[i])
        return next_obs, rewards, terminated

    def rollout(self, obs0: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-loop replay: (B, obs_dim) starts, (B, H, act_dim) actions -> states (B, H, obs_dim),
        rewards (B, H), terminated (B, H). Steps after a termination are NaN (the episode is over)."""
        obs0, actions = self._check(obs0, actions)
        b, h = actions.shape[:2]
        states = np.full((b, h, self.spec.obs_dim), np.nan, dtype=np.float32)
        rewards = np.full((b, h), np.nan, dtype=np.float32)
        terminated = np.zeros((b, h), dtype=bool)
        with _quiet_mujoco():
            for i in range(b):
                if not np.isfinite(obs0[i]).all():
                    continue
                self._clear_warnings()
                self.set_state(obs0[i])
                for t in range(h):
                    if not np.isfinite(actions[i, t]).all():
                        break
                    states[i, t], rewards[i, t], terminated[i, t], ok = self._step(actions[i, t])
                    if terminated[i, t] or not ok:
                        break
        return states, rewards, terminated

    def close(self) -> None:
        self.env.close()


def simulate_transitions(env_id: str, obs: np.ndarray, actions: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true (next_obs, rewards, terminated) of each (obs[i], actions[i]) in `env_id`.

    Rows with a non-finite state or action, or one MuJoCo finds unstable, come back as NaN and
    not terminated; callers should leave them out (`np.isfinite(next_obs).all(-1)`).
    """
    sim = Simulator(env_id)
    try:
        return sim.step(obs, actions)
    finally:
        sim.close()
