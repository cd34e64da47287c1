"""Synthesis: complete transitions from rollouts, the done rule, cutting, infos, export, CLI."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import make_random_dataset, synth

from dawm.cli import main
from dawm.data.d4rl import read_d4rl, write_dataset
from dawm.data.segments import returns_to_go
from dawm.data.transitions import Transitions
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DawmError
from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.inverse_dynamics import InverseDynamics
from dawm.world_model.synthesis import resolve_target_rtg


@pytest.fixture(scope="module")
def parts():
    """An untrained world model + IDM with the data's normalisers: synthesis' bookkeeping needs no training."""
    ds = make_random_dataset(n_episodes=4, ep_len=40, obs_dim=11, act_dim=3)
    ds.observations[:, 0] = 1.1 + 0.25 * ds.observations[:, 0]  # hopper-like height and small angles
    ds.observations[:, 1:] *= 0.05
    torch.manual_seed(0)
    wm = TrajectoryDiffusion(11, 3, window=8, dim=8)
    wm.set_normalizers(torch.as_tensor(ds.observations)[:, None].expand(-1, 8, -1),
                       torch.as_tensor(ds.rewards)[:, None].expand(-1, 8), torch.as_tensor(ds.actions), 400.0)
    idm = InverseDynamics(11, 3, hidden=(16,))
    idm.fit_normalizers(ds.observations, ds.actions)
    return ds, wm.eval(), idm.eval()


def test_transitions_are_complete_and_cut_at_the_first_done(parts):
    ds, wm, idm = parts
    # the generated step 0 (DAWM as published), so every step's s' is the model's and steps chain
    syn = synth(wm, idm, ds, 64, target_rtg="q0.5", horizon=6, seed=0, show_progress=False, first_step="generated")
    hs, start = syn.infos["horizon_step"], syn.infos["start_index"]
    first = hs == 0
    assert first.sum() == 64 == syn.n_episodes
    # step 0 is the real pair: its state and action are the dataset's, exactly
    np.testing.assert_array_equal(syn.observations[first], ds.observations[start[first]])
    np.testing.assert_array_equal(syn.actions[first], ds.actions[start[first]])
    # later actions come from the IDM on the generated pairs, inside the data's action range
    later = ~first
    np.testing.assert_allclose(syn.actions[later], idm.predict(syn.observations[later], syn.next_observations[later]),
                               atol=1e-5)
    assert (syn.actions[later] >= ds.actions.min(0) - 1e-6).all()
    assert (syn.actions[later] <= ds.actions.max(0) + 1e-6).all()
    # consecutive steps chain: s_{k+1} of one row is s of the next row within a rollout
    same = (np.diff(start) == 0)
    np.testing.assert_array_equal(syn.next_observations[:-1][same], syn.observations[1:][same])
    # done = hopper's declared rule on s'; every rollout ends at its first done or times out at step 5
    done = get_env_spec("hopper").termination(syn.next_observations)
    np.testing.assert_array_equal(syn.terminals, done)
    for sl in syn.episode_slices():
        assert not done[sl][:-1].any()  # nothing kept after a done
        assert done[sl][-1] or (hs[sl][-1] == 5 and syn.timeouts[sl][-1])
        np.testing.assert_array_equal(hs[sl], np.arange(sl.stop - sl.start))
    meta = syn.metadata
    assert meta["synthetic"] is True and meta["env_id"] == "Hopper-v5" and meta["horizon"] == 6
    assert meta["ref_max_score"] == pytest.approx(3234.3) and meta["termination"] == "rule:hopper"
    buf = Transitions.from_dataset(syn)  # the in-memory buffer agents train on
    assert len(buf) == len(syn) and buf.dones.sum() == syn.terminals.sum()


def test_custom_termination_and_unknown_env(parts):
    ds, wm, idm = parts
    generated = functools.partial(synth, first_step="generated")  # step 0's done too is the rule's

    def rule(s):  # done for ~10% of states, by their digits: independent of what the untrained model favours
        return np.floor(np.abs(s[:, 3]) * 1e5) % 10 == 0

    syn = generated(wm, idm, ds, 64, horizon=7, termination=rule, show_progress=False)
    assert 0 < syn.terminals.sum() < 64  # both endings occur
    for sl in syn.episode_slices():
        above = rule(syn.next_observations[sl])
        assert not above[:-1].any() and (above[-1] == syn.terminals[sl.stop - 1])
        assert above[-1] or sl.stop - sl.start == 7
    syn = generated(wm, idm, ds, 32, horizon=7, termination=lambda s: np.zeros(len(s), bool), show_progress=False)
    assert len(syn) == 32 * 7 and syn.terminals.sum() == 0 and syn.timeouts.sum() == 32
    syn = generated(wm, idm, ds, 32, horizon=7, termination=lambda s: np.ones(len(s), bool), show_progress=False)
    assert len(syn) == 32 and syn.terminals.all()  # done at step 0: the rest is discarded
    syn = generated(wm, idm, ds, 16, horizon=1, termination=lambda s: np.zeros(len(s), bool), show_progress=False)
    assert len(syn) == 16 and syn.timeouts.all() and (syn.infos["horizon_step"] == 0).all()
    unknown = make_random_dataset(n_episodes=2, ep_len=20, obs_dim=11, act_dim=3, env_id="Mystery-v0")
    with pytest.raises(DawmError, match="no declared termination rule"):
        generated(wm, idm, unknown, 8, show_progress=False)
    with pytest.raises(DawmError, match="horizon"):
        generated(wm, idm, ds, 8, horizon=8, show_progress=False)


def test_one_termination_rule_for_synthesis_and_dwm():
    """A learned classifier (asked for with --termination learned) wins over the env's rule; without one, the rule;
    neither: one line. Synthesis and DWM's value expansion both resolve through here."""
    from dawm.utils.env_specs import get_env_spec
    from dawm.world_model.synthesis import resolve_termination

    learned = lambda s: np.ones(len(s), bool)  # noqa: E731
    assert resolve_termination(learned, "Hopper-v5") == (learned, "learned")
    fn, name = resolve_termination(None, "Hopper-v5")
    assert fn is get_env_spec("Hopper-v5").termination and name.startswith("rule:")
    with pytest.raises(DawmError, match="no declared termination rule"):
        resolve_termination(None, "Mystery-v0")
    # DWM's stage resolves its done rule the same way: a learned classifier wins, else the env's rule
    from dawm import stages

    class FakeStage:
        inputs = type("I", (), {"dataset": type("D", (), {"env_id": "Hopper-v5"})()})()

        def __init__(self, learned):
            self.learned = learned

        def models(self):
            return object(), None, self.learned

    seen = []
    real_mve = stages.DiffusionMVE
    stages.DiffusionMVE = lambda wm, horizon, termination: seen.append(termination) or "target"
    try:
        classifier = type("C", (), {"predict": staticmethod(learned)})()
        for stage in (FakeStage(classifier), FakeStage(None)):
            stages.DWMStage(stage, 3, 10, 5).build()
    finally:
        stages.DiffusionMVE = real_mve
    assert seen == [learned, get_env_spec("Hopper-v5").termination]


