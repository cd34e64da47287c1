"""`dawm bench`: every (method, dataset, seed) cell of a results grid, resumable, then one table.

Each finished cell leaves `<out>/cells/<method>__<dataset>__seed<k>.json` (the `run_pipeline`
summary, written atomically once the cell is done), so re-running an interrupted grid computes only
the missing cells. Cells sharing (dataset, seed) share a world model (`run_pipeline` reuses stages
by input hash under `run.root`), so they are run as one group, in sequence, by one worker: two
processes never train the same world model at once. With `--ray ADDRESS` every cell is one Ray task;
the cells of a group are chained (each task takes the previous one's result as an argument), so
they still run in sequence, and the driver writes each cell's record as its result comes back.

Outputs (dawm.results): `<out>/results.md`, `.csv` and `.tex` (per dataset and method the final
normalised score as IQM with its 95% stratified bootstrap CI and as mean ± std; across datasets
the aggregate IQM and optimality gap; the probability that each dawm-X beats X and dwm-X),
`<out>/scores.csv` (one row per seed), `curves_<dataset>.png` (IQM with CI band per update step),
`intervals.png`, `profiles.png` and `report.html` (one self-contained page).
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from dawm.data.registry import slug
from dawm.pipeline import METHODS, RunConfig, check_stage_settings, run_pipeline
from dawm.utils.checkpoint import atomic_write, write_json
from dawm.utils.errors import DawmError
from dawm.utils.progress import progress
from dawm.results.grid import Grid, write_results
from dawm.results.stats import REPS
from dawm.results.report import write_grid_report
from dawm.utils.config import save_config


@dataclass
class BenchConfig:
    """A grid of methods x datasets x seeds, each cell one `dawm run`."""

    methods: tuple[str, ...] = METHODS
    """Methods (columns of the table): td3bc, iql, dawm-td3bc, dawm-iql, dwm-td3bc, dwm-iql."""
    datasets: tuple[str, ...] = ("hopper-medium", "hopper-medium-replay", "walker2d-medium-replay")
    """Datasets (rows of the table): generated names, D4RL HDF5 paths or Minari ids."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds; the tables report IQM with 95% bootstrap CIs and mean ± std over them (5 at least for a claim)."""
    workers: int = 1
    """Local worker processes (1 = sequential in this process). Each runs one (dataset, seed) group."""
    ray: str = ""
    """Ray cluster address ('auto', 'ray://host:10001') or 'local' to start a Ray instance here with
    workers x ray_cpus CPUs; empty = no Ray. Needs the optional `ray` extra (`ray://` also `ray[client]`)."""
    ray_cpus: float = 1.0
    """CPUs Ray reserves for each cell task (with --ray)."""
    ray_gpus: float = 0.0
    """GPUs Ray reserves for each cell task (with --ray; e.g. 0.5 lets two cells share a GPU)."""
    out: str = "runs/bench"
    """Directory for the finished-cell records, the results tables, figures and report.html."""
    bootstrap_reps: int = REPS
    """Bootstrap resamples behind every confidence interval (rliable; more = steadier interval ends)."""
    allow_mismatch: tuple[str, ...] = ()
    """Differences between cells the tables may compare anyway, each named in them: data, precision, budget,
    evaluation, world-model (dawm.results.records). Default none: cells that differ are refused."""
    run: RunConfig = field(default_factory=RunConfig)
    """Settings of every cell (method, dataset and seed are set per cell; `root` is shared so cells
    reuse each other's world models and synthetic data)."""


def cell_name(method: str, dataset: str, seed: int) -> str:
    return f"{method}__{slug(dataset)}__seed{seed}"


def cell_path(out: str | Path, method: str, dataset: str, seed: int) -> Path:
    return Path(out) / "cells" / f"{cell_name(method, dataset, seed)}.json"


def _check(cfg: BenchConfig) -> None:
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise DawmError(f"--methods {' '.join(unknown)}: unknown (expected some of: {', '.join(METHODS)})")
    check_stage_settings(cfg.run)  # once up front, not once per cell
    if not (cfg.methods and cfg.datasets and cfg.seeds):
        raise DawmError("--methods, --datasets and --seeds must each name at least one value")
    if cfg.workers < 1:
        raise DawmError(f"--workers {cfg.workers}: must be at least 1")
    if cfg.ray_cpus < 0 or cfg.ray_gpus < 0 or cfg.ray_cpus + cfg.ray_gpus == 0:
        raise DawmError(f"--ray-cpus {cfg.ray_cpus} --ray-gpus {cfg.ray_gpus}: must be >= 0, not both 0")


def pending_groups(cfg: BenchConfig) -> list[tuple[str, int, list[str]]]:
    """Unfinished cells as (dataset, seed, methods) groups; methods of a group run in sequence."""
    groups = []
    for dataset in cfg.datasets:
        for seed in cfg.seeds:
            todo = [m for m in cfg.methods if not cell_path(cfg.out, m, dataset, seed).exists()]
            if todo:
                groups.append((dataset, seed, todo))
    return groups


def run_cell(run: RunConfig, method: str, dataset: str, seed: int, after=None) -> tuple[dict | None, str, str]:
    """Run one cell: (summary, "", "") or, if it raised, (None, one-line error, traceback).

    `after` is unused: Ray passes the previous cell's result there, which orders a group's tasks.
    """
    try:
        # baseline off: the grid's own plain-agent column is the baseline
        return run_pipeline(dataclasses.replace(run, method=method, dataset=dataset, seed=seed, baseline=False)), "", ""
    except Exception as exc:  # noqa: BLE001 -- recorded, reported at the end, retried on the next bench
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0], traceback.format_exc()


