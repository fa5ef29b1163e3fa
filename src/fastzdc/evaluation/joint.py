"""Scores of ZN and ZP responses *of the same particles*: what separate ZN and ZP scores cannot see.

* **occupancy**: the 2 x 2 table of (ZN lit, ZP lit) as fractions of the particles (cells ``none``,
  ``zn_only``, ``zp_only``, ``both``), overall and per species group
  (:func:`fastzdc.evaluation.conditional.species_groups`);
* **correlation** of ``log1p`` photon sums, ZN against ZP, over all particles of a group (empty
  responses included, at ``log1p(0) = 0``): Pearson's r;
* **joint classifier AUC**: the gradient-boosted classifier of :func:`classifier_auc_features` on the
  12 high-level features of ZN *and* of ZP of each particle, with the particle features appended
  (conditional): 0.5 when the joint response of each particle is indistinguishable from the reference;
  beside it each detector's own AUC on its 5 channel sums given the particle (single-detector fidelity).

:func:`joint_targets` checks a row against the targets: every occupancy cell within 2 percentage points
overall and 4 per species group of at least ``min_species`` particles; correlation within 0.05 per such
group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..detector import ZN, ZP
from .classifier import classifier_auc_features
from .conditional import species_groups
from .features import PHOTON_SUM, high_level_features, transform_features

CELLS = ("none", "zn_only", "zp_only", "both")
MIN_SPECIES = 500


def occupancy(zn: np.ndarray, zp: np.ndarray) -> dict[str, float]:
    """Fractions of the 4 cells from the photon sums (or any per-row non-negative totals) of ZN and ZP."""
    state = (np.asarray(zn) > 0).astype(np.int64) + 2 * (np.asarray(zp) > 0).astype(np.int64)
    counts = np.bincount(state, minlength=4) / max(len(state), 1)
    return dict(zip(CELLS, map(float, counts), strict=True))


def log_sum_correlation(zn: np.ndarray, zp: np.ndarray) -> float | None:
    """Pearson's r of log1p photon sums (None for fewer than 3 rows or a constant column)."""
    a, b = np.log1p(np.asarray(zn, np.float64)), np.log1p(np.asarray(zp, np.float64))
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _group_scores(sums_zn: np.ndarray, sums_zp: np.ndarray) -> dict[str, Any]:
    return {"n": len(sums_zn), "occupancy": occupancy(sums_zn, sums_zp), "correlation": log_sum_correlation(sums_zn, sums_zp)}


def joint_scores(conditions: np.ndarray, pdgid: np.ndarray | None, reference: tuple[np.ndarray, np.ndarray],
                 generated: tuple[np.ndarray, np.ndarray], *, seed: int = 0, classifier: bool = True) -> dict[str, Any]:
    """Occupancy, correlation (overall and per species group) and the joint conditional classifier AUC of
    ``generated`` = (ZN images, ZP images) against ``reference`` (the same particles' responses)."""
    feats = {}
    for side, (zn, zp) in (("reference", reference), ("generated", generated)):
        feats[side] = (high_level_features(ZN, zn), high_level_features(ZP, zp))
    groups = species_groups(conditions, pdgid)
    out: dict[str, Any] = {}
    for side, (fzn, fzp) in feats.items():
        sums = (fzn[:, PHOTON_SUM], fzp[:, PHOTON_SUM])
        entry = {"overall": _group_scores(*sums), "species": {}}
        for g in sorted(set(groups)):
            m = groups == g
            entry["species"][g] = _group_scores(sums[0][m], sums[1][m])
        out[side] = entry
    if classifier:
        ref_zn, ref_zp = feats["reference"]
        gen_zn, gen_zp = feats["generated"]
        r = classifier_auc_features(ref_zn, gen_zn, conditions=conditions, seed=seed,
                                    extra=(transform_features(ref_zp), transform_features(gen_zp)))
        out["auc_joint_conditional"] = {"value": r["auc"], "error": r["auc_err"]}
        for d, ref_f, gen_f in (("zn", ref_zn, gen_zn), ("zp", ref_zp, gen_zp)):
            r = classifier_auc_features(ref_f, gen_f, conditions=conditions, columns=(0, 1, 2, 3, 4), seed=seed)
            out[f"auc_sums_conditional_{d}"] = {"value": r["auc"], "error": r["auc_err"]}
    out["targets"] = joint_targets(out["reference"], out["generated"])
    return out


def joint_targets(reference: dict[str, Any], generated: dict[str, Any], *, min_species: int = MIN_SPECIES) -> dict[str, Any]:
    """Largest occupancy-cell difference (percentage points) and correlation difference, overall and per
    species group with at least ``min_species`` particles, and whether each meets its target."""

    def worst(ref: dict[str, Any], gen: dict[str, Any]) -> tuple[float, float | None]:
        cell = max(abs(gen["occupancy"][c] - ref["occupancy"][c]) for c in CELLS) * 100
        corr = None if ref["correlation"] is None or gen["correlation"] is None else abs(gen["correlation"] - ref["correlation"])
        return cell, corr

    cell, corr = worst(reference["overall"], generated["overall"])
    out: dict[str, Any] = {"overall": {"max_cell_pp": cell, "correlation_diff": corr, "cells_ok": cell <= 2.0}}
    for g, ref in reference["species"].items():
        if ref["n"] < min_species or g not in generated["species"]:
            continue
        cell, corr = worst(ref, generated["species"][g])
        out[g] = {"n": ref["n"], "max_cell_pp": cell, "correlation_diff": corr, "cells_ok": cell <= 4.0,
                  "correlation_ok": corr is not None and corr <= 0.05}
    out["all_ok"] = all(v.get("cells_ok", True) and v.get("correlation_ok", True) for k, v in out.items() if k != "all_ok")
    return out
