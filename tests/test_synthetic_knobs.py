"""The synthetic-data knobs and measures: per-start return-to-go, step 0, the oracle diagnostic,
termination error rates and spread on hand-made cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_random_dataset, synth

from dawm.data.dataset import Dataset
from dawm.data.segments import returns_to_go
from dawm.envs.simulator import simulate_transitions
from dawm.utils.errors import DawmError
from dawm.world_model.fidelity import compare, novelty_report, spread_report
from dawm.world_model.labels import oracle_labels
from dawm.world_model.synthesis import resolve_target_rtg, start_weights
from test_world_model_synthesis import parts  # noqa: F401  (the untrained world model fixture)


def test_own_return_to_go_reaches_the_model_per_start(parts, monkeypatch):  # noqa: F811
    ds, wm, idm = parts
    seen = []
    real_sample = wm.sample

    def spy(state, action, rtg, *args, **kw):
        seen.append(rtg.clone())
        return real_sample(state, action, rtg, *args, **kw)

    monkeypatch.setattr(wm, "sample", spy)
    syn = synth(wm, idm, ds, 50, target_rtg="own", horizon=3, seed=1, batch_size=16, show_progress=False)
    starts = syn.infos["start_index"][syn.infos["horizon_step"] == 0]
    own = returns_to_go(ds, 0.99)[np.sort(starts)]
    np.testing.assert_allclose(torch.cat(seen).numpy(), own.astype(np.float32), rtol=1e-6)
    seen.clear()
    synth(wm, idm, ds, 50, target_rtg="own+0.5", horizon=3, seed=1, batch_size=16, show_progress=False)
    np.testing.assert_allclose(torch.cat(seen).numpy(), (own + 0.5 * 400.0).astype(np.float32), rtol=1e-6)
    seen.clear()  # return amplification per start: each start asks for 1.3 times its own future
    synth(wm, idm, ds, 50, target_rtg="own*1.3", horizon=3, seed=1, batch_size=16, show_progress=False)
    amplified = np.where(own >= 0, own * 1.3, own * 0.7)  # 30% more either way
    np.testing.assert_allclose(torch.cat(seen).numpy(), amplified.astype(np.float32), rtol=1e-6)
    assert len(set(np.round(own, 3))) > 10  # really one condition per start, not one for all


def test_anchor_reaches_the_network_and_comes_back_exactly(parts):  # noqa: F811
    ds, wm, _ = parts
    s, a = torch.as_tensor(ds.observations[:6]), torch.as_tensor(ds.actions[:6])
    nxt, r = torch.as_tensor(ds.observations[1:7]), torch.as_tensor(ds.rewards[:6])

    def sample(anchor):
        return wm.sample(s, a, torch.full((6,), 100.0), generator=torch.Generator().manual_seed(0), anchor=anchor)

    states, rewards = sample((nxt, r))
    torch.testing.assert_close(states[:, 1], nxt, rtol=0, atol=0)
    torch.testing.assert_close(rewards[:, 0], r, rtol=0, atol=0)
    other, _ = sample((nxt + 0.5, r))  # another s_{t+1}, same noise: the later rows follow it
    assert not torch.equal(states[:, 2:], other[:, 2:])
    plain, _ = wm.sample(s, a, torch.full((6,), 100.0), generator=torch.Generator().manual_seed(0))
    unanchored, _ = sample(None)
    torch.testing.assert_close(plain, unanchored, rtol=0, atol=0)  # no anchor: the sampler as before


def test_target_rtg_forms():
    ds = make_random_dataset()
    g = returns_to_go(ds, 0.99)
    assert resolve_target_rtg("q0.5", ds) == pytest.approx(np.quantile(g, 0.5))
    assert resolve_target_rtg("g0.8", ds, rtg_scale=400.0) == pytest.approx(320.0)
    np.testing.assert_allclose(resolve_target_rtg("own", ds, starts=np.array([0, 5])), g[[0, 5]])
    with pytest.raises(DawmError, match="needs the start pairs"):
        resolve_target_rtg("own", ds)
    signed = dataclasses.replace(ds, rewards=ds.rewards - 1.0)  # rewards of mean 0: returns of both signs
    g = returns_to_go(signed, 0.99)
    rows = np.array([np.argmax(g), np.argmin(g)])
    assert g[rows[0]] > 0 > g[rows[1]]
    np.testing.assert_allclose(resolve_target_rtg("own*1.5", signed, starts=rows), g[rows] + 0.5 * np.abs(g[rows]))
    for bad in ("own+x", "own*", "own*x"):
        with pytest.raises(DawmError, match="own\\*1.3"):
            resolve_target_rtg(bad, ds, starts=np.array([0]))


def test_first_step_real_and_drop(parts):  # noqa: F811
    ds, wm, idm = parts
    kw = dict(target_rtg="q0.5", horizon=4, seed=2, show_progress=False)
    real = synth(wm, idm, ds, 40, first_step="real", **kw)
    step0 = real.infos["horizon_step"] == 0
    start = real.infos["start_index"][step0]
    nxt, _ = ds.successors()
    np.testing.assert_array_equal(real.rewards[step0], ds.rewards[start])
    np.testing.assert_array_equal(real.next_observations[step0], nxt[start])
    gen = synth(wm, idm, ds, 40, first_step="generated", **kw)
    later = gen.infos["horizon_step"] > 0
    assert not np.array_equal(gen.rewards[gen.infos["horizon_step"] == 0], ds.rewards[start])
    # anchored: step 0 as 'real', and the generated steps continue from the real s_{t+1}: the rollout chains
    anchored = synth(wm, idm, ds, 40, first_step="anchored", **kw)
    step0, hs = anchored.infos["horizon_step"] == 0, anchored.infos["horizon_step"]
    start = anchored.infos["start_index"]
    np.testing.assert_array_equal(anchored.next_observations[step0], nxt[start[step0]])
    np.testing.assert_array_equal(anchored.rewards[step0], ds.rewards[start[step0]])
    step1 = np.flatnonzero(hs == 1)
    np.testing.assert_array_equal(anchored.observations[step1], nxt[start[step1]])
    assert not np.array_equal(real.observations[real.infos["horizon_step"] == 1], nxt[real.infos["start_index"][
        real.infos["horizon_step"] == 1]])  # 'real' does not chain: step 1 starts from the model's s_{t+1}
    dropped = synth(wm, idm, ds, 40, first_step="drop", **kw)
    assert (dropped.infos["horizon_step"] > 0).all() and len(dropped) == later.sum()
    with pytest.raises(DawmError, match="first-step"):
        synth(wm, idm, ds, 4, first_step="both", **kw)


def test_return_weighting_draws_starts_by_their_episode_return_rank(parts):  # noqa: F811
    ds = make_random_dataset(n_episodes=4, ep_len=5)
    ds.rewards[:] = np.repeat([3.0, 1.0, 3.0, 2.0], 5)  # episode returns 15, 5, 15, 10: a tie at the top
    assert start_weights(ds, "uniform") is None
    np.testing.assert_allclose(start_weights(ds, "return"), np.repeat([3.5, 1.0, 3.5, 2.0], 5) / 4)
    with pytest.raises(DawmError, match="start-weighting"):
        start_weights(ds, "best")
    ds, wm, idm = parts
    kw = dict(target_rtg="own", horizon=1, seed=3, show_progress=False)
    ranks = start_weights(ds, "return")
    drawn = {how: synth(wm, idm, ds, 2000, start_weighting=how, **kw).infos["start_index"]
             for how in ("uniform", "return")}
    # uniform starts sit at the mean rank; return-weighted ones at E[rank^2] / E[rank], the rank-weighted mean
    assert abs(ranks[drawn["uniform"]].mean() - ranks.mean()) < 0.03
    assert abs(ranks[drawn["return"]].mean() - (ranks ** 2).mean() / ranks.mean()) < 0.03
    assert ranks[drawn["return"]].mean() > ranks[drawn["uniform"]].mean() + 0.05


def test_oracle_matches_the_simulator_on_a_toy_batch():
    rng = np.random.default_rng(0)
    n = 12
    obs = np.zeros((n, 11), np.float32)
    obs[:, 0] = 1.25 + 0.01 * rng.normal(size=n)  # upright hopper heights
    obs[:, 5:] = 0.1 * rng.normal(size=(n, 6))
    obs[-1, 0] = 0.3  # fallen: the simulator terminates it
    act = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    syn = Dataset(obs, act, np.full(n, 99.0), np.zeros(n, bool), np.arange(n) % 4 == 3, obs + 1.0,
                  metadata={"env_id": "Hopper-v5", "name": "syn"}, infos={"horizon_step": np.arange(n) % 4})
    oracle = oracle_labels(syn)
    true_next, true_rew, true_done = simulate_transitions("Hopper-v5", obs, act)
    np.testing.assert_allclose(oracle.next_observations, true_next, atol=1e-6)
    np.testing.assert_allclose(oracle.rewards, true_rew, atol=1e-6)
    np.testing.assert_array_equal(oracle.terminals, true_done)
    assert oracle.terminals[-1] and oracle.n_episodes == n  # each row its own transition
    np.testing.assert_array_equal(oracle.observations, obs)  # the (s, a) are the synthetic ones
    np.testing.assert_array_equal(oracle.infos["horizon_step"], syn.infos["horizon_step"])
    assert oracle.metadata["oracle"] is True


def test_one_labels_knob_with_the_oracle_and_a_rename_line(monkeypatch, capsys, tmp_path):
    """labels = 'oracle' answers the generated pairs with the simulator's (r, s', done) through the same call as
    the other labels; the old `oracle` option fails in one line naming the new spelling, as a flag and in a file."""
    from dawm.cli import main
    from dawm.world_model import synthesis
    from dawm.world_model.synthesis import SynthesisConfig, synthesize_with

    rng = np.random.default_rng(1)
    obs = np.zeros((6, 11), np.float32)
    obs[:, 0] = 1.25
    act = rng.uniform(-1, 1, (6, 3)).astype(np.float32)
    syn = Dataset(obs, act, np.zeros(6), np.zeros(6, bool), np.arange(6) % 3 == 2, obs + 1.0,
                  metadata={"env_id": "Hopper-v5", "name": "syn"}, infos={"horizon_step": np.arange(6) % 3})
    monkeypatch.setattr(synthesis, "synthesize", lambda *a, **k: syn)
    out = synthesize_with(SynthesisConfig(ensemble_termination=False, labels="oracle"), None, None, None, syn, 0)
    np.testing.assert_allclose(out.next_observations, simulate_transitions("Hopper-v5", obs, act)[0], atol=1e-6)
    assert main(["run", "--synthesis.oracle"]) == 2
    assert "--synthesis.oracle was renamed --synthesis.labels oracle" in capsys.readouterr().err
    (tmp_path / "old.yaml").write_text("synthesis:\n  oracle: true\n")
    assert main(["run", "--config", str(tmp_path / "old.yaml")]) == 2
    assert "option 'oracle' was renamed 'labels oracle'" in capsys.readouterr().err


def test_termination_rates_on_a_hand_made_case():
    true_done = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    pred_done = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], bool)  # 3 of 4 ends missed, 1 of 6 false ends
    z = np.zeros((10, 2))
    out = compare(z, np.zeros(10), pred_done, z, np.zeros(10), true_done, np.ones(2), 1.0)
    assert out["term_false_negative_rate"] == pytest.approx(0.75)
    assert out["term_false_positive_rate"] == pytest.approx(1 / 6)
    assert out["term_accuracy"] == pytest.approx(0.6) and out["sim_terminations"] == 4


def test_spread_on_a_hand_made_case():
    rng = np.random.default_rng(0)
    n = 4000
    src = Dataset(rng.normal(size=(n, 2)), rng.normal(size=(n, 1)), np.zeros(n), np.zeros(n, bool),
                  np.arange(n) % 100 == 99, rng.normal(size=(n, 2)) * 2.0)
    # synthetic: the same states, actions at half the spread, state changes at the data's spread
    syn = Dataset(src.observations, 0.5 * src.actions, np.zeros(n), np.zeros(n, bool), np.arange(n) % 4 == 3,
                  src.next_observations, infos={"horizon_step": np.arange(n) % 4})
    out = spread_report(syn, syn.next_observations, np.ones(n, bool), src)
    assert out["all"]["action_spread"] == pytest.approx(0.5, rel=1e-3)
    assert out["all"]["state_change_spread"] == pytest.approx(1.0, rel=1e-3)
    assert set(out["by_horizon"]) == {"0", "1", "2", "3"}
    assert out["by_horizon"]["2"]["action_spread"] == pytest.approx(0.5, rel=0.1)


def test_novelty_on_a_hand_made_case():
    """Copies of the data score 0, fresh draws from the data's distribution about 1 (a held-out real
    episode's distance), pairs far off the data's support well above 1."""
    rng = np.random.default_rng(0)
    n, ep = 6000, 50
    src = Dataset(rng.normal(size=(n, 3)), rng.normal(size=(n, 1)), np.zeros(n), np.zeros(n, bool),
                  np.arange(n) % ep == ep - 1)
    copies = src.observations[:1500], src.actions[:1500]
    fresh = rng.normal(size=(1500, 3)), rng.normal(size=(1500, 1))
    far = rng.normal(size=(1500, 3)) + 4.0, rng.normal(size=(1500, 1))
    obs, act = (np.concatenate(x) for x in zip(copies, fresh, far))
    start = np.concatenate([np.arange(1500), np.full(3000, -1)])  # the copies name their rows; the rest none
    syn = Dataset(obs, act, np.zeros(4500), np.zeros(4500, bool), np.arange(4500) % 3 == 2,
                  infos={"horizon_step": np.repeat([0, 1, 2], 1500), "start_index": start})
    out = novelty_report(syn, src, np.random.default_rng(1), n_samples=1000)
    assert out["holdout_episodes"] == 12 and out["heldout_real_median_distance"] > 0
    by = {k: v["novelty"] for k, v in out["by_horizon"].items()}
    # copies of held-out episodes are left out (their rows are not in the tree): every copy left is at 0
    assert 0 < out["left_out_rows"] < 1500 and out["by_horizon"]["0"]["n"] == 1500 - out["left_out_rows"]
    assert by["0"] == 0.0
    assert 0.8 < by["1"] < 1.25, by
    assert by["2"] > 3.0, by
    assert out["all"]["n"] == 4500 - out["left_out_rows"]


class _FakeEnsemble:
    """Members predict s' = s + a (agreeing) except on rows flagged by s[1] > 5 (disagreeing)."""

    class config:
        members = 3

    def predict(self, obs, act, member="mean"):
        nxt = obs + np.pad(act, ((0, 0), (0, obs.shape[1] - act.shape[1])))
        nxt = nxt + (obs[:, 1:2] > 5) * (member - 1) * 10.0
        return nxt.astype(np.float32), np.zeros(len(obs), np.float32)


