"""Time every generator in one run: the Monte Carlo (fast and detailed) and every shipped model.

    python benchmarks/bench_all.py [--weights weights] [--batches 1 256 4096] [--steps 2 4 8] [--append]

Same conditions for all (the first test particles of a stand-in set simulated here), warm-up, then
the median of repeats of ``generate`` (device synchronised); ms per sample. Batch 1 runs on one
thread (the O2 per-particle case), larger batches on all threads. Each model (every checkpoint folder
of ``--weights``) is timed at its default sampler and at the ``--steps`` variants, in float32 and,
where ``--precision auto`` would pick it (the networks marked ``auto_bfloat16`` on a CPU with AMX /
AVX512-BF16), in bfloat16 autocast. On a GPU machine the models are timed there as well (float32 and
bfloat16 autocast). One table, appended to benchmarks/RESULTS.md with ``--append``, with the machine
described: compare rows as ratios within it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, machine, publish, time_generate  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.detector import get_detector  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.mc import MonteCarloGenerator, simulate  # noqa: E402  (timed here, not a fidelity floor)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(Path(__file__).parents[1] / "weights"))
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 256, 4096])
    ap.add_argument("--steps", type=int, nargs="*", default=[2, 8], help="extra sampler step counts per model")
    ap.add_argument("--detailed", type=int, default=20, help="events for the detailed Monte Carlo (0 = skip)")
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    all_threads = torch.get_num_threads()
    batch = simulate(n=4096, detectors=("zn", "zp"), seed=77, keep_nonempty_only=True)
    lines = []

    def row(det, name, setting, device, b, threads, ms):
        lines.append(f"| {det.upper()} | {name} | {setting} | {device} | {b} | {threads} | {ms:.4f} |")
        print(lines[-1], flush=True)

    models = sorted(p for p in Path(args.weights).iterdir() if (p / "config.json").exists()) if Path(args.weights).is_dir() else []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for d in ("zn", "zp"):
        det = get_detector(d)
        mc = MonteCarloGenerator(det, nonempty=True)
        for b in args.batches:
            cond = batch.conditions[: max(b, 64)]
            threads = 1 if b == 1 else all_threads
            ms = time_generate(mc, cond, b, threads=threads, repeats=5)
            row(d, "Monte Carlo fast", "O2 filter", "cpu", b, threads, ms)
        if args.detailed:
            det_mc = MonteCarloGenerator(det, mode="detailed", nonempty=True)
            ms = time_generate(det_mc, batch.conditions[: args.detailed], args.detailed, threads=all_threads, repeats=1)
            row(d, "Monte Carlo detailed", "O2 filter", "cpu", args.detailed, all_threads, ms)
        for path in models:
            for device in devices:
                gen = load_generator(path, device=device)
                if gen.detector.name != d:
                    break
                settings = [dict(gen.sampler)]
                if "steps" in gen.sampler:  # ODE samplers; token samplers (VQ prior) have no steps
                    settings += [dict(gen.sampler, steps=s) for s in args.steps if s != gen.sampler["steps"]]
                gen.precision = "auto"
                native = gen.precision == "bfloat16"
                for precision in (["float32", "bfloat16"] if device == "cuda" or native else ["float32"]):
                    gen.precision = precision
                    for opts in settings:
                        g = load_generator(path, device=device, **opts)
                        g.precision = precision
                        label = " ".join(f"{k} {v}" for k, v in opts.items())
                        bs = args.batches if device == "cpu" else [4096, 65536]
                        for b in bs:
                            n = max(b, 64) if device == "cpu" else b
                            cond = np.resize(batch.conditions, (n, 9))
                            threads = 1 if b == 1 else all_threads
                            ms = time_generate(g, cond, b, threads=threads, repeats=5 if b < 4096 else 3)
                            row(d, path.name, f"{label}, {precision}", device, b, threads, ms)
    text = [f"## All generators, one run ({machine()})", "",
            "ms per sample of `generate` (median of repeats after warm-up; counts on the host). Batch 1 on one thread "
            "(the O2 per-particle case). SYNTHETIC stand-in conditions.", "",
            "| det | generator | setting | device | batch | threads | ms / sample |", "|---|---|---|---|---:|---:|---:|", *lines]
    publish(text, args.append)


if __name__ == "__main__":
    main()
