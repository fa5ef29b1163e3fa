"""Which back end generates: PyTorch or ONNX Runtime (``fastzdc generate --backend``).

``auto`` takes ONNX Runtime where it was measured faster on the CPU -- small batches, the per-particle
case of O2 (benchmarks/RESULTS.md, "ONNX Runtime vs PyTorch") -- and for an export folder, which only
ONNX Runtime can run; PyTorch otherwise (large batches, GPUs, bfloat16, and checkpoints of kinds whose
in-memory export takes minutes: :attr:`fastzdc.models.base.ModelKind.quick_export`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import load_config
from ..devices import pick_device
from ..errors import FastZDCError
from ..models import get_kind
from .card import is_export_dir

BACKENDS = ("torch", "onnx")
CHOICES = ("auto", *BACKENDS)
AUTO_ONNX_MAX_BATCH = 32
"""``auto`` uses ONNX Runtime on the CPU up to this batch size (measured: benchmarks/bench_onnx.py)."""


def choose_backend(model: str | Path, backend: str = "auto", *, device: Any = None, batch_size: int = 4096,
                   precision: str = "float32") -> str:
    """``"torch"`` or ``"onnx"`` for generating with ``model`` (a checkpoint or an export folder)."""
    if backend not in CHOICES:
        raise FastZDCError(f"unknown back end {backend!r}; choose one of: {', '.join(CHOICES)}")
    exported = is_export_dir(model)
    if exported and backend == "torch":
        raise FastZDCError("an ONNX export folder runs with ONNX Runtime only: use --backend onnx (or auto), "
                           "or give the checkpoint for --backend torch", model)
    if backend != "auto":
        return backend
    if exported or precision == "float16":
        return "onnx"
    if precision == "bfloat16" or pick_device(device).type != "cpu" or batch_size > AUTO_ONNX_MAX_BATCH:
        return "torch"
    return "onnx" if get_kind(load_config(model)["kind"]).quick_export else "torch"
