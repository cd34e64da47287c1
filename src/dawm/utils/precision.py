"""Matmul precision: float32, or bfloat16 autocast where the hardware runs it natively.

Only matmuls and convolutions run in bfloat16 (torch.autocast); parameters, optimiser state,
targets, normalisers, losses and reductions stay float32, because every network casts its
output back to float32 (so the update rules read exactly as in float32).

`auto` (the default) picks bfloat16 only where it is native and measured to keep scores
(docs/results.md#float32-vs-bfloat16): a CPU with AVX512-BF16 or AMX-BF16. An AVX2-only CPU
emulates bfloat16 matmuls, slower than float32, so `auto` keeps float32 there and an explicit
`bfloat16` says so in one line. On a CUDA GPU `auto` keeps float32 for now: bfloat16 tensor cores
(compute capability >= 8.0) run it natively, but the captured (CUDA-graph) bfloat16 update has
not been checked for parity on a GPU yet; `bfloat16` there is an explicit choice.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import typing
from pathlib import Path
from typing import Literal

import torch

from dawm.utils.errors import DawmError

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS = typing.get_args(Precision)
_NATIVE_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere: then bfloat16 counts as emulated)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether `device` runs bfloat16 matmuls in hardware (not emulated)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return any(flag in _cpu_flags() for flag in _NATIVE_CPU_FLAGS)
    return False


def resolve_precision(precision: str, device: torch.device | str) -> torch.dtype:
    """The autocast dtype for `precision` on `device` (torch.float32 = no autocast)."""
    if precision not in PRECISIONS:
        raise DawmError(f"precision '{precision}' (expected one of: {', '.join(PRECISIONS)})")
    if precision == "float32":
        return torch.float32
    native = native_bfloat16(device)
    if precision == "auto":  # CPU only until a GPU run checks the captured bfloat16 update (module docstring)
        return torch.bfloat16 if native and torch.device(device).type == "cpu" else torch.float32
    if not native:
        _warn_emulated(str(torch.device(device)))
    return torch.bfloat16


@functools.lru_cache(maxsize=None)
def _warn_emulated(device: str) -> None:
    """Once per device and process (synthesis resolves the precision at every refresh)."""
    print(f"dawm: precision bfloat16 on {device}: this hardware emulates bfloat16 matmuls "
          "(no AVX512-BF16 / AMX / bfloat16 tensor cores), which is slower than float32", file=sys.stderr)


def autocast(device: torch.device | str, dtype: torch.dtype):
    """A context running matmuls and convolutions in `dtype`; a no-op for float32. The autocast
    cache is off: its cached weight copies would go stale inside a replayed CUDA graph."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype, cache_enabled=False)
