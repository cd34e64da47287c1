"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def prepare(device: str, threads: int, seed: int) -> torch.device:
    """The preamble of every trainer: torch's CPU threads (0 = its default), the device, the seeds."""
    if threads > 0:
        torch.set_num_threads(threads)
    set_seed(seed)
    return resolve_device(device)


def set_seed(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel when this torch/device has one (CPU: torch >= 2.4), else foreach."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)
