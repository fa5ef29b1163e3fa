"""Append the rows of fastzdc HDF5 files to an :class:`~fastzdc.data.hdf5.H5Writer`, streamed.

Where the rows start on a chunk boundary of both files (and both use the same chunk shape and filters),
the compressed response chunks are copied as they are, without decompressing them: joining the chunk
files of a run or chunk-aligned shards costs a file copy. Otherwise the rows are read and written
again in blocks of :data:`BLOCK` rows. Memory stays bounded by one block either way.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FastZDCError
from .hdf5 import H5Writer, _check_layout, _open
from .validate import validate_conditions, validate_pdgid, validate_responses

BLOCK = 65536
"""rows read per step"""


def append_file(writer: H5Writer, path: str | Path, rows: tuple[int, int] | None = None) -> dict[str, int]:
    """Append rows ``[a, b)`` (default all) of the fastzdc HDF5 file ``path`` to ``writer``.

    Returns ``{"rows": ..., "raw_rows": ...}`` (the rows appended, and those copied as compressed chunks).

    Raises:
        FastZDCError: a missing, corrupt or foreign file, another detector, rows outside the file.
    """
    path = Path(path)
    with _open(path) as f:
        det, n = _check_layout(f, path)
        if det.name != writer.detector.name:
            raise FastZDCError(f"holds {det.name.upper()} responses, the output {writer.detector.name.upper()}", path)
        a, b = (0, n) if rows is None else rows
        if not 0 <= a <= b <= n:
            raise FastZDCError(f"rows [{a}, {b}) are outside the file's {n} rows", path)
        resp = f["responses"]
        raw = writer.raw_copy_ok(resp, a)
        try:
            for s in range(a, b, BLOCK):
                e = min(b, s + BLOCK)
                cond = validate_conditions(f["conditions"][s:e], path)
                pdg = validate_pdgid(f["pdgid"][s:e], len(cond), path)
                if raw:
                    writer.append_raw(cond, pdg, resp, s)
                else:
                    counts, _ = validate_responses(resp[s:e], path, det)
                    writer.append(cond, counts, pdg)
        except (OSError, RuntimeError) as err:  # a damaged chunk
            raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
    return {"rows": b - a, "raw_rows": (b - a) if raw else 0}


def h5_rows(path: str | Path) -> int:
    """The number of rows of a fastzdc HDF5 file (its layout checked)."""
    path = Path(path)
    with _open(path) as f:
        return _check_layout(f, path)[1]
