"""Physics-informed conditioning: what decides a shower, computed from the 9 particle features.

The network of a generative model gets the 9 standardised raw features and would have to learn the
beam-line geometry itself. :class:`PhysicsConditions` appends, inside the network (so a checkpoint or an
ONNX graph still takes exactly the 9 scaled features O2 passes), four derived numbers:

    log(E / 1 TeV)
    u = (x_face - x_c) / (w_x / 2),   x_face = vx + px / |pz| (z_face - |vz|)   straight-line impact point
    v = (y_face - y_c) / (w_y / 2),   y_face = vy + py / |pz| (z_face - |vz|)   on the calorimeter face
    q (1 TeV) / p                                                               magnetic rigidity (charged
                                                                                particles are bent by the
                                                                                separation dipole ~ q / p)

with ``z_face`` the face's distance from the interaction point, ``(x_c, y_c)`` the centre and ``w`` the
width of the calorimeter face (cm). Units as in :mod:`fastzdc.conditions` (GeV, cm, e). The raw features
are recovered from the scaled ones with the training scaler, held as buffers ``mean`` and ``scale`` (set
when training starts, saved with the weights).
"""

from __future__ import annotations

import torch
from torch import nn

from ..detector import Detector

N_DERIVED = 4
TEV = 1000.0


class PhysicsConditions(nn.Module):
    """``(B, 9)`` scaled features -> ``(B, 9 + 4)``: the same features and the derived ones above."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(9))
        self.register_buffer("scale", torch.ones(9))
        self.z_face = 0.5 * (detector.z_face_a_cm + detector.z_face_c_cm)
        self.x_c = detector.x_center_cm
        self.y_c = 0.5 * (detector.y_low_cm + detector.y_high_cm)
        self.half_x = 0.5 * (detector.x_high_cm - detector.x_low_cm)
        self.half_y = 0.5 * (detector.y_high_cm - detector.y_low_cm)

    def set_scaler(self, mean, scale) -> None:
        """The condition scaler of the training split (``x_scaled = (x - mean) / scale``)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return torch.cat([cond, self.derived(cond).to(cond.dtype)], dim=1)

    def derived(self, cond: torch.Tensor) -> torch.Tensor:
        """``(B, 9)`` scaled features -> ``(B, 4)`` float32: ``log(E / 1 TeV), u, v, q (1 TeV) / p``."""
        raw = cond.float() * self.scale + self.mean
        e, vx, vy, vz, px, py, pz, _, q = raw.unbind(1)
        apz = pz.abs().clamp_min(1e-3)
        lever = self.z_face - vz.abs()
        u = (vx + px / apz * lever - self.x_c) / self.half_x
        v = (vy + py / apz * lever - self.y_c) / self.half_y
        p = torch.sqrt(px * px + py * py + pz * pz).clamp_min(1e-3)
        return torch.stack([torch.log(e.clamp_min(1e-3) / TEV), u, v, q * TEV / p], dim=1)


class PhysicsConditionedNet(nn.Module):
    """``net(x, cond, t)`` of a network that takes ``9 + 4`` condition features, called with the 9."""

    auto_bfloat16 = True
    """as the wrapped FM UNet (the derived features are computed in float32)"""

    def __init__(self, net: nn.Module, physics: PhysicsConditions) -> None:
        super().__init__()
        self.physics = physics
        self.net = net

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.physics(cond), t)
