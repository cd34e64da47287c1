"""Replaying a training step as a captured CUDA graph (used by the agents and the world model).

Our networks are small, so on a GPU a training step costs its kernel launches (hundreds to
thousands of them, each some microseconds of host time), not its arithmetic. Capturing the step
once and replaying the graph removes that cost. The step must read its inputs from tensors the
caller refills in place ("static" buffers), must not synchronise with the host (no `.item()`,
no data-dependent shapes), and must draw its random numbers from the default CUDA generator,
which a graph advances on every replay.
"""

from __future__ import annotations

from typing import Callable

import torch

from dawm.utils.errors import DawmError

Outputs = dict[str, torch.Tensor]


def make_capturable(optimizers, device: torch.device | str, capturable: bool = True) -> None:
    """Tensor learning rates (a schedule then neither recompiles nor is baked into a graph) and,
    for capture, optimiser steps that keep their state on the device."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
            if capturable:
                group["capturable"] = True


def require_cuda(device: torch.device | str, what: str, instead: str = "--compile none") -> None:
    if torch.device(device).type != "cuda":
        raise DawmError(f"compile='cuda-graph' needs a CUDA device, but the {what} is on '{device}' "
                        f"(use {instead})")


class GraphReplay:
    """`replay(fn, **flags)`: fn(**flags) run eagerly `warmup` times per distinct `flags` (on a side
    stream, as capture requires), then captured once and replayed from then on. Returns fn's
    outputs, cloned (the next replay overwrites the graph's own)."""

    def __init__(self, device: torch.device | str, warmup: int = 3, what: str = "training step"):
        self.device, self.warmup, self.what = torch.device(device), warmup, what
        self.graphs: dict[tuple, torch.cuda.CUDAGraph] = {}
        self.outputs: dict[tuple, Outputs] = {}
        self.eager_runs: dict[tuple, int] = {}
        self.side_stream = torch.cuda.Stream(self.device)

    def __call__(self, fn: Callable[..., Outputs], **flags) -> Outputs:
        key = tuple(sorted(flags.items()))
        if key not in self.graphs:
            self.eager_runs[key] = self.eager_runs.get(key, 0) + 1
            if self.eager_runs[key] <= self.warmup:
                current = torch.cuda.current_stream(self.device)
                self.side_stream.wait_stream(current)
                with torch.cuda.stream(self.side_stream):
                    out = fn(**flags)
                current.wait_stream(self.side_stream)
                return out
            self._capture(key, fn, flags)
        self.graphs[key].replay()
        return {k: v.clone() for k, v in self.outputs[key].items()}

    def _capture(self, key: tuple, fn: Callable[..., Outputs], flags: dict) -> None:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):  # records only: the replay that follows runs this step
                self.outputs[key] = fn(**flags)
        except RuntimeError as e:
            raise DawmError(f"CUDA graph capture of the {self.what} failed (a step that syncs with the host "
                            f"cannot be captured; use --compile none): {str(e).splitlines()[0]}") from e
        self.graphs[key] = graph
