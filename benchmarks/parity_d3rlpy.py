"""Score parity: our TD3+BC / IQL vs d3rlpy 2.8.1's TD3PlusBC / IQL, same data, budget, seeds, evaluation.

    python benchmarks/parity_d3rlpy.py --steps 1000000                      # hopper-medium, hopper-medium-replay
    python benchmarks/parity_d3rlpy.py --datasets walker2d-medium --seeds 0 1 2 3 4
    # smoke test on a tiny random-policy file in D4RL's layout:
    python benchmarks/parity_d3rlpy.py --make-tiny /tmp/hopper-tiny.hdf5 --datasets /tmp/hopper-tiny.hdf5 \\
        --steps 200 --eval-episodes 2

Both sides use the settings of CORL / d3rlpy's D4RL reproductions (TD3+BC: alpha 2.5, state
normalisation; IQL: expectile 0.7, beta 3, max weight 100, reward scale 1000 / return spread,
cosine actor lr) and are evaluated by our `evaluate()` on the same episode seeds after the last
update (CORL's "last" score). Prints a Markdown table of normalised scores (mean ± std over
seeds) and writes per-run rows to <out>/parity.csv and everything to <out>/parity.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import (d3rlpy_algo, d3rlpy_available, d3rlpy_build, d3rlpy_dataset, import_d3rlpy,
                     write_tiny_d4rl)  # noqa: E402
from dawm.agents import TrainAgentConfig, train_agent  # noqa: E402
from dawm.data.registry import load_dataset  # noqa: E402
from dawm.envs.evaluation import evaluate  # noqa: E402
from dawm.utils.checkpoint import write_json  # noqa: E402
from dawm.utils.progress import progress  # noqa: E402


def run_ours(algo: str, dataset: str, seed: int, args) -> dict:
    run_dir = Path(args.out) / "ours" / f"{algo}-{Path(dataset).stem}-{args.steps}-seed{seed}"
    cfg = TrainAgentConfig(algo=algo, dataset=dataset, steps=args.steps, eval_every=args.steps,
                           eval_episodes=args.eval_episodes, seed=seed, log_every=min(1000, args.steps),
                           checkpoint_every=max(args.steps // 4, 1), run_dir=str(run_dir))
    s = train_agent(cfg)
    return {"score": s["final_score_mean"], "return": s["final_return_mean"], "updates_per_s": s["updates_per_s"]}


def run_d3rlpy(algo: str, dataset: str, seed: int, args) -> dict:
    d3rlpy = import_d3rlpy()

    ds = load_dataset(dataset)
    d3rlpy.seed(seed)
    d3ds = d3rlpy_dataset(ds)
    agent = d3rlpy_algo(algo, steps=args.steps)
    d3rlpy_build(agent, d3ds)
    bar = progress(args.steps, f"d3rlpy {algo} {ds.name} seed {seed}", "upd")
    t0 = time.perf_counter()
    for _ in range(args.steps):  # what fit() does, without its log directories
        agent.update(d3ds.sample_transition_batch(agent.config.batch_size))
        bar.update(1)
    bar.close()
    rate = args.steps / (time.perf_counter() - t0)
    res = evaluate(lambda obs: agent.predict(np.asarray(obs, dtype=np.float32)), ds.env_id, args.eval_episodes, seed,
                   ds.ref_scores())
    return {"score": res.score_mean, "return": res.return_mean, "updates_per_s": rate}


def _fmt(xs: list[float]) -> str:
    xs = [x for x in xs if x is not None]
    return f"{np.mean(xs):.1f} ± {np.std(xs):.1f}" if xs else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["hopper-medium", "hopper-medium-replay"],
                   help="names or paths, resolved by dawm.data.load_dataset")
    p.add_argument("--algos", nargs="+", default=["td3bc", "iql"], choices=["td3bc", "iql"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1_000_000, help="gradient updates per run (both libraries)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's default)")
    p.add_argument("--out", default="runs/parity-d3rlpy", help="output directory")
    p.add_argument("--make-tiny", metavar="PATH", help="first write a tiny random-policy Hopper file in D4RL layout")
    p.add_argument("--no-d3rlpy", action="store_true", help="run our side only")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.make_tiny:
        print(f"wrote {write_tiny_d4rl(args.make_tiny)}")
    libs = ["ours"] + (["d3rlpy"] if not args.no_d3rlpy and d3rlpy_available() else [])

    rows = []
    for dataset in args.datasets:
        for algo in args.algos:
            for seed in args.seeds:
                for lib in libs:
                    r = (run_ours if lib == "ours" else run_d3rlpy)(algo, dataset, seed, args)
                    rows.append({"dataset": dataset, "algo": algo, "lib": lib, "seed": seed, "steps": args.steps, **r})
                    print(f"{lib} {algo} {dataset} seed {seed}: score {r['score']}, {r['updates_per_s']:.0f} upd/s",
                          flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "parity.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = [f"Final D4RL normalised score x100 after {args.steps} updates, mean ± std over seeds "
             f"{args.seeds}, {args.eval_episodes} evaluation episodes each", "",
             "| dataset | algo | " + " | ".join(libs) + " | updates/s (" + ", ".join(libs) + ") |",
             "|---|---|" + "---|" * len(libs) + "---|"]
    for dataset in args.datasets:
        for algo in args.algos:
            sel = {lib: [r for r in rows if r["dataset"] == dataset and r["algo"] == algo and r["lib"] == lib]
                   for lib in libs}
            scores = " | ".join(_fmt([r["score"] for r in sel[lib]]) for lib in libs)
            rates = ", ".join(f"{np.mean([r['updates_per_s'] for r in sel[lib]]):.0f}" for lib in libs)
            table.append(f"| {Path(dataset).stem} | {algo} | {scores} | {rates} |")
    print("\n" + "\n".join(table))
    write_json(out / "parity.json", {"args": vars(args), "rows": rows, "table": table})
    print(f"\nwrote {out / 'parity.csv'} and {out / 'parity.json'}")


if __name__ == "__main__":
    main()
