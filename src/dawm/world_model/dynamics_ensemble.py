"""The classical model-based reference: an ensemble of one-step MLP dynamics models.

Each member predicts (Δs, r) = (s' - s, r) from (s, a) as a diagonal Gaussian and is trained with
the Gaussian negative log-likelihood (the MBPO / MOPO recipe: learned, soft-bounded log-variance)
or, with ``loss="mse"``, on the mean only. Inputs and targets are standardised with statistics of
the training data. The members are stacked: every layer is one batched matmul over
(members, batch, features), so an ensemble of 5 costs about as much as one wide network.
Each member draws its own minibatches (MBPO's stand-in for bootstrapping); training stops when no
member has improved its held-out MSE for `patience` evaluations, and each member keeps its best
held-out weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dawm.data.dataset import Dataset
from dawm.data.normalization import Normalizer
from dawm.data.registry import slug
from dawm.data.transitions import Transitions
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.config import check_choices
from dawm.utils.errors import DawmError
from dawm.utils.progress import progress
from dawm.utils.runs import Run, digest, exclusive
from dawm.utils.stacked_linear import StackedLinear
from dawm.utils.torch_utils import resolve_device, set_threads


@dataclass
class EnsembleConfig:
    members: int = 5
    """Number of independently initialised models in the ensemble."""
    hidden_dim: int = 200
    """Width of every hidden layer (MBPO uses 200)."""
    n_layers: int = 4
    """Number of hidden layers (SiLU activations)."""
    loss: Literal["gaussian", "mse"] = "gaussian"
    """'gaussian': Gaussian NLL with learned variance (MBPO/MOPO); 'mse': squared error on the mean."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-5
    """AdamW weight decay."""
    batch_size: int = 256
    """Minibatch size per member."""
    max_steps: int = 5000
    """Upper bound on gradient steps (early stopping usually ends training sooner)."""
    eval_every: int = 250
    """Gradient steps between held-out evaluations."""
    patience: int = 5
    """Stop after this many evaluations in which no member improved its held-out MSE by 1%."""
    holdout_fraction: float = 0.1
    """Fraction of transitions held out for early stopping (at most 5000)."""
    seed: int = 0
    """Seed for initialisation, the held-out split and minibatches."""
    device: str = "cpu"
    """Torch device ('cpu', 'cuda', 'auto')."""
    threads: int | None = 1
    """Torch CPU threads while training (None: leave as is). These small matmuls gain little from more
    threads, and a second thread on a busy 2-core machine slowed them down many times when measured."""

    RENAMED: ClassVar[dict[str, str]] = {"cpu_threads": "threads"}

    @classmethod
    def from_saved(cls, saved: dict) -> EnsembleConfig:
        """The config saved with an ensemble by any version (old names renamed; 0 threads = leave as is)."""
        fields = {cls.RENAMED.get(k, k): v for k, v in saved.items()}
        if fields.get("threads") == 0:
            fields["threads"] = None
        return cls(**fields)


