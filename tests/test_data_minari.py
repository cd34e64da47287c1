"""Minari datasets on local disk (written here with minari itself, no jax, no download)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dawm.data import load_dataset, load_minari
from dawm.utils.errors import DataError

minari = pytest.importorskip("minari")


def make_minari(root, dataset_id="test/hopper/tiny-v0", episodes=((5, True), (7, False))):
    """Episodes of (length, ends_in_termination); observations one longer than actions."""
    from minari.data_collector import EpisodeBuffer

    rng = np.random.default_rng(0)
    buffers = []
    for i, (steps, terminated) in enumerate(episodes):
        end = np.arange(steps) == steps - 1
        buffers.append(EpisodeBuffer(
            id=i, observations=rng.normal(size=(steps + 1, 11)).astype(np.float32),
            actions=rng.uniform(-1, 1, (steps, 3)).astype(np.float32), rewards=rng.normal(size=steps).tolist(),
            terminations=(end & terminated).tolist(), truncations=(end & (not terminated)).tolist(),
            infos={"qpos": rng.normal(size=(steps + 1, 6))}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # minari warns about missing author/permalink metadata
        minari.create_dataset_from_buffers(dataset_id, buffers, env="Hopper-v5", ref_min_score=-20.0,
                                           ref_max_score=3000.0, algorithm_name="test")
    return buffers


def test_load_minari_from_local_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    buffers = make_minari(tmp_path)
    ds = load_minari("test/hopper/tiny-v0")
    assert len(ds) == 12 and ds.n_episodes == 2
    np.testing.assert_array_equal(ds.observations[:5], buffers[0].observations[:-1])
    np.testing.assert_array_equal(ds.next_observations[:5], buffers[0].observations[1:])
    np.testing.assert_array_equal(ds.next_observations[5:], buffers[1].observations[1:])
    assert list(np.flatnonzero(ds.terminals)) == [4] and list(np.flatnonzero(ds.timeouts)) == [11]
    np.testing.assert_allclose(ds.rewards, np.concatenate([b.rewards for b in buffers]), rtol=1e-6)
    np.testing.assert_allclose(ds.infos["qpos"][5:], buffers[1].infos["qpos"][:-1])
    assert ds.env_id == "Hopper-v5" and ds.metadata["env_id_source"] == "minari metadata"
    assert ds.ref_scores() == (-20.0, 3000.0) and ds.name == "test/hopper/tiny-v0"
    # the registry routes ids with '/' here
    assert len(load_dataset("test/hopper/tiny-v0")) == 12


def test_missing_minari_dataset_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    with pytest.raises(DataError, match=r"mujoco/hopper/medium-v0: Minari dataset not on local disk .*minari "
                                        r"download mujoco/hopper/medium-v0"):
        load_dataset("mujoco/hopper/medium-v0")
    assert not any(tmp_path.iterdir())  # nothing was downloaded or created
