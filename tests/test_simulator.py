"""The simulator set from an observation reproduces real Gymnasium rollouts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dawm.envs.simulator import Simulator, simulate_transitions, velocity_clipped
from dawm.utils.errors import DawmError


def collect(env_id: str, steps: int, seed: int = 0, action_scale: float = 0.5):
    """A random-policy rollout recorded the way a dataset stores it (float32), resets included."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = {"obs": [], "act": [], "rew": [], "next": [], "term": []}
    for t in range(steps):
        act = (action_scale * rng.uniform(-1, 1, env.action_space.shape)).astype(np.float32)
        nxt, rew, term, trunc, _ = env.step(act)
        for k, v in zip(rows, (obs, act, rew, nxt, term)):
            rows[k].append(v)
        obs = env.reset(seed=seed + t + 1)[0] if term or trunc else nxt
    env.close()
    return {k: np.asarray(v, dtype=bool if k == "term" else np.float32) for k, v in rows.items()}


# Full-strength random actions make the hopper fall (terminations get checked); the walker gets
# gentler ones so that most of its rows stay below the velocity clip.
@pytest.mark.parametrize("env_id,scale", [("Hopper-v5", 1.0), ("Walker2d-v5", 0.5), ("HalfCheetah-v5", 1.0)])
def test_reproduces_real_rollouts(env_id, scale):
    data = collect(env_id, 150, action_scale=scale)
    next_obs, rew, term = simulate_transitions(env_id, data["obs"], data["act"])
    exact = ~velocity_clipped(env_id, data["obs"])
    assert exact.sum() >= 50  # the check below must cover real rows
    np.testing.assert_allclose(next_obs[exact], data["next"][exact], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rew[exact], data["rew"][exact], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(term[exact], data["term"][exact])
    if env_id != "HalfCheetah-v5":
        assert data["term"][exact].sum() >= 1


def test_clipped_velocity_is_flagged_and_approximate():
    # A strongly driven walker swings its legs faster than the ±10 observation clip.
    data = collect("Walker2d-v5", 150, action_scale=1.0)
    clipped = velocity_clipped("Walker2d-v5", data["obs"])
    assert clipped.any() and not clipped.all()
    assert not velocity_clipped("HalfCheetah-v5", np.full((2, 17), 50.0)).any()  # HalfCheetah never clips
    next_obs, _, _ = simulate_transitions("Walker2d-v5", data["obs"], data["act"])
    err = np.abs(next_obs - data["next"]).max(-1)
    assert err[~clipped].max() < 1e-3 < err[clipped].max()


def test_open_loop_rollout_matches_recorded_episode():
    data = collect("HalfCheetah-v5", 40)  # no termination, no clipping effects on the replay
    sim = Simulator("HalfCheetah-v5")
    states, rewards, term = sim.rollout(data["obs"][:1], data["act"][None, :40])
    assert states.shape == (1, 40, 17) and not term.any()
    np.testing.assert_allclose(rewards[0], data["rew"], atol=1e-4)
    # float32 storage of the start is the only difference; it stays tiny over 40 steps
    np.testing.assert_allclose(states[0], data["next"], atol=1e-2)


def test_rollout_stops_at_termination_and_unstable_rows_are_nan():
    sim = Simulator("hopper")
    fallen = np.zeros((1, 11))  # z = 0: unhealthy immediately
    states, rewards, term = sim.rollout(fallen, np.zeros((1, 5, 3)))
    assert term[0, 0] and np.isnan(rewards[0, 1:]).all()
    obs = np.zeros((3, 11))
    obs[:, 0] = 1.25
    obs[0, 5:] = 1e12  # MuJoCo finds this state unstable and resets itself
    obs[2, 0] = np.nan
    next_obs, rew, term = sim.step(obs, np.zeros((3, 3)))
    assert np.isnan(rew[[0, 2]]).all() and np.isfinite(next_obs[1]).all() and not term.any()


def test_bad_env_and_shapes_are_one_line_errors():
    with pytest.raises(DawmError, match="no simulator for env 'Ant-v5'"):
        Simulator("Ant-v5")
    with pytest.raises(DawmError, match="expected 11 and 3"):
        simulate_transitions("Hopper-v5", np.zeros((2, 17)), np.zeros((2, 3)))
