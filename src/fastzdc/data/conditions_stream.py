"""Particles of a conditions file read by row ranges, so that generating N responses from an HDF5 file
holds one range in memory, never the whole file.

An HDF5 file (a fastzdc dataset, or any file with a ``conditions`` dataset of 9 or 10 columns and an
optional ``pdgid``) is read range by range; every other format (npz, text) is read whole by
:func:`~fastzdc.data.conditions_file.load_conditions`. The rows, their checks and their error messages
are those of :func:`~fastzdc.data.conditions_file.load_conditions`: a defect found in a range is
reported by reading the file whole, which names the first bad row of the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..conditions import N_FEATURES
from ..errors import FastZDCError
from .conditions_file import load_conditions
from .validate import check_physical, validate_conditions, validate_pdgid

BLOCK = 65536
H5 = (".h5", ".hdf5", ".hdf")


class ConditionsSource:
    """The particles of ``path``: ``n`` rows, :meth:`rows` for a range, :meth:`sha256` of them all."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mem: tuple[np.ndarray, np.ndarray] | None = None
        self.n = self._h5_rows() if self.path.suffix.lower() in H5 else None
        if self.n is None:
            self._mem = load_conditions(self.path)
            self.n = len(self._mem[0])

    def _h5_rows(self) -> int | None:
        """Rows of a streamable HDF5 conditions file, or None (read it whole: that also reports defects)."""
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                c = f.get("conditions")
                p = f.get("pdgid")
                if not isinstance(c, h5py.Dataset) or c.ndim != 2 or c.shape[1] not in (N_FEATURES, N_FEATURES + 1):
                    return None
                if c.shape[0] == 0 or (p is not None and (not isinstance(p, h5py.Dataset) or p.shape != (c.shape[0],))):
                    return None
                return int(c.shape[0])
        except (OSError, RuntimeError, TypeError, ValueError):
            return None

    def rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """``(conditions (b - a, 9) float32, pdgid (b - a,) int32)`` of rows ``[a, b)``, checked."""
        if self._mem is not None:
            return self._mem[0][a:b], self._mem[1][a:b]
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                table = f["conditions"][a:b]
                pdg = f["pdgid"][a:b] if "pdgid" in f else None
            conditions = validate_conditions(table[:, :N_FEATURES], self.path)
            check_physical(conditions, self.path)
            if pdg is None and table.shape[1] > N_FEATURES:
                pdg = table[:, N_FEATURES]
            pdgid = np.zeros(len(conditions), np.int32) if pdg is None else validate_pdgid(pdg, len(conditions), self.path)
        except (FastZDCError, OSError, RuntimeError, TypeError, ValueError):
            load_conditions(self.path)  # raises the message of the whole file (first bad row of the file)
            raise
        return conditions, pdgid

    def sha256(self) -> str:
        """SHA-256 of all condition rows (float32) then all PDG ids (int32), read range by range; every row
        is checked on the way (the digest of hashing the arrays of :func:`load_conditions`)."""
        h = hashlib.sha256()
        ranges = [(a, min(self.n, a + BLOCK)) for a in range(0, self.n, BLOCK)]
        for column in (0, 1):  # all conditions, then all PDG ids (read again: 4 bytes a row)
            for a, b in ranges:
                arr = self.rows(a, b)[column]
                h.update(memoryview(np.ascontiguousarray(arr, np.float32 if column == 0 else np.int32)).cast("B"))
        return h.hexdigest()
