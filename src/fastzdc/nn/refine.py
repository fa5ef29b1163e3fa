"""Sharp shower cores for a coarse decoder: radial bumps at the particle's impact point.

A decoder that writes the image from a 1/4-resolution grid spreads each shower core over several
fibres: the core of a shower is about one fibre wide, and where inside its fibre the particle lands is
a continuous number that the coarse grid rounds away. The decoded means then peak too low (the
brightest fibre of a Poisson draw is too faint) and the classifier sees it in the maximum pixel.

:class:`ImpactRefine` adds to the decoded log1p map ``r`` a sum of ``n`` Gaussian bumps centred on the
impact point ``(g_x, g_y)`` (fibre units):

    r'(i, j) = r(i, j) + sum_k a_k exp(-((i - g_x)^2 + (j - g_y)^2) / (2 s_k^2)),   s_k = 0.5 * 2^k fibres, k < n

The amplitudes ``a_k`` and a shift of the centre come from a zero-initialised linear head on the
decoder's hidden layer (which sees the latent and the particle), so a new refinement starts as the
identity and the latent can move the core. The centre before the shift is the straight-line impact
point of :class:`fastzdc.nn.physics.PhysicsConditions` plus the nominal deflection of a charged particle
by the separation dipole, ``x += q K / p`` (K = 6.0e4 cm GeV, the Monte Carlo's value; an estimate for
the LHC optics). The bumps are separable, ``exp(-dx^2 / 2s^2) exp(-dy^2 / 2s^2)``, so the whole map is
one batched ``(nx, n) @ (n, ny)`` product per sample: a few thousand multiply-adds.
"""

from __future__ import annotations

import torch
from torch import nn

from ..detector import Detector
from ..mc.params import MCParams
from .physics import TEV, PhysicsConditions

DEFLECTION_K_CM_GEV = MCParams().deflection_k_cm_gev
"""nominal dipole deflection at the ZDC faces: ``x += q K / p`` (cm, with p in GeV)"""
SIGMA0 = 0.5
"""width of the narrowest bump, in fibre pitches (bump k: ``SIGMA0 * 2^k``)"""


class ImpactRefine(nn.Module):
    """``refine(r, cond, hidden)``: log1p map ``(B, 1, nx, ny)``, scaled features ``(B, 9)`` and the
    decoder's hidden activations ``(B, hidden_dim)`` -> the map with ``n_bumps`` bumps added."""

    def __init__(self, detector: Detector, hidden_dim: int, n_bumps: int = 3) -> None:
        super().__init__()
        if n_bumps < 1:
            raise ValueError(f"n_bumps must be at least 1, got {n_bumps}")
        self.physics = PhysicsConditions(detector)
        self.n_bumps = n_bumps
        self.head = nn.Linear(hidden_dim, n_bumps + 2)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # u (half-widths from the face's centre) -> fibre index g = (u * half + centre - low) / pitch - 1/2
        self.gain = (self.physics.half_x / detector.pitch_cm, self.physics.half_y / detector.pitch_cm)
        self.offset = ((self.physics.x_c - detector.x_low_cm) / detector.pitch_cm - 0.5,
                       (self.physics.y_c - detector.y_low_cm) / detector.pitch_cm - 0.5)
        self.bend = DEFLECTION_K_CM_GEV / TEV / detector.pitch_cm  # fibres per unit of q (1 TeV) / p
        inv = [-0.5 / (SIGMA0 * 2.0**k) ** 2 for k in range(n_bumps)]
        self.register_buffer("inv_two_var", torch.tensor(inv), persistent=False)
        self.register_buffer("ix", torch.arange(detector.nx, dtype=torch.float32), persistent=False)
        self.register_buffer("iy", torch.arange(detector.ny, dtype=torch.float32), persistent=False)

    def centre(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` fractional fibre indices ``(g_x, g_y)`` of the nominal impact point (before the shift)."""
        d = self.physics.derived(cond)
        gx = d[:, 1] * self.gain[0] + d[:, 3] * self.bend + self.offset[0]
        gy = d[:, 2] * self.gain[1] + self.offset[1]
        return gx, gy

    def forward(self, r: torch.Tensor, cond: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        out = self.head(hidden.float())
        amp, shift = out[:, : self.n_bumps], out[:, self.n_bumps :]
        gx, gy = self.centre(cond)
        dx = self.ix[None, :] - (gx + shift[:, 0])[:, None]  # (B, nx)
        dy = self.iy[None, :] - (gy + shift[:, 1])[:, None]  # (B, ny)
        bx = torch.exp(dx[:, :, None].square() * self.inv_two_var) * amp[:, None, :]  # (B, nx, n)
        by = torch.exp(dy[:, :, None].square() * self.inv_two_var)  # (B, ny, n)
        return r + torch.bmm(bx, by.transpose(1, 2))[:, None].to(r.dtype)
