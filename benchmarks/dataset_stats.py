"""Markdown table of the generated datasets (for docs/datasets.md): episodes, transitions, returns, scores.

    python benchmarks/dataset_stats.py               # the cached <env>-<level> datasets that exist
    python benchmarks/dataset_stats.py --generate    # generate the missing ones first (slow: 1M steps each)

Reads only rewards / terminals / timeouts (and metadata) from each file in the dataset cache
($DAWM_CACHE or the user cache dir). Returns are per episode; the episode cut by the dataset size
counts like any other. Normalised score = D4RL's 100 (R - R_random) / (R_expert - R_random).
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np

from dawm.data.cache import cached_dataset_path
from dawm.envs.collect import ENVS, LEVELS, available_levels, dataset_name, generated_dataset_path
from dawm.utils.env_specs import get_env_spec


def stats(path) -> dict:
    with h5py.File(path, "r") as f:
        rewards = f["rewards"][()].astype(np.float64)
        ends = np.flatnonzero(f["terminals"][()] | f["timeouts"][()]) + 1
        meta = f["metadata"]
        policy = json.loads(meta["policy"][()]) if "policy" in meta and meta["policy"].attrs.get("json") else {}
        env_id = meta["env_id"][()].decode()
    if len(ends) == 0 or ends[-1] != len(rewards):
        ends = np.append(ends, len(rewards))
    returns = np.add.reduceat(rewards, np.concatenate([[0], ends[:-1]]))
    spec = get_env_spec(env_id)
    scores = spec.normalized_score(returns)
    evals = [f"{v['eval_return_mean']:.0f}" for v in policy.values() if isinstance(v, dict) and "eval_return_mean" in v]
    return {"episodes": len(returns), "transitions": len(rewards), "return": (returns.mean(), returns.std()),
            "score": (scores.mean(), scores.std()), "policy_eval": " / ".join(evals) or "–"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generate", action="store_true", help="generate missing datasets that have policies")
    args = ap.parse_args()
    rows, missing = [], []
    for env in ENVS:
        for level in LEVELS:
            name = dataset_name(env, level)
            path = cached_dataset_path(name)
            if not path.is_file() and args.generate and level in available_levels(env):
                generated_dataset_path(name)
            if not path.is_file():
                missing.append(name)
                continue
            s = stats(path)
            rows.append(f"| {env} | {level} | {s['episodes']:,} | {s['transitions']:,} | {s['return'][0]:.1f} ± "
                        f"{s['return'][1]:.1f} | {s['score'][0]:.1f} ± {s['score'][1]:.1f} | {s['policy_eval']} |")
    print("| env | level | episodes | transitions | return (mean ± std) | normalised score "
          "| behaviour policy eval return |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if missing:
        print(f"\nnot generated yet: {', '.join(missing)}")


if __name__ == "__main__":
    main()
