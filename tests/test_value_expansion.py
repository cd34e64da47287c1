"""DWM's Diffusion-MVE critic target against a hand-computed example; its rollout pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.agents.batch_sources import TransitionBuffer
from dawm.agents.value_expansion import DiffusionMVE, RolloutPool
from dawm.data.transitions import Transitions


class FixedRollout:
    """A 'world model' whose rollout is given: states (B, H+1, 1), rewards (B, H)."""

    def __init__(self, states, rewards):
        self.states, self.rewards, self.calls = torch.tensor(states), torch.tensor(rewards), []

    def rollout(self, state, action, horizon, rtg=None):
        self.calls.append((state.clone(), action.clone(), horizon, rtg))
        return self.states[:, : horizon + 1, None], self.rewards[:, :horizon]


def test_diffusion_mve_target_by_hand():
    model = FixedRollout(states=[[0.0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 6, 7]],
                         rewards=[[1.0, 2, 3], [1, 1, 1], [4, 0, 0]])
    batch = {"observations": torch.zeros(3, 1), "actions": torch.ones(3, 2), "rewards": torch.zeros(3),
             "dones": torch.tensor([0.0, 1.0, 0.0])}
    target = DiffusionMVE(model, horizon=3, termination=lambda s: s[:, 0] > 5, rtg=0.7)
    y = target(batch, 0.9, lambda s: 10.0 * s[:, 0], reward_scale=2.0)
    # row 0: alive throughout: 2 (1 + .9*2 + .81*3) + .9^3 * V(s3 = 3) = 10.46 + 21.87
    # row 1: the real transition is terminal, so only its own (model) reward counts: 2 * 1
    # row 2: s_hat_{t+2} = 6 fails the health check: 2 * 4 + .9 * 2 * 0, no bootstrap
    assert y.tolist() == pytest.approx([32.33, 2.0, 8.0])
    assert model.calls[0][2] == 3 and model.calls[0][3] == 0.7


def test_diffusion_mve_horizon_one_without_termination_is_one_step_on_model_outputs():
    model = FixedRollout(states=[[0.0, 2.0]], rewards=[[1.5]])
    batch = {"observations": torch.zeros(1, 1), "actions": torch.zeros(1, 1), "rewards": torch.zeros(1),
             "dones": torch.zeros(1)}
    y = DiffusionMVE(model, horizon=1)(batch, 0.99, lambda s: s[:, 0] + 1.0)
    assert y.item() == pytest.approx(1.5 + 0.99 * 3.0)


class DeterministicModel:
    """Rollout = a known function of (s_t, a_t): states s_t + k * a_t[0], rewards s_t[0] + a_t[0] + k."""

    def __init__(self):
        self.rollouts = 0

    def rollout(self, state, action, horizon, rtg=None):
        self.rollouts += len(state)
        k = torch.arange(horizon + 1, dtype=torch.float32)
        states = state[:, None, :] + k[None, :, None] * action[:, None, :1]
        return states, (state[:, :1] + action[:, :1]) + k[None, :horizon]


def _buffer(n=50):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n, 2)).astype(np.float32)
    t = Transitions(observations=obs, actions=rng.uniform(-1, 1, (n, 1)).astype(np.float32),
                    rewards=rng.normal(size=n).astype(np.float32), next_observations=obs + 1,
                    dones=np.zeros(n, np.float32))
    return TransitionBuffer(t, seed=1)


def test_rollout_pool_rows_carry_their_own_rollout_and_refresh_on_schedule():
    model = DeterministicModel()
    mve = DiffusionMVE(model, horizon=3, termination=lambda s: s[:, 0] > 1.5)  # some rollouts end early
    pool = RolloutPool(_buffer(), mve, pool_size=40, refresh_every=3, chunk=16)
    for i in range(7):  # refreshes before batches 0, 3 and 6
        batch = pool.sample(32)
        states, rewards = model.rollout(batch["observations"], batch["actions"], 3)
        assert torch.equal(batch["rollout_states"], states) and torch.equal(batch["rollout_rewards"], rewards)
        assert torch.equal(batch["rollout_dones"][:, 1:], (states[:, 2:, 0] > 1.5).float())
    assert pool.rollouts_drawn == 3 * 40 and model.rollouts == 3 * 40 + 7 * 32
    # the target from pooled rollouts equals the one sampled for the batch itself
    batch["dones"] = torch.zeros(32)
    direct = {k: v for k, v in batch.items() if not k.startswith("rollout_")}
    value = lambda s: s.sum(-1)  # noqa: E731
    pooled = mve(batch, 0.9, value)
    assert torch.allclose(pooled, mve(direct, 0.9, value))
    assert 0 < batch["rollout_dones"][:, 1:].sum() < batch["rollout_dones"][:, 1:].numel()  # the rule mattered


def test_rollout_pool_of_size_zero_samples_per_batch():
    pool = RolloutPool(_buffer(), DiffusionMVE(DeterministicModel(), horizon=2), pool_size=0)
    batch = pool.sample(8)
    assert "rollout_states" not in batch and batch["observations"].shape == (8, 2)
