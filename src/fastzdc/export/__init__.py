"""Deployment: any model kind's whole sampler as one ONNX graph, ONNX Runtime as a generation back end,
and a re-statement of ALICE O2's per-particle procedure for parity checks.

* :mod:`.graph`    — the sampler as one ONNX graph (dynamic batch); graph-noise and float16 rewrites
* :mod:`.card`     — the export folder's files and its model card
* :mod:`.exporter` — ``fastzdc export onnx``: checkpoint -> export folder (self-checked against PyTorch)
* :mod:`.runtime`  — ONNX Runtime sessions without idle spinning, input checks, :class:`OnnxGenerator`
* :mod:`.o2`       — O2's loadScales / scale / calculateChannels, re-stated in Python

Heavy imports (torch's exporter, onnxruntime) happen only when these names are used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxGenerator", "export_onnx", "load_onnx_generator"]


def __getattr__(name: str) -> Any:
    if name == "export_onnx":
        from .exporter import export_onnx

        return export_onnx
    if name in ("OnnxGenerator", "load_onnx_generator"):
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(name)
