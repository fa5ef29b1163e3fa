"""Few-step students (trajectory distillation) and the shifted time grid of the ODE samplers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.checkpoint import STATE, WEIGHTS, load_tensors
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.models.ae_losses import channel_sum_loss
from fastzdc.models.scoring import channel_sum_features, energy_score, shower_features
from fastzdc.sampling.ode import integrate, time_grid
from fastzdc.training.first_stage import load_first_stage, make_kind
from fastzdc.training.loop import train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg

TINY = {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}


# ---------------------------------------------------------------------------- the time grid
def test_time_grid_uniform_shifted_and_bad_shift():
    assert time_grid(4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    for s in (0.5, 3.0):
        g = time_grid(7, s)
        assert g[0] == 0.0 and g[-1] == pytest.approx(1.0) and all(b > a for a, b in zip(g, g[1:]))
    assert time_grid(4, 3.0)[1] > 0.25 > time_grid(4, 0.5)[1]  # s > 1: long first step; s < 1: short
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(FastZDCError, match="shift"):
            time_grid(3, bad)


@pytest.mark.parametrize("method", ["euler", "midpoint", "heun"])
def test_shifted_grid_integrates_exactly_and_is_used(method):
    # a velocity constant in x and t is integrated exactly on any grid
    x = integrate(lambda x, t: torch.full_like(x, 2.0), torch.zeros(3), 4, method, shift=2.5)
    assert torch.allclose(x, torch.full((3,), 2.0))
    seen = []
    integrate(lambda x, t: seen.append(float(t[0])) or x, torch.zeros(1), 2, method, shift=3.0)
    assert seen[0] == 0.0 and 0.75 in seen  # t_1 = 3 * 0.5 / (1 + 2 * 0.5)


def test_fm_sampler_accepts_shift_and_rejects_bad_ones():
    kind = get_kind("fm")(ZN, TINY)
    assert kind.sampler_options()["shift"] == 1.0
    assert kind.sampler_options({"shift": 2})["shift"] == 2
    for bad in (0, -1.0, "2", True):
        with pytest.raises(FastZDCError, match="shift"):
            kind.sampler_options({"shift": bad})


# ---------------------------------------------------------------------------- distillation
@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    data = root / "zn.h5"
    write_h5(make_dataset(160, ZN, seed=5), data)
    train(_cfg("fm", "zn", TINY, epochs=1), data, root / "teacher", progress=False)
    return {"data": data, "teacher": root / "teacher" / "best"}


def _distill_cfg(teacher, **kw):
    model = {"teacher": str(teacher["teacher"]), "teacher_steps": 4, "steps": 1, "method": "midpoint"}
    return _cfg("fm-distill", "zn", model, **kw)


def test_student_starts_as_the_teacher_and_learns_to_reach_its_samples(tmp_path, teacher):
    kind = make_kind("fm-distill", ZN, _distill_cfg(teacher).model)
    assert kind.hparams["widths"] == TINY["widths"] and len(kind.hparams["teacher_weights_sha256"]) == 64
    net = kind.build()
    cond = torch.randn(40, 9)
    kind.start_weights(net, load_first_stage(kind))
    pairs = kind.training_inputs(net, iter([(torch.zeros(20, 1, 44, 44), cond[:20]), (torch.zeros(20, 1, 44, 44), cond[20:])]), load_first_stage(kind))
    assert pairs.shape == (40, 2, 44, 44)
    teacher_net = get_kind("fm")(ZN, TINY).build()
    teacher_net.load_state_dict(load_tensors(teacher["teacher"] / WEIGHTS))
    for k, v in teacher_net.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k  # the student starts from the teacher
    with torch.no_grad():  # the targets are the teacher's 4-step solves from the stored noise
        ref = integrate(lambda x, t: teacher_net(x, cond, t), pairs[:, :1], 4, "midpoint")
        assert torch.allclose(pairs[:, 1:], ref, atol=1e-5)
        loss0 = float(kind.loss(net, pairs, cond, torch.Generator()))
        one_step = integrate(lambda x, t: net(x, cond, t), pairs[:, :1], 1, "midpoint")
        assert loss0 == pytest.approx(float(torch.mean((one_step - ref) ** 2)), rel=1e-5)
        summed = make_kind("fm-distill", ZN, {**_distill_cfg(teacher).model, "w_sum": 0.5})
        expect = loss0 + 0.5 * float(channel_sum_loss(ZN, one_step, ref.clamp_min(0.0)))
        assert float(summed.loss(net, pairs, cond, torch.Generator())) == pytest.approx(expect, rel=1e-5) and expect > loss0
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        kind.loss(net, pairs, cond, torch.Generator()).backward()
        opt.step()
    with torch.no_grad():
        assert float(kind.loss(net, pairs, cond, torch.Generator())) < 0.5 * loss0


def _student_with_responses(teacher, options, light):
    """A student with ``options`` and its training inputs for 8 rows of Poisson(``light``) responses."""
    kind = make_kind("fm-distill", ZN, {**_distill_cfg(teacher).model, **options})
    net = kind.build()
    kind.start_weights(net, load_first_stage(kind))
    cond = torch.randn(8, 9)
    y = torch.log1p(torch.poisson(torch.full((8, 1, 44, 44), light)))
    inputs = kind.training_inputs(net, iter([(y, cond)]), load_first_stage(kind))
    assert inputs.shape == (8, 3, 44, 44) and torch.equal(inputs[:, 2:], y)  # the response rides along
    return kind, net, cond, y, inputs


def test_energy_term_scores_two_student_samples_against_the_response(teacher):
    kind, net, cond, y, inputs = _student_with_responses(teacher, {"w_energy": 0.3}, 0.5)
    hp = kind.hparams
    plain = make_kind("fm-distill", ZN, _distill_cfg(teacher).model)

    def solve(n):
        return integrate(lambda x, t: net(x, cond, t), n, 1, "midpoint")

    with torch.no_grad():
        loss = float(kind.loss(net, inputs, cond, torch.Generator().manual_seed(4)))
        fresh = torch.randn((8, 1, 44, 44), generator=torch.Generator().manual_seed(4))
        f = [channel_sum_features(ZN, img) for img in (solve(inputs[:, :1]), solve(fresh), y)]
        expect = float(plain.loss(net, inputs[:, :2], cond, torch.Generator())) + 0.3 * float(energy_score(*f))
    assert loss == pytest.approx(expect, rel=1e-5)
    net.zero_grad()
    kind.loss(net, inputs, cond, torch.Generator().manual_seed(4)).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    for bad in (-0.1, "1", True, float("nan")):
        with pytest.raises(FastZDCError, match="w_energy"):
            make_kind("fm-distill", ZN, {**hp, "w_energy": bad})
    for key, bad in (("energy_scale", "linear"), ("energy_lit", 1)):
        with pytest.raises(FastZDCError, match=key):
            make_kind("fm-distill", ZN, {**hp, key: bad})
    lit = make_kind("fm-distill", ZN, {**hp, "energy_lit": True, "energy_scale": "sqrt"})
    with torch.no_grad():  # a sixth feature and another scale: another score
        assert float(lit.loss(net, inputs, cond, torch.Generator().manual_seed(4))) != pytest.approx(loss, rel=1e-3)


def test_init_checkpoint_wins_over_the_teacher(tmp_path, teacher):
    first = train(_distill_cfg(teacher, epochs=1, lr=3e-2), teacher["data"], tmp_path / "first", progress=False)
    assert first["history"]
    start = load_tensors(tmp_path / "first" / "last" / WEIGHTS)
    again = _distill_cfg(teacher, epochs=1, lr=1e-12, ema_decay=0.0, init=str(tmp_path / "first" / "last"))
    train(again, teacher["data"], tmp_path / "again", progress=False)
    after = load_tensors(tmp_path / "again" / "last" / WEIGHTS)
    teacher_w = load_tensors(teacher["teacher"] / WEIGHTS)
    assert all(torch.allclose(after[k], start[k], atol=1e-6) for k in start)  # continued from --init
    assert not all(torch.allclose(after[k], teacher_w[k], atol=1e-6) for k in teacher_w)


def test_distilled_checkpoint_is_self_contained_samples_with_its_steps_and_resumes(tmp_path, teacher):
    cfg = _distill_cfg(teacher)
    full = train(cfg, teacher["data"], tmp_path / "full", progress=False)
    train(cfg, teacher["data"], tmp_path / "part", stop_after=1, progress=False)
    resumed = train(cfg, teacher["data"], tmp_path / "part", resume=True, progress=False)
    assert resumed["history"] == full["history"]
    a, b = (load_tensors(tmp_path / r / "last" / WEIGHTS) for r in ("full", "part"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((tmp_path / "full" / "best" / "config.json").read_text())
    assert config["sampler"]["steps"] == 1 and config["hparams"]["widths"] == TINY["widths"]
    (teacher["teacher"] / WEIGHTS).rename(teacher["teacher"] / "moved")  # no teacher needed to sample
    try:
        gen = load_generator(tmp_path / "full")
        cond = make_dataset(6, ZN, seed=9).conditions
        x = gen.generate(cond, seed=1)
        assert x.shape == (6, 44, 44) and np.array_equal(x, gen.generate(cond, seed=1))
    finally:
        (teacher["teacher"] / "moved").rename(teacher["teacher"] / WEIGHTS)


def test_bad_teachers_and_options_fail_early(tmp_path, teacher):
    with pytest.raises(FastZDCError, match="needs a trained FM teacher"):
        make_kind("fm-distill", ZN, {})
    with pytest.raises(FastZDCError, match="steps"):
        make_kind("fm-distill", ZN, {"teacher": str(teacher["teacher"]), "steps": 0})
    with pytest.raises(FastZDCError, match="method"):
        make_kind("fm-distill", ZN, {"teacher": str(teacher["teacher"]), "teacher_method": "rk4"})
    other = tmp_path / "vae"
    train(_cfg("vae", "zn", {"enc_widths": [4, 8, 8], "dec_widths": [4, 8], "dec_blocks": [0, 1], "disc_widths": [4, 4, 8]}, epochs=1),
          teacher["data"], other, progress=False)
    with pytest.raises(FastZDCError, match="must be a fm checkpoint"):
        make_kind("fm-distill", ZN, {"teacher": str(other / "best")})


# ---------------------------------------------------------------------------- the energy score
def test_energy_score_is_the_crps_in_one_dimension_and_proper():
    from scipy.stats import norm

    g = torch.Generator().manual_seed(0)
    y = torch.linspace(-2.0, 3.0, 11)[:, None]
    n = 40000
    a, b = (torch.randn((n, 11, 1), generator=g, dtype=torch.float64) for _ in range(2))
    es = [float(energy_score(a[:, i], b[:, i], y[i].expand(n, 1).double())) for i in range(11)]
    z = y[:, 0].double().numpy()
    crps = z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi)  # CRPS of N(0, 1) at y
    assert np.allclose(es, crps, atol=0.02)
    # in expectation over y ~ N(0, 1), the true law scores better than a collapsed or a too-wide one
    yy = torch.randn((n, 2), generator=g, dtype=torch.float64)
    def score(scale):
        return float(energy_score(scale * a[:, :2, 0], scale * b[:, :2, 0], yy))
    assert score(1.0) < score(0.5) and score(1.0) < score(1.6) and score(1.0) < score(0.0)


def test_score_features_count_what_the_rounding_lights_on_either_scale():
    from fastzdc.models.scoring import lit_fibres

    counts = torch.zeros(2, 1, 44, 44)
    counts[0, 0, :3, :4] = torch.tensor([1.0, 2.0, 7.0, 0.0])  # 9 lit fibres, 30 photons
    x = torch.log1p(counts)
    assert lit_fibres(x, hard=True).flatten().tolist() == pytest.approx([np.log1p(9), 0.0])
    assert lit_fibres(x).flatten().tolist() == pytest.approx([np.log1p(9), 0.0], abs=1e-3)  # smooth, ~ exact on counts
    assert lit_fibres(x, hard=True, scale="sqrt").flatten().tolist() == pytest.approx([np.sqrt(10) - 1, 0.0])
    sums = channel_sum_features(ZN, x, "sqrt")
    assert float(torch.sum((sums[0] + 1) ** 2 - 1)) == pytest.approx(30)  # the 5 channels share the fibres out
    x = torch.full((1, 1, 44, 44), float(np.log1p(0.5)), requires_grad=True)  # every fibre at the threshold
    lit_fibres(x).sum().backward()
    assert float(x.grad.abs().min()) > 0


# ---------------------------------------------------------------------------- the feature critic
@pytest.mark.parametrize("det", [ZN, ZP])
def test_shower_features_are_the_evaluation_features(det):
    from fastzdc.evaluation.features import high_level_features

    g = np.random.default_rng(1)
    counts = g.poisson(g.uniform(0.5, 4, (7, 1, 1)) * np.exp(-g.uniform(0, 4, (7, *det.shape)))).astype(np.float32)
    counts[0] = 0
    counts[1] = 0
    counts[1, 3, 5] = 7  # one lit fibre: zero width
    e = high_level_features(det, counts)
    ref = np.concatenate([np.log1p(e[:, :6]), e[:, 6:10] / [det.nx, det.ny, det.nx, det.ny], np.log1p(e[:, 10:])], 1)
    x = torch.log1p(torch.from_numpy(counts))[:, None]
    hard = shower_features(det, x, hard=True).double().numpy()
    assert hard.shape == (7, 12)
    np.testing.assert_allclose(hard, ref, atol=2e-3)  # widths: sqrt(w + 1e-6)
    np.testing.assert_allclose(hard[:, :8], ref[:, :8], atol=1e-5)
    # the smooth version on the light a sample rounds to the same counts: close, and differentiable
    light = torch.log1p(torch.from_numpy(counts) + torch.where(torch.from_numpy(counts) > 0, 0.3, 0.1))[:, None].requires_grad_()
    soft = shower_features(det, light)
    assert np.abs(soft.detach().double().numpy()[:, 10] - ref[:, 10]).max() < 0.02  # lit fibres
    soft.sum().backward()
    assert torch.isfinite(light.grad).all() and light.grad.abs().sum() > 0


def test_feature_critic_trains_only_on_its_hinge_and_the_student_only_on_its_term(teacher):
    from fastzdc.nn.discriminator import FeatureCritic, frozen, hinge_critic_loss

    kind, net, cond, y, inputs = _student_with_responses(teacher, {"w_adv": 0.5, "critic_hidden": 16}, 0.7)
    critic = kind.build_critic()
    assert isinstance(critic, FeatureCritic) and make_kind("fm-distill", ZN, _distill_cfg(teacher).model).build_critic() is None
    loss = kind.loss(net, inputs, cond, torch.Generator(), critic=critic)
    loss.backward()
    got = {n: p.grad.clone() for n, p in critic.named_parameters()}
    student_grad = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    # the critic's gradient is that of its hinge loss alone
    critic.zero_grad()
    pred = integrate(lambda x, t: net(x, cond, t), inputs[:, :1], 1, "midpoint").detach()
    real, fake = shower_features(ZN, y, hard=True), shower_features(ZN, pred)
    hinge_critic_loss(critic(real, cond), critic(fake, cond)).backward()
    for n, p in critic.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-4, atol=1e-7)
    # the student's gradient is the regression's plus w_adv times that of -D(f(sample)), nothing of the hinge
    net.zero_grad()
    plain = make_kind("fm-distill", ZN, _distill_cfg(teacher).model)
    plain.loss(net, inputs[:, :2], cond, torch.Generator()).backward()
    regression = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad()
    sample = integrate(lambda x, t: net(x, cond, t), inputs[:, :1], 1, "midpoint")
    with frozen(critic):
        (-0.5 * critic(shower_features(ZN, sample), cond).mean()).backward()
    for n, g in student_grad.items():
        torch.testing.assert_close(g, regression[n] + net.get_parameter(n).grad, rtol=1e-3, atol=1e-7)
    assert any(net.get_parameter(n).grad.abs().max() > 1e-6 for n in student_grad)  # the critic's term reaches the student


def test_feature_critic_run_resumes_exactly_and_bad_options_fail(tmp_path, teacher):
    cfg = _cfg("fm-distill", "zn", {**_distill_cfg(teacher).model, "w_adv": 0.1, "critic_hidden": 8}, critic_lr=1e-3)
    full = train(cfg, teacher["data"], tmp_path / "full", progress=False)
    train(cfg, teacher["data"], tmp_path / "part", stop_after=1, progress=False)
    resumed = train(cfg, teacher["data"], tmp_path / "part", resume=True, progress=False)
    assert resumed["history"] == full["history"]
    assert all(np.isfinite(e["critic_gap"]) for e in full["history"])  # shown and recorded per epoch
    a, b = (load_tensors(tmp_path / r / "last" / STATE) for r in ("full", "part"))
    assert any(k.startswith("critic.") for k in a) and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("critic") for k in load_tensors(tmp_path / "full" / "best" / WEIGHTS))
    for key, bad in (("w_adv", -1.0), ("w_adv", True), ("critic_hidden", 0), ("critic_hidden", 2.5)):
        with pytest.raises(FastZDCError, match=key):
            make_kind("fm-distill", ZN, {**_distill_cfg(teacher).model, key: bad})
