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
    if arr.dtype == np.float32:  # float32 cannot overflow float32: one check (the per-particle path stays cheap)
        if not np.isfinite(arr).all():
            row = int(np.argwhere(~np.isfinite(arr).all(axis=1))[0, 0])
            raise FastZDCError(f"{what} contain NaN or inf (first at row {row})", path)
        return arr
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
    """Check ``(N,)`` integral PDG ids within the int32 range; return int32."""
    arr = np.asarray(pdgid)
    if arr.shape != (n,):
        raise FastZDCError(f"pdgid must have shape ({n},), got {arr.shape}", path)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise FastZDCError("pdgid must be integers", path)
    elif arr.dtype.kind not in "iu":
        raise FastZDCError(f"pdgid must be integers, got dtype {arr.dtype}", path)
    info = np.iinfo(np.int32)
    out = (arr < info.min) | (arr > info.max)
    if out.any():
        row = int(np.argmax(out))
        raise FastZDCError(f"pdgid out of the int32 range at row {row} ({arr[row]!r}; {int(out.sum())} rows)", path)
    return arr.astype(np.int32)


# --------------------------------------------------------------------------- physical ranges
E_MAX_GEV = 1.0e4
"""energy above the LHC beam energy per nucleon (6.8 TeV) with margin"""
MASS_MAX_MEV = 2.5e5
"""a lead nucleus is 1.94e5 MeV"""
CHARGE_MAX = 92
VERTEX_MAX_CM = 1.0e4
MOMENTUM_RTOL = 1e-2
MOMENTUM_ATOL_GEV = 1e-2
"""E must equal sqrt(p^2 + m^2) within MOMENTUM_RTOL * E + MOMENTUM_ATOL_GEV (float32 storage, rounding)"""
PHYSICAL_RANGES = (
    f"E in (0, {E_MAX_GEV:g}] GeV; mass in [0, {MASS_MAX_MEV:g}] MeV; charge an integer in "
    f"[-{CHARGE_MAX}, {CHARGE_MAX}] e; |vx|, |vy|, |vz| <= {VERTEX_MAX_CM:g} cm; "
    f"E = sqrt(px^2 + py^2 + pz^2 + (mass/1000)^2) within {100 * MOMENTUM_RTOL:g} % + {MOMENTUM_ATOL_GEV:g} GeV"
)


def check_physical(conditions: np.ndarray, path: PathLike = None) -> None:
    """The particle features must describe a physical particle (:data:`PHYSICAL_RANGES`); the same check
    runs for ``simulate`` and ``generate``.

    Raises:
        FastZDCError: naming the feature, the first bad row and how many rows are out of range.
    """
    c = np.asarray(conditions, np.float64)
    e, mass, charge = c[:, 0], c[:, 7], c[:, 8]
    p = np.sqrt(c[:, 4] ** 2 + c[:, 5] ** 2 + c[:, 6] ** 2)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.sqrt(p**2 + (mass / 1e3) ** 2)
    checks = [
        ((e <= 0) | (e > E_MAX_GEV), f"energy E outside (0, {E_MAX_GEV:g}] GeV"),
        ((mass < 0) | (mass > MASS_MAX_MEV), f"mass outside [0, {MASS_MAX_MEV:g}] MeV"),
        ((np.abs(charge) > CHARGE_MAX) | (np.abs(charge - np.round(charge)) > 1e-3),
         f"charge not an integer in [-{CHARGE_MAX}, {CHARGE_MAX}] e"),
        ((np.abs(c[:, 1:4]) > VERTEX_MAX_CM).any(axis=1), f"vertex beyond {VERTEX_MAX_CM:g} cm"),
        (~(np.abs(expected - e) <= MOMENTUM_RTOL * e + MOMENTUM_ATOL_GEV),
         "momentum inconsistent with energy and mass (E != sqrt(p^2 + m^2))"),
    ]
    for bad, what in checks:
        if bad.any():
            row = int(np.argmax(bad))
            raise FastZDCError(f"{what} at row {row} ({int(bad.sum())} of {len(c)} rows; "
                               f"E {e[row]:.6g} GeV, |p| {p[row]:.6g} GeV, mass {mass[row]:.6g} MeV, "
                               f"charge {charge[row]:.6g})", path)


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
