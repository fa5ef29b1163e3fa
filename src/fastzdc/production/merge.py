"""Shard files joined into one file, row for row the file a one-process run writes.

Every shard must come from the same run: the same model (SHA-256 of its folder), seed, sampler, back
end, precision, chunk size, conditions (SHA-256 of the rows) and shard count, and together the
shards must cover rows ``[0, N)`` exactly once. Anything else is refused before a byte is written.
The rows are streamed (:func:`fastzdc.data.join.append_file`): memory stays bounded whatever N.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._atomic import check_not_input, check_writable
from ..data import H5Writer
from ..data.hdf5 import _check_layout, _open, read_attrs
from ..data.join import append_file
from ..errors import FastZDCError

SAME = ("detector", "model_sha256", "seed", "sampler", "backend", "precision", "chunk_rows", "conditions_sha256",
        "rows_total", "shard_count")
"""attributes every shard of one run shares"""
ROWS = ("shard_index", "row_start", "row_stop")

SHARD_ONLY = ("shard_index", "row_start", "row_stop", "saturated_pixels", "n_rows")


def shard_info(path: str | Path) -> dict[str, Any]:
    """A shard file's attributes, its layout and provenance checked."""
    path = Path(path)
    with _open(path) as f:
        _, n = _check_layout(f, path)
        attrs = read_attrs(f)
    missing = [k for k in (*SAME, *ROWS) if k not in attrs]
    if missing:
        raise FastZDCError(f"not a file of fastzdc generate (no {', '.join(missing)} attributes)", path)
    if attrs["row_stop"] - attrs["row_start"] != n:
        raise FastZDCError(f"holds {n} rows but records rows [{attrs['row_start']}, {attrs['row_stop']})", path)
    return {**attrs, "rows": n, "path": path}


def check_shards(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shards in row order; refuses mixed runs, duplicate, overlapping or missing rows."""
    if not infos:
        raise FastZDCError("no shard files given")
    first = infos[0]
    for info in infos[1:]:
        for key in SAME:
            if info[key] != first[key]:
                raise FastZDCError(f"{key} differs from {first['path']}'s ({info[key]!r} against {first[key]!r}): "
                                   "shards of different runs", info["path"])
    ordered = sorted(infos, key=lambda i: (i["row_start"], i["row_stop"]))
    end = 0
    for info in ordered:
        a, b = info["row_start"], info["row_stop"]
        if a < end:
            raise FastZDCError(f"rows [{a}, {b}) overlap rows before {end} of another shard (a duplicate shard?)", info["path"])
        if a > end:
            raise FastZDCError(f"rows [{end}, {a}) are missing: no shard holds them", info["path"])
        end = b
    if end != first["rows_total"]:
        raise FastZDCError(f"rows [{end}, {first['rows_total']}) are missing: no shard holds them", ordered[-1]["path"])
    return ordered


def merge_shards(shards: list[str | Path], out: str | Path, *, advance: Any = None) -> dict[str, Any]:
    """Join shard files of one ``fastzdc generate`` run into ``out`` (see the module docstring)."""
    infos = check_shards([shard_info(p) for p in shards])
    check_writable(out)
    check_not_input(out, [i["path"] for i in infos])
    attrs = {k: v for k, v in infos[0].items() if k not in (*SHARD_ONLY, "rows", "path")}
    attrs.update({"shard_index": 0, "shard_count": 1, "row_start": 0, "row_stop": infos[0]["rows_total"],
                  "merged_shards": len(infos)})
    saturated = sum(int(i.get("saturated_pixels", 0)) for i in infos)
    raw = 0
    with H5Writer(out, infos[0]["detector"], attrs) as w:
        for info in infos:
            raw += append_file(w, info["path"])["raw_rows"]
            if advance is not None:
                advance(info["rows"])
        w.attrs_update({"saturated_pixels": saturated})
    return {"file": str(out), "rows": infos[0]["rows_total"], "shards": len(infos), "raw_copied_rows": raw,
            "model_sha256": attrs["model_sha256"], "seed": attrs["seed"], "saturated_pixels": saturated}
