"""The VQ autoencoder network: encoder, cosine vector quantiser, decoder (:mod:`fastzdc.models.vq`
trains it)."""

from __future__ import annotations

import torch
from torch import nn

from .autoencoder import Decoder, Encoder
from .quantize import VectorQuantizer


class VQAutoencoder(nn.Module):
    """Encoder -> cosine vector quantiser -> decoder; ``forward(x)`` reconstructs through the codebook."""

    def __init__(
        self,
        shape: tuple[int, int],
        enc_widths=(8, 16, 32),
        enc_blocks=(1, 1),
        dec_widths=(16, 32),
        dec_blocks=(1, 1),
        n_codes: int = 512,
        code_dim: int = 8,
        decay: float = 0.99,
        dead_threshold: float = 1.0,
        dec_cond_hidden: int = 0,
    ) -> None:
        super().__init__()
        self.encoder = Encoder(shape, tuple(enc_widths), tuple(enc_blocks), code_dim, gaussian=False)
        self.quantizer = VectorQuantizer(n_codes, code_dim, decay, dead_threshold)
        self.decoder = Decoder(shape, tuple(dec_widths), tuple(dec_blocks), code_dim, dec_cond_hidden)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """log1p images ``(B, 1, H, W)`` -> token grid ``(B, h, w)`` (int64)."""
        return self.quantizer.indices(self.encoder.features(x))

    def decode_tokens(self, idx: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Token grid ``(B, h, w)`` -> log1p images ``(B, 1, H, W)`` (unclamped); ``cond``: the scaled
        particle features, for a conditional decoder."""
        return self.decoder(self.quantizer.lookup(idx), cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_tokens(self.tokens(x), cond)
