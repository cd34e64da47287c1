"""D4RL-layout HDF5: reading real-layout files, writing ours, round trips."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import make_random_dataset

from dawm.data import read_d4rl, write_dataset
from dawm.utils.errors import DawmError


def write_d4rl_file(path, n_episodes=3, ep_len=10, obs_dim=11, act_dim=3, next_obs=False, qpos=True, meta=None):
    """A file laid out like D4RL's v2 hopper files (float32 arrays, bool flags, infos/, metadata/)."""
    rng = np.random.default_rng(1)
    n = n_episodes * ep_len
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    terminals[ep_len - 1] = True  # first episode falls, the rest hit the time limit
    timeouts[np.arange(2, n_episodes + 1) * ep_len - 1] = True
    obs = rng.normal(size=(n, obs_dim)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["observations"] = obs
        f["actions"] = rng.uniform(-1, 1, (n, act_dim)).astype(np.float32)
        f["rewards"] = rng.normal(size=n).astype(np.float32)
        f["terminals"] = terminals
        f["timeouts"] = timeouts
        if next_obs:
            f["next_observations"] = obs + 1
        if qpos:
            f["infos/qpos"] = rng.normal(size=(n, 6))
            f["infos/qvel"] = rng.normal(size=(n, 6))
        f["metadata/algorithm"] = "SAC"
        f["metadata/policy/fc0/weight"] = rng.normal(size=(256, obs_dim))  # D4RL stores policy weights
        for k, v in (meta or {}).items():
            f[f"metadata/{k}"] = v
    return obs


@pytest.mark.parametrize("next_obs", [False, True])
def test_read_d4rl_layout(tmp_path, next_obs):
    path = tmp_path / "hopper_medium-v2.hdf5"
    obs = write_d4rl_file(path, next_obs=next_obs)
    ds = read_d4rl(path)
    assert len(ds) == 30 and ds.n_episodes == 3 and ds.obs_dim == 11 and ds.act_dim == 3
    np.testing.assert_array_equal(ds.observations, obs)
    assert ds.terminals.sum() == 1 and ds.timeouts.sum() == 2
    assert (ds.next_observations is not None) == next_obs
    if next_obs:
        np.testing.assert_array_equal(ds.next_observations, obs + 1)
    assert set(ds.infos) == {"qpos", "qvel"} and ds.infos["qpos"].shape == (30, 6)
    # env id inferred from the file name; D4RL's policy weights are not pulled into metadata
    assert ds.env_id == "Hopper-v5" and ds.metadata["env_id_source"] == "file name"
    assert ds.metadata["algorithm"] == "SAC" and "policy" not in ds.metadata
    assert ds.metadata["name"] == "hopper_medium-v2"


def test_env_id_precedence_and_ref_scores(tmp_path):
    path = tmp_path / "data.hdf5"
    write_d4rl_file(path, meta={"env_id": "hopper-medium-v2", "ref_min_score": -1.0, "ref_max_score": 99.0})
    ds = read_d4rl(path)
    assert ds.env_id == "Hopper-v5" and ds.metadata["env_id_source"] == "metadata"
    assert ds.ref_scores() == (-1.0, 99.0)
    ds = read_d4rl(path, env_id="hopper")
    assert ds.metadata["env_id_source"] == "argument"
    # no metadata, uninformative name: env unknown, still readable
    plain = tmp_path / "x.hdf5"
    write_d4rl_file(plain, obs_dim=5, act_dim=2)
    assert read_d4rl(plain).env_id is None


def test_old_files_without_timeouts(tmp_path):
    path = tmp_path / "old.hdf5"
    write_d4rl_file(path)
    with h5py.File(path, "a") as f:
        del f["timeouts"]
    ds = read_d4rl(path)
    assert not ds.timeouts.any() and ds.n_episodes == 2  # one terminal + the end of the data


def test_write_read_round_trip(tmp_path):
    ds = make_random_dataset(n_episodes=4, ep_len=20)
    ds.next_observations = ds.observations + 0.5
    ds.infos = {"qpos": np.arange(80 * 6, dtype=np.float64).reshape(80, 6), "step": np.arange(80)}
    ds.metadata.update(level="medium", policy="assets/policies/hopper/medium.safetensors", seed=7,
                       ref_min_score=-20.272305, ref_max_score=3234.3, deterministic=False,
                       series=[{"policy": "random", "steps": 10}], unset=None)
    path = write_dataset(ds, tmp_path / "out" / "hopper-medium.hdf5")
    back = read_d4rl(path)
    for key in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ds, key))
    assert back.observations.dtype == np.float32 and back.terminals.dtype == bool
    assert set(back.infos) == {"qpos", "step"}
    np.testing.assert_array_equal(back.infos["qpos"], ds.infos["qpos"])
    expected = {k: v for k, v in ds.metadata.items() if v is not None}
    assert {k: v for k, v in back.metadata.items() if k != "env_id_source"} == expected
    assert isinstance(back.metadata["seed"], int) and back.metadata["deterministic"] is False


def test_our_file_has_the_d4rl_keys(tmp_path):
    ds = make_random_dataset(n_episodes=2, ep_len=5)
    ds.infos = {"qpos": np.zeros((10, 6))}
    ds.metadata["ref_min_score"] = -20.0
    path = write_dataset(ds, tmp_path / "d.hdf5")
    with h5py.File(path, "r") as f:
        assert {"observations", "actions", "rewards", "terminals", "timeouts", "infos", "metadata"} <= set(f)
        assert f["observations"].dtype == np.float32 and f["terminals"].dtype == bool
        assert f["infos/qpos"].shape == (10, 6)
        assert f["metadata/env_id"][()].decode() == "Hopper-v5"
        assert f["metadata/ref_min_score"][()] == -20.0


def test_write_refuses_overwrite_and_leaves_no_temp(tmp_path):
    ds = make_random_dataset(n_episodes=2, ep_len=5)
    path = write_dataset(ds, tmp_path / "d.hdf5")
    with pytest.raises(DawmError, match="already exists"):
        write_dataset(ds, path)
    ds.rewards[0] = 123.0
    write_dataset(ds, path, overwrite=True)
    assert read_d4rl(path).rewards[0] == 123.0
    bad = make_random_dataset(n_episodes=2, ep_len=5)
    bad.rewards[3] = np.nan
    with pytest.raises(DawmError, match="NaN"):
        write_dataset(bad, tmp_path / "bad.hdf5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.hdf5"]
