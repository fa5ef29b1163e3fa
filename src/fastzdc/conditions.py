"""The 9 particle features that condition every generator, in the order ALICE stores them.

The vector is exactly the input of the O2 ZDC fast simulation (``Detector::BeginPrimary``):
``[E, vx, vy, vz, px, py, pz, mass, charge]``.

Units: energy and momenta in GeV, the production vertex in cm (ROOT ``TParticle::Vx()`` is in cm;
one plotting script of the published code labels it "m" -- the vertex is < 1 mm either way and has
no visible effect on the response 112 m away), mass in MeV (``GetMass()*1000``), charge in units of
the elementary charge e (the ML datasets hold -1/0/+1).

The PDG id is carried next to the conditions (10th column of the ALICE particle file) but is never a
model input.
"""

from __future__ import annotations

FEATURE_NAMES: tuple[str, ...] = ("E", "vx", "vy", "vz", "px", "py", "pz", "mass", "charge")
FEATURE_UNITS: tuple[str, ...] = ("GeV", "cm", "cm", "cm", "GeV", "GeV", "GeV", "MeV", "e")
N_FEATURES: int = len(FEATURE_NAMES)

# column indices
E, VX, VY, VZ, PX, PY, PZ, MASS, CHARGE = range(N_FEATURES)
