"""Trajectory diffusion: shapes, exact conditioning, guidance arithmetic, sampler maths, persistence."""

from __future__ import annotations

import pytest
import torch

from dawm.world_model.diffusion import TrajectoryDiffusion
from dawm.world_model.samplers import SAMPLERS, run_sampler, strided_levels

OBS, ACT, T = 5, 2, 8


def _model(denoiser="unet", **kw) -> TrajectoryDiffusion:
    torch.manual_seed(0)
    model = TrajectoryDiffusion(OBS, ACT, window=T, denoiser=denoiser, dim=8, n_layers=1, n_heads=2, **kw)
    with torch.no_grad():  # a random (non-zero) null embedding, so "dropped" differs from "given"
        model.embed.null_rtg.normal_()
    return model.eval()


def _inputs(b=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, OBS, generator=g), torch.rand(b, ACT, generator=g) * 2 - 1, torch.rand(b, generator=g) * 300


@pytest.mark.parametrize("denoiser", ["unet", "transformer"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sample_shapes_and_exact_start_state(denoiser, sampler):
    model = _model(denoiser)
    s0, a0, rtg = _inputs()
    states, rewards = model.sample(s0, a0, rtg, sampler=sampler, sampling_steps=3,
                                   generator=torch.Generator().manual_seed(0))
    assert states.shape == (6, T, OBS) and rewards.shape == (6, T)
    assert torch.equal(states[:, 0], s0)  # in-painted s_t is reproduced bit for bit
    assert torch.isfinite(states).all() and torch.isfinite(rewards).all()
    assert not torch.allclose(states[:, 1], s0)  # ... and the rest is generated


def test_training_loss_ignores_start_state_target():
    model = _model()
    states, rewards = torch.randn(4, T, OBS), torch.randn(4, T)
    a0, rtg = torch.zeros(4, ACT), torch.zeros(4)
    loss = model.loss(states, rewards, a0, rtg, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model.loss_weight[0, :OBS].eq(0).all() and model.loss_weight[1:].gt(0).all()


def test_predict_is_the_classifier_free_combination():
    model = _model(prediction="eps")  # network output = eps: the combination is checked directly
    s0, a0, rtg = _inputs()
    x = torch.randn(6, T, OBS + 1)
    k = 3
    kk = torch.full((6,), k)
    a, g = model.action_norm.normalize(a0), rtg / model.rtg_scale
    with torch.no_grad():
        c = model.condition(s0, a0, rtg, 1.0, None)
        x = model.inpaint(x, c.known)
        inp = model.net_input(x, a)
        cond = model.net(inp, model.embed(kk, a, g, torch.ones(6, dtype=torch.bool)))
        null = model.net(inp, model.embed(kk, a, g, torch.zeros(6, dtype=torch.bool)))
        eps = {w: model.predict(x, k, model.condition(s0, a0, rtg, w, None))[0] for w in (0.0, 1.0, 1.7)}
    # equal up to float rounding (the step embedding is computed once for the batch on this path)
    assert torch.allclose(eps[1.0], cond, atol=1e-5, rtol=0)
    assert torch.allclose(eps[0.0], null, atol=1e-5, rtol=0)
    assert torch.allclose(eps[1.7], null + 1.7 * (cond - null), atol=1e-5, rtol=0)
    assert not torch.allclose(cond, null, atol=1e-3)


def test_rtg_changes_samples_only_when_guided():
    model = _model()
    s0, a0, _ = _inputs()

    def draw(rtg, w):
        return model.sample(s0, a0, torch.full((6,), rtg), guidance=w, sampler="ddim",
                            generator=torch.Generator().manual_seed(0))[0]

    assert not torch.allclose(draw(50.0, 1.0), draw(350.0, 1.0), atol=1e-4)
    assert torch.equal(draw(50.0, 0.0), draw(350.0, 0.0))  # w = 0: the RTG is ignored


def test_strided_levels():
    assert strided_levels(5, 3) == [4, 2, 0]
    assert strided_levels(5, 5) == [4, 3, 2, 1, 0]
    assert strided_levels(10, 1) == [9]
    with pytest.raises(ValueError):
        strided_levels(5, 6)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_recover_a_point_mass_exactly(sampler):
    """With the exact eps of a one-point data distribution every sampler must land on that point."""
    model = _model()
    target = torch.randn(3, T, OBS + 1)
    ab = model.alpha_bar

    def predict(x, k):
        return (x - ab[k].sqrt() * target) / (1 - ab[k]).sqrt(), target

    x = torch.randn(3, T, OBS + 1, generator=torch.Generator().manual_seed(0))
    out = run_sampler(sampler, predict, x, ab, strided_levels(5, 3),
                      generator=torch.Generator().manual_seed(1), temperature=0.5, eta=0.5)
    assert torch.allclose(out, target, atol=1e-4)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_every_parameterisation_samples_a_point_mass_through_the_model(prediction, monkeypatch):
    """A network that outputs the exact eps / x0 / v of a one-point distribution: sample() must return it
    (checks the output -> eps conversion, guidance, in-painting and decoding together)."""
    model = _model(prediction=prediction)
    s0, a0, rtg = _inputs(4)
    target = torch.randn(4, T, OBS + 1)
    target[:, 0, :OBS] = s0  # identity normalisers: row 0 holds the condition
    ab = model.alpha_bar
    emb_dim = model.embed.null_rtg.numel()
    monkeypatch.setattr(model.embed, "condition", lambda a, g, keep: torch.zeros(len(a), emb_dim))
    monkeypatch.setattr(model.embed, "step", lambda k: torch.full((1, emb_dim), float(k.item())))

    def exact(x, emb):
        x, k = x[..., : OBS + 1], int(emb[0, 0])  # the network input also carries a_t's row-0 channels
        eps = (x - ab[k].sqrt() * target.repeat(len(x) // 4, 1, 1)) / (1 - ab[k]).sqrt()
        x0 = target.repeat(len(x) // 4, 1, 1)
        return {"eps": eps, "x0": x0, "v": ab[k].sqrt() * eps - (1 - ab[k]).sqrt() * x0}[prediction]

    monkeypatch.setattr(model.net, "forward", exact)
    for sampler in SAMPLERS:
        states, rewards = model.sample(s0, a0, rtg, sampler=sampler, guidance=1.5, clip=None,
                                       generator=torch.Generator().manual_seed(0))
        assert torch.allclose(states, target[..., :OBS], atol=1e-3) and torch.allclose(rewards, target[..., OBS],
                                                                                       atol=1e-3)


def test_ddim_with_eta_one_equals_ddpm():
    model = _model()
    s0, a0, rtg = _inputs()
    kw = dict(sampling_steps=3, temperature=0.7, clip=None)
    a = model.sample(s0, a0, rtg, sampler="ddpm", generator=torch.Generator().manual_seed(3), **kw)
    b = model.sample(s0, a0, rtg, sampler="ddim", eta=1.0, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.allclose(a[0], b[0], atol=1e-4) and torch.allclose(a[1], b[1], atol=1e-4)


def test_save_load_roundtrip(tmp_path):
    model = _model()
    model.set_normalizers(torch.randn(50, T, OBS) * 3 + 1, torch.rand(50, T), torch.rand(50, ACT), 400.0)
    model.save(tmp_path / "wm.pt", {"env_id": "Hopper-v5"})
    loaded = TrajectoryDiffusion.load(tmp_path / "wm.pt")
    assert loaded.metadata["env_id"] == "Hopper-v5" and float(loaded.rtg_scale) == 400.0
    s0, a0, rtg = _inputs()
    a = model.sample(s0, a0, rtg, generator=torch.Generator().manual_seed(0))
    b = loaded.sample(s0, a0, rtg, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_rollout_for_multi_step_targets():
    model = _model()
    s0, a0, _ = _inputs()
    states, rewards = model.rollout(s0, a0, 5, rtg=100.0)
    assert states.shape == (6, 6, OBS) and rewards.shape == (6, 5) and torch.equal(states[:, 0], s0)
    with pytest.raises(ValueError):
        model.rollout(s0, a0, T)


def test_action_is_inpainted_in_row_zero_only():
    model = _model()
    s0, a0, rtg = _inputs()
    x = torch.randn(6, T, OBS + 1)
    a = model.action_norm.normalize(a0)
    inp = model.net_input(x, a)
    assert inp.shape == (6, T, OBS + 1 + ACT)
    assert torch.equal(inp[..., : OBS + 1], x) and torch.equal(inp[:, 0, OBS + 1:], a)
    assert not inp[:, 1:, OBS + 1:].any()
    # the first generated step reacts to a_t through those channels, not only the embedding
    emb = model.embed(torch.full((6,), 2), torch.zeros_like(a), rtg / model.rtg_scale, torch.ones(6, dtype=bool))
    with torch.no_grad():
        out_a, out_0 = model.net(inp, emb), model.net(model.net_input(x, torch.zeros_like(a)), emb)
    assert not torch.allclose(out_a, out_0)


def test_models_saved_before_action_inpainting_still_load(tmp_path):
    model = _model(action_inpaint=False)
    model.save(tmp_path / "wm.pt")
    ckpt = torch.load(tmp_path / "wm.pt", weights_only=True)
    del ckpt["hparams"]["action_inpaint"]  # as written by older versions
    legacy = TrajectoryDiffusion.from_checkpoint(ckpt)
    assert not legacy.settings.action_inpaint
    assert legacy.net_input(torch.ones(1, T, OBS + 1), torch.ones(1, ACT)).shape[-1] == OBS + 1


def test_checkpoints_from_before_the_renames_load_unchanged(tmp_path):
    """Saved with `horizon` for the window and the condition embedding inside the denoiser."""
    model = _model()
    ckpt = {"format": "dawm-world-model/1", "metadata": {}, "hparams": dict(model.hparams),
            "state_dict": {("net." + k if k.startswith("embed.") else k): v for k, v in model.state_dict().items()}}
    ckpt["hparams"]["horizon"] = ckpt["hparams"].pop("window")
    old = TrajectoryDiffusion.from_checkpoint(ckpt)
    assert old.window == T and torch.equal(old.embed.null_rtg, model.embed.null_rtg)
    s0, a0, rtg = _inputs()
    a = model.sample(s0, a0, rtg, generator=torch.Generator().manual_seed(0))
    b = old.sample(s0, a0, rtg, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_karras_schedule_ends_nearly_clean_and_old_checkpoints_stay_cosine(tmp_path):
    from dawm.world_model.diffusion import cosine_alpha_bar, noise_schedule

    ab = noise_schedule("karras", 5)
    assert ab[0] > 0.999 and ab[-1] < 1e-3 and (ab[1:] < ab[:-1]).all()
    assert cosine_alpha_bar(5)[0] < 0.9  # the reason for the option: DWM's K = 5 cosine keeps noise std 0.32
    model = TrajectoryDiffusion(3, 2, window=4, dim=8, dim_mults=(1, 2), schedule="karras")
    assert torch.equal(model.alpha_bar, ab)
    path = model.save(tmp_path / "wm.pt")
    ckpt = torch.load(path, weights_only=True)
    del ckpt["hparams"]["schedule"]  # a model saved before the option existed
    ckpt["state_dict"]["alpha_bar"] = noise_schedule("cosine", 5)
    old = TrajectoryDiffusion.from_checkpoint(ckpt)
    assert old.hparams["schedule"] == "cosine" and torch.equal(old.alpha_bar, noise_schedule("cosine", 5))


def test_residual_mlp_denoiser_learns_a_step_and_samples():
    torch.manual_seed(0)
    model = TrajectoryDiffusion(3, 2, window=4, denoiser="mlp", dim=32, n_layers=2, schedule="karras")
    states, rewards = torch.randn(16, 4, 3), torch.randn(16, 4)
    action, rtg = torch.rand(16, 2), torch.rand(16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = model.loss(states, rewards, action, rtg, generator=torch.Generator().manual_seed(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    out_states, out_rewards = model.eval().sample(states[:, 0], action, rtg)
    assert out_states.shape == (16, 4, 3) and torch.equal(out_states[:, 0], states[:, 0])
    assert torch.isfinite(out_rewards).all()
