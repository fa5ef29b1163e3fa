"""The export folder's layout and its model card (``model_card.json``).

An export folder written by ``fastzdc export onnx`` holds::

    model.onnx                     noise + conditions -> log_image, float32   (O2: ZDCFastSimModelPath...)
    model.graph-noise.onnx         conditions -> log_image, noise drawn inside the graph, float32
    model.fp16.onnx                as model.onnx with float16 weights/arithmetic (with --fp16)
    model.fp16.graph-noise.onnx    as model.graph-noise.onnx in float16 (with --fp16)
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
    except (OSError, json.JSONDecodeError) as err:
        raise FastZDCError(f"corrupt model card ({err})", path) from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise FastZDCError(f"not a fastzdc ONNX model card (format is not {CARD_FORMAT!r})", path)
    if int(card.get("format_version", 0)) > CARD_FORMAT_VERSION:
        raise FastZDCError(f"model card format {card.get('format_version')} is newer than this fastzdc ({CARD_FORMAT_VERSION})", path)
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise FastZDCError(f"model card lacks {', '.join(missing)}", path)
    return card


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
