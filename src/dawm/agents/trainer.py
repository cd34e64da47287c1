"""`train_agent`: offline TD3+BC / IQL on a dataset (optionally mixed with synthetic transitions).

One run = one directory (dawm.utils.runs.Run): config.yaml, metrics.jsonl + TensorBoard
(train/* every `log_every` updates, eval/* every `eval_every`), checkpoints (agent, sampler and
RNG states, so a resumed run continues exactly where it stopped) and summary.json with the final
("last", as CORL reports) D4RL normalised score.

`seeds` = S > 1 trains S independent agents (seeds seed .. seed+S-1) in one process as one
seed-stacked agent (dawm.agents.seeds): seed k starts from the init a single run with seed + k
would have, draws its own batches (own generator, seeded seed + k) and its own noise, and is
evaluated on episodes seeded seed + k + i. summary.json then reports each seed and the mean ± std
over seeds; agents/seed<k>.pt holds each seed as a normal single-agent checkpoint.
`compile` replays or compiles the update (dawm.agents.compiled).
"""

from __future__ import annotations

import json
import statistics
import time
import typing
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import torch

from dawm.agents.batch_sources import BatchSource, MixedSource, TransitionBuffer, sample_counts
from dawm.agents.compiled import CompileMode, compile_mode, compiled_update
from dawm.agents.iql import IQL, IQLConfig
from dawm.agents.seeds import StackedSource
from dawm.agents.targets import TargetFn, one_step_target
from dawm.agents.td3bc import TD3BC, TD3BCConfig
from dawm.data.dataset import Dataset
from dawm.data.normalization import iql_reward_scale
from dawm.data.transitions import Transitions
from dawm.envs.collect import load_dataset
from dawm.envs.evaluation import evaluate
from dawm.utils.checkpoint import save_checkpoint
from dawm.utils.cuda_graphs import require_cuda
from dawm.utils.errors import DawmError, TrainingDiverged
from dawm.utils.config import check_choices, save_config
from dawm.utils.precision import Precision, resolve_precision
from dawm.utils.progress import progress
from dawm.utils.runs import Run
from dawm.utils.torch_utils import prepare, set_seed

Algo = Literal["td3bc", "iql"]
ALGOS = typing.get_args(Algo)


@dataclass
class TrainAgentConfig:
    algo: Algo = "td3bc"
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
    """Seed of network init, batch sampling, noise and evaluation episodes (the first seed when seeds > 1)."""
    seeds: int = 1
    """Independent agents trained at once in this process, vectorised over seeds (seed, seed+1, ...);
    summary.json gives each seed's final score and final_score_mean / final_score_std over seeds."""
    compile: CompileMode = "auto"
    """Update execution: auto (cuda-graph on a GPU unless a custom critic target is used, e.g.
    DWM's; else none), none (eager), cuda-graph (capture one update as a CUDA graph and replay it;
    CUDA only), torch-compile (torch.compile the update; takes a while to compile)."""
    device: str = "auto"
    """Torch device: auto (CUDA if present), cpu, cuda, cuda:1, ..."""
    precision: Precision = "auto"
    """Matmul precision of the updates: auto (bfloat16 on a CPU that runs it natively, float32 elsewhere;
    dawm.utils.precision), float32 or bfloat16 (autocast; parameters, optimiser state, targets and losses
    stay float32).
    Evaluation always runs in float32."""
    run_dir: str | None = None
    """Run directory (default runs/train-agent/<algo>-<dataset>-seed<seed>); resumed if it has a checkpoint."""
    log_every: int = 1000
    """Average and log training metrics every this many updates."""
    checkpoint_every: int = 50_000
    """Checkpoint every this many updates (and at the end)."""
    threads: int | None = 1
    """torch intra-op threads (None = torch's default). 1 by default: 256-wide nets gain little from more,
    and extra threads collapse throughput on a CPU shared with other processes."""
    synthetic_ratio: float = 0.25
    """Fraction of each batch drawn from a synthetic source, when one is given (Python API; `dawm run` sets it
    from its own `--synthetic-ratio`). 0.25 since issue #12's study:
    at 0.5 each real transition is seen half as often, and TD3+BC did better at 0.25 (docs/methods.md)."""
    td3bc: TD3BCConfig = field(default_factory=TD3BCConfig)
    """TD3+BC settings (used when algo = td3bc)."""
    iql: IQLConfig = field(default_factory=IQLConfig)
    """IQL settings (used when algo = iql)."""


