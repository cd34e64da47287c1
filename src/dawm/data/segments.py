"""Length-T windows of real trajectories: the world model's training examples.

A segment starting at step t holds s_t..s_{t+T-1}, a_t..a_{t+T-1}, r_t..r_{t+T-1},
s_{t+1}..s_{t+T} and the discounted return-to-go at its start,
    g_t = sum_{k>=0} gamma^k r_{t+k}   up to the end of t's episode.
At a timeout the sum is simply truncated (no bootstrap), so g_t near a time limit under-counts
what the policy would have earned; it is a label for conditioning, not a value target.

Episode-end rule:
  - a start t is used when the whole window lies inside its episode;
  - if the episode ends in a TERMINAL before t+T, the start is still used and the window is
    padded after the terminal with the absorbing state: the terminal step's next observation
    repeated (as observation and next observation), action 0, reward 0, mask 0, terminal True;
  - a window may NOT cross a TIMEOUT: such starts are dropped. Without recorded next
    observations the last step before a timeout has no known successor, so windows must also
    end one step earlier there (s_{t+T} must be real).
Without recorded next observations, a terminal's next observation (the absorbing state) is taken
to be the terminal observation itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from dawm.data.dataset import Dataset


@dataclass
class Segments:
    observations: np.ndarray  # (M, T, obs_dim) s_t..s_{t+T-1}
    actions: np.ndarray  # (M, T, act_dim) a_t..a_{t+T-1}
    rewards: np.ndarray  # (M, T) r_t..r_{t+T-1}
    next_observations: np.ndarray  # (M, T, obs_dim) s_{t+1}..s_{t+T}
    returns_to_go: np.ndarray  # (M,) discounted return-to-go from s_t (truncated at timeouts)
    terminals: np.ndarray  # (M, T) bool: the terminal step and the padding after it
    mask: np.ndarray  # (M, T) float32: 1 = real step, 0 = padding
    start_index: np.ndarray  # (M,) dataset index of s_t

    def __len__(self) -> int:
        return len(self.start_index)

    @property
    def window(self) -> int:
        return self.rewards.shape[1]

    def __getitem__(self, index) -> Segments:
        return Segments(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def sample(self, batch: int, rng: np.random.Generator) -> Segments:
        return self[rng.integers(0, len(self), size=batch)]

    def to_torch(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        return {f.name: torch.as_tensor(getattr(self, f.name), device=device) for f in fields(self)}


def returns_to_go(ds: Dataset, gamma: float = 0.99) -> np.ndarray:
    """(N,) g_t = sum_k gamma^k r_{t+k} within t's episode, by a log-depth parallel scan.

    Each pass folds in the pair (value, decay) d steps ahead: g_t += decay_t * g_{t+d}. The decay
    is 0 at an episode's last step, so nothing flows across episode ends. Only positive-weight
    sums: no cancellation, no gamma^-t overflow, log2(longest episode) passes.
    """
    g = ds.rewards.astype(np.float64)
    decay = np.full(len(g), gamma, dtype=np.float64)
    ends = ds.episode_ends
    decay[ends - 1] = 0.0
    longest = int(np.diff(np.concatenate([[0], ends])).max()) if len(g) else 0
    d = 1
    while d < longest:
        g[:-d] = g[:-d] + decay[:-d] * g[d:]
        decay[:-d] = decay[:-d] * decay[d:]
        d *= 2
    return g


def rewards_after(ds: Dataset, start: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the real reward k = `step` steps after each `start` (rows of `ds`), whether it is known): the real segment
    a synthetic rollout from the same start is measured against. After a terminal the episode is over and earns 0;
    after a timeout the real future was cut, not finished, so it is unknown."""
    t = np.asarray(start) + np.asarray(step)
    end = ds.episode_ends[ds.episode_ids()[start]]
    inside = t < end
    return np.where(inside, ds.rewards[np.minimum(t, len(ds) - 1)], 0.0), inside | ds.terminals[end - 1]


def segment_starts(ds: Dataset, window: int) -> np.ndarray:
    """Dataset indices where a window may start under the episode-end rule."""
    ep = ds.episode_ids()
    end = ds.episode_ends[ep]  # exclusive end of each step's episode
    ends_in_terminal = ds.terminals[end - 1]
    room = end - np.arange(len(ds)) - (0 if ds.next_observations is not None else 1)
    return np.flatnonzero(ends_in_terminal | (room >= window))


def make_segments(ds: Dataset, window: int, gamma: float = 0.99, starts: np.ndarray | None = None,
                  rtg: np.ndarray | None = None) -> Segments:
    """All windows of length `window` (or only those at `starts`), padded per the episode-end rule.

    `rtg` may pass precomputed `returns_to_go(ds, gamma)` when windows are built batch by batch.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    starts = segment_starts(ds, window) if starts is None else np.asarray(starts, dtype=np.int64)
    rtg = returns_to_go(ds, gamma) if rtg is None else rtg
    next_obs, _ = ds.successors()
    end = ds.episode_ends[ds.episode_ids()[starts]][:, None]
    idx = starts[:, None] + np.arange(window)
    real = idx < end
    idx = np.minimum(idx, end - 1)  # padding points at the terminal step ...
    observations, actions, rewards = ds.observations[idx], ds.actions[idx], ds.rewards[idx]
    pad = np.nonzero(~real)  # few: only windows that run past a terminal
    observations[pad] = next_obs[idx[pad]]  # ... whose next observation is the absorbing state
    actions[pad], rewards[pad] = 0.0, 0.0
    return Segments(
        observations=observations,
        actions=actions,
        rewards=rewards,
        next_observations=next_obs[idx],
        returns_to_go=rtg[starts].astype(np.float32),
        terminals=ds.terminals[idx] | ~real,
        mask=real.astype(np.float32),
        start_index=starts,
    )
