"""fastzdc: fast simulation of the ALICE Zero Degree Calorimeter responses with generative networks.

The stand-in data produced by :mod:`fastzdc.mc` is synthetic (a parametric Monte Carlo tuned to a
handful of published statistics), never real ALICE data.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .detector import DETECTORS, ZN, ZP, Detector, get_detector  # noqa: E402
from .errors import FastZDCError  # noqa: E402

__all__ = ["DETECTORS", "ZN", "ZP", "Detector", "FastZDCError", "get_detector", "__version__"]
