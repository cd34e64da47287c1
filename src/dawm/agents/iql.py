"""IQL, Implicit Q-Learning (Kostrikov, Nair & Levine 2022): no queries of out-of-data actions.

    value:   min_psi   E |tau - 1(u < 0)| u^2,          u = min_i Qbar_i(s, a) - V(s)     (expectile tau)
    critic:  min_phi   mean_i (Q_i(s, a) - y)^2,        y = c r + gamma (1 - d) V(s')
    actor:   min_theta -E min(exp(beta u), 100) log pi(a | s)                          (advantage-weighted BC)
    target:  Qbar <- Polyak(Q, tau) after every update; actor lr follows a cosine schedule (lr_schedule_steps).

Settings follow CORL's single-file implementation: Gaussian actor with tanh mean and a
state-independent log-std (clamped to [-20, 2]), deterministic mean action at evaluation, states
normalised by mean / (std + 1e-3), locomotion rewards scaled by c = 1000 / (max - min episode return).
With n_seeds > 1 the agent holds that many independent agents along a leading seed axis
(dawm.agents.seeds): the same rule, every mean taken per seed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dawm.agents.networks import MLP, EnsembleMLP, set_lr, soft_update_
from dawm.agents.seeds import SeedAxis, backward_per_seed, batch_mean, seed_target
from dawm.agents.targets import Batch, TargetFn, one_step_target
from dawm.data.normalization import Normalizer
from dawm.data.transitions import Transitions
from dawm.utils.torch_utils import make_adam

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def expectile_loss(u: torch.Tensor, expectile: float) -> torch.Tensor:
    """|tau - 1(u < 0)| u^2, elementwise: asymmetric squares whose minimiser is the tau-expectile."""
    return torch.where(u < 0, 1.0 - expectile, expectile) * u.square()


def gaussian_nll(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """-log N(a; mean, exp(log_std)) summed over action dimensions."""
    z = (actions - mean) * torch.exp(-log_std)
    return (0.5 * z.square() + log_std + _HALF_LOG_2PI).sum(-1)


@dataclass
class IQLConfig:
    expectile: float = 0.7
    """Expectile tau of the value regression (0.5 = mean, -> 1 = max over data actions)."""
    beta: float = 3.0
    """Inverse temperature of the advantage weights exp(beta * A)."""
    max_exp_adv: float = 100.0
    """Advantage weights are clipped at this value."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target critics (every update)."""
    batch_size: int = 256
    """Transitions per gradient update."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (start of the cosine schedule)."""
    critic_lr: float = 3e-4
    """Adam learning rate of the twin Q networks."""
    value_lr: float = 3e-4
    """Adam learning rate of the value network."""
    lr_schedule_steps: int = 1_000_000
    """The actor lr decays to 0 along a cosine over this many updates, then stays 0; 0 = constant lr.
    Default: CORL's run length, 1M updates, whatever this run's length, so a short run does not
    decay to zero (docs/methods.md)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of all networks (ReLU)."""
    actor_dropout: float = 0.0
    """Dropout after each hidden layer of the actor (0 = none, as for locomotion)."""
    deterministic_actor: bool = False
    """Deterministic tanh actor with weighted MSE instead of the Gaussian log-likelihood (CORL option)."""
    normalize_observations: bool = True
    """Normalise states by the dataset's mean and std."""
    obs_norm_eps: float = 1e-3
    """Added to the state std (keeps constant features finite)."""
    normalize_reward: bool = True
    """Scale rewards by 1000 / (max - min episode return) of the real dataset (IQL, locomotion)."""


