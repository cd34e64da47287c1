"""Checks of synthetic rollouts by a one-step model ensemble trained on the real data.

Why: a diffusion model asked for a high return keeps the hopper upright where it falls (it misses
terminations the one-step ensemble catches: false-negative rate 0.57 vs 0.0 with DAWM's published
settings on hopper-medium-replay; `ensemble_termination` is on by default since),
and some generated steps leave the data's support. Both checks need no simulator:
  - `ensemble_termination`: a step is also terminal where the env's rule fires on the ensemble's
    predicted s' for the same (s, a);
  - `disagreement_quantile` q: a step whose members disagree more (mean over state dimensions of
    the members' std, in the data's std units) than the q-quantile of the same measure on real
    transitions is dropped, with the rest of its rollout (which starts from it);
  - `consistency_quantile` q: a step whose generated s' is further from the ensemble's s' for the
    same (s, a) (mean absolute gap over state dimensions, in std units) than the q-quantile of the
    ensemble's own gap on real transitions is dropped likewise: the IDM's action, taken from s by
    an independent model of the dynamics, does not lead to the generated next state, so that
    transition is not one the environment makes (the model's error is what costs TD3+BC its gain,
    issue #12's oracle). Terminal steps are kept: their s' does not enter the TD target.
A rollout ends at its first terminal or dropped step, as synthesis ends it at its first done.
The same ensemble can also answer the generated pairs itself (`synthesis.labels = "ensemble"`,
dawm.world_model.labels).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dawm.data.dataset import Dataset
from dawm.data.segments import rewards_after


def disagreement(ensemble, obs: np.ndarray, act: np.ndarray, state_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-row disagreement in std units, the members' mean next state) of the ensemble on (obs, act)."""
    preds = np.stack([ensemble.predict(obs, act, member=m)[0] for m in range(ensemble.config.members)])
    return (preds.std(0) / state_std).mean(-1), preds.mean(0)


def inconsistency(mean_next: np.ndarray, next_obs: np.ndarray, state_std: np.ndarray) -> np.ndarray:
    """Per-row gap between a transition's s' and the ensemble's mean s' for its (s, a), in std units."""
    return (np.abs(next_obs - mean_next) / state_std).mean(-1)


def guard(synthetic: Dataset, ensemble, source: Dataset, done_rule: Callable[[np.ndarray], np.ndarray], *,
          ensemble_termination: bool = False, disagreement_quantile: float = 0.0,
          consistency_quantile: float = 0.0, real_first_step: bool = False, seed: int = 0) -> Dataset:
    """`synthetic` (rollouts as episodes) with the checks of the module docstring applied.

    real_first_step: step 0 of each rollout is a real transition (synthesis's first_step 'real', the
    default, or 'anchored'); the checks leave it as the data has it, since they exist to catch the
    model's errors."""
    if not ensemble_termination and disagreement_quantile <= 0.0 and consistency_quantile <= 0.0:
        return synthetic
    state_std = source.observations.std(0) + 1e-3
    spread, mean_next = disagreement(ensemble, synthetic.observations, synthetic.actions, state_std)
    real = np.zeros(len(synthetic), dtype=bool)
    if real_first_step:
        real = np.asarray(synthetic.infos["horizon_step"]).reshape(-1) == 0
    terminal = synthetic.terminals.copy()
    if ensemble_termination:
        terminal |= np.asarray(done_rule(mean_next), dtype=bool) & ~real
    bad = np.zeros(len(synthetic), dtype=bool)
    thresholds: dict[str, float] = {}
    if disagreement_quantile > 0.0 or consistency_quantile > 0.0:  # thresholds from the same real rows
        rows = np.random.default_rng(seed).choice(len(source), size=min(20_000, len(source)), replace=False)
        real_spread, real_next = disagreement(ensemble, source.observations[rows], source.actions[rows], state_std)
        if disagreement_quantile > 0.0:
            thresholds["disagreement"] = float(np.quantile(real_spread, disagreement_quantile))
            bad |= spread > thresholds["disagreement"]
        if consistency_quantile > 0.0:
            # the ensemble's own error on real non-terminal steps (mostly its training rows: a strict cut)
            successors, known = source.successors()
            ok = known[rows] & ~source.terminals[rows]
            real_gap = inconsistency(real_next[ok], successors[rows][ok], state_std)
            thresholds["consistency"] = float(np.quantile(real_gap, consistency_quantile))
            # A terminal step is kept whatever its s': the TD target does not use s' there, and
            # dropping falls (the steps the ensemble predicts worst) would teach an optimistic value.
            gap = inconsistency(mean_next, synthetic.next_observations, state_std)
            bad |= (gap > thresholds["consistency"]) & ~terminal
    bad &= ~real
    # Within each rollout: keep the rows before its first bad row and up to its first terminal one.
    starts = synthetic.episode_starts
    ep = synthetic.episode_ids()
    after_end = _episode_cumsum(terminal, starts, ep) - terminal  # terminals strictly before this row
    keep = (_episode_cumsum(bad, starts, ep) == 0) & (after_end == 0)
    return _kept(synthetic, keep, terminal, "guard", {
        "ensemble_termination": ensemble_termination, "disagreement_quantile": disagreement_quantile,
        "disagreement_threshold": thresholds.get("disagreement"), "consistency_quantile": consistency_quantile,
        "consistency_threshold": thresholds.get("consistency")})


