"""TD3+BC (Fujimoto & Gu 2021): TD3 whose actor loss adds behaviour cloning.

    critic:  min_phi  sum_i (Q_i(s, a) - y)^2,   y = r + gamma (1 - d) min_i Qbar_i(s', clip(pibar(s') + eps, -1, 1)),
             eps = clip(N(0, sigma^2), -c, c)
    actor:   min_theta  -lambda Q_1(s, pi(s)) + (pi(s) - a)^2,   lambda = alpha / mean|Q_1(s, pi(s))| (held constant)
             every `policy_freq` critic updates, followed by Polyak updates of all target networks.

Settings follow CORL's single-file implementation; states are normalised by the dataset's
mean / (std + 1e-3); actions are assumed to lie in [-1, 1] (D4RL locomotion). With n_seeds > 1
the agent holds that many independent agents along a leading seed axis (dawm.agents.seeds): the
same rule, every mean taken per seed (lambda included).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from dawm.agents.networks import MLP, EnsembleMLP, soft_update_
from dawm.agents.seeds import SeedAxis, backward_per_seed, batch_mean, seed_target
from dawm.agents.targets import Batch, TargetFn, one_step_target
from dawm.data.normalization import Normalizer
from dawm.data.transitions import Transitions
from dawm.utils.torch_utils import make_adam


@dataclass
class TD3BCConfig:
    alpha: float = 2.5
    """BC trade-off: actor loss = -(alpha / mean|Q|) * mean Q + MSE(pi(s), a)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target networks (updated with the actor)."""
    policy_noise: float = 0.2
    """Std of the target policy smoothing noise."""
    noise_clip: float = 0.5
    """Smoothing noise is clipped to [-noise_clip, noise_clip]."""
    policy_freq: int = 2
    """Actor and target networks are updated every `policy_freq` critic updates."""
    batch_size: int = 256
    """Transitions per gradient update."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the twin critics."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of actor and critics (ReLU)."""
    normalize_observations: bool = True
    """Normalise states by the dataset's mean and std."""
    obs_norm_eps: float = 1e-3
    """Added to the state std (keeps constant features finite)."""


