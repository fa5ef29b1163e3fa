"""Shared helpers of the benchmark scripts: machine description, allocator settings, timing, RESULTS.md."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
ALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}


def ensure_allocator_env() -> None:
    """Re-exec with glibc allocator settings that avoid page-fault storms at large batches
    (cpu_performance.md §3: 2-4x at batch 4096)."""
    if any(os.environ.get(k) != v for k, v in ALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOC_ENV})


def cpu_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine() -> str:
    cpu = cpu_name()
    import torch

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"


def median_time(fn, repeats: int = 5, warmup: int = 1, sync=None) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


def append_results(text: str) -> None:
    """Append a section to benchmarks/RESULTS.md (created with a header if absent)."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEvery section: machine, batch, precision and date as measured. "
                           "Compare ratios within one section (one run, one machine).\n")
    with RESULTS.open("a") as f:
        f.write("\n" + text.rstrip() + "\n")


def steps_sweep(model: str, ds, steps_list, methods) -> tuple[list[str], dict]:
    """Fidelity vs sampling steps of an ODE-sampled checkpoint: mean W and MAE (n_rep 1, seed 1) on the
    rows of ``ds`` for each solver and step count; markdown table rows and ``{(method, steps): (evals, W, MAE)}``."""
    from fastzdc.metrics import compare_counts
    from fastzdc.sampling.generator import load_generator
    from fastzdc.sampling.ode import evaluations

    out, lines = {}, []
    for m in methods:
        for s in steps_list:
            gen = load_generator(model, steps=s, method=m)
            fake = gen.generate(ds.conditions, seed=1)
            sc = compare_counts(ds.detector, ds.responses, fake, 1)
            out[(m, s)] = (evaluations(s, m), sc["w_mean"], sc["mae"])
            lines.append(f"| {m} | {s} | {evaluations(s, m)} | {sc['w_mean']:.3f} | {sc['mae']:.2f} |")
            print(lines[-1], flush=True)
    return lines, out
