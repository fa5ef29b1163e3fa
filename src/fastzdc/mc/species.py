"""Particle species: masses, charges, lifetimes and two-body decay tables; classification from (mass, charge).

The 9 conditions carry only the mass (MeV) and the charge (e); the species is recovered by matching
both within 1 MeV (docs/mc.md). Pairs that the 9 features cannot separate are merged:
n/n-bar (identical response model), Lambda/Lambda-bar (treated as Lambda), Sigma0 -> Lambda (its
Lambda gamma decay is immediate, the soft photon is dropped), K0 -> K0S or K0L with ``k0s_fraction``.
Masses and c*tau from the PDG [REC]; branching ratios [REC], truncated to the two-body channels that
matter for the ZDC and renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# response classes
EM, BARYON, MESON, MIP, NOTHING = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Species:
    code: int
    name: str
    pdg: int
    mass_mev: float
    charge: int
    ctau_cm: float  # inf = stable for our purposes
    kind: int  # response class


_TABLE = [
    ("gamma", 22, 0.0, 0, np.inf, EM),
    ("e-", 11, 0.511, -1, np.inf, EM),
    ("e+", -11, 0.511, 1, np.inf, EM),
    ("pi0", 111, 134.977, 0, np.inf, EM),  # -> 2 gamma, collinear at TeV: one EM deposit
    ("mu-", 13, 105.658, -1, np.inf, MIP),
    ("mu+", -13, 105.658, 1, np.inf, MIP),
    ("pi+", 211, 139.570, 1, 780.45, MESON),
    ("pi-", -211, 139.570, -1, 780.45, MESON),
    ("K+", 321, 493.677, 1, 371.2, MESON),
    ("K-", -321, 493.677, -1, 371.2, MESON),
    ("K0S", 310, 497.611, 0, 2.6844, MESON),
    ("K0L", 130, 497.611, 0, np.inf, MESON),
    ("n", 2112, 939.565, 0, np.inf, BARYON),
    ("p", 2212, 938.272, 1, np.inf, BARYON),
    ("pbar", -2212, 938.272, -1, np.inf, BARYON),
    ("Lambda", 3122, 1115.683, 0, 7.89, BARYON),
    ("Lambdabar", -3122, 1115.683, 0, 7.89, BARYON),
    ("Sigma+", 3222, 1189.37, 1, 2.404, BARYON),
    ("Sigma-", 3112, 1197.449, -1, 4.434, BARYON),
    ("Sigmabar-", -3222, 1189.37, -1, 2.404, BARYON),
    ("Xi0", 3322, 1314.86, 0, 8.71, BARYON),
    ("Xi-", 3312, 1321.71, -1, 4.91, BARYON),
    ("Xibar+", -3312, 1321.71, 1, 4.91, BARYON),
    ("Omega-", 3334, 1672.45, -1, 2.461, BARYON),
    ("Omegabar+", -3334, 1672.45, 1, 2.461, BARYON),
    ("other_meson", 0, 0.0, 0, np.inf, MESON),
    ("other_baryon", 0, 0.0, 0, np.inf, BARYON),
]

SPECIES: list[Species] = [Species(i, *row) for i, row in enumerate(_TABLE)]
BY_NAME: dict[str, Species] = {s.name: s for s in SPECIES}
CODE = {s.name: s.code for s in SPECIES}
N_SPECIES = len(SPECIES)
MASS_GEV = np.array([s.mass_mev / 1000.0 for s in SPECIES])
CHARGE = np.array([s.charge for s in SPECIES], dtype=np.int8)
CTAU_CM = np.array([s.ctau_cm for s in SPECIES])
KIND = np.array([s.kind for s in SPECIES], dtype=np.int8)
PDG = np.array([s.pdg for s in SPECIES], dtype=np.int32)

# two-body decays: parent -> list of (branching ratio, daughter1, daughter2); daughter1 is the heavier
# (nucleon/hyperon) one. pi/K -> mu nu: the neutrino is dropped (NOTHING).
DECAYS: dict[str, list[tuple[float, str, str]]] = {
    "K0S": [(0.692, "pi+", "pi-"), (0.308, "pi0", "pi0")],
    "Lambda": [(0.639, "p", "pi-"), (0.361, "n", "pi0")],
    "Lambdabar": [(0.639, "pbar", "pi+"), (0.361, "n", "pi0")],
    "Sigma+": [(0.5157, "p", "pi0"), (0.4843, "n", "pi+")],
    "Sigma-": [(1.0, "n", "pi-")],
    "Sigmabar-": [(0.5157, "pbar", "pi0"), (0.4843, "n", "pi-")],
    "Xi0": [(1.0, "Lambda", "pi0")],
    "Xi-": [(1.0, "Lambda", "pi-")],
    "Xibar+": [(1.0, "Lambdabar", "pi+")],
    "Omega-": [(1.0, "Lambda", "K-")],
    "Omegabar+": [(1.0, "Lambdabar", "K+")],
    "pi+": [(1.0, "mu+", "nu")],
    "pi-": [(1.0, "mu-", "nu")],
    "K+": [(0.754, "mu+", "nu"), (0.246, "pi+", "pi0")],
    "K-": [(0.754, "mu-", "nu"), (0.246, "pi-", "pi0")],
}
NU_MASS = 0.0

# (mass MeV, charge) -> species name, for classification (first match wins; antiparticle aliases merged)
_CLASSIFY: list[tuple[float, int, str]] = [
    (0.0, 0, "gamma"),
    (0.511, -1, "e-"),
    (0.511, 1, "e+"),
    (105.658, -1, "mu-"),
    (105.658, 1, "mu+"),
    (134.977, 0, "pi0"),
    (139.570, 1, "pi+"),
    (139.570, -1, "pi-"),
    (493.677, 1, "K+"),
    (493.677, -1, "K-"),
    (497.611, 0, "K0"),
    (938.272, 1, "p"),
    (938.272, -1, "pbar"),
    (939.565, 0, "n"),
    (1115.683, 0, "Lambda"),
    (1192.642, 0, "Lambda"),  # Sigma0 -> Lambda gamma, immediately
    (1189.37, 1, "Sigma+"),
    (1189.37, -1, "Sigmabar-"),
    (1197.449, -1, "Sigma-"),
    (1314.86, 0, "Xi0"),
    (1321.71, -1, "Xi-"),
    (1321.71, 1, "Xibar+"),
    (1672.45, -1, "Omega-"),
    (1672.45, 1, "Omegabar+"),
]

TOLERANCE_MEV = 1.0


def classify(mass_mev: np.ndarray, charge: np.ndarray, rng: np.random.Generator, k0s_fraction: float) -> np.ndarray:
    """Species code per row from (mass in MeV, charge in e), matched within 1 MeV.

    K0 becomes K0S with probability ``k0s_fraction`` (else K0L); unmatched rows become
    ``other_meson`` (m < 900 MeV) or ``other_baryon``. Returns ``(N,)`` int16 codes.
    """
    mass_mev = np.asarray(mass_mev, dtype=np.float64)
    q = np.rint(np.asarray(charge, dtype=np.float64)).astype(np.int64)
    out = np.where(mass_mev < 900.0, CODE["other_meson"], CODE["other_baryon"]).astype(np.int16)
    done = np.zeros(mass_mev.shape, dtype=bool)
    u = rng.random(mass_mev.shape)
    for m, c, name in _CLASSIFY:
        hit = ~done & (np.abs(mass_mev - m) <= TOLERANCE_MEV) & (q == c)
        if not hit.any():
            continue
        if name == "K0":
            out[hit] = np.where(u[hit] < k0s_fraction, CODE["K0S"], CODE["K0L"])
        else:
            out[hit] = CODE[name]
        done |= hit
    return out


def pdg_guess(mass_mev: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """PDG id implied by (mass, charge) (K0 -> 311, unknown -> 0); used when no PDG id is given."""
    code = classify(mass_mev, charge, np.random.default_rng(0), 1.0)
    out = PDG[code].copy()
    out[code == CODE["K0S"]] = 311
    return out.astype(np.int32)
