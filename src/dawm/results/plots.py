"""Figures of a grid or a run: learning curves with CI bands, interval estimates, performance profiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dawm.results import stats
from dawm.utils.plotting import pyplot, save_figure


def eval_curve(metrics_file: Path) -> dict[int, float]:
    """{update step: evaluation normalised score} from an agent run's metrics.jsonl (last row per step wins;
    unreadable lines are skipped)."""
    if not metrics_file.is_file():
        return {}
    curve = {}
    for line in metrics_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a run killed mid-write leaves a partial last line
            continue
        if isinstance(row.get("eval/score_mean"), (int, float)):
            curve[int(row["step"])] = float(row["eval/score_mean"])
    return curve


def plot_curves(by_method: dict[str, list[dict[int, float]]], path: Path, title: str, reps: int = 2000) -> None:
    """One line per method: IQM over seeds at the steps every seed evaluated, shaded by its 95% CI."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, seed_curves in sorted(by_method.items()):
        steps, mid, low, high = stats.curve_band(seed_curves, reps)
        if not steps:
            continue
        ax.plot(steps, mid, marker="o" if len(steps) < 3 else None, label=f"{method} (n={len(seed_curves)})")
        ax.fill_between(steps, low, high, alpha=0.2)
    several = any(len(c) > 1 for c in by_method.values())
    ax.set(xlabel="update step", ylabel="normalised score" + (" (IQM, 95% CI)" if several else ""), title=title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)


def plot_intervals(aggregate: dict[str, dict[str, stats.Estimate]], path: Path) -> None:
    """Aggregate IQM and optimality gap per method with their 95% CIs (rliable's interval plot)."""
    plt = pyplot()
    names = [("iqm", "IQM"), ("optimality_gap", "Optimality gap")]
    methods = list(aggregate)
    fig, axes = plt.subplots(1, 2, figsize=(8, 0.5 * len(methods) + 1.5))
    for ax, (key, label) in zip(axes, names):
        for i, m in enumerate(methods):
            e = aggregate[m][key]
            ax.barh(i, e.high - e.low, left=e.low, height=0.6, alpha=0.6, color=f"C{i}")
            ax.vlines(e.value, i - 0.3, i + 0.3, color="k")
        ax.set(yticks=range(len(methods)), yticklabels=methods if key == "iqm" else [], xlabel=label)
    fig.tight_layout()
    save_figure(fig, path)


def plot_profiles(scores: stats.Scores, methods: list[str], datasets: list[str], path: Path, reps: int = 2000) -> None:
    """Performance profiles: the fraction of runs (all datasets) scoring above tau, with 95% CI bands."""
    from rliable import library as rly

    matrices = {m: x for m in methods if (x := stats.matrix(scores, m, datasets)) is not None}
    if not matrices:
        return
    top = max(100.0, max(float(x.max()) for x in matrices.values()))
    taus = np.linspace(0.0, top, 101)
    with stats.seeded(0):
        profiles, cis = rly.create_performance_profile(matrices, taus, reps=reps)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, m in enumerate(matrices):
        ax.plot(taus, profiles[m], color=f"C{i}", label=m)
        ax.fill_between(taus, cis[m][0], cis[m][1], color=f"C{i}", alpha=0.2)
    ax.set(xlabel="normalised score τ", ylabel="fraction of runs with score > τ", ylim=(0, 1.02),
           title="performance profile")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)
