"""Poisson photon counts from a decoded mean-count map, drawn by inverse CDF from given uniforms.

A decoder trained with the Poisson likelihood (:mod:`fastzdc.models.ae_losses`) predicts each fibre's
mean count ``lam``; the photo-statistics on top of it are Poisson. Stochastic rounding
(:mod:`fastzdc.sampling.dither`) keeps the mean but not the spread: it gives ``floor(lam)`` or
``floor(lam) + 1`` only, lights too many fibres where ``lam < 1`` (``P(n >= 1) = lam`` against
``1 - exp(-lam)``) and never makes a fibre brighter than its mean. Drawing

    n = min{k : F(k; lam) >= u},   F(k; lam) = sum_{j <= k} exp(-lam) lam^j / j!,   u ~ U[0, 1)

from the same uniforms gives Poisson counts with no random-number op in the graph: ``TERMS`` unrolled
steps of ``p <- p lam / k``, ``F <- F + p``, ``n <- n + [u > F]``, elementwise (ONNX: Exp, Mul, Add,
Greater, Cast). Above ``lam = EXACT_BELOW`` the count is the Cornish-Fisher expansion of the Poisson
quantile with continuity correction,

    n = max(0, floor(lam + sqrt(lam) z + (z^2 - 1) / 6 + (z^3 - 7 z) / (72 sqrt(lam)) + 1/2)),

``z`` the normal quantile of ``u`` by Tukey's lambda approximation ``z = 4.91 (u^0.14 - (1 - u)^0.14)``
(total-variation distance to the Poisson law below 0.01 for ``lam >= 6``, mean and variance within
0.5 %). The truncation of the exact branch at ``TERMS`` terms drops ``P(n > 20 | lam = 6) < 1e-5``.
"""

from __future__ import annotations

import torch

from .dither import stochastic_round_log1p

EXACT_BELOW = 6.0
"""mean count up to which the inverse CDF is exact; the normal approximation above"""
TERMS = 20
"""unrolled terms of the exact inverse CDF"""


def poisson_from_uniform(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Poisson counts (float, integer values) with means ``lam >= 0``, one uniform ``u`` in [0, 1) each.

    Eagerly, only the fibres that get at least one photon (``u > exp(-lam)``: a few per cent of a sparse
    shower) run the remaining terms, and only those above ``EXACT_BELOW`` the expansion; traced for
    export, every fibre runs every term (a static graph). Both give the same counts.

    >>> lam = torch.tensor([0.0, 0.3, 0.3, 4.0, 100.0])
    >>> poisson_from_uniform(lam, torch.tensor([0.99, 0.5, 0.9, 0.5, 0.5])).tolist()
    [0.0, 0.0, 1.0, 4.0, 100.0]
    """
    lam = lam.float().clamp_min(0.0)
    u = u.float()
    if torch.compiler.is_exporting() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return torch.where(lam <= EXACT_BELOW, _exact(lam, u), _expansion(lam, u))
    n = torch.zeros_like(lam)
    lit = (u > torch.exp(-lam.clamp_max(EXACT_BELOW))).nonzero(as_tuple=True)
    n[lit] = _exact(lam[lit], u[lit])
    big = (lam > EXACT_BELOW).nonzero(as_tuple=True)
    n[big] = _expansion(lam[big], u[big])
    return n


def _exact(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse CDF, ``TERMS`` unrolled terms, ``lam`` clamped to ``EXACT_BELOW``."""
    small = lam.clamp_max(EXACT_BELOW)
    p = torch.exp(-small)
    cdf = p
    n = torch.zeros_like(small)
    for k in range(1, TERMS + 1):
        n = n + (u > cdf).to(n.dtype)
        p = p * small / k
        cdf = cdf + p
    return n


def _expansion(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The Cornish-Fisher quantile (for ``lam > EXACT_BELOW``)."""
    uc = u.clamp(1e-6, 1.0 - 1e-6)
    z = 4.91 * (uc.pow(0.14) - (1.0 - uc).pow(0.14))
    root = torch.sqrt(lam.clamp_min(EXACT_BELOW))
    return torch.floor(lam + root * z + (z * z - 1.0) / 6.0 + (z * z * z - 7.0 * z) / (72.0 * root) + 0.5).clamp_min(0.0)


def poisson_log1p(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log1p mean-count images -> log1p of Poisson counts drawn with the uniforms ``u`` (float32)."""
    return torch.log1p(poisson_from_uniform(torch.expm1(x.float()), u))


def counts_log1p(x: torch.Tensor, u: torch.Tensor, *, poisson: bool) -> torch.Tensor:
    """The sampler's count step on log1p mean-count images: Poisson counts (``poisson``) or stochastic
    rounding (:func:`~fastzdc.sampling.dither.stochastic_round_log1p`), both driven by the uniforms ``u``."""
    return poisson_log1p(x, u) if poisson else stochastic_round_log1p(x, u)
