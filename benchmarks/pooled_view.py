"""Does DAWM help? Every DAWM setting ever recorded against its own plain baseline, and the pooled answer (issue #29).

    python benchmarks/pooled_view.py [--results benchmarks/results] [--reps 20000]

A setting is one (records folder, variant, dataset, agent): the dawm-X cells of a study variant on one dataset
(or subset). Its baseline is the plain X cells that compare like with like with it (dawm.results.records: same
data digest, precision, budget and evaluation protocol), from its own study's baseline folder first, else from any
other folder of records. Oracle variants are diagnostics, not settings, and are left out; so is DWM (not DAWM).
A setting with no like-for-like baseline is listed as such and left out of the pool.

The table gives each setting's IQMs, P(DAWM-X > X) with its 95% CI and the IQM difference in points; then, per
agent, P pooled over settings (each setting one task of rliable's stratified bootstrap, its first n seeds, n the
fewest any pooled setting has): over every setting with >= 5 seeds, and over the selections the docs quoted.
Settings that share a baseline (variants on one dataset) are not independent, so the pooled interval is
narrower than the evidence; read it as a summary of what was tried, not as a test.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from dawm.results import records, stats
from dawm.results.grid import seed_cells

AGENTS = ("td3bc", "iql")
FULL = ("hopper-medium-replay", "hopper-medium", "walker2d-medium-replay")
SUBSETS = ("hopper-medium-replay-10pct", "hopper-medium-replay-2pct", "hopper-medium-2pct",
           "walker2d-medium-replay-2pct", "hopper-medium-0.3pct")
# the selections the docs quoted before issue #29, by (variant, datasets)
SELECTED = {
    "the default (combined+ratio-0.25) on the three full datasets": ("combined+ratio-0.25", FULL),
    "the default on the two datasets it was not chosen on": ("combined+ratio-0.25", FULL[1:]),
    "2% of the three datasets": ("combined+ratio-0.25", SUBSETS[1:4]),
    "every subset tried": ("combined+ratio-0.25", SUBSETS),
    "ensemble labels on the three full datasets": ("combined+ratio-0.25+ensemble-labels", FULL),
}
COMPARED = ("data", "precision", "budget", "evaluation")


def load(results: Path) -> list[dict]:
    """Every cell record once: a record copied into a second folder (study-xeon holds copies of some study-synthetic
    records, to print them beside their same-data baseline) counts in the first folder only."""
    cells, seen = [], set()
    for path in sorted(results.rglob("*__*__seed*.json")):
        if "/pipeline/" in str(path) or "parity-d3rlpy" in str(path):
            continue
        cell = json.loads(path.read_text())
        run = (cell.get("agent_run"), cell.get("score_mean"))
        if isinstance(cell.get("score_mean"), (int, float)) and run not in seen:
            seen.add(run)  # a vectorised run's seeds, one cell each, as the grids read them
            cells += seed_cells({**cell, "folder": str(path.parent.relative_to(results)), "record_file": str(path)},
                                [])
    return cells


def key(cell: dict) -> tuple:
    return tuple(json.dumps(records.value(cell, name), sort_keys=True) for name in COMPARED)


def settings(cells: list[dict]) -> tuple[dict, dict]:
    """({(folder, dataset, agent, variant): DAWM scores}, {same key: (baseline folder, plain scores)})."""
    dawm, plain = defaultdict(list), defaultdict(list)
    for c in cells:
        agent = c["method"].removeprefix("dawm-")
        if c["method"].startswith("dawm-") and "oracle" not in c["folder"]:
            dawm[c["folder"], c["dataset"], agent, key(c)].append(c)
        elif c["method"] in AGENTS:
            plain[c["folder"], c["dataset"], c["method"], key(c)].append(c)
    found = {}
    for folder, dataset, agent, k in dawm:
        study = folder.split("/")[0]
        matches = [p for p in plain if p[1:] == (dataset, agent, k)]
        matches.sort(key=lambda p: (p[0] != f"{study}/baseline", not p[0].startswith(study), p[0]))
        if matches:
            found[folder, dataset, agent, k] = (matches[0][0], _scores(plain[matches[0]]))
    return {s: _scores(cs) for s, cs in dawm.items()}, found


def _scores(cells: list[dict]) -> list[float]:
    by_seed = {c["seed"]: float(c["score_mean"]) for c in cells}  # one score per seed
    return [by_seed[s] for s in sorted(by_seed)]


def pooled(rows: list[tuple], reps: int) -> str:
    """P and the IQM difference over the rows' settings, each setting a task (first n seeds)."""
    if len(rows) < 2:
        return "– (fewer than 2 settings)"
    scores = {f"task{i}": {"dawm": d, "plain": p} for i, (d, p) in enumerate(rows)}
    tasks = list(scores)
    poi = stats.probability_of_improvement(scores, "dawm", "plain", tasks, reps)
    effect = stats.difference(scores, "dawm", "plain", tasks, reps)
    return f"{poi.text(2)}; {effect.signed()} ({len(rows)} settings, {poi.n} seeds each)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--reps", type=int, default=stats.REPS)
    args = p.parse_args()
    dawm, baselines = settings(load(Path(args.results)))
    print("| agent | dataset | records (variant) | baseline records | seeds | plain IQM | DAWM IQM | "
          "P(DAWM-X > X) [95% CI]; IQM difference |")
    print("|---|---|---|---|---:|---|---|---|")
    pool: dict[str, list] = defaultdict(list)
    for (folder, dataset, agent, k), scores in sorted(dawm.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
        if (folder, dataset, agent, k) not in baselines:
            print(f"| {agent} | {dataset} | {folder} | none like with like | {len(scores)} | – | – | – |")
            continue
        base_folder, base = baselines[folder, dataset, agent, k]
        table = {dataset: {"dawm": scores, "plain": base}}
        poi = stats.probability_of_improvement(table, "dawm", "plain", [dataset], args.reps)
        effect = stats.difference(table, "dawm", "plain", [dataset], args.reps)
        iqm = stats.dataset_table(table, args.reps)
        print(f"| {agent} | {dataset} | {folder} | {base_folder} | {min(len(scores), len(base))} | "
              f"{iqm[dataset, 'plain']['iqm'].text()} | {iqm[dataset, 'dawm']['iqm'].text()} | "
              f"{poi.text(2)}; {effect.signed()} |")
        pool[agent].append((folder, dataset, scores, base))
    print("\nPooled P(DAWM-X > X) [95% CI]; IQM difference, each setting one task (settings sharing a baseline are "
          "not independent: the intervals are narrower than the evidence)\n")
    print("| agent | settings | pooled |\n|---|---|---|")
    for agent in AGENTS:
        rows = [(d, b) for _, _, d, b in pool[agent] if min(len(d), len(b)) >= 5]
        print(f"| {agent} | every setting with >= 5 seeds | {pooled(rows, args.reps)} |")
        for name, (variant, datasets) in SELECTED.items():
            rows = [(d, b) for folder, dataset, d, b in pool[agent]
                    if folder.endswith("/" + variant) and dataset in datasets and folder != "study-xeon/" + variant]
            print(f"| {agent} | {name} | {pooled(rows, args.reps)} |")
    print(f"\nEach interval: {args.reps} resamples; one world model per dataset in every setting (the intervals do "
          "not include the world model's variation).")


if __name__ == "__main__":
    main()
