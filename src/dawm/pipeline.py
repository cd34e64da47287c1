"""`dawm run`: dataset -> world model + IDM -> synthetic transitions -> agent -> evaluation.

`run_pipeline` loads the dataset once and hands it down a flat sequence of stages (dawm.stages), each reused
when its artefact under `root` exists (named by a hash of everything that determines it) and resumed from its
checkpoints when interrupted:

    <root>/world_model/<dataset>-<hash>/           world model and IDM
    <root>/synthetic/<dataset>-<hash>.hdf5         synthetic transitions (D4RL layout, any library reads it)
    <root>/synthetic/<dataset>-<hash>-fidelity/    fidelity report against the simulator
    <root>/ensembles/<dataset>-<hash>/             the one-step ensemble (guards, fidelity reference)
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
import json
import multiprocessing
import sys
import time
import traceback
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dawm.agents.trainer import TrainAgentConfig
from dawm.envs.collect import load_dataset
from dawm.results.records import RECORD_SCHEMA
from dawm.results.report import write_run_report
from dawm.stages import AgentStage, DWMStage, FidelityStage, Inputs, SynthesisStage, WorldModelStage
from dawm.utils.checkpoint import write_json
from dawm.utils.config import check_choices, save_config
from dawm.utils.errors import DawmError
from dawm.utils.provenance import machine
from dawm.utils.runs import digest
from dawm.world_model.config import WorldModelConfig
from dawm.world_model.fidelity import FidelityConfig
from dawm.world_model.synthesis import SynthesisConfig

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
    """Seed of the world model stage alone (default: the agent's seed, and with --agent.seeds S each vectorised
    seed its own world model). Fixing it lets several seeds share one world model (their agents and synthetic
    sets still differ), e.g. in a CPU-budget bench."""
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


# Fields of the stage configs that `dawm run` sets itself (each stage declares them), and the flag that sets each:
# setting one under a stage (e.g. --agent.seed) would be overwritten, so it is refused with that flag's name.
STAGE_SETS = {"world_model": WorldModelStage.SETS, "synthesis": SynthesisStage.SETS, "fidelity": FidelityStage.SETS,
              "agent": AgentStage.SETS}


def check_stage_settings(cfg: RunConfig) -> None:
    """Refuse a stage field the pipeline would overwrite (one line naming the flag to use instead)."""
    for stage, fields in STAGE_SETS.items():
        given, default = getattr(cfg, stage), type(getattr(cfg, stage))()
        for name, flag in fields.items():
            if getattr(given, name) != getattr(default, name):
                raise DawmError(f"--{stage.replace('_', '-')}.{name.replace('_', '-')}: `dawm run` sets it "
                                f"itself (use {flag})")


def _check(cfg: RunConfig) -> None:
    check_choices(cfg)
    cfg.synthesis.check("synthesis.")
    check_stage_settings(cfg)
    if not 0.0 < cfg.synthetic_ratio < 1.0:
        raise DawmError(f"--synthetic-ratio {cfg.synthetic_ratio}: must be strictly between 0 and 1")
    for flag, value, low in (("--dwm-pool-size", cfg.dwm_pool_size, 0),
                             ("--dwm-refresh-every", cfg.dwm_refresh_every, 1), ("--agent.seeds", cfg.agent.seeds, 1)):
        if value < low:
            raise DawmError(f"{flag} {value}: must be at least {low}")


def run_pipeline(cfg: RunConfig) -> dict:
    """Run every stage `cfg.method` needs; returns (and writes) the summary."""
    _check(cfg)
    algo = cfg.method.split("-")[-1]
    t0 = time.perf_counter()
    dataset = load_dataset(cfg.dataset)  # the one load: every stage is handed it
    inputs = Inputs(cfg.dataset, dataset, Path(cfg.root), cfg.device, {"dataset": time.perf_counter() - t0})
    # The plain agent trains in a second process beside the world-model stages (on a 2-core machine,
    # mostly beside the single-threaded world-model training), after the dataset exists so that the
    # two never generate it at once.
    baseline = _Baseline(cfg, algo, inputs.slug) if cfg.baseline and cfg.method != algo else None
    try:
        summary = _run_stages(cfg, inputs)
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
    run_dir = inputs.root / f"{cfg.method}-{inputs.slug}-seed{cfg.seed}"
    save_config(cfg, run_dir / "config.yaml")
    summary["report"] = str(run_dir / "report.html")
    write_json(run_dir / "summary.json", summary)
    try:
        write_run_report(run_dir)
    except Exception as exc:  # noqa: BLE001 -- the run is done and recorded; `dawm report` can retry the page
        print(f"dawm: {run_dir / 'report.html'} not written ({type(exc).__name__}: {exc}); "
              f"`dawm report {run_dir}` retries it", file=sys.stderr)
    return summary


def _run_stages(cfg: RunConfig, inputs: Inputs) -> dict:
    """Every stage of `cfg.method` after loading the dataset, in order, each reused or run; returns the summary.
    The stages carry the agents' seed axis: with --agent.seeds S, seed k has its own world model (unless
    --world-model-seed fixes one), synthetic set and fidelity check, as S separate runs would."""
    # the digest tells apart datasets of one name made on different machines (collection is exact per CPU only)
    summary: dict = {"method": cfg.method, "dataset": inputs.dataset.name, "env_id": inputs.dataset.env_id,
                     "seed": cfg.seed, "dataset_digest": digest(inputs.fingerprint)}
    seeds = [cfg.seed + k for k in range(cfg.agent.seeds)]
    # DAWM: each seed's world model (one, where --world-model-seed pins it); DWM: one world model, since the
    # vectorised seeds' batches meet in one value-expansion target; the plain agents: none
    stage_seeds = seeds if cfg.method.startswith("dawm-") else seeds[:1] if cfg.method.startswith("dwm-") else []
    shared: dict[int, WorldModelStage] = {}  # seeds that share a world model load it once
    world_models = []
    for seed in stage_seeds:
        wm_seed = seed if cfg.world_model_seed is None else cfg.world_model_seed
        if wm_seed not in shared:
            shared[wm_seed] = WorldModelStage(cfg.world_model, inputs, wm_seed)
            shared[wm_seed].get()
        world_models.append(shared[wm_seed])
    synthetic, dwm, inputs_key = None, None, None
    if cfg.method.startswith("dawm-"):
        synthetic, inputs_key = _synthetic_sources(cfg, inputs, world_models, seeds, summary)
        if cfg.synthesis.refresh_every <= 0:  # the sets are made: the models need not sit beside the agent
            for wm in world_models:
                wm.release()
    elif cfg.method.startswith("dwm-"):
        dwm = DWMStage(world_models[0], cfg.dwm_horizon, cfg.dwm_pool_size, cfg.dwm_refresh_every)
        inputs_key = dwm.inputs_key()
        summary.update(world_model=str(world_models[0].dir), dwm_horizon=cfg.dwm_horizon,
                       dwm_pool_size=cfg.dwm_pool_size, dwm_refresh_every=cfg.dwm_refresh_every)
    agent = AgentStage(cfg.agent, cfg.method, inputs, cfg.seed, cfg.synthetic_ratio if synthetic else None,
                       inputs_key)
    result = agent.run(synthetic, dwm)
    summary.update(score_mean=result["final_score_mean"], score_std=result["final_score_std"],
                   return_mean=result["final_return_mean"], return_std=result["final_return_std"],
                   agent_run=result["run_dir"], sample_counts=result.get("sample_counts"),
                   stage_seconds={k: round(v, 1) for k, v in inputs.times.items()},
                   # the agent run's own seconds, over every process that worked on it (stage_seconds are this
                   # call's: a reused run shows its load time there)
                   agent_run_seconds=result.get("wall_time_s"),
                   record=_record(agent.config, result, summary["dataset_digest"], world_models))
    return summary


def _synthetic_sources(cfg: RunConfig, inputs: Inputs, world_models: list[WorldModelStage], seeds: list[int],
                       summary: dict) -> tuple[list, list]:
    """Each seed's synthetic set (made or reused, fidelity-checked) as its agent's source; (sources, the agent's
    key of them). The summary names seed 0's set, and every seed's when there are several."""
    sources, prints, files = [], [], []
    for wm, seed in zip(world_models, seeds):
        synthesis = SynthesisStage(cfg.synthesis, wm, inputs, seed)
        exported, synthetic = synthesis.get()
        fidelity = FidelityStage(cfg.fidelity, synthesis, inputs).get(exported)
        sources.append(synthesis.source(synthetic))
        prints.append(synthetic.fingerprint())
        files.append({"world_model": str(wm.dir), "synthetic_file": str(synthesis.exported),
                      "synthetic_transitions": len(synthetic), "fidelity": fidelity})
    summary.update(files[0])
    if cfg.synthesis.labels == "oracle":
        summary["synthetic_source"] = "oracle (diagnostic: the simulator's r, s', done for the synthetic s, a)"
    if len(files) > 1:
        summary["per_seed_stages"] = files
    # one seed: the key every earlier run root has
    return sources, [prints[0] if len(prints) == 1 else prints, cfg.synthesis.refresh_every]


def _record(agent_cfg: TrainAgentConfig, result: dict, dataset_digest: str,
            world_models: list[WorldModelStage]) -> dict:
    """What makes this cell comparable with another (dawm.results.records), and where it was made."""
    batch = getattr(agent_cfg, agent_cfg.algo).batch_size
    record = {"schema": RECORD_SCHEMA, "dataset_digest": dataset_digest, "precision": result.get("precision"),
              "compile": result.get("compile"), "device": result.get("device"),
              "budget": {"updates": agent_cfg.steps, "batch": batch},
              "evaluation": {"every": agent_cfg.eval_every, "episodes": agent_cfg.eval_episodes},
              "agent_seeds": agent_cfg.seeds, **machine()}
    if world_models:
        first = world_models[0]
        record.update(world_model_recipe=first.recipe, world_model_key=first.key, world_model_seed=first.config.seed)
        if len({w.key for w in world_models}) > 1:  # vectorised seeds, each with its own world model
            record.update(world_model_keys=[w.key for w in world_models],
                          world_model_seeds=[w.config.seed for w in world_models])
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
