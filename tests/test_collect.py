"""Generated datasets: lockstep stepping = Gymnasium, D4RL file layout, determinism, levels, names, cache."""

from __future__ import annotations

import json

import gymnasium as gym
import h5py
import numpy as np
import pytest
import torch

from dawm.envs.collect import CollectConfig, collect, dataset_name, generated_dataset_path, parse_dataset_name
from dawm.envs.lockstep import LockstepEnvs
from dawm.envs.policies import GaussianMLPPolicy
from dawm.utils.env_specs import get_env_spec
from dawm.utils.errors import DawmError

KEYS = {"observations": (np.float32, 11), "next_observations": (np.float32, 11), "actions": (np.float32, 3),
        "rewards": (np.float32, None), "terminals": (np.bool_, None), "timeouts": (np.bool_, None)}


def _constant_policy(action: float) -> GaussianMLPPolicy:
    """A policy whose samples are ~`action` in every dimension (zero weights, tiny std): a signature."""
    policy = GaussianMLPPolicy(11, 3, (8,))
    with torch.no_grad():
        for p in policy.parameters():
            p.zero_()
        policy.mu.bias.fill_(float(np.arctanh(action)))
        policy.log_std.bias.fill_(-20.0)
    return policy


@pytest.fixture
def policies(tmp_path, monkeypatch):
    """A tiny published-policy directory for hopper (random-init actors, hand-written manifest)."""
    root = tmp_path / "policies"
    torch.manual_seed(0)
    for name in ("medium", "expert"):
        GaussianMLPPolicy(11, 3, (16, 16)).save(root / "hopper" / f"{name}.safetensors")
    _constant_policy(0.5).save(root / "hopper" / "step_00000200.safetensors")
    _constant_policy(-0.5).save(root / "hopper" / "step_00000400.safetensors")
    series = [{"policy": "random", "steps": 200}, {"policy": "step_00000200.safetensors", "steps": 200},
              {"policy": "step_00000400.safetensors", "steps": 200}]
    manifest = {"env_id": "Hopper-v5", "levels": {
        "medium": {"file": "medium.safetensors", "step": 600, "eval_return_mean": 1100.0},
        "expert": {"file": "expert.safetensors", "step": 900, "eval_return_mean": 3300.0},
        "medium-replay": {"series": series, "total_steps": 600}}}
    (root / "hopper" / "manifest.json").write_text(json.dumps(manifest))
    (root / "walker2d").mkdir()
    (root / "walker2d" / "manifest.json").write_text(json.dumps({"env_id": "Walker2d-v5", "levels": {
        "medium": {"file": "medium.safetensors"}, "medium-replay": {"series": [], "total_steps": 0}}}))
    monkeypatch.setenv("DAWM_POLICIES", str(root))
    monkeypatch.setenv("DAWM_CACHE", str(tmp_path / "cache"))
    return root


def _arrays(path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in (*KEYS, "infos/qpos", "infos/qvel")}


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"])
def test_lockstep_matches_gymnasium_step(env_id):
    envs, rng = LockstepEnvs(env_id, 2), np.random.default_rng(0)
    ref = [gym.make(env_id) for _ in range(2)]
    for i, seed in enumerate((3, 4)):
        envs.reset(i, seed)
        assert np.array_equal(envs.observe()[i], ref[i].reset(seed=seed)[0])
    ends = 0
    for _ in range(150):
        actions = rng.uniform(-1, 1, (2, envs.act_dim)).astype(np.float32)
        reward, terminated = envs.step(actions)
        obs = envs.observe()
        for i in range(2):
            o, r, term, _, _ = ref[i].step(actions[i])
            assert np.array_equal(obs[i], o) and reward[i] == r and terminated[i] == term
            if term:
                ends += 1
                envs.reset(i, 100 + ends)
                ref[i].reset(seed=100 + ends)
    assert env_id == "HalfCheetah-v5" or ends > 0  # the reset path was exercised where episodes end


