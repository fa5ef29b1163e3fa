"""The O2 drop-in graph (model.o2.onnx): O2's exact inputs (10-value noise vector, 9 scaled features),
the noise expansion inside it, and O2's per-particle procedure running it unmodified."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.export.dropin import DROPIN_FILE, DROPIN_TOLERANCE, MAX_LONE_FIBRES, compare_counts_log1p, expanded_noise
from fastzdc.export.exporter import export_onnx
from fastzdc.export.o2 import O2ParticleSimulation
from fastzdc.inference import load_generator
from fastzdc.inference.card import load_card
from fastzdc.inference.onnx import OnnxGenerator, open_session
from fastzdc.nn.noise_expand import GRID, O2_NOISE, NoiseExpander
from fastzdc.sampling.noise import NoiseStream

from .conftest import leftovers, make_dataset, random_fm_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dropin_export(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("dropin")
    ckpt = random_fm_checkpoint(root / "tiny", ZP, rows=100)
    result = export_onnx(ckpt, root / "onnx", o2_dropin=True)
    return ckpt, root / "onnx", result


def test_expander_gives_standard_normals_from_ten_values():
    e = NoiseExpander((1, 44, 44))
    z = torch.randn(4000, O2_NOISE, generator=torch.Generator().manual_seed(0))
    x = e(z).reshape(4000, -1).double()
    assert x.shape == (4000, 1936) and torch.equal(e(z), NoiseExpander((1, 44, 44))(z))  # fixed weights
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    assert stats.kstest(x[:, 7].numpy(), "norm").pvalue > 1e-3
    corr = np.corrcoef(x[:, :100].T.numpy())
    assert np.abs(corr[~np.eye(100, dtype=bool)]).max() < 0.1  # pixels uncorrelated (4000 rows: |r| ~ 0.016)
    image_mean = x.mean(1) * np.sqrt(1936)  # a smooth functional, as a flow reads its noise
    assert abs(float(image_mean.std()) - 1) < 0.06
    other = e(z + 1e-2)
    assert float((other - e(z)).abs().mean()) > 0.5  # a small change of the 10 values gives fresh noise


def test_expander_uniforms_are_exact_in_float32():
    """The hash sums are multiples of 2^-10 below 2^13: float32 gives them exactly, in any order."""
    e = NoiseExpander((2, 11, 11))
    z = 3 * torch.randn(256, O2_NOISE, generator=torch.Generator().manual_seed(1))
    q = torch.round(z.clamp(-6, 6) * GRID) / GRID
    v32 = q @ e.weight + e.phase
    v64 = q.double() @ e.weight.double() + e.phase.double()
    assert torch.equal(v32.double(), v64)
    assert float(v64.abs().max()) < 2**13


def test_parity_counts_one_photon_and_lone_fibre_flips_and_nothing_else():
    ref = np.log1p(np.zeros((3, 6, 5), np.float32) + 4.0)
    assert compare_counts_log1p(ref.copy(), ref) == (0.0, 0.0)
    got = ref.copy()
    got[0, 1, 1] = np.log1p(5.0)  # one photon apart
    got[1, :3, 0] = np.log1p(6.0)  # two photons apart, in three fibres of one image
    got[2, 2, 2] = np.log1p(0.0)  # a lone fibre of its image, four photons apart (a wrapped uniform)
    diff, flipped = compare_counts_log1p(got, ref)
    assert diff == pytest.approx(np.log1p(6.0) - np.log1p(4.0), rel=1e-6) and flipped == pytest.approx(2 / got.size)
    got[1, :3, 0] = ref[1, :3, 0]
    got[1, :MAX_LONE_FIBRES, 4] = np.log1p(9.0)  # lone fibres, as many as allowed
    diff, flipped = compare_counts_log1p(got, ref)
    assert diff <= DROPIN_TOLERANCE and flipped == pytest.approx((2 + MAX_LONE_FIBRES) / got.size)


def test_dropin_file_card_and_signature(dropin_export):
    _, out, result = dropin_export
    assert (out / DROPIN_FILE).is_file() and leftovers(out.parent) == []
    card = load_card(out)
    assert card["o2"]["model_file"] == DROPIN_FILE and card["o2"]["noise_values"] == O2_NOISE
    assert card["files"]["float32-o2"]["inputs"] == ["noise", "conditions"]
    assert result["parity"]["float32-o2"] <= 1e-3
    sess = open_session(out / DROPIN_FILE)
    assert [(i.name, i.shape[1:], i.type) for i in sess.get_inputs()] == [
        ("noise", [O2_NOISE], "tensor(float)"), ("conditions", [9], "tensor(float)")]
    assert sess.get_outputs()[0].name == "log_image"


def test_dropin_equals_pytorch_on_the_expanded_noise(dropin_export):
    ckpt, out, _ = dropin_export
    torch_gen = load_generator(ckpt)
    cond = torch_gen.scaler.transform(make_dataset(8, ZP, seed=4).conditions)
    noise10 = NoiseStream(3, (O2_NOISE,)).rows(0, 8).numpy()
    ref = torch_gen.generate_log(torch.from_numpy(cond), torch.from_numpy(expanded_noise(noise10, (1, 56, 30)))).numpy()[:, 0]
    got = open_session(out / DROPIN_FILE).run(["log_image_unrounded"], {"noise": noise10, "conditions": cond})[0]
    assert np.abs(got - ref).max() <= 1e-3


def test_o2_procedure_runs_the_dropin_unmodified(dropin_export):
    """O2's calls as they are: a 10-value noise vector first, the scaled features second, batch 1."""
    _, out, _ = dropin_export
    sim = O2ParticleSimulation(out / DROPIN_FILE, out / "scaler.txt", ZP)
    card = load_card(out)
    gen = OnnxGenerator(open_session(out / DROPIN_FILE), ZP, load_generator(out).scaler, (O2_NOISE,),
                        name="dropin", sampler=card["sampler"])
    particles = make_dataset(4, ZP, seed=12).conditions
    noise10 = np.random.default_rng(5).standard_normal((4, O2_NOISE)).astype(np.float32)
    sums = ZP.channel_sums(gen.counts(gen.scaler.transform(particles), noise10))
    assert sums.sum() > 0
    for k in range(4):
        assert sim.channels(particles[k], noise10[k]) == sums[k].astype(int).tolist()
    with pytest.raises(FastZDCError, match=f"needs {O2_NOISE} values, got 1680"):
        sim.channels(particles[0], np.zeros(1680, np.float32))  # a full noise image is not what this graph takes


