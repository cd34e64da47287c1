"""`dawm dataset info` and `dawm dataset subset`."""

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


def test_dataset_subset_keeps_whole_episodes_by_seed(tmp_path, capsys):
    from dawm.data import load_dataset

    ds = make_random_dataset(n_episodes=10, ep_len=6)
    src = write_dataset(ds, tmp_path / "hopper-test.hdf5")
    out = tmp_path / "hopper-test-30pct.hdf5"
    assert main(["dataset", "subset", str(src), "--fraction", "0.3", "--seed", "4", "--out", str(out)]) == 0
    assert "3 of 10 episodes, 18 transitions" in capsys.readouterr().out
    sub = load_dataset(str(out))
    assert sub.name == "hopper-test-30pct" and sub.metadata["subset_of"] == ds.name and sub.n_episodes == 3
    returns = list(ds.episode_returns())
    picked = [returns.index(r) for r in sub.episode_returns()]  # whole episodes, each one of the source's
    assert picked == sorted(picked) and len(set(picked)) == 3
    assert sub.terminals.sum() + sub.timeouts.sum() == 3  # each still closed
    np.testing.assert_array_equal(sub.observations, ds.select_episodes(np.array(picked)).observations)
    again = tmp_path / "again.hdf5"
    assert main(["dataset", "subset", str(src), "--fraction", "0.3", "--seed", "4", "--out", str(again)]) == 0
    np.testing.assert_array_equal(load_dataset(str(again)).rewards, sub.rewards)  # the seed decides the draw
    other = tmp_path / "other.hdf5"
    assert main(["dataset", "subset", str(src), "--fraction", "0.3", "--seed", "5", "--out", str(other)]) == 0
    assert not np.array_equal(load_dataset(str(other)).rewards, sub.rewards)


def test_dataset_subset_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    src = write_dataset(make_random_dataset(n_episodes=4, ep_len=5), tmp_path / "d.hdf5")
    out = tmp_path / "sub.hdf5"
    for argv, expected in ((["--fraction", "0", "--out", str(out)], "--fraction 0.0: expected a value in (0, 1]"),
                           (["--fraction", "1.5", "--out", str(out)], "--fraction 1.5"),
                           (["--out", str(tmp_path / "sub.csv")], "expected a path ending in .hdf5"),
                           ([], "--out is required")):
        assert main(["dataset", "subset", str(src), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
    assert not out.exists()
    assert main(["dataset", "subset", str(src), "--out", str(src)]) == 2  # never replaces a file unasked
    assert "already exists" in capsys.readouterr().err


def test_episode_subset_recomputes_what_a_collected_dataset_records():
    from dawm.data import episode_subset

    ds = make_random_dataset(n_episodes=10, ep_len=6)
    ds.metadata.update(size=60, episodes=10, return_mean=123.0, command="dawm collect hopper medium")
    sub = episode_subset(ds, 0.5, seed=1)
    assert sub.metadata["size"] == len(sub) == 30 and sub.metadata["episodes"] == 5
    assert np.isclose(sub.metadata["return_mean"], sub.episode_returns().mean()) and "command" not in sub.metadata
    drawn = sub.metadata["subset_of"], sub.metadata["subset_fraction"], sub.metadata["subset_seed"]
    assert drawn == (ds.name, 0.5, 1)
