"""DAWM synthesis: real (s_t, a_t) start pairs -> generated rollouts -> complete synthetic transitions.

For each start the diffusion model generates s_{t+1..t+H} and r_{t..t+H-1} given (s_t, a_t, g);
step k of the rollout becomes the transition (s_k, a_k, r_k, s_{k+1}, done_k) with
  - a_0 = the real a_t, a_k = IDM(s_k, s_{k+1}) for k >= 1;
  - done_k = the env's declared termination rule on s_{k+1} (EnvSpec.termination), or the learned
    termination classifier for unknown envs; never an implicit "not done";
  - the rollout stops at its first done (later steps are discarded: the episode is over).
Each rollout is one episode of the returned `Dataset` (terminal at its done, else a timeout at its
end), with infos["horizon_step"] (0 = the real-action step) and infos["start_index"] (row of the
start pair in the source dataset). `Transitions.from_dataset` turns it into an agent's buffer.
"""

from __future__ import annotations

import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Literal

import numpy as np
import torch

from dawm.data.d4rl import write_dataset
from dawm.data.dataset import Dataset
from dawm.data.segments import make_segments, returns_to_go, segment_starts
from dawm.envs.collect import load_dataset
from dawm.utils.config import check_choices
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DataError, DawmError
from dawm.utils.precision import Precision, autocast, resolve_precision
from dawm.utils.progress import progress
from dawm.utils.torch_utils import prepare
from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.dynamics_ensemble import EnsembleSettings, ensemble_dir, reference_ensemble
from dawm.world_model.inverse_dynamics import InverseDynamics, TerminationClassifier
from dawm.world_model.labels import Labels, apply_labels
from dawm.world_model.samplers import Sampler


FirstStep = Literal["generated", "real", "anchored", "drop"]
FIRST_STEPS = typing.get_args(FirstStep)
StartWeighting = Literal["uniform", "return"]
REAL_STEP0 = ("real", "anchored")  # the first_step values whose step 0 is the data's own transition
# DAWM as published (and this project's defaults before issue #12's study chose `combined`): one high return-to-go
# target for every start, step 0 generated, no ensemble check; e.g. for a baseline of the method as published.
PUBLISHED_SYNTHESIS = {"target_rtg": "q0.9", "first_step": "generated", "ensemble_termination": False}


