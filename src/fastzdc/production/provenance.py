"""The hashes that tie generated rows to what made them: the model folder and the conditions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..checkpoint import file_sha256
from ..errors import FastZDCError


def model_sha256(path: str | Path) -> str:
    """SHA-256 over the files of a model folder (checkpoint, ONNX export or look-up folder; a run folder
    stands for its ``best/``): each visible file's name and SHA-256, in name order. A look-up's training
    file is covered by the SHA-256 its ``lookup.json`` records."""
    folder = Path(path)
    if not folder.is_dir():
        raise FastZDCError("model not found (expected a folder)", folder)
    if not (folder / "config.json").is_file() and (folder / "best" / "config.json").is_file():
        folder = folder / "best"
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts))
    for p in files:
        h.update(f"{p.relative_to(folder).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def conditions_sha256(conditions: np.ndarray, pdgid: np.ndarray) -> str:
    """SHA-256 of the condition rows and PDG ids as generated (float32 / int32, C order)."""
    h = hashlib.sha256()
    h.update(memoryview(np.ascontiguousarray(conditions, np.float32)).cast("B"))  # no copy of the rows
    h.update(memoryview(np.ascontiguousarray(pdgid, np.int32)).cast("B"))
    return h.hexdigest()
