"""VAE + latent flow matching: loss balancing, the critic, exact resume, bad VAE checkpoints,
self-contained latent-FM checkpoints, pure sampling, the CLI round trip."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.checkpoint import STATE, WEIGHTS, load_tensors
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.nn.balance import grad_normalize
from fastzdc.nn.discriminator import hinge_critic_loss
from fastzdc.sampling.noise import NoiseStream
from fastzdc.training.first_stage import load_first_stage, make_kind
from fastzdc.training.loop import train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg

VAE_TINY = {"enc_widths": [4, 8, 8], "enc_blocks": [1, 1], "dec_widths": [4, 8], "dec_blocks": [0, 1], "disc_widths": [4, 4, 8]}
LFM_TINY = {"hidden": 32, "depth": 1, "emb_dim": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lfm")
    zn, zp = root / "zn.h5", root / "zp.h5"
    write_h5(make_dataset(160, ZN, seed=5), zn)
    write_h5(make_dataset(64, ZP, seed=6), zp)
    train(_cfg("vae", "zn", VAE_TINY, epochs=1), zn, root / "vae-zn", progress=False)
    train(_cfg("vae", "zp", VAE_TINY, epochs=1), zp, root / "vae-zp", progress=False)
    return {"root": root, "zn": zn, "zp": zp, "vae_zn": root / "vae-zn" / "best", "vae_zp": root / "vae-zp" / "best"}


# ---------------------------------------------------------------------------- building blocks
def test_grad_normalize_is_identity_forward_and_fixes_the_gradient_norm():
    x = torch.randn(3, 1, 5, 5, requires_grad=True)
    y = grad_normalize(x, 0.25)
    assert torch.equal(y, x)
    up = torch.randn(3, 1, 5, 5) * 1000
    (y * up).sum().backward()
    assert float(x.grad.norm()) == pytest.approx(0.25, rel=1e-5)
    assert torch.allclose(x.grad / x.grad.norm(), up / up.norm(), atol=1e-6)  # direction kept


def test_noise_dither_is_uniform_and_stochastic_rounding_is_unbiased():
    from fastzdc.nn.dither import NoiseDither
    from fastzdc.sampling.dither import stochastic_round_log1p

    dither = NoiseDither(4, (56, 30))
    noise = torch.randn(3000, 4, 14, 8, generator=torch.Generator().manual_seed(0))
    u = dither(noise)
    assert u.shape == (3000, 1, 56, 30) and float(u.min()) >= 0 and float(u.max()) < 1
    hist = torch.histc(u, bins=10, min=0, max=1) / u.numel()
    assert torch.allclose(hist, torch.full((10,), 0.1), atol=0.003)
    assert torch.equal(u, dither(noise.clone())) and not torch.equal(u, dither(-noise[:, [1, 0, 2, 3]]))
    c = torch.full((3000, 1, 56, 30), 0.3)  # 0.3 photons per fibre: plain rounding gives 0
    n = torch.expm1(stochastic_round_log1p(torch.log1p(c), u)).round()
    assert set(n.unique().tolist()) == {0.0, 1.0} and float(n.mean()) == pytest.approx(0.3, abs=0.005)


def test_noise_dither_is_float32_under_bfloat16_autocast():
    """A bfloat16 convolution would round the ~1e3 mixtures to whole numbers: u = 0, a third of the light lost."""
    from fastzdc.nn.dither import NoiseDither

    dither = NoiseDither(4, (44, 44))
    noise = torch.randn(64, 4, 11, 11, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        u = dither(noise)
    assert u.dtype == torch.float32 and torch.equal(u, dither(noise))
    assert float(u.mean()) == pytest.approx(0.5, abs=0.01)


def test_poisson_term_fits_the_mean_count_where_l2_on_log1p_falls_short():
    # one fibre seeing Poisson(0.3) photons: the l2 optimum in log1p units, exp(E[log1p n]) - 1, lies
    # ~25 % below the mean; the Poisson term's optimum is the mean
    from fastzdc.models.ae_losses import poisson_loss

    n = torch.poisson(torch.full((20000,), 0.3), generator=torch.Generator().manual_seed(1))
    x = torch.log1p(n)[:, None, None, None]
    fitted = {}
    for name, loss in (("l2", torch.nn.functional.mse_loss), ("poisson", poisson_loss)):
        r = torch.full((1,), 0.5, requires_grad=True)
        opt = torch.optim.Adam([r], lr=0.02)
        for _ in range(600):
            opt.zero_grad()
            loss(r.expand_as(x), x).backward()
            opt.step()
        fitted[name] = float(torch.expm1(r.detach()))
    assert fitted["poisson"] == pytest.approx(float(n.mean()), rel=0.02)
    assert fitted["l2"] == pytest.approx(float(torch.expm1(torch.log1p(n).mean())), rel=0.02)
    assert fitted["l2"] < 0.85 * fitted["poisson"]


@pytest.mark.parametrize("det,latent", [(ZN, (4, 11, 11)), (ZP, (4, 14, 8))])
def test_vae_shapes_and_vae_does_not_sample(det, latent):
    kind = get_kind("vae")(det, VAE_TINY)
    net = kind.build()
    x = torch.rand(2, 1, *det.shape)
    mu, logvar = net.encode(x)
    assert tuple(mu.shape[1:]) == latent == kind.noise_shape() and logvar.shape == mu.shape
    assert net.decode(mu).shape == x.shape
    assert (kind.reconstruct(net, x, torch.zeros(2, 9)) >= 0).all()
    with pytest.raises(FastZDCError, match="latent-fm"):
        kind.sample(net, torch.zeros(2, 9), torch.zeros(2, *latent))


def test_one_backward_gives_each_player_only_its_own_gradient():
    """The summed loss trains the critic exactly on its hinge loss; the generator terms (adversarial,
    perceptual) reach the VAE and leave the critic's gradient untouched."""
    kind = get_kind("vae")(ZN, VAE_TINY)
    torch.manual_seed(0)
    net, critic = kind.build(), kind.build_critic()
    x = torch.log1p(torch.poisson(torch.rand(4, 1, 44, 44) * 3))
    kind.loss(net, x, torch.zeros(4, 9), torch.Generator().manual_seed(1), critic=critic).backward()
    got = [p.grad.clone() for p in critic.parameters()]
    assert all(p.grad.abs().sum() > 0 for p in (net.encoder.stem.weight, net.encoder.out.weight, net.decoder.head.weight))
    critic.zero_grad()
    with torch.no_grad():
        mu, logvar = net.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
        rec = net.decode(mu + torch.exp(0.5 * logvar) * eps)
    logits, _ = critic(torch.cat([x, rec]))
    hinge_critic_loss(logits[:4], logits[4:]).backward()
    for a, p in zip(got, critic.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)
    assert get_kind("vae")(ZN, {**VAE_TINY, "w_adv": 0, "w_perc": 0}).build_critic() is None


