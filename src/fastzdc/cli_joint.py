"""The ``fastzdc gate`` commands (train, evaluate, export the response gate) and ``generate --detector
both``: thin wrappers around :mod:`fastzdc.joint`, added to the main tool by :mod:`fastzdc.cli`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

gate_app = typer.Typer(help="The response gate: which calorimeters (none, ZN, ZP, both) a particle lights.",
                       no_args_is_help=True)
console = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of text.")]


def _emit(obj: Any) -> None:
    def default(o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (np.ndarray, Path)):
            return o.tolist() if isinstance(o, np.ndarray) else str(o)
        raise TypeError(type(o).__name__)

    sys.stdout.write(json.dumps(obj, indent=2, default=default) + "\n")


def _score_lines(scores: dict[str, Any], reference: dict[str, Any] | None = None) -> None:
    for event in ("zn", "zp", "any", "both"):
        s = scores[event]
        line = (f"  {event:>4}: ECE {s['ece']:.4f}  AUC {s['auc']:.4f}  mean predicted {s['predicted']:.4f} "
                f"observed {s['observed']:.4f}")
        if reference is not None:
            r = reference[event]
            line += f"  | Monte Carlo AUC: one redraw {r['auc_1']:.4f}, {r['k']} redraws {r['auc_k']:.4f}"
        console.print(line)


@gate_app.command("train")
def gate_train(
    data: Annotated[Path, typer.Option(help="Unfiltered ZN/ZP pair from 'fastzdc simulate -d both --no-filter -o RAW.h5': "
                                            "RAW.h5, RAW_zn.h5 or RAW_zp.h5 (both files are read).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write (weights.safetensors + config.json).")],
    epochs: Annotated[int, typer.Option(help="Passes over the training particles.")] = 20,
    hidden: Annotated[int, typer.Option(help="Width of the MLP.")] = 128,
    depth: Annotated[int, typer.Option(help="Hidden layers of the MLP.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the validation split, the initialisation and the batches.")] = 0,
    threads: Annotated[int, typer.Option(help="PyTorch threads.")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Train the response gate on unfiltered particles, then calibrate it (temperature scaling on a 10 %
    validation split). The data must hold particles without a response: O2's filter drops them."""
    from .joint import train_gate_files

    r = train_gate_files(data, out, progress=not json_out, threads=threads, epochs=epochs, hidden=hidden, depth=depth,
                         seed=seed)
    if json_out:
        _emit(r)
        return
    console.print(f"gate trained on {r['train_rows']} particles in {r['seconds']:.0f} s -> {r['out']}; temperature "
                  f"{r['temperature']:.3f}; on {r['val_rows']} validation particles:")
    _score_lines(r["val"])


