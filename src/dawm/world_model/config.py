"""The world model's settings, each declared once: `DiffusionSettings` (what a `TrajectoryDiffusion` is
built from and saved with) and `WorldModelConfig` (those plus every knob of `dawm train-world-model`;
defaults: DWM's, at CPU-friendly length)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from dawm.utils.config import check_choices
from dawm.utils.errors import DawmError
from dawm.utils.precision import Precision
from dawm.world_model.denoisers import DenoiserKind
from dawm.world_model.samplers import Sampler

Schedule = Literal["cosine", "karras"]

# Sampling defaults stored in the model: a run may change them between sessions (not a new model).
SAMPLING_FIELDS = ("sampler", "sampling_steps", "temperature", "guidance", "clip_denoised")
# What checkpoints saved before an option existed behaved as.
LEGACY_SETTINGS = {"action_inpaint": False, "schedule": "cosine"}


@dataclass
class DiffusionSettings:
    """The diffusion model's hyper-parameters (architecture, schedule, loss, sampling defaults)."""

    RENAMED: ClassVar[dict[str, str]] = {"horizon": "window"}  # `horizon` is the rollout horizon H; T is the window

    window: int = 8
    """T: rows [s_{t+k}, r_{t+k}], k < T, per sample; synthesis yields up to T - 1 transitions per start."""
    diffusion_steps: int = 5
    """K: diffusion (noise) steps of the noise schedule (DWM: 5 for T = 8)."""
    schedule: Schedule = "cosine"
    """Noise schedule: 'cosine' (DWM's; K = 5 leaves noise std 0.32 at its least noisy level) or 'karras'
    (EDM's levels, nearly clean at the last one: futures sampled, not averaged; docs/world_model.md)."""
    denoiser: DenoiserKind = "unet"
    """Denoising network: 'unet' (temporal 1-D U-Net, DWM/Diffuser), 'transformer' or 'mlp' (residual MLP over
    the flattened window, SynthER's choice; set --dim to its width, e.g. 512)."""
    dim: int = 32
    """U-Net base channels (x dim_mults per level), transformer width or residual-MLP width."""
    dim_mults: tuple[int, ...] = (1, 2, 4)
    """U-Net channel multipliers per level; the window is halved between levels."""
    kernel_size: int = 5
    """Temporal convolution kernel size (U-Net)."""
    n_layers: int = 4
    """Transformer layers, or residual-MLP blocks."""
    n_heads: int = 4
    """Transformer attention heads."""
    activation: Literal["mish", "silu"] = "mish"
    """Activation of the U-Net and the residual MLP: 'mish' (Diffuser/DWM) or 'silu'."""
    action_inpaint: bool = True
    """Also give a_t to the denoiser as row-0 input channels beside s_t (DWM in-paints it), not only as
    the global embedding: ties r_t and s_{t+1} to the action (docs/world_model.md)."""
    p_uncond: float = 0.25
    """Probability of dropping the return-to-go condition in training (classifier-free guidance)."""
    reward_weight: float = 1.0
    """Loss weight of the reward column relative to each state dimension."""
    prediction: Literal["x0", "eps", "v"] = "x0"
    """What the network predicts: 'x0' (the clean sample, Diffuser's choice), 'eps' (the noise) or 'v'. With
    K = 5 the noisiest step keeps ~1% of the signal, so x0 recovered from an eps estimate is ~100x noisier."""
    clip_denoised: bool = True
    """Clip predicted clean samples to the training data's (normalised) range while sampling."""
    # --- sampling defaults stored in the model (synthesis may override) ---
    sampler: Sampler = "ddpm"
    """Default sampler: 'ddpm' (ancestral), 'ddim' or 'dpm' (DPM-Solver++ 2M)."""
    sampling_steps: int = 3
    """Default number of strided sampling steps N <= diffusion_steps (DWM: 3)."""
    temperature: float = 0.5
    """Default noise scale of stochastic sampling steps (DWM/Diffuser low temperature: 0.5)."""
    guidance: float = 1.0
    """Default guidance weight w: eps = w eps(g) + (1 - w) eps(null); 1 = conditional only."""

    def check(self) -> None:
        """The one check of these settings (the model runs it when built, the trainer when it reads a config)."""
        check_choices(self)
        if self.window < 2:
            raise DawmError(f"--window {self.window}: must be at least 2 (row 0 is the given s_t)")
        if not 1 <= self.sampling_steps <= self.diffusion_steps:
            raise DawmError(f"--sampling-steps {self.sampling_steps}: must be in 1..{self.diffusion_steps} "
                            f"(--diffusion-steps)")
        halvings = len(self.dim_mults) - 1
        if self.denoiser == "unet" and self.window % 2**halvings:
            raise DawmError(f"--window {self.window}: must be divisible by {2**halvings} for a U-Net with dim_mults "
                            f"{tuple(self.dim_mults)} (it halves the window {halvings} times; use a window like 8 "
                            f"or fewer dim_mults)")

    @classmethod
    def from_saved(cls, saved: dict) -> dict:
        """The settings saved with a model by any version: old names under their new ones, and options added
        since then at the behaviour the model was trained with (LEGACY_SETTINGS)."""
        return {**LEGACY_SETTINGS, **{cls.RENAMED.get(k, k): v for k, v in saved.items()}}