def test_export_without_the_flag_writes_no_dropin(tmp_path):
    ckpt = random_fm_checkpoint(tmp_path / "tiny", ZN, rows=60)
    export_onnx(ckpt, tmp_path / "onnx")
    card = json.loads((tmp_path / "onnx" / "model_card.json").read_text())
    assert not (tmp_path / "onnx" / DROPIN_FILE).exists() and card["o2"]["model_file"] == "model.onnx"
    assert card["o2"]["noise_values"] == 1936


def test_export_help_names_the_dropin(cli):
    res = cli("export", "onnx", "--help")
    assert res.code == 0 and "--o2-dropin" in res.out


def test_first_lit_keeps_the_first_non_empty_candidate():
    from fastzdc.nn.sampler_graph import first_lit

    x = torch.zeros(6, 1, 3, 3)  # 2 particles x 3 candidates
    x[1, 0, 0, 0], x[2, 0, 1, 1] = 2.0, 3.0  # particle 0: candidates 1 and 2 lit -> 1
    out = first_lit(x, 3)
    assert out.shape == (2, 1, 3, 3) and float(out[0, 0, 0, 0]) == 2.0 and float(out[0].sum()) == 2.0
    assert float(out[1].abs().sum()) == 0  # particle 1: all dark -> its first (empty) candidate
    x[4, 0, 2, 2] = 0.3  # below half a photon: not lit, the first candidate is kept
    assert float(first_lit(x, 3)[1].abs().sum()) == 0


def _gated_export(tmp_path, probs: list[float], candidates: int) -> tuple[Path, dict]:
    from fastzdc.training.gate import save_gate

    from .test_gated import constant_gate

    gate = constant_gate(probs)
    gate_dir = save_gate(tmp_path / f"gate{candidates}", gate.net, gate.scaler, {"hidden": 4, "depth": 1}, {}, {}, {})
    ckpt = tmp_path / "tiny"
    if not ckpt.exists():
        random_fm_checkpoint(ckpt, ZP, rows=60)
    out = tmp_path / f"onnx-{probs[3]}-{candidates}"
    return out, export_onnx(ckpt, out, o2_dropin=True, o2_candidates=candidates, o2_gate=gate_dir)


@pytest.mark.parametrize(("both", "candidates"), [(0.0, 1), (0.5, 2), (1.0, 3)])
def test_gated_dropin_draws_the_lit_fraction_in_the_graph(tmp_path, both, candidates):
    """P(ZP lit | ZN or ZP lit) = both / (1 - none) with a gate of (none 0, ZN only 1 - both, ZP only 0, both);
    the export self-check compares the graph with the same module in PyTorch."""
    out, result = _gated_export(tmp_path, [0.0, 1.0 - both, 0.0, both], candidates)
    entry = result["card"]["files"]["float32-o2"]
    assert entry["candidates"] == candidates and len(entry["gate"]["weights_sha256"]) == 64
    sess = open_session(out / DROPIN_FILE, threads=1)
    n = 400
    noise10 = NoiseStream(3, (O2_NOISE,)).rows(0, n).numpy()
    cond = np.zeros((n, 9), np.float32)
    images = sess.run(["log_image"], {"noise": noise10, "conditions": cond})[0]
    lit = (images.reshape(n, -1).max(1) > 0).mean()
    if both == 0.0:
        assert lit == 0
    else:  # the tiny random model itself lights most draws; candidates make that nearly all
        assert lit == pytest.approx(both, abs=0.08)


def test_o2_candidates_need_the_dropin_flag(tmp_path, cli):
    ckpt = random_fm_checkpoint(tmp_path / "tiny", ZN, rows=60)
    res = cli("export", "onnx", "--model", ckpt, "-o", tmp_path / "onnx", "--o2-candidates", "2")
    assert res.code == 2 and "--o2-dropin" in (res.err + res.out) and not (tmp_path / "onnx").exists()
