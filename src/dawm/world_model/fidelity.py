"""How true is synthetic data? Put the simulator in each synthetic state s, apply the synthetic
action a, and compare what really follows with the synthetic (s', r, done).

Measured per horizon step (infos/horizon_step: 0 = the real start action, k >= 1 = IDM actions)
beside two references measured the same way on the same queries:
  - the one-step MLP ensemble (classical model-based RL) on the same (s, a) pairs;
  - real data (the floor): the source dataset's own transitions, nonzero only through velocity
    clipping in the observation and float32 storage.
Plus, when an inverse dynamics model is given: its action error on held-out real pairs, and the
dynamical consistency of generated pairs, i.e. simulate (s, IDM(s, s'_syn)) and compare with s'_syn.
And open loop: replay each rollout's actions from its real start and follow the drift.
Spread (no simulator needed): per horizon step, the per-dimension std of the synthetic actions and
of the state change s' - s against the source data's, so averaged futures (IDM actions near the
data's mean action, too smooth state changes) show as ratios below 1. Novelty (no simulator
either): how far the synthetic (s, a) pairs lie from the real ones, against held-out real episodes.
Achieved return: does asking for more give more? Per rollout, the discounted reward sum over its steps as
the model says, as the one-step ensemble and the simulator answer for the same (s, a), against the real
segment's from the same start, by quartile of the start's own return-to-go (the model's rewards alone would
reward its own errors).
State errors are in units of the source data's per-dimension std, rewards also relative to its std.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dawm.data.dataset import Dataset
from dawm.data.segments import returns_to_go, rewards_after
from dawm.envs.simulator import Simulator, velocity_clipped
from dawm.utils.errors import DataError
from dawm.world_model.dynamics_ensemble import EnsembleSettings


def compare(pred_next, pred_rew, pred_done, true_next, true_rew, true_done, state_std, reward_std,
            clipped=None) -> dict:
    """Errors of predicted (s', r, done) against the simulator's truth; rows the simulator could not
    run (NaN) or the prediction left non-finite are counted in `n_unsimulated` and left out."""
    ok = np.isfinite(true_next).all(-1) & np.isfinite(true_rew)
    ok &= np.isfinite(pred_next).all(-1) & np.isfinite(pred_rew)
    out: dict = {"n": int(ok.sum()), "n_unsimulated": int((~ok).sum())}
    if not ok.any():
        return out
    z = (pred_next[ok] - true_next[ok]) / state_std
    row_rmse = np.sqrt((z**2).mean(-1))
    r_err = np.abs(pred_rew[ok] - true_rew[ok])
    out.update(state_rmse=float(np.sqrt((z**2).mean())), state_mae=float(np.abs(z).mean()),
               state_rmse_median_row=float(np.median(row_rmse)), reward_mae=float(r_err.mean()),
               reward_mae_rel=float(r_err.mean() / reward_std))
    if clipped is not None:
        c = np.asarray(clipped)[ok]
        out["n_velocity_clipped"] = int(c.sum())
        out["state_rmse_unclipped"] = float(np.sqrt((z[~c] ** 2).mean())) if (~c).any() else None
    if pred_done is not None:
        pd, td = np.asarray(pred_done, bool)[ok], np.asarray(true_done, bool)[ok]
        out.update(term_accuracy=float((pd == td).mean()), sim_terminations=int(td.sum()),
                   term_false_negative_rate=float((~pd[td]).mean()) if td.any() else None,
                   term_false_positive_rate=float(pd[~td].mean()) if (~td).any() else None)
    return out


def _grouped(groups: np.ndarray | None, fn) -> dict:
    """{"all": fn(all rows), "by_horizon": {"k": fn(rows of horizon step k)}}; fn takes a row mask."""
    n = len(groups) if groups is not None else None
    out = {"all": fn(np.ones(n, bool) if n is not None else slice(None))}
    if groups is not None:
        out["by_horizon"] = {str(int(k)): fn(groups == k) for k in np.unique(groups)}
    return out


def _sub(arrays, mask):
    return [None if a is None else a[mask] for a in arrays]


def fidelity_report(synthetic: Dataset, env_id: str | None = None, source: Dataset | None = None, idm=None,
                    ensemble=None, n_samples: int = 2000, seed: int = 0, n_rollouts: int = 200) -> dict:
    """Measure `synthetic` against the true simulator (see module docstring); returns a JSON-able dict.

    `source` (the real dataset the synthetic data came from) provides the normalisation std and
    the real-data floor; without it the synthetic data's own std is used. `idm` needs
    `.predict(obs, next_obs)` and `.val_episode_ids`; `ensemble` needs `.predict(obs, act)`.
    """
    env_id = env_id or synthetic.env_id or (source.env_id if source is not None else None)
    sim = Simulator(env_id or "")
    rng = np.random.default_rng(seed)
    ref = source if source is not None else synthetic
    state_std = ref.observations.std(0) + 1e-3  # same eps as the project's Normalizer
    reward_std = float(ref.rewards.std()) + 1e-3
    report: dict = {"env_id": sim.env_id, "synthetic": synthetic.name, "source": source.name if source else None,
                    "std_from": "source" if source is not None else "synthetic", "seed": seed}

    # --- synthetic transitions against the simulator --------------------------------------------------
    next_syn, valid = synthetic.successors()
    rows = np.flatnonzero(valid)
    if rows.size == 0:
        raise DataError(synthetic.name, "next_observations", "no transition has a known next state",
                        "next_observations or episodes longer than one step")
    rows = np.sort(rng.choice(rows, size=min(n_samples, rows.size), replace=False))
    s, a = synthetic.observations[rows], synthetic.actions[rows]
    syn = (next_syn[rows], synthetic.rewards[rows], synthetic.terminals[rows])
    true = sim.step(s, a)
    clipped = velocity_clipped(sim.env_id, s)
    hs = synthetic.infos.get("horizon_step")
    groups = np.asarray(hs).reshape(-1)[rows] if hs is not None else None
    report.update(n_samples=int(rows.size), velocity_clipped_fraction=float(clipped.mean()))
    report["synthetic_vs_sim"] = _grouped(groups, lambda m: compare(
        *_sub(syn, m), *_sub(true, m), state_std, reward_std, clipped[m]))

    if ensemble is not None:  # reference (a): a one-step model asked the same questions
        ens_next, ens_rew = ensemble.predict(s, a)
        ens = (ens_next, ens_rew, sim.spec.termination(ens_next))
        report["ensemble_vs_sim"] = _grouped(groups, lambda m: compare(
            *_sub(ens, m), *_sub(true, m), state_std, reward_std, clipped[m]))

    if source is not None:  # reference (b): the floor
        real_next, real_valid = source.successors()
        real_rows = np.flatnonzero(real_valid)
        real_rows = np.sort(rng.choice(real_rows, size=min(n_samples, real_rows.size), replace=False))
        rs = source.observations[real_rows]
        real_true = sim.step(rs, source.actions[real_rows])
        report["real_vs_sim"] = compare(real_next[real_rows], source.rewards[real_rows], source.terminals[real_rows],
                                        *real_true, state_std, reward_std, velocity_clipped(sim.env_id, rs))

    if idm is not None:
        report["idm"] = _idm_report(idm, sim, source, s, syn, groups, state_std, reward_std, clipped, rng,
                                    n_samples)
    if source is not None:
        report["spread"] = spread_report(synthetic, next_syn, valid, source)
        # its own generator: the draws of the checks around it stay as they were before it existed
        report["novelty"] = novelty_report(synthetic, source, np.random.default_rng([seed, 1]), n_samples)
    if groups is not None:
        report["open_loop"] = _open_loop(synthetic, next_syn, sim, ensemble, state_std, reward_std, n_rollouts, rng)
    if source is not None and "start_index" in synthetic.infos and groups is not None:
        # last, on its own generator: the simulator and the draws of the checks above stay as they were
        report["achieved_return"] = return_report(synthetic, source, sim, ensemble, np.random.default_rng([seed, 2]),
                                                  n_rollouts)
    sim.close()
    return report


def spread_report(synthetic: Dataset, next_syn: np.ndarray, valid: np.ndarray, source: Dataset) -> dict:
    """Per horizon step ("all" and "by_horizon"): per-dimension std of the synthetic actions and of
    the state change s' - s (state std units), each against the source data's, and their mean ratio
    (1 = the data's spread; well below 1 = averaged, over-smooth samples)."""
    real_next, real_valid = source.successors()
    state_std = source.observations.std(0) + 1e-3
    data_act = source.actions.std(0)
    data_delta = ((real_next - source.observations)[real_valid] / state_std).std(0)
    delta = (next_syn - synthetic.observations) / state_std
    hs = synthetic.infos.get("horizon_step")
    groups = np.asarray(hs).reshape(-1) if hs is not None else np.zeros(len(synthetic), np.int64)

    def one(mask: np.ndarray) -> dict:
        if mask.sum() < 2:
            return {"n": int(mask.sum())}
        act = synthetic.actions[mask].std(0)
        d = delta[mask & valid].std(0) if (mask & valid).sum() > 1 else np.full_like(data_delta, np.nan)
        return {"n": int(mask.sum()), "action_std": act.tolist(), "action_abs_mean": float(np.abs(
                synthetic.actions[mask]).mean()), "action_spread": float(np.mean(act / (data_act + 1e-6))),
                "state_change_std": float(np.nanmean(d)), "state_change_spread": float(np.nanmean(d / data_delta))}

    out = {"data_action_std": data_act.tolist(), "data_action_abs_mean": float(np.abs(source.actions).mean()),
           "data_state_change_std": float(data_delta.mean()), "all": one(np.ones(len(synthetic), bool))}
    out["by_horizon"] = {str(int(k)): one(groups == k) for k in np.unique(groups)}
    return out


def return_report(synthetic: Dataset, source: Dataset, sim: Simulator, ensemble, rng: np.random.Generator,
                  n_rollouts: int = 200, gamma: float = 0.99) -> dict:
    """Discounted reward sums over each sampled rollout's steps (model, ensemble, simulator for the same (s, a))
    and over the real segment from its start (the part of the start's return-to-go its steps cover); means over
    all, and per quartile of the starts' own return-to-go: where the simulator's column stops growing with the
    quartile while the real one grows, asking for more has saturated. Rollouts are told apart by their steps
    (a set answered by the ensemble or the oracle has one episode per row); those the simulator cannot run, or
    whose real segment crosses a timeout (its real future unknown), are left out and counted."""
    step = np.asarray(synthetic.infos["horizon_step"]).reshape(-1)
    start = np.asarray(synthetic.infos["start_index"]).reshape(-1)
    new = np.r_[True, (np.diff(step) != 1) | (np.diff(start) != 0)]  # a rollout's first row
    rollout = np.cumsum(new) - 1
    chosen = np.sort(rng.choice(rollout[-1] + 1, size=min(n_rollouts, rollout[-1] + 1), replace=False))
    rows = np.flatnonzero(np.isin(rollout, chosen))
    s, a, step, start = synthetic.observations[rows], synthetic.actions[rows], step[rows], start[rows]
    real, known = rewards_after(source, start, step)
    rewards = {"model": synthetic.rewards[rows], "simulator": sim.step(s, a)[1], "real": real}
    if ensemble is not None:
        rewards["ensemble"] = ensemble.predict(s, a)[1]
    _, first = np.unique(rollout[rows], return_index=True)
    sums = {k: np.add.reduceat(gamma ** step * np.asarray(v, np.float64), first) for k, v in rewards.items()}
    ok = np.isfinite(sums["simulator"]) & np.logical_and.reduceat(known, first)
    sums = {k: v[ok] for k, v in sums.items()}
    own = returns_to_go(source, gamma)[start[first][ok]]
    quartile = np.searchsorted(np.quantile(own, [0.25, 0.5, 0.75]), own, side="right") if len(own) else own

    def one(mask: np.ndarray) -> dict:
        return {"n": int(mask.sum()), "own_return_to_go": float(own[mask].mean()),
                **{k: float(v[mask].mean()) for k, v in sums.items()}}

    return {"gamma": gamma, "left_out": int((~ok).sum()), "all": one(np.ones(len(own), bool)),
            "by_own_return_quartile": {str(q + 1): one(quartile == q) for q in range(4) if (quartile == q).any()}}


def novelty_report(synthetic: Dataset, source: Dataset, rng: np.random.Generator, n_samples: int = 2000,
                   holdout: float = 0.1) -> dict:
    """How new the synthetic (s, a) pairs are: per horizon step ("all" and "by_horizon"), the median
    distance from a synthetic pair to its nearest real pair (standardised (s, a); a KD-tree over the
    source's episodes less a random `holdout` of them), and `novelty`, that median over the same for
    the held-out real episodes' pairs: 1 = as new as unseen data from the behaviour policy, 0 = copies
    of the data (step 0 with `first_step: real`), well above 1 = off the data's support. Rollouts that
    start in a held-out episode are left out (their real continuation is not in the tree), when the
    synthetic data records its starts (infos/start_index)."""
    pairs = lambda d: np.concatenate([d.observations, d.actions], 1)  # noqa: E731
    real, episode = pairs(source), source.episode_ids()
    n_held = max(1, round(holdout * source.n_episodes))
    held_ids = rng.permutation(source.n_episodes)[:n_held]
    held = np.isin(episode, held_ids)
    if held.all():  # a one-episode source has nothing left to measure against
        return {}
    mean, std = real[~held].mean(0), real[~held].std(0) + 1e-3
    tree = cKDTree((real[~held] - mean) / std)

    def median_distance(x: np.ndarray) -> float:
        x = x[rng.choice(len(x), size=min(n_samples, len(x)), replace=False)]
        return float(np.median(tree.query((x - mean) / std, k=1)[0]))

    floor = median_distance(real[held])
    syn = pairs(synthetic)
    keep = np.ones(len(syn), bool)
    if "start_index" in synthetic.infos:
        start = np.asarray(synthetic.infos["start_index"]).reshape(-1)
        keep = (start < 0) | (start >= len(source))  # not a row of `source`: nothing to leave out
        keep |= ~np.isin(episode[np.clip(start, 0, len(source) - 1)], held_ids)
    hs = synthetic.infos.get("horizon_step")
    groups = np.asarray(hs).reshape(-1) if hs is not None else np.zeros(len(syn), np.int64)

    def one(mask: np.ndarray) -> dict:
        mask = mask & keep
        n = int(np.count_nonzero(mask))
        if n == 0:
            return {"n": 0}
        d = median_distance(syn[mask])
        return {"n": n, "median_distance": d, "novelty": d / floor if floor > 0 else None}

    out = {"heldout_real_median_distance": floor, "holdout_episodes": n_held,
           "left_out_rows": int((~keep).sum()), "all": one(np.ones(len(syn), bool))}
    if hs is not None:
        out["by_horizon"] = {str(int(k)): one(groups == k) for k in np.unique(groups)}
    return out


def _idm_report(idm, sim, source, s, syn, groups, state_std, reward_std, clipped, rng, n_samples) -> dict:
    out: dict = {}
    syn_next, syn_rew, _ = syn
    # Dynamical consistency of generated pairs: does any action take s to s'_syn? Try the IDM's.
    consistent = sim.step(s, idm.predict(s, syn_next))
    out["synthetic_consistency"] = _grouped(groups, lambda m: compare(
        syn_next[m], syn_rew[m], None, consistent[0][m], consistent[1][m], None, state_std, reward_std, clipped[m]))
    val_ids = getattr(idm, "val_episode_ids", None)
    if source is not None and val_ids is not None and len(val_ids):
        real_next, real_valid = source.successors()
        rows = np.flatnonzero(real_valid & np.isin(source.episode_ids(), np.asarray(val_ids)))
        if rows.size:
            rows = np.sort(rng.choice(rows, size=min(n_samples, rows.size), replace=False))
            rs, ra, rn = source.observations[rows], source.actions[rows], real_next[rows]
            pred = idm.predict(rs, rn)
            err = pred - ra
            act_std = source.actions.std(0) + 1e-3
            out["heldout_actions"] = {"n": int(rows.size), "action_mae": float(np.abs(err).mean()),
                                      "action_rmse": float(np.sqrt((err**2).mean())),
                                      "action_mae_rel": float((np.abs(err) / act_std).mean())}
            real_sim = sim.step(rs, pred)  # the same consistency test on real pairs: the IDM's own floor
            out["real_consistency"] = compare(rn, source.rewards[rows], None, real_sim[0], real_sim[1], None,
                                              state_std, reward_std, velocity_clipped(sim.env_id, rs))
    return out


def rollouts(synthetic: Dataset, next_syn: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(episode start row, states s_0..s_H) for every synthetic rollout that starts at horizon step 0."""
    hs = np.asarray(synthetic.infos["horizon_step"]).reshape(-1)
    out = []
    for sl in synthetic.episode_slices():
        if hs[sl.start] == 0:
            states = np.concatenate([synthetic.observations[sl], next_syn[sl.stop - 1 : sl.stop]])
            out.append((sl.start, states))
    return out


def _open_loop(synthetic, next_syn, sim, ensemble, state_std, reward_std, n_rollouts, rng) -> dict:
    """Replay each rollout's actions open loop from its (real) start state, in the simulator and with
    the ensemble; state RMSE of the synthetic and ensemble trajectories against the replay, per step."""
    chosen = rollouts(synthetic, next_syn)
    if not chosen:
        return {}
    chosen = [chosen[i] for i in np.sort(rng.choice(len(chosen), size=min(n_rollouts, len(chosen)), replace=False))]
    h = max(len(st) - 1 for _, st in chosen)
    s0 = np.stack([st[0] for _, st in chosen])
    acts = np.full((len(chosen), h, synthetic.act_dim), np.nan, np.float32)
    syn_states = np.full((len(chosen), h, synthetic.obs_dim), np.nan, np.float32)
    for i, (start, st) in enumerate(chosen):
        acts[i, : len(st) - 1] = synthetic.actions[start : start + len(st) - 1]
        syn_states[i, : len(st) - 1] = st[1:]
    replay, _, _ = sim.rollout(s0, acts)
    out = {"rollouts": len(chosen), "synthetic_state_rmse": _rmse_per_step(syn_states, replay, state_std)}
    if ensemble is not None:
        ens_states = ensemble_rollout(ensemble, s0, acts)
        out["ensemble_state_rmse"] = _rmse_per_step(ens_states, replay, state_std)
    return out


def ensemble_rollout(ensemble, s0: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """Open-loop model rollout: (B, obs_dim), (B, H, act_dim) -> (B, H, obs_dim); NaN actions stop it."""
    states = np.full(acts.shape[:2] + s0.shape[-1:], np.nan, np.float32)
    s = s0.astype(np.float32)
    for t in range(acts.shape[1]):
        s = ensemble.predict(np.nan_to_num(s), np.nan_to_num(acts[:, t]))[0]
        s[~np.isfinite(acts[:, t]).all(-1)] = np.nan
        states[:, t] = s
    return states


def _rmse_per_step(pred: np.ndarray, true: np.ndarray, state_std) -> list[float | None]:
    z2 = (((pred - true) / state_std) ** 2).mean(-1)  # (B, H); NaN where either side has no step
    return [float(np.sqrt(np.nanmean(col))) if np.isfinite(col).any() else None for col in z2.T]


_SOURCE_KEYS = ("source_dataset", "dataset")  # synthetic-file metadata naming the real dataset


@dataclass
class FidelityConfig(EnsembleSettings):
    """The fidelity check of a synthetic set; its reference one-step ensemble is the guards' (EnsembleSettings,
    shared where size and seed agree), and `ensemble_steps` 0 leaves the reference out."""

    dataset: str = ""
    """Source (real) dataset: file, Minari id or generated name. Gives the std units, the real-data
    floor, the ensemble's training data and the real curves in the plots (default: the dataset
    named in the synthetic file's metadata, source_dataset or dataset, if any)."""
    world_model: str = ""
    """World-model run directory holding idm.pt (adds the inverse dynamics checks)."""
    env: str | None = None
    """Environment id (default: the synthetic file's metadata env_id)."""
    n_samples: int = 2000
    """Synthetic transitions (and as many real ones) sampled for the one-step checks."""
    n_rollouts: int = 200
    """Synthetic rollouts replayed open loop in the simulator."""
    n_plots: int = 3
    """Rollouts drawn as real-vs-synthetic PNGs."""
    seed: int = 0
    """Seed for sampling and the ensemble."""
    out: str | None = None
    """Output directory (default: <synthetic file without suffix>-fidelity next to it)."""
