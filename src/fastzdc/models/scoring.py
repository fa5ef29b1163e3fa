"""The energy score: a strictly proper scoring rule that trains a conditional sampler against data.

For a particle ``c`` with its simulated response ``y`` and two independent samples ``x, x'`` of the
model given ``c``, on a feature map ``f`` (here the 5 channel sums, ``f(x) = log1p S(exp(x) - 1)``):

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
from .ae_losses import LOG_CLAMP

EPS = 1e-6
"""inside the square root of the norms (their gradient at 0)"""


def log_channel_sums(detector: Detector, x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, 5)`` ``log1p`` of the channel sums of ``exp(clamp(x, 0, 9)) - 1``."""
    return torch.log1p(detector.channel_sums(torch.expm1(x.clamp(0.0, LOG_CLAMP))[:, 0]))


def _norm(d: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.sum(d * d, dim=-1) + EPS)


def energy_score(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of the energy score of two samples ``a``, ``b`` ``(B, d)`` against observations ``y`` ``(B, d)``.

    >>> y = torch.zeros(1, 2)
    >>> float(energy_score(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 4.0]]), y))  # doctest: +ELLIPSIS
    5.0...
    """
    return torch.mean(0.5 * (_norm(a - y) + _norm(b - y)) - 0.5 * _norm(a - b))
