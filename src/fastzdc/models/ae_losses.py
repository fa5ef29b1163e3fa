"""The image loss and the validation rounding shared by the autoencoder kinds (``vae``, ``vq``).

Every term is computed on its own gradient-normalised view of the reconstruction ``r`` (log1p units;
:func:`fastzdc.nn.balance.grad_normalize`: the gradient of term k w.r.t. ``r`` is rescaled to
L2 norm ``w_k``), so the weights compare across terms whatever their raw scale:

    L_img = mse(N_rec(r), x)                                       reconstruction (l2)
          + mean(lam - n log(lam + eps)),  lam = exp(N_pois(r)) - 1    reconstruction (Poisson)
          + mean |log1p S(x) - log1p S(N_sum(r))|                  the 5 channel sums (counts)
          + P(x, N_perc(r))                                        perceptual: critic features
          + -mean C(N_adv(r))                                      adversarial (hinge, generator side)
          + mean relu(1 - C(x)) + mean relu(1 + C(sg(r)))          the critic's own hinge loss

``C`` is the patch discriminator (:mod:`fastzdc.nn.discriminator`); no pretrained network can be
downloaded here, so ``P`` compares the critic's unit-normalised feature maps of ``x`` and ``r``
(LPIPS-style feature matching). ``S`` are the detector's 5 channel sums of ``exp(r) - 1``: the term
targets what the published W and MAE measure (a decoder trained on l2 in log1p units alone predicts
``E[log1p n]``, whose counts are biased low by Jensen's inequality). The Poisson term (``w_pois``,
default off) goes further: its minimiser is the mean count ``lam = E[n | z, c]`` of every fibre, which
the stochastic rounding of the sampler keeps in expectation. A decoder that cannot store each fibre's
photon statistics in its latent then gets the mean light right — on sparse ZP images, where most
fibres see 0 or 1 photon, the l2 optimum ``exp(E[log1p n]) - 1`` lies about 30 % below it (measured:
docs/models.md, "Latent flow matching"). ``eps`` = 1e-3; ``r`` is clamped to ``[0, 9]`` there, as in sampling.
A weight 0 drops a term; no critic is built when ``w_adv = w_perc = 0``.

The hyper-parameter names (``w_rec``, ``w_pois``, ``w_sum``, ``w_perc``, ``w_adv``, ``disc_widths``) are the same
in every autoencoder kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..detector import Detector
from ..nn.balance import grad_normalize
from ..nn.discriminator import PatchDiscriminator, frozen, hinge_critic_loss, hinge_generator_loss, perceptual_distance
from ..sampling.dither import stochastic_round_log1p

AUTOENCODER_DEFAULTS: dict[str, Any] = {
    "enc_widths": [8, 16, 32],
    "enc_blocks": [1, 1],
    "dec_widths": [16, 32],
    "dec_blocks": [1, 1],
    "disc_widths": [8, 16, 32],
    "w_rec": 1.0,
    "w_perc": 0.25,
    "w_adv": 0.1,
    "w_sum": 0.25,
    "w_pois": 0.0,
    "dec_cond_hidden": 0,
}
"""hyper-parameters every autoencoder kind has: encoder/decoder widths and blocks
(:mod:`fastzdc.nn.autoencoder`), critic widths, the loss weights above, and ``dec_cond_hidden``
(> 0: the map decoder is also told the particle, :class:`fastzdc.nn.autoencoder.Decoder`)"""

LOG_CLAMP = 9.0
"""log1p values are clamped here before ``exp`` in the channel-sum term (8100 photons per fibre)."""

DITHER_SEED = 0
"""seed of the uniforms that round reconstructions in validation (fixed: validation is deterministic)"""


def build_critic(detector: Detector, hparams: Mapping[str, Any]) -> PatchDiscriminator | None:
    """The patch discriminator of the adversarial and perceptual terms, or None if both weigh 0."""
    if not (hparams["w_adv"] or hparams["w_perc"]):
        return None
    return PatchDiscriminator(detector.shape, tuple(hparams["disc_widths"]))


def image_loss(
    detector: Detector, hparams: Mapping[str, Any], rec: torch.Tensor, x: torch.Tensor, critic: nn.Module | None
) -> torch.Tensor:
    """``L_img`` of the module docstring for log1p reconstructions ``rec`` of log1p images ``x``
    ``(B, 1, nx, ny)``; with a critic, the sum includes the critic's own loss (one backward pass trains
    both players, see :class:`fastzdc.models.base.ModelKind.build_critic`)."""
    total = F.mse_loss(grad_normalize(rec, hparams["w_rec"]), x)
    if hparams["w_pois"]:
        total = total + poisson_loss(grad_normalize(rec, hparams["w_pois"]), x)
    if hparams["w_sum"]:
        total = total + channel_sum_loss(detector, grad_normalize(rec, hparams["w_sum"]), x)
    if critic is not None:
        total = total + critic_terms(hparams, critic, rec, x)
    return total


def poisson_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Poisson negative log-likelihood of the counts ``n = exp(x) - 1`` under the mean counts
    ``lam = exp(clamp(r, 0, 9)) - 1``: ``mean(lam - n log(lam + eps))`` (constant terms dropped)."""
    lam = torch.expm1(rec.clamp(0.0, LOG_CLAMP))
    return F.poisson_nll_loss(lam, torch.expm1(x), log_input=False, full=False, eps=1e-3)


def channel_sum_loss(detector: Detector, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``mean |log1p S(x) - log1p S(r)|`` over the batch and the 5 channels (sums of photon counts)."""
    s_rec = detector.channel_sums(torch.expm1(rec.clamp(0.0, LOG_CLAMP))[:, 0])
    s_ref = detector.channel_sums(torch.expm1(x)[:, 0])
    return torch.mean(torch.abs(torch.log1p(s_rec) - torch.log1p(s_ref)))


def critic_terms(hparams: Mapping[str, Any], critic: nn.Module, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Critic hinge loss on ``(x, sg(r))`` plus the generator's perceptual and adversarial terms, each on
    its own normalised view of ``r`` and with the critic frozen (its gradient comes from the hinge only)."""
    b = x.shape[0]
    logits, feats = critic(torch.cat([x, rec.detach()]))
    total = hinge_critic_loss(logits[:b], logits[b:])
    real_feats = [f[:b].detach() for f in feats]
    views = [grad_normalize(rec, hparams[k]) for k in ("w_perc", "w_adv") if hparams[k]]
    with frozen(critic):
        logits_g, feats_g = critic(torch.cat(views))
    k = 0
    if hparams["w_perc"]:
        total = total + perceptual_distance(real_feats, [f[:b] for f in feats_g])
        k = 1
    if hparams["w_adv"]:
        total = total + hinge_generator_loss(logits_g[k * b : (k + 1) * b])
    return total


def round_reconstruction(rec: torch.Tensor) -> torch.Tensor:
    """log1p reconstructions -> log1p integer counts: ``floor(exp(max(r, 0)) - 1 + u)`` with uniforms
    ``u`` from a fixed seed (unbiased stochastic rounding, :mod:`fastzdc.sampling.dither`)."""
    u = torch.rand(rec.shape, generator=torch.Generator().manual_seed(DITHER_SEED)).to(rec.device)
    return stochastic_round_log1p(rec.clamp_min(0.0), u)
