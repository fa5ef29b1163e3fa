"""Cost of the latent FM's sampler settings: Poisson counts against stochastic rounding, ZP steps.

    python benchmarks/bench_counts.py [--batches 256 4096] [--rounds 3] [--append]

ms per sample of ``generate`` at each batch on all threads, precision auto (bfloat16 networks where the
CPU computes it natively), the variants alternating inside each round (median over rounds of the
median of the repeats); the FM students as the reference of the README's speed column. Conditions:
the first particles of a stand-in set simulated here (SYNTHETIC).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, machine, publish, time_generate  # noqa: E402

ensure_allocator_env()

import torch  # noqa: E402

from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.mc import simulate  # noqa: E402

WEIGHTS = Path(__file__).parents[1] / "weights"
VARIANTS = [("lfm-zn", {}), ("lfm-zn", {"poisson": False}), ("lfm-zp", {}), ("lfm-zp", {"poisson": False}),
            ("lfm-zp", {"steps": 16}), ("lfm-zp", {"steps": 4, "poisson": False}), ("fmd-zn", {}), ("fmd-zp", {})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="*", default=[256, 4096])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    parts = simulate(n=max(args.batches), detectors=("zn", "zp"), seed=77, keep_nonempty_only=True)
    lines = [f"## Latent-FM sampler settings: cost ({machine()})", "",
             (f"{time.strftime('%Y-%m-%d')}. `python benchmarks/bench_counts.py --batches "
              f"{' '.join(map(str, args.batches))} --rounds {args.rounds}`. ms per sample of `generate`, {threads} threads, "
              "precision auto, variants alternating within each round (median over rounds). SYNTHETIC conditions."), "",
             "| model | sampler | precision | batch | ms / sample |", "|---|---|---|---:|---:|"]
    for batch in args.batches:
        gens = []
        for name, opts in VARIANTS:
            g = load_generator(WEIGHTS / name, **opts)
            g.precision = "auto"
            gens.append((name, g, parts.conditions[:batch]))
        times: dict[int, list[float]] = {k: [] for k in range(len(gens))}
        for _ in range(args.rounds):
            for k, (_, g, cond) in enumerate(gens):
                times[k].append(time_generate(g, cond, batch, threads=threads, repeats=1 if batch >= 4096 else 3))
        for k, (name, g, _) in enumerate(gens):
            sampler = ", ".join(f"{key} {v}" for key, v in g.sampler.items())
            lines.append(f"| `{name}` | {sampler} | {g.precision} | {batch} | {statistics.median(times[k]):.4f} |")
            print(lines[-1], flush=True)
    publish(lines, args.append, echo=False)


if __name__ == "__main__":
    main()
