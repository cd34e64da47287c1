"""Precision: float32 unchanged bit for bit, bfloat16 runs (matmuls in bfloat16, everything the update
rules see in float32), and `auto` never picks a precision the hardware only emulates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_random_dataset, synth
from dawm.agents import IQL, TD3BC, TransitionBuffer
from dawm.agents.compiled import compiled_update
from dawm.data.transitions import Transitions
from dawm.utils import precision
from dawm.utils.errors import DawmError
from dawm.world_model import WorldModelConfig, train_world_model
from dawm.world_model.synthesis import load_world_model_run

DATA = Transitions.from_dataset(make_random_dataset())


def _agent(algo: str):
    torch.manual_seed(0)
    if algo == "td3bc":
        return TD3BC.from_transitions(DATA, device="cpu")
    return IQL.from_transitions(DATA, reward_scale=2.0, device="cpu")


def _train(agent, dtype, n=12):
    buffer = TransitionBuffer(DATA, "cpu", seed=0)
    update = compiled_update(agent, "none", dtype)
    torch.manual_seed(1)
    return [update(buffer.sample(64)) for _ in range(n)]


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_float32_is_the_plain_update_bit_for_bit(algo):
    agent = _agent(algo)
    assert compiled_update(agent, "none", torch.float32) == agent.update  # no wrapper at all
    a, b = _agent(algo), _agent(algo)
    buffer_a, buffer_b = TransitionBuffer(DATA, "cpu", seed=0), TransitionBuffer(DATA, "cpu", seed=0)
    torch.manual_seed(1)
    la = [a.update(buffer_a.sample(64)) for _ in range(12)]
    torch.manual_seed(1)
    update = compiled_update(b, "none", precision.resolve_precision("float32", "cpu"))
    lb = [update(buffer_b.sample(64)) for _ in range(12)]
    assert all(torch.equal(x[k], y[k]) for x, y in zip(la, lb) for k in x)
    for pa, pb in zip(a.critic.parameters(), b.critic.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_bfloat16_update_runs_keeps_float32_state_and_stays_close(algo):
    ref, low = _agent(algo), _agent(algo)
    m32, m16 = _train(ref, torch.float32), _train(low, torch.bfloat16)
    for metrics in m16:
        assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in metrics.values())
    for p in [*low.actor.parameters(), *low.critic.parameters()]:
        assert p.dtype == torch.float32
    for opt in low.optimizers():
        assert all(s.dtype == torch.float32 for st in opt.state.values() for s in st.values()
                   if isinstance(s, torch.Tensor) and s.is_floating_point())
    # bfloat16 keeps ~3 significant digits: the losses differ, but only slightly.
    a, b = m32[-1]["critic_loss"], m16[-1]["critic_loss"]
    assert not torch.equal(a, b) and torch.allclose(a, b, rtol=0.1)


def test_world_model_step_and_synthesis_in_bfloat16(tmp_path):
    ds = make_random_dataset(n_episodes=8, ep_len=40)
    from dawm.data.d4rl import write_dataset

    path = write_dataset(ds, tmp_path / "d.hdf5")
    cfg = dict(dataset=str(path), dim=8, batch_size=16, idm_hidden=(16,), idm_steps=6, steps=6, val_size=32,
               log_every=3, eval_every=6, checkpoint_every=6, ema_start=0, ema_every=1, device="cpu",
               val_fraction=0.25)
    run32 = train_world_model(WorldModelConfig(**cfg, out=str(tmp_path / "f32"), precision="float32"))
    run16 = train_world_model(WorldModelConfig(**cfg, out=str(tmp_path / "bf16"), precision="bfloat16"))
    v32 = json.loads((run32 / "summary.json").read_text())["val"]
    v16 = json.loads((run16 / "summary.json").read_text())["val"]
    assert np.isfinite(v16["diffusion_loss"]) and v16["diffusion_loss"] != v32["diffusion_loss"]
    assert v16["diffusion_loss"] == pytest.approx(v32["diffusion_loss"], rel=0.2)
    wm, idm, _ = load_world_model_run(run16)
    assert all(p.dtype == torch.float32 for p in wm.parameters())
    syn = synth(wm, idm, ds, 20, horizon=3, show_progress=False, precision="bfloat16")
    assert syn.observations.dtype == np.float32 and np.isfinite(syn.observations).all() and len(syn) >= 20


def test_auto_never_picks_an_emulated_precision(monkeypatch, capsys):
    precision._cpu_flags.cache_clear()
    precision._warn_emulated.cache_clear()  # an earlier test on emulating hardware may have warned already
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert precision.resolve_precision("auto", "cpu") == torch.float32
    assert capsys.readouterr().err == ""
    assert precision.resolve_precision("bfloat16", "cpu") == torch.bfloat16  # explicit: runs, but says so
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "emulates bfloat16" in err
    precision.resolve_precision("bfloat16", "cpu")
    assert capsys.readouterr().err == ""  # said once per device, not at every call
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert precision.resolve_precision("auto", "cpu") == torch.bfloat16
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert precision.resolve_precision("bfloat16", "cpu") == torch.bfloat16 and capsys.readouterr().err == ""
    assert precision.resolve_precision("float32", "cpu") == torch.float32
    with pytest.raises(DawmError, match="expected one of"):
        precision.resolve_precision("float16", "cpu")


def test_train_agent_records_its_precision(tmp_path, monkeypatch):
    from dawm.agents.trainer import TrainAgentConfig, train_agent

    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2"}))
    ds = make_random_dataset()
    ds.metadata["ref_min_score"], ds.metadata["ref_max_score"] = -20.272305, 3234.3
    cfg = TrainAgentConfig(algo="td3bc", steps=4, eval_every=4, eval_episodes=1, log_every=2, device="cpu",
                           precision="auto", run_dir=str(tmp_path / "a"))
    assert train_agent(cfg, dataset=ds)["precision"] == "float32"  # auto on emulating hardware


def test_auto_is_the_default_and_stays_float32_on_a_gpu_until_checked_there(monkeypatch):
    from dawm.agents.trainer import TrainAgentConfig
    from dawm.world_model.synthesis import SynthesisConfig

    assert TrainAgentConfig().precision == WorldModelConfig().precision == SynthesisConfig().precision == "auto"
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: True)
    assert precision.resolve_precision("auto", "cuda") == torch.float32
    assert precision.resolve_precision("bfloat16", "cuda") == torch.bfloat16  # an explicit choice still holds
