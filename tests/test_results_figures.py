"""The report reads at a glance: one colour per method in every figure, profiles on the scores' own
range, and a grid's config that does not pass its run template's method off as the grid's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from matplotlib.colors import to_hex

from dawm.bench import BenchConfig
from dawm.pipeline import RunConfig
from dawm.results import plots, stats
from dawm.results.grid import Grid, write_results
from dawm.results.report import write_grid_report
from dawm.utils.config import save_config


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would save, kept open for inspection instead."""
    kept = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plots.pyplot().close(fig)


def test_a_method_keeps_its_colour_whatever_it_is_listed_with():
    known = ["td3bc", "iql", "dawm-td3bc", "dawm-iql", "dwm-td3bc", "dwm-iql"]
    assert len({plots.method_colour(m) for m in known}) == len(known)
    label = "dawm-iql@combined"  # a study label: not a known method
    assert plots.method_colour(label) == plots.method_colour(label) not in {plots.method_colour(m) for m in known}
    # Derived from the name, not from Python's per-process string hash.
    code = f"from dawm.results.plots import method_colour; print(method_colour({label!r}))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": s}).stdout.strip() for s in ("1", "2")}
    assert seen == {plots.method_colour(label)}


def test_every_figure_draws_a_method_in_its_colour(figures, tmp_path):
    curve = [{1000: 5.0, 2000: 8.0, 3000: 9.0}, {1000: 6.0, 2000: 7.0, 3000: 10.0}]
    # Different sets and orders of methods in each figure: position must not pick the colour.
    plots.plot_curves({"td3bc": curve, "dawm-iql": curve}, tmp_path / "c.png", "d", reps=50)
    scores = {"d": {"dawm-iql": [8.0, 9.0], "iql": [10.0, 11.0], "td3bc": [12.0, 15.0]}}
    methods = ["dawm-iql", "iql", "td3bc"]
    aggregate = stats.aggregate_table(scores, methods, ["d"], reps=50)
    plots.plot_intervals(aggregate, tmp_path / "i.png")
    plots.plot_profiles(scores, methods, ["d"], tmp_path / "p.png", reps=50)
    curves, intervals, profiles = figures

    def line_colours(ax):
        return {line.get_label().split(" ")[0]: to_hex(line.get_color()) for line in ax.get_lines()}

    assert line_colours(curves.axes[0]) == {m: plots.method_colour(m) for m in ("td3bc", "dawm-iql")}
    assert line_colours(profiles.axes[0]) == {m: plots.method_colour(m) for m in methods}
    bands = [to_hex(c.get_facecolor()[0], keep_alpha=False) for c in curves.axes[0].collections]
    assert bands == [plots.method_colour(m) for m in ("dawm-iql", "td3bc")]  # drawn in sorted order
    for ax in intervals.axes:
        assert [to_hex(b.get_facecolor(), keep_alpha=False) for b in ax.patches] == [
            plots.method_colour(m) for m in methods]


def test_profile_axis_spans_the_scores(figures, tmp_path):
    scores = {"d": {"td3bc": [8.0, 9.0, 12.0], "iql": [10.0, 11.0, 15.0]}}
    plots.plot_profiles(scores, ["td3bc", "iql"], ["d"], tmp_path / "p.png", reps=50)
    lo, hi = figures[0].axes[0].get_xlim()
    assert 7.0 < lo < 8.0 and 15.0 < hi < 16.0  # a little beyond 8 and 15, not 0-100
    one = plots.profile_range([[[50.0]]])  # one score: still a span around it
    assert one[0] < 50.0 < one[1] and one[1] - one[0] < 10


def test_grid_config_does_not_show_the_run_template_as_the_grids(tmp_path):
    out = tmp_path / "g"
    for method in ("td3bc", "iql"):
        for seed in range(2):
            path = out / "cells" / f"{method}__hopper-x__seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"method": method, "dataset": "hopper-x", "seed": seed,
                                        "score_mean": 10.0 + seed, "stage_seconds": {"agent": 1.0}}))
    template = RunConfig(method="dawm-td3bc", dataset="walker-template", seed=7)
    save_config(BenchConfig(methods=("td3bc", "iql"), datasets=("hopper-x",), seeds=(0, 1), out=str(out),
                            run=template), out / "config.yaml")
    grid = Grid.load(out)
    page = write_grid_report(out, g=write_results(grid, reps=50), grid=grid).read_text()
    config = page[page.index("<h2>Resolved config</h2>"):]

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts = []
            self.feed(config)

        def handle_data(self, data):
            self.parts.append(data)

    text = "".join(Text().parts)
    assert "methods iql, td3bc; datasets hopper-x; seeds 0, 1" in text
    assert "dawm-td3bc" not in text and "walker-template" not in text and "seed: 7" not in text
    assert "set per cell" in text and "root: runs/pipeline" in text  # the rest of the template stays
