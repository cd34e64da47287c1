"""World-model training: it learns a toy system, stops cleanly on NaN, resumes exactly, CLI + presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dawm.cli import main
from dawm.data.d4rl import write_dataset
from dawm.data.dataset import Dataset
from dawm.utils.errors import DawmError, TrainingDiverged
from dawm.world_model import InverseDynamics, TrajectoryDiffusion, WorldModelConfig, train_world_model
from dawm.world_model.trainer import split_episodes


def toy_linear_dataset(n_episodes=16, ep_len=40, seed=0) -> Dataset:
    """s' = A s + B a with a stable A, r = c . s: an unknown env (no declared termination rule)."""
    rng = np.random.default_rng(seed)
    A = 0.95 * np.linalg.qr(rng.normal(size=(4, 4)))[0]
    B = rng.normal(size=(4, 2)) * 0.5
    c = rng.normal(size=4)
    obs, act, rew, nxt = [], [], [], []
    for _ in range(n_episodes):
        s = rng.normal(size=4)
        for _ in range(ep_len):
            a = rng.uniform(-1, 1, size=2)
            s2 = A @ s + B @ a
            obs.append(s), act.append(a), rew.append(c @ s), nxt.append(s2)
            s = s2
    n = n_episodes * ep_len
    timeouts = np.zeros(n, bool)
    timeouts[ep_len - 1:: ep_len] = True
    return Dataset(np.array(obs), np.array(act), np.array(rew), np.zeros(n, bool), timeouts, np.array(nxt),
                   metadata={"env_id": "ToyLinear-v0", "name": "toy"})


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return str(write_dataset(toy_linear_dataset(), tmp_path_factory.mktemp("toy") / "toy.hdf5"))


def _cfg(toy_path, out, **kw) -> WorldModelConfig:
    base = dict(dataset=toy_path, out=str(out), dim=8, batch_size=32, idm_hidden=(32,), idm_steps=20, steps=20,
                val_size=128, log_every=5, eval_every=10, checkpoint_every=5, ema_start=0, device="cpu", seed=0,
                val_fraction=0.25)
    return WorldModelConfig(**{**base, **kw})


def test_trained_model_beats_untrained_on_next_state_error(toy_path, tmp_path):
    kw = dict(window=4, dim_mults=(1, 2), dim=16, batch_size=64, idm_steps=200, ema_start=10**9, eval_every=10**6,
              checkpoint_every=10**6, log_every=100, lr=3e-3, idm_lr=3e-3)
    untrained = train_world_model(_cfg(toy_path, tmp_path / "u", steps=0, idm_steps=1, **{k: v for k, v in kw.items()
                                                                                         if k != "idm_steps"}))
    trained = train_world_model(_cfg(toy_path, tmp_path / "t", steps=200, **kw))
    u, t = (json.loads((d / "summary.json").read_text())["val"] for d in (untrained, trained))
    assert t["next_state_mse"] < 0.2 * u["next_state_mse"], (t, u)
    assert t["reward_mse"] < 0.5 * u["reward_mse"], (t, u)
    assert t["idm_action_mse"] < 0.25 * (1 / 3), t  # uniform[-1, 1] actions have variance 1/3
    assert "termination_accuracy" in t and (trained / "termination.pt").exists()  # unknown env: learned done
    idm = InverseDynamics.load(trained / "idm.pt")
    ds = toy_linear_dataset()
    np.testing.assert_array_equal(idm.val_episode_ids, split_episodes(ds, 0.25, 0))
    assert idm.predict(ds.observations[:5], ds.next_observations[:5]).shape == (5, 2)
    wm = TrajectoryDiffusion.load(trained / "world_model.pt")
    assert wm.metadata["termination"] == "learned" and wm.metadata["final"] is True


def test_split_is_deterministic_and_disjoint():
    ds = toy_linear_dataset()
    val = split_episodes(ds, 0.25, seed=3)
    assert len(val) == 4 and np.array_equal(val, split_episodes(ds, 0.25, seed=3))
    sub = ds.select_episodes(val)
    assert sub.n_episodes == 4 and len(sub) == 4 * 40 and sub.timeouts.sum() == 4


