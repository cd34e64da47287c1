"""A `dawm bench` grid's results from its stored cell records: statistics, tables, figures.

Everything here reads `<out>/cells/*.json` (each a `run_pipeline` summary) and the agent runs'
metrics.jsonl they point to, so the outputs of a grid rebuilt later (`dawm report GRID_DIR`)
say the same. A cell whose record cannot be read is named in one line and left out; the other
cells still report.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dawm.data.registry import slug
from dawm.results import plots, records, stats, tables
from dawm.results.tables import GridStats
from dawm.utils.checkpoint import atomic_write


@dataclass
class Grid:
    """The finished cells of a grid, in the grid's order of datasets and methods."""

    out: Path
    cells: list[dict]
    datasets: list[str]
    methods: list[str]
    problems: list[str] = field(default_factory=list)  # one line per unreadable cell
    allow: tuple[str, ...] = ()  # differences between cells the caller allows (dawm.results.records.COMPARED)

    @property
    def comparability(self) -> records.Comparability:
        """Whether the cells compare like with like (dawm.results.records); tables refuse them if not."""
        return records.check(self.cells, self.allow)

    @classmethod
    def load(cls, out: str | Path, paths: list[Path] | None = None, allow: tuple[str, ...] = ()) -> Grid:
        """Read the cell records `paths` (default: every <out>/cells/*.json); datasets and methods are
        ordered as first seen."""
        out, cells, problems = Path(out), [], []
        for path in paths if paths is not None else sorted((out / "cells").glob("*.json")):
            if not path.exists():
                continue  # not finished yet
            try:
                cell = json.loads(path.read_text())
                if not isinstance(cell, dict) or not all(k in cell for k in ("dataset", "method", "seed")):
                    raise ValueError("expected a run summary with dataset, method and seed")
            except (OSError, ValueError) as exc:
                problems.append(f"cell {path.stem}: {path}: unreadable record ({str(exc).splitlines()[0]}); left out")
                continue
            if not isinstance(cell.get("score_mean"), (int, float)):
                problems.append(f"cell {path.stem}: {path}: no final score (score_mean); left out")
                continue
            cells += seed_cells({**cell, "record_file": str(path)}, problems)
        datasets = list(dict.fromkeys(c["dataset"] for c in cells))
        methods = list(dict.fromkeys(c["method"] for c in cells))
        return cls(out, cells, datasets, methods, problems, tuple(allow))

    def scores(self, final: int = 1, area: bool = False) -> dict[str, dict[str, list[float]]]:
        """{dataset: {method: per-seed scores}}: the final evaluation (CORL's convention), or with `final` > 1
        each seed's mean over its last `final` evaluations (TD3+BC's), or with `area` the mean over all of them (the
        area under the learning curve per evaluation), read from its learning curve."""
        by: dict = defaultdict(lambda: defaultdict(list))
        for c in sorted(self.cells, key=lambda c: c["seed"]):
            if final <= 1 and not area:
                by[c["dataset"]][c["method"]].append(float(c["score_mean"]))
                continue
            curve = cell_curve(c)
            n = len(curve) if area else final
            if not curve or len(curve) < n:
                self.problems.append(f"cell {c['method']} {c['dataset']} seed {c['seed']}: {len(curve)} evaluations "
                                     f"at {metrics_file(c)}, fewer than {max(n, 1)}; left out")
                continue
            by[c["dataset"]][c["method"]].append(statistics.fmean(curve[k] for k in sorted(curve)[-n:]))
        return {d: dict(m) for d, m in by.items()}

    def at(self, step: int) -> Grid:
        """The cells as if their runs had stopped after `step` updates: each curve cut there, its final score the
        evaluation at `step`, its record's budget `step` updates (marked derived). What a run of `step` updates
        with the same settings would have scored, for agents whose updates do not depend on their total budget
        (the agents here: IQL's actor schedule runs over its own fixed length); cells without an evaluation at
        `step` are left out, named."""
        cells, problems = [], list(self.problems)
        for c in self.cells:
            curve = cell_curve(c)
            if step not in curve:
                problems.append(f"cell {c['method']} {c['dataset']} seed {c['seed']}: no evaluation at update {step}; "
                                "left out")
                continue
            record = dict(c.get("record") or {})
            if record.get("budget"):  # an unknown budget stays unknown
                record.update(budget={**record["budget"], "updates": step},
                              derived={**(record.get("derived") or {}), "budget": f"read at update {step}"})
            cells.append({**c, "score_mean": curve[step], "record": record, "stop_at": step})
        return Grid(self.out, cells, self.datasets, self.methods, problems, self.allow)

    def curves(self) -> dict[str, dict[str, list[dict[int, float]]]]:
        by: dict = defaultdict(lambda: defaultdict(list))
        for c in self.cells:
            curve = cell_curve(c)
            if curve:
                by[c["dataset"]][c["method"]].append(curve)
            else:
                self.problems.append(f"cell {c['method']} {c['dataset']} seed {c['seed']}: no learning curve at "
                                     f"{c.get('agent_run', '?')}/metrics.jsonl; left out of the curves")
        return by


