"""GPU sampling speed of the flow-matching designs: eager vs CUDA graph, float32 vs bf16, batch sizes.

    python benchmarks/bench_gpu.py [--designs film token ...] [--batches 256 4096 65536] [--json OUT]
    python benchmarks/bench_gpu.py --model weights/fm-zn ...      # a checkpoint instead of random weights

Times ``kind.sample`` (the ODE solve on the device, noise and conditions already there: what a
GPU-resident pipeline pays) and, for the checkpoint's default sampler, the whole
``ModelGenerator.generate`` (CPU noise stream, counts back to host: what ``fastzdc generate`` pays).
Speed does not depend on the weight values, so designs are timed with random weights. Median of
repeats after warm-up, with ``torch.cuda.synchronize``. CUDA graphs: the whole solve (every step)
captured once per batch size and replayed. ``--compile``: also ``torch.compile`` of the velocity
network (default mode, static shapes) inside a CUDA graph, for the default design only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, machine, median_time  # noqa: E402
from fm_designs import FM_DESIGNS  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.detector import get_detector  # noqa: E402
from fastzdc.models import get_kind  # noqa: E402
from fastzdc.nn.unet import n_params  # noqa: E402
from fastzdc.sampling.generator import load_generator  # noqa: E402


def _solver(kind, net, opts, precision: str):
    def run(cond, noise):
        with torch.autocast(cond.device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False):
            return kind.sample(net, cond, noise, **opts)

    return run


def time_solve(kind, net, opts, batch: int, precision: str, mode: str, device: torch.device, repeats: int = 7) -> float:
    """Seconds per call of one batch's solve (median)."""
    cond = torch.randn(batch, 9, device=device)
    noise = torch.randn(batch, *kind.noise_shape(), device=device)
    run = _solver(kind, net, opts, precision)
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
    for name in args.designs:
        for det in args.detectors:
            label, model = FM_DESIGNS[name]
            for batch in args.batches:
                for prec in precisions:
                    layouts = ["nchw", "nhwc"] if prec == "bf16" and name == "film" else ["nchw"]
                    for layout in layouts:
                        fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
                        kind, net = build(det, model, device, fmt)
                        for mode in modes:
                            if time.perf_counter() - t0 > args.budget_s:
                                continue
                            try:
                                s = time_solve(kind, net, opts, batch, prec, mode, device)
                                ms = 1e3 * s / batch
                            except Exception as err:  # noqa: BLE001 - a benchmark row, not a crash
                                print(f"# {det} {name} {batch} {prec} {mode}: failed: {err}", flush=True)
                                continue
                            row = dict(detector=det, design=name, label=label, params=n_params(net), steps=4,
                                       method="midpoint", batch=batch, precision=prec, layout=layout, mode=mode,
                                       ms_per_sample=ms)
                            rows.append(row)
                            save()
                            print(f"| {det} | {label} | {row['params']} | 4 midpoint | {batch} | {prec} | {layout} | "
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
            sync = torch.cuda.synchronize if device.type == "cuda" else None
            for batch in (4096, n):
                s = median_time(lambda: gen.generate(c, seed=0, batch_size=batch), repeats=3, warmup=1, sync=sync)
                row = dict(detector=gen.detector.name, design=Path(path).name, params=gen.n_params, batch=batch,
                           precision=prec, mode="generate() end to end", ms_per_sample=1e3 * s / n)
                rows.append(row)
                save()
                print(f"| {gen.detector.name} | {path} generate() | {gen.n_params} | {gen.sampler} | {batch} | {prec} | "
                      f"nchw | end to end | {row['ms_per_sample']:.5f} |", flush=True)
    if args.compile and device.type == "cuda" and time.perf_counter() - t0 < args.budget_s:
        for det in args.detectors:
            try:
                kind, net = build(det, FM_DESIGNS["film"][1], device)
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
