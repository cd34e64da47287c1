"""`dawm run`: dataset -> world model + IDM -> synthetic transitions -> agent -> evaluation.

Each stage's artefact lives under `root` in a directory named by a hash of everything that
determines it, so a later run with unchanged inputs reuses it (and an interrupted stage resumes
from its checkpoints):

    <root>/world_model/<dataset>-<hash>/           `train_world_model` run (world_model.pt, idm.pt)
    <root>/synthetic/<dataset>-<hash>.hdf5         synthetic transitions (D4RL layout, any library reads it)
    <root>/synthetic/<dataset>-<hash>-fidelity/    fidelity report against the simulator
    <root>/agents/<method>-<dataset>-seed<k>-<hash>/  `train_agent` run
    <root>/<method>-<dataset>-seed<k>/             the run: summary.json (printed at the end), config.yaml,
                                                   report.html (dawm.results.report)

Methods: td3bc / iql train on the real data only; dawm-td3bc / dawm-iql train the same, unchanged
agents on real + synthetic batches (`synthetic_ratio` of each batch is synthetic); dwm-td3bc /
dwm-iql are the DWM baseline: the same world model used only for multi-step critic targets
(Diffusion-MVE, `dawm.agents.value_expansion`), rolled out for every batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import sys
import time
import traceback
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dawm.agents.batch_sources import RefreshingSource, TransitionBuffer
from dawm.agents.trainer import TrainAgentConfig, train_agent
from dawm.agents.value_expansion import DiffusionMVE, RolloutPool
from dawm.data.d4rl import write_dataset
from dawm.data.dataset import Dataset
from dawm.data.registry import slug as make_slug
from dawm.data.transitions import Transitions
from dawm.envs.collect import load_dataset
from dawm.results.records import RECORD_SCHEMA
from dawm.results.report import write_run_report
from dawm.utils.checkpoint import write_json
from dawm.utils.config import check_choices, save_config
from dawm.utils.errors import DawmError
from dawm.utils.provenance import machine
from dawm.utils.runs import exclusive
from dawm.utils.torch_utils import resolve_device
from dawm.world_model.config import WorldModelConfig
from dawm.world_model.fidelity import FidelityConfig
from dawm.world_model.fidelity_outputs import run_fidelity
from dawm.world_model.labels import oracle_labels
from dawm.world_model.synthesis import (SynthesisConfig, guard_ensemble, guarded, load_world_model_run,
                                        resolve_termination, run_synthesis, synthesize_with)
from dawm.world_model.trainer import train_world_model

Method = Literal["td3bc", "iql", "dawm-td3bc", "dawm-iql", "dwm-td3bc", "dwm-iql"]
METHODS = typing.get_args(Method)


@dataclass
class RunConfig:
    """The whole DAWM pipeline on one dataset, for one method and seed."""

    method: Method = "dawm-td3bc"
    """td3bc, iql (real data only), dawm-td3bc, dawm-iql (real + synthetic transitions) or dwm-td3bc,
    dwm-iql (the DWM baseline: world-model rollouts in the critic target only)."""
    dataset: str = "hopper-medium-replay"
    """Generated name (made on first use), D4RL HDF5 path or Minari id."""
    seed: int = 0
    """Seed of every stage."""
    world_model_seed: int | None = None
    """Seed of the world model stage alone (default: `seed`). Fixing it lets several seeds' runs share
    one world model (their agents and synthetic data still differ), e.g. in a CPU-budget bench."""
    synthetic_ratio: float = TrainAgentConfig.synthetic_ratio
    """Fraction of each agent batch drawn from the synthetic transitions (dawm-* methods)."""
    dwm_horizon: int = 5
    """Rollout horizon H of DWM's value expansion (dwm-* methods; 1..T-1, DWM used 1, 3, 5, 7)."""
    dwm_pool_size: int = 50_000
    """DWM rollouts drawn ahead per refresh (start pairs uniform over the data; 0 = sample every batch, as
    DWM did, much slower on a CPU: benchmarks/speed_dwm.py). Same distribution per row, see
    dawm.agents.value_expansion."""
    dwm_refresh_every: int = 5_000
    """Agent updates between redraws of the DWM rollout pool."""
    baseline: bool = True
    """With a dawm-* or dwm-* method, also train the plain agent (td3bc / iql) on the same dataset, seed and
    budget (a cached stage: `dawm run --method td3bc` reuses it) and report both scores and their
    difference; --no-baseline skips it."""
    root: str = "runs/pipeline"
    """Where stage artefacts are kept and reused."""
    device: str = "auto"
    """Torch device for every stage: auto (CUDA if present), cpu, cuda."""
    world_model: WorldModelConfig = field(default_factory=lambda: WorldModelConfig(
        steps=8_000, idm_steps=8_000, eval_every=2_000, checkpoint_every=2_000, threads=1))
    """World model and IDM training (dataset, seed, device and out are set by the pipeline). The
    defaults fit the whole run in minutes on 2 CPU cores (timed in docs/benchmarks.md); --preset paper is
    full scale. One CPU thread: two threads collapse to a crawl when another process holds the second core."""
    synthesis: SynthesisConfig = field(default_factory=lambda: SynthesisConfig(n_starts=50_000))
    """Synthetic data generation (world_model, dataset, out, seed and device are set by the pipeline)."""
    fidelity: FidelityConfig = field(default_factory=lambda: FidelityConfig(n_plots=2))
    """Fidelity check of the synthetic data (dataset, world_model and out are set by the pipeline)."""
    agent: TrainAgentConfig = field(default_factory=lambda: TrainAgentConfig(steps=30_000))
    """Agent training (algo, dataset, seed, device and run_dir are set by the pipeline)."""


