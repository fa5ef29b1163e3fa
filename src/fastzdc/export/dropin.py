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

import math
from typing import Any

import numpy as np
import onnx
import torch

from ..errors import FastZDCError
from ..inference.gate import Gate
from ..inference.graph import CONDITIONS, NOISE, RAW_OUTPUT, export_sampler, sampler_module, with_count_output
from ..inference.model import ModelGenerator
from ..inference.onnx import check_signature, open_session
from ..nn.gate import LitProbability
from ..nn.noise_expand import O2_NOISE, NoiseExpander
from ..sampling.noise import NoiseStream

DROPIN_FILE = "model.o2.onnx"
DROPIN_VARIANT = "float32-o2"
MAX_CANDIDATES = 16
"""most candidate responses per particle a drop-in graph may draw"""
DROPIN_TOLERANCE = 1e-3
"""max |ONNX Runtime - PyTorch| of the log1p image, as for model.onnx, outside count flips"""
MAX_FLIPS = 1e-3
"""largest accepted fraction of fibres whose count differs by one photon. The expanded noise agrees to
float rounding (~1e-7), not bit for bit (the two libraries' cos, sin and log differ in the last bit); a
kind with a noise dither (latent FM) multiplies its noise by ~1e3 before rounding stochastically, so a
fibre whose ``c + u`` lies within ~1e-4 of an integer rounds the other way (measured: 1 fibre in 31k).
With Poisson counts, a uniform within ~1e-4 of the wrap of its fractional part (``u`` near 0 on one side,
near 1 on the other) draws the lowest count on one side and a high quantile on the other: such a fibre
differs alone in its row (at most :data:`MAX_LONE_FIBRES`) and counts as a flip too (measured: 1 fibre in
27k, 0 against 6 photons)."""
MAX_LONE_FIBRES = 2
"""fibres of one image that may differ by more than one photon, each alone (the rest of the image equal)"""


def _noise_size(noise_shape: tuple[int, ...], candidates: int, gated: bool) -> tuple[int, ...]:
    """What the expander makes: the sampler's noise as is, or flat ``K n (+ 1 for the gate's draw)``."""
    if candidates == 1 and not gated:
        return tuple(noise_shape)
    return (candidates * math.prod(noise_shape) + int(gated),)


def lit_module(gen: ModelGenerator, gate: Gate) -> LitProbability:
    """The gate as ``P(gen's detector lit | ZN or ZP lit)`` of features scaled with the generator's scaler."""
    gm, gs = np.asarray(gate.scaler.mean, np.float64), np.asarray(gate.scaler.scale, np.float64)
    mm, ms = np.asarray(gen.scaler.mean, np.float64), np.asarray(gen.scaler.scale, np.float64)
    return LitProbability(gate.net, torch.from_numpy(ms / gs), torch.from_numpy((mm - gm) / gs), gen.detector.name)


def dropin_model(gen: ModelGenerator, *, opset: int, candidates: int = 1, gate: Gate | None = None) -> onnx.ModelProto:
    """The drop-in graph of a loaded checkpoint (with the rounding tail, float32). ``candidates > 1``: each
    particle's first non-empty response among that many; ``gate``: the response gate decides in the graph
    whether the particle lights this detector (given that O2's classifier let it through)."""
    expander = NoiseExpander(_noise_size(gen.kind.noise_shape(), int(candidates), gate is not None), O2_NOISE)
    lit = None if gate is None else lit_module(gen, gate)
    base = export_sampler(gen.kind, gen.net, gen.sampler, opset=opset, noise_in=expander, candidates=int(candidates), lit=lit)
    return with_count_output(base, gen.kind.dequantized)


def expanded_noise(noise10: np.ndarray, noise_shape: tuple[int, ...]) -> np.ndarray:
    """The full noise the plain drop-in graph makes from O2's ``(B, 10)`` noise vectors (PyTorch, float32)."""
    with torch.no_grad():
        return NoiseExpander(tuple(noise_shape), O2_NOISE)(torch.from_numpy(np.asarray(noise10, np.float32))).numpy()


