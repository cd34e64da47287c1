"""`dawm` command line: a thin layer over the library (every command is a documented Python API)."""

from __future__ import annotations

import importlib
import os
import sys

# OpenMP threads spin-wait by default; on a machine where another process holds a core, torch's
# default thread count then runs many times slower. Passive waiting removes that collapse. Must be
# set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dawm.cli.app import COMMANDS, command, dispatch  # noqa: E402, F401
from dawm.utils.errors import DawmError  # noqa: E402

# Each module registers its commands on import.
_COMMAND_MODULES = ["dawm.cli.data_cmds", "dawm.cli.behaviour_cmds", "dawm.cli.agent_cmds",
                    "dawm.cli.world_model_cmds", "dawm.cli.fidelity_cmds", "dawm.cli.run_cmds",
                    "dawm.cli.bench_cmds"]


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        dispatch(sys.argv[1:] if argv is None else argv)
    except DawmError as exc:
        print(f"dawm: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `dawm datasets | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("dawm: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # tyro's --help / parse errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return 0
