"""Several seeds in one process: S independent agents whose tensors share a leading seed axis.

An agent built with `n_seeds` = S > 1 holds S agents at once (own initialisation, own batches,
own target noise and dropout): every network and optimiser tensor is the single-seed tensor with
a leading (S, ...) axis, so each layer is one batched matmul over seeds (dawm.agents.networks).
Its `update` takes seed-stacked batches (S, B, ...) and every loss is a per-seed batch mean,
summed over seeds: the gradient of seed k's parameters is exactly seed k's own loss gradient, and
Adam and Polyak averaging are elementwise, so the seeds never mix. Metrics come back as (S,)
tensors. With n_seeds = 1 (the default) there is no seed axis and nothing changes.

    agent = TD3BC.from_transitions(data, cfg, n_seeds=3)
    source = StackedSource([TransitionBuffer(data, seed=s) for s in range(3)])
    for _ in range(steps):
        agent.update(source.sample(256))           # batch (3, 256, ...)
    single = agent.seed_agent(1)                  # a normal TD3BC: act, state_dict, evaluate
    agent = TD3BC.stack([a0, a1, a2])             # the inverse: S single agents -> one

Critic targets (dawm.agents.targets) keep their (B,) contract: `seed_target` hands a target the
seed-stacked batch flattened seed-major to (S * B, ...) (row i belongs to seed i // B) and a
`next_value` that maps such rows back to their own seed's networks.
"""

from __future__ import annotations

import dataclasses

import torch

from dawm.agents.targets import Batch, NextValueFn, TargetFn
from dawm.utils.errors import DawmError


def batch_mean(x: torch.Tensor, axes: int = 1) -> torch.Tensor:
    """Mean over the last `axes` axes (the batch, or heads x batch): one value per seed, or a scalar."""
    return x.mean(-1) if axes == 1 else x.mean(tuple(range(-axes, 0)))


def backward_per_seed(losses: torch.Tensor, **kwargs) -> None:
    """Backward through the sum of per-seed losses: each seed's parameters get only their own gradient."""
    losses.sum().backward(**kwargs)


def seed_target(target_fn: TargetFn, batch: Batch, gamma: float, next_value: NextValueFn, reward_scale: float,
                n_seeds: int) -> torch.Tensor:
    """`target_fn` on a batch of shape (S, B, ...) -> y (S, B), through one flat (S * B) call."""
    if n_seeds == 1:
        return target_fn(batch, gamma, next_value, reward_scale)
    flat = {k: v.flatten(0, 1) for k, v in batch.items()}

    def flat_next_value(obs: torch.Tensor) -> torch.Tensor:  # (S * B', obs_dim), seed-major -> (S * B',)
        return next_value(obs.unflatten(0, (n_seeds, -1))).flatten(0, 1)

    return target_fn(flat, gamma, flat_next_value, reward_scale).unflatten(0, (n_seeds, -1))


def _opt_state(state: dict, fn) -> dict:
    """An optimiser state_dict with `fn` applied to the per-parameter moments (the shared step count is kept)."""
    return {"state": {i: {k: (v if k == "step" else fn(k, i)) for k, v in s.items()}
                      for i, s in state["state"].items()},
            "param_groups": state["param_groups"]}


