"""Run directories: resolved config, metrics (TensorBoard + JSONL), checkpoints, summary.json.

    <run>/config.yaml       the resolved config
    <run>/metrics.jsonl     one JSON object per logged step
    <run>/tb/               TensorBoard events
    <run>/checkpoints/      step_XXXXXXXX.pt (torch.load(weights_only=True)-safe) + latest.pt
    <run>/summary.json      written last: its presence marks a finished run
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dawm.utils.checkpoint import load_checkpoint, save_checkpoint, write_json
from dawm.utils.config import save_config


def digest(*parts) -> str:
    """The 10-hex-digit hash that names a cached artefact's directory: of everything that determines it."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Hold `<run_dir>.lock`: processes sharing a cached run (bench workers) wait while one makes it."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.with_name(run_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Run:
    def __init__(self, directory: str | Path, config: Any | None = None, tensorboard: bool = True):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir = self.dir / "checkpoints"
        if config is not None:
            save_config(config, self.dir / "config.yaml")
        self._tb = None
        self._tensorboard = tensorboard
        self.start_time = time.time()

    @property
    def tb(self):
        if self._tb is None and self._tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.dir / "tb"))
        return self._tb

    def log(self, step: int, metrics: dict[str, float], prefix: str = "") -> None:
        """Append metrics at `step` to metrics.jsonl and TensorBoard."""
        row = {"step": int(step), "time": round(time.time() - self.start_time, 3)}
        for k, v in metrics.items():
            name = f"{prefix}/{k}" if prefix else k
            v = float(v)
            row[name] = v if math.isfinite(v) else str(v)
            if self.tb is not None:
                self.tb.add_scalar(name, v, step)
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def save_checkpoint(self, state: dict, step: int, keep: int = 3) -> Path:
        """Write step_<step>.pt and latest.pt atomically; keep the newest `keep` step files. The run's seconds so
        far go with them, so that a resumed run's clock (metrics' time, summary's wall_time_s) counts every
        process's work, not only the last one's."""
        state = {**state, "step": int(step), "elapsed_s": time.time() - self.start_time}
        path = save_checkpoint(self.ckpt_dir / f"step_{step:08d}.pt", state)
        save_checkpoint(self.ckpt_dir / "latest.pt", state)
        for old in sorted(self.ckpt_dir.glob("step_*.pt"))[:-keep]:
            old.unlink()
        return path

    def latest_checkpoint(self, map_location="cpu") -> dict | None:
        """The state to resume from (None: start afresh); the clock continues from the checkpoint's seconds (the work
        after it is redone, so it is not counted twice)."""
        path = self.ckpt_dir / "latest.pt"
        if not path.exists():
            return None
        state = load_checkpoint(path, map_location)
        if "elapsed_s" in state:  # checkpoints written before the clock travelled with them start it at 0
            self.start_time = time.time() - float(state["elapsed_s"])
        return state

    def finish(self, summary: dict) -> Path:
        if self._tb is not None:
            self._tb.close()
        summary = {**summary, "wall_time_s": round(time.time() - self.start_time, 2)}
        return write_json(self.dir / "summary.json", summary)

    @property
    def finished(self) -> bool:
        return (self.dir / "summary.json").exists()