def test_guard_ends_rollouts_the_ensemble_sees_fall_and_drops_disagreement():
    from dawm.world_model.guards import guard

    # two rollouts of 4 steps; state [height, flag]; the rule: done when height < 0.5
    obs = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [1, 0], [1, 0], [1, 9], [1, 0]], np.float32)
    act = np.array([[0], [-0.8], [0], [0], [0], [0], [0], [0]], np.float32)  # rollout 0 step 1 falls
    syn = Dataset(obs, act, np.ones(8), np.zeros(8, bool), np.array([0, 0, 0, 1, 0, 0, 0, 1], bool), obs,
                  infos={"horizon_step": np.tile(np.arange(4), 2)}, metadata={"env_id": "x"})
    rng = np.random.default_rng(0)
    src = Dataset(rng.normal(1, 0.1, (200, 2)), rng.normal(0, 0.1, (200, 1)), np.zeros(200), np.zeros(200, bool),
                  np.arange(200) % 50 == 49, rng.normal(1, 0.1, (200, 2)))
    rule = lambda s: s[:, 0] < 0.5  # noqa: E731
    out = guard(syn, _FakeEnsemble(), src, rule, ensemble_termination=True, disagreement_quantile=0.99)
    np.testing.assert_array_equal(out.infos["horizon_step"], [0, 1, 0, 1])  # each rollout cut
    np.testing.assert_array_equal(out.terminals, [False, True, False, False])  # the fall is an end
    np.testing.assert_array_equal(out.timeouts, [False, False, False, True])  # the dropped step: a cut
    assert out.metadata["guard"]["kept"] == 4 and out.n_episodes == 2
    assert guard(syn, _FakeEnsemble(), src, rule) is syn  # both checks off: unchanged


