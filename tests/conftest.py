"""Shared fixtures: small datasets built in memory (real-format files are written per test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.data.dataset import Dataset
from dawm.data.transitions import Transitions

torch.set_num_threads(1)  # the suite shares 2 cores; small nets gain nothing from more


def make_random_dataset(n_episodes=6, ep_len=50, obs_dim=11, act_dim=3, seed=0, terminal_every=2,
                        env_id="Hopper-v5") -> Dataset:
    """Episodes of random data; every `terminal_every`-th ends in a terminal, others in a timeout."""
    rng = np.random.default_rng(seed)
    n = n_episodes * ep_len
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    for e in range(n_episodes):
        (terminals if e % terminal_every == 0 else timeouts)[(e + 1) * ep_len - 1] = True
    return Dataset(
        observations=rng.normal(size=(n, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        rewards=rng.normal(1.0, 0.5, size=n).astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
        metadata={"env_id": env_id, "name": "random-test"},
    )


def write_random_hopper_file(path, steps: int, episode_cap: int = 100):
    """`steps` random-policy Hopper-v5 steps (episodes cut at `episode_cap`) in our D4RL-layout file."""
    import gymnasium as gym

    from dawm.data.d4rl import write_dataset

    env, rng = gym.make("Hopper-v5"), np.random.default_rng(0)
    cols = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")}
    obs, _ = env.reset(seed=0)
    t = 0
    for _ in range(steps):
        a = rng.uniform(-1, 1, 3).astype(np.float32)
        nxt, r, term, trunc, _ = env.step(a)
        t += 1
        trunc = trunc or t == episode_cap
        for k, v in zip(cols, (obs, a, r, term, trunc and not term, nxt)):
            cols[k].append(v)
        obs = nxt
        if term or trunc:
            obs, _ = env.reset()
            t = 0
    write_dataset(Dataset(**{k: np.asarray(v) for k, v in cols.items()}, metadata={"env_id": "Hopper-v5"}), path)
    return path


@pytest.fixture
def random_dataset() -> Dataset:
    return make_random_dataset()


def toy_problem(n: int, seed: int) -> tuple[Transitions, callable]:
    """One-step problem: reward -(a - f(s))^2; half the data acts well, half at random."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, 2)).astype(np.float32)
    f = lambda obs: 0.8 * np.tanh(obs[:, :1] - 0.5 * obs[:, 1:])  # noqa: E731
    good = rng.random(n) < 0.5
    a = np.where(good[:, None], np.clip(f(s) + rng.normal(0, 0.05, (n, 1)), -1, 1), rng.uniform(-1, 1, (n, 1)))
    r = -((a - f(s)) ** 2)[:, 0]
    return Transitions(s, a, r, s, np.ones(n)), f


def synth(world_model, idm, dataset: Dataset, n_starts: int, *, termination=None, start_indices=None,
          show_progress: bool = False, **knobs) -> Dataset:
    """`synthesize` with the SynthesisConfig knobs as keywords, in float32 unless a test asks otherwise."""
    from dawm.world_model.synthesis import SynthesisConfig, synthesize

    cfg = SynthesisConfig(n_starts=n_starts, **{"precision": "float32", **knobs})
    return synthesize(world_model, idm, dataset, cfg, termination=termination, start_indices=start_indices,
                      show_progress=show_progress)
