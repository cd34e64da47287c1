"""TD3+BC update rule against hand-computed values on linear nets (hidden=()), so every number is
checkable by hand: actor a = tanh(W s + b), critic k: Q_k = u_k . [s, a] + c_k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.agents.td3bc import TD3BC, TD3BCConfig
from dawm.agents.targets import one_step_target


def _linear_agent(**cfg) -> TD3BC:
    agent = TD3BC(2, 1, TD3BCConfig(hidden=(), **cfg))
    with torch.no_grad():
        for net in (agent.actor, agent.actor_target):
            net.layers[0].weight.copy_(torch.tensor([[0.5, -1.0]]))
            net.layers[0].bias.fill_(1.0)
        for net in (agent.critic, agent.critic_target):  # weights (2 members, in=3, out=1)
            net.layers[0].weight.copy_(torch.tensor([[[1.0], [0.5], [2.0]], [[-1.0], [1.0], [1.0]]]))
            net.layers[0].bias.copy_(torch.tensor([[[0.5]], [[0.0]]]))
    return agent


def _batch(**over) -> dict:
    b = {"observations": torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]),
         "actions": torch.tensor([[0.5], [-0.5], [0.0]]),
         "rewards": torch.tensor([1.0, -1.0, 0.5]),
         "next_observations": torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]]),
         "dones": torch.tensor([0.0, 0.0, 1.0])}
    return {**b, **over}


def _q(s, a, member):  # hand critic of _linear_agent
    u = [(1.0, 0.5, 2.0, 0.5), (-1.0, 1.0, 1.0, 0.0)][member]
    return u[0] * s[0] + u[1] * s[1] + u[2] * a + u[3]


def test_target_smoothing_noise_and_action_clipped():
    agent = _linear_agent(policy_noise=10.0, noise_clip=0.5)
    next_obs = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [3.0, -1.0], [-2.0, 1.0], [1.0, -1.0]])
    rewards, dones = torch.linspace(-1, 1, 6), torch.tensor([0.0, 0, 0, 0, 0, 1])
    batch = _batch(next_observations=next_obs, rewards=rewards, dones=dones)
    torch.manual_seed(0)
    noise = 10.0 * torch.randn(6, 1).numpy()[:, 0]
    torch.manual_seed(0)
    y = one_step_target(batch, 0.99, agent.next_value).numpy()

    pre_clip = np.tanh(next_obs.numpy() @ np.array([0.5, -1.0]) + 1.0) + np.clip(noise, -0.5, 0.5)
    a = np.clip(pre_clip, -1.0, 1.0)
    q = np.minimum(*[np.array([_q(s, ai, k) for s, ai in zip(next_obs.numpy(), a)]) for k in range(2)])
    np.testing.assert_allclose(y, rewards.numpy() + 0.99 * (1 - dones.numpy()) * q, rtol=1e-5)
    live = dones.numpy() == 0  # both clips are exercised on bootstrapped rows
    assert (np.abs(noise[live]) > 0.5).any() and (np.abs(pre_clip[live]) > 1.0).any()


def test_critic_loss_gradient_by_hand():
    agent = _linear_agent()
    y = torch.tensor([2.0, 0.0, -1.0])
    agent.target_fn = lambda batch, gamma, next_value, reward_scale=1.0: y  # the hook replaces the target
    batch = _batch()
    metrics = agent.update(batch)
    x = torch.cat([batch["observations"], batch["actions"]], -1).numpy()
    loss, grads = 0.0, []
    for k in range(2):
        q = np.array([_q(xi[:2], xi[2], k) for xi in x])
        loss += np.mean((q - y.numpy()) ** 2)
        grads.append(2 / 3 * ((q - y.numpy())[:, None] * x).sum(0))
    assert metrics["critic_loss"].item() == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(agent.critic.layers[0].weight.grad[:, :, 0].numpy(), np.stack(grads), rtol=1e-5)
    assert "actor_loss" not in metrics  # step 1: no actor update


def test_actor_loss_bc_term_and_detached_lambda():
    agent = _linear_agent(alpha=2.5)
    agent.target_fn = lambda batch, gamma, next_value, reward_scale=1.0: torch.zeros(3)
    batch = _batch()
    agent.update(batch)  # step 1: critic only
    metrics = agent.update(batch)  # step 2: critic, then actor against the just-updated critic
    u1 = agent.critic.layers[0].weight.detach()[0, :, 0].numpy()
    c1 = agent.critic.layers[0].bias.detach()[0, 0, 0].item()

    s, a = batch["observations"].numpy(), batch["actions"].numpy()[:, 0]
    pi = np.tanh(s @ np.array([0.5, -1.0]) + 1.0)
    q1 = s @ u1[:2] + u1[2] * pi + c1
    assert (q1 > 0).all()  # so a lambda that is not detached would cancel the Q gradient entirely
    lmbda = 2.5 / np.abs(q1).mean()
    bc = np.mean((pi - a) ** 2)
    assert metrics["lmbda"].item() == pytest.approx(lmbda, rel=1e-5)
    assert metrics["bc_loss"].item() == pytest.approx(bc, rel=1e-5)
    assert metrics["actor_loss"].item() == pytest.approx(-lmbda * q1.mean() + bc, rel=1e-5)
    dpi = -lmbda * u1[2] / 3 + 2 * (pi - a) / 3  # dL/dpi with lambda held constant
    grad_w = ((dpi * (1 - pi**2))[:, None] * s).sum(0)
    np.testing.assert_allclose(agent.actor.layers[0].weight.grad.numpy()[0], grad_w, rtol=1e-4)


def test_actor_and_targets_updated_every_policy_freq_steps():
    agent = _linear_agent(policy_freq=2, tau=0.1)
    agent.target_fn = lambda batch, gamma, next_value, reward_scale=1.0: torch.ones(3)
    actor0 = agent.actor.layers[0].weight.detach().clone()
    target_actor0 = agent.actor_target.layers[0].weight.detach().clone()
    target_critic0 = agent.critic_target.layers[0].weight.detach().clone()
    batch = _batch()

    agent.update(batch)  # step 1: critic moves, actor and all targets stay
    assert torch.equal(agent.actor.layers[0].weight, actor0)
    assert torch.equal(agent.actor_target.layers[0].weight, target_actor0)
    assert torch.equal(agent.critic_target.layers[0].weight, target_critic0)
    assert not torch.equal(agent.critic.layers[0].weight, target_critic0)

    agent.update(batch)  # step 2: actor moves, targets <- (1 - tau) target + tau online
    actor2, critic2 = agent.actor.layers[0].weight.detach(), agent.critic.layers[0].weight.detach()
    assert not torch.equal(actor2, actor0)
    torch.testing.assert_close(agent.actor_target.layers[0].weight, 0.9 * target_actor0 + 0.1 * actor2)
    torch.testing.assert_close(agent.critic_target.layers[0].weight, 0.9 * target_critic0 + 0.1 * critic2)

    actor_before = actor2.clone()
    agent.update(batch)  # step 3: no actor step again
    assert torch.equal(agent.actor.layers[0].weight, actor_before)


def test_actor_step_does_not_touch_critic_gradients():
    agent = _linear_agent()
    y = torch.tensor([2.0, 0.0, -1.0])
    agent.target_fn = lambda batch, gamma, next_value, reward_scale=1.0: y
    batch = _batch()
    agent.update(batch)
    # Step 2's critic gradient, computed by hand from the critic after step 1, must be what is left
    # in .grad after the actor step (an actor backward into the critic would add to it).
    w = agent.critic.layers[0].weight.detach()[:, :, 0].numpy().copy()
    c = agent.critic.layers[0].bias.detach()[:, 0, 0].numpy().copy()
    agent.update(batch)
    x = torch.cat([batch["observations"], batch["actions"]], -1).numpy()
    expected = np.stack([2 / 3 * (((x @ w[k] + c[k]) - y.numpy())[:, None] * x).sum(0) for k in range(2)])
    np.testing.assert_allclose(agent.critic.layers[0].weight.grad[:, :, 0].numpy(), expected, rtol=1e-5)
