"""Several seeds in one process (dawm.agents.seeds): the single-seed rule against an independent
CORL-style reference, stacked seeds against separate single-seed agents, per-seed independence,
seed extraction, and the trainer's `seeds` option."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dawm.agents import IQL, TD3BC, IQLConfig, TD3BCConfig, TrainAgentConfig, TransitionBuffer, train_agent
from dawm.agents.networks import EnsembleMLP
from dawm.agents.seeds import StackedSource
from dawm.agents.targets import one_step_target
from dawm.data.transitions import Transitions
from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.errors import DawmError
from conftest import make_random_dataset, toy_problem

DATA = Transitions.from_dataset(make_random_dataset(n_episodes=4, ep_len=50, obs_dim=5, act_dim=2))
HIDDEN = (16, 16)


def _agent(algo: str, seed: int, n_seeds: int = 1, **cfg):
    torch.manual_seed(seed)
    if algo == "td3bc":
        return TD3BC.from_transitions(DATA, TD3BCConfig(hidden=HIDDEN, **cfg), n_seeds=n_seeds)
    return IQL.from_transitions(DATA, IQLConfig(hidden=HIDDEN, lr_schedule_steps=20, **cfg), reward_scale=2.0,
                                n_seeds=n_seeds)


def _mlp(weights, biases, out=None) -> nn.Sequential:
    """nn.Sequential of Linear/ReLU with the given (out, in) weights, as CORL builds its networks."""
    layers = []
    for w, b in zip(weights, biases):
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1], *([out] if out else []))


def _copy_nets(agent):
    """The agent's networks rebuilt as separate CORL-style modules (actor, q1, q2, value)."""
    actor = _mlp([l.weight.detach() for l in agent.actor.layers], [l.bias.detach() for l in agent.actor.layers],
                 nn.Tanh())
    qs = [_mlp([l.weight[k].detach().T for l in agent.critic.layers],
               [l.bias[k, 0].detach() for l in agent.critic.layers])
          for k in range(2)]
    value = (_mlp([l.weight.detach() for l in agent.value.layers], [l.bias.detach() for l in agent.value.layers])
             if hasattr(agent, "value") else None)
    return actor, qs, value


def _reference_td3bc(agent, batches, cfg: TD3BCConfig) -> tuple[list[float], nn.Module]:
    """TD3+BC written out as in CORL: separate critics, plain Adam, F.mse_loss, sequential steps."""
    actor, (q1, q2), _ = _copy_nets(agent)
    actor_t, q1_t, q2_t = map(copy.deepcopy, (actor, q1, q2))
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.actor_lr)
    critic_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.critic_lr)
    norm, losses = agent.obs_norm, []
    torch.manual_seed(7)  # the agent's target-noise stream
    for step, b in enumerate(batches, 1):
        s, a, s2 = norm.normalize(b["observations"]), b["actions"], norm.normalize(b["next_observations"])
        with torch.no_grad():
            a2 = actor_t(s2)
            noise = (torch.randn_like(a2) * cfg.policy_noise).clamp(-cfg.noise_clip, cfg.noise_clip)
            a2 = (a2 + noise).clamp(-1, 1)
            sa2 = torch.cat([s2, a2], 1)
            y = b["rewards"] + cfg.gamma * (1 - b["dones"]) * torch.min(q1_t(sa2), q2_t(sa2))[:, 0]
        sa = torch.cat([s, a], 1)
        critic_loss = F.mse_loss(q1(sa)[:, 0], y) + F.mse_loss(q2(sa)[:, 0], y)
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        losses.append(critic_loss.item())
        if step % cfg.policy_freq == 0:
            pi = actor(s)
            q = q1(torch.cat([s, pi], 1))
            actor_loss = -cfg.alpha / q.abs().mean().detach() * q.mean() + F.mse_loss(pi, a)
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()
            with torch.no_grad():
                for net, tgt in ((actor, actor_t), (q1, q1_t), (q2, q2_t)):
                    for p, pt in zip(net.parameters(), tgt.parameters()):
                        pt.mul_(1 - cfg.tau).add_(cfg.tau * p)
    return losses, actor


