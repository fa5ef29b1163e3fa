"""Boundary checks for conditions and responses: fail early, name the file and the defect."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conditions import N_FEATURES
from ..detector import Detector, detector_for_shape
from ..errors import FastZDCError

PathLike = str | Path | None


def validate_conditions(conditions: np.ndarray, path: PathLike = None, *, what: str = "conditions") -> np.ndarray:
    """Check ``(N, 9)`` finite numeric features; return them as float32.

    Raises:
        FastZDCError: wrong shape or dtype, no rows, NaN or inf values (with the first bad row).
    """
    arr = np.asarray(conditions)
    if arr.dtype.kind not in "fiu":
        raise FastZDCError(f"{what} must be numeric, got dtype {arr.dtype}", path)
    if arr.ndim != 2 or arr.shape[1] != N_FEATURES:
        raise FastZDCError(f"{what} must have shape (N, {N_FEATURES}), got {arr.shape}", path)
    if arr.shape[0] == 0:
        raise FastZDCError(f"{what} have no rows (empty file)", path)
    arr64 = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr64)
    if not finite.all():
        row = int(np.argwhere(~finite.all(axis=1))[0, 0])
        raise FastZDCError(f"{what} contain NaN or inf (first at row {row})", path)
    too_big = np.abs(arr64) > np.finfo(np.float32).max
    if too_big.any():
        row = int(np.argwhere(too_big.any(axis=1))[0, 0])
        raise FastZDCError(f"{what} overflow float32 (first at row {row})", path)
    return arr.astype(np.float32, copy=False)


def validate_pdgid(pdgid: np.ndarray, n: int, path: PathLike = None) -> np.ndarray:
    """Check ``(N,)`` integral PDG ids; return int32."""
    arr = np.asarray(pdgid)
    if arr.shape != (n,):
        raise FastZDCError(f"pdgid must have shape ({n},), got {arr.shape}", path)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise FastZDCError("pdgid must be integers", path)
    elif arr.dtype.kind not in "iu":
        raise FastZDCError(f"pdgid must be integers, got dtype {arr.dtype}", path)
    return arr.astype(np.int32)


def validate_responses(
    responses: np.ndarray, path: PathLike = None, detector: Detector | None = None, *, chunk: int = 8192
) -> tuple[np.ndarray, Detector]:
    """Check ``(N, 44, 44)`` or ``(N, 56, 30)`` non-negative, finite, integral photon counts.

    Returns:
        the counts as an unsigned integer array (uint16 when the maximum fits, else uint32) and the
        detector inferred from the shape.

    Raises:
        FastZDCError: wrong shape/dtype, no rows, negative, non-finite or non-integral counts.
    """
    arr = np.asarray(responses)
    if arr.dtype.kind not in "fiub":
        raise FastZDCError(f"responses must be numeric photon counts, got dtype {arr.dtype}", path)
    if arr.ndim != 3:
        raise FastZDCError(f"responses must have shape (N, 44, 44) or (N, 56, 30), got {arr.shape}", path)
    try:
        det = detector_for_shape(arr.shape)
    except FastZDCError as err:
        raise FastZDCError(str(err), path) from None
    if detector is not None and det.name != detector.name:
        raise FastZDCError(f"responses have {det.name.upper()} shape {arr.shape[1:]}, expected {detector.name.upper()}", path)
    if arr.shape[0] == 0:
        raise FastZDCError("responses have no rows (empty file)", path)
    vmax = 0.0
    for start in range(0, arr.shape[0], chunk):
        block = arr[start : start + chunk]
        if block.dtype.kind == "f":
            bad = ~np.isfinite(block)
            if bad.any():
                row = start + int(np.argwhere(bad)[0, 0])
                raise FastZDCError(f"responses contain NaN or inf (first at row {row})", path)
            if (block != np.floor(block)).any():
                row = start + int(np.argwhere(block != np.floor(block))[0, 0])
                raise FastZDCError(f"responses must be integer photon counts (first non-integer at row {row})", path)
        if block.dtype.kind in "fi" and (block < 0).any():
            row = start + int(np.argwhere(block < 0)[0, 0])
            raise FastZDCError(f"responses contain negative counts (first at row {row})", path)
        if block.size:
            vmax = max(vmax, float(block.max()))
    if vmax > np.iinfo(np.uint32).max:
        raise FastZDCError(f"responses exceed the uint32 range (max {vmax:g})", path)
    dtype = np.uint16 if vmax <= np.iinfo(np.uint16).max else np.uint32
    return arr.astype(dtype, copy=False), det


def check_same_rows(n_responses: int, n_conditions: int, path: PathLike = None) -> None:
    """Raise if a response file and its particle file disagree on the number of rows."""
    if n_responses != n_conditions:
        raise FastZDCError(f"row-count mismatch: {n_responses} responses but {n_conditions} particles", path)
