"""Generation of a shard's rows, chunk by chunk, resumable, into one HDF5 file.

Chunk ``k`` is the global rows ``[k*chunk, (k+1)*chunk)`` of the conditions file; its noise comes from
seed ``seed*7919 + k`` and the row inside the chunk, exactly as in a one-process run. A shard whose row
range starts or ends inside a chunk generates that whole chunk and keeps its own rows (at most two
chunks of extra work per shard; none when the shard bounds fall on chunk bounds), so every row is the
row a one-process run writes, for every generator (PyTorch in float32 or bfloat16, ONNX Runtime, the
look-up). Completed chunks go to the work folder (:mod:`fastzdc.production.workdir`) and are joined
into the output at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..data import H5Writer
from ..data.conditions_stream import ConditionsSource
from ..data.join import append_file
from ..errors import FastZDCError
from ..generator import Generator
from .provenance import model_sha256
from .shards import Shard
from .workdir import WorkDir

SATURATED = int(np.iinfo(np.uint16).max)
CHUNK_SEED = 7919
"""chunk ``k`` is generated with seed ``seed * CHUNK_SEED + k``"""


def chunk_seed(seed: int, k: int) -> int:
    return seed * CHUNK_SEED + k


def provenance(gen: Generator, model: str | Path, source: ConditionsSource, *, seed: int, chunk: int,
               shard: Shard) -> dict[str, Any]:
    """The attributes that tie a (shard) file to its model, conditions, seed, sampler and rows."""
    a, b = shard.rows(source.n)
    return {
        "seed": seed,
        "sampler": json.dumps(gen.sampler, sort_keys=True),
        "backend": gen.backend,
        "precision": gen.precision,
        "model_sha256": model_sha256(model),
        "conditions_sha256": source.sha256(),
        "rows_total": source.n,
        "chunk_rows": int(chunk),
        "shard_index": shard.index,
        "shard_count": shard.count,
        "row_start": int(a),
        "row_stop": int(b),
    }


def generate_rows(
    gen: Generator,
    source: ConditionsSource,
    out: str | Path,
    attrs: dict[str, Any],
    *,
    seed: int,
    chunk: int,
    shard: Shard,
    batch_size: int,
    fingerprint: dict[str, Any],
    advance: Any = None,
) -> dict[str, Any]:
    """Generate the shard's rows into ``out`` through the work folder; returns what was done.

    ``attrs``: the output's attributes (with :func:`provenance`); ``fingerprint``: the run's arguments
    (a work folder with another fingerprint is emptied first)."""
    n = source.n
    a, b = shard.rows(n)
    if a == b:
        raise FastZDCError(f"shard {shard} of {n} rows holds no rows: use at most {n} shards", out)
    t0 = time.perf_counter()
    generated = reused = 0
    with WorkDir(out, fingerprint) as wd:
        for k in range(a // chunk, (b - 1) // chunk + 1):
            cs, ce = k * chunk, min(n, (k + 1) * chunk)
            lo, hi = max(a, cs), min(b, ce)
            if wd.done(k, hi - lo):
                reused += hi - lo
                if advance is not None:
                    advance(hi - lo)
                continue
            whole = lo == cs and hi == ce
            conditions, pdgid = source.rows(cs, ce)
            counts = gen.generate(conditions, seed=chunk_seed(seed, k), batch_size=batch_size,
                                  advance=advance if whole else None)[lo - cs : hi - cs]
            if not whole and advance is not None:
                advance(hi - lo)
            saturated = int(np.count_nonzero(counts >= SATURATED))
            with H5Writer(wd.chunk_path(k), gen.detector, {**attrs, "saturated_pixels": saturated,
                                                           "row_start": lo, "row_stop": hi}) as w:
                w.append(conditions[lo - cs : hi - cs], counts, pdgid[lo - cs : hi - cs])
            generated += hi - lo
        chunks_s = time.perf_counter() - t0
        saturated = 0
        raw = 0
        with H5Writer(out, gen.detector, attrs) as w:
            for p in wd.chunks():
                with h5py.File(p, "r") as f:
                    saturated += int(f.attrs.get("saturated_pixels", 0))
                raw += append_file(w, p)["raw_rows"]
            if w.n != b - a:
                raise FastZDCError(f"the work folder holds {w.n} rows, expected {b - a}", wd.path)
            w.attrs_update({"saturated_pixels": saturated, "saturation_count": SATURATED})
        wd.remove()
    return {"rows": b - a, "row_start": a, "row_stop": b, "generated_rows": generated, "resumed_rows": reused,
            "saturated_pixels": saturated, "seconds_chunks": round(chunks_s, 3),
            "seconds_join": round(time.perf_counter() - t0 - chunks_s, 3), "raw_copied_rows": raw}
