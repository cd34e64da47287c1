"""Statistics (rliable) against hand-computed cases, the grid's records, and report pages."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from dawm.cli import main
from dawm.results import stats
from dawm.results.grid import Grid, fidelity_table, write_results
from dawm.results.report import write_grid_report
from dawm.results.tables import GridStats, latex


class Page(HTMLParser):
    """Checks nesting (every opened element closed in order) and collects the text and images."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.stack, self.text, self.images, self.errors = [], [], 0, []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images += dict(attrs)["src"].startswith("data:image/png;base64,")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def parse_page(path) -> Page:
    page = Page(path.read_text())
    assert not page.errors and not page.stack, (page.errors, page.stack)  # well-formed
    assert "http://" not in path.read_text() and "https://" not in path.read_text()  # no network
    return page


def test_iqm_by_hand():
    # 8 runs: the middle 50% are 3, 4, 5, 6 -> IQM 4.5, whatever the outliers.
    assert stats.iqm(np.array([[1.0], [2], [3], [4], [5], [6], [7], [1000]])) == pytest.approx(4.5)
    # Runs x tasks are pooled: 2 runs x 2 tasks = 4 values; trimming 25% of 4 drops one at each end.
    assert stats.iqm(np.array([[0.0, 10.0], [4.0, 6.0]])) == pytest.approx(5.0)


def test_bootstrap_known_case():
    # Two runs {0, 10}: a resample of 2 has mean 0 (p 1/4), 5 (1/2) or 10 (1/4), so the 95% percentile
    # interval is [0, 10] exactly, and the point is the mean.
    table = stats.dataset_table({"d": {"m": [0.0, 10.0]}}, reps=500, seed=0)
    e = table["d", "m"]["iqm"]
    assert (e.value, e.low, e.high, e.n) == (5.0, 0.0, 10.0, 2)
    # The same seed gives the same interval (a rebuilt report says the same).
    x = {"d": {"m": [1.0, 4.0, 2.0, 8.0, 5.0]}}
    assert stats.dataset_table(x, 300, seed=3) == stats.dataset_table(x, 300, seed=3)
    # One seed: no interval, and the text says so.
    one = stats.dataset_table({"d": {"m": [7.0]}})["d", "m"]["iqm"]
    assert one.low == one.high == 7.0 and "no CI" in one.text()


def test_probability_of_improvement_and_aggregates():
    better = {"a": {"x": [10.0, 11, 12], "y": [1.0, 2, 3]}, "b": {"x": [5.0, 6, 7], "y": [0.0, 1, 2]}}
    p = stats.probability_of_improvement(better, "x", "y", ["a", "b"], reps=300)
    assert p.value == 1.0 and p.low == 1.0  # every run of x beats every run of y on both datasets
    assert stats.probability_of_improvement(better, "y", "x", ["a", "b"], reps=300).value == 0.0
    agg = stats.aggregate_table(better, ["x", "y"], ["a", "b"], reps=300)
    assert agg["x"]["iqm"].value == pytest.approx(stats.iqm(np.array([[10, 5], [11, 6], [12, 7.0]])))
    assert agg["x"]["optimality_gap"].value == pytest.approx(100 - np.mean([10, 11, 12, 5, 6, 7]))
    # Unequal seeds per dataset: the aggregate takes the first n of each (rliable needs equal runs).
    uneven = {"a": {"x": [1.0, 2, 3]}, "b": {"x": [4.0, 5]}}
    assert stats.matrix(uneven, "x", ["a", "b"]).tolist() == [[1, 4], [2, 5]]
    assert stats.improvement_pairs(["td3bc", "dawm-td3bc", "dwm-td3bc", "iql"]) == [
        ("dawm-td3bc", "td3bc"), ("dawm-td3bc", "dwm-td3bc")]


def test_latex_bolds_the_best_per_row():
    g = GridStats.compute({"d": {"td3bc": [1.0, 2.0], "dawm-td3bc": [5.0, 6.0]}}, ["d"], ["td3bc", "dawm-td3bc"], 200)
    row = next(line for line in latex(g).splitlines() if line.startswith("d &"))
    assert r"\textbf{5.5}" in row and r"\textbf{1.5}" not in row and r"\toprule" in latex(g)


def _cell(out, method, dataset, seed, score, agent_run="", **extra):
    path = out / "cells" / f"{method}__{dataset}__seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"method": method, "dataset": dataset, "seed": seed, "score_mean": score,
                                "agent_run": agent_run, "stage_seconds": {"agent": 10.0}, **extra}))
    return path


