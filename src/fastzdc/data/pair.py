"""A ZN file and a ZP file of the same particles (``simulate --detector both`` writes such a pair:
``<stem>_zn.h5`` and ``<stem>_zp.h5``, row i of both the same particle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FastZDCError
from . import iter_dataset


@dataclass
class LitPair:
    """Which calorimeter responded to each particle of a ZN/ZP file pair.

    conditions ``(N, 9)`` float32, pdgid ``(N,)``, zn / zp ``(N,)`` bool (any fibre > 0), attrs of the ZN file.
    """

    conditions: np.ndarray
    pdgid: np.ndarray
    zn: np.ndarray
    zp: np.ndarray
    attrs: dict[str, Any]

    @property
    def states(self) -> np.ndarray:
        """0 none, 1 ZN only, 2 ZP only, 3 both (:data:`fastzdc.nn.gate.STATES`)."""
        return self.zn.astype(np.int64) + 2 * self.zp.astype(np.int64)

    def __len__(self) -> int:
        return len(self.conditions)


def partner_paths(path: str | Path) -> tuple[Path, Path]:
    """``(<stem>_zn.h5, <stem>_zp.h5)`` from either member of a pair, or from the ``<stem>.h5`` given to
    ``simulate --detector both``."""
    path = Path(path)
    stem, suffix = path.stem, path.suffix or ".h5"
    for tag in ("_zn", "_zp"):
        if stem.endswith(tag):
            stem = stem[: -len(tag)]
            break
    return path.with_name(f"{stem}_zn{suffix}"), path.with_name(f"{stem}_zp{suffix}")


def read_lit_pair(zn_path: str | Path, zp_path: str | Path, *, keep: str = "lit") -> tuple[LitPair, dict[str, np.ndarray]]:
    """Stream both files and check that they hold the same particles in the same order.

    Returns the :class:`LitPair` and, with ``keep="responses"``, the responses ``{"zn": ..., "zp": ...}``
    (else an empty dict: only the lit flags are kept, bounded memory)."""
    lit: dict[str, list[np.ndarray]] = {"zn": [], "zp": []}
    resp: dict[str, list[np.ndarray]] = {"zn": [], "zp": []}
    cond_parts: list[np.ndarray] = []
    pdg_parts: list[np.ndarray] = []
    attrs: dict[str, Any] = {}
    cond = np.zeros((0, 9), np.float32)
    for det, path in (("zn", zn_path), ("zp", zp_path)):
        start = 0
        for ds in iter_dataset(path):
            if ds.detector.name != det:
                raise FastZDCError(f"expected a {det.upper()} file, it holds {ds.detector.name.upper()} responses", path)
            lit[det].append(ds.responses.reshape(len(ds), -1).any(axis=1))
            if keep == "responses":
                resp[det].append(ds.responses)
            if det == "zn":
                cond_parts.append(ds.conditions)
                pdg_parts.append(ds.pdgid)
                attrs = dict(ds.attrs)
            elif not np.array_equal(cond[start : start + len(ds)], ds.conditions):
                raise FastZDCError(f"rows {start}-{start + len(ds) - 1} are not the particles of {zn_path}: "
                                   "give the ZN and ZP files of one 'simulate --detector both' run", path)
            start += len(ds)
        if det == "zn":
            cond = np.concatenate(cond_parts) if cond_parts else cond
        elif start != len(cond):
            raise FastZDCError(f"{start} rows, the ZN file has {len(cond)}", path)
    pair = LitPair(cond, np.concatenate(pdg_parts), np.concatenate(lit["zn"]), np.concatenate(lit["zp"]), attrs)
    return pair, {d: np.concatenate(v) for d, v in resp.items() if v}


def input_is_filtered(path: str | Path) -> bool:
    """Whether a conditions file holds particles O2's filter kept: a fastzdc HDF5 file whose ``o2_filter``
    attribute is true. Anything else (CSV/text particle lists, unfiltered files) is a raw particle list."""
    from . import file_format

    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5", ".hdf") or file_format(path) != "h5":
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("o2_filter", False))
    except OSError as err:
        raise FastZDCError(f"cannot read the HDF5 file ({err})", path) from None
