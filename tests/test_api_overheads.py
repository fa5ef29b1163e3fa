"""The Python API's own costs: the allocator settings on large CPU batches (once, opt-out), and the
one-call path of the ONNX Runtime generator giving the counts of the batched path."""

from __future__ import annotations

import numpy as np
import pytest

from fastzdc import ZN, _alloc
from fastzdc.inference import load_generator

from .conftest import make_dataset, random_fm_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    seen: list[int] = []
    monkeypatch.setattr(_alloc, "_tuned", None)
    monkeypatch.setattr(_alloc, "tune_allocator", lambda: seen.append(1) or True)
    monkeypatch.delenv(_alloc.OPT_OUT, raising=False)
    return seen


def test_api_tunes_the_allocator_once_on_a_large_cpu_batch(tmp_path, calls):
    gen = load_generator(random_fm_checkpoint(tmp_path / "ckpt", ZN, rows=60), device="cpu", precision="float32")
    cond = make_dataset(_alloc.LARGE_BATCH, ZN, seed=1).conditions
    gen.generate(cond[:8], seed=0)
    assert calls == []  # a few rows: glibc's defaults stay
    gen.generate(cond, seed=0, batch_size=64)
    assert calls == []  # 256 rows, but 64 per network call
    gen.generate(cond, seed=0, batch_size=_alloc.LARGE_BATCH)
    gen.generate(cond, seed=1, batch_size=_alloc.LARGE_BATCH)
    assert calls == [1]  # once per process


def test_allocator_opt_out(calls, monkeypatch):
    monkeypatch.setenv(_alloc.OPT_OUT, "0")
    assert _alloc.tune_allocator_once(10_000) is False and calls == []
    monkeypatch.delenv(_alloc.OPT_OUT)
    assert _alloc.tune_allocator_once(10_000) is True and calls == [1]


def test_onnx_one_call_path_equals_the_batched_path(tmp_path):
    from fastzdc.export.exporter import export_onnx

    export_onnx(random_fm_checkpoint(tmp_path / "ckpt", ZN, rows=60), tmp_path / "onnx")
    gen = load_generator(tmp_path / "onnx", threads=1)
    cond = make_dataset(12, ZN, seed=3).conditions
    whole = gen.generate(cond, seed=5, batch_size=64)   # one call
    parts = gen.generate(cond, seed=5, batch_size=5)    # three calls
    assert whole.dtype == np.uint16 and whole.sum() > 0 and np.array_equal(whole, parts)
    one = gen.generate(cond[:1], seed=5)
    assert np.array_equal(one[0], whole[0])
