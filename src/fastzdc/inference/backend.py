"""Which back end generates: PyTorch or ONNX Runtime (``fastzdc generate --backend``).

``auto`` decides by the model, never by the batch size, so that the same seed gives the same counts at
every batch size: ONNX Runtime for an export folder (which only ONNX Runtime can run) and for float16,
PyTorch for a checkpoint. ONNX Runtime is faster for batches of a few rows on the CPU (benchmarks/RESULTS.md,
"ONNX Runtime vs PyTorch"); ask for it with ``--backend onnx`` or export the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import FastZDCError
from .card import is_export_dir

BACKENDS = ("torch", "onnx")
CHOICES = ("auto", *BACKENDS)


def choose_backend(model: str | Path, backend: str = "auto", *, device: Any = None, batch_size: int = 4096,
                   precision: str = "float32") -> str:
    """``"torch"`` or ``"onnx"`` for generating with ``model`` (a checkpoint or an export folder); ``device`` and
    ``batch_size`` do not change the choice (kept for callers)."""
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
    return "torch"
