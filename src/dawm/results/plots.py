"""Figures of a grid or a run: learning curves with CI bands, interval estimates, performance profiles."""

from __future__ import annotations

import colorsys
import json
import zlib
from pathlib import Path

import numpy as np

from dawm.results import stats
from dawm.utils.plotting import pyplot, save_figure


# One colour per method in every figure. Hue is the variant (plain agent, dawm-*, dwm-*), so the
# comparisons the page makes (dawm-X vs X, dawm-X vs dwm-X) are different hues; the shade is the
# family (td3bc dark, iql light).
COLOURS = {"td3bc": "#1f4e99", "iql": "#6fa8dc", "dawm-td3bc": "#b2182b", "dawm-iql": "#f4a261",
           "dwm-td3bc": "#1b7837", "dwm-iql": "#8fd18a"}


def method_colour(method: str) -> str:
    """The method's colour: fixed for the known methods, else a hue hashed from the name (crc32, not
    hash(): that changes between processes), so a label keeps its colour whatever it is plotted with."""
    if method in COLOURS:
        return COLOURS[method]
    hue = (zlib.crc32(method.encode()) % 360) / 360
    return "#" + "".join(f"{round(255 * c):02x}" for c in colorsys.hsv_to_rgb(hue, 0.6, 0.7))


def eval_curve(metrics_file: Path, key: str = "eval/score_mean") -> dict[int, float]:
    """{update step: evaluation normalised score} from an agent run's metrics.jsonl (last row per step wins;
    unreadable lines are skipped); `key` picks one seed's of a vectorised run (eval/seed<k>/score_mean)."""
    if not metrics_file.is_file():
        return {}
    curve = {}
    for line in metrics_file.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a run killed mid-write leaves a partial last line
            continue
        if isinstance(row.get(key), (int, float)):
            curve[int(row["step"])] = float(row[key])
    return curve


def plot_curves(by_method: dict[str, list[dict[int, float]]], path: Path, title: str,
                reps: int = stats.FIGURE_REPS) -> None:
    """One line per method: IQM over seeds at the steps every seed evaluated, shaded by its 95% CI."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, seed_curves in sorted(by_method.items()):
        steps, mid, low, high = stats.curve_band(seed_curves, reps)
        if not steps:
            continue
        colour = method_colour(method)
        ax.plot(steps, mid, color=colour, marker="o" if len(steps) < 3 else None,
                label=f"{method} (n={len(seed_curves)})")
        ax.fill_between(steps, low, high, color=colour, alpha=0.2)
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
            ax.barh(i, e.high - e.low, left=e.low, height=0.6, alpha=0.6, color=method_colour(m))
            ax.vlines(e.value, i - 0.3, i + 0.3, color="k")
        ax.set(yticks=range(len(methods)), yticklabels=methods if key == "iqm" else [], xlabel=label)
    fig.tight_layout()
    save_figure(fig, path)


def profile_range(matrices) -> tuple[float, float]:
    """τ from a little below the lowest score to a little above the highest (5% of the span each side;
    one distinct score gets ±1 or ±5% of it), so the profiles fill the axis whatever the scores' scale."""
    lo = min(float(np.min(x)) for x in matrices)
    hi = max(float(np.max(x)) for x in matrices)
    pad = 0.05 * (hi - lo) or max(1.0, 0.05 * abs(hi))
    return lo - pad, hi + pad


def plot_profiles(scores: stats.Scores, methods: list[str], datasets: list[str], path: Path,
                  reps: int = stats.FIGURE_REPS) -> None:
    """Performance profiles: the fraction of runs (all datasets) scoring above tau, with 95% CI bands."""
    from rliable import library as rly

    matrices = {m: x for m in methods if (x := stats.matrix(scores, m, datasets)) is not None}
    if not matrices:
        return
    taus = np.linspace(*profile_range(matrices.values()), 101)
    with stats.seeded(0):
        profiles, cis = rly.create_performance_profile(matrices, taus, reps=reps)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in matrices:
        ax.plot(taus, profiles[m], color=method_colour(m), label=m)
        ax.fill_between(taus, cis[m][0], cis[m][1], color=method_colour(m), alpha=0.2)
    ax.set(xlabel="normalised score τ", ylabel="fraction of runs with score > τ", ylim=(0, 1.02),
           xlim=(taus[0], taus[-1]), title="performance profile")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)
