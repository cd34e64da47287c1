"""dawm: Diffusion Action World Models for offline RL.

The main entry points, importable from the top level (loaded on first use, so `import dawm`
stays cheap):

    from dawm import load_dataset, train_world_model, synthesize, train_agent, run_pipeline, evaluate

Sub-packages: dawm.data (datasets and views), dawm.envs (environments, evaluation, behaviour
policies, collection, simulator), dawm.world_model (diffusion, inverse dynamics, synthesis,
fidelity), dawm.agents (TD3+BC, IQL, batch sources).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "dawm.data.dataset",
    "load_dataset": "dawm.envs.collect",  # dawm.data.load_dataset, plus generated names (hopper-medium)
    "Transitions": "dawm.data.transitions",
    "make_segments": "dawm.data.segments",
    "evaluate": "dawm.envs.evaluation",
    "WorldModelConfig": "dawm.world_model.config",
    "train_world_model": "dawm.world_model.trainer",
    "synthesize": "dawm.world_model.synthesis",
    "load_world_model_run": "dawm.world_model.synthesis",
    "fidelity_report": "dawm.world_model.fidelity",
    "TrainAgentConfig": "dawm.agents.trainer",
    "train_agent": "dawm.agents.trainer",
    "RunConfig": "dawm.pipeline",
    "run_pipeline": "dawm.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dawm' has no attribute '{name}'")
