"""`load_dataset`: paths, generated names, and the error for anything else."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import make_random_dataset

from dawm.data import load_dataset, write_dataset
from dawm.data.registry import slug
from dawm.utils.errors import DataError, DawmError


def test_path_and_generated_name(tmp_path, monkeypatch):
    path = write_dataset(make_random_dataset(n_episodes=2, ep_len=5), tmp_path / "gen.hdf5")
    assert len(load_dataset(str(path))) == 10
    fake = types.ModuleType("dawm.envs.collect")
    fake.generated_dataset_path = lambda name: path if name == "hopper-medium" else None
    monkeypatch.setitem(sys.modules, "dawm.envs.collect", fake)
    ds = load_dataset("hopper-medium")
    assert ds.name == "hopper-medium" and ds.env_id == "Hopper-v5"
    with pytest.raises(DawmError, match="unknown dataset 'hopper-nope' .*HDF5 file.*Minari id.*generated"):
        load_dataset("hopper-nope")


def test_unknown_name_without_collect_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "dawm.envs.collect", None)  # import fails as if the module were absent
    with pytest.raises(DawmError, match="unknown dataset 'walker2d-medium'"):
        load_dataset("walker2d-medium")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.hdf5: file not found"):
        load_dataset(str(tmp_path / "missing.hdf5"))


def test_slug_drops_only_a_data_files_extension():
    assert slug("~/d/hopper_medium-v2.hdf5") == "hopper_medium-v2" and slug("runs/x/walker.H5") == "walker"
    assert slug("hopper-medium-0.3pct") == "hopper-medium-0.3pct" != slug("hopper-medium-0.5pct")
    assert slug("runs/data/hopper-medium-0.3pct.hdf5") == "hopper-medium-0.3pct"
    assert slug("mujoco/hopper/medium-v0") == "medium-v0" and slug("a b?") == "a-b" and slug("") == "dataset"
