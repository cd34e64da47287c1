"""The fast CPU layers give the torch modules' results (values and gradients)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dawm.world_model.layers import FastMish, TimeConv


def test_time_conv_matches_torch_convolutions():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 8, requires_grad=True)
    for conv, ref in [
        (TimeConv(6, 7, 5), lambda c, z: F.conv1d(z, c.weight, c.bias, padding=2)),
        (TimeConv(6, 6, 3, stride=2, padding=1), lambda c, z: F.conv1d(z, c.weight, c.bias, stride=2, padding=1)),
        (TimeConv(6, 5, 4, stride=2, padding=1, transposed=True),
         lambda c, z: F.conv_transpose1d(z, c.weight.transpose(0, 1), c.bias, stride=2, padding=1)),
    ]:
        assert torch.allclose(conv(x), ref(conv, x), atol=1e-5)
        with torch.no_grad():
            cached = conv(x)
            conv.weight.mul_(2.0)  # an in-place update must invalidate the cached matrix
            assert torch.allclose(conv(x), ref(conv, x), atol=1e-5) and not torch.allclose(conv(x), cached)
    T2 = TimeConv(6, 6, 5)
    T2(x).sum().backward()
    assert x.grad is not None and T2.weight.grad is not None


def test_fast_mish_matches_mish_and_its_gradient():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64, requires_grad=True)
    y = FastMish()(x)
    y.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    nn.Mish()(x2).sum().backward()
    assert torch.allclose(y, F.mish(x2), atol=1e-6) and torch.allclose(x.grad, x2.grad, atol=1e-6)
