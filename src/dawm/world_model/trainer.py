"""`train_world_model`: the diffusion world model and the inverse dynamics model, in one resumable run.

    <run>/world_model.pt   EMA diffusion weights + normalisers + hyper-parameters (weights_only)
    <run>/idm.pt           inverse dynamics (+ val_episode_ids);  termination.pt when learned
    <run>/checkpoints/     full training state (both models, optimisers, EMA, RNG), resumable
    <run>/summary.json     final validation metrics; config.yaml, metrics.jsonl, tb/ as every run

Episodes are split once, deterministically from the seed, into training and held-out episodes;
both models train on the former and report losses on the latter. Every step does one diffusion
update (while step < steps) and one IDM update (while step < idm_steps).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from dawm.data.dataset import Dataset
from dawm.data.registry import slug
from dawm.data.segments import make_segments, returns_to_go, segment_starts
from dawm.data.transitions import Transitions
from dawm.envs.collect import load_dataset
from dawm.utils.cuda_graphs import GraphReplay, make_capturable, require_cuda
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DawmError, TrainingDiverged
from dawm.utils.precision import autocast, resolve_precision
from dawm.utils.progress import progress
from dawm.utils.runs import Run
from dawm.utils.torch_utils import make_adam, prepare
from dawm.world_model.config import SAMPLING_FIELDS, DiffusionSettings, WorldModelConfig, diffusion_settings
from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.inverse_dynamics import InverseDynamics, TerminationClassifier

__all__ = ["WorldModelConfig", "train_world_model", "split_episodes"]

# --- data ------------------------------------------------------------------------------------------
def split_episodes(ds: Dataset, val_fraction: float, seed: int) -> np.ndarray:
    """Held-out episode ids: a seeded random `val_fraction` of episodes (none if fewer than 2)."""
    n = ds.n_episodes
    n_val = min(int(math.ceil(val_fraction * n)), n - 1) if n >= 2 and val_fraction > 0 else 0
    return np.sort(np.random.default_rng(seed).permutation(n)[:n_val]).astype(np.int64)


def segment_tensors(ds: Dataset, window: int, gamma: float, device, chunk: int = 100_000) -> dict[str, torch.Tensor]:
    """What training needs of every length-T window, built chunk by chunk to bound memory:
    states (M, T, obs), rewards (M, T), action a_t (M, act), return-to-go (M,)."""
    starts, rtg = segment_starts(ds, window), returns_to_go(ds, gamma)
    parts: dict[str, list] = {"states": [], "rewards": [], "action": [], "rtg": []}
    for i in range(0, len(starts), chunk):
        seg = make_segments(ds, window, gamma, starts=starts[i: i + chunk], rtg=rtg)
        for key, value in (("states", seg.observations), ("rewards", seg.rewards), ("action", seg.actions[:, 0]),
                           ("rtg", seg.returns_to_go)):
            parts[key].append(value)
    return {k: torch.as_tensor(np.concatenate(v) if v else np.zeros((0,)), dtype=torch.float32, device=device)
            for k, v in parts.items()}


def transition_tensors(ds: Dataset, device) -> dict[str, torch.Tensor]:
    return Transitions.from_dataset(ds).to_torch(device) if len(ds) else {}


def _batch(data: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in data.items()}


# --- models ------------------------------------------------------------------------------------
def build_models(cfg: WorldModelConfig, ds: Dataset, train_seg, train_tr, learn_termination: bool, device):
    model = TrajectoryDiffusion(ds.obs_dim, ds.act_dim, **diffusion_settings(cfg))
    spec = get_env_spec(ds.env_id or "")
    rtg_scale = cfg.rtg_scale or (spec.rtg_scale if spec else float(train_seg["rtg"].abs().max().clamp(min=1e-6)))
    model.set_normalizers(train_seg["states"], train_seg["rewards"], train_seg["action"], rtg_scale)
    idm = InverseDynamics(ds.obs_dim, ds.act_dim, cfg.idm_hidden)
    idm.fit_normalizers(train_tr["observations"].cpu().numpy(), train_tr["actions"].cpu().numpy())
    term = None
    if learn_termination:
        term = TerminationClassifier(ds.obs_dim, cfg.idm_hidden)
        term.fit_normalizers(train_tr["next_observations"].cpu().numpy())
    return model.to(device), idm.to(device), term.to(device) if term is not None else None


def _check_config(cfg: WorldModelConfig) -> None:
    if not cfg.dataset:
        raise DawmError("--dataset is required (a dataset name or an HDF5 path)")
    cfg.check()  # the diffusion settings, and every choice of the config
    if not 0 <= cfg.val_fraction < 1:
        raise DawmError(f"--val-fraction {cfg.val_fraction}: must be in [0, 1)")


def default_run_dir(cfg: WorldModelConfig, ds: Dataset) -> Path:
    return Path(cfg.out or f"runs/world_model/{slug(ds.name)}-seed{cfg.seed}")


# --- training ------------------------------------------------------------------------------------
def train_world_model(cfg: WorldModelConfig) -> Path:
    """Train (or resume) the diffusion world model and its IDM; returns the run directory."""
    _check_config(cfg)
    device = prepare(cfg.device, cfg.threads, cfg.seed)
    if cfg.compile == "cuda-graph":
        require_cuda(device, "world model")
    dtype = resolve_precision(cfg.precision, device)
    ds = load_dataset(cfg.dataset)
    spec = get_env_spec(ds.env_id or "")
    if cfg.termination == "rule" and spec is None:
        raise DawmError(f"--termination rule: no declared termination rule for env '{ds.env_id}' (use auto/learned)")
    learn_termination = cfg.termination == "learned" or (cfg.termination == "auto" and spec is None)
    run = Run(default_run_dir(cfg, ds), cfg)

    val_ids = split_episodes(ds, cfg.val_fraction, cfg.seed)
    train_ds = ds.select_episodes(np.setdiff1d(np.arange(ds.n_episodes), val_ids))
    val_ds = ds.select_episodes(val_ids)
    train_seg, val_seg = (segment_tensors(d, cfg.window, cfg.gamma, device) for d in (train_ds, val_ds))
    train_tr, val_tr = transition_tensors(train_ds, device), transition_tensors(val_ds, device)
    if len(train_seg["rtg"]) == 0:
        raise DawmError(f"{ds.name}: no training window of {cfg.window} steps fits in any episode (lower --window)")

    model, idm, term = build_models(cfg, ds, train_seg, train_tr, learn_termination, device)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt, idm_opt = make_adam(model.parameters(), cfg.lr), make_adam(idm.parameters(), cfg.idm_lr)
    term_opt = make_adam(term.parameters(), cfg.idm_lr) if term is not None else None
    gen = torch.Generator(device).manual_seed(cfg.seed)
    modules = {"model": model, "ema": ema, "opt": opt, "idm": idm, "idm_opt": idm_opt, "term": term,
               "term_opt": term_opt}
    metadata = {"env_id": ds.env_id, "dataset": ds.name, "source": str(cfg.dataset), "gamma": cfg.gamma,
                "ref_min_score": (ds.ref_scores() or (None, None))[0],
                "ref_max_score": (ds.ref_scores() or (None, None))[1],
                "rtg_scale": float(model.rtg_scale), "target_rtg": float(train_seg["rtg"].quantile(0.9)),
                "termination": "learned" if term is not None else "rule", "val_episode_ids": val_ids.tolist()}

    step, total = 0, max(cfg.steps, cfg.idm_steps)
    ckpt = run.latest_checkpoint(device)
    if ckpt is not None:
        _check_resumable(ckpt, model, run.dir)
        for key, module in modules.items():
            if module is not None:
                module.load_state_dict(ckpt[key])
        gen.set_state(ckpt["rng"].cpu())
        step = int(ckpt["step"])
        print(f"resuming {run.dir} at step {step}", flush=True)

    def save_outputs(final: bool) -> None:
        ema.save(run.dir / "world_model.pt", {**metadata, "step": step, "final": final})
        idm.val_episode_ids = val_ids
        idm.save(run.dir / "idm.pt", {**metadata, "step": min(step, cfg.idm_steps)})
        if term is not None:
            term.val_episode_ids = val_ids
            term.save(run.dir / "termination.pt", metadata)

    def checkpoint() -> None:
        bad = [n for n, p in [*model.named_parameters(), *idm.named_parameters()] if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"non-finite weights ({bad[0]}) at step {step}; kept the last good checkpoint in "
                                   f"{run.ckpt_dir}")
        state = {k: m.state_dict() for k, m in modules.items() if m is not None}
        run.save_checkpoint({**state, "rng": gen.get_state(), "hparams": model.hparams}, step)
        save_outputs(final=False)

    graph = cfg.compile == "cuda-graph" or (cfg.compile == "auto" and device.type == "cuda")
    if graph:
        make_capturable([o for o in (opt, idm_opt, term_opt) if o is not None], device)
        replay = GraphReplay(device, what="world-model training step")
    # Batch rows are drawn outside the step (from the run's generator) into these index buffers,
    # which a captured step reads; eager steps also take their noise from the run's generator.
    seg_idx = torch.zeros(cfg.batch_size, dtype=torch.long, device=device)
    tr_idx = torch.zeros(cfg.idm_batch_size, dtype=torch.long, device=device)
    noise_gen = None if graph else gen

    def learn(diffusion: bool, inverse: bool) -> dict[str, torch.Tensor]:
        """One training step of each model due at this step; returns the (detached) losses."""
        with autocast(device, dtype):
            return _learn(diffusion, inverse)

    def _learn(diffusion: bool, inverse: bool) -> dict[str, torch.Tensor]:
        out = {}
        if diffusion:
            b = _batch(train_seg, seg_idx)
            out["diffusion_loss"] = _update(model, opt, model.loss(b["states"], b["rewards"], b["action"], b["rtg"],
                                                                   generator=noise_gen), cfg.grad_clip)
        if inverse:
            b = _batch(train_tr, tr_idx)
            out["idm_loss"] = _update(idm, idm_opt, idm.loss(b["observations"], b["next_observations"], b["actions"]),
                                      cfg.grad_clip)
            if term is not None:
                out["termination_loss"] = _update(term, term_opt, term.loss(b["next_observations"], b["dones"]),
                                                  cfg.grad_clip)
        return out

    def check(sums: dict[str, torch.Tensor], first: int) -> None:
        """Stop on a non-finite loss (one host sync: every step when eager, per log window when replayed)."""
        for name, value in sums.items():
            if not math.isfinite(float(value)):
                where = f"at step {step}" if first == step else f"between steps {first} and {step}"
                raise TrainingDiverged(f"{name} became {float(value)} {where}; the last good checkpoint "
                                       f"(step {_last_step(run)}) is kept in {run.ckpt_dir}")

    bar = progress(total, "world model", "steps", initial=step)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    t0, start_step, log_start = time.perf_counter(), step, step + 1
    while step < total:
        flags = {"diffusion": step < cfg.steps, "inverse": step < cfg.idm_steps}
        if flags["diffusion"]:
            seg_idx.copy_(torch.randint(len(train_seg["rtg"]), (cfg.batch_size,), generator=gen, device=device))
        if flags["inverse"]:
            tr_idx.copy_(torch.randint(len(train_tr["rewards"]), (cfg.idm_batch_size,), generator=gen, device=device))
        losses = replay(learn, **flags) if graph else learn(**flags)
        step += 1
        for name, value in losses.items():
            sums[name] = sums[name] + value if name in sums else value
            counts[name] = counts.get(name, 0) + 1
        if not graph:
            check(losses, step)
        if step <= cfg.steps and step % cfg.ema_every == 0:
            _ema_update(ema, model, 0.0 if step < cfg.ema_start else cfg.ema_decay)
        bar.update(1)
        if step % cfg.log_every == 0 or step == total or step % cfg.checkpoint_every == 0:
            check(sums, log_start)
            means = {k: float(v) / counts[k] for k, v in sums.items()}
            run.log(step, means, "train")
            bar.set_postfix_str(" ".join(f"{k.split('_')[0]} {v:.4f}" for k, v in means.items()))
            sums, counts, log_start = {}, {}, step + 1
        if step % cfg.eval_every == 0 or step == total:
            run.log(step, validate(ema, idm, term, val_seg, val_tr, cfg), "val")
        if step % cfg.checkpoint_every == 0 or step == total:
            checkpoint()
    bar.close()
    save_outputs(final=True)
    metrics = validate(ema, idm, term, val_seg, val_tr, cfg)
    elapsed = time.perf_counter() - t0
    run.finish({"steps": step, "resumed_from": start_step, "val": metrics, "train_windows": len(train_seg["rtg"]),
                "val_windows": len(val_seg["rtg"]), "val_episodes": len(val_ids),
                "steps_per_s": round((step - start_step) / elapsed, 2) if step > start_step else None,
                "termination": metadata["termination"], "rtg_scale": metadata["rtg_scale"]})
    return run.dir


def _update(module, opt, loss: torch.Tensor, grad_clip: float) -> torch.Tensor:
    """One optimiser step on `loss`, without host syncs (a non-finite loss is caught by the caller
    before anything is saved)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)  # no host sync: capturable
    opt.step()
    return loss.detach()


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """EMA of the weights (decay 0 = copy: before `ema_start`, as Diffuser); buffers are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def _last_step(run: Run) -> int | str:
    ckpt = run.ckpt_dir / "latest.pt"
    return int(torch.load(ckpt, weights_only=True)["step"]) if ckpt.exists() else "none"


def _check_resumable(ckpt: dict, model: TrajectoryDiffusion, run_dir: Path) -> None:
    saved = DiffusionSettings.from_saved(ckpt.get("hparams", {}))
    for key, value in model.hparams.items():
        old = saved.get(key)
        if key in SAMPLING_FIELDS:
            continue  # sampling defaults may change between sessions
        if old != value:
            raise DawmError(f"{run_dir}: its checkpoint was trained with {key}={old}, the config says {value} "
                            f"(use matching options or a new --out)")


@torch.no_grad()
def validate(ema, idm, term, val_seg, val_tr, cfg: WorldModelConfig) -> dict[str, float]:
    """Held-out diffusion loss (fixed noise), sampled-rollout errors, IDM action MSE/MAE, termination accuracy."""
    out: dict[str, float] = {}
    n = min(len(val_seg["rtg"]), cfg.val_size)
    if n:
        gen = torch.Generator(val_seg["rtg"].device).manual_seed(12345)  # same noise at every evaluation
        b = {k: v[:n] for k, v in val_seg.items()}
        out["diffusion_loss"] = float(ema.loss(b["states"], b["rewards"], b["action"], b["rtg"], generator=gen))
        states, rewards = ema.sample(b["states"][:, 0], b["action"], b["rtg"], generator=gen)
        err = (ema.state_norm.normalize(states) - ema.state_norm.normalize(b["states"])) ** 2
        out["next_state_mse"] = float(err[:, 1].mean())  # standardised units
        out["state_mse"] = float(err[:, 1:].mean())
        out["reward_mse"] = float(((ema.reward_norm.normalize(rewards[..., None]) -
                                    ema.reward_norm.normalize(b["rewards"][..., None])) ** 2).mean())
    if val_tr:
        m = min(len(val_tr["rewards"]), 100_000)
        pred = idm(val_tr["observations"][:m], val_tr["next_observations"][:m])
        out["idm_action_mse"] = float(((pred - val_tr["actions"][:m]) ** 2).mean())
        out["idm_action_mae"] = float((pred - val_tr["actions"][:m]).abs().mean())
        if term is not None:
            done = val_tr["dones"][:m] > 0.5
            out["termination_accuracy"] = float(((term(val_tr["next_observations"][:m]) > 0) == done).float().mean())
    return out
