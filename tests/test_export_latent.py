"""The latent-FM exports of the shipped weights (flow + VAE decoder + noise dither in one graph): current
with their weights, equal to PyTorch on the same noise, usable by ``generate`` / ``evaluate`` and by O2's
per-particle procedure. The folders are not stored in the repository: ``weights/onnx/lfm-*`` when a user
made them, else one export per detector into a temporary folder (about 10 s each)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fastzdc import ZN, ZP
from fastzdc.data import write_h5
from fastzdc.export.exporter import TOLERANCE
from fastzdc.export.o2 import O2ParticleSimulation, scale_features
from fastzdc.inference import load_generator
from fastzdc.inference.card import load_card
from fastzdc.inference.onnx import OnnxGenerator, open_session
from fastzdc.sampling.noise import NoiseStream

from .conftest import make_dataset

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = {"zn": ZN, "zp": ZP}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


_EXPORTS: dict[str, Path] = {}


def _folder(det: str) -> Path:
    folder = ROOT / "weights" / "onnx" / f"lfm-{det}"
    if folder.exists():
        return folder
    if det not in _EXPORTS:
        import atexit
        import shutil
        import tempfile

        from fastzdc.export import export_onnx

        tmp = tempfile.mkdtemp(prefix=f"lfm-{det}-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        out = Path(tmp) / "export"
        export_onnx(ROOT / "weights" / f"lfm-{det}", out, o2_dropin=True)
        _EXPORTS[det] = out
    return _EXPORTS[det]


@pytest.mark.parametrize("det", ["zn", "zp"])
def test_shipped_latent_fm_export_is_current_and_matches_pytorch(det):
    folder = _folder(det)
    card = load_card(folder)
    weights = ROOT / "weights" / f"lfm-{det}" / "weights.safetensors"
    assert card["source"]["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest(), \
        "stale ONNX export: run fastzdc export onnx --o2-dropin (docs/onnx_o2.md)"
    assert card["kind"] == "latent-fm" and card["o2"]["model_file"] == "model.o2.onnx" and card["o2"]["noise_values"] == 10
    torch_gen = load_generator(ROOT / "weights" / f"lfm-{det}", **card["sampler"])  # float32 PyTorch, the export's steps
    assert card["sampler"] == torch_gen.sampler and card["noise_shape"] == list(torch_gen.kind.noise_shape())
    particles = make_dataset(32, DETECTORS[det], seed=21).conditions
    cond = torch_gen.scaler.transform(particles)
    noise = NoiseStream(4, tuple(card["noise_shape"])).rows(0, 32)
    ref = torch_gen.generate_log(torch.from_numpy(cond), noise).numpy()[:, 0]
    onnx_gen = load_generator(folder, threads=1)
    assert onnx_gen.backend == "onnx" and onnx_gen.noise_shape == tuple(card["noise_shape"])
    diff = np.abs(onnx_gen.generate_log(cond, noise.numpy()) - ref).max()
    assert diff <= TOLERANCE["float32"], diff
    t = torch_gen.generate(particles, seed=4).astype(int)
    o = onnx_gen.generate(particles, seed=4).astype(int)
    assert t.sum() > 0 and np.abs(t - o).max() <= 1 and np.mean(t != o) < 1e-3


@pytest.mark.parametrize("det", ["zn", "zp"])
def test_o2_per_particle_procedure_on_the_latent_fm(det):
    folder, detector = _folder(det), DETECTORS[det]
    sim = O2ParticleSimulation(folder / "model.onnx", folder / "scaler.txt", detector)
    gen = load_generator(folder, threads=1)
    particles = make_dataset(4, detector, seed=13).conditions
    noise = NoiseStream(2, gen.noise_shape).rows(0, 4).numpy()
    # the features scaled as O2 scales them (float32): the graph's Poisson draw turns a last-bit difference
    # of the inputs into a photon now and then
    scaled = np.stack([scale_features(p, sim.means, sim.scales) for p in particles])
    sums = detector.channel_sums(gen.counts(scaled, noise))
    assert sums.sum() > 0
    for k in range(4):
        assert sim.channels(particles[k], noise[k].ravel()) == sums[k].astype(int).tolist()
    # the shipped drop-in graph takes O2's 10-value noise vector as it is
    dropin = O2ParticleSimulation(folder / "model.o2.onnx", folder / "scaler.txt", detector)
    vec = np.random.default_rng(1).standard_normal((4, 10)).astype(np.float32)
    direct = OnnxGenerator(open_session(folder / "model.o2.onnx"), detector, gen.scaler, (10,), name="o2", sampler={})
    sums10 = detector.channel_sums(direct.counts(scaled, vec))
    assert sums10.sum() > 0
    assert [dropin.channels(particles[k], vec[k]) for k in range(4)] == sums10.astype(int).tolist()


def test_generate_and_evaluate_run_the_latent_fm_export(cli, tmp_path):
    data = tmp_path / "zn.h5"
    write_h5(make_dataset(24, ZN, seed=5), data)
    res = cli("generate", "--model", _folder("zn"), "--conditions", data, "-o", tmp_path / "g.h5", "--backend", "onnx",
              "--seed", "3", "--json")
    assert res.code == 0, res.err
    assert res.json()["backend"] == "onnx"
    with h5py.File(tmp_path / "g.h5") as f:
        counts = f["responses"][:]
    again = load_generator(_folder("zn"), threads=1).generate(make_dataset(24, ZN, seed=5).conditions, seed=3 * 7919)  # chunk 0
    assert counts.shape == (24, 44, 44) and np.array_equal(counts, again)
    res = cli("evaluate", "--data", data, "--model", _folder("zn"), "--no-floor", "--n-rep", "2", "--quick",
              "--out", tmp_path / "rep", "--json")
    assert res.code == 0, res.err
    row = res.json()["results"][0]
    assert row["extra"]["sampler"]["steps"] == 4 and np.isfinite(row["w_mean"]) and row["w_mean"] > 0
