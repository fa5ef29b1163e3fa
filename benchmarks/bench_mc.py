"""Throughput of the Monte Carlo stand-in (fastzdc.mc): events/s of the fast and detailed modes, peak RSS.

Every event simulates both ZN and ZP; events are drawn with ``sample_particles`` and kept by O2's filter
(ZN or ZP non-empty), end to end as a dataset writer would do it (images are consumed batch by batch).
The Monte Carlo as a Generator (ms per sample at a batch size) is timed by bench_all.py.

    python benchmarks/bench_mc.py                 # prints markdown rows
    python benchmarks/bench_mc.py --append        # also appends them to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from fastzdc.mc import iter_simulate  # noqa: E402

sys.path.insert(0, str(HERE))
from _common import append_results, cpu_name  # noqa: E402

HEADER = (
    "| date (UTC) | machine | CPUs | what | kept events | raw events simulated | seconds | kept events/s | peak RSS |\n"
    "|---|---|---:|---|---:|---:|---:|---:|---:|"
)
SECTION = "## fastzdc.mc (Monte Carlo stand-in) throughput"


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {cpu_name()}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run(mode: str, n: int, seed: int) -> tuple[int, float]:
    """(kept events, seconds) for ``n`` kept events."""
    t0 = time.perf_counter()
    kept = 0
    checksum = 0
    for batch in iter_simulate(n, mode=mode, seed=seed, keep_nonempty_only=True, batch_size=8192):
        kept += len(batch)
        checksum += int(batch.responses["zn"][:, 0, 0].sum())  # touch the output like a writer would
    return kept, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fast", type=int, default=300_000, help="kept events in fast mode")
    ap.add_argument("--n-detailed", type=int, default=300, help="kept events in detailed mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append", action="store_true", help="append the rows to benchmarks/RESULTS.md")
    args = ap.parse_args()

    from fastzdc.mc.simulate import CHUNK, simulate

    # kept fraction (to quote the raw number of primaries simulated), from a small unfiltered run
    probe = simulate(CHUNK * 4, seed=args.seed + 1)
    nz = (probe.responses["zn"].reshape(len(probe), -1).any(1)) | (probe.responses["zp"].reshape(len(probe), -1).any(1))
    keep_frac = float(nz.mean())

    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    rows = []
    for mode, n in (("fast", args.n_fast), ("detailed", args.n_detailed)):
        if n <= 0:
            continue
        kept, sec = run(mode, n, args.seed)
        raw = int(round(kept / keep_frac))
        rows.append(
            f"| {date} | {machine()} | {os.cpu_count()} | {mode} mode, ZN+ZP, filtered | {kept} | ~{raw} | "
            f"{sec:.1f} | {kept / sec:,.0f} | {peak_rss_mb():,.0f} MB |"
        )
        print(rows[-1], flush=True)
    text = "\n".join(rows)
    print()
    print(HEADER)
    print(text)
    if args.append:
        append_results(text, section=SECTION, header=HEADER)


if __name__ == "__main__":
    main()
