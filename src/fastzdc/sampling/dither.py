"""Stochastic rounding of decoded photon counts.

A deterministic decoder predicts a smooth expected-count map ``c`` (photons per fibre). Rounding it
(``round(c)``) loses every pixel below half a photon and biases the channel sums low; stochastic
rounding ``n = floor(c + u)``, ``u ~ U[0, 1)``, is unbiased pixel by pixel: ``E[n] = c``. The uniforms
``u`` come from the sample's own noise (:class:`fastzdc.nn.dither.NoiseDither`).
"""

from __future__ import annotations

import torch


def stochastic_round_log1p(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log1p images -> log1p of ``floor(exp(x) - 1 + u)``: integer counts, unbiased, in log1p units."""
    return torch.log1p(torch.floor(torch.expm1(x) + u))
