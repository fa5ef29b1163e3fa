"""Light components -> integer photo-electron images (shared by the fast and detailed modes).

A *component* is a blob of Cherenkov light aimed at one detector: centre (x, y) in the global frame (cm),
expected photo-electrons ``mu`` and a GFlash-form radial profile (core radius R1 with probability p1,
else tail radius R2; cm). Components of one shower share a *group*; the group's total is
negative-binomial with variance ``fano * mean`` (a Gamma(mean/(F-1), F-1) intensity, then Poisson per
component -- equivalent to a multinomial split of a negative-binomial total). Every photo-electron is
placed independently and binned with ``np.bincount`` into its fibre; photo-electrons outside the face
are lost (lateral leakage, position dependence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detector import Detector


@dataclass
class Components:
    """Struct of arrays, appended to piecewise and frozen with :meth:`arrays`."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in _KEYS})

    def add(self, **kw: np.ndarray) -> None:
        n = len(kw["mu"])
        for k in _KEYS:
            v = kw[k]
            self.parts[k].append(np.broadcast_to(v, (n,)) if np.ndim(v) == 0 else np.asarray(v))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.parts.items()}


_KEYS = ("evt", "det", "grp", "cx", "cy", "mu", "r1", "r2", "p1")


def sample_counts(comp: dict[str, np.ndarray], rng: np.random.Generator, fano: float) -> np.ndarray:
    """Photo-electrons per component: Poisson(mu_k * G_g / mu_g) with G_g ~ Gamma(mu_g/(F-1), F-1)."""
    mu = comp["mu"].astype(np.float64)
    if len(mu) == 0:
        return np.zeros(0, dtype=np.int64)
    grp = comp["grp"].astype(np.int64)
    ug, inv = np.unique(grp, return_inverse=True)
    mu_g = np.bincount(inv, weights=mu, minlength=len(ug))
    if fano > 1.0:
        g = rng.gamma(mu_g / (fano - 1.0) + 1e-300, fano - 1.0)
        factor = np.where(mu_g > 0, g / np.maximum(mu_g, 1e-300), 0.0)
    else:
        factor = np.ones_like(mu_g)
    lam = mu * factor[inv]
    return rng.poisson(lam)


def render(comp: dict[str, np.ndarray], counts: np.ndarray, det: Detector, det_id: int, n_events: int,
           rng: np.random.Generator, event_offset: int = 0) -> np.ndarray:
    """Images ``(n_events, nx, ny)`` uint16 from the components aimed at ``det`` (``comp['det'] == det_id``)."""
    sel = (comp["det"] == det_id) & (counts > 0)
    npix = det.n_pixels
    if not sel.any():
        return np.zeros((n_events, det.nx, det.ny), dtype=np.uint16)
    n_k = counts[sel]
    idx = np.repeat(np.arange(len(n_k)), n_k)
    total = len(idx)
    r1 = comp["r1"][sel].astype(np.float32)
    r2 = comp["r2"][sel].astype(np.float32)
    p1 = comp["p1"][sel].astype(np.float32)
    core = rng.random(total, dtype=np.float32) < p1[idx]
    radius = np.where(core, r1[idx], r2[idx])
    radius *= np.float32(1.0 / np.sqrt(2.0))
    radius /= np.sqrt(rng.standard_exponential(total, dtype=np.float32) + np.float32(1e-12))
    inv_pitch = np.float32(1.0 / det.pitch_cm)
    gx = rng.standard_normal(total, dtype=np.float32)
    gx *= radius
    gx += comp["cx"][sel].astype(np.float32)[idx]
    gx -= np.float32(det.x_low_cm)
    gx *= inv_pitch
    gy = rng.standard_normal(total, dtype=np.float32)
    gy *= radius
    gy += comp["cy"][sel].astype(np.float32)[idx]
    gy -= np.float32(det.y_low_cm)
    gy *= inv_pitch
    ok = (gx >= 0) & (gx < det.nx) & (gy >= 0) & (gy < det.ny)
    ix = gx[ok].astype(np.int64)
    iy = gy[ok].astype(np.int64)
    ev = (comp["evt"][sel].astype(np.int64) - event_offset)[idx[ok]]
    flat = ev * npix + ix * det.ny + iy
    img = np.bincount(flat, minlength=n_events * npix)
    return np.minimum(img, 65535).astype(np.uint16).reshape(n_events, det.nx, det.ny)
