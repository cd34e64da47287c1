"""One-step transitions (s, a, r, s', done) for TD learning, with D4RL's q-learning semantics.

From a `Dataset`, step i becomes (s_i, a_i, r_i, s'_i, done_i) where
  - s'_i = next_observations[i] when the dataset has them, else observations[i + 1] within the
    episode (never the first observation of the next episode);
  - a step that closes its episode by a timeout and has no recorded next observation is dropped:
    its successor is unknown, and nothing may be bootstrapped across a timeout;
  - a terminal step is kept with done = 1. Without a recorded next observation s' = s_i, which is
    harmless: done = 1 removes the bootstrap term, so s' is never evaluated in the target.
`dones` is 1.0 only for true terminals; timeouts never appear as dones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import torch

from dawm.data.dataset import Dataset


@dataclass
class Transitions:
    observations: np.ndarray  # (M, obs_dim) float32
    actions: np.ndarray  # (M, act_dim) float32
    rewards: np.ndarray  # (M,) float32
    next_observations: np.ndarray  # (M, obs_dim) float32
    dones: np.ndarray  # (M,) float32, 1.0 = true terminal (no bootstrap)

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float32))

    @classmethod
    def from_dataset(cls, ds: Dataset) -> Transitions:
        next_obs, known = ds.successors()
        # drop timeout (and end-of-data) steps with no recorded s': successor unknown; a terminal stays
        # (s' = s there, masked by done = 1)
        keep = np.ones(len(ds), dtype=bool) if ds.next_observations is not None else known | ds.terminals
        return cls(ds.observations[keep], ds.actions[keep], ds.rewards[keep], next_obs[keep],
                   ds.terminals[keep].astype(np.float32))

    def __len__(self) -> int:
        return len(self.rewards)

    def subset(self, index: np.ndarray) -> Transitions:
        return Transitions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def sample(self, batch: int, rng: np.random.Generator) -> Transitions:
        """`batch` transitions drawn uniformly with replacement."""
        return self.subset(rng.integers(0, len(self), size=batch))

    def to_torch(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Field name -> float32 tensor on `device` (keep on the accelerator for the whole run)."""
        return {f.name: torch.as_tensor(getattr(self, f.name), device=device) for f in fields(self)}

    @classmethod
    def concat(cls, parts: Sequence[Transitions]) -> Transitions:
        """Join transition sets, e.g. real data + world-model samples."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})
