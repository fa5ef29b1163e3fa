"""Streaming conversion between the ALICE npz pair and fastzdc HDF5, in bounded memory.

The responses are never held whole: an HDF5 source is read in chunks of rows, an npz member is
decompressed as a stream (the ``.npy`` header, then rows), and an npz output is written as a stream
into its zip member. The particles (``(N, 10)`` floats, 80 bytes a row) are held in memory. The input is
read twice: once to validate every row and find the largest count (which decides uint16 or uint32),
once to write. Peak memory is a few chunks of rows, whatever the file size (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path, atomic_write_text
from ..conditions import N_FEATURES
from ..detector import Detector, detector_for_shape
from ..errors import FastZDCError
from .validate import check_same_rows, validate_conditions, validate_pdgid, validate_responses

CHUNK_ROWS = 8192


@dataclass
class Source:
    """A dataset file opened for streaming: everything but the responses in memory."""

    detector: Detector
    conditions: np.ndarray
    pdgid: np.ndarray
    attrs: dict[str, Any]
    responses: Callable[[int], Iterator[np.ndarray]]
    """``responses(chunk)`` yields the raw response rows in order, ``chunk`` rows at a time"""
    path: Path

    def __len__(self) -> int:
        return len(self.conditions)


def open_source(path: str | Path) -> Source:
    """An HDF5 file or an ALICE npz pair (either member) as a :class:`Source`; layout checked."""
    path = Path(path)
    return _h5_source(path) if _fmt(path) == "h5" else _npz_source(path)


def _fmt(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return "h5"
    if suffix == ".npz":
        return "npz"
    raise FastZDCError("unknown file type: expected .h5/.hdf5 or .npz", path)


def _h5_source(path: Path) -> Source:
    from .hdf5 import _check_layout, _open, read_attrs

    with _open(path) as f:
        det, n = _check_layout(f, path)
        try:
            conditions = validate_conditions(f["conditions"][...], path)
            pdgid = validate_pdgid(f["pdgid"][...], n, path)
        except OSError as err:
            raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
        attrs = read_attrs(f)

    def responses(chunk: int) -> Iterator[np.ndarray]:
        from .hdf5 import _open

        with _open(path) as f:
            ds = f["responses"]
            for start in range(0, n, chunk):
                try:
                    yield ds[start : start + chunk]
                except OSError as err:
                    raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None

    attrs["source"] = str(path)
    return Source(det, conditions, pdgid, attrs, responses, path)


def npy_member_header(zf: zipfile.ZipFile, member: str, path: Path) -> tuple[tuple[int, ...], np.dtype, bool, Any]:
    """Open ``member`` of an npz archive and read its ``.npy`` header: ``(shape, dtype, fortran, stream)``."""
    stream = zf.open(member)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as err:
        stream.close()
        raise FastZDCError(f"truncated or corrupt npz file ({type(err).__name__}: {err})", path) from None
    if dtype.hasobject:
        stream.close()
        raise FastZDCError("the array holds Python objects (pickle), which fastzdc never loads", path)
    return tuple(int(d) for d in shape), dtype, bool(fortran), stream


def iter_npz_rows(path: Path, chunk: int, key: str = "arr_0") -> tuple[tuple[int, ...], np.dtype, Iterator[np.ndarray]]:
    """``(shape, dtype, rows)`` of the array ``key`` of an npz archive; ``rows`` streams ``chunk`` rows at a
    time without loading the whole array (a Fortran-ordered array is loaded whole)."""
    from .npz import _load_array

    if not path.exists():
        raise FastZDCError("file not found", path)
    if path.stat().st_size == 0:
        raise FastZDCError("empty file (0 bytes)", path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise FastZDCError(f"truncated or corrupt npz file ({type(err).__name__}: {err})", path) from None
    member = f"{key}.npy"
    if member not in zf.namelist():
        names = ", ".join(n.removesuffix(".npy") for n in zf.namelist()) or "none"
        zf.close()
        raise FastZDCError(f"missing key {key!r} (keys: {names})", path)
    shape, dtype, fortran, stream = npy_member_header(zf, member, path)
    if fortran or len(shape) == 0:
        stream.close()
        zf.close()
        arr = _load_array(path)
        return arr.shape, arr.dtype, iter([arr[i : i + chunk] for i in range(0, len(arr), chunk)] if arr.ndim else [arr])

    def rows() -> Iterator[np.ndarray]:
        row_items = int(np.prod(shape[1:], dtype=np.int64))
        row_bytes = row_items * dtype.itemsize
        try:
            for start in range(0, shape[0], chunk):
                k = min(chunk, shape[0] - start)
                data = stream.read(k * row_bytes)
                if len(data) != k * row_bytes:
                    raise EOFError(f"array ends after {start + len(data) // max(row_bytes, 1)} of {shape[0]} rows")
                yield np.frombuffer(data, dtype).reshape(k, *shape[1:])
        except (OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
            raise FastZDCError(f"truncated or corrupt npz file ({type(err).__name__}: {err})", path) from None
        finally:
            stream.close()
            zf.close()

    return shape, dtype, rows()


def _npz_source(path: Path) -> Source:
    from .npz import _load_array, meta_path, pair_paths, read_meta

    r_path, p_path = pair_paths(path)
    shape, _, first = iter_npz_rows(r_path, 1)
    first.close()
    if len(shape) != 3:
        raise FastZDCError(f"responses must have shape (N, 44, 44) or (N, 56, 30), got {shape}", r_path)
    try:
        det = detector_for_shape(shape)
    except FastZDCError as err:
        raise FastZDCError(str(err), r_path) from None
    if shape[0] == 0:
        raise FastZDCError("responses have no rows (empty file)", r_path)
    particles = _load_array(p_path)
    if particles.ndim != 2 or particles.shape[1] not in (N_FEATURES, N_FEATURES + 1):
        raise FastZDCError(f"particles must have shape (N, 10) or (N, 9), got {particles.shape}", p_path)
    check_same_rows(shape[0], particles.shape[0], p_path)
    conditions = validate_conditions(particles[:, :N_FEATURES], p_path, what="particle features")
    if particles.shape[1] > N_FEATURES:
        pdgid = validate_pdgid(particles[:, N_FEATURES], len(conditions), p_path)
    else:
        pdgid = np.zeros(len(conditions), np.int32)
    del particles
    attrs: dict[str, Any] = {"synthetic": False, "generator": "ALICE npz pair (unknown producer)"}
    meta = meta_path(r_path)
    if meta.exists():
        attrs.update(read_meta(meta))
    attrs["source"] = str(r_path)

    def responses(chunk: int) -> Iterator[np.ndarray]:
        yield from iter_npz_rows(r_path, chunk)[2]

    return Source(det, conditions, pdgid, attrs, responses, r_path)


def _validated(src: Source, chunk: int) -> Iterator[np.ndarray]:
    start = 0
    for block in src.responses(chunk):
        try:
            counts, _ = validate_responses(block, src.path, src.detector)
        except FastZDCError as err:
            text = str(err).removeprefix(f"{src.path}: ")
            if "row " in text:  # rows are counted from the start of the file, not of the chunk
                import re

                text = re.sub(r"row (\d+)", lambda m: f"row {start + int(m.group(1))}", text)
            raise FastZDCError(text, src.path) from None
        yield counts
        start += len(block)


def convert_streaming(src_path: str | Path, dst: str | Path, chunk: int = CHUNK_ROWS) -> tuple[list[Path], int, Detector]:
    """Convert ``src_path`` to ``dst`` (HDF5 or npz pair, by the name) in bounded memory; returns the written
    paths, the rows and the detector. Every input row is validated before anything is written."""
    src = open_source(src_path)
    fmt = _fmt(Path(dst))
    vmax = 0
    rows = 0
    for counts in _validated(src, chunk):
        vmax = max(vmax, int(counts.max(initial=0)))
        rows += len(counts)
    check_same_rows(rows, len(src), src.path)
    dtype = np.dtype(np.uint16 if vmax <= np.iinfo(np.uint16).max else np.uint32)
    if fmt == "h5":
        from .hdf5 import H5Writer

        attrs = {k: v for k, v in src.attrs.items() if k != "source"}
        with H5Writer(dst, src.detector, attrs, dtype=dtype) as w:
            start = 0
            for counts in _validated(src, chunk):
                stop = start + len(counts)
                w.append(src.conditions[start:stop], counts.astype(dtype, copy=False), src.pdgid[start:stop])
                start = stop
        return [Path(dst)], rows, src.detector
    return _write_npz_streaming(src, Path(dst), dtype, chunk), rows, src.detector


def _write_npz_streaming(src: Source, dst: Path, dtype: np.dtype, chunk: int) -> list[Path]:
    from .npz import KEY, meta_path, pair_paths

    r_path = dst
    if "responses" not in r_path.name and "particles" not in r_path.name:
        stem = r_path.name[: -len(".npz")] if r_path.name.endswith(".npz") else r_path.name
        r_path = r_path.with_name(f"{stem}_responses.npz")
    r_path, p_path = pair_paths(r_path)
    particles = np.concatenate([src.conditions.astype(np.float64), src.pdgid.astype(np.float64)[:, None]], axis=1)
    shape = (len(src), *src.detector.shape)
    with atomic_path(p_path) as tmp_p, open(tmp_p, "wb") as fh:
        np.savez_compressed(fh, **{KEY: particles})
        with atomic_path(r_path) as tmp_r, open(tmp_r, "wb") as out, \
                zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
                zf.open(f"{KEY}.npy", "w", force_zip64=True) as member:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(member, header)
            for counts in _validated(src, chunk):
                member.write(np.ascontiguousarray(counts, dtype).tobytes())
    meta = {k: v for k, v in src.attrs.items() if k != "source"}
    meta.update({"detector": src.detector.name, "synthetic": bool(src.attrs.get("synthetic", False))})
    atomic_write_text(meta_path(r_path), json.dumps(meta, indent=2, default=str) + "\n")
    return [r_path, p_path]
