"""Flow-matching benchmarks: speed at batch 1 / 256 / 4096 and fidelity versus sampling steps.

    python benchmarks/bench_fm.py --model weights/fm-zn --data split/test.h5 [--append]

* speed: ms per sample of ``generate`` with the checkpoint's default sampler (median of repeats,
  after warm-up; batch 1 on one thread = the O2 per-particle case; float32 on CPU);
* fidelity vs steps: mean W and MAE on the first ``--rows`` test rows (n_rep = 1) for each solver and
  step count 1..32, as a table and a plot (benchmarks/fm_steps_<det>.png) -- the published Fig. 10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import append_results, ensure_allocator_env, machine, median_time, steps_sweep  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.metrics import compare_counts  # noqa: E402
from fastzdc.sampling.generator import load_generator  # noqa: E402


def speed(model: str, cond: np.ndarray) -> list[str]:
    rows = []
    for batch, threads in ((1, 1), (256, torch.get_num_threads()), (4096, torch.get_num_threads())):
        torch.set_num_threads(threads)
        gen = load_generator(model)
        c = np.resize(cond, (batch if batch > 1 else 64, 9))
        n = len(c)
        sync = torch.cuda.synchronize if gen.device.type == "cuda" else None
        t = median_time(lambda: gen.generate(c, seed=0, batch_size=batch), repeats=3 if batch == 4096 else 5, sync=sync)
        rows.append(f"| {gen.name} | {gen.sampler} | {gen.device.type} | {batch} | {threads} | {1e3 * t / n:.3f} |")
    torch.set_num_threads(2)
    return rows


def plot(out: dict, floor: float | None, path: Path, det_name: str) -> None:
    """One curve per solver: W against network evaluations (fastzdc.report.plots.steps_curves)."""
    from fastzdc.report.plots import steps_curves

    curves = {m: [(v[0], v[1]) for k, v in out.items() if k[0] == m] for m in sorted({k[0] for k in out})}
    path.write_bytes(steps_curves(curves, floor, det_name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="test file (stand-in test split)")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--steps", type=int, nargs="*", default=[1, 2, 3, 4, 6, 8, 12, 16, 32])
    ap.add_argument("--methods", nargs="*", default=["euler", "midpoint", "heun"])
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    text = [f"## Flow matching {Path(args.model).name}: speed ({machine()}, float32)", "",
            "| model | sampler | device | batch | threads | ms / sample |", "|---|---|---|---:|---:|---:|"]
    text += speed(args.model, ds.conditions[:4096])
    print("\n".join(text), flush=True)
    if not args.no_sweep:
        from fastzdc.mc import MonteCarloGenerator

        sub = ds.subset(slice(0, args.rows))
        floor = compare_counts(sub.detector, sub.responses, MonteCarloGenerator(sub.detector).generate(sub.conditions, seed=1), 1)["w_mean"]
        head = [f"", f"### fidelity vs steps ({args.rows} test rows, n_rep 1; MC re-simulation floor W {floor:.3f})", "",
                "| solver | steps | evaluations | W | MAE |", "|---|---:|---:|---:|---:|"]
        lines, out = steps_sweep(args.model, load_dataset(args.data).subset(slice(0, args.rows)), args.steps, args.methods)
        text += head + lines
        png = Path(__file__).with_name(f"fm_steps_{sub.detector.name}.png")
        plot(out, floor, png, sub.detector.name)
        text += ["", f"Plot: `{png.name}`."]
    if args.append:
        append_results("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
