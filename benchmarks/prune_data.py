"""Issue #27, step 1 of the plan in docs/results.md: prune the better-data knobs on the data alone, no agent.

    python benchmarks/prune_data.py run   [--dataset hopper-medium-replay] [--alphas 1.0 1.15 1.3 1.5]
                                          [--noise-levels 1.0 0.75 0.5 0.25] [--alpha-for-noise A] [--out runs/prune]
    python benchmarks/prune_data.py table [--out runs/prune]

`dawm run`'s world model (8k steps, seed 0) is trained once under <out>/pipeline (or reused), and for every
setting one synthetic set of 50k starts is made and checked against the simulator, each cached by `dawm run`'s
own stage keys, so an interrupted run resumes set by set. Settings: each `own*α` at μ = 1; then each μ at
`--alpha-for-noise` (the α the rule picked; default: the largest α); then that α at `--mu-for-filter` (the μ the
rule picked; default: the smallest) with the return filter. `table` prints per set: the return gain (the
simulator's discounted reward over a rollout's steps minus the real segment's from the same start) overall and per
quartile of the start's own return-to-go, the model's own claimed gain, next-state error beside the ensemble's,
novelty, action spread, the kept fraction and the synthesis seconds; the records are the sets' fidelity.json
files, listed in <out>/sets.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from dawm.envs.collect import load_dataset
from dawm.pipeline import RunConfig
from dawm.stages import FidelityStage, Inputs, SynthesisStage, WorldModelStage
from dawm.world_model.fidelity import FidelityConfig


def settings(args) -> list[tuple[str, dict]]:
    alpha = args.alpha_for_noise or max(args.alphas)
    out = [(f"own*{a}", {"target_rtg": f"own*{a}"}) for a in args.alphas]
    out += [(f"own*{alpha} mu={m}", {"target_rtg": f"own*{alpha}", "noise_level": m}) for m in args.noise_levels
            if m != 1.0]
    best_mu = args.mu_for_filter or min(args.noise_levels)
    out.append((f"own*{alpha} mu={best_mu} +return-filter",
                {"target_rtg": f"own*{alpha}", "noise_level": best_mu, "return_filter": True}))
    return out


def run(args) -> None:
    out = Path(args.out)
    base = RunConfig(dataset=args.dataset, world_model_seed=0, root=str(out / "pipeline"),
                     fidelity=FidelityConfig(n_plots=1, n_rollouts=args.rollouts))
    inputs = Inputs(args.dataset, load_dataset(args.dataset), Path(base.root), base.device)
    world_model = WorldModelStage(base.world_model, inputs, 0)
    wm_dir = world_model.get()
    print(f"world model {wm_dir} ({inputs.times['world_model']:.0f} s)", flush=True)
    sets = json.loads((out / "sets.json").read_text()) if (out / "sets.json").exists() else {}
    for label, changes in settings(args):
        synthesis = SynthesisStage(dataclasses.replace(base.synthesis, **changes), world_model, inputs, base.seed)
        t0, inputs.times["synthesis"] = time.perf_counter(), 0.0
        exported, _ = synthesis.get()
        FidelityStage(base.fidelity, synthesis, inputs).get(exported)
        path, meta = synthesis.path, exported.metadata
        # the first, uncached time
        seconds = sets.get(label, {}).get("synthesis_seconds") or round(inputs.times["synthesis"], 1)
        fidelity = path.with_name(path.stem + "-fidelity") / "fidelity.json"
        sets[label] = {"synthetic": str(path), "fidelity": str(fidelity),
                       "changes": changes, "world_model": str(wm_dir), "return_filter": meta.get("return_filter"),
                       "synthesis_seconds": seconds}
        (out / "sets.json").write_text(json.dumps(sets, indent=2) + "\n")
        print(f"{label}: {time.perf_counter() - t0:.0f} s", flush=True)
    table(out)


def table(out: Path) -> None:
    sets = json.loads((out / "sets.json").read_text())
    print("| setting | return gain: all | by own-return quartile 1 / 2 / 3 / 4 | model's claimed gain | "
          "next-state RMSE (ensemble) | novelty | action spread | rows kept | synthesis s |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|")
    for label, rec in sets.items():
        rep = json.loads(Path(rec["fidelity"]).read_text())
        ach = rep.get("achieved_return", {})
        gain = {k: v["simulator"] - v["real"] for k, v in [("all", ach["all"]), *ach["by_own_return_quartile"].items()]}
        quart = " / ".join(f"{gain[q]:+.2f}" for q in ("1", "2", "3", "4") if q in gain)
        syn, ens = rep["synthetic_vs_sim"]["all"], (rep.get("ensemble_vs_sim") or {}).get("all", {})
        kept = rec.get("return_filter")
        kept = f"{kept['kept'] / kept['of']:.2f}" if isinstance(kept, dict) else "–"
        print(f"| {label} | {gain['all']:+.2f} | {quart} | {ach['all']['model'] - ach['all']['real']:+.2f} | "
              f"{syn['state_rmse']:.3f} ({ens.get('state_rmse', float('nan')):.3f}) | "
              f"{rep['novelty']['all']['novelty']:.2f} | {rep['spread']['all']['action_spread']:.2f} | {kept} | "
              f"{rec['synthesis_seconds']} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("run", "table"))
    p.add_argument("--dataset", default="hopper-medium-replay")
    p.add_argument("--alphas", nargs="+", type=float, default=[1.0, 1.15, 1.3, 1.5])
    p.add_argument("--noise-levels", nargs="+", type=float, default=[1.0, 0.75, 0.5, 0.25])
    p.add_argument("--alpha-for-noise", type=float, default=None, help="the α the μ sets use (default: the largest)")
    p.add_argument("--mu-for-filter", type=float, default=None, help="the μ the return-filter set uses (default: "
                                                                       "the smallest)")
    p.add_argument("--rollouts", type=int, default=1000, help="rollouts behind the achieved-return numbers")
    p.add_argument("--out", default="runs/prune")
    args = p.parse_args()
    run(args) if args.action == "run" else table(Path(args.out))


if __name__ == "__main__":
    main()
