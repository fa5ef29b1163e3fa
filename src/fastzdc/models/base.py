"""The interface every model kind implements, and the registry that maps names to kinds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ..detector import Detector
from ..errors import FastZDCError

_REGISTRY: dict[str, type[ModelKind]] = {}


class ModelKind(ABC):
    """A model kind: how to build its network, its training loss, and how it samples.

    Images enter as log1p photon counts ``(B, 1, nx, ny)``; conditions as scaled features ``(B, 9)``.
    Kinds know nothing about files, progress bars or the CLI.
    """

    kind: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    """network hyper-parameters and their defaults"""
    sampler_defaults: ClassVar[dict[str, Any]] = {}
    """sampling options (steps, method, ...) and their defaults"""

    def __init__(self, detector: Detector, hparams: dict[str, Any] | None = None) -> None:
        unknown = set(hparams or {}) - set(self.defaults)
        if unknown:
            raise FastZDCError(f"unknown {self.kind} model options: {', '.join(sorted(unknown))}")
        self.detector = detector
        self.hparams = {**self.defaults, **(hparams or {})}

    @abstractmethod
    def build(self) -> nn.Module:
        """A freshly initialised network."""

    @abstractmethod
    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Scalar training loss on a batch; all randomness from ``gen``."""

    @abstractmethod
    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        """log1p images ``(B, 1, nx, ny)`` from noise of :meth:`noise_shape` and scaled conditions."""

    @property
    def dequantized(self) -> bool:
        """True if the kind models dequantized counts ``n + U[0, 1)`` (decoded with floor, not round)."""
        return bool(self.hparams.get("dequantize", False))

    def noise_shape(self) -> tuple[int, ...]:
        """Shape of one sample's noise (without the batch dimension)."""
        return (1, *self.detector.shape)

    def sampler_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = {**self.sampler_defaults, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        unknown = set(opts) - set(self.sampler_defaults)
        if unknown:
            raise FastZDCError(f"unknown {self.kind} sampler options: {', '.join(sorted(unknown))}")
        return opts


def register(cls: type[ModelKind]) -> type[ModelKind]:
    _REGISTRY[cls.kind] = cls
    return cls


def get_kind(name: str) -> type[ModelKind]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FastZDCError(f"unknown model kind {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