# Fields of the stage configs that `dawm run` sets itself, and the flag that sets each: setting one
# under a stage (e.g. --agent.seed) would be overwritten, so it is refused with that flag's name.
PIPELINE_SETS = {
    "world_model": {"dataset": "--dataset", "out": "--root", "seed": "--seed / --world-model-seed",
                    "device": "--device"},
    "synthesis": {"world_model": "--root", "dataset": "--dataset", "out": "--root", "seed": "--seed",
                  "device": "--device"},
    "fidelity": {"dataset": "--dataset", "world_model": "--root", "out": "--root", "seed": "--seed"},
    "agent": {"algo": "--method", "dataset": "--dataset", "seed": "--seed", "device": "--device", "run_dir": "--root",
              "synthetic_ratio": "--synthetic-ratio"},
}


def check_stage_settings(cfg: RunConfig) -> None:
    """Refuse a stage field the pipeline would overwrite (one line naming the flag to use instead)."""
    for stage, fields in PIPELINE_SETS.items():
        given, default = getattr(cfg, stage), type(getattr(cfg, stage))()
        for name, flag in fields.items():
            if getattr(given, name) != getattr(default, name):
                raise DawmError(f"--{stage.replace('_', '-')}.{name.replace('_', '-')}: `dawm run` sets it "
                                f"itself (use {flag})")


