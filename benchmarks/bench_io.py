"""Where the time of ``fastzdc generate`` goes at production size: the model against writing the file.

1. **paired model / write timing**: for every chunk of 65536 rows the model's time (``generate``, nothing
   written) and, right after it on the same rows, the time to append them to an HDF5 file with each
   candidate filter (gzip level 1 + shuffle -- the fastzdc default --, lzf, no compression...). Pairing chunk
   by chunk keeps the ratio meaningful on a loaded machine.
2. **end to end**: ``fastzdc generate`` itself (chunk files, join, provenance hashes) in a child process,
   with its peak RSS, and the model alone in another child right after it.
3. **peak memory at larger N**: the same pipeline (:func:`fastzdc.production.generate.generate_rows`) fed by
   a replay generator that hands out real model responses recorded from the first chunk: the memory of
   the pipeline at 10^7 rows without 10^7 rows of model time (the model's own working set is the one
   measured in 2).

    python benchmarks/bench_io.py --model weights/lfm-zn --conditions data/split_zn/test.h5 \\
        --rows 1000000 --rss-rows 1000000 10000000 --work /tmp/bench_io --append
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import append_results, cpu_name

FILTERS = {
    "gzip 1 + shuffle (default)": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    "gzip 1": {"compression": "gzip", "compression_opts": 1},
    "lzf + shuffle": {"compression": "lzf", "shuffle": True},
    "lzf": {"compression": "lzf"},
    "none": {},
}
CHUNK = 65536


def make_conditions(src: str, rows: int, out: Path) -> Path:
    """``rows`` particles: the rows of ``src`` repeated (written once, reused)."""
    if out.exists():
        return out
    from fastzdc.data import load_conditions

    c, p = load_conditions(src)
    reps = -(-rows // len(c))
    tmp = out.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f["conditions"] = np.tile(c, (reps, 1))[:rows]
        f["pdgid"] = np.tile(p, reps)[:rows]
    os.replace(tmp, out)
    return out


def paired(model: str, cond_file: Path, work: Path, threads: int) -> dict:
    import torch

    from fastzdc.data import load_conditions
    from fastzdc.inference import load_generator

    torch.set_num_threads(threads)
    gen = load_generator(model, precision="auto")
    cond, _ = load_conditions(cond_file)
    files = {name: h5py.File(work / f"filter_{i}.h5", "w") for i, name in enumerate(FILTERS)}
    for name, f in files.items():
        nx, ny = gen.detector.shape
        f.create_dataset("responses", (0, nx, ny), np.uint16, maxshape=(None, nx, ny), chunks=(256, nx, ny), **FILTERS[name])
        f.create_dataset("conditions", (0, 9), np.float32, maxshape=(None, 9), chunks=(256, 9), **FILTERS[name])
    t_model, t_write = 0.0, dict.fromkeys(FILTERS, 0.0)
    first = None
    for k, s in enumerate(range(0, len(cond), CHUNK)):
        t0 = time.perf_counter()
        counts = gen.generate(cond[s : s + CHUNK], seed=k)
        t_model += time.perf_counter() - t0
        first = counts if first is None else first
        for name, f in files.items():
            t0 = time.perf_counter()
            for key, arr in (("responses", counts), ("conditions", cond[s : s + CHUNK])):
                ds = f[key]
                ds.resize(ds.shape[0] + len(arr), axis=0)
                ds[-len(arr):] = arr
            f.flush()
            t_write[name] += time.perf_counter() - t0
    sizes = {}
    for i, (name, f) in enumerate(files.items()):
        f.close()
        sizes[name] = (work / f"filter_{i}.h5").stat().st_size
    np.save(work / "replay.npy", first)
    return {"rows": len(cond), "model_s": t_model, "write_s": t_write, "bytes": sizes, "zero_fraction": float((first == 0).mean()),
            "backend": gen.backend, "precision": gen.precision}


CHILD_E2E = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[4]))
from fastzdc.workflows import generate_to_file
t0 = time.perf_counter()
r = generate_to_file(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": peak_mb(),
                  "seconds_join": r.get("seconds_join")}))
"""

CHILD_MODEL = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
from fastzdc.data import load_conditions
from fastzdc.inference import load_generator
gen = load_generator(sys.argv[1], precision="auto")
cond, _ = load_conditions(sys.argv[2])
t0 = time.perf_counter()
for k, s in enumerate(range(0, len(cond), 65536)):
    gen.generate(cond[s : s + 65536], seed=k)
print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": peak_mb()}))
"""

CHILD_REPLAY = """
import json, sys, time
import numpy as np
from fastzdc.data.conditions_stream import ConditionsSource
from fastzdc.detector import get_detector
from fastzdc.production.generate import generate_rows, provenance
from fastzdc.production.shards import Shard

