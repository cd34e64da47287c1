"""`dawm bench`: a resumable grid of methods x datasets x seeds, aggregated into tables, figures and a
report page; `dawm report`: that page (re)built from a grid's or a run's stored records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from dawm.bench import BenchConfig, run_bench
from dawm.results.stats import REPS
from dawm.cli.app import command


@command("bench", BenchConfig, "methods x datasets x seeds grid of `dawm run` -> statistics, figures and report.html")
def _bench(cfg: BenchConfig) -> None:
    run_bench(cfg)
    out = Path(cfg.out)
    print((out / "results.md").read_text(), end="")
    print(f"\nreport: {out / 'report.html'}")


@dataclass
class ReportConfig:
    directory: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="RUN_OR_GRID_DIR")] = ""
    """A `dawm bench` --out directory (cells/) or a `dawm run` directory (<root>/<method>-<dataset>-seed<k>)."""
    bootstrap_reps: int = REPS
    """Bootstrap resamples behind every confidence interval (grids)."""
    allow_mismatch: tuple[str, ...] = ()
    """Differences between a grid's cells to compare anyway, each named in the tables: data, precision, budget,
    evaluation, world-model (dawm.results.records). Default none: cells that differ are refused."""


@command("report", ReportConfig, "rebuild report.html (and a grid's tables and figures) from stored records",
         required=("directory",))
def _report(cfg: ReportConfig) -> None:
    from dawm.results.report import write_report

    print(f"wrote {write_report(cfg.directory, cfg.bootstrap_reps, cfg.allow_mismatch)}")
