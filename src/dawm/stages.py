"""The stages of `dawm run`, each an object built once from its config and the inputs handed to it (d3rlpy's
config -> build -> run). A stage declares the fields of its config that the pipeline sets (`SETS`), names its
artefact by a hash of everything that determines it (so unchanged inputs reuse it and an interrupted stage resumes),
and `get()` reuses the artefact or makes it:

    WorldModelStage  <root>/world_model/<dataset>-<key>/               world model + IDM, loaded once per run
    SynthesisStage   <root>/synthetic/<dataset>-<key>.hdf5             the generated set (the model's answers), and
                     <root>/synthetic/<dataset>-<key>-<labels>.hdf5    other answers to its (s, a); the agent's
                                                                       synthetic batches come from one (refreshed in
                                                                       memory)
    FidelityStage    <root>/synthetic/<dataset>-<key>-fidelity/        the exported set's fidelity report
    DWMStage         (in memory)                                       DWM's value-expansion target and rollout pool
    AgentStage       <root>/agents/<method>-<dataset>-seed<k>-<key>/   the agent run

and, shared by synthesis and fidelity, <root>/ensembles/<dataset>-<key>/: the one-step ensemble (guards, labels,
the fidelity reference; dynamics_ensemble.ensemble_dir).

The keys are those the pipeline used before the stages were objects, so existing roots are reused.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dawm.agents.batch_sources import BatchSource, RefreshingSource, TransitionBuffer
from dawm.agents.trainer import TrainAgentConfig, train_agent
from dawm.agents.value_expansion import DiffusionMVE, RolloutPool
from dawm.data.d4rl import write_dataset
from dawm.data.dataset import Dataset
from dawm.data.registry import slug
from dawm.data.transitions import Transitions
from dawm.envs.collect import load_dataset
from dawm.utils.runs import digest, exclusive
from dawm.utils.torch_utils import resolve_device, set_threads
from dawm.world_model.config import WorldModelConfig
from dawm.world_model.fidelity import FidelityConfig
from dawm.world_model.fidelity_outputs import check_fidelity
from dawm.world_model.synthesis import (SynthesisConfig, answer_with, guard_ensemble, guarded, load_world_model_run,
                                        resolve_termination, start_pool, synthesize_with)
from dawm.world_model.trainer import train_world_model


@dataclass
class Inputs:
    """What every stage of one run shares, loaded once: the dataset (`name`: as the user gave it, a name or a path,
    which the stage configs record; `dataset`: loaded), the run root and the device setting; `times` collects each
    stage's seconds (summed over seeds)."""

    name: str
    dataset: Dataset
    root: Path
    device: str
    times: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fingerprint = self.dataset.fingerprint()
        self.slug = slug(self.dataset.name)

    @contextmanager
    def timed(self, stage: str):
        t0 = time.perf_counter()
        yield
        self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0


class WorldModelStage:
    """The diffusion world model and the IDM of one seed."""

    SETS = {"dataset": "--dataset", "out": "--root", "seed": "--seed / --world-model-seed", "device": "--device"}

    def __init__(self, cfg: WorldModelConfig, inputs: Inputs, seed: int):
        self.inputs = inputs
        self.config = replace(cfg, dataset=inputs.name, seed=seed, device=inputs.device, out=None)
        self.key = digest(inputs.fingerprint, asdict(self.config))
        # the same config with seed 0: world models that differ only in their seed share a recipe (records)
        self.recipe = digest(inputs.fingerprint, asdict(replace(self.config, seed=0)))
        self.dir = inputs.root / "world_model" / f"{inputs.slug}-{self.key}"
        self._models = None

    def get(self) -> Path:
        """Train the world model and IDM, or reuse the finished run with the same inputs."""
        with self.inputs.timed("world_model"), exclusive(self.dir):
            if not (self.dir / "summary.json").exists():
                train_world_model(replace(self.config, out=str(self.dir)), self.inputs.dataset)
        return self.dir

    def models(self):
        """(world model, IDM, termination classifier or None), loaded once on the run's device (the load is timed
        with the stage that first needs it)."""
        if self._models is None:
            if not (self.dir / "summary.json").exists():
                self.get()
            self._models = load_world_model_run(self.dir, resolve_device(self.inputs.device))
        return self._models

    def release(self) -> None:
        """Let the loaded models go (e.g. before the agent trains, where nothing needs them)."""
        self._models = None


