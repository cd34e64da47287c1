"""Where a result came from: the code version, torch and the CPU, recorded with every run's summary.

Comparisons across commits are normal (`benchmarks/agent_fingerprint.py` says whether an agent's
numerics changed); these fields are shown beside a table, not refused on.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import torch

_SRC = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """{"sha": the checkout's commit, "dirty": uncommitted changes under src/?}; sha None outside a git checkout
    (an installed wheel)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=_SRC, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    # only the package's own sources: a run's outputs or edited docs do not change its numbers
    dirty = bool(git("status", "--porcelain", "--", str(_SRC))) if sha else None
    return {"sha": sha, "dirty": dirty}


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict:
    """The fields of a run record that say which software and hardware made it."""
    return {"code": code_version(), "torch": torch.__version__, "cpu": cpu_model(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
