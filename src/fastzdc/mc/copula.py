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

MIN_BOTH = 200
"""fewest draws with ZN and ZP both lit for a PDG id to get its own rho (else it takes the pooled one)"""


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

    def rho(mask: np.ndarray) -> float:
        a, b = z["zn"][mask], z["zp"][mask]
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0

    lit = {d: (sums[d] > 0).mean(axis=1) for d in ("zn", "zp")}
    rng_seed = int(np.random.SeedSequence([seed, 0x1A7]).generate_state(1)[0])
    groups = {"pooled": np.ones(n, bool)}
    groups.update({str(int(code)): np.asarray(pdgid) == code for code in np.unique(pdgid)})
    out: dict[str, float] = {}
    both = ((sums["zn"] > 0) & (sums["zp"] > 0)).sum(axis=1)
    for name, rows in groups.items():
        if both[rows].sum() < MIN_BOTH:
            continue
        stat = rho(np.repeat(rows[:, None], draws, axis=1))
        out[name] = invert_statistic(stat, lit["zn"][rows], lit["zp"][rows], draws, rng_seed)
    return out


def latent_statistic(rho: float, lit_zn: np.ndarray, lit_zp: np.ndarray, draws: int, seed: int) -> float:
    """The mid-rank statistic of :func:`fit_rank_copula` for the latent model: per particle ``draws``
    standard normal pairs of correlation ``rho``, a component counting as lit above the threshold that
    gives the particle's lit fraction (``lit_zn``, ``lit_zp``) and as bright as it is above it."""
    rng = np.random.default_rng(seed)
    n = len(lit_zn)
    a = rng.standard_normal((n, draws))
    b = rho * a + np.sqrt(1 - rho**2) * rng.standard_normal((n, draws))
    scores = []
    for x, frac in ((a, lit_zn), (b, lit_zp)):
        t = ndtri(np.clip(1 - frac, 1e-6, 1 - 1e-6))[:, None]
        scores.append(within_particle_scores(np.where(x > t, x - t + 1.0, 0.0)).ravel())
    if scores[0].std() == 0 or scores[1].std() == 0:
        return 0.0
    return float(np.corrcoef(scores[0], scores[1])[0, 1])


def invert_statistic(stat: float, lit_zn: np.ndarray, lit_zp: np.ndarray, draws: int, seed: int,
                     steps: int = 14) -> float:
    """The latent correlation in [-0.98, 0.98] whose :func:`latent_statistic` equals ``stat`` (bisection
    with common random numbers; the statistic grows with the latent correlation)."""
    lo, hi = -0.98, 0.98
    if latent_statistic(hi, lit_zn, lit_zp, draws, seed) <= stat:
        return hi
    if latent_statistic(lo, lit_zn, lit_zp, draws, seed) >= stat:
        return lo
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if latent_statistic(mid, lit_zn, lit_zp, draws, seed) < stat:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
