"""Env steps per second when collecting data: Gymnasium's vector env vs a list of envs vs dawm's lockstep envs.

    python benchmarks/collect_speed.py                          # hopper, 16 envs, 3 interleaved rounds
    python benchmarks/collect_speed.py --env walker2d --n-envs 32 --seconds 5

Every variant runs the same loop: a batched, stochastic 256-256 tanh-Gaussian actor (a random
initialisation: its episodes are short, so resets weigh more than with a trained policy) picks
actions for all envs, the envs step, finished episodes reset. "collect" is the full
`dawm.envs.rollout.rollout` (recording into arrays, episode bookkeeping). Rounds are interleaved
so that load changes hit all rows alike; the table gives the median. "per CPU-s" divides by this
process's CPU time (what an idle core would give); wall rates depend on the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import load_average  # noqa: E402
from dawm.envs.evaluation import make_env  # noqa: E402
from dawm.envs.lockstep import LockstepEnvs  # noqa: E402
from dawm.envs.policies import GaussianMLPPolicy  # noqa: E402
from dawm.envs.rollout import Phase, rollout  # noqa: E402
from dawm.utils.env_specs import get_env_spec  # noqa: E402


def variants(env_id: str, n: int, policy: GaussianMLPPolicy):
    g = torch.Generator().manual_seed(0)

    def act(obs):
        return policy.act(np.asarray(obs, np.float32), deterministic=False, generator=g)

    vec = gym.vector.SyncVectorEnv([lambda: make_env(env_id) for _ in range(n)])  # autoresets by itself
    vec_obs = [vec.reset(seed=0)[0]]

    def gym_vector(steps):
        for _ in range(steps // n):
            vec_obs[0] = vec.step(act(vec_obs[0]))[0]

    envs = [make_env(env_id) for _ in range(n)]
    list_obs = np.stack([e.reset(seed=i)[0] for i, e in enumerate(envs)])

    def gym_list(steps):
        for _ in range(steps // n):
            actions = act(list_obs)
            for i, e in enumerate(envs):
                o, _, term, trunc, _ = e.step(actions[i])
                list_obs[i] = e.reset()[0] if term or trunc else o

    lock = LockstepEnvs(env_id, n)
    for i in range(n):
        lock.reset(i, i)

    def lockstep(steps):
        obs = lock.observe()
        for _ in range(steps // n):
            _, term = lock.step(act(obs))
            for i in np.flatnonzero(term):
                lock.reset(i, i)
            obs = lock.observe()

    def collect(steps):
        rollout(env_id, [Phase("p", steps)], {"p": policy}, steps, (0, 1), n)

    return {"gymnasium SyncVectorEnv": gym_vector, "list of gym.make envs": gym_list, "dawm LockstepEnvs": lockstep,
            "dawm rollout (full collect)": collect}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40_000, help="env steps per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = get_env_spec(args.env)
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(spec.obs_dim, spec.act_dim).eval()
    runs = variants(spec.env_id, args.n_envs, policy)
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    print(f"{spec.env_id}, {args.n_envs} envs, {args.steps:,} steps x {args.rounds} rounds; load before: "
          f"{load_average()}", flush=True)
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run(args.steps)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            results[name].append((args.steps / wall, args.steps / cpu))
    print("\n| variant | env steps/s (wall) | env steps per CPU-s |\n|---|---:|---:|")
    for name, rows in results.items():
        wall, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} |")
    print(f"\nload after: {load_average()}")


if __name__ == "__main__":
    main()
