"""The export folder's layout and its model card (``model_card.json``).

An export folder written by ``fastzdc export onnx`` holds::

    model.onnx                     noise + conditions -> log_image, float32   (O2: ZDCFastSimModelPath...)
    model.graph-noise.onnx         conditions -> log_image, noise drawn inside the graph, float32
    model.fp16.onnx                as model.onnx with float16 weights/arithmetic (with --fp16)
    model.fp16.graph-noise.onnx    as model.graph-noise.onnx in float16 (with --fp16)
    model.o2.onnx                  O2's 10-value noise vector + conditions -> log_image (with --o2-dropin)
    scaler.txt                     the feature scaler in O2's #means/#scales text format (O2: ...Scales...)
    scaler.json                    the same scaler as JSON
    model_card.json                what a consumer needs to know (below)

The card records the detector, model kind, sampler (steps unrolled in the graph), each file's inputs,
output, precision and SHA-256, the training data (hash, ``synthetic`` flag), the source checkpoint's
weights hash, code and library versions, the checkpoint's validation metrics, and the parity measured
at export time between ONNX Runtime and PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import FastZDCError

CARD = "model_card.json"
CARD_FORMAT = "fastzdc-onnx-export"
CARD_FORMAT_VERSION = 1
SCALER_TXT = "scaler.txt"
SCALER_JSON = "scaler.json"

VARIANTS: dict[str, tuple[str, str, bool]] = {
    # variant: (file name, precision, noise drawn inside the graph)
    "float32": ("model.onnx", "float32", False),
    "float32-graph-noise": ("model.graph-noise.onnx", "float32", True),
    "float16": ("model.fp16.onnx", "float16", False),
    "float16-graph-noise": ("model.fp16.graph-noise.onnx", "float16", True),
}
PRECISIONS = ("float32", "float16")
REQUIRED = ("format", "format_version", "name", "detector", "kind", "sampler", "noise_shape", "image_shape",
            "files", "inputs", "outputs", "training_data", "synthetic", "code_version")


def variant_name(precision: str, graph_noise: bool = False) -> str:
    if precision not in PRECISIONS:
        raise FastZDCError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    return precision + ("-graph-noise" if graph_noise else "")


def is_export_dir(path: str | Path) -> bool:
    """True for a folder written by ``fastzdc export onnx`` (it has a model card)."""
    return (Path(path) / CARD).is_file()


def load_card(folder: str | Path) -> dict[str, Any]:
    """Read and check an export folder's model card; one-line errors name the file and the defect."""
    path = Path(folder) / CARD
    if not path.is_file():
        raise FastZDCError(f"not a fastzdc ONNX export (no {CARD})", folder)
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise FastZDCError(f"corrupt model card ({type(err).__name__}: {err})", path) from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise FastZDCError(f"not a fastzdc ONNX model card (format is not {CARD_FORMAT!r})", path)
    version = card.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FastZDCError(f"key 'format_version' must be a positive integer, got {version!r}"[:200], path)
    if version > CARD_FORMAT_VERSION:
        raise FastZDCError(f"model card format {version} is newer than this fastzdc ({CARD_FORMAT_VERSION})", path)
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise FastZDCError(f"model card lacks {', '.join(missing)}", path)
    check_card(card, path)
    return card


def _bad(key: str, want: str, value: Any, path: Path) -> FastZDCError:
    text = repr(value)
    return FastZDCError(f"key {key!r} must be {want}, got {text if len(text) <= 60 else text[:57] + '...'}", path)


def check_card(card: dict[str, Any], path: Path) -> None:
    """Types and ranges of the card's keys that fastzdc reads (one line naming the first bad key)."""
    for key in ("name", "detector", "kind", "code_version"):
        if not isinstance(card[key], str):
            raise _bad(key, "a string", card[key], path)
    if card["detector"] not in ("zn", "zp"):
        raise _bad("detector", "'zn' or 'zp'", card["detector"], path)
    for key in ("sampler", "files", "training_data"):
        if not isinstance(card[key], dict):
            raise _bad(key, "a JSON object", card[key], path)
    for key in ("noise_shape", "image_shape"):
        v = card[key]
        if not (isinstance(v, list) and 1 <= len(v) <= 4
                and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 4096 for d in v)):
            raise _bad(key, "a list of 1 to 4 integers in [1, 4096]", v, path)
    if "n_params" in card and not (isinstance(card["n_params"], int) and not isinstance(card["n_params"], bool)
                                   and card["n_params"] >= 0):
        raise _bad("n_params", "a non-negative integer", card["n_params"], path)
    if "dequantized" in card and not isinstance(card["dequantized"], bool):
        raise _bad("dequantized", "true or false", card["dequantized"], path)
    for variant, entry in card["files"].items():
        if not isinstance(entry, dict):
            raise _bad(f"files.{variant}", "a JSON object", entry, path)
        name = entry.get("file")
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise _bad(f"files.{variant}.file", "a file name inside the export folder", name, path)
        sha = entry.get("sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                    and all(c in "0123456789abcdef" for c in sha)):
            raise _bad(f"files.{variant}.sha256", "64 hex digits", sha, path)


def export_file(folder: str | Path, entry: dict[str, Any]) -> Path:
    """The file of a card entry, inside ``folder`` (links leading out are refused) and with the SHA-256 the
    card records."""
    import hashlib

    folder = Path(folder)
    file = folder / entry["file"]
    try:
        inside = file.resolve().parent == folder.resolve()
    except OSError:
        inside = False
    if not inside:
        raise FastZDCError("the model card names a file outside the export folder", file)
    if not file.is_file():
        raise FastZDCError("missing ONNX file", file)
    sha = entry.get("sha256")
    if sha is not None:
        h = hashlib.sha256()
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != sha:
            raise FastZDCError("the file does not match the SHA-256 in the model card (corrupt or modified)", file)
    return file


def io_signature(noise_shape: tuple[int, ...], image_shape: tuple[int, ...], n_features: int, graph_noise: bool) -> dict[str, Any]:
    """Inputs and output of one exported file, as written in the card (``"batch"`` = dynamic)."""
    from .graph import BATCH, CONDITIONS, NOISE, OUTPUT, RAW_OUTPUT

    inputs = [] if graph_noise else [{
        "name": NOISE, "dtype": "float32", "shape": [BATCH, *noise_shape],
        "meaning": "standard-normal noise N(0, 1), one independent draw per particle",
    }]
    inputs.append({
        "name": CONDITIONS, "dtype": "float32", "shape": [BATCH, n_features],
        "meaning": "particle features [E, vx, vy, vz, px, py, pz, mass, charge] scaled as (x - mean) / scale with scaler.txt",
    })
    outputs = [{
        "name": OUTPUT, "dtype": "float32", "shape": [BATCH, *image_shape],
        "meaning": "log1p(n) of the integer photon counts n per fibre, row-major, first axis x: n = exp(x) - 1 "
                   "(exact to float rounding); first output, the one O2's calculateChannels reads",
    }, {
        "name": RAW_OUTPUT, "dtype": "float32", "shape": [BATCH, *image_shape],
        "meaning": "the sampler's continuous log1p image x >= 0 before rounding; n = round(exp(x) - 1)",
    }]
    return {"inputs": inputs, "outputs": outputs}
