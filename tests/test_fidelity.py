"""Fidelity of synthetic data: errors against the simulator, references, CLI."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from dawm.data.d4rl import write_dataset
from dawm.data.dataset import Dataset
from dawm.envs.simulator import simulate_transitions
from dawm.world_model.dynamics_ensemble import DynamicsEnsemble, EnsembleConfig, train_ensemble_on_dataset
from dawm.world_model.fidelity import compare, fidelity_report


def collect(env_id="Hopper-v5", steps=2000, seed=0) -> Dataset:
    """Random-policy episodes in the D4RL layout (with next_observations)."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for t in range(steps):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        nxt, rew, term, trunc, _ = env.step(act)
        rows.append((obs, act, rew, term, (trunc or t == steps - 1) and not term, nxt))
        obs = env.reset(seed=seed + t + 1)[0] if term or trunc else nxt
    o, a, r, te, to, n = (np.array(x) for x in zip(*rows))
    return Dataset(o, a, r, te, to, n, metadata={"env_id": env_id, "name": "hopper-random-test"})


def synthetic_from(source: Dataset, horizon=4, n=60, noise=0.0, seed=0) -> Dataset:
    """Export-format rollouts cut from the real data: exact when noise = 0; with noise, every
    generated s' is perturbed (in source-std units) and the next row starts from it."""
    rng = np.random.default_rng(seed)
    fits = np.flatnonzero(np.arange(len(source)) + horizon <= source.episode_ends[source.episode_ids()])
    starts = rng.choice(fits, n, replace=False)
    idx = (starts[:, None] + np.arange(horizon)).reshape(-1)
    nxt = source.next_observations[idx] + noise * source.observations.std(0) * rng.normal(size=(len(idx), 11))
    obs = source.observations[idx].copy()
    obs.reshape(n, horizon, -1)[:, 1:] = nxt.reshape(n, horizon, -1)[:, :-1]
    term = source.terminals[idx]
    timeouts = np.zeros(len(idx), bool)
    timeouts[horizon - 1 :: horizon] = True
    return Dataset(obs, source.actions[idx], source.rewards[idx], term, timeouts & ~term, nxt,
                   metadata={"env_id": source.env_id, "name": "synthetic-test", "synthetic": True},
                   infos={"horizon_step": np.tile(np.arange(horizon), n), "start_index": np.repeat(starts, horizon)})


@pytest.fixture(scope="module")
def source() -> Dataset:
    return collect()


class OracleIDM:
    """Stand-in inverse dynamics: looks the real action up by state (exact on real pairs)."""

    def __init__(self, ds: Dataset, val_episode_ids):
        self.table = {o.tobytes(): a for o, a in zip(ds.observations, ds.actions)}
        self.val_episode_ids = np.asarray(val_episode_ids)

    def predict(self, obs, next_obs):
        return np.stack([self.table.get(o.tobytes(), np.zeros(3, np.float32)) for o in obs])


def test_noisy_synthetic_scores_worse_and_real_data_is_the_floor(source):
    clean = fidelity_report(synthetic_from(source), source=source, n_samples=240, seed=0)
    noisy = fidelity_report(synthetic_from(source, noise=0.1), source=source, n_samples=240, seed=0)
    assert clean["env_id"] == "Hopper-v5" and clean["n_samples"] == 240
    assert clean["synthetic_vs_sim"]["all"]["state_rmse"] < 1e-4
    assert clean["real_vs_sim"]["state_rmse"] < 1e-4 and clean["real_vs_sim"]["reward_mae"] < 1e-4
    assert clean["real_vs_sim"]["term_accuracy"] == 1.0
    s = noisy["synthetic_vs_sim"]
    assert 0.05 < s["all"]["state_rmse"] < 0.2  # noise of 0.1 std on s' (rows k >= 1 also start off)
    assert set(s["by_horizon"]) == {"0", "1", "2", "3"} and sum(v["n"] for v in s["by_horizon"].values()) == 240
    assert s["by_horizon"]["0"]["reward_mae"] < 1e-4 < s["by_horizon"]["1"]["reward_mae"]  # k=0 starts on real s
    # open loop: the replay of the (real) actions from the real start lands on the real trajectory
    assert noisy["open_loop"]["rollouts"] == 60
    assert all(0.05 < e < 0.2 for e in noisy["open_loop"]["synthetic_state_rmse"])
    assert max(clean["open_loop"]["synthetic_state_rmse"]) < 1e-3


