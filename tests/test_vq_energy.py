"""Energy-score tuning of a VQ-GAN's decoder (kind vq-energy): what it trains, what it draws, what it
leaves alone, exact resume, self-contained sampling, bad options."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fastzdc import ZP, FastZDCError
from fastzdc.checkpoint import STATE, WEIGHTS, load_tensors
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.models.scoring import SCALES, drawn_shape_features, energy_score, shape_features
from fastzdc.models.vq_prior import VQPrior
from fastzdc.sampling.noise import NoiseStream
from fastzdc.training.first_stage import load_first_stage, make_kind
from fastzdc.training.loop import train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg
from .test_vq import PRIOR_TINY, VQ_TINY

TUNE = {"draw_top_k": 8}


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqe")
    data = root / "zp.h5"
    write_h5(make_dataset(160, ZP, seed=6), data)
    train(_cfg("vq", "zp", {**VQ_TINY, "dec_cond_hidden": 8}, epochs=1), data, root / "vq", progress=False)
    train(_cfg("vq-prior", "zp", {**PRIOR_TINY, "vq": str(root / "vq" / "best")}, epochs=1), data, root / "prior", progress=False)
    return {"root": root, "data": data, "prior": root / "prior" / "best"}


def _tune(prior, out, stop_after: int = 0, resume: bool = False, **kw):
    cfg = _cfg("vq-energy", "zp", {**TUNE, "prior": str(prior["prior"])}, **{"lr": 3e-3, **kw})
    return train(cfg, prior["data"], out, stop_after=stop_after, resume=resume, progress=False)


def test_tuning_trains_only_the_decoder_and_samples_without_its_prior(tmp_path, prior):
    src = tmp_path / "src"
    shutil.copytree(prior["prior"], src)
    train(_cfg("vq-energy", "zp", {**TUNE, "prior": str(src)}, lr=3e-3), prior["data"], tmp_path / "tuned", progress=False)
    old, new = load_tensors(src / WEIGHTS), load_tensors(tmp_path / "tuned" / "best" / WEIGHTS)
    assert old.keys() == new.keys()
    frozen = [k for k in old if not k.startswith("decoder.")]
    assert any(k.startswith("gpt.") for k in frozen) and "codebook" in frozen
    assert all(torch.equal(old[k], new[k]) for k in frozen)
    assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    cfg = json.loads((tmp_path / "tuned" / "best" / "config.json").read_text())
    assert cfg["kind"] == "vq-energy" and cfg["hparams"]["prior_weights_sha256"]
    assert cfg["scaler"] == json.loads((src / "config.json").read_text())["scaler"]  # the prior's particle scaling
    shutil.rmtree(src)  # the checkpoint is a complete VQ-GAN
    gen = load_generator(tmp_path / "tuned")
    cond = make_dataset(10, ZP, seed=9).conditions
    a, b = gen.generate(cond, seed=4, batch_size=3), gen.generate(cond, seed=4)
    assert a.shape == (10, 56, 30) and np.array_equal(a, b)


def test_at_zero_learning_rate_it_samples_exactly_as_its_prior(tmp_path, prior):
    _tune(prior, tmp_path / "same", lr=1e-30, epochs=1)
    tuned, source = load_generator(tmp_path / "same"), load_generator(prior["prior"])
    c = torch.from_numpy(source.scaler.transform(make_dataset(12, ZP, seed=2).conditions))
    noise = NoiseStream(3, (2, 14, 8)).rows(0, 12)
    opts = source.kind.sampler_options()  # the tuned checkpoint's own default is the ZN recipe's sampler
    assert torch.equal(tuned.generate_log(c, noise, **opts), source.generate_log(c, noise, **opts))


def test_training_inputs_are_two_prior_draws_and_the_response_sums(prior):
    kind = make_kind("vq-energy", ZP, {**TUNE, "prior": str(prior["prior"])})
    source = load_first_stage(kind)
    net = kind.build()
    kind.start_weights(net, source)
    ds = make_dataset(20, ZP, seed=1)
    x = torch.log1p(torch.from_numpy(ds.responses.astype(np.float32)))[:, None]
    c = torch.randn(20, 9)
    inputs = kind.training_inputs(net, iter([(x[:12], c[:12]), (x[12:], c[12:])]), source)
    t = kind.prior_kind.n_tokens()
    assert inputs.shape == (20, 2 * t + 7)
    tokens = inputs[:, : 2 * t]
    assert tokens.min() >= 0 and tokens.max() < VQ_TINY["n_codes"]
    assert not torch.equal(tokens[:, :t], tokens[:, t:])  # two independent draws
    assert torch.allclose(inputs[:, 2 * t:2 * t + 5], torch.from_numpy(ZP.channel_sums(ds.responses)).float(), rtol=1e-6)
    flat = ds.responses.reshape(20, -1)
    assert np.array_equal(inputs[:, -2].numpy(), (flat >= 1).sum(1)) and np.array_equal(inputs[:, -1].numpy(), flat.max(1))
    # the draws are the prior's own: greedy filtering makes them a function of the particle only
    greedy = make_kind("vq-energy", ZP, {"draw_top_k": 1, "prior": str(prior["prior"])})
    g = greedy.training_inputs(net, iter([(x, c)]), source)
    want = VQPrior.draw_tokens(source, c, torch.zeros(20, t), 1.0, 1, 1.0).float()
    assert torch.equal(g[:, :t], want) and torch.equal(g[:, t : 2 * t], want)
    # the same seed draws the same grids (a resumed run rebuilds its inputs exactly)
    again = kind.training_inputs(net, iter([(x[:12], c[:12]), (x[12:], c[12:])]), source)
    assert torch.equal(again, inputs)


@pytest.mark.parametrize("shape", [False, True])
def test_loss_is_the_energy_score_of_the_decoded_sums_and_shape(prior, shape):
    kind = make_kind("vq-energy", ZP, {**TUNE, "prior": str(prior["prior"]), "energy_scale": "log", "energy_shape": shape,
                                      "w_anchor": 0.0})
    net = kind.build()
    t = kind.prior_kind.n_tokens()
    tokens = torch.randint(0, VQ_TINY["n_codes"], (6, 2 * t)).float()
    y = torch.rand(6, 7) * 50
    c = torch.randn(6, 9)
    loss = kind.loss(net, torch.cat([tokens, y], 1), c, torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)
    feats = []
    for j in range(2):
        lam = torch.expm1(net.decode(tokens[:, j * t:(j + 1) * t].long(), c))[:, 0]
        eps = torch.randn((6, 7 if shape else 5), generator=gen)
        sums = ZP.channel_sums(lam)
        f = [sums + torch.sqrt(sums + 1e-6) * eps[:, :5]]
        if shape:
            p = 1 - torch.exp(-lam.flatten(1))
            peak = lam.flatten(1).max(1).values
            f += [(p.sum(1) + torch.sqrt((p * (1 - p)).sum(1) + 1e-6) * eps[:, 5])[:, None],
                  (peak + torch.sqrt(peak + 1e-6) * eps[:, 6])[:, None]]
        feats.append(torch.log1p(torch.cat(f, 1).clamp_min(0)))
    assert torch.allclose(loss, energy_score(*feats, SCALES["log"](y if shape else y[:, :5])), rtol=1e-5)
    loss.backward()
    assert all(p.grad is None for p in net.gpt.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.decoder.parameters())


def test_drawn_shape_features_follow_poisson_statistics():
    """Lit fibres and the brightest fibre of Poisson counts around a mean light map: the normal
    approximation has the right mean and spread (against drawn Poisson counts)."""
    torch.manual_seed(0)
    lam = torch.zeros(1, 1, 44, 44)
    lam[0, 0, 20:24, 20:24] = torch.tensor([0.2, 0.5, 1.0, 3.0]).repeat(4, 1)
    lam[0, 0, 22, 22] = 40.0
    eps = torch.randn(20000, 2)
    drawn = drawn_shape_features(torch.log1p(lam).expand(20000, -1, -1, -1), eps, scale="sqrt")
    drawn = (drawn + 1.0) ** 2 - 1.0  # back from the square-root scale
    real = shape_features(torch.poisson(lam.expand(20000, -1, -1, -1))[:, 0])
    assert torch.allclose(drawn.mean(0), real.mean(0), rtol=0.03)
    assert torch.allclose(drawn.std(0), real.std(0), rtol=0.1)


def test_anchor_holds_the_decoder_to_its_source(prior):
    """``w_anchor`` adds the mean squared difference between the tuned and the source decoder's log1p maps on
    the same token grids: nothing at the start (the tuned decoder is the source), positive once it moved."""
    plain = make_kind("vq-energy", ZP, {**TUNE, "prior": str(prior["prior"]), "w_anchor": 0.0})
    held = make_kind("vq-energy", ZP, {**TUNE, "prior": str(prior["prior"]), "w_anchor": 5.0})
    source = load_first_stage(held)
    net = held.build()
    held.start_weights(net, source)
    t = held.prior_kind.n_tokens()
    ds = make_dataset(8, ZP, seed=4)
    x = torch.log1p(torch.from_numpy(ds.responses.astype(np.float32)))[:, None]
    c = torch.randn(8, 9)
    with pytest.raises(FastZDCError, match="source decoder"):
        held.loss(net, torch.zeros(8, 2 * t + 7), c, torch.Generator())
    inputs = held.training_inputs(net, iter([(x, c)]), source)

    def losses():
        return [k.loss(net, inputs, c, torch.Generator().manual_seed(2)) for k in (plain, held)]

    a, b = losses()
    assert torch.equal(a, b)
    with torch.no_grad():
        for p in net.decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    a, b = losses()
    gap = sum(torch.mean((net.decode(inputs[:, j * t:(j + 1) * t].long(), c) - source.decode(inputs[:, j * t:(j + 1) * t].long(), c)) ** 2)
              for j in range(2))
    assert gap > 0 and torch.allclose(b - a, 5.0 * gap / 2, rtol=1e-4)


def test_resume_equals_uninterrupted(tmp_path, prior):
    full = _tune(prior, tmp_path / "full")
    _tune(prior, tmp_path / "part", stop_after=1)
    resumed = _tune(prior, tmp_path / "part", resume=True)
    assert resumed["history"] == full["history"]
    for name in (WEIGHTS, STATE):
        a, b = load_tensors(tmp_path / "full" / "last" / name), load_tensors(tmp_path / "part" / "last" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize("opts,msg", [({"draw_top_k": 0}, "draw_top_k"),
                                      ({"draw_temperature": -1.0}, "draw_temperature"),
                                      ({"draw_top_p": 1.5}, "draw_top_p"),
                                      ({"draw_seed": -1}, "draw_seed"),
                                      ({"w_anchor": -1.0}, "w_anchor"),
                                      ({"energy_shape": 1}, "energy_shape"),
                                      ({"energy_scale": "cube"}, "energy_scale must be one of log, sqrt"),
                                      ({"w_sum": 1.0}, "unknown vq-energy model options: w_sum")])
def test_bad_options_are_one_line_errors(prior, opts, msg):
    with pytest.raises(FastZDCError, match=msg) as err:
        make_kind("vq-energy", ZP, {"prior": str(prior["prior"]), **opts})
    assert "\n" not in str(err.value)
    if "_" in msg and " " not in msg:  # the kind itself names the option too (a checkpoint's hparams skip the config check)
        with pytest.raises(FastZDCError, match=f"vq-energy {msg}"):
            get_kind("vq-energy")(ZP, {"prior_weights_sha256": "0" * 64, **opts})


def test_sampler_options_are_the_priors_and_unknown_ones_name_this_kind(prior):
    kind = make_kind("vq-energy", ZP, {"prior": str(prior["prior"])})
    assert set(kind.sampler_options()) == set(VQPrior.sampler_defaults)
    assert kind.sampler_options({"top_k": 5}) == {**kind.sampler_defaults, "top_k": 5}
    assert kind.sampler_options()["poisson"] and kind.hparams["draw_top_k"] == kind.sampler_options()["top_k"]
    with pytest.raises(FastZDCError, match="unknown vq-energy sampler options: steps"):
        kind.sampler_options({"steps": 4})
    with pytest.raises(FastZDCError, match="top_k must be an integer >= 1"):
        kind.sampler_options({"top_k": 0})


def test_the_prior_must_be_a_vq_prior_checkpoint(prior):
    with pytest.raises(FastZDCError, match="vq-energy needs a trained VQ-GAN prior"):
        make_kind("vq-energy", ZP, {})
    with pytest.raises(FastZDCError, match="must be a vq-prior or vq-energy checkpoint"):
        make_kind("vq-energy", ZP, {"prior": str(prior["root"] / "vq" / "best")})



def test_a_tuned_checkpoint_can_be_tuned_further(tmp_path, prior):
    """A shipped tuned VQ-GAN is a valid start (e.g. to tune it on other data): its own prior's network is
    rebuilt, and only the decoder moves again."""
    _tune(prior, tmp_path / "once", epochs=1)
    again = _cfg("vq-energy", "zp", {**TUNE, "prior": str(tmp_path / "once" / "best")}, lr=3e-3, epochs=1)
    train(again, prior["data"], tmp_path / "twice", progress=False)
    once, twice = load_tensors(tmp_path / "once" / "best" / WEIGHTS), load_tensors(tmp_path / "twice" / "best" / WEIGHTS)
    assert all(torch.equal(once[k], twice[k]) for k in once if not k.startswith("decoder."))
    assert any(not torch.equal(once[k], twice[k]) for k in once if k.startswith("decoder."))
    gen = load_generator(tmp_path / "twice")
    assert gen.kind.n_tokens() == 14 * 8 and gen.kind.vq_kind.hparams["n_codes"] == VQ_TINY["n_codes"]
    assert gen.generate(make_dataset(4, ZP, seed=1).conditions, seed=2).shape == (4, 56, 30)
