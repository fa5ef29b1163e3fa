"""ONNX Runtime against PyTorch: speed per particle and fidelity of the exported models.

    python benchmarks/bench_onnx.py --det zn --export weights/onnx/fm-zn --model weights/fm-zn \\
        --data data/split_zn/test.h5 [--rows 5000] [--n-rep 2] [--no-fidelity] [--append]

* speed: ms per sample of ``generate`` (scaling, noise, network, decoding to counts) for PyTorch, ONNX
  Runtime float32 and float16, at batch 1 on one thread (the O2 per-particle case; also the bare model
  call: ``session.run`` against the network under ``torch.no_grad``), at batches 16 to 1024 on one thread
  (the crossover) and at 256 and 1024 on all threads; median of repeats after warm-up, all in one process;
* fidelity: W (mean over the 5 channels) and MAE with ``fastzdc.evaluation.metrics.compare_counts`` on the first
  ``--rows`` test rows, ``--n-rep`` generations per row pooled, for PyTorch, ONNX float32 and float16 (same
  seed, hence the same noise), the graph-noise variant (its own noise), the Monte Carlo floor
  (``fastzdc.evaluation.floor_generator``), and W of O2's channel rule (exp(x) - 1 summed per channel,
  then rounded, instead of rounding every fibre); ``--auc``: also the classifier AUCs.

O2's particle loop, for any export folders (no --det/--model/--export needed; the latent-FM folders are
made first with ``fastzdc export onnx --model weights/lfm-zn -o weights/onnx/lfm-zn --o2-dropin``)::

    python benchmarks/bench_onnx.py --o2-loop weights/onnx/fmd-zn weights/onnx/lfm-zn ... --data data/split_zn/test.h5 \
        [--o2-steps fmd-zn:1,2] [--o2-dropin-w 2000] [--append]

* one ONNX Runtime session per model created once (1 intra-op thread, no spinning, as O2 opens it), then
  one ``run`` per particle at batch 1 with fresh noise (``model.onnx``); the same particles batched B per
  call (what O2 would gain by batching the particles of one event); the graph-optimisation levels; and
  the Python API's per-particle loop (``fastzdc.load(folder)`` then ``generate`` on one particle with a
  new seed per call) against the bare call;
* ``--o2-steps NAME:S1,S2``: the same batch-1 loop for a model re-exported in memory with fewer steps.
Every number is the median over ``--o2-rounds`` rounds of the loop over ``--o2-particles`` test rows.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ensure_allocator_env, first_rows, floor_counts  # noqa: E402
from _common import machine, median_time, publish, time_generate  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.evaluation.metrics import compare_counts, wasserstein_per_channel  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.inference.onnx import open_session  # noqa: E402
from fastzdc.sampling.noise import NoiseStream  # noqa: E402

THREADS = torch.get_num_threads()


SPEED_ROWS = ((1, 1, True), (16, 1, True), (64, 1, False), (256, 1, False), (1024, 1, False),
              (256, THREADS, True), (1024, THREADS, False))
"""(batch, threads, with float16): one thread for the per-particle case and the crossover (single-threaded
timings also suffer least from other jobs on a shared machine), all threads for throughput."""


def speed(args, cond: np.ndarray) -> list[str]:
    rows = []
    for batch, threads, with_fp16 in SPEED_ROWS:
        torch.set_num_threads(threads)
        gens = {"PyTorch": load_generator(args.model), "ONNX Runtime fp32": load_generator(backend="onnx", path=args.export, threads=threads)}
        if with_fp16:
            gens["ONNX Runtime fp16"] = load_generator(backend="onnx", path=args.export, precision="float16", threads=threads)
        n = 64 if batch == 1 else batch
        c = np.resize(cond, (n, 9))
        res = {k: time_generate(g, c, batch, repeats=3 if batch >= 256 else 5) for k, g in gens.items()}
        rows.append(_speed_row(batch, threads, "generate", res))
        if batch == 1:  # the bare model call per particle, as O2 makes it
            tg = gens["PyTorch"]
            cs = torch.from_numpy(tg.scaler.transform(c[:1]))
            z = NoiseStream(0, tg.kind.noise_shape()).rows(0, 1)
            raw = {"PyTorch": 1e3 * median_time(lambda: [tg.generate_log(cs, z) for _ in range(32)], repeats=5) / 32}
            for k in ("ONNX Runtime fp32", "ONNX Runtime fp16"):
                g = gens[k]
                raw[k] = 1e3 * median_time(lambda g=g: [g.generate_log(cs.numpy(), z.numpy()) for _ in range(32)], repeats=5) / 32
            rows.append(_speed_row(1, 1, "model call", raw))
    torch.set_num_threads(THREADS)
    return rows


def _speed_row(batch: int, threads: int, what: str, res: dict[str, float]) -> str:
    cells = [f"{res[k]:.2f}" if k in res else "–" for k in ("PyTorch", "ONNX Runtime fp32", "ONNX Runtime fp16")]
    line = f"| {batch} | {threads} | {what} | " + " | ".join(cells) + f" | {res['PyTorch'] / res['ONNX Runtime fp32']:.2f} |"
    print(line, flush=True)
    return line


def o2_rule_sums(detector, log_images: np.ndarray) -> np.ndarray:
    """O2's calculateChannels on a batch: exp(x) - 1 summed per channel (float32 values), then rounded."""
    return np.floor(detector.channel_sums(np.expm1(log_images.astype(np.float32)).astype(np.float64)) + 0.5)


