"""Gymnasium MuJoCo environments: specs, evaluation, behaviour policies, collection, simulator checks."""

from __future__ import annotations

import sys


def _quiet_known_mujoco_warnings() -> None:
    """MuJoCo >= 4 warns that Gymnasium's v5 XML uses the deprecated `settotalmass` on every env
    made (stderr + MUJOCO_LOG.TXT in the working dir). It is harmless; drop only that message."""
    try:
        import mujoco
    except ImportError:
        return
    if mujoco.get_mju_user_warning() is not None:  # someone installed a handler: respect it
        return

    def handler(msg: str) -> None:
        if "settotalmass" not in msg:
            print(f"MuJoCo warning: {msg}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)


_quiet_known_mujoco_warnings()
