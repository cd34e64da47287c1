"""Issue #12's screening study: which synthetic-data setting stops DAWM's data from hurting the agent.

    python benchmarks/study_synthetic.py run   [--variants published own-rtg ...] [--workers 2]
    python benchmarks/study_synthetic.py world-models [same flags as run]   # only the world models run would train
    python benchmarks/study_synthetic.py table [--out runs/study-synthetic]
    python benchmarks/study_synthetic.py table --out benchmarks/results/study-synthetic  # the committed records

Every variant is one `dawm bench` grid (dawm-td3bc, dawm-iql) under <out>/<variant>, sharing one
pipeline root, so variants that leave the world model alone reuse one (8k steps, seed 0); the
plain agents run once, in <out>/baseline, and `dwm` is DWM's agents (dwm-td3bc, dwm-iql) on the
same world model. Each variant changes one thing against `published` (DAWM as published, the
defaults before this study) or `combined` (the synthesis defaults since 2026-12-02), and `oracle` is the diagnostic
bound, not a candidate. Grids are resumable cell by cell: an interrupted study continues where it
stopped. `table` prints, per variant and agent, the IQM with its 95% CI, P(variant > plain agent)
(and P(variant > V) with `--versus V`, P(variant > DWM) when `dwm` is listed) with its CI, and the fidelity headline;
`table --variants combined+ratio-0.25 dwm` is issue #12's six-method table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dawm.bench import BenchConfig, run_bench
from dawm.data.registry import slug
from dawm.envs.collect import load_dataset
from dawm.pipeline import RunConfig
from dawm.results import records, stats
from dawm.results.grid import Grid, fidelity_table
from dawm.stages import Inputs, WorldModelStage
from dawm.utils.config import load_config, update_config
from dawm.utils.errors import DawmError
from dawm.world_model.synthesis import PUBLISHED_SYNTHESIS


def _on(base: dict, **changes) -> dict:
    """A variant: `base`'s synthesis settings and the 50% synthetic ratio of the study's first rounds, with
    `changes` (a top-level RunConfig field or a section dict)."""
    out = {"synthesis": dict(base), "synthetic_ratio": 0.5}
    for key, value in changes.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


# Each variant changes one thing against `published` (DAWM as published: the defaults before this study, called
# `default` in its first records) or against `combined` (the synthesis defaults since 2026-12-02;
# `combined+ratio-0.25` is `dawm run`'s default since then); they are spelled out in full so a recorded cell keeps
# its meaning when defaults change.
COMBINED = {"target_rtg": "own", "ensemble_termination": True, "first_step": "real"}
BETTER = {"target_rtg": "own*1.5", "return_filter": True}  # issue #27's confirmed knobs (on COMBINED)
VARIANTS: dict[str, dict] = {
    "published": _on(PUBLISHED_SYNTHESIS),
    "own-rtg": _on(PUBLISHED_SYNTHESIS, synthesis={"target_rtg": "own"}),
    "own-rtg+0.1": _on(PUBLISHED_SYNTHESIS, synthesis={"target_rtg": "own+0.1"}),
    "step0-real": _on(PUBLISHED_SYNTHESIS, synthesis={"first_step": "real"}),
    "step0-drop": _on(PUBLISHED_SYNTHESIS, synthesis={"first_step": "drop"}),
    "temperature-1": _on(PUBLISHED_SYNTHESIS, synthesis={"temperature": 1.0}),
    "karras": _on(PUBLISHED_SYNTHESIS, world_model={"schedule": "karras"}),
    "karras-temperature-1": _on(PUBLISHED_SYNTHESIS, world_model={"schedule": "karras"},
                                synthesis={"temperature": 1.0}),
    "mlp-denoiser": _on(PUBLISHED_SYNTHESIS, world_model={"denoiser": "mlp", "dim": 512, "n_layers": 4}),
    "ensemble-termination": _on(PUBLISHED_SYNTHESIS, synthesis={"ensemble_termination": True}),
    "disagreement-0.99": _on(PUBLISHED_SYNTHESIS, synthesis={"disagreement_quantile": 0.99}),
    "ratio-0.25": _on(PUBLISHED_SYNTHESIS, synthetic_ratio=0.25),
    "horizon-3": _on(PUBLISHED_SYNTHESIS, synthesis={"horizon": 3}),
    "combined": _on(COMBINED),
    # the next round: one more change on top of `combined` each (the world-model ones retrain the model)
    "combined+karras": _on(COMBINED, world_model={"schedule": "karras"}),
    "combined+mlp-denoiser": _on(COMBINED, world_model={"denoiser": "mlp", "dim": 512, "n_layers": 4}),
    "combined+ratio-0.25": _on(COMBINED, synthetic_ratio=0.25),
    "combined+consistency-0.9": _on(COMBINED, synthesis={"consistency_quantile": 0.9}),
    "combined+anchored": _on(COMBINED, synthesis={"first_step": "anchored"}),
    # the world-model knobs aimed at the averaged futures, on `combined+ratio-0.25` (retrain the model)
    "combined+ratio-0.25+karras": _on(COMBINED, synthetic_ratio=0.25, world_model={"schedule": "karras"}),
    "combined+ratio-0.25+mlp-denoiser": _on(COMBINED, synthetic_ratio=0.25,
                                            world_model={"denoiser": "mlp", "dim": 512, "n_layers": 4}),
    # the model proposes the (s, a), the one-step ensemble answers them (after the oracle showed the answers matter)
    "combined+ratio-0.25+ensemble-labels": _on(COMBINED, synthetic_ratio=0.25, synthesis={"labels": "ensemble"}),
    # the choice of (s, a), which the oracle says limits TD3+BC: starts leaning to better episodes, shorter rollouts
    "combined+ratio-0.25+return-starts": _on(COMBINED, synthetic_ratio=0.25, synthesis={"start_weighting": "return"}),
    "combined+ratio-0.25+horizon-3": _on(COMBINED, synthetic_ratio=0.25, synthesis={"horizon": 3}),
    # issue #27's screen, fixed by the data-only pruning (docs/results.md): better data, not more
    "combined+ratio-0.25+own*1.5": _on(COMBINED, synthetic_ratio=0.25, synthesis={"target_rtg": "own*1.5"}),
    "combined+ratio-0.25+own*1.5+return-filter": _on(COMBINED, synthetic_ratio=0.25, synthesis=BETTER),
    # about 1M transitions (50k starts give ~340k on hopper-medium-replay) at the anchors' 50% ratio
    "combined+own*1.5+return-filter+1M-ratio-0.5": _on(
        COMBINED, synthetic_ratio=0.5, synthesis={**BETTER, "n_starts": 150_000}),
    # diagnostics: a variant's synthetic (s, a) with the simulator's (r, s', done)
    "oracle": _on(PUBLISHED_SYNTHESIS, synthesis={"labels": "oracle"}),
    "combined+ratio-0.25+oracle": _on(COMBINED, synthetic_ratio=0.25, synthesis={"labels": "oracle"}),
    # issue #27's bound: the confirmed variant's (s, a), filtered as it is, answered by the simulator
    "combined+ratio-0.25+own*1.5+return-filter+oracle": _on(
        COMBINED, synthetic_ratio=0.25, synthesis={**BETTER, "labels": "oracle"}),
    # ... and by the one-step ensemble (the same pairs since labels answer the one generated set, 5a0f3d9)
    "combined+ratio-0.25+own*1.5+return-filter+ensemble-labels": _on(
        COMBINED, synthetic_ratio=0.25, synthesis={**BETTER, "labels": "ensemble"}),
    # the earlier diffusion world model: DWM's agents (value expansion, `dawm run`'s DWM settings)
    "dwm": {},
}
AGENTS = ("td3bc", "iql")


def prefix(variant: str) -> str:
    """The method prefix of a variant's cells: DWM's agents for `dwm`, DAWM's for the rest."""
    return "dwm-" if variant == "dwm" else "dawm-"


