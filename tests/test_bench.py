"""`dawm bench` at the tiny preset: grid outputs, and resume recomputing only unfinished cells."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import dawm.bench as bench
from conftest import write_random_hopper_file
from dawm.cli import main
from test_results import parse_page
from dawm.results.plots import eval_curve
from dawm.results.tables import GridStats, markdown
from dawm.utils.errors import DawmError


@pytest.fixture(scope="module")
def hopper_file(tmp_path_factory):
    """1,500 random-policy Hopper-v5 steps (episodes cut at 100) in our D4RL-layout file."""
    return write_random_hopper_file(tmp_path_factory.mktemp("data") / "hopper-tiny.hdf5", 1500)


def _args(hopper_file, tmp_path):
    return ["bench", "--preset", "tiny", "--datasets", str(hopper_file), "--out", str(tmp_path / "bench"),
            "--run.root", str(tmp_path / "pipeline"), "--run.device", "cpu", "--run.agent.eval-every", "100",
            "--bootstrap-reps", "200"]


def test_bench_grid_outputs_and_resume(hopper_file, tmp_path, monkeypatch, capsys):
    calls = []
    real = bench.run_pipeline

    def counted(cfg):
        calls.append((cfg.method, cfg.seed))
        if len(calls) == 2 and flaky:  # the second cell of the first pass dies
            raise RuntimeError("simulated crash")
        return real(cfg)

    monkeypatch.setattr(bench, "run_pipeline", counted)
    flaky = True
    assert main(_args(hopper_file, tmp_path)) == 2  # one failed cell -> one-line error, exit 2
    assert "1 of 4 cells failed" in capsys.readouterr().err
    cells = tmp_path / "bench" / "cells"
    assert len(calls) == 4 and len(list(cells.glob("*.json"))) == 3
    (failed,) = cells.glob("*.error.txt")
    assert "simulated crash" in failed.read_text()

    # Resume: only the failed cell runs again.
    flaky, calls[:] = False, []
    mtimes = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert main(_args(hopper_file, tmp_path)) == 0
    assert len(calls) == 1 and f"{calls[0][0]}__hopper-tiny__seed{calls[0][1]}.json" not in mtimes
    assert all(p.stat().st_mtime_ns == mtimes[p.name] for p in cells.glob("*.json") if p.name in mtimes)
    assert not list(cells.glob("*.error.txt"))
    table = capsys.readouterr().out
    lines = table.splitlines()
    header = lines.index("| dataset | td3bc | dawm-td3bc |")
    assert lines[header + 2].startswith("| hopper-tiny | ") and table.count("(n=2)") == 2
    assert "Only 2 seed(s)" in table  # the few-seeds caveat is printed with the table

    out = tmp_path / "bench"
    assert table == (out / "results.md").read_text() + f"\nreport: {out / 'report.html'}\n"
    assert "P(dawm-td3bc > td3bc)" in parse_page(out / "report.html").all_text
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert sorted((r["method"], r["seed"]) for r in rows) == [("dawm-td3bc", "0"), ("dawm-td3bc", "1"),
                                                              ("td3bc", "0"), ("td3bc", "1")]
    assert all(r["dataset"] == "hopper-tiny" and np.isfinite(float(r["score"])) for r in rows)
    stats = list(csv.DictReader((out / "results.csv").open()))
    iqm = {(r["dataset"], r["method"]): r for r in stats if r["kind"] == "iqm"}
    assert set(iqm) == {(d, m) for d in ("hopper-tiny", "all") for m in ("td3bc", "dawm-td3bc")}
    assert all(float(r["low"]) <= float(r["value"]) <= float(r["high"]) and r["n"] == "2" for r in iqm.values())
    assert [(r["method"], r["versus"]) for r in stats if r["kind"] == "improvement"][:1] == [("dawm-td3bc", "td3bc")]
    assert r"\toprule" in (out / "results.tex").read_text()
    for png in ("curves_hopper-tiny.png", "intervals.png", "profiles.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"

    # Both dawm-td3bc seeds trained their own world model; re-running the grid computes nothing.
    assert len([p for p in (tmp_path / "pipeline" / "world_model").iterdir() if p.is_dir()]) == 2
    calls[:] = []
    assert main(_args(hopper_file, tmp_path)) == 0 and calls == []


def test_bench_table_and_curve_helpers(tmp_path):
    g = GridStats.compute({"d": {"a": [10.0, 20.0]}}, ["d", "e"], ["a", "b"], reps=200)
    lines = markdown(g).splitlines()
    mean_std = lines.index("Mean ± std over seeds (n = seeds).")
    assert lines[mean_std + 4:mean_std + 6] == ["| d | 15.0 ± 5.0 (n=2) | — |", "| e | — | — |"]
    f = tmp_path / "metrics.jsonl"
    f.write_text('{"step": 100, "train/loss": 1.0}\n{"step": 100, "eval/score_mean": 3.0}\n'
                 '{"step": 200, "eval/score_mean": 5.0}\n{"step": 200, "eval/score_mean": 6.0}\n')
    assert eval_curve(f) == {100: 3.0, 200: 6.0}


def test_bench_rejects_bad_grid_and_missing_ray(tmp_path):
    with pytest.raises(DawmError, match="unknown"):
        bench.run_bench(bench.BenchConfig(methods=("sac",), out=str(tmp_path)))
    with pytest.raises(DawmError, match="not both 0"):
        bench.run_bench(bench.BenchConfig(ray="local", ray_cpus=0, out=str(tmp_path)))
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(DawmError, match="'ray' package is not installed"):
            bench.run_bench(bench.BenchConfig(methods=("td3bc",), datasets=("x",), seeds=(0,), ray="auto",
                                              out=str(tmp_path)))
