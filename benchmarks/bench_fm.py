"""ODE-sampled checkpoints (fm, fm-distill, latent-fm): speed, fidelity against sampling steps and the
time-grid shift, and the reconstruction W of a latent model's autoencoder.

    python benchmarks/bench_fm.py --model weights/lfm-zn --baseline weights/fm-zn \\
        --precisions float32 bfloat16 --autoencoder runs/cvae-zn/best --data data/split_zn/test.h5 [--append]

* speed (off with ``--no-speed``): ms per sample of ``Generator.generate`` (particles in, uint16 counts
  out) with the checkpoint's sampler at each ``--batches`` (batch 1 on one thread: the O2 per-particle
  case; larger batches on all threads), in each of ``--precisions`` (``bfloat16``: torch autocast, AMX on
  CPUs that have it); median over ``--rounds`` rounds of the median of ``--repeats`` calls after a
  warm-up. ``--baseline``: a second checkpoint (float32) timed in the same rounds, alternating with the
  model, and the speed-up against it (a ratio under the same machine load);
* fidelity (off with ``--no-sweep``): mean W and MAE (n_rep 1) on the first ``--rows`` rows of ``--data``
  for every solver of ``--methods``, step count of ``--steps`` and time-grid shift of ``--shifts``
  (default: the checkpoint's shift), averaged over the noise ``--seeds``; beside the Monte Carlo floor
  on the same rows (``fastzdc.evaluation.floor_generator``). Without ``--shifts``, also a plot of W
  against network evaluations per sample, one curve per solver (``--plot``; by default
  ``benchmarks/{fm,lfm}_steps_<det>.png``);
* ``--autoencoder``: the reconstruction W of a VAE checkpoint (latent FM's first stage) on the same rows.

The shifted grid ``t_k = s u / (1 + (s - 1) u)``, ``u = k/n`` (:func:`fastzdc.sampling.ode.time_grid`)
costs nothing at sampling time; pick ``s`` on the validation split, e.g.

    python benchmarks/bench_fm.py --model weights/fm-zp --data data/split_zp/val.h5 --no-speed \\
        --rows 5000 --methods midpoint --steps 3 4 5 --shifts 0.5 0.7 1 1.5 2 3 --seeds 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import SPEED_HEADER, ensure_allocator_env, fidelity_header, first_rows  # noqa: E402
from _common import machine, publish, speed_options, speed_rows  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.evaluation.metrics import compare_counts  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.sampling.ode import evaluations  # noqa: E402

TITLES = {"fm": "Flow matching", "fm-distill": "Few-step FM student", "latent-fm": "Latent FM"}
PLOTS = {"latent-fm": "lfm"}


def sweep(model: str, ds, methods, steps_list, shifts, seeds, w_floor: float) -> tuple[list[str], dict]:
    """Table rows and ``{(method, steps, shift): (evaluations, W, MAE)}``; W and MAE are means over ``seeds``
    (n_rep 1). ``shifts`` ``[None]``: the checkpoint's own shift."""
    out, lines = {}, []
    for m in methods:
        for s in steps_list:
            for sh in shifts:
                gen = load_generator(model, steps=s, method=m, **({} if sh is None else {"shift": sh}))
                scores = [compare_counts(ds.detector, ds.responses, gen.generate(ds.conditions, seed=seed), 1)
                          for seed in seeds]
                w, mae = float(np.mean([x["w_mean"] for x in scores])), float(np.mean([x["mae"] for x in scores]))
                shift = gen.sampler.get("shift")
                out[(m, s, shift)] = (evaluations(s, m), w, mae)
                cell = "-" if shift is None else f"{shift:g}"
                lines.append(f"| {m} | {s} | {cell} | {evaluations(s, m)} | {w:.3f} | {w / w_floor:.2f} | {mae:.2f} |")
                print(lines[-1], flush=True)
    return lines, out


def plot(out: dict, floor: float, path: Path, det_name: str) -> None:
    """One curve per solver: W against network evaluations (fastzdc.report.plots.steps_curves)."""
    from fastzdc.report.plots import steps_curves

    curves = {m: [(v[0], v[1]) for k, v in out.items() if k[0] == m] for m in sorted({k[0] for k in out})}
    path.write_bytes(steps_curves(curves, floor, det_name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="ODE-sampled checkpoint (fm, fm-distill, latent-fm)")
    ap.add_argument("--data", required=True, help="test or validation file (stand-in split)")
    ap.add_argument("--baseline", help="checkpoint timed in the same rounds (e.g. the FM beside a latent FM)")
    ap.add_argument("--precisions", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                    help="precisions the model is timed in")
    ap.add_argument("--autoencoder", help="VAE checkpoint: its reconstruction W on the same rows")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--steps", type=int, nargs="*", default=[1, 2, 3, 4, 6, 8, 12, 16, 32])
    ap.add_argument("--methods", nargs="*", default=["euler", "midpoint", "heun"])
    ap.add_argument("--shifts", type=float, nargs="*", help="time-grid shifts (default: the checkpoint's)")
    ap.add_argument("--seeds", type=int, nargs="*", default=[1], help="noise seeds W and MAE are averaged over")
    speed_options(ap)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--plot", help="the W-vs-evaluations plot (default: benchmarks/{fm,lfm}_steps_<det>.png)")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    det = ds.detector.name
    gen = load_generator(args.model)
    kind = getattr(getattr(gen, "kind", None), "kind", "fm")
    text = [f"## {TITLES.get(kind, kind)} {Path(args.model).name} ({machine()})", ""]
    if not args.no_speed:
        models = [("baseline " + Path(args.baseline).name, args.baseline, "float32")] if args.baseline else []
        models += [(f"{Path(args.model).name} {p}", args.model, p) for p in args.precisions]
        text += [f"ms per sample of `generate` (particles -> uint16 counts), median over {args.rounds} rounds of "
                 f"the median of {args.repeats} calls; speed-up = baseline time / this time at the same batch, same run.",
                 "", *SPEED_HEADER]
        text += speed_rows(models, ds.conditions[:4096], tuple(args.batches), rounds=args.rounds, repeats=args.repeats,
                           baseline=models[0][0] if args.baseline else None)
    sub = first_rows(ds, args.rows)
    if args.autoencoder or not args.no_sweep:
        floor, lines = fidelity_header(sub, f"rows of {Path(args.data).name}", args.autoencoder,
                                       "VAE reconstruction (decoder of the posterior mean)")
        text += lines
    if not args.no_sweep:
        text += [f"Mean over noise seeds {args.seeds}.", "",
                 "| solver | steps | shift | network evaluations | W | W / floor | MAE |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        shifts = args.shifts or [None]
        lines, out = sweep(args.model, sub, args.methods, args.steps, shifts, args.seeds, floor["w_mean"])
        text += lines
        if not args.shifts:
            png = Path(args.plot) if args.plot else Path(__file__).with_name(f"{PLOTS.get(kind, kind)}_steps_{det}.png")
            plot(out, floor["w_mean"], png, det)
            text += ["", f"Plot: `{png.name}`."]
    publish(text, args.append)


if __name__ == "__main__":
    main()