# ---------------------------------------------------------------------------- VAE training
def test_vae_resume_equals_uninterrupted_including_the_critic(tmp_path, data):
    cfg = _cfg("vae", "zn", VAE_TINY)
    full = train(cfg, data["zn"], tmp_path / "full", progress=False)
    train(cfg, data["zn"], tmp_path / "part", stop_after=1, progress=False)
    resumed = train(cfg, data["zn"], tmp_path / "part", resume=True, progress=False)
    assert resumed["steps"] == full["steps"] and resumed["history"] == full["history"]
    for name in (WEIGHTS, STATE):
        a = load_tensors(tmp_path / "full" / "last" / name)
        b = load_tensors(tmp_path / "part" / "last" / name)
        assert a.keys() == b.keys()
        assert any(k.startswith("critic.") for k in a) or name == WEIGHTS
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert not any(k.startswith("critic") for k in load_tensors(tmp_path / "full" / "best" / WEIGHTS))
    cfg_json = json.loads((tmp_path / "full" / "best" / "config.json").read_text())
    assert cfg_json["kind"] == "vae" and "val_w" in cfg_json["metrics"]


# ---------------------------------------------------------------------------- latent FM
def test_latent_fm_rejects_missing_wrong_and_foreign_vae_checkpoints(tmp_path, data):
    def run(vae, det="zn"):
        model = {**LFM_TINY, **({"vae": str(vae)} if vae is not None else {})}
        train(_cfg("latent-fm", det, model, epochs=1), data[det], tmp_path / "out", progress=False)

    with pytest.raises(FastZDCError, match="needs a trained VAE"):
        run(None)
    with pytest.raises(FastZDCError, match="not found"):
        run(tmp_path / "missing")
    with pytest.raises(FastZDCError, match="trained on ZP"):
        run(data["vae_zp"])
    train(_cfg("fm", "zn", {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 8}, epochs=1), data["zn"], tmp_path / "fm", progress=False)
    with pytest.raises(FastZDCError, match="must be a vae checkpoint"):
        run(tmp_path / "fm")
    assert not (tmp_path / "out" / "best").exists()


