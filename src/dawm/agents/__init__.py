"""Offline RL agents (TD3+BC, IQL), their batch sources and the trainer.

    from dawm.agents import TrainAgentConfig, train_agent
    summary = train_agent(TrainAgentConfig(algo="iql", dataset="hopper-medium"))

Each agent's `update(batch)` holds its complete learning rule; critic targets are a pluggable
`TargetFn` (dawm.agents.targets) and batches come from any `BatchSource` (dawm.agents.batch_sources).
"""

from dawm.agents.batch_sources import BatchSource, MixedSource, TransitionBuffer
from dawm.agents.iql import IQL, IQLConfig
from dawm.agents.targets import TargetFn, one_step_target
from dawm.agents.td3bc import TD3BC, TD3BCConfig
from dawm.agents.trainer import TrainAgentConfig, build_agent, train_agent

__all__ = ["TD3BC", "TD3BCConfig", "IQL", "IQLConfig", "BatchSource", "TransitionBuffer", "MixedSource",
           "TargetFn", "one_step_target", "TrainAgentConfig", "train_agent", "build_agent"]
