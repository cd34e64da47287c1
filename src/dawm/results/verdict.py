"""The sentences a run's printout and its report page share: its score beside its baseline's, and
the synthetic data's quality against its references."""

from __future__ import annotations


def score_lines(summary: dict) -> list[str]:
    """The run's score, its baseline's, and their difference (one seed: said to be no evidence)."""
    lines = []
    if summary.get("score_mean") is not None:
        lines.append(f"{summary['method']:<11} {summary['score_mean']:6.1f} ± {summary['score_std']:.1f}"
                     f"   (return {summary['return_mean']:.1f} ± {summary['return_std']:.1f}; "
                     "± over evaluation episodes)")
    base = summary.get("baseline")
    if summary.get("baseline_error"):
        lines.append(f"baseline    failed: {summary['baseline_error']}")
    if base and base.get("score_mean") is not None:
        lines.append(f"{base['method']:<11} {base['score_mean']:6.1f} ± {base['score_std']:.1f}"
                     "   (baseline: real data only, same seed and budget)")
        lines.append(f"difference  {summary['difference']:+6.1f}   (one seed: not evidence either way; "
                     "`dawm bench` gives IQM and CIs over >= 5 seeds)")
    return lines


def fidelity_verdict(fid: dict) -> list[str]:
    """The synthetic data's quality against its references, one line per measure."""
    syn, ens, real = fid.get("synthetic", {}), fid.get("ensemble", {}), fid.get("real", {})
    lines = []

    def refs(key: str) -> str:
        parts = [f"{name} {d[key]:.3g}" for name, d in (("one-step ensemble", ens), ("real-data floor", real))
                 if d.get(key) is not None]
        return f" ({'; '.join(parts)})" if parts else ""

    if syn.get("state_rmse") is not None:
        lines.append(f"next-state RMSE  {syn['state_rmse']:.3g} std units{refs('state_rmse')}")
    if syn.get("reward_mae") is not None:
        lines.append(f"reward MAE       {syn['reward_mae']:.3g}{refs('reward_mae')}")
    if syn.get("term_fn_rate") is not None:
        lines.append(f"missed ends      {syn['term_fn_rate']:.3g} of the simulator's terminations"
                     f"{refs('term_fn_rate')}")
    if syn.get("term_fp_rate") is not None:
        lines.append(f"false ends       {syn['term_fp_rate']:.3g} of non-terminal transitions{refs('term_fp_rate')}")
    if syn.get("action_spread") is not None:
        lines.append(f"action spread    {syn['action_spread']:.3g} x the data's per-dimension std (1 = same; "
                     "well below 1 = averaged IDM actions)")
    if syn.get("novelty") is not None:
        lines.append(f"novelty          {syn['novelty']:.3g} x a held-out real episode's distance to the data (1 = as "
                     "new as unseen real data; 0 = copies)")
    if syn.get("return_gain") is not None:
        lines.append(f"return gain      {syn['return_gain']:+.3g} per rollout: the simulator's discounted reward over "
                     "its steps minus the real segment's from the same start (> 0 = better than the data)")
    return lines
