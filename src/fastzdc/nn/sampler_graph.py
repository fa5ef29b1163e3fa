"""A sampler with fixed options as one module: the thing the ONNX exporter traces."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class SamplerGraph(nn.Module):
    """``forward(noise, conditions) -> (B, nx, ny)`` non-negative continuous log1p images.

    ``sample(net, conditions, noise)`` is a model kind's sampler with its options bound; ``net`` is held
    as a sub-module so that its weights become the graph's initialisers. ``noise_in`` (optional) maps the
    graph's noise input to the sampler's noise first (the O2 drop-in's :class:`~fastzdc.nn.noise_expand.NoiseExpander`).
    """

    def __init__(self, net: nn.Module, sample: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
                 image_shape: tuple[int, int], noise_in: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net
        self.sample = sample
        self.image_shape = tuple(image_shape)
        self.noise_in = noise_in

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        if self.noise_in is not None:
            noise = self.noise_in(noise)
        x = self.sample(self.net, conditions, noise)
        return x.clamp_min(0.0).reshape(-1, *self.image_shape)
