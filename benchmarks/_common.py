"""Shared helpers of the benchmark scripts: machine description, allocator settings, test rows, timing
of a generator, the Monte Carlo floor, autoencoder reconstruction W, the flow-matching designs and
writing a section into benchmarks/RESULTS.md.

Not a script: the benchmarks import it (``sys.path.insert(0, benchmarks/)``; ``from _common import ...``).
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
ALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}

FM_DESIGNS: dict[str, tuple[str, dict]] = {
    "film": ("FiLM 8-24-48 (default)", {"widths": [8, 24, 48]}),
    "film-small": ("FiLM 6-16-32", {"widths": [6, 16, 32]}),
    "film-wide": ("FiLM 8-32-64", {"widths": [8, 32, 64]}),
    "film-nonorm": ("FiLM 8-24-48, no GroupNorm", {"widths": [8, 24, 48], "norm": False}),
    "film-attn": ("FiLM + attention token", {"widths": [8, 24, 48], "attn_tokens": True}),
    "token": ("attention token only (published scheme)", {"widths": [8, 24, 48], "cond_via": "token"}),
    "deq": ("FiLM 8-24-48 + dequantization", {"widths": [8, 24, 48], "dequantize": True}),
}
"""The flow-matching velocity-network designs compared in benchmarks/RESULTS.md (compare_fm_designs.py,
bench_gpu.py, scripts/train_designs.py). Keys are short run names; values: a label and the options over
the FM kind's defaults (fastzdc.models.fm.FlowMatching.defaults)."""


def fm_design(name: str) -> tuple[str, dict]:
    """``(label, model options)`` of a design: a key of :data:`FM_DESIGNS`, or ``wA-B-C`` for FiLM with
    channel widths A, B, C and every other option at its default."""
    if name in FM_DESIGNS:
        return FM_DESIGNS[name]
    m = re.fullmatch(r"w(\d+)-(\d+)-(\d+)", name)
    if not m:
        raise SystemExit(f"unknown design {name!r}: one of {', '.join(FM_DESIGNS)} or wA-B-C (FiLM widths)")
    widths = [int(g) for g in m.groups()]
    return f"FiLM {'-'.join(map(str, widths))}", {"widths": widths}


def ensure_allocator_env() -> None:
    """Re-exec with glibc allocator settings that avoid page-fault storms at large batches (about 2-4x
    faster at batch 4096 on a CPU; docs/performance.md, "Other CPU settings")."""
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


# ---------------------------------------------------------------------------------------------- data


def first_rows(data, rows: int | None):
    """The first ``rows`` rows (all when ``None`` or more than there are) of a dataset or a data file."""
    from fastzdc.data import load_dataset

    ds = load_dataset(data) if isinstance(data, (str, Path)) else data
    return ds if rows is None or rows >= len(ds) else ds.subset(slice(0, rows))


# -------------------------------------------------------------------------------------------- timing


def median_time(fn, repeats: int = 5, warmup: int = 1, sync=None) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls; ``sync`` (e.g.
    ``torch.cuda.synchronize``) is called before and after each timed call."""
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


def on_cuda(gen) -> bool:
    return str(getattr(gen, "device", "cpu")).startswith("cuda")


def time_generate(gen, cond, batch: int, *, threads: int | None = None, repeats: int = 5, warmup: int = 1) -> float:
    """Milliseconds per sample of ``gen.generate(cond, seed=0, batch_size=batch)`` (median of ``repeats``
    after ``warmup``; the device synchronised when it is a GPU), on ``threads`` torch threads when given
    (the previous number is restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        sync = torch.cuda.synchronize if on_cuda(gen) else None
        t = median_time(lambda: gen.generate(cond, seed=0, batch_size=batch), repeats=repeats, warmup=warmup, sync=sync)
    finally:
        torch.set_num_threads(before)
    return 1e3 * t / len(cond)


def speed_options(ap) -> None:
    """The command-line options of :func:`speed_rows`: ``--batches``, ``--rounds``, ``--repeats``, ``--no-speed``."""
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 256, 4096])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the speed test (median over them)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per model and round (median)")
    ap.add_argument("--no-speed", action="store_true")


SPEED_HEADER = ["| model | sampler | precision | device | batch | threads | ms / sample | speed-up vs baseline |",
                "|---|---|---|---|---:|---:|---:|---:|"]