def test_consistency_guard_drops_steps_whose_next_state_the_ensemble_does_not_reach():
    from dawm.world_model.guards import guard

    # two rollouts of 4 steps; the fake ensemble's s' = s + a (padded); rollout 1's step 1 jumps by 3
    obs = np.ones((8, 2), np.float32)
    act = np.zeros((8, 1), np.float32)
    nxt = obs.copy()
    nxt[5, 0] += 3.0
    syn = Dataset(obs, act, np.ones(8), np.zeros(8, bool), np.array([0, 0, 0, 1, 0, 0, 0, 1], bool), nxt,
                  infos={"horizon_step": np.tile(np.arange(4), 2)}, metadata={"env_id": "x"})
    rng = np.random.default_rng(0)
    real_obs = rng.normal(1, 0.1, (200, 2))
    src = Dataset(real_obs, np.zeros((200, 1)), np.zeros(200), np.zeros(200, bool), np.arange(200) % 50 == 49,
                  real_obs + rng.normal(0, 0.01, (200, 2)))
    out = guard(syn, _FakeEnsemble(), src, lambda s: np.zeros(len(s), bool), consistency_quantile=0.99)
    np.testing.assert_array_equal(out.infos["horizon_step"], [0, 1, 2, 3, 0])  # rollout 1 cut at its step 1
    np.testing.assert_array_equal(out.timeouts, [False, False, False, True, True])
    g = out.metadata["guard"]
    assert g["kept"] == 5 and 0.0 < g["consistency_threshold"] < 3.0 / 0.1 / 2
    # the same jump on a terminal step is kept: s' does not enter the TD target there
    terminal = Dataset(obs[:6], act[:6], np.ones(6), np.arange(6) == 5, np.array([0, 0, 0, 1, 0, 0], bool), nxt[:6],
                       infos={"horizon_step": np.r_[0:4, 0:2]}, metadata={"env_id": "x"})
    out = guard(terminal, _FakeEnsemble(), src, lambda s: np.zeros(len(s), bool), consistency_quantile=0.99)
    np.testing.assert_array_equal(out.infos["horizon_step"], [0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(out.terminals, [False, False, False, False, False, True])
    # a real step 0 (first_step='real') is the data's: neither dropped nor made terminal by the ensemble
    jump0 = obs.copy()
    jump0[4, 0] += 3.0  # rollout 1's step 0 jumps
    real0 = Dataset(obs, act, np.ones(8), np.zeros(8, bool), np.array([0, 0, 0, 1, 0, 0, 0, 1], bool), jump0,
                    infos={"horizon_step": np.tile(np.arange(4), 2)}, metadata={"env_id": "x"})
    never = lambda s: np.zeros(len(s), bool)  # noqa: E731
    for real_first_step, kept in ((False, [0, 1, 2, 3]), (True, [0, 1, 2, 3, 0, 1, 2, 3])):
        out = guard(real0, _FakeEnsemble(), src, never, consistency_quantile=0.99, real_first_step=real_first_step)
        np.testing.assert_array_equal(out.infos["horizon_step"], kept)
    everything_falls = lambda s: np.ones(len(s), bool)  # noqa: E731
    out = guard(real0, _FakeEnsemble(), src, everything_falls, ensemble_termination=True, real_first_step=True)
    np.testing.assert_array_equal(out.infos["horizon_step"], [0, 1, 0, 1])  # step 1 ends each rollout, step 0 is real
    np.testing.assert_array_equal(out.terminals, [False, True, False, True])


def test_ensemble_labels_answer_every_generated_step(monkeypatch):
    """labels='ensemble': each generated step's (r, s', done) is the ensemble's mean answer and the env's rule on
    it, every row its own episode; a real step 0 keeps the data's answer; synthesize_with asks for the ensemble."""
    from dawm.world_model.labels import ensemble_labels
    from dawm.world_model import synthesis
    from dawm.world_model.synthesis import SynthesisConfig, guarded, synthesize_with

    class Ensemble:  # s' = s + 1 (so s' > 2.5 "falls" below), r = 2 s[0]
        def predict(self, obs, act, member="mean"):
            assert member == "mean"
            return obs + 1.0, 2.0 * obs[:, 0]

    obs = np.array([[0.0, 0], [1.0, 0], [2.0, 0], [0.5, 0], [1.5, 0], [3.0, 0]], np.float32)
    syn = Dataset(obs, np.zeros((6, 1), np.float32), np.full(6, 9.0), np.zeros(6, bool),
                  np.array([0, 0, 1, 0, 0, 1], bool), np.full((6, 2), 7.0, np.float32),
                  infos={"horizon_step": np.tile(np.arange(3), 2)}, metadata={"env_id": "x"})
    rule = lambda s: s[:, 0] > 2.5  # noqa: E731
    out = ensemble_labels(syn, Ensemble(), rule)
    np.testing.assert_allclose(out.next_observations, obs + 1.0)
    np.testing.assert_allclose(out.rewards, 2.0 * obs[:, 0])
    np.testing.assert_array_equal(out.terminals, [False, False, True, False, False, True])
    np.testing.assert_array_equal(out.timeouts, ~out.terminals)  # each row an episode of its own
    np.testing.assert_array_equal(out.infos["horizon_step"], syn.infos["horizon_step"])
    real = ensemble_labels(syn, Ensemble(), rule, real_first_step=True)
    for row in (0, 3):  # step 0 is the data's transition: its answer is kept
        np.testing.assert_allclose(real.next_observations[row], [7.0, 7.0])
        assert real.rewards[row] == 9.0 and not real.terminals[row]
    np.testing.assert_allclose(real.rewards[[1, 2, 4, 5]], 2.0 * obs[[1, 2, 4, 5], 0])
    assert guarded(SynthesisConfig(ensemble_termination=False, labels="ensemble"))
    assert not guarded(SynthesisConfig(ensemble_termination=False))
    monkeypatch.setattr(synthesis, "synthesize", lambda *a, **k: syn)
    cfg = SynthesisConfig(ensemble_termination=False, first_step="generated", labels="ensemble")
    with pytest.raises(DawmError, match="need a one-step ensemble"):
        synthesize_with(cfg, None, None, None, None, 0)

    class Term:  # a learned termination classifier, so that the toy env needs no declared rule
        predict = staticmethod(rule)

    out = synthesize_with(cfg, None, None, Term(), syn, 0, ensemble=Ensemble())  # the knob reaches the relabelling
    np.testing.assert_allclose(out.rewards, 2.0 * obs[:, 0])
    np.testing.assert_array_equal(out.terminals, [False, False, True, False, False, True])


def test_return_filter_knob_reaches_the_filter_with_the_models_discount(monkeypatch):
    """synthesize_with(return_filter=True) hands the guarded set to the filter with the world model's gamma and
    the real step 0 flag, and returns what it keeps; off, the filter is not called."""
    from dawm.world_model import guards, synthesis
    from dawm.world_model.synthesis import SynthesisConfig, synthesize_with

    syn = Dataset(np.zeros((3, 1), np.float32), np.zeros((3, 1), np.float32), np.ones(3), np.zeros(3, bool),
                  np.array([0, 0, 1], bool), np.zeros((3, 1), np.float32), metadata={"env_id": "Hopper-v5"},
                  infos={"horizon_step": np.arange(3), "start_index": np.zeros(3, np.int64)})
    source = dataclasses.replace(syn, metadata={"env_id": "Hopper-v5", "name": "real"})
    kept, calls = dataclasses.replace(syn, metadata={"env_id": "Hopper-v5", "name": "kept"}), []

    def spy(synthetic, ensemble, source, gamma=0.99, *, real_first_step=False):
        calls.append((synthetic, source, gamma, real_first_step))
        return kept

    monkeypatch.setattr(synthesis, "synthesize", lambda *a, **k: syn)
    monkeypatch.setattr(guards, "guard", lambda synthetic, *a, **k: synthetic)
    monkeypatch.setattr(guards, "return_filter", spy)
    wm = type("WM", (), {"metadata": {"gamma": 0.9}})()
    cfg = SynthesisConfig(ensemble_termination=False, return_filter=True)  # first_step: real (the default)
    assert synthesize_with(cfg, wm, None, None, source, 0, ensemble=object()) is kept
    assert len(calls) == 1 and calls[0][0] is syn and calls[0][1] is source and calls[0][2:] == (0.9, True)
    calls.clear()
    synthesize_with(SynthesisConfig(ensemble_termination=False), wm, None, None, source, 0, ensemble=object())
    assert calls == []


def test_guard_quantiles_are_checked():
    from dawm.world_model.synthesis import SynthesisConfig, synthesize_with

    with pytest.raises(DawmError, match="--consistency-quantile 1.5: expected a quantile"):
        synthesize_with(SynthesisConfig(consistency_quantile=1.5), None, None, None, None, 0)
    with pytest.raises(DawmError, match="--ensemble-steps 0: must be at least 1"):
        SynthesisConfig(ensemble_steps=0).check()


def test_defaults_are_the_studied_settings_and_published_is_one_flag_set_away(tmp_path, monkeypatch):
    """Issue #12's `combined` is the default; DAWM as published is PUBLISHED_SYNTHESIS, all real fields; the
    guards' ensemble is trained at the configured size."""
    import dataclasses

    from dawm.world_model import dynamics_ensemble, synthesis

    cfg = synthesis.SynthesisConfig(ensemble_members=2, ensemble_steps=7, seed=3)
    assert (cfg.target_rtg, cfg.first_step, cfg.ensemble_termination) == ("own", "real", True)
    published = dataclasses.replace(cfg, **synthesis.PUBLISHED_SYNTHESIS)
    assert (published.target_rtg, published.first_step, published.ensemble_termination) == ("q0.9", "generated", False)
    assert synthesis.guard_ensemble(published, None, tmp_path) is None  # no guard on: no ensemble trained
    seen = {}
    monkeypatch.setattr(synthesis, "reference_ensemble", lambda ds, d, c: seen.update(config=c, dir=d) or ("e", {}))
    data = make_random_dataset(n_episodes=2, ep_len=10)
    assert synthesis.guard_ensemble(cfg, data, tmp_path) == "e"
    assert (seen["config"].members, seen["config"].max_steps, seen["config"].seed) == (2, 7, 3)
    assert seen["dir"] == dynamics_ensemble.ensemble_dir(tmp_path, data, cfg, 3)  # the one directory rule
    assert seen["config"].device == cfg.device  # trained where the synthesis runs (a GPU when there is one)


def test_partial_noising_starts_from_the_noised_real_window(parts, monkeypatch):  # noqa: F811
    """noise_level < 1: the sampler's first x is sqrt(ab_k0) * the encoded real window + sqrt(1 - ab_k0) * the
    same noise draw as pure-noise sampling, at the start level k0 of `partial_levels`; 1 leaves x pure noise."""
    from dawm.world_model import diffusion
    from dawm.world_model.samplers import partial_levels

    ds, wm, _ = parts
    seen = {}
    real_run = diffusion.run_sampler

    def spy(name, predict, x, alpha_bar, levels, **options):
        seen.update(x=x.clone(), levels=list(levels))
        return real_run(name, predict, x, alpha_bar, levels, **options)

    monkeypatch.setattr(diffusion, "run_sampler", spy)
    s, a = torch.as_tensor(ds.observations[:4]), torch.as_tensor(ds.actions[:4])
    window = torch.as_tensor(ds.observations[:4 * wm.window]).reshape(4, wm.window, -1)
    rewards = torch.as_tensor(ds.rewards[:4 * wm.window]).reshape(4, wm.window)
    rtg = torch.full((4,), 100.0)
    wm.sample(s, a, rtg, sampling_steps=3, generator=torch.Generator().manual_seed(0))
    noise, full = seen["x"], seen["levels"]
    assert full == partial_levels(wm.n_diffusion_steps, 3, 1.0)
    inputs, net_forward = [], wm.net.forward

    def net_spy(inp, emb):  # what the network sees at each level: s_t in-painted from the first step on
        inputs.append(inp[:, 0, : wm.obs_dim].clone())
        return net_forward(inp, emb)

    monkeypatch.setattr(wm.net, "forward", net_spy)
    states, _ = wm.sample(s, a, rtg, sampling_steps=3, generator=torch.Generator().manual_seed(0),
                          init=(window, rewards), noise_level=0.5)
    assert len(inputs) == len(partial_levels(wm.n_diffusion_steps, 3, 0.5))
    for seen_s in inputs:
        torch.testing.assert_close(seen_s, wm.state_norm.normalize(s).repeat(len(seen_s) // len(s), 1))
    k0 = round(0.5 * (wm.n_diffusion_steps - 1))
    assert seen["levels"][0] == k0 and seen["levels"] == partial_levels(wm.n_diffusion_steps, 3, 0.5)
    ab = wm.alpha_bar[k0]
    torch.testing.assert_close(seen["x"], ab.sqrt() * wm.encode(window, rewards) + (1 - ab).sqrt() * noise)
    torch.testing.assert_close(states[:, 0], s, rtol=0, atol=0)  # s_t in-painted as always
    with pytest.raises(ValueError, match="init"):
        wm.sample(s, a, rtg, noise_level=0.5)


def test_partial_noising_in_synthesis_uses_training_windows(parts):  # noqa: F811
    """synthesize(noise_level < 1) draws starts only where a training window may start and says so in its
    metadata; the level is checked in the config."""
    from dawm.data.segments import segment_starts
    from dawm.world_model.synthesis import SynthesisConfig

    ds, wm, idm = parts
    syn = synth(wm, idm, ds, 40, horizon=3, seed=2, batch_size=16, show_progress=False, noise_level=0.5)
    starts = np.unique(syn.infos["start_index"])
    assert np.isin(starts, segment_starts(ds, wm.window)).all() and syn.metadata["noise_level"] == 0.5
    with pytest.raises(DawmError, match="--noise-level 0.0"):
        SynthesisConfig(noise_level=0.0).check()


def test_return_filter_keeps_the_prefixes_that_beat_the_real_segment():
    """Hand-made: two real episodes with reward 1 per step; three rollouts judged by an ensemble whose reward is
    s[0]. A rollout above the real return is kept whole, one that falls behind after two steps keeps its
    two-step prefix (ending in a timeout), one that never beats it is dropped; past a real episode's end the
    real segment earns nothing."""
    from dawm.world_model.guards import return_filter

    class Ensemble:
        def predict(self, obs, act, member="mean"):
            return obs, obs[:, 0].astype(np.float64)

    source = Dataset(np.zeros((8, 1), np.float32), np.zeros((8, 1), np.float32), np.ones(8, np.float32),
                     np.array([0, 0, 1, 0, 0, 0, 0, 0], bool), np.array([0] * 7 + [1], bool))
    # rollouts of 3 steps from starts 0 (episode of 3 steps, then terminal), 3 and 4 (episode 3..7)
    r = np.array([2.0, 2, 2, 1.5, 1.5, 0, 0.5, 0.5, 0.5], np.float32)
    syn = Dataset(r[:, None], np.zeros((9, 1), np.float32), r, np.zeros(9, bool),
                  np.array([0, 0, 1] * 3, bool), r[:, None],
                  infos={"horizon_step": np.tile(np.arange(3), 3), "start_index": np.repeat([0, 3, 4], 3)})
    out = return_filter(syn, Ensemble(), source, gamma=1.0)
    np.testing.assert_array_equal(out.observations[:, 0], [2, 2, 2, 1.5, 1.5])  # whole, then a 2-step prefix
    np.testing.assert_array_equal(out.timeouts, [0, 0, 1, 0, 1])
    assert out.metadata["return_filter"]["rollouts_kept"] == 2 and out.metadata["return_filter"]["of"] == 9
    # a start whose real episode ends after one step: the real segment earns 1, the rollout 0.5 + 0.5 + 0.5
    late = Dataset(syn.observations[6:], syn.actions[6:], syn.rewards[6:], syn.terminals[6:], syn.timeouts[6:],
                   syn.next_observations[6:], infos={"horizon_step": np.arange(3), "start_index": np.full(3, 2)})
    kept = return_filter(late, Ensemble(), source, gamma=1.0)
    np.testing.assert_array_equal(kept.observations[:, 0], [0.5, 0.5, 0.5])  # wins from step 2 on: kept whole
    # a start 2 steps before a timeout: its real future after it is unknown, so step 2 cannot win (rewards 3 each:
    # the prefix up to step 1 beats the real 2 and is kept); a real step 0 counts with the data's own reward
    cut = Dataset(np.full((3, 1), 3.0, np.float32), np.zeros((3, 1), np.float32), np.array([0.0, 3, 3], np.float32),
                  np.zeros(3, bool), np.array([0, 0, 1], bool), np.full((3, 1), 3.0, np.float32),
                  infos={"horizon_step": np.arange(3), "start_index": np.full(3, 6)})
    np.testing.assert_array_equal(return_filter(cut, Ensemble(), source, gamma=1.0).infos["horizon_step"], [0, 1])
    real0 = return_filter(cut, Ensemble(), source, gamma=1.0, real_first_step=True)  # step 0 earns 0, not 3
    np.testing.assert_array_equal(real0.infos["horizon_step"], [0, 1])  # 0 + 3 > 1 + 1 at step 1
    from dawm.world_model.synthesis import SynthesisConfig, guarded

    assert guarded(SynthesisConfig(ensemble_termination=False, return_filter=True))


def test_return_filter_discounts_and_judges_a_fall_against_the_whole_real_window():
    """Hand-made, rollouts of horizon 4 from the start of a real episode earning 1 per step. Discounting: rewards
    (0, 2.2) beat the real (1, 1) at gamma 1 but not at 0.5. A fall earns nothing after it, so a rollout earning
    1.2, 1.2 and then falling is judged against the real 1 + 0.99 + 0.99^2 + 0.99^3 = 3.94, not against its first
    two steps: it keeps only its first step (cut, a timeout); one earning 3 and 3 before falling beats the whole
    window and is kept with its fall."""
    from dawm.world_model.guards import return_filter

    class Ensemble:
        def predict(self, obs, act, member="mean"):
            return obs, obs[:, 0].astype(np.float64)

    source = Dataset(np.zeros((10, 1), np.float32), np.zeros((10, 1), np.float32), np.ones(10, np.float32),
                     np.zeros(10, bool), np.array([0] * 9 + [1], bool))

    def rollout(rewards, fall):
        r = np.asarray(rewards, np.float32)
        n = len(r)
        terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
        (terminals if fall else timeouts)[-1] = True
        return Dataset(r[:, None], np.zeros((n, 1), np.float32), r, terminals, timeouts, r[:, None],
                       infos={"horizon_step": np.arange(n), "start_index": np.zeros(n, np.int64)},
                       metadata={"horizon": 4})

    late = rollout([0.0, 2.2], fall=False)
    assert len(return_filter(late, Ensemble(), source, gamma=1.0)) == 2
    assert len(return_filter(late, Ensemble(), source, gamma=0.5)) == 0  # 0 + 0.5 * 2.2 < 1 + 0.5
    short_fall = return_filter(rollout([1.2, 1.2], fall=True), Ensemble(), source, gamma=0.99)
    np.testing.assert_array_equal(short_fall.infos["horizon_step"], [0])
    assert short_fall.timeouts.tolist() == [True] and not short_fall.terminals.any()
    good_fall = return_filter(rollout([3.0, 3.0], fall=True), Ensemble(), source, gamma=0.99)
    assert good_fall.terminals.tolist() == [False, True]  # 3 + 2.97 > 3.94: kept whole, fall included
