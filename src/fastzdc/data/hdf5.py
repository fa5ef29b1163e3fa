"""fastzdc's HDF5 dataset format: chunked, compressed, appendable, self-describing.

Layout (format version 1)::

    /conditions   (N, 9)      float32   particle features, dataset units
    /responses    (N, nx, ny) uint16 or uint32 photon counts, first axis = x
    /pdgid        (N,)        int32
    attrs: format="fastzdc-dataset", format_version, detector, feature_names, feature_units,
           generator, synthetic (bool), seed, params_hash, code_version

No creation time is stored (and HDF5 object times are off), so the same inputs give a byte-identical
file.

Datasets are gzip(level 1)+shuffle compressed in chunks of 256 rows and resizable along the first
axis, so generation can stream into a file (:class:`H5Writer`). Files are written under a temporary
name and renamed on success.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from .._atomic import atomic_path, check_writable
from ..conditions import FEATURE_NAMES, FEATURE_UNITS, N_FEATURES
from ..detector import Detector, get_detector
from ..errors import FastZDCError, defer_signals, raise_if_signalled
from .dataset import Dataset
from .validate import check_same_rows, validate_conditions, validate_pdgid, validate_responses

FORMAT = "fastzdc-dataset"
FORMAT_VERSION = 1
CHUNK_ROWS = 256


def _attr_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)) and not all(isinstance(v, str) for v in value):
        return json.dumps(value)
    return value


class H5Writer:
    """Append batches of one detector's responses to a new HDF5 file.

    >>> with H5Writer("out.h5", ZN, attrs={"synthetic": True}) as w:   # doctest: +SKIP
    ...     for batch in batches:
    ...         w.append(batch.conditions, batch.responses["zn"], batch.pdgid)

    The file appears under its final name only when the ``with`` block ends without an error.
    """

    def __init__(
        self, path: str | Path, detector: Detector | str, attrs: dict[str, Any] | None = None, dtype: Any = np.uint16
    ) -> None:
        self.path = check_writable(path)
        self.detector = get_detector(detector)
        self.attrs = dict(attrs or {})
        self.dtype = np.dtype(dtype)
        self.n = 0
        self._ctx = None
        self._file: h5py.File | None = None

    def __enter__(self) -> H5Writer:
        self._ctx = atomic_path(self.path, suffix=".h5part")
        tmp = self._ctx.__enter__()
        try:
            self._fh = _GuardedFile(open(tmp, "w+b", buffering=0))  # noqa: SIM115  (closed in __exit__)
            f = h5py.File(self._fh, "w")
        except BaseException as err:
            if getattr(self, "_fh", None) is not None:
                self._fh.close()
            self._ctx.__exit__(type(err), err, err.__traceback__)
            raise
        self._file = f
        nx, ny = self.detector.shape
        comp = {"compression": "gzip", "compression_opts": 1, "shuffle": True, "track_times": False}
        f.create_dataset("conditions", (0, N_FEATURES), np.float32, maxshape=(None, N_FEATURES), chunks=(CHUNK_ROWS, N_FEATURES), **comp)
        f.create_dataset("responses", (0, nx, ny), self.dtype, maxshape=(None, nx, ny), chunks=(CHUNK_ROWS, nx, ny), **comp)
        f.create_dataset("pdgid", (0,), np.int32, maxshape=(None,), chunks=(CHUNK_ROWS * 16,), **comp)
        base = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "detector": self.detector.name,
            "feature_names": list(FEATURE_NAMES),
            "feature_units": list(FEATURE_UNITS),
            "generator": "unknown",
            "synthetic": False,
            "seed": -1,
            "params_hash": "",
            "code_version": __version__,
        }
        base.update(self.attrs)
        for key, value in base.items():
            f.attrs[key] = _attr_value(value)
        return self

    def append(self, conditions: np.ndarray, responses: np.ndarray, pdgid: np.ndarray | None = None) -> None:
        """Append rows; ``responses`` must be non-negative integer counts of this detector."""
        assert self._file is not None, "use H5Writer as a context manager"
        m = len(conditions)
        if m == 0:
            return
        if responses.shape[1:] != self.detector.shape or len(responses) != m:
            raise FastZDCError(f"batch shapes {conditions.shape} / {responses.shape} do not fit {self.detector.name}", self.path)
        if responses.dtype.kind not in "ui" or responses.max(initial=0) > np.iinfo(self.dtype).max or responses.min(initial=0) < 0:
            raise FastZDCError(f"responses must be integer counts within {self.dtype}", self.path)
        pdgid = np.zeros(m, np.int32) if pdgid is None else pdgid
        raise_if_signalled()
        try:
            with defer_signals():
                self._write(conditions, responses, pdgid, m)
        except OSError as err:
            raise _write_error(err, self.path) from None
        raise_if_signalled()
        if self._fh.failed is not None:  # disk full, file size limit
            raise _write_error(self._fh.failed, self.path)
        self.n += m

    def append_raw(self, conditions: np.ndarray, pdgid: np.ndarray, responses: h5py.Dataset, start: int) -> None:
        """Append rows ``[start, start + len(conditions))`` of another fastzdc file's ``responses`` by copying
        its compressed chunks as they are (no decompression); the caller checks :func:`raw_copy_ok` first."""
        assert self._file is not None, "use H5Writer as a context manager"
        m = len(conditions)
        raise_if_signalled()
        try:
            with defer_signals():
                self._write(conditions, None, pdgid, m)
                ds = self._file["responses"]
                ds.resize(self.n + m, axis=0)
                for row in range(start, start + m, CHUNK_ROWS):
                    mask, data = responses.id.read_direct_chunk((row, 0, 0))
                    ds.id.write_direct_chunk((self.n + row - start, 0, 0), data, mask)
                del ds
        except OSError as err:
            raise _write_error(err, self.path) from None
        raise_if_signalled()
        if self._fh.failed is not None:
            raise _write_error(self._fh.failed, self.path)
        self.n += m

    def raw_copy_ok(self, responses: h5py.Dataset, start: int) -> bool:
        """Whether rows from ``start`` of ``responses`` can be appended as compressed chunks: the same chunk
        shape, filters and dtype, and both row offsets on a chunk boundary."""
        assert self._file is not None, "use H5Writer as a context manager"
        mine = self._file["responses"]
        same = (responses.chunks == mine.chunks and responses.dtype == mine.dtype and responses.compression == mine.compression
                and responses.compression_opts == mine.compression_opts and responses.shuffle == mine.shuffle)
        return bool(same and start % CHUNK_ROWS == 0 and self.n % CHUNK_ROWS == 0)

    def attrs_update(self, attrs: dict[str, Any]) -> None:
        """Set file attributes (e.g. totals known only at the end)."""
        assert self._file is not None, "use H5Writer as a context manager"
        with defer_signals():
            for key, value in attrs.items():
                self._file.attrs[key] = _attr_value(value)
        raise_if_signalled()

    def _write(self, conditions: np.ndarray, responses: np.ndarray | None, pdgid: np.ndarray, m: int) -> None:
        for name, arr in (("conditions", conditions), ("responses", responses), ("pdgid", pdgid)):
            if arr is None:
                continue
            ds = self._file[name]
            ds.resize(self.n + m, axis=0)
            ds[self.n : self.n + m] = arr
        del ds  # released here, inside the deferred-signal block (its release may write)

    def __exit__(self, exc_type, exc, tb) -> bool:
        with defer_signals():
            return self._exit(exc)

    def _exit(self, exc: BaseException | None) -> bool:
        assert self._file is not None and self._ctx is not None
        error: BaseException | None = exc
        try:  # the HDF5 file is closed whatever happens (an open one can crash the interpreter at exit)
            if error is None:
                self._file.attrs["n_rows"] = self.n
                self._file.flush()
                if self._fh.failed is not None:
                    error = self._fh.failed
        except Exception as err:  # disk full, file size limit, ...: h5py raises OSError or RuntimeError
            error = err
        finally:
            if error is not None:
                self._fh.discard = True  # the file is thrown away: let HDF5 close without writing
            _close_h5(self._file)
            self._file = None
            try:
                self._fh.close()
            except OSError as err:
                error = error or err
            if error is None and self._fh.failed is not None:
                error = self._fh.failed
        if error is None and self.n == 0:
            error = FastZDCError("nothing to write (0 rows)", self.path)
        if isinstance(error, OSError):
            error = _write_error(error, self.path)
        if error is None:
            self._ctx.__exit__(None, None, None)  # raises Interrupted instead of committing after a signal
            return False
        self._ctx.__exit__(type(error), error, error.__traceback__)
        raise error


class _GuardedFile:
    """The file object HDF5 writes through; after a failure it discards writes, so that HDF5 can close
    its handles cleanly (a failed close leaves handles that crash the interpreter at exit)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.discard = False
        self.failed: OSError | None = None

    def write(self, data: Any) -> int:
        if self.discard:
            return len(memoryview(data))
        try:
            return self._f.write(data)
        except OSError as err:
            # HDF5 never sees a failed write (after one its handles can no longer be closed safely): the
            # error is kept, this and later writes are dropped, and the writer raises it itself
            self.failed = err
            self.discard = True
            return len(memoryview(data))

    def flush(self) -> None:
        if not self.discard:
            self._f.flush()

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._f.seek(offset, whence)
        except OSError as err:
            self.failed, self.discard = self.failed or err, True
            return offset

    def truncate(self, size: int | None = None) -> int:
        if self.discard:
            return 0 if size is None else size
        return self._f.truncate(size)

    def close(self) -> None:
        if self.discard:
            with contextlib.suppress(OSError):
                self._f.close()
            return
        self._f.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _write_error(err: BaseException, path: Path) -> FastZDCError:
    text = getattr(err, "strerror", None) or (str(err).splitlines()[0] if str(err) else type(err).__name__)
    return FastZDCError(f"cannot write ({text})", path)