def default_run_dir(cfg: TrainAgentConfig) -> Path:
    name = Path(cfg.dataset).stem if cfg.dataset.endswith((".hdf5", ".h5")) else cfg.dataset.replace("/", "_")
    seeds = f"seed{cfg.seed}" if cfg.seeds == 1 else f"seeds{cfg.seed}-{cfg.seed + cfg.seeds - 1}"
    return Path("runs") / "train-agent" / f"{cfg.algo}-{name}-{seeds}"


def build_agent(cfg: TrainAgentConfig, dataset: Dataset, transitions: Transitions, device: torch.device,
                target_fn: TargetFn = one_step_target) -> TD3BC | IQL:
    """The configured agent, with normalisers fitted on the real transitions; with cfg.seeds > 1 the
    seeds' agents stacked into one, seed k initialised as a single run with seed + k would be."""
    if cfg.seeds > 1:
        agents = []
        for k in range(cfg.seeds):
            set_seed(cfg.seed + k)
            agents.append(build_agent(replace(cfg, seeds=1), dataset, transitions, device, target_fn))
        return type(agents[0]).stack(agents)
    if cfg.algo == "td3bc":
        return TD3BC.from_transitions(transitions, cfg.td3bc, device, target_fn)
    if cfg.algo == "iql":
        scale = iql_reward_scale(dataset) if cfg.iql.normalize_reward else 1.0
        return IQL.from_transitions(transitions, cfg.iql, scale, device, target_fn)
    raise DawmError(f"unknown algo '{cfg.algo}' (expected one of: {', '.join(ALGOS)})")


def train_agent(cfg: TrainAgentConfig, synthetic: BatchSource | list[BatchSource] | None = None,
                target_fn: TargetFn | None = None,
                dataset: Dataset | None = None,
                real: Callable[[TransitionBuffer], BatchSource] | None = None) -> dict:
    """Train, evaluate and checkpoint an agent; returns the summary written to summary.json.

    `synthetic`: extra transitions mixed into every batch at `cfg.synthetic_ratio` (DAWM);
    `target_fn`: replaces the one-step critic target (DWM's value expansion, see dawm.agents.targets);
    `dataset`: an already loaded dataset (else `cfg.dataset` is loaded);
    `real`: wraps the real-data buffer into the source batches come from (DWM's RolloutPool).
    With cfg.seeds > 1, `real` wraps each seed's buffer; `synthetic` is one source per seed (a list: each seed its
    own world model or set) or one shared by all seeds (each draws its own batch from it); a `target_fn` sees the
    seeds' batches flattened to (S * B, ...).
    """
    dataset = _check(cfg, dataset)
    device = prepare(cfg.device, cfg.threads, cfg.seed)
    if cfg.compile == "cuda-graph":
        require_cuda(device, "agent", instead="--compile none or torch-compile")
    dtype = resolve_precision(cfg.precision, device)
    transitions = Transitions.from_dataset(dataset)
    agent = build_agent(cfg, dataset, transitions, device, target_fn or one_step_target)
    seed_sources = _seed_sources(cfg, transitions, device, synthetic, real)
    source = seed_sources[0] if cfg.seeds == 1 else StackedSource(seed_sources)

    run = Run(cfg.run_dir or default_run_dir(cfg))
    evals = _resume(run, cfg, agent, source, device)
    mode = compile_mode(cfg.compile, device, custom_target=target_fn is not None)
    update = compiled_update(agent, mode, dtype)  # after loading: a capture binds the optimiser's tensors
    save_config(cfg, run.dir / "config.yaml")
    start = agent.step
    if start > cfg.steps:
        raise DawmError(f"{run.dir}: its checkpoint is at update {start}, beyond steps={cfg.steps} "
                        "(raise --steps or use another --run-dir)")
    if run.finished and start == cfg.steps:  # nothing left to do
        return json.loads((run.dir / "summary.json").read_text())
    train_time = _train_loop(cfg, run, agent, update, source, seed_sources, evals, dataset, device)
    summary = _summary(cfg, run, agent, evals, dataset)
    summary.update({
        "updates_per_s": (cfg.steps - start) / train_time if train_time > 0 else None,
        "seed_updates_per_s": cfg.seeds * (cfg.steps - start) / train_time if train_time > 0 else None,
        "sample_counts": sample_counts(seed_sources[0], cfg.steps, agent.cfg.batch_size),  # per seed
        "device": str(device), "compile": mode, "precision": str(dtype).removeprefix("torch."),
        "run_dir": str(run.dir),
    })
    return json.loads(run.finish(summary).read_text())  # as a reused run returns it (with its wall_time_s)


