"""Time one network evaluation of velocity-net designs (ms per sample), eager vs channels_last.

Usage: python benchmarks/bench_unet.py [--batch 256] [--repeats 7]
Random weights; the cost of a sampler is (evaluations per sample) x (this number).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from fastzdc.detector import ZN, ZP
from fastzdc.nn.unet import CondUNet, n_params

DESIGNS = {
    "w6-16-32": dict(widths=(6, 16, 32)),
    "w8-24-48": dict(widths=(8, 24, 48)),
    "w8-24-48-nonorm": dict(widths=(8, 24, 48), norm=False),
    "w8-24-48-attn": dict(widths=(8, 24, 48), attn_tokens=True),
    "w8-32-64": dict(widths=(8, 32, 64)),
    "w12-32-64": dict(widths=(12, 32, 64)),
}


def time_eval(net, shape, batch, repeats, channels_last=False):
    x = torch.randn(batch, 1, *shape)
    c = torch.randn(batch, 9)
    t = torch.rand(batch)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(2):
            net(x, c, t)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x, c, t)
            ts.append(time.perf_counter() - t0)
    ts.sort()
    return 1e3 * ts[len(ts) // 2] / batch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--designs", nargs="*", default=list(DESIGNS))
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, batch {args.batch}, float32, {time.strftime('%Y-%m-%d')}")
    print("| design | params | ZN eager | ZN channels_last | ZP eager | ZP channels_last |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.designs:
        row = []
        for det in (ZN, ZP):
            torch.manual_seed(0)
            net = CondUNet(det.shape, **DESIGNS[name]).eval()
            row += [time_eval(net, det.shape, args.batch, args.repeats), time_eval(net, det.shape, args.batch, args.repeats, True)]
        print(f"| {name} | {n_params(net)} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


if __name__ == "__main__":
    main()