class SeedAxis:
    """Mixin for agents: checkpoints, seed extraction and stacking, all derived from one declaration
    of the agent's parts (d3rlpy's module bundle): `ALGO` and `CONFIG` (its name and config class),
    `_SEED_NETS` (modules), `_SEED_OPTS` (optimisers), `_SEED_TENSORS` (plain tensors),
    `_SCALARS` (floats kept beside them, e.g. IQL's reward scale) and `_TARGETS` (each target
    network and the online network it follows)."""

    ALGO: str
    CONFIG: type
    _SEED_NETS: tuple[str, ...] = ()
    _SEED_OPTS: tuple[str, ...] = ()
    _SEED_TENSORS: tuple[str, ...] = ()
    _SCALARS: tuple[str, ...] = ()
    _TARGETS: dict[str, str] = {}
    n_seeds: int

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [getattr(self, name) for name in self._SEED_OPTS]

    def polyak_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(target parameters, the online parameters they follow), for `soft_update_`."""
        targets = [p for name in self._TARGETS for p in getattr(self, name).parameters()]
        online = [p for name in self._TARGETS.values() for p in getattr(self, name).parameters()]
        return targets, online

    # --- checkpoints: tensors and plain data only (torch.load(weights_only=True)) --------------
    def state_dict(self) -> dict:
        state = {"algo": self.ALGO, "config": dataclasses.asdict(self.cfg), "obs_dim": self.obs_dim,
                 "act_dim": self.act_dim, "n_seeds": self.n_seeds, "step": self.step,
                 **{name: float(getattr(self, name)) for name in self._SCALARS}}
        for name in (*self._SEED_NETS, *self._SEED_OPTS, "obs_norm"):
            state[name] = getattr(self, name).state_dict()
        for name in self._SEED_TENSORS:
            state[name] = getattr(self, name).detach().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        state = self._upgrade_legacy(state)
        for name in (*self._SEED_NETS, *self._SEED_OPTS, "obs_norm"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            for name in self._SEED_TENSORS:
                getattr(self, name).copy_(state[name])
        for name in self._SCALARS:
            setattr(self, name, float(state[name]))
        self.step = int(state["step"])

    def _upgrade_legacy(self, state: dict) -> dict:
        """A checkpoint from before the critics' layers were StackedLinear modules, in the current layout:
        the critics' keys are renamed by EnsembleMLP's load hook; here the optimisers' per-parameter
        states are moved from the old parameter order (all weights, then all biases) to the current one."""
        nets = {n: getattr(self, n) for n in self._SEED_NETS}
        legacy = [net for n, net in nets.items() if hasattr(net, "legacy_parameter_order") and net.is_legacy(state[n])]
        if not legacy:
            return state
        state = dict(state)
        for name in self._SEED_OPTS:
            params = [p for group in getattr(self, name).param_groups for p in group["params"]]
            index = {id(p): i for i, p in enumerate(params)}
            old_order = list(params)
            for net in legacy:  # now a critic's parameters are one run of the list, in layer order
                at = [index[id(p)] for p in net.parameters() if id(p) in index]
                if not at:
                    continue
                if at != list(range(at[0], at[0] + len(list(net.parameters())))):
                    raise DawmError(f"checkpoint from an older dawm: optimiser {name} does not hold the critic's "
                                    "parameters as one run, so its state cannot be re-ordered")
                old_order[at[0]:at[0] + len(at)] = net.legacy_parameter_order()
            opt = state[name]
            state[name] = {**opt, "state": {index[id(old_order[int(i)])]: s for i, s in opt["state"].items()}}
        return state

    @classmethod
    def from_state_dict(cls, state: dict, device: str | torch.device = "cpu"):
        cfg = cls.CONFIG(**{**state["config"], "hidden": tuple(state["config"]["hidden"])})
        agent = cls(state["obs_dim"], state["act_dim"], cfg, device=device, n_seeds=int(state.get("n_seeds", 1)))
        agent.load_state_dict(state)
        return agent

    def seed_state_dict(self, k: int) -> dict:
        """Seed k's state as a single-seed agent's state_dict (loadable by `from_state_dict`)."""
        if not 0 <= k < self.n_seeds:
            raise DawmError(f"seed index {k} out of range: this agent holds {self.n_seeds} seed(s)")
        state = self.state_dict()
        if self.n_seeds == 1:
            return state
        for name in self._SEED_NETS:
            state[name] = {p: t[k].clone() for p, t in state[name].items()}
        for name in self._SEED_OPTS:
            opt = state[name]
            state[name] = _opt_state(opt, lambda key, i: opt["state"][i][key][k].clone())
        for name in self._SEED_TENSORS:
            state[name] = state[name][k].clone()
        state["n_seeds"] = 1
        return state

    def seed_agent(self, k: int):
        """Seed k as a normal single-seed agent (a copy): act, state_dict, evaluation, checkpoints."""
        with torch.random.fork_rng(devices=[]):  # the throw-away init must not shift the training RNG
            agent = type(self).from_state_dict(self.seed_state_dict(k), self.device)
        agent.target_fn = self.target_fn
        return agent

    @classmethod
    def stack(cls, agents: list):
        """One agent with n_seeds = len(agents) holding the given single-seed agents (same config,
        step, normaliser), seed k = agents[k]; the inverse of `seed_agent`."""
        if any(a.n_seeds != 1 for a in agents) or not agents:
            raise DawmError("stack() takes a non-empty list of single-seed agents")
        states = [a.state_dict() for a in agents]
        first = states[0]
        for s in states[1:]:
            same = s["config"] == first["config"] and s["step"] == first["step"] and all(
                torch.equal(s["obs_norm"][b], first["obs_norm"][b]) for b in first["obs_norm"])
            if not same or s.get("reward_scale") != first.get("reward_scale"):
                raise DawmError("stack(): the agents differ in config, step, reward scale or normaliser")
        state = dict(first, n_seeds=len(agents))
        if len(agents) > 1:  # a single seed has no seed axis
            for name in cls._SEED_NETS:
                state[name] = {p: torch.stack([s[name][p] for s in states]) for p in first[name]}
            for name in cls._SEED_OPTS:
                state[name] = _opt_state(first[name], lambda key, i: torch.stack([s[name]["state"][i][key]
                                                                                  for s in states]))
            for name in cls._SEED_TENSORS:
                state[name] = torch.stack([s[name] for s in states])
        with torch.random.fork_rng(devices=[]):
            agent = cls.from_state_dict(state, agents[0].device)
        agent.target_fn = agents[0].target_fn
        return agent


class StackedSource:
    """A `BatchSource` of seed-stacked batches (S, B, ...): one batch from each seed's own source."""

    def __init__(self, sources: list):
        self.sources = list(sources)

    def sample(self, batch_size: int) -> Batch:
        batches = [s.sample(batch_size) for s in self.sources]
        return {k: torch.stack([b[k] for b in batches]) for k in batches[0]}

    def state_dict(self) -> dict:
        return {"sources": [s.state_dict() for s in self.sources]}

    def load_state_dict(self, state: dict) -> None:
        for s, st in zip(self.sources, state["sources"], strict=True):
            s.load_state_dict(st)
