"""`train_agent`: offline TD3+BC / IQL on a dataset (optionally mixed with synthetic transitions).

One run = one directory (dawm.utils.runs.Run): config.yaml, metrics.jsonl + TensorBoard
(train/* every `log_every` updates, eval/* every `eval_every`), checkpoints (agent, sampler and
RNG states, so a resumed run continues exactly where it stopped) and summary.json with the final
("last", as CORL reports) D4RL normalised score.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import torch

from dawm.agents.batch_sources import BatchSource, MixedSource, TransitionBuffer, sample_counts
from dawm.agents.iql import IQL, IQLConfig
from dawm.agents.targets import TargetFn, one_step_target
from dawm.agents.td3bc import TD3BC, TD3BCConfig
from dawm.data.dataset import Dataset
from dawm.data.normalization import iql_reward_scale
from dawm.data.registry import load_dataset
from dawm.data.transitions import Transitions
from dawm.envs.evaluation import evaluate
from dawm.utils.errors import DawmError, TrainingDiverged
from dawm.utils.config import save_config
from dawm.utils.progress import progress
from dawm.utils.runs import Run
from dawm.utils.torch_utils import resolve_device, set_seed

ALGOS = ("td3bc", "iql")


@dataclass
class TrainAgentConfig:
    algo: Literal["td3bc", "iql"] = "td3bc"
    """Offline RL algorithm."""
    dataset: str = ""
    """Dataset: generated name (hopper-medium), HDF5 path or Minari id (see `dawm datasets`)."""
    steps: int = 1_000_000
    """Gradient updates (CORL: 1e6)."""
    eval_every: int = 5000
    """Evaluate the policy every this many updates (and after the last one)."""
    eval_episodes: int = 10
    """Episodes per evaluation (episode i is seeded with seed + i)."""
    seed: int = 0
    """Seed of network init, batch sampling, noise and evaluation episodes."""
    device: str = "auto"
    """Torch device: auto (CUDA if present), cpu, cuda, cuda:1, ..."""
    run_dir: str = ""
    """Run directory (default runs/train-agent/<algo>-<dataset>-seed<seed>); resumed if it has a checkpoint."""
    log_every: int = 1000
    """Average and log training metrics every this many updates."""
    checkpoint_every: int = 50_000
    """Checkpoint every this many updates (and at the end)."""
    threads: int = 1
    """torch intra-op threads (0 = torch's default). 1 by default: 256-wide nets gain little from more,
    and extra threads collapse throughput on a CPU shared with other processes."""
    synthetic_ratio: float = 0.5
    """Fraction of each batch drawn from a synthetic source, when one is given (Python API)."""
    td3bc: TD3BCConfig = field(default_factory=TD3BCConfig)
    """TD3+BC settings (used when algo = td3bc)."""
    iql: IQLConfig = field(default_factory=IQLConfig)
    """IQL settings (used when algo = iql)."""


def default_run_dir(cfg: TrainAgentConfig) -> Path:
    name = Path(cfg.dataset).stem if cfg.dataset.endswith((".hdf5", ".h5")) else cfg.dataset.replace("/", "_")
    return Path("runs") / "train-agent" / f"{cfg.algo}-{name}-seed{cfg.seed}"


def build_agent(cfg: TrainAgentConfig, dataset: Dataset, transitions: Transitions, device: torch.device,
                target_fn: TargetFn = one_step_target) -> TD3BC | IQL:
    """The configured agent, with normalisers fitted on the real transitions."""
    if cfg.algo == "td3bc":
        return TD3BC.from_transitions(transitions, cfg.td3bc, device, target_fn)
    if cfg.algo == "iql":
        scale = iql_reward_scale(dataset) if cfg.iql.normalize_reward else 1.0
        return IQL.from_transitions(transitions, cfg.iql, scale, device, target_fn)
    raise DawmError(f"unknown algo '{cfg.algo}' (expected one of: {', '.join(ALGOS)})")


def train_agent(cfg: TrainAgentConfig, synthetic: BatchSource | None = None, target_fn: TargetFn | None = None,
                dataset: Dataset | None = None,
                real: Callable[[TransitionBuffer], BatchSource] | None = None) -> dict:
    """Train, evaluate and checkpoint an agent; returns the summary written to summary.json.

    `synthetic`: extra transitions mixed into every batch at `cfg.synthetic_ratio` (DAWM);
    `target_fn`: replaces the one-step critic target (DWM's value expansion, see dawm.agents.targets);
    `dataset`: an already loaded dataset (else `cfg.dataset` is loaded);
    `real`: wraps the real-data buffer into the source batches come from (DWM's RolloutPool).
    """
    if cfg.algo not in ALGOS:
        raise DawmError(f"unknown algo '{cfg.algo}' (expected one of: {', '.join(ALGOS)})")
    if dataset is None:
        if not cfg.dataset:
            raise DawmError("no dataset given (expected --dataset NAME_OR_PATH)")
        dataset = load_dataset(cfg.dataset)
    if not dataset.env_id:
        raise DawmError(f"dataset '{dataset.name}' names no environment (metadata env_id), so it cannot be evaluated")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    set_seed(cfg.seed)

    cfg = replace(cfg, iql=replace(cfg.iql, lr_schedule_steps=cfg.steps))  # CORL: cosine over the whole run
    transitions = Transitions.from_dataset(dataset)
    agent = build_agent(cfg, dataset, transitions, device, target_fn or one_step_target)
    batch_size = agent.cfg.batch_size
    source: BatchSource = TransitionBuffer(transitions, device, seed=cfg.seed)
    if real is not None:
        source = real(source)
    if synthetic is not None:
        source = MixedSource(source, synthetic, cfg.synthetic_ratio)

    run = Run(cfg.run_dir or default_run_dir(cfg))
    evals: list[dict] = []
    state = run.latest_checkpoint(map_location=device)
    if state is not None:
        if state["agent"]["algo"] != cfg.algo:
            raise DawmError(f"{run.dir}: its checkpoint is of algo '{state['agent']['algo']}', not '{cfg.algo}' "
                            "(use another --run-dir)")
        agent.load_state_dict(state["agent"])
        if hasattr(source, "load_state_dict"):
            source.load_state_dict(state["source"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        evals = list(state["evals"])
    save_config(cfg, run.dir / "config.yaml")
    start = agent.step
    if start > cfg.steps:
        raise DawmError(f"{run.dir}: its checkpoint is at update {start}, beyond steps={cfg.steps} "
                        "(raise --steps or use another --run-dir)")
    if run.finished and start == cfg.steps:  # nothing left to do
        return json.loads((run.dir / "summary.json").read_text())

    def checkpoint(step: int) -> None:
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        run.save_checkpoint({"agent": agent.state_dict(), "torch_rng": torch.get_rng_state(), "cuda_rng": cuda_rng,
                             "evals": evals,
                             "source": source.state_dict() if hasattr(source, "state_dict") else {}}, step)

    pending: dict[str, list[torch.Tensor]] = defaultdict(list)
    clock = time.perf_counter
    train_time, window_time, window_steps = 0.0, 0.0, 0  # update time only: eval and checkpoints excluded
    bar = progress(total=cfg.steps, desc=f"{cfg.algo} {dataset.name}", unit="upd", initial=start)
    try:
        for step in range(start + 1, cfg.steps + 1):
            t0 = clock()
            for k, v in agent.update(source.sample(batch_size)).items():
                pending[k].append(v)
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                row = {k: torch.stack(v).mean().item() for k, v in pending.items()}  # the only host sync
                pending.clear()
            window_time += clock() - t0
            window_steps += 1
            bar.update(1)
            if step % cfg.log_every == 0 or last:
                row["updates_per_s"] = window_steps / max(window_time, 1e-9)
                train_time, window_time, window_steps = train_time + window_time, 0.0, 0
                if not all(map(_finite, row.values())):
                    raise TrainingDiverged(f"{run.dir}: non-finite loss at update {step} ({row}); "
                                           "the last checkpoint is kept")
                if isinstance(source, MixedSource):
                    row.update({f"samples_{k}": v for k, v in source.counts.items()})
                run.log(step, row, "train")
                bar.set_postfix_str(f"critic {row['critic_loss']:.3g}" + (
                    f" score {evals[-1]['score_mean']:.1f}" if evals and evals[-1]["score_mean"] is not None else ""))
            if step % cfg.eval_every == 0 or last:
                res = evaluate(agent.act, dataset.env_id, cfg.eval_episodes, cfg.seed, dataset.ref_scores())
                evals.append({"step": step, "score_mean": res.score_mean, "score_std": res.score_std,
                              "return_mean": res.return_mean, "return_std": res.return_std, "returns": res.returns})
                run.log(step, {k: v for k, v in evals[-1].items() if k not in ("step", "returns") and v is not None},
                        "eval")
            if step % cfg.checkpoint_every == 0 or last:
                checkpoint(step)
    finally:
        bar.close()

    final = evals[-1] if evals else {}
    summary = {
        "algo": cfg.algo, "dataset": dataset.name, "env_id": dataset.env_id, "seed": cfg.seed, "steps": cfg.steps,
        "final_score_mean": final.get("score_mean"), "final_score_std": final.get("score_std"),
        "final_return_mean": final.get("return_mean"), "final_return_std": final.get("return_std"),
        "final_returns": final.get("returns"), "evals": [{k: v for k, v in e.items() if k != "returns"} for e in evals],
        "updates_per_s": (cfg.steps - start) / train_time if train_time > 0 else None,
        "sample_counts": sample_counts(source, cfg.steps, batch_size), "device": str(device),
        "run_dir": str(run.dir),
    }
    run.finish(summary)
    return summary


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")
