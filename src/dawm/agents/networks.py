"""Networks for the agents: a plain MLP and an ensemble of MLPs run as ONE batched network.

Both call the functional ops directly (no nn.Sequential / per-layer Module calls) and apply ReLU
in place: at batch 256 on a CPU an update is a few ms, and per-op overhead and temporary buffers
are a noticeable share of it (see benchmarks/speed_agents.py). Initialisation
matches nn.Linear's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as in
CORL's TD3+BC and IQL.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _uniform_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.init.uniform_(t, -bound, bound)


class MLP(nn.Module):
    """in -> hidden... (ReLU, optional dropout) -> out, optionally tanh-squashed."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), tanh_output: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.tanh_output, self.dropout = tanh_output, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, last = self.layers
        for layer in hidden:
            x = F.linear(x, layer.weight, layer.bias).relu_()  # in place: ~10% faster updates on CPU
            if self.dropout > 0.0:
                x = F.dropout(x, self.dropout, self.training)
        x = F.linear(x, last.weight, last.bias)
        return torch.tanh(x) if self.tanh_output else x


class EnsembleMLP(nn.Module):
    """`n` independent MLPs with weights stacked as (n, in, out): each layer is one batched matmul.

    Twin critics as one network halve the number of ops (and optimiser tensors) per update.
    Input (B, in) is shared by all members; output is (n, B, out).
    """

    def __init__(self, n: int, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        self.n = n
        self.weights = nn.ParameterList(
            nn.Parameter(_uniform_(torch.empty(n, a, b), a)) for a, b in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(
            nn.Parameter(_uniform_(torch.empty(n, 1, b), a)) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(self.n, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = x.relu_()
        return x

    def member(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Member k alone on (B, in) -> (B, out), e.g. Q1 for TD3's actor loss."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b[k], x, w[k])
            if i < last:
                x = x.relu_()
        return x


def soft_update_(targets: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """Polyak averaging target <- (1 - tau) target + tau online, one fused call for all tensors."""
    with torch.no_grad():
        torch._foreach_lerp_(targets, online, tau)


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel when this torch/device has one (CPU: torch >= 2.4), else foreach."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)