def test_target_rtg_forms(parts):
    ds = parts[0]
    rtg = returns_to_go(ds, 0.99)
    assert resolve_target_rtg("q0.5", ds) == pytest.approx(np.quantile(rtg, 0.5))
    assert resolve_target_rtg("g0.8", ds, rtg_scale=400.0) == pytest.approx(320.0)
    assert resolve_target_rtg(123.5, ds) == 123.5
    for bad in ("high", "q1.5"):
        with pytest.raises(DawmError, match="target-rtg"):
            resolve_target_rtg(bad, ds)


def test_cli_synthesize_exports_and_round_trips(parts, tmp_path):
    ds, wm, idm = parts
    run = tmp_path / "run"
    wm.save(run / "world_model.pt", {"gamma": 0.99, "val_episode_ids": [1]})
    idm.save(run / "idm.pt")
    data = write_dataset(ds, tmp_path / "data.hdf5")
    out = tmp_path / "syn.hdf5"
    args = ["synthesize", "--world-model", str(run), "--dataset", str(data), "--out", str(out), "--n-starts", "40",
            "--sampler", "dpm", "--sampling-steps", "2", "--guidance", "1.5", "--target-rtg", "g0.5", "--starts", "val",
            "--ensemble-members", "2", "--ensemble-steps", "20"]
    assert main(args) == 0
    back = read_d4rl(out)
    assert back.metadata["sampler"] == "dpm" and back.metadata["guidance"] == 1.5 and back.metadata["synthetic"]
    assert back.metadata["target_rtg"] == pytest.approx(200.0)
    assert (ds.episode_ids()[back.infos["start_index"]] == 1).all()  # starts from held-out episode 1 only
    np.testing.assert_array_equal(back.infos["horizon_step"], np.asarray(back.infos["horizon_step"]).astype(int))
    np.testing.assert_array_equal(back.observations, read_d4rl(out).observations)
    assert len(back) >= 40 and back.next_observations is not None
    assert main(args) == 2  # refuses to overwrite without --overwrite
    assert not list(tmp_path.glob(".syn.hdf5*"))  # no temp files left behind
