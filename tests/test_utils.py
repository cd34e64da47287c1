"""Run directories, safe checkpoints and plain-log progress."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from dawm.utils.checkpoint import load_checkpoint, save_checkpoint
from dawm.utils.errors import DataError
from dawm.utils.progress import progress
from dawm.utils.runs import Run


@dataclass
class _Cfg:
    lr: float = 0.1


def test_run_directory_layout(tmp_path):
    run = Run(tmp_path / "r", _Cfg())
    run.log(1, {"loss": 0.5}, prefix="train")
    run.log(2, {"loss": float("nan")}, prefix="train")
    for step in (10, 20, 30, 40):
        run.save_checkpoint({"w": torch.ones(2) * step}, step, keep=2)
    summary = run.finish({"score": 1.0})
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["train/loss"] == 0.5 and rows[1]["train/loss"] == "nan"
    assert (tmp_path / "r" / "config.yaml").read_text().strip() == "lr: 0.1"
    assert sorted(p.name for p in run.ckpt_dir.glob("step_*.pt")) == ["step_00000030.pt", "step_00000040.pt"]
    assert run.latest_checkpoint()["step"] == 40
    assert json.loads(summary.read_text())["score"] == 1.0 and run.finished
    assert list((tmp_path / "r" / "tb").iterdir())


class Evil:
    pass


def test_checkpoint_refuses_pickled_objects(tmp_path):
    torch.save({"obj": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="evil.pt"):
        load_checkpoint(tmp_path / "evil.pt")
    save_checkpoint(tmp_path / "ok.pt", {"w": torch.zeros(1), "meta": {"a": [1, 2]}})
    assert load_checkpoint(tmp_path / "ok.pt")["meta"] == {"a": [1, 2]}


def test_progress_prints_log_lines_off_a_tty(capsys):
    bar = progress(100, "work", "steps", interval=0.0)
    bar.update(50)
    bar.close()
    err = capsys.readouterr().err
    assert "work: 50/100 (50%)" in err and "steps/s" in err and "ETA" in err


def test_importing_the_data_layer_loads_no_simulator():
    """Layers import downwards: reading datasets needs neither Gymnasium nor MuJoCo."""
    import subprocess
    import sys

    code = "import dawm.data, sys; assert not {'gymnasium', 'mujoco'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resumed_run_clock_counts_every_process(tmp_path, monkeypatch):
    """A run killed after a checkpoint and resumed reports the seconds of both processes' work up to it, not only
    the last process's (the records' wall_time_s of runs resumed across sessions)."""
    now = [1000.0]
    monkeypatch.setattr("dawm.utils.runs.time.time", lambda: now[0])
    first = Run(tmp_path / "r", tensorboard=False)
    now[0] += 50.0
    first.save_checkpoint({"w": torch.ones(1)}, 10)
    now[0] += 7.0  # work after the checkpoint, lost with the process and redone
    now[0] += 3600.0  # the machine idle until the next session
    resumed = Run(tmp_path / "r", tensorboard=False)
    assert resumed.latest_checkpoint()["step"] == 10
    now[0] += 20.0
    summary = json.loads(resumed.finish({}).read_text())
    assert summary["wall_time_s"] == pytest.approx(70.0)
