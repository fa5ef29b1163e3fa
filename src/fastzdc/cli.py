"""The ``fastzdc`` command-line tool: thin wrappers around library functions.

Every command that reports numbers takes ``--json`` and then prints exactly one JSON object on
stdout. A user error prints one line ``fastzdc: error: ...`` on stderr and exits with code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import FastZDCError

app = typer.Typer(
    name="fastzdc",
    help="Fast simulation of the ALICE ZDC responses (ZN 44x44, ZP 56x30) with generative networks.\n\n"
    "Stand-in data made by the built-in Monte Carlo is SYNTHETIC (not GEANT, not real ALICE data).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
mc_app = typer.Typer(help="The parametric Monte Carlo stand-in: calibration against published statistics.", no_args_is_help=True)
app.add_typer(mc_app, name="mc")
export_app = typer.Typer(help="Deployment: export a trained model for ALICE O2 and ONNX Runtime.", no_args_is_help=True)
app.add_typer(export_app, name="export")
from .cli_joint import gate_app  # the gate commands live in their own module

app.add_typer(gate_app, name="gate")

console = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
SampleOpt = Annotated[list[str] | None, typer.Option(
    "--sample-opt", help="Any sampler option of the model's kind, KEY=VALUE, repeatable (e.g. --sample-opt temperature=1.1 "
                         "--sample-opt top_k=64 for vq-prior; steps, method, shift, dither for the flows); default: the checkpoint's.")]

JointOpts = Annotated[list[str] | None, typer.Option(
    "--joint", help="With --detector both, KEY=VALUE, repeatable: gate=PATH (default weights/gate), zn=PATH, zp=PATH "
                    "(default weights/fmd-zn, weights/fmd-zp), candidates=M (responses per lit detector to pick from by "
                    "the copula, for species whose copula correlation is at least 0.1; default 4), copula=true|false (default true).")]

PrecisionOpt = Annotated[str, typer.Option(
    help="Network precision: auto (bfloat16 where the hardware computes it natively -- CPUs with AMX or AVX512-BF16, "
         "CUDA GPUs -- for the FM UNets and the latent FMs, measured 1.3-1.8x faster on a 2-core AMX CPU, "
         "fidelity within the noise-seed scatter; float32 elsewhere), float32 or bfloat16.")]


def _sample_opts(items: list[str] | None) -> dict[str, Any]:
    from .training.config import parse_set

    return parse_set(items or [], flag="--sample-opt")


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fastzdc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Fast simulation of the ALICE ZDC responses."""
    from ._alloc import tune_allocator

    tune_allocator()  # large-batch generation on CPU: no page-fault storms (see fastzdc._alloc)


