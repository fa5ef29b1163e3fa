"""A Python re-statement of what ALICE O2's ZDC fast simulation does with one particle.

O2 (``Detectors/ZDC/fastsimulation``: ``Utils.cxx``, ``FastSimulations.cxx``, ``Processors.cxx``), step by
step, as this module re-states it (in float32 where O2 computes in ``float``):

1. ``loadScales(path)``: ``parse_block(file, "#means")`` skips lines until one equals ``#means``
   exactly, then converts every following line with ``std::stof`` until an empty line or the end of the
   file; the same for ``#scales`` from where the first block stopped. No file, an empty block or blocks of
   different lengths: no scaler (O2 then disables the fast simulation).
2. ``StandardScaler::scale``: ``(x[i] - mean[i]) / scale[i]`` per feature, in float.
3. ``ConditionalModelSimulation(path, batchSize = 1)``: input names and shapes are read from the session;
   a negative (dynamic) dimension becomes the batch size, 1. The caller passes one float vector per
   input, in the session's input order: noise first, the scaled features second.
4. ``calculateChannels``: over the row-major first output, ``expm1`` of every fibre is added into 5
   float accumulators (the 4 quadrant towers on fibres whose row and column have the same parity, the
   common channel on the others), then ``lround``. O2 hard-codes 44 x 44 (split at 22); for ZP the same
   rule on 56 x 30 (split at 28 and 15) is what O2 would need.

What O2 does *not* do today, and a flow model needs: the noise vector O2's caller draws has 10 values
(the VAE/GAN latent); a flow model's noise input has the full image shape (ZN 1 x 44 x 44 = 1936
values), or no noise input at all for the graph-noise variant (docs/onnx_o2.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..detector import ZN, Detector
from ..errors import FastZDCError
from ..inference.onnx import open_session

_STOF = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _stof(line: str, where: Path) -> np.float32:
    """``std::stof``: the longest leading decimal number (leading blanks skipped, the rest ignored)."""
    m = _STOF.match(line)
    if m is None:
        raise FastZDCError(f"std::stof cannot convert {line!r} (O2 throws std::invalid_argument)", where)
    return np.float32(float(m.group(0)))


def _parse_block(lines: Iterator[str], option: str, where: Path) -> list[np.float32]:
    found = False
    for line in lines:
        if line == option:
            found = True
            break
    data: list[np.float32] = []
    for line in lines:
        if not line:
            break
        if found:
            data.append(_stof(line, where))
    return data


def load_scales(path: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """O2's ``loadScales``: ``(means, scales)`` as float32 arrays, or None where O2 gets no scaler."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError:
        return None
    lines = iter(text.split("\n"))  # std::getline splits on '\n' only; a '\r' stays in the line
    means = _parse_block(lines, "#means", path)
    if not means:
        return None
    scales = _parse_block(lines, "#scales", path)
    if not scales or len(means) != len(scales):
        return None
    return np.asarray(means, np.float32), np.asarray(scales, np.float32)


def scale_features(particle: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """O2's ``StandardScaler::scale`` in float32: ``(x - mean) / scale``."""
    x = np.asarray(particle, np.float32)
    if x.shape != means.shape:
        raise FastZDCError(f"the particle has {x.size} features, the scaler {means.size}")
    return ((x - means) / scales).astype(np.float32)


def calculate_channels(flat_image: np.ndarray, detector: Detector = ZN) -> list[int]:
    """O2's ``calculateChannels`` on one row-major log1p image (float accumulators, ``lround``)."""
    flat = np.asarray(flat_image, np.float32).ravel()
    h, w = detector.shape
    if flat.size != h * w:
        raise FastZDCError(f"{detector.name.upper()} image needs {h * w} values, got {flat.size}")
    channels = [np.float32(0.0)] * 5
    for i in range(h):
        for j in range(w):
            v = np.float32(math.expm1(float(flat[j + i * w])))
            if i % 2 == j % 2:
                if i < h // 2 and j < w // 2:
                    channels[0] = np.float32(channels[0] + v)
                elif i < h // 2 and j >= w // 2:
                    channels[1] = np.float32(channels[1] + v)
                elif i >= h // 2 and j < w // 2:
                    channels[2] = np.float32(channels[2] + v)
                else:
                    channels[3] = np.float32(channels[3] + v)
            else:
                channels[4] = np.float32(channels[4] + v)
    return [_lround(float(c)) for c in channels]


def _lround(x: float) -> int:
    """C's ``lround``: halfway cases away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


class O2ParticleSimulation:
    """O2's per-particle path for one exported model: scaler text file + ONNX file, batch size 1.

    >>> sim = O2ParticleSimulation("weights/onnx/fm-zn/model.onnx", "weights/onnx/fm-zn/scaler.txt")  # doctest: +SKIP
    >>> sim.channels([513.3, 0, 0, 0, 0, 0, -513.3, 939.565, 0], noise)                               # doctest: +SKIP
    [41, 37, 52, 40, 171]
    """

    def __init__(self, model_path: str | Path, scales_path: str | Path, detector: Detector = ZN, batch_size: int = 1) -> None:
        scales = load_scales(scales_path)
        if scales is None:
            raise FastZDCError("O2 would read no scaler from this file (missing, empty block or unequal blocks)", scales_path)
        self.means, self.scales = scales
        self.detector = detector
        self.session = open_session(model_path, threads=1)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_shapes = [[d if isinstance(d, int) and d >= 0 else batch_size for d in i.shape]
                             for i in self.session.get_inputs()]

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        """``ConditionalModelSimulation::setInput`` + ``run``: one flat float vector per input, in order."""
        if len(inputs) != len(self.input_names):
            raise FastZDCError(f"the model has {len(self.input_names)} inputs, got {len(inputs)} vectors")
        feeds = {}
        for name, shape, vec in zip(self.input_names, self.input_shapes, inputs):
            vec = np.asarray(vec, np.float32).ravel()
            if vec.size != int(np.prod(shape)):
                raise FastZDCError(f"input {name!r} of shape {shape} needs {int(np.prod(shape))} values, got {vec.size} "
                                   "(ONNX Runtime's CreateTensor would fail)")
            feeds[name] = vec.reshape(shape)
        return self.session.run(self.output_names, feeds)[0]

    def channels(self, particle: np.ndarray, noise: np.ndarray | None = None) -> list[int]:
        """The 5 channel values O2 makes for one raw particle ``[E, vx, vy, vz, px, py, pz, mass, charge]``.

        ``noise``: the flat noise vector the caller draws (absent for a graph-noise model).
        """
        scaled = scale_features(particle, self.means, self.scales)
        inputs = [scaled] if noise is None else [np.asarray(noise, np.float32), scaled]
        return calculate_channels(self.run(inputs).ravel(), self.detector)