def grid(out: Path, variant: str, args) -> BenchConfig:
    methods = tuple(args.agents) if variant == "baseline" else tuple(f"{prefix(variant)}{a}" for a in args.agents)
    base = load_config(RunConfig, "run", args.preset or None)
    precision = {"precision": args.precision}  # every stage: the recorded cells ran in float32
    # one world model per dataset (seed 0) unless each seed is to have its own (--world-model-per-seed, claim grade)
    agent = {**precision, **({"steps": args.steps} if args.steps else {}),
             **({"eval_every": args.eval_every} if args.eval_every else {}),  # the agents' budget and protocol
             **({"seeds": len(args.seeds)} if args.vectorise else {}),
             **({"checkpoint_every": args.checkpoint_every} if args.checkpoint_every else {})}
    base = update_config(base, {"world_model_seed": None if args.world_model_per_seed else 0,
                                "root": str(out / "pipeline"), "world_model": precision, "synthesis": precision,
                                "agent": agent})
    run = update_config(base, VARIANTS.get(variant, {}))
    seeds = tuple(args.seeds[:1] if args.vectorise else args.seeds)  # a vectorised cell is named by its first seed
    return BenchConfig(methods=methods, datasets=tuple(args.datasets), seeds=seeds, workers=args.workers,
                       out=str(out / variant), run=run)


