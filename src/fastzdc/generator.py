"""The one interface for everything that turns particles into ZDC responses.

A Generator takes raw particle features (``(N, 9)``, dataset units, see :mod:`fastzdc.conditions`)
and returns non-negative integer photon counts ``(N, nx, ny)`` of its detector. The Monte Carlo,
every trained model and an ONNX session implement it; evaluation, the demo, the timing harness and
``fastzdc generate`` only ever see Generators.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from .detector import Detector


@runtime_checkable
class Generator(Protocol):
    """Particles in, photon counts out."""

    name: str
    detector: Detector
    n_params: int

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 8192, device: Any = None
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` non-negative integer counts; same seed, same output."""
        ...
