"""Reverse-process samplers over a discrete noise schedule alpha_bar[0..K-1] (k = K-1 is noisiest).

Every sampler takes `predict(x, k) -> (eps, x0)`, the model's noise and clean-sample estimates at
level k (k a Python int shared by the batch; computed from the in-painted x, x0 clipped, eps
consistent with it: `TrajectoryDiffusion.predict`), and `levels`, a strided subset of the K noise levels of
training, one per sampling step, so the number of sampling steps N <= K is a knob. The last step
always lands on the clean sample (alpha_bar = 1). Each
sampler is a few lines of the standard update rule:

  ddpm  ancestral sampling with the posterior variance of the strided chain (Ho et al.; Nichol &
        Dhariwal's respacing); noise scaled by `temperature` (Diffuser/DWM low-temperature 0.5);
  ddim  Song et al.'s generalised update; eta = 0 deterministic, eta = 1 has DDPM's variance;
  dpm   DPM-Solver++(2M) (Lu et al.): second-order multistep in log-SNR on the x0 prediction,
        first order on the first and the final step.
"""

from __future__ import annotations

import typing
from typing import Callable, Literal

import torch

Sampler = Literal["ddpm", "ddim", "dpm"]
SAMPLERS = typing.get_args(Sampler)

Predict = Callable[[torch.Tensor, int], "tuple[torch.Tensor, torch.Tensor]"]


def strided_levels(n_train: int, n_sample: int) -> list[int]:
    """N evenly spaced noise levels from K-1 down to 0, e.g. K=5, N=3 -> [4, 2, 0]."""
    if not 1 <= n_sample <= n_train:
        raise ValueError(f"sampling steps must be in 1..{n_train} (the diffusion steps), got {n_sample}")
    if n_sample == 1:
        return [n_train - 1]
    return sorted({round(i * (n_train - 1) / (n_sample - 1)) for i in range(n_sample)}, reverse=True)


def partial_levels(n_train: int, n_sample: int, noise_level: float = 1.0) -> list[int]:
    """The sampling levels when sampling starts from data noised to `noise_level`, the fraction of the
    schedule kept (SDEdit; GTA's noise level): the start level k0 = round(noise_level * (K - 1)), then up to
    N levels evenly spaced from k0 down to 0. noise_level 1 is `strided_levels(K, N)` itself (pure noise),
    e.g. K=5, N=3: 1 -> [4, 2, 0], 0.5 -> [2, 1, 0], 0.25 -> [1, 0]. K levels make the choice coarse:
    train with more diffusion steps for a finer one."""
    if not 0.0 < noise_level <= 1.0:
        raise ValueError(f"noise level must be in (0, 1], got {noise_level}")
    full = strided_levels(n_train, n_sample)  # checks 1 <= N <= K
    if noise_level == 1.0:
        return full
    k0 = round(noise_level * (n_train - 1))
    return strided_levels(k0 + 1, min(n_sample, k0 + 1))


def x0_from_eps(x, eps, ab):
    """The clean sample implied by noise estimate eps at level alpha_bar = ab."""
    return (x - (1 - ab).sqrt() * eps) / ab.sqrt()


def clip_x0(x0, clip):
    """Clip the x0 prediction to `clip` = bound or (low, high) tensors broadcast over the last dim."""
    if isinstance(clip, tuple):
        return torch.maximum(torch.minimum(x0, clip[1]), clip[0])
    return x0.clamp(-clip, clip)


def _alpha_bars(alpha_bar: torch.Tensor, levels: list[int]):
    """(alpha_bar at each level, alpha_bar at the level after it; 1.0 after the last)."""
    ab = [alpha_bar[k] for k in levels]
    return ab, ab[1:] + [torch.ones((), dtype=alpha_bar.dtype, device=alpha_bar.device)]


def ddpm(predict: Predict, x, alpha_bar, levels, generator=None, temperature: float = 1.0, **_):
    ab, ab_prev = _alpha_bars(alpha_bar, levels)
    for i, k in enumerate(levels):
        _, x0 = predict(x, k)
        beta = 1 - ab[i] / ab_prev[i]  # the strided chain's own beta
        x = (ab_prev[i].sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - ab_prev[i]) * x) / (1 - ab[i])
        if i < len(levels) - 1:
            var = beta * (1 - ab_prev[i]) / (1 - ab[i])
            x = x + temperature * var.sqrt() * _noise(x, generator)
    return x


def ddim(predict: Predict, x, alpha_bar, levels, generator=None, temperature: float = 1.0, eta: float = 0.0, **_):
    ab, ab_prev = _alpha_bars(alpha_bar, levels)
    for i, k in enumerate(levels):
        eps, x0 = predict(x, k)
        sigma = eta * ((1 - ab_prev[i]) / (1 - ab[i]) * (1 - ab[i] / ab_prev[i])).sqrt()
        x = ab_prev[i].sqrt() * x0 + (1 - ab_prev[i] - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and i < len(levels) - 1:
            x = x + temperature * sigma * _noise(x, generator)
    return x


def dpm(predict: Predict, x, alpha_bar, levels, **_):
    """DPM-Solver++(2M), data-prediction form: x_{t'} = (s'/s) x - a' (e^{-h} - 1) D."""
    ab, ab_prev = _alpha_bars(alpha_bar, levels)
    lam = [0.5 * torch.log(a / (1 - a)) for a in ab]  # log-SNR / 2 = log(alpha / sigma)
    x0_prev = None
    for i, k in enumerate(levels):
        _, x0 = predict(x, k)
        if i == len(levels) - 1:  # to sigma = 0: the solution is the data prediction itself
            x = x0
        else:
            h = lam[i + 1] - lam[i]
            d = x0
            if x0_prev is not None:  # second order from the previous step's x0 (multistep)
                r = (lam[i] - lam[i - 1]) / h
                d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
            sig, sig_next = (1 - ab[i]).sqrt(), (1 - ab_prev[i]).sqrt()
            x = (sig_next / sig) * x - ab_prev[i].sqrt() * torch.expm1(-h) * d
        x0_prev = x0
    return x


def run_sampler(name: str, predict: Predict, x, alpha_bar, levels, **options):
    """Sampler `name` from noise x through the noise `levels`; `options`: generator, temperature, eta."""
    fns = {"ddpm": ddpm, "ddim": ddim, "dpm": dpm}
    if name not in fns:
        raise ValueError(f"unknown sampler '{name}' (expected one of: {', '.join(SAMPLERS)})")
    return fns[name](predict, x, alpha_bar, levels, **options)


def _noise(x, generator):
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