def test_latent_fm_training_inputs_are_standardised(data):
    from fastzdc.training.loop import _training_batches

    kind = make_kind("latent-fm", ZN, {**LFM_TINY, "vae": str(data["vae_zn"]), "posterior_sample": False})
    net = kind.build()
    resp = make_dataset(50, ZN, seed=2).responses
    cond = torch.zeros(len(resp), 9)
    enc = kind.training_inputs(net, _training_batches(resp, cond, torch.device("cpu"), "encode", False, batch=16), load_first_stage(kind))
    assert enc.shape == (50, 8, 11, 11)
    z = net.standardize(enc[:, :4])
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(z.std((0, 2, 3)), torch.ones(4), atol=1e-3)
    vae = load_tensors(data["vae_zn"] / WEIGHTS)
    for k, v in net.decoder.state_dict().items():
        assert torch.equal(v, vae[f"decoder.{k}"])


def test_latent_fm_checkpoint_is_self_contained_seeded_and_resumes_exactly(tmp_path, data):
    vae = tmp_path / "vae"
    shutil.copytree(data["vae_zn"], vae)
    cfg = _cfg("latent-fm", "zn", {**LFM_TINY, "vae": str(vae)})
    full = train(cfg, data["zn"], tmp_path / "full", progress=False)
    train(cfg, data["zn"], tmp_path / "part", stop_after=1, progress=False)
    resumed = train(cfg, data["zn"], tmp_path / "part", resume=True, progress=False)
    assert resumed["history"] == full["history"]
    a, b = load_tensors(tmp_path / "full" / "last" / WEIGHTS), load_tensors(tmp_path / "part" / "last" / WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
    vae_w = load_tensors(vae / WEIGHTS)
    for k, v in vae_w.items():  # the frozen decoder travels unchanged inside the latent-FM weights
        if k.startswith("decoder."):
            assert torch.equal(a[k], v), k
    shutil.rmtree(vae)  # the VAE checkpoint is not needed any more
    gen = load_generator(tmp_path / "full")
    assert gen.kind.noise_shape() == (4, 11, 11) and gen.sampler == {"steps": 8, "method": "euler", "shift": 1.0, "dither": True, "poisson": False}
    cond = make_dataset(12, ZN, seed=9).conditions
    x1, x2 = gen.generate(cond, seed=4, batch_size=5), gen.generate(cond, seed=4, batch_size=12)
    assert x1.shape == (12, 44, 44) and x1.dtype == np.uint16 and np.array_equal(x1, x2)
    c = torch.from_numpy(gen.scaler.transform(cond))
    logs = [gen.generate_log(c, NoiseStream(s, (4, 11, 11)).rows(0, 12)) for s in (4, 4, 5)]
    assert torch.equal(logs[0], logs[1]) and not torch.equal(logs[0], logs[2]) and logs[0].sum() > 0


@pytest.mark.parametrize("net", [{"net": "mlp"}, {"net": "conv", "hidden": 8}, {"net": "unet", "widths": [4, 8, 8], "mean_hidden": 0}])
def test_latent_fm_sample_is_a_pure_traceable_function_of_conditions_and_noise(data, net):
    kind = make_kind("latent-fm", ZP, {**LFM_TINY, **net, "vae": str(data["vae_zp"])})
    torch.manual_seed(0)
    net = kind.build().eval().requires_grad_(False)
    cond, noise = torch.randn(3, 9), torch.randn(3, *kind.noise_shape())
    with torch.no_grad():
        out = kind.sample(net, cond, noise, steps=3, method="midpoint")
        assert out.shape == (3, 1, 56, 30) and (out >= 0).all()
        assert torch.equal(out, kind.sample(net, cond, noise, steps=3, method="midpoint"))
        traced = torch.jit.trace(lambda c, n: kind.sample(net, c, n, steps=3, method="midpoint"), (cond, noise))
        c2, n2 = torch.randn(5, 9), torch.randn(5, *kind.noise_shape())
        assert torch.allclose(traced(c2, n2), kind.sample(net, c2, n2, steps=3, method="midpoint"), atol=1e-5)


# ---------------------------------------------------------------------------- conditional VAE
CVAE_TINY = {**VAE_TINY, "z_dim": 6, "dec_widths": [0, 8], "dec_hidden": 16}


@pytest.mark.parametrize("det", [ZN, ZP])
def test_conditional_vae_decoder_uses_the_particle_and_the_vector_latent(det):
    kind = get_kind("vae")(det, CVAE_TINY)
    assert kind.conditional and kind.latent_shape() == (6, 1, 1)
    torch.manual_seed(0)
    net = kind.build()
    for p in net.parameters():  # move the zero-initialised layers off zero
        torch.nn.init.normal_(p, std=0.3)
    x, c = torch.rand(4, 1, *det.shape), torch.randn(4, 9)
    mu, logvar = net.encode(x, c)
    assert mu.shape == logvar.shape == (4, 6, 1, 1)
    assert not torch.allclose(mu, net.encode(x, c + 1)[0])  # q(z | x, c)
    rec = net.decode(mu, c)
    assert rec.shape == x.shape
    assert not torch.allclose(rec, net.decode(mu, c + 1)) and not torch.allclose(rec, net.decode(mu + 1, c))
    assert torch.equal(net(x, c), rec) and (kind.reconstruct(net, x, c) >= 0).all()


def test_latent_fm_on_a_conditional_vae_trains_samples_and_checks_its_options(tmp_path, data):
    train(_cfg("vae", "zp", CVAE_TINY, epochs=1), data["zp"], tmp_path / "cvae", progress=False)
    vae = str(tmp_path / "cvae" / "best")
    for bad, match in (({"net": "conv"}, "must be 'mlp'"),):
        with pytest.raises(FastZDCError, match=match):
            make_kind("latent-fm", ZP, {**LFM_TINY, **bad, "vae": vae})
    train(_cfg("latent-fm", "zp", {**LFM_TINY, "vae": vae, "mean_hidden": 0}, epochs=1), data["zp"], tmp_path / "lfm", progress=False)
    gen = load_generator(tmp_path / "lfm")
    assert gen.kind.noise_shape() == (2, 14, 8) and gen.kind.latent_shape() == (6, 1, 1)
    cond = make_dataset(7, ZP, seed=9).conditions
    x = gen.generate(cond, seed=4, batch_size=3)
    assert x.shape == (7, 56, 30) and np.array_equal(x, gen.generate(cond, seed=4, batch_size=7))
    c = torch.from_numpy(gen.scaler.transform(cond))
    noise = NoiseStream(4, (2, 14, 8)).rows(0, 7)
    base = gen.generate_log(c, noise)
    tail = noise.clone()
    tail[:, 0].view(7, -1)[:, 6:] += 1.0  # beyond the first z_dim values: no effect
    assert torch.equal(base, gen.generate_log(c, tail))
    dither = noise.clone()
    dither[:, 1] += 0.5  # the dither channel changes the rounding only: at most one photon per fibre
    diff = (torch.expm1(base) - torch.expm1(gen.generate_log(c, dither))).abs()
    assert 0 < float(diff.max()) <= 1.0 + 1e-3


def test_latent_fm_energy_term_carries_the_sums_and_trains_the_flow_only(tmp_path, data):
    from fastzdc.training.loop import _training_batches

    train(_cfg("vae", "zp", CVAE_TINY, epochs=1), data["zp"], tmp_path / "cvae", progress=False)
    hp = {**LFM_TINY, "vae": str(tmp_path / "cvae" / "best"), "mean_hidden": 8, "w_energy": 0.5, "energy_steps": 2}
    kind, plain = make_kind("latent-fm", ZP, hp), make_kind("latent-fm", ZP, {**hp, "w_energy": 0.0})
    net = kind.build()
    ds = make_dataset(24, ZP, seed=2)
    cond = torch.randn(len(ds.responses), 9)
    enc, ref = (k.training_inputs(net, _training_batches(ds.responses, cond, torch.device("cpu"), "encode", False, batch=8),
                                  load_first_stage(k)) for k in (kind, plain))
    assert enc.shape == (24, 2 * 6 + 5, 1, 1) and torch.allclose(enc[:, :12], ref)
    assert torch.allclose(enc[:, 12:, 0, 0].double(), torch.from_numpy(ZP.channel_sums(ds.responses.astype(np.float64))))
    loss = kind.loss(net, enc, cond, torch.Generator().manual_seed(1))
    flow_only = plain.loss(net, ref, cond, torch.Generator().manual_seed(1))
    assert float(loss.detach()) > float(flow_only.detach())  # the score is >= 0 (triangle inequality)
    loss.backward()
    assert all(p.grad is None for p in net.decoder.parameters())  # the decoder stays frozen
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.flow.parameters())
    for key, bad in (("w_energy", -1), ("energy_scale", "lin"), ("energy_steps", 0), ("energy_method", "rk4")):
        with pytest.raises(FastZDCError, match=key):
            make_kind("latent-fm", ZP, {**hp, key: bad})
    train(_cfg("latent-fm", "zp", hp, epochs=1), data["zp"], tmp_path / "lfm", progress=False)
    x = load_generator(tmp_path / "lfm").generate(make_dataset(5, ZP, seed=9).conditions, seed=1)
    assert x.shape == (5, 56, 30)


