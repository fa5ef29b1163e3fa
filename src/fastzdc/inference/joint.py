"""ZN and ZP responses of the same particles: the response gate in front of the two generators.

Per particle (:class:`JointGenerator`):

1. the gate gives P(none), P(ZN only), P(ZP only), P(both) and draws the state: one of the four, or
   (``include_none`` False: particles O2's filter kept) one of the three lit states, renormalised;
2. a latent Gaussian pair ``(a, b)`` with the correlation ``rho`` of the particle's PDG id
   (:func:`fastzdc.mc.copula.fit_rank_copula`, stored with the gate) is drawn *inside the state's
   quadrant*: ZN is lit when ``a > t_zn = Phi^-1(P(ZN empty))`` and likewise ZP (a few Gibbs sweeps of
   truncated normals). A lit detector's rank quantile is ``u = (Phi(a) - Phi(t)) / (1 - Phi(t))``;
   so a particle whose ZN is lit tends to get a brighter ZP when ``rho > 0``, as the Monte Carlo does;
3. a detector drawn empty gets zeros. A lit one gets ``candidates`` responses of its generator (fresh
   seeded noise each; for particles with ``q < Q_ONE`` or ``|rho| >= RHO_MIN``, one otherwise), where
   ``q`` = P(this detector lit | ZN or ZP lit) from the gate. The generators learnt the filtered data,
   whose response *includes* the chance of being empty; the gate says the detector is lit, which is the
   top share ``q`` of that response (by photon sum). So the candidates, empty ones included, are sorted
   by photon sum and the one at quantile ``1 - q + q u`` is taken (never an empty one while a non-empty
   one exists); a particle whose candidates are all empty gets further rounds (at most ``max_rounds``).

Everything comes from the seed: the same seed gives the same responses at any batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ..data.validate import validate_conditions
from ..errors import FastZDCError
from ..generator import Generator
from .gate import Gate

CHUNK = 4096
"""particles per internal step (fixed: the noise seeds depend on it, never on the batch size)"""
MAX_RHO = 0.98
RHO_MIN = 0.1
Q_ONE = 0.95
"""particles whose copula correlation is below RHO_MIN and whose detector is lit with probability at
least Q_ONE (given ZN or ZP lit) get one candidate for it"""
GIBBS_SWEEPS = 8


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
        """The copula correlation of each particle (its PDG id's, else the pooled one)."""
        pooled = float(self.rho.get("pooled", 0.0))
        rho = np.array([float(self.rho.get(str(int(c)), pooled)) for c in pdgid]) if self.rho else np.zeros(len(pdgid))
        return np.clip(rho, -MAX_RHO, MAX_RHO)

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
        probs = self.gate.probabilities(cond)
        states = self.gate.draw(cond, seed=seed, given_lit=not include_none, probs=probs)
        lit = {"zn": (states & 1) > 0, "zp": (states & 2) > 0}
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0]))
        rho = self.latent_rho(pdgid)
        t = {"zn": ndtri(np.clip(probs[:, 0] + probs[:, 2], 1e-9, 1 - 1e-9)),
             "zp": ndtri(np.clip(probs[:, 0] + probs[:, 1], 1e-9, 1 - 1e-9))}
        a, b = quadrant_gibbs(rho, t["zn"], t["zp"], lit["zn"], lit["zp"], rng)
        u = {}
        for d, x in (("zn", a), ("zp", b)):
            low = ndtr(t[d])
            u[d] = np.clip((ndtr(x) - low) / np.maximum(1 - low, 1e-12), 0.0, 1 - 1e-12)
        any_lit = np.maximum(probs[:, 1:].sum(axis=1), 1e-12)
        q = {"zn": (probs[:, 1] + probs[:, 3]) / any_lit, "zp": (probs[:, 2] + probs[:, 3]) / any_lit}
        resp, failed = {}, {}
        for j, (d, g) in enumerate(self.generators.items()):
            img = np.zeros((m, *g.detector.shape), np.uint16)
            rows = np.flatnonzero(lit[d])
            multi = (np.abs(rho) >= RHO_MIN) | (q[d] < Q_ONE)
            if rows.size:
                quantile = 1.0 - q[d][rows] + q[d][rows] * u[d][rows]
                img[rows], failed[d] = self._pick(g, cond[rows], quantile, multi[rows], seed * 2 + j, batch_size, rng)
            else:
                failed[d] = 0
            resp[d] = img
        return states, resp, failed

    def _pick(self, g, cond, u, multi, seed, batch_size, rng):
        """One non-empty response per row: the candidate at quantile ``u`` of all candidates by photon sum
        (``candidates`` of them for the rows in ``multi``, one for the others), moved up to the first
        non-empty one."""
        n = len(cond)
        mc = self.candidates if multi.any() else 1
        first = g.generate(cond, seed=_seed(seed, 0), batch_size=batch_size)
        cands = np.zeros((mc, *first.shape), first.dtype)
        cands[0] = first
        sums = np.zeros((mc, n))
        sums[0] = first.reshape(n, -1).sum(axis=1, dtype=np.int64)
        nonempty = np.zeros((mc, n), bool)
        nonempty[0] = sums[0] > 0
        sub = np.flatnonzero(multi)
        for k in range(1, mc):
            extra = g.generate(cond[sub], seed=_seed(seed, k), batch_size=batch_size)
            cands[k, sub] = extra
            sums[k, sub] = extra.reshape(len(sub), -1).sum(axis=1, dtype=np.int64)
            nonempty[k, sub] = sums[k, sub] > 0
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
        made = np.zeros((mc, n), bool)
        made[0] = True
        made[1:, sub] = True
        key = np.where(made, sums + rng.random(sums.shape) * 0.5, np.inf)  # empties first, ties at random
        order = np.argsort(key, axis=0)
        n_made = made.sum(axis=0)
        n_empty = (made & ~nonempty).sum(axis=0)
        k = np.minimum((u * n_made).astype(np.int64), n_made - 1)
        k = np.minimum(np.maximum(k, n_empty), n_made - 1)
        chosen = order[k, np.arange(n)]
        return cands[chosen, np.arange(n)], int(todo.size)


