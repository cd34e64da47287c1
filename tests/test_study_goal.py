"""Issue #27's goal as benchmarks/study_synthetic.py decides it (docs/results.md's plan): above for both agents on
at least two of the three confirmation datasets and below on none; at the short budget, below on none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VARIANT = "combined+ratio-0.25+own*1.5+return-filter"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("study_synthetic", ROOT / "benchmarks" / "study_synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores(study, offsets: dict[tuple[str, str], float]) -> dict:
    """5 seeds per cell: the plain agent at 50, 51, ..., 54 and the variant shifted by the offset (0 when unnamed):
    +10 is above with certainty, -10 below, 0 level."""
    out = {}
    for dataset in study.CONFIRMATION:
        for agent in study.AGENTS:
            plain = [50.0 + k for k in range(5)]
            shift = offsets.get((dataset, agent), 0.0)
            out.setdefault(dataset, {})[agent] = plain
            out[dataset][f"dawm-{agent}@{VARIANT}"] = [x + shift for x in plain]
    return out


def _verdict(study, capsys, offsets, short=False) -> str:
    study.goal(_scores(study, offsets), [VARIANT], reps=500, short=short)
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_two_datasets_above_for_both_agents_meet_the_goal(study, capsys):
    w, h, c = study.CONFIRMATION
    up = {(d, a): 10.0 for d in (w, h) for a in study.AGENTS}
    assert _verdict(study, capsys, up).endswith("met")
    # one agent only level on the second dataset: one dataset above, missed
    assert _verdict(study, capsys, {**up, (h, "iql"): 0.0}).endswith("missed")
    # two above but the third below for one agent: missed
    assert _verdict(study, capsys, {**up, (c, "td3bc"): -10.0}).endswith("missed")


def test_short_budget_asks_only_not_below(study, capsys):
    assert _verdict(study, capsys, {}, short=True).endswith("met")
    below = {(study.CONFIRMATION[2], "iql"): -10.0}
    assert _verdict(study, capsys, below, short=True).endswith("missed")


def test_a_missing_cell_decides_nothing_unless_a_cell_is_already_below(study, capsys):
    w, h, _ = study.CONFIRMATION
    scores = _scores(study, {(d, a): 10.0 for d in (w, h) for a in study.AGENTS})
    del scores[h][f"dawm-td3bc@{VARIANT}"]
    study.goal(scores, [VARIANT], reps=500, short=False)
    out = capsys.readouterr().out
    assert "no cells yet for hopper-medium-expert td3bc" in out and out.strip().endswith("not decided yet")
    scores[w][f"dawm-iql@{VARIANT}"] = [x - 10.0 for x in scores[w]["iql"]]
    study.goal(scores, [VARIANT], reps=500, short=False)
    assert capsys.readouterr().out.strip().endswith(": missed")


def test_the_table_command_prints_the_verdict_from_the_committed_records():
    """`table --goal` wired through the command line, on the confirmation's committed records."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "benchmarks/study_synthetic.py", "table", "--variants", VARIANT, "--out",
         "benchmarks/results/confirm", "--baseline", "benchmarks/results/long-plain", "--final", "10", "--goal",
         "--reps", "200"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"goal (issue #27 point 6), {VARIANT}" in done.stdout
    assert "| walker2d-medium-replay | td3bc |" in done.stdout
