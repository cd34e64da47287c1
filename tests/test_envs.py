"""Evaluation, scores, env specs and the safetensors policy format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawm.envs.evaluation import evaluate
from dawm.envs.policies import GaussianMLPPolicy
from dawm.utils.env_specs import ENV_SPECS, get_env_spec, normalized_score, reference_scores
from dawm.utils.errors import DataError


def test_d4rl_normalised_score_table():
    # 100 * (R - min) / (max - min) with D4RL's hopper references.
    assert normalized_score(3234.3, -20.272305, 3234.3) == pytest.approx(100.0)
    assert normalized_score(-20.272305, -20.272305, 3234.3) == pytest.approx(0.0)
    assert ENV_SPECS["walker2d"].normalized_score(1.629008 + 0.5 * (4592.3 - 1.629008)) == pytest.approx(50.0)


def test_reference_scores_prefer_metadata():
    assert reference_scores("Hopper-v5", {"ref_min_score": 0.0, "ref_max_score": 10.0}) == (0.0, 10.0)
    assert reference_scores("hopper-medium-v2") == (-20.272305, 3234.3)
    assert reference_scores("Pendulum-v1") is None


@pytest.mark.parametrize("name", ["hopper", "Hopper-v5", "hopper-medium-replay", "Hopper-v4",
                                  "mujoco/hopper/medium-v0"])
def test_env_spec_lookup(name):
    assert get_env_spec(name).env_id == "Hopper-v5"


def test_termination_rules_match_gymnasium():
    import gymnasium as gym

    for name in ("hopper", "walker2d"):
        spec = ENV_SPECS[name]
        env = gym.make(spec.env_id)
        obs, _ = env.reset(seed=0)
        rng = np.random.default_rng(0)
        agree = 0
        for _ in range(300):
            obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, spec.act_dim))
            assert bool(spec.termination(obs[None])[0]) == term
            agree += 1
            if term or trunc:
                obs, _ = env.reset()
        assert agree == 300


def test_evaluate_is_seeded_and_reports_scores():
    rng = np.random.default_rng(0)
    policy = lambda o: np.tanh(o[:, :3])  # noqa: E731  deterministic, state-dependent
    a = evaluate(policy, "Hopper-v5", episodes=3, seed=5)
    b = evaluate(policy, "Hopper-v5", episodes=3, seed=5)
    assert a.returns == b.returns and len(a.returns) == 3
    assert a.score_mean == pytest.approx(float(normalized_score(a.returns, -20.272305, 3234.3).mean()))
    assert rng is not None


def test_policy_safetensors_roundtrip(tmp_path):
    torch.manual_seed(0)
    pol = GaussianMLPPolicy(11, 3, (32, 32), {"env_id": "Hopper-v5"})
    pol.save(tmp_path / "p.safetensors")
    back = GaussianMLPPolicy.load(tmp_path / "p.safetensors")
    obs = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
    np.testing.assert_array_equal(pol.act(obs), back.act(obs))
    assert back.meta["env_id"] == "Hopper-v5"
    (tmp_path / "bad.safetensors").write_bytes(b"not a policy")
    with pytest.raises(DataError, match="bad.safetensors"):
        GaussianMLPPolicy.load(tmp_path / "bad.safetensors")