class Replay:
    name, n_params, sampler, adjustable, precision, backend, device = "replay", 0, {}, frozenset(), "n/a", "numpy", "cpu"
    detector = get_detector("zn")
    def __init__(self, counts):
        self.counts = counts
    def generate(self, conditions, *, seed=None, batch_size=4096, device=None, advance=None, **kw):
        out = np.resize(self.counts, (len(conditions), *self.counts.shape[1:]))
        if advance: advance(len(conditions))
        return out

gen = Replay(np.load(sys.argv[3]))
source = ConditionsSource(sys.argv[1])
attrs = {"generator": "replay", "synthetic": True, **provenance(gen, sys.argv[4], source, seed=0, chunk=65536, shard=Shard())}
t0 = time.perf_counter()
r = generate_rows(gen, source, sys.argv[2], attrs, seed=0, chunk=65536, shard=Shard(), batch_size=4096, fingerprint=attrs)
print(json.dumps({"seconds": time.perf_counter() - t0, "rss_mb": peak_mb(),
                  "seconds_join": r["seconds_join"]}))
"""


PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK + code, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="weights/lfm-zn")
    ap.add_argument("--conditions", default="data/split_zn/test.h5")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rss-rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_io"))
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--paired", type=Path, help="reuse the paired timings of an earlier run (its JSON) instead of measuring them")
    ap.add_argument("--rounds", type=int, default=1, help="end-to-end and model-alone runs, alternating")
    ap.add_argument("--append", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    cond = make_conditions(a.conditions, a.rows, a.work / f"cond_{a.rows}.h5")
    p = json.loads(a.paired.read_text()) if a.paired else paired(a.model, cond, a.work, a.threads)
    print(json.dumps(p, indent=1), flush=True)
    runs = []
    for _ in range(0 if a.skip_e2e else a.rounds):
        out = a.work / "e2e.h5"
        out.unlink(missing_ok=True)
        e2e = child(CHILD_E2E, a.model, cond, out, a.threads)
        print("end to end", e2e, flush=True)
        model = child(CHILD_MODEL, a.model, cond, a.threads)
        print("model alone", model, flush=True)
        runs.append((e2e, model))
    rss = {}
    for n in a.rss_rows:
        c = make_conditions(a.conditions, n, a.work / f"cond_{n}.h5")
        out = a.work / f"replay_{n}.h5"
        out.unlink(missing_ok=True)
        rss[n] = child(CHILD_REPLAY, c, out, a.work / "replay.npy", a.model)
        out.unlink(missing_ok=True)
        print("replay", n, rss[n], flush=True)
    load1 = os.getloadavg()[0]
    n = p["rows"]
    head = (f"{time.strftime('%Y-%m-%d')} · 2-core {cpu_name()} VM, shared (load average {load0:.1f} at the start, "
            f"{load1:.1f} at the end: absolute times are slow and noisy, compare the paired ratios) · torch threads "
            f"{a.threads} · {p['precision']} ({p['backend']}), batch 4096, chunks of {CHUNK} rows · {n} SYNTHETIC ZN "
            f"particles (the test split repeated) · `python benchmarks/bench_io.py --model {a.model} --rows {n}`")
    paired_line = (f"Paired per chunk (model, then the same rows written with each filter); {100 * p['zero_fraction']:.1f} % "
                   "of the generated pixels are zero.")
    lines = [f"### `fastzdc generate` at production size: model against writing ({Path(a.model).name})", head,
             "", paired_line, "",
             "| filter | write s | model s | write / model | end to end / model (paired) | bytes / row | plain h5py reads it |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name in FILTERS:
        w = p["write_s"][name]
        lines.append(f"| {name} | {w:.1f} | {p['model_s']:.1f} | {w / p['model_s']:.3f} | {(w + p['model_s']) / p['model_s']:.3f} "
                     f"| {p['bytes'][name] / n:.0f} | yes |")
    if runs:
        lines += ["", "Child processes, one after the other (end to end, then the model alone, per round):", "",
                  "| round | run | seconds | ms / sample | end to end / model | peak RSS MB |", "|---:|---|---:|---:|---:|---:|"]
        for i, (e2e, model) in enumerate(runs, 1):
            lines.append(f"| {i} | `fastzdc generate` end to end (join {e2e['seconds_join']:.1f} s) | {e2e['seconds']:.1f} | "
                         f"{1e3 * e2e['seconds'] / n:.3f} | {e2e['seconds'] / model['seconds']:.2f} | {e2e['rss_mb']:.0f} |")
            lines.append(f"| {i} | model alone, nothing written | {model['seconds']:.1f} | {1e3 * model['seconds'] / n:.3f} | 1 | "
                         f"{model['rss_mb']:.0f} |")
    if rss:
        replay_line = ("Pipeline memory with a replay generator (real model responses recorded from the first chunk, "
                       "handed out again; no model time):")
        lines += ["", replay_line, "", "| rows | seconds | peak RSS MB |", "|---:|---:|---:|"]
        lines += [f"| {k} | {v['seconds']:.1f} | {v['rss_mb']:.0f} |" for k, v in rss.items()]
    text = "\n".join(lines)
    print(text)
    if a.append:
        append_results(text)


if __name__ == "__main__":
    main()
