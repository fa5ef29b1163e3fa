"""Deployment: a checkpoint as an export folder for ALICE O2 and ONNX Runtime, and a re-statement of
O2's per-particle procedure for parity checks.

* :mod:`.exporter` -- ``fastzdc export onnx``: checkpoint -> export folder (self-checked against PyTorch)
* :mod:`.rewrite`  -- graph rewrites: noise drawn in the graph, float16, metadata
* :mod:`.o2`       -- O2's loadScales / scale / calculateChannels, re-stated in Python

The sampler graph itself, the export folder's format and ONNX Runtime sessions are in
:mod:`fastzdc.inference` (loading an export is inference). Heavy imports (torch's exporter,
onnxruntime) happen only when these names are used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_onnx"]


def __getattr__(name: str) -> Any:
    if name == "export_onnx":
        from .exporter import export_onnx

        return export_onnx
    raise AttributeError(name)
