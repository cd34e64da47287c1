"""Denoising networks over a (batch, T, obs_dim + 1) window, given the condition embedding.

The input may carry extra condition channels beside x (the in-painted a_t in row 0, see
TrajectoryDiffusion); the output always has x's width, and is what the model's `prediction`
says (x0 by default, or eps or v).

Conditioning follows DWM: the diffusion step k (sinusoidal features -> 2-layer MLP), the action
a_t (3-layer MLP) and the normalised return-to-go g (3-layer MLP) are embedded and summed into one
vector that every block receives (`ConditionEmbedding`, owned by the model). For classifier-free
guidance g can be replaced per sample by a learned null embedding (`keep_rtg` False), which is what
"dropping the condition" means here.

Three denoisers share that interface, `net(x, emb)`:
  - `TemporalUNet` (default): Diffuser-style 1-D U-Net over time, residual blocks of two temporal
    convolutions + GroupNorm + Mish, halving / doubling the time axis between levels; every
    convolution runs as one matmul (`layers.TimeConv`), the layout CPUs are fast at;
  - `TrajectoryTransformer`: pre-norm transformer encoder over the T rows plus a condition token;
  - `ResidualMLP`: SynthER's choice, the whole window flattened through residual MLP blocks (wide
    dense matmuls: the shape CPUs, and bfloat16, are fastest at).
"""

from __future__ import annotations

import math
import typing
from typing import Literal

import torch
from torch import nn

from dawm.world_model.layers import ACTIVATIONS, FastMish, TimeConv

