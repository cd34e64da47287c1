"""Oracle synthetic data, a DIAGNOSTIC: the synthetic (s, a) with the simulator's (r, s', done).

Training on it separates the two ways synthetic data can hurt an agent: the model's errors in
(r, s', done) (gone here), and the choice of the (s, a) pairs themselves (kept). The gap between
DAWM-X on the generated set and on its oracle is model error; what remains between the oracle and
plain X comes with the synthetic states and actions. Needs a simulated env (dawm.envs.simulator);
no real use can have it, so results with it are labelled as a bound, never as a method.
"""

from __future__ import annotations

import numpy as np

from dawm.data.dataset import Dataset
from dawm.envs.simulator import simulate_transitions
from dawm.utils.errors import DawmError


def oracle_dataset(synthetic: Dataset, env_id: str | None = None) -> Dataset:
    """`synthetic` with every row's (r, s', done) replaced by the simulator's answer for its (s, a).

    Each row becomes a transition of its own (its episode ends there: terminal if the simulator
    terminates, else a timeout), since the generated s_{k+1} no longer follows from the true s'_k.
    Rows the simulator cannot run (non-finite or unstable) are dropped."""
    env_id = env_id or synthetic.env_id
    if not env_id:
        raise DawmError(f"{synthetic.name}: the oracle needs a simulated env, and the data names none (env_id)")
    nxt, rew, done = simulate_transitions(env_id, synthetic.observations, synthetic.actions)
    ok = np.isfinite(nxt).all(-1) & np.isfinite(rew)
    infos = {k: np.asarray(v)[ok] for k, v in synthetic.infos.items() if len(v) == len(synthetic)}
    meta = {**synthetic.metadata, "name": f"{synthetic.name}-oracle", "oracle": True,
            "oracle_dropped_rows": int((~ok).sum())}
    return Dataset(synthetic.observations[ok], synthetic.actions[ok], rew[ok], done[ok], ~done[ok], nxt[ok],
                   metadata=meta, infos=infos)
