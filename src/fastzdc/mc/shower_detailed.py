"""Detailed mode: an explicit hadronic cascade with GFlash spot-sampled EM showers (docs/mc.md).

Deliberately slow (it is the "full simulation" baseline of the speed comparisons), same output format.

* **Hadron tracking**: each hadron flies ``Exp(lambda_eff)`` along its direction, then interacts:
  multiplicity ``n = a + b ln(E/GeV)`` (Poisson-fluctuated, >= 2); the leading particle keeps
  ``x ~ Beta(2, 2)`` (baryon) or ``Beta(1, 3)`` (meson) of the energy; the rest is shared (Dirichlet(1))
  by pions, ``det_pi0_fraction`` of which are pi0 (-> EM showers), the others are tracked further.
  Secondaries get ``pT ~ Exp(0.35 GeV)``, i.e. an angle pT/p, and are followed in 3-D. Hadrons below
  ``det_e_cut_gev`` deposit ``h/e`` light locally. Anything crossing the back face leaks.
* **EM showers** (pi0 and primary photons/electrons): GFlash with per-shower fluctuated (T, alpha),
  ``N = spot_fraction * 93 ln Z E^0.876`` spots; each spot depth from the spot gamma profile
  (T_s, alpha_s), its radius from the GFlash radial profile at its own tau = t/T; spots beyond the back
  face are lost. Light = ``yield_em`` x energy, spread over the spots.
* **Photo-electrons**: expected light per fibre (bincount with weights) -> Poisson per fibre.

Differences to the fast mode: the EM fraction, its fluctuations, the longitudinal leakage and the
lateral spread emerge from the cascade instead of being drawn from parameterised laws; photo-statistics
are Poisson per fibre (no extra Fano factor). Spray and cross-talk are the same code as in fast mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..detector import ZN, ZP
from .gflash import longitudinal_params, radial_params
from .params import MCParams
from .species import BARYON, EM

DETS = (ZN, ZP)


class _Deposits:
    """Expected light (photo-electrons) per fibre of one detector for a chunk of events, filled in place."""

    def __init__(self, detector, n_events: int) -> None:
        self.det = detector
        self.light = np.zeros((n_events, detector.n_pixels))

    def add(self, ev: int, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Add light ``w`` at global positions (x, y) (cm) of event ``ev``; light off the face is lost."""
        d = self.det
        fx = (np.asarray(x) - d.x_low_cm) / d.pitch_cm
        fy = (np.asarray(y) - d.y_low_cm) / d.pitch_cm
        ok = np.isfinite(fx) & np.isfinite(fy) & (fx >= 0) & (fx < d.nx) & (fy >= 0) & (fy < d.ny) & (w > 0)
        if ok.any():
            flat = fx[ok].astype(np.int64) * d.ny + fy[ok].astype(np.int64)
            self.light[ev] += np.bincount(flat, weights=np.asarray(w)[ok], minlength=d.n_pixels)


def _em_spots(dep: _Deposits, ev: int, e: float, x0: float, y0: float, z0: float, sx: float, sy: float,
              d: int, rng: np.random.Generator, params: MCParams) -> float:
    """GFlash spot shower of energy ``e`` (GeV) starting at depth ``z0`` (cm); returns its contained light."""
    det = DETS[d]
    z = params.z_zn if d == 0 else params.z_zp
    x0cm = params.x0_zn_cm if d == 0 else params.x0_zp_cm
    rm = params.rm_zn_cm if d == 0 else params.rm_zp_cm
    ec = params.det_ec_zn_mev if d == 0 else params.det_ec_zp_mev
    yld = params.yield_em_zn if d == 0 else params.yield_em_zp
    t_max, alpha = longitudinal_params(np.array([e]), z, ec, rng)
    t_max, alpha = float(t_max[0]), float(alpha[0])
    ts, as_ = t_max * (0.698 + 0.00212 * z), max(alpha * (0.639 + 0.00334 * z), 1.05)
    beta_s = (as_ - 1.0) / max(ts, 1e-3)
    n = max(1, int(round(params.det_spot_fraction * 93.0 * np.log(z) * e**0.876)))
    t = rng.standard_gamma(as_, n) / beta_s  # X0
    depth = z0 + t * x0cm
    inside = depth < det.depth_cm
    tau = np.minimum(t / max(t_max, 1e-3), 8.0)
    rc, rt, p = radial_params(np.full(n, e), z, tau)
    r = np.where(rng.random(n) < p, rc, rt) * rm
    r = r / np.sqrt(2.0) / np.sqrt(rng.standard_exponential(n) + 1e-12)
    xs = x0 + sx * t * x0cm + r * rng.standard_normal(n)
    ys = y0 + sy * t * x0cm + r * rng.standard_normal(n)
    w = np.full(n, yld * e / n) * inside
    dep.add(ev, xs, ys, w)
    return float(w.sum())


