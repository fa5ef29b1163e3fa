"""The public driver: particles in, ZN/ZP photo-electron images out, streamed batch by batch.

Determinism: events are simulated in fixed internal chunks of ``CHUNK`` rows; chunk ``i`` draws from
``SeedSequence(seed, spawn_key=(i, stream))`` (stream 0 = particles and physics, 1 = ZN placement,
2 = ZP placement). Hence the same seed and inputs give identical output whatever ``batch_size`` and
whichever detectors are requested.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..detector import ZN, ZP
from ..errors import FastZDCError
from .params import MCParams, default_params
from .particles import sample_particles
from .render import Components, render, sample_counts
from .species import pdg_guess
from .spray import add_crosstalk, add_spray
from .transport import DIRECT, decay_in_flight, primaries, transport

GENERATOR_NAME = "fastzdc.mc parametric stand-in (synthetic, not GEANT/O2)"
MODES = ("fast", "detailed")
CHUNK = 2048
_DETS = {"zn": (ZN, 0), "zp": (ZP, 1)}


@dataclass
class SimBatch:
    """One batch of simulated events.

    conditions: ``(m, 9)`` float32 (dataset units); pdgid: ``(m,)`` int32; responses: ``{"zn": (m, 44, 44),
    "zp": (m, 56, 30)}`` uint16 photo-electron counts (only the requested detectors).
    """

    conditions: np.ndarray
    pdgid: np.ndarray
    responses: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.conditions)


def _rngs(seed: int, chunk: int) -> list[np.random.Generator]:
    return [np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(chunk, s))) for s in range(3)]


def simulate_chunk(cond: np.ndarray, rngs: Sequence[np.random.Generator], params: MCParams, mode: str,
                   detectors: Sequence[str]) -> dict[str, np.ndarray]:
    """Images for every row of ``cond`` (no filtering). ``rngs`` = (physics, ZN placement, ZP placement)."""
    rng = rngs[0]
    m = len(cond)
    tracks = decay_in_flight(primaries(cond, rng, params), rng)
    arr = transport(tracks, rng, params)
    comp = Components()
    direct = np.flatnonzero(arr.fate == DIRECT)
    det = arr.det[direct].astype(np.int8)
    extra: dict[str, np.ndarray] = {}
    if mode == "fast":
        from .shower_fast import add_direct

        mu, grp = add_direct(comp, arr.evt[direct], det, arr.energy[direct], arr.x[direct], arr.y[direct],
                             arr.kind[direct], rng, params, 0)
    else:
        from .shower_detailed import detailed_direct

        extra, mu = detailed_direct(arr.evt[direct], det, arr.energy[direct], arr.x[direct], arr.y[direct],
                                    arr.kind[direct], m, rng, params, detectors)
        grp = 0
    grp = add_crosstalk(comp, arr.evt[direct], det, arr.y[direct], mu, rng, params, grp)
    add_spray(comp, arr, arr.fate != DIRECT, arr.loss, rng, params, grp)
    c = comp.arrays()
    counts = sample_counts(c, rng, params.fano)
    out = {}
    for name in detectors:
        d, did = _DETS[name]
        img = render(c, counts, d, did, m, rngs[1 + did])
        if name in extra:
            img = np.minimum(img.astype(np.int64) + extra[name], 65535).astype(np.uint16)
        out[name] = img
    return out


def _check_detectors(detectors) -> tuple[str, ...]:
    if isinstance(detectors, str):
        detectors = (detectors,)
    dets = tuple(str(d).lower() for d in detectors)
    if not dets or any(d not in _DETS for d in dets) or len(set(dets)) != len(dets):
        raise FastZDCError(f"detectors must be a non-empty subset of ('zn', 'zp'), got {detectors!r}")
    return dets


def validate_conditions(conditions) -> np.ndarray:
    """``(N, 9)`` finite float array with N >= 1, else FastZDCError."""
    try:
        c = np.asarray(conditions, dtype=np.float64)
    except (TypeError, ValueError):
        raise FastZDCError("conditions must be a numeric array of shape (N, 9)") from None
    if c.ndim != 2 or c.shape[1] != 9 or c.shape[0] == 0:
        raise FastZDCError(f"conditions must have shape (N, 9) with N >= 1, got {c.shape}")
    if not np.isfinite(c).all():
        raise FastZDCError("conditions contain NaN or infinite values")
    if (c[:, 0] <= 0).any():
        raise FastZDCError("conditions: energy (column 0) must be positive")
    return c


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise FastZDCError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def iter_simulate(n: int | None = None, conditions: np.ndarray | None = None, pdgid: np.ndarray | None = None, *,
                  detectors: Sequence[str] = ("zn", "zp"), mode: str = "fast", seed: int = 0,
                  params: MCParams | None = None, repeat: int = 1, keep_nonempty_only: bool = False,
                  batch_size: int = 8192) -> Iterator[SimBatch]:
    """Stream :class:`SimBatch` es of at most ``batch_size`` events.

    Either ``n`` (primaries from :func:`sample_particles` until ``n`` events have been yielded, after the
    filter) or ``conditions`` (each row simulated ``repeat`` times consecutively). ``keep_nonempty_only``
    drops events whose ZN and ZP images are both empty (O2's filter; both detectors are always simulated
    for that decision).
    """
    if mode not in MODES:
        raise FastZDCError(f"unknown MC mode {mode!r}; choose 'fast' or 'detailed'")
    dets = _check_detectors(detectors)
    batch_size = _positive_int(batch_size, "batch_size")
    repeat = _positive_int(repeat, "repeat")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FastZDCError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    params = params or default_params()
    if (n is None) == (conditions is None):
        raise FastZDCError("give either n (sample particles) or conditions, not both")
    sim_dets = ("zn", "zp") if keep_nonempty_only else dets
    if conditions is not None:
        cond_all = validate_conditions(conditions).astype(np.float32)
        if pdgid is None:
            pdg_all = pdg_guess(cond_all[:, 7], cond_all[:, 8])
        else:
            pdg_all = np.asarray(pdgid).astype(np.int32).reshape(-1)
            if pdg_all.shape[0] != cond_all.shape[0]:
                raise FastZDCError(f"pdgid has {pdg_all.shape[0]} rows, conditions {cond_all.shape[0]}")
        total = cond_all.shape[0] * repeat
    else:
        n = _positive_int(n, "n")
        total = None

    buf: list[SimBatch] = []
    buffered = 0
    yielded = 0
    chunk = 0
    while True:
        if total is not None and chunk * CHUNK >= total:
            break
        if total is None and yielded + buffered >= n:
            break
        rngs = _rngs(seed, chunk)
        if total is None:
            cond, pdg = sample_particles(CHUNK, rngs[0], params)
        else:
            rows = np.arange(chunk * CHUNK, min((chunk + 1) * CHUNK, total)) // repeat
            cond, pdg = cond_all[rows], pdg_all[rows]
        imgs = simulate_chunk(cond, rngs, params, mode, sim_dets)
        if keep_nonempty_only:
            keep = (imgs["zn"].reshape(len(cond), -1).any(axis=1)) | (imgs["zp"].reshape(len(cond), -1).any(axis=1))
            cond, pdg = cond[keep], pdg[keep]
            imgs = {k: v[keep] for k, v in imgs.items()}
        if total is None:
            need = n - yielded - buffered
            if len(cond) > need:
                cond, pdg = cond[:need], pdg[:need]
                imgs = {k: v[:need] for k, v in imgs.items()}
        buf.append(SimBatch(cond, pdg, {k: imgs[k] for k in dets}))
        buffered += len(cond)
        chunk += 1
        while buffered >= batch_size:
            out, buf, buffered = _take(buf, batch_size)
            yielded += len(out)
            yield out
    while buffered > 0:
        out, buf, buffered = _take(buf, min(batch_size, buffered))
        yielded += len(out)
        yield out


def _take(buf: list[SimBatch], k: int) -> tuple[SimBatch, list[SimBatch], int]:
    """First ``k`` events of the buffer as one batch, and the rest."""
    cat = _concat(buf)
    head = SimBatch(cat.conditions[:k], cat.pdgid[:k], {d: v[:k] for d, v in cat.responses.items()})
    tail = SimBatch(cat.conditions[k:], cat.pdgid[k:], {d: v[k:] for d, v in cat.responses.items()})
    rest = [tail] if len(tail) else []
    return head, rest, len(tail)


def _concat(batches: list[SimBatch]) -> SimBatch:
    if len(batches) == 1:
        return batches[0]
    return SimBatch(
        np.concatenate([b.conditions for b in batches]),
        np.concatenate([b.pdgid for b in batches]),
        {d: np.concatenate([b.responses[d] for b in batches]) for d in batches[0].responses},
    )


def simulate(n: int | None = None, conditions: np.ndarray | None = None, pdgid: np.ndarray | None = None, *,
             detectors: Sequence[str] = ("zn", "zp"), mode: str = "fast", seed: int = 0,
             params: MCParams | None = None, repeat: int = 1, keep_nonempty_only: bool = False,
             batch_size: int = 8192) -> SimBatch:
    """All of :func:`iter_simulate` in one :class:`SimBatch` (for small sizes)."""
    batches = list(iter_simulate(n, conditions, pdgid, detectors=detectors, mode=mode, seed=seed, params=params,
                                 repeat=repeat, keep_nonempty_only=keep_nonempty_only, batch_size=batch_size))
    dets = _check_detectors(detectors)
    if not batches:
        shapes = {d: _DETS[d][0].shape for d in dets}
        return SimBatch(np.zeros((0, 9), np.float32), np.zeros(0, np.int32),
                        {d: np.zeros((0, *s), np.uint16) for d, s in shapes.items()})
    return _concat(batches)


def simulate_nonempty(conditions: np.ndarray, pdgid: np.ndarray | None = None, *, detectors=("zn", "zp"),
                      mode: str = "fast", seed: int = 0, params: MCParams | None = None, max_rounds: int = 64,
                      batch_size: int = 8192) -> dict[str, np.ndarray]:
    """One response per row, drawn *given that O2's filter keeps it* (ZN or ZP light > 0).

    Rows whose ZN and ZP images are both empty are re-simulated with fresh randomness (round r uses
    seed stream ``(seed, r)``) until they pass: rejection sampling from the conditional distribution
    that a filtered dataset holds. This is the right "original data" floor for filtered data. Rows that
    fail ``max_rounds`` times (particles that almost never reach a ZDC) stay empty.
    """
    cond = validate_conditions(conditions)
    dets = _check_detectors(detectors)
    out = {d: np.zeros((len(cond), *_DETS[d][0].shape), np.uint16) for d in ("zn", "zp")}
    todo = np.arange(len(cond))
    for r in range(max_rounds):
        if todo.size == 0:
            break
        sub_pdg = None if pdgid is None else np.asarray(pdgid)[todo]
        batch = simulate(conditions=cond[todo], pdgid=sub_pdg, detectors=("zn", "zp"), mode=mode,
                         seed=int(np.random.SeedSequence([seed, r]).generate_state(1)[0]), params=params,
                         batch_size=batch_size)
        for d in ("zn", "zp"):
            out[d][todo] = batch.responses[d]
        lit = (batch.responses["zn"].reshape(len(todo), -1).any(axis=1)
               | batch.responses["zp"].reshape(len(todo), -1).any(axis=1))
        todo = todo[~lit]
    return {d: out[d] for d in dets}
