"""Noise-prediction networks eps(x_k, k | a_t, g) over a (batch, T, obs_dim + 1) trajectory.

The input may carry extra condition channels beside x (the in-painted a_t in row 0, see
TrajectoryDiffusion); the output always has x's width.

Conditioning follows DWM: the diffusion step k (sinusoidal features -> 2-layer MLP), the action
a_t (3-layer MLP) and the normalised return-to-go g (3-layer MLP) are embedded and summed into one
vector that every block receives. For classifier-free guidance g can be replaced per sample by a
learned null embedding (`keep_rtg` False), which is what "dropping the condition" means here.

Two denoisers share that interface:
  - `TemporalUNet` (default): Diffuser-style 1-D U-Net over time, residual blocks of two temporal
    convolutions + GroupNorm + Mish, halving / doubling the time axis between levels; every
    convolution runs as one matmul (`TimeConv`), the layout CPUs are fast at;
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


def _tanh_softplus(x: torch.Tensor) -> torch.Tensor:
    """tanh(softplus(x)) = 1 - 2 / ((1 + e^x)^2 + 1), in place on one buffer (exp clamped: no overflow)."""
    e = x.clamp(max=20.0).exp_().add_(1)
    return e.mul_(e).add_(1).reciprocal_().mul_(-2).add_(1)


class _MishFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        t = _tanh_softplus(x)
        ctx.save_for_backward(x, t)
        return x * t

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors  # d/dx x tanh(sp(x)) = t + x (1 - t^2) sigmoid(x)
        return grad * (t + x * (1 - t * t) * torch.sigmoid(x))


class FastMish(nn.Module):
    """Mish x * tanh(softplus(x)) in a few cheap vectorised passes: ~3x faster than F.mish on CPU,
    where the activation otherwise costs more than the (small) matmuls around it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _MishFn.apply(x)
        return _tanh_softplus(x).mul_(x)


ACTIVATIONS = {"mish": FastMish, "silu": nn.SiLU}


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


