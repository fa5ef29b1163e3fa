"""A fixed expansion of a short noise vector into a model's full noise: the input of the O2 drop-in graphs.

ALICE O2's ZDC fast-simulation caller draws ``K = 10`` standard normals per particle (the latent of the
VAE/GAN models it was written for). A flow model needs a whole noise image (ZN FM 1 x 44 x 44) or grid
(latent FM 2 x 11 x 11). :class:`NoiseExpander` turns the ``K`` normals ``z`` into ``n`` pseudo-normals
with a fixed hash that ONNX expresses with Clip, Round, MatMul, Floor, Log, Sqrt, Cos and Sin:

    q = round(1024 clip(z, -6, 6)) / 1024                                  (z on a grid of 2^-10)
    h_j = frac(q . A_j + a_j),  l_j = frac(q . B_j + b_j),  u_j = h_j + l_j / 1024      (20-bit uniforms)
    x_i = sqrt(-2 log(1 - u_i)) cos(2 pi u_{m+i}),   x_{m+i} = ... sin(...)  (Box-Muller, m = ceil(n / 2))

``A, B`` are fixed integers ~ N(0, 50^2) clipped to [-127, 127], ``a, b`` fixed multiples of 2^-10: every
product and partial sum is a multiple of 2^-10 below 2^13, exact in float32 in any summation order, so
PyTorch and ONNX Runtime compute the same uniforms bit for bit (a fractional part is discontinuous: an
inexact sum would flip some values from ~1 to ~0). ``q . A_j`` spreads over ~160, so its fractional part
is uniform on the 2^-10 grid; normals reach 5.3 sigma. The ``n`` outputs are a deterministic function of
the ``K`` numbers -- a pseudo-random generator seeded by the particle's noise vector -- so O2's own random
engine keeps a production reproducible. W / floor of the drop-in graphs against the full-noise graphs:
benchmarks/RESULTS.md ("O2 drop-in").
"""

from __future__ import annotations

import math

import torch
from torch import nn

SEED = 20261206
SCALE = 50.0
GRID = 1024.0
Z_MAX = 6.0
O2_NOISE = 10
"""values of the noise vector O2's ZDC fast-simulation caller draws per particle"""


class NoiseExpander(nn.Module):
    """``(B, k)`` standard normals -> ``(B, *shape)`` pseudo-normals (float32; fixed buffers, no parameters)."""

    def __init__(self, shape: tuple[int, ...], k: int = O2_NOISE) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.k = int(k)
        self.n = math.prod(self.shape)
        self.m = (self.n + 1) // 2
        gen = torch.Generator().manual_seed(SEED)
        weight = (SCALE * torch.randn((self.k, 4 * self.m), generator=gen, dtype=torch.float64)).round().clamp(-127, 127)
        phase = torch.randint(0, int(GRID), (4 * self.m,), generator=gen, dtype=torch.int64).double() / GRID
        self.register_buffer("weight", weight.float(), persistent=False)
        self.register_buffer("phase", phase.float(), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        q = torch.round(z.float().clamp(-Z_MAX, Z_MAX) * GRID) / GRID
        v = q @ self.weight + self.phase
        f = v - torch.floor(v)
        u = f[:, : 2 * self.m] + f[:, 2 * self.m :] / GRID  # high and low 10 bits
        r = torch.sqrt(-2.0 * torch.log1p(-u[:, : self.m]))
        angle = (2.0 * math.pi) * u[:, self.m :]
        x = torch.cat([r * torch.cos(angle), r * torch.sin(angle)], dim=1)[:, : self.n]
        return x.reshape(z.shape[0], *self.shape)