def _check(cfg: TrainAgentConfig, dataset: Dataset | None) -> Dataset:
    """Validate the settings (one line each) and load the dataset; returns it."""
    check_choices(cfg)
    if cfg.seeds < 1:
        raise DawmError(f"seeds must be >= 1, got {cfg.seeds}")
    if dataset is None:
        if not cfg.dataset:
            raise DawmError("no dataset given (expected --dataset NAME_OR_PATH)")
        dataset = load_dataset(cfg.dataset)
    if not dataset.env_id:
        raise DawmError(f"dataset '{dataset.name}' names no environment (metadata env_id), so it cannot be evaluated")
    return dataset


def _seed_sources(cfg: TrainAgentConfig, transitions: Transitions, device: torch.device,
                  synthetic: BatchSource | list[BatchSource] | None, real) -> list[BatchSource]:
    """Each seed's batch source: its own draw of the real buffer (seed + k), wrapped by `real`, mixed
    with its synthetic source (its own, or the shared one)."""
    buffer = TransitionBuffer(transitions, device, seed=cfg.seed)
    # built on the CPU by a caller while the agent runs on a GPU (a shared source moved once, so still shared)
    on_device = lambda s: s.to(device) if isinstance(s, TransitionBuffer) else s  # noqa: E731
    per_seed = [on_device(s) for s in synthetic] if isinstance(synthetic, list) else [on_device(synthetic)] * cfg.seeds
    if len(per_seed) != cfg.seeds:
        raise DawmError(f"{len(per_seed)} synthetic sources for {cfg.seeds} seeds (expected one per seed, or one)")
    sources: list[BatchSource] = []
    for k in range(cfg.seeds):
        source: BatchSource = buffer if k == 0 else buffer.reseeded(cfg.seed + k)
        if real is not None:
            source = real(source)
        if per_seed[k] is not None:
            source = MixedSource(source, per_seed[k], cfg.synthetic_ratio)
        sources.append(source)
    return sources