def test_random_dataset_file_layout(policies, tmp_path):
    out = tmp_path / "hopper-random.hdf5"
    collect(CollectConfig(env="hopper", level="random", size=2000, n_envs=4, out=str(out)))
    a = _arrays(out)
    for key, (dtype, dim) in KEYS.items():
        assert a[key].dtype == dtype and a[key].shape == ((2000, dim) if dim else (2000,)), key
    assert a["infos/qpos"].shape == (2000, 6) and a["infos/qvel"].shape == (2000, 6)
    # Episode structure: every episode ends with exactly one flag, lengths within the time limit.
    ends = a["terminals"] | a["timeouts"]
    assert not (a["terminals"] & a["timeouts"]).any() and ends[-1]
    lengths = np.diff(np.concatenate([[0], np.flatnonzero(ends) + 1]))
    assert lengths.max() <= 1000 and lengths.sum() == 2000
    # Terminals are exactly Hopper's health check on the next observation.
    assert np.array_equal(a["terminals"][:-1], get_env_spec("hopper").termination(a["next_observations"])[:-1])
    inner = ~ends[:-1]
    assert np.array_equal(a["next_observations"][:-1][inner], a["observations"][1:][inner])
    # infos/qpos and infos/qvel are the simulator state of each observation (before its step).
    assert np.array_equal(a["infos/qpos"][:, 1:].astype(np.float32), a["observations"][:, :5])
    assert np.array_equal(np.clip(a["infos/qvel"], -10, 10).astype(np.float32), a["observations"][:, 5:])
    assert np.abs(a["actions"]).max() <= 1.0 and a["actions"].std() > 0.5  # uniform in [-1, 1]
    # Re-simulating a few rows from the stored state reproduces reward and next observation.
    env = gym.make("Hopper-v5").unwrapped
    env.reset(seed=0)
    for i in range(0, 2000, 97):
        env.set_state(a["infos/qpos"][i], a["infos/qvel"][i])
        o, r, term, _, _ = env.step(a["actions"][i])
        assert np.allclose(o, a["next_observations"][i], atol=1e-5) and np.isclose(r, a["rewards"][i], atol=1e-4)
        assert term == a["terminals"][i]
    with h5py.File(out, "r") as f:
        meta = {k: f["metadata"][k][()] for k in f["metadata"]}
    for key in ("env_id", "level", "seed", "size", "episodes", "ref_min_score", "ref_max_score", "policy",
                "dawm_version", "command", "steps_per_second", "policies_digest"):
        assert key in meta, key
    assert meta["env_id"] == b"Hopper-v5" and meta["episodes"] == len(lengths) and meta["steps_per_second"] > 0


def test_same_seed_same_arrays_and_medium_expert_is_medium_then_expert(policies, tmp_path):
    made = []

    def make(level, size, seed=0):
        made.append(level)
        out = tmp_path / f"{len(made)}.hdf5"
        return _arrays(collect(CollectConfig(env="hopper", level=level, size=size, seed=seed, n_envs=4,
                                             out=str(out))))

    medium = make("medium", 600)
    again, other = make("medium", 600), make("medium", 600, seed=1)
    assert all(np.array_equal(medium[k], again[k]) for k in medium)
    assert not np.array_equal(medium["observations"], other["observations"])
    assert not np.array_equal(medium["actions"], other["actions"])
    expert, mixed = make("expert", 600), make("medium-expert", 1200)
    assert all(np.array_equal(mixed[k], np.concatenate([medium[k], expert[k]])) for k in medium)


def test_medium_replay_follows_the_manifest_series(policies, tmp_path):
    out = collect(CollectConfig(env="hopper", level="medium-replay", n_envs=4))
    a = _arrays(out)
    assert len(a["rewards"]) == 600  # the recipe's total steps by default
    # Snapshot 1 always acts 0.5, snapshot 2 always -0.5, the random phase neither: ~200 steps each.
    first = np.isclose(a["actions"], 0.5, atol=1e-4).all(1).sum()
    second = np.isclose(a["actions"], -0.5, atol=1e-4).all(1).sum()
    assert 150 <= first <= 250 and 150 <= second <= 250 and 150 <= 600 - first - second <= 250
    with h5py.File(out, "r") as f:
        assert json.loads(f["metadata/policy"][()])["medium-replay"]["total_steps"] == 600
    # --size rescales every phase: 300 steps -> ~100 per phase.
    small = _arrays(collect(CollectConfig(env="hopper", level="medium-replay", size=300, n_envs=4)))
    assert len(small["rewards"]) == 300 and 60 <= np.isclose(small["actions"], 0.5, atol=1e-4).all(1).sum() <= 140


def test_names_resolve_to_the_cache_and_are_reused(policies, tmp_path):
    from dawm import load_dataset

    assert parse_dataset_name("walker2d-medium-replay-seed3-size20k") == CollectConfig(
        env="walker2d", level="medium-replay", seed=3, size=20_000)
    assert dataset_name("hopper", "medium", 0, 1_000_000) == "hopper-medium-size1m"
    assert generated_dataset_path("not-a-dataset") is None
    with pytest.raises(DawmError, match=r"D4RL file by path \(…/hopper_medium_replay-v2\.hdf5\)"):
        generated_dataset_path("hopper-medium-replay-v2")

    path = generated_dataset_path("hopper-random-size1k")
    assert path == tmp_path / "cache" / "datasets" / "hopper-random-size1k.hdf5" and path.is_file()
    before = path.stat()
    assert generated_dataset_path("hopper-random-size1k") == path
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)  # reused, not rewritten
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp files left behind
    ds = load_dataset("hopper-random-size1k")
    assert len(ds) == 1000 and ds.env_id == "Hopper-v5" and "qpos" in ds.infos


