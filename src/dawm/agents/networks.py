"""Networks for the agents: a plain MLP and an ensemble of MLPs run as ONE batched network.

Both take `seeds`: with seeds = S > 1 every parameter is the single-seed parameter with a leading
seed axis (S, ...), S independent networks whose layers run as one batched matmul, so seed k's
state_dict is `{name: t[k]}` (dawm.agents.seeds). Inputs are then (S, B, in), or (B, in) shared
by all seeds, and outputs carry the seed axis in front.

Stacks of layers are dawm.utils.stacked_linear.StackedLinear. The forward passes avoid
nn.Sequential and apply ReLU in place: at batch 256 on a CPU an update is a few ms, and per-op
overhead and temporary buffers are a noticeable share of it (see benchmarks/speed_agents.py).
Initialisation is nn.Linear's default, as in CORL's TD3+BC and IQL.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dawm.utils.stacked_linear import StackedLinear, uniform_init_


class MLP(nn.Module):
    """in -> hidden... (ReLU, optional dropout) -> out, optionally tanh-squashed; `seeds` > 1 stacks S."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), tanh_output: bool = False,
                 dropout: float = 0.0, seeds: int = 1):
        super().__init__()
        dims = [in_dim, *hidden, out_dim]
        linear = nn.Linear if seeds == 1 else (lambda a, b: StackedLinear((seeds,), a, b, layout="linear"))
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
        self.layers = nn.ModuleList(StackedLinear(lead, a, b, init=False) for a, b in zip(dims[:-1], dims[1:]))
        # All weights first, then all biases: the draw order of earlier versions, so a seed gives the same critic.
        for layer in self.layers:
            uniform_init_(layer.weight.data, layer.in_dim)
        for layer in self.layers:
            uniform_init_(layer.bias.data, layer.in_dim)
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.seeds == 1:
            x = x.expand(self.n, *x.shape)
        else:  # every seed's input to each of its n members: (S * n, B, in)
            x = x.expand(self.seeds, *x.shape[-2:]).unsqueeze(1).expand(-1, self.n, -1, -1).flatten(0, 1)
        *hidden, last = self.layers
        for layer in hidden:
            x = layer(x).relu_()
        x = last(x).float()  # float32 out, also under bfloat16 autocast
        return x if self.seeds == 1 else x.unflatten(0, (self.seeds, self.n))

    def member(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Member k alone on (B, in) -> (B, out) (seeds: (S, B, in) -> (S, B, out)), e.g. Q1 for TD3's actor loss."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer.member(k, x)
            if i < last:
                x = x.relu_()
        return x.float()

    def legacy_parameter_order(self) -> list[nn.Parameter]:
        """The parameters in the order of checkpoints written before the layers were StackedLinear
        modules (`weights.i` / `biases.i`: all weights, then all biases), for their optimiser states."""
        return [layer.weight for layer in self.layers] + [layer.bias for layer in self.layers]

    @staticmethod
    def is_legacy(state: dict) -> bool:
        """Whether a state_dict of this network was written before the layers were StackedLinear modules."""
        return any(k.startswith("weights.") for k in state)


def _rename_legacy_keys(state: dict, prefix: str, *_) -> None:
    """Load-time hook: an old checkpoint's `weights.i` / `biases.i` are the current `layers.i.weight` / `.bias`."""
    names = {"weights": "weight", "biases": "bias"}
    for key in [k for k in state if k.startswith(prefix) and k[len(prefix):].split(".")[0] in names]:
        kind, i = key[len(prefix):].split(".")
        state[f"{prefix}layers.{i}.{names[kind]}"] = state.pop(key)


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
