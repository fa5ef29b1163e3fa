"""ZN and ZP responses of the same particles: the response gate in front of the two generators.

Per particle (:class:`JointGenerator`):

1. the gate draws which calorimeters respond: one of none / ZN only / ZP only / both, or (``include_none``
   False: particles O2's filter kept) one of the three lit states, renormalised;
2. a detector drawn empty gets zeros; a detector drawn lit gets ``candidates`` responses of its generator
   (fresh seeded noise each), of which only the non-empty ones count; a particle whose candidates are
   all empty gets further rounds (at most ``max_rounds``) until one is non-empty;
3. among the non-empty candidates, sorted by photon sum, the one at rank ``floor(u n)`` is taken, where
   for a particle with both lit ``(u_zn, u_zp)`` come from a Gaussian copula with correlation ``rho``
   of its PDG id (:func:`fastzdc.mc.copula.fit_rank_copula`, stored with the gate) and otherwise ``u``
   is uniform. Choosing among ``M`` candidates keeps a share ``(M - 1) / (M + 1)`` of the rank
   variance, so the copula is drawn with ``rho / sqrt((M - 1) / (M + 1))`` (at most 0.98).

Everything comes from the seed: the same seed gives the same responses at any batch size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr

from ..data.validate import validate_conditions
from ..errors import FastZDCError
from ..generator import Generator
from .gate import Gate

CHUNK = 4096
"""particles per internal step (fixed: the noise seeds depend on it, never on the batch size)"""
MAX_RHO = 0.98


class JointGenerator:
    """The gate and one generator per calorimeter; ``generate`` returns both responses of every particle."""

    def __init__(self, gate: Gate, zn: Generator, zp: Generator, *, rho: dict[str, float] | None = None,
                 candidates: int = 4, max_rounds: int = 8) -> None:
        if zn.detector.name != "zn" or zp.detector.name != "zp":
            raise FastZDCError(f"give a ZN and a ZP generator, got {zn.detector.name.upper()} and {zp.detector.name.upper()}")
        if not 1 <= candidates <= 64:
            raise FastZDCError(f"candidates must be in [1, 64], got {candidates}")
        self.gate, self.generators = gate, {"zn": zn, "zp": zp}
        self.rho = dict(rho or {})
        self.candidates = int(candidates)
        self.max_rounds = int(max_rounds)
        self.name = f"{gate.name} + {zn.name} + {zp.name}"

    def latent_rho(self, pdgid: np.ndarray) -> np.ndarray:
        """The copula correlation drawn for each particle (per PDG id, else pooled), widened for ``M`` candidates."""
        pooled = float(self.rho.get("pooled", 0.0))
        rho = np.array([float(self.rho.get(str(int(c)), pooled)) for c in pdgid]) if len(self.rho) > 1 else np.full(len(pdgid), pooled)
        m = self.candidates
        keep = (m - 1) / (m + 1) if m > 1 else 0.0
        return np.clip(rho / math.sqrt(keep), -MAX_RHO, MAX_RHO) if keep > 0 else np.zeros(len(pdgid))

    def generate(self, conditions: np.ndarray, *, seed: int, include_none: bool = False, pdgid: np.ndarray | None = None,
                 batch_size: int = 4096, advance: Any = None) -> dict[str, np.ndarray]:
        """``{"zn": (N, 44, 44), "zp": (N, 56, 30)`` uint16, ``"states"``: (N,) 0 none / 1 ZN / 2 ZP / 3 both,
        ``"empty_after_retries"``: {"zn": k, "zp": k}}."""
        cond = validate_conditions(np.asarray(conditions, np.float32))
        if pdgid is None:
            from ..mc.species import pdg_guess

            pdgid = pdg_guess(cond[:, 7], cond[:, 8])
        n = len(cond)
        out = {d: np.zeros((n, *g.detector.shape), np.uint16) for d, g in self.generators.items()}
        states = np.zeros(n, np.int64)
        failed = {"zn": 0, "zp": 0}
        for c, start in enumerate(range(0, n, CHUNK)):
            sl = slice(start, min(n, start + CHUNK))
            sub_seed = int(np.random.SeedSequence([seed, 0x101, c]).generate_state(1, np.uint64)[0]) % (2**62)
            st, resp, bad = self._chunk(cond[sl], np.asarray(pdgid)[sl], sub_seed, include_none, batch_size)
            states[sl] = st
            for d, arr in out.items():
                arr[sl] = resp[d]
                failed[d] += bad[d]
            if advance is not None:
                advance(sl.stop - sl.start)
        return {**out, "states": states, "empty_after_retries": failed}

    def _chunk(self, cond, pdgid, seed, include_none, batch_size):
        m = len(cond)
        states = self.gate.draw(cond, seed=seed, given_lit=not include_none)
        lit = {"zn": (states & 1) > 0, "zp": (states & 2) > 0}
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0]))
        z = rng.standard_normal((2, m))
        rho = self.latent_rho(pdgid)
        both = lit["zn"] & lit["zp"]
        z[1] = np.where(both, rho * z[0] + np.sqrt(1 - rho**2) * z[1], z[1])
        u = {"zn": ndtr(z[0]), "zp": ndtr(z[1])}
        resp, failed = {}, {}
        for j, (d, g) in enumerate(self.generators.items()):
            img = np.zeros((m, *g.detector.shape), np.uint16)
            rows = np.flatnonzero(lit[d])
            if rows.size:
                img[rows], failed[d] = self._pick(g, cond[rows], u[d][rows], seed * 2 + j, batch_size, rng)
            else:
                failed[d] = 0
            resp[d] = img
        return states, resp, failed

    def _pick(self, g, cond, u, seed, batch_size, rng):
        """One non-empty response per row: the candidate at rank floor(u n) of the non-empty ones."""
        mc = self.candidates
        cands = np.stack([g.generate(cond, seed=_seed(seed, k), batch_size=batch_size)
                          for k in range(mc)])
        sums = cands.reshape(mc, len(cond), -1).sum(axis=2, dtype=np.int64).astype(np.float64)
        nonempty = sums > 0
        todo = np.flatnonzero(~nonempty.any(axis=0))
        for r in range(self.max_rounds):
            if todo.size == 0:
                break
            extra = g.generate(cond[todo], seed=_seed(seed, mc + r), batch_size=batch_size)
            s = extra.reshape(len(todo), -1).sum(axis=1, dtype=np.int64)
            ok = s > 0
            cands[0, todo[ok]] = extra[ok]
            sums[0, todo[ok]] = s[ok]
            nonempty[0, todo[ok]] = True
            todo = todo[~ok]
        key = np.where(nonempty, sums + rng.random(sums.shape) * 0.5, np.inf)
        order = np.argsort(key, axis=0)
        n_ok = nonempty.sum(axis=0)
        k = np.minimum((u * n_ok).astype(np.int64), np.maximum(n_ok - 1, 0))
        chosen = order[k, np.arange(len(cond))]
        return cands[chosen, np.arange(len(cond))], int(todo.size)


def _seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, 0x51, k]).generate_state(1, np.uint64)[0]) % (2**62)


def load_joint(gate: Any = "weights/gate", zn: Any = "weights/fmd-zn", zp: Any = "weights/fmd-zp", *,
               candidates: int = 1, copula: bool = True, **load_options: Any) -> JointGenerator:
    """A :class:`JointGenerator` from a gate checkpoint and two model folders (checkpoint, export or
    look-up folders; ``load_options`` go to :func:`fastzdc.inference.load_generator`, e.g. ``precision``).
    ``copula``: use the rank copula stored with the gate (else ZN and ZP are picked independently)."""
    from ..checkpoint import load_config
    from .gate import load_gate
    from .load import load_generator

    g = load_gate(gate)
    rho = load_config(gate).get("metrics", {}).get("copula", {}).get("rho") if copula else None
    return JointGenerator(g, load_generator(zn, **load_options), load_generator(zp, **load_options), rho=rho,
                          candidates=candidates)
