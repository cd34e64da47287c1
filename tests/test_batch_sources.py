"""RefreshingSource: DAWM's synthetic set replaced on schedule, and regenerated (not saved) on resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.agents.batch_sources import RefreshingSource, TransitionBuffer
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



def test_buffer_to_its_own_device_is_itself():
    buffer = TransitionBuffer(_set(0, 10), seed=7)
    assert buffer.to("cpu") is buffer


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device (CUDA)")
def test_buffer_moved_to_cuda_keeps_rows_and_seed():
    buffer = TransitionBuffer(_set(3, 10), seed=7)
    moved = buffer.to("cuda")
    assert moved.data.device.type == "cuda" and moved.seed == 7 and moved.to("cuda:0") is moved
    torch.testing.assert_close(moved.data.cpu(), buffer.data)
    assert moved.sample(4)["rewards"].device.type == "cuda"
