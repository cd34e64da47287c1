"""`dawm run`: the whole DAWM pipeline in one command."""

from __future__ import annotations

from dawm.cli.app import command
from dawm.pipeline import RunConfig, format_summary, run_pipeline


@command("run", RunConfig, "world model -> synthetic data -> TD3+BC/IQL -> normalised score (one dataset, method, seed)")
def _run(cfg: RunConfig) -> None:
    summary = run_pipeline(cfg)
    print(format_summary(summary))
