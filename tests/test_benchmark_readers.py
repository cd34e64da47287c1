"""The benchmark scripts that read committed records: benchmarks/achieved_returns.py (what a study's rollouts earn,
from the fidelity reports where the run left them or, once runs/ is gone, from the copies benchmarks/keep_records.sh
keeps beside the records) and benchmarks/train_metrics.py (training metrics at chosen updates)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report(real: float, model: float, simulator: float) -> dict:
    part = {"n": 4, "real": real, "model": model, "ensemble": simulator, "simulator": simulator}
    return {"achieved_return": {"gamma": 0.99, "all": part, "by_own_return_quartile": {q: part for q in "1234"}}}


def _run(folder: Path, cwd: Path, script: str = "achieved_returns.py", *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), str(folder), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_reads_kept_reports_and_counts_a_shared_set_once(tmp_path):
    records = tmp_path / "records"
    (records / "fidelity").mkdir(parents=True)
    stages = [{"fidelity": {"report": f"runs/x/synthetic/hopper-{k}-fidelity/fidelity.json"}} for k in range(2)]
    for agent in ("td3bc", "iql"):  # both agents' cells name the same two sets
        (records / f"dawm-{agent}__hopper__seed0.json").write_text(
            json.dumps({"dataset": "hopper", "per_seed_stages": stages}))
    (records / "fidelity" / "hopper-0-fidelity.json").write_text(json.dumps(_report(10.0, 12.0, 11.0)))
    (records / "fidelity" / "hopper-1-fidelity.json").write_text(json.dumps(_report(12.0, 12.0, 15.0)))
    done = _run(records, tmp_path)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| hopper |"))
    # means over the two sets: real 11, model 12, simulator 13; gain +2, the model's excess -1
    assert row == "| hopper | 2 | 11.00 | 12.00 | 13.00 | 13.00 | +2.00 | -1.00 |"


def test_a_missing_report_is_one_line_naming_both_places(tmp_path):
    (tmp_path / "r").mkdir()
    cell = {"dataset": "hopper", "fidelity": {"report": "runs/a/f.json"}}
    (tmp_path / "r" / "cell.json").write_text(json.dumps(cell))
    done = _run(tmp_path / "r", tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "runs/a/f.json" in done.stderr and "fidelity/a.json" in done.stderr


def test_train_metrics_reads_a_step_from_its_training_line_and_marks_what_is_missing(tmp_path):
    curve = tmp_path / "run.metrics.jsonl"
    lines = [{"step": 100, "train/q_mean": 5.0, "train/seed0/q_mean": 4.0}, {"step": 100, "eval/score_mean": 30.0},
             {"step": 200, "train/q_mean": 7.5}]
    curve.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    done = _run(curve, tmp_path, "train_metrics.py", "--keys", "train/q_mean", "eval/score_mean", "--at", "100", "200")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[2:]
    assert rows == [f"| {tmp_path.name}/run | 100 | 5.000 | 30.000 |", f"| {tmp_path.name}/run | 200 | 7.500 | – |"]


def test_long_plain_speeds_skip_evaluations_and_resumes(tmp_path):
    """benchmarks/long_plain.py's training speed: rates between consecutive training rows only, none across an
    evaluation or across a resume (the resumed clock continues from the checkpoint, so a step can repeat later)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from long_plain import speeds
    finally:
        sys.path.pop(0)
    rows = [{"step": 100, "time": 1.0}, {"step": 200, "time": 2.0},  # 100/s
            {"step": 300, "time": 4.0, "eval/score": 5.0},  # an evaluation came between
            {"step": 400, "time": 5.0},  # 100/s after it
            {"step": 300, "time": 5.2},  # resumed from the checkpoint at 200 (its clock at 4.2): the step goes back
            {"step": 400, "time": 6.2}]  # 100/s
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert speeds(path) == [100.0, 100.0, 100.0]