# --------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.h5, or .npz for the ALICE file pair). With --detector both: <stem>_zn / <stem>_zp.")],
    detector: Annotated[str, typer.Option("--detector", "-d", help="zn, zp or both.")] = "both",
    n: Annotated[int | None, typer.Option("-n", "--n", help="Number of events to write (sampled particles; after the O2 filter).")] = None,
    mode: Annotated[str, typer.Option(help="fast (vectorised) or detailed (explicit cascade, slow: the 'full simulation' baseline).")] = "fast",
    repeat: Annotated[int, typer.Option(help="K independent responses per condition (written consecutively).")] = 1,
    conditions: Annotated[Path | None, typer.Option(help="Simulate these particles (.h5, particles .npz, .csv/.txt with 9 or 10 columns) instead of sampling.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives an identical file.")] = 0,
    fmt: Annotated[str | None, typer.Option("--format", help="h5 (streamed) or npz (the ALICE pair; held in memory until written, so prefer h5 for millions of events). Default: from the --out suffix.")] = None,
    o2_filter: Annotated[bool | None, typer.Option("--filter/--no-filter", help="Drop events with both ZN and ZP empty, as O2 does (default: on for sampled particles, off for --conditions).")] = None,
    batch_size: Annotated[int, typer.Option(help="Events per simulation batch (memory bound).")] = 8192,
    given_filter: Annotated[bool, typer.Option("--given-filter", help="With --conditions: keep every row and draw each response given that O2's filter keeps it (ZN or ZP lit; an event with both empty is redrawn). Use it for the floor of a filtered file (anything sampled with the filter on, e.g. a split of 'simulate -n'); the default (each particle's unconditioned response, some both empty) is the floor of a raw particle list.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Simulate stand-in ZN/ZP responses with the parametric Monte Carlo (SYNTHETIC data)."""
    from .workflows import simulate_to_files

    if conditions is None and n is None:
        raise FastZDCError("give -n N (sampled particles) or --conditions FILE")
    if n is not None and not 1 <= n <= 10**10:
        raise FastZDCError(f"-n must be a positive number of events (at most 1e10), got {n}")
    import time

    t0 = time.perf_counter()
    result = simulate_to_files(
        out, detector=detector.lower(), n=n, conditions_file=conditions, mode=mode, repeat=repeat, seed=seed,
        fmt=fmt, keep_nonempty_only=o2_filter, batch_size=batch_size, progress=not json_out, given_filter=given_filter,
    )
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if json_out:
        _emit_json(result)
        return
    rows = ", ".join(f"{d.upper()} {k}" for d, k in result["rows"].items())
    console.print(f"wrote {rows} events (synthetic, seed {seed}, {result['seconds']:.1f} s):")
    for f in result["files"]:
        console.print(f"  {f}")


# --------------------------------------------------------------------------- convert / info / split
@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Input: .h5, or an ALICE .npz (responses or particles; its partner is found by name).")],
    dst: Annotated[Path, typer.Argument(help="Output: .h5, or x_responses.npz (writes x_responses.npz + x_particles.npz).")],
    json_out: JsonOpt = False,
) -> None:
    """Convert between the ALICE npz file pair and fastzdc HDF5 (validates the input)."""
    from .workflows import convert_file

    result = convert_file(src, dst)
    if json_out:
        _emit_json(result)
        return
    console.print(f"converted {result['rows']} {result['detector'].upper()} rows -> {', '.join(result['files'])}")


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="A dataset: .h5 or one member of an ALICE .npz pair.")],
    json_out: JsonOpt = False,
) -> None:
    """Rows, detector, empty fraction, photon-sum quantiles, zero pixels, max pixel, feature statistics."""
    from .workflows import info_file

    s = info_file(file)
    if json_out:
        _emit_json(s)
        return
    label = "SYNTHETIC stand-in" if s["synthetic"] else "not marked synthetic"
    console.print(f"[bold]{file}[/]: {s['rows']} rows, {s['detector'].upper()} {tuple(s['shape'])}, {label} ({s['generator']})")
    t = Table("statistic", "value")
    t.add_row("empty fraction", f"{100 * s['empty_fraction']:.2f} %")
    ps = s["photon_sum_nonzero"]
    t.add_row("photon sum (non-zero) min/Q1/median/Q3/max", f"{ps['min']:.0f} / {ps['q25']:.0f} / {ps['median']:.0f} / {ps['q75']:.0f} / {ps['max']:.0f}")
    t.add_row("photon sum mean (all)", f"{s['photon_sum']['mean']:.2f}")
    t.add_row("zero-pixel fraction", f"{100 * s['zero_pixel_fraction']:.2f} %")
    t.add_row("max pixel", str(s["max_pixel"]))
    console.print(t)
    ft = Table("feature", "unit", "mean", "std", "min", "Q1", "median", "Q3", "max")
    for name, f in s["features"].items():
        ft.add_row(name, f["unit"], *(f"{f[k]:.4g}" for k in ("mean", "std", "min", "q25", "median", "q75", "max")))
    console.print(ft)


@app.command()
def split(
    file: Annotated[Path, typer.Argument(help="Dataset to split (.h5 or ALICE .npz).")],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Folder for train/val/test .h5 and the scaler.")],
    json_out: JsonOpt = False,
) -> None:
    """The published 70/10/20 split (sklearn, random_state 42 then 43) + a scaler fitted on train only
    (scaler.json and O2's scaler.txt)."""
    from .workflows import split_file

    result = split_file(file, out_dir)
    if json_out:
        _emit_json(result)
        return
    console.print(f"train {result['rows']['train']}, val {result['rows']['val']}, test {result['rows']['test']} rows -> {out_dir}")


