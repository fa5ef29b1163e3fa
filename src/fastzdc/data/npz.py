"""The ALICE ML file pair: ``*_responses.npz`` and ``*_particles.npz`` (NumPy archives, key ``arr_0``).

* responses: ``(N, 44, 44)`` (ZN) or ``(N, 56, 30)`` (ZP) photon counts, first axis = x;
* particles: ``(N, 10)``: the 9 features ``E [GeV], vx, vy, vz [cm], px, py, pz [GeV], mass [MeV],
  charge [e]`` then the PDG id (a ``(N, 9)`` file without PDG ids is accepted, ids set to 0).

The format has no place for provenance, so fastzdc writes a sidecar ``<responses>.meta.json`` next to
the pair (generator, ``synthetic`` flag, seed, ...) and reads it back when present; synthetic stand-in
data therefore stays labelled through conversions.

This is the format of the published work's ``data_nonrandom_responses.npz`` /
``data_nonrandom_particles.npz``; real data plugs in here.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, atomic_write_text
from ..conditions import N_FEATURES
from ..errors import FastZDCError
from .dataset import Dataset
from .validate import check_same_rows, validate_conditions, validate_pdgid, validate_responses

KEY = "arr_0"


def pair_paths(path: str | Path) -> tuple[Path, Path]:
    """``(responses, particles)`` paths of a pair, from either member's name.

    ``x_responses.npz`` <-> ``x_particles.npz``; a name without either word is taken as the
    responses file and its partner is ``<stem>_particles.npz``.
    """
    path = Path(path)
    name = path.name
    if "responses" in name:
        return path, path.with_name(_replace_last(name, "responses", "particles"))
    if "particles" in name:
        return path.with_name(_replace_last(name, "particles", "responses")), path
    return path, path.with_name(f"{path.stem}_particles.npz")


def _replace_last(text: str, old: str, new: str) -> str:
    head, _, tail = text.rpartition(old)
    return head + new + tail


def _load_array(path: Path) -> np.ndarray:
    if not path.exists():
        raise FastZDCError("file not found", path)
    if path.stat().st_size == 0:
        raise FastZDCError("empty file (0 bytes)", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if KEY not in archive.files:
                raise FastZDCError(f"missing key {KEY!r} (keys: {', '.join(archive.files) or 'none'})", path)
            return archive[KEY]
    except FastZDCError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise FastZDCError(f"truncated or corrupt npz file ({type(err).__name__}: {err})", path) from None


def read_npz_pair(responses_path: str | Path, particles_path: str | Path | None = None) -> Dataset:
    """Read and validate an ALICE ML file pair.

    Args:
        responses_path: the responses archive (or the particles one: the partner is found by name).
        particles_path: the particle archive; default from :func:`pair_paths`.
    """
    r_path, p_path = pair_paths(responses_path)
    if particles_path is not None:
        r_path, p_path = Path(responses_path), Path(particles_path)
    responses, det = validate_responses(_load_array(r_path), r_path)
    particles = _load_array(p_path)
    if particles.ndim != 2 or particles.shape[1] not in (N_FEATURES, N_FEATURES + 1):
        raise FastZDCError(f"particles must have shape (N, 10) or (N, 9), got {particles.shape}", p_path)
    check_same_rows(responses.shape[0], particles.shape[0], p_path)
    conditions = validate_conditions(particles[:, :N_FEATURES], p_path, what="particle features")
    if particles.shape[1] > N_FEATURES:
        pdgid = validate_pdgid(particles[:, N_FEATURES], len(conditions), p_path)
    else:
        pdgid = np.zeros(len(conditions), np.int32)
    attrs = {"synthetic": False, "generator": "ALICE npz pair (unknown producer)"}
    meta = meta_path(r_path)
    if meta.exists():
        attrs.update(read_meta(meta))
    attrs["source"] = str(r_path)
    return Dataset(conditions, responses, pdgid, det, attrs)


def read_meta(meta: Path) -> dict:
    """The provenance sidecar: a JSON object of scalars and lists (one-line error otherwise)."""
    try:
        value = json.loads(meta.read_text())
    except (OSError, ValueError, RecursionError) as err:
        raise FastZDCError(f"unreadable metadata sidecar ({type(err).__name__}: {err})", meta) from None
    if not isinstance(value, dict):
        raise FastZDCError(f"metadata sidecar must hold a JSON object, got {type(value).__name__}", meta)
    if "synthetic" in value and not isinstance(value["synthetic"], bool):
        raise FastZDCError(f"key 'synthetic' must be true or false, got {value['synthetic']!r}"[:200], meta)
    return value


def meta_path(responses_path: str | Path) -> Path:
    """The provenance sidecar of a responses archive: ``<name>.meta.json``."""
    p = Path(responses_path)
    return p.with_name(p.name[: -len(".npz")] + ".meta.json" if p.name.endswith(".npz") else p.name + ".meta.json")


def _save_npz(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{KEY: array})


def write_npz_pair(dataset: Dataset, responses_path: str | Path, particles_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``dataset`` as an ALICE ML pair (particles = 9 features + PDG id as float64).

    ``out.npz`` (a name with neither "responses" nor "particles") becomes ``out_responses.npz`` +
    ``out_particles.npz``; the written paths are returned.

    Both files are written under temporary names and renamed only when both are complete.
    """
    r_path = Path(responses_path)
    if particles_path is None and "responses" not in r_path.name and "particles" not in r_path.name:
        stem = r_path.name[: -len(".npz")] if r_path.name.endswith(".npz") else r_path.name
        r_path = r_path.with_name(f"{stem}_responses.npz")  # so that either file finds its partner by name
    r_path, p_path = pair_paths(r_path)
    if particles_path is not None:
        r_path, p_path = Path(responses_path), Path(particles_path)
    particles = np.concatenate(
        [dataset.conditions.astype(np.float64), dataset.pdgid.astype(np.float64)[:, None]], axis=1
    )
    with atomic_path(p_path) as tmp_p, open(tmp_p, "wb") as fh:
        np.savez_compressed(fh, **{KEY: particles})
        _save_npz(r_path, dataset.responses)
    meta = {k: v for k, v in dataset.attrs.items() if k != "source"}
    meta.update({"detector": dataset.detector.name, "synthetic": bool(dataset.attrs.get("synthetic", False))})
    atomic_write_text(meta_path(r_path), json.dumps(meta, indent=2, default=str) + "\n")
    return r_path, p_path
