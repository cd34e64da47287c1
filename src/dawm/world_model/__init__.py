"""DAWM world model: trajectory diffusion over states and rewards, inverse dynamics, synthesis."""

from dawm.world_model.config import WorldModelConfig
from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.inverse_dynamics import InverseDynamics, TerminationClassifier
from dawm.world_model.samplers import SAMPLERS
from dawm.world_model.synthesis import SynthesisConfig, load_world_model_run, run_synthesis, synthesize
from dawm.world_model.trainer import train_world_model

__all__ = [
    "WorldModelConfig",
    "TrajectoryDiffusion",
    "InverseDynamics",
    "TerminationClassifier",
    "SAMPLERS",
    "SynthesisConfig",
    "synthesize",
    "run_synthesis",
    "load_world_model_run",
    "train_world_model",
]
