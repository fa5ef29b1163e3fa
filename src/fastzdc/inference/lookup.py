"""The shower-library folder: a small card that names its training file, and loading it as a Generator.

A look-up folder (``fastzdc lookup --data TRAIN --out DIR``) holds only ``lookup.json``; the responses
stay in the training file beside the user's data (nothing large is copied). The card records the file's
SHA-256, checked when the library is loaded, so a changed or replaced training file is refused::

    {"format": "fastzdc-lookup", "format_version": 1, "name": "lookup-zn", "detector": "zn",
     "data": "../split_zn/train.h5", "data_sha256": "...", "rows": 140000, "k": 8, "rescale": false,
     "synthetic": true, "code_version": "..."}

``data`` is relative to the folder when the file lies below the folder's parent, else absolute.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..baselines import LookupGenerator
from ..checkpoint import file_sha256
from ..data import load_dataset
from ..errors import FastZDCError

CARD = "lookup.json"
FORMAT = "fastzdc-lookup"
FORMAT_VERSION = 1
DEFAULT_K = 8


def is_lookup_dir(path: str | Path) -> bool:
    """True for a folder written by ``fastzdc lookup``."""
    return (Path(path) / CARD).is_file()


def lookup_card(folder: str | Path, data: str | Path, *, k: int, rescale: bool, name: str, rows: int,
                synthetic: bool, detector: str, version: str) -> dict[str, Any]:
    """The card of a look-up folder at ``folder`` over the training file ``data``."""
    folder, data = Path(folder).resolve(), Path(data).resolve()
    try:
        ref = os.path.relpath(data, folder)
    except ValueError:  # another drive
        ref = str(data)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "detector": detector, "data": ref,
            "data_sha256": file_sha256(data), "rows": int(rows), "k": int(k), "rescale": bool(rescale),
            "synthetic": bool(synthetic), "code_version": version}


def read_lookup_card(folder: str | Path) -> dict[str, Any]:
    """The checked card of a look-up folder; every defect is one line naming the file."""
    path = Path(folder) / CARD
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FastZDCError(f"cannot read the look-up card ({err})", path) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise FastZDCError(f"not a fastzdc look-up card (format is not {FORMAT!r})", path)
    version = card.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise FastZDCError(f"look-up card format_version {version!r} is not one this fastzdc reads ({FORMAT_VERSION})", path)
    for key, typ in (("data", str), ("data_sha256", str), ("k", int), ("rescale", bool), ("name", str)):
        if not isinstance(card.get(key), typ):
            raise FastZDCError(f"look-up card field {key!r} must be a {typ.__name__}", path)
    return card


def load_lookup(folder: str | Path) -> LookupGenerator:
    """The look-up of a folder written by ``fastzdc lookup``; its training file must be unchanged."""
    card = read_lookup_card(folder)
    data = (Path(folder) / card["data"]).resolve() if not Path(card["data"]).is_absolute() else Path(card["data"])
    if not data.is_file():
        raise FastZDCError(f"the look-up's training file {data} is missing", Path(folder) / CARD)
    if file_sha256(data) != card["data_sha256"]:
        raise FastZDCError("the look-up's training file changed since the library was built (SHA-256 differs); "
                           "rebuild it with fastzdc lookup", data)
    return lookup_from_file(data, k=card["k"], rescale=card["rescale"], name=card["name"])


def lookup_from_file(data: str | Path, *, k: int = DEFAULT_K, rescale: bool = False, name: str | None = None) -> LookupGenerator:
    """A look-up built directly from a training file (.h5 or ALICE .npz)."""
    return LookupGenerator.from_dataset(load_dataset(data), k=k, rescale=rescale, name=name, source=str(data))