def _inject(monkeypatch, at_call: int, make_error):
    """Make the n-th training call of TrajectoryDiffusion.loss misbehave."""
    original, calls = TrajectoryDiffusion.loss, {"n": 0}

    def patched(self, *args, **kwargs):
        loss = original(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if calls["n"] == at_call:
                return make_error(loss)
        return loss

    monkeypatch.setattr(TrajectoryDiffusion, "loss", patched)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(toy_path, tmp_path, monkeypatch):
    _inject(monkeypatch, 8, lambda loss: loss * float("nan"))
    with pytest.raises(TrainingDiverged, match="diffusion_loss became nan at step 8.*step 5"):
        train_world_model(_cfg(toy_path, tmp_path / "run"))
    ckpt = torch.load(tmp_path / "run/checkpoints/latest.pt", weights_only=True)
    assert ckpt["step"] == 5 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert sorted(p.name for p in (tmp_path / "run/checkpoints").glob("step_*")) == ["step_00000005.pt"]
    wm = TrajectoryDiffusion.load(tmp_path / "run/world_model.pt")
    assert wm.metadata["step"] == 5 and not (tmp_path / "run/summary.json").exists()


def test_interrupted_run_resumes_to_identical_weights(toy_path, tmp_path, monkeypatch):
    straight = train_world_model(_cfg(toy_path, tmp_path / "a", grad_clip=1.0))

    def interrupt(loss):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        _inject(m, 13, interrupt)
        with pytest.raises(KeyboardInterrupt):
            train_world_model(_cfg(toy_path, tmp_path / "b", grad_clip=1.0))
    resumed = train_world_model(_cfg(toy_path, tmp_path / "b", grad_clip=1.0))
    assert json.loads((resumed / "summary.json").read_text())["resumed_from"] == 10
    for name in ("world_model.pt", "idm.pt"):
        a, b = (torch.load(d / name, weights_only=True)["state_dict"] for d in (straight, resumed))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    with pytest.raises(DawmError, match="dim=8, the config says 16"):
        train_world_model(_cfg(toy_path, tmp_path / "b", dim=16, steps=25))


def test_cli_tiny_preset(toy_path, tmp_path):
    out = tmp_path / "cli"
    assert main(["train-world-model", "--preset", "tiny", "--dataset", toy_path, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 40 and {"diffusion_loss", "idm_action_mse"} <= set(summary["val"])
    assert main(["train-world-model", "--preset", "tiny"]) == 2  # --dataset missing: one-line error


def test_cuda_graph_mode_needs_cuda(toy_path, tmp_path):
    with pytest.raises(DawmError, match="needs a CUDA device"):
        train_world_model(_cfg(toy_path, tmp_path / "g", compile="cuda-graph"))
    assert not (tmp_path / "g").exists()  # refused before anything is written
    with pytest.raises(DawmError, match="--compile: 'jit'"):
        train_world_model(_cfg(toy_path, tmp_path / "g", compile="jit"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device (none here)")
def test_cuda_graph_training_learns_resumes_and_stops_on_nan(toy_path, tmp_path, monkeypatch):
    kw = dict(window=4, dim_mults=(1, 2), dim=16, batch_size=64, ema_start=10**9, eval_every=10**6,
              checkpoint_every=100, log_every=50, lr=3e-3, idm_lr=3e-3, device="cuda", compile="cuda-graph")
    untrained = train_world_model(_cfg(toy_path, tmp_path / "u", steps=0, idm_steps=1, **kw))
    trained = train_world_model(_cfg(toy_path, tmp_path / "t", steps=300, idm_steps=200, **kw))
    u, t = (json.loads((d / "summary.json").read_text())["val"] for d in (untrained, trained))
    assert t["next_state_mse"] < 0.5 * u["next_state_mse"] and t["idm_action_mse"] < 0.25 * (1 / 3), (t, u)
    # resume: a finished 100-step run continued to 300 steps restores the capturable optimisers
    first = train_world_model(_cfg(toy_path, tmp_path / "r", steps=100, idm_steps=100, **kw))
    resumed = train_world_model(_cfg(toy_path, tmp_path / "r", steps=300, idm_steps=200, **kw))
    r = json.loads((resumed / "summary.json").read_text())
    assert first == resumed and r["resumed_from"] == 100 and r["val"]["next_state_mse"] < 0.5 * u["next_state_mse"]
    # a NaN in a step is caught at the end of its log window; nothing diverged is saved
    _inject(monkeypatch, 1, lambda loss: loss * float("nan"))
    with pytest.raises(TrainingDiverged, match="became nan between steps 1 and 50"):
        train_world_model(_cfg(toy_path, tmp_path / "n", steps=300, idm_steps=200, **kw))
    assert not (tmp_path / "n/world_model.pt").exists()
