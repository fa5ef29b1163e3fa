"""One calorimeter behind the response gate: occupancy from the gate, lit responses from the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastzdc.data import StandardScaler
from fastzdc.detector import ZP
from fastzdc.generator import GeneratorDefaults
from fastzdc.inference.gate import Gate
from fastzdc.inference.gated import GatedGenerator, lit_probability
from fastzdc.nn.gate import GateNet
from tests.conftest import make_dataset


class HalfEmpty(GeneratorDefaults):
    """A ZP model whose response is empty for about half of the rows (seeded per row and seed)."""

    name, detector = "half-empty", ZP

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, conditions, *, seed=None, batch_size=4096, device=None, advance=None, **sampler):
        self.calls += 1
        rng = np.random.default_rng([int(seed), len(conditions)])
        out = np.zeros((len(conditions), *ZP.shape), np.uint16)
        out[:, 3, 4] = rng.random(len(conditions)) < 0.5
        return out


def constant_gate(probs: list[float]) -> Gate:
    """A gate that answers ``probs`` (none, ZN only, ZP only, both) for every particle."""
    net = GateNet(hidden=4, depth=1)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.mlp[-1].bias.copy_(torch.log(torch.tensor(probs).clamp_min(1e-12)))
    return Gate(net, StandardScaler(np.zeros(9), np.ones(9)))


def test_lit_probability_given_the_filter_and_for_raw_particles():
    p = np.array([[0.5, 0.1, 0.2, 0.2], [0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(lit_probability(p, "zp", given_filter=True), [0.8, 0.0])
    np.testing.assert_allclose(lit_probability(p, "zn", given_filter=True), [0.6, 1.0])
    np.testing.assert_allclose(lit_probability(p, "zp", given_filter=False), [0.4, 0.0])


@pytest.mark.parametrize(("probs", "lit"), [([0.0, 0.0, 0.0, 1.0], 1.0), ([0.0, 1.0, 0.0, 0.0], 0.0),
                                             ([0.5, 0.35, 0.05, 0.1], 0.3)])
def test_the_gate_sets_the_empty_fraction_and_lit_rows_are_never_empty(probs, lit):
    cond = make_dataset(3000, ZP, seed=2).conditions
    out = GatedGenerator(constant_gate(probs), HalfEmpty()).generate(cond, seed=4)
    nonempty = out.reshape(len(out), -1).any(axis=1)
    assert nonempty.mean() == pytest.approx(lit, abs=4 * np.sqrt(0.25 / len(cond)) + 1e-12)
    assert set(np.unique(out)) <= {0, 1}  # only the model's responses (or nothing)


def test_same_seed_same_output_at_any_batch_size_and_other_seed_differs():
    cond = make_dataset(5000, ZP, seed=3).conditions
    gated = GatedGenerator(constant_gate([0.2, 0.2, 0.3, 0.3]), HalfEmpty())
    a = gated.generate(cond, seed=9, batch_size=64)
    assert np.array_equal(a, gated.generate(cond, seed=9, batch_size=5000))
    assert not np.array_equal(a, gated.generate(cond, seed=10))
    assert gated.name == "half-empty + gate" and gated.sampler["given_filter"] is True


def test_gate_that_never_lights_calls_no_model():
    model = HalfEmpty()
    out = GatedGenerator(constant_gate([0.0, 1.0, 0.0, 0.0]), model).generate(make_dataset(100, ZP).conditions, seed=0)
    assert not out.any() and model.calls == 0


def test_evaluate_scores_every_model_a_second_time_behind_the_gate(tmp_path):
    from fastzdc.data.hdf5 import write_h5
    from fastzdc.training.gate import save_gate
    from fastzdc.workflows import evaluate_models
    from tests.conftest import random_fm_checkpoint

    gate = constant_gate([0.3, 0.1, 0.3, 0.3])
    gate_dir = save_gate(tmp_path / "gate", gate.net, gate.scaler, {"hidden": 4, "depth": 1}, {}, {}, {})
    ds = make_dataset(40, ZP, seed=5)
    write_h5(ds, tmp_path / "test.h5")
    model = random_fm_checkpoint(tmp_path / "fm", ZP)
    result = evaluate_models([model], tmp_path / "test.h5", n_rep=1, floor=False, lookup=False, fidelity=False,
                             progress=False, gate=gate_dir)
    names = [r["name"] for r in result["results"]]
    assert len(names) == 2 and names[1] == names[0] + " + gate"


def test_generate_writes_the_gated_responses_and_the_gate_hash(tmp_path):
    import h5py

    from fastzdc.data.hdf5 import read_h5, write_h5
    from fastzdc.training.gate import save_gate
    from fastzdc.workflows import generate_to_file
    from tests.conftest import random_fm_checkpoint

    dark = constant_gate([0.0, 1.0, 0.0, 0.0])  # ZN only: ZP never lit
    gate_dir = save_gate(tmp_path / "gate", dark.net, dark.scaler, {"hidden": 4, "depth": 1}, {}, {}, {})
    ds = make_dataset(30, ZP, seed=6)
    write_h5(ds, tmp_path / "particles.h5", {"o2_filter": True})
    model = random_fm_checkpoint(tmp_path / "fm", ZP)
    generate_to_file(model, tmp_path / "particles.h5", tmp_path / "out.h5", progress=False, gate=gate_dir)
    assert not read_h5(tmp_path / "out.h5").responses.any()
    with h5py.File(tmp_path / "out.h5") as f:
        assert len(f.attrs["gate_sha256"]) == 64 and "gate" in f.attrs["sampler"]
