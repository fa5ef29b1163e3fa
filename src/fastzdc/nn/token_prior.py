"""The VQ-GAN sampling network: GPT prior with its particle prefix, the frozen VQ decoder and codebook,
and the noise dither (:mod:`fastzdc.models.vq_prior` trains and samples it)."""

from __future__ import annotations

import torch
from torch import nn

from .dither import NoiseDither
from .gpt import GPT


class TokenPrior(nn.Module):
    """GPT + prefix MLP (trained) and the frozen VQ decoder with its codebook."""

    def __init__(
        self, gpt: GPT, prefix: nn.Module, decoder: nn.Module, n_codes: int, code_dim: int,
        grid: tuple[int, int], out_shape: tuple[int, int],
    ) -> None:
        super().__init__()
        self.gpt = gpt
        self.prefix = prefix
        self.decoder = decoder.requires_grad_(False)
        self.register_buffer("codebook", torch.zeros(n_codes, code_dim))
        self.dither = NoiseDither(1, out_shape)
        self.grid = tuple(grid)

    def decode(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, T)`` in raster order -> log1p images ``max(D(e_t, c), 0)`` ``(B, 1, H, W)`` (``c``,
        the scaled particle features, is used by a conditional VQ decoder only)."""
        codes = self.codebook[tokens].reshape(tokens.shape[0], *self.grid, -1).permute(0, 3, 1, 2)
        return self.decoder(codes, cond).clamp_min(0.0)
