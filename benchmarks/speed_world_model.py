"""World-model throughput: diffusion training samples/s and synthetic transitions/s per sampler.

    python benchmarks/speed_world_model.py [--threads 2] [--rounds 3] [--n-starts 16384]
    python benchmarks/speed_world_model.py --device cuda --compile cuda-graph --n-starts 131072 --batch 16384
    python benchmarks/speed_world_model.py --threads 1 --quick --precision float32 bfloat16

Self-contained: random Hopper-sized data (obs 11, act 3), the default `WorldModelConfig` model (T =
8, K = 5, U-Net dim 32 x (1, 2, 4), Mish), an IDM of (512, 512). Throughput does not depend on the
weights, so nothing is trained. FLOPs are counted with torch.utils.flop_counter over one step of the
same work; the matmul peak of each `--precision` (1024^3, best of several) is measured in the same
run with the same thread count, and each case's share is of its own precision's peak. Rates are
reported per wall second and per CPU-second of this process (the latter is disturbed much less by
other jobs on a shared machine); each is the best of `--rounds` interleaved rounds. Synthetic
transitions count every step of every rollout (rollouts are not cut by a done rule here, which would
make the count depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from dawm.data.dataset import Dataset
from dawm.world_model.config import WorldModelConfig
from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.denoisers import DENOISERS
from dawm.world_model.inverse_dynamics import InverseDynamics
from dawm.world_model.synthesis import SynthesisConfig, synthesize
from dawm.utils.cuda_graphs import GraphReplay, make_capturable
from dawm.utils.precision import autocast, resolve_precision
from dawm.utils.torch_utils import make_adam
from dawm.world_model.config import diffusion_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _sync, matmul_peak as _matmul_peak  # noqa: E402

OBS, ACT = 11, 3


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    _sync()
    w, c = time.perf_counter(), time.process_time()
    fn()
    _sync()
    return time.perf_counter() - w, time.process_time() - c


def matmul_peak(device: str, dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """FLOP/s (wall, CPU) of 1024^3 matmuls in `dtype` on the CPU, 4096^3 on a GPU (1024 cannot fill one)."""
    n = 4096 if device.startswith("cuda") else 1024
    return tuple(x * 1e9 for x in _matmul_peak(n, 1.5, device, dtype))


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def build(cfg: WorldModelConfig, device: str, n: int = 50_000):
    rng = np.random.default_rng(0)
    ds = Dataset(rng.normal(size=(n, OBS)), rng.uniform(-1, 1, (n, ACT)), rng.normal(size=n), np.zeros(n, bool),
                 np.arange(n) % 1000 == 999, metadata={"env_id": "Hopper-v5", "name": "bench"})
    wm = TrajectoryDiffusion(OBS, ACT, **diffusion_settings(cfg))
    wm.set_normalizers(torch.randn(1000, cfg.window, OBS), torch.randn(1000, cfg.window), torch.rand(1000, ACT),
                       400.0)
    idm = InverseDynamics(OBS, ACT, cfg.idm_hidden)
    idm.fit_normalizers(ds.observations, ds.actions)
    return ds, wm.to(device).eval(), idm.to(device).eval()


def training_case(wm: TrajectoryDiffusion, batch: int, iters: int, compile: str = "none",
                  dtype: torch.dtype = torch.float32):
    device = wm.alpha_bar.device
    model = TrajectoryDiffusion(**wm.hparams).to(device)
    model.load_state_dict(wm.state_dict())
    model.train()
    opt = make_adam(model.parameters(), 1e-4)
    T = wm.window
    s, r, a, g = (torch.randn(batch, T, OBS, device=device), torch.randn(batch, T, device=device),
                  torch.rand(batch, ACT, device=device), torch.rand(batch, device=device) * 300)

    def learn():
        with autocast(device, dtype):  # as `train-world-model --precision`
            loss = model.loss(s, r, a, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    learn()
    flops = count_flops(learn)
    step = learn
    if compile == "cuda-graph":  # as `train-world-model --compile cuda-graph`
        make_capturable([opt], device)
        replay = GraphReplay(device)
        step = lambda: replay(learn)  # noqa: E731
        for _ in range(4):  # warm-ups and the capture, outside the timing
            step()
    return (lambda: [step() for _ in range(iters)]), batch * iters, flops * iters


def sampling_case(ds, wm, idm, sampler: str, steps: int, guidance: float, n_starts: int, batch: int,
                  precision: str = "float32"):
    never = lambda s: np.zeros(len(s), bool)  # noqa: E731  (count every generated step)
    knobs = dict(sampler=sampler, sampling_steps=steps, guidance=guidance, batch_size=batch, precision=precision,
                 target_rtg="q0.9", first_step="generated")  # as recorded

    def run(n: int):
        return synthesize(wm, idm, ds, SynthesisConfig(n_starts=n, **knobs), termination=never, show_progress=False)

    run(min(batch, n_starts))
    flops = count_flops(lambda: run(batch)) * n_starts / batch
    return (lambda: run(n_starts)), n_starts * (wm.window - 1), flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-starts", type=int, default=16_384)
    parser.add_argument("--batch", type=int, default=2048, help="rollouts per synthesis batch")
    parser.add_argument("--dim", type=int, default=WorldModelConfig.dim, help="U-Net base width (or MLP width)")
    parser.add_argument("--denoiser", default=WorldModelConfig.denoiser, choices=DENOISERS)
    parser.add_argument("--n-layers", type=int, default=WorldModelConfig.n_layers, help="transformer / MLP blocks")
    parser.add_argument("--quick", action="store_true", help="one sampler case only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", default="none", choices=("none", "cuda-graph"),
                        help="training step eager or replayed as a CUDA graph (CUDA only)")
    parser.add_argument("--train-batches", type=int, nargs="+", default=None,
                        help="training batch sizes (default: the config's and 1024)")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                        help="matmul precisions, one row per case each (default float32)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = WorldModelConfig(dim=args.dim, denoiser=args.denoiser, n_layers=args.n_layers)
    ds, wm, idm = build(cfg, args.device)
    batches = args.train_batches or (cfg.batch_size, 1024)
    samples = 32_768 if args.device.startswith("cuda") else 4096  # per timed call (a GPU step is short)
    dtypes = {p: resolve_precision(p, args.device) for p in args.precision}
    cases = {}
    samplers = [("ddpm", 3, 1.0), ("ddim", 3, 1.0), ("dpm", 3, 1.0), ("ddpm", 5, 1.0), ("dpm", 2, 1.0),
                ("ddpm", 3, 1.2)]
    for prec, dtype in dtypes.items():
        for b in batches:
            cases[f"train batch {b} {prec}"] = training_case(wm, b, max(1, samples // b), args.compile, dtype)
        for sampler, steps, w in samplers[:1] if args.quick else samplers:
            cases[f"synth {sampler} N={steps} w={w} {prec}"] = sampling_case(
                ds, wm, idm, sampler, steps, w, args.n_starts, args.batch, prec)
    load_before = os.getloadavg()
    peaks = {p: [matmul_peak(args.device, dtype)] for p, dtype in dtypes.items()}
    best = {name: (float("inf"), float("inf")) for name in cases}
    for _ in range(args.rounds):  # interleaved, so a burst of load hits every case alike
        for name, (fn, _, _) in cases.items():
            best[name] = tuple(min(a, b) for a, b in zip(best[name], timed(fn)))
        for p, dtype in dtypes.items():
            peaks[p].append(matmul_peak(args.device, dtype))
    peak = {p: (max(x[0] for x in v), max(x[1] for x in v)) for p, v in peaks.items()}
    print(f"torch {torch.__version__}, device {args.device}, training step {args.compile}, {args.threads} thread(s), "
          f"{cfg.denoiser} dim {cfg.dim}; "
          f"load average before {load_before}, "
          f"after {os.getloadavg()}")
    print(f"`uptime`: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    for p, (wall, cpu) in peak.items():
        print(f"{p} matmul peak: {wall / 1e9:.1f} GFLOP/s per wall s, {cpu / 1e9:.1f} per CPU-s")
    print()
    print("| case | items | items/s (wall) | items/s (per CPU-s) | MFLOP/item | GFLOP/s (wall) "
          "| of peak (wall / CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, (_, items, flops) in cases.items():
        wall, cpu = best[name]
        peak_wall, peak_cpu = peak[name.rsplit(" ", 1)[1]]
        unit = "samples" if name.startswith("train") else "transitions"
        print(f"| {name} | {unit} | {items / wall:,.0f} | {items / cpu:,.0f} | {flops / items / 1e6:.2f} | "
              f"{flops / wall / 1e9:.1f} | {flops / wall / peak_wall:.0%} / {flops / cpu / peak_cpu:.0%} |")


if __name__ == "__main__":
    main()
