"""Offline RL agents (TD3+BC, IQL), their batch sources and the trainer.

    from dawm.agents import TrainAgentConfig, train_agent
    summary = train_agent(TrainAgentConfig(algo="iql", dataset="hopper-medium"))

Each agent's `update(batch)` holds its complete learning rule; critic targets are a pluggable
`TargetFn` (dawm.agents.targets) and batches come from any `BatchSource` (dawm.agents.batch_sources).
`n_seeds` > 1 holds several independent agents in one, vectorised over seeds (dawm.agents.seeds);
`compiled_update` replays an update as a CUDA graph or torch.compiles it (dawm.agents.compiled).
"""

from dawm.agents.batch_sources import BatchSource, MixedSource, TransitionBuffer
from dawm.agents.compiled import compiled_update
from dawm.agents.iql import IQL, IQLConfig
from dawm.agents.seeds import StackedSource
from dawm.agents.targets import TargetFn, one_step_target
from dawm.agents.td3bc import TD3BC, TD3BCConfig
from dawm.agents.trainer import TrainAgentConfig, build_agent, train_agent

__all__ = ["TD3BC", "TD3BCConfig", "IQL", "IQLConfig", "BatchSource", "TransitionBuffer", "MixedSource",
           "TargetFn", "one_step_target", "TrainAgentConfig", "train_agent", "build_agent", "StackedSource",
           "compiled_update"]
