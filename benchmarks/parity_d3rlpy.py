"""Score parity: our TD3+BC / IQL vs d3rlpy 2.8.1's TD3PlusBC / IQL, same data, budget, seeds, evaluation.

    python benchmarks/parity_d3rlpy.py                      # issue #13's grid: 4 datasets x 2 budgets x 5 seeds
    python benchmarks/parity_d3rlpy.py --steps 30000 --datasets walker2d-early-noisy
    python benchmarks/parity_d3rlpy.py --table              # the table from the finished runs only
    # issue #27: one seed of d3rlpy's TD3+BC at the long budget, beside our 5-seed runs in benchmarks/results/long-plain
    python benchmarks/parity_d3rlpy.py --no-ours --algos td3bc --datasets walker2d-medium-replay --seeds 0 \
        --steps 300000 --out runs/parity-long
    python benchmarks/parity_d3rlpy.py --device cuda --workers 8 --steps 30000 --out runs/parity-gpu  # a GPU
    # smoke test on a tiny random-policy file in D4RL's layout:
    python benchmarks/parity_d3rlpy.py --make-tiny /tmp/hopper-tiny.hdf5 --datasets /tmp/hopper-tiny.hdf5 \\
        --steps 200 --seeds 0 1 --eval-episodes 2 --out /tmp/parity-smoke

Both sides use CORL's settings (TD3+BC: alpha 2.5, state normalisation; IQL: expectile 0.7, beta 3,
max weight 100, reward scale 1000 / return spread, the actor lr on a cosine over
IQLConfig.lr_schedule_steps = 1M updates on both sides) and are evaluated by our `evaluate()` on the
same episode seeds after the last update (CORL's "last" score).

`walker2d-early-noisy` is a low-quality dataset made here on first use: 100k transitions of the
committed walker2d snapshot at 40k SAC steps with Gaussian action noise 0.1 (mean return about 390).

Every run leaves <out>/runs/<lib>-<algo>-<dataset>-<steps>-seed<k>.json when done, so an interrupted
grid resumes run by run; our runs also resume inside a run from their checkpoints, d3rlpy's from a
saved model every quarter of the run (its batch sampler's RNG is not restored, so a resumed d3rlpy
run is not bit-identical to an uninterrupted one). The table gives, per dataset, budget and algo,
each library's IQM with its 95% bootstrap CI (rliable), P(ours > d3rlpy) and whether our IQM is at or
above d3rlpy's lowest seed (issue #13's bar).

`--workers N` runs N runs at a time in separate processes (one per core on a CPU; several sharing
one GPU with `--device cuda`, where our side replays its update as a CUDA graph). Keep the runs of
one table on one kind of device (separate `--out`): the same seed gives a different run elsewhere.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import (d3rlpy_algo, d3rlpy_available, d3rlpy_build, d3rlpy_dataset, import_d3rlpy,
                     write_tiny_d4rl)  # noqa: E402
from dawm.agents import IQLConfig, TrainAgentConfig, train_agent  # noqa: E402
from dawm.data.cache import cache_dir  # noqa: E402
from dawm.envs.collect import load_dataset  # noqa: E402
from dawm.envs.evaluation import evaluate  # noqa: E402
from dawm.results import stats  # noqa: E402
from dawm.utils.checkpoint import write_json  # noqa: E402
from dawm.utils.progress import progress  # noqa: E402

LOW_QUALITY = {"walker2d-early-noisy": ["walker2d", "medium", "--snapshot", "step_00040000.safetensors",
                                        "--action-noise", "0.1", "--size", "100000"]}


def resolve(dataset: str) -> str:
    """A dataset name or path; the low-quality recipes are collected into the cache on first use."""
    if dataset not in LOW_QUALITY:
        return dataset
    path = cache_dir() / f"{dataset}.hdf5"
    if not path.exists():
        from dawm.cli import main as dawm

        if dawm(["collect", *LOW_QUALITY[dataset], "--out", str(path)]) != 0:
            raise SystemExit(f"could not make {dataset}")
    return str(path)


def run_name(algo: str, dataset: str, steps: int, seed: int, device: str) -> str:
    """A run's name in records and directories; GPU runs are kept apart (the same seed differs there)."""
    return f"{algo}-{Path(dataset).stem}-{steps}-seed{seed}" + ("-cuda" if device == "cuda" else "")