def record_cell(out: str, method: str, dataset: str, seed: int, summary: dict | None, error: str = "",
                tb: str = "") -> list[tuple[str, str]]:
    """Write a cell's record (<cell>.json, or <cell>.error.txt with the traceback); [(cell, error)] if it failed."""
    path = cell_path(out, method, dataset, seed)
    if summary is None:
        atomic_write(path.with_suffix(".error.txt"), lambda tmp: Path(tmp).write_text(tb or error))
        return [(path.stem, error)]
    path.with_suffix(".error.txt").unlink(missing_ok=True)
    write_json(path, summary)
    return []


def run_group(run: RunConfig, out: str, dataset: str, seed: int, methods: list[str]) -> list[tuple[str, str]]:
    """Run one (dataset, seed) group's cells; returns (cell, error) for those that failed.

    A failing cell is recorded (<cell>.error.txt, full traceback) and the rest of the group still
    runs: one diverged agent should not cost a night of other cells.
    """
    failures = []
    for method in methods:
        if cell_path(out, method, dataset, seed).exists():  # finished meanwhile by another bench on this grid
            continue
        failures += record_cell(out, method, dataset, seed, *run_cell(run, method, dataset, seed))
    return failures


def run_bench(cfg: BenchConfig) -> list[dict]:
    """Run every unfinished cell, then aggregate; returns the long-form rows (dataset, method, seed, score).

    Raises DawmError after aggregating if any cell failed (re-running retries only those).
    """
    _check(cfg)
    groups = pending_groups(cfg)
    (Path(cfg.out) / "cells").mkdir(parents=True, exist_ok=True)
    n_cells = sum(len(g[2]) for g in groups)
    bar = progress(n_cells, "bench cells", "cell")
    failures: list[tuple[str, str]] = []
    if cfg.ray:
        failures = _run_ray(cfg, groups, bar)
    elif cfg.workers > 1 and len(groups) > 1:
        failures = _run_pool(cfg, groups, bar)
    else:
        for dataset, seed, methods in groups:
            failures += run_group(cfg.run, cfg.out, dataset, seed, methods)
            bar.update(len(methods))
    bar.close()
    rows = aggregate(cfg)
    if failures:
        raise DawmError(f"{len(failures)} of {n_cells} cells failed (first: {failures[0][0]}: {failures[0][1]}); "
                        f"tracebacks in {Path(cfg.out) / 'cells'}/*.error.txt; re-run to retry only those")
    return rows


def _run_pool(cfg: BenchConfig, groups, bar) -> list[tuple[str, str]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    failures = []
    # spawn: a forked child would inherit torch's thread pools and any CUDA context of the parent.
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_group, cfg.run, cfg.out, d, s, ms): ms for d, s, ms in groups}
        for fut in as_completed(futures):
            failures += fut.result()
            bar.update(len(futures[fut]))
    return failures


def _run_ray(cfg: BenchConfig, groups, bar) -> list[tuple[str, str]]:
    try:
        import ray
    except ImportError:
        raise DawmError(f"--ray {cfg.ray}: the optional 'ray' package is not installed (pip install 'dawm[ray]')") \
            from None
    started = not ray.is_initialized()  # a caller's own Ray session is used as is and left running
    if started and cfg.ray == "local":
        # Worker output is not forwarded: the cell bar is the driver's log, and a failed cell's
        # traceback lands in <cell>.error.txt (raw worker logs stay in Ray's session directory).
        ray.init(num_cpus=math.ceil(cfg.workers * cfg.ray_cpus), num_gpus=None if cfg.ray_gpus else 0,
                 include_dashboard=False, log_to_driver=False)
    elif started:
        ray.init(address=cfg.ray, log_to_driver=False)
    try:
        # Every node needs dawm installed; `run.root` must be storage the nodes share for cells to
        # reuse each other's world models (else each node trains its own) and for the curves.
        task = ray.remote(run_cell).options(num_cpus=cfg.ray_cpus, num_gpus=cfg.ray_gpus)
        pending = {}
        for dataset, seed, methods in groups:
            previous = None
            for method in methods:
                previous = task.remote(cfg.run, method, dataset, seed, after=previous)
                pending[previous] = (method, dataset, seed)
        failures = []
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            method, dataset, seed = pending.pop(done)
            try:
                result = ray.get(done)
            except ray.exceptions.RayError as exc:  # the worker died (e.g. out of memory) or lost its node
                result = None, f"{type(exc).__name__}: {exc}".splitlines()[0], str(exc)
            failures += record_cell(cfg.out, method, dataset, seed, *result)
            bar.update(1)
        return failures
    finally:
        if started:
            ray.shutdown()  # stops the instance we started; for a cluster address, disconnects


# ---------------------------------------------------------------- aggregation

def aggregate(cfg: BenchConfig) -> list[dict]:
    """Write the grid's results (dawm.results.grid) from its finished cells; returns the long-form
    rows (dataset, method, seed, score)."""
    paths = [cell_path(cfg.out, m, d, s) for d in cfg.datasets for m in cfg.methods for s in cfg.seeds]
    grid = Grid.load(cfg.out, paths, cfg.allow_mismatch)
    save_config(cfg, Path(cfg.out) / "config.yaml")
    write_grid_report(cfg.out, cfg.bootstrap_reps, write_results(grid, cfg.bootstrap_reps), grid)
    return [{"dataset": c["dataset"], "method": c["method"], "seed": c["seed"], "score": c["score_mean"]}
            for c in grid.cells]
