"""A sampler with fixed options as one module: the thing the ONNX exporter traces."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

LIT_LOG1P = math.log1p(0.5)
"""a log1p image is lit where some fibre holds at least half a photon (one photon after rounding)"""


def first_lit(x: torch.Tensor, candidates: int) -> torch.Tensor:
    """``(B * K, ...)`` log1p images, ``K = candidates`` consecutive per particle -> ``(B, ...)``: each
    particle's first non-empty candidate, its first candidate where all ``K`` are empty.

    >>> x = torch.zeros(4, 1, 2, 2); x[3, 0, 1, 1] = 1.0
    >>> first_lit(x, 2)[:, 0, 1, 1].tolist()
    [0.0, 1.0]
    """
    k = int(candidates)
    flat = x.reshape(-1, k, math.prod(x.shape[1:]))
    lit = (flat.amax(dim=2) > LIT_LOG1P).to(torch.int64)
    pick = torch.argmax(lit, dim=1)  # the first maximum: the first lit candidate, or 0
    out = torch.gather(flat, 1, pick[:, None, None].expand(-1, 1, flat.shape[2]))
    return out.reshape(-1, *x.shape[1:])


class SamplerGraph(nn.Module):
    """``forward(noise, conditions) -> (B, nx, ny)`` non-negative continuous log1p images.

    ``sample(net, conditions, noise)`` is a model kind's sampler with its options bound; ``net`` is held
    as a sub-module so that its weights become the graph's initialisers. ``noise_in`` (optional) maps the
    graph's noise input to the sampler's noise first (the O2 drop-in's :class:`~fastzdc.nn.noise_expand.NoiseExpander`).

    Behind a response classifier (the O2 drop-in with ``candidates = K > 1`` or a ``lit`` module),
    ``noise_in`` gives a flat ``(B, K n + [lit])`` vector, ``n`` the size of ``noise_shape``: the sampler
    runs on ``B K`` rows and each particle keeps its first non-empty candidate (:func:`first_lit`); with
    ``lit`` (``(B, 9) -> (B,)`` probabilities, :class:`~fastzdc.nn.gate.LitProbability`) the last value
    ``z`` of the row decides whether the particle is lit at all, ``Phi(z) < p`` (``Phi`` the normal CDF,
    ``0.5 (1 + erf(z / sqrt 2))``), and a dark particle gets an empty image.
    """

    def __init__(self, net: nn.Module, sample: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
                 image_shape: tuple[int, int], noise_in: nn.Module | None = None, *, noise_shape: tuple[int, ...] = (),
                 candidates: int = 1, lit: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net
        self.sample = sample
        self.image_shape = tuple(image_shape)
        self.noise_in = noise_in
        self.noise_shape = tuple(noise_shape)
        self.candidates = int(candidates)
        self.lit = lit

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        if self.noise_in is not None:
            noise = self.noise_in(noise)
        k = self.candidates
        if k == 1 and self.lit is None:
            return self.sample(self.net, conditions, noise).clamp_min(0.0).reshape(-1, *self.image_shape)
        flat = noise.reshape(noise.shape[0], -1)
        n = math.prod(self.noise_shape)
        draws = flat[:, : k * n].reshape(-1, *self.noise_shape)
        x = first_lit(self.sample(self.net, conditions.repeat_interleave(k, dim=0), draws).clamp_min(0.0), k)
        if self.lit is not None:
            u = 0.5 * (1.0 + torch.erf(flat[:, k * n] * (1.0 / math.sqrt(2.0))))
            x = x * (u < self.lit(conditions)).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return x.reshape(-1, *self.image_shape)