class DynamicsEnsemble(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, config: EnsembleConfig | None = None):
        super().__init__()
        self.config = cfg = config or EnsembleConfig()
        check_choices(cfg)
        self.obs_dim, self.act_dim, self.target_dim = obs_dim, act_dim, obs_dim + 1
        self.input_norm = Normalizer.identity(obs_dim + act_dim)  # fitted by train_ensemble
        self.target_norm = Normalizer.identity(self.target_dim)
        dims = [obs_dim + act_dim] + [cfg.hidden_dim] * cfg.n_layers
        self.layers = nn.ModuleList(StackedLinear((cfg.members,), i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.head = StackedLinear((cfg.members,), dims[-1], 2 * self.target_dim)
        # Soft bounds on the log-variance keep the NLL from collapsing or exploding (MBPO's trick).
        self.max_logvar = nn.Parameter(torch.full((cfg.members, 1, self.target_dim), 0.5))
        self.min_logvar = nn.Parameter(torch.full((cfg.members, 1, self.target_dim), -10.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (members, B, obs+act) -> mean and log-variance of normalised (Δs, r)."""
        for layer in self.layers:
            x = F.silu(layer(x))
        mean, logvar = self.head(x).chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean, logvar = self(x)
        if self.config.loss == "mse":
            return (mean - y).pow(2).mean()
        nll = ((mean - y).pow(2) * torch.exp(-logvar) + logvar).mean()
        return nll + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())

    def _inputs(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.input_norm.normalize(torch.cat([obs, act], -1))

    @torch.no_grad()
    def predict(self, obs: np.ndarray, act: np.ndarray, member: str | int = "mean", seed: int = 0,
                chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Raw-unit (next_obs, reward) for each (obs[i], act[i]).

        member: "mean" averages the members' means, "random" takes each row from a random member
        (MBPO-style), an int uses that member only.
        """
        device = self.head.weight.device
        rng = np.random.default_rng(seed)
        outs = []
        for start in range(0, len(obs), chunk):
            o = torch.as_tensor(np.asarray(obs[start : start + chunk], dtype=np.float32), device=device)
            a = torch.as_tensor(np.asarray(act[start : start + chunk], dtype=np.float32), device=device)
            mean, _ = self(self._inputs(o, a).expand(self.config.members, -1, -1))  # (members, B, D)
            if member == "mean":
                pred = mean.mean(0)
            elif member == "random":
                pick = torch.as_tensor(rng.integers(self.config.members, size=len(o)), device=device)
                pred = mean[pick, torch.arange(len(o), device=device)]
            else:
                pred = mean[int(member)]
            outs.append(self.target_norm.unnormalize(pred).cpu().numpy())
        out = np.concatenate(outs) if outs else np.zeros((0, self.target_dim), np.float32)
        return (np.asarray(obs, np.float32) + out[:, : self.obs_dim]).astype(np.float32), out[:, -1]

    # --- persistence (weights only) -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, {"config": asdict(self.config), "obs_dim": self.obs_dim,
                                      "act_dim": self.act_dim, "state_dict": self.state_dict()})

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "DynamicsEnsemble":
        state = load_checkpoint(path, map_location=device)
        model = cls(state["obs_dim"], state["act_dim"], EnsembleConfig.from_saved(state["config"]))
        model.load_state_dict(state["state_dict"])
        return model.to(device).eval()


def train_ensemble(obs: np.ndarray, act: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
                   config: EnsembleConfig | None = None, log=None) -> tuple[DynamicsEnsemble, dict]:
    """Fit an ensemble on real transitions; returns (model in eval mode, training summary).

    `log(step, metrics)` (e.g. `Run.log`) receives the held-out MSE at every evaluation.
    """
    cfg = config or EnsembleConfig()
    threads = torch.get_num_threads()
    set_threads(cfg.threads)
    try:
        return _train(obs, act, rewards, next_obs, cfg, log)
    finally:
        torch.set_num_threads(threads)


def _train(obs, act, rewards, next_obs, cfg: EnsembleConfig, log) -> tuple[DynamicsEnsemble, dict]:
    device = resolve_device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    x = torch.as_tensor(np.concatenate([obs, act], -1), dtype=torch.float32)
    y = torch.as_tensor(np.concatenate([next_obs - obs, np.reshape(rewards, (-1, 1))], -1), dtype=torch.float32)
    finite = torch.isfinite(x).all(-1) & torch.isfinite(y).all(-1)
    x, y = x[finite], y[finite]
    n = len(x)
    if n < 20:
        raise DawmError(f"the dynamics ensemble needs at least 20 transitions (got {n})")
    perm = torch.randperm(n, generator=gen)
    n_hold = min(max(int(cfg.holdout_fraction * n), 1), 5000)
    hold, train = perm[:n_hold], perm[n_hold:]

    model = DynamicsEnsemble(obs.shape[-1], act.shape[-1], cfg)
    model.input_norm = Normalizer.fit(x[train].numpy())
    model.target_norm = Normalizer.fit(y[train].numpy())
    model.to(device)
    xn, yn = model.input_norm.normalize(x.to(device)), model.target_norm.normalize(y.to(device))
    x_hold, y_hold = xn[hold].expand(cfg.members, -1, -1), yn[hold]
    train = train.to(device)
    # AdamW (decoupled decay, MBPO's), unfused: not make_adam, so recorded fidelity references keep their values
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def holdout_mse() -> torch.Tensor:  # (members,) in normalised target units
        with torch.no_grad():
            return (model(x_hold)[0] - y_hold).pow(2).mean(dim=(1, 2))

    best = holdout_mse()
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    stale, step, history = 0, 0, []
    bar = progress(cfg.max_steps, "dynamics ensemble", "step")
    for step in range(1, cfg.max_steps + 1):
        idx = train[torch.randint(len(train), (cfg.members, cfg.batch_size), generator=gen).to(device)]
        loss = model.loss(xn[idx], yn[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if step % cfg.eval_every and step != cfg.max_steps:
            continue
        mse = holdout_mse()
        improved = mse < best * 0.99
        if improved.any():  # keep each member's best weights: every parameter is stacked by member
            for k, v in model.named_parameters():
                best_state[k][improved] = v.detach()[improved]
            best = torch.where(improved, mse, best)
        stale = 0 if improved.any() else stale + 1
        history.append({"step": step, "loss": loss.item(), "holdout_mse": float(mse.mean())})
        bar.set_postfix_str(f"loss {loss.item():.3f} holdout mse {float(mse.mean()):.4f}")
        if log is not None:
            log(step, {"loss": loss.item(), "holdout_mse": float(mse.mean()), "best_holdout_mse": float(best.mean())})
        if stale >= cfg.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    summary = {"steps": step, "train_transitions": len(train), "holdout_transitions": n_hold,
               "holdout_mse": float(best.mean()), "holdout_mse_per_member": best.tolist(), "history": history}
    return model, summary


def train_ensemble_on_dataset(ds: Dataset, config: EnsembleConfig | None = None, log=None
                              ) -> tuple[DynamicsEnsemble, dict]:
    """`train_ensemble` on a dataset's one-step transitions (rows whose s' is unknown are left out)."""
    tr = Transitions.from_dataset(ds)
    if ds.next_observations is None:  # a terminal's successor was not recorded (Transitions puts s' = s)
        tr = tr.subset(np.flatnonzero(tr.dones < 0.5))
    return train_ensemble(tr.observations, tr.actions, tr.rewards, tr.next_observations, config, log)


@dataclass
class EnsembleSettings:
    """The one-step ensemble a stage trains on the real data, declared once for synthesis (its guards and labels)
    and the fidelity check; trained once per directory (`ensemble_dir`) and shared by both."""

    ensemble_members: int = 5
    """Members of the one-step ensemble."""
    ensemble_steps: int = 3000
    """Most training steps of the one-step ensemble (early stopping usually ends it sooner); at least 1 where
    synthesis needs the ensemble, while in the fidelity check 0 leaves the ensemble reference out."""

    def ensemble_config(self, seed: int, device: str = "cpu") -> EnsembleConfig:
        return EnsembleConfig(members=self.ensemble_members, max_steps=self.ensemble_steps, seed=seed, device=device)


def ensemble_dir(base: str | Path, dataset: Dataset, settings: EnsembleSettings, seed: int) -> Path:
    """Where the one-step ensemble of (data, size, seed) is trained, or found: <base>/ensembles/<data>-<hash>.
    The one rule for `dawm run` (base: its root), `dawm synthesize` and `dawm fidelity` (base: the synthetic
    file's folder), so the guards and the fidelity check of one set share one model."""
    key = digest(dataset.fingerprint(), settings.ensemble_members, settings.ensemble_steps, seed)
    return Path(base) / "ensembles" / f"{slug(dataset.name)}-{key}"


def reference_ensemble(ds: Dataset, run_dir: str | Path, config: EnsembleConfig | None = None
                       ) -> tuple[DynamicsEnsemble, dict]:
    """Train on `ds` in run dir `run_dir` (config.yaml, metrics.jsonl, TensorBoard, ensemble.pt,
    summary.json), or load the ensemble already there if it was trained on the same data and config."""
    cfg = config or EnsembleConfig()
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("device", "threads")}  # not the model
    run_dir, key = Path(run_dir), {"dataset": ds.name, "transitions": len(ds), **settings}
    weights, summary_path = run_dir / "ensemble.pt", run_dir / "summary.json"
    with exclusive(run_dir):
        if weights.exists() and summary_path.exists():
            previous = json.loads(summary_path.read_text())
            if previous.get("trained_on") == key:
                return DynamicsEnsemble.load(weights, str(resolve_device(cfg.device))), previous
        for stale in (summary_path, run_dir / "metrics.jsonl"):  # a different model: start the record afresh
            stale.unlink(missing_ok=True)
        run = Run(run_dir, cfg)
        model, summary = train_ensemble_on_dataset(ds, cfg, log=lambda step, m: run.log(step, m, "ensemble"))
        model.save(weights)
        summary = {k: v for k, v in summary.items() if k != "history"}
        run.finish({**summary, "trained_on": key})
    return model, {**summary, "trained_on": key}