def _resume(run: Run, cfg: TrainAgentConfig, agent, source: BatchSource, device: torch.device) -> list[list[dict]]:
    """Load the run's latest checkpoint into the agent, the source and the RNGs, if there is one;
    returns the evaluations so far, per seed."""
    state = run.latest_checkpoint(map_location=device)
    if state is None:
        return [[] for _ in range(cfg.seeds)]
    if state["agent"]["algo"] != cfg.algo or state["agent"].get("n_seeds", 1) != cfg.seeds:
        raise DawmError(f"{run.dir}: its checkpoint is of algo '{state['agent']['algo']}' with "
                        f"{state['agent'].get('n_seeds', 1)} seed(s), not '{cfg.algo}' with {cfg.seeds} "
                        "(use another --run-dir)")
    agent.load_state_dict(state["agent"])
    source.load_state_dict(state["source"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    return [list(state["evals"])] if cfg.seeds == 1 else [list(e) for e in state["evals"]]


def _train_loop(cfg: TrainAgentConfig, run: Run, agent, update, source: BatchSource, seed_sources: list,
                evals: list[list[dict]], dataset: Dataset, device: torch.device) -> float:
    """Updates from the agent's step to cfg.steps, with logging, evaluation and checkpoints;
    returns the seconds spent in updates (evaluation and checkpoints excluded)."""
    n_seeds, batch_size = cfg.seeds, agent.cfg.batch_size

    def checkpoint(step: int) -> None:
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        run.save_checkpoint({"agent": agent.state_dict(), "torch_rng": torch.get_rng_state(), "cuda_rng": cuda_rng,
                             "evals": evals[0] if n_seeds == 1 else evals, "source": source.state_dict()}, step)

    pending: dict[str, list[torch.Tensor]] = defaultdict(list)
    clock = time.perf_counter
    train_time, log_time, log_steps = 0.0, 0.0, 0
    bar = progress(total=cfg.steps, desc=f"{cfg.algo} {dataset.name}", unit="upd", initial=agent.step)
    try:
        for step in range(agent.step + 1, cfg.steps + 1):
            log_now = step % cfg.log_every == 0 or step == cfg.steps
            t0 = clock()
            for k, v in update(source.sample(batch_size)).items():
                pending[k].append(v)
            if log_now:
                row = _seed_row({k: torch.stack(v).mean(0) for k, v in pending.items()})  # the only host sync
                pending.clear()
            log_time += clock() - t0
            log_steps += 1
            bar.update(1)
            if log_now:
                row["updates_per_s"] = log_steps / max(log_time, 1e-9)
                train_time, log_time, log_steps = train_time + log_time, 0.0, 0
                if not all(map(_finite, row.values())):
                    raise TrainingDiverged(f"{run.dir}: non-finite loss at update {step} ({row}); "
                                           "the last checkpoint is kept")
                if isinstance(seed_sources[0], MixedSource):
                    row.update({f"samples_{k}": v for k, v in seed_sources[0].counts.items()})  # per seed
                run.log(step, row, "train")
                score = _mean_std([e[-1]["score_mean"] for e in evals], "s")["s_mean"] if evals[0] else None
                bar.set_postfix_str(f"critic {row['critic_loss']:.3g}" + (f" score {score:.1f}" if score is not None
                                                                           else ""))
            if step % cfg.eval_every == 0 or step == cfg.steps:
                _evaluate(cfg, run, agent, evals, dataset, step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                checkpoint(step)
    finally:
        bar.close()
    return train_time


def _evaluate(cfg: TrainAgentConfig, run: Run, agent, evals: list[list[dict]], dataset: Dataset, step: int) -> None:
    """Each seed's policy (float32) on episodes seeded seed + k + i, i < eval_episodes: consecutive agent seeds
    share all but one start state (a mild correlation between seeds, the same in every arm of a comparison, so
    kept for comparability with the recorded runs); appended to `evals` and logged."""
    for k in range(cfg.seeds):
        policy = agent.act if cfg.seeds == 1 else (lambda obs, k=k: agent.act(obs)[k])
        res = evaluate(policy, dataset.env_id, cfg.eval_episodes, cfg.seed + k, dataset.ref_scores())
        evals[k].append({"step": step, "score_mean": res.score_mean, "score_std": res.score_std,
                         "return_mean": res.return_mean, "return_std": res.return_std, "returns": res.returns})
    run.log(step, _seed_row({key: [e[-1][key] for e in evals] for key in ("score_mean", "score_std", "return_mean",
                                                                          "return_std")}), "eval")


def _summary(cfg: TrainAgentConfig, run: Run, agent, evals: list[list[dict]], dataset: Dataset) -> dict:
    """The final ("last") scores: one seed's own, or with several seeds the mean and std over seeds
    (each seed's own in per_seed, and its agent saved as agents/seed<k>.pt)."""
    summary = {"algo": cfg.algo, "dataset": dataset.name, "env_id": dataset.env_id, "seed": cfg.seed,
               "steps": cfg.steps, **_final(evals[0])}
    if cfg.seeds == 1:
        return summary
    per_seed = [{"seed": cfg.seed + k, **_final(e), "agent": str(run.dir / "agents" / f"seed{cfg.seed + k}.pt")}
                for k, e in enumerate(evals)]
    for k, entry in enumerate(per_seed):
        save_checkpoint(entry["agent"], agent.seed_state_dict(k))
    summary.update(seeds=[e["seed"] for e in per_seed], final_returns=None,
                   evals=[{"step": at[0]["step"], **_mean_std([e["score_mean"] for e in at], "score")}
                          for at in zip(*evals)], per_seed=per_seed)
    for key in ("score", "return"):
        summary.update(_mean_std([e[f"final_{key}_mean"] for e in per_seed], f"final_{key}"))
    return summary


def _final(evals: list[dict]) -> dict:
    """One seed's final ("last") evaluation and its history."""
    final = evals[-1] if evals else {}
    return {"final_score_mean": final.get("score_mean"), "final_score_std": final.get("score_std"),
            "final_return_mean": final.get("return_mean"), "final_return_std": final.get("return_std"),
            "final_returns": final.get("returns"),
            "evals": [{k: v for k, v in e.items() if k != "returns"} for e in evals]}


def _mean_std(values: list, name: str) -> dict:
    """{name}_mean and {name}_std (population std) over seeds; None if any seed has no value."""
    if not values or any(v is None for v in values):
        return {f"{name}_mean": None, f"{name}_std": None}
    return {f"{name}_mean": statistics.fmean(values), f"{name}_std": statistics.pstdev(values)}


def _seed_row(values: dict) -> dict[str, float]:
    """Metrics as logged: one value each, or with seeds the mean over seeds plus seed<k>/<name>."""
    row = {}
    for name, v in values.items():
        v = v.tolist() if isinstance(v, torch.Tensor) else v
        v = v if isinstance(v, list) else [v]
        if any(x is None for x in v):
            continue
        row[name] = statistics.fmean(v) if len(v) > 1 else v[0]
        if len(v) > 1:
            row.update({f"seed{k}/{name}": x for k, x in enumerate(v)})
    return row


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")
