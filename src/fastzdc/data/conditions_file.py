"""Read user-given particle lists: the conditions a generator or the Monte Carlo should simulate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conditions import N_FEATURES
from ..errors import FastZDCError
from .validate import check_physical, validate_conditions, validate_pdgid


def load_conditions(path: str | Path, *, physical: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Particles from a file: ``(conditions (N, 9) float32, pdgid (N,) int32)``.

    Accepted: a fastzdc HDF5 dataset (its ``conditions`` and ``pdgid``), an ALICE particles ``.npz``
    (key ``arr_0``, ``(N, 10)`` or ``(N, 9)``), or a text table ``.csv``/``.txt`` with 9 or 10 columns
    (comma or whitespace separated, ``#`` comments; a header line of names is skipped).

    With ``physical`` (default) every row must be a physical particle
    (:func:`fastzdc.data.validate.check_physical`): ``simulate`` and ``generate`` check the same ranges.
    """
    path = Path(path)
    if not path.exists():
        raise FastZDCError("file not found", path)
    if path.stat().st_size == 0:
        raise FastZDCError("empty file (0 bytes)", path)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                for key in ("conditions", "pdgid"):
                    if key in f and not isinstance(f[key], h5py.Dataset):
                        raise FastZDCError(f"{key!r} is not a dataset (an HDF5 group?)", path)
                if "conditions" not in f:
                    raise FastZDCError("missing dataset 'conditions'", path)
                table = f["conditions"][...]
                pdg = f["pdgid"][...] if "pdgid" in f else None
        except (OSError, RuntimeError, TypeError, ValueError) as err:
            raise FastZDCError(f"truncated or corrupt HDF5 file ({err})", path) from None
    elif suffix == ".npz":
        from .npz import _load_array

        table = _load_array(path)
        pdg = None
    elif suffix in (".csv", ".txt", ".dat", ".tsv"):
        table, pdg = _read_text(path), None
    else:
        raise FastZDCError("unknown conditions file type: expected .h5, .npz, .csv or .txt", path)
    table = np.asarray(table)
    if table.ndim == 1 and table.size in (N_FEATURES, N_FEATURES + 1):
        table = table[None, :]
    if table.ndim != 2 or table.shape[1] not in (N_FEATURES, N_FEATURES + 1):
        raise FastZDCError(f"conditions must have 9 columns (or 10 with the PDG id), got shape {table.shape}", path)
    conditions = validate_conditions(table[:, :N_FEATURES], path)
    if physical:
        check_physical(conditions, path)
    if pdg is None and table.shape[1] > N_FEATURES:
        pdg = table[:, N_FEATURES]
    pdgid = np.zeros(len(conditions), np.int32) if pdg is None else validate_pdgid(pdg, len(conditions), path)
    return conditions, pdgid


def _read_text(path: Path) -> np.ndarray:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise FastZDCError("no data rows", path)
    rows = []
    for k, line in enumerate(lines):
        fields = [f for f in line.replace(",", " ").split() if f]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if k == 0:
                continue  # header
            raise FastZDCError(f"row {k + 1}: not numbers: {line[:60]!r}", path) from None
    if not rows:
        raise FastZDCError("no data rows", path)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise FastZDCError(f"rows have different numbers of columns: {sorted(widths)}", path)
    return np.asarray(rows, np.float64)
