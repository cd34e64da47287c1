"""report.html: one self-contained page per `dawm run` or `dawm bench` grid, rebuilt from stored records.

The page embeds its figures (base64 PNG) and needs no network, so it opens from disk in any
browser. Every number on it comes from the records the run left (summary.json, the agents'
metrics.jsonl, fidelity.json / fidelity.md, the grid's cell records), so `dawm report DIR` later
says the same as the page written at the end of the run.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import yaml

from dawm.data.registry import slug
from dawm.results import plots
from dawm.results.grid import Grid, fidelity_table, stage_table, write_results
from dawm.results.stats import REPS
from dawm.results.tables import GridStats, markdown
from dawm.results.verdict import fidelity_verdict, score_lines
from dawm.utils.checkpoint import atomic_write
from dawm.utils.errors import DawmError

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}
.verdict{font-size:1.15em;background:#f6f8fa;border-left:4px solid #0969da;padding:.6em 1em}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}.note{color:#555}"""


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def md_to_html(text: str) -> str:
    """Markdown as our tables write it: '|' rows become <table>s, other lines paragraphs."""
    out, rows = [], []

    def flush():
        if rows:
            head, *body = rows
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</table>")
            rows.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


def _page(title: str, sections: list[tuple[str, str]], verdict: str) -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections if content)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=\"verdict\">{html.escape(verdict)}</p>\n{body}</body></html>\n")


def _write(path: Path, page: str) -> Path:
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


# ------------------------------------------------------------------------------------ one run

def run_verdict(summary: dict) -> str:
    base = summary.get("baseline")
    head = f"{summary['method']} on {summary['dataset']}, seed {summary['seed']}: {summary['score_mean']:.1f}"
    if not base:
        return head + " (D4RL normalised score; no baseline was run)."
    diff = summary["difference"]
    word = "above" if diff > 0 else "below"
    return (f"{head}, {abs(diff):.1f} {word} {base['method']} ({base['score_mean']:.1f}) "
            "trained on the real data alone "
            "with the same seed and budget. One seed is not evidence either way: `dawm bench` with >= 5 seeds "
            "gives IQM and confidence intervals.")