def cell_curve(cell: dict) -> dict[int, float]:
    """A cell's learning curve {update: score}: its own seed's evaluations, up to where the cell stops (`Grid.at`)."""
    curve = plots.eval_curve(metrics_file(cell), cell.get("curve_key", "eval/score_mean"))
    stop = cell.get("stop_at")
    return curve if stop is None else {k: v for k, v in curve.items() if k <= stop}


def metrics_file(cell: dict) -> Path:
    """A cell's learning curves: <record>.metrics.jsonl beside its record (committed records carry their curves
    so), else its agent run's metrics.jsonl."""
    beside = Path(cell.get("record_file", "")).with_suffix(".metrics.jsonl")
    return beside if cell.get("record_file") and beside.is_file() else Path(cell.get("agent_run", "")) / "metrics.jsonl"


def seed_cells(cell: dict, problems: list[str]) -> list[dict]:
    """A run that trained S seeds vectorised in one process (record.agent_seeds = S; its seeds are seed ..
    seed + S - 1) as S cells: seed k's final score and curve are its own evaluations (eval/seed<k>/score_mean),
    and its world model its own where each seed had one (record.world_model_keys)."""
    n = int((cell.get("record") or {}).get("agent_seeds", 1))
    if n <= 1:
        return [cell]
    out = []
    for k in range(n):
        key = f"eval/seed{k}/score_mean"
        curve = plots.eval_curve(metrics_file(cell), key)
        if not curve:
            problems.append(f"cell {cell['method']} {cell['dataset']} seed {cell['seed'] + k}: no {key} at "
                            f"{metrics_file(cell)}; left out")
            continue
        seeded = {**cell, "seed": cell["seed"] + k, "score_mean": curve[max(curve)], "curve_key": key}
        keys, wm_seeds = cell["record"].get("world_model_keys"), cell["record"].get("world_model_seeds")
        if keys:  # each seed its own world model: the cell carries its own (records.interval_kind)
            seeded["record"] = {**cell["record"], "world_model_key": keys[k], "world_model_seed": wm_seeds[k]}
        # each seed its own synthetic set and fidelity check (`per_seed` in the records of the 2026-12-07 screen)
        stages = cell.get("per_seed_stages") or cell.get("per_seed") or []
        if len(stages) == n:
            seeded.update(stages[k])
        out.append(seeded)
    return out


def write_results(grid: Grid, reps: int = stats.REPS) -> GridStats:
    """results.md / .csv / .tex, scores.csv (one row per seed), curves_<dataset>.png,
    intervals.png and profiles.png under grid.out; returns the statistics."""
    out = grid.out
    comparability = grid.comparability.require(str(out))
    g = GridStats.compute(grid.scores(), grid.datasets, grid.methods, reps)
    g.notes = comparability.lines()
    for name, text in (("results.md", tables.markdown(g)), ("results.csv", tables.csv_text(g)),
                       ("results.tex", tables.latex(g)), ("scores.csv", scores_csv(grid))):
        atomic_write(out / name, lambda tmp, text=text: Path(tmp).write_text(text))
    for d, by_method in grid.curves().items():
        plots.plot_curves(by_method, out / f"curves_{slug(d)}.png", title=d)
    if g.aggregate:
        plots.plot_intervals(g.aggregate, out / "intervals.png")
        plots.plot_profiles(g.scores, grid.methods, grid.datasets, out / "profiles.png")
    for line in grid.problems:
        print(f"dawm: {line}", file=sys.stderr)
    return g


