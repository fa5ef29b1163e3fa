"""Summary statistics of a dataset file, streamed in chunks (bounded memory)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..conditions import FEATURE_NAMES, FEATURE_UNITS
from .dataset import Dataset

QUANTILES = (0.25, 0.5, 0.75)


def summarize(chunks: Iterable[Dataset]) -> dict[str, Any]:
    """Rows, detector, empty fraction, photon-sum quantiles (all and non-zero), zero-pixel fraction,
    max pixel and per-feature statistics (mean, std, min, quartiles, max) over all chunks."""
    sums: list[np.ndarray] = []
    conds: list[np.ndarray] = []
    zero_pixels = 0
    n_pixels = 0
    max_pixel = 0
    det = None
    attrs: dict[str, Any] = {}
    pdg: dict[int, int] = {}
    for ds in chunks:
        det = ds.detector
        attrs = ds.attrs
        flat = ds.responses.reshape(len(ds), -1)
        sums.append(flat.sum(axis=1, dtype=np.int64))
        zero_pixels += int((flat == 0).sum())
        n_pixels += flat.size
        max_pixel = max(max_pixel, int(flat.max(initial=0)))
        conds.append(ds.conditions)
        ids, counts = np.unique(ds.pdgid, return_counts=True)
        for i, c in zip(ids.tolist(), counts.tolist(), strict=True):
            pdg[i] = pdg.get(i, 0) + c
    assert det is not None, "no data"
    total = np.concatenate(sums)
    cond = np.concatenate(conds).astype(np.float64)
    nonzero = total[total > 0]
    features = {}
    for k, (name, unit) in enumerate(zip(FEATURE_NAMES, FEATURE_UNITS, strict=True)):
        col = cond[:, k]
        q = np.quantile(col, QUANTILES)
        features[name] = {
            "unit": unit,
            "mean": float(col.mean()),
            "std": float(col.std()),
            "min": float(col.min()),
            "q25": float(q[0]),
            "median": float(q[1]),
            "q75": float(q[2]),
            "max": float(col.max()),
        }
    top_pdg = dict(sorted(pdg.items(), key=lambda kv: -kv[1])[:8])
    return {
        "rows": int(total.size),
        "detector": det.name,
        "shape": list(det.shape),
        "synthetic": bool(attrs.get("synthetic", False)),
        "generator": str(attrs.get("generator", "unknown")),
        "seed": attrs.get("seed"),
        "empty_fraction": float(np.mean(total == 0)),
        "photon_sum": _quantiles(total),
        "photon_sum_nonzero": _quantiles(nonzero),
        "zero_pixel_fraction": zero_pixels / n_pixels,
        "max_pixel": max_pixel,
        "features": features,
        "pdgid_counts": {str(k): v for k, v in top_pdg.items()},
    }


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if x.size == 0:
        return {"min": 0.0, "q25": 0.0, "median": 0.0, "q75": 0.0, "max": 0.0, "mean": 0.0}
    q = np.quantile(x, QUANTILES)
    return {
        "min": float(x.min()),
        "q25": float(q[0]),
        "median": float(q[1]),
        "q75": float(q[2]),
        "max": float(x.max()),
        "mean": float(x.mean()),
    }
