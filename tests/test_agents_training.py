"""Batch sources, learning on a toy problem, checkpoints, and the trainer's resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dawm.agents import IQL, TD3BC, IQLConfig, MixedSource, TD3BCConfig, TrainAgentConfig, TransitionBuffer, train_agent
from dawm.data.d4rl import write_dataset
from dawm.data.transitions import Transitions
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from conftest import make_random_dataset, toy_problem


def _transitions(n: int, value: float, obs_dim=3, act_dim=2) -> Transitions:
    """Rows whose every field is `value` + a row id, so a sampled row can be checked field by field."""
    ids = np.arange(n, dtype=np.float32)
    return Transitions(ids[:, None] + np.zeros((n, obs_dim)), value + np.zeros((n, act_dim)), value + ids,
                       ids[:, None] + 1 + np.zeros((n, obs_dim)), np.full(n, value))


def test_transition_buffer_rows_stay_aligned():
    batch = TransitionBuffer(_transitions(50, 0.0)).sample(64)
    ids = batch["observations"][:, 0]
    assert batch["observations"].shape == (64, 3) and batch["actions"].shape == (64, 2)
    assert batch["rewards"].shape == batch["dones"].shape == (64,)
    torch.testing.assert_close(batch["rewards"], ids)
    torch.testing.assert_close(batch["next_observations"], batch["observations"] + 1)


@pytest.mark.parametrize("ratio,expected", [(0.25, 16), (0.5, 32), (0.0, 0), (1.0, 64), (0.7, 45)])
def test_mixed_source_exact_ratio_and_counts(ratio, expected):
    real, synthetic = TransitionBuffer(_transitions(100, 0.0)), TransitionBuffer(_transitions(100, 1.0), seed=1)
    source = MixedSource(real, synthetic, ratio)
    for _ in range(3):
        batch = source.sample(64)
        assert int(batch["dones"].sum().item()) == expected  # dones mark the synthetic rows here
        assert batch["observations"].shape == (64, 3)
    assert source.counts == {"real": 3 * (64 - expected), "synthetic": 3 * expected}


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_learns_the_good_action_on_a_toy_problem(algo):
    torch.manual_seed(0)
    data, f = toy_problem(4000, seed=0)
    if algo == "td3bc":
        agent = TD3BC.from_transitions(data, TD3BCConfig(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3))
    else:
        agent = IQL.from_transitions(data, IQLConfig(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3, value_lr=1e-3,
                                                     lr_schedule_steps=1500))
    buffer = TransitionBuffer(data)
    for _ in range(1500):
        agent.update(buffer.sample(128))
    s = np.random.default_rng(1).normal(size=(1000, 2)).astype(np.float32)
    mse = float(np.mean((agent.act(s) - f(s)) ** 2))
    mse_random = float(np.mean((np.random.default_rng(2).uniform(-1, 1, (1000, 1)) - f(s)) ** 2))
    mse_bc = float(np.mean((0.5 * f(s) - f(s)) ** 2))  # cloning the whole data set: mean action ~ f/2
    assert mse < 0.1 * mse_random and mse < 0.5 * mse_bc, (mse, mse_random, mse_bc)
    # Q ranks the good action above random ones
    x = torch.as_tensor(s)
    with torch.no_grad():
        q_good = agent.critic(torch.cat([agent.obs_norm.normalize(x), torch.as_tensor(f(s))], -1)).mean()
        q_rand = agent.critic(torch.cat([agent.obs_norm.normalize(x), torch.rand(1000, 1) * 2 - 1], -1)).mean()
    assert q_good > q_rand + 0.1


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_checkpoint_round_trip_gives_identical_actions(algo, tmp_path):
    data, _ = toy_problem(500, seed=0)
    if algo == "td3bc":
        cls, cfg = TD3BC, TD3BCConfig(hidden=(16,))
    else:
        cls, cfg = IQL, IQLConfig(hidden=(16,), actor_dropout=0.1)
    agent = cls.from_transitions(data, cfg)
    buffer = TransitionBuffer(data)
    for _ in range(5):
        agent.update(buffer.sample(32))
    save_checkpoint(tmp_path / "agent.pt", agent.state_dict())
    restored = cls.from_state_dict(load_checkpoint(tmp_path / "agent.pt"))  # weights_only=True inside
    obs = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    assert np.array_equal(agent.act(obs), restored.act(obs))
    assert np.array_equal(agent.act(obs), agent.act(obs))  # evaluation is deterministic (no dropout/noise)
    assert restored.step == 5
    assert not np.array_equal(restored.act(obs), cls.from_transitions(data, cfg).act(obs))


def _cfg(tmp_path, name, steps, dataset_path) -> TrainAgentConfig:
    cfg = TrainAgentConfig(algo="td3bc", dataset=str(dataset_path), steps=steps, eval_every=1000, eval_episodes=1,
                           log_every=10, checkpoint_every=20, run_dir=str(tmp_path / name), seed=3)
    cfg.td3bc.hidden, cfg.td3bc.batch_size = (16, 16), 32
    return cfg


def test_resume_continues_exactly_from_the_saved_step(tmp_path):
    path = write_dataset(make_random_dataset(n_episodes=4, ep_len=30), tmp_path / "tiny-hopper.hdf5")
    straight = train_agent(_cfg(tmp_path, "straight", 40, path))
    train_agent(_cfg(tmp_path, "resumed", 20, path))
    resumed = train_agent(_cfg(tmp_path, "resumed", 40, path))  # continues from the step-20 checkpoint
    a = torch.load(tmp_path / "straight" / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "latest.pt", weights_only=True)
    assert a["step"] == b["step"] == 40 and b["agent"]["step"] == 40
    for key in ("actor", "critic", "critic_target"):
        for name, tensor in a["agent"][key].items():
            assert torch.equal(tensor, b["agent"][key][name]), (key, name)
    assert resumed["final_returns"] == straight["final_returns"]
    assert resumed["sample_counts"] == {"real": 40 * 32, "synthetic": 0}
    rows = map(json.loads, (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines())
    steps_logged = [row["step"] for row in rows if "train/critic_loss" in row]
    assert steps_logged == [10, 20, 30, 40]


def test_train_agent_with_a_synthetic_source_counts_samples(tmp_path):
    ds = make_random_dataset(n_episodes=4, ep_len=30)
    synthetic = TransitionBuffer(Transitions.from_dataset(make_random_dataset(n_episodes=2, ep_len=30, seed=5)))
    cfg = _cfg(tmp_path, "mixed", 10, "unused")
    cfg.synthetic_ratio = 0.25
    summary = train_agent(cfg, synthetic=synthetic, dataset=ds)
    assert summary["sample_counts"] == {"real": 10 * 24, "synthetic": 10 * 8}
    assert summary["final_score_mean"] is not None and summary["steps"] == 10


@pytest.mark.parametrize("schedule,final_lr", [(10, 0.0), (0, 3e-4), (1_000_000, None)])
def test_iql_actor_schedule_setting_reaches_the_optimiser(tmp_path, schedule, final_lr):
    ds = make_random_dataset(n_episodes=4, ep_len=30)
    cfg = _cfg(tmp_path, f"iql{schedule}", 20, "unused")
    cfg.algo, cfg.iql.hidden, cfg.iql.batch_size, cfg.iql.lr_schedule_steps = "iql", (16,), 32, schedule
    train_agent(cfg, dataset=ds)
    state = torch.load(tmp_path / f"iql{schedule}" / "checkpoints" / "latest.pt", weights_only=True)
    lr = state["agent"]["opt"]["param_groups"][2]["lr"]
    lr = float(lr)  # a tensor lr when the update was captured
    if final_lr is None:  # 20 of 1M updates along the cosine: barely below the start
        assert 3e-4 * 0.999 < lr < 3e-4
    else:
        assert lr == pytest.approx(final_lr, abs=1e-12)


def test_trainers_keep_every_field_the_user_set(tmp_path):
    """config.yaml holds exactly the config given: no trainer rewrites a field behind the user's back."""
    import dataclasses

    import yaml

    from dawm.utils.config import update_config
    from dawm.world_model import WorldModelConfig, train_world_model

    ds_path = write_dataset(make_random_dataset(n_episodes=6, ep_len=30), tmp_path / "d.hdf5")
    for algo in ("td3bc", "iql"):
        cfg = _cfg(tmp_path, f"keep-{algo}", 4, ds_path)
        cfg.algo, cfg.iql.lr_schedule_steps = algo, 123
        cfg.iql.hidden, cfg.iql.batch_size = (16,), 32
        train_agent(cfg)
        saved = yaml.safe_load((tmp_path / f"keep-{algo}" / "config.yaml").read_text())
        assert update_config(TrainAgentConfig(), saved) == cfg
    wm = WorldModelConfig(dataset=str(ds_path), out=str(tmp_path / "wm"), dim=8, batch_size=8, idm_hidden=(8,),
                          steps=2, idm_steps=2, val_size=16, eval_every=2, checkpoint_every=2, device="cpu")
    train_world_model(dataclasses.replace(wm))
    assert update_config(WorldModelConfig(), yaml.safe_load((tmp_path / "wm" / "config.yaml").read_text())) == wm
