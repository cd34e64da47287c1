"""Issue #27's limiting factor measured on the data alone: how far a critic's TD target moves when the same synthetic
(s, a) are answered by the world model (as trained on), by the one-step ensemble (as `--synthesis.labels ensemble`
would: a real step 0 keeps the data's answer) or by the simulator (the oracle).

    python benchmarks/target_lift.py --dataset walker2d-medium-replay --agent td3bc \\
        --variant 'benchmarks/results/confirm/combined+ratio-0.25+own*1.5+return-filter'

For each seed k of the confirmation cell: its synthetic set (under runs/, as the cell's record names it) and the
plain agent's final networks of the same seed (benchmarks/results/long-plain's record names the run), a fixed
critic trained on the real data only. Per set, over the rows the simulator can run: the mean target
y = c r + gamma (1 - done) V(s') with each source's (r, s', done), and its parts, the reward term and the bootstrap
term; the real transitions' mean target beside them for scale. The model's lift is the model's y minus the
simulator's; TD3+BC's V is its smoothed target (the policy noise drawn from a fixed seed, the same for every source).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from dawm.agents.iql import IQL
from dawm.agents.td3bc import TD3BC
from dawm.data import read_d4rl
from dawm.data.transitions import Transitions
from dawm.envs.collect import load_dataset
from dawm.envs.simulator import simulate_transitions
from dawm.utils.checkpoint import load_checkpoint
from dawm.world_model.dynamics_ensemble import DynamicsEnsemble, EnsembleSettings, ensemble_dir
from dawm.world_model.synthesis import SynthesisConfig, answer_with

AGENTS = {"td3bc": TD3BC, "iql": IQL}


def terms(agent, obs: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, dones: np.ndarray,
          chunk: int = 65_536) -> tuple[float, float]:
    """(reward term, bootstrap term) of the agent's own critic target (`agent.target_fn`, the one-step target c r +
    gamma (1 - done) V(s')), each the mean over the rows; the reward term is the target with V = 0."""
    as_t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    scale, gamma = float(getattr(agent, "reward_scale", 1.0)), agent.cfg.gamma
    zero = lambda s: torch.zeros(len(s))  # noqa: E731
    y, reward = [], []
    torch.manual_seed(0)  # TD3+BC's target policy noise: the same draws for every source
    with torch.no_grad():
        for i in range(0, len(obs), chunk):
            batch = {"rewards": as_t(rewards[i: i + chunk]), "dones": as_t(dones[i: i + chunk]),
                     "next_observations": as_t(next_obs[i: i + chunk])}
            y.append(agent.target_fn(batch, gamma, agent.next_value, scale).double())
            reward.append(agent.target_fn(batch, gamma, zero, scale).double())
    y_mean, reward_mean = torch.cat(y).mean().item(), torch.cat(reward).mean().item()
    return reward_mean, y_mean - reward_mean


def labelling(cell: dict, real, seed: int):
    """(the one-step ensemble, the labels config): what `--synthesis.labels ensemble` answers the seed's set with
    (`answer_with`), from the cell's run config (runs/.../config.yaml beside its report) and the pipeline's
    ensembles/ (`ensemble_dir`)."""
    run_config = yaml.safe_load((Path(cell["report"]).parent / "config.yaml").read_text())["synthesis"]
    settings = EnsembleSettings(run_config["ensemble_members"], run_config["ensemble_steps"])
    folder = ensemble_dir(Path(cell["report"]).parent.parent, real, settings, seed)
    if not (folder / "ensemble.pt").exists():
        sys.exit(f"target_lift.py: {folder}: no one-step ensemble (expected the guards' of seed {seed})")
    labels = SynthesisConfig(labels="ensemble", first_step=run_config["first_step"])
    return DynamicsEnsemble.load(folder / "ensemble.pt"), labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True)
    p.add_argument("--agent", choices=list(AGENTS), default="td3bc")
    p.add_argument("--variant", type=Path, required=True, help="the confirmation records of the variant")
    p.add_argument("--plain", type=Path, default=Path("benchmarks/results/long-plain"))
    args = p.parse_args()
    cell = json.loads((args.variant / f"dawm-{args.agent}__{args.dataset}__seed0.json").read_text())
    plain = json.loads((args.plain / f"{args.agent}__{args.dataset}__seed0.json").read_text())
    real = load_dataset(args.dataset)
    flat = Transitions.from_dataset(real)  # what the plain critic trained on
    print(f"{args.dataset}, {args.agent}: mean one-step target over each synthetic set's rows (c r | gamma (1 - done)"
          " V(s') | y)\n\n| seed | rows | real data: y | model | ensemble | simulator | model − simulator: y "
          "(reward, bootstrap) | ensemble − simulator: y |\n|---|---:|---:|---|---|---|---|---|")
    lifts = []
    for k, stage in enumerate(cell["per_seed_stages"]):
        agent = AGENTS[args.agent].from_state_dict(load_checkpoint(Path(plain["agent_run"]) / "agents" / f"seed{k}.pt"))
        syn = read_d4rl(stage["synthetic_file"])
        if not str(syn.metadata.get("termination", "rule")).startswith("rule"):
            sys.exit(f"target_lift.py: {stage['synthetic_file']}: a learned termination is not handled here")
        nxt, rew, done = simulate_transitions(real.env_id, syn.observations, syn.actions)
        ok = np.isfinite(nxt).all(-1) & np.isfinite(rew)
        ensemble, labels = labelling(cell, real, int(syn.metadata["seed"]))
        ens = answer_with(labels, syn, ensemble, None, real.env_id)  # as the pipeline answers (the env's rule)
        sources = {"model": (syn.rewards[ok], syn.next_observations[ok], syn.terminals[ok]),
                   "ensemble": (ens.rewards[ok], ens.next_observations[ok], ens.terminals[ok]),
                   "simulator": (rew[ok], nxt[ok], done[ok])}
        parts = {name: terms(agent, syn.observations[ok], *answer) for name, answer in sources.items()}
        y_real = sum(terms(agent, flat.observations, flat.rewards, flat.next_observations, flat.dones))
        cells = [f"{r:.2f} \\| {b:.2f} \\| {r + b:.2f}" for r, b in parts.values()]
        lift = [parts["model"][i] - parts["simulator"][i] for i in (0, 1)]
        ens_lift = sum(parts["ensemble"]) - sum(parts["simulator"])
        lifts.append((sum(lift), *lift, ens_lift))
        print(f"| {k} | {int(ok.sum())} | {y_real:.2f} | " + " | ".join(cells)
              + f" | {sum(lift):+.2f} ({lift[0]:+.2f}, {lift[1]:+.2f}) | {ens_lift:+.2f} |")
    mean = np.mean(lifts, axis=0)
    print(f"| mean | | | | | | {mean[0]:+.2f} ({mean[1]:+.2f}, {mean[2]:+.2f}) | {mean[3]:+.2f} |")


if __name__ == "__main__":
    main()
