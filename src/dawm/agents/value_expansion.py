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

Rollouts ahead of time (`RolloutPool`): a rollout depends only on (s_t, a_t, g) and the sampling
noise, never on the agent, so drawing it per batch (DWM) or ahead of time gives the same
distribution per row. Per-batch sampling of 256 rollouts costs several agent updates on a CPU
(benchmarks/speed_dwm.py); the pool samples `pool_size` start pairs and their rollouts in large
batches, serves batches from them and redraws everything every `refresh_every` batches. What changes
is only how often a rollout is reused (pool_size / (refresh_every * B) fresh draws per row);
pool_size 0 means per-batch sampling.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dawm.agents.batch_sources import TransitionBuffer
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
        if "rollout_states" in batch:  # drawn ahead by a RolloutPool, with their termination flags
            states, rewards, dones = batch["rollout_states"], batch["rollout_rewards"], batch["rollout_dones"]
        else:
            states, rewards = self.rollout(batch["observations"], batch["actions"])
            dones = self.dones(states)
        device = batch["rewards"].device
        states, rewards, dones = states.to(device), rewards.to(device), dones.to(device)
        alive = torch.ones_like(batch["rewards"])
        y = torch.zeros_like(batch["rewards"])
        for h in range(self.horizon):
            y += gamma**h * alive * reward_scale * rewards[:, h]
            alive = alive * (1.0 - (batch["dones"] if h == 0 else dones[:, h]))
        return y + gamma**self.horizon * alive * next_value(states[:, self.horizon])

    def rollout(self, observations: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States s_t..s_{t+H} (B, H+1, obs) and rewards (B, H) from real start pairs, at this target's knobs."""
        return self.world_model.rollout(observations, actions, self.horizon, rtg=self.rtg, **self.sample_knobs)

    def dones(self, states: torch.Tensor) -> torch.Tensor:
        """(B, H) float flags: column h is term(s_hat_{t+h+1}) by the termination rule (0 without one).
        Column 0 is never used (the real transition's own flag stands in for it)."""
        b, h = states.shape[0], states.shape[1] - 1
        if self.termination is None:
            return torch.zeros(b, h, device=states.device)
        flat = states[:, 1:].detach().reshape(b * h, -1).cpu().numpy()  # the one host round trip
        done = np.asarray(self.termination(flat), dtype=np.float32).reshape(b, h)
        return torch.as_tensor(done, device=states.device)


class RolloutPool:
    """A `BatchSource` of real transitions that carry their world-model rollout (see the module doc).

    Batches have the usual fields plus rollout_states (B, H+1, obs_dim), rollout_rewards (B, H) and
    rollout_dones (B, H), which `DiffusionMVE` uses instead of sampling. The real rows are uniform over the data, as are
    the pool's start pairs, so a batch is distributed as DWM's; only reuse differs.
    """

    def __init__(self, real: TransitionBuffer, mve: DiffusionMVE, pool_size: int = 50_000,
                 refresh_every: int = 5_000, chunk: int = 4096):
        if pool_size < 0 or refresh_every < 1:
            raise ValueError(f"pool_size must be >= 0 and refresh_every >= 1, got {pool_size}, {refresh_every}")
        self.real, self.mve, self.pool_size, self.refresh_every, self.chunk = real, mve, pool_size, refresh_every, chunk
        self.batches = 0  # batches served from this pool; a redraw is due whenever refresh_every divides it
        self.rollouts_drawn = 0

    def _refresh(self) -> None:
        idx = torch.randint(len(self.real), (self.pool_size,), device=self.real.device, generator=self.real.generator)
        self.rows = self.real.take(idx)
        states, rewards = [], []
        for i in range(0, self.pool_size, self.chunk):
            s, r = self.mve.rollout(self.rows["observations"][i: i + self.chunk],
                                    self.rows["actions"][i: i + self.chunk])
            states.append(s.to(self.real.device))
            rewards.append(r.to(self.real.device))
        states = torch.cat(states)
        # flags computed once per pool: batches then never leave the device (no host sync per update)
        self.rows.update(rollout_states=states, rollout_rewards=torch.cat(rewards),
                         rollout_dones=self.mve.dones(states))
        self.rollouts_drawn += self.pool_size

    def sample(self, batch_size: int) -> Batch:
        if self.pool_size == 0:
            return self.real.sample(batch_size)  # DiffusionMVE then samples this batch's rollouts itself
        if self.batches % self.refresh_every == 0:
            self._refresh()
        self.batches += 1
        idx = torch.randint(self.pool_size, (batch_size,), device=self.real.device, generator=self.real.generator)
        return {k: v.index_select(0, idx) for k, v in self.rows.items()}

    def state_dict(self) -> dict:
        return {**self.real.state_dict(), "rollouts_drawn": self.rollouts_drawn}

    def load_state_dict(self, state: dict) -> None:
        """The pool itself is not saved: a resumed run draws a fresh one (same distribution)."""
        self.real.load_state_dict(state)
        self.rollouts_drawn, self.batches = int(state.get("rollouts_drawn", 0)), 0
