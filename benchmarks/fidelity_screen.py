"""Synthesis knobs screened on the data alone: one trained world model, one synthetic set per variant,
each checked against the simulator (issue #12's causes, before any agent is trained).

    python benchmarks/fidelity_screen.py runs/default-run-check/world_model/<run> --n-starts 20000

Per variant: transitions kept, share of rollouts that end in a terminal, next-state RMSE (all steps
and step 0), the simulator's terminations the data misses (false-negative rate) and the false ones
it adds, and the spread of the synthetic actions and state changes against the data's (1 = same).
One one-step ensemble (trained on the real data once, in <out>/ensemble) serves as the guards'
model and as the fidelity reference. Variants that need a retrained world model (schedule,
denoiser) are the study's (benchmarks/study_synthetic.py), not this screen's.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from dawm.envs.collect import load_dataset
from dawm.utils.checkpoint import write_json
from dawm.world_model.dynamics_ensemble import EnsembleConfig, reference_ensemble
from dawm.world_model.fidelity import fidelity_report
from dawm.world_model.synthesis import PUBLISHED_SYNTHESIS, SynthesisConfig, load_world_model_run, synthesize_with
from study_synthetic import COMBINED  # the study's `combined` synthesis settings, spelled out there once

# each against DAWM as published (the defaults before issue #12's study; `default (q0.9)` in the first record)
VARIANTS = {
    "published (q0.9)": {},
    "q0.5": {"target_rtg": "q0.5"},
    "own": {"target_rtg": "own"},
    "own+0.1": {"target_rtg": "own+0.1"},
    "temperature 1": {"temperature": 1.0},
    "first step real": {"first_step": "real"},
    "ensemble termination": {"ensemble_termination": True},
    "disagreement 0.99": {"disagreement_quantile": 0.99},
    "own + ensemble termination": {"target_rtg": "own", "ensemble_termination": True},
    "combined": COMBINED,
    "combined + consistency 0.9": {**COMBINED, "consistency_quantile": 0.9},
    "combined + consistency 0.75": {**COMBINED, "consistency_quantile": 0.75},
    "combined + anchored": {**COMBINED, "first_step": "anchored"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("world_model", help="a `dawm train-world-model` run directory")
    p.add_argument("--dataset", default="", help="real dataset (default: the one the model was trained on)")
    p.add_argument("--n-starts", type=int, default=20_000)
    p.add_argument("--n-samples", type=int, default=4000, help="transitions checked in the simulator per variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/fidelity-screen")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args()
    wm, idm, term = load_world_model_run(args.world_model)
    dataset = load_dataset(args.dataset or wm.metadata.get("source", ""))
    ensemble, _ = reference_ensemble(dataset, Path(args.out) / "ensemble",
                                     EnsembleConfig(members=5, max_steps=3000, seed=args.seed))
    # float32, as the recorded screen ran (before `auto` became the default)
    base = SynthesisConfig(world_model=args.world_model, n_starts=args.n_starts, seed=args.seed, precision="float32",
                           **PUBLISHED_SYNTHESIS)
    rows = []
    for name in args.variants:
        cfg = dataclasses.replace(base, **VARIANTS[name])
        syn = synthesize_with(cfg, wm, idm, term, dataset, args.seed, ensemble, show_progress=False)
        rep = fidelity_report(syn, source=dataset, ensemble=ensemble, n_samples=args.n_samples, seed=args.seed,
                              n_rollouts=50)
        sim, spread = rep["synthetic_vs_sim"], rep["spread"]["all"]
        step0 = sim.get("by_horizon", {}).get("0", {})
        rows.append({"variant": name, "transitions": len(syn), "rollouts": syn.n_episodes,
                     "terminated": float(syn.terminals.sum() / max(syn.n_episodes, 1)),
                     "terminal_share": float(syn.terminals.mean()),
                     "state_rmse": sim["all"].get("state_rmse"), "state_rmse_step0": step0.get("state_rmse"),
                     "state_rmse_generated": generated_rmse(sim), "ensemble_rmse_generated":
                         generated_rmse(rep["ensemble_vs_sim"]),
                     "term_fn_rate": sim["all"].get("term_false_negative_rate"),
                     "term_fp_rate": sim["all"].get("term_false_positive_rate"),
                     "action_spread": spread.get("action_spread"),
                     "state_change_spread": spread.get("state_change_spread")})
        print(f"{name}: {rows[-1]}", flush=True)
    write_json(Path(args.out) / "screen.json", {"world_model": args.world_model, "args": vars(args), "rows": rows})
    f = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    print("\n| variant | transitions | rollouts | rollouts ending in a terminal | terminal share of transitions | "
          "next-state RMSE (all / step 0 / steps ≥ 1) | ensemble on the same steps ≥ 1 | missed terminations | "
          "false terminations | action spread | state-change spread |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['transitions']:,} | {r['rollouts']:,} | {f(r['terminated'])} | "
              f"{r['terminal_share']:.4f} | {f(r['state_rmse'])} / {f(r['state_rmse_step0'])} / "
              f"{f(r['state_rmse_generated'])} | {f(r['ensemble_rmse_generated'])} | {f(r['term_fn_rate'])} | "
              f"{f(r['term_fp_rate'])} | {f(r['action_spread'])} | {f(r['state_change_spread'])} |")


def generated_rmse(grouped: dict) -> float | None:
    """Next-state RMSE over the generated steps (horizon step ≥ 1), from the per-step figures."""
    steps = [g for k, g in grouped.get("by_horizon", {}).items() if k != "0" and g.get("state_rmse") is not None]
    n = sum(g["n"] for g in steps)
    return float(np.sqrt(sum(g["n"] * g["state_rmse"] ** 2 for g in steps) / n)) if n else None


if __name__ == "__main__":
    main()
