"""The one interface for everything that turns particles into ZDC responses.

A Generator takes raw particle features (``(N, 9)``, dataset units, see :mod:`fastzdc.conditions`)
and returns non-negative integer photon counts ``(N, nx, ny)`` of its detector. The Monte Carlo,
every trained model (PyTorch or ONNX Runtime) and the shower-library look-up implement it; evaluation,
the demo, the timing harness and ``fastzdc generate`` only ever see Generators, and read nothing but
the attributes declared here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .detector import Detector


@runtime_checkable
class Generator(Protocol):
    """Particles in, photon counts out."""

    name: str
    """a short label for tables and plots (e.g. ``"fm-distill-zn"``)"""
    detector: Detector
    n_params: int
    """trainable parameters (0 for the Monte Carlo and the look-up)"""
    sampler: dict[str, Any]
    """the sampling options in effect (``{}`` where there are none)"""
    adjustable: frozenset[str]
    """the sampler options :meth:`generate` accepts per call (empty for an ONNX graph, whose sampler
    is unrolled, and for generators without options)"""
    precision: str
    """arithmetic of the network: ``float32``, ``bfloat16``, ``float16``; ``float64`` for NumPy code"""
    backend: str
    """``torch``, ``onnx`` or ``numpy``"""
    device: Any
    """where it runs (a ``torch.device`` or ``"cpu"``)"""

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None,
        advance: Callable[[int], None] | None = None, **sampler: Any,
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` non-negative integer counts; same seed, same output.

        ``advance(k)`` is called as batches of ``k`` rows are done (progress bars); ``sampler`` options
        outside :attr:`adjustable` are an error."""
        ...


class GeneratorDefaults:
    """Defaults of the :class:`Generator` attributes for generators without a network or options (a
    look-up, the Monte Carlo, a user's own code): subclass it and set ``name``, ``detector`` and
    ``generate``."""

    n_params: int = 0
    sampler: dict[str, Any] = {}  # noqa: RUF012  (never mutated: read-only default)
    adjustable: frozenset[str] = frozenset()
    precision: str = "float64"
    backend: str = "numpy"
    device: Any = "cpu"
