"""Command registry: each command is a config dataclass + a handler taking that config.

`dawm <command...> [--preset NAME] [--config FILE] [flags]`: the words select the command, the
preset/config file set its defaults, tyro parses the flags (and generates --help from the
dataclass fields and their docstrings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import tyro

from dawm.utils.config import PRESET_DIR, load_config, renamed_option
from dawm.utils.errors import DawmError


@dataclass
class Command:
    words: tuple[str, ...]
    config: type
    handler: Callable[[Any], Any]
    help: str
    required: tuple[str, ...] = ()  # positional fields the user must give

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def presets(self) -> list[str]:
        return sorted(p.stem for p in (PRESET_DIR / self.name.replace(" ", "-")).glob("*.yaml"))


COMMANDS: dict[tuple[str, ...], Command] = {}


def command(name: str, config: type, help: str, required: tuple[str, ...] = ()):
    """Register `handler(cfg)` as `dawm <name>`."""

    def deco(handler):
        COMMANDS[tuple(name.split())] = Command(tuple(name.split()), config, handler, help, required)
        return handler

    return deco


def _pop_option(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i : i + 2]
            return value
        if a.startswith(flag + "="):
            del argv[i]
            return a.split("=", 1)[1]
    return None


def _top_help(prefix: tuple[str, ...] = ()) -> str:
    lines = ["usage: dawm " + " ".join(prefix) + (" " if prefix else "") + "COMMAND [OPTIONS]", "",
             "DAWM: diffusion action world models for offline RL.", "", "commands:"]
    for words, cmd in sorted(COMMANDS.items()):
        if words[: len(prefix)] == prefix:
            lines.append(f"  {' '.join(words):<22} {cmd.help}")
    lines += ["", "Run `dawm COMMAND --help` for the options of a command."]
    return "\n".join(lines)


def dispatch(argv: list[str]) -> Any:
    argv = list(argv)
    words: list[str] = []
    while argv and not argv[0].startswith("-") and any(w[: len(words) + 1] == (*words, argv[0]) for w in COMMANDS):
        words.append(argv.pop(0))
        if tuple(words) in COMMANDS:
            break
    cmd = COMMANDS.get(tuple(words))
    if cmd is None:
        if not argv or argv[0] in ("-h", "--help"):
            print(_top_help(tuple(words)))
            return None
        raise DawmError(f"unknown command '{' '.join(words + argv[:1])}' (run `dawm --help` for the list)")
    for token in argv:  # options renamed so that one word means one thing (the configs' RENAMED)
        flag = token.split("=", 1)[0]
        new = renamed_option(cmd.config, flag[2:]) if flag.startswith("--") else None
        if new:
            raise DawmError(f"{flag} was renamed --{new.replace('_', '-')}")
    preset = _pop_option(argv, "--preset")
    config_file = _pop_option(argv, "--config")
    cfg = load_config(cmd.config, cmd.name.replace(" ", "-"), preset, config_file)
    # Required positionals: tyro treats MISSING defaults as "must be given".
    default = dataclasses.replace(cfg, **{f: tyro.MISSING for f in cmd.required if not getattr(cfg, f)})
    presets = cmd.presets()
    description = cmd.help + "\n\nDefaults come from --preset NAME" + (
        f" ({', '.join(presets)})" if presets else "") + " or --config FILE (YAML), then the flags below."
    cfg = tyro.cli(cmd.config, args=argv, default=default, prog=f"dawm {cmd.name}", description=description)
    return cmd.handler(cfg)
