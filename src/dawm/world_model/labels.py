"""Where a synthetic step's (r, s', done) come from: `synthesis.labels`, the three labellers side by side.

The diffusion model and the IDM propose the (s, a) pairs in every case; the labels answer them:
  - model: the diffusion model's own r and s', done by the termination rule (DAWM as published);
  - ensemble: the one-step ensemble's mean answer for the same (s, a) and the rule on its s' (a departure
    from DAWM: with the simulator's answers DAWM-IQL gained on hopper-medium where the model's own left it
    level, and the ensemble's reward error is a quarter of the model's there; docs/results.md);
  - oracle: the simulator's answer, a DIAGNOSTIC and never a method: it needs a simulated env, which no
    real use has. Training on it splits what synthetic data does to an agent into the model's errors in
    (r, s', done) (gone here) and the choice of the (s, a) pairs (kept), so results with it are a bound.
With ensemble or oracle labels every row becomes an episode of its own (terminal where done, else a
timeout), since the answered s' is no longer the next row's s.
"""

from __future__ import annotations

import typing
from typing import Callable, Literal

import numpy as np

from dawm.data.dataset import Dataset
from dawm.utils.errors import DawmError

Labels = Literal["model", "ensemble", "oracle"]
LABELS = typing.get_args(Labels)


def ensemble_labels(synthetic: Dataset, ensemble, done_rule: Callable[[np.ndarray], np.ndarray], *,
                    real_first_step: bool = False) -> Dataset:
    """`synthetic` with each generated step's (r, s', done) the ensemble's mean answer for its (s, a) and the
    env's rule on that s'. A real step 0 (`real_first_step`) keeps the data's answer."""
    nxt, rew = ensemble.predict(synthetic.observations, synthetic.actions)
    done = np.asarray(done_rule(nxt), dtype=bool)
    if real_first_step:
        real = np.asarray(synthetic.infos["horizon_step"]).reshape(-1) == 0
        nxt = np.where(real[:, None], synthetic.next_observations, nxt)
        rew = np.where(real, synthetic.rewards, rew)
        done = np.where(real, synthetic.terminals, done)
    meta = {**synthetic.metadata, "labels": "ensemble"}
    return Dataset(synthetic.observations, synthetic.actions, rew.astype(np.float32), done, ~done,
                   nxt.astype(np.float32), metadata=meta, infos=dict(synthetic.infos))


def oracle_labels(synthetic: Dataset, env_id: str | None = None) -> Dataset:
    """`synthetic` with every row's (r, s', done) the simulator's answer for its (s, a); rows the simulator
    cannot run (non-finite or unstable) are dropped."""
    from dawm.envs.simulator import simulate_transitions  # MuJoCo only when the oracle is asked for

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


def apply_labels(synthetic: Dataset, labels: str, ensemble=None, done_rule: Callable | None = None,
                 real_first_step: bool = False) -> Dataset:
    """The synthetic set answered as `labels` says (see the module docstring)."""
    if labels == "model":
        return synthetic
    if labels == "ensemble":
        if ensemble is None or done_rule is None:
            raise DawmError("--labels ensemble needs the one-step ensemble and a termination rule")
        return ensemble_labels(synthetic, ensemble, done_rule, real_first_step=real_first_step)
    if labels == "oracle":
        return oracle_labels(synthetic)
    raise DawmError(f"--labels '{labels}' (expected one of: {', '.join(LABELS)})")