def dropin_reference(gen: ModelGenerator, noise10: np.ndarray, cond: np.ndarray, *, candidates: int = 1,
                     gate: Gate | None = None) -> np.ndarray:
    """What the drop-in graph computes, in PyTorch: ``(B, nx, ny)`` continuous log1p images. The plain
    graph is the generator itself on the expanded noise; the candidate and gated graphs run the module the
    exporter traces."""
    noise = torch.from_numpy(np.asarray(noise10, np.float32))
    c = torch.from_numpy(np.asarray(cond, np.float32))
    with torch.no_grad():
        if candidates == 1 and gate is None:
            full = torch.from_numpy(expanded_noise(noise10, gen.kind.noise_shape()))
            out = gen.generate_log(c, full).float()
        else:
            expander = NoiseExpander(_noise_size(gen.kind.noise_shape(), candidates, gate is not None), O2_NOISE)
            module = sampler_module(gen.kind, gen.net, gen.kind.sampler_options(gen.sampler), expander,
                                    candidates=candidates, lit=None if gate is None else lit_module(gen, gate))
            out = module(noise, c)
    return out.numpy().reshape(len(c), *gen.detector.shape)


def dropin_parity(gen: ModelGenerator, blob: bytes, rows: int = 16, seed: int = 20240917, *,
                  candidates: int = 1, gate: Gate | None = None) -> tuple[float, float]:
    """``(max |ONNX Runtime - PyTorch| of the log1p image outside count flips, fraction of flipped fibres)``
    of the drop-in graph, PyTorch fed the expanded noise; raise when a difference above
    :data:`DROPIN_TOLERANCE` is neither a one-photon flip nor a lone fibre of its image, when flips exceed
    :data:`MAX_FLIPS`, or when the signature is not O2's."""
    sess = open_session(blob, threads=1, where=f"<{DROPIN_VARIANT} export>")
    check_signature(sess, gen.detector, (O2_NOISE,), f"<{DROPIN_VARIANT} export>")
    noise10 = NoiseStream(seed, (O2_NOISE,)).rows(0, rows).numpy()
    cond = torch.randn(rows, 9, generator=torch.Generator().manual_seed(seed)).numpy()
    ref = dropin_reference(gen, noise10, cond, candidates=candidates, gate=gate)
    got = sess.run([RAW_OUTPUT], {NOISE: noise10, CONDITIONS: cond})[0]
    if not np.isfinite(got).all():
        raise FastZDCError("export self-check failed: the O2 drop-in graph gives non-finite images")
    diff, flipped = compare_counts_log1p(got, ref)
    if diff > DROPIN_TOLERANCE or flipped > MAX_FLIPS:
        raise FastZDCError(f"export self-check failed: the O2 drop-in graph differs from PyTorch by {diff:.3g} "
                           f"(tolerance {DROPIN_TOLERANCE:g}; {flipped:.2g} of the fibres flipped)")
    return diff, flipped


def compare_counts_log1p(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``(max |got - ref| outside count flips, fraction of flipped fibres)`` of two ``(B, nx, ny)`` log1p
    count images. A flip is a fibre more than :data:`DROPIN_TOLERANCE` apart that is one photon apart, or
    that is one of at most :data:`MAX_LONE_FIBRES` such fibres of its image."""
    delta = np.abs(got - ref)
    apart = delta > DROPIN_TOLERANCE
    one_photon = apart & (np.abs(np.expm1(got.astype(np.float64)) - np.expm1(ref.astype(np.float64))) < 1.001)
    lone = apart & (apart.reshape(len(apart), -1).sum(1) <= MAX_LONE_FIBRES)[:, None, None]
    flips = one_photon | lone
    return float(np.where(flips, 0.0, delta).max()), float(flips.mean())


def dropin_card_entry(blob: bytes, sha256: str, candidates: int = 1, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    """The drop-in file's entry in the model card's ``files`` (``gate``: the gate's source and SHA-256)."""
    response = ("the first non-empty of the candidates" if candidates > 1 else "one draw (may be empty)")
    if gate is not None:
        response = f"dark with the gate's P(not lit | ZN or ZP lit), else {response}"
    return {"file": DROPIN_FILE, "precision": "float32", "candidates": int(candidates), "gate": gate, "response": response,
            "noise": f"input of {O2_NOISE} standard normals per particle (O2's noise vector), expanded in the graph",
            "inputs": [NOISE, CONDITIONS], "input_shapes": [["batch", O2_NOISE], ["batch", 9]],
            "bytes": len(blob), "sha256": sha256}
