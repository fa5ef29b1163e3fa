"""The energy score: a strictly proper scoring rule that trains a conditional sampler against data.

For a particle ``c`` with its simulated response ``y`` and two independent samples ``x, x'`` of the
model given ``c``, on a feature map ``f`` (here the 5 channel sums ``S`` of the counts ``exp(x) - 1`` on
a log or square-root scale, optionally with the number of lit fibres and the brightest fibre):

    ES = 1/2 (||f(x) - f(y)|| + ||f(x') - f(y)||) - 1/2 ||f(x) - f(x')||

Its expectation over ``y ~ p(. | c)`` is smallest, for every ``c``, exactly when the model's law of
``f(x)`` given ``c`` equals the data's (Gneiting & Raftery 2007): the first term pulls the samples to
the response, the second pushes them apart, so a sampler that collapses to the conditional mean is
penalised as much as one that scatters too widely. It needs only samples, no density, and its gradient
flows through the sampler. Averaged over a batch it also matches the pooled marginal of the sums, the
quantity the published W measures.
"""

from __future__ import annotations

import torch

from ..detector import Detector
from ..errors import FastZDCError
from .ae_losses import LOG_CLAMP

EPS = 1e-6
"""inside the square root of the norms (their gradient at 0)"""


SCALES = {"log": torch.log1p, "sqrt": lambda n: torch.sqrt(n + 1.0) - 1.0}
"""how counts ``n`` enter the score: ``log1p n`` (relative differences; an empty response is far from a
faint one) or ``sqrt(n + 1) - 1`` (the variance-stabilising scale of Poisson counts; the bright tail,
which dominates the W of the sums, weighs more)"""


def channel_sum_features(detector: Detector, x: torch.Tensor, scale: str = "log") -> torch.Tensor:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, 5)`` channel sums of ``exp(clamp(x, 0, 9)) - 1`` on ``scale``."""
    return SCALES[scale](detector.channel_sums(torch.expm1(x.clamp(0.0, LOG_CLAMP))[:, 0]))


def drawn_sum_features(detector: Detector, mean_log: torch.Tensor, eps: torch.Tensor, scale: str = "log") -> torch.Tensor:
    """Channel sums drawn around a decoder's mean light: ``(B, 1, nx, ny)`` ``log1p`` mean counts ``lam`` ->
    ``(B, 5)`` ``L + sqrt(L) eps`` on ``scale`` (``L`` the channel sums of ``lam``, ``eps`` ``(B, 5)`` standard
    normal; clipped at 0). A channel sum of independent Poisson fibres is Poisson(``L``): this is its
    reparametrised normal approximation, so the score sees the photo-statistics the sampler adds."""
    lam = detector.channel_sums(torch.expm1(mean_log.clamp(0.0, LOG_CLAMP))[:, 0])
    return SCALES[scale]((lam + torch.sqrt(lam + EPS) * eps).clamp_min(0.0))


def drawn_shape_features(mean_log: torch.Tensor, eps: torch.Tensor, scale: str = "log") -> torch.Tensor:
    """The lit-fibre count and the maximum pixel of Poisson counts drawn around a decoder's mean light:
    ``(B, 1, nx, ny)`` ``log1p`` mean counts ``lam`` -> ``(B, 2)`` on ``scale``, with ``eps`` ``(B, 2)`` standard
    normal. A fibre is lit (count >= 1) with probability ``p = 1 - exp(-lam)``, so the count of lit fibres
    is ``sum p + sqrt(sum p (1 - p)) eps``; the brightest fibre is ``m + sqrt(m) eps`` with ``m = max lam``
    (it ignores that a fainter fibre may fluctuate above it: slightly low where several fibres are as bright)."""
    lam = torch.expm1(mean_log.clamp(0.0, LOG_CLAMP)).flatten(1)
    p = -torch.expm1(-lam)
    lit = p.sum(1) + torch.sqrt((p * (1.0 - p)).sum(1) + EPS) * eps[:, 0]
    peak = lam.amax(1)
    peak = peak + torch.sqrt(peak + EPS) * eps[:, 1]
    return SCALES[scale](torch.stack([lit, peak], 1).clamp_min(0.0))


def shape_features(counts: torch.Tensor) -> torch.Tensor:
    """``(B, nx, ny)`` photon counts -> ``(B, 2)``: the number of lit fibres (count >= 1) and the maximum pixel."""
    flat = counts.flatten(1)
    return torch.stack([(flat >= 1).to(flat.dtype).sum(1), flat.amax(1)], 1)


LIT_SHARPNESS = 30.0
"""slope of the soft lit-fibre count: a fibre of mean light ``v`` counts ``sigmoid(30 (v - 0.5))``, the
step ``round(v) >= 1`` smoothed over about ±0.07 photon around the rounding threshold"""


def lit_fibres(x: torch.Tensor, hard: bool = False, scale: str = "log") -> torch.Tensor:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, 1)`` number of fibres that round to a count of at least 1,
    on ``scale``: exactly (``hard``, for responses) or as a smooth count with a gradient (for samples)."""
    lit = _lit(torch.expm1(x.clamp(0.0, LOG_CLAMP)), hard)
    return SCALES[scale](lit.flatten(1).sum(1, keepdim=True))


