"""Fidelity vs the sampler's time-grid shift for an ODE-sampled checkpoint (fm, latent-fm).

    python benchmarks/bench_shift.py --model weights/fm-zp --data data/split_zp/val.h5 \\
        --steps 3 4 5 --shifts 0.5 0.7 1 1.5 2 3 [--rows 5000] [--seeds 1 2] [--append]

The grid ``t_k = s u / (1 + (s - 1) u)``, ``u = k/n`` (:func:`fastzdc.sampling.ode.time_grid`) costs
nothing at sampling time; this sweep picks ``s`` on the validation split. Mean W and MAE (n_rep 1)
averaged over the noise seeds, beside the MC re-simulation floor on the same rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import append_results, ensure_allocator_env, machine  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.metrics import compare_counts  # noqa: E402
from fastzdc.sampling.generator import load_generator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="validation file (stand-in validation split)")
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--steps", type=int, nargs="*", default=[3, 4, 5])
    ap.add_argument("--method", default="midpoint")
    ap.add_argument("--shifts", type=float, nargs="*", default=[0.5, 0.7, 1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    from fastzdc.mc import MonteCarloGenerator

    ds = load_dataset(args.data).subset(slice(0, args.rows))
    floor = compare_counts(ds.detector, ds.responses, MonteCarloGenerator(ds.detector).generate(ds.conditions, seed=1), 1)["w_mean"]
    text = [f"## Time-grid shift, {Path(args.model).name} ({machine()}, float32)", "",
            f"{args.method}; {args.rows} rows of {Path(args.data).name} (SYNTHETIC stand-in), n_rep 1, mean over noise "
            f"seeds {args.seeds}; MC re-simulation floor W {floor:.3f}.", "",
            "| steps | shift | W | W / floor | MAE |", "|---:|---:|---:|---:|---:|"]
    print("\n".join(text), flush=True)
    for s in args.steps:
        for sh in args.shifts:
            gen = load_generator(args.model, steps=s, method=args.method, shift=sh)
            scores = [compare_counts(ds.detector, ds.responses, gen.generate(ds.conditions, seed=seed), 1) for seed in args.seeds]
            w, mae = np.mean([x["w_mean"] for x in scores]), np.mean([x["mae"] for x in scores])
            text.append(f"| {s} | {sh:g} | {w:.3f} | {w / floor:.2f} | {mae:.2f} |")
            print(text[-1], flush=True)
    if args.append:
        append_results("\n".join(text))


if __name__ == "__main__":
    main()
