"""A fingerprint of the agents' learning rules: parameter hashes after 60 updates on a fixed random stream.

    PYTHONPATH=<tree>/src python benchmarks/agent_fingerprint.py

Run it in two versions of the code (e.g. two `git worktree`s): equal lines mean TD3+BC and IQL, with
1 and 3 seeds, learn bit for bit the same. A check for changes of shape (docs/benchmarks.md, issue #14).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from dawm.agents.iql import IQL
from dawm.agents.td3bc import TD3BC
from dawm.data.transitions import Transitions

FIELDS = ("observations", "actions", "rewards", "next_observations", "dones")


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, obs_dim, act_dim = 512, 11, 3
    data = Transitions(observations=rng.normal(size=(n, obs_dim)), actions=rng.uniform(-1, 1, (n, act_dim)),
                       rewards=rng.normal(size=n), next_observations=rng.normal(size=(n, obs_dim)),
                       dones=rng.uniform(size=n) < 0.05)
    for cls in (TD3BC, IQL):
        for seeds in (1, 3):
            torch.manual_seed(0)
            agent = cls.from_transitions(data, n_seeds=seeds)
            gen = torch.Generator().manual_seed(1)
            for _ in range(60):
                idx = torch.randint(0, n, (seeds, 64) if seeds > 1 else (64,), generator=gen)
                agent.update({k: torch.as_tensor(getattr(data, k))[idx] for k in FIELDS})
            h = hashlib.sha256()
            for name in agent._SEED_NETS:
                for p in getattr(agent, name).parameters():
                    h.update(p.detach().numpy().tobytes())
            for name in agent._SEED_TENSORS:
                h.update(getattr(agent, name).detach().numpy().tobytes())
            print(f"{cls.__name__:6s} seeds {seeds}  {h.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
