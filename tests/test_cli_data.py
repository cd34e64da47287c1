"""`dawm dataset info`."""

from __future__ import annotations

import json
import re

import numpy as np
from conftest import make_random_dataset

from dawm.cli import main
from dawm.data import write_dataset


def test_dataset_info_text_and_json(tmp_path, capsys):
    ds = make_random_dataset(n_episodes=4, ep_len=10)
    path = write_dataset(ds, tmp_path / "hopper-test.hdf5")
    assert main(["dataset", "info", str(path)]) == 0
    out = capsys.readouterr().out
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.strip().splitlines())
    assert lines["env id"] == "Hopper-v5 (from metadata)"
    assert lines["episodes"] == "4" and lines["transitions"].startswith("40 (terminals 2, timeouts 2)")
    assert "ref min -20.27, ref max 3234.30" in lines["normalised score"]
    assert lines["obs / act dims"] == "11 / 3" and lines["next_observations"] == "no"
    # values aligned in one column
    assert len({line.index(v) for line, v in zip(out.splitlines(), lines.values())}) == 1

    assert main(["dataset", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    returns = ds.episode_returns()
    assert info["episodes"] == 4 and abs(info["return_mean"] - returns.mean()) < 1e-6
    expected_score = 100 * (returns.mean() + 20.272305) / (3234.3 + 20.272305)
    assert np.isclose(info["score_mean"], expected_score)


def test_dataset_info_env_override_error(tmp_path, capsys):
    path = write_dataset(make_random_dataset(n_episodes=2, ep_len=5), tmp_path / "d.hdf5")
    assert main(["dataset", "info", str(path), "--env-id", "Walker2d-v5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dawm: error: {path}: observations: observation size 11 does not match Walker2d-v5 (expected 17)"]
