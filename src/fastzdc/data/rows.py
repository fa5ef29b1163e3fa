"""Read some rows of a fastzdc HDF5 file: all particle features, the responses of chosen rows only.

Data-parallel training keeps in each process only the responses of the rows it trains on
(:mod:`fastzdc.training.distributed`): the file is streamed block by block and the chosen rows kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..detector import Detector
from ..errors import FastZDCError
from .hdf5 import _check_layout, _open, read_attrs
from .validate import validate_conditions, validate_responses

BLOCK = 16384


def read_h5_features(path: str | Path) -> tuple[np.ndarray, Detector, dict]:
    """``(conditions (N, 9), detector, attributes)`` of an HDF5 dataset, without its responses."""
    path = Path(path)
    with _open(path) as f:
        det, _ = _check_layout(f, path)
        try:
            conditions = validate_conditions(f["conditions"][...], path)
        except OSError as err:
            raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
        attrs = read_attrs(f)
    return conditions, det, attrs


def read_h5_responses(path: str | Path, rows: np.ndarray) -> np.ndarray:
    """The responses of ``rows`` (any order, no repeats needed), in that order; the file is read once,
    :data:`BLOCK` rows at a time."""
    path = Path(path)
    rows = np.asarray(rows, np.int64)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    with _open(path) as f:
        det, n = _check_layout(f, path)
        if len(rows) and (sorted_rows[0] < 0 or sorted_rows[-1] >= n):
            raise FastZDCError(f"row {int(sorted_rows[-1])} is outside the file's {n} rows", path)
        out = np.empty((len(rows), *det.shape), f["responses"].dtype)
        done = 0
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            end = int(np.searchsorted(sorted_rows, stop))
            if end == done:
                continue
            try:
                block, _ = validate_responses(f["responses"][start:stop], path, det)
            except OSError as err:
                raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
            out[order[done:end]] = block[sorted_rows[done:end] - start]
            done = end
    return out
