"""``fastzdc export onnx``: a checkpoint -> an export folder (ONNX files, O2 scaler, model card).

The export checks itself before anything is written: every explicit-noise file is run in ONNX Runtime
on the same noise and conditions as PyTorch and must agree within :data:`TOLERANCE` (max |difference|
of the log1p images); the graph-noise files must run and give non-negative finite images. The folder
is written under a temporary name and swapped in when complete, so a re-run (e.g. after new weights)
replaces the previous export in one step and a failure leaves the old one intact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .. import __version__
from .._atomic import atomic_dir, check_dir_writable, check_not_input
from ..checkpoint import WEIGHTS, file_sha256, resolve
from ..conditions import FEATURE_NAMES, FEATURE_UNITS, N_FEATURES
from ..errors import FastZDCError
from ..inference.card import (
    CARD,
    CARD_FORMAT,
    CARD_FORMAT_VERSION,
    SCALER_JSON,
    SCALER_TXT,
    VARIANTS,
    io_signature,
    is_export_dir,
)
from ..inference.gate import load_gate
from ..inference.graph import CONDITIONS, DEFAULT_OPSET, NOISE, OUTPUT, RAW_OUTPUT, export_sampler, with_count_output
from ..inference.load import load_generator, sampler_overrides
from ..inference.model import ModelGenerator
from ..inference.onnx import check_signature, open_session
from ..sampling.noise import NoiseStream
from .dropin import DROPIN_FILE, DROPIN_VARIANT, MAX_CANDIDATES, dropin_card_entry, dropin_model, dropin_parity
from .rewrite import set_metadata, to_float16, with_graph_noise

TOLERANCE = {"float32": 1e-3, "float16": 0.1}
"""Largest accepted |ONNX Runtime - PyTorch| of the log1p image on the same noise and conditions (the
export's self-check and the parity suite). float32: 1e-3, i.e. 0.1 % of any fibre's count; measured
~2e-5 on the shipped models (operation order only). float16: 0.1; measured ~0.03 on the shipped models.
The float16 files are judged by their W in benchmarks/RESULTS.md; this bound catches a broken conversion."""
PARITY_ROWS = 16
PARITY_SEED = 20240917

O2_KEYS = {
    "zn": ("ZDCSimParam.ZDCFastSimModelPathNeutron", "ZDCSimParam.ZDCFastSimModelScalesNeutron"),
    "zp": ("ZDCSimParam.ZDCFastSimModelPathProton", "ZDCSimParam.ZDCFastSimModelScalesProton"),
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parity_inputs(noise_shape: tuple[int, ...], rows: int = PARITY_ROWS, seed: int = PARITY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Fixed noise ``(rows, *noise_shape)`` and scaled conditions ``(rows, 9)`` (standard normal; the scaled
    features of real particles have about this spread) for the export-time parity check."""
    noise = NoiseStream(seed, tuple(noise_shape)).rows(0, rows).numpy()
    cond = torch.randn(rows, N_FEATURES, generator=torch.Generator().manual_seed(seed)).numpy()
    return noise, cond


def torch_log_images(gen: ModelGenerator, noise: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """PyTorch's ``(B, nx, ny)`` log1p images for explicit noise and scaled conditions."""
    x = gen.generate_log(torch.from_numpy(cond).to(gen.device), torch.from_numpy(noise).to(gen.device))
    return x.float().cpu().numpy().reshape(len(cond), *gen.detector.shape)


def export_onnx(
    model: str | Path,
    out: str | Path,
    *,
    steps: int | None = None,
    method: str | None = None,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    sampler: dict[str, Any] | None = None,
    o2_dropin: bool = False,
    o2_candidates: int = 1,
    o2_gate: str | Path | None = None,
) -> dict[str, Any]:
    """Export a checkpoint's whole sampler to ONNX (see :mod:`fastzdc.inference.card` for the folder).

    Args:
        model: checkpoint folder (or a run folder: its ``best/``).
        out: export folder; replaced if it is a previous export, refused if it holds anything else.
        steps, method: sampler overrides (default: the checkpoint's); the steps are unrolled in the graph.
        sampler: any other sampler options of the kind (e.g. ``temperature`` of a vq-prior), fixed in the graph.
        opset: ONNX opset (>= 18).
        fp16: also write float16 variants (float32 inputs and output).
        o2_dropin: also write ``model.o2.onnx``, whose inputs are O2's 10-value noise vector and the scaled
            features (:mod:`fastzdc.export.dropin`); the card's ``o2`` block then names it.
        o2_candidates: the drop-in graph draws that many responses per particle and returns the first
            non-empty one (for O2 behind a response classifier such as the response gate); 1 = one draw.
        o2_gate: a response-gate checkpoint (e.g. ``weights/gate``) built into the drop-in graph: it draws
            whether the particle lights this detector given that O2's classifier let it through.

    Returns:
        a summary: folder, files with sizes, measured parity, the model card.
    """
    out = check_dir_writable(out)
    check_not_input(out, [model] if o2_gate is None else [model, o2_gate])
    if out.is_dir() and any(out.iterdir()) and not is_export_dir(out):
        raise FastZDCError("folder exists and is not a fastzdc ONNX export; refusing to replace it", out)
    if steps is not None and steps < 1:
        raise FastZDCError(f"--steps must be >= 1, got {steps}")
    if not isinstance(o2_candidates, int) or not 1 <= o2_candidates <= MAX_CANDIDATES:
        raise FastZDCError(f"--o2-candidates must be an integer in [1, {MAX_CANDIDATES}], got {o2_candidates!r}")
    if (o2_candidates > 1 or o2_gate is not None) and not o2_dropin:
        raise FastZDCError("--o2-candidates and --o2-gate apply to the drop-in graph: add --o2-dropin")
    gate = None
    if o2_gate is not None:
        gate = load_gate(o2_gate)
    gen = load_generator(model, device="cpu", backend="torch", **sampler_overrides(sampler, steps, method))
    if not isinstance(gen, ModelGenerator):
        raise FastZDCError("give a checkpoint folder to export, not an export folder", model)
    ckpt, cfg = Path(gen.source), gen.config
    kind, det = gen.kind, gen.detector
    noise_shape = tuple(kind.noise_shape())

    base = export_sampler(kind, gen.net, gen.sampler, opset=opset)
    data = dict(cfg.get("data", {}))
    meta = {
        "fastzdc.name": gen.name, "fastzdc.detector": det.name, "fastzdc.kind": kind.kind,
        "fastzdc.sampler": json.dumps(gen.sampler, sort_keys=True), "fastzdc.noise_shape": json.dumps(list(noise_shape)),
        "fastzdc.outputs": f"{OUTPUT}: log1p of integer photon counts {list(det.shape)}; {RAW_OUTPUT}: before rounding",
        "fastzdc.code_version": __version__,
        "fastzdc.synthetic_training_data": json.dumps(data.get("synthetic")),
    }
    full = with_count_output(base, kind.dequantized)
    models = {"float32": full, "float32-graph-noise": with_graph_noise(full)}
    if fp16:
        half = with_count_output(to_float16(base), kind.dequantized)
        models.update({"float16": half, "float16-graph-noise": with_graph_noise(half)})
    blobs: dict[str, bytes] = {}
    for variant, proto in models.items():
        set_metadata(proto, {**meta, "fastzdc.variant": variant})
        blobs[variant] = proto.SerializeToString()

    parity = check_parity(gen, blobs, noise_shape)
    dropin = None
    if o2_dropin:
        proto = dropin_model(gen, opset=opset, candidates=o2_candidates, gate=gate)
        set_metadata(proto, {**meta, "fastzdc.variant": DROPIN_VARIANT, "fastzdc.noise_shape": json.dumps([10])})
        dropin = proto.SerializeToString()
        parity[DROPIN_VARIANT], parity["o2_dropin_one_photon_flips"] = dropin_parity(gen, dropin, candidates=o2_candidates, gate=gate)

    files: dict[str, Any] = {}
    for variant, blob in blobs.items():
        name, precision, graph_noise = VARIANTS[variant]
        files[variant] = {
            "file": name, "precision": precision, "noise": "drawn in the graph (RandomNormalLike)" if graph_noise else "input",
            "inputs": [CONDITIONS] if graph_noise else [NOISE, CONDITIONS], "bytes": len(blob), "sha256": _sha256(blob),
        }
    if dropin is not None:
        files[DROPIN_VARIANT] = dropin_card_entry(dropin, _sha256(dropin), o2_candidates, None if gate is None else
                                                     {"source": str(o2_gate), "weights_sha256": file_sha256(resolve(o2_gate) / WEIGHTS)})
    path_key, scales_key = O2_KEYS[det.name]
    card = {
        "format": CARD_FORMAT,
        "format_version": CARD_FORMAT_VERSION,
        "name": gen.name,
        "detector": det.name,
        "kind": kind.kind,
        "hparams": cfg.get("hparams", {}),
        "sampler": gen.sampler,
        "noise_shape": list(noise_shape),
        "image_shape": list(det.shape),
        "n_params": gen.n_params,
        "dequantized": kind.dequantized,
        "decode": f"{OUTPUT} = log1p(n), n = clip({'floor' if kind.dequantized else 'round'}(exp(x) - 1), 0, 65535) "
                  f"computed in the graph from x = {RAW_OUTPUT}; so exp({OUTPUT}) - 1 gives the integer counts, and "
                  "O2's calculateChannels gives fastzdc's channel sums exactly",
        **io_signature(noise_shape, tuple(det.shape), N_FEATURES, graph_noise=False),
        "files": files,
        "features": {"names": list(FEATURE_NAMES), "units": list(FEATURE_UNITS)},
        "scaler": {"o2_text": SCALER_TXT, "json": SCALER_JSON, **gen.scaler.to_dict()},
        "training_data": data,
        "synthetic": data.get("synthetic"),
        "validation_metrics": cfg.get("metrics", {}),
        "source": {"checkpoint": str(model), "weights_sha256": file_sha256(ckpt / WEIGHTS),
                   "checkpoint_code_version": cfg.get("code_version")},
        "code_version": __version__,
        "export": {"exporter": "torch.onnx.export(dynamo=True)", "opset": opset, "torch": torch.__version__,
                   "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "parity": parity,
        "o2": {"model_key": path_key, "scales_key": scales_key,
               "model_file": DROPIN_FILE if dropin is not None else VARIANTS["float32"][0], "scales_file": SCALER_TXT,
               "noise_values": 10 if dropin is not None else int(np.prod(noise_shape))},
    }
    with atomic_dir(out) as tmp:
        for variant, blob in blobs.items():
            (tmp / VARIANTS[variant][0]).write_bytes(blob)
        if dropin is not None:
            (tmp / DROPIN_FILE).write_bytes(dropin)
        (tmp / SCALER_TXT).write_text(gen.scaler.to_o2_text())
        (tmp / SCALER_JSON).write_text(json.dumps(gen.scaler.to_dict(), indent=2) + "\n")
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n")
    sizes = {VARIANTS[v][0]: len(b) for v, b in blobs.items()} | ({DROPIN_FILE: len(dropin)} if dropin is not None else {})
    return {"out": str(out), "files": sizes, "parity": parity, "card": card}


def check_parity(gen: ModelGenerator, blobs: dict[str, bytes], noise_shape: tuple[int, ...]) -> dict[str, Any]:
    """Run every variant in ONNX Runtime against PyTorch (``log_image_unrounded`` against ``generate_log``)
    and check that ``exp(log_image) - 1`` is integer; raise if a variant fails."""
    noise, cond = parity_inputs(noise_shape)
    ref = torch_log_images(gen, noise, cond)
    result: dict[str, Any] = {"rows": len(cond), "measure": "max |ONNX Runtime - PyTorch| of the log1p image",
                              "tolerance": TOLERANCE}
    for variant, blob in blobs.items():
        _, precision, graph_noise = VARIANTS[variant]
        sess = open_session(blob, threads=1, where=f"<{variant} export>")
        check_signature(sess, gen.detector, None if graph_noise else noise_shape, f"<{variant} export>")
        feeds = {CONDITIONS: cond} if graph_noise else {NOISE: noise, CONDITIONS: cond}
        log, got = sess.run([OUTPUT, RAW_OUTPUT], feeds)
        if not (np.isfinite(got).all() and (got >= 0).all() and np.isfinite(log).all() and (log >= 0).all()):
            raise FastZDCError(f"export self-check failed: the {variant} graph gives negative or non-finite images")
        counts = np.expm1(log.astype(np.float64))
        if np.abs(counts - np.rint(counts)).max() > 1e-3 * (1 + counts.max()):
            raise FastZDCError(f"export self-check failed: exp({OUTPUT}) - 1 of the {variant} graph is not integer")
        if not graph_noise:
            diff = float(np.abs(got - ref).max())
            result[variant] = diff
            if diff > TOLERANCE[precision]:
                raise FastZDCError(f"export self-check failed: {variant} ONNX differs from PyTorch by {diff:.3g} "
                                   f"(tolerance {TOLERANCE[precision]:g})")
    return result
