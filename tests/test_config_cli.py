"""Configs (defaults -> preset -> file -> flags) and the CLI registry's error handling."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dawm.cli import main
from dawm.cli.app import COMMANDS, command
from dawm.utils.config import load_config, update_config
from dawm.utils.errors import DawmError


@dataclass
class Inner:
    lr: float = 1e-3
    hidden: tuple[int, ...] = (256, 256)


@dataclass
class Outer:
    steps: int = 10
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_update_config_nested_and_coerced():
    cfg = update_config(Outer(), {"steps": 5, "inner": {"lr": 1, "hidden": [32, 32]}})
    assert cfg.steps == 5 and cfg.inner.lr == 1.0 and isinstance(cfg.inner.lr, float)
    assert cfg.inner.hidden == (32, 32)
    assert Outer().steps == 10  # defaults untouched


def test_update_config_rejects_unknown_and_wrong_type():
    with pytest.raises(DawmError, match="unknown option 'stepz'"):
        update_config(Outer(), {"stepz": 1})
    with pytest.raises(DawmError, match="expected int"):
        update_config(Outer(), {"steps": "many"})


def test_load_config_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("steps: 7\nname: fromfile\n")
    cfg = load_config(Outer, config_file=str(f), overrides={"name": "flag"})
    assert (cfg.steps, cfg.name) == (7, "flag")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    with pytest.raises(DawmError, match="invalid YAML"):
        load_config(Outer, config_file=str(bad))


@dataclass
class _EchoCfg:
    steps: int = 3
    """Number of steps."""
    name: str = "a"
    """A name."""


_seen = []


@pytest.fixture
def echo_command():
    command("zz-test echo", _EchoCfg, "test command")(lambda cfg: _seen.append(cfg))
    yield
    COMMANDS.pop(("zz-test", "echo"))
    _seen.clear()


def test_cli_flags_and_config_file(echo_command, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("steps: 9\n")
    assert main(["zz-test", "echo", "--config", str(f), "--name", "b"]) == 0
    assert _seen[-1] == _EchoCfg(steps=9, name="b")


def test_cli_user_errors_are_one_line(echo_command, capsys):
    assert main(["zz-test", "echo", "--preset", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dawm: error: preset 'nope'")
    assert main(["no-such-command"]) == 2
    assert main(["zz-test", "echo", "--steps", "x"]) == 2  # tyro parse error


def test_top_level_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "behaviour train" in out


def test_renamed_flags_name_the_new_flag(capsys):
    assert main(["synthesize", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "--steps was renamed --sampling-steps" in err and "Traceback" not in err
    assert main(["run", "--synthesis.steps=2"]) == 2
    assert "--synthesis.steps was renamed --synthesis.sampling-steps" in capsys.readouterr().err
    # `horizon` is the rollout horizon H; the world model's T is its `window`
    assert main(["train-world-model", "--horizon", "8"]) == 2
    assert "--horizon was renamed --window" in capsys.readouterr().err
    assert main(["bench", "--run.world-model.horizon", "8"]) == 2
    assert "--run.world-model.horizon was renamed --run.world-model.window" in capsys.readouterr().err


def test_renamed_keys_in_config_files_name_the_new_key(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text("world_model:\n  horizon: 8\n")
    assert main(["run", "--config", str(tmp_path / "old.yaml")]) == 2
    err = capsys.readouterr().err
    assert "option 'horizon' was renamed 'window'" in err and "Traceback" not in err


def test_a_config_file_choice_is_checked_where_it_is_read(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("denoiser: lstm\n")
    assert main(["train-world-model", "--config", str(tmp_path / "bad.yaml"), "--dataset", "x"]) == 2
    err = capsys.readouterr().err
    assert "denoiser: got 'lstm' (expected one of: unet, transformer, mlp)" in err and "Traceback" not in err


def test_optional_options_in_config_files_are_type_checked(tmp_path, capsys):
    from dawm.agents.trainer import TrainAgentConfig
    from dawm.utils.config import update_config
    from dawm.utils.errors import DawmError

    assert update_config(TrainAgentConfig(), {"threads": None}).threads is None
    with pytest.raises(DawmError, match="threads: got 'two' \\(expected int\\)"):
        update_config(TrainAgentConfig(), {"threads": "two"})
    from dawm.utils.torch_utils import set_threads

    with pytest.raises(DawmError, match="--threads 0: must be at least 1"):  # 0 once meant "torch's default"
        set_threads(0)