def return_filter(synthetic: Dataset, ensemble, source: Dataset, gamma: float = 0.99, *,
                  real_first_step: bool = False) -> Dataset:
    """Keep of each rollout its longest prefix whose discounted return, judged by the ensemble's rewards for its
    (s, a), beats the real segment's of the same steps from the same start (DiffStitch's criterion, with the
    one-step ensemble as its dynamics model); a rollout with no such prefix is dropped. The real segment earns
    nothing after a terminal (a fall ends the real return there) and is unknown after a timeout, where no prefix
    that reaches it can win. A prefix that ends in a fall earns nothing after it while the real segment goes on,
    so it is judged against the real segment's whole window (`horizon` steps; its unknown steps again lose). A real
    step 0 (`real_first_step`) counts with the data's own reward. Why: a model asked for more return should only
    add what it generated where it plausibly improves on the behaviour data."""
    step = np.asarray(synthetic.infos["horizon_step"]).reshape(-1)
    start = np.asarray(synthetic.infos["start_index"]).reshape(-1)
    _, predicted = ensemble.predict(synthetic.observations, synthetic.actions)
    if real_first_step:
        predicted = np.where(step == 0, synthetic.rewards, predicted)
    real, known = rewards_after(source, start, step)
    starts, ep = synthetic.episode_starts, synthetic.episode_ids()
    discount = gamma ** step.astype(np.float64)
    g_synthetic = _episode_cumsum(discount * predicted, starts, ep)
    g_real = _episode_cumsum(discount * real, starts, ep)
    known_so_far = _episode_cumsum(~known, starts, ep) == 0
    horizon = int(synthetic.metadata.get("horizon") or step.max(initial=-1) + 1)
    falls = np.flatnonzero(synthetic.terminals)
    rest, rest_known = _real_rest(source, start[falls], step[falls], horizon, gamma)
    g_real[falls] += rest
    known_so_far[falls] &= rest_known
    wins = (g_synthetic > g_real) & known_so_far
    wins_so_far = _episode_cumsum(wins, starts, ep)
    wins_from_here = wins_so_far[synthetic.episode_ends - 1][ep] - wins_so_far + wins  # at or after this row
    keep = wins_from_here > 0
    ends = synthetic.episode_ends - 1
    return _kept(synthetic, keep, synthetic.terminals, "return_filter", {
        "gamma": gamma, "rollouts_kept": int(keep[starts].sum()), "rollouts": len(starts),
        "synthetic_return_mean": float(g_synthetic[ends].mean()) if len(ends) else None,
        "real_return_mean": float(g_real[ends].mean()) if len(ends) else None})


def _real_rest(source: Dataset, start: np.ndarray, step: np.ndarray, horizon: int,
               gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(the real segment's discounted rewards after `step` up to the window's end, whether all of them are known)
    for rollouts from `start` that fall at `step`."""
    rest, known = np.zeros(len(start)), np.ones(len(start), dtype=bool)
    for later in range(1, horizon):
        k = step + later
        inside = k < horizon
        reward, reward_known = rewards_after(source, start, np.minimum(k, horizon - 1))
        rest += np.where(inside, gamma ** k.astype(np.float64) * reward, 0.0)
        known &= ~inside | reward_known
    return rest, known


def _kept(synthetic: Dataset, keep: np.ndarray, terminal: np.ndarray, name: str, info: dict) -> Dataset:
    """The rows `keep`; each rollout's last kept row ends it (terminal if it is one, else a timeout). What was
    kept is recorded in metadata[name]."""
    ep = synthetic.episode_ids()
    last = np.zeros(len(synthetic), dtype=bool)
    kept_ep = ep[keep]
    last_idx = np.flatnonzero(keep)[np.r_[kept_ep[1:] != kept_ep[:-1], True]] if keep.any() else []
    last[last_idx] = True
    infos = {k: np.asarray(v)[keep] for k, v in synthetic.infos.items() if len(v) == len(synthetic)}
    meta = {**synthetic.metadata, name: {**info, "kept": int(keep.sum()), "of": len(synthetic)}}
    return Dataset(synthetic.observations[keep], synthetic.actions[keep], synthetic.rewards[keep], terminal[keep],
                   (last & ~terminal)[keep], synthetic.next_observations[keep], metadata=meta, infos=infos)


def _episode_cumsum(values: np.ndarray, starts: np.ndarray, ep: np.ndarray) -> np.ndarray:
    """Running sum of `values` within each episode (inclusive): a count for booleans."""
    total = np.cumsum(values.astype(np.int64) if values.dtype == bool else np.asarray(values, np.float64))
    before = np.r_[0, total][starts]  # sum before each episode's first row
    return total - before[ep]
