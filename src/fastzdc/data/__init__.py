"""Data I/O: the ALICE npz pair, fastzdc's HDF5 format, validation, the published split, scaling.

Usage::

    from fastzdc.data import load_dataset, published_split, StandardScaler
    ds = load_dataset("zn_test.h5")                  # or "data_nonrandom_responses.npz"
    split = published_split(len(ds))
    scaler = StandardScaler.fit(ds.conditions[split.train])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import FastZDCError
from .conditions_file import load_conditions
from .dataset import Dataset
from .hdf5 import H5Writer, iter_h5, read_h5, write_h5
from .info import summarize
from .npz import pair_paths, read_npz_pair, write_npz_pair
from .scaler import StandardScaler
from .split import Split, published_split
from .validate import validate_conditions, validate_responses

H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def file_format(path: str | Path) -> str:
    """``"h5"`` or ``"npz"`` from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix in H5_SUFFIXES:
        return "h5"
    if suffix == ".npz":
        return "npz"
    raise FastZDCError("unknown file type: expected .h5/.hdf5 or .npz", path)


def load_dataset(path: str | Path) -> Dataset:
    """Read a whole dataset: an HDF5 file or one member of an ALICE npz pair."""
    return read_h5(path) if file_format(path) == "h5" else read_npz_pair(path)


def iter_dataset(path: str | Path, chunk: int = 16384) -> Iterator[Dataset]:
    """Stream a dataset in validated chunks (HDF5 from disk, an npz pair's responses decompressed as a stream)."""
    if file_format(path) == "h5":
        yield from iter_h5(path, chunk)
    else:
        from .convert import _validated, open_source

        src = open_source(path)
        start = 0
        for counts in _validated(src, chunk):
            stop = start + len(counts)
            yield Dataset(src.conditions[start:stop], counts, src.pdgid[start:stop], src.detector, dict(src.attrs))
            start = stop


def save_dataset(dataset: Dataset, path: str | Path) -> list[Path]:
    """Write ``dataset`` as HDF5 or as an npz pair, by the file name; returns the written paths."""
    if file_format(path) == "h5":
        return [write_h5(dataset, path)]
    return list(write_npz_pair(dataset, path))


__all__ = [
    "Dataset",
    "H5Writer",
    "Split",
    "StandardScaler",
    "file_format",
    "iter_dataset",
    "iter_h5",
    "load_conditions",
    "load_dataset",
    "pair_paths",
    "published_split",
    "read_h5",
    "read_npz_pair",
    "save_dataset",
    "summarize",
    "validate_conditions",
    "validate_responses",
    "write_h5",
    "write_npz_pair",
]
