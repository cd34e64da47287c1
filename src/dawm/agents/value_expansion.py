"""DWM's Diffusion-MVE: multi-step critic targets from a diffusion world model (Ding et al., 2024).

The baseline DAWM is compared with. For every training batch the world model rolls out from the
real (s_t, a_t) pairs, and only the critic target uses the rollout:

    y = sum_{h<H} gamma^h m_h c r_hat_{t+h}  +  gamma^H m_H V(s_hat_{t+H})

with c the agent's reward scale and V its bootstrap value (TD3+BC: min of the target critics at
the smoothed target action; IQL: the value network). m_h is 1 while the rollout is alive:
m_0 = 1; m_1 = 1 - done_t, the real transition's own terminal flag (ground truth beats a
prediction); m_{h+1} = m_h (1 - term(s_hat_{t+h+1})) with the env's declared termination rule.
The actor still trains on the real (s, a), as in DWM. Plugs into either agent as `target_fn`
(see dawm.agents.targets) without touching its update rule.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dawm.agents.targets import Batch, NextValueFn

Termination = Callable[[np.ndarray], np.ndarray]  # raw next observations (B, obs_dim) -> bool (B,)


class DiffusionMVE:
    """Critic target y from an H-step world-model rollout per batch row (H in 1..T-1; DWM used 1-7)."""

    def __init__(self, world_model, horizon: int = 5, termination: Termination | None = None,
                 rtg: float | None = None, **sample_knobs):
        self.world_model, self.horizon, self.termination = world_model, horizon, termination
        self.rtg, self.sample_knobs = rtg, sample_knobs  # rtg None: the world model's training target

    @torch.no_grad()
    def __call__(self, batch: Batch, gamma: float, next_value: NextValueFn, reward_scale: float = 1.0
                 ) -> torch.Tensor:
        states, rewards = self.world_model.rollout(batch["observations"], batch["actions"], self.horizon,
                                                   rtg=self.rtg, **self.sample_knobs)
        states, rewards = states.to(batch["rewards"].device), rewards.to(batch["rewards"].device)
        alive = torch.ones_like(batch["rewards"])
        y = torch.zeros_like(batch["rewards"])
        for h in range(self.horizon):
            y += gamma**h * alive * reward_scale * rewards[:, h]
            alive = alive * (1.0 - (batch["dones"] if h == 0 else self._done(states[:, h + 1])))
        return y + gamma**self.horizon * alive * next_value(states[:, self.horizon])

    def _done(self, next_obs: torch.Tensor) -> torch.Tensor:
        if self.termination is None:
            return torch.zeros(next_obs.shape[0], device=next_obs.device)
        done = self.termination(next_obs.detach().cpu().numpy())
        return torch.as_tensor(np.asarray(done, dtype=np.float32), device=next_obs.device)
