"""DWM's Diffusion-MVE critic target against a hand-computed example."""

from __future__ import annotations

import pytest
import torch

from dawm.agents.value_expansion import DiffusionMVE


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
