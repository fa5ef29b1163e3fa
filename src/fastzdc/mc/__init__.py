"""fastzdc.mc: a physics-informed parametric Monte Carlo stand-in for the ALICE ZN/ZP responses.

Synthetic data, tuned to a handful of published statistics of the private GEANT/O2 dataset
(docs/mc.md); it is not GEANT. Modules, one job each:

``params`` (every tunable number, provenance tags), ``species`` (classification, decay tables),
``particles`` (condition sampler), ``transport`` (decays, deflection, fates), ``gflash`` (EM profiles),
``shower_fast`` / ``shower_detailed`` (direct showers), ``spray`` (upstream spray, cross-talk),
``render`` (light -> integer counts per fibre), ``simulate`` (the streaming driver), ``montecarlo``
(the Generator interface), ``calibrate`` (comparison with the real-data statistics).
"""

from __future__ import annotations

from .calibrate import CalibrationRow, calibrate, format_table
from .montecarlo import MonteCarloGenerator
from .params import MCParams, default_params, from_dict, params_hash, to_dict
from .particles import sample_particles
from .simulate import GENERATOR_NAME, SimBatch, iter_simulate, simulate, simulate_nonempty

__all__ = [
    "GENERATOR_NAME",
    "CalibrationRow",
    "MCParams",
    "MonteCarloGenerator",
    "SimBatch",
    "calibrate",
    "default_params",
    "format_table",
    "from_dict",
    "iter_simulate",
    "params_hash",
    "sample_particles",
    "simulate",
    "simulate_nonempty",
    "to_dict",
]
