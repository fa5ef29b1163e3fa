"""Library functions behind the gate commands (``fastzdc gate train / evaluate / export``): plain
arguments in, a dict of what was done out, like :mod:`fastzdc.workflows`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._atomic import check_dir_writable, check_not_input
from .checkpoint import file_sha256
from .data.pair import partner_paths, read_lit_pair
from .errors import FastZDCError


def pair_files(data: str | Path) -> tuple[Path, Path]:
    """The ZN and ZP files of a ``simulate --detector both`` run from either member or the stem."""
    zn, zp = partner_paths(data)
    for p in (zn, zp):
        if not p.is_file():
            raise FastZDCError(f"missing the {'ZN' if p == zn else 'ZP'} file of the pair (expected {p.name})", p)
    return zn, zp


def train_gate_files(data: str | Path, out: str | Path, *, progress: bool = True, threads: int | None = 1,
                     **options: Any) -> dict[str, Any]:
    """Train the response gate on the unfiltered ZN/ZP pair ``data`` (``<stem>_zn.h5`` / ``<stem>_zp.h5``)
    and write its checkpoint folder ``out``. ``options``: :data:`fastzdc.training.gate.DEFAULTS`."""
    from .evaluation.gate import gate_scores
    from .training.gate import fit_gate, save_gate

    zn, zp = pair_files(data)
    out = check_dir_writable(out)
    check_not_input(out, [zn, zp])
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    pair, _ = read_lit_pair(zn, zp)
    fit = fit_gate(pair, zn, progress=progress, **options)
    val = fit["val"]
    x = torch.from_numpy(fit["scaler"].transform(pair.conditions[val]).astype(np.float32))
    with torch.no_grad():
        probs = torch.softmax(fit["net"](x).double(), dim=1).numpy()
        raw = torch.softmax(fit["val_logits_raw"].double(), dim=1).numpy()
    metrics = {"val_rows": len(val), "train_rows": len(pair) - len(val), "temperature": fit["temperature"],
               "val": gate_scores(probs, pair.states[val]),
               "val_before_temperature": gate_scores(raw, pair.states[val])}
    data_meta = {"zn": str(zn), "zp": str(zp), "sha256_zn": file_sha256(zn), "sha256_zp": file_sha256(zp),
                 "rows": len(pair), "synthetic": bool(pair.attrs.get("synthetic", False))}
    seconds = round(time.perf_counter() - t0, 1)
    path = save_gate(out, fit["net"], fit["scaler"], fit["hparams"], metrics, data_meta,
                     {"seconds": seconds, "steps": fit["steps"], "threads": torch.get_num_threads()})
    return {"out": str(path), "seconds": seconds, **metrics}


def evaluate_gate_files(gate: str | Path, data: str | Path, *, redraws: int = 0, seed: int = 0) -> dict[str, Any]:
    """Score a gate on an unfiltered ZN/ZP pair: ECE and AUC per event (:mod:`fastzdc.evaluation.gate`). With
    ``redraws`` K >= 1 the Monte Carlo re-simulates the same particles K times (its own predictor: one
    redraw as a 0/1 guess, and the frequency over K), the discrimination the gate is measured against."""
    from . import mc
    from .evaluation.gate import gate_scores, redraw_reference
    from .inference.gate import load_gate

    zn, zp = pair_files(data)
    pair, _ = read_lit_pair(zn, zp)
    g = load_gate(gate)
    t0 = time.perf_counter()
    probs = g.probabilities(pair.conditions)
    result: dict[str, Any] = {"gate": str(gate), "data": str(zn), "rows": len(pair),
                              "ms_per_particle": 1e3 * (time.perf_counter() - t0) / len(pair),
                              "scores": gate_scores(probs, pair.states)}
    if redraws:
        draws = []
        for k in range(redraws):
            b = mc.simulate(conditions=pair.conditions, pdgid=pair.pdgid, seed=seed + 1_000_003 * (k + 1))
            lit = {d: b.responses[d].reshape(len(pair), -1).any(axis=1) for d in ("zn", "zp")}
            draws.append(lit["zn"].astype(np.int64) + 2 * lit["zp"].astype(np.int64))
        result["monte_carlo"] = redraw_reference(np.stack(draws), pair.states)
    return result
