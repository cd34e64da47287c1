"""`dawm bench --ray local` against a real local Ray instance: cells as chained Ray tasks, records
written by the driver, a failed cell reported, resume, and Ray shut down only if bench started it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import write_random_hopper_file
from dawm.cli import main

ray = pytest.importorskip("ray")


def test_bench_on_local_ray(tmp_path, capsys):
    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    data = write_random_hopper_file(tmp_path / "hopper-tiny.hdf5", 1500)
    late = tmp_path / "hopper-late.hdf5"  # missing on the first pass: its cell fails
    cells = tmp_path / "bench" / "cells"
    args = ["bench", "--preset", "tiny", "--methods", "td3bc", "iql", "--datasets", str(data), str(late),
            "--seeds", "0", "--out", str(tmp_path / "bench"), "--run.root", str(tmp_path / "pipeline"),
            "--run.device", "cpu", "--run.agent.eval-every", "100", "--bootstrap-reps", "200",
            "--run.agent.eval-episodes", "1",
            "--ray", "local", "--workers", "2"]

    assert main(args) == 2
    err = capsys.readouterr().err
    assert "2 of 4 cells failed (first: " in err and "__hopper-late__seed0: DataError" in err
    assert not ray.is_initialized()  # the instance bench started is gone
    assert sorted(p.name for p in cells.iterdir()) == [
        "iql__hopper-late__seed0.error.txt", "iql__hopper-tiny__seed0.json",
        "td3bc__hopper-late__seed0.error.txt", "td3bc__hopper-tiny__seed0.json"]
    assert "Traceback" in (cells / "td3bc__hopper-late__seed0.error.txt").read_text()
    # One group's cells ran in sequence: iql's agent run began after td3bc's had finished.
    runs = {m: Path(json.loads((cells / f"{m}__hopper-tiny__seed0.json").read_text())["agent_run"])
            for m in ("td3bc", "iql")}
    assert (runs["iql"] / "config.yaml").stat().st_mtime_ns >= (runs["td3bc"] / "summary.json").stat().st_mtime_ns

    # Resume on a Ray session the caller opened: only the two failed cells run, and it stays open.
    shutil.copy(data, late)
    done = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(args) == 0
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    assert all(p.stat().st_mtime_ns == done[p.name] for p in cells.glob("*.json") if p.name in done)
    assert len(list(cells.glob("*.json"))) == 4 and not list(cells.glob("*.error.txt"))
    rows = list(csv.DictReader((tmp_path / "bench" / "scores.csv").open()))  # one row per seed
    assert sorted((r["dataset"], r["method"]) for r in rows) == [
        ("hopper-late", "iql"), ("hopper-late", "td3bc"), ("hopper-tiny", "iql"), ("hopper-tiny", "td3bc")]
    assert all(np.isfinite(float(r["score"])) for r in rows)