def _onnx_pass(gen, tiled: np.ndarray, seed: int, batch: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of an explicit-noise ONNX generator (the loop of ``OnnxGenerator.generate``, same noise):
    its counts, and O2's channel sums (exp(x) - 1 summed per channel, then rounded) of the first output
    ``log_image`` (rounded in the graph) and of ``log_image_unrounded``."""
    cond = gen.scaler.transform(tiled)
    noise = NoiseStream(seed, gen.noise_shape)
    counts = np.empty((len(cond), *gen.detector.shape), np.uint16)
    o2, o2_raw = np.empty((len(cond), 5)), np.empty((len(cond), 5))
    for a in range(0, len(cond), batch):
        sl = slice(a, a + batch)
        out = gen.run(cond[sl], noise.rows(a, min(a + batch, len(cond))).numpy())
        counts[sl] = np.clip(np.rint(np.expm1(out["log_image"])), 0, 65535)
        o2[sl] = o2_rule_sums(gen.detector, out["log_image"])
        o2_raw[sl] = o2_rule_sums(gen.detector, out["log_image_unrounded"])
    return counts, o2, o2_raw


def _auc(ds, counts: np.ndarray) -> str:
    """Classifier AUCs (features / images, +- Hanley-McNeil error) of one generation per test row."""
    from fastzdc.evaluation import fidelity_suite

    cls = fidelity_suite(ds.detector, ds.conditions, ds.responses, counts, seed=0, pdgid=ds.pdgid)["classifier"]
    return " / ".join(f"{cls[k]['auc']:.3f} ± {cls[k]['auc_err']:.3f}" for k in ("features", "images") if cls.get(k))


def fidelity(args) -> list[str]:
    ds = first_rows(args.data, args.rows)
    det = ds.detector
    tiled = np.tile(ds.conditions, (args.n_rep, 1))
    seed = 1
    torch_gen = load_generator(args.model)
    scores, firsts = {}, {}

    def score(name: str, counts: np.ndarray) -> None:
        scores[name] = compare_counts(det, ds.responses, counts, args.n_rep)
        firsts[name] = counts[: len(ds)]  # one generation per test row, for the classifier test

    score("PyTorch fp32", torch_gen.generate(tiled, seed=seed, batch_size=1024))
    print(scores, flush=True)
    counts32, o2_sums, o2_raw_sums = _onnx_pass(load_generator(backend="onnx", path=args.export), tiled, seed)
    score("ONNX Runtime fp32", counts32)
    score("ONNX Runtime fp16", _onnx_pass(load_generator(backend="onnx", path=args.export, precision="float16"), tiled, seed)[0])
    print(scores, flush=True)
    # the same PyTorch model with other noise: how much W moves from seed to seed alone
    score("PyTorch fp32, seed 2 (other noise)", torch_gen.generate(tiled, seed=2, batch_size=1024))
    # the graph-noise variant draws its own noise
    sess = open_session(Path(args.export) / "model.graph-noise.onnx", threads=THREADS)
    cond = torch_gen.scaler.transform(tiled)
    gn = [sess.run(["log_image"], {"conditions": cond[a : a + 1024]})[0] for a in range(0, len(cond), 1024)]
    gn_counts = np.clip(np.round(np.expm1(np.concatenate(gn))), 0, 65535).astype(np.uint16)
    score("ONNX Runtime fp32, graph noise", gn_counts)
    ref_sums = np.tile(det.channel_sums(ds.responses), (args.n_rep, 1))
    w_o2 = wasserstein_per_channel(ref_sums, o2_sums)
    w_o2_raw = wasserstein_per_channel(ref_sums, o2_raw_sums)
    mc_counts = floor_counts(ds, n_rep=args.n_rep, seed=1_000_000_008)
    floor = compare_counts(det, ds.responses, mc_counts, args.n_rep)
    firsts["floor"] = mc_counts[: len(ds)]
    w_torch = scores["PyTorch fp32"]["w_mean"]
    auc = {name: _auc(ds, c) for name, c in firsts.items()} if args.auc else {}
    lines = [f"| MC floor (re-simulation) | {floor['w_mean']:.3f} | 1.00 | – | {floor['mae']:.2f} | {auc.get('floor', '–')} |"]
    for name, sc in scores.items():
        lines.append(f"| {name} | {sc['w_mean']:.3f} | {sc['w_mean'] / floor['w_mean']:.2f} | "
                     f"{100 * (sc['w_mean'] / w_torch - 1):+.1f} % | {sc['mae']:.2f} | {auc.get(name, '–')} |")
    for name, w in (("log_image", w_o2), ("log_image_unrounded", w_o2_raw)):
        lines.append(f"| ONNX Runtime fp32, O2's calculateChannels on `{name}` | {w.mean():.3f} | "
                     f"{w.mean() / floor['w_mean']:.2f} | {100 * (w.mean() / w_torch - 1):+.1f} % | – | – |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--det", choices=["zn", "zp"])
    ap.add_argument("--model", help="checkpoint folder (PyTorch)")
    ap.add_argument("--export", help="export folder of the same checkpoint (fastzdc export onnx --fp16)")
    ap.add_argument("--data", required=True, help="test split of the stand-in (synthetic) data (with --o2-loop: "
                    "a ZN or ZP split; the detector of each folder picks data/split_<det>/test.h5 next to it)")
    ap.add_argument("--o2-loop", nargs="+", metavar="FOLDER", help="export folders: O2's particle loop only")
    ap.add_argument("--o2-steps", nargs="*", default=[], metavar="NAME:S1,S2", help="checkpoint weights/NAME re-exported with S steps")
    ap.add_argument("--o2-particles", type=int, default=200)
    ap.add_argument("--o2-rounds", type=int, default=5)
    ap.add_argument("--o2-dropin-w", type=int, default=0, metavar="ROWS", help="W / floor of model.o2.onnx against model.onnx")
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--n-rep", type=int, default=2)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-fidelity", action="store_true")
    ap.add_argument("--auc", action="store_true", help="also the classifier AUCs (features / images) of every row")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    if args.o2_loop:
        from _o2loop import o2_loop_section

        publish(o2_loop_section(args, machine()), args.append)
        return
    if not (args.det and args.model and args.export):
        ap.error("--det, --model and --export are required (or give --o2-loop)")
    text = [f"## ONNX Runtime vs PyTorch, FM {args.det.upper()} ({machine()}, onnxruntime "
            f"{__import__('onnxruntime').__version__}; sampler of the export)", ""]
    if not args.no_speed:
        ds = load_dataset(args.data)
        text += ["ms per sample (median of repeats; PyTorch with channels_last weights; ONNX Runtime with "
                 "allow_spinning=0, 1 inter-op thread; `model call` = the network alone, no scaling or decoding):", "",
                 "| batch | threads | what | PyTorch | ONNX Runtime fp32 | ONNX Runtime fp16 | PyTorch / ONNX fp32 |",
                 "|---:|---:|---|---:|---:|---:|---:|"]
        text += speed(args, ds.conditions[:4096])
    if not args.no_fidelity:
        text += ["", f"Fidelity on the first {args.rows} rows of the **synthetic** stand-in test split ({args.data}), "
                 f"n_rep {args.n_rep}, seed 1 (PyTorch and the explicit-noise ONNX files see the same noise):", "",
                 "| generator | W mean | W / floor | W vs PyTorch | MAE | classifier AUC (features / images) |", "|---|---:|---:|---:|---:|---|"]
        text += fidelity(args)
    text += ["", f"Load average (1 min) of this shared machine at the end: {os.getloadavg()[0]:.1f} on "
             f"{os.cpu_count()} cores (other jobs were running: compare ratios within this section)."]
    publish(text, args.append)


if __name__ == "__main__":
    main()