def write_run_report(run_dir: str | Path) -> Path:
    """<run_dir>/report.html from <run_dir>/summary.json and the records it points to."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise DawmError(f"{run_dir / 'summary.json'}: cannot read the run's summary ({str(exc).splitlines()[0]})") \
            from None
    score = "<pre>" + html.escape("\n".join(score_lines(summary))) + "</pre>"
    curves = {summary["method"]: [plots.eval_curve(Path(summary.get("agent_run", "")) / "metrics.jsonl")]}
    if summary.get("baseline"):
        curves[summary["baseline"]["method"]] = [
            plots.eval_curve(Path(summary["baseline"]["agent_run"]) / "metrics.jsonl")]
    curves = {m: c for m, c in curves.items() if c[0]}
    if curves:
        plots.plot_curves(curves, run_dir / "curves.png", title=f"{summary['dataset']}, seed {summary['seed']}")
    fidelity = ""
    fid = summary.get("fidelity")
    if fid:
        fid_dir = Path(fid["report"]).parent
        md = fid_dir / "fidelity.md"
        fidelity = ("<pre>" + html.escape("\n".join(fidelity_verdict(fid))) + "</pre>"
                    + (md_to_html(md.read_text()) if md.is_file() else "<p>(fidelity.md not found)</p>")
                    + "".join(_img(p, p.stem) for p in sorted(fid_dir.glob("rollout_*.png"))))
    stages = "<table><tr><th>stage</th><th>seconds</th></tr>" + "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.0f}</td></tr>" for k, v in summary.get("stage_seconds", {}).items()) \
        + "</table>"
    config = run_dir / "config.yaml"
    sections = [("Score (D4RL normalised)", score), ("Learning curves", _img(run_dir / "curves.png", "curves")),
                ("Synthetic data against the simulator", fidelity), ("Time per stage", stages),
                ("Resolved config", "<pre>" + html.escape(config.read_text()) + "</pre>" if config.is_file() else "")]
    return _write(run_dir / "report.html", _page(f"dawm run: {summary['method']} on {summary['dataset']}", sections,
                                                 run_verdict(summary)))


# ------------------------------------------------------------------------------------ a grid

def grid_verdict(g: GridStats) -> str:
    """One sentence per dawm-X vs X (and dwm-X) comparison, from the probability of improvement."""
    if not g.improvement:
        return (f"{len(g.methods)} method(s) on {len(g.datasets)} dataset(s); no dawm-X with its baseline in the grid, "
                "so no improvement is tested.")
    parts = []
    for (x, y), by in g.improvement.items():
        e = by.get("all")
        if e is None:
            continue
        if e.n < 2:
            call = "one seed: no interval, no conclusion"
        elif e.low > 0.5:
            call = "better (the CI lies above 0.5)"
        elif e.high < 0.5:
            call = "worse (the CI lies below 0.5)"
        else:
            call = "no difference detected (the CI contains 0.5)"
        effect = g.effect.get((x, y), {}).get("all")
        parts.append(f"{x} vs {y}: P({x} > {y}) = {e.text(2)}" + (f", IQM {effect.signed()}" if effect else "")
                     + f" over {len(g.datasets)} dataset(s), {e.n} seed(s) each: {call}.")
    return " ".join(parts)


PER_CELL = ("method", "dataset", "seed", "baseline")  # what `dawm bench` sets in the run template per cell


def grid_config(grid: Grid, path: Path) -> str:
    """The grid's methods, datasets and seeds (from its cells), then config.yaml without the run template's
    per-cell fields (method, dataset, seed): shown, the template's values would read as the grid's."""
    seeds = sorted({c["seed"] for c in grid.cells})
    head = "<p>" + html.escape(f"This grid's cells: methods {', '.join(grid.methods)}; datasets "
                               f"{', '.join(grid.datasets)}; seeds {', '.join(map(str, seeds))}.") + "</p>"
    if not path.is_file():
        return head
    text = path.read_text()
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError:
        cfg = None
    if isinstance(cfg, dict) and isinstance(cfg.get("run"), dict):
        run = {k: v for k, v in cfg.pop("run").items() if k not in PER_CELL}
        text = (yaml.safe_dump(cfg, sort_keys=False)
                + "run:  # every cell's settings; method, dataset and seed (and the stages' algo, dataset, "
                  "seed) are set per cell, baseline off\n"
                + "".join(f"  {line}\n" for line in yaml.safe_dump(run, sort_keys=False).splitlines()))
    return head + "<pre>" + html.escape(text) + "</pre>"


def write_grid_report(out: str | Path, reps: int = REPS, g: GridStats | None = None,
                      grid: Grid | None = None) -> Path:
    """<out>/report.html; recomputes the grid's results from its cell records unless given."""
    out = Path(out)
    grid = grid or Grid.load(out)
    if not grid.cells:
        raise DawmError(f"{out}: no finished cell records under cells/ (expected a `dawm bench` --out directory)")
    g = g or write_results(grid, reps)
    figures = "".join(_img(out / f"curves_{slug(d)}.png", d) for d in grid.datasets)
    stats = md_to_html(markdown(g)) + _img(out / "intervals.png", "intervals") + _img(out / "profiles.png", "profiles")
    fid = fidelity_table(grid)
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in grid.problems)
    sections = [("Final scores", stats), ("Learning curves (IQM over seeds, 95% CI)", figures),
                ("Synthetic data against the simulator (DAWM cells)", md_to_html(fid) if fid else ""),
                ("Time per stage (seconds)", md_to_html(stage_table(grid))),
                ("Cells left out", f"<ul>{problems}</ul>" if problems else ""),
                ("Resolved config", grid_config(grid, out / "config.yaml"))]
    return _write(out / "report.html", _page(f"dawm bench: {out.name}", sections, grid_verdict(g)))


def write_report(directory: str | Path, reps: int = REPS, allow: tuple[str, ...] = ()) -> Path:
    """`dawm report DIR`: a grid's page if DIR holds cells/ (cells that differ in `allow` compared anyway,
    labelled), else a run's (DIR/summary.json)."""
    directory = Path(directory)
    if (directory / "cells").is_dir():
        return write_grid_report(directory, reps, grid=Grid.load(directory, allow=allow))
    if (directory / "summary.json").is_file():
        return write_run_report(directory)
    raise DawmError(f"{directory}: neither a `dawm bench` directory (cells/) nor a `dawm run` directory (summary.json)")
