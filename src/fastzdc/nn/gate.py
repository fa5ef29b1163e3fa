"""The response gate's network: 9 scaled particle features -> logits of which calorimeters respond.

Four exclusive states, in this order (:data:`STATES`): none, ZN only, ZP only, both. The network is a
small MLP on the 9 scaled features (O2's input) and, computed inside it (so the ONNX graph still takes
exactly the 9 features), the derived numbers of :class:`~fastzdc.nn.physics.PhysicsConditions` for each
calorimeter: log energy, the straight-line impact point on the ZN and on the ZP face, and the magnetic
rigidity q/p. A scalar ``temperature`` buffer divides the logits (temperature scaling, fitted on a
validation split after training; 1 until then).

>>> net = GateNet(hidden=16, depth=2)
>>> tuple(net(torch.zeros(3, 9)).shape)
(3, 4)
"""

from __future__ import annotations

import torch
from torch import nn

from ..detector import ZN, ZP
from .physics import N_DERIVED, PhysicsConditions

STATES = ("none", "zn", "zp", "both")
"""the gate's classes: index = (ZN lit) + 2 (ZP lit)"""


class GateNet(nn.Module):
    """``(B, 9)`` scaled features -> ``(B, 4)`` logits divided by the temperature."""

    def __init__(self, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.zn = PhysicsConditions(ZN)
        self.zp = PhysicsConditions(ZP)
        width = 9 + 2 * N_DERIVED
        layers: list[nn.Module] = [nn.Linear(width, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        layers.append(nn.Linear(hidden, len(STATES)))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("temperature", torch.ones(()))

    def set_scaler(self, mean, scale) -> None:
        """The condition scaler of the training split (``x_scaled = (x - mean) / scale``)."""
        self.zn.set_scaler(mean, scale)
        self.zp.set_scaler(mean, scale)

    def features(self, cond: torch.Tensor) -> torch.Tensor:
        a = self.zn(cond)
        b = self.zp(cond)[:, 9:]
        x = torch.cat([a, b], dim=1)
        return torch.clamp(x, -50.0, 50.0)  # far-off impact points and huge rigidities saturate

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(cond)) / self.temperature


class GateProbabilities(nn.Module):
    """The exported graph: ``(B, 9)`` scaled features -> ``(B, 4)`` probabilities of :data:`STATES`."""

    def __init__(self, net: GateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(cond), dim=1)


class LitProbability(nn.Module):
    """``(B, 9)`` features scaled with a *generator's* scaler -> ``(B,)`` P(``detector`` lit | ZN or ZP lit).

    The features are re-scaled to the gate's own scaler in the graph, ``c_gate = c a + b`` with
    ``a = s_model / s_gate`` and ``b = (m_model - m_gate) / s_gate``; then

        P(d lit | ZN or ZP lit) = (P(d only) + P(both)) / (1 - P(none)),

    the occupancy of one calorimeter among the particles that O2's classifier lets through.
    """

    def __init__(self, net: GateNet, scale: torch.Tensor, shift: torch.Tensor, detector: str) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(1, -1), persistent=False)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32).reshape(1, -1), persistent=False)
        self.index = STATES.index(detector)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(self.net(cond * self.scale + self.shift), dim=1)
        return (p[:, self.index] + p[:, 3]) / (1.0 - p[:, 0]).clamp_min(1e-12)
