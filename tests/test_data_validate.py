"""Every validation failure is one DataError naming the file and the key, also through the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dawm.cli import main
from dawm.data import read_d4rl
from dawm.utils.errors import DataError

N = 20


def good_arrays():
    rng = np.random.default_rng(0)
    timeouts = np.zeros(N, bool)
    timeouts[[9, 19]] = True
    return {"observations": rng.normal(size=(N, 11)).astype(np.float32),
            "actions": rng.uniform(-1, 1, (N, 3)).astype(np.float32),
            "rewards": rng.normal(size=N).astype(np.float32), "terminals": np.zeros(N, bool), "timeouts": timeouts}


def write(path, arrays, env_id="Hopper-v5"):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            if v is not None:
                f[k] = v
        if env_id:
            f["metadata/env_id"] = env_id
    return path


def broken(key, value):
    arrays = good_arrays()
    arrays[key] = value
    return arrays


CASES = {
    "missing key": (broken("rewards", None), "rewards", "missing"),
    "length mismatch": (broken("rewards", np.zeros(N - 1, np.float32)), "rewards",
                        f"length {N - 1} does not match observations (expected {N})"),
    "nan": (broken("observations", np.where(np.arange(N)[:, None] == 4, np.nan, 0.0)), "observations",
            "contains NaN at step 4"),
    "inf": (broken("actions", np.full((N, 3), np.inf)), "actions", "contains inf at step 0"),
    "wrong obs dim": (broken("observations", np.zeros((N, 12), np.float32)), "observations",
                      "observation size 12 does not match Hopper-v5 (expected 11)"),
    "1-D observations": (broken("observations", np.zeros(N, np.float32)), "observations", "is not 2-D"),
    "2-column rewards": (broken("rewards", np.zeros((N, 2), np.float32)), "rewards", "is not 1-D"),
    "string dtype": (broken("terminals", np.array(["no"] * N, dtype="S2")), "terminals", "is not numeric"),
    "zero episodes": ({k: v[:0] for k, v in good_arrays().items()}, "observations", "0 transitions in 0 episodes"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_one_data_error(tmp_path, case):
    arrays, key, problem = CASES[case]
    path = write(tmp_path / "x.hdf5", arrays)
    with pytest.raises(DataError) as err:
        read_d4rl(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}: ") and problem in msg and "\n" not in msg


def test_column_vectors_are_accepted(tmp_path):
    arrays = good_arrays()
    arrays["rewards"] = arrays["rewards"][:, None]
    arrays["terminals"] = arrays["terminals"][:, None]
    ds = read_d4rl(write(tmp_path / "x.hdf5", arrays))
    assert ds.rewards.shape == (N,) and ds.terminals.shape == (N,)


def test_infos_are_checked_too(tmp_path):
    arrays = good_arrays()
    arrays["infos/qpos"] = np.zeros((N - 2, 6))
    with pytest.raises(DataError, match=r"infos/qpos: length 18 does not match"):
        read_d4rl(write(tmp_path / "x.hdf5", arrays))


def test_random_bytes_and_truncated_file(tmp_path):
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match=r"junk.hdf5: not an HDF5 file"):
        read_d4rl(junk)
    full = write(tmp_path / "full.hdf5", good_arrays())
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut.hdf5: truncated HDF5 file"):
        read_d4rl(cut)
    with pytest.raises(DataError, match="file not found"):
        read_d4rl(tmp_path / "absent.hdf5")


@pytest.mark.parametrize("case", ["length mismatch", "nan"])
def test_cli_prints_one_line_and_exits_2(tmp_path, capsys, case):
    arrays, key, problem = CASES[case]
    path = write(tmp_path / "x.hdf5", arrays)
    assert main(["dataset", "info", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(f"dawm: error: {path}: {key}: {problem}")
