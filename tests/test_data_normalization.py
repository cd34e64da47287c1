"""Normaliser buffers and IQL's reward scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.data import Dataset, Normalizer, iql_reward_scale
from dawm.utils.errors import DataError


def test_fit_round_trip_numpy_and_torch():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    x[:, 3] = 7.0  # constant feature: std 0, kept finite by eps
    norm = Normalizer.fit(x, eps=1e-3)
    z = norm.normalize(x)
    assert isinstance(z, np.ndarray) and np.isfinite(z).all()
    np.testing.assert_allclose(z[:, :3].mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z[:, :3].std(0), 1.0, atol=1e-3)
    np.testing.assert_allclose(norm.unnormalize(z), x, rtol=1e-5, atol=1e-5)
    t = torch.as_tensor(x)
    zt = norm.normalize(t)
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_allclose(zt.numpy(), z, rtol=1e-5, atol=1e-5)
    # leading dims are flattened for fitting, applied over the last dim
    seq = Normalizer.fit(x.reshape(100, 5, 4))
    torch.testing.assert_close(seq.mean, norm.mean)


def test_state_dict_carries_mean_and_std():
    norm = Normalizer.fit(np.arange(12.0).reshape(6, 2))
    state = norm.state_dict()
    assert set(state) == {"mean", "std"}
    fresh = Normalizer.identity(2)
    np.testing.assert_array_equal(fresh.normalize(np.ones(2)), np.ones(2))
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.mean, norm.mean)
    model = torch.nn.Module()
    model.obs_norm = norm
    assert {"obs_norm.mean", "obs_norm.std"} <= set(model.state_dict())


def test_iql_reward_scale():
    ds = Dataset(np.zeros((6, 1)), np.zeros((6, 1)), [1, 1, 5, 5, 2, 2], terminals=[0, 1, 0, 1, 0, 0],
                 timeouts=[0, 0, 0, 0, 0, 1])  # returns 2, 10, 4
    assert iql_reward_scale(ds) == pytest.approx(1000 / 8)
    flat = Dataset(np.zeros((2, 1)), np.zeros((2, 1)), [1, 1], terminals=[1, 1], timeouts=[0, 0])
    with pytest.raises(DataError, match="same return"):
        iql_reward_scale(flat)
