"""Condition sampler: primaries whose statistics resemble the real ZDC dataset (docs/data.md).

One primary per event, 9 features ``[E, vx, vy, vz, px, py, pz, mass, charge]`` in dataset units
(GeV, cm, GeV, MeV, e) plus a PDG id. Model (docs/mc.md, parameters in :class:`MCParams`):

* species from ``species_weights`` (raw weights, tuned so that the events *kept* by the O2 filter
  match the dataset: ~84 % neutral, mean charge 0.111, >= 50 % photons, mass 75th percentile = m_p);
* E ~ log-normal truncated to [max(m, 1.1 GeV), 7000 GeV] (one law for photons/mesons, a harder one
  for baryons), plus a delta peak at 7000 GeV for a few % of the protons;
* pT ~ Exponential(mean 0.3 GeV; photons 0.43 GeV, tuned) (+ a 3 % wider tail), truncated to polar angles
  < ``theta_max_mrad`` (the stored primaries head for the ZDC region), isotropic phi, px shifted by +0.03 GeV;
* pz = +-sqrt(E^2 - m^2 - pT^2), sign + (side A) with probability ``p_side_a``;
* vertex exactly 0 for half of the primaries, else a tiny Laplace spread (decay vertices).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import FastZDCError
from .params import SAMPLER_SPECIES, MCParams, default_params
from .species import BY_NAME

# PDG id written for each sampler species (K0 stays the ambiguous 311, like the 9 features).
_PDG_OUT = {"K0": 311, "nbar": -2112}


def _species_props(name: str) -> tuple[float, int, bool]:
    """(mass MeV, charge, is_baryon) of a sampler species."""
    if name == "K0":
        return 497.611, 0, False
    if name == "nbar":
        return 939.565, 0, True
    s = BY_NAME[name]
    return s.mass_mev, s.charge, s.kind == 1


def _truncated_lognormal(
    rng: np.random.Generator, median: float, sigma: float, lo: np.ndarray, hi: float
) -> np.ndarray:
    """exp(N(ln median, sigma)) truncated to [lo, hi] by inverse-CDF sampling."""
    mu = np.log(median)
    a = ndtr((np.log(lo) - mu) / sigma)
    b = ndtr((np.log(hi) - mu) / sigma)
    u = a + rng.random(lo.shape) * (b - a)
    u = np.clip(u, 1e-15, 1 - 1e-15)
    return np.minimum(np.exp(mu + sigma * ndtri(u)), hi)


def sample_particles(
    n: int, seed: int | np.random.Generator = 0, params: MCParams | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` primaries.

    Returns ``(conditions (n, 9) float32, pdgid (n,) int32)`` in dataset units.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise FastZDCError(f"number of particles must be a positive integer, got {n!r}")
    params = params or default_params()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = int(n)
    w = np.asarray(params.species_weights, dtype=np.float64)
    if w.shape != (len(SAMPLER_SPECIES),) or (w < 0).any() or w.sum() <= 0:
        raise FastZDCError("species_weights must be non-negative with one entry per sampler species")
    sp = rng.choice(len(SAMPLER_SPECIES), size=n, p=w / w.sum())
    props = [_species_props(s) for s in SAMPLER_SPECIES]
    mass = np.array([p[0] for p in props])[sp]
    charge = np.array([p[1] for p in props], dtype=np.float64)[sp]
    baryon = np.array([p[2] for p in props])[sp]
    pdg_of = [_PDG_OUT.get(s, BY_NAME[s].pdg if s in BY_NAME else 0) for s in SAMPLER_SPECIES]
    pdg = np.array(pdg_of, dtype=np.int32)[sp]

    m_gev = mass / 1000.0
    lo = np.maximum(params.e_min_gev, m_gev * 1.0001 + 1e-3)
    energy = np.where(
        baryon,
        _truncated_lognormal(rng, params.e_median_baryon_gev, params.e_sigma_baryon, lo, params.e_max_gev),
        _truncated_lognormal(rng, params.e_median_light_gev, params.e_sigma_light, lo, params.e_max_gev),
    )
    is_p = sp == SAMPLER_SPECIES.index("p")
    energy = np.where(is_p & (rng.random(n) < params.proton_beam_fraction), params.e_max_gev, energy)

    pmax = np.sqrt(np.maximum(energy**2 - m_gev**2, 0.0))
    is_gamma = sp == SAMPLER_SPECIES.index("gamma")
    core_pt = np.where(is_gamma, params.pt_mean_photon_gev, params.pt_mean_gev)
    mean_pt = np.where(rng.random(n) < params.pt_tail_fraction, params.pt_tail_mean_gev, core_pt)
    ptmax = np.minimum(params.theta_max_mrad * 1e-3 * pmax, 0.5 * pmax)
    # Exponential(mean) truncated to pT < theta_max p (inverse CDF)
    pt = -mean_pt * np.log1p(-rng.random(n) * -np.expm1(-ptmax / mean_pt))
    phi = rng.uniform(0.0, 2 * np.pi, n)
    px = pt * np.cos(phi) + params.px_offset_gev
    py = pt * np.sin(phi)
    pz_abs = np.sqrt(np.maximum(pmax**2 - px**2 - py**2, 1e-12))
    side = np.where(rng.random(n) < params.p_side_a, 1.0, -1.0)
    pz = side * pz_abs

    zero = rng.random(n) < params.vertex_zero_fraction
    vx = np.where(zero, 0.0, rng.laplace(0.0, params.vertex_sigma_xy_cm, n))
    vy = np.where(zero, 0.0, rng.laplace(0.0, params.vertex_sigma_xy_cm, n))
    vz = np.where(zero, 0.0, rng.laplace(0.0, params.vertex_sigma_z_cm, n))

    cond = np.stack([energy, vx, vy, vz, px, py, pz, mass, charge], axis=1).astype(np.float32)
    return cond, pdg
