"""Critic regression targets, as a replaceable component of every agent's update.

Both agents compute their critic target y by calling ``agent.target_fn(batch, gamma, next_value,
reward_scale)`` under ``torch.no_grad()``; the rest of the update rule never looks inside. The
default is the one-step TD target

    y = c * r + gamma * (1 - done) * V(s')

where V(s') is the agent's bootstrap value of a raw next observation (TD3+BC: min of the twin
target critics at the smoothed target action, min_i Qbar_i(s', clip(pibar(s') + eps, -1, 1));
IQL: the value network V(s')) and c the agent's reward scale (IQL's 1000 / return spread; 1 for
TD3+BC).

A multi-step model-based target plugs in here without touching the update rules. DWM's
Diffusion-MVE, for instance, rolls a diffusion world model out from (s_t, a_t) and bootstraps at
the horizon H, y = sum_{h<H} gamma^h c r_hat_{t+h} + gamma^H V(s_hat_{t+H}):

    class DiffusionMVE:
        def __init__(self, world_model, horizon):
            self.world_model, self.horizon = world_model, horizon

        def __call__(self, batch, gamma, next_value, reward_scale=1.0):
            # states (B, H+1, obs_dim) and rewards (B, H), raw units, one rollout per batch row
            states, rewards = self.world_model.rollout(batch["observations"], batch["actions"], self.horizon)
            discounts = gamma ** torch.arange(self.horizon, device=rewards.device)
            return reward_scale * (rewards * discounts).sum(1) + gamma ** self.horizon * next_value(states[:, -1])

    agent = TD3BC(obs_dim, act_dim, cfg, obs_normalizer, target_fn=DiffusionMVE(model, horizon=5))

Contract: `batch` is the raw batch the agent trains on (see `dawm.agents.batch_sources`);
`next_value` maps raw observations (B, obs_dim) -> (B,) and already applies the agent's
normalisation and target networks; the result is a (B,) tensor on the batch's device. A target
may ignore `batch["next_observations"]` and `batch["dones"]` (a rollout carries its own, and may
cut terminated rollouts with the env spec's `termination`). An agent with n_seeds = S > 1 keeps
this contract: its (S, B, ...) batch arrives flattened seed-major to B' = S * B rows, and
`next_value` maps rows back to their own seed (dawm.agents.seeds.seed_target).
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch

Batch = dict[str, torch.Tensor]
NextValueFn = Callable[[torch.Tensor], torch.Tensor]


class TargetFn(Protocol):
    def __call__(self, batch: Batch, gamma: float, next_value: NextValueFn, reward_scale: float = 1.0
                 ) -> torch.Tensor:
        """The critic regression target y, shape (B,)."""
        ...


def one_step_target(batch: Batch, gamma: float, next_value: NextValueFn, reward_scale: float = 1.0) -> torch.Tensor:
    """y = c * r + gamma * (1 - done) * V(s'), the standard TD(0) target."""
    rewards = batch["rewards"] if reward_scale == 1.0 else batch["rewards"] * reward_scale
    not_done = 1.0 - batch["dones"]
    return torch.addcmul(rewards, not_done, next_value(batch["next_observations"]), value=gamma)
