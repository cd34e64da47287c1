"""The comparability rule on hand-made cell records (dawm.results.records)."""

from __future__ import annotations

import json

import pytest

from dawm.results import records
from dawm.results.grid import Grid, write_results
from dawm.utils.errors import DawmError


def _record(**changes) -> dict:
    base = {"schema": records.RECORD_SCHEMA, "dataset_digest": "aaa", "precision": "bfloat16", "compile": "none",
            "budget": {"updates": 30000, "batch": 256}, "evaluation": {"every": 5000, "episodes": 10},
            "code": {"sha": "1234567890", "dirty": False}, "torch": "2.13.0", "cpu": "AMD EPYC"}
    return {**base, **changes}


def _cell(method, seed=0, dataset="d", record=None, **extra) -> dict:
    cell = {"method": method, "dataset": dataset, "seed": seed, "score_mean": 10.0 + seed}
    if record is not None:
        cell["record"] = record
    return {**cell, **extra}


def _wm(key, recipe="r1", **changes) -> dict:
    return _record(world_model_recipe=recipe, world_model_key=key, **changes)


def test_like_with_like_passes_and_says_what_the_interval_is():
    cells = [_cell("td3bc", s, record=_record()) for s in range(3)]
    cells += [_cell("dawm-td3bc", s, record=_wm("k0")) for s in range(3)]
    c = records.check(cells)
    assert c.refused == [] and c.allowed == [] and c.unknown == []
    assert "one world model per dataset" in c.interval
    assert any(line.startswith("code 1234567 (6 cells)") for line in c.shown)


@pytest.mark.parametrize("name, change", [
    ("precision", {"precision": "float32"}),
    ("budget", {"budget": {"updates": 300000, "batch": 256}}),
    ("evaluation", {"evaluation": {"every": 10000, "episodes": 10}}),
    ("data", {"dataset_digest": "bbb"}),
])
def test_a_difference_is_refused_unless_allowed_and_then_named(name, change):
    cells = [_cell("td3bc", record=_record()), _cell("dawm-td3bc", record=_wm("k0", **change))]
    c = records.check(cells)
    assert len(c.refused) == 1 and c.refused[0].startswith(f"{name} differs")
    assert "(dawm-td3bc)" in c.refused[0] and "(td3bc)" in c.refused[0]
    with pytest.raises(DawmError, match=f"--allow-mismatch {name}"):
        c.require("grid")
    allowed = records.check(cells, allow=(name,))
    assert allowed.refused == [] and allowed.allowed == c.refused
    assert any("--allow-mismatch" in line for line in allowed.lines())


def test_data_is_judged_per_dataset_and_world_models_only_where_there_are_some():
    cells = [_cell("td3bc", dataset="d", record=_record(dataset_digest="aaa")),
             _cell("td3bc", dataset="e", record=_record(dataset_digest="bbb")),  # another dataset: fine
             _cell("dawm-td3bc", dataset="d", record=_wm("k0", recipe="r1")),
             _cell("dwm-td3bc", dataset="d", record=_wm("k1", recipe="r2"))]
    c = records.check(cells)
    assert len(c.refused) == 1 and c.refused[0].startswith("world-model differs on d: r1 (dawm-td3bc); r2 (dwm-td3bc)")


def test_missing_fields_are_unknown_not_refused():
    """An old record without a record (only the digest it always had): its fields are unknown, shown as such."""
    cells = [_cell("td3bc", record=_record()), _cell("dawm-td3bc", dataset_digest="aaa")]
    c = records.check(cells)
    assert c.refused == []
    # one line per set of cells, naming the fields they lack; the top-level digest counts as the data's
    assert c.unknown == ["precision, budget, evaluation, world-model for dawm-td3bc"]
    assert "unknown" in c.interval
    assert records.value(cells[1], "precision") == records.UNKNOWN
    assert records.value(cells[0], "world-model") == records.NONE  # a plain agent has no world model


def test_interval_kind_follows_the_world_model_keys():
    own = [_cell("dawm-iql", s, record=_wm(f"k{s}")) for s in range(3)]
    assert "each seed has its own world model" in records.check(own).interval
    mixed = own + [_cell("dawm-td3bc", s, record=_wm("k0")) for s in range(3)]
    assert "different kinds" in records.check(mixed).interval


def test_unknown_allow_word_is_one_line():
    with pytest.raises(DawmError, match="--allow-mismatch colour: unknown"):
        records.check([], allow=("colour",))


def test_grid_tables_refuse_mixed_cells_and_name_allowed_ones(tmp_path):
    out = tmp_path / "g"
    (out / "cells").mkdir(parents=True)
    for s in range(2):
        for method, rec in (("iql", _record(precision="float32")), ("dawm-iql", _wm("k0"))):
            (out / "cells" / f"{method}__d__seed{s}.json").write_text(json.dumps(_cell(method, s, record=rec)))
    with pytest.raises(DawmError, match="precision differs: bfloat16 \\(dawm-iql\\); float32 \\(iql\\)"):
        write_results(Grid.load(out), reps=50)
    write_results(Grid.load(out, allow=("precision",)), reps=50)
    text = (out / "results.md").read_text()
    assert "Compared although they differ (--allow-mismatch): precision differs" in text
    assert "Intervals: 95% stratified bootstrap over agent seeds; one world model" in text


