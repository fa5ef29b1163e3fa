"""Inference precision: float32 islands of the FM UNet under autocast, ``auto``, the generator, the CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from fastzdc import FastZDCError
from fastzdc.inference import load_generator
from fastzdc.inference import precision as prec
from fastzdc.nn.unet import CondUNet
from fastzdc.training.config import TrainConfig
from fastzdc.training.loop import train
from fastzdc.workflows import simulate_to_files


def _randomised(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero weights everywhere (the residual branches start at zero), so every layer matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.mark.parametrize("cond_via", ["film", "token"])
def test_autocast_keeps_norms_and_head_float32_and_tracks_float32(cond_via):
    net = _randomised(CondUNet((56, 30), widths=(4, 8, 8), blocks=(1, 1, 1), emb_dim=16, cond_via=cond_via))
    x, c, t = torch.randn(6, 1, 56, 30), torch.randn(6, 9), torch.rand(6)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output.dtype  # returns None: the output is kept
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in net.named_modules() if n in ("down0.0.norm", "down0.0.conv1", "out")]
    with torch.no_grad():
        ref = net(x, c, t)
        assert set(seen.values()) == {torch.float32}
        seen.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = net(x, c, t)
    for h in hooks:
        h.remove()
    # the norm's output is handed on in the autocast dtype, computed in float32; the conv runs bf16
    assert seen["down0.0.conv1"] == torch.bfloat16 and seen["down0.0.norm"] == torch.bfloat16
    assert seen["out"] == torch.float32 and half.dtype == torch.float32
    rel = ((half - ref).pow(2).mean() / ref.pow(2).mean()).sqrt().item()
    assert 0 < rel < 0.05  # bfloat16 rounding, not a different function


def test_float32_islands_are_plain_modules_outside_autocast():
    net = _randomised(CondUNet((44, 44), widths=(4, 8, 8), blocks=(1, 1, 1), emb_dim=16))
    x = torch.randn(3, 4, 44, 44)
    plain = torch.nn.GroupNorm(net.out_norm.num_groups, 4)
    plain.load_state_dict(net.out_norm.state_dict())
    assert torch.equal(net.out_norm(x), plain(x))
    assert set(net.state_dict()) == set(CondUNet((44, 44), widths=(4, 8, 8), blocks=(1, 1, 1), emb_dim=16).state_dict())


def test_resolve_precision(monkeypatch):
    unet = CondUNet((44, 44), widths=(4, 8, 8), blocks=(1, 1, 1), emb_dim=16)
    cpu = torch.device("cpu")
    assert prec.resolve_precision("float32", unet, cpu) == "float32"
    assert prec.resolve_precision("bfloat16", torch.nn.Linear(2, 2), cpu) == "bfloat16"
    monkeypatch.setattr(prec, "native_bf16", lambda device: True)
    assert prec.resolve_precision("auto", unet, cpu) == "bfloat16"
    assert prec.resolve_precision("auto", torch.nn.Linear(2, 2), cpu) == "float32"  # not marked auto_bfloat16
    monkeypatch.setattr(prec, "native_bf16", lambda device: False)
    assert prec.resolve_precision("auto", unet, cpu) == "float32"
    with pytest.raises(FastZDCError, match="unknown precision"):
        prec.resolve_precision("fp8", unet, cpu)


@pytest.fixture(scope="module")
def tiny_fm(tmp_path_factory):
    d = tmp_path_factory.mktemp("prec")
    simulate_to_files(d / "s.h5", n=200, seed=4, progress=False)
    cfg = TrainConfig(kind="fm", model={"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}, epochs=1,
                      batch_size=64, val_rows=20, threads=1)
    train(cfg, d / "s_zn.h5", d / "run", progress=False)
    return d


def test_generator_precision_switch(tiny_fm):
    from fastzdc.data import load_dataset

    cond = load_dataset(tiny_fm / "s_zn.h5").conditions[:40]
    gen = load_generator(tiny_fm / "run")
    assert gen.precision == "float32"
    ref = gen.generate(cond, seed=3)
    gen.precision = "bfloat16"
    assert gen.precision == "bfloat16"
    half = gen.generate(cond, seed=3)
    assert half.dtype == np.uint16 and half.shape == ref.shape
    assert np.array_equal(half, gen.generate(cond, seed=3, batch_size=7))  # deterministic, any batch size
    gen.precision = "float32"
    assert np.array_equal(gen.generate(cond, seed=3), ref)
    assert load_generator(tiny_fm / "run", precision="auto").precision in ("float32", "bfloat16")
    with pytest.raises(FastZDCError, match="unknown precision"):
        load_generator(tiny_fm / "run", precision="half")


def test_generate_cli_precision(cli, tiny_fm, tmp_path):
    args = ("generate", "--model", tiny_fm / "run", "--conditions", tiny_fm / "s_zn.h5", "--batch-size", "64")
    res = cli(*args, "--out", tmp_path / "b.h5", "--precision", "bfloat16", "--json")
    assert res.code == 0, res.err
    assert res.json()["precision"] == "bfloat16" and res.json()["backend"] == "torch"
    with h5py.File(tmp_path / "b.h5") as f:
        assert f.attrs["precision"] == "bfloat16" and f["responses"].shape[0] == 200
    res = cli(*args, "--out", tmp_path / "x.h5", "--precision", "fp16")
    assert res.code == 2 and "unknown precision" in res.err and not (tmp_path / "x.h5").exists()
    res = cli(*args, "--out", tmp_path / "y.h5", "--precision", "bfloat16", "--backend", "onnx")
    assert res.code == 2 and "float32" in res.err and not (tmp_path / "y.h5").exists()