def test_missing_policy_is_a_clear_error_and_writes_nothing(policies, tmp_path):
    with pytest.raises(DawmError, match=r"expert policy for walker2d not published yet \(.*has: medium, "
                                        r"medium-replay"):
        generated_dataset_path("walker2d-expert")
    with pytest.raises(DawmError, match="medium policy for halfcheetah not published yet"):
        collect(CollectConfig(env="halfcheetah", level="medium-expert", size=100))
    with pytest.raises(DawmError, match=r"walker2d/manifest.json: levels.medium-replay.series: empty"):
        collect(CollectConfig(env="walker2d", level="medium-replay"))
    assert not (tmp_path / "cache").exists()


def test_interrupted_collect_leaves_no_file(policies, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_step = LockstepEnvs.step

    def failing_step(self, actions):
        calls["n"] += 1
        if calls["n"] > 50:
            raise KeyboardInterrupt
        return real_step(self, actions)

    monkeypatch.setattr(LockstepEnvs, "step", failing_step)
    with pytest.raises(KeyboardInterrupt):
        generated_dataset_path("hopper-random-size2k")
    cache = tmp_path / "cache" / "datasets"
    assert not cache.exists() or not any(cache.iterdir())


def test_cli_collect_and_datasets(policies, tmp_path, capsys, monkeypatch):
    import shutil

    from dawm.cli import main

    d4rl_dir = tmp_path / "d4rl"
    d4rl_dir.mkdir()
    monkeypatch.setenv("D4RL_DATASET_DIR", str(d4rl_dir))

    out = tmp_path / "cli.hdf5"
    assert main(["collect", "hopper", "random", "--size", "300", "--n-envs", "2", "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert main(["collect", "hopper", "random", "--size", "300", "--out", str(out)]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    generated_dataset_path("hopper-random-size500")
    shutil.copy(out, d4rl_dir / "hopper_random-v2.hdf5")  # a "downloaded" D4RL-layout file
    capsys.readouterr()
    assert main(["datasets", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in listing["generated"]] == ["hopper-random-size500"]
    assert listing["generated"][0]["transitions"] == 500 and listing["generated"][0]["episodes"] > 0
    assert listing["can_generate"]["hopper"] == ["random", "medium", "medium-replay", "expert", "medium-expert"]
    assert listing["can_generate"]["walker2d"] == ["random", "medium", "medium-replay"]
    assert listing["can_generate"]["halfcheetah"] == ["random"]
    assert [(d["path"], d["transitions"]) for d in listing["d4rl"]] == [(str(d4rl_dir / "hopper_random-v2.hdf5"), 300)]
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    assert "hopper-random-size500" in text and "hopper_random-v2.hdf5" in text


def test_snapshot_with_action_noise_makes_a_low_quality_dataset(policies, tmp_path):
    cfg = dict(env="hopper", level="medium", size=300, n_envs=4)
    plain = _arrays(collect(CollectConfig(**cfg, snapshot="step_00000200.safetensors", out=str(tmp_path / "a.hdf5"))))
    assert np.allclose(plain["actions"], 0.5, atol=1e-3)  # the snapshot acts (its signature action), not medium
    noisy_path = collect(CollectConfig(**cfg, snapshot="step_00000200.safetensors", action_noise=0.3,
                                       out=str(tmp_path / "b.hdf5")))
    noisy = _arrays(noisy_path)
    deviation = noisy["actions"] - 0.5
    assert 0.2 < deviation.std() < 0.4 and np.abs(noisy["actions"]).max() <= 1.0
    with h5py.File(noisy_path, "r") as f:
        assert "N(0, 0.3^2)" in f["metadata/action_sampling"][()].decode()
        assert f["metadata/name"][()].decode() == "b"
    with pytest.raises(DawmError, match="--out"):
        collect(CollectConfig(env="hopper", level="medium", size=300, action_noise=0.1))
    with pytest.raises(DawmError, match="no such policy file"):
        collect(CollectConfig(env="hopper", level="medium", size=300, snapshot="nope.safetensors",
                              out=str(tmp_path / "c.hdf5")))
