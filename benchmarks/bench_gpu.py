"""Sampling speed of the flow-matching velocity-network designs on the GPU (on the CPU when there is
none): eager vs CUDA graph, float32 vs bf16, NCHW vs channels_last, batch sizes.

    python benchmarks/bench_gpu.py [--designs film token ...] [--batches 256 4096 65536] [--json OUT]
    python benchmarks/bench_gpu.py --models weights/fm-zn ...     # also generate() of a checkpoint

Times ``kind.sample`` (the ODE solve on the device, 4 midpoint steps, noise and conditions already
there: what a GPU-resident pipeline pays) and, for each ``--models`` checkpoint's default sampler, the
whole ``ModelGenerator.generate`` (CPU noise stream, counts back to host: what ``fastzdc generate``
pays). Speed does not depend on the weight values, so designs are timed with random weights. Median of
``--repeats`` after warm-up, with ``torch.cuda.synchronize``. CUDA graphs: the whole solve (every step)
captured once per batch size and replayed. ``--compile``: also ``torch.compile`` of the velocity
network (default mode, static shapes) inside a CUDA graph, for the default design only. On a CPU:
eager float32 only.

``--network-only`` times one network evaluation instead of the solve (a sampler costs its network
evaluations per sample times this), e.g. the designs on the CPU, NCHW against channels_last:

    python benchmarks/bench_gpu.py --network-only --batches 256 --layouts nchw nhwc \
        --designs film-small film film-nonorm film-attn film-wide w12-32-64

Designs: the keys of ``FM_DESIGNS`` (``_common.py``) or ``wA-B-C`` (FiLM with widths A-B-C).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, fm_design, machine, median_time, time_generate  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.detector import get_detector  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.models import get_kind  # noqa: E402
from fastzdc.nn.unet import n_params  # noqa: E402


def _solver(kind, net, opts, precision: str, times: torch.Tensor | None = None):
    """``run(cond, noise)``: the ODE solve, or with ``times`` one network evaluation at those times
    (``noise`` as the network's input)."""
    def run(cond, noise):
        with torch.autocast(cond.device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False):
            if times is not None:
                return net(noise, cond, times)
            return kind.sample(net, cond, noise, **opts)

    return run


def time_solve(kind, net, opts, batch: int, precision: str, mode: str, device: torch.device, repeats: int = 7,
               network_only: bool = False, memory_format=torch.contiguous_format) -> float:
    """Seconds per call of one batch's solve, or of one network evaluation (median)."""
    cond = torch.randn(batch, 9, device=device)
    noise = torch.randn(batch, *kind.noise_shape(), device=device)
    times = None
    if network_only:  # the network's input in the layout of its weights, at random times
        noise = noise.contiguous(memory_format=memory_format)
        times = torch.rand(batch, device=device)
    run = _solver(kind, net, opts, precision, times)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    with torch.no_grad():
        if mode == "eager":
            return median_time(lambda: run(cond, noise), repeats=repeats, warmup=2, sync=sync)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                run(cond, noise)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            run(cond, noise)
        return median_time(graph.replay, repeats=repeats, warmup=2, sync=sync)


def build(detector: str, model: dict, device: torch.device, memory_format=torch.contiguous_format):
    torch.manual_seed(0)
    kind = get_kind("fm")(get_detector(detector), model)
    net = kind.build().to(device).eval()
    net.to(memory_format=memory_format)
    return kind, net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", nargs="*", default=["film", "film-small", "film-wide", "token"])
    ap.add_argument("--detectors", nargs="*", default=["zn", "zp"])
    ap.add_argument("--batches", type=int, nargs="*", default=[256, 4096, 65536])
    ap.add_argument("--models", nargs="*", default=[], help="checkpoints for the end-to-end generate() timing")
    ap.add_argument("--network-only", action="store_true", help="time one network evaluation, not the solve")
    ap.add_argument("--layouts", nargs="*", choices=["nchw", "nhwc"], default=None,
                    help="weight layouts of every design (default: nhwc as well for bf16 of the film design)")
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per row (median)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--budget-s", type=float, default=120.0, help="skip what would start after this many seconds")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modes = ["eager", "graph"] if device.type == "cuda" else ["eager"]
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    t0 = time.perf_counter()
    rows: list[dict] = []

    def save() -> None:  # after every row: a run killed at its time limit keeps what it measured
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    print(f"# {machine()}", flush=True)
    print("| detector | design | params | sampler | batch | precision | layout | mode | ms / sample |", flush=True)
    opts = {"steps": 4, "method": "midpoint"}
    sampler = "1 evaluation" if args.network_only else "4 midpoint"
    for name in args.designs:
        for det in args.detectors:
            label, model = fm_design(name)
            for batch in args.batches:
                for prec in precisions:
                    layouts = args.layouts or (["nchw", "nhwc"] if prec == "bf16" and name == "film" else ["nchw"])
                    for layout in layouts:
                        fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
                        kind, net = build(det, model, device, fmt)
                        for mode in modes:
                            if time.perf_counter() - t0 > args.budget_s:
                                continue
                            try:
                                s = time_solve(kind, net, opts, batch, prec, mode, device, args.repeats,
                                               args.network_only, fmt)
                                ms = 1e3 * s / batch
                            except Exception as err:  # noqa: BLE001 - a benchmark row, not a crash
                                print(f"# {det} {name} {batch} {prec} {mode}: failed: {err}", flush=True)
                                continue
                            what = {"evaluations": 1} if args.network_only else {"steps": 4, "method": "midpoint"}
                            row = dict(detector=det, design=name, label=label, params=n_params(net), **what,
                                       batch=batch, precision=prec, layout=layout, mode=mode, ms_per_sample=ms)
                            rows.append(row)
                            save()
                            print(f"| {det} | {label} | {row['params']} | {sampler} | {batch} | {prec} | {layout} | "
                                  f"{mode} | {ms:.5f} |", flush=True)
            del net
            if device.type == "cuda":
                torch.cuda.empty_cache()
    for path in args.models:
        for prec in ("float32", "bfloat16") if device.type == "cuda" else ("float32",):
            gen = load_generator(path, device=device)
            gen.precision = prec
            n = 16384 if device.type == "cuda" else 4096
            c = np.tile(np.array([[2500.0, 0, 0, 2500.0, 0.1, 0.1, 0.0, 939.6, 0.0]], np.float32), (n, 1))
            for batch in (4096, n):
                row = dict(detector=gen.detector.name, design=Path(path).name, params=gen.n_params, batch=batch,
                           precision=prec, mode="generate() end to end",
                           ms_per_sample=time_generate(gen, c, batch, repeats=3))
                rows.append(row)
                save()
                print(f"| {gen.detector.name} | {path} generate() | {gen.n_params} | {gen.sampler} | {batch} | {prec} | "
                      f"nchw | end to end | {row['ms_per_sample']:.5f} |", flush=True)
    if args.compile and device.type == "cuda" and time.perf_counter() - t0 < args.budget_s:
        for det in args.detectors:
            try:
                kind, net = build(det, fm_design("film")[1], device)
                cnet = torch.compile(net, dynamic=False)
                for batch in (4096, 65536):
                    s = time_solve(kind, cnet, opts, batch, "bf16", "graph", device)
                    row = dict(detector=det, design="film", params=n_params(net), batch=batch, precision="bf16",
                               mode="compile+graph", ms_per_sample=1e3 * s / batch)
                    rows.append(row)
                    save()
                    print(f"| {det} | FiLM 8-24-48 compiled | {row['params']} | 4 midpoint | {batch} | bf16 | nchw | "
                          f"compile+graph | {row['ms_per_sample']:.5f} |", flush=True)
            except Exception as err:  # noqa: BLE001
                print(f"# compile {det}: failed: {err}", flush=True)
    save()


if __name__ == "__main__":
    main()