def speed_rows(models: list[tuple[str, str, str]], cond, batches=(1, 256, 4096), *, rounds: int = 3, repeats: int = 3,
               baseline: str | None = None) -> list[str]:
    """Rows of :data:`SPEED_HEADER`: ms per sample of ``generate`` for each ``(label, checkpoint, precision)``
    at each batch (batch 1 on one thread over 64 conditions: the O2 per-particle case; larger batches on
    all threads over ``batch`` conditions). The models alternate inside each of ``rounds`` rounds (a ratio
    measured under the same machine load); a row's time is the median over the rounds of the median of
    ``repeats`` calls (the ``baseline`` model: one call per round at batch 4096 and more). ``baseline``:
    the label whose time divides the others' in the last column."""
    import numpy as np
    import torch

    from fastzdc.inference import load_generator

    all_threads = torch.get_num_threads()
    rows = []
    for batch in batches:
        threads = 1 if batch == 1 else all_threads
        gens = []
        for label, path, precision in models:
            g = load_generator(path)
            g.precision = precision
            gens.append((label, g))
        c = np.resize(cond, (64 if batch == 1 else batch, 9))
        times: dict[str, list[float]] = {label: [] for label, _ in gens}
        for _ in range(rounds):
            for label, g in gens:
                reps = 1 if batch >= 4096 and label == baseline else repeats
                times[label].append(time_generate(g, c, batch, threads=threads, repeats=reps))
        rows += [(label, g, batch, threads, float(np.median(times[label]))) for label, g in gens]
    base = {b: ms for label, g, b, th, ms in rows if label == baseline}
    out = []
    for label, g, b, th, ms in rows:
        ratio = f"{base[b] / ms:.1f}" if b in base else "-"
        device = getattr(g.device, "type", g.device)
        out.append(f"| {label} | {g.sampler} | {g.precision} | {device} | {b} | {th} | {ms:.4f} | {ratio} |")
        print(out[-1], flush=True)
    return out


# ------------------------------------------------------------------------------------------ fidelity


def floor_counts(ds, *, n_rep: int = 1, seed: int = 1):
    """``n_rep`` Monte Carlo responses per row of ``ds`` (repetition-major): the floor generator of
    :func:`fastzdc.evaluation.floor_generator` (the file's mode, given O2's filter when the file was
    filtered). Every floor in the benchmarks comes from here."""
    import numpy as np

    from fastzdc.evaluation import floor_generator

    return floor_generator(ds).generate(np.tile(ds.conditions, (n_rep, 1)), seed=seed)


def floor_w(ds, *, n_rep: int = 1, seed: int = 1) -> dict:
    """``compare_counts`` scores (``w_mean``, ``mae``, ...) of the Monte Carlo floor on the rows of ``ds``."""
    from fastzdc.evaluation.metrics import compare_counts

    return compare_counts(ds.detector, ds.responses, floor_counts(ds, n_rep=n_rep, seed=seed), n_rep)


def reconstruction(autoencoder: str, ds) -> dict:
    """``compare_counts`` scores of an autoencoder checkpoint's reconstructions (``kind.reconstruct``: a
    VAE's decoder of the posterior mean, a VQ's decoder of the quantised encoding) of the rows of ``ds``."""
    import numpy as np
    import torch

    from fastzdc.evaluation.metrics import compare_counts
    from fastzdc.inference import read_checkpoint
    from fastzdc.sampling.counts import counts_from_log_images

    kind, net, scaler, _ = read_checkpoint(autoencoder)
    net.eval()
    cond = torch.from_numpy(scaler.transform(ds.conditions))
    parts = []
    with torch.no_grad():
        for start in range(0, len(ds), 1024):
            x = torch.log1p(torch.from_numpy(ds.responses[start : start + 1024].astype(np.float32)))[:, None]
            parts.append(counts_from_log_images(kind.reconstruct(net, x, cond[start : start + 1024])))
    return compare_counts(ds.detector, ds.responses, np.concatenate(parts), 1)


def fidelity_header(sub, rows_label: str, autoencoder: str | None, rec_label: str) -> tuple[dict, list[str]]:
    """The Monte Carlo floor on ``sub`` (n_rep 1, seed 1) and, with an ``autoencoder`` checkpoint, its
    reconstruction W: the floor scores and the lines that report them."""
    floor = floor_w(sub)
    lines = ["", f"### fidelity on {len(sub)} {rows_label} (SYNTHETIC stand-in, n_rep 1); MC re-simulation floor "
             f"W {floor['w_mean']:.3f}, MAE {floor['mae']:.2f}", ""]
    if autoencoder:
        rec = reconstruction(autoencoder, sub)
        lines += [f"{rec_label}: W {rec['w_mean']:.3f} ({rec['w_mean'] / floor['w_mean']:.2f} x floor), "
                  f"MAE {rec['mae']:.2f}", ""]
        print(lines[-2], flush=True)
    return floor, lines


# ---------------------------------------------------------------------------------------- RESULTS.md


def append_results(text: str, *, section: str | None = None, header: str | None = None) -> None:
    """Append ``text`` to benchmarks/RESULTS.md (created with a header if absent): as a section of its own,
    or, with ``section`` (a ``## title``), as rows under that section, which is opened with ``header``
    (the table's head) the first time."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEvery section: machine, batch, precision and date as measured. "
                           "Compare ratios within one section (one run, one machine).\n")
    existing = RESULTS.read_text()
    with RESULTS.open("a") as f:
        if section is None:
            f.write("\n" + text.rstrip() + "\n")
            return
        if section not in existing:
            f.write(f"\n{section}\n\n{header}\n")
        f.write(text.rstrip() + "\n")
    print(f"appended to {RESULTS}")


def publish(lines: list[str], append: bool, *, echo: bool = True) -> None:
    """Print a finished section (unless ``echo`` is off: its rows were printed as they came) and, with
    ``append``, add it to benchmarks/RESULTS.md."""
    text = "\n".join(lines)
    if echo:
        print(text, flush=True)
    if append:
        append_results(text)