def _lit(v: torch.Tensor, hard: bool) -> torch.Tensor:
    """Per fibre of light ``v``: 1 where it rounds to a photon or more, else 0 (``hard``), or smoothly."""
    return (v >= 0.5).to(v.dtype) if hard else torch.sigmoid(LIT_SHARPNESS * (v - 0.5))


SHOWER_FEATURES = 12
"""the columns of :func:`shower_features`"""


def shower_features(detector: Detector, x: torch.Tensor, hard: bool = False) -> torch.Tensor:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, 12)``: the evaluation's 12 high-level features of the counts
    they round to, with a gradient. The light ``v = exp(clamp(x, 0, 9)) - 1`` of each fibre counts with the
    weight of :func:`lit_fibres` (``v`` where it rounds to a photon or more, about 0 below half a photon;
    exactly the counts for responses, ``hard``). Columns: log1p of the 5 channel sums and of their total;
    the centroid in x and y and the r.m.s. width in x and y, in units of the calorimeter's fibre count
    along that axis (0 for an empty response; the moments are divided by at least one photon, so a sample
    that rounds to nothing gets small ones, as the evaluation's empty response); log1p of the lit-fibre
    count and of the brightest fibre."""
    v = torch.expm1(x.clamp(0.0, LOG_CLAMP))[:, 0]
    lit = _lit(v, hard)
    n = v * lit
    sums = detector.channel_sums(n)
    total = n.flatten(1).sum(1)
    safe = total.clamp_min(1.0)  # a response holds 0 or >= 1 photon: below one, a sample's moments fade to 0
    out = [torch.log1p(sums), torch.log1p(total)[:, None]]
    moments = []
    for axis, size in ((2, detector.nx), (1, detector.ny)):
        u = (torch.arange(size, dtype=v.dtype, device=v.device) - 0.5 * (size - 1)) / size
        marginal = n.sum(axis)  # (B, size)
        c = (marginal * u).sum(1) / safe
        w = (marginal * (u[None, :] - c[:, None]) ** 2).sum(1) / safe
        moments.append((c, torch.sqrt(w + EPS)))
    out += [torch.stack([moments[0][0], moments[1][0], moments[0][1], moments[1][1]], 1)]
    out += [torch.log1p(torch.stack([lit.flatten(1).sum(1), n.flatten(1).amax(1)], 1))]
    return torch.cat(out, 1)


def check_options(kind: str, weight: object, scale: object) -> None:
    """Validate a kind's ``w_energy`` (a number >= 0) and ``energy_scale`` (a key of :data:`SCALES`)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise FastZDCError(f"{kind} w_energy must be a number >= 0, got {weight!r}")
    if scale not in SCALES:
        raise FastZDCError(f"{kind} energy_scale must be one of {', '.join(SCALES)}, got {scale!r}")


def _norm(d: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.sum(d * d, dim=-1) + EPS)


def energy_score(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of the energy score of two samples ``a``, ``b`` ``(B, d)`` against observations ``y`` ``(B, d)``.

    >>> y, a = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])
    >>> round(float(energy_score(a, a, y)), 2)  # both samples miss by 5
    5.0
    >>> round(float(energy_score(a, -a, y)), 2)  # the two samples straddle the observation
    0.0
    """
    return torch.mean(0.5 * (_norm(a - y) + _norm(b - y)) - 0.5 * _norm(a - b))