def _truncated(mean, sd, lo, hi, rng):
    """Normal(mean, sd) draws truncated to [lo, hi] (inverse CDF)."""
    a, b = ndtr((lo - mean) / sd), ndtr((hi - mean) / sd)
    p = a + rng.random(len(mean)) * np.maximum(b - a, 0.0)
    return mean + sd * ndtri(np.clip(p, 1e-15, 1 - 1e-15))


def quadrant_gibbs(rho, t_a, t_b, a_above, b_above, rng, sweeps: int = GIBBS_SWEEPS):
    """Standard bivariate normal pairs of correlation ``rho`` drawn given ``a > t_a`` (where ``a_above``,
    else ``a <= t_a``) and likewise for ``b``: Gibbs sampling of the two truncated conditionals."""
    inf = np.full(len(rho), np.inf)
    lo_a, hi_a = np.where(a_above, t_a, -inf), np.where(a_above, inf, t_a)
    lo_b, hi_b = np.where(b_above, t_b, -inf), np.where(b_above, inf, t_b)
    zeros, ones = np.zeros(len(rho)), np.ones(len(rho))
    a = _truncated(zeros, ones, lo_a, hi_a, rng)
    b = _truncated(zeros, ones, lo_b, hi_b, rng)
    sd = np.sqrt(1 - rho**2)
    for _ in range(sweeps):
        a = _truncated(rho * b, sd, lo_a, hi_a, rng)
        b = _truncated(rho * a, sd, lo_b, hi_b, rng)
    return a, b


def _seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, 0x51, k]).generate_state(1, np.uint64)[0]) % (2**62)


def load_joint(gate: Any = "weights/gate", zn: Any = "weights/fmd-zn", zp: Any = "weights/fmd-zp", *,
               candidates: int = 4, copula: bool = True, **load_options: Any) -> JointGenerator:
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
