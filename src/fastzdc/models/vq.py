"""The VQ autoencoder of the VQ-GAN: a convolutional autoencoder whose 1/4-resolution latent grid is
quantised against a learned codebook (ZN 11x11 = 121 tokens, ZP 14x8 = 112 tokens).

    z = E(x) (code_dim channels per cell),   k = argmax_j cos(z, e_j),   r = D(e_k / |e_k|)

The quantiser (:class:`fastzdc.nn.quantize.VectorQuantizer`) is cosine-matched, updated by exponential
moving averages with dead-code revival, and runs in float32. Loss:

    L = L_img(r, x) + commitment * mean |z/|z| - sg(q)|^2

with ``L_img`` the gradient-normalised l2, channel-sum, perceptual and adversarial terms and the critic's
hinge loss shared with the VAE (:mod:`fastzdc.models.ae_losses`); the codebook itself has no loss (EMA).
Codebook usage (fraction of codes used in the epoch) and perplexity are reported by the training loop.

A vq checkpoint reconstructs images (validation W is the reconstruction W); it does not generate from
particles: ``fastzdc train vq-prior --set model.vq=RUN/best`` trains the transformer prior on its tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FastZDCError
from ..nn.autoencoder import Decoder, Encoder, latent_hw
from ..nn.quantize import VectorQuantizer
from .ae_losses import AUTOENCODER_DEFAULTS, build_critic, image_loss, round_reconstruction
from .base import ModelKind, register


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


@register
class VQKind(ModelKind):
    kind = "vq"
    defaults = {**AUTOENCODER_DEFAULTS, "n_codes": 512, "code_dim": 8, "decay": 0.99, "dead_threshold": 1.0, "commitment": 0.25}
    sampler_defaults: dict[str, Any] = {}
    reconstructs = True

    def build(self) -> VQAutoencoder:
        h = self.hparams
        return VQAutoencoder(
            self.detector.shape, h["enc_widths"], h["enc_blocks"], h["dec_widths"], h["dec_blocks"],
            int(h["n_codes"]), int(h["code_dim"]), float(h["decay"]), float(h["dead_threshold"]), int(h["dec_cond_hidden"]),
        )

    def build_critic(self) -> nn.Module | None:
        return build_critic(self.detector, self.hparams)

    def grid_shape(self) -> tuple[int, int]:
        """Token grid ``(h, w)``: ZN 11x11, ZP 14x8."""
        return latent_hw(self.detector.shape)

    def loss(
        self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator, critic: nn.Module | None = None
    ) -> torch.Tensor:
        q, _, commit = net.quantizer(net.encoder.features(x), gen)
        rec = net.decoder(q, cond)
        return image_loss(self.detector, self.hparams, rec, x, critic) + self.hparams["commitment"] * commit

    def train_metrics(self, net: nn.Module, reset: bool = False) -> dict[str, float]:
        return net.quantizer.usage_stats(reset)

    def reconstruct(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``D(q(E(x)))`` stochastically rounded to integer counts (fixed-seed uniforms)."""
        return round_reconstruction(net(x, cond))

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        raise FastZDCError(
            "a vq checkpoint reconstructs images and does not generate from particles; "
            "train the transformer prior on it: fastzdc train vq-prior --set model.vq=<this checkpoint>"
        )