class IQL(SeedAxis):
    """IQL agent: `update(batch)` is the whole learning rule; `act(obs)` is the evaluation policy."""

    ALGO, CONFIG = "iql", IQLConfig
    _SEED_NETS = ("actor", "critic", "critic_target", "value")
    _SEED_OPTS = ("opt",)
    _SEED_TENSORS = ("log_std",)
    _SCALARS = ("reward_scale",)
    _TARGETS = {"critic_target": "critic"}

    def __init__(self, obs_dim: int, act_dim: int, cfg: IQLConfig | None = None,
                 obs_normalizer: Normalizer | None = None, reward_scale: float = 1.0,
                 device: str | torch.device = "cpu", target_fn: TargetFn = one_step_target, n_seeds: int = 1):
        self.cfg = cfg = cfg or IQLConfig()
        self.obs_dim, self.act_dim, self.device, self.n_seeds = obs_dim, act_dim, torch.device(device), n_seeds
        self.reward_scale = float(reward_scale)
        self.actor = MLP(obs_dim, act_dim, cfg.hidden, tanh_output=True, dropout=cfg.actor_dropout,
                         seeds=n_seeds).to(self.device)
        seed_axis = () if n_seeds == 1 else (n_seeds,)
        self.log_std = nn.Parameter(torch.zeros(*seed_axis, act_dim, device=self.device))
        self.critic = EnsembleMLP(2, obs_dim + act_dim, 1, cfg.hidden, seeds=n_seeds).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = MLP(obs_dim, 1, cfg.hidden, seeds=n_seeds).to(self.device)
        self.obs_norm = (obs_normalizer or Normalizer.identity(obs_dim)).to(self.device)
        actor_params = [*self.actor.parameters()] + ([] if cfg.deterministic_actor else [self.log_std])
        # One optimiser, three groups: the three losses touch disjoint parameters (see update()).
        self.opt = make_adam([{"params": list(self.value.parameters()), "lr": cfg.value_lr},
                              {"params": list(self.critic.parameters()), "lr": cfg.critic_lr},
                              {"params": actor_params, "lr": cfg.actor_lr}], cfg.actor_lr)
        self.target_fn = target_fn
        self.step = 0
        self._targets, self._online = self.polyak_pairs()

    @classmethod
    def from_transitions(cls, transitions: Transitions, cfg: IQLConfig | None = None, reward_scale: float = 1.0,
                         device: str | torch.device = "cpu", target_fn: TargetFn = one_step_target,
                         n_seeds: int = 1) -> IQL:
        """An agent sized for, and normalising by, the given (real) transitions. `reward_scale` is
        c in the target (`dawm.data.normalization.iql_reward_scale(dataset)` when cfg.normalize_reward)."""
        cfg = cfg or IQLConfig()
        norm = Normalizer.fit(transitions.observations, cfg.obs_norm_eps) if cfg.normalize_observations else None
        return cls(transitions.observations.shape[1], transitions.actions.shape[1], cfg, norm, reward_scale, device,
                   target_fn, n_seeds)

    @torch.no_grad()
    def next_value(self, next_obs: torch.Tensor) -> torch.Tensor:
        """V(s') for raw next observations."""
        return self.value(self.obs_norm.normalize(next_obs)).squeeze(-1)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One IQL step on a raw batch; returns detached metric tensors (no host sync), 0-dim or (S,)."""
        return self.learn(batch, **self.advance())

    def advance(self) -> dict:
        """Count one update and set its actor lr (host side, never captured); returns `learn`'s flags."""
        self.step += 1
        set_lr(self.opt.param_groups[2], self._actor_lr())
        return {}

    def learn(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The learning rule on one batch: device work only, so it can be captured as a CUDA graph.

        Shapes carry a leading seed axis (S, ...) when n_seeds > 1 (dawm.agents.seeds).
        """
        cfg = self.cfg
        obs, actions = self.obs_norm.normalize(batch["observations"]), batch["actions"]
        obs_actions = torch.cat([obs, actions], -1)
        with torch.no_grad():
            target_q = self.critic_target(obs_actions).squeeze(-1).amin(-2)  # min of the twin target Qs
            y = seed_target(self.target_fn, batch, cfg.gamma, self.next_value, self.reward_scale, self.n_seeds)

        # Value: expectile regression of V(s) on min_i Qbar_i(s, a).
        adv = target_q - self.value(obs).squeeze(-1)  # ([S,] B)
        value_loss = batch_mean(expectile_loss(adv, cfg.expectile))

        # Critic: both Q heads regress on y = c r + gamma (1 - d) V(s').
        q = self.critic(obs_actions).squeeze(-1)  # ([S,] 2, B)
        critic_loss = batch_mean((q - y.unsqueeze(-2)).square(), axes=2)  # mean of the two MSEs

        # Actor: behaviour cloning weighted by exp(beta * A), A from V before this step's update.
        weights = torch.exp(cfg.beta * adv.detach()).clamp(max=cfg.max_exp_adv)
        mean = self.actor(obs)
        if cfg.deterministic_actor:
            bc_losses = (mean - actions).square().sum(-1)
        else:
            log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).unsqueeze(-2)  # ([S,] 1, act_dim)
            bc_losses = gaussian_nll(actions, mean, log_std)
        actor_loss = batch_mean(weights * bc_losses)

        # The losses share no parameters and each uses only pre-step values, so one backward pass
        # through their sum equals CORL's three sequential updates.
        self.opt.zero_grad(set_to_none=True)
        backward_per_seed(value_loss + critic_loss + actor_loss)
        self.opt.step()
        soft_update_(self._targets, self._online, cfg.tau)
        return {"value_loss": value_loss.detach(), "critic_loss": critic_loss.detach(),
                "actor_loss": actor_loss.detach(), "adv_mean": batch_mean(adv.detach()),
                "q_mean": batch_mean(q.detach(), axes=2)}

    def _actor_lr(self) -> float:
        """Cosine annealing to 0 over lr_schedule_steps (the lr of update t, 1-based, uses t - 1)."""
        if self.cfg.lr_schedule_steps <= 0:
            return self.cfg.actor_lr
        t = min(self.step - 1, self.cfg.lr_schedule_steps)
        return self.cfg.actor_lr * 0.5 * (1.0 + math.cos(math.pi * t / self.cfg.lr_schedule_steps))

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Mean action(s) for raw observation(s), (obs_dim,) or (n, obs_dim); with n_seeds > 1 one
        per seed, (S, act_dim) or (S, n, act_dim) (seed k alone: `seed_agent(k).act`)."""
        self.actor.eval()
        x = self.obs_norm.normalize(torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device))
        single = self.n_seeds > 1 and x.dim() == 1
        out = self.actor(x[None] if single else x)
        self.actor.train()
        return (out[:, 0] if single else out).cpu().numpy()
