"""Bumps at the impact point (``vae`` option ``dec_refine``): identity at start, the geometry of the
impact point, bumps where they belong, option checks, a latent flow and its ONNX export on top."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.data import write_h5
from fastzdc.inference import load_generator
from fastzdc.models import get_kind
from fastzdc.nn.refine import DEFLECTION_K_CM_GEV, ImpactRefine
from fastzdc.sampling.noise import NoiseStream
from fastzdc.training.loop import train

from .conftest import make_dataset
from .conftest import tiny_train_config as _cfg

CVAE = {"enc_widths": [4, 8, 8], "enc_blocks": [1, 1], "dec_widths": [0, 8], "dec_blocks": [0, 1],
        "disc_widths": [4, 4, 8], "z_dim": 6, "dec_hidden": 16, "dec_refine": 3}


def _raw(e=2700.0, vx=0.0, vy=0.0, vz=0.0, px=0.0, py=0.0, pz=-2700.0, m=0.938, q=0.0) -> torch.Tensor:
    return torch.tensor([[e, vx, vy, vz, px, py, pz, m, q]], dtype=torch.float64).float()


def _identity_scaled(det) -> ImpactRefine:
    """A refinement whose scaler is the identity: the features it gets are the raw ones."""
    return ImpactRefine(det, hidden_dim=4, n_bumps=3)


def test_a_new_refinement_is_the_identity():
    ref = _identity_scaled(ZN)
    r, c, h = torch.randn(3, 1, 44, 44), torch.randn(3, 9), torch.randn(3, 4)
    assert torch.equal(ref(r, c, h), r)


def test_impact_point_in_fibres():
    zn, zp = _identity_scaled(ZN), _identity_scaled(ZP)
    gx, gy = zn.centre(_raw(q=0.0))  # a neutral particle along the beam: the centre of ZN's face
    assert gx.item() == pytest.approx((ZN.nx - 1) / 2, abs=1e-4) and gy.item() == pytest.approx((ZN.ny - 1) / 2, abs=1e-4)
    # 1 mm of vertex shifts the point by 1 mm; a slope px / |pz| by the lever arm to the face
    assert zn.centre(_raw(vx=0.16))[0].item() == pytest.approx(gx.item() + 1.0, abs=1e-3)
    lever = zn.physics.z_face
    assert zn.centre(_raw(px=2700.0 * 0.16 / lever))[0].item() == pytest.approx(gx.item() + 1.0, abs=1e-3)
    # a beam proton is bent by q K / p towards the ZP
    want = (DEFLECTION_K_CM_GEV / 2700.0 - ZP.x_low_cm) / ZP.pitch_cm - 0.5
    assert zp.centre(_raw(q=1.0, pz=-2700.0))[0].item() == pytest.approx(want, abs=1e-2)
    assert 0 < want < ZP.nx


@torch.no_grad()
def test_bumps_sit_at_the_impact_point_and_move_with_the_shift():
    ref = _identity_scaled(ZN)
    ref.head.bias[0] = 2.0  # the narrowest bump only
    c = _raw(vx=0.16 * 5)  # five fibres off the centre in x
    added = ref(torch.zeros(1, 1, 44, 44), c, torch.zeros(1, 4))[0, 0]
    i, j = np.unravel_index(int(added.argmax()), added.shape)
    gx, gy = ref.centre(c)
    assert abs(i - gx.item()) <= 0.5 and abs(j - gy.item()) <= 0.5
    assert float(added.max()) <= 2.0 and float(added.min()) >= 0.0
    ref.head.bias[3] = 4.0  # shift in x by four fibres
    moved = ref(torch.zeros(1, 1, 44, 44), c, torch.zeros(1, 4))[0, 0]
    i2, _ = np.unravel_index(int(moved.argmax()), moved.shape)
    assert abs(i2 - (gx.item() + 4.0)) <= 0.5


def test_vae_refine_option_checks_and_scaler():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(FastZDCError, match="dec_refine"):
            get_kind("vae")(ZN, {**CVAE, "dec_refine": bad})
    with pytest.raises(FastZDCError, match="conditional VAE"):
        get_kind("vae")(ZN, {**CVAE, "z_dim": 0})
    kind = get_kind("vae")(ZN, CVAE)
    net = kind.build()
    mean, scale = np.arange(9.0), np.arange(1.0, 10.0)
    kind.bind_scaler(net, mean, scale)
    assert torch.equal(net.decoder.refine.physics.mean, torch.arange(9.0))
    assert torch.equal(net.decoder.refine.physics.scale, torch.arange(1.0, 10.0))
    plain = get_kind("vae")(ZN, {**CVAE, "dec_refine": 0})
    assert plain.build().decoder.refine is None


@pytest.mark.usefixtures("one_torch_thread")
def test_latent_flow_on_a_refined_vae_carries_the_scaler_and_exports(tmp_path):
    from fastzdc.export import export_onnx

    data = tmp_path / "zp.h5"
    write_h5(make_dataset(64, ZP, seed=6), data)
    train(_cfg("vae", "zp", CVAE, epochs=1), data, tmp_path / "cvae", progress=False)
    train(_cfg("latent-fm", "zp", {"hidden": 32, "depth": 1, "emb_dim": 16, "vae": str(tmp_path / "cvae" / "best")}, epochs=1),
          data, tmp_path / "lfm", progress=False)
    gen = load_generator(tmp_path / "lfm")
    phys = gen.net.decoder.refine.physics
    assert torch.allclose(phys.mean.double(), torch.from_numpy(gen.scaler.mean), rtol=1e-6)
    assert torch.allclose(phys.scale.double(), torch.from_numpy(gen.scaler.scale), rtol=1e-6)
    particles = make_dataset(9, ZP, seed=3).conditions
    x = gen.generate(particles, seed=2)
    assert x.shape == (9, 56, 30) and np.array_equal(x, gen.generate(particles, seed=2))
    export_onnx(tmp_path / "lfm", tmp_path / "onnx")
    onnx_gen = load_generator(tmp_path / "onnx", threads=1)
    c = gen.scaler.transform(particles)
    noise = NoiseStream(4, gen.kind.noise_shape()).rows(0, 9)
    ref = gen.generate_log(torch.from_numpy(c), noise).numpy()[:, 0]
    assert np.abs(onnx_gen.generate_log(c, noise.numpy()) - ref).max() <= 1e-4


def test_a_second_stage_scales_the_particles_as_its_first_stage(tmp_path):
    """A latent flow trained on another file than its VAE feeds the VAE's decoder (and its impact point)
    particles scaled as the VAE saw them."""
    from fastzdc.checkpoint import load_config

    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_h5(make_dataset(64, ZP, seed=6), a)
    other = make_dataset(64, ZP, seed=7)
    other.conditions[:, 0] *= 3.0  # another energy spectrum
    write_h5(other, b)
    train(_cfg("vae", "zp", CVAE, epochs=1), a, tmp_path / "cvae", progress=False)
    train(_cfg("latent-fm", "zp", {"hidden": 16, "depth": 1, "emb_dim": 8, "vae": str(tmp_path / "cvae" / "best")}, epochs=1),
          b, tmp_path / "lfm", progress=False)
    vae, lfm = (load_config(tmp_path / run / "best")["scaler"] for run in ("cvae", "lfm"))
    assert lfm == vae
    own = load_config(tmp_path / "cvae" / "best")["scaler"]["mean"][0]
    assert own < float(np.mean(other.conditions[:, 0]))  # the second file's own fit would differ
