"""The noise dither: pseudo-uniforms for stochastic rounding, derived from a sample's own noise.

A deterministic decoder predicts a smooth expected-count map ``c`` (photons per fibre). Rounding it
(``round(c)``) loses every pixel below half a photon and biases the channel sums low; stochastic
rounding ``n = floor(c + u)``, ``u ~ U[0, 1)``, is unbiased pixel by pixel: ``E[n] = c``.

Drawing ``u`` per pixel would cost more than the whole latent sampler on a CPU (``randn`` of 1936
numbers per ZN sample), so the uniforms are *derived* from the latent noise ``n0`` the sample starts
from: each latent cell's noise vector (``z_ch`` normals) is mixed by a fixed random 1x1 map with large
coefficients into the ``f^2`` sub-pixels of its ``f x f`` block (``f = 4``, the decoder's upsampling),
and the fractional part is kept:

    u[f a + i, f b + j] = frac( sum_k |n0[k, a, b]| * S[i f + j, k] ),     S ~ U[200, 1200)

The fractional part of a large random multiple of a smooth variable is uniform to within a few 1e-3,
and the 16 sub-pixels mix the same normals with unrelated coefficients. Everything is a tensor
function of the noise (exportable to ONNX: Abs, Conv, DepthToSpace, Floor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .float32 import in_float32

SEED = 20251126


class NoiseDither(nn.Module):
    """``(B, z_ch, h, w)`` latent noise -> ``(B, 1, H, W)`` pseudo-uniforms in [0, 1)."""

    def __init__(self, z_ch: int, out_shape: tuple[int, int], factor: int = 4) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(SEED)
        weight = 200.0 + 1000.0 * torch.rand((factor * factor, z_ch, 1, 1), generator=gen, dtype=torch.float64)
        self.register_buffer("weight", weight.float(), persistent=False)
        self.factor = factor
        self.out_shape = tuple(out_shape)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        # v reaches ~1e3: a bfloat16 convolution keeps no fraction (u = 0, a third of the light lost)
        return in_float32(self._uniforms, noise)

    def _uniforms(self, noise: torch.Tensor) -> torch.Tensor:
        h, w = self.out_shape
        full_h, full_w = noise.shape[-2] * self.factor, noise.shape[-1] * self.factor
        top, left = (full_h - h) // 2, (full_w - w) // 2
        v = F.pixel_shuffle(F.conv2d(noise.abs(), self.weight), self.factor)[:, :, top : top + h, left : left + w]
        return v - torch.floor(v)
