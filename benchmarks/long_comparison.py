"""Issue #12's long comparison: IQL and DAWM-IQL at a long agent budget, seeds vectorised in one process each.

    python benchmarks/long_comparison.py run   [--steps 200000] [--seeds 5] [--variant combined]  (any study variant)
    python benchmarks/long_comparison.py table [--out runs/long-comparison]

Two `dawm run`s side by side, one per core: the plain agent and the DAWM agent, each training its
S seeds as one seed-stacked agent (`--agent.seeds S`: seed k starts as a single run with seed k
would). The DAWM run trains the study's world model (world_model_seed 0, the default budget; under
<out>/pipeline) and its seeds share one synthetic set (seed 0's), which a per-seed bench would draw
per seed: the world model is shared in the study too, so what varies across seeds is the agent. Runs checkpoint every
`--checkpoint-every` updates and resume where they stopped. `table` prints, at several budgets
along the run, each agent's IQM with its 95% bootstrap CI and P(DAWM-X > X): how the effect of the
synthetic data changes with the agent's budget (the short study uses 30k updates, 3% of the
standard 1M).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dawm.results import stats
from study_synthetic import VARIANTS  # the study's variants, spelled out there once


def flags(changes: dict, prefix: str = "") -> list[str]:
    """A study variant's RunConfig changes as `dawm run` flags ({"synthesis": {"first_step": "real"}} ->
    --synthesis.first-step real; booleans as --x / --no-x)."""
    out: list[str] = []
    for key, value in changes.items():
        name = key.replace("_", "-")
        if isinstance(value, dict):
            out += flags(value, f"{prefix}{name}.")
        elif isinstance(value, bool):
            out.append(f"--{prefix}{'' if value else 'no-'}{name}")
        else:
            out += [f"--{prefix}{name}", str(value)]
    return out


def command(method: str, args) -> list[str]:
    cmd = [sys.executable, "-m", "dawm", "run", "--method", method, "--dataset", args.dataset,
           "--seed", "0", "--world-model-seed", "0", "--no-baseline", "--root", str(Path(args.out) / "pipeline"),
           "--agent.seeds", str(args.seeds), "--agent.steps", str(args.steps),
           "--agent.eval-every", str(args.eval_every), "--agent.checkpoint-every", str(args.checkpoint_every),
           "--agent.precision", args.precision, "--world-model.precision", args.precision,
           "--synthesis.precision", args.precision]
    cmd += ["--preset", args.preset] if args.preset else []
    return cmd + (flags(VARIANTS[args.variant]) if method.startswith("dawm-") else [])


def run(args) -> None:
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    jobs = []
    for method in (args.algo, f"dawm-{args.algo}"):
        log = open(out / "logs" / f"{method}.log", "a")
        print(f"{method}: {' '.join(command(method, args))}\n  log {log.name}", flush=True)
        jobs.append(subprocess.Popen(command(method, args), stdout=log, stderr=subprocess.STDOUT, env=env))
    codes = [job.wait() for job in jobs]
    if any(codes):
        print(f"exit codes {codes}: see {out / 'logs'}", file=sys.stderr)


def curves(out: Path, method: str, dataset: str) -> dict[int, list[float]]:
    """{update: per-seed scores} from the run's metrics (every evaluation of every seed so far, so an
    unfinished run gives a partial table; a resumed run's later record of a step wins)."""
    runs = sorted((out / "pipeline" / "agents").glob(f"{method}-{dataset}-seed0-*/metrics.jsonl"),
                  key=lambda f: f.stat().st_mtime)
    if not runs:
        return {}
    if len(runs) > 1:  # e.g. two variants under one --out: say which one the table reads
        print(f"note: {len(runs)} {method} runs under {out}; reading the newest, {runs[-1].parent.name} "
              f"(use one --out per variant)", file=sys.stderr)
    by_step: dict[int, list[float]] = {}
    for line in runs[-1].read_text().splitlines():
        row = json.loads(line)
        seeds = sorted((k for k in row if k.startswith("eval/seed") and k.endswith("/score_mean")),
                       key=lambda k: int(k.split("/")[1].removeprefix("seed")))
        if seeds:
            by_step[int(row["step"])] = [float(row[k]) for k in seeds]
        elif "eval/score_mean" in row:  # a single-seed run
            by_step[int(row["step"])] = [float(row["eval/score_mean"])]
    return dict(sorted(by_step.items()))


def table(args) -> None:
    out, algo = Path(args.out), args.algo
    plain, dawm = curves(out, algo, args.dataset), curves(out, f"dawm-{algo}", args.dataset)
    common = [s for s in plain if s in dawm]  # evaluations both runs have reached
    steps = [s for s in common if s in args.at or s == common[-1]]
    if not steps:
        print(f"no finished runs under {out} (run first)")
        return
    print(f"{args.dataset}, {len(plain[steps[-1]])} seeds\n")
    print(f"| updates | {algo} IQM [95% CI] | dawm-{algo} IQM [95% CI] | P(dawm-{algo} > {algo}) [95% CI] |")
    print("|---:|---|---|---|")

    def row(label: str, plain_scores, dawm_scores) -> None:
        scores = {args.dataset: {algo: list(plain_scores), f"dawm-{algo}": list(dawm_scores)}}
        t = stats.dataset_table(scores, args.reps)
        poi = stats.probability_of_improvement(scores, f"dawm-{algo}", algo, [args.dataset], args.reps)
        print(f"| {label} | {t[args.dataset, algo]['iqm'].text()} | {t[args.dataset, f'dawm-{algo}']['iqm'].text()} | "
              f"{poi.text(2)} |")

    for s in steps:
        row(f"{s:,}", plain[s], dawm[s])
    # Fujimoto & Gu's (TD3+BC) convention beside CORL's "last": each seed's mean over its final k evaluations,
    # less sensitive to where one evaluation catches a policy that oscillates
    final = common[-args.final:]  # fewer when the runs have fewer evaluations
    if len({len(c[s]) for s in final for c in (plain, dawm)}) == 1:  # every seed at every step: a mean per seed
        row(f"mean of the final {len(final)} evaluations ({final[0]:,}–{final[-1]:,})",
            *(np.mean([c[s] for s in final], 0) for c in (plain, dawm)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("run", "table"))
    p.add_argument("--algo", default="iql", choices=("iql", "td3bc"))
    p.add_argument("--dataset", default="hopper-medium-replay")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--variant", default="combined", choices=[v for v in VARIANTS if v != "dwm"],
                   help="the study's synthesis variant of the DAWM run")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"))
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--checkpoint-every", type=int, default=10_000)
    p.add_argument("--at", type=int, nargs="+", default=[30_000, 100_000, 200_000], help="budgets in the table")
    p.add_argument("--final", type=int, default=10, help="also: each seed's mean over its final N evaluations")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--out", default="runs/long-comparison")
    p.add_argument("--preset", default="", help="`dawm run` preset (e.g. tiny, for a smoke test)")
    args = p.parse_args()
    run(args) if args.action == "run" else table(args)


if __name__ == "__main__":
    main()
