"""The DAWM / DWM world model: conditional diffusion over future states and rewards.

A sample is a window of T rows, a (T, obs_dim + 1) array whose row k is [s_{t+k}, r_{t+k}] (normalised), k = 0..T-1.
The model generates r_t, s_{t+1}, r_{t+1}, ..., s_{t+T-1}, r_{t+T-1} given
  - s_t: in-painted, i.e. row 0's state entries are the clean condition at every noise level, in
    training and at every sampling step (so it is reproduced exactly);
  - a_t: embedded and added to the step embedding (DWM) and, with `action_inpaint` (default), also
    given to the network as extra input channels of row 0 (zeros elsewhere), i.e. in-painted next
    to s_t where r_t and s_{t+1} are computed: a global embedding alone leaves the first
    generated step only loosely tied to a_t;
  - the return-to-go g = RTG / rtg_scale: embedded and added to the step embedding.
Training is DDPM on a cosine (or Karras) schedule with K steps; the network predicts x0 (default),
eps or v, and `predict` turns its output into the pair (eps, x0) once (x0 clipped to the data's
range, eps consistent with it), which is all a sampler needs. g is dropped (null embedding) with probability p_uncond,
so one network gives both eps(x, k, g) and eps(x, k, null) for classifier-free guidance:
eps = w * eps(x, k, g) + (1 - w) * eps(x, k, null).
States, rewards and actions are standardised by `Normalizer`s kept in the state_dict.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dawm.data.normalization import Normalizer
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.errors import DataError
from dawm.world_model.config import DiffusionSettings, Schedule
from dawm.world_model.denoisers import condition_embedding, make_denoiser
from dawm.world_model.samplers import clip_x0, partial_levels, run_sampler, x0_from_eps

FORMAT = "dawm-world-model/1"


SCHEDULES = typing.get_args(Schedule)


@dataclass
class Condition:
    """A batch of rollouts' condition, embedded once (`TrajectoryDiffusion.condition`)."""

    embedding: torch.Tensor  # embedded (a_t, g): (B, E), or (2B, E) = [conditional; null-g] when 0 < w != 1
    action: torch.Tensor  # normalised a_t: the in-painted row-0 input channels
    known: torch.Tensor  # (B, T, obs_dim + 1) holding the normalised s_t in row 0: the in-painted entries
    guidance: float  # w
    clip: object = None  # x0 clipping: None, a bound, or (low, high) tensors in normalised units
    anchor: tuple | None = None  # (mask (T, obs+1), clean values (B, T, obs+1), fixed noise): the real r_t, s_{t+1}


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
        the others keep their defaults. The model keeps them as `settings`; `hparams` (saved with the weights)
        is obs_dim, act_dim and all of them."""
        super().__init__()
        s = DiffusionSettings(**settings)
        s.check()
        self.settings = s
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.metadata: dict = {}  # env_id, dataset, gamma, val_episode_ids, ... (set by the trainer)
        self.embed = condition_embedding(s.denoiser, act_dim, s.dim)  # (k, a_t, g) -> the vector every block gets
        self.net = make_denoiser(s.denoiser, s.window, obs_dim + 1, s.dim, s.dim_mults, s.kernel_size, s.n_layers,
                                 s.n_heads, s.activation, in_dim=obs_dim + 1 + act_dim * s.action_inpaint)
        self.register_buffer("alpha_bar", noise_schedule(s.schedule, s.diffusion_steps))
        self.register_buffer("rtg_scale", torch.ones(()))
        # Range of the normalised training data per feature: predicted x0 is clipped to it while sampling
        # (Diffuser's clip_denoised), so a few-step sampler cannot leave the data's range.
        self.register_buffer("x_low", torch.full((obs_dim + 1,), -1e6))
        self.register_buffer("x_high", torch.full((obs_dim + 1,), 1e6))
        self.state_norm = Normalizer.identity(obs_dim)
        self.reward_norm = Normalizer.identity(1)
        self.action_norm = Normalizer.identity(act_dim)
        known = torch.zeros(s.window, obs_dim + 1, dtype=torch.bool)
        known[0, :obs_dim] = True  # s_t: in-painted, in training and at every sampling step
        self.register_buffer("known", known, persistent=False)
        weight = (~known).float()  # in-painted s_t: nothing to predict
        weight[:, obs_dim] = s.reward_weight
        self.register_buffer("loss_weight", weight / weight.mean())

    @property
    def window(self) -> int:
        return self.settings.window

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
        if not self.settings.action_inpaint:
            return x
        rows = x.new_zeros(*x.shape[:2], self.act_dim)
        rows[:, 0] = action
        return torch.cat([x, rows], -1)

    # --- training ----------------------------------------------------------------------------------
    def inpaint(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """x with the in-painted entries (s_t in row 0) taken from `known` (out of place: autograd-safe)."""
        return torch.where(self.known, known, x)

    def loss(self, states, rewards, action, rtg, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising loss (the target is x0, eps or v per `prediction`) on a batch of raw windows:
        states (B, T, obs), rewards (B, T), a_t (B, act), RTG (B,)."""
        x0 = self.encode(states, rewards)
        b = x0.shape[0]
        k = torch.randint(0, self.n_diffusion_steps, (b,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        ab = self.alpha_bar[k][:, None, None]
        xk = self.inpaint(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, x0)
        keep = torch.rand(b, generator=generator, device=x0.device) >= self.settings.p_uncond  # classifier-free dropout
        a = self.action_norm.normalize(action)
        emb = self.embed(k, a, rtg / self.rtg_scale, keep)
        out = self.net(self.net_input(xk, a), emb).float()  # float32 under autocast
        target = {"eps": noise, "x0": x0, "v": ab.sqrt() * noise - (1 - ab).sqrt() * x0}[self.settings.prediction]
        return ((out - target) ** 2 * self.loss_weight).mean()

    def to_eps(self, out: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        """The network's output (eps, x0 or v, per `prediction`) as the noise estimate samplers use."""
        if self.settings.prediction == "eps":
            return out
        ab = self.alpha_bar[k]
        if self.settings.prediction == "x0":
            return (x - ab.sqrt() * out) / (1 - ab).sqrt()
        return (1 - ab).sqrt() * x + ab.sqrt() * out  # v

    # --- sampling ----------------------------------------------------------------------------------
    def condition(self, state, action, rtg, guidance: float, clip, anchor=None, generator=None) -> Condition:
        """What a batch of rollouts is conditioned on, prepared once and reused at every sampling step.

        `anchor` = (s_{t+1}, r_t), raw: the known successor, in-painted RePaint-style (noised to each level
        with one fixed noise draw, so the network sees it as it saw data in training: it never had a clean
        row 1), so the generated future continues from the real s_{t+1}."""
        a, g = self.action_norm.normalize(action), rtg / self.rtg_scale
        keep = torch.full((len(a),), guidance != 0.0, dtype=torch.bool, device=a.device)
        if guidance in (0.0, 1.0):  # one network call per step: conditional (w = 1) or null-g only (w = 0)
            emb = self.embed.condition(a, g, keep)
        else:  # both halves, [conditional; null-g], in one batched call
            emb = self.embed.condition(torch.cat([a, a]), torch.cat([g, g]), torch.cat([keep, ~keep]))
        known = torch.zeros((len(a), self.window, self.obs_dim + 1), device=a.device)
        known[:, 0, : self.obs_dim] = self.state_norm.normalize(state)
        if anchor is not None:
            mask = torch.zeros((self.window, self.obs_dim + 1), dtype=torch.bool, device=a.device)
            mask[1, : self.obs_dim] = mask[0, self.obs_dim] = True
            values = torch.zeros_like(known)
            values[:, 1, : self.obs_dim] = self.state_norm.normalize(anchor[0])
            values[:, 0, self.obs_dim] = self.reward_norm.normalize(anchor[1][:, None])[:, 0]
            anchor = (mask, values, torch.randn(values.shape, generator=generator, device=a.device))
        return Condition(emb, a, known, guidance, clip, anchor)

    def predict(self, x: torch.Tensor, k: int, c: Condition) -> tuple[torch.Tensor, torch.Tensor]:
        """The guided network at noise level k as (eps, x0): x0 clipped once, eps consistent with it.

        Guidance eps = w eps(x, k, g) + (1 - w) eps(x, k, null) is combined on the raw output (every
        parameterisation is affine in it, so this is the same)."""
        ab = self.alpha_bar[k]
        x = self.inpaint(x, c.known)
        if c.anchor is not None:
            mask, values, noise = c.anchor
            x = torch.where(mask, ab.sqrt() * values + (1 - ab).sqrt() * noise, x)
        emb = c.embedding + self.embed.step(torch.full((1,), k, device=x.device))
        inp = self.net_input(x, c.action)
        if c.guidance in (0.0, 1.0):
            out = self.net(inp, emb).float()  # float32 under autocast
        else:
            out_cond, out_null = self.net(torch.cat([inp, inp]), emb).float().chunk(2)
            out = out_null + c.guidance * (out_cond - out_null)
        eps = self.to_eps(out, x, k)
        x0 = x0_from_eps(x, eps, ab)  # via eps for every parameterisation: the samplers' arithmetic, bit for bit
        if c.clip is None and c.anchor is None:
            return eps, x0
        if c.clip is not None:
            x0 = clip_x0(x0, c.clip)
        if c.anchor is not None:  # the known entries' clean value is known: the sampler steps towards it
            x0 = torch.where(c.anchor[0], c.anchor[1], x0)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt(), x0

    def sampling(self, guidance: float | None = None, sampler: str | None = None, sampling_steps: int | None = None,
                 temperature: float | None = None) -> dict:
        """The sampling knobs with every unset one (None) at the default stored in the model: the one place
        they are resolved."""
        s = self.settings
        return {"guidance": float(s.guidance if guidance is None else guidance),
                "sampler": s.sampler if sampler is None else sampler,
                "sampling_steps": s.sampling_steps if sampling_steps is None else sampling_steps,
                "temperature": s.temperature if temperature is None else temperature}

    @torch.no_grad()  # not inference_mode: results may feed critic targets inside autograd graphs
    def sample(self, state, action, rtg, guidance: float | None = None, sampler: str | None = None,
               sampling_steps: int | None = None, temperature: float | None = None, eta: float = 0.0,
               clip=None, generator: torch.Generator | None = None, anchor=None, init=None,
               noise_level: float = 1.0):
        """Raw s_t (B, obs), a_t (B, act), RTG (B,) -> raw states (B, T, obs) with states[:, 0] == s_t exactly,
        and rewards (B, T). Unset knobs (None) take the defaults stored in the model; `clip` (a bound or a
        (low, high) pair in normalised units) defaults to the training data's range when `clip_denoised`.
        `anchor` = raw (s_{t+1} (B, obs), r_t (B,)): generate the rest given them too (`condition`); they
        come back exactly as states[:, 1] and rewards[:, 0]. With `noise_level` < 1 sampling starts from `init`
        = raw (states (B, T, obs), rewards (B, T)), a real window noised to that fraction of the schedule
        (SDEdit; `samplers.partial_levels`), instead of from pure noise; s_t is in-painted as always."""
        if clip is None and self.settings.clip_denoised:
            clip = (self.x_low, self.x_high)
        knobs = self.sampling(guidance, sampler, sampling_steps, temperature)
        state = torch.as_tensor(state, dtype=torch.float32, device=self.alpha_bar.device)
        action = torch.as_tensor(action, dtype=torch.float32, device=state.device)
        rtg = torch.as_tensor(rtg, dtype=torch.float32, device=state.device).reshape(-1).expand(len(state))
        if anchor is not None:
            anchor = tuple(torch.as_tensor(v, dtype=torch.float32, device=state.device) for v in anchor)
        # x's noise first: an anchored run starts from the same noise as an unanchored one of the same seed
        x = torch.randn((len(state), self.window, self.obs_dim + 1), generator=generator, device=state.device)
        c = self.condition(state, action, rtg, knobs["guidance"], clip, anchor, generator)
        levels = partial_levels(self.n_diffusion_steps, knobs["sampling_steps"], noise_level)
        if noise_level < 1.0:  # the same noise draw, mixed with the real window at the start level
            if init is None:
                raise ValueError("noise_level < 1 starts from a real window: pass init=(states, rewards)")
            ab = self.alpha_bar[levels[0]]
            start = self.encode(*(torch.as_tensor(v, dtype=torch.float32, device=state.device) for v in init))
            x = ab.sqrt() * start + (1 - ab).sqrt() * x
        x = run_sampler(knobs["sampler"], lambda x, k: self.predict(x, k, c), x, self.alpha_bar, levels,
                        generator=generator, temperature=knobs["temperature"], eta=eta)
        states, rewards = self.decode(x)
        states[:, 0] = state  # exact, not a round trip through the normaliser
        if anchor is not None:
            states[:, 1], rewards[:, 0] = anchor
        return states, rewards

    def rollout(self, state, action, horizon: int, rtg=None, **knobs):
        """DWM's use (a critic-target hook): states s_t..s_{t+H} (B, H+1, obs) and rewards r_t..r_{t+H-1}
        (B, H) for the rollout horizon H <= T - 1. `rtg` defaults to the trainer's target (metadata['target_rtg'])."""
        if not 1 <= horizon <= self.window - 1:
            raise ValueError(f"rollout horizon must be in 1..{self.window - 1} (T - 1), got {horizon}")
        if rtg is None:
            rtg = self.metadata.get("target_rtg", 0.0)
        states, rewards = self.sample(state, action, rtg, **knobs)
        return states[:, : horizon + 1], rewards[:, :horizon]

    # --- persistence -------------------------------------------------------------------------------
    @property
    def hparams(self) -> dict:
        """What a checkpoint records to rebuild the model: the dims and every setting (plain types)."""
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim, **dataclasses.asdict(self.settings),
                "dim_mults": list(self.settings.dim_mults)}

    def load_state_dict(self, state_dict, *args, **kwargs):
        return super().load_state_dict(current_keys(state_dict), *args, **kwargs)

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        return save_checkpoint(path, {"format": FORMAT, "hparams": self.hparams, "state_dict": self.state_dict(),
                                      "metadata": metadata or {}})

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> TrajectoryDiffusion:
        hparams = DiffusionSettings.from_saved(ckpt["hparams"])
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


def current_keys(state_dict: dict) -> dict:
    """A world model's state_dict under the current names: checkpoints saved while the condition embedding
    lived inside the denoiser have it under "net.embed."."""
    return {("embed." + k[len("net.embed."):] if k.startswith("net.embed.") else k): v for k, v in state_dict.items()}
