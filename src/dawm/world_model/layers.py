"""Fast CPU layers of the denoisers: same results as the torch modules they replace (tests/test_layers.py).

  - `FastMish`: Mish in a few in-place vectorised passes (on CPU the activation otherwise costs more
    than the small matmuls around it);
  - `TimeConv`: a 1-D (transposed) convolution over a short time axis run as one block-Toeplitz matmul.
"""

from __future__ import annotations

import math

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
    """Mish x * tanh(softplus(x)) in a few cheap vectorised passes, faster than F.mish on CPU, where the
    activation otherwise costs more than the (small) matmuls around it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _MishFn.apply(x)
        return _tanh_softplus(x).mul_(x)


ACTIVATIONS = {"mish": FastMish, "silu": nn.SiLU}


class TimeConv(nn.Module):
    """A 1-D convolution (or transposed convolution) over a short time axis, run as ONE matmul.

    On (B, C_in, T_in) inputs a convolution is a linear map C_in*T_in -> C_out*T_out whose matrix is
    block-Toeplitz in the kernel; for the windows a world model uses (T <= ~32) multiplying by
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
