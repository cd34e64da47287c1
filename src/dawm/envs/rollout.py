"""Record transitions from behaviour policies acting in lockstep envs, into preallocated arrays.

One `rollout` call makes one dataset part. Per lockstep step there is one batched policy call and
a handful of whole-batch array writes; Python loops over envs only for the physics and at episode
ends. Seeding: env `i`'s `k`-th episode resets with a seed drawn from SeedSequence([seed, stream,
i, k]) and all action noise comes from generators seeded by SeedSequence([seed, stream]), so a
(seed, stream, n_envs) triple always gives the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Phase:
    """`policy` (a file in the env's policy directory; None = uniform random actions) acts for `steps` env steps."""

    policy: str | None
    steps: int



def _episode_seed(key: tuple[int, int], env: int, episode: int) -> int:
    return int(np.random.SeedSequence([*key, env, episode]).generate_state(1)[0])


class _Actor:
    """Batched actions for the phase the step counter is in (the last phase acts to the end)."""

    def __init__(self, phases: list[Phase], policies: dict, act_dim: int, key: tuple[int, int], noise: float = 0.0):
        self.ends = np.cumsum([p.steps for p in phases])
        self.policies = [policies[p.policy] if p.policy else None for p in phases]
        seq = np.random.SeedSequence(list(key))
        self.rng = np.random.default_rng(seq)
        self.generator = torch.Generator().manual_seed(int(seq.generate_state(1)[0]))
        self.act_dim, self.noise = act_dim, noise
        self.noise_rng = np.random.default_rng(np.random.SeedSequence([*key, 1]))  # its own: noise-free data unchanged

    def __call__(self, obs: np.ndarray, step: int) -> np.ndarray:
        k = min(int(np.searchsorted(self.ends, step, side="right")), len(self.policies) - 1)
        policy = self.policies[k]
        if policy is None:
            actions = self.rng.uniform(-1.0, 1.0, size=(len(obs), self.act_dim)).astype(np.float32)
        else:  # D4RL's behaviour data is sampled from the SAC policy, not its mean action.
            actions = policy.act(obs, deterministic=False, generator=self.generator)
        if self.noise > 0:
            actions = np.clip(actions + self.noise * self.noise_rng.normal(size=actions.shape),
                              -1, 1).astype(np.float32)
        return actions


def rollout(env_id: str, phases: list[Phase], policies: dict, size: int, key: tuple[int, int], n_envs: int,
            bar=None, action_noise: float = 0.0) -> dict:
    """Exactly `size` transitions in episode order (D4RL layout arrays + qpos/qvel + env_steps run).

    Episodes are kept in the order they finish; the one that completes the budget is cut at
    `size` (its last kept step becomes a timeout); the episodes still running are dropped.
    """
    from dawm.envs.lockstep import LockstepEnvs  # here, not above: collect.py imports Phase and stays simulator-free

    envs = LockstepEnvs(env_id, n_envs)
    act = _Actor(phases, policies, envs.act_dim, key, action_noise)
    n, limit = n_envs, envs.max_episode_steps
    cap = size + n * (limit + 1)  # the budget, plus at most one unfinished episode per env
    buf = {"observations": np.empty((cap, envs.obs_dim), np.float32), "actions": np.empty((cap, envs.act_dim),
           np.float32), "rewards": np.empty(cap, np.float32), "next_observations": np.empty((cap, envs.obs_dim),
           np.float32), "terminals": np.empty(cap, bool), "timeouts": np.empty(cap, bool),
           "qpos": np.empty((cap, envs.nq)), "qvel": np.empty((cap, envs.nv))}
    episode_of_row = np.empty(cap, np.int64)
    episode = np.arange(n)  # id of the episode each env is running
    episodes_started = np.zeros(n, np.int64)  # per env, for reset seeds
    length = np.zeros(n, np.int64)
    for i in range(n):
        envs.reset(i, _episode_seed(key, i, 0))
    next_id, finished, completed, row = n, [], 0, 0
    obs = envs.observe().astype(np.float32)
    while completed < size:
        rows = slice(row, row + n)
        actions = act(obs, row)
        buf["observations"][rows], buf["actions"][rows] = obs, actions
        buf["qpos"][rows], buf["qvel"][rows] = envs.qpos, envs.qvel  # state *before* the step, like obs
        episode_of_row[rows] = episode
        reward, terminated = envs.step(actions)
        obs = envs.observe().astype(np.float32)
        length += 1
        truncated = length >= limit
        buf["rewards"][rows], buf["next_observations"][rows] = reward, obs
        buf["terminals"][rows], buf["timeouts"][rows] = terminated, truncated & ~terminated
        row += n
        done = np.flatnonzero(terminated | truncated)
        for i in done:  # in env order: ties between envs finishing together resolve the same way every run
            finished.append(episode[i])
            completed += int(length[i])
            episodes_started[i] += 1
            envs.reset(i, _episode_seed(key, i, int(episodes_started[i])))
            episode[i], length[i], next_id = next_id, 0, next_id + 1
        if len(done):
            obs[done] = envs.observe()[done]
        if bar is not None:
            bar.update(min(n, max(size - (row - n), 0)))
    envs.close()
    # Stable sort by finishing rank keeps each episode's steps in time order; unfinished ones go last.
    rank = np.full(next_id, len(finished), np.int64)
    rank[np.asarray(finished, np.int64)] = np.arange(len(finished))
    order = np.argsort(rank[episode_of_row[:row]], kind="stable")[:size]
    out = {k: v[order] for k, v in buf.items()}
    if not (out["terminals"][-1] or out["timeouts"][-1]):
        out["timeouts"][-1] = True  # the size cut ends the last episode
    out["env_steps"] = row
    return out
