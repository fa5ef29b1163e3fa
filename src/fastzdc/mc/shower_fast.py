"""Fast mode: direct showers as a handful of vectorised light components (docs/mc.md).

Hadron (energy E, impact x, y, detector ZN or ZP):

1. first interaction depth ``z1 ~ Exp(lambda_eff)``; nothing if ``z1 > depth``;
2. EM fraction ``f ~ Beta`` with mean ``1 - (E/E0)^(k-1)`` and sigma ``fem_sigma`` (skewed);
3. ``N = 1 + Poisson(slope ln(E/10 GeV))`` pi0 sub-showers share ``f E``: leading ``u1 ~ Beta(1.2, 2.5)``,
   the rest Dirichlet(0.7);
4. each sub-shower starts at ``z1 + d``, ``d`` drawn from the Bock et al. profile (EM term
   Gamma(a, X0/b) or hadronic term Gamma(a, lambda/d)); the light is scaled by the Bock containment
   from z1 to the back face (longitudinal leakage; late starts give the low-side tail);
5. centre = impact + r (cos phi, sin phi), r ~ mixture of Exp(scale_j lambda) widened by
   sqrt(1 + gain d/lambda); GFlash radial profile (R_C, R_T, p) at a fixed tau (ZN 1.0, ZP 0.6);
6. non-EM light ``h/e (1 - f) E`` x Bock containment, one broad GFlash-form component;
7. light = ``yield_em`` x energy; photo-statistics negative binomial (Fano factor), see render.py.

EM particles (gamma, e, pi0): one GFlash component, ``yield_em * E``, no leakage (ZN 216 X0, ZP 96 X0).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaincc

from ..detector import ZN, ZP
from .gflash import radial_params
from .params import MCParams
from .render import Components
from .species import BARYON, EM

DETS = (ZN, ZP)


def det_arrays(params: MCParams, det: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row material constants for detector ids ``det`` (0 = ZN, 1 = ZP)."""
    zn = det == 0
    return {
        "lam": np.where(zn, params.lambda_zn_cm, params.lambda_zp_cm),
        "x0": np.where(zn, params.x0_zn_cm, params.x0_zp_cm),
        "rm": np.where(zn, params.rm_zn_cm, params.rm_zp_cm),
        "z": np.where(zn, params.z_zn, params.z_zp),
        "depth": np.where(zn, ZN.depth_cm, ZP.depth_cm),
        "y": np.where(zn, params.yield_em_zn, params.yield_em_zp),
    }


def fem_mean(e_gev: np.ndarray, baryon: np.ndarray, params: MCParams) -> np.ndarray:
    """Mean EM fraction 1 - (E/E0)^(k-1) (Gabriel/Groom), clipped to [0.02, 0.97]."""
    e0 = np.where(baryon, params.fem_e0_baryon_gev, params.fem_e0_meson_gev)
    return np.clip(1.0 - np.maximum(e_gev / e0, 1.0) ** (params.fem_k - 1.0), 0.02, 0.97)


def bock_shape(e_gev: np.ndarray, x0: np.ndarray, lam: np.ndarray, params: MCParams):
    """Bock profile: (a, EM scale cm, hadronic scale cm, P(EM term)) for energy ``e_gev``."""
    le = np.log(np.maximum(e_gev, 1.0))
    a = np.maximum(params.bock_a0 + params.bock_a1 * le, 0.3)
    b = params.bock_b
    d = np.maximum(params.bock_d0 - params.bock_d1 * le, 0.2)
    w1 = params.bock_w * x0 * b ** (-a)
    w2 = (1.0 - params.bock_w) * lam * d ** (-a)
    return a, x0 / b, lam / d, w1 / (w1 + w2)


def bock_containment(e_gev, remaining_cm, x0, lam, params: MCParams) -> np.ndarray:
    """Fraction of the Bock profile (started at the first interaction) inside ``remaining_cm``."""
    a, s_em, s_had, p_em = bock_shape(e_gev, x0, lam, params)
    r = np.maximum(remaining_cm, 0.0)
    leak = p_em * gammaincc(a, r / s_em) + (1 - p_em) * gammaincc(a, r / s_had)
    return 1.0 - leak


def add_em_showers(comp: Components, evt, det, e, x, y, params: MCParams, grp0: int) -> np.ndarray:
    """One GFlash component per EM particle; returns its expected light (p.e.)."""
    da = det_arrays(params, det)
    rc, rt, p = _gflash_per_det(e, det, params)
    mu = da["y"] * e
    comp.add(evt=evt, det=det, grp=grp0 + np.arange(len(e)), cx=x, cy=y, mu=mu, r1=rc, r2=rt, p1=p)
    return mu


