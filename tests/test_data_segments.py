"""World-model windows: return-to-go, padding after terminals, no window across a timeout."""

from __future__ import annotations

import numpy as np
import pytest
from test_data_transitions import indexed_dataset

from dawm.data import Dataset, make_segments, returns_to_go
from dawm.data.segments import segment_starts


def test_returns_to_go_hand_computed():
    ds = Dataset(np.zeros((5, 1)), np.zeros((5, 1)), [1.0, 2.0, 3.0, 10.0, 20.0],
                 terminals=[0, 0, 1, 0, 0], timeouts=[0, 0, 0, 0, 1])
    g = 0.5
    expected = [1 + g * 2 + g * g * 3, 2 + g * 3, 3, 10 + g * 20, 20]  # stops at each episode end
    np.testing.assert_allclose(returns_to_go(ds, g), expected)


def test_returns_to_go_long_episodes_match_a_loop():
    rng = np.random.default_rng(0)
    lengths = [1, 37, 300, 5]
    n = sum(lengths)
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(lengths) - 1] = True
    ds = Dataset(np.zeros((n, 1)), np.zeros((n, 1)), rng.normal(size=n), np.zeros(n), timeouts)
    ref, running = np.zeros(n), 0.0
    for i in reversed(range(n)):
        running = float(ds.rewards[i]) + (0.0 if timeouts[i] else 0.99 * running)
        ref[i] = running
    np.testing.assert_allclose(returns_to_go(ds, 0.99), ref, rtol=1e-9, atol=1e-9)


def test_padding_after_terminal():
    ds = indexed_dataset([4], "T")  # steps 0..3, terminal at 3, no recorded next obs
    seg = make_segments(ds, window=3, gamma=1.0)
    assert list(seg.start_index) == [0, 1, 2, 3]  # terminal episodes keep late starts
    last = seg[3]  # window 3: terminal step, then two padding steps
    np.testing.assert_array_equal(last.mask, [1, 0, 0])
    np.testing.assert_array_equal(last.terminals, [True, True, True])
    np.testing.assert_array_equal(last.rewards, [3, 0, 0])
    # absorbing state = the terminal step's next observation (here s_3 itself), repeated
    np.testing.assert_array_equal(last.observations[:, 0], [3, 3, 3])
    np.testing.assert_array_equal(last.next_observations[:, 0], [3, 3, 3])
    assert seg.returns_to_go[2] == 2 + 3 and seg.returns_to_go[0] == 0 + 1 + 2 + 3
    full = seg[0]
    np.testing.assert_array_equal(full.mask, [1, 1, 1])
    np.testing.assert_array_equal(full.terminals, [False, False, False])
    np.testing.assert_array_equal(full.next_observations[:, 0], [1, 2, 3])


def test_padding_uses_recorded_next_observation():
    ds = indexed_dataset([3], "T", next_obs=True)  # next_observations = obs + 0.5
    seg = make_segments(ds, window=2)
    np.testing.assert_array_equal(seg[2].observations[:, 0], [2, 2.5])
    np.testing.assert_array_equal(seg[2].next_observations[:, 0], [2.5, 2.5])
    np.testing.assert_array_equal(seg[2].actions, np.zeros((2, 1)))


@pytest.mark.parametrize("next_obs", [False, True])
def test_no_window_crosses_a_timeout(next_obs):
    ds = indexed_dataset([6, 4, 3], "OTO", next_obs=next_obs)  # steps 0-5 | 6-9 | 10-12
    window = 3
    seg = make_segments(ds, window)
    ep = ds.episode_ids()
    real_idx = seg.start_index[:, None] + np.arange(window)
    for i, t in enumerate(seg.start_index):
        steps = real_idx[i][seg.mask[i] == 1]
        assert (ep[steps] == ep[t]).all()  # never reaches into the next episode
    timeout_starts = [t for t in seg.start_index if ds.timeouts[ds.episode_ends[ep[t]] - 1]]
    room = 0 if next_obs else 1  # without recorded s', s_{t+T} must still be inside the episode
    assert all(t + window + room <= ds.episode_ends[ep[t]] for t in timeout_starts)
    expected = {False: [0, 1, 2, 6, 7, 8, 9], True: [0, 1, 2, 3, 6, 7, 8, 9, 10]}[next_obs]
    assert list(seg.start_index) == expected
    in_timeout_episode = np.isin(seg.start_index, timeout_starts)
    assert seg.mask[in_timeout_episode].all()  # never padded: padding only follows a terminal


def test_shapes_and_lazy_batches():
    ds = indexed_dataset([10, 7], "OT")
    seg = make_segments(ds, window=4)
    m = len(seg)
    assert seg.observations.shape == (m, 4, 2) and seg.actions.shape == (m, 4, 1)
    assert seg.rewards.shape == seg.terminals.shape == seg.mask.shape == (m, 4) and seg.returns_to_go.shape == (m,)
    assert seg.terminals.dtype == bool and seg.mask.dtype == np.float32 and seg.window == 4
    starts = segment_starts(ds, 4)
    some = make_segments(ds, 4, starts=starts[[1, 5]], rtg=returns_to_go(ds))
    np.testing.assert_array_equal(some.observations, seg.observations[[1, 5]])
    assert set(seg.to_torch()) >= {"observations", "returns_to_go", "mask"}