class Denoiser(nn.Module):
    """eps = net(x, k, a, g, keep_rtg) = denoise(x, embed(k, a, g, keep_rtg))."""

    embed: ConditionEmbedding

    def forward(self, x, k, action, rtg, keep_rtg) -> torch.Tensor:
        return self.denoise(x, self.embed(k, action, rtg, keep_rtg))

    def denoise(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TimeConv(nn.Module):
    """A 1-D convolution (or transposed convolution) over a short time axis, run as ONE matmul.

    On (B, C_in, T_in) inputs a convolution is a linear map C_in*T_in -> C_out*T_out whose matrix is
    block-Toeplitz in the kernel; for the horizons a world model uses (T <= ~32) multiplying by
    that matrix is several times faster on CPU than a direct convolution (one large GEMM instead of
    many short ones, and no work on the zero padding when T < kernel). Same parameters and result
    as `nn.Conv1d(c_in, c_out, kernel, stride, padding)` (or ConvTranspose1d when `transposed`).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int | None = None,
                 transposed: bool = False):
        super().__init__()
        self.c_in, self.c_out, self.kernel, self.stride, self.transposed = c_in, c_out, kernel, stride, transposed
        self.padding = kernel // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kernel))
        self.bias = nn.Parameter(torch.empty(c_out))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv1d's initialisation
        nn.init.uniform_(self.bias, -1 / math.sqrt(c_in * kernel), 1 / math.sqrt(c_in * kernel))

    def out_len(self, t_in: int) -> int:
        if self.transposed:
            return (t_in - 1) * self.stride - 2 * self.padding + self.kernel
        return (t_in + 2 * self.padding - self.kernel) // self.stride + 1

    def matrix(self, t_in: int) -> torch.Tensor:
        """(C_in * T_in, C_out * T_out): entry [(c, s), (o, t)] = sum_j weight[o, c, j] * [s is tap j of t].

        Built as a contraction with constant 0/1 shift matrices, so its backward is a matmul too
        (an indexing gather would backpropagate through a slow scatter)."""
        t_out = self.out_len(t_in)
        key = (t_in, self.weight.device, self.weight.dtype)
        if getattr(self, "_shift_key", None) != key:
            s = torch.arange(t_in)[:, None]
            t = torch.arange(t_out)[None]
            tap = t - self.stride * s + self.padding if self.transposed else s - self.stride * t + self.padding
            shifts = (tap[None] == torch.arange(self.kernel)[:, None, None]).to(self.weight.dtype)
            self._shift_key, self._shifts = key, shifts.to(self.weight.device)  # (kernel, T_in, T_out)
        # one matmul over the taps, then one reordering copy (an einsum made several copies here)
        w = (self.weight.reshape(-1, self.kernel) @ self._shifts.reshape(self.kernel, -1))
        w = w.view(self.c_out, self.c_in, t_in, t_out).permute(1, 2, 0, 3)
        return w.reshape(self.c_in * t_in, self.c_out * t_out)

    def _operands(self, t_in: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (t_in, self.weight.data_ptr(), self.weight._version, self.bias._version)
        if torch.is_grad_enabled() or getattr(self, "_cache_key", None) != key:
            operands = self.bias.repeat_interleave(self.out_len(t_in)), self.matrix(t_in)
            if torch.is_grad_enabled():
                return operands
            self._cache_key, self._cache = key, operands  # sampling: built once, reused every step
        return self._cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t_in = x.shape
        bias, matrix = self._operands(t_in)
        return torch.addmm(bias, x.reshape(b, -1), matrix).view(b, self.c_out, -1)


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


class TemporalUNet(Denoiser):
    """x (B, T, D) -> eps (B, T, D); T must be divisible by 2 ** (len(dim_mults) - 1)."""

    def __init__(self, horizon: int, x_dim: int, act_dim: int, dim: int = 32, dim_mults=(1, 2, 4), kernel: int = 5,
                 act: str = "mish", in_dim: int | None = None):
        super().__init__()
        if horizon % 2 ** (len(dim_mults) - 1):
            raise ValueError(f"horizon {horizon} must be divisible by {2 ** (len(dim_mults) - 1)} "
                             f"(the U-Net halves it {len(dim_mults) - 1} times; use fewer dim_mults)")
        emb_dim = 4 * dim
        self.embed = ConditionEmbedding(act_dim, dim, emb_dim)
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

    def denoise(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
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


class TrajectoryTransformer(Denoiser):
    """Rows of x as tokens (+ learned positions), the condition as an extra leading token."""

    def __init__(self, horizon: int, x_dim: int, act_dim: int, dim: int = 128, n_layers: int = 4, n_heads: int = 4,
                 in_dim: int | None = None):
        super().__init__()
        self.embed = ConditionEmbedding(act_dim, dim, dim)
        self.inp = nn.Linear(in_dim or x_dim, dim)
        self.pos = nn.Parameter(torch.randn(horizon + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, n_heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, x_dim))

    def denoise(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = torch.cat([emb[:, None], self.inp(x)], dim=1) + self.pos
        return self.out(self.encoder(h)[:, 1:])


class ResidualMLP(Denoiser):
    """The window flattened to one vector, `n_layers` pre-norm residual blocks of width `dim` (each
    h + W2 act(W1 (norm(h) + emb))), and back to (T, x_dim)."""

    def __init__(self, horizon: int, x_dim: int, act_dim: int, dim: int = 512, n_layers: int = 4,
                 in_dim: int | None = None, act: str = "mish"):
        super().__init__()
        self.horizon, self.x_dim = horizon, x_dim
        self.embed = ConditionEmbedding(act_dim, min(dim, 128), dim)
        self.inp = nn.Linear(horizon * (in_dim or x_dim), dim)
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(dim), "fc1": nn.Linear(dim, 2 * dim),
                                                   "act": ACTIVATIONS[act](), "fc2": nn.Linear(2 * dim, dim)})
                                    for _ in range(n_layers))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, horizon * x_dim))

    def denoise(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1))
        for b in self.blocks:
            h = h + b["fc2"](b["act"](b["fc1"](b["norm"](h) + emb)))
        return self.out(h).view(len(x), self.horizon, self.x_dim)


Denoiser = Literal["unet", "transformer", "mlp"]
DENOISERS = typing.get_args(Denoiser)


def make_denoiser(kind: str, horizon: int, x_dim: int, act_dim: int, dim: int, dim_mults=(1, 2, 4), kernel: int = 5,
                  n_layers: int = 4, n_heads: int = 4, act: str = "mish", in_dim: int | None = None) -> Denoiser:
    """`in_dim` (default x_dim) is the input width when extra condition channels ride along with x."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{act}' (expected one of: {', '.join(ACTIVATIONS)})")
    if kind == "unet":
        return TemporalUNet(horizon, x_dim, act_dim, dim, tuple(dim_mults), kernel, act, in_dim)
    if kind == "transformer":
        return TrajectoryTransformer(horizon, x_dim, act_dim, dim, n_layers, n_heads, in_dim)
    if kind == "mlp":
        return ResidualMLP(horizon, x_dim, act_dim, dim, n_layers, in_dim, act)
    raise ValueError(f"unknown denoiser '{kind}' (expected one of: {', '.join(DENOISERS)})")