def world_models(out: Path, args) -> None:
    """Train (or find) the world models that `run` with the same flags would use, and nothing else: one per
    dataset (seed 0), or one per seed with --world-model-per-seed."""
    datasets = {name: load_dataset(name) for name in args.datasets or ["hopper-medium-replay"]}  # each loaded once
    for variant in args.variants:
        run = grid(out, variant, args).run
        for name, dataset in datasets.items():
            inputs = Inputs(name, dataset, Path(run.root), run.device)
            for seed in args.seeds if args.world_model_per_seed else [0]:
                print(f"{variant} {name} seed {seed}: {WorldModelStage(run.world_model, inputs, seed).get()}",
                      flush=True)


def _add_scores(into: stats.Scores, scores: stats.Scores, variant: str) -> None:
    """A variant's per-seed scores added to a study's, each method under its label in the table."""
    for dataset, by_method in scores.items():
        for method, values in by_method.items():
            into.setdefault(dataset, {})[_label(method, variant)] = values


def _label(method: str, variant: str) -> str:
    """A method's name in the table: the plain agents as they are, a variant's as method@variant."""
    return method if variant == "baseline" else f"{method}@{variant}"


def table(out: Path, variants: list[str], reps: int, datasets: list[str] | None = None, final: int = 1,
          versus: str | None = None, baseline: Path | None = None, allow: tuple[str, ...] = (),
          baseline_at: int = 0, at: int = 0, check_goal: bool = False) -> None:
    """The tables of the recorded cells; `datasets` (names or files) keeps only those, e.g. one fraction
    of a dataset's subsets, so that the across-datasets rows do not pool two sizes of one dataset; `final` > 1
    scores each seed by the mean of its last `final` evaluations instead of the last one; `versus` (a variant)
    adds the column P(variant > that variant), e.g. `dwm`: issue #12 asks DAWM to beat DWM's agents too;
    `baseline` is where the plain agents' records are (default <out>/baseline), e.g. a bfloat16 grid's; cells that
    are not like with like (dawm.results.records) are refused unless `allow` names the difference; `baseline_at`
    reads the plain agents off their curves at that update (e.g. a 300k run's first 100k, `Grid.at`), `at` every
    cell (e.g. a 300k study at `dawm run`'s 30k budget); `check_goal` adds issue #27's verdict (`goal`)."""
    if versus and versus not in variants:
        variants = [*variants, versus]
    keep = {slug(d) for d in datasets} if datasets else None  # as dawm bench names its cell files
    scores: stats.Scores = {}
    grids = {}  # read once: the scores here, the fidelity tables below
    for variant in ["baseline", *variants]:
        g = grids[variant] = _grid(baseline if variant == "baseline" and baseline else out / variant, keep)
        if at or (variant == "baseline" and baseline_at):
            g = grids[variant] = g.at(at or baseline_at)
        _add_scores(scores, g.scores(final), variant)
        for line in g.problems:
            print(f"{variant}: {line}", file=sys.stderr)
    scores = {d: by for d, by in scores.items() if any("@" in m for m in by)}  # datasets a variant ran on
    labelled = [{**c, "label": _label(c["method"], v)} for v, g in grids.items() for c in g.cells
                if c["dataset"] in scores]
    notes = records.check(labelled, allow).require("study table").lines()
    column = _versus_column(versus)
    for dataset, by in scores.items():
        print(f"\n{dataset}\n\n| variant | agent | IQM [95% CI] | seeds | P(variant > plain agent) [95% CI]; "
              f"IQM difference |{column}")
        print("|---|---|---|---|---|" + ("---|" if versus else ""))
        table_ = stats.dataset_table({dataset: by}, reps)
        for agent in AGENTS:
            if agent in by:
                print(f"| plain | {agent} | {table_[dataset, agent]['iqm'].text()} | {len(by[agent])} | – |"
                      + (" – |" if versus else ""))
            for variant in variants:
                key = _label(f"{prefix(variant)}{agent}", variant)
                if key not in by:
                    continue
                row = f"| {variant} | {agent} | {table_[dataset, key]['iqm'].text()} | {len(by[key])} | "
                for base in [agent] + ([_label(f"{prefix(versus)}{agent}", versus)] if versus else []):
                    row += (_versus(scores, key, base, [dataset], reps) if base in by and base != key else "–") + " | "
                print(row.rstrip())
    across(scores, variants, reps, versus)
    if final > 1:
        beside(grids, variants, list(scores), reps)
    if check_goal:
        goal(scores, variants, reps, short=bool(at))
    print("\n" + "\n".join(notes + [f"Each interval: {reps} resamples."]))
    for variant in variants:
        fid = fidelity_table(grids[variant])
        if fid:
            print(f"\nfidelity, {variant}:\n\n{fid}")