DenoiserKind = Literal["unet", "transformer", "mlp"]
DENOISERS = typing.get_args(DenoiserKind)


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    """`layers` Linear layers with Mish between them."""
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    mods: list[nn.Module] = []
    for i in range(layers):
        mods.append(nn.Linear(dims[i], dims[i + 1]))
        if i < layers - 1:
            mods.append(FastMish())
    return nn.Sequential(*mods)


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=k.device) * (-math.log(10_000.0) / max(half - 1, 1)))
        angles = k.float()[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ConditionEmbedding(nn.Module):
    """emb = MLP(step features) + MLP(a_t) + (MLP(g) or the null embedding).

    `condition` (a_t, g part) and `step` are separate so a sampler computes the former once per
    rollout batch and the latter once per step for the whole batch.
    """

    def __init__(self, act_dim: int, dim: int, emb_dim: int):
        super().__init__()
        self.step_mlp = nn.Sequential(SinusoidalEmbedding(dim), mlp(dim, emb_dim, emb_dim, 2))
        self.action = mlp(act_dim, emb_dim, emb_dim, 3)
        self.rtg = mlp(1, emb_dim, emb_dim, 3)
        self.null_rtg = nn.Parameter(torch.zeros(emb_dim))

    def condition(self, action, rtg, keep_rtg) -> torch.Tensor:
        return self.action(action) + torch.where(keep_rtg[:, None], self.rtg(rtg[:, None]), self.null_rtg)

    def step(self, k: torch.Tensor) -> torch.Tensor:
        return self.step_mlp(k)

    def forward(self, k, action, rtg, keep_rtg) -> torch.Tensor:
        return self.step(k) + self.condition(action, rtg, keep_rtg)


def condition_embedding(kind: str, act_dim: int, dim: int) -> ConditionEmbedding:
    """The condition embedding sized for denoiser `kind` of width `dim` (step features, embedding width)."""
    step_dim, emb_dim = {"unet": (dim, 4 * dim), "transformer": (dim, dim), "mlp": (min(dim, 128), dim)}[kind]
    return ConditionEmbedding(act_dim, step_dim, emb_dim)


def conv_block(c_in: int, c_out: int, kernel: int, act: str) -> nn.Sequential:
    return nn.Sequential(TimeConv(c_in, c_out, kernel), nn.GroupNorm(math.gcd(8, c_out), c_out), ACTIVATIONS[act]())


class ResidualTemporalBlock(nn.Module):
    """conv-GN-Mish, + projected condition, conv-GN-Mish, + residual (1x1 conv when widths differ)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int, act: str = "mish"):
        super().__init__()
        self.block1 = conv_block(c_in, c_out, kernel, act)
        self.block2 = conv_block(c_out, c_out, kernel, act)
        self.cond = nn.Sequential(ACTIVATIONS[act](), nn.Linear(emb_dim, c_out))
        self.skip = TimeConv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x) + self.cond(emb)[:, :, None]
        return self.block2(h) + self.skip(x)


class TemporalUNet(nn.Module):
    """x (B, T, D), emb -> (B, T, D); the window T must be divisible by 2 ** (len(dim_mults) - 1)."""

    def __init__(self, window: int, x_dim: int, dim: int = 32, dim_mults=(1, 2, 4), kernel: int = 5,
                 act: str = "mish", in_dim: int | None = None):
        super().__init__()
        emb_dim = 4 * dim
        widths = [in_dim or x_dim] + [dim * m for m in dim_mults]  # only the first block sees the input width
        levels = list(zip(widths[:-1], widths[1:]))
        self.downs = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(levels):
            last = i == len(levels) - 1
            self.downs.append(nn.ModuleList([
                ResidualTemporalBlock(c_in, c_out, emb_dim, kernel, act),
                ResidualTemporalBlock(c_out, c_out, emb_dim, kernel, act),
                TimeConv(c_out, c_out, 3, stride=2, padding=1) if not last else nn.Identity(),
            ]))
        top = widths[-1]
        self.mid = nn.ModuleList([ResidualTemporalBlock(top, top, emb_dim, kernel, act) for _ in range(2)])
        self.ups = nn.ModuleList()
        for c_in, c_out in reversed(levels[1:]):  # every up level doubles time back; the finest skip is unused
            self.ups.append(nn.ModuleList([
                ResidualTemporalBlock(2 * c_out, c_in, emb_dim, kernel, act),
                ResidualTemporalBlock(c_in, c_in, emb_dim, kernel, act),
                TimeConv(c_in, c_in, 4, stride=2, padding=1, transposed=True),
            ]))
        self.final = nn.Sequential(conv_block(dim, dim, kernel, act), TimeConv(dim, x_dim, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (B, D, T): convolve over time
        skips = []
        for block1, block2, down in self.downs:
            h = block2(block1(h, emb), emb)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, emb)
        for block1, block2, up in self.ups:
            h = block2(block1(torch.cat([h, skips.pop()], dim=1), emb), emb)
            h = up(h)
        return self.final(h).transpose(1, 2)


class TrajectoryTransformer(nn.Module):
    """Rows of x as tokens (+ learned positions), the condition as an extra leading token."""

    def __init__(self, window: int, x_dim: int, dim: int = 128, n_layers: int = 4, n_heads: int = 4,
                 in_dim: int | None = None):
        super().__init__()
        self.inp = nn.Linear(in_dim or x_dim, dim)
        self.pos = nn.Parameter(torch.randn(window + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, n_heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, x_dim))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = torch.cat([emb[:, None], self.inp(x)], dim=1) + self.pos
        return self.out(self.encoder(h)[:, 1:])


class ResidualMLP(nn.Module):
    """The window flattened to one vector, `n_layers` pre-norm residual blocks of width `dim` (each
    h + W2 act(W1 (norm(h) + emb))), and back to (T, x_dim)."""

    def __init__(self, window: int, x_dim: int, dim: int = 512, n_layers: int = 4,
                 in_dim: int | None = None, act: str = "mish"):
        super().__init__()
        self.window, self.x_dim = window, x_dim
        self.inp = nn.Linear(window * (in_dim or x_dim), dim)
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(dim), "fc1": nn.Linear(dim, 2 * dim),
                                                   "act": ACTIVATIONS[act](), "fc2": nn.Linear(2 * dim, dim)})
                                    for _ in range(n_layers))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, window * x_dim))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1))
        for b in self.blocks:
            h = h + b["fc2"](b["act"](b["fc1"](b["norm"](h) + emb)))
        return self.out(h).view(len(x), self.window, self.x_dim)


def make_denoiser(kind: str, window: int, x_dim: int, dim: int, dim_mults=(1, 2, 4), kernel: int = 5,
                  n_layers: int = 4, n_heads: int = 4, act: str = "mish", in_dim: int | None = None) -> nn.Module:
    """`in_dim` (default x_dim) is the input width when extra condition channels ride along with x.
    (Settings are checked once, by `DiffusionSettings.check`.)"""
    if kind == "unet":
        return TemporalUNet(window, x_dim, dim, tuple(dim_mults), kernel, act, in_dim)
    if kind == "transformer":
        return TrajectoryTransformer(window, x_dim, dim, n_layers, n_heads, in_dim)
    return ResidualMLP(window, x_dim, dim, n_layers, in_dim, act)
