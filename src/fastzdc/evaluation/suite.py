"""One call for the whole fidelity comparison of a generated set against a reference set.

:func:`fidelity_suite` takes the conditions, the reference responses and **one generated response
per condition** (row k of all three belongs together) and returns a JSON-serialisable dict (NaN
becomes ``None``):

``detector`` (str), ``n_events`` (int), ``seed`` (int), ``quick`` (bool)
    what was compared.
``features``
    ``{"names": FEATURE_NAMES, "reference": {"mean", "std"}, "generated": {"mean", "std"},
    "w1_over_std": [...]}``: per high-level feature (:mod:`.features`, raw units) the means and
    standard deviations and the 1-D Wasserstein-1 distance divided by the reference std.
``channels``
    ``{"w_mean", "w_per_channel"}``: the published W (5 channel sums, one generation per condition).
``photon_sum``
    :func:`.conditional.photon_sum_agreement`: means, ratio, ``w1``, ``w1_over_mean`` and
    ``empty_fraction`` ``{"reference", "generated", "difference", "difference_err"}``.
``energy_bins``, ``species``
    lists of :func:`.conditional.slice_agreement` dicts (``n``, ``w_mean``, ``w_per_channel``,
    ``photon_sum``, ``empty_fraction``) with ``label``/``lo``/``hi`` resp. ``species``.
``classifier``
    ``{"features", "features_conditional", "sums", "sums_conditional", "images"}``, each ``{"auc",
    "auc_err", "n_train_per_class", "n_test_per_class", "method", "seconds"}`` (:mod:`.classifier`):
    on the 12 high-level features or on the 5 channel sums only, without or with the particle's
    features (*conditional*: the classifier sees which particle each response belongs to, so it can
    only gain from a wrong dependence on the particle); ``images`` is ``None`` with ``quick=True``.
    ``single_features``: one ``{"name", "auc", "auc_err"}`` per high-level feature
    (:func:`.classifier.single_feature_aucs`: which features separate the sets).
``fpd``, ``kpd``
    :func:`.fpd.fpd` (``value``, ``err``, ``min_samples``, ``max_samples``, ...) and :func:`.fpd.kpd`
    (``value``, ``err``, ``batch_size``, ``num_batches``) on the log1p-transformed features
    (:func:`.features.transform_features`), normalised by the reference's ``max |x|``.
``timing_s``
    wall seconds per part and ``total``.

The per-condition diversity needs generators and lives in :func:`.diversity.diversity`.

``quick=True`` skips the image CNN and halves the FPD/KPD batches (for smoke runs); the numbers
that remain are computed the same way.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from ..data.validate import validate_conditions
from ..detector import Detector
from ..errors import FastZDCError
from ._threads import DEFAULT_THREADS, limit_threads
from .classifier import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_IMAGE_EVENTS,
    classifier_auc_features,
    classifier_auc_images,
    single_feature_aucs,
)
from .conditional import ENERGY_EDGES_GEV, by_energy, by_species, channel_agreement, photon_sum_agreement
from .features import FEATURE_NAMES, check_images, high_level_features, transform_features
from .fpd import FPD_NUM_BATCHES, KPD_NUM_BATCHES, fpd, kpd

SUM_COLUMNS = (0, 1, 2, 3, 4)
"""the 5 channel sums among the 12 high-level features"""


def json_safe(obj: Any) -> Any:
    """Recursively turn NumPy scalars/arrays into Python types and NaN/inf floats into ``None``."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj


def feature_summary(ref_features: np.ndarray, gen_features: np.ndarray) -> dict[str, Any]:
    """Means, stds and ``W1 / std_ref`` per high-level feature (raw units)."""
    std_r = ref_features.std(axis=0)
    w1 = np.array([wasserstein_distance(ref_features[:, j], gen_features[:, j]) for j in range(ref_features.shape[1])])
    return {
        "names": list(FEATURE_NAMES),
        "reference": {"mean": ref_features.mean(axis=0), "std": std_r},
        "generated": {"mean": gen_features.mean(axis=0), "std": gen_features.std(axis=0)},
        "w1_over_std": np.where(std_r > 0, w1 / np.where(std_r > 0, std_r, 1.0), np.nan),
    }


