"""Feature normalisers stored as module buffers, so every model's state_dict carries its own."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dawm.data.dataset import Dataset
from dawm.utils.errors import DataError


class Normalizer(nn.Module):
    """x -> (x - mean) / std over the last dimension; accepts numpy arrays or tensors."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean), dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(np.asarray(std), dtype=torch.float32).reshape(-1))

    @classmethod
    def fit(cls, array, eps: float = 1e-3) -> Normalizer:
        """Mean and std + eps over all leading dims (eps keeps constant features finite, as CORL)."""
        a = np.asarray(array, dtype=np.float64)
        a = a.reshape(-1, a.shape[-1])
        return cls(a.mean(0), a.std(0) + eps)

    @classmethod
    def identity(cls, dim: int) -> Normalizer:
        return cls(np.zeros(dim), np.ones(dim))

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def _stats(self, x):
        if isinstance(x, torch.Tensor):
            return self.mean.to(x.device, x.dtype), self.std.to(x.device, x.dtype)
        return self.mean.cpu().numpy(), self.std.cpu().numpy()

    def normalize(self, x):
        mean, std = self._stats(x)
        return (x - mean) / std

    def unnormalize(self, x):
        mean, std = self._stats(x)
        return x * std + mean

    def forward(self, x):
        return self.normalize(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def iql_reward_scale(ds: Dataset) -> float:
    """IQL's locomotion reward scale: 1000 / (max episode return - min episode return)."""
    returns = ds.episode_returns()
    spread = float(returns.max() - returns.min()) if len(returns) else 0.0
    if spread <= 0.0:
        raise DataError(ds.name, "rewards", "all episodes have the same return, so IQL's reward scale "
                        "1000 / (max - min) is undefined", "episodes with different returns")
    return 1000.0 / spread
