"""The VAE of latent flow matching: a KL-regularised convolutional autoencoder, trained adversarially.

Posterior ``q(z|x) = N(mu, diag sigma^2)``, ``z = mu + sigma * eps``, reconstruction ``r = D(z)`` in
log1p units. Loss, every image term balanced by gradient normalisation
(:func:`fastzdc.training.balance.grad_normalize`: the gradient of term k w.r.t. ``r`` is rescaled to
L2 norm ``w_k``):

    L = mse(N_rec(r), x)                                           reconstruction (l2)
      + kl * mean(mu^2 + sigma^2 - 1 - log sigma^2) / 2            KL to N(0, I) (not normalised)
      + P(x, N_perc(r))                                            perceptual: critic features
      + -mean C(N_adv(r))                                          adversarial (hinge, generator side)
      + mean |log1p S(x) - log1p S(N_sum(r))|                      the 5 channel sums (counts)
      + mean relu(1 - C(x)) + mean relu(1 + C(sg(r)))              the critic's own hinge loss

``C`` is the patch discriminator (:mod:`fastzdc.nn.discriminator`); no pretrained network can be
downloaded here, so the perceptual term ``P`` compares the critic's unit-normalised feature maps of
``x`` and ``r`` (LPIPS-style feature matching). ``S`` are the detector's 5 channel sums of
``exp(r) - 1``; the term targets directly what the published W and MAE measure: a deterministic
decoder trained on l2 in log1p units alone predicts ``E[log1p n]``, whose counts are biased low
(Jensen). Decoded maps are turned into integers by stochastic rounding (:mod:`fastzdc.sampling.dither`),
whose expectation is the map itself, so the term needs no rounding. A weight 0 drops a
term (no critic at all when ``w_adv = w_perc = 0``).

A VAE checkpoint reconstructs images (validation W is the reconstruction W); it does not generate from
particles: ``fastzdc train latent-fm --set model.vae=RUN/best`` trains a flow on its latents.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FastZDCError
from ..nn.autoencoder import VAE, latent_hw
from ..sampling.dither import stochastic_round_log1p
from ..nn.discriminator import PatchDiscriminator, frozen, hinge_critic_loss, hinge_generator_loss, perceptual_distance
from ..training.balance import grad_normalize
from .base import ModelKind, register

LOG_CLAMP = 9.0
"""log1p values are clamped here before ``exp`` in the channel-sum term (8100 photons per fibre)."""


@register
class VariationalAutoencoder(ModelKind):
    kind = "vae"
    defaults = {
        "enc_widths": [8, 16, 32],
        "enc_blocks": [1, 1],
        "dec_widths": [16, 32],
        "dec_blocks": [1, 1],
        "z_ch": 4,
        "disc_widths": [8, 16, 32],
        "kl": 1e-3,
        "w_rec": 1.0,
        "w_perc": 0.25,
        "w_adv": 0.1,
        "w_sum": 0.25,
    }
    sampler_defaults: dict[str, Any] = {}
    reconstructs = True

    def build(self) -> nn.Module:
        h = self.hparams
        return VAE(self.detector.shape, h["enc_widths"], h["enc_blocks"], h["dec_widths"], h["dec_blocks"], int(h["z_ch"]))

    def build_critic(self) -> nn.Module | None:
        if not (self.hparams["w_adv"] or self.hparams["w_perc"]):
            return None
        return PatchDiscriminator(self.detector.shape, tuple(self.hparams["disc_widths"]))

    def latent_shape(self) -> tuple[int, int, int]:
        return (int(self.hparams["z_ch"]), *latent_hw(self.detector.shape))

    def noise_shape(self) -> tuple[int, ...]:
        return self.latent_shape()

    def loss(
        self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator, critic: nn.Module | None = None
    ) -> torch.Tensor:
        h = self.hparams
        mu, logvar = net.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=x.device)
        rec = net.decode(z)
        kl = 0.5 * torch.mean(mu.square() + logvar.exp() - 1.0 - logvar)
        total = F.mse_loss(grad_normalize(rec, h["w_rec"]), x) + h["kl"] * kl
        if h["w_sum"]:
            total = total + self._sum_loss(grad_normalize(rec, h["w_sum"]), x)
        if critic is not None:
            total = total + self._critic_terms(critic, rec, x)
        return total

    def _sum_loss(self, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        det = self.detector
        s_rec = det.channel_sums(torch.expm1(rec.clamp(0.0, LOG_CLAMP))[:, 0])
        s_ref = det.channel_sums(torch.expm1(x)[:, 0])
        return torch.mean(torch.abs(torch.log1p(s_rec) - torch.log1p(s_ref)))

    def _critic_terms(self, critic: nn.Module, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.hparams
        b = x.shape[0]
        logits, feats = critic(torch.cat([x, rec.detach()]))
        total = hinge_critic_loss(logits[:b], logits[b:])
        real_feats = [f[:b].detach() for f in feats]
        views = [grad_normalize(rec, h[k]) for k in ("w_perc", "w_adv") if h[k]]
        with frozen(critic):
            logits_g, feats_g = critic(torch.cat(views))
        k = 0
        if h["w_perc"]:
            total = total + perceptual_distance(real_feats, [f[:b] for f in feats_g])
            k = 1
        if h["w_adv"]:
            total = total + hinge_generator_loss(logits_g[k * b : (k + 1) * b])
        return total

    def reconstruct(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean, ``D(mu(x))`` clamped at 0, stochastically rounded to integer counts
        (uniforms from a fixed seed, so validation is deterministic)."""
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)).to(x.device)
        return stochastic_round_log1p(net(x).clamp_min(0.0), u)

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        raise FastZDCError(
            "a vae checkpoint reconstructs images and does not generate from particles; "
            "train a latent flow on it: fastzdc train latent-fm --set model.vae=<this checkpoint>"
        )