def _digest(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _fingerprint(ds: Dataset) -> list:
    """Cheap identity of a dataset's content (name, size, reward sum, first and last observation)."""
    return [ds.name, len(ds), float(ds.rewards.sum(dtype="float64")), ds.observations[0].tolist(),
            ds.observations[-1].tolist()]


def run_pipeline(cfg: RunConfig) -> dict:
    """Run every stage `cfg.method` needs; returns (and writes) the summary."""
    check_choices(cfg)
    cfg.synthesis.check("synthesis.")
    check_stage_settings(cfg)
    if not 0.0 < cfg.synthetic_ratio < 1.0:
        raise DawmError(f"--synthetic-ratio {cfg.synthetic_ratio}: must be strictly between 0 and 1")
    for flag, value, low in (("--dwm-pool-size", cfg.dwm_pool_size, 0),
                             ("--dwm-refresh-every", cfg.dwm_refresh_every, 1)):
        if value < low:
            raise DawmError(f"{flag} {value}: must be at least {low}")
    root, times = Path(cfg.root), {}
    algo = cfg.method.split("-")[-1]
    t0 = time.perf_counter()
    dataset = load_dataset(cfg.dataset)
    times["dataset"] = time.perf_counter() - t0
    # The plain agent trains in a second process beside the world-model stages (on a 2-core machine,
    # mostly beside the single-threaded world-model training), after the dataset exists so that the
    # two never generate it at once.
    baseline = _Baseline(cfg, algo, make_slug(dataset.name)) if cfg.baseline and cfg.method != algo else None
    try:
        summary = _run_stages(cfg, dataset, algo, root, times)
        if baseline is not None:
            t0 = time.perf_counter()
            try:
                base = baseline.get()
            except DawmError as exc:  # the finished main run is kept; the printout says what went wrong
                summary["baseline_error"] = str(exc)
            else:
                summary["baseline"] = {k: base[k] for k in ("method", "score_mean", "score_std", "return_mean",
                                                            "return_std", "agent_run", "stage_seconds")}
                summary["difference"] = summary["score_mean"] - base["score_mean"]
            summary["stage_seconds"]["baseline_wait"] = round(time.perf_counter() - t0, 1)
    finally:
        if baseline is not None:
            baseline.stop()  # a failed main stage does not wait for the baseline
    run_dir = root / f"{cfg.method}-{make_slug(dataset.name)}-seed{cfg.seed}"
    save_config(cfg, run_dir / "config.yaml")
    summary["report"] = str(run_dir / "report.html")
    write_json(run_dir / "summary.json", summary)
    try:
        write_run_report(run_dir)
    except Exception as exc:  # noqa: BLE001 -- the run is done and recorded; `dawm report` can retry the page
        print(f"dawm: {run_dir / 'report.html'} not written ({type(exc).__name__}: {exc}); "
              f"`dawm report {run_dir}` retries it", file=sys.stderr)
    return summary


def _run_stages(cfg: RunConfig, dataset: Dataset, algo: str, root: Path, times: dict) -> dict:
    """Every stage of `cfg.method` after loading the dataset; returns the run's summary."""
    fp, slug = _fingerprint(dataset), make_slug(dataset.name)
    # the digest tells apart datasets of one name made on different machines (collection is exact per CPU only)
    summary: dict = {"method": cfg.method, "dataset": dataset.name, "env_id": dataset.env_id, "seed": cfg.seed,
                     "dataset_digest": _digest(fp)}
    device = resolve_device(cfg.device)
    synthetic_source, target_fn, agent_inputs, real_source = None, None, None, None
    if cfg.method.startswith(("dawm-", "dwm-")):
        wm_dir = _world_model_stage(cfg, fp, slug, root, times)
        summary["world_model"] = str(wm_dir)
    if cfg.method.startswith("dawm-"):
        synthetic_path, fidelity = _synthetic_stage(cfg, wm_dir, fp, slug, root, times)
        synthetic = load_dataset(str(synthetic_path))
        if cfg.synthesis.labels == "oracle":
            synthetic = _oracle_stage(synthetic_path, synthetic, times)
            summary["synthetic_source"] = "oracle (diagnostic: the simulator's r, s', done for the synthetic s, a)"
        synthetic_source = TransitionBuffer(Transitions.from_dataset(synthetic), device, seed=cfg.seed + 1)
        if cfg.synthesis.refresh_every > 0:
            synthetic_source = _refreshing_source(cfg, wm_dir, dataset, synthetic,
                                                  _ensemble_dir(root, slug, fp, cfg.synthesis, cfg.seed), device)
        agent_inputs = [_fingerprint(synthetic), cfg.synthesis.refresh_every]
        summary.update(synthetic_file=str(synthetic_path), synthetic_transitions=len(synthetic), fidelity=fidelity)
    elif cfg.method.startswith("dwm-"):
        world_model, _, learned_term = load_world_model_run(wm_dir, device)
        # synthesis's rule: the learned classifier where the world model has one (asked for, or no declared rule)
        termination, _ = resolve_termination(learned_term.predict if learned_term else None, dataset.env_id)
        target_fn = DiffusionMVE(world_model, cfg.dwm_horizon, termination)
        real_source = lambda buffer: RolloutPool(buffer, target_fn, cfg.dwm_pool_size, cfg.dwm_refresh_every)  # noqa: E731
        agent_inputs = [str(wm_dir), cfg.dwm_horizon, cfg.dwm_pool_size, cfg.dwm_refresh_every]
        summary.update(dwm_horizon=cfg.dwm_horizon, dwm_pool_size=cfg.dwm_pool_size,
                       dwm_refresh_every=cfg.dwm_refresh_every)

    agent_cfg = dataclasses.replace(cfg.agent, algo=algo, dataset=cfg.dataset, seed=cfg.seed, device=cfg.device)
    # the ratio means nothing without synthetic data: plain runs hash alike, with the value every plain run
    # was keyed with before the default became 0.25 (so their cached agents stay valid)
    ratio = cfg.synthetic_ratio if synthetic_source is not None else 0.5
    agent_cfg = dataclasses.replace(agent_cfg, synthetic_ratio=ratio)
    key = _digest(fp, dataclasses.asdict(dataclasses.replace(agent_cfg, run_dir=None)), agent_inputs)
    agent_cfg = dataclasses.replace(
        agent_cfg, run_dir=str(root / "agents" / f"{cfg.method}-{slug}-seed{cfg.seed}-{key}"))
    t0 = time.perf_counter()
    result = train_agent(agent_cfg, synthetic=synthetic_source, target_fn=target_fn, dataset=dataset, real=real_source)
    times["agent"] = time.perf_counter() - t0
    summary.update(score_mean=result["final_score_mean"], score_std=result["final_score_std"],
                   return_mean=result["final_return_mean"], return_std=result["final_return_std"],
                   agent_run=result["run_dir"], sample_counts=result.get("sample_counts"),
                   stage_seconds={k: round(v, 1) for k, v in times.items()},
                   record=_record(cfg, agent_cfg, result, summary["dataset_digest"], fp))
    return summary


def _record(cfg: RunConfig, agent_cfg: TrainAgentConfig, result: dict, dataset_digest: str, fp: list) -> dict:
    """What makes this cell comparable with another (dawm.results.records), and where it was made."""
    batch = getattr(agent_cfg, agent_cfg.algo).batch_size
    record = {"schema": RECORD_SCHEMA, "dataset_digest": dataset_digest, "precision": result.get("precision"),
              "compile": result.get("compile"), "device": result.get("device"),
              "budget": {"updates": agent_cfg.steps, "batch": batch},
              "evaluation": {"every": agent_cfg.eval_every, "episodes": agent_cfg.eval_episodes},
              "agent_seeds": agent_cfg.seeds, **machine()}
    if cfg.method.startswith(("dawm-", "dwm-")):
        wm_cfg = _world_model_config(cfg)
        record.update(world_model_recipe=_world_model_key(dataclasses.replace(wm_cfg, seed=0), fp),
                      world_model_key=_world_model_key(wm_cfg, fp), world_model_seed=wm_cfg.seed)
    return record


class _Baseline:
    """The plain-agent run (`cfg` with method `algo`) in a spawned process; `get()` waits for its summary.

    A plain process, not a pool: if it dies (out of memory, killed) `get()` says so instead of waiting
    for a result that never comes. Its progress goes to <root>/logs/, its summary to a file beside."""

    def __init__(self, cfg: RunConfig, algo: str, slug: str):
        self.log = Path(cfg.root) / "logs" / f"{algo}-{slug}-seed{cfg.seed}-baseline.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.result = self.log.with_suffix(".json")
        self.result.unlink(missing_ok=True)
        print(f"baseline {algo} trains beside this run (log: {self.log})", flush=True)
        job = dataclasses.replace(cfg, method=algo, baseline=False)
        self.process = multiprocessing.get_context("spawn").Process(  # spawn: no inherited torch threads
            target=_baseline_job, args=(job, str(self.log), str(self.result)), daemon=True)
        self.process.start()

    def get(self) -> dict:
        self.process.join()
        if not self.result.exists():
            raise DawmError(f"the baseline process ended with exit code {self.process.exitcode} and no result "
                            f"(see {self.log})")
        out = json.loads(self.result.read_text())
        if "error" in out:
            raise DawmError(f"baseline: {out['error']} (see {self.log})")
        return out

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _baseline_job(cfg: RunConfig, log: str, result: str) -> None:
    sys.stdout = sys.stderr = open(log, "w", buffering=1)  # its progress lines go to the log, not the terminal
    try:
        out = run_pipeline(cfg)
    except Exception as exc:  # noqa: BLE001 -- reported by the parent in one line; the traceback is in the log
        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    write_json(result, out)


def _world_model_stage(cfg: RunConfig, fp: list, slug: str, root: Path, times: dict) -> Path:
    """Train the world model and IDM, or reuse the finished run with the same inputs."""
    wm_cfg = _world_model_config(cfg)
    wm_dir = root / "world_model" / f"{slug}-{_world_model_key(wm_cfg, fp)}"
    t0 = time.perf_counter()
    with exclusive(wm_dir):
        if not (wm_dir / "summary.json").exists():
            train_world_model(dataclasses.replace(wm_cfg, out=str(wm_dir)))
    times["world_model"] = time.perf_counter() - t0
    return wm_dir


def _world_model_config(cfg: RunConfig) -> WorldModelConfig:
    """The world model stage's config as the pipeline sets it (its hash names the run directory)."""
    seed = cfg.seed if cfg.world_model_seed is None else cfg.world_model_seed
    return dataclasses.replace(cfg.world_model, dataset=cfg.dataset, seed=seed, device=cfg.device, out=None)


def _world_model_key(wm_cfg: WorldModelConfig, fp: list) -> str:
    """The hash that names a world model's run directory (its config and data); with the seed set to 0, its
    recipe (dawm.results.records)."""
    return _digest(fp, dataclasses.asdict(wm_cfg))


def _ensemble_dir(root: Path, slug: str, fp: list, cfg: SynthesisConfig | FidelityConfig, seed: int) -> Path:
    """The one-step ensemble of (data, size, seed): one model, trained once per run root and shared by the
    guards, the fidelity check and refreshed sets (reference_ensemble checks what it loads)."""
    return root / "ensembles" / f"{slug}-{_digest(fp, cfg.ensemble_members, cfg.ensemble_steps, seed)}"


LATER_KNOBS = ("noise_level", "return_filter")  # synthesis knobs of issue #27; at their defaults they are off


def _synthetic_stage(cfg: RunConfig, wm_dir: Path, fp: list, slug: str, root: Path,
                     times: dict) -> tuple[Path, dict]:
    """Synthesise (or reuse) the transitions and check (or reuse) their fidelity."""
    # the oracle's set is the model's answered by the simulator (_oracle_stage): this file holds the model's
    syn = dataclasses.replace(cfg.synthesis, labels="model") if cfg.synthesis.labels == "oracle" else cfg.synthesis
    # later sets are made in memory; the pipeline's own fields are set below
    unused = ("ensemble_members", "ensemble_steps") if not guarded(syn) else ()  # no guard: no ensemble
    # knobs added after sets were first keyed count only when set, so earlier sets keep their keys
    unused += tuple(k for k in LATER_KNOBS if getattr(syn, k) == getattr(SynthesisConfig, k))
    first_set = {k: v for k, v in dataclasses.asdict(syn).items()
                 if k not in ("refresh_every", "threads", *unused, *PIPELINE_SETS["synthesis"])}
    syn_path = root / "synthetic" / f"{slug}-{_digest(str(wm_dir), first_set, cfg.seed)}.hdf5"
    t0 = time.perf_counter()
    if not syn_path.exists():
        run_synthesis(dataclasses.replace(syn, world_model=str(wm_dir), dataset=cfg.dataset, out=str(syn_path),
                                          seed=cfg.seed, device=cfg.device),
                      _ensemble_dir(root, slug, fp, syn, cfg.seed))
    times["synthesis"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fid_dir = syn_path.with_name(syn_path.stem + "-fidelity")
    fid_file = fid_dir / "fidelity.json"
    if fid_file.exists():
        report = json.loads(fid_file.read_text())
    else:
        fid_cfg = dataclasses.replace(cfg.fidelity, dataset=cfg.dataset, world_model=str(wm_dir), out=str(fid_dir),
                                      seed=cfg.seed)
        report, _ = run_fidelity(syn_path, fid_cfg, _ensemble_dir(root, slug, fp, fid_cfg, cfg.seed))
    times["fidelity"] = time.perf_counter() - t0
    return syn_path, {"report": str(fid_file), **fidelity_headline(report)}


def _oracle_stage(synthetic_path: Path, synthetic: Dataset, times: dict) -> Dataset:
    """The oracle version of the synthetic file (cached beside it)."""
    path = synthetic_path.with_name(synthetic_path.stem + "-oracle.hdf5")
    t0 = time.perf_counter()
    if not path.exists():
        write_dataset(oracle_labels(synthetic), path)
    times["oracle"] = time.perf_counter() - t0
    return load_dataset(str(path))


def _refreshing_source(cfg: RunConfig, wm_dir: Path, dataset: Dataset, first: Dataset, ensemble_dir: Path, device):
    """DAWM's refresh schedule: set k >= 1 is synthesised in memory with seed (seed + 1) * 1000 + k."""
    world_model, idm, learned_term = load_world_model_run(wm_dir, device)
    syn = dataclasses.replace(cfg.synthesis, world_model=str(wm_dir), seed=cfg.seed, device=cfg.device)
    ensemble = guard_ensemble(syn, dataset, ensemble_dir)

    def generate(k: int) -> Transitions:
        generated = synthesize_with(syn, world_model, idm, learned_term, dataset, (cfg.seed + 1) * 1000 + k,
                                    ensemble, show_progress=False)  # labelled as syn.labels says
        return Transitions.from_dataset(generated)

    return RefreshingSource(Transitions.from_dataset(first), generate, syn.refresh_every, device, seed=cfg.seed + 1)


HEADLINE = {"state_rmse": "state_rmse", "reward_mae": "reward_mae", "term_accuracy": "term_accuracy",
            "term_false_negative_rate": "term_fn_rate", "term_false_positive_rate": "term_fp_rate"}


def fidelity_headline(report: dict) -> dict:
    """The few fidelity numbers worth printing: synthetic vs one-step-model vs real-data floor, with the
    termination error rates, the synthetic actions' spread against the data's (1 = same), the novelty of the
    synthetic (s, a) pairs (1 = as new as unseen real episodes) and their return gain (the simulator's
    discounted reward sum over a rollout minus the real segment's from the same start; > 0: better data)."""
    out = {}
    for name, key in (("synthetic", "synthetic_vs_sim"), ("ensemble", "ensemble_vs_sim"), ("real", "real_vs_sim")):
        part = report.get(key) or {}
        overall = part.get("all", part)
        out[name] = {short: overall[k] for k, short in HEADLINE.items() if overall.get(k) is not None}
    spread = (report.get("spread") or {}).get("all", {})
    if spread.get("action_spread") is not None:
        out["synthetic"]["action_spread"] = spread["action_spread"]
    novelty = (report.get("novelty") or {}).get("all", {})
    if novelty.get("novelty") is not None:
        out["synthetic"]["novelty"] = novelty["novelty"]
    achieved = (report.get("achieved_return") or {}).get("all", {})
    if achieved.get("simulator") is not None:  # what the generated pairs really earn beyond the real segments
        out["synthetic"]["return_gain"] = achieved["simulator"] - achieved["real"]
    return out