@gate_app.command("evaluate")
def gate_evaluate(
    gate: Annotated[Path, typer.Option(help="Gate checkpoint folder.")],
    data: Annotated[Path, typer.Option(help="Unfiltered ZN/ZP pair of fresh particles (RAW.h5, RAW_zn.h5 or RAW_zp.h5).")],
    redraws: Annotated[int, typer.Option(help="Monte Carlo re-simulations of the same particles (stand-in data only): "
                                              "the AUC the gate is measured against (0 = none).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the re-simulations.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Calibration (expected calibration error, 15 bins) and AUC of the gate for ZN lit, ZP lit, either
    lit (O2's filter) and both lit."""
    from .errors import FastZDCError
    from .joint import evaluate_gate_files

    if not 0 <= redraws <= 1000:
        raise FastZDCError(f"--redraws must be in [0, 1000], got {redraws}")
    r = evaluate_gate_files(gate, data, redraws=redraws, seed=seed)
    if json_out:
        _emit(r)
        return
    console.print(f"{r['rows']} particles of {r['data']} ({r['ms_per_particle']:.4f} ms per particle):")
    _score_lines(r["scores"], r.get("monte_carlo"))


@gate_app.command("export")
def gate_export(
    gate: Annotated[Path, typer.Option(help="Gate checkpoint folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Export folder: model.onnx, scaler.txt (O2), scaler.json, gate_card.json.")],
    json_out: JsonOpt = False,
) -> None:
    """Export the gate as O2's classifier: ONNX, input the 9 scaled features in O2's order, O2's scaler
    text; checked in ONNX Runtime at batch 1 against PyTorch before anything is written."""
    from .export.gate import export_gate

    r = export_gate(gate, out)
    if json_out:
        _emit(r)
        return
    console.print(f"wrote {r['out']} (batch-1 parity with PyTorch: max |diff| {r['parity']['max_abs_diff']:.1e})")


JOINT_KEYS = {"gate": str, "zn": str, "zp": str, "candidates": int, "copula": bool}
EVALUATE_KEYS = {**JOINT_KEYS, "lookup_zn": str, "lookup_zp": str, "independent": bool}


def _joint_options(options: list[str], keys: dict[str, type]) -> dict[str, Any]:
    from .errors import FastZDCError
    from .training.config import parse_set

    opts = parse_set(options, flag="--joint")
    for key, value in opts.items():
        want = keys.get(key)
        if want is None:
            raise FastZDCError(f"--joint: unknown key {key!r}; known: {', '.join(keys)}")
        if want is str:
            opts[key] = str(value)
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise FastZDCError(f"--joint {key}= must be {'an integer' if want is int else 'true or false'}, got {value!r}")
    return opts


def generate_both(conditions: Path, out: Path, *, seed: int, batch_size: int, precision: str, device: str | None,
                  options: list[str], include_none: bool | None, json_out: bool) -> None:
    """``fastzdc generate --detector both``: see :func:`fastzdc.joint.generate_both_to_files`."""
    from .joint import generate_both_to_files

    opts = _joint_options(options, JOINT_KEYS)
    r = generate_both_to_files(conditions, out, seed=seed, batch_size=batch_size, include_none=include_none,
                               progress=not json_out, precision=precision.lower(), device=device, **opts)
    if json_out:
        _emit(r)
        return
    s = r["states"]
    console.print(f"wrote ZN and ZP responses of {r['rows']} particles ({r['model']}; {r['ms_per_particle']:.3f} ms per "
                  f"particle): none {s['none']}, ZN only {s['zn_only']}, ZP only {s['zp_only']}, both {s['both']}")
    for f in r["files"]:
        console.print(f"  {f}")


def evaluate_both(data: Path, *, out: Path | None, seed: int, max_rows: int, floor: bool, quick: bool, precision: str,
                  options: list[str], json_out: bool) -> None:
    """``fastzdc evaluate --detector both``: see :func:`fastzdc.joint.evaluate_joint`."""
    from .joint import evaluate_joint

    opts = _joint_options(options, EVALUATE_KEYS)
    r = evaluate_joint(data, seed=seed, max_rows=max_rows, floor=floor, classifier=not quick, out=out,
                       progress=not json_out, precision=precision.lower(), **opts)
    if json_out:
        _emit(r)
        return
    console.print(f"{r['rows']} particles of {r['data']} (ZN and ZP of the same particles):")
    ref = r["results"][0]["reference"]["overall"]["occupancy"]
    console.print("  reference: none {none:.3f}  ZN only {zn_only:.3f}  ZP only {zp_only:.3f}  both {both:.3f}".format(**ref))
    for row in r["results"]:
        occ = row["generated"]["overall"]["occupancy"]
        t = row["targets"]["overall"]
        auc = row.get("auc_joint_conditional")
        console.print(f"  {row['name']}: none {occ['none']:.3f}  ZN only {occ['zn_only']:.3f}  ZP only {occ['zp_only']:.3f}  "
                      f"both {occ['both']:.3f}; max cell diff {t['max_cell_pp']:.1f} pp; W ZN {row['w']['zn']:.2f} ZP "
                      f"{row['w']['zp']:.2f}" + (f"; joint AUC | p {auc['value']:.3f}" if auc else ""))
    if r.get("report"):
        console.print(f"report: {r['report']}")
