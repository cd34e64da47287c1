"""`load_dataset`: paths, generated names, and the error for anything else."""

from __future__ import annotations

import pytest
from conftest import make_random_dataset

import dawm
from dawm.data import load_dataset, write_dataset
from dawm.data.registry import slug
from dawm.envs import collect
from dawm.utils.errors import DataError, DawmError


def test_path_and_name(tmp_path):
    path = write_dataset(make_random_dataset(n_episodes=2, ep_len=5), tmp_path / "gen.hdf5")
    assert len(load_dataset(str(path))) == 10
    names = {"hopper-medium": path}.get
    ds = load_dataset("hopper-medium", names=names)
    assert ds.name == "hopper-medium" and ds.env_id == "Hopper-v5"
    with pytest.raises(DawmError, match="unknown dataset 'hopper-nope' .*HDF5 file.*Minari id.*generated") as err:
        load_dataset("hopper-nope", names=names)
    assert "\n" not in str(err.value) and "dawm.data.load_dataset" not in str(err.value)


def test_public_load_dataset_resolves_generated_names(tmp_path, monkeypatch):
    """`dawm.load_dataset` is data's loader with envs' generated names; data's alone says where names are."""
    assert dawm.load_dataset is collect.load_dataset
    path = write_dataset(make_random_dataset(n_episodes=2, ep_len=5), tmp_path / "gen.hdf5")
    monkeypatch.setattr(collect, "generated_dataset_path", {"hopper-medium": path}.get)
    assert dawm.load_dataset("hopper-medium").name == "hopper-medium" and len(dawm.load_dataset(str(path))) == 10
    with pytest.raises(DawmError, match="unknown dataset 'walker2d-medium' .*read by dawm.load_dataset") as err:
        load_dataset("walker2d-medium")
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.hdf5: file not found"):
        load_dataset(str(tmp_path / "missing.hdf5"))


def test_slug_drops_only_a_data_files_extension():
    assert slug("~/d/hopper_medium-v2.hdf5") == "hopper_medium-v2" and slug("runs/x/walker.H5") == "walker"
    assert slug("hopper-medium-0.3pct") == "hopper-medium-0.3pct" != slug("hopper-medium-0.5pct")
    assert slug("runs/data/hopper-medium-0.3pct.hdf5") == "hopper-medium-0.3pct"
    assert slug("mujoco/hopper/medium-v0") == "medium-v0" and slug("a b?") == "a-b" and slug("") == "dataset"