@dataclass
class SynthesisConfig(EnsembleSettings):
    """Generate a synthetic dataset with a trained world model and export it (HDF5, D4RL layout). The one-step
    ensemble (EnsembleSettings) serves the guards and the `ensemble` labels."""

    # `steps`: training updates only; `oracle`: one knob says where (r, s', done) come from
    RENAMED: ClassVar[dict[str, str]] = {"steps": "sampling_steps", "oracle": "labels oracle"}

    world_model: str = ""
    """World-model run directory (from `dawm train-world-model`) or its world_model.pt."""
    dataset: str | None = None
    """Dataset of the real (s_t, a_t) start pairs (default: the one the model was trained on)."""
    out: str = ""
    """Output HDF5 file (written atomically)."""
    n_starts: int = 100_000
    """Number of rollouts (start pairs drawn from the chosen episodes, as `start_weighting` says)."""
    starts: Literal["all", "train", "val"] = "all"
    """Episodes to draw start pairs from: 'all', 'train' or 'val' (the world model's held-out episodes)."""
    start_weighting: StartWeighting = "uniform"
    """How start pairs are drawn: 'uniform' over the steps (the data's own mix), or 'return' (each step with
    probability proportional to its episode's return rank, with replacement: the synthetic data leans towards the
    better episodes of a mixed dataset, as return-weighted sampling does for the real data in Hong et al. 2023)."""
    ensemble_termination: bool = True
    """Also end a rollout where the env's termination rule fires on a one-step model ensemble's s' for the
    same (s, a) (trained on the real data; dawm.world_model.guards): the diffusion model alone misses about
    half of the falls (docs/results.md)."""
    disagreement_quantile: float = 0.0
    """Drop a step, and the rest of its rollout, where the one-step ensemble's members disagree more than this
    quantile of their disagreement on real transitions (e.g. 0.99); 0 = off."""
    consistency_quantile: float = 0.0
    """Drop a step, and the rest of its rollout, where the generated s' is further from the one-step ensemble's s'
    for the same (s, a) than this quantile of the ensemble's own error on real transitions (e.g. 0.9): the IDM's
    action does not explain the generated state; terminal steps are kept (s' is not used there); 0 = off."""
    return_filter: bool = False
    """Keep of each rollout only its longest prefix whose discounted return, judged by the one-step ensemble's
    rewards for its (s, a), beats the real segment's from the same start (DiffStitch's criterion; with a target
    above each start's own return, the generated data is then better than the behaviour data where kept;
    dawm.world_model.guards.return_filter)."""
    labels: Labels = "model"
    """Where each generated step's (r, s', done) comes from: the diffusion model ('model', DAWM), the one-step
    ensemble's answer for the same (s, a) ('ensemble': the model and the IDM only propose the pairs; a departure
    from the paper, measured in docs/results.md), or the simulator's ('oracle': a DIAGNOSTIC bound, not a method;
    dawm.world_model.labels). `dawm run` makes the set once with the model's answers and answers it again beside
    it, so runs that differ only here train on the same pairs."""
    first_step: FirstStep = "real"
    """Step 0 of each rollout (the real s_t, a_t): the dataset's own r_t, s_{t+1} ('real': known, and the
    model's is the least accurate step), the same with the generated steps conditioned on them too ('anchored':
    in-painted, so step 1 starts from the real s_{t+1}), the model's ('generated', DAWM as published), or left
    out ('drop')."""
    target_rtg: str = "own"
    """Return-to-go condition: 'own' (each start's own RTG: one high target for every start keeps the hopper
    upright where the data falls), 'own*X' (own + (X - 1) |own|, i.e. own x X where own >= 0: return
    amplification per start, GTA's 1.3), 'own+X' (own + X x rtg_scale), a number (absolute), 'qX' (quantile of
    the data's RTGs; DAWM/DWM used a high one) or 'gX' (X x rtg_scale)."""
    horizon: int | None = None
    """Rollout horizon H: transitions per rollout, 1..T-1 (default: T - 1)."""
    noise_level: float = 1.0
    """Where sampling starts: 1 = pure noise (DAWM); below 1, the data's own window at each start noised to this
    fraction of the noise schedule and denoised towards the target (SDEdit; GTA's 0.5), so the rollout stays
    near the real future and moves towards the asked return. Starts are then those a training window may have
    (a window may run past a terminal, padded with the absorbing state, never across a timeout)."""
    guidance: float | None = None
    """Guidance weight w (default: the model's)."""
    sampler: Sampler | None = None
    """'ddpm', 'ddim' or 'dpm' (default: the model's)."""
    sampling_steps: int | None = None
    """Sampling steps N, 1..K (default: the model's)."""
    temperature: float | None = None
    """Noise scale of stochastic sampling steps (default: the model's)."""
    eta: float = 0.0
    """DDIM stochasticity (0 = deterministic DDIM)."""
    batch_size: int = 2048
    """Rollouts generated per batch (~2k keeps CPU activations in cache; larger on a GPU)."""
    seed: int = 0
    """Seed for start pairs and sampling noise."""
    device: str = "auto"
    """Torch device: 'auto', 'cpu' or 'cuda'."""
    threads: int | None = None
    """torch CPU threads (default: torch's)."""
    precision: Precision = "auto"
    """Matmul precision of sampling and the IDM: auto (bfloat16 where native; dawm.utils.precision), float32 or
    bfloat16 (autocast)."""
    overwrite: bool = False
    """Replace an existing output file."""
    refresh_every: int = 0
    """`dawm run` only: agent updates between regenerations of the synthetic set (new start pairs and rollouts
    from the same world model, in memory; the first set is the exported, fidelity-checked file). 0 = generate
    once."""

    def check(self, prefix: str = "") -> None:
        """Every option in range, before any work is done (one line naming the flag, `--{prefix}name`)."""
        check_choices(self)
        if self.refresh_every < 0:
            raise DawmError(f"--{prefix}refresh-every {self.refresh_every}: must be at least 0")
        for name in ("ensemble_members", "ensemble_steps"):
            if getattr(self, name) < 1:
                raise DawmError(f"--{prefix}{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if not 0.0 < self.noise_level <= 1.0:
            raise DawmError(f"--{prefix}noise-level {self.noise_level}: expected a fraction of the noise schedule in "
                            "(0, 1] (1 = from pure noise)")
        for name in ("disagreement_quantile", "consistency_quantile"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DawmError(f"--{prefix}{name.replace('_', '-')} {getattr(self, name)}: expected a quantile in "
                                f"[0, 1] (0 = off)")


def resolve_target_rtg(target: str | float, dataset: Dataset, gamma: float = 0.99, rtg_scale: float = 1.0,
                       starts: np.ndarray | None = None) -> float | np.ndarray:
    """Absolute RTG from a number (raw discounted return), 'qX' (X-quantile of the dataset's per-step
    return-to-go), 'gX' (DWM's normalised target: X * rtg_scale), or per start: 'own' (each start
    pair's own return-to-go in its episode), 'own*X' (own + (X - 1) * |own|: asks each start for X times its
    own future where that is positive, and as much more where it is negative; GTA's return amplification) and
    'own+X' (own + X * rtg_scale, a margin in DWM's normalised
    units). The per-start forms need `starts` (rows of `dataset`) and return an array.

    Why per start: one high target for every start asks the model for a future the data does not
    have where the real episode is about to fail (docs/methods.md: terminations and rewards)."""
    text = str(target).strip().lower()
    try:
        if text.startswith("own"):
            if starts is None:
                raise DawmError(f"--target-rtg '{target}': a per-start target needs the start pairs")
            own = returns_to_go(dataset, gamma)[np.asarray(starts)]
            if text[3:4] == "*":  # own * X would ask a start with a negative return-to-go for less
                factor = float(text[4:])
                return np.where(own >= 0, own * factor, own * (2.0 - factor))
            return own + (float(text[3:]) if text[3:] else 0.0) * rtg_scale
        if text.startswith("q"):
            q = float(text[1:])
            if not 0.0 <= q <= 1.0:
                raise ValueError
            return float(np.quantile(returns_to_go(dataset, gamma), q))
        if text.startswith("g"):
            return float(text[1:]) * rtg_scale
        return float(text)
    except ValueError:
        raise DawmError(f"--target-rtg '{target}': expected a number (absolute return-to-go), 'q0.9' (quantile "
                        f"of the dataset's returns-to-go), 'g0.8' (normalised, x rtg_scale), 'own' (each start's "
                        f"own return-to-go), 'own*1.3' (30% more than own) or 'own+0.1' (own + 0.1 x "
                        f"rtg_scale)") from None


def start_weights(dataset: Dataset, how: str) -> np.ndarray | None:
    """Per step, the unnormalised probability of drawing it as a start pair: None for 'uniform'; for 'return',
    its episode's return rank in (0, 1] (the best episode 1, ties averaged). A rank, not the return itself, so
    the weighting needs no temperature and reads the same on any reward scale."""
    if how == "uniform":
        return None
    if how != "return":
        raise DawmError(f"--start-weighting '{how}' (expected one of: {', '.join(typing.get_args(StartWeighting))})")
    from scipy.stats import rankdata

    returns = dataset.episode_returns()
    return (rankdata(returns) / len(returns))[dataset.episode_ids()]


def resolve_termination(termination: Callable | None, env_id: str | None) -> tuple[Callable, str]:
    """(done function on raw next states, its description): the world model's learned classifier when it has
    one (the user asked `--termination learned`, or the env declares no rule), else the env's declared rule.
    The one rule for synthesis and DWM's value expansion."""
    if termination is not None:
        return termination, "learned"
    spec = get_env_spec(env_id or "")
    if spec is None:
        raise DawmError(f"no declared termination rule for env '{env_id}': train the world model with "
                        "--termination learned (or auto) and synthesize from its run directory")
    return spec.termination, f"rule:{spec.name}"


@torch.no_grad()
def synthesize(world_model: TrajectoryDiffusion, idm: InverseDynamics, dataset: Dataset, cfg: SynthesisConfig, *,
               seed: int | None = None, termination: Callable[[np.ndarray], np.ndarray] | None = None,
               start_indices: np.ndarray | None = None, show_progress: bool = True) -> Dataset:
    """`cfg.n_starts` rollouts of `cfg.horizon` (<= T - 1, default T - 1) steps; see the module docstring.

    The generation knobs are `cfg`'s (SynthesisConfig: target_rtg, horizon, first_step, start_weighting,
    noise_level, the sampling knobs, batch_size, precision; its guards and labels are `synthesize_with`'s);
    `seed` overrides cfg.seed (refreshed sets), `termination` is a learned done rule (else the env's),
    `start_indices` restricts the start pairs to those rows of `dataset`."""
    seed = cfg.seed if seed is None else seed
    horizon = _horizon(world_model, dataset, cfg)
    done_fn, done_rule = resolve_termination(termination, dataset.env_id)
    knobs = world_model.sampling(cfg.guidance, cfg.sampler, cfg.sampling_steps, cfg.temperature)
    rng = np.random.default_rng(seed)
    gen = torch.Generator(world_model.alpha_bar.device).manual_seed(seed)
    successors = dataset.successors()  # (s' per row, whether it is known)
    starts = _draw_starts(dataset, world_model.window, cfg, rng, start_indices, successors[1])
    gamma = world_model.metadata.get("gamma", 0.99)
    rtg = resolve_target_rtg(cfg.target_rtg, dataset, gamma, float(world_model.rtg_scale), starts)
    t0 = time.perf_counter()
    arrays = _generate(world_model, idm, dataset, cfg, starts, rtg, horizon, knobs, gen, successors, show_progress)
    meta = SetMetadata(source=dataset, cfg=cfg, target_rtg=rtg, horizon=horizon, knobs=knobs, seed=seed,
                     termination=done_rule, seconds=time.perf_counter() - t0).metadata()
    return _rollouts(dataset, cfg.first_step, starts, arrays, successors[0], done_fn, meta)


def _horizon(world_model: TrajectoryDiffusion, dataset: Dataset, cfg: SynthesisConfig) -> int:
    """The rollout horizon H, after checking the knobs against the model and the data (one line each)."""
    if cfg.first_step not in FIRST_STEPS:
        raise DawmError(f"--first-step '{cfg.first_step}' (expected one of: {', '.join(FIRST_STEPS)})")
    T = world_model.window
    horizon = T - 1 if cfg.horizon is None else cfg.horizon
    if not 1 <= horizon <= T - 1:
        raise DawmError(f"--horizon {horizon}: must be in 1..{T - 1} (the model generates s_t..s_(t+{T - 1}), "
                        f"so at most T - 1 = {T - 1} complete transitions)")
    if dataset.obs_dim != world_model.obs_dim or dataset.act_dim != world_model.act_dim:
        raise DawmError(f"dataset '{dataset.name}' has obs/act dims {dataset.obs_dim}/{dataset.act_dim}, the world "
                        f"model {world_model.obs_dim}/{world_model.act_dim}")
    return horizon


def _draw_starts(dataset: Dataset, window: int, cfg: SynthesisConfig, rng: np.random.Generator,
                 start_indices: np.ndarray | None, known: np.ndarray) -> np.ndarray:
    """The sorted rows of the start pairs: from `start_indices` (default all), only where the knobs can use them,
    drawn as `start_weighting` says."""
    pool = np.arange(len(dataset)) if start_indices is None else np.asarray(start_indices, dtype=np.int64)
    if cfg.noise_level < 1.0:  # only starts with a real window, by the training windows' episode-end rule
        pool = np.intersect1d(pool, segment_starts(dataset, window))
        if len(pool) == 0:
            raise DawmError(f"--noise-level {cfg.noise_level}: no start in '{dataset.name}' has a whole window of "
                            f"{window}")
    if cfg.first_step in REAL_STEP0:  # only starts whose real successor is known (or unneeded: a terminal)
        pool = pool[known[pool] | dataset.terminals[pool]]
        if len(pool) == 0:
            raise DawmError(f"--first-step {cfg.first_step}: no start pair in '{dataset.name}' has a known next state")
    weights = start_weights(dataset, cfg.start_weighting)
    p = None if weights is None else weights[pool] / weights[pool].sum()  # None: uniform, the draws as before
    return np.sort(rng.choice(pool, size=cfg.n_starts, replace=p is not None or cfg.n_starts > len(pool), p=p))


def _generate(world_model, idm, dataset: Dataset, cfg: SynthesisConfig, starts: np.ndarray, rtg, horizon: int,
              knobs: dict, gen: torch.Generator, successors: tuple, show_progress: bool) -> list[np.ndarray]:
    """[s, a, r, s'] arrays (n_starts, H, ...): the model's states and rewards, the real a_t and the IDM's actions
    after it, generated batch by batch."""
    device = world_model.alpha_bar.device
    dtype = resolve_precision(cfg.precision, device)
    idm = idm.to(device).eval()
    T, n = world_model.window, len(starts)
    real_next, known = successors
    rtgs = np.broadcast_to(np.asarray(rtg, dtype=np.float32), (n,))  # one condition per start
    # the real window at each start, the sampler's starting point when noise_level < 1: built once, not per batch
    windows = make_segments(dataset, T, starts=starts) if cfg.noise_level < 1.0 else None
    parts: dict[str, list[np.ndarray]] = {"s": [], "a": [], "r": [], "s2": []}
    bar = progress(n, "synthesize", "rollouts") if show_progress else None
    for i in range(0, n, cfg.batch_size):
        idx = starts[i: i + cfg.batch_size]
        s0 = torch.as_tensor(dataset.observations[idx], device=device)
        a0 = torch.as_tensor(dataset.actions[idx], device=device)
        with autocast(device, dtype):
            g = torch.as_tensor(rtgs[i: i + cfg.batch_size].copy(), device=device)
            # a terminal start's unknown s' (never used: its rollout ends at step 0) is anchored at s_t, not NaN
            anchor = None if cfg.first_step != "anchored" else (
                np.where(known[idx, None], real_next[idx], dataset.observations[idx]), dataset.rewards[idx])
            init = None if windows is None else (windows.observations[i: i + cfg.batch_size],
                                                 windows.rewards[i: i + cfg.batch_size])
            states, rewards = world_model.sample(s0, a0, g, eta=cfg.eta, generator=gen, anchor=anchor, init=init,
                                                 noise_level=cfg.noise_level, **knobs)
            s, s2 = states[:, :horizon], states[:, 1: horizon + 1]
            obs, nxt = s[:, 1:].reshape(-1, s.shape[-1]), s2[:, 1:].reshape(-1, s.shape[-1])
            inferred = torch.cat([idm(o, n) for o, n in zip(obs.split(4096), nxt.split(4096))])  # cache-sized chunks
        a = torch.cat([a0[:, None], inferred.view(len(idx), horizon - 1, a0.shape[-1])], 1)
        for key, value in (("s", s), ("a", a), ("r", rewards[:, :horizon]), ("s2", s2)):
            parts[key].append(value.cpu().numpy())
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return [np.concatenate(parts[k]) for k in ("s", "a", "r", "s2")]


def _rollouts(dataset: Dataset, first_step: str, starts: np.ndarray, arrays: list, real_next: np.ndarray, done_fn,
              meta: dict) -> Dataset:
    """The generated arrays as a Dataset of rollouts: step 0 as `first_step` says, each cut at its first done."""
    s, a, r, s2 = arrays
    n, horizon = r.shape
    real_first = first_step in REAL_STEP0
    if real_first:
        r[:, 0], s2[:, 0] = dataset.rewards[starts], real_next[starts]
    done = np.asarray(done_fn(s2.reshape(-1, s2.shape[-1])), dtype=bool).reshape(n, horizon)
    if real_first:
        done[:, 0] = dataset.terminals[starts]
    keep = (np.cumsum(done, 1) - done) == 0  # nothing after a rollout's first done
    if first_step == "drop":
        keep[:, 0] = False
    last = np.zeros_like(keep)
    last[:, -1] = True
    return Dataset(
        observations=s[keep], actions=a[keep], rewards=r[keep], next_observations=s2[keep],
        terminals=(done & keep)[keep], timeouts=(last & ~done)[keep],
        infos={"horizon_step": np.broadcast_to(np.arange(horizon), keep.shape)[keep].astype(np.int64),
               "start_index": np.broadcast_to(starts[:, None], keep.shape)[keep].astype(np.int64)},
        metadata=meta)


@dataclass(frozen=True)
class SetMetadata:
    """How a synthetic set was made: what its file's metadata group records (`metadata()`)."""

    source: Dataset
    cfg: SynthesisConfig
    target_rtg: float | np.ndarray
    horizon: int
    knobs: dict
    seed: int
    termination: str
    seconds: float

    def metadata(self) -> dict:
        source, cfg, knobs = self.source, self.cfg, self.knobs
        meta = {k: source.metadata[k] for k in ("env_id", "level") if source.metadata.get(k) is not None}
        ref = source.ref_scores()
        if ref is not None:
            meta.update(ref_min_score=float(ref[0]), ref_max_score=float(ref[1]))
        meta.update(name=f"{source.name}-dawm-synthetic", source_dataset=source.name, synthetic=True,
                    world_model=str(cfg.world_model or ""), target_rtg=float(np.mean(self.target_rtg)),
                    target_rtg_spec=str(cfg.target_rtg), horizon=self.horizon, guidance=knobs["guidance"],
                    sampler=knobs["sampler"], temperature=knobs["temperature"],
                    sampling_steps=int(knobs["sampling_steps"]), n_starts=int(cfg.n_starts), seed=int(self.seed),
                    termination=self.termination, generation_seconds=round(self.seconds, 3),
                    noise_level=float(cfg.noise_level))
        return meta


def load_world_model_run(path: str | Path, device: str | torch.device = "cpu"):
    """(world model, IDM, termination classifier or None) from a run directory or its world_model.pt."""
    path = Path(path)
    run_dir = path.parent if path.suffix == ".pt" else path
    wm_file = path if path.suffix == ".pt" else path / "world_model.pt"
    if not wm_file.exists():
        raise DataError(wm_file, None, "not found", "a world-model run directory (from `dawm train-world-model`)")
    wm = TrajectoryDiffusion.load(wm_file, device)
    idm = InverseDynamics.load(run_dir / "idm.pt", device)
    term_file = run_dir / "termination.pt"
    term = TerminationClassifier.load(term_file, device) if term_file.exists() else None
    return wm, idm, term


def start_pool(cfg: SynthesisConfig, wm: TrajectoryDiffusion, dataset: Dataset) -> np.ndarray | None:
    """The rows of `dataset` start pairs may be drawn from, as `cfg.starts` says (None: all)."""
    if cfg.starts == "all":
        return None
    val = np.isin(dataset.episode_ids(), np.asarray(wm.metadata.get("val_episode_ids", []), dtype=np.int64))
    pool = np.flatnonzero(val if cfg.starts == "val" else ~val)
    if len(pool) == 0:
        raise DawmError(f"--starts {cfg.starts}: the world model's split leaves no such episodes")
    return pool


def run_synthesis(cfg: SynthesisConfig) -> tuple[Path, Dataset]:
    """`dawm synthesize`: load the run and the dataset, synthesize, write `cfg.out`; returns (path, synthetic
    dataset). The guards' ensemble is trained in (or reused from) the output's folder (`ensemble_dir`)."""
    if not cfg.world_model or not cfg.out:
        raise DawmError("--world-model and --out are required")
    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise DataError(out, None, "already exists", "a new path, or --overwrite")
    cfg.check()
    wm, idm, term = load_world_model_run(cfg.world_model, prepare(cfg.device, cfg.threads, None))
    source = cfg.dataset or wm.metadata.get("source", "")
    if not source:
        raise DawmError("--dataset is required (the world model does not record its training dataset)")
    dataset = load_dataset(source)
    synthetic = synthesize_with(cfg, wm, idm, term, dataset, cfg.seed, guard_ensemble(cfg, dataset, out.parent),
                                start_indices=start_pool(cfg, wm, dataset))
    return write_dataset(synthetic, out, overwrite=cfg.overwrite), synthetic


def guarded(cfg: SynthesisConfig) -> bool:
    """Whether `cfg` needs the one-step ensemble (a guard or its labels)."""
    return (cfg.ensemble_termination or cfg.disagreement_quantile > 0.0 or cfg.consistency_quantile > 0.0
            or cfg.return_filter or cfg.labels == "ensemble")


def guard_ensemble(cfg: SynthesisConfig, dataset: Dataset, base: Path):
    """The one-step ensemble the guards of `cfg` need (trained on `dataset` under `base`, or reused from there:
    `ensemble_dir`), or None when no guard is on."""
    if not guarded(cfg):
        return None
    # on the synthesis device: the guards' ensemble is small, but on a GPU run it need not hold up the CPU
    return reference_ensemble(dataset, ensemble_dir(base, dataset, cfg, cfg.seed),
                              cfg.ensemble_config(cfg.seed, cfg.device))[0]


def synthesize_with(cfg: SynthesisConfig, wm: TrajectoryDiffusion, idm: InverseDynamics,
                    term: TerminationClassifier | None, dataset: Dataset, seed: int, ensemble=None, **kw) -> Dataset:
    """`synthesize` with the generation knobs of `cfg`, then its guards (dawm.world_model.guards) and its labels
    (dawm.world_model.labels): the one place that maps the config onto the calls."""
    cfg.check()
    termination = term.predict if term is not None else None
    synthetic = synthesize(wm, idm, dataset, cfg, seed=seed, termination=termination, **kw)
    real_first_step = cfg.first_step in REAL_STEP0
    if guarded(cfg):
        if ensemble is None:
            raise DawmError("--ensemble-termination / --disagreement-quantile / --consistency-quantile / "
                            "--return-filter / --labels ensemble need a one-step ensemble (guard_ensemble)")
        from dawm.world_model.guards import guard, return_filter

        done_fn, _ = resolve_termination(termination, dataset.env_id)
        synthetic = guard(synthetic, ensemble, dataset, done_fn, ensemble_termination=cfg.ensemble_termination,
                          disagreement_quantile=cfg.disagreement_quantile,
                          consistency_quantile=cfg.consistency_quantile, real_first_step=real_first_step, seed=seed)
        if cfg.return_filter:
            synthetic = return_filter(synthetic, ensemble, dataset, float(wm.metadata.get("gamma", 0.99)),
                                      real_first_step=real_first_step)
    return answer_with(cfg, synthetic, ensemble, termination, dataset.env_id)


def answer_with(cfg: SynthesisConfig, synthetic: Dataset, ensemble=None, termination: Callable | None = None,
                env_id: str | None = None) -> Dataset:
    """`synthetic` (the model's answers) answered as `cfg.labels` says; `termination` and `env_id` give the rule
    the ensemble's next states are judged by (`resolve_termination`)."""
    done_fn = resolve_termination(termination, env_id)[0] if cfg.labels == "ensemble" else None
    return apply_labels(synthetic, cfg.labels, ensemble, done_fn, cfg.first_step in REAL_STEP0)
