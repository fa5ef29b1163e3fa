"""The O2 drop-in graph ``model.o2.onnx``: inputs exactly as ALICE O2's ZDC fast-simulation classes pass them.

O2's caller (re-stated in :mod:`fastzdc.export.o2`) feeds a model's inputs by position: first a vector of
:data:`~fastzdc.nn.noise_expand.O2_NOISE` = 10 standard normals per particle, then the 9 features scaled
with the scaler text file, float32, batch 1; it reads the first output as a row-major log1p image. The
drop-in graph has exactly that signature::

    noise       float32 (batch, 10)       O2's noise vector
    conditions  float32 (batch, 9)        scaled features
    log_image   float32 (batch, nx, ny)   log1p of integer photon counts (first output)
    log_image_unrounded                   the sampler's continuous image (second output, O2 ignores it)

Inside, :class:`~fastzdc.nn.noise_expand.NoiseExpander` turns the 10 values into the model's full noise,
then the sampler runs as in ``model.onnx``. So O2 runs a flow model with a configuration change only
(model path and scales); its own random engine still decides the noise, and a production stays
reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch

from ..errors import FastZDCError
from ..inference.graph import CONDITIONS, NOISE, RAW_OUTPUT, export_sampler, with_count_output
from ..inference.model import ModelGenerator
from ..inference.onnx import check_signature, open_session
from ..nn.noise_expand import O2_NOISE, NoiseExpander
from ..sampling.noise import NoiseStream

DROPIN_FILE = "model.o2.onnx"
DROPIN_VARIANT = "float32-o2"
DROPIN_TOLERANCE = 1e-3
"""max |ONNX Runtime - PyTorch| of the log1p image, as for model.onnx, outside count flips"""
MAX_FLIPS = 1e-3
"""largest accepted fraction of fibres whose count differs by one photon. The expanded noise agrees to
float rounding (~1e-7), not bit for bit (the two libraries' cos, sin and log differ in the last bit); a
kind with a noise dither (latent FM) multiplies its noise by ~1e3 before rounding stochastically, so a
fibre whose ``c + u`` lies within ~1e-4 of an integer rounds the other way (measured: 1 fibre in 31k)."""


def dropin_model(gen: ModelGenerator, *, opset: int) -> onnx.ModelProto:
    """The drop-in graph of a loaded checkpoint (with the rounding tail, float32)."""
    expander = NoiseExpander(gen.kind.noise_shape(), O2_NOISE)
    base = export_sampler(gen.kind, gen.net, gen.sampler, opset=opset, noise_in=expander)
    return with_count_output(base, gen.kind.dequantized)


def expanded_noise(noise10: np.ndarray, noise_shape: tuple[int, ...]) -> np.ndarray:
    """The full noise the drop-in graph makes from O2's ``(B, 10)`` noise vectors (PyTorch, float32)."""
    with torch.no_grad():
        return NoiseExpander(tuple(noise_shape), O2_NOISE)(torch.from_numpy(np.asarray(noise10, np.float32))).numpy()


def dropin_parity(gen: ModelGenerator, blob: bytes, rows: int = 16, seed: int = 20240917) -> tuple[float, float]:
    """``(max |ONNX Runtime - PyTorch| of the log1p image outside one-photon flips, fraction of flipped fibres)``
    of the drop-in graph, PyTorch fed the expanded noise; raise when a difference is not a one-photon flip
    and above :data:`DROPIN_TOLERANCE`, when flips exceed :data:`MAX_FLIPS`, or when the signature is not O2's."""
    sess = open_session(blob, threads=1, where=f"<{DROPIN_VARIANT} export>")
    check_signature(sess, gen.detector, (O2_NOISE,), f"<{DROPIN_VARIANT} export>")
    noise10 = NoiseStream(seed, (O2_NOISE,)).rows(0, rows).numpy()
    cond = torch.randn(rows, 9, generator=torch.Generator().manual_seed(seed)).numpy()
    full = torch.from_numpy(expanded_noise(noise10, gen.kind.noise_shape()))
    ref = gen.generate_log(torch.from_numpy(cond), full).float().numpy().reshape(rows, *gen.detector.shape)
    got = sess.run([RAW_OUTPUT], {NOISE: noise10, CONDITIONS: cond})[0]
    if not np.isfinite(got).all():
        raise FastZDCError("export self-check failed: the O2 drop-in graph gives non-finite images")
    delta = np.abs(got - ref)
    flips = (delta > DROPIN_TOLERANCE) & (np.abs(np.expm1(got.astype(np.float64)) - np.expm1(ref.astype(np.float64))) < 1.001)
    diff = float(np.where(flips, 0.0, delta).max())
    if diff > DROPIN_TOLERANCE or flips.mean() > MAX_FLIPS:
        raise FastZDCError(f"export self-check failed: the O2 drop-in graph differs from PyTorch by {diff:.3g} "
                           f"(tolerance {DROPIN_TOLERANCE:g}; {flips.mean():.2g} of the fibres one photon apart)")
    return diff, float(flips.mean())


def dropin_card_entry(blob: bytes, sha256: str) -> dict[str, Any]:
    """The drop-in file's entry in the model card's ``files``."""
    return {"file": DROPIN_FILE, "precision": "float32",
            "noise": f"input of {O2_NOISE} standard normals per particle (O2's noise vector), expanded in the graph",
            "inputs": [NOISE, CONDITIONS], "input_shapes": [["batch", O2_NOISE], ["batch", 9]],
            "bytes": len(blob), "sha256": sha256}