def _gflash_per_det(e, det, params: MCParams):
    rc = np.empty(len(e))
    rt = np.empty(len(e))
    p = np.empty(len(e))
    for d, z, rm, tau in ((0, params.z_zn, params.rm_zn_cm, params.tau_gflash_zn),
                          (1, params.z_zp, params.rm_zp_cm, params.tau_gflash_zp)):
        s = det == d
        if s.any():
            a, b, c = radial_params(e[s], z, tau)
            rc[s], rt[s], p[s] = a * rm, b * rm, c
    return rc, rt, p


def add_hadron_showers(comp: Components, evt, det, e, x, y, kind, rng: np.random.Generator, params: MCParams,
                       grp0: int) -> np.ndarray:
    """Components of hadronic showers (steps 1-6 above); returns expected light per shower (p.e.)."""
    n = len(e)
    if n == 0:
        return np.zeros(0)
    da = det_arrays(params, det)
    lam, x0, depth, yld = da["lam"], da["x0"], da["depth"], da["y"]
    z1 = rng.exponential(1.0, n) * lam
    alive = z1 < depth
    baryon = kind == BARYON
    m = fem_mean(e, baryon, params)
    s = np.maximum(m * (1 - m) / params.fem_sigma**2 - 1.0, 2.0)
    f = rng.beta(m * s, (1 - m) * s)
    nsub = 1 + rng.poisson(params.nsub_slope * np.log(np.maximum(e / params.nsub_e0_gev, 1.0)))
    nsub = np.minimum(nsub, 40)
    sh = np.repeat(np.arange(n), nsub)
    start = np.cumsum(nsub) - nsub
    lead = np.zeros(len(sh), dtype=bool)
    lead[start] = True
    u1 = rng.beta(params.lead_beta_a, params.lead_beta_b, n)
    u1 = np.where(nsub == 1, 1.0, u1)
    g = rng.standard_gamma(params.sub_dirichlet, len(sh)) + 1e-12
    g[lead] = 0.0
    gsum = np.bincount(sh, weights=g, minlength=n)
    frac = np.where(lead, u1[sh], (1.0 - u1[sh]) * g / np.maximum(gsum[sh], 1e-300))
    e_sub = e[sh] * f[sh] * frac
    # depth offsets from the Bock profile
    a, s_em, s_had, p_em = bock_shape(e, x0, lam, params)
    use_em = lead | (rng.random(len(sh)) < p_em[sh])
    off = rng.standard_gamma(a[sh]) * np.where(use_em, s_em[sh], s_had[sh])
    # longitudinal containment: Bock profile integrated from z1 to the back face (late starts leak)
    cl = bock_containment(e, depth - z1, x0, lam, params) * alive
    # lateral position of the sub-shower centre
    scales = np.asarray(params.lat_scales_lambda)
    wts = np.asarray(params.lat_weights) / np.sum(params.lat_weights)
    j = np.searchsorted(np.cumsum(wts), rng.random(len(sh)) * (1 - 1e-12), side="right")
    j = np.where(lead, 0, np.minimum(j, 2))
    r = rng.exponential(1.0, len(sh)) * scales[j] * lam[sh] * np.sqrt(1.0 + params.depth_spread_gain * off / lam[sh])
    phi = rng.uniform(0, 2 * np.pi, len(sh))
    cx = x[sh] + r * np.cos(phi)
    cy = y[sh] + r * np.sin(phi)
    rc, rt, p = _gflash_per_det(e_sub, det[sh], params)
    mu_sub = yld[sh] * e_sub * cl[sh]
    grp = grp0 + sh
    comp.add(evt=evt[sh], det=det[sh], grp=grp, cx=cx, cy=cy, mu=mu_sub, r1=rc, r2=rt, p1=p)
    # non-EM light
    mu_b = yld * e * (1 - f) * params.h_over_e * cl
    rb = params.broad_radius_lambda * lam
    comp.add(evt=evt, det=det, grp=grp0 + np.arange(n), cx=x, cy=y, mu=mu_b, r1=rb, r2=rb, p1=np.ones(n))
    return np.bincount(sh, weights=mu_sub, minlength=n) + mu_b


def add_direct(comp: Components, evt, det, e, x, y, kind, rng, params: MCParams, grp0: int) -> tuple[np.ndarray, int]:
    """All direct showers (EM and hadronic); returns (expected light per row, next group id)."""
    mu = np.zeros(len(e))
    em = kind == EM
    if em.any():
        i = np.flatnonzero(em)
        mu[i] = add_em_showers(comp, evt[i], det[i], e[i], x[i], y[i], params, grp0)
        grp0 += len(i)
    if (~em).any():
        i = np.flatnonzero(~em)
        mu[i] = add_hadron_showers(comp, evt[i], det[i], e[i], x[i], y[i], kind[i], rng, params, grp0)
        grp0 += len(i)
    return mu, grp0
