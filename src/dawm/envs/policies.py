"""Behaviour policies stored as plain safetensors (no pickle), run in batches with torch.

The layout is SB3 SAC's actor: MLP trunk -> (mu, log_std) -> tanh-squashed Gaussian. Storing only
the actor keeps each committed policy ~0.3 MB and loadable without Stable-Baselines3.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dawm.utils.errors import DataError

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3 SAC's clamp


class GaussianMLPPolicy(nn.Module):
    """tanh(N(mu(s), std(s))) policy; `act(obs, deterministic)` works on numpy batches."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256), meta: dict | None = None):
        super().__init__()
        layers, d = [], obs_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.trunk = nn.Sequential(*layers)
        self.mu = nn.Linear(d, act_dim)
        self.log_std = nn.Linear(d, act_dim)
        self.meta = dict(meta or {})

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.mu(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True, generator: torch.Generator | None = None) -> np.ndarray:
        mu, log_std = self(torch.as_tensor(obs, dtype=torch.float32))
        if not deterministic:
            noise = torch.randn(mu.shape, generator=generator)
            mu = mu + log_std.exp() * noise
        return torch.tanh(mu).numpy()

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        hidden = [m.out_features for m in self.trunk if isinstance(m, nn.Linear)]
        meta = {**self.meta, "hidden": hidden, "obs_dim": self.trunk[0].in_features, "act_dim": self.mu.out_features}
        save_file(tensors, str(path), metadata={"dawm": json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> "GaussianMLPPolicy":
        path = Path(path)
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                meta = json.loads((f.metadata() or {})["dawm"])
            tensors = load_file(str(path))
        except FileNotFoundError:
            raise DataError(path, None, "policy file not found") from None
        except Exception as exc:
            raise DataError(path, None, f"unreadable policy ({type(exc).__name__})",
                            "a dawm safetensors policy") from None
        policy = cls(meta["obs_dim"], meta["act_dim"], tuple(meta["hidden"]), meta)
        policy.load_state_dict(tensors)
        return policy.eval()

    @classmethod
    def from_sb3(cls, sac_policy, meta: dict | None = None) -> "GaussianMLPPolicy":
        """Copy the actor of an SB3 SAC policy (`model.policy`)."""
        actor = sac_policy.actor
        linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)]
        policy = cls(linears[0].in_features, actor.mu.out_features, tuple(m.out_features for m in linears), meta)
        with torch.no_grad():
            for dst, src in zip([m for m in policy.trunk if isinstance(m, nn.Linear)], linears):
                dst.load_state_dict(src.state_dict())
            policy.mu.load_state_dict(actor.mu.state_dict())
            policy.log_std.load_state_dict(actor.log_std.state_dict())
        return policy.eval()

