"""ONNX export, the ONNX Runtime back end and the parity suite.

Stated tolerances (max |ONNX Runtime - PyTorch| of the log1p image, same noise and conditions):
float32 1e-3 (measured ~2e-5), float16 0.1 (measured ~0.03) -- fastzdc.export.exporter.TOLERANCE.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.data import StandardScaler, write_h5
from fastzdc.export.exporter import TOLERANCE
from fastzdc.export.o2 import O2ParticleSimulation, calculate_channels, load_scales
from fastzdc.export.rewrite import with_graph_noise
from fastzdc.inference import load_generator
from fastzdc.inference.backend import choose_backend
from fastzdc.inference.card import load_card
from fastzdc.inference.onnx import OnnxGenerator, open_session
from fastzdc.sampling.noise import NoiseStream

from .conftest import leftovers, make_dataset, random_fm_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"zn": ZN, "zp": ZP}
TINY = {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(res, *needles: str) -> None:
    lines = res.err.strip().splitlines()
    assert res.code == 2 and len(lines) == 1, res.err
    for n in needles:
        assert n in lines[0], lines[0]


# --------------------------------------------------------------------------- fixtures
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """An untrained ZP flow-matching checkpoint with random (not zero-initialised) weights: no training
    needed to test export mechanics, and ZP exercises the pad/crop of the 56 x 30 image."""
    return random_fm_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", ZP, rows=200,
                                data={"sha256": "ab" * 32, "synthetic": True, "generator": "test fixture"},
                                metrics={"val_w": 9.9})


@pytest.fixture(scope="module")
def tiny_export(tiny_ckpt, tmp_path_factory) -> tuple[Path, dict]:
    from fastzdc.cli import main

    out = tmp_path_factory.mktemp("export") / "tiny-onnx"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            code = main(["export", "onnx", "--model", str(tiny_ckpt), "--out", str(out), "--fp16", "--json"])
        except SystemExit as ex:
            code = ex.code
    assert code in (0, None)
    return out, json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def cond_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cond") / "zp.h5"
    write_h5(make_dataset(40, ZP, seed=7), path)
    return path


# --------------------------------------------------------------------------- the export folder
def test_export_folder_card_and_signatures(tiny_ckpt, tiny_export):
    out, result = tiny_export
    names = sorted(p.name for p in out.iterdir())
    assert names == ["model.fp16.graph-noise.onnx", "model.fp16.onnx", "model.graph-noise.onnx", "model.onnx",
                     "model_card.json", "scaler.json", "scaler.txt"]
    assert leftovers(out.parent) == []
    card = load_card(out)
    assert card == result["card"]
    assert (card["detector"], card["kind"], card["sampler"]) == ("zp", "fm", {"steps": 2, "method": "euler", "shift": 1.0})
    assert card["noise_shape"] == [1, 56, 30] and card["image_shape"] == [56, 30]
    assert [i["name"] for i in card["inputs"]] == ["noise", "conditions"]
    assert [(o["name"], o["shape"]) for o in card["outputs"]] == [("log_image", ["batch", 56, 30]),
                                                                  ("log_image_unrounded", ["batch", 56, 30])]
    assert card["synthetic"] is True and card["training_data"]["sha256"] == "ab" * 32
    assert card["validation_metrics"] == {"val_w": 9.9} and card["code_version"]
    assert card["source"]["weights_sha256"] == _sha256(tiny_ckpt / "weights.safetensors")
    for variant, entry in card["files"].items():
        assert entry["sha256"] == _sha256(out / entry["file"]), variant
    assert card["parity"]["float32"] <= TOLERANCE["float32"] and card["parity"]["float16"] <= TOLERANCE["float16"]
    # the ONNX file describes itself too
    meta = {p.key: p.value for p in onnx.load(out / "model.onnx").metadata_props}
    assert meta["fastzdc.detector"] == "zp" and json.loads(meta["fastzdc.noise_shape"]) == [1, 56, 30]
    # dynamic batch, both inputs and output as the card says
    for file, inputs in (("model.onnx", ["noise", "conditions"]), ("model.fp16.onnx", ["noise", "conditions"]),
                         ("model.graph-noise.onnx", ["conditions"]), ("model.fp16.graph-noise.onnx", ["conditions"])):
        sess = open_session(out / file)
        assert [i.name for i in sess.get_inputs()] == inputs and all(i.type == "tensor(float)" for i in sess.get_inputs())
        assert [o.name for o in sess.get_outputs()] == ["log_image", "log_image_unrounded"]
        for b in (1, 3):
            feeds = {"conditions": np.zeros((b, 9), np.float32)}
            if "noise" in inputs:
                feeds["noise"] = np.random.default_rng(b).standard_normal((b, 1, 56, 30), dtype=np.float32)
            log, raw = sess.run(None, feeds)
            assert log.shape == raw.shape == (b, 56, 30) and log.dtype == np.float32 and (raw >= 0).all()
            n = np.expm1(log.astype(np.float64))  # log1p of integer counts: round(exp(raw) - 1)
            assert np.abs(n - np.rint(n)).max() < 1e-3 and np.array_equal(np.rint(n), np.rint(np.expm1(raw.astype(np.float64))))


def test_onnx_equals_torch_on_the_same_noise(tiny_ckpt, tiny_export):
    out, _ = tiny_export
    torch_gen = load_generator(tiny_ckpt)
    cond = torch_gen.scaler.transform(make_dataset(12, ZP, seed=3).conditions)
    noise = NoiseStream(5, (1, 56, 30)).rows(0, 12)
    ref = torch_gen.generate_log(torch.from_numpy(cond), noise).numpy()[:, 0]
    for precision in ("float32", "float16"):
        gen = load_generator(backend="onnx", path=out, precision=precision, threads=1)
        got = gen.generate_log(cond, noise.numpy())
        assert np.abs(got - ref).max() <= TOLERANCE[precision], precision


def test_graph_noise_variant_draws_fresh_noise_per_run(tiny_export):
    out, _ = tiny_export
    sess = open_session(out / "model.graph-noise.onnx")
    cond = np.zeros((4, 9), np.float32)
    a, b = (sess.run(["log_image_unrounded"], {"conditions": cond})[0] for _ in range(2))
    assert a.shape == (4, 56, 30) and (a >= 0).all()
    assert not np.array_equal(a, b) and not np.array_equal(a[0], a[1])


def _toy_graph(noise_name="noise", noise_shape=("batch", 1, 56, 30), noise_type=TensorProto.FLOAT,
               cond_shape=("batch", 9), out_shape=("batch", 56, 30), offset=0.0) -> onnx.ModelProto:
    """``log_image = relu(reshape(noise) + offset)``: a stand-in with the export's signature."""
    nodes = [
        helper.make_node("Cast", [noise_name], ["nf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["nf", "shape"], ["r"]),
        helper.make_node("Add", ["r", "offset"], ["s"]),
        helper.make_node("Relu", ["s"], ["log_image"]),
        helper.make_node("ReduceSum", ["conditions"], ["unused"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "toy",
        [helper.make_tensor_value_info(noise_name, noise_type, list(noise_shape)),
         helper.make_tensor_value_info("conditions", TensorProto.FLOAT, list(cond_shape))],
        [helper.make_tensor_value_info("log_image", TensorProto.FLOAT, list(out_shape))],
        [helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], [-1, *out_shape[1:]]),
         helper.make_tensor("offset", TensorProto.FLOAT, [], [offset])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_graph_noise_rewrite_draws_standard_normal_noise():
    sess = open_session(with_graph_noise(_toy_graph(offset=5.0)).SerializeToString())
    assert [i.name for i in sess.get_inputs()] == ["conditions"]
    a, b = (sess.run(None, {"conditions": np.zeros((50, 9), np.float32)})[0] for _ in range(2))
    assert a.shape == (50, 56, 30) and not np.array_equal(a, b)
    z = a.ravel() - 5.0  # relu(z + 5) = z + 5 for all but ~1e-7 of N(0, 1) draws
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01 and abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.01


# --------------------------------------------------------------------------- rejected files
@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"noise_name": "z"}, "ONNX inputs are [z, conditions], expected [noise, conditions]"),
        ({"noise_shape": ("batch", 1, 44, 44)}, "input 'noise' has shape [batch, 1, 44, 44], expected [batch, 1, 56, 30]"),
        ({"noise_shape": (256, 1, 56, 30)}, "with a dynamic batch"),
        ({"noise_type": TensorProto.DOUBLE}, "input 'noise' has type tensor(double), expected tensor(float)"),
        ({"cond_shape": ("batch", 10)}, "input 'conditions' has shape [batch, 10]"),
        ({"out_shape": ("batch", 1680)}, "output 'log_image' has shape [batch, 1680], expected [batch, 56, 30]"),
        (None, "cannot load the ONNX model"),
    ],
)
def test_wrong_file_is_rejected_at_load_time(tiny_export, tmp_path, cli, cond_file, kwargs, needle):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_export[0], folder)
    if kwargs is None:
        (folder / "model.onnx").write_bytes(b"not an onnx file")
    else:
        onnx.save(_toy_graph(**kwargs), folder / "model.onnx")
    _record_sha(folder)
    with pytest.raises(FastZDCError) as err:
        load_generator(folder)
    assert needle in str(err.value) and "\n" not in str(err.value) and str(folder / "model.onnx") in str(err.value)
    res = cli("generate", "--model", folder, "--conditions", cond_file, "--out", tmp_path / "g.h5")
    _one_line_error(res, needle)
    assert not (tmp_path / "g.h5").exists() and leftovers(tmp_path) == []


def _record_sha(folder: Path) -> None:
    """Re-record model.onnx's SHA-256 in the card (a replaced file is otherwise refused as modified)."""
    card = json.loads((folder / "model_card.json").read_text())
    card["files"]["float32"]["sha256"] = _sha256(folder / "model.onnx")
    (folder / "model_card.json").write_text(json.dumps(card))


def test_toy_graph_with_the_right_signature_is_accepted(tiny_export, tmp_path):
    folder = tmp_path / "ok"
    shutil.copytree(tiny_export[0], folder)
    onnx.save(_toy_graph(), folder / "model.onnx")
    _record_sha(folder)
    gen = load_generator(folder)
    assert isinstance(gen, OnnxGenerator) and gen.generate(np.zeros((2, 9), np.float32) + 1).shape == (2, 56, 30)


# --------------------------------------------------------------------------- CLI and back ends
def test_export_help_and_bad_arguments(cli, tiny_ckpt, tmp_path):
    for cmd in (["export"], ["export", "onnx"]):
        assert cli(*cmd, "--help").code == 0
    other = tmp_path / "not-an-export"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    _one_line_error(cli("export", "onnx", "--model", tiny_ckpt, "--out", other), "not a fastzdc ONNX export")
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    _one_line_error(cli("export", "onnx", "--model", tiny_ckpt, "--out", tmp_path / "x", "--opset", "17"), "--opset")
    _one_line_error(cli("export", "onnx", "--model", tiny_ckpt, "--out", tmp_path / "x", "--steps", "0"), "--steps")
    _one_line_error(cli("export", "onnx", "--model", tmp_path / "nothing", "--out", tmp_path / "x"), "not found")
    _one_line_error(cli("export", "onnx", "--model", tiny_ckpt, "--out", tmp_path / "missing" / "x"), "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-an-export"]


def test_generate_backends_agree_with_the_same_seed(cli, tiny_ckpt, tiny_export, cond_file, tmp_path):
    import h5py

    res_t = cli("generate", "--model", tiny_ckpt, "--conditions", cond_file, "--out", tmp_path / "t.h5", "--backend", "torch",
                "--seed", "3", "--batch-size", "16", "--precision", "float32", "--json")
    res_o = cli("generate", "--model", tiny_export[0], "--conditions", cond_file, "--out", tmp_path / "o.h5", "--seed", "3",
                "--batch-size", "7", "--json")
    assert res_t.code == 0 and res_o.code == 0, res_t.err + res_o.err
    assert res_t.json()["backend"] == "torch" and res_o.json()["backend"] == "onnx"
    with h5py.File(tmp_path / "t.h5") as ft, h5py.File(tmp_path / "o.h5") as fo:
        t, o = ft["responses"][...].astype(int), fo["responses"][...].astype(int)
        assert fo.attrs["backend"] == "onnx"
    assert t.shape == o.shape == (40, 56, 30) and t.sum() > 0
    assert np.abs(t - o).max() <= 1 and np.mean(t != o) < 1e-3
    # a fixed-sampler graph refuses other sampler options instead of silently ignoring them
    _one_line_error(cli("generate", "--model", tiny_export[0], "--conditions", cond_file, "--out", tmp_path / "s.h5",
                        "--steps", "5"), "re-export")
    _one_line_error(cli("generate", "--model", tiny_export[0], "--conditions", cond_file, "--out", tmp_path / "s.h5",
                        "--backend", "torch"), "--backend onnx")


def test_onnx_backend_exports_a_checkpoint_in_memory(tiny_ckpt, cond_file):
    from fastzdc.data import load_dataset

    cond = load_dataset(cond_file).conditions[:10]
    onnx_gen = load_generator(tiny_ckpt, backend="onnx", steps=1)
    torch_gen = load_generator(tiny_ckpt, steps=1)
    assert isinstance(onnx_gen, OnnxGenerator) and onnx_gen.sampler == {"steps": 1, "method": "euler", "shift": 1.0}
    a, b = onnx_gen.generate(cond, seed=4, batch_size=3), torch_gen.generate(cond, seed=4)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1 and np.mean(a != b) < 1e-3
    with pytest.raises(FastZDCError, match="float16"):
        load_generator(backend="onnx", path=tiny_ckpt, precision="float16")


def test_auto_backend_choice(tiny_ckpt, tiny_export):
    assert choose_backend(tiny_export[0], "auto", batch_size=4096) == "onnx"
    for batch in (1, 7, 256, 4096):  # by the model, never by the batch size
        assert choose_backend(tiny_ckpt, "auto", device="cpu", batch_size=batch) == "torch"
    assert choose_backend(tiny_ckpt, "torch", batch_size=1) == "torch"
    with pytest.raises(FastZDCError, match="unknown back end"):
        choose_backend(tiny_ckpt, "tensorrt")
    with pytest.raises(FastZDCError, match="--backend onnx"):
        choose_backend(tiny_export[0], "torch")


# --------------------------------------------------------------------------- scaler and O2 re-statement
def test_scaler_text_parses_back_to_the_same_numbers(tiny_ckpt, tiny_export):
    out, _ = tiny_export
    ref = load_generator(tiny_ckpt).scaler
    for scaler in (StandardScaler.load_o2(out / "scaler.txt"), StandardScaler.load_json(out / "scaler.json")):
        assert np.array_equal(scaler.mean, ref.mean) and np.array_equal(scaler.scale, ref.scale)
    means, scales = load_scales(out / "scaler.txt")  # O2's parser, in float32
    assert np.array_equal(means, ref.mean.astype(np.float32)) and np.array_equal(scales, ref.scale.astype(np.float32))
    assert "\r" not in (out / "scaler.txt").read_text()


def test_o2_scale_parser_quirks(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("#means\r\n1\r\n")  # CRLF: O2 never finds a line equal to "#means"
    assert load_scales(p) is None
    p.write_text("#means\n" + "1\n" * 9 + "\n#scales\n" + "2\n" * 8 + "\n")
    assert load_scales(p) is None  # blocks of different lengths
    p.write_text("#means\n" + "1.5abc\n" * 9 + "\n#scales\n" + " 2e1\n" * 9)
    m, s = load_scales(p)  # std::stof: leading blanks skipped, trailing text ignored
    assert m.tolist() == [1.5] * 9 and s.tolist() == [20.0] * 9
    assert load_scales(tmp_path / "missing.txt") is None


def test_calculate_channels_matches_the_detector_on_both_shapes():
    rng = np.random.default_rng(0)
    for det in (ZN, ZP):
        log_img = np.log1p(rng.poisson(2.0, det.shape)).astype(np.float32)
        ref = det.channel_sums(np.expm1(log_img.astype(np.float64))[None])[0]
        assert calculate_channels(log_img.ravel(), det) == [int(np.floor(v + 0.5)) for v in ref]


# --------------------------------------------------------------------------- the shipped models
def _shipped(det: str, name: str = "fm") -> Path:
    folder = ROOT / "weights" / "onnx" / f"{name}-{det}"
    if not folder.exists():
        pytest.fail(f"{folder} missing: run fastzdc export onnx --fp16 (docs/training.md)")
    return folder


@pytest.mark.parametrize("name", ["fm", "fmd"])
@pytest.mark.parametrize("det", ["zn", "zp"])
def test_shipped_exports_are_current_and_match_pytorch(det, name):
    folder = _shipped(det, name)
    card = load_card(folder)
    weights = ROOT / "weights" / f"{name}-{det}" / "weights.safetensors"
    assert card["source"]["weights_sha256"] == _sha256(weights), "stale ONNX export: run fastzdc export onnx --fp16 (docs/training.md)"
    torch_gen = load_generator(ROOT / "weights" / f"{name}-{det}")
    assert card["sampler"] == torch_gen.sampler and card["noise_shape"] == list(torch_gen.kind.noise_shape())
    cond = torch_gen.scaler.transform(make_dataset(16, SHIPPED[det], seed=11).conditions)
    noise = NoiseStream(8, tuple(card["noise_shape"])).rows(0, 16)
    ref = torch_gen.generate_log(torch.from_numpy(cond), noise).numpy()[:, 0]
    for precision in ("float32", "float16"):
        onnx_gen = load_generator(backend="onnx", path=folder, precision=precision, threads=1)
        assert np.abs(onnx_gen.generate_log(cond, noise.numpy()) - ref).max() <= TOLERANCE[precision], precision
    # the counts the two back ends return: equal but for a rare fibre on a rounding boundary
    t = torch_gen.generate(make_dataset(16, SHIPPED[det], seed=11).conditions, seed=8).astype(int)
    o = load_generator(backend="onnx", path=folder, threads=1).generate(make_dataset(16, SHIPPED[det], seed=11).conditions, seed=8).astype(int)
    assert np.abs(t - o).max() <= 1 and np.mean(t != o) < 1e-3


@pytest.mark.parametrize("det", ["zn", "zp"])
def test_o2_per_particle_procedure_reproduces_the_channel_sums(det):
    folder = _shipped(det)
    detector = SHIPPED[det]
    sim = O2ParticleSimulation(folder / "model.onnx", folder / "scaler.txt", detector)
    gen = load_generator(backend="onnx", path=folder, threads=1)
    particles = make_dataset(4, detector, seed=12).conditions
    noise = NoiseStream(9, gen.noise_shape).rows(0, 4).numpy()
    counts = gen.counts(gen.scaler.transform(particles), noise)  # what fastzdc's generate returns for this noise
    ours = detector.channel_sums(counts)
    assert ours.sum() > 0
    for k in range(4):
        # the graph rounds every fibre, so O2's float sums of exp(x) - 1 give fastzdc's integer sums exactly
        assert sim.channels(particles[k], noise[k].ravel()) == ours[k].astype(int).tolist()
    # today's O2 caller draws a 10-value noise vector: a flow model's full-image noise input refuses it
    with pytest.raises(FastZDCError, match=f"needs {int(np.prod(gen.noise_shape))} values, got 10"):
        sim.channels(particles[0], np.zeros(10, np.float32))
    graph_noise = O2ParticleSimulation(folder / "model.graph-noise.onnx", folder / "scaler.txt", detector)
    channels = graph_noise.channels(particles[0])
    assert len(channels) == 5 and min(channels) >= 0


def test_sessions_never_spin_idle_cores():
    from fastzdc.inference.onnx import session_options

    so = session_options(1)
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1
    for pool in ("intra", "inter"):
        assert so.get_session_config_entry(f"session.{pool}_op.allow_spinning") == "0"
    with pytest.raises(FastZDCError, match="threads"):
        session_options(0)


def test_evaluate_an_export_folder_with_a_report(cli, tiny_ckpt, tiny_export, tmp_path):
    """The report's steps sweep leaves out a graph whose steps are unrolled, instead of failing after scoring."""
    data = tmp_path / "test.h5"
    write_h5(make_dataset(30, ZP, seed=3), data)
    res = cli("evaluate", "--data", data, "--model", tiny_export[0], "--model", tiny_ckpt, "--no-floor", "--n-rep", "2",
              "--quick", "--out", tmp_path / "rep", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert [r["extra"]["sampler"]["steps"] for r in out["results"]] == [2, 2]  # the tiny checkpoint samples with 2 steps
    assert (tmp_path / "rep" / "report.html").is_file()
