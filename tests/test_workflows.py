"""End-to-end behaviour of train / generate / evaluate and of the floor."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from fastzdc import ZP, FastZDCError
from fastzdc.checkpoint import WEIGHTS, load_tensors
from fastzdc.data import Dataset, load_dataset, write_h5
from fastzdc.inference import load_generator
from fastzdc.mc import MonteCarloGenerator, simulate, simulate_nonempty
from fastzdc.training.config import TrainConfig
from fastzdc.training.loop import train


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """A small filtered stand-in set (ZN and ZP) written like `fastzdc simulate` does."""
    from fastzdc.workflows import simulate_to_files

    d = tmp_path_factory.mktemp("standin")
    simulate_to_files(d / "s.h5", n=400, seed=21, progress=False)
    return d


@pytest.fixture(scope="module")
def tiny_run(standin, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "zp"
    cfg = TrainConfig(kind="fm", model={"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}, epochs=1,
                      batch_size=64, val_rows=20, threads=1)
    train(cfg, standin / "s_zp.h5", out, progress=False)  # detector "auto": ZP from the data
    return out


def test_detector_is_read_from_the_data(tiny_run):
    assert json.loads((tiny_run / "best" / "config.json").read_text())["detector"] == "zp"


def test_generate_same_seed_any_batch_size(tiny_run, standin):
    gen = load_generator(tiny_run)
    cond = load_dataset(standin / "s_zp.h5").conditions[:70]
    a = gen.generate(cond, seed=5, batch_size=7)
    b = gen.generate(cond, seed=5, batch_size=4096)
    assert np.array_equal(a, b)


def test_generate_cli_streams_labelled_h5(cli, tiny_run, standin, tmp_path):
    res = cli("generate", "--model", tiny_run, "--conditions", standin / "s_zp.h5", "--out", tmp_path / "g.h5",
              "--steps", "2", "--method", "euler", "--batch-size", "50", "--json")
    assert res.code == 0, res.err
    assert res.json()["rows"] == 400 and res.json()["sampler"] == {"steps": 2, "method": "euler", "shift": 1.0}
    with h5py.File(tmp_path / "g.h5") as f:
        assert f["responses"].shape == (400, 56, 30) and f.attrs["synthetic"]
        assert "fm-zp" in f.attrs["generator"]
    res2 = cli("generate", "--model", tiny_run, "--conditions", standin / "s_zp.h5", "--out", tmp_path / "h.h5",
               "--steps", "2", "--method", "euler", "--batch-size", "400", "--json")
    with h5py.File(tmp_path / "g.h5") as f, h5py.File(tmp_path / "h.h5") as g:
        assert np.array_equal(f["responses"][...], g["responses"][...])
    assert res2.code == 0


@pytest.mark.parametrize(
    "extra,msg",
    [
        (["--set", "epochs=abc"], "must be int"),
        (["--set", "sampler.method=rk4"], "unknown sampler method"),
        (["--set", "model.widths=abc"], "key 'model.widths' must be a list"),
        (["--set", "epochz=3"], "unknown config keys"),
    ],
)
def test_train_cli_bad_options_fail_fast(cli, standin, tmp_path, extra, msg):
    res = cli("train", "fm", "--data", standin / "s_zn.h5", "--out", tmp_path / "run", *extra)
    assert res.code == 2 and msg in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "last").exists()


def test_train_cli_unwritable_out(cli, standin, tmp_path):
    (tmp_path / "afile").write_text("x")
    res = cli("train", "fm", "--data", standin / "s_zn.h5", "--out", tmp_path / "afile" / "run", "--epochs", "1")
    assert res.code == 2 and "run folder" in res.err


def test_generate_cli_bad_checkpoint_and_args(cli, tiny_run, standin, tmp_path):
    assert cli("generate", "--model", tmp_path / "none", "--conditions", standin / "s_zp.h5", "--out", tmp_path / "x.h5").code == 2
    res = cli("generate", "--model", tiny_run, "--conditions", standin / "s_zp.h5", "--out", tmp_path / "x.h5", "--steps", "0")
    assert res.code == 2 and "steps" in res.err
    res = cli("generate", "--model", tiny_run, "--conditions", standin / "s_zp.h5", "--out", tmp_path / "x.h5", "--method", "rk4")
    assert res.code == 2 and "rk4" in res.err
    assert not (tmp_path / "x.h5").exists()


def test_nan_keeps_last_good_checkpoint(standin, tmp_path, monkeypatch):
    from fastzdc.models.fm import FlowMatching

    calls = {"n": 0}
    orig = FlowMatching.loss

    def flaky(self, net, x, cond, gen):
        calls["n"] += 1
        loss = orig(self, net, x, cond, gen)
        return loss * float("nan") if calls["n"] > 6 else loss

    monkeypatch.setattr(FlowMatching, "loss", flaky)
    cfg = TrainConfig(kind="fm", model={"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}, epochs=3,
                      batch_size=64, val_rows=20, threads=1)
    with pytest.raises(FastZDCError, match="loss is nan at epoch 2.*last good checkpoint"):
        train(cfg, standin / "s_zn.h5", tmp_path / "run", progress=False)
    state = json.loads((tmp_path / "run" / "last" / "train_state.json").read_text())
    assert state["epoch"] == 1
    weights = load_tensors(tmp_path / "run" / "last" / WEIGHTS)
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_floor_respects_the_o2_filter():
    """A filtered reference set must be compared with responses drawn given the filter."""
    b = simulate(n=600, seed=3, keep_nonempty_only=True)
    both = simulate_nonempty(b.conditions, b.pdgid, seed=9)
    lit = both["zn"].reshape(600, -1).any(1) | both["zp"].reshape(600, -1).any(1)
    assert lit.mean() > 0.99
    plain = simulate(conditions=b.conditions, pdgid=b.pdgid, seed=9)
    lit_plain = plain.responses["zn"].reshape(600, -1).any(1) | plain.responses["zp"].reshape(600, -1).any(1)
    assert lit_plain.mean() < 0.95  # without the redraw many re-simulated events are empty
    g = MonteCarloGenerator("zn", nonempty=True)
    assert g.generate(b.conditions[:50], seed=1).shape == (50, 44, 44)


def test_evaluate_cli_floor_only_for_standin(cli, standin, tiny_run, tmp_path):
    res = cli("evaluate", "--data", standin / "s_zp.h5", "--model", tiny_run, "--n-rep", "2", "--max-rows", "100", "--json")
    assert res.code == 0, res.err
    rows = res.json()["results"]
    assert rows[0]["extra"]["is_floor"] and rows[0]["name"].startswith("original data") and "filtered" in rows[0]["name"]
    assert rows[0]["w_mean"] > 0 and rows[1]["n_params"] > 0 and len(rows[1]["mae_per_channel"]) == 5
    ds = load_dataset(standin / "s_zp.h5").subset(slice(0, 50))
    real = Dataset(ds.conditions, ds.responses, ds.pdgid, ZP, {"synthetic": False})
    write_h5(real, tmp_path / "real.h5")
    res = cli("evaluate", "--data", tmp_path / "real.h5", "--model", tiny_run, "--n-rep", "1", "--json")
    assert res.code == 0 and len(res.json()["results"]) == 1 and res.json()["notes"]
    res = cli("evaluate", "--data", standin / "s_zn.h5", "--model", tiny_run, "--json")
    assert res.code == 2 and "ZP" in res.err


def test_two_models_of_one_name_keep_their_own_rows(cli, standin, tiny_run):
    res = cli("evaluate", "--data", standin / "s_zp.h5", "--model", tiny_run, "--model", tiny_run, "--n-rep", "1",
              "--max-rows", "120", "--no-floor", "--quick", "--json")
    assert res.code == 0, res.err
    rows = res.json()["results"]
    names = [r["name"] for r in rows]
    assert len(set(names)) == 2 and names[1].startswith(names[0])
    # the same checkpoint twice: the same scores, each from its own samples
    assert rows[0]["fidelity"]["auc_features"]["value"] == pytest.approx(rows[1]["fidelity"]["auc_features"]["value"], abs=0.1)
    assert rows[0]["w_err"] > 0 and rows[1]["w_err"] > 0
