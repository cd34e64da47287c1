"""`dawm bench`: a resumable grid of methods x datasets x seeds, aggregated into one table."""

from __future__ import annotations

from pathlib import Path

from dawm.bench import BenchConfig, run_bench
from dawm.cli.app import command


@command("bench", BenchConfig, "methods x datasets x seeds grid of `dawm run` -> results table, CSV and learning curves")
def _bench(cfg: BenchConfig) -> None:
    run_bench(cfg)
    print((Path(cfg.out) / "results.md").read_text(), end="")
