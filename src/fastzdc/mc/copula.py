"""How strongly ZN and ZP of one particle vary together, beyond what the particle itself decides.

For each particle the Monte Carlo is run K times; the conditional rank of a draw's ZN photon sum is its
rank among the particle's K draws with ZN lit (ties broken at random), mapped to a normal score
``Phi^-1((r + 1/2) / n_lit)``; the same for ZP. The Gaussian-copula correlation ``rho`` is the
correlation of the two normal scores over the draws where both are lit, per PDG id (``pooled``: all
particles). A joint sampler that picks each detector's response by such correlated ranks reproduces
the within-particle part of the ZN-ZP correlation (:mod:`fastzdc.inference.joint`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .params import MCParams
from .simulate import simulate

MIN_DRAWS = 200
"""fewest both-lit draws of a PDG id for its own rho (else it takes the pooled one)"""


def _normal_scores(sums: np.ndarray, lit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(N, K)`` conditional normal scores of the lit draws (NaN where not lit)."""
    key = np.where(lit, sums + rng.random(sums.shape) * 0.5, np.inf)  # ties broken at random; unlit last
    ranks = np.argsort(np.argsort(key, axis=1), axis=1).astype(np.float64)
    n_lit = lit.sum(axis=1, keepdims=True)
    u = (ranks + 0.5) / np.maximum(n_lit, 1)
    z = ndtri(np.clip(u, 1e-6, 1 - 1e-6))
    return np.where(lit & (n_lit >= 2), z, np.nan)


def fit_rank_copula(conditions: np.ndarray, pdgid: np.ndarray, *, draws: int = 16, seed: int = 0,
                    params: MCParams | None = None) -> dict[str, float]:
    """``{"pooled": rho, "<pdg id>": rho, ...}`` from ``draws`` Monte Carlo re-simulations of every particle."""
    n = len(conditions)
    sums = {d: np.zeros((n, draws)) for d in ("zn", "zp")}
    for k in range(draws):
        b = simulate(conditions=conditions, pdgid=pdgid, seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
                     params=params)
        for d in ("zn", "zp"):
            sums[d][:, k] = b.responses[d].reshape(n, -1).sum(axis=1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    z = {d: _normal_scores(sums[d], sums[d] > 0, rng) for d in ("zn", "zp")}
    both = np.isfinite(z["zn"]) & np.isfinite(z["zp"])
    pdg_rows = np.repeat(np.asarray(pdgid)[:, None], draws, axis=1)

    def rho(mask: np.ndarray) -> float:
        return float(np.corrcoef(z["zn"][mask], z["zp"][mask])[0, 1])

    out = {"pooled": rho(both) if both.sum() >= 3 else 0.0}
    for code in np.unique(pdgid):
        mask = both & (pdg_rows == code)
        if mask.sum() >= MIN_DRAWS:
            out[str(int(code))] = rho(mask)
    return out
