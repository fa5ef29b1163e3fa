"""The in-memory dataset: conditions, responses and PDG ids of one detector, plus provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..detector import Detector


@dataclass
class Dataset:
    """Responses of one detector to N primaries.

    Attributes:
        conditions: ``(N, 9)`` float32, the particle features in dataset units
            (see :mod:`fastzdc.conditions`).
        responses: ``(N, nx, ny)`` unsigned integer photon counts, first axis = x.
        pdgid: ``(N,)`` int32 PDG ids (0 where unknown).
        detector: the :class:`~fastzdc.detector.Detector` the responses belong to.
        attrs: provenance (generator, ``synthetic`` flag, seed, parameter hash, ...).
    """

    conditions: np.ndarray
    responses: np.ndarray
    pdgid: np.ndarray
    detector: Detector
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.conditions.shape[0])

    @property
    def synthetic(self) -> bool:
        return bool(self.attrs.get("synthetic", False))

    def subset(self, index: np.ndarray | slice) -> Dataset:
        """Rows ``index`` (indices or a slice) as a new dataset with the same attributes."""
        return Dataset(
            self.conditions[index], self.responses[index], self.pdgid[index], self.detector, dict(self.attrs)
        )
