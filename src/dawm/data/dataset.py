"""The one dataset type every reader produces and every model consumes.

Flat step arrays in time order, episodes back to back (the D4RL layout), so views are cheap
index arithmetic. An episode ends at a terminal (true environment termination: not bootstrapped)
or a timeout (time limit / truncation: bootstrapped in principle, but nothing is bootstrapped
*across* it because the next row starts a new episode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dawm.utils.env_specs import normalized_score, reference_scores


@dataclass
class Dataset:
    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    terminals: np.ndarray  # (N,) bool
    timeouts: np.ndarray  # (N,) bool; the last step is treated as a timeout if neither is set
    next_observations: np.ndarray | None = None  # (N, obs_dim) float32 when the source has them
    metadata: dict = field(default_factory=dict)  # env_id, ref_min_score, ref_max_score, name, level, source, ...
    infos: dict = field(default_factory=dict)  # per-step extras, (N, ...) arrays: qpos, qvel, horizon_step, ...

    def __post_init__(self) -> None:
        self.observations = np.asarray(self.observations, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        self.rewards = np.asarray(self.rewards, dtype=np.float32).reshape(-1)
        self.terminals = np.asarray(self.terminals).astype(bool).reshape(-1)
        self.timeouts = np.asarray(self.timeouts).astype(bool).reshape(-1)
        if self.next_observations is not None:
            self.next_observations = np.asarray(self.next_observations, dtype=np.float32)

    # --- sizes -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def env_id(self) -> str | None:
        return self.metadata.get("env_id")

    @property
    def name(self) -> str:
        return self.metadata.get("name", "dataset")

    def fingerprint(self) -> list:
        """Cheap identity of the content (name, size, reward sum, first and last observation): part of every
        cache key that depends on the data, and (hashed) the records' dataset digest."""
        return [self.name, len(self), float(self.rewards.sum(dtype="float64")), self.observations[0].tolist(),
                self.observations[-1].tolist()]

    # --- episodes ----------------------------------------------------------------------------
    @property
    def episode_ends(self) -> np.ndarray:
        """Exclusive end index of every episode (the last step always closes one)."""
        ends = np.flatnonzero(self.terminals | self.timeouts) + 1
        if len(self) and (len(ends) == 0 or ends[-1] != len(self)):
            ends = np.append(ends, len(self))
        return ends

    def successors(self) -> tuple[np.ndarray, np.ndarray]:
        """(next_obs, known): each step's s' (the recorded next_observations, else observations[i + 1]
        within the episode) and whether it is known. An episode's last step without a recorded s' has
        none: there next_obs is s_i itself (harmless after a terminal, whose target never reads s')."""
        if self.next_observations is not None:
            return self.next_observations, np.isfinite(self.next_observations).all(-1)
        n = len(self)
        successor = np.minimum(np.arange(n) + 1, max(n - 1, 0))
        last = self.episode_ends - 1
        successor[last] = last
        known = np.ones(n, dtype=bool)
        known[last] = False
        return self.observations[successor], known

    @property
    def episode_starts(self) -> np.ndarray:
        return np.concatenate([[0], self.episode_ends[:-1]]).astype(np.int64)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ends)

    def episode_slices(self) -> list[slice]:
        return [slice(int(s), int(e)) for s, e in zip(self.episode_starts, self.episode_ends)]

    def episode_ids(self) -> np.ndarray:
        """(N,) index of the episode each step belongs to."""
        return np.repeat(np.arange(self.n_episodes), np.diff(np.concatenate([[0], self.episode_ends])))

    def episode_returns(self) -> np.ndarray:
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts) if len(self) else np.zeros(0)

    def select_episodes(self, episode_ids: np.ndarray) -> Dataset:
        """The dataset restricted to the given episodes (each still closed by its terminal or a timeout)."""
        rows = np.isin(self.episode_ids(), episode_ids)
        last = np.zeros(len(self), bool)
        last[self.episode_ends - 1] = True
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return Dataset(self.observations[rows], self.actions[rows], self.rewards[rows], self.terminals[rows],
                       (self.timeouts | (last & ~self.terminals))[rows], pick(self.next_observations),
                       dict(self.metadata), {k: np.asarray(v)[rows] for k, v in self.infos.items()})

    def ref_scores(self) -> tuple[float, float] | None:
        return reference_scores(self.env_id or "", self.metadata)

    def summary(self) -> dict:
        """Episodes, transitions, return statistics and the D4RL normalised score."""
        rets = self.episode_returns()
        out = {
            "name": self.name,
            "env_id": self.env_id,
            "episodes": int(self.n_episodes),
            "transitions": int(len(self)),
            "terminals": int(self.terminals.sum()),
            "return_mean": float(rets.mean()),
            "return_std": float(rets.std()),
            "return_min": float(rets.min()),
            "return_max": float(rets.max()),
        }
        ref = self.ref_scores()
        if ref is not None:
            scores = normalized_score(rets, *ref)
            out.update(score_mean=float(scores.mean()), score_std=float(scores.std()), ref_min_score=ref[0],
                       ref_max_score=ref[1])
        return out


def episode_subset(ds: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """A seeded random `fraction` of `ds`'s whole episodes (at least one), in their original order: the
    reduced-data setting in which synthetic data is expected to matter most (SynthER's 'data-scarce' runs).
    Its metadata names the source and the draw; the statistics a collected dataset records are recomputed."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction {fraction}: expected a value in (0, 1]")
    n = ds.n_episodes
    keep = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, round(fraction * n))])
    sub = ds.select_episodes(keep)
    stats = sub.summary()
    for key, stat in (("size", "transitions"), ("episodes", "episodes"), ("return_mean", "return_mean"),
                      ("return_std", "return_std"), ("score_mean", "score_mean")):
        if key in sub.metadata:
            sub.metadata[key] = stats.get(stat)
    sub.metadata.pop("command", None)  # it made the whole dataset
    sub.metadata.update(subset_of=ds.name, subset_fraction=fraction, subset_seed=seed)
    return sub
