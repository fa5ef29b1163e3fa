"""The VAE of latent flow matching: a KL-regularised convolutional autoencoder, trained adversarially.

Posterior ``q(z|x) = N(mu, diag sigma^2)``, ``z = mu + sigma * eps``, reconstruction ``r = D(z)`` in
log1p units. With ``z_dim > 0`` the VAE is conditional: ``q(z|x, c)`` over a ``z_dim`` vector and
``r = D(z, c)`` (:class:`fastzdc.nn.autoencoder.CondDecoder`): the decoder is told where the particle
points and with what energy, so the latent only carries the shower's fluctuation, a small and nearly
Gaussian code that a latent flow learns quickly and samples in a few cheap MLP evaluations. Loss:

    L = L_img(r, x) + kl * mean(mu^2 + sigma^2 - 1 - log sigma^2) / 2      (KL to N(0, I), not normalised)

with ``L_img`` the gradient-normalised reconstruction, channel-sum, perceptual and adversarial terms
and the critic's hinge loss shared with the VQ autoencoder (:mod:`fastzdc.models.ae_losses`). Decoded
maps are turned into integers by stochastic rounding (:mod:`fastzdc.sampling.dither`), whose
expectation is the map itself.

A VAE checkpoint reconstructs images (validation W is the reconstruction W); it does not generate from
particles: ``fastzdc train latent-fm --set model.vae=RUN/best`` trains a flow on its latents.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FastZDCError
from ..nn.autoencoder import VAE, latent_hw
from ..nn.refine import ImpactRefine
from .ae_losses import AUTOENCODER_DEFAULTS, build_critic, image_loss, round_reconstruction
from .base import ModelKind, register


@register
class VariationalAutoencoder(ModelKind):
    kind = "vae"
    defaults = {**AUTOENCODER_DEFAULTS, "z_ch": 4, "z_dim": 0, "dec_hidden": 128, "kl": 1e-3, "dec_refine": 0}
    sampler_defaults: dict[str, Any] = {}
    reconstructs = True

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        refine = self.hparams["dec_refine"]
        if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise FastZDCError(f"vae dec_refine (bumps at the impact point) must be a non-negative integer (0 = off), got {refine!r}")
        if refine and not self.conditional:
            raise FastZDCError("vae dec_refine needs the conditional VAE (z_dim > 0)")

    def build(self) -> nn.Module:
        h = self.hparams
        refine = ImpactRefine(self.detector, int(h["dec_hidden"]), int(h["dec_refine"])) if h["dec_refine"] else None
        return VAE(self.detector.shape, h["enc_widths"], h["enc_blocks"], h["dec_widths"], h["dec_blocks"], int(h["z_ch"]),
                   int(h["z_dim"]), int(h["dec_hidden"]), int(h["dec_cond_hidden"]), refine=refine)

    def bind_scaler(self, net: nn.Module, mean, scale) -> None:
        refine = getattr(net.decoder, "refine", None)
        if refine is not None:
            refine.physics.set_scaler(mean, scale)

    def build_critic(self) -> nn.Module | None:
        return build_critic(self.detector, self.hparams)

    @property
    def conditional(self) -> bool:
        """True for the conditional VAE with a vector latent (``z_dim > 0``)."""
        return int(self.hparams["z_dim"]) > 0

    def latent_shape(self) -> tuple[int, int, int]:
        """``(z_ch, h, w)`` for a latent map, ``(z_dim, 1, 1)`` for a vector latent."""
        if self.conditional:
            return (int(self.hparams["z_dim"]), 1, 1)
        return (int(self.hparams["z_ch"]), *latent_hw(self.detector.shape))

    def noise_shape(self) -> tuple[int, ...]:
        return self.latent_shape()

    def loss(
        self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator, critic: nn.Module | None = None
    ) -> torch.Tensor:
        h = self.hparams
        mu, logvar = net.encode(x, cond)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=x.device)
        rec = net.decode(z, cond)
        kl = 0.5 * torch.mean(mu.square() + logvar.exp() - 1.0 - logvar)
        return image_loss(self.detector, h, rec, x, critic) + h["kl"] * kl

    def reconstruct(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean, ``D(mu(x, c), c)``, stochastically rounded to integer counts (uniforms from
        a fixed seed, so validation is deterministic)."""
        return round_reconstruction(net(x, cond))

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        raise FastZDCError(
            "a vae checkpoint reconstructs images and does not generate from particles; "
            "train a latent flow on it: fastzdc train latent-fm --set model.vae=<this checkpoint>"
        )
