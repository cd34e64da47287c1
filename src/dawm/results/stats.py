"""Statistics of final scores across seeds, with rliable (Agarwal et al. 2021, "Deep RL at the edge
of the statistical precipice"): interquartile mean (IQM) with a 95% stratified bootstrap CI per
dataset, the aggregate IQM and optimality gap across datasets, and the probability of improvement
P(X > Y) with its CI.

Scores are D4RL normalised scores (0-100), given as {dataset: {method: [score per seed]}}. The
bootstrap's random state is fixed, so a report rebuilt from the same records says the same. With
few seeds the intervals are wide, and with one seed there is none: `n` travels with every number.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np

Scores = dict[str, dict[str, list[float]]]  # dataset -> method -> one final score per seed
OPTIMALITY_TARGET = 100.0  # optimality gap: mean shortfall below the expert's normalised score
# Resamples behind every printed interval: at 20,000 an interval end of P(X > Y) did not move across 10
# bootstrap seeds, and an IQM difference's ends moved by a standard deviation of 0.01 points (at 2,000: 0.007
# and 0.04; benchmarks/bootstrap_digits.py, "Honest last digits" in
# docs/results.md#like-with-like-the-records-checked-again-issue-29). Figures' bands use fewer.
REPS = 20_000
FIGURE_REPS = 2_000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap interval over `n` runs (no interval when n < 2)."""

    value: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 1, sign: str = "") -> str:
        if self.n < 2:
            return f"{self.value:{sign}.{digits}f} (n={self.n}, no CI)"
        return f"{self.value:{sign}.{digits}f} [{self.low:{sign}.{digits}f}, {self.high:{sign}.{digits}f}]"

    def signed(self) -> str:
        """A difference in score points: '+1.2 [-0.3, +2.8] pts'."""
        return self.text(1, "+") + " pts"


@contextlib.contextmanager
def seeded(seed: int):
    """rliable's stratified bootstrap draws from numpy's global generator (it ignores random_state), so
    seed that too, and restore it after: the same records give the same intervals."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # arch's notice about RandomState, which rliable's API takes
            warnings.simplefilter("ignore", FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of all runs x tasks. rliable's aggregate_iqm (scipy's
    trim_mean, 25% cut each side) in plain numpy: called once per bootstrap resample, scipy's overhead was most
    of a table's time."""
    a = np.asarray(scores, dtype=float).ravel()
    cut = int(0.25 * a.size)
    return float(np.partition(a, (cut, a.size - cut - 1))[cut:a.size - cut].mean())


def _bootstrap(data, func, reps: int, seed: int) -> Estimate:
    """func's value on `data` (an array runs x tasks, or a tuple of them) and its 95% stratified
    bootstrap percentile interval (runs resampled within each task)."""
    from rliable import library as rly

    arrays = data if isinstance(data, tuple) else (data,)
    n = min(a.shape[0] for a in arrays)
    if n < 2:
        value = float(func(*arrays))
        return Estimate(value, value, value, n)
    with seeded(seed) as rs:
        points, intervals = rly.get_interval_estimates({"x": data}, lambda *a: np.array([func(*a)]), reps=reps,
                                                       random_state=rs)
    return Estimate(float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0]), n)


def dataset_table(scores: Scores, reps: int = REPS, seed: int = 0) -> dict[tuple[str, str], dict]:
    """Per (dataset, method): n, mean, std (population, over seeds) and IQM with its 95% CI."""
    table = {}
    for dataset, by_method in scores.items():
        for method, values in by_method.items():
            if not values:
                continue
            x = np.asarray(values, dtype=float)[:, None]  # runs x 1 task
            table[dataset, method] = {"mean": float(x.mean()), "std": float(x.std()),
                                      "iqm": _bootstrap(x, iqm, reps, seed)}
    return table


def matrix(scores: Scores, method: str, datasets: list[str]) -> np.ndarray | None:
    """runs x tasks for one method: the first n seeds of every dataset, n the fewest any dataset has
    (rliable's aggregates need the same number of runs per task); None if a dataset has none."""
    columns = [scores.get(d, {}).get(method, []) for d in datasets]
    n = min((len(c) for c in columns), default=0)
    if n == 0:
        return None
    return np.array([c[:n] for c in columns], dtype=float).T


def aggregate_table(scores: Scores, methods: list[str], datasets: list[str], reps: int = REPS,
                    seed: int = 0) -> dict[str, dict[str, Estimate]]:
    """Per method, across datasets: IQM and optimality gap (below 100) with 95% stratified CIs."""
    from rliable import metrics

    table = {}
    for method in methods:
        x = matrix(scores, method, datasets)
        if x is None:
            continue
        table[method] = {
            "iqm": _bootstrap(x, iqm, reps, seed),
            "optimality_gap": _bootstrap(x, lambda s: metrics.aggregate_optimality_gap(s, OPTIMALITY_TARGET),
                                         reps, seed)}
    return table


def improvement_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """The comparisons that decide DAWM's claim: each dawm-X against X and against dwm-X."""
    pairs = []
    for m in methods:
        if m.startswith("dawm-"):
            algo = m.removeprefix("dawm-")
            pairs += [(m, other) for other in (algo, f"dwm-{algo}") if other in methods]
    return pairs


def improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) of two runs x tasks matrices: per task the Mann-Whitney U over all run pairs (a tie counts
    half), averaged over tasks. rliable's metrics.probability_of_improvement, in one numpy expression: it
    calls scipy per task, which made the resamples that keep the printed digits steady take minutes."""
    greater = (x[:, None, :] > y[None, :, :]).mean((0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean((0, 1))
    return float((greater + 0.5 * ties).mean())


def probability_of_improvement(scores: Scores, x: str, y: str, datasets: list[str], reps: int = REPS,
                               seed: int = 0) -> Estimate | None:
    """P(X > Y): the probability that a run of X beats a run of Y on the same dataset, averaged over
    datasets (Mann-Whitney U), with its 95% stratified independent bootstrap CI."""
    mx, my = matrix(scores, x, datasets), matrix(scores, y, datasets)
    if mx is None or my is None:
        return None
    return _bootstrap((mx, my), improvement, reps, seed)


def difference(scores: Scores, x: str, y: str, datasets: list[str], reps: int = REPS, seed: int = 0
               ) -> Estimate | None:
    """The effect in score points beside P(X > Y): IQM(X) - IQM(Y) over the datasets' runs, with its 95%
    stratified independent bootstrap CI (each method's runs resampled on their own, as for P)."""
    mx, my = matrix(scores, x, datasets), matrix(scores, y, datasets)
    if mx is None or my is None:
        return None
    return _bootstrap((mx, my), lambda a, b: iqm(a) - iqm(b), reps, seed)


def curve_band(curves: list[dict[int, float]], reps: int = FIGURE_REPS, seed: int = 0
               ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Learning curve over seeds: (steps every seed evaluated, IQM, CI low, CI high) per step."""
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    if not steps:
        return [], np.empty(0), np.empty(0), np.empty(0)
    y = np.array([[c[s] for s in steps] for c in curves], dtype=float)  # runs x steps
    points = np.array([iqm(y[:, [i]]) for i in range(len(steps))])
    if len(curves) < 2:
        return steps, points, points, points
    from rliable import library as rly

    per_step = lambda s: np.array([iqm(s[:, 0, i]) for i in range(s.shape[-1])])  # noqa: E731
    with seeded(seed) as rs:
        _, ci = rly.get_interval_estimates({"x": y[:, None, :]}, per_step, reps=reps, random_state=rs)
    return steps, points, ci["x"][0], ci["x"][1]