SYNTHETIC_STREAM = 1 << 31  # the synthetic batches' generator seeds start here (the real ones at the agent seed)


class SynthesisStage:
    """One seed's synthetic set: generated once and exported; the agent's synthetic batches come from it, or with
    `refresh_every` from fresh sets of the same world model (set j >= 1 made in memory with seed
    (seed + 1) * 1000 + j). The set is generated and keyed with the model's own answers whatever `labels` says, and
    other answers to its (s, a) are cached beside it, so runs that differ only in `labels` train on the same pairs.
    With `labels: ensemble` the exported set is the answered one (the method's data); with `labels: oracle` it is
    the model's (the diagnostic's agent alone sees the simulator's answers)."""

    SETS = {"world_model": "--root", "dataset": "--dataset", "out": "--root", "seed": "--seed", "device": "--device"}
    LATER_KNOBS = ("noise_level", "return_filter")  # added after sets were first keyed: counted only when set

    def __init__(self, cfg: SynthesisConfig, world_model: WorldModelStage, inputs: Inputs, seed: int):
        self.inputs, self.world_model, self.refresh_every = inputs, world_model, cfg.refresh_every
        self.labelled = replace(cfg, world_model=str(world_model.dir), dataset=inputs.name, seed=seed,
                                device=inputs.device)
        self.config = replace(self.labelled, labels="model")
        unused = ("ensemble_members", "ensemble_steps") if not guarded(self.config) else ()  # no guard: no ensemble
        unused += tuple(k for k in self.LATER_KNOBS if getattr(self.config, k) == getattr(SynthesisConfig, k))
        # the schedule and the threads do not change the exported set
        keyed = {k: v for k, v in asdict(self.config).items()
                 if k not in ("refresh_every", "threads", *unused, *self.SETS)}
        self.path = inputs.root / "synthetic" / f"{inputs.slug}-{digest(str(world_model.dir), keyed, seed)}.hdf5"
        labels = self.labelled.labels
        self.answered = self.path if labels == "model" else self.path.with_name(f"{self.path.stem}-{labels}.hdf5")
        self.exported = self.answered if labels == "ensemble" else self.path
        self._ensemble = None

    def ensemble(self):
        """The one-step ensemble of the guards and the `ensemble` labels (or None), trained once under the run root."""
        if self._ensemble is None:
            self._ensemble = guard_ensemble(self.labelled, self.inputs.dataset, self.inputs.root)
        return self._ensemble

    def get(self) -> tuple[Dataset, Dataset]:
        """(the exported set, the agent's set): the files', made here if missing."""
        with self.inputs.timed("synthesis"):
            if self.path.exists():
                generated = load_dataset(str(self.path))
            else:
                wm, idm, term = self.world_model.models()
                set_threads(self.config.threads)
                data = self.inputs.dataset
                generated = synthesize_with(self.config, wm, idm, term, data, self.config.seed, self.ensemble(),
                                            start_indices=start_pool(self.config, wm, data))
                write_dataset(generated, self.path)
        answered = self._answer(generated)
        return (answered if self.exported == self.answered else generated), answered

    def _answer(self, generated: Dataset) -> Dataset:
        if self.answered == self.path:
            return generated
        with self.inputs.timed(self.labelled.labels):
            if self.answered.exists():
                return load_dataset(str(self.answered))
            ensemble, term = None, None
            if self.labelled.labels == "ensemble":  # its next states are judged by the run's termination rule
                ensemble, term = self.ensemble(), self.world_model.models()[2]
            answered = answer_with(self.labelled, generated, ensemble, term.predict if term else None,
                                   self.inputs.dataset.env_id)
            write_dataset(answered, self.answered)
            return answered

    def source(self, synthetic: Dataset) -> BatchSource:
        """The agent's synthetic batches: `synthetic` (the agent's set), then fresh sets every `refresh_every`."""
        device, seed = resolve_device(self.inputs.device), self.config.seed
        # a stream apart from the real batches' (agent seed k samples real rows with seed k): with seed + 1 here,
        # seed k's synthetic draws reused seed k + 1's real ones (2026-12-07; SYNTHETIC_STREAM + seed since)
        stream = SYNTHETIC_STREAM + seed
        first = Transitions.from_dataset(synthetic)
        if self.refresh_every <= 0:
            return TransitionBuffer(first, device, seed=stream)
        wm, idm, term = self.world_model.models()
        pool = start_pool(self.labelled, wm, self.inputs.dataset)  # the first set's episodes (before 2026-12-07: all)

        def generate(j: int) -> Transitions:
            return Transitions.from_dataset(synthesize_with(  # labelled as configured, the oracle's too
                self.labelled, wm, idm, term, self.inputs.dataset, (seed + 1) * 1000 + j, self.ensemble(),
                start_indices=pool, show_progress=False))

        return RefreshingSource(first, generate, self.refresh_every, device, seed=stream)


