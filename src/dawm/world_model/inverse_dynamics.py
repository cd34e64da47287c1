"""Small models of real transitions that turn generated state sequences into full transitions.

`InverseDynamics`: a_k = IDM(s_k, s_{k+1}), an MLP on standardised (s, s') with a tanh output
scaled to the action range seen in the data (Decision Diffuser / CleanDiffuser style), trained
with MSE on real transitions. DAWM labels every generated step k >= 1 with it.
`TerminationClassifier`: p(done | s'), for environments without a declared termination rule;
trained with binary cross-entropy on real transitions.

Both save to a weights_only-loadable file that also records the held-out episodes
(`val_episode_ids`) they were not trained on, so evaluations can use the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dawm.data.normalization import Normalizer
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.errors import DataError


def relu_mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))


class _TransitionModel(nn.Module):
    """Shared persistence and batched numpy inference."""

    FORMAT = ""

    def __init__(self, **hparams):
        super().__init__()
        self.hparams = hparams
        self.val_episode_ids = np.zeros(0, dtype=np.int64)
        self.metadata: dict = {}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        if metadata is not None:
            self.metadata = metadata
        return save_checkpoint(path, {"format": self.FORMAT, "hparams": self.hparams, "state_dict": self.state_dict(),
                                      "val_episode_ids": torch.as_tensor(self.val_episode_ids, dtype=torch.long),
                                      "metadata": self.metadata})

    @classmethod
    def load(cls, path: str | Path, map_location="cpu"):
        ckpt = load_checkpoint(path, map_location)
        if ckpt.get("format") != cls.FORMAT:
            raise DataError(path, "format", f"got {ckpt.get('format')!r}", f"'{cls.FORMAT}'")
        hp = {k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["hparams"].items()}
        model = cls(**hp)
        model.load_state_dict(ckpt["state_dict"])
        model.val_episode_ids = ckpt["val_episode_ids"].cpu().numpy()
        model.metadata = ckpt.get("metadata", {})
        return model.eval()

    @torch.inference_mode()
    def _batched(self, fn, *arrays: np.ndarray, batch_size: int = 65_536) -> np.ndarray:
        out = []
        for i in range(0, len(arrays[0]), batch_size):
            ts = [torch.as_tensor(np.asarray(a[i: i + batch_size]), dtype=torch.float32, device=self.device)
                  for a in arrays]
            out.append(fn(*ts).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, *self._out_shape), dtype=np.float32)


class InverseDynamics(_TransitionModel):
    FORMAT = "dawm-idm/1"

    @property
    def _out_shape(self) -> tuple[int, ...]:
        return (self.hparams["act_dim"],)

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (512, 512)):
        super().__init__(obs_dim=obs_dim, act_dim=act_dim, hidden=list(hidden))
        self.state_norm = Normalizer.identity(obs_dim)
        self.register_buffer("action_low", -torch.ones(act_dim))
        self.register_buffer("action_high", torch.ones(act_dim))
        self.net = relu_mlp(2 * obs_dim, tuple(hidden), act_dim)

    def fit_normalizers(self, observations: np.ndarray, actions: np.ndarray) -> None:
        """Standardise states by the data's statistics; bound actions by the data's range."""
        self.state_norm = Normalizer.fit(observations).to(self.action_low.device)
        self.action_low.copy_(torch.as_tensor(actions.min(0)))
        self.action_high.copy_(torch.as_tensor(actions.max(0)))

    def forward(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Raw (B, obs_dim) s, s' -> raw (B, act_dim) action inside [action_low, action_high]."""
        h = self.net(torch.cat([self.state_norm.normalize(obs), self.state_norm.normalize(next_obs)], -1)).float()
        half = (self.action_high - self.action_low).clamp(min=1e-6) / 2
        return self.action_low + half * (torch.tanh(h) + 1)

    def loss(self, obs, next_obs, actions) -> torch.Tensor:
        return F.mse_loss(self(obs, next_obs), actions)

    def predict(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Actions (N, act_dim) in raw units for raw (N, obs_dim) states and next states."""
        return self._batched(self.forward, obs, next_obs).reshape(len(obs), -1)


class TerminationClassifier(_TransitionModel):
    FORMAT = "dawm-termination/1"
    _out_shape = ()

    def __init__(self, obs_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__(obs_dim=obs_dim, hidden=list(hidden))
        self.state_norm = Normalizer.identity(obs_dim)
        self.net = relu_mlp(obs_dim, tuple(hidden), 1)

    def fit_normalizers(self, next_observations: np.ndarray) -> None:
        self.state_norm = Normalizer.fit(next_observations).to(next(self.parameters()).device)

    def forward(self, next_obs: torch.Tensor) -> torch.Tensor:
        """Logit of done for raw (B, obs_dim) next states."""
        return self.net(self.state_norm.normalize(next_obs))[..., 0].float()  # float32 under autocast

    def loss(self, next_obs, dones) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self(next_obs), dones)

    def predict(self, next_obs: np.ndarray) -> np.ndarray:
        """(N,) bool: done iff p(done | s') > 0.5."""
        return self._batched(lambda s: self.forward(s) > 0, next_obs).reshape(len(next_obs)).astype(bool)
