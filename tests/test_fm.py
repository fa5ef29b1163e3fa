"""Flow matching: sampler maths, training loop, exact resume, checkpoints, generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.checkpoint import WEIGHTS, load_tensors
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.sampling.ode import evaluations, integrate
from fastzdc.training.config import TrainConfig, parse_set
from fastzdc.training.loop import lr_at, train

from .conftest import make_dataset

TINY = {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("heun", 2)])
def test_solver_order_on_linear_ode(method, order):
    # dx/dt = x, x(0) = 1 -> e; error shrinks like h^order
    errs = [abs(float(integrate(lambda x, t: x, torch.ones(1, dtype=torch.float64), n, method)) - np.e) for n in (8, 16)]
    assert errs[0] / errs[1] == pytest.approx(2**order, rel=0.25)
    assert evaluations(4, method) == {"euler": 4, "midpoint": 8, "heun": 7}[method]


def test_solver_exact_for_constant_velocity_and_bad_args():
    for m in ("euler", "midpoint", "heun"):
        assert torch.allclose(integrate(lambda x, t: torch.full_like(x, 2.0), torch.zeros(4), 3, m), torch.full((4,), 2.0))
    with pytest.raises(FastZDCError):
        integrate(lambda x, t: x, torch.zeros(1), 0)
    with pytest.raises(FastZDCError):
        integrate(lambda x, t: x, torch.zeros(1), 2, "rk45")


@pytest.mark.parametrize("det", [ZN, ZP])
def test_unet_exact_shape_and_no_pixel_shift(det):
    kind = get_kind("fm")(det, TINY)
    net = kind.build()
    x = torch.randn(2, 1, *det.shape)
    assert net(x, torch.zeros(2, 9), torch.zeros(2)).shape == x.shape
    out = kind.sample(net, torch.zeros(3, 9), torch.randn(3, 1, *det.shape), steps=2, method="euler")
    assert out.shape == (3, 1, *det.shape) and (out >= 0).all()


def test_rectified_flow_loss_is_zero_for_the_true_velocity():
    """With a network that returns x1 - z exactly (we know x1 and can recover z), the loss is 0."""
    kind = get_kind("fm")(ZN, {"time_sampling": "uniform"})
    x1 = torch.rand(4, 1, 44, 44)

    class Oracle(torch.nn.Module):
        def forward(self, xt, cond, t):
            tb = t[:, None, None, None]
            z = (xt - tb * x1) / (1 - tb)
            return x1 - z

    loss = kind.loss(Oracle(), x1, torch.zeros(4, 9), torch.Generator().manual_seed(0))
    assert float(loss) < 1e-8


def test_lr_schedule_shape():
    cfg = TrainConfig(lr=1e-3, warmup=0.1)
    lrs = [lr_at(cfg, s, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3 / 25) and max(lrs) == pytest.approx(1e-3, rel=0.01)
    assert lrs[-1] < 1e-4 and int(np.argmax(lrs)) == 10


def _tiny_cfg(**kw) -> TrainConfig:
    base = dict(kind="fm", detector="zn", model=TINY, epochs=2, batch_size=32, val_rows=16, seed=3, threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "zn.h5"
    write_h5(make_dataset(160, ZN, seed=5), path)
    return path


def test_resume_equals_uninterrupted(tmp_path, tiny_data):
    cfg = _tiny_cfg()
    full = train(cfg, tiny_data, tmp_path / "full", progress=False)
    part = train(cfg, tiny_data, tmp_path / "part", stop_after=1, progress=False)
    assert part["epochs"] == 1
    resumed = train(cfg, tiny_data, tmp_path / "part", resume=True, progress=False)
    assert resumed["epochs"] == 2 and resumed["steps"] == full["steps"]
    a = load_tensors(tmp_path / "full" / "last" / WEIGHTS)
    b = load_tensors(tmp_path / "part" / "last" / WEIGHTS)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    hist_a = json.loads((tmp_path / "full" / "last" / "train_state.json").read_text())["history"]
    hist_b = json.loads((tmp_path / "part" / "last" / "train_state.json").read_text())["history"]
    assert hist_a == hist_b
    with pytest.raises(FastZDCError, match="differ"):
        train(_tiny_cfg(lr=5e-3), tiny_data, tmp_path / "part", resume=True, progress=False)


def test_checkpoint_generator_is_seeded_and_counts_are_valid(tmp_path, tiny_data):
    train(_tiny_cfg(epochs=1), tiny_data, tmp_path / "run", progress=False)
    gen = load_generator(tmp_path / "run")
    cfg = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert cfg["data"]["synthetic"] is True and len(cfg["data"]["sha256"]) == 64 and "val_w" in cfg["metrics"]
    cond = make_dataset(10, ZN, seed=9).conditions
    a = gen.generate(cond, seed=1, batch_size=4)
    b = gen.generate(cond, seed=1, batch_size=4)
    c = gen.generate(cond, seed=2, batch_size=4)
    assert a.shape == (10, 44, 44) and a.dtype == np.uint16
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_nan_loss_stops_with_clear_message(tmp_path, tiny_data):
    with pytest.raises(FastZDCError, match="loss is nan"):
        train(_tiny_cfg(lr=1e30, grad_clip=0.0, epochs=3), tiny_data, tmp_path / "nan", progress=False)


def test_corrupt_and_mismatched_checkpoints(tmp_path, tiny_data):
    train(_tiny_cfg(epochs=1), tiny_data, tmp_path / "run", progress=False)
    best = tmp_path / "run" / "best"
    (best / WEIGHTS).write_bytes((best / WEIGHTS).read_bytes()[:100])
    with pytest.raises(FastZDCError, match="corrupt safetensors"):
        load_generator(best)
    train(_tiny_cfg(epochs=1), tiny_data, tmp_path / "run2", progress=False)
    cfg_path = tmp_path / "run2" / "best" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["hparams"]["widths"] = [4, 8, 16]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(FastZDCError, match="shape"):
        load_generator(tmp_path / "run2" / "best")
    cfg_path.write_text("{not json")
    with pytest.raises(FastZDCError, match="corrupt config.json"):
        load_generator(tmp_path / "run2" / "best")
    with pytest.raises(FastZDCError, match="not found"):
        load_generator(tmp_path / "nothing")


def test_config_toml_and_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('kind = "fm"\ndetector = "zp"\nepochs = 3\n[model]\nwidths = [4, 8, 8]\n[sampler]\nsteps = 6\n')
    cfg = TrainConfig.from_toml(p).with_overrides(parse_set(["lr=0.01", "model.emb_dim=8", "sampler.method=heun"]))
    assert cfg.detector == "zp" and cfg.epochs == 3 and cfg.lr == 0.01
    assert cfg.model == {"widths": [4, 8, 8], "emb_dim": 8} and cfg.sampler == {"steps": 6, "method": "heun"}
    p.write_text("epochz = 3\n")
    with pytest.raises(FastZDCError, match="unknown config keys"):
        TrainConfig.from_toml(p)


def test_dequantized_decoding_is_the_inverse_of_the_training_map():
    from fastzdc.sampling.counts import counts_from_log_images

    n = torch.tensor([0.0, 1.0, 2.0, 7.0, 500.0]).reshape(1, 1, 1, 5)
    u = torch.tensor([0.0, 0.3, 0.99, 0.5, 0.01]).reshape(1, 1, 1, 5)
    x = torch.log1p(n + u)
    assert counts_from_log_images(x, dequantized=True).ravel().tolist() == [0, 1, 2, 7, 500]
    assert counts_from_log_images(torch.log1p(n), dequantized=False).ravel().tolist() == [0, 1, 2, 7, 500]
    kind = get_kind("fm")(ZN, {**TINY, "dequantize": True})
    with torch.no_grad():
        assert kind.dequantized and float(kind.loss(kind.build(), torch.zeros(2, 1, 44, 44), torch.zeros(2, 9), torch.Generator())) > 0


def test_physics_features_are_the_impact_point_and_travel_with_the_checkpoint(tmp_path, tiny_data):
    from fastzdc.data import StandardScaler, load_dataset
    from fastzdc.nn.physics import PhysicsConditions

    phys = PhysicsConditions(ZN)
    raw = np.array([[2510.0, 0, 0, 0, 0, 0, 2510.0, 939.6, 0],       # straight down the beam line
                    [2510.0, 0, 0, 0, 0.0, 0.0, -2510.0, 938.3, 1]], np.float32)  # a proton on side C
    x_c, z = ZN.x_center_cm, 0.5 * (ZN.z_face_a_cm + ZN.z_face_c_cm)
    raw[0, 4] = (x_c + 0.5 * (ZN.x_high_cm - ZN.x_low_cm)) / z * raw[0, 6]  # aimed at the face's +x edge
    sc = StandardScaler.fit(np.vstack([raw, raw * 1.1]))
    phys.set_scaler(sc.mean, sc.scale)
    out = phys(torch.from_numpy(sc.transform(raw)))
    assert out.shape == (2, 13) and torch.allclose(out[:, :9], torch.from_numpy(sc.transform(raw)))
    log_e, u, v, rigidity = out[:, 9:].T
    assert torch.allclose(log_e, torch.log(torch.tensor(2.51)), atol=1e-4)
    assert abs(float(u[0]) - 1.0) < 1e-3 and abs(float(v[0])) < 1e-3
    assert abs(float(rigidity[0])) < 1e-5 and abs(float(rigidity[1]) - 1000 / 2510) < 1e-4

    train(_tiny_cfg(epochs=1, model={**TINY, "physics_cond": True}), tiny_data, tmp_path / "run", progress=False)
    gen = load_generator(tmp_path / "run")
    mean = gen.net.physics.mean.numpy()
    split_scaler = StandardScaler.from_dict(json.loads((tmp_path / "run" / "best" / "config.json").read_text())["scaler"])
    assert np.allclose(mean, split_scaler.mean, rtol=1e-6) and not np.allclose(mean, 0)  # the training scaler, saved
    cond = load_dataset(tiny_data).conditions[:6]
    assert np.array_equal(gen.generate(cond, seed=3), gen.generate(cond, seed=3, batch_size=2))
