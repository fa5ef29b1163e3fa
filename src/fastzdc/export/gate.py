"""``fastzdc gate export``: the response gate as an ONNX classifier for O2, beside the generators.

The folder holds ``model.onnx``, ``scaler.txt`` (O2's ``#means`` / ``#scales`` blocks of the 9 features,
as :meth:`fastzdc.data.StandardScaler.save_o2` writes them), ``scaler.json`` and ``gate_card.json`` (the
SHA-256 of every file, the inputs and outputs, the parity check). The graph's one input ``conditions``
holds the 9 *scaled* features in O2's order ``[E, vx, vy, vz, px, py, pz, mass, charge]`` (dynamic batch:
O2 runs it at batch 1); outputs, both float:

* ``p_response`` ``(B, 1)``: the probability that ZN or ZP responds (what a yes/no classifier gives);
* ``probabilities`` ``(B, 4)``: P(none), P(ZN only), P(ZP only), P(both), temperature-calibrated.

The export checks itself before anything is written: O2's per-particle procedure (scaler text parsed as
O2 parses it, features scaled in float, batch 1) in ONNX Runtime must give PyTorch's probabilities within
:data:`TOLERANCE` on :data:`PARITY_ROWS` particles.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from .._atomic import atomic_dir, check_dir_writable, check_not_input
from ..conditions import FEATURE_NAMES, N_FEATURES
from ..errors import FastZDCError
from ..inference.gate import Gate, load_gate
from ..inference.onnx import open_session
from ..nn.gate import STATES, GateNet
from .o2 import load_scales, scale_features
from .rewrite import set_metadata

CARD = "gate_card.json"
INPUT = "conditions"
OUTPUTS = ("p_response", "probabilities")
TOLERANCE = 1e-5
PARITY_ROWS = 64


class _Exported(torch.nn.Module):
    def __init__(self, net: GateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = torch.softmax(self.net(cond), dim=1)
        return 1.0 - p[:, :1], p


def gate_onnx(net: GateNet, opset: int = 18) -> bytes:
    """The gate as ONNX bytes (input ``conditions`` ``(B, 9)``; outputs :data:`OUTPUTS`)."""
    import copy

    module = _Exported(copy.deepcopy(net).float().eval()).eval()
    batch = torch.export.Dim("batch", min=1, max=1 << 24)
    try:
        with torch.no_grad():
            program = torch.onnx.export(module, (torch.randn(2, N_FEATURES),), dynamo=True, input_names=[INPUT],
                                        output_names=list(OUTPUTS), dynamic_shapes=({0: batch},),
                                        opset_version=opset, optimize=True, verbose=False)
    except ImportError as err:
        raise FastZDCError(f"the ONNX exporter needs the package onnxscript ({err}); pip install onnxscript") from None
    model = program.model_proto
    model.producer_name = "fastzdc"
    model.doc_string = ("fastzdc response gate: conditions (9 scaled features) -> p_response (ZN or ZP lit), "
                        "probabilities (none, ZN only, ZP only, both)")
    set_metadata(model, {"fastzdc.kind": "gate", "fastzdc.states": json.dumps(list(STATES)),
                         "fastzdc.code_version": __version__})
    return model.SerializeToString()


def parity_particles(rows: int = PARITY_ROWS, seed: int = 20240917) -> np.ndarray:
    """Physical particles for the parity check (Monte Carlo primaries: every species, every energy)."""
    from ..mc import sample_particles

    return sample_particles(rows, seed)[0]


def o2_gate_probabilities(model: str | Path | bytes, scaler_txt: str | Path, particles: np.ndarray) -> np.ndarray:
    """O2's way: scaler text parsed by O2's rules, each particle scaled in float and run alone (batch 1).
    Returns ``(N, 4)`` probabilities."""
    scales = load_scales(scaler_txt)
    if scales is None:
        raise FastZDCError("O2 would find no scaler in this file", scaler_txt)
    sess = open_session(model)
    out = []
    for p in np.asarray(particles, np.float32):
        x = scale_features(p, *scales).reshape(1, N_FEATURES).astype(np.float32)
        out.append(sess.run([OUTPUTS[1]], {INPUT: x})[0][0])
    return np.asarray(out, np.float64)


def export_gate(model: str | Path, out: str | Path, *, opset: int = 18) -> dict[str, Any]:
    """Export a gate checkpoint to the folder ``out`` (replaced in one step); returns the card."""
    out = check_dir_writable(out)
    check_not_input(out, [model])
    if out.is_dir() and any(out.iterdir()) and not (out / CARD).is_file():
        raise FastZDCError("folder exists and is not a fastzdc gate export; refusing to replace it", out)
    gate: Gate = load_gate(model)
    blob = gate_onnx(gate.net, opset)
    particles = parity_particles()
    reference = gate.probabilities(particles)
    files = {"model.onnx": blob, "scaler.txt": gate.scaler.to_o2_text().encode(),
             "scaler.json": (json.dumps(gate.scaler.to_dict(), indent=2) + "\n").encode()}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "scaler.txt").write_bytes(files["scaler.txt"])
        got = o2_gate_probabilities(blob, Path(tmp) / "scaler.txt", particles)
    diff = float(np.abs(got - reference).max())
    if not diff <= TOLERANCE:
        raise FastZDCError(f"ONNX Runtime (O2's procedure, batch 1) differs from PyTorch by {diff:.2e} > {TOLERANCE}", model)
    card = {
        "format": "fastzdc-gate-export", "format_version": 1, "code_version": __version__, "source": str(model),
        "input": {"name": INPUT, "shape": ["batch", N_FEATURES], "features": list(FEATURE_NAMES), "scaled": True},
        "outputs": {OUTPUTS[0]: "P(ZN or ZP lit), (batch, 1)", OUTPUTS[1]: f"P({', '.join(STATES)}), (batch, 4)"},
        "o2": {"ZDCSimParam.ZDCFastSimClassifierPath": "model.onnx", "ZDCSimParam.ZDCFastSimClassifierScales": "scaler.txt"},
        "parity": {"rows": len(particles), "batch": 1, "max_abs_diff": diff, "tolerance": TOLERANCE},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    with atomic_dir(out) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return {"out": str(out), **card}