def _cascade(dep: _Deposits, ev: int, e: float, x: float, y: float, baryon: bool, d: int,
             rng: np.random.Generator, params: MCParams) -> float:
    """Explicit hadronic cascade of one hadron entering detector ``d`` at (x, y); returns contained light."""
    det = DETS[d]
    lam = params.lambda_zn_cm if d == 0 else params.lambda_zp_cm
    yld = params.yield_em_zn if d == 0 else params.yield_em_zp
    rdep = params.det_dep_radius_lambda * lam
    light = 0.0
    stack = [(e, x, y, 0.0, 0.0, 0.0, baryon)]
    hx: list[float] = []
    hy: list[float] = []
    hw: list[float] = []
    while stack:
        e, x, y, z, sx, sy, bar = stack.pop()
        if e < params.det_e_cut_gev:
            if z < det.depth_cm:
                hx.append(x)
                hy.append(y)
                hw.append(yld * params.h_over_e * e)
            continue
        step = rng.exponential(lam)
        z += step
        if z >= det.depth_cm:
            continue  # leaks out of the back
        x += sx * step
        y += sy * step
        n = max(2, int(rng.poisson(params.det_mult_a + params.det_mult_b * np.log(e))))
        xl = rng.beta(2.0, 2.0) if bar else rng.beta(1.0, 3.0)
        shares = rng.dirichlet(np.ones(n - 1)) * (1.0 - xl) * e
        energies = np.concatenate([[xl * e], shares])
        pt = rng.exponential(params.det_pt_mean_gev, n)
        phi = rng.uniform(0.0, 2 * np.pi, n)
        theta = np.minimum(pt / np.maximum(energies, 1e-3), 1.2)
        slx = np.tan(theta) * np.cos(phi)
        sly = np.tan(theta) * np.sin(phi)
        is_pi0 = rng.random(n) < params.det_pi0_fraction
        is_pi0[0] = False  # the leading particle stays a hadron
        for k in range(n):
            if is_pi0[k]:
                light += _em_spots(dep, ev, float(energies[k]), x, y, z, sx + slx[k], sy + sly[k], d, rng, params)
            else:
                stack.append((float(energies[k]), x, y, z, sx + slx[k], sy + sly[k], bar and k == 0))
    if hw:
        hx_a, hy_a, hw_a = np.array(hx), np.array(hy), np.array(hw)
        r = rdep / np.sqrt(2.0) / np.sqrt(rng.standard_exponential(len(hw_a)) + 1e-12)
        dep.add(ev, hx_a + r * rng.standard_normal(len(hw_a)), hy_a + r * rng.standard_normal(len(hw_a)), hw_a)
        light += float(hw_a.sum())
    return light


def detailed_direct(evt, det, energy, x, y, kind, n_events: int, rng: np.random.Generator, params: MCParams,
                    detectors: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Images ``{"zn", "zp"}`` (int64 counts) of all direct showers of a chunk, and their expected light."""
    deps = (_Deposits(ZN, n_events), _Deposits(ZP, n_events))
    mu = np.zeros(len(energy))
    for i in range(len(energy)):
        d = int(det[i])
        if kind[i] == EM:
            z0 = rng.exponential(9.0 / 7.0 * (params.x0_zn_cm if d == 0 else params.x0_zp_cm))
            mu[i] = _em_spots(deps[d], int(evt[i]), float(energy[i]), float(x[i]), float(y[i]), z0, 0.0, 0.0, d,
                              rng, params)
        else:
            mu[i] = _cascade(deps[d], int(evt[i]), float(energy[i]), float(x[i]), float(y[i]), kind[i] == BARYON, d,
                             rng, params)
    # Poisson per fibre, drawn for both detectors so the random stream does not depend on the request
    out = {dep.det.name: rng.poisson(dep.light).reshape(n_events, dep.det.nx, dep.det.ny) for dep in deps}
    return {k: v for k, v in out.items() if k in detectors}, mu
