"""Networks for the agents: a plain MLP and an ensemble of MLPs run as ONE batched network.

Both take `seeds`: with seeds = S > 1 every parameter is the single-seed parameter with a leading
seed axis (S, ...), S independent networks whose layers run as one batched matmul, so seed k's
state_dict is `{name: t[k]}` (dawm.agents.seeds). Inputs are then (S, B, in), or (B, in) shared
by all seeds, and outputs carry the seed axis in front.

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


class SeedLinear(nn.Module):
    """S independent nn.Linear layers: weight (S, out, in), bias (S, out), nn.Linear's init."""

    def __init__(self, seeds: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(_uniform_(torch.empty(seeds, out_dim, in_dim), in_dim))
        self.bias = nn.Parameter(_uniform_(torch.empty(seeds, out_dim), in_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(self.weight.shape[0], *x.shape[-2:])  # (B, in) is shared by all seeds
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.mT)


class MLP(nn.Module):
    """in -> hidden... (ReLU, optional dropout) -> out, optionally tanh-squashed; `seeds` > 1 stacks S."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), tanh_output: bool = False,
                 dropout: float = 0.0, seeds: int = 1):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        linear = nn.Linear if seeds == 1 else (lambda a, b: SeedLinear(seeds, a, b))
        self.layers = nn.ModuleList(linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.tanh_output, self.dropout, self.seeds = tanh_output, dropout, seeds

    def _linear(self, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
        return F.linear(x, layer.weight, layer.bias) if self.seeds == 1 else layer(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, last = self.layers
        for layer in hidden:
            x = self._linear(x, layer).relu_()  # in place: one buffer less per layer
            if self.dropout > 0.0:
                x = F.dropout(x, self.dropout, self.training)
        x = self._linear(x, last).float()  # float32 out, also under bfloat16 autocast (dawm.utils.precision)
        return torch.tanh(x) if self.tanh_output else x


class EnsembleMLP(nn.Module):
    """`n` independent MLPs with weights stacked as (n, in, out): each layer is one batched matmul.

    Twin critics as one network halve the number of ops (and optimiser tensors) per update.
    Input (B, in) is shared by all members; output is (n, B, out). With `seeds` = S > 1 there are
    S such ensembles, (S, n, in, out), run as S * n batched members: input (S, B, in) (or (B, in)),
    output (S, n, B, out).
    """

    def __init__(self, n: int, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), seeds: int = 1):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        self.n, self.seeds = n, seeds
        lead = (n,) if seeds == 1 else (seeds, n)
        self.weights = nn.ParameterList(
            nn.Parameter(_uniform_(torch.empty(*lead, a, b), a)) for a, b in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(
            nn.Parameter(_uniform_(torch.empty(*lead, 1, b), a)) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.seeds == 1:
            x = x.expand(self.n, *x.shape)
        else:  # every seed's input to each of its n members: (S * n, B, in)
            x = x.expand(self.seeds, *x.shape[-2:]).unsqueeze(1).expand(-1, self.n, -1, -1).flatten(0, 1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.flatten(0, -3), x, w.flatten(0, -3))  # no-op flatten when seeds == 1
            if i < last:
                x = x.relu_()
        x = x.float()  # float32 out, also under bfloat16 autocast
        return x if self.seeds == 1 else x.unflatten(0, (self.seeds, self.n))

    def member(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Member k alone on (B, in) -> (B, out) (seeds: (S, B, in) -> (S, B, out)), e.g. Q1 for TD3's actor loss."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b[k], x, w[k]) if self.seeds == 1 else torch.baddbmm(b[:, k], x, w[:, k])
            if i < last:
                x = x.relu_()
        return x.float()


def soft_update_(targets: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """Polyak averaging target <- (1 - tau) target + tau online, one fused call for all tensors."""
    with torch.no_grad():
        torch._foreach_lerp_(targets, online, tau)


def set_lr(group: dict, lr: float) -> None:
    """Set a param group's lr; a tensor lr (captured or compiled updates) is written in place."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr
