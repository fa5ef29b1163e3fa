"""The response gate: calibration metrics, temperature scaling, training on unfiltered particles,
drawing states, loading and the ONNX export for O2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastzdc import FastZDCError
from fastzdc.evaluation.gate import auc, expected_calibration_error, gate_scores, redraw_reference
from fastzdc.training.gate import fit_temperature


def test_ece_is_small_for_calibrated_and_large_for_overconfident_probabilities():
    rng = np.random.default_rng(0)
    p = rng.random(40000)
    y = rng.random(40000) < p
    assert expected_calibration_error(p, y) < 0.01
    sharp = np.where(p > 0.5, 0.99, 0.01)  # right side, far too sure
    assert expected_calibration_error(sharp, y) > 0.2
    assert auc(p, y) > 0.8 and auc(rng.random(40000), y) == pytest.approx(0.5, abs=0.02)
    assert auc(p, np.ones(40000, bool)) is None


def test_fit_temperature_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20000, 4, generator=g) * 2
    states = torch.multinomial(torch.softmax(z, dim=1), 1, generator=g).squeeze(1)
    assert fit_temperature(3.0 * z, states) == pytest.approx(3.0, rel=0.08)


def test_scores_and_monte_carlo_reference_on_known_states():
    states = np.array([0, 1, 2, 3] * 50)
    perfect = np.eye(4)[states]
    s = gate_scores(perfect, states)
    assert all(s[e]["auc"] == 1.0 and s[e]["ece"] == 0.0 for e in ("zn", "zp", "any", "both"))
    ref = redraw_reference(np.stack([states, states]), states)
    assert ref["both"]["auc_1"] == 1.0 and ref["any"]["k"] == 2


@pytest.fixture(scope="module")
def raw_pair(tmp_path_factory):
    """3000 unfiltered stand-in particles: ZN and ZP files of the same rows."""
    from fastzdc.workflows import simulate_to_files

    d = tmp_path_factory.mktemp("raw")
    simulate_to_files(d / "raw.h5", n=3000, seed=31, keep_nonempty_only=False, progress=False)
    return d


@pytest.fixture(scope="module")
def tiny_gate(raw_pair, tmp_path_factory):
    from fastzdc.joint import train_gate_files

    out = tmp_path_factory.mktemp("gate") / "g"
    result = train_gate_files(raw_pair / "raw_zn.h5", out, progress=False, epochs=10, hidden=32, depth=2, batch_size=256)
    return out, result


def test_a_trained_gate_predicts_who_responds(tiny_gate, raw_pair):
    from fastzdc.data.pair import read_lit_pair
    from fastzdc.inference.gate import load_gate

    out, result = tiny_gate
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "gate" and cfg["detector"] == "both" and cfg["data"]["synthetic"] is True
    assert result["val_rows"] == 300 and 0.2 < result["temperature"] < 5
    pair, _ = read_lit_pair(raw_pair / "raw_zn.h5", raw_pair / "raw_zp.h5")
    probs = load_gate(out).probabilities(pair.conditions)
    assert probs.shape == (3000, 4) and np.allclose(probs.sum(axis=1), 1)
    s = gate_scores(probs, pair.states)
    assert s["any"]["auc"] > 0.8 and s["zn"]["auc"] > 0.8  # far from a constant guess (0.5)
    assert abs(s["any"]["predicted"] - s["any"]["observed"]) < 0.05


def test_draw_follows_the_probabilities_and_given_lit_never_draws_none(tiny_gate):
    from fastzdc.inference.gate import load_gate

    gate = load_gate(tiny_gate[0])
    cond = np.repeat(np.array([[2000.0, 0, 0, 0, 0.1, 0.0, 2000.0, 939.565, 0.0]], np.float32), 20000, axis=0)
    p = gate.probabilities(cond[:1])[0]
    s = gate.draw(cond, seed=3)
    assert np.allclose(np.bincount(s, minlength=4) / len(s), p, atol=0.015)
    lit = gate.draw(cond, seed=3, given_lit=True)
    assert (lit > 0).all()
    assert np.allclose(np.bincount(lit, minlength=4)[1:] / len(s), p[1:] / p[1:].sum(), atol=0.015)
    assert np.array_equal(gate.draw(cond[:100], seed=3), s[:100])  # from the seed only


def test_gate_refuses_filtered_data_and_is_not_a_generator(cli, raw_pair, tiny_gate, tmp_path):
    from fastzdc.workflows import simulate_to_files

    simulate_to_files(tmp_path / "f.h5", n=200, seed=2, progress=False)
    res = cli("gate", "train", "--data", tmp_path / "f_zp.h5", "-o", tmp_path / "g", "--epochs", "1")
    assert res.code == 2 and "unfiltered" in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()
    res = cli("generate", "--model", tiny_gate[0], "--conditions", tmp_path / "f_zn.h5", "-o", tmp_path / "x.h5")
    assert res.code == 2 and "gate" in res.err
    from fastzdc.inference.gate import load_gate

    with pytest.raises(FastZDCError, match="not a response gate"):
        load_gate("weights/fmd-zn")


def test_export_runs_the_way_o2_runs_it(tiny_gate, tmp_path, cli):
    import onnxruntime as ort

    from fastzdc.export.gate import o2_gate_probabilities, parity_particles
    from fastzdc.inference.gate import load_gate

    res = cli("gate", "export", "--gate", tiny_gate[0], "-o", tmp_path / "onnx", "--json")
    assert res.code == 0, res.err
    card = res.json()
    assert card["parity"]["batch"] == 1 and card["parity"]["max_abs_diff"] <= 1e-5
    folder = tmp_path / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["gate_card.json", "model.onnx", "scaler.json", "scaler.txt"]
    assert (folder / "scaler.txt").read_text().startswith("#means\n")
    particles = parity_particles(rows=8, seed=4)
    got = o2_gate_probabilities(folder / "model.onnx", folder / "scaler.txt", particles)
    assert np.abs(got - load_gate(tiny_gate[0]).probabilities(particles)).max() < 1e-5
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["conditions"]
    x = np.zeros((3, 9), np.float32)
    p_resp, probs = sess.run(None, {"conditions": x})
    assert p_resp.shape == (3, 1) and np.allclose(p_resp[:, 0], 1 - probs[:, 0], atol=1e-6)
