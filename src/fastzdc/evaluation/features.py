"""High-level features of ZDC response images: one fixed 12-number vector per event.

The vector (:data:`FEATURE_NAMES`, column order fixed) for a count image ``I[ix, iy] >= 0`` of a
:class:`~fastzdc.detector.Detector` with ``nx x ny`` fibres, ``S = sum I``:

====  ==============  =====================================================================
col   name            definition
====  ==============  =====================================================================
0-4   ``ch1..ch5``    the 5 channel sums (:meth:`Detector.channel_sums`) [photons]
5     ``photon_sum``  ``S`` [photons]
6     ``centroid_x``  ``sum I * u / S`` with ``u = ix - (nx - 1) / 2`` [fibres]
7     ``centroid_y``  ``sum I * v / S`` with ``v = iy - (ny - 1) / 2`` [fibres]
8     ``width_x``     ``sqrt(sum I * (u - centroid_x)^2 / S)`` [fibres]
9     ``width_y``     ``sqrt(sum I * (v - centroid_y)^2 / S)`` [fibres]
10    ``n_lit``       number of fibres with ``I > 0``
11    ``max_pixel``   ``max I`` [photons]
====  ==============  =====================================================================

Conventions:

* positions are in fibre (pixel) units measured from the **image centre**, first image axis = x
  (``u = 0`` is the middle of the image; a lit pixel ``(ix, iy)`` alone gives centroid
  ``(ix - (nx-1)/2, iy - (ny-1)/2)`` and widths 0);
* an **empty event** (``S = 0``) has centroid 0 (the image centre) and widths 0, so that empty
  events form one point instead of NaNs; all count-like features are 0 for it as well;
* :func:`transform_features` maps the heavy-tailed, non-negative columns (channel sums, photon
  sum, ``n_lit``, ``max_pixel``: :data:`LOG_COLUMNS`) through ``log1p`` for classifiers and
  FPD/KPD, and leaves centroids and widths as they are.

Computation is vectorised NumPy in chunks of rows (float64 marginals, memory ~ chunk x nx x ny
bytes), so 300k events take a few seconds and little memory.
"""

from __future__ import annotations

import numpy as np

from ..detector import N_CHANNELS, Detector
from ..errors import FastZDCError

FEATURE_NAMES: tuple[str, ...] = (
    "ch1", "ch2", "ch3", "ch4", "ch5", "photon_sum",
    "centroid_x", "centroid_y", "width_x", "width_y", "n_lit", "max_pixel",
)
N_HL_FEATURES = len(FEATURE_NAMES)
PHOTON_SUM, CENTROID_X, CENTROID_Y, WIDTH_X, WIDTH_Y, N_LIT, MAX_PIXEL = range(5, 12)
LOG_COLUMNS: tuple[int, ...] = (0, 1, 2, 3, 4, PHOTON_SUM, N_LIT, MAX_PIXEL)
"""Columns that :func:`transform_features` maps through ``log1p`` (non-negative, heavy-tailed)."""

DEFAULT_CHUNK = 8192


