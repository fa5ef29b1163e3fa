"""The sampling network of the latent flow matching: a flow on standardised VAE latents, the frozen
decoder, and the noise dither (:mod:`fastzdc.models.latent_fm` trains and samples it)."""

from __future__ import annotations

import torch
from torch import nn

from .dither import NoiseDither


class ContextUNet(nn.Module):
    """CondUNet on ``[x, ctx]`` channels; returns the first ``out_ch`` output channels."""

    def __init__(self, unet: nn.Module, out_ch: int) -> None:
        super().__init__()
        self.unet, self.out_ch = unet, out_ch

    def forward(self, x, cond, t, ctx=None):
        inp = x if ctx is None else torch.cat([x, ctx], dim=1)
        return self.unet(inp, cond, t)[:, : self.out_ch]


class LatentFlow(nn.Module):
    """The sampling network: conditional mean ``m(c)`` (optional), velocity ``flow(r, c, t, m)`` of the
    residual ``r = z' - m(c)`` of standardised latents, frozen decoder, noise dither."""

    auto_bfloat16 = True
    """bfloat16 autocast measured safe for the shipped latent FMs (1.75-1.81x at batch 4096 on the AMX CPU,
    W within 2 %, photon-yield shift below 0.6 %; benchmarks/RESULTS.md); the dither stays float32"""

    def __init__(
        self, flow: nn.Module, decoder: nn.Module, z_ch: int, out_shape: tuple[int, int], mean: nn.Module | None = None,
        dither_ch: int | None = None,
    ) -> None:
        super().__init__()
        self.flow = flow
        self.mean = mean
        self.decoder = decoder.requires_grad_(False)
        self.dither = NoiseDither(z_ch if dither_ch is None else dither_ch, out_shape)
        self.register_buffer("latent_mean", torch.zeros(z_ch))
        self.register_buffer("latent_std", torch.ones(z_ch))

    def forward(self, r: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        return self.flow(r, cond, t, m)

    def standardize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def decode(self, z_std: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Standardised latents -> log1p images ``max(D(s z' + m, c), 0)`` (``c`` is used by a conditional
        decoder only)."""
        z = z_std * self.latent_std[:, None, None] + self.latent_mean[:, None, None]
        return self.decoder(z, cond).clamp_min(0.0)