def beside(grids: dict[str, Grid], variants: list[str], datasets: list[str], reps: int) -> None:
    """Beside the deciding score (the final-k mean): CORL's "last" (each seed's final evaluation) and the area
    under the learning curve (each seed's mean over all its evaluations), IQM and P(variant > plain agent)."""
    kinds: dict[str, stats.Scores] = {"last": {}, "area": {}}
    for variant, g in grids.items():
        _add_scores(kinds["last"], g.scores(1), variant)
        _add_scores(kinds["area"], g.scores(area=True), variant)
    print("\nbeside: CORL's last evaluation and the area under the learning curve (mean over every evaluation)\n\n"
          "| dataset | variant | agent | last: IQM; P(> plain); difference | area: IQM; P(> plain); difference |\n"
          "|---|---|---|---|---|")
    for dataset in datasets:
        for agent in AGENTS:
            for variant in variants:
                key = _label(f"{prefix(variant)}{agent}", variant)
                cells = []
                for scores in kinds.values():
                    by = scores.get(dataset, {})
                    if key not in by or agent not in by:
                        break
                    iqm = stats.dataset_table({dataset: by}, reps)[dataset, key]["iqm"].text()
                    cells.append(f"{iqm}; {_versus(scores, key, agent, [dataset], reps)}")
                if len(cells) == 2:
                    print(f"| {dataset} | {variant} | {agent} | {cells[0]} | {cells[1]} |")


def _grid(out: Path, keep: set[str] | None) -> Grid:
    """The grid's cells on the kept datasets (a cell file is <method>__<dataset>__seed<k>.json): a study's
    <out>/<variant>/cells/, or the records committed flat under benchmarks/results/<study>/<variant>/."""
    paths = sorted((out / "cells").glob("*.json")) or sorted(out.glob("*__*__seed*.json"))
    return Grid.load(out, [p for p in paths if keep is None or p.name.split("__")[1] in keep])


