#!/usr/bin/env python3
"""The project's two entry points for a fresh machine; each sets up .venv first (needs only Python).

    python3 tasks.py run    # the main job: `dawm run` on the built-in default
    python3 tasks.py test   # the whole test suite

Set-up installs PyTorch from DAWM_TORCH (default "torch==2.13.0", the CPU wheel this project's
machines carry; on a CUDA machine use e.g. DAWM_TORCH=torch), then this package with its test
extras. It is skipped when .venv is newer than pyproject.toml.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".dawm-installed"


def setup() -> None:
    if STAMP.exists() and STAMP.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime:
        return
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, os.environ.get("DAWM_TORCH", "torch==2.13.0")], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.touch()


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    commands = {"run": [str(BIN / "dawm"), "run"], "test": [str(BIN / "python"), "-m", "pytest"]}
    if task not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    setup()
    return subprocess.run([*commands[task], *sys.argv[2:]], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
