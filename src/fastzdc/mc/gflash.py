"""GFlash parameterisation of electromagnetic showers (Grindhammer & Peters; Geant4 defaults), docs/mc.md

Radial profile per longitudinal slice tau = t / T_max (r in Moliere radii):
``f(r) = p 2 r R_C^2/(r^2+R_C^2)^2 + (1-p) 2 r R_T^2/(r^2+R_T^2)^2``. This 2-D density is a bivariate
Student-t with 2 degrees of freedom and scale R/sqrt(2), sampled as ``R/sqrt(2) * N(0,1)^2 / sqrt(Exp(1))``
(equivalent to the inverse CDF ``r = R sqrt(u/(1-u))`` with isotropic phi). Constants [V-G4].
"""

from __future__ import annotations

import numpy as np


def radial_params(
    e_gev: np.ndarray, z: float, tau: np.ndarray | float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R_C, R_T, p) in Moliere radii for EM (sub)showers of energy ``e_gev`` at depth ``tau``."""
    le = np.log(np.maximum(np.asarray(e_gev, dtype=np.float64), 1.0))
    tau = np.asarray(tau, dtype=np.float64)
    rc = (0.0251 + 0.00319 * le) + (0.1162 - 0.000381 * z) * tau
    k1, k2, k3, k4 = 0.659 - 0.00309 * z, 0.645, -2.59, 0.3585 + 0.0412 * le
    rt = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2, p3 = 2.632 - 0.00094 * z, 0.401 + 0.00187 * z, 1.313 - 0.0686 * le
    g = (p2 - tau) / p3
    p = np.clip(p1 * np.exp(g - np.exp(g)), 0.0, 1.0)
    return rc, rt, p


def longitudinal_params(
    e_gev: np.ndarray, z: float, ec_mev: float, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(T_max in X0, alpha) of the gamma longitudinal profile; fluctuated (correlated log-normal) if ``rng``."""
    y = np.maximum(np.asarray(e_gev, dtype=np.float64) * 1000.0 / ec_mev, 3.0)
    ly = np.log(y)
    mu_t = np.log(np.maximum(ly - 0.812, 0.1))
    mu_a = np.log(0.81 + (0.458 + 2.26 / z) * ly)
    if rng is None:
        t, a = np.exp(mu_t), np.exp(mu_a)
    else:
        s_t = 1.0 / np.maximum(-1.4 + 1.26 * ly, 0.5)
        s_a = 1.0 / np.maximum(-0.58 + 0.86 * ly, 0.5)
        rho = np.clip(0.705 - 0.023 * ly, -0.99, 0.99)
        z1, z2 = rng.standard_normal(ly.shape), rng.standard_normal(ly.shape)
        t = np.exp(mu_t + s_t * (np.sqrt((1 + rho) / 2) * z1 + np.sqrt((1 - rho) / 2) * z2))
        a = np.exp(mu_a + s_a * (np.sqrt((1 + rho) / 2) * z1 - np.sqrt((1 - rho) / 2) * z2))
    a = np.maximum(a, 1.05)
    return t, a