def run_ours(algo: str, dataset: str, seed: int, steps: int, args) -> dict:
    run_dir = Path(args.out) / "ours" / run_name(algo, dataset, steps, seed, args.device)
    cfg = TrainAgentConfig(algo=algo, dataset=resolve(dataset), steps=steps, eval_every=steps,
                           eval_episodes=args.eval_episodes, seed=seed, log_every=min(1000, steps),
                           checkpoint_every=max(steps // 4, 1), run_dir=str(run_dir), device=args.device,
                           threads=args.threads or None,
                           precision="float32")  # as d3rlpy: the comparison is of the learning rules
    s = train_agent(cfg)
    return {"score": s["final_score_mean"], "return": s["final_return_mean"], "updates_per_s": s["updates_per_s"]}


def run_d3rlpy(algo: str, dataset: str, seed: int, steps: int, args) -> dict:
    d3rlpy = import_d3rlpy()

    ds = load_dataset(resolve(dataset))
    d3rlpy.seed(seed)
    d3ds = d3rlpy_dataset(ds)
    agent = d3rlpy_algo(algo, steps=IQLConfig.lr_schedule_steps, device="cuda:0" if args.device == "cuda" else "cpu:0")
    d3rlpy_build(agent, d3ds)
    ckpt = Path(args.out) / "d3rlpy" / run_name(algo, dataset, steps, seed, args.device)
    done = 0
    if (ckpt / "step.json").exists():
        agent.load_model(str(ckpt / "model.pt"))
        done = json.loads((ckpt / "step.json").read_text())["step"]  # the lr schedulers' state is in model.pt
        agent._grad_step = done  # TD3+BC's delayed actor updates follow d3rlpy's step count
    bar = progress(steps, f"d3rlpy {algo} {ds.name} seed {seed}", "upd", initial=done)
    t0 = time.perf_counter()
    for step in range(done + 1, steps + 1):  # what fit() does, without its log directories
        agent.update(d3ds.sample_transition_batch(agent.config.batch_size))
        bar.update(1)
        if step % max(steps // 4, 1) == 0 and step < steps:
            ckpt.mkdir(parents=True, exist_ok=True)
            agent.save_model(str(ckpt / "model.pt"))
            write_json(ckpt / "step.json", {"step": step})
    bar.close()
    rate = (steps - done) / max(time.perf_counter() - t0, 1e-9)
    res = evaluate(lambda obs: agent.predict(np.asarray(obs, dtype=np.float32)), ds.env_id, args.eval_episodes, seed,
                   ds.ref_scores())
    return {"score": res.score_mean, "return": res.return_mean, "updates_per_s": rate}


def run_one(lib: str, algo: str, dataset: str, seed: int, steps: int, record: Path, args) -> str:
    """One run, its record written when it is done (a worker process's job); a failure leaves
    <record>.error.txt and a line, and the other runs go on."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    name = f"{lib} {algo} {dataset} {steps} seed {seed}"
    try:
        r = (run_ours if lib == "ours" else run_d3rlpy)(algo, dataset, seed, steps, args)
    except Exception as e:  # noqa: BLE001 (one run's failure must not stop the grid)
        record.with_suffix(".error.txt").write_text(traceback.format_exc())
        return f"FAILED {name}: {type(e).__name__}: {e} (see {record.with_suffix('.error.txt')})"
    write_json(record, {"dataset": dataset, "algo": algo, "lib": lib, "seed": seed, "steps": steps,
                        "device": args.device, **r})
    return f"{name}: score {r['score']:.1f}, {r['updates_per_s']:.0f} upd/s"


def run_grid(libs: list[str], records: Path, args) -> int:
    """Every run without a record, the short budget first (its table is ready long before the long one's);
    returns the number of failed runs."""
    jobs = [(lib, algo, dataset, seed, steps,
             records / f"{lib}-{run_name(algo, dataset, steps, seed, args.device)}.json")
            for steps in args.steps for dataset in args.datasets for algo in args.algos for seed in args.seeds
            for lib in libs]
    jobs = [j for j in jobs if not j[-1].exists()]
    for dataset in dict.fromkeys(j[2] for j in jobs):  # made once, before workers could race to make it
        resolve(dataset)
    if args.workers <= 1:
        return report(run_one(*job, args) for job in jobs)
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return report(f.result() for f in as_completed([pool.submit(run_one, *job, args) for job in jobs]))


def report(lines) -> int:
    """Print each run's line as it finishes; the number of failed runs."""
    failed = 0
    for line in lines:
        print(line, flush=True)
        failed += line.startswith("FAILED")
    return failed


def table(rows: list[dict], reps: int) -> list[str]:
    lines = ["| dataset | updates | algo | ours IQM [95% CI] | d3rlpy IQM [95% CI] | d3rlpy seed range | seeds | "
             "P(ours > d3rlpy) | ours' IQM at or above d3rlpy's lowest seed |", "|---" * 9 + "|"]
    keys = sorted({(r["dataset"], r["steps"], r["algo"]) for r in rows})
    for dataset, steps, algo in keys:
        by = {lib: [r["score"] for r in rows if (r["dataset"], r["steps"], r["algo"], r["lib"]) ==
                    (dataset, steps, algo, lib)] for lib in ("ours", "d3rlpy")}
        scores = {dataset: {lib: v for lib, v in by.items() if v}}
        est = stats.dataset_table(scores, reps)
        ours, theirs = est.get((dataset, "ours")), est.get((dataset, "d3rlpy"))
        poi = stats.probability_of_improvement(scores, "ours", "d3rlpy", [dataset], reps) if ours and theirs else None
        spread = f"{min(by['d3rlpy']):.1f} – {max(by['d3rlpy']):.1f}" if by["d3rlpy"] else "–"
        bar = ("yes" if ours["iqm"].value >= min(by["d3rlpy"]) else "NO") if ours and theirs else "–"
        lines.append(f"| {Path(dataset).stem} | {steps} | {algo} | {ours['iqm'].text() if ours else '–'} | "
                     f"{theirs['iqm'].text() if theirs else '–'} | {spread} | {len(by['ours'])} / {len(by['d3rlpy'])} "
                     f"| {poi.text(2) if poi else '–'} | {bar} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["hopper-medium", "hopper-medium-replay", "walker2d-medium-replay",
                                                     "walker2d-early-noisy"],
                   help="names or paths, resolved by dawm.load_dataset (walker2d-early-noisy is made here)")
    p.add_argument("--algos", nargs="+", default=["td3bc", "iql"], choices=["td3bc", "iql"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", nargs="+", type=int, default=[30_000, 200_000], help="budgets (updates per run)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (0 = torch's default)")
    p.add_argument("--workers", type=int, default=1, help="runs at a time, each in its own process")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where both libraries train")
    p.add_argument("--out", default="runs/parity-d3rlpy", help="output directory")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--make-tiny", metavar="PATH", help="first write a tiny random-policy Hopper file in D4RL layout")
    p.add_argument("--no-d3rlpy", action="store_true", help="run our side only")
    p.add_argument("--no-ours", action="store_true",
                   help="run d3rlpy's side only (e.g. one seed checking the level of our runs made elsewhere)")
    p.add_argument("--table", action="store_true", help="only print the table of the finished runs")
    args = p.parse_args()
    if args.make_tiny:
        print(f"wrote {write_tiny_d4rl(args.make_tiny)}")
    libs = ([] if args.no_ours else ["ours"]) + (["d3rlpy"] if not args.no_d3rlpy and d3rlpy_available() else [])
    records = Path(args.out) / "runs"
    records.mkdir(parents=True, exist_ok=True)
    failed = run_grid(libs, records, args) if not args.table else 0
    rows = [json.loads(f.read_text()) for f in sorted(records.glob("*.json"))]
    lines = [f"Final D4RL normalised score ({args.eval_episodes} evaluation episodes per run), IQM with 95% "
             "stratified bootstrap CI over seeds (rliable)", "", *table(rows, args.reps)]
    print("\n" + "\n".join(lines))
    write_json(Path(args.out) / "parity.json", {"args": vars(args), "rows": rows, "table": lines})
    if failed:
        raise SystemExit(f"{failed} run(s) failed; re-run the same command to retry only those")


if __name__ == "__main__":
    main()
