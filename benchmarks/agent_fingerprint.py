"""A fingerprint of the learning rules: parameter hashes after 60 updates on a fixed random stream.

    PYTHONPATH=<tree>/src python benchmarks/agent_fingerprint.py

Run it in two versions of the code (e.g. two `git worktree`s): equal lines mean TD3+BC and IQL, with
1 and 3 seeds, and the one-step dynamics ensemble learn bit for bit the same. A check for changes of
shape (docs/benchmarks.md, issue #14). Each network's hash is over the set of its tensors, so
renaming or reordering parameters does not change it; their values do.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from dawm.agents.iql import IQL
from dawm.agents.td3bc import TD3BC
from dawm.data.transitions import Transitions
from dawm.world_model.dynamics_ensemble import DynamicsEnsemble, EnsembleConfig

FIELDS = ("observations", "actions", "rewards", "next_observations", "dones")


def random_transitions(rng: np.random.Generator, n: int, obs_dim: int, act_dim: int, done_rate: float) -> Transitions:
    """Random transitions for learning-rule fingerprints (also tests/fixtures/make_legacy_agents.py)."""
    return Transitions(observations=rng.normal(size=(n, obs_dim)), actions=rng.uniform(-1, 1, (n, act_dim)),
                       rewards=rng.normal(size=n), next_observations=rng.normal(size=(n, obs_dim)),
                       dones=rng.uniform(size=n) < done_rate)


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, obs_dim, act_dim = 512, 11, 3
    data = random_transitions(rng, n, obs_dim, act_dim, 0.05)
    for cls in (TD3BC, IQL):
        for seeds in (1, 3):
            torch.manual_seed(0)
            agent = cls.from_transitions(data, n_seeds=seeds)
            gen = torch.Generator().manual_seed(1)
            for _ in range(60):
                idx = torch.randint(0, n, (seeds, 64) if seeds > 1 else (64,), generator=gen)
                agent.update({k: torch.as_tensor(getattr(data, k))[idx] for k in FIELDS})
            parts = {name: list(getattr(agent, name).parameters()) for name in agent._SEED_NETS}
            parts.update({name: [getattr(agent, name)] for name in agent._SEED_TENSORS})
            print(f"{cls.__name__:6s} seeds {seeds}  {digest(parts)}")
    torch.manual_seed(0)
    ensemble = DynamicsEnsemble(obs_dim, act_dim, EnsembleConfig(members=3, hidden_dim=32))
    opt = torch.optim.Adam(ensemble.parameters(), 1e-3)
    x = torch.as_tensor(rng.normal(size=(3, 64, obs_dim + act_dim)), dtype=torch.float32)
    y = torch.as_tensor(rng.normal(size=(3, 64, obs_dim + 1)), dtype=torch.float32)
    for _ in range(60):
        opt.zero_grad()
        ensemble.loss(x, y).backward()
        opt.step()
    print(f"DynamicsEnsemble      {digest({'ensemble': list(ensemble.parameters())})}")


def digest(parts: dict[str, list[torch.Tensor]]) -> str:
    """Hash of each part's tensor values (shapes included), order-free within a part: renaming or
    reordering a network's parameters does not change it, moving values between networks does."""
    h = hashlib.sha256()
    for name in sorted(parts):
        tensors = sorted(hashlib.sha256(str(tuple(t.shape)).encode() + t.detach().numpy().tobytes()).hexdigest()
                         for t in parts[name])
        h.update(name.encode() + "".join(tensors).encode())
    return h.hexdigest()[:16]


if __name__ == "__main__":
    main()
