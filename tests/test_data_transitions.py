"""One-step transitions: D4RL q-learning semantics at episode ends."""

from __future__ import annotations

import numpy as np
import torch
from conftest import make_random_dataset

from dawm.data import Dataset, Transitions


def indexed_dataset(lengths, ends, next_obs=False) -> Dataset:
    """observations[i] = [i, i]: every transition shows which steps it joins. ends: 'T' terminal / 'O' timeout."""
    n = sum(lengths)
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    for end, kind in zip(np.cumsum(lengths), ends):
        (terminals if kind == "T" else timeouts)[end - 1] = True
    obs = np.repeat(np.arange(n, dtype=np.float32)[:, None], 2, axis=1)
    return Dataset(obs, np.zeros((n, 1)), np.arange(n, dtype=np.float32), terminals, timeouts,
                   next_observations=obs + 0.5 if next_obs else None)


def test_no_next_obs_drops_timeout_ends_and_keeps_terminals():
    ds = indexed_dataset([4, 3, 5], "TOO")  # steps 0-3 (terminal), 4-6 (timeout), 7-11 (timeout)
    tr = Transitions.from_dataset(ds)
    assert len(tr) == 12 - 2  # the two timeout ends are dropped
    src = tr.observations[:, 0].astype(int)
    assert 6 not in src and 11 not in src and 3 in src
    nxt = tr.next_observations[:, 0].astype(int)
    ep = ds.episode_ids()
    inside = src != 3
    # every successor is the next step of the same episode: nothing crosses an episode boundary
    assert np.array_equal(nxt[inside], src[inside] + 1) and (ep[nxt[inside]] == ep[src[inside]]).all()
    # the terminal is kept with done = 1 and s' = s (masked by done)
    t = np.flatnonzero(src == 3)[0]
    assert tr.dones[t] == 1.0 and nxt[t] == 3
    assert tr.dones.sum() == 1.0 and tr.dones.dtype == np.float32


def test_recorded_next_obs_keeps_every_step():
    ds = indexed_dataset([4, 3], "TO", next_obs=True)
    tr = Transitions.from_dataset(ds)
    assert len(tr) == 7
    np.testing.assert_array_equal(tr.next_observations, ds.next_observations)
    np.testing.assert_array_equal(tr.dones, ds.terminals.astype(np.float32))  # timeout is not a done


def test_counts_on_random_dataset():
    ds = make_random_dataset(n_episodes=6, ep_len=50)  # 3 terminal ends, 3 timeout ends
    assert len(Transitions.from_dataset(ds)) == 300 - 3


def test_sample_concat_to_torch():
    tr = Transitions.from_dataset(indexed_dataset([4, 3, 5], "TOO"))
    batch = tr.sample(32, np.random.default_rng(0))
    assert len(batch) == 32 and batch.observations.shape == (32, 2)
    both = Transitions.concat([tr, batch])
    assert len(both) == len(tr) + 32
    np.testing.assert_array_equal(both.rewards[len(tr):], batch.rewards)
    t = both.to_torch("cpu")
    assert set(t) == {"observations", "actions", "rewards", "next_observations", "dones"}
    assert t["dones"].dtype == torch.float32 and t["observations"].shape == (len(both), 2)
