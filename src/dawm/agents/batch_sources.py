"""Where training batches come from: real transitions, synthetic ones, or a mix of both.

A batch is a dict of tensors on the training device, in the environment's own units (raw
observations and rewards; each agent normalises inside its update):

    observations (B, obs_dim), actions (B, act_dim), rewards (B,), next_observations (B, obs_dim),
    dones (B,)  (1.0 = true terminal: no bootstrap)

Any object with `sample(batch_size) -> Batch` is a `BatchSource`: DAWM plugs its world-model
transitions in as one (a `TransitionBuffer` of generated data, or a generator sampling on the fly)
and mixes them with the real data through `MixedSource`.
"""

from __future__ import annotations

import copy
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch

from dawm.agents.targets import Batch
from dawm.data.transitions import Transitions
from dawm.utils.errors import DawmError

FIELDS = ("observations", "actions", "rewards", "next_observations", "dones")


@runtime_checkable
class BatchSource(Protocol):
    """Where an agent's batches come from; its state (generator, counts) is checkpointed with the agent,
    so a resumed run draws exactly the batches an uninterrupted one would."""

    def sample(self, batch_size: int) -> Batch:
        """`batch_size` transitions as a `Batch` on the training device."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class TransitionBuffer:
    """Transitions held on the device as ONE packed (N, 2*obs_dim + act_dim + 2) tensor.

    A batch costs one `torch.randint` and one row gather, with no host->device copy; the fields
    are column views of the gathered rows.
    """

    def __init__(self, transitions: Transitions, device: str | torch.device = "cpu", seed: int = 0):
        if len(transitions) == 0:
            raise DawmError("cannot sample batches from an empty set of transitions")
        t = transitions
        packed = np.concatenate([t.observations, t.actions, t.rewards[:, None], t.next_observations,
                                 t.dones[:, None]], axis=1).astype(np.float32)
        self.device = torch.device(device)
        self.data = torch.as_tensor(packed, device=self.device)
        obs_dim, act_dim = t.observations.shape[1], t.actions.shape[1]
        o, a = obs_dim, obs_dim + act_dim
        self._columns = {"observations": slice(0, o), "actions": slice(o, a), "rewards": a,
                         "next_observations": slice(a + 1, a + 1 + obs_dim), "dones": a + 1 + obs_dim}
        self.seed = seed
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.data.shape[0]

    def sample(self, batch_size: int) -> Batch:
        return self.take(torch.randint(len(self), (batch_size,), device=self.device, generator=self.generator))

    def to(self, device: str | torch.device) -> TransitionBuffer:
        """This buffer on `device` (itself if already there; a new generator from the same seed)."""
        device = torch.empty(0, device=device).device  # canonical: "cuda" -> cuda:0
        if device == self.data.device:
            return self
        other = copy.copy(self)
        other.device, other.data = device, self.data.to(device)
        other.generator = torch.Generator(device).manual_seed(self.seed)
        return other

    def reseeded(self, seed: int) -> TransitionBuffer:
        """The same transitions (shared, not copied) sampled by an independent generator (one per seed)."""
        other = copy.copy(self)
        other.seed, other.generator = seed, torch.Generator(self.device).manual_seed(seed)
        return other

    def take(self, idx: torch.Tensor) -> Batch:
        """The transitions at row indices `idx`, as a batch."""
        rows = self.data.index_select(0, idx)
        return {name: rows[:, col] for name, col in self._columns.items()}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())


class MixedSource:
    """Batches of `round(synthetic_ratio * B)` synthetic and `B - that` real transitions.

    `counts` holds how many samples each source has supplied so far (Python ints, no device sync);
    the trainer logs them and writes them to summary.json.
    """

    def __init__(self, real: BatchSource, synthetic: BatchSource, synthetic_ratio: float):
        if not 0.0 <= synthetic_ratio <= 1.0:
            raise DawmError(f"synthetic_ratio must be in [0, 1], got {synthetic_ratio}")
        self.real, self.synthetic, self.synthetic_ratio = real, synthetic, synthetic_ratio
        self.counts = {"real": 0, "synthetic": 0}

    def split(self, batch_size: int) -> tuple[int, int]:
        """(real, synthetic) sample counts for one batch."""
        n_syn = int(round(self.synthetic_ratio * batch_size))
        return batch_size - n_syn, n_syn

    def sample(self, batch_size: int) -> Batch:
        n_real, n_syn = self.split(batch_size)
        self.counts["real"] += n_real
        self.counts["synthetic"] += n_syn
        if n_syn == 0:
            return self.real.sample(n_real)
        if n_real == 0:
            return self.synthetic.sample(n_syn)
        real, syn = self.real.sample(n_real), self.synthetic.sample(n_syn)
        return {k: torch.cat([real[k], syn[k].to(real[k].device)]) for k in FIELDS}  # no-op when on one device

    def state_dict(self) -> dict:
        return {"counts": dict(self.counts), "real": self.real.state_dict(), "synthetic": self.synthetic.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = {k: int(v) for k, v in state["counts"].items()}
        self.real.load_state_dict(state["real"])
        self.synthetic.load_state_dict(state["synthetic"])


class RefreshingSource:
    """A buffer of generated transitions replaced every `refresh_every` batches: set k = 1, 2, ... comes
    from `generate(k)` (DAWM's refresh schedule: new start pairs and rollouts, same world model).

    Set k must be a deterministic function of k: a resumed run regenerates the current set instead
    of saving it.
    """

    def __init__(self, first: Transitions, generate: Callable[[int], Transitions], refresh_every: int,
                 device: str | torch.device = "cpu", seed: int = 0):
        if refresh_every < 1:
            raise DawmError(f"refresh_every must be >= 1, got {refresh_every}")
        self.generate, self.refresh_every, self.device, self.seed = generate, refresh_every, device, seed
        self.buffer, self.generation, self.batches = TransitionBuffer(first, device, seed), 0, 0

    def _load_generation(self, k: int) -> None:
        self.generation = k
        self.buffer = TransitionBuffer(self.generate(k), self.device, self.seed + k)

    def sample(self, batch_size: int) -> Batch:
        if self.batches and self.batches % self.refresh_every == 0:
            self._load_generation(self.generation + 1)
        self.batches += 1
        return self.buffer.sample(batch_size)

    def state_dict(self) -> dict:
        return {"generation": self.generation, "batches": self.batches, **self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if int(state["generation"]) != self.generation:
            self._load_generation(int(state["generation"]))
        self.batches = int(state["batches"])
        self.buffer.load_state_dict(state)


def sample_counts(source: BatchSource, batches: int, batch_size: int) -> dict[str, int]:
    """Samples drawn per origin: a MixedSource's counts, else all `batches * batch_size` are real."""
    if isinstance(source, MixedSource):
        return dict(source.counts)
    return {"real": batches * batch_size, "synthetic": 0}
