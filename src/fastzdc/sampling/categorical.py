"""Drawing tokens from logits: temperature, top-k and top-p (nucleus) filtering, inverse-CDF sampling.

Filtering, in this order (the usual convention; temperature does not change a top-k set but does
change a top-p set):

    l' = l / T;    keep the k largest l' (ties at the k-th value kept);
    p = softmax(l');  keep the smallest prefix of the descending p whose mass reaches top_p

Sampling uses one uniform ``u`` per token, taken from the sample's Gaussian noise ``n`` through the
normal CDF, ``u = Phi(n)``, so the model's output is a function of (conditions, noise) only:

    token = #{j : F_j <= u F_K},       F_j = sum_{i <= j} p_i         (inverse CDF; F_K = 1 up to rounding)

which draws index j with probability ``p_j`` and is made of comparisons and a sum (exportable).
"""

from __future__ import annotations

import math

import torch

from ..errors import FastZDCError


def check_options(temperature: float, top_k: int, top_p: float) -> None:
    """One-line :class:`FastZDCError` for a sampler setting that cannot be used."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise FastZDCError(f"temperature must be a number > 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise FastZDCError(f"top_k must be an integer >= 1 (the codebook size or more: no top-k filter), got {top_k!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise FastZDCError(f"top_p must be a number in (0, 1] (1: no top-p filter), got {top_p!r}")


def top_k_keep(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask ``(B, V)`` of the ``k`` largest logits per row (all of them if ``k >= V``)."""
    if k >= logits.shape[-1]:
        return torch.ones_like(logits, dtype=torch.bool)
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits >= kth


def top_p_keep(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask ``(B, V)`` of the nucleus: the most probable entries whose cumulative probability
    first reaches ``p`` (the most probable entry is always kept)."""
    if p >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    sorted_p, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_p, dim=-1) - sorted_p  # mass of the entries ranked above
    keep_sorted = before < p * probs.sum(-1, keepdim=True)
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def filtered_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 1 << 30, top_p: float = 1.0) -> torch.Tensor:
    """Token probabilities ``(B, V)`` after temperature, top-k and top-p (float32)."""
    logits = logits.float() / temperature
    if top_k < logits.shape[-1]:
        logits = logits.masked_fill(~top_k_keep(logits, top_k), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        probs = probs * top_p_keep(probs, top_p)
    return probs


def normal_to_uniform(noise: torch.Tensor) -> torch.Tensor:
    """``Phi(n) = (1 + erf(n / sqrt 2)) / 2``: standard normals -> uniforms on [0, 1]."""
    return 0.5 * (1.0 + torch.erf(noise.float() / math.sqrt(2.0)))


U_MAX = 1.0 - 2.0**-20
"""uniforms are clipped here: ``u F_K < F_K`` strictly in float32, so the drawn entry always exists"""


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index drawn from (unnormalised) probabilities ``(B, V)`` with uniforms ``u`` ``(B,)``: the first
    ``j`` with ``F_j > u F_K``, which never has probability 0."""
    cdf = torch.cumsum(probs, dim=-1)
    return (cdf <= u.clamp(0.0, U_MAX)[:, None] * cdf[:, -1:]).sum(-1)