def fidelity_suite(
    detector: Detector,
    conditions: np.ndarray,
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    seed: int = 0,
    quick: bool = False,
    pdgid: np.ndarray | None = None,
    energy_edges: tuple[float, ...] = ENERGY_EDGES_GEV,
    max_classifier_events: int = DEFAULT_MAX_EVENTS,
    max_image_events: int = DEFAULT_MAX_IMAGE_EVENTS,
    n_threads: int = DEFAULT_THREADS,
) -> dict[str, Any]:
    """All fidelity metrics of ``generated`` against ``reference`` (see the module docstring for the keys).

    Args:
        detector: ZN or ZP.
        conditions: ``(N, 9)`` particle features (dataset units).
        reference, generated: ``(N, nx, ny)`` photon counts; row k of each was produced for ``conditions[k]``.
        seed: seeds the classifier splits and fits and the FPD/KPD batches.
        quick: skip the image classifier and halve the FPD/KPD batches.
        pdgid: optional ``(N,)`` PDG ids for the species breakdown (else recovered from mass and charge).
        energy_edges: energy bin edges in GeV.
        max_classifier_events: cap per class for the feature classifiers.
        max_image_events: cap per class for the image CNN.
        n_threads: BLAS/OpenMP/torch threads for the whole suite (default 1: the kernels are small,
            and busy-waiting threads on a shared machine cost far more than they gain).
    """
    with limit_threads(n_threads):
        return _suite(detector, conditions, reference, generated, seed=seed, quick=quick, pdgid=pdgid,
                      energy_edges=energy_edges, max_classifier_events=max_classifier_events,
                      max_image_events=max_image_events, n_threads=n_threads)


def _suite(detector: Detector, conditions: np.ndarray, reference: np.ndarray, generated: np.ndarray, *, seed: int,
           quick: bool, pdgid: np.ndarray | None, energy_edges: tuple[float, ...], max_classifier_events: int,
           max_image_events: int, n_threads: int) -> dict[str, Any]:
    t_all = time.perf_counter()
    timing: dict[str, float] = {}
    cond = validate_conditions(conditions)
    ref = check_images(detector, reference, "reference responses")
    gen = check_images(detector, generated, "generated responses")
    if not len(cond) == len(ref) == len(gen):
        raise FastZDCError(
            "conditions, reference and generated need one row per particle each, "
            f"got {len(cond)}, {len(ref)}, {len(gen)}"
        )

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timing[name] = round(time.perf_counter() - t0, 3)
        return result

    f_ref = timed("features", high_level_features, detector, ref)
    t0 = time.perf_counter()
    f_gen = high_level_features(detector, gen)
    timing["features"] += round(time.perf_counter() - t0, 3)
    x_ref, x_gen = transform_features(f_ref), transform_features(f_gen)

    out: dict[str, Any] = {
        "detector": detector.name, "n_events": int(len(cond)), "seed": int(seed), "quick": bool(quick),
    }
    out["features"] = feature_summary(f_ref, f_gen)
    t0 = time.perf_counter()
    out["channels"] = channel_agreement(f_ref, f_gen)
    out["photon_sum"] = photon_sum_agreement(f_ref, f_gen)
    out["energy_bins"] = by_energy(cond, f_ref, f_gen, edges=energy_edges)
    out["species"] = by_species(cond, f_ref, f_gen, pdgid=pdgid)
    timing["conditional"] = round(time.perf_counter() - t0, 3)
    out["classifier"] = {
        "features": timed("classifier_features", classifier_auc_features, f_ref, f_gen, seed=seed,
                          max_events=max_classifier_events, n_threads=n_threads),
        "features_conditional": timed("classifier_features_conditional", classifier_auc_features, f_ref, f_gen,
                                      conditions=cond, seed=seed, max_events=max_classifier_events,
                                      n_threads=n_threads),
        "sums": timed("classifier_sums", classifier_auc_features, f_ref, f_gen, columns=SUM_COLUMNS, seed=seed,
                      max_events=max_classifier_events, n_threads=n_threads),
        "sums_conditional": timed("classifier_sums_conditional", classifier_auc_features, f_ref, f_gen,
                                  columns=SUM_COLUMNS, conditions=cond, seed=seed, max_events=max_classifier_events,
                                  n_threads=n_threads),
        "images": None if quick else timed("classifier_images", classifier_auc_images, detector, ref, gen,
                                           seed=seed, max_events=max_image_events, n_threads=n_threads),
    }
    out["single_features"] = timed("single_features", single_feature_aucs, f_ref, f_gen, seed=seed,
                                   max_events=max_classifier_events, n_threads=n_threads)
    div = 2 if quick else 1
    out["fpd"] = timed("fpd", fpd, x_ref, x_gen, num_batches=FPD_NUM_BATCHES // div, seed=seed, n_threads=n_threads)
    out["kpd"] = timed("kpd", kpd, x_ref, x_gen, num_batches=KPD_NUM_BATCHES // div, seed=seed, n_threads=n_threads)
    timing["total"] = round(time.perf_counter() - t_all, 3)
    out["timing_s"] = timing
    return json_safe(out)
