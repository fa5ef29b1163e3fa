"""ONNX Runtime as a generation back end: sessions that never spin idle cores, a strict check of an
exported file's inputs and output, and :class:`OnnxGenerator` (the Generator interface).

Thread settings: ONNX Runtime's default thread pool *spins* while waiting for work;
alive next to PyTorch (or Geant4) in one process it steals the cores they need (PyTorch's batch-1
latency was measured to go from 23 ms to ~1 s). Every session here sets ``intra_op_num_threads``
explicitly, one inter-op thread, sequential execution and ``allow_spinning = 0`` for both pools.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from ..conditions import N_FEATURES
from ..data.scaler import StandardScaler
from ..data.validate import validate_conditions
from ..detector import Detector, get_detector
from ..errors import FastZDCError
from ..sampling.counts import MAX_COUNT
from ..sampling.noise import NoiseStream
from .card import SCALER_JSON, export_file, load_card, variant_name
from .graph import CONDITIONS, NOISE, OUTPUT, RAW_OUTPUT

ORT_FLOAT = "tensor(float)"


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Options for every fastzdc session: ``threads`` intra-op threads, 1 inter-op thread, no spinning,
    all graph optimisations, errors-only logging."""
    if threads < 1:
        raise FastZDCError(f"ONNX Runtime threads must be >= 1, got {threads}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def open_session(model: str | Path | bytes, *, threads: int = 1, where: str | Path | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session; an unreadable or invalid file is a one-line :class:`FastZDCError`."""
    where = where if where is not None else (model if not isinstance(model, bytes) else None)
    if not isinstance(model, bytes):
        if not Path(model).is_file():
            raise FastZDCError("missing ONNX file", model)
        model = str(model)
    try:
        return ort.InferenceSession(model, session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001  onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FastZDCError(f"cannot load the ONNX model ({first[:300]})", where) from None


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"


def check_signature(
    session: ort.InferenceSession, detector: Detector, noise_shape: tuple[int, ...] | None, where: Any = None
) -> None:
    """Reject a file whose inputs or output are not what fastzdc (and O2) feed and read.

    Expected, in this order: ``noise`` float32 ``[batch, *noise_shape]`` (absent when ``noise_shape`` is
    None: noise drawn in the graph), ``conditions`` float32 ``[batch, 9]``; outputs ``log_image`` and
    optionally ``log_image_unrounded``, float32 ``[batch, nx, ny]``; ``batch`` dynamic.
    """
    expected = ([] if noise_shape is None else [(NOISE, tuple(noise_shape))]) + [(CONDITIONS, (N_FEATURES,))]
    inputs = session.get_inputs()
    names = [i.name for i in inputs]
    if names != [n for n, _ in expected]:
        want = ", ".join(n for n, _ in expected)
        raise FastZDCError(f"ONNX inputs are [{', '.join(names)}], expected [{want}] in this order "
                           f"(O2 feeds them by position)", where)
    outputs = session.get_outputs()
    out_names = [o.name for o in outputs]
    if out_names not in ([OUTPUT], [OUTPUT, RAW_OUTPUT]):
        raise FastZDCError(f"ONNX outputs are [{', '.join(out_names)}], expected [{OUTPUT}, {RAW_OUTPUT}] "
                           f"(O2 reads the first)", where)
    image = tuple(detector.shape)
    checks = [(arg, "input", name, dims) for arg, (name, dims) in zip(inputs, expected)]
    checks += [(arg, "output", arg.name, image) for arg in outputs]
    for arg, what, name, dims in checks:
        if arg.type != ORT_FLOAT:
            raise FastZDCError(f"ONNX {what} {name!r} has type {arg.type}, expected {ORT_FLOAT} (float32)", where)
        shape = list(arg.shape)
        ok = len(shape) == 1 + len(dims) and not isinstance(shape[0], int) and tuple(shape[1:]) == dims
        if not ok:
            raise FastZDCError(f"ONNX {what} {name!r} has shape {_shape_text(shape)}, "
                               f"expected {_shape_text(['batch', *dims])} with a dynamic batch", where)


class OnnxGenerator:
    """A model in ONNX Runtime as a :class:`~fastzdc.generator.Generator` (CPU).

    The noise comes from :class:`~fastzdc.sampling.noise.NoiseStream`, as in
    :class:`~fastzdc.inference.model.ModelGenerator`: with the same seed both back ends see the same
    noise and give the same responses up to float rounding. The sampler is unrolled in the graph, so
    no sampler option can change per call (:attr:`adjustable` is empty).
    """

    adjustable: frozenset[str] = frozenset()
    backend = "onnx"

    def __init__(
        self,
        session: ort.InferenceSession,
        detector: Detector,
        scaler: StandardScaler,
        noise_shape: tuple[int, ...],
        *,
        name: str,
        sampler: dict[str, Any],
        n_params: int = 0,
        dequantized: bool = False,
        precision: str = "float32",
        threads: int = 1,
        source: str = "",
    ) -> None:
        check_signature(session, detector, noise_shape, source or None)
        self.session = session
        self.detector = detector
        self.scaler = scaler
        self.noise_shape = tuple(noise_shape)
        self.name = name
        self.sampler = dict(sampler)
        self.n_params = int(n_params)
        self.dequantized = bool(dequantized)
        self.precision = precision
        self.threads = threads
        self.device = "cpu"
        self.source = source

    @staticmethod
    def _feeds(cond_scaled: np.ndarray, noise: np.ndarray) -> dict[str, np.ndarray]:
        return {NOISE: np.ascontiguousarray(noise, np.float32), CONDITIONS: np.ascontiguousarray(cond_scaled, np.float32)}

    def run(self, cond_scaled: np.ndarray, noise: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs (``log_image``, ``log_image_unrounded``) for scaled conditions ``(B, 9)`` and noise
        ``(B, *noise_shape)``."""
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, self._feeds(cond_scaled, noise))))

    def generate_log(self, cond_scaled: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """``(B, nx, ny)`` continuous log1p images (``log_image_unrounded``; comparable with PyTorch's
        :meth:`~fastzdc.inference.model.ModelGenerator.generate_log`)."""
        out = self.run(cond_scaled, noise)
        return out.get(RAW_OUTPUT, out[OUTPUT])

    def counts(self, cond_scaled: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """``(B, nx, ny)`` uint16 photon counts: the graph's ``log_image`` holds log1p of integers, decoded
        exactly with ``round(exp(x) - 1)``."""
        n = np.expm1(self.session.run([OUTPUT], self._feeds(cond_scaled, noise))[0])
        np.rint(n, out=n)
        np.maximum(n, 0, out=n)  # in place: np.clip's wrapper costs more than the work for one particle
        np.minimum(n, MAX_COUNT, out=n)
        return n.astype(np.uint16)

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None,
        advance: Callable[[int], None] | None = None, **sampler: Any,
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` uint16 counts (the graph rounds as the PyTorch back end)."""
        if batch_size < 1:
            raise FastZDCError(f"batch size must be >= 1, got {batch_size}")
        if device is not None and str(device) not in ("cpu", "auto"):
            raise FastZDCError(f"the ONNX Runtime back end runs on the CPU, got device {device!r}")
        fixed = {k: v for k, v in sampler.items() if v is not None and self.sampler.get(k) != v}
        if fixed:
            raise FastZDCError(f"the ONNX graph has its sampler unrolled ({self.sampler}); re-export to change "
                               + ", ".join(f"{k}={v}" for k, v in fixed.items()))
        cond = self.scaler.transform(validate_conditions(conditions))
        noise = NoiseStream(0 if seed is None else int(seed), self.noise_shape)
        if len(cond) <= batch_size:  # one call (O2's per-particle case): no copy into an output array
            out = self.counts(cond, noise.rows(0, len(cond)).numpy())
            if advance is not None:
                advance(len(cond))
            return out
        out = np.empty((len(cond), *self.detector.shape), np.uint16)
        for start in range(0, len(cond), batch_size):
            c = cond[start : start + batch_size]
            out[start : start + len(c)] = self.counts(c, noise.rows(start, start + len(c)).numpy())
            if advance is not None:
                advance(len(c))
        return out


def default_threads() -> int:
    """PyTorch's intra-op thread count (respects OMP_NUM_THREADS / torch.set_num_threads), so that both back
    ends use the same cores."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def onnx_from_export_dir(folder: Path, precision: str = "float32", threads: int | None = None, **sampler: Any) -> OnnxGenerator:
    """The ONNX Runtime Generator of an export folder's ``precision`` variant (``float32`` or ``float16``).
    Sampler options may only repeat the card's: the graph has them unrolled."""
    threads = default_threads() if threads is None else int(threads)
    folder = Path(folder)
    card = load_card(folder)
    variant = variant_name(precision)
    entry = card["files"].get(variant)
    if entry is None:
        raise FastZDCError(f"this export has no {precision} model (re-export with --fp16)", folder)
    fixed = {k: v for k, v in sampler.items() if v is not None and card["sampler"].get(k) != v}
    if fixed:
        raise FastZDCError(f"the exported graph has its sampler unrolled ({card['sampler']}); re-export to change "
                           + ", ".join(f"{k}={v}" for k, v in fixed.items()), folder)
    detector = get_detector(card["detector"])
    file = export_file(folder, entry)
    session = open_session(file, threads=threads)
    scaler = StandardScaler.load_json(folder / SCALER_JSON)
    return OnnxGenerator(session, detector, scaler, tuple(card["noise_shape"]), name=f"{card['name']} (onnx {precision})",
                         sampler=card["sampler"], n_params=int(card.get("n_params", 0)),
                         dequantized=bool(card.get("dequantized", False)), precision=precision, threads=threads,
                         source=str(file))


__all__ = ["OnnxGenerator", "check_signature", "onnx_from_export_dir", "open_session", "session_options"]