def _reference_iql(agent, batches, cfg: IQLConfig) -> tuple[list[float], nn.Module]:
    """IQL written out as in CORL: value, critic and actor steps in sequence, cosine actor lr."""
    actor, (q1, q2), value = _copy_nets(agent)
    q1_t, q2_t = copy.deepcopy(q1), copy.deepcopy(q2)
    log_std = nn.Parameter(agent.log_std.detach().clone())
    v_opt = torch.optim.Adam(value.parameters(), lr=cfg.value_lr)
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.critic_lr)
    pi_opt = torch.optim.Adam([*actor.parameters(), log_std], lr=cfg.actor_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(pi_opt, cfg.lr_schedule_steps)
    norm, losses = agent.obs_norm, []
    for b in batches:
        s, a, s2 = norm.normalize(b["observations"]), b["actions"], norm.normalize(b["next_observations"])
        sa = torch.cat([s, a], 1)
        with torch.no_grad():
            target_q = torch.min(q1_t(sa), q2_t(sa))[:, 0]
            next_v = value(s2)[:, 0]
        adv = target_q - value(s)[:, 0]
        v_loss = (torch.abs(cfg.expectile - (adv < 0).float()) * adv**2).mean()
        v_opt.zero_grad()
        v_loss.backward()
        v_opt.step()
        y = agent.reward_scale * b["rewards"] + cfg.gamma * (1 - b["dones"]) * next_v
        q_loss = (F.mse_loss(q1(sa)[:, 0], y) + F.mse_loss(q2(sa)[:, 0], y)) / 2
        q_opt.zero_grad()
        q_loss.backward()
        q_opt.step()
        weights = torch.exp(cfg.beta * adv.detach()).clamp(max=cfg.max_exp_adv)
        dist = torch.distributions.Normal(actor(s), log_std.clamp(-20, 2).exp())
        pi_loss = -(weights * dist.log_prob(a).sum(-1)).mean()
        pi_opt.zero_grad()
        pi_loss.backward()
        pi_opt.step()
        sched.step()
        with torch.no_grad():
            for net, tgt in ((q1, q1_t), (q2, q2_t)):
                for p, pt in zip(net.parameters(), tgt.parameters()):
                    pt.mul_(1 - cfg.tau).add_(cfg.tau * p)
        losses.append(q_loss.item())
    return losses, actor


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_single_seed_matches_an_independent_reference(algo):
    agent = _agent(algo, seed=0)
    buffer = TransitionBuffer(DATA, seed=1)
    batches = [buffer.sample(32) for _ in range(20)]
    reference = _reference_td3bc if algo == "td3bc" else _reference_iql
    ref_losses, ref_actor = reference(agent, batches, agent.cfg)
    torch.manual_seed(7)
    losses = [agent.update(b)["critic_loss"].item() for b in batches]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    obs = torch.as_tensor(DATA.observations[:10])
    with torch.no_grad():
        expected = ref_actor(agent.obs_norm.normalize(obs)).numpy()
    np.testing.assert_allclose(agent.act(obs.numpy()), expected, atol=1e-5)


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_stacked_seeds_equal_separate_single_seed_runs(algo):
    noise = {"policy_noise": 0.0} if algo == "td3bc" else {}  # noise streams differ; all else must agree
    singles = [_agent(algo, seed=k, **noise) for k in range(3)]
    stacked = type(singles[0]).stack(singles)
    assert stacked.n_seeds == 3 and stacked.critic.layers[0].weight.shape == (3, 2, 7, 16)
    source = StackedSource([TransitionBuffer(DATA, seed=10 + k) for k in range(3)])
    buffers = [TransitionBuffer(DATA, seed=10 + k) for k in range(3)]
    for _ in range(12):
        metrics = stacked.update(source.sample(32))
        for k, (agent, buffer) in enumerate(zip(singles, buffers)):
            for name, value in agent.update(buffer.sample(32)).items():
                torch.testing.assert_close(metrics[name][k], value, rtol=1e-4, atol=1e-5)
    obs = DATA.observations[:6]
    for k, agent in enumerate(singles):
        np.testing.assert_allclose(stacked.act(obs)[k], agent.act(obs), atol=1e-5)
        seed_state = stacked.seed_agent(k).state_dict()
        for net in stacked._SEED_NETS:
            for name, tensor in agent.state_dict()[net].items():
                torch.testing.assert_close(seed_state[net][name], tensor, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_a_seed_depends_only_on_its_own_batches(algo):
    a = _agent(algo, seed=0, n_seeds=3)
    b = copy.deepcopy(a)
    buffer = TransitionBuffer(DATA, seed=1)
    for _ in range(4):
        batch = {k: v.clone() for k, v in StackedSource([buffer] * 3).sample(32).items()}
        other = {k: v.clone() for k, v in batch.items()}
        other["rewards"][1] += 5.0  # only seed 1's batch differs
        torch.manual_seed(3)
        a.update(batch)
        torch.manual_seed(3)
        b.update(other)
    for net in a._SEED_NETS:
        for (name, pa), pb in zip(getattr(a, net).state_dict().items(), getattr(b, net).state_dict().values()):
            assert torch.equal(pa[0], pb[0]) and torch.equal(pa[2], pb[2]), (net, name)
            if net == "critic":  # while seed 1 itself did change
                assert not torch.equal(pa[1], pb[1]), (net, name)


def test_each_seed_draws_its_own_target_noise():
    twin = [_agent("td3bc", seed=0)] * 2  # two identical seeds on identical batches
    batch = TransitionBuffer(DATA, seed=1).sample(32)
    stacked_batch = {k: torch.stack([v, v]) for k, v in batch.items()}
    for noise, same in ((0.0, True), (0.2, False)):
        agent = TD3BC.stack([copy.deepcopy(a) for a in twin])
        agent.cfg.policy_noise = noise
        metrics = agent.update(stacked_batch)
        assert (metrics["critic_loss"][0] == metrics["critic_loss"][1]).item() is same


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_seed_checkpoints_round_trip_and_restack(algo, tmp_path):
    agent = _agent(algo, seed=0, n_seeds=2)
    source = StackedSource([TransitionBuffer(DATA, seed=k) for k in range(2)])
    for _ in range(3):
        agent.update(source.sample(16))
    for k in range(2):
        save_checkpoint(tmp_path / f"seed{k}.pt", agent.seed_state_dict(k))
    singles = [type(agent).from_state_dict(load_checkpoint(tmp_path / f"seed{k}.pt")) for k in range(2)]
    obs = DATA.observations[:5]
    for k, single in enumerate(singles):
        assert single.n_seeds == 1 and single.step == 3
        np.testing.assert_allclose(single.act(obs), agent.act(obs)[k], atol=1e-6)
        np.testing.assert_allclose(single.act(obs[0]), agent.act(obs[0])[k], atol=1e-6)
    original, restacked = agent.state_dict(), type(agent).stack(singles).state_dict()
    assert restacked["n_seeds"] == 2 and restacked["step"] == 3
    for net in agent._SEED_NETS:
        assert all(torch.equal(t, restacked[net][n]) for n, t in original[net].items()), net
    for opt in agent._SEED_OPTS:  # moments and step counts
        for i, state in original[opt]["state"].items():
            assert all(torch.equal(t, restacked[opt]["state"][i][n]) for n, t in state.items()), opt
    for name in agent._SEED_TENSORS:
        assert torch.equal(original[name], restacked[name])


def test_target_fn_gets_seed_major_flat_batches():
    seen = []

    def recording_target(batch, gamma, next_value, reward_scale=1.0):
        seen.append((batch["observations"].shape, batch["rewards"].shape))
        return one_step_target(batch, gamma, next_value, reward_scale)

    agent = _agent("iql", seed=0, n_seeds=3)
    singles = [agent.seed_agent(k) for k in range(3)]
    agent.target_fn = recording_target
    batch = StackedSource([TransitionBuffer(DATA, seed=k) for k in range(3)]).sample(16)
    metrics = agent.update(batch)
    assert seen == [((48, 5), (48,))]
    for k, single in enumerate(singles):  # a row sent to the wrong seed's V(s') would change y
        single_metrics = single.update({name: v[k] for name, v in batch.items()})
        torch.testing.assert_close(metrics["critic_loss"][k], single_metrics["critic_loss"], rtol=1e-5, atol=1e-6)


def test_every_vectorised_seed_learns_the_toy_problem():
    data, f = toy_problem(3000, seed=0)
    torch.manual_seed(0)
    agent = TD3BC.from_transitions(data, TD3BCConfig(hidden=(32, 32), actor_lr=1e-3, critic_lr=1e-3), n_seeds=3)
    source = StackedSource([TransitionBuffer(data, seed=k) for k in range(3)])
    for _ in range(800):
        agent.update(source.sample(64))
    s = np.random.default_rng(1).normal(size=(1000, 2)).astype(np.float32)
    mse = ((agent.act(s) - f(s)[None]) ** 2).mean(axis=(1, 2))
    mse_random = float(np.mean((np.random.default_rng(2).uniform(-1, 1, (1000, 1)) - f(s)) ** 2))
    assert mse.shape == (3,) and (mse < 0.1 * mse_random).all(), (mse, mse_random)


def _cfg(tmp_path, name, **over) -> TrainAgentConfig:
    cfg = TrainAgentConfig(**{"algo": "td3bc", "steps": 24, "eval_every": 1000, "eval_episodes": 1, "log_every": 8,
                              "checkpoint_every": 12, "run_dir": str(tmp_path / name), "seed": 3, **over})
    cfg.td3bc.hidden, cfg.td3bc.batch_size, cfg.td3bc.policy_noise = (16, 16), 32, 0.0
    return cfg


def test_train_agent_seeds_match_single_runs_and_resume(tmp_path):
    ds = make_random_dataset(n_episodes=4, ep_len=30)
    summary = train_agent(_cfg(tmp_path, "seeds", seeds=2), dataset=ds)
    single = train_agent(_cfg(tmp_path, "single", seed=4), dataset=ds)  # = seed index 1 of the vectorised run
    assert summary["seeds"] == [3, 4] and len(summary["per_seed"]) == 2
    scores = [s["final_score_mean"] for s in summary["per_seed"]]
    assert summary["final_score_mean"] == pytest.approx(np.mean(scores))
    assert summary["final_score_std"] == pytest.approx(np.std(scores))
    assert summary["seed_updates_per_s"] == pytest.approx(2 * summary["updates_per_s"])
    assert summary["sample_counts"] == single["sample_counts"] == {"real": 24 * 32, "synthetic": 0}
    seed4 = load_checkpoint(summary["per_seed"][1]["agent"])  # same init, same batches (no target noise here)
    alone = load_checkpoint(tmp_path / "single" / "checkpoints" / "latest.pt")["agent"]
    for name, tensor in alone["actor"].items():
        torch.testing.assert_close(seed4["actor"][name], tensor, rtol=1e-4, atol=1e-5)
    assert summary["per_seed"][1]["final_returns"] == pytest.approx(single["final_returns"], rel=1e-3)

    train_agent(_cfg(tmp_path, "resumed", seeds=2, steps=12), dataset=ds)
    resumed = train_agent(_cfg(tmp_path, "resumed", seeds=2), dataset=ds)
    a = load_checkpoint(tmp_path / "seeds" / "checkpoints" / "latest.pt")["agent"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "latest.pt")["agent"]
    assert all(torch.equal(t, b["critic"][n]) for n, t in a["critic"].items())
    assert resumed["per_seed"][0]["final_returns"] == summary["per_seed"][0]["final_returns"]


def test_each_vectorised_seed_can_have_its_own_synthetic_source(tmp_path):
    """One synthetic source per seed (each seed's own world model and set): seed k then trains as a single run
    with seed + k on its own set would; one shared source is drawn by every seed."""
    ds = make_random_dataset(n_episodes=4, ep_len=30)
    sets = [make_random_dataset(n_episodes=2, ep_len=20, seed=s) for s in (11, 12)]
    own = lambda k: TransitionBuffer(Transitions.from_dataset(sets[k]), "cpu", seed=10 + k)  # noqa: E731
    summary = train_agent(_cfg(tmp_path, "seeds", seeds=2), synthetic=[own(0), own(1)], dataset=ds)
    single = train_agent(_cfg(tmp_path, "single", seed=4), synthetic=own(1), dataset=ds)
    assert summary["sample_counts"] == single["sample_counts"] and single["sample_counts"]["synthetic"] > 0
    seed4 = load_checkpoint(summary["per_seed"][1]["agent"])
    alone = load_checkpoint(tmp_path / "single" / "checkpoints" / "latest.pt")["agent"]
    for name, tensor in alone["actor"].items():
        torch.testing.assert_close(seed4["actor"][name], tensor, rtol=1e-4, atol=1e-5)
    shared = train_agent(_cfg(tmp_path, "shared", seeds=2), synthetic=own(1), dataset=ds)
    drawn_by_both = load_checkpoint(shared["per_seed"][1]["agent"])["actor"]  # seed 0 takes some of seed 1's draws
    assert any(not torch.allclose(drawn_by_both[n], t, rtol=1e-4, atol=1e-5) for n, t in seed4["actor"].items())
    with pytest.raises(DawmError, match="3 synthetic sources for 2 seeds"):
        train_agent(_cfg(tmp_path, "bad", seeds=2), synthetic=[own(0)] * 3, dataset=ds)


@pytest.mark.parametrize("name", ["TD3BC-1", "TD3BC-2", "IQL-1", "IQL-2"])
def test_checkpoint_from_before_stacked_linear_resumes_as_before(name):
    """A checkpoint written before the critics' layers were StackedLinear modules (tests/fixtures/
    make_legacy_agents.py, run at cdb3abe) loads and continues as the old code continued it: exactly on
    the machine that made the fixture, to float32 rounding on another CPU (its matmul kernels round
    differently: 1e-8 measured on an Intel AMX machine), far below what a wrong layout would give."""
    legacy = torch.load(Path(__file__).parent / "fixtures" / "legacy_agents.pt", weights_only=True)[name]
    cls = {"TD3BC": TD3BC, "IQL": IQL}[name.split("-")[0]]
    assert EnsembleMLP.is_legacy(legacy["checkpoint"]["critic"])
    agent = cls.from_state_dict(legacy["checkpoint"])
    for i in range(3):  # loading alone is exact on any machine
        torch.testing.assert_close(agent.critic.layers[i].weight, legacy["checkpoint"]["critic"][f"weights.{i}"],
                                   rtol=0, atol=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the fixture was made
    torch.manual_seed(1)
    try:
        for batch in legacy["batches"]:
            agent.update(batch)
    finally:
        torch.set_num_threads(threads)
    expected = cls.from_state_dict(legacy["after"]).state_dict()
    got = agent.state_dict()
    for part in (*cls._SEED_NETS, *cls._SEED_OPTS):
        exp, cur = expected[part], got[part]
        if "state" in exp:  # an optimiser: per-parameter moments in today's order
            assert exp["state"].keys() == cur["state"].keys()
            exp, cur = ({f"{i}.{k}": v for i, s in o["state"].items() for k, v in s.items()} for o in (exp, cur))
        assert exp.keys() == cur.keys()
        for key in exp:
            torch.testing.assert_close(cur[key], exp[key], rtol=1e-5, atol=1e-6, msg=f"{part}.{key}")
