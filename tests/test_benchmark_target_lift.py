"""benchmarks/target_lift.py splits an agent's own critic target into its reward and bootstrap terms: a terminal
row has no bootstrap term, a zero-reward row no reward term, and IQL's reward scale applies to the reward term."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from dawm.agents.iql import IQL
from dawm.agents.td3bc import TD3BC, TD3BCConfig

spec = importlib.util.spec_from_file_location("target_lift", Path(__file__).resolve().parents[1] / "benchmarks"
                                              / "target_lift.py")
target_lift = importlib.util.module_from_spec(spec)
spec.loader.exec_module(target_lift)


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_terms_split_the_agents_target(algo):
    torch.manual_seed(0)
    agent = TD3BC(3, 2, TD3BCConfig(hidden=(8, 8))) if algo == "td3bc" else IQL(3, 2)
    if algo == "iql":
        agent.reward_scale = 4.0
    rng = np.random.default_rng(0)
    obs, nxt = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=(10, 3)).astype(np.float32)
    rewards = rng.normal(size=10).astype(np.float32)
    scale = 4.0 if algo == "iql" else 1.0
    reward, bootstrap = target_lift.terms(agent, obs, rewards, nxt, np.ones(10, bool), chunk=4)
    assert reward == pytest.approx(scale * rewards.mean(), rel=1e-5) and bootstrap == pytest.approx(0.0, abs=1e-5)
    reward, bootstrap = target_lift.terms(agent, obs, np.zeros(10), nxt, np.zeros(10, bool), chunk=4)
    torch.manual_seed(0)  # the same target-policy noise as terms draws
    with torch.no_grad():
        values = torch.cat([agent.next_value(torch.as_tensor(nxt[i: i + 4])) for i in range(0, 10, 4)])
    assert reward == 0.0 and bootstrap == pytest.approx(agent.cfg.gamma * values.double().mean().item(), rel=1e-5)
