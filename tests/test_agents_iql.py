"""IQL update rule against hand-computed values on linear nets (hidden=()).

Set-up: obs_dim = act_dim = 1; target critics Q1 = a, Q2 = -a, so min_i Qbar_i(s, a) = -|a|;
V(s) = v0 (bias only); actor mean tanh(0) = 0 with log-std 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dawm.agents.iql import IQL, IQLConfig

V0 = -0.5


def _agent(**cfg) -> IQL:
    agent = IQL(1, 1, IQLConfig(hidden=(), **cfg), reward_scale=2.0)
    with torch.no_grad():
        for net in (agent.critic, agent.critic_target):  # inputs [s, a]
            net.layers[0].weight.copy_(torch.tensor([[[0.0], [1.0]], [[0.0], [-1.0]]]))
            net.layers[0].bias.zero_()
        agent.value.layers[0].weight.zero_()
        agent.value.layers[0].bias.fill_(V0)
        agent.actor.layers[0].weight.zero_()
        agent.actor.layers[0].bias.zero_()
    return agent


def _batch(actions) -> dict:
    n = len(actions)
    return {"observations": torch.ones(n, 1), "actions": torch.tensor(actions).reshape(n, 1),
            "rewards": torch.linspace(-1, 1, n), "next_observations": torch.zeros(n, 1),
            "dones": torch.tensor([0.0] * (n - 1) + [1.0])}


def test_expectile_loss_both_signs_and_min_of_twin_targets():
    agent = _agent(expectile=0.7)
    metrics = agent.update(_batch([0.2, -0.8]))
    adv = np.array([-0.2, -0.8]) - V0  # min(Q1, Q2) = -|a|  ->  [0.3, -0.3]
    assert adv[0] > 0 > adv[1]
    expected = np.mean(np.where(adv < 0, 0.3, 0.7) * adv**2)
    assert metrics["value_loss"].item() == pytest.approx(expected, rel=1e-5)
    assert metrics["adv_mean"].item() == pytest.approx(adv.mean(), abs=1e-6)
    # the value gradient comes from the expectile loss alone (the other losses share no parameters)
    dv0 = np.mean(-2 * np.where(adv < 0, 0.3, 0.7) * adv)
    assert agent.value.layers[0].bias.grad.item() == pytest.approx(dv0, rel=1e-5)


def test_advantage_weights_exp_beta_clipped_at_100():
    agent = _agent(beta=3.0, max_exp_adv=100.0)
    actions = [0.0, -0.9, 0.5]  # adv = 0.5 (weight e^1.5), -0.4, 0.0
    metrics = agent.update(_batch(actions))
    a = np.array(actions)
    adv = -np.abs(a) - V0
    w = np.minimum(np.exp(3.0 * adv), 100.0)
    nll = 0.5 * a**2 + 0.5 * math.log(2 * math.pi)  # -log N(a; 0, 1)
    assert metrics["actor_loss"].item() == pytest.approx(np.mean(w * nll), rel=1e-5)

    agent = _agent(beta=3.0, max_exp_adv=100.0)
    with torch.no_grad():
        agent.value.layers[0].bias.fill_(-1.8)  # adv = 1.8 - |a|: exp(5.4) = 221 is clipped to 100
    metrics = agent.update(_batch(actions))
    adv = -np.abs(a) + 1.8
    w = np.minimum(np.exp(3.0 * adv), 100.0)
    assert w[0] == 100.0 and w[1] < 100.0 and w[2] < 100.0
    assert metrics["actor_loss"].item() == pytest.approx(np.mean(w * nll), rel=1e-5)


def test_critic_target_uses_value_of_next_state_and_reward_scale():
    agent = _agent(gamma=0.9)
    batch = _batch([0.2, -0.8, 0.4])
    metrics = agent.update(batch)
    r, d = batch["rewards"].numpy(), batch["dones"].numpy()
    y = 2.0 * r + 0.9 * (1 - d) * V0  # c r + gamma (1 - d) V(s'), V before this step's update
    a = batch["actions"].numpy()[:, 0]
    q = np.stack([a, -a])
    assert metrics["critic_loss"].item() == pytest.approx(np.mean((q - y) ** 2), rel=1e-5)


def test_target_critic_polyak_every_step_and_cosine_actor_lr():
    agent = _agent(tau=0.1, lr_schedule_steps=4, actor_lr=1e-3)
    target0 = agent.critic_target.layers[0].weight.detach().clone()
    agent.update(_batch([0.2, -0.8]))
    torch.testing.assert_close(agent.critic_target.layers[0].weight,
                               0.9 * target0 + 0.1 * agent.critic.layers[0].weight.detach())
    lrs = [agent.opt.param_groups[2]["lr"]]
    for _ in range(4):
        agent.update(_batch([0.2, -0.8]))
        lrs.append(agent.opt.param_groups[2]["lr"])
    np.testing.assert_allclose(lrs, [1e-3 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(5)], atol=1e-12)
    assert agent.opt.param_groups[0]["lr"] == agent.opt.param_groups[1]["lr"] == 3e-4  # V and Q: constant


def test_deterministic_actor_uses_weighted_mse():
    agent = _agent(deterministic_actor=True, beta=1.0)
    actions = [0.2, -0.8]
    metrics = agent.update(_batch(actions))
    a = np.array(actions)
    w = np.exp(-np.abs(a) - V0)
    assert metrics["actor_loss"].item() == pytest.approx(np.mean(w * a**2), rel=1e-5)
