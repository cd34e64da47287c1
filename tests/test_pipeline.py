"""`dawm run` end to end at the tiny preset, and stage reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_random_hopper_file
from test_results import parse_page
from dawm.cli import main
from dawm.envs.collect import load_dataset


@pytest.fixture(scope="module")
def hopper_file(tmp_path_factory):
    """3,000 random-policy Hopper-v5 steps in our D4RL-layout file."""
    return write_random_hopper_file(tmp_path_factory.mktemp("data") / "hopper-random-small.hdf5", 3000)


def test_dawm_run_tiny_end_to_end_and_reuse(hopper_file, tmp_path, capsys, monkeypatch):
    args = ["run", "--preset", "tiny", "--dataset", str(hopper_file), "--root", str(tmp_path), "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "normalised score" in out and "next-state RMSE" in out
    summary = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    # The plain agent ran beside it (same seed and budget), and both scores are printed with their difference.
    base = summary["baseline"]
    assert base["method"] == "td3bc" and summary["difference"] == pytest.approx(summary["score_mean"]
                                                                                - base["score_mean"])
    assert f"{base['score_mean']:6.1f}" in out and "difference" in out and "action spread" in out and "novelty" in out
    assert 0 < summary["fidelity"]["synthetic"]["novelty"] < 10  # tiny model: some new pairs, not all off the data
    page = parse_page(tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "report.html")
    assert f"{summary['score_mean']:.1f}" in page.all_text and page.images >= 2  # curves and a rollout plot
    assert "next-state RMSE" in page.all_text and "Resolved config" in page.all_text
    counts = summary["sample_counts"]
    assert counts["synthetic"] > 0 and counts["real"] > 0  # the agent really drew from both sources
    assert set(summary["stage_seconds"]) == {"dataset", "world_model", "synthesis", "fidelity", "agent",
                                              "baseline_wait"}
    # one one-step ensemble per (data, size, seed) under the root: the guards' and the fidelity check's
    syn_file = Path(summary["synthetic_file"])
    ensembles = list((tmp_path / "ensembles").glob("*/ensemble.pt"))
    assert len(ensembles) == 1 and not syn_file.with_name(syn_file.stem + "-guard-ensemble").exists()
    assert not (syn_file.with_name(syn_file.stem + "-fidelity") / "ensemble").exists()
    ensemble_mtime = ensembles[0].stat().st_mtime
    assert json.loads(Path(summary["fidelity"]["report"]).read_text())["ensemble_training"]["steps"] > 0
    wm_file = tmp_path / "world_model" / summary["world_model"].rsplit("/", 1)[-1] / "world_model.pt"
    wm_mtime = wm_file.stat().st_mtime

    # The plain baseline shares nothing but the dataset, and no ratio reaches it (same cached agent run);
    # re-running DAWM reuses every stage.
    assert main(["run", "--preset", "tiny", "--method", "td3bc", "--dataset", str(hopper_file), "--root",
                 str(tmp_path), "--device", "cpu", "--synthetic-ratio", "0.9"]) == 0
    plain = json.loads((tmp_path / "td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    assert plain["agent_run"] == base["agent_run"] and plain["score_mean"] == base["score_mean"]
    assert len(plain["dataset_digest"]) == 10 and plain["dataset_digest"] == summary["dataset_digest"]
    # every record says what makes it comparable; the world model's recipe and key are its run directory's hash
    rec = summary["record"]
    assert rec["schema"] == 1 and rec["dataset_digest"] == summary["dataset_digest"]
    assert rec["precision"] in ("float32", "bfloat16") and rec["compile"] and rec["budget"]["updates"] > 0
    assert set(rec["evaluation"]) == {"every", "episodes"} and set(rec["code"]) == {"sha", "dirty"}
    assert summary["world_model"].endswith(rec["world_model_key"]) and len(rec["world_model_recipe"]) == 10
    assert "world_model_recipe" not in plain["record"] and plain["record"]["budget"] == rec["budget"]
    quick = args + ["--no-baseline"]  # the baseline was checked above; later runs skip its process
    assert main(quick) == 0
    again = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    assert again["synthetic_file"] == summary["synthetic_file"] and again["score_mean"] == summary["score_mean"]
    assert wm_file.stat().st_mtime == wm_mtime  # not retrained
    # the reused agent run's own seconds travel with it; this call's stage time is only its load
    assert again["agent_run_seconds"] == summary["agent_run_seconds"] > 0

    # A refresh schedule regenerates the synthetic set during training; it is a new agent run.
    assert main(quick + ["--synthesis.refresh-every", "80"]) == 0
    refreshed = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    assert refreshed["agent_run"] != summary["agent_run"] and refreshed["synthetic_file"] == summary["synthetic_file"]
    assert list((tmp_path / "ensembles").glob("*/ensemble.pt")) == ensembles  # its guards reuse the ensemble
    assert ensembles[0].stat().st_mtime == ensemble_mtime

    # Ensemble labels answer the same generated set (reused, not made again): its (s, a), the ensemble's answers.
    syn_mtime = syn_file.stat().st_mtime
    assert main(quick + ["--synthesis.labels", "ensemble"]) == 0
    answered = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    assert Path(answered["synthetic_file"]).name == syn_file.stem + "-ensemble.hdf5"
    model_set, ensemble_set = load_dataset(str(syn_file)), load_dataset(answered["synthetic_file"])
    np.testing.assert_array_equal(ensemble_set.observations, model_set.observations)
    np.testing.assert_array_equal(ensemble_set.actions, model_set.actions)
    assert not np.array_equal(ensemble_set.next_observations, model_set.next_observations)
    assert syn_file.stat().st_mtime == syn_mtime
    assert Path(answered["fidelity"]["report"]).parent.name == syn_file.stem + "-ensemble-fidelity"

    # DWM uses the same world model (reused, not retrained) only in the critic target.
    assert main(["run", "--preset", "tiny", "--method", "dwm-iql", "--dwm-horizon", "3", "--no-baseline", "--dataset",
                 str(hopper_file), "--root", str(tmp_path), "--device", "cpu"]) == 0
    dwm = json.loads((tmp_path / "dwm-iql-hopper-random-small-seed0" / "summary.json").read_text())
    assert dwm["world_model"] == summary["world_model"] and dwm["dwm_horizon"] == 3
    assert "synthetic_file" not in dwm and dwm["sample_counts"].get("synthetic", 0) == 0
    assert wm_file.stat().st_mtime == wm_mtime

    # Another seed with the world model's seed pinned shares the world model, not the synthetic data.
    assert main(quick + ["--seed", "1", "--world-model-seed", "0"]) == 0
    seed1 = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed1" / "summary.json").read_text())
    assert seed1["world_model"] == summary["world_model"] and seed1["synthetic_file"] != summary["synthetic_file"]
    assert wm_file.stat().st_mtime == wm_mtime

    # Vectorised seeds carry the stages' seed axis: seed k has its own world model and set, as a separate run
    # with seed k would (seed 0's are the single run's, reused); the real data is loaded once for every stage.
    import dawm.envs.collect

    loads, load = [], dawm.envs.collect.load_dataset
    counting = lambda name, *a, **kw: loads.append(str(name)) or load(name, *a, **kw)  # noqa: E731
    for module in ("pipeline", "stages", "world_model.trainer", "world_model.synthesis", "agents.trainer",
                   "world_model.fidelity_outputs"):
        monkeypatch.setattr(f"dawm.{module}.load_dataset", counting)
    assert main(quick + ["--agent.seeds", "2"]) == 0
    vec = json.loads((tmp_path / "dawm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    first, second = vec["per_seed_stages"]
    assert first["world_model"] == summary["world_model"] and first["synthetic_file"] == summary["synthetic_file"]
    assert second["world_model"] != summary["world_model"] and second["synthetic_file"] != seed1["synthetic_file"]
    keys = [Path(f["world_model"]).name.rsplit("-", 1)[-1] for f in vec["per_seed_stages"]]
    assert vec["record"]["world_model_keys"] == keys
    assert loads.count(str(hopper_file)) == 1 and loads.count(first["synthetic_file"]) == 1  # seed 1's: in memory
    assert second["synthetic_file"] not in loads and Path(second["fidelity"]["report"]).exists()
    assert "seed 1 " in capsys.readouterr().out.split("full report")[-1]  # the printout names seed 1's set too
    # DWM's vectorised seeds share one world model (their batches meet in one value-expansion target)
    assert main(["run", "--preset", "tiny", "--method", "dwm-td3bc", "--no-baseline", "--dataset", str(hopper_file),
                 "--root", str(tmp_path), "--device", "cpu", "--agent.seeds", "2"]) == 0
    dwm2 = json.loads((tmp_path / "dwm-td3bc-hopper-random-small-seed0" / "summary.json").read_text())
    assert dwm2["world_model"] == summary["world_model"] and "world_model_keys" not in dwm2["record"]


def test_dawm_run_rejects_unknown_method(capsys):
    assert main(["run", "--method", "dwm-sac"]) == 2
    assert "expected one of" in capsys.readouterr().err.lower()


@pytest.mark.parametrize("flag,value", [("--synthesis.refresh-every", "-1"), ("--dwm-pool-size", "-5"),
                                        ("--dwm-refresh-every", "0")])
def test_dawm_run_rejects_bad_schedules(flag, value, capsys):
    assert main(["run", flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {value}: must be at least" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--synthesis.consistency-quantile", "--synthesis.disagreement-quantile"])
def test_dawm_run_rejects_a_bad_guard_quantile_before_any_work(flag, tmp_path, capsys):
    assert main(["run", flag, "1.5", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} 1.5: expected a quantile in [0, 1]" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("flag,value,instead", [
    ("--agent.seed", "3", "--seed"), ("--synthesis.dataset", "x", "--dataset"),
    ("--agent.synthetic-ratio", "0.2", "--synthetic-ratio"), ("--world-model.device", "cpu", "--device")])
def test_dawm_run_refuses_stage_fields_it_sets_itself(flag, value, instead, capsys):
    """No field is overwritten behind the user's back: the pipeline's own fields are refused, naming the flag."""
    assert main(["run", flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag}: `dawm run` sets it itself (use {instead}" in err and "Traceback" not in err


def test_a_failing_baseline_process_is_one_line_not_a_hang(tmp_path):
    from dawm.pipeline import RunConfig, _Baseline
    from dawm.utils.errors import DawmError

    cfg = RunConfig(method="dawm-td3bc", dataset=str(tmp_path / "missing.hdf5"), root=str(tmp_path))
    baseline = _Baseline(cfg, "td3bc", "missing")
    with pytest.raises(DawmError, match="baseline: .*missing.hdf5"):
        baseline.get()
    assert "Traceback" in baseline.log.read_text()  # the details stay in its log
    baseline.stop()


def test_printout_says_what_a_reused_agent_run_took():
    from dawm.cli.run_cmds import format_summary

    summary = {"method": "td3bc", "dataset": "d", "seed": 0, "score_mean": 50.0, "score_std": 1.0,
               "return_mean": 1000.0, "return_std": 10.0, "stage_seconds": {"dataset": 0.0, "agent": 1.0},
               "agent_run_seconds": 3592.6}
    assert "agent 1s  (the agent run took 3593s in all)" in format_summary(summary)
    summary["stage_seconds"]["agent"] = 3590.0  # trained in this call: nothing to add
    assert "in all" not in format_summary(summary)
