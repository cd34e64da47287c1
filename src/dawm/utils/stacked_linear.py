"""One batched linear layer for every stack of independent networks: seeds, ensemble members, or both.

A stack of K linear layers run as one `baddbmm` is how the agents train S seeds at once, how a twin
critic is one network, and how the one-step dynamics ensemble runs its members. Initialisation is
nn.Linear's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases (CORL's choice).

Two layouts of the same maths:
- "linear": weight (*lead, out, in), bias (*lead, out): each slice is an nn.Linear's state, so a seed
  of a seed-stacked MLP is a plain single-seed MLP (dawm.agents.seeds).
- "batched": weight (*lead, in, out), bias (*lead, 1, out): already in `baddbmm`'s order, for stacks
  that are never sliced into nn.Linear layers (critic ensembles, the dynamics ensemble).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Layout = Literal["linear", "batched"]


def uniform_init_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    """nn.Linear's default initialisation, in place."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.init.uniform_(t, -bound, bound)


class StackedLinear(nn.Module):
    """K = prod(lead) independent linear layers applied to (K, B, in) -> (K, B, out) in one batched matmul.

    init=False leaves the parameters uninitialised (torch.empty), for a caller that initialises a
    stack of layers in its own order (EnsembleMLP keeps the draw order of earlier versions)."""

    def __init__(self, lead: tuple[int, ...], in_dim: int, out_dim: int, layout: Layout = "batched",
                 init: bool = True):
        super().__init__()
        if layout == "linear" and len(lead) != 1:
            raise ValueError("the 'linear' layout stacks along one axis (seeds)")
        self.in_dim, self.layout = in_dim, layout
        w_shape, b_shape = ((out_dim, in_dim), (out_dim,)) if layout == "linear" else ((in_dim, out_dim), (1, out_dim))
        self.weight = nn.Parameter(torch.empty(*lead, *w_shape))
        self.bias = nn.Parameter(torch.empty(*lead, *b_shape))
        if init:
            uniform_init_(self.weight.data, in_dim)
            uniform_init_(self.bias.data, in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "linear":  # lead = (S,); a (B, in) input is shared by all S
            x = x.expand(self.weight.shape[0], *x.shape[-2:])
            return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.mT)
        # several lead axes run as one (K, B, in) batch; flatten is a no-op for one axis
        return torch.baddbmm(self.bias.flatten(0, -3), x, self.weight.flatten(0, -3))

    def member(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Slice k of the last lead axis alone ("batched" layout), e.g. one critic of every seed's pair:
        lead (M,): (B, in) -> (B, out); lead (S, M): (S, B, in) -> (S, B, out)."""
        w, b = self.weight.select(-3, k), self.bias.select(-3, k)
        if w.dim() == 2:
            return torch.addmm(b, x, w)
        return torch.baddbmm(b.flatten(0, -3), x, w.flatten(0, -3))