@dataclass
class WorldModelConfig(DiffusionSettings):
    """Train a DAWM world model: trajectory diffusion over (r_t, s_{t+1}, ...) + inverse dynamics."""

    dataset: str = ""
    """Dataset: a name (hopper-medium), a Minari id or an HDF5 path."""
    out: str | None = None
    """Run directory (default: runs/world_model/<dataset>-seed<seed>); an existing one is resumed."""
    # --- data ---
    gamma: float = 0.99
    """Discount of the return-to-go condition."""
    rtg_scale: float | None = None
    """RTG divisor (default: the env's DWM scale, hopper 400, walker2d 550, halfcheetah 1200; else max |RTG| in the
    data)."""
    # --- optimisation ---
    steps: int = 50_000
    """Diffusion gradient steps (DWM: 2e6 at batch 64)."""
    batch_size: int = 128
    """Diffusion minibatch (windows)."""
    lr: float = 1e-4
    """Adam learning rate of the diffusion model."""
    ema_decay: float = 0.995
    """EMA decay of the diffusion weights (the EMA model is the one saved)."""
    ema_every: int = 10
    """Steps between EMA updates."""
    ema_start: int = 1000
    """Before this step the EMA is a plain copy of the weights."""
    grad_clip: float = 0.0
    """Gradient-norm clipping for all models (0 = off)."""
    idm_steps: int = 20_000
    """Inverse dynamics (and termination classifier) gradient steps."""
    idm_hidden: tuple[int, ...] = (512, 512)
    """IDM hidden layers (ReLU)."""
    idm_batch_size: int = 256
    """IDM minibatch (transitions)."""
    idm_lr: float = 3e-4
    """Adam learning rate of the IDM and the termination classifier."""
    termination: Literal["auto", "rule", "learned"] = "auto"
    """Done rule for synthesis: 'auto' (the env's declared rule, or a learned classifier for unknown envs),
    'rule' (require the declared rule) or 'learned' (always train the classifier)."""
    # --- bookkeeping ---
    val_fraction: float = 0.1
    """Fraction of episodes held out for validation (deterministic from the seed)."""
    val_size: int = 1024
    """Held-out windows used for the validation loss and sampled-rollout errors."""
    log_every: int = 100
    """Steps between training-loss log lines."""
    eval_every: int = 5000
    """Steps between validations."""
    checkpoint_every: int = 5000
    """Steps between checkpoints (the last good one is never overwritten by a diverged state)."""
    seed: int = 0
    """Seed for the split, initialisation, minibatches and noise."""
    device: str = "auto"
    """Torch device: 'auto' (CUDA if present), 'cpu' or 'cuda'."""
    threads: int | None = None
    """torch CPU threads (default: torch's)."""
    precision: Precision = "auto"
    """Matmul precision of the training steps: auto (bfloat16 where native; dawm.utils.precision), float32 or
    bfloat16 (autocast; weights, optimiser state and losses stay float32; validation runs in float32)."""
    compile: Literal["auto", "none", "cuda-graph"] = "auto"
    """'auto' (cuda-graph on a GPU, none elsewhere), 'none' or 'cuda-graph': replay each training
    step as a captured CUDA graph (CUDA only; many times faster there, since an eager step is bound
    by kernel launches; the diffusion noise then comes from the default CUDA generator, so a
    resumed run is not bit-identical to an uninterrupted one)."""


def diffusion_settings(cfg: DiffusionSettings) -> dict:
    """The `TrajectoryDiffusion` keyword arguments of a config (its DiffusionSettings fields)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(DiffusionSettings)}
