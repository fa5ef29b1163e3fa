"""The Monte Carlo as a project Generator: ``generate(conditions) -> counts`` like every trained model.

Evaluating it like a model gives the "original data" floor (a second, independent response of the same
primaries). One response per condition row; with ``nonempty=True`` each row is drawn given that O2's
filter keeps it (re-drawn while ZN and ZP are both empty), which is what a filtered dataset holds.
"""

from __future__ import annotations

import numpy as np

from ..detector import Detector, get_detector
from ..errors import FastZDCError
from ..generator import GeneratorDefaults
from .params import MCParams, default_params
from .simulate import MODES, iter_simulate, simulate_nonempty, validate_conditions


class MonteCarloGenerator(GeneratorDefaults):
    """Generator interface over :func:`fastzdc.mc.iter_simulate` for one detector.

    ``name`` is ``"mc-fast"`` or ``"mc-detailed"``; ``n_params = 0`` (nothing is trained).
    """


    def __init__(self, detector: str | Detector = "zn", mode: str = "fast", params: MCParams | None = None,
                 nonempty: bool = False) -> None:
        if mode not in MODES:
            raise FastZDCError(f"unknown MC mode {mode!r}; choose 'fast' or 'detailed'")
        self.detector: Detector = get_detector(detector)
        self.mode = mode
        self.params = params or default_params()
        self.nonempty = nonempty
        self.name = f"mc-{mode}" + ("-filtered" if nonempty else "")

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 8192, device=None, advance=None,
        **sampler
    ) -> np.ndarray:
        """``(N, nx, ny)`` uint16 photo-electron counts, one response per row; same seed -> same output.

        ``seed=None`` draws fresh entropy; ``device`` is ignored (NumPy on the CPU).
        """
        if any(v is not None for v in sampler.values()):
            raise FastZDCError(f"the Monte Carlo has no sampler options, got {', '.join(sampler)}")
        cond = validate_conditions(conditions)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        if self.nonempty:
            out = simulate_nonempty(cond, detectors=(self.detector.name,), mode=self.mode, seed=seed,
                                    params=self.params, batch_size=batch_size)[self.detector.name]
            if advance is not None:
                advance(len(out))
            return out
        out = np.empty((cond.shape[0], *self.detector.shape), dtype=np.uint16)
        pos = 0
        for b in iter_simulate(conditions=cond, detectors=(self.detector.name,), mode=self.mode, seed=seed,
                               params=self.params, batch_size=batch_size):
            k = len(b)
            out[pos : pos + k] = b.responses[self.detector.name]
            pos += k
            if advance is not None:
                advance(k)
        return out

    def __repr__(self) -> str:
        return f"MonteCarloGenerator(detector={self.detector.name!r}, mode={self.mode!r})"
