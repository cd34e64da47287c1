"""The DAWM / DWM world model: conditional diffusion over future states and rewards.

A sample is a (T, obs_dim + 1) array whose row k is [s_{t+k}, r_{t+k}] (normalised), k = 0..T-1.
The model generates r_t, s_{t+1}, r_{t+1}, ..., s_{t+T-1}, r_{t+T-1} given
  - s_t: in-painted, i.e. row 0's state entries are the clean condition at every noise level, in
    training and at every sampling step (so it is reproduced exactly);
  - a_t: embedded and added to the step embedding (DWM) and, with `action_inpaint` (default), also
    given to the network as extra input channels of row 0 (zeros elsewhere), i.e. in-painted next
    to s_t where r_t and s_{t+1} are computed: a global embedding alone leaves the first
    generated step only loosely tied to a_t;
  - the return-to-go g = RTG / rtg_scale: embedded and added to the step embedding.
Training is DDPM on a cosine schedule with K steps; the network predicts x0 (default), eps or v,
and samplers work with the implied eps. g is dropped (null embedding) with probability p_uncond,
so one network gives both eps(x, k, g) and eps(x, k, null) for classifier-free guidance:
eps = w * eps(x, k, g) + (1 - w) * eps(x, k, null).
States, rewards and actions are standardised by `Normalizer`s kept in the state_dict.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import torch
from torch import nn

from dawm.data.normalization import Normalizer
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.errors import DataError
from dawm.world_model.config import LEGACY_SETTINGS, DiffusionSettings, Schedule
from dawm.world_model.denoisers import make_denoiser
from dawm.world_model.samplers import run_sampler, strided_steps

FORMAT = "dawm-world-model/1"


SCHEDULES = typing.get_args(Schedule)


def noise_schedule(kind: str, n_steps: int) -> torch.Tensor:
    """alpha_bar[k], k = 0..K-1 (K-1 noisiest): 'cosine' (Nichol & Dhariwal; DWM's) or 'karras'.

    Why 'karras': with few steps the cosine schedule's least noisy level keeps noise (K = 5:
    alpha_bar 0.90, noise std 0.32), and a sampler ending there returns a conditional mean, not a
    sample. EDM's levels (Karras et al. 2022: sigma from 80 down to 0.002, rho = 7, alpha_bar =
    1 / (1 + sigma^2)) end nearly clean (alpha_bar 0.999996) at any K."""
    if kind == "cosine":
        return cosine_alpha_bar(n_steps)
    if kind == "karras":
        sigma_min, sigma_max, rho = 0.002, 80.0, 7.0
        ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
        sigma = (sigma_min ** (1 / rho) + ramp * (sigma_max ** (1 / rho) - sigma_min ** (1 / rho))) ** rho
        return (1 / (1 + sigma**2)).float()
    raise ValueError(f"unknown noise schedule '{kind}' (expected one of: {', '.join(SCHEDULES)})")


def cosine_alpha_bar(n_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule: alpha_bar[k] for k = 0..K-1 (k = K-1 noisiest)."""
    f = [math.cos((i / n_steps + s) / (1 + s) * math.pi / 2) ** 2 for i in range(n_steps + 1)]
    betas = torch.tensor([min(1 - f[i + 1] / f[i], max_beta) for i in range(n_steps)], dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


class TrajectoryDiffusion(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, **settings):
        """`settings`: fields of `DiffusionSettings` (dawm.world_model.config, where each is documented);
        the others keep their defaults. `hparams` (saved with the weights) is obs_dim, act_dim and all of them."""
        super().__init__()
        s = DiffusionSettings(**settings)
        if s.horizon < 2:
            raise ValueError(f"horizon must be >= 2 (row 0 is the given s_t), got {s.horizon}")
        if s.prediction not in ("eps", "x0", "v"):
            raise ValueError(f"unknown prediction '{s.prediction}' (expected eps, x0 or v)")
        self.hparams = {"obs_dim": obs_dim, "act_dim": act_dim, **dataclasses.asdict(s), "dim_mults": list(s.dim_mults)}
        self.obs_dim, self.act_dim, self.horizon, self.p_uncond = obs_dim, act_dim, s.horizon, s.p_uncond
        self.prediction, self.action_inpaint = s.prediction, s.action_inpaint
        self.metadata: dict = {}  # env_id, dataset, gamma, val_episode_ids, ... (set by the trainer)
        self.net = make_denoiser(s.denoiser, s.horizon, obs_dim + 1, act_dim, s.dim, s.dim_mults, s.kernel_size,
                                 s.n_layers, s.n_heads, s.activation, in_dim=obs_dim + 1 + act_dim * s.action_inpaint)
        self.register_buffer("alpha_bar", noise_schedule(s.schedule, s.diffusion_steps))
        self.register_buffer("rtg_scale", torch.ones(()))
        # Range of the normalised training data per feature: predicted x0 is clipped to it while sampling
        # (Diffuser's clip_denoised), so a few-step sampler cannot leave the data's range.
        self.register_buffer("x_low", torch.full((obs_dim + 1,), -1e6))
        self.register_buffer("x_high", torch.full((obs_dim + 1,), 1e6))
        self.state_norm = Normalizer.identity(obs_dim)
        self.reward_norm = Normalizer.identity(1)
        self.action_norm = Normalizer.identity(act_dim)
        weight = torch.ones(s.horizon, obs_dim + 1)
        weight[0, :obs_dim] = 0.0  # in-painted s_t: nothing to predict
        weight[:, obs_dim] = s.reward_weight
        self.register_buffer("loss_weight", weight / weight.mean())

    @property
    def n_diffusion_steps(self) -> int:
        return len(self.alpha_bar)

    # --- normalisation ---------------------------------------------------------------------------
    def set_normalizers(self, states: torch.Tensor, rewards: torch.Tensor, actions: torch.Tensor,
                        rtg_scale: float) -> None:
        """Fit state / reward / action standardisation, the data range and the RTG divisor.

        Raw (M, T, obs) states, (M, T) rewards, (M, act) actions a_t. Mean/std use at most ~100k windows
        (windows overlap, so a strided subset has the same statistics); the range uses all of them.
        """
        dev = self.alpha_bar.device
        states, rewards, actions = (torch.as_tensor(a, dtype=torch.float32, device=dev)
                                    for a in (states, rewards, actions))
        sub = slice(None, None, max(1, len(states) // 100_000))
        self.state_norm = Normalizer.fit(states[sub].reshape(-1, self.obs_dim).cpu().numpy()).to(dev)
        self.reward_norm = Normalizer.fit(rewards[sub].reshape(-1, 1).cpu().numpy()).to(dev)
        self.action_norm = Normalizer.fit(actions[sub].cpu().numpy()).to(dev)
        self.rtg_scale.fill_(float(rtg_scale))
        for i in range(0, len(states), 100_000):  # running min / max, chunked to bound memory
            x = self.encode(states[i: i + 100_000], rewards[i: i + 100_000]).reshape(-1, self.obs_dim + 1)
            low, high = x.amin(0), x.amax(0)
            self.x_low.copy_(low if i == 0 else torch.minimum(self.x_low, low))
            self.x_high.copy_(high if i == 0 else torch.maximum(self.x_high, high))

    def encode(self, states: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """Raw (B, T, obs_dim) states and (B, T) rewards -> normalised x (B, T, obs_dim + 1)."""
        return torch.cat([self.state_norm.normalize(states), self.reward_norm.normalize(rewards[..., None])], -1)

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rewards = self.reward_norm.unnormalize(x[..., self.obs_dim:])[..., 0]
        return self.state_norm.unnormalize(x[..., : self.obs_dim]), rewards

    def net_input(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """x with the normalised a_t appended as row-0 channels (zeros in later rows), if `action_inpaint`."""
        if not self.action_inpaint:
            return x
        rows = x.new_zeros(*x.shape[:2], self.act_dim)
        rows[:, 0] = action
        return torch.cat([x, rows], -1)

    # --- training ----------------------------------------------------------------------------------
    def loss(self, states, rewards, action, rtg, generator: torch.Generator | None = None) -> torch.Tensor:
        """Epsilon-prediction loss on a batch of raw segments: states (B,T,obs), rewards (B,T), a_t, RTG (B,)."""
        x0 = self.encode(states, rewards)
        b = x0.shape[0]
        k = torch.randint(0, self.n_diffusion_steps, (b,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        ab = self.alpha_bar[k][:, None, None]
        xk = _set_row0_state(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, x0[:, 0, : self.obs_dim])
        keep = torch.rand(b, generator=generator, device=x0.device) >= self.p_uncond  # classifier-free dropout
        a = self.action_norm.normalize(action)
        out = self.net(self.net_input(xk, a), k, a, rtg / self.rtg_scale, keep).float()  # float32 under autocast
        target = {"eps": noise, "x0": x0, "v": ab.sqrt() * noise - (1 - ab).sqrt() * x0}[self.prediction]
        return ((out - target) ** 2 * self.loss_weight).mean()

    def to_eps(self, out: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        """The network's output (eps, x0 or v, per `prediction`) as the noise estimate samplers use."""
        if self.prediction == "eps":
            return out
        ab = self.alpha_bar[k]
        if self.prediction == "x0":
            return (x - ab.sqrt() * out) / (1 - ab).sqrt()
        return (1 - ab).sqrt() * x + ab.sqrt() * out  # v

    # --- sampling ----------------------------------------------------------------------------------
    def condition(self, action: torch.Tensor, rtg: torch.Tensor, guidance: float) -> torch.Tensor:
        """Embedded (a_t, g) for the guided network: (B, E), or (2B, E) = [conditional; null-g] when
        0 < w != 1 needs both. Computed once per batch of rollouts, reused at every step."""
        a, g = self.action_norm.normalize(action), rtg / self.rtg_scale
        keep = torch.full((len(a),), guidance != 0.0, dtype=torch.bool, device=a.device)
        if guidance in (0.0, 1.0):
            return self.net.embed.condition(a, g, keep)
        return self.net.embed.condition(torch.cat([a, a]), torch.cat([g, g]), torch.cat([keep, ~keep]))

    def guided_eps(self, x: torch.Tensor, k: int, cond: torch.Tensor, guidance: float,
                   action: torch.Tensor) -> torch.Tensor:
        """eps = w * eps(x, k, g) + (1 - w) * eps(x, k, null), as one batched network call
        (`action`: the normalised a_t, for the in-painted row-0 channels).

        (Combined on the raw output: every parameterisation is affine in it, so this is the same.)"""
        emb = cond + self.net.embed.step(torch.full((1,), k, device=x.device))
        inp = self.net_input(x, action)
        if guidance in (0.0, 1.0):
            return self.to_eps(self.net.denoise(inp, emb).float(), x, k)  # float32 under autocast
        out_cond, out_null = self.net.denoise(torch.cat([inp, inp]), emb).float().chunk(2)
        return self.to_eps(out_null + guidance * (out_cond - out_null), x, k)

    @torch.no_grad()  # not inference_mode: results may feed critic targets inside autograd graphs
    def sample(self, state, action, rtg, guidance: float | None = None, sampler: str | None = None,
               sampling_steps: int | None = None, temperature: float | None = None, eta: float = 0.0,
               clip=None, generator: torch.Generator | None = None):
        """Raw s_t (B, obs), a_t (B, act), RTG (B,) -> raw states (B, T, obs) with states[:, 0] == s_t exactly,
        and rewards (B, T). Unset knobs take the defaults stored in the model; `clip` (a bound or a (low, high)
        pair in normalised units) defaults to the training data's range when `clip_denoised`."""
        hp = self.hparams
        if clip is None and hp["clip_denoised"]:
            clip = (self.x_low, self.x_high)
        guidance = float(hp["guidance"] if guidance is None else guidance)
        temperature = hp["temperature"] if temperature is None else temperature
        state = torch.as_tensor(state, dtype=torch.float32, device=self.alpha_bar.device)
        action = torch.as_tensor(action, dtype=torch.float32, device=state.device)
        rtg = torch.as_tensor(rtg, dtype=torch.float32, device=state.device).reshape(-1).expand(len(state))
        s0 = self.state_norm.normalize(state)
        cond, a = self.condition(action, rtg, guidance), self.action_norm.normalize(action)
        x = torch.randn((len(state), self.horizon, self.obs_dim + 1), generator=generator, device=state.device)
        x = run_sampler(sampler or hp["sampler"], lambda x, k: self.guided_eps(x, k, cond, guidance, a),
                        _set_row0_state(x, s0), self.alpha_bar,
                        strided_steps(self.n_diffusion_steps, sampling_steps or hp["sampling_steps"]),
                        lambda x: _set_row0_state(x, s0), generator=generator, temperature=temperature, eta=eta,
                        clip=clip)
        states, rewards = self.decode(x)
        states[:, 0] = state  # exact, not a round trip through the normaliser
        return states, rewards

    def rollout(self, state, action, horizon: int, rtg=None, **knobs):
        """DWM's use (a critic-target hook): states s_t..s_{t+H} (B, H+1, obs) and rewards r_t..r_{t+H-1}
        (B, H) for H <= T - 1. `rtg` defaults to the trainer's target (metadata['target_rtg'])."""
        if not 1 <= horizon <= self.horizon - 1:
            raise ValueError(f"rollout horizon must be in 1..{self.horizon - 1} (T - 1), got {horizon}")
        if rtg is None:
            rtg = self.metadata.get("target_rtg", 0.0)
        states, rewards = self.sample(state, action, rtg, **knobs)
        return states[:, : horizon + 1], rewards[:, :horizon]

    # --- persistence -------------------------------------------------------------------------------
    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        return save_checkpoint(path, {"format": FORMAT, "hparams": self.hparams, "state_dict": self.state_dict(),
                                      "metadata": metadata or {}})

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> TrajectoryDiffusion:
        hparams = {**LEGACY_SETTINGS, **ckpt["hparams"]}  # saved before an option existed: its old behaviour
        model = cls(**{k: tuple(v) if k == "dim_mults" else v for k, v in hparams.items()})
        model.load_state_dict(ckpt["state_dict"])
        model.metadata = ckpt.get("metadata", {})
        return model.eval()

    @classmethod
    def load(cls, path: str | Path, map_location="cpu") -> TrajectoryDiffusion:
        ckpt = load_checkpoint(path, map_location)
        if ckpt.get("format") != FORMAT:
            raise DataError(path, "format", f"got {ckpt.get('format')!r}", f"'{FORMAT}' (a world_model.pt)")
        return cls.from_checkpoint(ckpt)


def _set_row0_state(x: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """x with x[:, 0, :obs_dim] replaced by s0 (out of place: autograd- and inference-safe)."""
    obs_dim = s0.shape[-1]
    row0 = torch.cat([s0, x[:, 0, obs_dim:]], -1)
    return torch.cat([row0[:, None], x[:, 1:]], 1)
