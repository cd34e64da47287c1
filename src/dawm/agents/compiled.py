"""Faster updates on CUDA: one agent update replayed as a captured CUDA graph, or torch.compile'd.

Both wrap the agent's own update and change nothing in its learning rule. An agent splits
`update(batch)` into `advance()` (host side: step counter, lr schedule, which branch runs) and
`learn(batch, **flags)` (device work only, no host syncs); the wrappers call `advance()` eagerly
and compile or capture `learn`.

    update = compiled_update(agent, "cuda-graph")   # or "torch-compile", "none" (= agent.update),
                                                    # "auto" (cuda-graph on CUDA, else none)
    for _ in range(steps):
        metrics = update(source.sample(batch_size))

- "cuda-graph": one torch.cuda.CUDAGraph per branch of `learn` (TD3+BC: critic-only and
  critic + actor steps; IQL: one), captured after a few eager warm-up updates and replayed from
  then on. Batches are copied into static input buffers; the optimisers become capturable with
  tensor learning rates (IQL's schedule writes them in place, outside the graph); target noise
  and dropout use the default CUDA generator, which graphs advance per replay. A critic target
  that syncs with the host (e.g. DiffusionMVE with a termination rule) cannot be captured.
- "torch-compile": torch.compile of `learn` (inductor kernels, default mode; graph breaks at
  backward). Works on CPU too; compiling takes a while, so it pays off only on long runs.

`dtype` bfloat16 runs `learn` under autocast (dawm.utils.precision) in every mode.
"""

from __future__ import annotations

import typing
from typing import Callable, Literal

import torch

from dawm.agents.targets import Batch
from dawm.utils.cuda_graphs import GraphReplay, make_capturable, require_cuda
from dawm.utils.errors import DawmError
from dawm.utils.precision import autocast

CompileMode = Literal["auto", "none", "cuda-graph", "torch-compile"]
COMPILE_MODES = typing.get_args(CompileMode)
Metrics = dict[str, torch.Tensor]


def compiled_update(agent, mode: CompileMode = "none", dtype: torch.dtype = torch.float32
                    ) -> Callable[[Batch], Metrics]:
    """`agent.update`, or a drop-in replacement that captures / compiles it (see the module doc),
    with matmuls in `dtype`. Build it after loading any checkpoint into the agent (capture binds
    the optimiser's tensors)."""
    mode = compile_mode(mode, agent.device)
    if mode == "none":
        return agent.update if dtype == torch.float32 else EagerUpdate(agent, dtype)
    if mode == "cuda-graph":
        return CUDAGraphUpdate(agent, dtype)
    if mode == "torch-compile":
        return CompiledUpdate(agent, dtype)
    raise DawmError(f"unknown compile mode '{mode}' (expected one of: {', '.join(COMPILE_MODES)})")


def compile_mode(mode: CompileMode, device: torch.device, custom_target: bool = False) -> CompileMode:
    """The update execution `mode` resolves to: 'auto' is a CUDA graph on a GPU, eager elsewhere, and
    eager with a custom critic target (DWM's rollouts may sync with the host, which a graph cannot hold)."""
    if mode != "auto":
        return mode
    return "cuda-graph" if device.type == "cuda" and not custom_target else "none"


class EagerUpdate:
    """`update(batch)` under autocast."""

    def __init__(self, agent, dtype: torch.dtype):
        self.agent, self.dtype = agent, dtype

    def __call__(self, batch: Batch) -> Metrics:
        with autocast(self.agent.device, self.dtype):
            return self.agent.update(batch)


class CompiledUpdate:
    """`update(batch)` with `learn` compiled by torch.compile."""

    def __init__(self, agent, dtype: torch.dtype = torch.float32):
        self.agent, self.dtype = agent, dtype
        make_capturable(agent.optimizers(), agent.device, capturable=False)
        self.learn = torch.compile(agent.learn)

    def __call__(self, batch: Batch) -> Metrics:
        flags = self.agent.advance()
        with autocast(self.agent.device, self.dtype):
            return self.learn(batch, **flags)


class CUDAGraphUpdate:
    """`update(batch)` replaying a captured CUDA graph of `learn`, one graph per branch."""

    def __init__(self, agent, dtype: torch.dtype = torch.float32, warmup: int = 3):
        require_cuda(agent.device, "agent", instead="--compile none or torch-compile")
        self.agent, self.dtype = agent, dtype
        make_capturable(agent.optimizers(), agent.device)
        self.static_batch: Batch | None = None
        self.replay = GraphReplay(agent.device, warmup, f"{type(agent).__name__} update")

    @property
    def graphs(self) -> dict:
        return self.replay.graphs

    def __call__(self, batch: Batch) -> Metrics:
        flags = self.agent.advance()
        if self.static_batch is None:
            self.static_batch = {k: v.clone() for k, v in batch.items()}
        else:
            for k, v in self.static_batch.items():
                v.copy_(batch[k])
        with autocast(self.agent.device, self.dtype):
            return self.replay(lambda **f: self.agent.learn(self.static_batch, **f), **flags)