def test_grid_with_bad_records_still_reports(tmp_path, capsys):
    out = tmp_path / "grid"
    for seed, (a, b) in enumerate(((10.0, 12.0), (11.0, 14.0))):  # two seeds: wide CIs, still a report
        _cell(out, "td3bc", "hopper-x", seed, a)
        _cell(out, "dawm-td3bc", "hopper-x", seed, b)
    _cell(out, "td3bc", "hopper-x", 2, 0.0).write_text("{not json")  # corrupt record
    (out / "cells" / "dawm-td3bc__hopper-x__seed2.json").write_text(json.dumps({"method": "dawm-td3bc"}))
    assert main(["report", str(out), "--bootstrap-reps", "200"]) == 0
    err = capsys.readouterr().err
    assert "cell td3bc__hopper-x__seed2:" in err and "cell dawm-td3bc__hopper-x__seed2:" in err
    assert "Traceback" not in err
    results = (out / "results.md").read_text()
    assert "(n=2)" in results and "Only 2 seed(s)" in results
    page = parse_page(out / "report.html")
    text = page.all_text
    assert "P(dawm-td3bc > td3bc)" in text and "left out" in text
    g = GridStats.compute(Grid.load(out).scores(), ["hopper-x"], ["td3bc", "dawm-td3bc"], 200)
    assert g.per_dataset["hopper-x", "dawm-td3bc"]["iqm"].text() in text  # the page carries the table's numbers


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "neither a `dawm bench` directory" in err and "Traceback" not in err
    (tmp_path / "cells").mkdir()
    assert main(["report", str(tmp_path)]) == 2
    assert "no finished cell records" in capsys.readouterr().err


def test_grid_report_from_written_results(tmp_path):
    out = tmp_path / "g"
    for seed in range(3):
        _cell(out, "iql", "walker-y", seed, 20.0 + seed)
    grid = Grid.load(out)
    g = write_results(grid, reps=200)
    page = parse_page(write_grid_report(out, g=g, grid=grid))
    assert "no dawm-X with its baseline" in page.all_text
    assert (out / "results.tex").is_file() and (out / "scores.csv").read_text().count("\n") == 4


def test_fidelity_table_labels_the_oracle_sets_check(tmp_path):
    fidelity = {"synthetic": {"state_rmse": 0.1}, "ensemble": {"state_rmse": 0.05}, "real": {"state_rmse": 0.01}}
    for seed in range(2):
        _cell(tmp_path / "model", "dawm-iql", "d", seed, 1.0, fidelity=fidelity, synthetic_file=f"s{seed}")
        _cell(tmp_path / "oracle", "dawm-iql", "d", seed, 1.0, fidelity=fidelity, synthetic_file=f"s{seed}",
              synthetic_source="oracle (diagnostic)")
    model, oracle = (fidelity_table(Grid.load(tmp_path / v)) for v in ("model", "oracle"))
    assert "| d | synthetic | 0.100 |" in model and "before the oracle" not in model
    assert "| d | synthetic (model's, before the oracle) | 0.100 |" in oracle and "| 2 |" in oracle


def test_scores_from_the_last_evaluations(tmp_path):
    """final=k scores a seed by the mean of its last k evaluations; a run with fewer is left out, said once."""
    for seed, evals in enumerate(([1.0, 2.0, 6.0, 10.0], [3.0, 7.0])):
        run = tmp_path / f"run{seed}"
        run.mkdir()
        rows = [{"step": 1000 * (i + 1), "eval/score_mean": v} for i, v in enumerate(evals)]
        rows.insert(1, {"step": 1500, "train/loss": 0.5})  # training rows carry no score
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        _cell(tmp_path / "g", "iql", "d", seed, evals[-1], agent_run=str(run))
    grid = Grid.load(tmp_path / "g")
    assert grid.scores() == {"d": {"iql": [10.0, 7.0]}}
    assert grid.scores(final=3) == {"d": {"iql": [6.0]}}
    assert len(grid.problems) == 1 and "seed 1: 2 evaluations" in grid.problems[0]




def test_improvement_is_rliables_statistic_and_the_effect_is_in_points():
    """The numpy P(X > Y) equals rliable's (scipy's Mann-Whitney U, ties half) on arrays with ties; the effect
    beside it is the IQM difference in score points."""
    from rliable import metrics

    rng = np.random.default_rng(0)
    for _ in range(100):
        x, y = rng.integers(0, 4, (5, 3)).astype(float), rng.integers(0, 4, (4, 3)).astype(float)
        assert stats.improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y), abs=1e-12)
        assert stats.iqm(x) == pytest.approx(metrics.aggregate_iqm(x), abs=1e-12)  # numpy IQM = rliable's
    for n in (1, 2, 3, 5, 7, 10):
        x = rng.normal(size=(n, 2))
        assert stats.iqm(x) == pytest.approx(metrics.aggregate_iqm(x), abs=1e-12)
    scores = {"d": {"a": [10.0, 11.0, 12.0, 13.0], "b": [1.0, 2.0, 3.0, 4.0]}}
    effect = stats.difference(scores, "a", "b", ["d"], reps=200)
    assert effect.value == pytest.approx(9.0) and effect.signed().startswith("+9.0 [")
    assert stats.probability_of_improvement(scores, "a", "b", ["d"], reps=200).value == 1.0
