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
def train_world_model(cfg: WorldModelConfig, dataset: Dataset | None = None) -> Path:
    """Train (or resume) the diffusion world model and its IDM; returns the run directory. `dataset`: the
    already loaded `cfg.dataset` (else it is loaded here)."""
    _check_config(cfg)
    t = _Training(cfg, dataset)
    t.resume()
    start, t0 = t.step, time.perf_counter()
    t.loop()
    t.save_outputs(final=True)
    metrics = validate(t.ema, t.idm, t.term, t.val_seg, t.val_tr, cfg)
    elapsed = time.perf_counter() - t0
    t.run.finish({"steps": t.step, "resumed_from": start, "val": metrics, "train_windows": len(t.train_seg["rtg"]),
                  "val_windows": len(t.val_seg["rtg"]), "val_episodes": len(t.val_ids),
                  "steps_per_s": round((t.step - start) / elapsed, 2) if t.step > start else None,
                  "termination": t.metadata["termination"], "rtg_scale": t.metadata["rtg_scale"]})
    return t.run.dir


class _Training:
    """One world-model run, built once from its config: the data split, the models, their optimisers and EMA,
    the run's generator; `resume`, `loop` and the checkpoints below, as the agents' trainer is split."""

    def __init__(self, cfg: WorldModelConfig, ds: Dataset | None = None):
        self.cfg = cfg
        self.device = device = prepare(cfg.device, cfg.threads, cfg.seed)
        if cfg.compile == "cuda-graph":
            require_cuda(device, "world model")
        self.dtype = resolve_precision(cfg.precision, device)
        ds = load_dataset(cfg.dataset) if ds is None else ds
        spec = get_env_spec(ds.env_id or "")
        if cfg.termination == "rule" and spec is None:
            raise DawmError(f"--termination rule: no declared termination rule for env '{ds.env_id}' "
                            "(use auto/learned)")
        learn_termination = cfg.termination == "learned" or (cfg.termination == "auto" and spec is None)
        self.run = Run(default_run_dir(cfg, ds), cfg)
        self.val_ids = split_episodes(ds, cfg.val_fraction, cfg.seed)
        train_ds = ds.select_episodes(np.setdiff1d(np.arange(ds.n_episodes), self.val_ids))
        val_ds = ds.select_episodes(self.val_ids)
        self.train_seg, self.val_seg = (segment_tensors(d, cfg.window, cfg.gamma, device) for d in (train_ds, val_ds))
        self.train_tr, self.val_tr = transition_tensors(train_ds, device), transition_tensors(val_ds, device)
        if len(self.train_seg["rtg"]) == 0:
            raise DawmError(f"{ds.name}: no training window of {cfg.window} steps fits in any episode (lower --window)")
        self.model, self.idm, self.term = build_models(cfg, ds, self.train_seg, self.train_tr, learn_termination,
                                                       device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.opt = make_adam(self.model.parameters(), cfg.lr)
        self.idm_opt = make_adam(self.idm.parameters(), cfg.idm_lr)
        self.term_opt = make_adam(self.term.parameters(), cfg.idm_lr) if self.term is not None else None
        self.gen = torch.Generator(device).manual_seed(cfg.seed)
        ref = ds.ref_scores() or (None, None)
        self.metadata = {"env_id": ds.env_id, "dataset": ds.name, "source": str(cfg.dataset), "gamma": cfg.gamma,
                         "ref_min_score": ref[0], "ref_max_score": ref[1], "rtg_scale": float(self.model.rtg_scale),
                         "target_rtg": float(self.train_seg["rtg"].quantile(0.9)),
                         "termination": "learned" if self.term is not None else "rule",
                         "val_episode_ids": self.val_ids.tolist()}
        self.step = 0

    @property
    def modules(self) -> dict:
        return {"model": self.model, "ema": self.ema, "opt": self.opt, "idm": self.idm, "idm_opt": self.idm_opt,
                "term": self.term, "term_opt": self.term_opt}

    def resume(self) -> None:
        """Load the latest checkpoint, if any: every module, the generator, the step."""
        ckpt = self.run.latest_checkpoint(self.device)
        if ckpt is None:
            return
        _check_resumable(ckpt, self.model, self.run.dir)
        for key, module in self.modules.items():
            if module is not None:
                module.load_state_dict(ckpt[key])
        self.gen.set_state(ckpt["rng"].cpu())
        self.step = int(ckpt["step"])
        print(f"resuming {self.run.dir} at step {self.step}", flush=True)

    def save_outputs(self, final: bool) -> None:
        """world_model.pt (the EMA weights), idm.pt and termination.pt as a user loads them."""
        self.ema.save(self.run.dir / "world_model.pt", {**self.metadata, "step": self.step, "final": final})
        self.idm.val_episode_ids = self.val_ids
        self.idm.save(self.run.dir / "idm.pt", {**self.metadata, "step": min(self.step, self.cfg.idm_steps)})
        if self.term is not None:
            self.term.val_episode_ids = self.val_ids
            self.term.save(self.run.dir / "termination.pt", self.metadata)

    def checkpoint(self) -> None:
        named = [*self.model.named_parameters(), *self.idm.named_parameters()]
        bad = [n for n, p in named if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"non-finite weights ({bad[0]}) at step {self.step}; kept the last good checkpoint "
                                   f"in {self.run.ckpt_dir}")
        state = {k: m.state_dict() for k, m in self.modules.items() if m is not None}
        self.run.save_checkpoint({**state, "rng": self.gen.get_state(), "hparams": self.model.hparams}, self.step)
        self.save_outputs(final=False)

    def check(self, sums: dict[str, torch.Tensor], first: int) -> None:
        """Stop on a non-finite loss (one host sync: every step when eager, per log window when replayed)."""
        for name, value in sums.items():
            if not math.isfinite(float(value)):
                where = f"at step {self.step}" if first == self.step else f"between steps {first} and {self.step}"
                raise TrainingDiverged(f"{name} became {float(value)} {where}; the last good checkpoint "
                                       f"(step {_last_step(self.run)}) is kept in {self.run.ckpt_dir}")

    def learn(self, diffusion: bool, inverse: bool) -> dict[str, torch.Tensor]:
        """One training step of each model due at this step, on the rows in the index buffers; the (detached)
        losses."""
        cfg, out = self.cfg, {}
        with autocast(self.device, self.dtype):
            if diffusion:
                b = _batch(self.train_seg, self.seg_idx)
                loss = self.model.loss(b["states"], b["rewards"], b["action"], b["rtg"], generator=self.noise_gen)
                out["diffusion_loss"] = _update(self.model, self.opt, loss, cfg.grad_clip)
            if inverse:
                b = _batch(self.train_tr, self.tr_idx)
                out["idm_loss"] = _update(self.idm, self.idm_opt, self.idm.loss(
                    b["observations"], b["next_observations"], b["actions"]), cfg.grad_clip)
                if self.term is not None:
                    out["termination_loss"] = _update(self.term, self.term_opt, self.term.loss(
                        b["next_observations"], b["dones"]), cfg.grad_clip)
        return out

    def loop(self) -> None:
        """Train from `step` to the end, logging, validating and checkpointing on the way."""
        cfg, device = self.cfg, self.device
        graph = cfg.compile == "cuda-graph" or (cfg.compile == "auto" and device.type == "cuda")
        if graph:
            make_capturable([o for o in (self.opt, self.idm_opt, self.term_opt) if o is not None], device)
            replay = GraphReplay(device, what="world-model training step")
        # Batch rows are drawn outside the step (from the run's generator) into these index buffers,
        # which a captured step reads; eager steps also take their noise from the run's generator.
        self.seg_idx = torch.zeros(cfg.batch_size, dtype=torch.long, device=device)
        self.tr_idx = torch.zeros(cfg.idm_batch_size, dtype=torch.long, device=device)
        self.noise_gen = None if graph else self.gen
        total = max(cfg.steps, cfg.idm_steps)
        bar = progress(total, "world model", "steps", initial=self.step)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        log_start = self.step + 1
        while self.step < total:
            flags = {"diffusion": self.step < cfg.steps, "inverse": self.step < cfg.idm_steps}
            if flags["diffusion"]:
                self.seg_idx.copy_(torch.randint(len(self.train_seg["rtg"]), (cfg.batch_size,), generator=self.gen,
                                                 device=device))
            if flags["inverse"]:
                self.tr_idx.copy_(torch.randint(len(self.train_tr["rewards"]), (cfg.idm_batch_size,),
                                                generator=self.gen, device=device))
            losses = replay(self.learn, **flags) if graph else self.learn(**flags)
            self.step += 1
            step = self.step
            for name, value in losses.items():
                sums[name] = sums[name] + value if name in sums else value
                counts[name] = counts.get(name, 0) + 1
            if not graph:
                self.check(losses, step)
            if step <= cfg.steps and step % cfg.ema_every == 0:
                _ema_update(self.ema, self.model, 0.0 if step < cfg.ema_start else cfg.ema_decay)
            bar.update(1)
            if step % cfg.log_every == 0 or step == total or step % cfg.checkpoint_every == 0:
                self.check(sums, log_start)
                means = {k: float(v) / counts[k] for k, v in sums.items()}
                self.run.log(step, means, "train")
                bar.set_postfix_str(" ".join(f"{k.split('_')[0]} {v:.4f}" for k, v in means.items()))
                sums, counts, log_start = {}, {}, step + 1
            if step % cfg.eval_every == 0 or step == total:
                self.run.log(step, validate(self.ema, self.idm, self.term, self.val_seg, self.val_tr, cfg), "val")
            if step % cfg.checkpoint_every == 0 or step == total:
                self.checkpoint()
        bar.close()


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