def test_achieved_return_of_rollouts_cut_from_the_data(source):
    """Rollouts cut from the real data achieve exactly the real segment's return by every judge (the simulator
    answers the real pairs as the data has them); an ensemble that doubles each reward shows as twice the real
    return, so the judges are reported side by side, by quartile of the start's own return-to-go."""
    from dawm.data.segments import returns_to_go

    class Double:
        def predict(self, obs, act):
            return obs, 2.0 * np.asarray(simulate_transitions("Hopper-v5", obs, act)[1])

    syn = synthetic_from(source, horizon=4, n=60)
    rep = fidelity_report(syn, source=source, ensemble=Double(), n_samples=120, seed=0)["achieved_return"]
    g = 0.99 ** np.arange(4)
    starts = syn.infos["start_index"][::4]
    real = np.array([(g * source.rewards[t:t + 4]).sum() for t in starts])
    assert rep["all"]["n"] == 60
    assert rep["all"]["real"] == pytest.approx(real.mean()) and rep["all"]["model"] == pytest.approx(real.mean())
    assert rep["all"]["simulator"] == pytest.approx(real.mean(), rel=1e-4)
    assert rep["all"]["ensemble"] == pytest.approx(2 * real.mean(), rel=1e-4)
    assert sum(q["n"] for q in rep["by_own_return_quartile"].values()) == 60
    own = returns_to_go(source, 0.99)[starts]
    assert rep["all"]["own_return_to_go"] == pytest.approx(own.mean())


def test_termination_agreement_hand_crafted():
    m = compare(np.zeros((5, 2)), np.zeros(5), np.array([1, 0, 0, 1, 0], bool), np.zeros((5, 2)), np.zeros(5),
                np.array([1, 1, 0, 0, 0], bool), np.ones(2), 1.0)
    assert m["term_accuracy"] == pytest.approx(0.6)
    assert m["term_false_negative_rate"] == pytest.approx(0.5)  # sim done, synthetic not: 1 of 2
    assert m["term_false_positive_rate"] == pytest.approx(1 / 3)
    # end to end: two fallen hoppers (z = 0.5) and two upright ones, synthetic flags half wrong
    obs = np.zeros((4, 11), np.float32)
    obs[:, 0] = [0.5, 0.5, 1.25, 1.25]
    act = np.zeros((4, 3), np.float32)
    nxt, rew, sim_done = simulate_transitions("Hopper-v5", obs, act)
    assert sim_done.tolist() == [True, True, False, False]
    syn = Dataset(obs, act, rew, np.array([1, 0, 0, 1], bool), np.zeros(4, bool), nxt, metadata={"env_id": "hopper"})
    rep = fidelity_report(syn, n_samples=4)["synthetic_vs_sim"]["all"]
    assert rep["term_accuracy"] == 0.5 and rep["term_false_negative_rate"] == 0.5
    assert rep["term_false_positive_rate"] == 0.5 and rep["state_rmse"] == 0.0


def test_idm_checks_use_held_out_episodes_and_catch_inconsistent_actions(source):
    syn = synthetic_from(source)
    val = [1, 2]
    rep = fidelity_report(syn, source=source, idm=OracleIDM(source, val), n_samples=240)["idm"]
    assert rep["heldout_actions"]["n"] == int(np.isin(source.episode_ids(), val).sum())
    assert rep["heldout_actions"]["action_mae"] == 0.0
    assert rep["synthetic_consistency"]["all"]["state_rmse"] < 1e-4  # the true action reaches s'
    zero = OracleIDM(source, val)
    zero.table = {}  # predicts 0 everywhere: s' is no longer reached
    bad = fidelity_report(syn, source=source, idm=zero, n_samples=240)["idm"]
    assert bad["synthetic_consistency"]["all"]["state_rmse"] > 0.05
    assert bad["heldout_actions"]["action_mae"] > 0.3


def test_ensemble_training_beats_untrained_and_round_trips(source, tmp_path):
    cfg = EnsembleConfig(members=3, hidden_dim=64, n_layers=2, max_steps=300, eval_every=100, patience=10)
    trained, summary = train_ensemble_on_dataset(source, cfg)
    untrained, _ = train_ensemble_on_dataset(source, EnsembleConfig(**{**cfg.__dict__, "max_steps": 0}))
    test = collect(steps=400, seed=7)
    errs = []
    for model in (trained, untrained):
        nxt, rew = model.predict(test.observations, test.actions)
        errs.append(np.sqrt(((nxt - test.next_observations) ** 2).mean()) + np.abs(rew - test.rewards).mean())
    assert errs[0] < 0.6 * errs[1], errs
    assert summary["steps"] == 300 and len(summary["holdout_mse_per_member"]) == 3
    trained.save(tmp_path / "e.pt")
    loaded = DynamicsEnsemble.load(tmp_path / "e.pt")
    np.testing.assert_array_equal(loaded.predict(test.observations[:5], test.actions[:5])[0],
                                  trained.predict(test.observations[:5], test.actions[:5])[0])
    one, rnd = trained.predict(test.observations, test.actions, member=1), trained.predict(
        test.observations, test.actions, member="random")
    assert one[0].shape == rnd[0].shape == test.observations.shape
    rep = fidelity_report(synthetic_from(source), source=source, ensemble=trained, n_samples=120)
    assert rep["ensemble_vs_sim"]["all"]["state_rmse"] > rep["synthetic_vs_sim"]["all"]["state_rmse"]
    assert len(rep["open_loop"]["ensemble_state_rmse"]) == 4