def _close_h5(f: h5py.File) -> None:
    """Close an HDF5 file even after a failed write (flushing may fail again: the handles still go)."""
    try:
        f.close()
    except Exception:
        with contextlib.suppress(Exception):
            f.id.close()


def write_h5(dataset: Dataset, path: str | Path, attrs: dict[str, Any] | None = None) -> Path:
    """Write a whole :class:`Dataset` to ``path`` (atomically)."""
    merged = dict(dataset.attrs)
    merged.pop("source", None)
    merged.update(attrs or {})
    dtype = np.uint16 if dataset.responses.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
    with H5Writer(path, dataset.detector, merged, dtype=dtype) as w:
        for start in range(0, len(dataset), 16384):
            sl = slice(start, start + 16384)
            w.append(dataset.conditions[sl], dataset.responses[sl], dataset.pdgid[sl])
    return Path(path)


def _open(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise FastZDCError("file not found", path)
    if path.stat().st_size == 0:
        raise FastZDCError("empty file (0 bytes)", path)
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as err:
        raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None


def read_attrs(f: h5py.File) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode()
        out[key] = value
    return out


def _check_layout(f: h5py.File, path: Path) -> tuple[Detector, int]:
    for key in ("conditions", "responses", "pdgid"):
        if key not in f:
            raise FastZDCError(f"missing dataset {key!r} (datasets: {', '.join(f.keys()) or 'none'})", path)
        if not isinstance(f[key], h5py.Dataset):
            raise FastZDCError(f"{key!r} is not a dataset (an HDF5 group?)", path)
        if f[key].dtype.kind not in "fiub":
            raise FastZDCError(f"{key!r} must be numeric, got dtype {f[key].dtype}", path)
    attrs = read_attrs(f)
    shape = f["responses"].shape
    det_name = attrs.get("detector")
    try:
        det = get_detector(det_name) if det_name else None
    except FastZDCError as err:
        raise FastZDCError(str(err), path) from None
    if det is None or len(shape) != 3 or shape[1:] != det.shape:
        _, det = validate_responses(np.zeros((1, *shape[1:])) if len(shape) == 3 else np.zeros(shape), path)
    n = shape[0]
    cshape = f["conditions"].shape
    if len(cshape) != 2 or cshape[1] != N_FEATURES:
        raise FastZDCError(f"conditions must have shape (N, {N_FEATURES}), got {cshape}", path)
    check_same_rows(n, cshape[0], path)
    if f["pdgid"].shape != (n,):
        raise FastZDCError(f"row-count mismatch: {n} responses but pdgid has shape {f['pdgid'].shape}", path)
    if n == 0:
        raise FastZDCError("no rows (empty dataset)", path)
    return det, n


def read_h5(path: str | Path, rows: slice | np.ndarray | None = None) -> Dataset:
    """Read (rows of) an HDF5 dataset into memory, validating it.

    Args:
        rows: a slice or sorted index array; default all rows.
    """
    path = Path(path)
    with _open(path) as f:
        det, n = _check_layout(f, path)
        sel = slice(None) if rows is None else rows
        try:
            conditions = validate_conditions(f["conditions"][sel], path)
            responses, _ = validate_responses(f["responses"][sel], path, det)
            pdgid = validate_pdgid(f["pdgid"][sel], len(conditions), path)
        except OSError as err:
            raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
        attrs = read_attrs(f)
    attrs["source"] = str(path)
    return Dataset(conditions, responses, pdgid, det, attrs)


def iter_h5(path: str | Path, chunk: int = 16384) -> Iterator[Dataset]:
    """Stream an HDF5 dataset in validated chunks of ``chunk`` rows (bounded memory)."""
    path = Path(path)
    with _open(path) as f:
        det, n = _check_layout(f, path)
        attrs = read_attrs(f)
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            try:
                conditions = validate_conditions(f["conditions"][sl], path)
                responses, _ = validate_responses(f["responses"][sl], path, det)
                pdgid = validate_pdgid(f["pdgid"][sl], len(conditions), path)
            except OSError as err:
                raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
            yield Dataset(conditions, responses, pdgid, det, dict(attrs))
