"""Captured / compiled updates (dawm.agents.compiled) give the eager update's numbers."""

from __future__ import annotations

import pytest
import torch

from dawm.agents import IQL, TD3BC, IQLConfig, TD3BCConfig, TrainAgentConfig, TransitionBuffer, train_agent
from dawm.agents.compiled import CUDAGraphUpdate, compiled_update
from dawm.agents.seeds import StackedSource
from dawm.data.transitions import Transitions
from dawm.utils.errors import DawmError
from conftest import make_random_dataset

DATA = Transitions.from_dataset(make_random_dataset(n_episodes=4, ep_len=50, obs_dim=5, act_dim=2))


def _pair(algo: str, n_seeds: int, device: str = "cpu"):
    """Two identical agents (no target noise, no dropout: their random streams may differ)."""
    agents = []
    for _ in range(2):
        torch.manual_seed(0)
        if algo == "td3bc":
            agents.append(TD3BC.from_transitions(DATA, TD3BCConfig(hidden=(16,), policy_noise=0.0), device,
                                                 n_seeds=n_seeds))
        else:
            agents.append(IQL.from_transitions(DATA, IQLConfig(hidden=(16,), lr_schedule_steps=8), 2.0, device,
                                               n_seeds=n_seeds))
    return agents


def _batches(n: int, n_seeds: int, device: str = "cpu") -> list[dict]:
    buffers = [TransitionBuffer(DATA, device, seed=k) for k in range(n_seeds)]
    source = buffers[0] if n_seeds == 1 else StackedSource(buffers)
    return [source.sample(32) for _ in range(n)]


def test_cuda_graph_mode_needs_cuda(tmp_path):
    agent, _ = _pair("td3bc", 1)
    with pytest.raises(DawmError, match="needs a CUDA device"):
        CUDAGraphUpdate(agent)
    cfg = TrainAgentConfig(algo="td3bc", steps=2, device="cpu", compile="cuda-graph", run_dir=str(tmp_path / "run"))
    with pytest.raises(DawmError, match="needs a CUDA device"):
        train_agent(cfg, dataset=make_random_dataset(n_episodes=2, ep_len=20))
    assert not (tmp_path / "run").exists()  # refused before anything is written
    with pytest.raises(DawmError, match="unknown compile mode"):
        compiled_update(agent, "jit")
    assert compiled_update(agent, "auto") == agent.update  # eager on the CPU


def test_torch_compile_matches_eager_without_recompiling():
    eager, compiled = _pair("iql", n_seeds=2)  # IQL: one branch, and a scheduled lr that must not recompile
    update = compiled_update(compiled, "torch-compile")
    for i, batch in enumerate(_batches(6, n_seeds=2)):
        with torch._dynamo.config.patch(error_on_recompile=i > 0):
            got = update(batch)
        expected = eager.update(batch)
        for name, value in expected.items():
            torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-5)
    assert compiled.opt.param_groups[2]["lr"].item() == pytest.approx(eager.opt.param_groups[2]["lr"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device (none here)")
@pytest.mark.parametrize("algo,n_seeds", [("td3bc", 1), ("td3bc", 3), ("iql", 1), ("iql", 3)])
def test_cuda_graph_replays_match_eager(algo, n_seeds):
    eager, captured = _pair(algo, n_seeds, "cuda")
    update = compiled_update(captured, "auto")  # auto = cuda-graph on a GPU
    assert isinstance(update, CUDAGraphUpdate)
    for batch in _batches(12, n_seeds, "cuda"):  # 3 eager warm-ups per branch, then capture and replays
        got = update(batch)
        expected = eager.update(batch)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-5)
    assert len(update.graphs) == (2 if algo == "td3bc" else 1)
    for p, q in zip(captured.critic.parameters(), eager.critic.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
