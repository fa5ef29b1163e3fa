"""One calorimeter behind the response gate: the gate decides whether the particle lights it, the
model draws the response given that it is lit.

For particles kept by O2's filter (a ZN or ZP file made with the filter on), the probability that
detector ``d`` is lit is the gate's marginal given the filter,

    P(d lit | ZN or ZP lit) = (P(d only) + P(both)) / (1 - P(none)),

and for a raw particle list (``given_filter=False``) it is ``P(d only) + P(both)``. A row drawn dark
gets an empty image; a row drawn lit gets the model's response, redrawn with fresh seeded noise while
it comes out empty (at most ``max_rounds`` times). A generative model spreads the probability of an
empty response over faint, scattered ones; the gate puts it back where the Monte Carlo has it.

Everything comes from the seed, in fixed chunks of :data:`CHUNK` rows, so the output does not depend
on the batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.validate import validate_conditions
from ..generator import Generator
from .gate import Gate

CHUNK = 4096
"""particles per internal step (fixed: the seeds depend on it, never on the batch size)"""


def lit_probability(probs: np.ndarray, detector: str, *, given_filter: bool) -> np.ndarray:
    """P(``detector`` lit) per row from the gate's ``(N, 4)`` probabilities of none, ZN only, ZP only, both.

    >>> lit_probability(np.array([[0.2, 0.4, 0.2, 0.2]]), "zp", given_filter=True).round(3).tolist()
    [0.5]
    """
    p = probs[:, 2 if detector == "zp" else 1] + probs[:, 3]
    return p / np.maximum(1.0 - probs[:, 0], 1e-12) if given_filter else p


class GatedGenerator:
    """A single-detector :class:`~fastzdc.generator.Generator` whose occupancy comes from the gate."""

    def __init__(self, gate: Gate, model: Generator, *, given_filter: bool = True, max_rounds: int = 8) -> None:
        self.gate, self.model = gate, model
        self.given_filter = bool(given_filter)
        self.max_rounds = int(max_rounds)
        self.name = f"{model.name} + gate"
        self.detector = model.detector
        self.n_params = int(model.n_params) + sum(p.numel() for p in gate.net.parameters())
        self.sampler = {**model.sampler, "gate": gate.source or gate.name, "given_filter": self.given_filter}
        self.adjustable = model.adjustable
        self.precision, self.backend, self.device = model.precision, model.backend, model.device

    def generate(self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None,
                 advance: Callable[[int], None] | None = None, **sampler: Any) -> np.ndarray:
        cond = validate_conditions(np.asarray(conditions, np.float32))
        seed = 0 if seed is None else int(seed)
        out = np.zeros((len(cond), *self.detector.shape), np.uint16)
        for c, start in enumerate(range(0, len(cond), CHUNK)):
            sl = slice(start, min(len(cond), start + CHUNK))
            ss = np.random.SeedSequence([seed, 0x9A7E, c])
            p = lit_probability(self.gate.probabilities(cond[sl]), self.detector.name, given_filter=self.given_filter)
            lit = np.flatnonzero(np.random.default_rng(ss).random(len(p)) < p)
            seeds = ss.generate_state(self.max_rounds + 1, np.uint32)
            todo = lit
            for r in range(self.max_rounds + 1):
                if todo.size == 0:
                    break
                img = self.model.generate(cond[sl][todo], seed=int(seeds[r]), batch_size=batch_size, device=device,
                                          **sampler)
                ok = img.reshape(len(todo), -1).any(axis=1)
                out[start + todo[ok]] = img[ok]
                todo = todo[~ok]
            if advance is not None:
                advance(sl.stop - sl.start)
        return out
