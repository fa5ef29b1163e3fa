"""Per-condition diversity: does the model vary as much as the Monte Carlo for one and the same particle?

For ``n`` conditions, each generated ``k`` times, the spread of a feature ``f`` is

``spread(f) = mean over conditions c of std_{r=1..k}(f[r, c])``  (sample std, ``ddof=1``),

computed for the model and for the reference generator (the Monte Carlo) on the same conditions,
and reported with their ratio (model / reference; 1 = same diversity, < 1 = mode collapse /
too little noise, > 1 = too much). Standard errors: ``std over conditions / sqrt(n)`` of each
spread; for the ratio the delta method with the covariance of the two per-condition spreads (both
generators see the same conditions, so the spreads are correlated across conditions):
``(err_ratio / ratio)^2 = var_m / m^2 + var_r / r^2 - 2 cov_mr / (m r)`` (variances and covariance of
the two means).

Features (:mod:`.features`): ``photon_sum`` (dominated by the bright, high-energy conditions),
``log1p_photon_sum`` (every energy weighs alike), ``centroid_x`` and ``centroid_y`` (fibres; an
empty repeat sits at the centre 0, so on conditions that are sometimes empty the centroid spread
also reflects the empty fraction — for both generators alike).

Layout: ``k`` generations of ``n`` conditions are stored **repetition-major**, ``(k * n, nx, ny)``
with all n rows of repetition 0 first (as :func:`fastzdc.evaluation.metrics.evaluate_generator`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.validate import validate_conditions
from ..detector import Detector
from ..errors import FastZDCError
from ..generator import Generator
from .features import CENTROID_X, CENTROID_Y, PHOTON_SUM, high_level_features

DIVERSITY_FEATURES: tuple[str, ...] = ("photon_sum", "log1p_photon_sum", "centroid_x", "centroid_y")


def _per_condition_std(detector: Detector, counts: np.ndarray, k: int) -> dict[str, np.ndarray]:
    if k < 2:
        raise FastZDCError(f"diversity needs k >= 2 repeats, got {k}")
    if len(counts) % k:
        raise FastZDCError(f"{len(counts)} rows are not k = {k} repetitions of the same conditions")
    f = high_level_features(detector, counts)
    n = len(f) // k
    cols = {
        "photon_sum": f[:, PHOTON_SUM],
        "log1p_photon_sum": np.log1p(f[:, PHOTON_SUM]),
        "centroid_x": f[:, CENTROID_X],
        "centroid_y": f[:, CENTROID_Y],
    }
    return {name: col.reshape(k, n).std(axis=0, ddof=1) for name, col in cols.items()}


def diversity_from_counts(
    detector: Detector, model_counts: np.ndarray, reference_counts: np.ndarray, k: int
) -> dict[str, Any]:
    """Spreads and ratios from ``k`` repetition-major generations of the same conditions by both generators.

    Returns:
        ``{"k", "n_conditions", <feature>: {"model", "model_err", "reference", "reference_err",
        "ratio", "ratio_err"} for each of DIVERSITY_FEATURES}`` (``ratio`` is ``None`` when the
        reference spread is 0).
    """
    if len(model_counts) != len(reference_counts):
        raise FastZDCError(
            f"model and reference need the same rows, got {len(model_counts)} and {len(reference_counts)}"
        )
    sm = _per_condition_std(detector, model_counts, k)
    sr = _per_condition_std(detector, reference_counts, k)
    n = len(model_counts) // k
    out: dict[str, Any] = {"k": int(k), "n_conditions": int(n)}
    for name in DIVERSITY_FEATURES:
        m, r = float(sm[name].mean()), float(sr[name].mean())
        if n > 1:
            cov = np.cov(sm[name], sr[name]) / n  # covariance matrix of the two means
            var_m, var_r, cov_mr = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
        else:
            var_m = var_r = cov_mr = float("nan")
        entry: dict[str, Any] = {"model": m, "model_err": float(np.sqrt(var_m)), "reference": r,
                                 "reference_err": float(np.sqrt(var_r)), "ratio": None, "ratio_err": None}
        if r > 0:
            ratio = m / r
            entry["ratio"] = ratio
            if m > 0:
                rel2 = var_m / m**2 + var_r / r**2 - 2.0 * cov_mr / (m * r)
                entry["ratio_err"] = float(ratio * np.sqrt(max(rel2, 0.0)))
        out[name] = entry
    return out


def diversity(
    model: Generator,
    reference: Generator,
    conditions: np.ndarray,
    *,
    k: int = 5,
    n_conditions: int = 200,
    seed: int = 0,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """Generate ``k`` responses for each of ``n_conditions`` rows of ``conditions`` with ``model`` and
    ``reference`` (e.g. ``MonteCarloGenerator(det, nonempty=True)``) and compare their per-condition spread.

    The rows are a seeded random choice without replacement (all rows when there are fewer); the
    model generates with ``seed``, the reference with ``seed + 1``.

    Returns:
        :func:`diversity_from_counts` output plus ``"model_name"`` and ``"reference_name"``.
    """
    cond = validate_conditions(conditions)
    if model.detector.name != reference.detector.name:
        raise FastZDCError(
            f"model is for {model.detector.name.upper()}, reference for {reference.detector.name.upper()}"
        )
    if n_conditions < 2:
        raise FastZDCError(f"n_conditions must be >= 2, got {n_conditions}")
    rows = np.random.default_rng(np.random.SeedSequence([seed, 0xD1F])).permutation(len(cond))[:n_conditions]
    tiled = np.tile(cond[np.sort(rows)], (k, 1))
    gm = model.generate(tiled, seed=seed, batch_size=batch_size)
    gr = reference.generate(tiled, seed=seed + 1, batch_size=batch_size)
    out = diversity_from_counts(model.detector, np.asarray(gm), np.asarray(gr), k)
    return {"model_name": str(model.name), "reference_name": str(reference.name)} | out