def _versus(scores: stats.Scores, x: str, y: str, datasets: list[str], reps: int) -> str:
    """'P [CI]; effect in points [CI]' of x against y over the datasets."""
    return (f"{stats.probability_of_improvement(scores, x, y, datasets, reps).text(2)}; "
            f"{stats.difference(scores, x, y, datasets, reps).signed()}")


def _versus_column(versus: str | None) -> str:
    """The header cell of the P(variant > versus) column ('' without one)."""
    return f" P(variant > {'DWM' if versus == 'dwm' else versus}) [95% CI]; IQM difference |" if versus else ""


def across(scores: stats.Scores, variants: list[str], reps: int, versus: str | None = None) -> None:
    """Per variant and agent, over every dataset that has both it and the plain agent (>= 2): the
    aggregate IQM of each and P(variant > plain agent), rliable's stratified bootstrap; with `versus`
    (a variant), also P(variant > versus) over the datasets that have both."""
    rows = []
    for agent in AGENTS:
        for variant in variants:
            key = _label(f"{prefix(variant)}{agent}", variant)
            datasets = [d for d, by in scores.items() if key in by and agent in by]
            if len(datasets) < 2:
                continue
            agg = stats.aggregate_table(scores, [agent, key], datasets, reps)
            row = (f"| {variant} | {agent} | {len(datasets)} | {agg[agent]['iqm'].text()} | "
                   f"{agg[key]['iqm'].text()} | {_versus(scores, key, agent, datasets, reps)} |")
            if versus:
                base = _label(f"{prefix(versus)}{agent}", versus)
                both = [d for d in datasets if base in scores[d]]
                row += (f" {_versus(scores, key, base, both, reps)} |" if variant != versus and len(both) >= 2
                        else " – |")
            rows.append(row)
    if rows:
        print("\nacross datasets\n\n| variant | agent | datasets | plain IQM [95% CI] | variant IQM [95% CI] | "
              "P(variant > plain agent) [95% CI]; IQM difference |" + _versus_column(versus)
              + "\n|---|---|---:|---|---|---|" + ("---|" if versus else ""))
        print("\n".join(rows))


CONFIRMATION = ("walker2d-medium-replay", "hopper-medium-expert", "halfcheetah-medium-replay")