class TD3BC(SeedAxis):
    """TD3+BC agent: `update(batch)` is the whole learning rule; `act(obs)` is the evaluation policy."""

    ALGO, CONFIG = "td3bc", TD3BCConfig
    _SEED_NETS = ("actor", "critic", "actor_target", "critic_target")
    _SEED_OPTS = ("actor_opt", "critic_opt")
    _TARGETS = {"actor_target": "actor", "critic_target": "critic"}

    def __init__(self, obs_dim: int, act_dim: int, cfg: TD3BCConfig | None = None,
                 obs_normalizer: Normalizer | None = None, device: str | torch.device = "cpu",
                 target_fn: TargetFn = one_step_target, n_seeds: int = 1):
        self.cfg = cfg = cfg or TD3BCConfig()
        self.obs_dim, self.act_dim, self.device, self.n_seeds = obs_dim, act_dim, torch.device(device), n_seeds
        self.actor = MLP(obs_dim, act_dim, cfg.hidden, tanh_output=True, seeds=n_seeds).to(self.device)
        self.critic = EnsembleMLP(2, obs_dim + act_dim, 1, cfg.hidden, seeds=n_seeds).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.obs_norm = (obs_normalizer or Normalizer.identity(obs_dim)).to(self.device)
        self.actor_opt = make_adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = make_adam(self.critic.parameters(), cfg.critic_lr)
        self.target_fn = target_fn
        self.step = 0  # critic updates done so far
        self._actor_params = list(self.actor.parameters())
        self._targets, self._online = self.polyak_pairs()

    @classmethod
    def from_transitions(cls, transitions: Transitions, cfg: TD3BCConfig | None = None,
                         device: str | torch.device = "cpu", target_fn: TargetFn = one_step_target,
                         n_seeds: int = 1) -> TD3BC:
        """An agent sized for, and normalising by, the given (real) transitions."""
        cfg = cfg or TD3BCConfig()
        norm = Normalizer.fit(transitions.observations, cfg.obs_norm_eps) if cfg.normalize_observations else None
        return cls(transitions.observations.shape[1], transitions.actions.shape[1], cfg, norm, device, target_fn,
                   n_seeds)

    @torch.no_grad()
    def next_value(self, next_obs: torch.Tensor) -> torch.Tensor:
        """min_i Qbar_i(s', clip(pibar(s') + clip(eps, -c, c), -1, 1)) for raw next observations."""
        s = self.obs_norm.normalize(next_obs)
        a = self.actor_target(s)
        noise = (torch.randn_like(a) * self.cfg.policy_noise).clamp_(-self.cfg.noise_clip, self.cfg.noise_clip)
        a = (a + noise).clamp_(-1.0, 1.0)
        return self.critic_target(torch.cat([s, a], -1)).squeeze(-1).amin(-2)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One TD3+BC step on a raw batch; returns detached metric tensors (no host sync), 0-dim or (S,)."""
        return self.learn(batch, **self.advance())

    def advance(self) -> dict[str, bool]:
        """Count one update (host side, never captured); returns the flags of its `learn` call."""
        self.step += 1
        return {"actor_step": self.step % self.cfg.policy_freq == 0}

    def learn(self, batch: Batch, actor_step: bool) -> dict[str, torch.Tensor]:
        """The learning rule on one batch: device work only, so it can be captured as a CUDA graph.

        Shapes carry a leading seed axis (S, ...) when n_seeds > 1 (dawm.agents.seeds).
        """
        cfg = self.cfg
        obs, actions = self.obs_norm.normalize(batch["observations"]), batch["actions"]

        # Critic: both heads regress on the shared target y (see dawm.agents.targets).
        with torch.no_grad():
            y = seed_target(self.target_fn, batch, cfg.gamma, self.next_value, 1.0, self.n_seeds)  # ([S,] B)
        q = self.critic(torch.cat([obs, actions], -1)).squeeze(-1)  # ([S,] 2, B)
        critic_loss = batch_mean((q - y.unsqueeze(-2)).square()).sum(-1)  # MSE(Q1, y) + MSE(Q2, y)
        self.critic_opt.zero_grad(set_to_none=True)
        backward_per_seed(critic_loss)
        self.critic_opt.step()
        metrics = {"critic_loss": critic_loss.detach(), "q_mean": batch_mean(q.detach(), axes=2)}

        # Actor, delayed: maximise lambda * Q1(s, pi(s)) while staying close to the data action.
        if actor_step:
            pi = self.actor(obs)
            q1 = self.critic.member(0, torch.cat([obs, pi], -1)).squeeze(-1)  # ([S,] B)
            lmbda = cfg.alpha / batch_mean(q1.abs()).detach()
            bc_loss = batch_mean((pi - actions).square(), axes=2)
            actor_loss = -lmbda * batch_mean(q1) + bc_loss
            self.actor_opt.zero_grad(set_to_none=True)
            backward_per_seed(actor_loss, inputs=self._actor_params)  # the critic's weights need no gradient
            self.actor_opt.step()
            soft_update_(self._targets, self._online, cfg.tau)  # actor and critic targets
            metrics.update(actor_loss=actor_loss.detach(), bc_loss=bc_loss.detach(), lmbda=lmbda)
        return metrics

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for raw observation(s), (obs_dim,) or (n, obs_dim); with n_seeds > 1
        one per seed, (S, act_dim) or (S, n, act_dim) (seed k alone: `seed_agent(k).act`)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        x = self.obs_norm.normalize(x)
        if self.n_seeds > 1 and x.dim() == 1:
            return self.actor(x[None])[:, 0].cpu().numpy()
        return self.actor(x).cpu().numpy()