def test_dawm_report_refuses_in_one_line_and_allows_on_request(tmp_path, capsys):
    from dawm.cli import main

    out = tmp_path / "g"
    (out / "cells").mkdir(parents=True)
    for s in range(2):
        for method, rec in (("iql", _record(budget={"updates": 1000, "batch": 256})), ("dawm-iql", _wm("k0"))):
            (out / "cells" / f"{method}__d__seed{s}.json").write_text(json.dumps(_cell(method, s, record=rec)))
    assert main(["report", str(out), "--bootstrap-reps", "50"]) == 2
    err = capsys.readouterr().err
    assert "budget differs" in err and "--allow-mismatch budget" in err and "Traceback" not in err
    assert main(["report", str(out), "--bootstrap-reps", "50", "--allow-mismatch", "budget"]) == 0
    assert "Compared although they differ (--allow-mismatch): budget differs" in (out / "results.md").read_text()


def test_claim_preset_gives_each_seed_its_own_world_model():
    from dawm.bench import BenchConfig
    from dawm.utils.config import load_config

    cfg = load_config(BenchConfig, "bench", "claim")
    assert cfg.run.world_model_seed is None and len(cfg.seeds) >= 5


def test_a_vectorised_run_is_one_cell_per_seed_with_its_own_curve(tmp_path):
    """A record of S seeds trained in one process becomes S cells (seeds seed..seed+S-1), each scored by its own
    evaluations, read from <record>.metrics.jsonl beside a committed record."""
    out = tmp_path / "g"
    (out / "cells").mkdir(parents=True)
    path = out / "cells" / "iql__d__seed0.json"
    path.write_text(json.dumps(_cell("iql", 0, record=_record(agent_seeds=3), agent_run="/nowhere")))
    rows = [{"step": s, "eval/score_mean": 0.0, **{f"eval/seed{k}/score_mean": 10.0 * k + s / 1000 for k in range(3)}}
            for s in (1000, 2000, 3000)]
    path.with_suffix(".metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    grid = Grid.load(out)
    assert [c["seed"] for c in grid.cells] == [0, 1, 2]
    assert grid.scores() == {"d": {"iql": [3.0, 13.0, 23.0]}}
    assert grid.scores(final=2) == {"d": {"iql": [2.5, 12.5, 22.5]}}
    assert grid.scores(area=True) == {"d": {"iql": [2.0, 12.0, 22.0]}}  # the mean over every evaluation
    assert len(grid.curves()["d"]["iql"]) == 3 and not grid.problems
    # each vectorised seed with its own world model: the cells carry their own keys, and the table says so
    own = _wm("k0", agent_seeds=3, world_model_keys=["k0", "k1", "k2"], world_model_seeds=[0, 1, 2])
    stages = [{"synthetic_file": f"s{k}.hdf5", "fidelity": {"report": f"f{k}.json"}} for k in range(3)]
    path.write_text(json.dumps(_cell("dawm-iql", 0, record=own, agent_run="/nowhere", per_seed_stages=stages)))
    cells = Grid.load(out).cells
    assert [c["synthetic_file"] for c in cells] == ["s0.hdf5", "s1.hdf5", "s2.hdf5"]  # each seed's own set
    assert [records.value(c, "world_model_key") for c in cells] == ["k0", "k1", "k2"]
    assert [c["record"]["world_model_seed"] for c in cells] == [0, 1, 2]
    assert "each seed has its own world model" in records.interval_kind(cells)


def test_a_longer_run_read_at_an_earlier_update(tmp_path):
    """Grid.at(step): each cell scored by its evaluation at `step`, its curve cut there, its record's budget `step`
    updates (marked derived), so it compares like with like with runs of that budget."""
    out = tmp_path / "g"
    (out / "cells").mkdir(parents=True)
    path = out / "cells" / "iql__d__seed0.json"
    long_run = _record(agent_seeds=3, budget={"updates": 3000, "batch": 256})
    path.write_text(json.dumps(_cell("iql", 0, record=long_run)))
    rows = [{"step": s, **{f"eval/seed{k}/score_mean": 10.0 * k + s / 1000 for k in range(3)}}
            for s in (1000, 2000, 3000)]
    path.with_suffix(".metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    early = Grid.load(out).at(2000)
    assert early.scores() == {"d": {"iql": [2.0, 12.0, 22.0]}}
    assert early.scores(final=2) == {"d": {"iql": [1.5, 11.5, 21.5]}}
    assert records.value(early.cells[0], "budget") == {"updates": 2000, "batch": 256}
    assert "read at update 2000" in early.cells[0]["record"]["derived"]["budget"]
    short = [_cell("dawm-iql", s, record=_wm("k0", budget={"updates": 2000, "batch": 256})) for s in range(3)]
    assert records.check(early.cells + short).refused == []
    assert Grid.load(out).at(2500).cells == []  # no evaluation there