def goal(scores: stats.Scores, variants: list[str], reps: int, short: bool) -> None:
    """Issue #27's goal (point 6, docs/results.md's plan) for each variant, read off the table's scores. At the long
    budget: P(variant > plain agent) with its lower end above 0.5 for both agents on >= 2 of the confirmation
    datasets and no upper end below 0.5; with `short` (the table read `--at` dawm run's budget): no upper end below
    0.5 (not below on any dataset for either agent)."""
    for variant in variants:
        estimates = {(d, a): stats.probability_of_improvement(scores, _label(f"{prefix(variant)}{a}", variant), a,
                                                              [d], reps) for d in CONFIRMATION for a in AGENTS}
        # the one reading of each cell that the rule uses (None: no cells yet)
        reading = {cell: None if p is None else "above" if p.low > 0.5 else "below" if p.high < 0.5 else "level"
                   for cell, p in estimates.items()}
        rows = [f"| {d} | {a} | {estimates[d, a].text(2)} | {r} |" for (d, a), r in reading.items() if r]
        missing = [f"{d} {a}" for (d, a), r in reading.items() if r is None]
        below = [f"{d} {a}" for (d, a), r in reading.items() if r == "below"]
        above = [d for d in CONFIRMATION if all(reading[d, a] == "above" for a in AGENTS)]
        print(f"\ngoal (issue #27 point 6), {variant}\n\n| dataset | agent | P(> plain) [95% CI] | reading |\n"
              "|---|---|---|---|\n" + "\n".join(rows) + f"\n\nabove for both agents on {len(above)} of 3 "
              f"({', '.join(above) or 'none'}); below: {', '.join(below) or 'none'}"
              + (f"; no cells yet for {', '.join(missing)}" if missing else ""))
        met = not below and (short or len(above) >= 2)
        verdict = "missed" if below else "not decided yet" if missing else "met" if met else "missed"
        print(f"goal at this budget{' (not below on any dataset)' if short else ''}: {verdict}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("run", "table", "world-models"))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--datasets", nargs="+", default=None,
                   help="run: the datasets (default hopper-medium-replay); table: only these (default all recorded)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--agents", nargs="+", default=AGENTS, choices=AGENTS, help="run: the agents (one queue per core)")
    p.add_argument("--workers", type=int, default=2, help="local processes (one CPU-heavy process per core)")
    p.add_argument("--out", default="runs/study-synthetic")
    p.add_argument("--reps", type=int, default=stats.REPS, help="bootstrap resamples")
    p.add_argument("--steps", type=int, default=0, help="run: agent updates (default: `dawm run`'s, 30k)")
    p.add_argument("--baseline-at", type=int, default=0,
                   help="table: the plain agents read off their curves at this update (e.g. 100000 from 300k runs)")
    p.add_argument("--at", type=int, default=0,
                   help="table: every cell read off its curve at this update (e.g. 30000: `dawm run`'s budget)")
    p.add_argument("--eval-every", type=int, default=0, help="run: updates between evaluations (default: 5k)")
    p.add_argument("--world-model-per-seed", action="store_true",
                   help="run: each seed trains its own world model (claim grade: the intervals then include the "
                        "world model's variation); default one world model per dataset (seed 0)")
    p.add_argument("--vectorise", action="store_true",
                   help="run: the seeds (consecutive) as one vectorised agent per cell, each seed with its own "
                        "synthetic set (and world model with --world-model-per-seed); the table reads each seed off "
                        "the cell's curves")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="run: agent updates between checkpoints (default: `dawm run`'s, 50k)")
    p.add_argument("--allow-mismatch", nargs="+", default=[], choices=list(records.COMPARED),
                   help="table: compare cells that differ in these (named in the table); default: refuse them")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                   help="matmul precision of every stage (float32: as the recorded cells ran)")
    p.add_argument("--final", type=int, default=1,
                   help="table: score each seed by the mean of its last N evaluations (TD3+BC's convention; "
                        "default 1, the final evaluation)")
    p.add_argument("--versus", default=None, choices=list(VARIANTS),
                   help="table: also P(variant > this variant) (default: dwm when it is listed)")
    p.add_argument("--baseline", default=None,
                   help="the plain agents' records (default <out>/baseline; e.g. a bfloat16 grid's); with run, "
                        "they are not trained again")
    p.add_argument("--goal", action="store_true",
                   help="table: issue #27's verdict on the confirmation datasets (with --at: the not-below check)")
    p.add_argument("--preset", default="", help="`dawm run` preset of every cell (e.g. tiny, for a smoke test)")
    args = p.parse_args()
    out = Path(args.out)
    if args.action == "run" and args.vectorise and args.seeds != list(range(args.seeds[0],
                                                                             args.seeds[0] + len(args.seeds))):
        sys.exit("study_synthetic.py: --vectorise needs consecutive --seeds (a vectorised run's seeds are seed, "
                 "seed + 1, ...)")
    if args.action == "world-models":  # e.g. while the variant to run is not chosen yet: they do not depend on it
        world_models(out, args)
        return
    if args.action == "run":
        args.datasets = args.datasets or ["hopper-medium-replay"]
        # with --baseline the plain agents' records exist elsewhere (e.g. the long runs, read with --baseline-at)
        for variant in ([] if args.baseline else ["baseline"]) + args.variants:
            print(f"== {variant}", flush=True)
            try:
                run_bench(grid(out, variant, args))
            except DawmError as e:  # a failed cell is retried on the next run; go on with the others
                print(f"{variant}: {e}", flush=True)
    try:
        table(out, args.variants, args.reps, args.datasets, args.final,
              args.versus or ("dwm" if "dwm" in args.variants else None), args.baseline and Path(args.baseline),
              tuple(args.allow_mismatch), args.baseline_at, args.at, args.goal)
    except DawmError as e:
        sys.exit(f"study_synthetic.py: {e}")


if __name__ == "__main__":
    main()
