"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from dawm.utils.errors import DawmError


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def prepare(device: str, threads: int | None, seed: int | None) -> torch.device:
    """The preamble of every stage: torch's CPU threads (None = leave torch's), the seeds (None = leave
    them), the device."""
    set_threads(threads)
    if seed is not None:
        set_seed(seed)
    return resolve_device(device)


def set_threads(threads: int | None) -> None:
    """torch's intra-op CPU threads; None leaves torch's choice."""
    if threads is None:
        return
    if threads < 1:
        raise DawmError(f"--threads {threads}: must be at least 1 (leave it unset for torch's default)")
    torch.set_num_threads(threads)


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