def test_latent_fm_rejects_a_vector_latent_larger_than_its_noise_grid(tmp_path, data):
    big = tmp_path / "big"
    train(_cfg("vae", "zp", {**CVAE_TINY, "z_dim": 113}, epochs=1, max_train_rows=32), data["zp"], big, progress=False)
    with pytest.raises(FastZDCError, match="z_dim <= 112"):
        make_kind("latent-fm", ZP, {**LFM_TINY, "vae": str(big / "best")})


# ---------------------------------------------------------------------------- CLI round trip
def test_cli_train_vae_then_latent_fm_generate_evaluate(cli, tmp_path, data):
    def sets(d):
        return [a for k, v in d.items() for a in ("--set", f"model.{k}={json.dumps(v)}")]

    common = ["--data", data["zp"], "--epochs", "1", "--batch-size", "32", "--set", "val_rows=16", "--set", "threads=1", "--json"]
    res = cli("train", "vae", "--out", tmp_path / "vae", *common, *sets(VAE_TINY))
    assert res.code == 0, res.err
    res = cli("train", "latent-fm", "--out", tmp_path / "lfm", *common, *sets(LFM_TINY))
    assert res.code == 2 and "needs a trained VAE" in res.err and len(res.err.strip().splitlines()) == 1
    res = cli("train", "latent-fm", "--out", tmp_path / "lfm", *common, *sets({**LFM_TINY, "vae": str(tmp_path / "vae")}))
    assert res.code == 0, res.err
    out = tmp_path / "gen.h5"
    res = cli("generate", "--model", tmp_path / "lfm", "--conditions", data["zp"], "--out", out, "--steps", "2", "--json")
    assert res.code == 0, res.err
    assert res.json()["rows"] == 64 and res.json()["detector"] == "zp"
    res = cli("evaluate", "--data", data["zp"], "--model", tmp_path / "lfm", "--max-rows", "20", "--n-rep", "2", "--no-floor", "--json")
    assert res.code == 0, res.err
    row = res.json()["results"][0]
    assert row["name"] == "latent-fm-zp" and np.isfinite(row["w_mean"])
    res = cli("generate", "--model", tmp_path / "vae", "--conditions", data["zp"], "--out", tmp_path / "v.h5")
    assert res.code == 2 and "does not generate from particles" in res.err and not (tmp_path / "v.h5").exists()
