"""RefreshingSource: DAWM's synthetic set replaced on schedule, and regenerated (not saved) on resume."""

from __future__ import annotations

import numpy as np

from dawm.agents.batch_sources import RefreshingSource
from dawm.data.transitions import Transitions


def _set(k: int, n: int = 20) -> Transitions:
    """Transitions whose reward is the set's generation k, so a batch says which set it came from."""
    obs = np.zeros((n, 2), np.float32)
    return Transitions(obs, np.zeros((n, 1)), np.full(n, float(k)), obs, np.zeros(n))


def test_refresh_schedule_and_resume():
    calls = []

    def generate(k):
        calls.append(k)
        return _set(k)

    source = RefreshingSource(_set(0), generate, refresh_every=3)
    seen = [int(source.sample(4)["rewards"].unique().item()) for _ in range(8)]
    assert seen == [0, 0, 0, 1, 1, 1, 2, 2] and calls == [1, 2]
    state = source.state_dict()

    resumed = RefreshingSource(_set(0), generate, refresh_every=3)
    resumed.load_state_dict(state)
    assert calls == [1, 2, 2]  # the current set is regenerated from its generation number
    a, b = source.sample(4), resumed.sample(4)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)  # same set, same sampler state
    assert int(resumed.sample(4)["rewards"][0]) == 3 and calls[-1] == 3  # then the schedule goes on
