"""Inference precision on this machine: float32 vs bfloat16 autocast for a checkpoint (FM or any kind).

    python benchmarks/bench_precision.py --model weights/fmd-zp --data data/split_zp/test.h5 \\
        [--steps 3 4] [--rows 5000 --seeds 0 2] [--append]

* speed: ms per sample of ``generate`` at batch 1 (one thread) and 256 / 4096 (all threads), median of
  repeats after a warm-up, for each precision and step count; the ratio to float32 of the same run;
* bias: the mean channel sums of bfloat16 against float32 on the same noise (first ``--bias-rows`` test
  rows, one generation): the paired test that finds a precision's systematic photon-yield shift;
* fidelity: mean W and MAE on the first ``--rows`` test rows (n_rep 5, pooled, the published protocol)
  for each precision, step count and noise seed; the same noise in every precision, so the differences
  are the precision's.

Precisions (fastzdc.inference.precision): ``float32`` and ``bfloat16`` (torch.autocast; the UNet's
GroupNorms and output convolution stay float32), channels_last weights in both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, first_rows, machine, publish, time_generate  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.evaluation.metrics import compare_counts  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402

VARIANTS = ("float32", "bfloat16")


def make(model: str, variant: str, steps: int | None):
    return load_generator(model, precision=variant, **({"steps": steps} if steps else {}))


def label(gen) -> str:
    """The sampler in a table cell: ``steps method`` for ODE samplers, the options otherwise."""
    o = gen.sampler
    return f"{o['steps']} {o['method']}" if "steps" in o else " ".join(f"{k} {v}" for k, v in o.items())


def speed(model: str, cond: np.ndarray, steps_list, batches) -> list[str]:
    rows, threads_all = [], torch.get_num_threads()
    for steps in steps_list:
        for batch in batches:
            threads = 1 if batch == 1 else threads_all
            c = np.resize(cond, (64 if batch == 1 else max(batch, 1024), 9))
            base = None
            for variant in VARIANTS:
                gen = make(model, variant, steps)
                t = time_generate(gen, c, batch, threads=threads, repeats=3 if batch >= 4096 else 5)
                base = base or t
                rows.append(f"| {gen.name} | {label(gen)} | {variant} | {batch} | {threads} "
                            f"| {t:.3f} | {base / t:.2f} |")
                print(rows[-1], flush=True)
    return rows


def fidelity(model: str, ds, steps_list, seeds, n_rep: int) -> list[str]:
    rows = []
    for steps in steps_list:
        for seed in seeds:
            for variant in VARIANTS:
                gen = make(model, variant, steps)
                fake = np.concatenate([gen.generate(ds.conditions, seed=seed * 1000 + r) for r in range(n_rep)])
                sc = compare_counts(ds.detector, ds.responses, fake, n_rep)
                rows.append(f"| {gen.name} | {label(gen)} | {variant} | {seed} "
                            f"| {sc['w_mean']:.3f} | {sc['mae']:.2f} |")
                print(rows[-1], flush=True)
    return rows


def bias(model: str, ds, steps_list) -> list[str]:
    rows = []
    for steps in steps_list:
        sums = {v: make(model, v, steps) for v in VARIANTS}
        s = {v: g.detector.channel_sums(g.generate(ds.conditions, seed=5, batch_size=256)).mean(0) for v, g in sums.items()}
        rel = 100 * (s["bfloat16"] - s["float32"]) / s["float32"]
        g = sums["float32"]
        rows.append(f"| {g.name} | {label(g)} | {len(ds)} | "
                    + " ".join(f"{r:+.2f}" for r in rel) + " |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="test file (stand-in test split)")
    ap.add_argument("--steps", type=int, nargs="*", default=[None])
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 256, 4096])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--n-rep", type=int, default=5)
    ap.add_argument("--no-fidelity", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--bias-rows", type=int, default=1000, help="rows of the paired bias test (0: skip)")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    ds = first_rows(args.data, args.rows)
    text = [f"## bfloat16 on the CPU: {args.model} (bench_precision.py; {machine()})", ""]
    if not args.no_speed:
        text += ["Speed: ms per sample of `generate` (median), ratio = float32 time / this time (same run).", "",
                 "| model | sampler | precision | batch | threads | ms / sample | speed-up |", "|---|---|---|---:|---:|---:|---:|"]
        text += speed(args.model, ds.conditions, args.steps, args.batches) + [""]
    if args.bias_rows:
        sub = first_rows(ds, args.bias_rows)
        text += ["Bias: mean channel sums in bfloat16 relative to float32 on the same noise (seed 5), %.", "",
                 "| model | sampler | rows | ch1 ch2 ch3 ch4 ch5 (%) |", "|---|---|---:|---|"]
        text += bias(args.model, sub, args.steps) + [""]
    if not args.no_fidelity:
        text += [f"Fidelity: first {len(ds)} rows of {args.data} (SYNTHETIC stand-in) x {args.n_rep} generations, pooled; "
                 "same noise per seed in both precisions.", "",
                 "| model | sampler | precision | noise seed | W | MAE |", "|---|---|---|---:|---:|---:|"]
        text += fidelity(args.model, ds, args.steps, args.seeds, args.n_rep)
    publish(text, args.append)


if __name__ == "__main__":
    main()
