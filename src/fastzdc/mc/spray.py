"""Upstream spray and ZN <-> ZP cross-talk light (shared by both modes), docs/mc.md.

* **Spray**: a particle that interacts before the ZDC delivers a fraction ``u ~ Beta(a, b)`` of its
  energy as EM-like light, ``spray_yield * u * E``, in 1-4 blobs (GFlash-form radius
  U(``spray_blob_radius_cm``)) whose centres are the (clipped) impact point smeared by N(0, sigma)
  (2.5 cm near the ZDC, ``spray_far_sigma_cm`` far upstream), plus a fraction ``spray_broad_frac`` in one
  broad (R = 10 cm) component. Near losses (inside the aperture: pipes and chamber just in front of the
  ZDC, or failed transmission) use the harder ``spray_near_u`` law. A blob feeds the detector on whose
  side of x = 8.3 cm (half-way between ZN and ZP) its centre falls, with that detector's yield.
* **Cross-talk**: every direct shower leaks ``eps ~ LogNormal(ln eps0, 0.8)`` of its light into the other
  detector, as a blob hugging the facing edge (ZP low-x columns / ZN high-x columns).
"""

from __future__ import annotations

import numpy as np

from ..detector import ZN, ZP
from .params import MCParams
from .render import Components
from .transport import FAR_SPRAY, Arrivals

X_SPLIT_CM = 0.5 * (ZN.x_high_cm + ZP.x_low_cm)
N_BLOBS = 4


def add_spray(comp: Components, arr: Arrivals, sel: np.ndarray, loss: np.ndarray, rng: np.random.Generator,
              params: MCParams, grp0: int) -> int:
    """Add spray components for arrivals ``sel`` (near losses: harder u). Returns the next group id."""
    idx = np.flatnonzero(sel)
    n = len(idx)
    if n == 0:
        return grp0
    near = (arr.fate[idx] != FAR_SPRAY) | loss[idx]
    ua = np.where(near, params.spray_near_u_a, params.spray_u_a)
    ub = np.where(near, params.spray_near_u_b, params.spray_u_b)
    u = rng.beta(ua, ub)
    e_vis = params.spray_yield * u * arr.energy[idx]
    far = arr.fate[idx] == FAR_SPRAY
    sigma = np.where(far, params.spray_far_sigma_cm, params.spray_near_sigma_cm)
    active = np.ones((n, N_BLOBS), dtype=bool)
    active[:, 1:] = rng.random((n, N_BLOBS - 1)) < params.spray_extra_blob_prob
    w = rng.standard_exponential((n, N_BLOBS)) * active
    w /= w.sum(axis=1, keepdims=True)
    cx = arr.x[idx, None] + rng.standard_normal((n, N_BLOBS)) * sigma[:, None]
    cy = arr.y[idx, None] + rng.standard_normal((n, N_BLOBS)) * sigma[:, None]
    lo, hi = params.spray_blob_radius_cm
    rad = rng.uniform(lo, hi, (n, N_BLOBS))
    det = (cx > X_SPLIT_CM).astype(np.int8)
    yld = np.where(det == 0, params.yield_em_zn, params.yield_em_zp)
    mu = yld * (e_vis * (1.0 - params.spray_broad_frac))[:, None] * w
    grp = grp0 + np.arange(n)
    m = active.ravel()
    comp.add(evt=np.repeat(arr.evt[idx], N_BLOBS)[m], det=det.ravel()[m], grp=np.repeat(grp, N_BLOBS)[m],
             cx=cx.ravel()[m], cy=cy.ravel()[m], mu=mu.ravel()[m], r1=rad.ravel()[m], r2=rad.ravel()[m],
             p1=np.ones(int(m.sum())))
    bdet = (arr.x[idx] > X_SPLIT_CM).astype(np.int8)
    byld = np.where(bdet == 0, params.yield_em_zn, params.yield_em_zp)
    comp.add(evt=arr.evt[idx], det=bdet, grp=grp, cx=arr.x[idx], cy=arr.y[idx],
             mu=byld * e_vis * params.spray_broad_frac, r1=np.full(n, 10.0), r2=np.full(n, 10.0), p1=np.ones(n))
    return grp0 + n


def add_crosstalk(comp: Components, evt: np.ndarray, det: np.ndarray, y: np.ndarray, mu_main: np.ndarray,
                  rng: np.random.Generator, params: MCParams, grp0: int) -> int:
    """Leak of each direct shower (expected light ``mu_main`` in detector ``det``) into the other detector."""
    n = len(evt)
    if n == 0:
        return grp0
    eps0 = np.where(det == 0, params.xtalk_zn_to_zp, params.xtalk_zp_to_zn)
    eps = eps0 * np.exp(params.xtalk_log_sigma * rng.standard_normal(n))
    other = 1 - det
    edge = np.where(other == 1, ZP.x_low_cm + 0.5, ZN.x_high_cm - 0.3)
    cx = edge + np.where(other == 1, 1.0, -1.0) * np.abs(rng.standard_normal(n)) * 0.5 * params.xtalk_radius_cm
    cy = y + rng.standard_normal(n) * params.xtalk_radius_cm * 0.5
    other_yield = np.where(other == 0, params.yield_em_zn, params.yield_em_zp)
    own_yield = np.where(det == 0, params.yield_em_zn, params.yield_em_zp)
    mu = eps * mu_main * other_yield / own_yield
    r = np.full(n, params.xtalk_radius_cm)
    comp.add(evt=evt, det=other.astype(np.int8), grp=grp0 + np.arange(n), cx=cx, cy=cy, mu=mu, r1=r, r2=r,
             p1=np.ones(n))
    return grp0 + n