def check_images(detector: Detector, images: np.ndarray, what: str = "images") -> np.ndarray:
    """Validate ``(N, nx, ny)`` non-negative finite counts of ``detector`` (N >= 1); return a NumPy array.

    Only cheap checks: shape, numeric dtype, and for float/signed dtypes finiteness and the sign.
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "fiu":
        raise FastZDCError(f"{what} must be numeric photon counts, got dtype {arr.dtype}")
    if arr.ndim != 3 or tuple(arr.shape[1:]) != detector.shape:
        raise FastZDCError(
            f"{what} must have shape (N, {detector.nx}, {detector.ny}) for {detector.name.upper()}, got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise FastZDCError(f"{what} have no rows")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise FastZDCError(f"{what} contain NaN or inf")
    if arr.dtype.kind in "fi" and (arr < 0).any():
        raise FastZDCError(f"{what} contain negative photon counts")
    return arr


def high_level_features(detector: Detector, images: np.ndarray, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """The ``(N, 12)`` float64 feature matrix of :data:`FEATURE_NAMES` (see the module docstring).

    Args:
        detector: the calorimeter the images belong to (ZN or ZP).
        images: ``(N, nx, ny)`` photon counts (any non-negative numeric dtype; log1p images must be
            mapped back with :func:`fastzdc.detector.counts_from_log1p` first).
        chunk: rows processed at a time (bounds memory).
    """
    arr = check_images(detector, images)
    if chunk < 1:
        raise FastZDCError(f"chunk must be >= 1, got {chunk}")
    n = arr.shape[0]
    out = np.empty((n, N_HL_FEATURES), dtype=np.float64)
    out[:, :N_CHANNELS] = detector.channel_sums(arr, chunk=chunk)
    u = np.arange(detector.nx, dtype=np.float64) - 0.5 * (detector.nx - 1)
    v = np.arange(detector.ny, dtype=np.float64) - 0.5 * (detector.ny - 1)
    for start in range(0, n, chunk):
        block = arr[start : start + chunk]
        sl = slice(start, start + block.shape[0])
        px = block.sum(axis=2, dtype=np.float64)  # (m, nx) marginal along x
        py = block.sum(axis=1, dtype=np.float64)  # (m, ny)
        s = px.sum(axis=1)
        safe = np.where(s > 0, s, 1.0)
        cx = (px @ u) / safe
        cy = (py @ v) / safe
        # second moments about the centroid (not E[u^2] - E[u]^2: no cancellation for narrow showers)
        wx = np.einsum("mi,mi->m", px, np.square(u[None, :] - cx[:, None])) / safe
        wy = np.einsum("mj,mj->m", py, np.square(v[None, :] - cy[:, None])) / safe
        flat = block.reshape(block.shape[0], -1)
        out[sl, PHOTON_SUM] = s
        out[sl, CENTROID_X] = cx
        out[sl, CENTROID_Y] = cy
        out[sl, WIDTH_X] = np.sqrt(np.maximum(wx, 0.0))
        out[sl, WIDTH_Y] = np.sqrt(np.maximum(wy, 0.0))
        out[sl, N_LIT] = np.count_nonzero(flat, axis=1)
        out[sl, MAX_PIXEL] = flat.max(axis=1)
    return out


def transform_features(features: np.ndarray) -> np.ndarray:
    """``log1p`` of :data:`LOG_COLUMNS`, the other columns unchanged; returns a new float64 array.

    Used as the input of the classifier test and FPD/KPD: photon counts span four decades, and
    without the log a few bright events would dominate both the fit and the max-abs normalisation.
    """
    f = np.array(features, dtype=np.float64, copy=True)
    if f.ndim != 2 or f.shape[1] != N_HL_FEATURES:
        raise FastZDCError(f"features must have shape (N, {N_HL_FEATURES}), got {f.shape}")
    cols = list(LOG_COLUMNS)
    if (f[:, cols] < 0).any():
        raise FastZDCError("count-like features must be non-negative")
    f[:, cols] = np.log1p(f[:, cols])
    return f


def condition_features(conditions: np.ndarray) -> np.ndarray:
    """``(N, 6)`` classifier inputs describing the particle: ``log E``, side ``sign(pz)``,
    ``px / E``, ``py / E`` (angles in the small-angle limit), mass [MeV], charge [e].

    The vertex columns are left out (sub-mm, no effect on the response 112 m away).
    """
    from ..conditions import CHARGE, MASS, PX, PY, PZ, E
    from ..data.validate import validate_conditions

    c = validate_conditions(conditions).astype(np.float64)
    if (c[:, E] <= 0).any():
        raise FastZDCError("conditions: energy (column 0) must be positive")
    e = c[:, E]
    return np.column_stack([np.log(e), np.sign(c[:, PZ]), c[:, PX] / e, c[:, PY] / e, c[:, MASS], c[:, CHARGE]])