# --------------------------------------------------------------------------- train / generate
@app.command()
def train(
    kind: Annotated[str, typer.Argument(help="Model kind: fm (flow matching), vae, latent-fm (needs --set model.vae=VAE_RUN), vq (VQ autoencoder), vq-prior (needs --set model.vq=VQ_RUN), vq-energy (decoder tuning of a VQ-GAN: --set model.prior=PRIOR_RUN), fm-distill (few-step student of an fm run: --set model.teacher=FM_RUN).")],
    data: Annotated[Path, typer.Option(help="Dataset (.h5 or ALICE .npz); the published 70/10/20 split is applied.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: best/ and last/ checkpoints.")],
    detector: Annotated[str | None, typer.Option("--detector", "-d", help="zn or zp (default: from the config).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config (see configs/).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override: number of epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override: batch size (the global batch of a step, whatever the number of torchrun processes).")] = None,
    lr: Annotated[float | None, typer.Option(help="Override: peak learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override: random seed.")] = None,
    device: Annotated[str | None, typer.Option(help="Override: cpu, cuda or auto.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: --set model.widths=[8,24,48].")] = None,
    resume: Annotated[bool, typer.Option(help="Continue exactly from OUT/last (under torchrun: on any number of processes that divides the run's batch_parts).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the run already in OUT (without --resume or --overwrite a "
                                                 "non-empty OUT is refused).")] = False,
    stop_after: Annotated[int, typer.Option(help="Stop after this many epochs (resume later with --resume).")] = 0,
    init: Annotated[Path | None, typer.Option(help="Fine-tune: start from this checkpoint's weights and condition scaler (same kind, detector and network).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a model on the training split; validation W every epoch; best/ and last/ checkpoints.

    Data-parallel on N processes or GPUs: torchrun --nproc-per-node N -m fastzdc train ... (gloo on the
    CPU, NCCL on CUDA). --batch-size stays the global batch; see docs/production.md."""
    from .models import get_kind
    from .training.config import TrainConfig, parse_set
    from .training.loop import train as run_training

    get_kind(kind)
    cfg = TrainConfig.from_toml(config) if config else TrainConfig()
    overrides = {"kind": kind, "detector": detector, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "device": device,
                 "init": str(init) if init else None}
    overrides.update(parse_set(set_ or []))
    cfg = cfg.with_overrides(overrides)
    if stop_after < 0:
        raise FastZDCError(f"--stop-after must be >= 0, got {stop_after}")
    if not data.is_file():
        raise FastZDCError("file not found", data)
    result = run_training(cfg, data, out, resume=resume, overwrite=overwrite, stop_after=stop_after, progress=not json_out,
                          log=(lambda s: None) if json_out else console.print)
    if result.get("rank"):  # under torchrun only process 0 reports
        return
    if json_out:
        _emit_json(result)
        return
    console.print(f"done: {result['epochs']} epochs, {result['steps']} steps in {result['seconds']:.0f} s; best validation W {result['best_val_w']:.3f} -> {result['best']}")


@app.command()
def generate(
    conditions: Annotated[Path, typer.Option(help="Particles: .h5, particles .npz, or .csv/.txt with 9 or 10 columns.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5 (streamed, bounded memory).")],
    model: Annotated[Path | None, typer.Option(help="Checkpoint folder (or a run folder: its best/), ONNX export folder, or look-up folder "
                                                    "(with --detector both: not used; see --joint).")] = None,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: the checkpoint's).")] = None,
    method: Annotated[str | None, typer.Option(help="ODE solver: euler, midpoint or heun.")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per network call.")] = 4096,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same responses at any batch size "
                                           "(same model, back end, precision and device).")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    sample_opt: SampleOpt = None,
    backend: Annotated[str, typer.Option(help="torch (PyTorch), onnx (ONNX Runtime, CPU; a checkpoint is exported in memory "
                                              "first, an export folder runs as is; faster for batches of a few rows on the CPU) "
                                              "or auto: by the model, never by the batch size -- ONNX Runtime for export "
                                              "folders, PyTorch for checkpoints. Same seed, same noise: both give the same "
                                              "responses up to float rounding (PyTorch with --precision float32).")] = "auto",
    precision: PrecisionOpt = "auto",
    detector: Annotated[str | None, typer.Option("--detector", "-d", help="both: ZN and ZP responses of the same particles "
                                                 "(<stem>_zn.h5, <stem>_zp.h5; the response gate picks who responds). "
                                                 "Default: the model's one detector.")] = None,
    joint: JointOpts = None,
    gate: Annotated[bool | None, typer.Option("--gate/--no-gate", help="With --detector both: --gate for a raw particle list "
                                              "(all spectators): the response gate also decides whether a particle responds at "
                                              "all (rows without a response get two empty images); --no-gate for particles O2's "
                                              "filter kept: each lights ZN, ZP or both. Default: --no-gate for a fastzdc file "
                                              "made with the filter on, --gate otherwise.")] = None,
    shard: Annotated[str | None, typer.Option(help="I/N: write only shard I of N (counted from 0), rows [I*R/N, (I+1)*R/N) "
                                                   "of the R particles, each with the noise it gets in a one-process run; join "
                                                   "the shard files with 'fastzdc merge'. Without it the shard comes from "
                                                   "RANK/WORLD_SIZE or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set; "
                                                   "--shard wins, and --shard 0/1 turns sharding off.")] = None,
    response_gate: Annotated[Path | None, typer.Option("--response-gate", help="One detector behind the response gate "
                                                       "(e.g. weights/gate): the gate draws whether the particle lights "
                                                       "the detector, the model draws the lit response (given O2's "
                                                       "filter for a fastzdc file made with it, else for a raw list; "
                                                       "docs/joint.md).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate one response per particle with a trained model (checkpoint or ONNX export folder); writes fastzdc HDF5.

    Crash-safe: completed chunks are kept in the folder .OUT.parts beside OUT and OUT appears only when
    complete; run the same command again after a crash or kill and it goes on from the last completed chunk."""
    from .workflows import generate_to_file

    if detector is not None and detector.lower() == "both":
        from .cli_joint import generate_both

        if shard is not None:
            raise FastZDCError("--shard works for one detector; --detector both runs in one process")
        return generate_both(conditions, out, seed=seed, batch_size=batch_size, precision=precision, device=device,
                             options=joint or [], include_none=gate, json_out=json_out)
    if detector is not None and detector.lower() not in ("zn", "zp"):
        raise FastZDCError(f"unknown detector {detector!r}; choose zn, zp or both")
    if model is None:
        raise FastZDCError("give --model (or --detector both)")
    result = generate_to_file(model, conditions, out, steps=steps, method=method, batch_size=batch_size, seed=seed,
                              device=device, progress=not json_out, backend=backend.lower(), sampler=_sample_opts(sample_opt),
                              precision=precision.lower(), shard=shard, gate=response_gate)
    if result["saturated_pixels"]:
        print(f"fastzdc: warning: {out}: {result['saturated_pixels']} pixels saturated at 65535 photons (the model asked "
              f"for more; attribute 'saturated_pixels' of the file)", file=sys.stderr)
    if json_out:
        _emit_json(result)
        return
    console.print(f"wrote {result['rows']} {result['detector'].upper()} responses of {result['model']} to {result['file']} ({result['ms_per_sample']:.3f} ms/sample, {result['backend']})")


@app.command()
def merge(
    shards: Annotated[list[Path], typer.Argument(help="The shard files of one 'fastzdc generate --shard' run, in any order.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5: the file a one-process run writes, row for row.")],
    json_out: JsonOpt = False,
) -> None:
    """Join the shard files of one sharded generate run into one HDF5 file (streamed, bounded memory).

    Refuses shards of different runs (model SHA-256, seed, sampler, back end, precision, chunk size,
    conditions, shard count) and missing, duplicate or overlapping rows, before writing anything."""
    from .production.merge import merge_shards

    result = merge_shards(shards, out)
    if json_out:
        _emit_json(result)
        return
    console.print(f"merged {result['shards']} shards, {result['rows']} rows -> {result['file']}")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Test dataset (.h5 or ALICE .npz), e.g. test.h5 from 'fastzdc split'.")],
    model: Annotated[list[Path] | None, typer.Option(help="Checkpoint, ONNX export or look-up folder; repeat for several models.")] = None,
    n_rep: Annotated[int, typer.Option(help="Generations per test condition (pooled), as published.")] = 5,
    floor: Annotated[bool, typer.Option(help="Add the original-data floor: the Monte Carlo re-simulates the test particles.")] = True,
    max_rows: Annotated[int, typer.Option(help="Use only the first rows of the test file (0 = all).")] = 0,
    steps: Annotated[int | None, typer.Option(help="Override the models' sampling steps.")] = None,
    method: Annotated[str | None, typer.Option(help="Override the models' ODE solver.")] = None,
    sample_opt: SampleOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for the HTML report (report.html), plots, results.json and results.csv.")] = None,
    fidelity: Annotated[bool, typer.Option(help="Classifier AUC (features and images), FPD/KPD, diversity, per energy bin and species.")] = True,
    quick: Annotated[bool, typer.Option(help="Skip the image classifier (seconds instead of tens of seconds per model).")] = False,
    lookup: Annotated[Path | None, typer.Option(help="Training file (.h5/.npz) or look-up folder for the shower-library row "
                                                     "after the floor (default: train.h5 beside --data, as written by 'fastzdc split').")] = None,
    no_lookup: Annotated[bool, typer.Option("--no-lookup", help="Leave out the shower-library row.")] = False,
    response_gate: Annotated[Path | None, typer.Option("--response-gate", help="A response-gate checkpoint (e.g. "
                                                       "weights/gate): also score every model behind it, in a row "
                                                       "'MODEL + gate' (the gate draws whether the detector is lit, "
                                                       "the model draws the lit response).")] = None,
    precision: PrecisionOpt = "auto",
    detector: Annotated[str | None, typer.Option("--detector", "-d", help="both: the joint evaluation of ZN and ZP of the same "
                                                 "particles (--data: either file of a 'simulate -d both' pair); the 2x2 "
                                                 "occupancy, the ZN-ZP correlation and a joint classifier AUC for the floor, "
                                                 "the look-up (--joint lookup_zn=, lookup_zp=), the two models sampled "
                                                 "independently and the joint generator (--joint as for generate).")] = None,
    joint: JointOpts = None,
    json_out: JsonOpt = False,
) -> None:
    """Score models in the layout of the published Table 1 (W per channel, MAE, time per sample).

    With --out: also plots (sample grids, channel-sum histograms with ratio panels, photon sum vs
    energy, centroid maps, fidelity vs steps, time vs fidelity) in one self-contained report.html."""
    from .workflows import evaluate_models

    if detector is not None and detector.lower() == "both":
        from .cli_joint import evaluate_both

        return evaluate_both(data, out=out, seed=seed, max_rows=max_rows, floor=floor, quick=quick or not fidelity,
                             precision=precision, options=joint or [], json_out=json_out)

    result = evaluate_models(model or [], data, n_rep=n_rep, seed=seed, floor=floor, max_rows=max_rows,
                             steps=steps, method=method, progress=not json_out, out=out, fidelity=fidelity, quick=quick,
                             sampler=_sample_opts(sample_opt), precision=precision.lower(),
                             lookup=False if no_lookup else lookup, gate=response_gate)
    if json_out:
        _emit_json(result)
        return
    label = "SYNTHETIC stand-in data" if result["synthetic"] else "data"
    print_result_table(result["results"], title=f"{result['rows_evaluated']} test rows x {n_rep} of {label} ({data})")
    if result.get("report"):
        console.print(f"report: {result['report']}")


# --------------------------------------------------------------------------- fit
@app.command()
def fit(
    data: Annotated[Path, typer.Option(help="Your data (.h5 or one member of an ALICE .npz pair).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Fit folder: split/, runs/, weights/, eval/, onnx/, fit.json, summary.json. "
                                                          "Run the same command again to continue an interrupted fit.")],
    detector: Annotated[str | None, typer.Option("--detector", "-d", help="zn or zp (default: the data's; a mismatch is refused).")] = None,
    model: Annotated[str, typer.Option(help="fm (FM then its few-step student), lfm (VAE then latent FM), vq (VQ autoencoder, "
                                            "prior, decoder tuning, final prior, on ZN its energy-score decoder tuning), library (the look-up) or all.")] = "fm",
    config: Annotated[Path | None, typer.Option(help="TOML of per-stage tables overriding the preset: "
                                                     "\\[fm], \\[fm.model], \\[fm-distill], \\[vae], \\[latent-fm], \\[vq], "
                                                     "\\[vq-prior], \\[vq-decoder], \\[vq-final], \\[vq-energy], \\[train] (every training stage), "
                                                     "\\[lookup], \\[evaluate], \\[export]; an unknown table or key is refused "
                                                     "(docs/training.md).")] = None,
    init: Annotated[Path | None, typer.Option(help="Fine-tune: the stage of this checkpoint's kind starts from its weights and scaler.")] = None,
    preset: Annotated[str, typer.Option(help="default (the shipped recipes in configs/) or quick (small networks and budgets: "
                                             "fm or lfm end to end in minutes on 2 cores).")] = "default",
    json_out: JsonOpt = False,
) -> None:
    """Train a model on your data in one command: the published split, every training stage, evaluation
    on the test split (report with floor and look-up rows), ONNX export with the O2 scaler, a summary.

    Every input is checked before training starts. Each stage is recorded in OUT/fit.json; the same
    command after an interruption (Ctrl-C, kill -9) skips the finished stages and resumes the running
    one from its last checkpoint; other data or changed settings are refused."""
    from .fit import run_fit

    summary = run_fit(data, out, detector=detector, model=model.lower(), preset=preset.lower(), config=config, init=init,
                      progress=not json_out, log=(lambda s: None) if json_out else console.print)
    if json_out:
        _emit_json(summary)
        return
    t = Table("stage", "seconds", "best val W", title=f"fit of {summary['data']['path']} ({summary['detector'].upper()}, "
                                                      f"{summary['preset']} preset)")
    for name, st in summary["stages"].items():
        t.add_row(name, f"{st['seconds']:.0f}", f"{st['best_val_w']:.3f}" if "best_val_w" in st else "")
    console.print(t)
    s = Table("generator", "W", "W / floor", "AUC features", "AUC sums | p", "ms / sample",
              title=f"{summary['test_rows']} test rows x {summary['n_rep']}")
    for r in summary["scores"]:
        ratio = "1" if r["floor"] else _pm(r.get("w_over_floor"), r.get("w_over_floor_err"), 2)
        s.add_row("floor (Monte Carlo)" if r["floor"] else r["name"], _pm(r["w"], r.get("w_err"), 3), ratio,
                  _auc({"value": r.get("auc_features")}), _auc({"value": r.get("auc_sums_conditional")}),
                  f"{r['ms_per_sample']:.3f}")
    console.print(s)
    console.print(f"weights in {out}/weights, report {out}/{summary['report']}, summary {out}/summary.json "
                  f"({summary['seconds_total']:.0f} s of stages)")


# --------------------------------------------------------------------------- lookup
@app.command()
def lookup(
    data: Annotated[Path, typer.Option(help="Training file (.h5 or ALICE .npz), e.g. train.h5 from 'fastzdc split'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Look-up folder to write (holds lookup.json only; the responses stay in --data).")],
    k: Annotated[int, typer.Option(help="Neighbours to choose from: each particle gets the response of one of its k nearest training particles.")] = 8,
    rescale: Annotated[bool, typer.Option(help="Thin a higher-energy neighbour's photons to the particle's energy (binomial).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Build the shower-library baseline: a k-nearest-neighbour look-up of training responses.

    Use the folder as --model in generate and evaluate, or as --lookup in evaluate. Distances are taken
    in standardised particle features with log energy. The training file's SHA-256 is recorded and
    checked on every load."""
    from .workflows import build_lookup

    result = build_lookup(data, out, k=k, rescale=rescale)
    if json_out:
        _emit_json(result)
        return
    console.print(f"look-up of {result['rows']} {result['detector'].upper()} responses (k {result['k']}"
                  f"{', energy-rescaled' if rescale else ''}) -> {out}/: {result['memory_mb']:.0f} MB in memory, "
                  f"built in {result['build_seconds']:.1f} s, {result['ms_per_sample']:.3f} ms/sample")


# --------------------------------------------------------------------------- export onnx
@export_app.command("onnx")
def export_onnx(
    model: Annotated[Path, typer.Option(help="Checkpoint folder (or a run folder: its best/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Export folder (replaced if it is a previous export).")],
    steps: Annotated[int | None, typer.Option(help="Sampling steps unrolled in the graph (default: the checkpoint's).")] = None,
    method: Annotated[str | None, typer.Option(help="ODE solver: euler, midpoint or heun (default: the checkpoint's).")] = None,
    sample_opt: SampleOpt = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (>= 18).")] = 18,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also write float16 variants (float32 inputs and output).")] = False,
    o2_dropin: Annotated[bool, typer.Option("--o2-dropin", help="Also write model.o2.onnx: inputs 'noise' (batch x 10, the "
                                            "noise vector O2's ZDC fast simulation draws) and 'conditions', for O2 "
                                            "unmodified (docs/o2.md).")] = False,
    o2_candidates: Annotated[int, typer.Option("--o2-candidates", help="With --o2-dropin: draw K responses per particle "
                                               "in model.o2.onnx and return the first non-empty one, for O2 behind a "
                                               "response classifier such as the response gate (docs/o2.md). 1 = one "
                                               "draw.", min=1, max=16)] = 1,
    o2_gate: Annotated[Path | None, typer.Option("--o2-gate", help="With --o2-dropin: build this response gate (e.g. "
                                                 "weights/gate) into model.o2.onnx; it draws whether the particle "
                                                 "lights this detector, given that O2's classifier let it through "
                                                 "(docs/o2.md).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Export the whole sampler of a checkpoint as one ONNX graph for ALICE O2 and ONNX Runtime.

    Files in OUT: model.onnx takes 'noise' (batch, noise shape; ZN FM: batch x 1 x 44 x 44) then 'conditions' (batch x 9, features scaled with scaler.txt) and returns 'log_image' (batch x nx x ny, log1p photon counts >= 0; counts = exp(x) - 1). model.graph-noise.onnx draws the noise inside the graph and takes 'conditions' only. --fp16 adds both in float16 (float32 inputs and output). scaler.txt is the feature scaler in O2's #means/#scales format, scaler.json the same as JSON, model_card.json describes everything.

    The batch dimension is dynamic; the sampler's steps are unrolled. Before anything is written, every file runs in ONNX Runtime against PyTorch on the same noise; the folder is swapped in only when complete. Re-run after new weights to regenerate the files.
    """
    from .export import export_onnx as run_export

    result = run_export(model, out, steps=steps, method=method, opset=opset, fp16=fp16, sampler=_sample_opts(sample_opt),
                        o2_dropin=o2_dropin, o2_candidates=o2_candidates, o2_gate=o2_gate)
    if json_out:
        _emit_json(result)
        return
    card = result["card"]
    console.print(f"exported {card['name']} ({card['kind']}, {card['detector'].upper()}, sampler {card['sampler']}) to {out}/:")
    for name, size in result["files"].items():
        console.print(f"  {name} ({size / 1024:.0f} kB)")
    diffs = ", ".join(f"{k} {v:.2g}" for k, v in result["parity"].items() if k.startswith("float"))
    console.print(f"  scaler.txt, scaler.json, model_card.json; max |ONNX - PyTorch| (log1p): {diffs}")


# --------------------------------------------------------------------------- mc calibrate
@mc_app.command("calibrate")
def mc_calibrate(
    n: Annotated[int, typer.Option("-n", "--n", help="Sampled events (after the O2 filter).")] = 50000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Compare the stand-in with the published real-data statistics, row by row (pass/fail)."""
    from . import mc

    if n < 1000:
        raise FastZDCError(f"-n must be at least 1000 for meaningful quantiles, got {n}")
    rows = mc.calibrate(n=n, seed=seed, verbose=False)
    passed = all(r.passed for r in rows)
    if json_out:
        _emit_json({"n": n, "seed": seed, "all_passed": passed, "rows": [r.__dict__ for r in rows]})
    else:
        t = Table("quantity", "real data (target)", "stand-in", "tolerance", "pass", "source", title=f"calibration on {n} synthetic events")
        for r in rows:
            t.add_row(r.name, f"{r.target:.4g}", f"{r.value:.4g}", r.tolerance, "[green]pass[/]" if r.passed else "[red]FAIL[/]", r.source)
        console.print(t)
        console.print("all rows pass" if passed else "[red]some rows fail[/]")
    if not passed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo_out"),
    quick: Annotated[bool, typer.Option(help="About one minute: fewer events (CI smoke test).")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    precision: PrecisionOpt = "auto",
    json_out: JsonOpt = False,
) -> None:
    """The main job: simulate a stand-in test set, evaluate the shipped models against the
    original-data floor (an independent re-simulation), print the table and write the HTML report
    (OUT/report.html, with results.json and results.csv)."""
    from .demo import run_demo

    result = run_demo(out, quick=quick, seed=seed, progress=not json_out, precision=precision.lower())
    if json_out:
        _emit_json(result)
        return
    print_result_table(result["results"], title="fastzdc demo on SYNTHETIC stand-in data (not real ALICE data)")
    for note in result.get("notes", []):
        console.print(note)
    console.print(f"outputs in {out}/: {len(result['files'])} files; open the report: {result['report']}")


def _auc(v: dict[str, Any] | None) -> str:
    return "-" if not v or v.get("value") is None else f"{v['value']:.3f}"


def _pm(value: float | None, err: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if err is None else f"{value:.{digits}f} ± {err:.{digits}f}"


def print_result_table(rows: list[dict[str, Any]], title: str) -> None:
    """The published Table-1 layout plus the conditional tests; the floor row is shown as "original data (MC)".

    Columns: W mean and W / floor with bootstrap errors; AUC of classifiers on the 12 high-level features
    and on the 5 channel sums, without and with the particle (``|p``); on the images."""
    wide = Console(width=max(console.width, 150)) if not console.is_terminal else console
    t = Table("det", "generator", "ms/sample", "W mean", "W/floor", "MAE", "params", "AUC feat", "AUC feat|p",
              "AUC sums|p", "AUC img", title=title)
    for col in t.columns:
        col.no_wrap = True
    floors = {r["detector"]: r["w_mean"] for r in rows if r.get("extra", {}).get("is_floor")}
    for r in rows:
        floor = floors.get(r["detector"])
        ratio = r.get("w_over_floor", r["w_mean"] / floor if floor else None)
        name = "original data (MC)" if r.get("extra", {}).get("is_floor") else r["name"]
        fid = r.get("fidelity") or {}
        t.add_row(
            r["detector"].upper(), name, f"{r['time_per_sample_ms']:.3f}", _pm(r["w_mean"], r.get("w_err"), 3),
            _pm(ratio, r.get("w_over_floor_err"), 2), f"{r['mae']:.2f}", str(r["n_params"]),
            *(_auc(fid.get(k)) for k in ("auc_features", "auc_features_conditional", "auc_sums_conditional", "auc_images")),
        )
    wide.print(t)


# --------------------------------------------------------------------------- entry point
EXIT_USER_ERROR = 2
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _on_signal(signum: int, frame: Any) -> None:
    from .errors import Interrupted, note_signal, signals_deferred

    note_signal(signum)
    if not signals_deferred():  # else raised when the HDF5 call returns
        raise Interrupted(signum)


def _install_signal_handlers() -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`~fastzdc.errors.Interrupted` (temporaries are removed on
    the way out); the previous handlers are returned for restoring."""
    import signal
    import threading

    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except (OSError, ValueError):
            pass
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    import signal

    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass


def _quiet_interrupts(hook: Any) -> Any:
    """A ``sys.unraisablehook`` that drops a :class:`KeyboardInterrupt` raised where Python cannot pass it
    on (a signal arriving inside a weakref or ``__del__`` callback prints "Exception ignored in ..." with
    a traceback): the signal is still pending and :func:`main` reports it in one line. Other unraisable
    exceptions go to ``hook``."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    return quiet


def _error(text: str) -> int:
    line = " ".join(str(text).split()) or "unknown error"
    print(f"fastzdc: error: {line}", file=sys.stderr)
    return EXIT_USER_ERROR


def _os_error_text(err: OSError) -> str:
    name = err.filename if err.filename is not None else None
    why = err.strerror or (str(err).splitlines()[0] if str(err) else type(err).__name__)
    return f"{name}: {why}" if name else why


def _reflow_help(*apps: typer.Typer) -> None:
    """Command help from the docstrings with each paragraph on one line, so that rich wraps every paragraph
    to the terminal (it keeps the line breaks of all but the first). Paragraphs holding a list stay as written."""
    import inspect

    for a in apps:
        for info in a.registered_commands:
            if info.help is None and info.callback is not None and info.callback.__doc__:
                paragraphs = inspect.cleandoc(info.callback.__doc__).split("\n\n")
                info.help = "\n\n".join(
                    p if any(line.lstrip().startswith(("-", "*", "|")) for line in p.splitlines()) else " ".join(p.split())
                    for p in paragraphs)


_reflow_help(app, mc_app, export_app, gate_app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point.

    Exit codes: 0 success; 1 ``mc calibrate`` with a failing row; 2 a user error (bad argument, file,
    checkpoint, file system: one line ``fastzdc: error: FILE: defect`` on stderr; argument-parsing
    errors show typer's usage line); 128 + the signal number when SIGINT (130), SIGHUP (129) or SIGTERM
    (143) ended the command (``fastzdc: interrupted``; temporary files removed, no output written).
    Set ``FASTZDC_DEBUG=1`` to see the traceback of an unexpected error.
    """
    import os

    import click

    from .errors import Interrupted, clear_signals, pending_signal

    # typer >= 0.2x raises its own copies of click's exceptions (typer.Exit, typer.Abort, TyperException)
    aborts = (click.exceptions.Abort, typer.Abort)
    exits = (click.exceptions.Exit, typer.Exit)
    usage = (click.exceptions.ClickException, getattr(typer.exceptions, "TyperException", click.exceptions.ClickException))

    clear_signals()
    previous = _install_signal_handlers()
    unraisable_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_interrupts(unraisable_hook)
    code = 0
    try:
        try:
            result = app(args=argv, prog_name="fastzdc", standalone_mode=False)
            code = result if isinstance(result, int) else 0
            if code == 130:  # typer turns KeyboardInterrupt into exit code 130
                raise KeyboardInterrupt
        except aborts as err:
            cause = err.__cause__ or err.__context__
            raise cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt() from None
    except FastZDCError as err:
        code = _error(str(err))
    except exits as err:
        code = int(getattr(err, "exit_code", 0))
    except usage as err:
        if hasattr(err, "show"):
            err.show()
        else:
            _error(str(err))
        code = int(getattr(err, "exit_code", 2))
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Interrupted) else (pending_signal() or 2)
        print("fastzdc: interrupted", file=sys.stderr)
        code = 128 + signum
    except OSError as err:
        code = _error(_os_error_text(err))
    except MemoryError:
        code = _error("out of memory (use a smaller --batch-size or fewer rows)")
    except Exception as err:
        if os.environ.get("FASTZDC_DEBUG"):
            raise
        first = str(err).splitlines()[0] if str(err) else ""
        code = _error(f"unexpected {type(err).__name__}: {first[:300]} (FASTZDC_DEBUG=1 shows the traceback)")
    finally:
        _restore_signal_handlers(previous)
        sys.unraisablehook = unraisable_hook
    signum = pending_signal()
    if signum is not None and code != 128 + signum:  # the signal's exception was swallowed (e.g. in a weakref callback)
        print("fastzdc: interrupted", file=sys.stderr)
        code = 128 + signum
    clear_signals()
    return code


if __name__ == "__main__":
    sys.exit(main())
