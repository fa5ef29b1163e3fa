"""What "same seed, same counts at every batch size" costs: the default back end and precision against the
batch-size-dependent choices they replace, all in one process.

    python benchmarks/bench_seed.py --model weights/lfm-zn --det zn [--rows 2000]

Rows (ms per sample of ``generate``, median of 3 after a warm-up):

* default, batch 7 / 4096: ``fastzdc.load(model)`` with ``--backend auto --precision auto`` (PyTorch; in
  bfloat16 the network runs on blocks of 256 rows whatever the batch size);
* ONNX Runtime, batch 7: what ``auto`` chose for CPU batches up to 32 before;
* bfloat16 unblocked, batch 4096: the network on 4096-row batches (what bfloat16 did before);
* float32, batch 4096: PyTorch float32 (batch-independent as well, measured).

It also counts the rows that differ from batch 256 at batches 1, 7 and 4096 under the default flags.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def timed(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--det", default="zn")
    ap.add_argument("--rows", type=int, default=2000)
    args = ap.parse_args()

    from fastzdc import mc
    from fastzdc.inference import load_generator
    from fastzdc.sampling.counts import sample_counts
    from fastzdc.sampling.noise import NoiseStream

    cond = mc.simulate(args.rows, None, detectors=(args.det,), seed=1, keep_nonempty_only=True).conditions
    n = len(cond)
    default = load_generator(args.model, backend="auto", precision="auto")
    print(f"default: {default.backend} {default.precision}")
    counts = {bs: default.generate(cond, seed=3, batch_size=bs) for bs in (1, 7, 256, 4096)}
    for bs in (1, 7, 4096):
        diff = int((counts[bs] != counts[256]).any(axis=(1, 2)).sum())
        print(f"default flags, batch {bs}: {diff} of {n} rows differ from batch 256")
    rows = {"default, batch 7": timed(lambda: default.generate(cond, seed=3, batch_size=7)),
            "default, batch 4096": timed(lambda: default.generate(cond, seed=3, batch_size=4096))}
    onnx = load_generator(args.model, backend="onnx")
    rows["ONNX Runtime float32, batch 7"] = timed(lambda: onnx.generate(cond, seed=3, batch_size=7))
    if default.precision == "bfloat16":
        cs = default.scaler.transform(cond)

        def unblocked() -> np.ndarray:
            noise = NoiseStream(3, default.kind.noise_shape())
            return sample_counts(default.generate_log, cs, noise, default.detector.shape, batch_size=4096,
                                 device=default.device, dequantized=default.kind.dequantized)

        rows["bfloat16 unblocked, batch 4096"] = timed(unblocked)
    f32 = load_generator(args.model, backend="torch", precision="float32")
    rows["float32, batch 4096"] = timed(lambda: f32.generate(cond, seed=3, batch_size=4096))
    print("| generator | ms / sample |\n|---|---:|")
    for name, sec in rows.items():
        print(f"| {name} | {1e3 * sec / n:.3f} |")


if __name__ == "__main__":
    main()
