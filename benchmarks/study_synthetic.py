"""Issue #12's screening study: which synthetic-data setting stops DAWM's data from hurting the agent.

    python benchmarks/study_synthetic.py run   [--variants default own-rtg ...] [--workers 2]
    python benchmarks/study_synthetic.py table [--out runs/study-synthetic]

Every variant is one `dawm bench` grid (dawm-td3bc, dawm-iql) under <out>/<variant>, sharing one
pipeline root, so variants that leave the world model alone reuse one (8k steps, seed 0); the
plain agents run once, in <out>/baseline. Each variant changes one thing against `default`
(today's defaults), and `oracle` is the diagnostic bound, not a candidate. Grids are resumable
cell by cell: an interrupted study continues where it stopped. `table` prints, per variant and
agent, the IQM with its 95% CI, P(variant > plain agent) with its CI, and the fidelity headline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dawm.bench import BenchConfig, run_bench
from dawm.pipeline import RunConfig
from dawm.results import stats
from dawm.results.grid import Grid, fidelity_table
from dawm.utils.config import load_config, update_config
from dawm.utils.errors import DawmError

VARIANTS: dict[str, dict] = {
    "default": {},
    "own-rtg": {"synthesis": {"target_rtg": "own"}},
    "own-rtg+0.1": {"synthesis": {"target_rtg": "own+0.1"}},
    "step0-real": {"synthesis": {"first_step": "real"}},
    "step0-drop": {"synthesis": {"first_step": "drop"}},
    "temperature-1": {"synthesis": {"temperature": 1.0}},
    "karras": {"world_model": {"schedule": "karras"}},
    "karras-temperature-1": {"world_model": {"schedule": "karras"}, "synthesis": {"temperature": 1.0}},
    "mlp-denoiser": {"world_model": {"denoiser": "mlp", "dim": 512, "n_layers": 4}},
    "ensemble-termination": {"synthesis": {"ensemble_termination": True}},
    "disagreement-0.99": {"synthesis": {"disagreement_quantile": 0.99}},
    "ratio-0.25": {"synthetic_ratio": 0.25},
    "horizon-3": {"synthesis": {"horizon": 3}},
    "combined": {"synthesis": {"target_rtg": "own", "ensemble_termination": True, "first_step": "real"}},
    # the next round: one more change on top of `combined` each (the world-model ones retrain the model)
    "combined+karras": {"synthesis": {"target_rtg": "own", "ensemble_termination": True, "first_step": "real"},
                        "world_model": {"schedule": "karras"}},
    "combined+mlp-denoiser": {"synthesis": {"target_rtg": "own", "ensemble_termination": True, "first_step": "real"},
                              "world_model": {"denoiser": "mlp", "dim": 512, "n_layers": 4}},
    "combined+ratio-0.25": {"synthesis": {"target_rtg": "own", "ensemble_termination": True, "first_step": "real"},
                            "synthetic_ratio": 0.25},
    "combined+consistency-0.9": {"synthesis": {"target_rtg": "own", "ensemble_termination": True, "first_step": "real",
                                               "consistency_quantile": 0.9}},
    "oracle": {"synthesis": {"oracle": True}},  # diagnostic: the simulator's (r, s', done)
}
AGENTS = ("td3bc", "iql")


def grid(out: Path, variant: str, args) -> BenchConfig:
    methods = AGENTS if variant == "baseline" else tuple(f"dawm-{a}" for a in AGENTS)
    base = load_config(RunConfig, "run", args.preset or None)
    precision = {"precision": args.precision}  # every stage: the recorded cells ran in float32
    base = update_config(base, {"world_model_seed": 0, "root": str(out / "pipeline"), "world_model": precision,
                                "synthesis": precision, "agent": precision})
    run = update_config(base, VARIANTS.get(variant, {}))
    return BenchConfig(methods=methods, datasets=tuple(args.datasets), seeds=tuple(args.seeds), workers=args.workers,
                       out=str(out / variant), run=run)


def table(out: Path, variants: list[str], reps: int) -> None:
    scores: stats.Scores = {}
    for variant in ["baseline", *variants]:
        g = Grid.load(out / variant)
        for dataset, by_method in g.scores().items():
            for method, values in by_method.items():
                scores.setdefault(dataset, {})[method if variant == "baseline" else f"{method}@{variant}"] = values
    for dataset, by in scores.items():
        print(f"\n{dataset}\n\n| variant | agent | IQM [95% CI] | seeds | P(variant > plain agent) [95% CI] |")
        print("|---|---|---|---|---|")
        table_ = stats.dataset_table({dataset: by}, reps)
        for agent in AGENTS:
            if agent in by:
                print(f"| plain | {agent} | {table_[dataset, agent]['iqm'].text()} | {len(by[agent])} | – |")
            for variant in variants:
                key = f"dawm-{agent}@{variant}"
                if key not in by:
                    continue
                poi = stats.probability_of_improvement(scores, key, agent, [dataset], reps) if agent in by else None
                print(f"| {variant} | {agent} | {table_[dataset, key]['iqm'].text()} | {len(by[key])} | "
                      f"{poi.text(2) if poi else '–'} |")
    for variant in variants:
        if (out / variant / "cells").is_dir():
            fid = fidelity_table(Grid.load(out / variant))
            if fid:
                print(f"\nfidelity, {variant}:\n\n{fid}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("run", "table"))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--datasets", nargs="+", default=["hopper-medium-replay"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2, help="local processes (one CPU-heavy process per core)")
    p.add_argument("--out", default="runs/study-synthetic")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                   help="matmul precision of every stage (float32: as the recorded cells ran)")
    p.add_argument("--preset", default="", help="`dawm run` preset of every cell (e.g. tiny, for a smoke test)")
    args = p.parse_args()
    out = Path(args.out)
    if args.action == "run":
        for variant in ["baseline", *args.variants]:
            print(f"== {variant}", flush=True)
            try:
                run_bench(grid(out, variant, args))
            except DawmError as e:  # a failed cell is retried on the next run; go on with the others
                print(f"{variant}: {e}", flush=True)
    table(out, args.variants, args.reps)


if __name__ == "__main__":
    main()
