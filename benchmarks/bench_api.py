"""The Python API against the CLI at a large batch, in one process, and the API's per-particle loop.

    python benchmarks/bench_api.py [--model weights/fmd-zn] [--precision auto] [--rows 4096] [--append]

* batch: ``fastzdc.load(model).generate`` on ``--rows`` simulated particles at batch ``--rows``, first with
  glibc's default allocator (``FASTZDC_MALLOC_TUNING=0`` while the API runs first), then ``fastzdc generate``
  in-process (the CLI tunes the allocator), then the API again (now tuned: what the API does by itself on
  its first large CPU call when the variable is unset); ms per sample, median of 3 calls each;
* the allocator settings are process-wide and stay once made, hence this order in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["FASTZDC_MALLOC_TUNING"] = "0"  # the first API pass runs with glibc's defaults

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
import torch
from _common import machine, publish

import fastzdc
from fastzdc.cli import main as cli_main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="weights/fmd-zn")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = fastzdc.load(args.model, precision=args.precision)
    cond = fastzdc.simulate(args.rows, detector=gen.detector.name, seed=5).conditions
    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "cond.csv"
    np.savetxt(csv, cond, delimiter=",")

    def api() -> float:
        t0 = time.perf_counter()
        gen.generate(cond, seed=0, batch_size=args.rows)
        return 1e3 * (time.perf_counter() - t0) / args.rows

    def cli() -> float:
        out = tmp / "out.h5"
        out.unlink(missing_ok=True)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            cli_main(["generate", "--model", args.model, "--conditions", str(csv), "-o", str(out), "--batch-size",
                      str(args.rows), "--precision", args.precision, "--json"])
        return json.loads(buf.getvalue())["ms_per_sample"]

    api()  # warm-up
    before = [api() for _ in range(3)]
    via_cli = [cli() for _ in range(3)]
    os.environ.pop("FASTZDC_MALLOC_TUNING")
    after = [api() for _ in range(3)]
    b, c, a = (statistics.median(v) for v in (before, via_cli, after))
    text = [f"## Python API against the CLI at batch {args.rows} ({machine()})", "",
            (f"{time.strftime('%Y-%m-%d')}. `python benchmarks/bench_api.py --model {args.model} --precision {args.precision} --rows {args.rows}`; "
             f"{args.threads} thread(s), precision {gen.precision}; ms per sample, median of 3 calls, all in one process in this "
             "order (the allocator settings are process-wide); CLI = `fastzdc generate` in-process (loading, HDF5 output included)."), "",
            "| run | ms / sample | / CLI |", "|---|---:|---:|",
            f"| API, glibc defaults (before the API tuned the allocator) | {b:.2f} | {b / c:.2f} |",
            f"| CLI (`fastzdc generate`) | {c:.2f} | 1.00 |",
            f"| API, allocator tuned (what `generate` now does on its first large CPU call) | {a:.2f} | {a / c:.2f} |", "",
            (f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: compare "
             "within this table).")]
    publish(text, args.append)


if __name__ == "__main__":
    main()