def test_cli_writes_report_and_plots(source, tmp_path, capsys):
    import dawm.cli.fidelity_cmds  # noqa: F401  (registers the command)
    from dawm.cli import main

    from dawm.world_model.inverse_dynamics import InverseDynamics

    write_dataset(source, tmp_path / "src.hdf5")
    write_dataset(synthetic_from(source, noise=0.05), tmp_path / "syn.hdf5")
    idm = InverseDynamics(11, 3, hidden=(16,))  # untrained: only the plumbing is checked here
    idm.fit_normalizers(source.observations, source.actions)
    idm.val_episode_ids = np.array([0, 3])
    idm.save(tmp_path / "wm" / "idm.pt")
    out = tmp_path / "out"
    rc = main(["fidelity", str(tmp_path / "syn.hdf5"), "--dataset", str(tmp_path / "src.hdf5"), "--n-samples", "100",
               "--ensemble-steps", "10", "--ensemble-members", "2", "--n-plots", "2", "--out", str(out),
               "--world-model", str(tmp_path / "wm")])
    assert rc == 0
    report = json.loads((out / "fidelity.json").read_text())
    assert report["n_samples"] == 100 and "real_vs_sim" in report and report["ensemble_training"]["steps"] == 10
    assert report["novelty"]["all"]["novelty"] > 0 and "novelty" in (out / "fidelity.md").read_text()
    assert report["idm"]["heldout_actions"]["n"] == int(np.isin(source.episode_ids(), [0, 3]).sum())
    assert sorted(p.name for p in out.glob("*.png")) == ["rollout_0.png", "rollout_1.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in out.glob("*.png"))
    assert (out / "fidelity.md").read_text().startswith("Fidelity of")
    assert "| real data (floor) |" in capsys.readouterr().out
    # the one directory rule (dynamics_ensemble.ensemble_dir): under the synthetic file's folder, where
    # `dawm synthesize`'s guards put theirs
    (weights,) = (tmp_path / "ensembles").glob("*/ensemble.pt")
    before = weights.stat().st_mtime_ns
    assert main(["fidelity", str(tmp_path / "syn.hdf5"), "--dataset", str(tmp_path / "src.hdf5"), "--n-samples", "50",
                 "--ensemble-steps", "10", "--ensemble-members", "2", "--n-plots", "0", "--out", str(out)]) == 0
    assert weights.stat().st_mtime_ns == before  # same data and settings: the ensemble is reused


def test_cli_errors_are_one_line(source, tmp_path, capsys):
    import dawm.cli.fidelity_cmds  # noqa: F401
    from dawm.cli import main

    assert main(["fidelity", str(tmp_path / "missing.hdf5")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing.hdf5" in err and "not found" in err and len(err.splitlines()) == 1
    ant = Dataset(np.zeros((4, 27)), np.zeros((4, 8)), np.zeros(4), np.zeros(4), np.ones(4),
                  metadata={"env_id": "Ant-v5"})
    write_dataset(ant, tmp_path / "ant.hdf5")
    assert main(["fidelity", str(tmp_path / "ant.hdf5")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no simulator for env 'Ant-v5'" in err and len(err.splitlines()) == 1


def test_ensembles_saved_before_the_thread_rename_load(tmp_path):
    import torch

    ens = DynamicsEnsemble(3, 2, EnsembleConfig(members=2, hidden_dim=8, n_layers=1))
    ens.save(tmp_path / "ensemble.pt")
    state = torch.load(tmp_path / "ensemble.pt", weights_only=True)
    state["config"]["cpu_threads"] = state["config"].pop("threads") or 0  # as older versions wrote it
    torch.save(state, tmp_path / "old.pt")
    assert DynamicsEnsemble.load(tmp_path / "old.pt").config.threads == 1


def test_reference_ensemble_is_reused_on_the_auto_device(source, tmp_path):
    """The synthesis guards pass their device ('auto' by default) to the ensemble: training and reloading a
    saved ensemble both resolve it."""
    from dawm.world_model.dynamics_ensemble import reference_ensemble

    cfg = EnsembleConfig(members=2, hidden_dim=8, n_layers=1, max_steps=5, eval_every=5, device="auto")
    first, _ = reference_ensemble(source, tmp_path / "ens", cfg)
    before = (tmp_path / "ens" / "ensemble.pt").stat().st_mtime_ns
    again, _ = reference_ensemble(source, tmp_path / "ens", cfg)
    assert (tmp_path / "ens" / "ensemble.pt").stat().st_mtime_ns == before  # loaded, not retrained
    obs, act = source.observations[:4], source.actions[:4]
    np.testing.assert_array_equal(again.predict(obs, act)[0], first.predict(obs, act)[0])