class FidelityStage:
    """The fidelity check of one exported set (beside it), against the simulator and the one-step ensemble."""

    SETS = {"dataset": "--dataset", "world_model": "--root", "out": "--root", "seed": "--seed"}

    def __init__(self, cfg: FidelityConfig, synthesis: SynthesisStage, inputs: Inputs):
        self.inputs, self.synthesis = inputs, synthesis
        self.dir = synthesis.exported.with_name(synthesis.exported.stem + "-fidelity")
        self.config = replace(cfg, dataset=inputs.name, world_model=str(synthesis.world_model.dir), out=str(self.dir),
                              seed=synthesis.config.seed)

    def get(self, exported: Dataset) -> dict:
        """The report's headline (`fidelity_headline`) and its path; measured here on the in-memory set if new."""
        report_file = self.dir / "fidelity.json"
        with self.inputs.timed("fidelity"):
            if report_file.exists():
                report = json.loads(report_file.read_text())
            else:
                idm = self.synthesis.world_model.models()[1]  # on the run's device (before 2026-12-07: the CPU)
                report = check_fidelity(exported, self.synthesis.exported, self.inputs.dataset, self.config, self.dir,
                                        self.inputs.root, idm)
        return {"report": str(report_file), **fidelity_headline(report)}


@dataclass(frozen=True)
class DWMStage:
    """DWM's value expansion (Diffusion-MVE) on one world model: the critic target and the rollout pool."""

    world_model: WorldModelStage
    horizon: int
    pool_size: int
    refresh_every: int

    def inputs_key(self) -> list:
        return [str(self.world_model.dir), self.horizon, self.pool_size, self.refresh_every]

    def build(self):
        """(target_fn, real): the agent's critic target and the wrapper of its real batches."""
        world_model, _, learned = self.world_model.models()
        env_id = self.world_model.inputs.dataset.env_id
        termination, _ = resolve_termination(learned.predict if learned else None, env_id)
        target_fn = DiffusionMVE(world_model, self.horizon, termination)
        return target_fn, lambda buffer: RolloutPool(buffer, target_fn, self.pool_size, self.refresh_every)


class AgentStage:
    """One agent run (TD3+BC or IQL; `seeds` of them vectorised), on the real data and whatever the stages before
    it hand down; `inputs_key` names what those are (part of its key)."""

    SETS = {"algo": "--method", "dataset": "--dataset", "seed": "--seed", "device": "--device", "run_dir": "--root",
            "synthetic_ratio": "--synthetic-ratio"}

    def __init__(self, cfg: TrainAgentConfig, method: str, inputs: Inputs, seed: int, synthetic_ratio: float | None,
                 inputs_key: list | None = None):
        self.inputs = inputs
        # the ratio means nothing without synthetic data: plain runs hash alike, with the value every plain run
        # was keyed with before the default became 0.25 (so their cached agents stay valid)
        config = replace(cfg, algo=method.split("-")[-1], dataset=inputs.name, seed=seed, device=inputs.device,
                         synthetic_ratio=0.5 if synthetic_ratio is None else synthetic_ratio)
        key = digest(inputs.fingerprint, asdict(replace(config, run_dir=None)), inputs_key)
        self.config = replace(config, run_dir=str(inputs.root / "agents" / f"{method}-{inputs.slug}-seed{seed}-{key}"))

    def run(self, synthetic: BatchSource | list[BatchSource] | None = None, dwm: DWMStage | None = None) -> dict:
        target_fn, real = dwm.build() if dwm is not None else (None, None)
        with self.inputs.timed("agent"):
            return train_agent(self.config, synthetic=synthetic, target_fn=target_fn, dataset=self.inputs.dataset,
                               real=real)


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
