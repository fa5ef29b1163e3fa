"""How ZN and ZP of one particle vary together, beyond what the particle itself decides.

For each particle the Monte Carlo is run K times. Each draw's photon sum gets its *within-particle*
normal score per calorimeter: its mid-rank ``r`` among the particle's K sums (empty draws tie at the
bottom), mapped to ``Phi^-1((r - 1/2) / K)``. The copula correlation ``rho`` is Pearson's r of the ZN
and ZP scores over all draws, per PDG id (``pooled``: all particles). It measures how a calorimeter's
response (lit or not, and how bright) moves with the other's for the same particle: for instance a
proton whose ZP shower is bright also lights ZN more often. The joint sampler
(:mod:`fastzdc.inference.joint`) draws a latent Gaussian pair with this correlation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from .params import MCParams
from .simulate import simulate

MIN_DRAWS = 400
"""fewest draws of a PDG id for its own rho (else it takes the pooled one)"""


def within_particle_scores(sums: np.ndarray) -> np.ndarray:
    """``(N, K)`` photon sums of K draws per particle -> mid-rank normal scores within each particle."""
    k = sums.shape[1]
    return ndtri((rankdata(sums, axis=1) - 0.5) / k)


def fit_rank_copula(conditions: np.ndarray, pdgid: np.ndarray, *, draws: int = 16, seed: int = 0,
                    params: MCParams | None = None) -> dict[str, float]:
    """``{"pooled": rho, "<pdg id>": rho, ...}`` from ``draws`` Monte Carlo re-simulations of every particle."""
    n = len(conditions)
    sums = {d: np.zeros((n, draws)) for d in ("zn", "zp")}
    for k in range(draws):
        b = simulate(conditions=conditions, pdgid=pdgid,
                     seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]), params=params)
        for d in ("zn", "zp"):
            sums[d][:, k] = b.responses[d].reshape(n, -1).sum(axis=1, dtype=np.int64)
    z = {d: within_particle_scores(sums[d]) for d in ("zn", "zp")}
    pdg_rows = np.repeat(np.asarray(pdgid)[:, None], draws, axis=1)

    def rho(mask: np.ndarray) -> float:
        a, b = z["zn"][mask], z["zp"][mask]
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0

    out = {"pooled": rho(np.ones_like(pdg_rows, bool))}
    for code in np.unique(pdgid):
        mask = pdg_rows == code
        if mask.sum() >= MIN_DRAWS:
            out[str(int(code))] = rho(mask)
    return out
