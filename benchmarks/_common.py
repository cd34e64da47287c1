"""Shared benchmark helpers: d3rlpy counterparts of our agents, matmul peak, FLOP counts, machine load.

d3rlpy is optional (`pip install d3rlpy==2.8.1`, the `bench` extra); it is imported lazily.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from dawm.data.dataset import Dataset


# --- machine ----------------------------------------------------------------------------------
def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()  # queued GPU work counts in the time


def timed(step, seconds: float, warmup: int = 20, steps: int = 0) -> tuple[float, float]:
    """(updates/s wall, updates per CPU-second) of `step()` run for about `seconds` (or exactly `steps`)."""
    for _ in range(warmup):
        step()
    _sync()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        for _ in range(10):
            step()
        n += 10
        if steps and n < steps:
            continue
        _sync()
        wall = time.perf_counter() - t0
        if steps or wall >= seconds:
            return n / wall, n / max(time.process_time() - c0, 1e-9)


def matmul_peak(n: int, seconds: float = 1.0, device: str = "cpu", dtype: torch.dtype = torch.float32
                ) -> tuple[float, float]:
    """GFLOP/s of an n x n x n matmul loop in `dtype` (preallocated output): (per wall second, per
    process-CPU second), each the best of 3 windows. On CUDA float32 is the plain rate (TF32 off,
    torch's default), the precision our models train in unless bfloat16 is chosen."""
    a, b, c = (torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype),
               torch.empty(n, n, device=device, dtype=dtype))
    for _ in range(3):
        torch.mm(a, b, out=c)
    wall = cpu = 0.0
    for _ in range(3):
        _sync()
        iters, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds / 3:
            for _ in range(10):
                torch.mm(a, b, out=c)
            iters += 10
            _sync()
        flop = 2 * n**3 * iters / 1e9
        wall = max(wall, flop / (time.perf_counter() - t0))
        cpu = max(cpu, flop / max(time.process_time() - c0, 1e-9))
    return wall, cpu


# --- analytic FLOPs (matmuls only; elementwise ops are negligible) ----------------------------
def mlp_flops(dims: Sequence[int], batch: int) -> float:
    """Forward matmul FLOPs of an MLP with layer widths `dims` on `batch` rows."""
    return float(sum(2 * batch * a * b for a, b in zip(dims[:-1], dims[1:])))


def update_flops(algo: str, obs_dim: int, act_dim: int, batch: int = 256, hidden: Sequence[int] = (256, 256)) -> float:
    """Matmul FLOPs of one gradient update, averaged over updates.

    Convention: forward = 1x, forward + backward of a trained net = 3x (grad of inputs and of
    weights), a net only differentiated through (TD3's critic in the actor loss: grad of inputs
    only) = 2x, no-grad target nets = 1x.
    """
    actor = mlp_flops([obs_dim, *hidden, act_dim], batch)
    q = mlp_flops([obs_dim + act_dim, *hidden, 1], batch)
    v = mlp_flops([obs_dim, *hidden, 1], batch)
    if algo == "td3bc":
        critic_step = actor + 2 * q + 3 * 2 * q  # target actor, twin target critics, twin critics fwd+bwd
        actor_step = 3 * actor + 2 * q  # actor fwd+bwd, Q1 fwd + input-gradient
        return critic_step + actor_step / 2  # actor every 2nd update
    if algo == "iql":
        return 2 * q + v + 3 * v + 3 * 2 * q + 3 * actor  # target Qs, V(s'), V fwd+bwd, Qs fwd+bwd, actor fwd+bwd
    raise ValueError(algo)


# --- data ------------------------------------------------------------------------------------
def random_dataset(n: int = 100_000, obs_dim: int = 11, act_dim: int = 3, ep_len: int = 1000, seed: int = 0,
                   env_id: str = "Hopper-v5") -> Dataset:
    """Random transitions in the D4RL layout (speed only: values do not matter)."""
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, bool)
    timeouts[ep_len - 1::ep_len] = True
    return Dataset(rng.normal(size=(n, obs_dim)).astype(np.float32),
                   rng.uniform(-1, 1, (n, act_dim)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                   np.zeros(n, bool), timeouts, metadata={"env_id": env_id, "name": "random"})


# --- d3rlpy counterparts, configured like CORL / d3rlpy's own D4RL reproductions ----------------
def import_d3rlpy():
    """d3rlpy with its import-time gym banner and info/debug logging silenced."""
    import contextlib
    import io
    import logging

    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        import d3rlpy
    # d3rlpy turns TF32 on at import; keep every row of a comparison in plain float32
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return d3rlpy


def d3rlpy_dataset(ds: Dataset):
    d3rlpy = import_d3rlpy()

    timeouts = ds.timeouts.copy()
    timeouts[-1] = not ds.terminals[-1]  # d3rlpy needs the last episode closed
    return d3rlpy.dataset.MDPDataset(ds.observations, ds.actions, ds.rewards, ds.terminals.astype(np.float32),
                                     timeouts.astype(np.float32))


def d3rlpy_algo(algo: str, steps: int = 1_000_000, device: str = "cpu:0"):
    """d3rlpy's TD3PlusBC / IQL with CORL's settings; IQL's actor lr follows a cosine over `steps` updates
    (pass our IQLConfig.lr_schedule_steps for the same schedule as ours)."""
    d3rlpy = import_d3rlpy()

    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    if algo == "td3bc":
        return d3rlpy.algos.TD3PlusBCConfig(
            actor_learning_rate=3e-4, critic_learning_rate=3e-4, batch_size=256, target_smoothing_sigma=0.2,
            target_smoothing_clip=0.5, alpha=2.5, update_actor_interval=2, observation_scaler=scaler,
        ).create(device=device)
    if algo == "iql":
        cosine = d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=steps)
        return d3rlpy.algos.IQLConfig(
            actor_learning_rate=3e-4, critic_learning_rate=3e-4, batch_size=256, weight_temp=3.0, max_weight=100.0,
            expectile=0.7, observation_scaler=scaler,
            reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0),
            actor_optim_factory=d3rlpy.optimizers.AdamFactory(lr_scheduler_factory=cosine),
        ).create(device=device)
    raise ValueError(algo)


def d3rlpy_build(algo, dataset) -> None:
    """What d3rlpy's fit() does before its loop: fit the scalers, create the networks."""
    from d3rlpy.algos.utility import build_scalers_with_transition_picker

    build_scalers_with_transition_picker(algo, dataset)
    algo.build_with_dataset(dataset)


def d3rlpy_available() -> bool:
    try:
        import_d3rlpy()
    except ImportError:
        return False
    return True


def write_tiny_d4rl(path: str | Path, env_id: str = "Hopper-v5", steps: int = 2000, seed: int = 0) -> Path:
    """A small random-policy dataset written with plain h5py in D4RL's raw layout (smoke tests)."""
    import h5py

    from dawm.envs.evaluation import make_env

    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        nxt, rew, term, trunc, _ = env.step(act)
        trunc = trunc or t == steps - 1
        for k, v in zip(rows, (obs, act, rew, nxt, term, trunc)):
            rows[k].append(v)
        obs = env.reset()[0] if term or trunc else nxt
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in rows.items():
            f.create_dataset(k, data=np.asarray(v, dtype=bool if k in ("terminals", "timeouts") else np.float32))
        f.create_dataset("metadata/env_id", data=env_id)
    return path