def scores_csv(grid: Grid) -> str:
    lines = ["dataset,method,seed,score"]
    lines += [f"{c['dataset']},{c['method']},{c['seed']},{c['score_mean']:.4f}"
              for c in sorted(grid.cells, key=lambda c: (c["dataset"], c["method"], c["seed"]))]
    return "\n".join(lines) + "\n"


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def stage_table(grid: Grid) -> str:
    """Markdown: the agent stage's wall seconds per dataset and method (mean over seeds), and the
    world model (the cell that trained it), synthesis and fidelity (mean over synthetic sets)."""
    agent, stages = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for c in grid.cells:
        seconds = c.get("stage_seconds") or {}
        if "agent" in seconds:
            agent[c["dataset"], c["method"]].append(seconds["agent"])
        for stage in ("world_model", "synthesis", "fidelity"):
            if seconds.get(stage, 0.0) > 1.0:  # about 0: reused from another cell (shorter real stages drop too)
                stages[c["dataset"]][stage].append(seconds[stage])
    pick = {"world_model": max, "synthesis": _mean, "fidelity": _mean}
    lines = ["| dataset | " + " | ".join(grid.methods) + " | world model | synthesis | fidelity |",
             "|---" * (len(grid.methods) + 4) + "|"]
    for d in grid.datasets:
        row = [f"{_mean(agent[d, m]):.0f}" if agent[d, m] else "–" for m in grid.methods]
        once = [f"{pick[s](stages[d][s]):.0f}" if stages[d][s] else "–" for s in pick]
        lines.append(f"| {d} | " + " | ".join(row + once) + " |")
    return "\n".join(lines)


FIDELITY_KEYS = ("state_rmse", "reward_mae", "term_accuracy", "term_fn_rate", "term_fp_rate", "action_spread",
                 "novelty", "return_gain")


def fidelity_table(grid: Grid) -> str:
    """Markdown: the fidelity headline of the DAWM cells' synthetic sets (mean over sets) beside the
    one-step ensemble and the real-data floor; '' when the grid has no DAWM cell."""
    fid, seen, oracle = defaultdict(lambda: defaultdict(list)), set(), set()
    for c in grid.cells:
        if not c.get("fidelity") or c.get("synthetic_file") in seen:  # dawm-td3bc / dawm-iql share a set
            continue
        seen.add(c.get("synthetic_file"))
        if str(c.get("synthetic_source", "")).startswith("oracle"):
            oracle.add(c["dataset"])
        for source, values in c["fidelity"].items():
            if isinstance(values, dict):
                for key, v in values.items():
                    if isinstance(v, (int, float)):
                        fid[c["dataset"], source][key].append(v)
    if not fid:
        return ""
    keys = [k for k in FIDELITY_KEYS if any(k in v for v in fid.values())]
    lines = ["| dataset | data | " + " | ".join(keys) + " | sets |", "|---|---" + "|---:" * (len(keys) + 1) + "|"]
    for d in grid.datasets:
        for source in ("synthetic", "ensemble", "real"):
            v = fid.get((d, source))
            if v:
                cells = [f"{_mean(v[k]):.3f}" if v.get(k) else "–" for k in keys]
                # the check ran on the model's set; the oracle's (r, s', done) are the simulator's by construction
                label = "synthetic (model's, before the oracle)" if source == "synthetic" and d in oracle else source
                lines.append(f"| {d} | {label} | " + " | ".join(cells) + f" | {max(len(x) for x in v.values())} |")
    return "\n".join(lines)
