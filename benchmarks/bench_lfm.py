"""Latent flow matching benchmarks: speed against FM in the same run, fidelity vs latent steps, VAE
reconstruction W.

    python benchmarks/bench_lfm.py --lfm weights/lfm-zn --fm weights/fm-zn --vae runs/vae-zn/best \\
        --data /work/main/data/split_zn/test.h5 [--append]

* speed: ms per sample of ``Generator.generate`` (particles in, uint16 counts out) with each model's
  default sampler, median of repeats after warm-up, at batch 1 (one thread: the O2 per-particle case),
  256 and 4096 (all threads); FM and latent FM alternate inside one run, so their ratio is measured
  under the same machine load. Latent FM also in bfloat16 autocast (AMX on CPUs that have it);
* fidelity vs steps: mean W and MAE on the first ``--rows`` test rows (n_rep 1) for each solver and
  step count, beside the Monte Carlo re-simulation floor on the same rows; a plot
  benchmarks/lfm_steps_<det>.png;
* the VAE's reconstruction W on the same rows (the published VAE: W 0.95 on real ZN data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import append_results, ensure_allocator_env, machine, median_time, steps_sweep  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.metrics import compare_counts  # noqa: E402
from fastzdc.sampling.generator import counts_from_log_images, load_generator  # noqa: E402


def speed(models: list[tuple[str, str, str]], cond: np.ndarray, batches=(1, 256, 4096), rounds: int = 3) -> list[str]:
    """``models``: (label, checkpoint, precision). Rows: label, batch, threads, ms/sample (median over
    ``rounds`` alternating rounds of each model's median time)."""
    all_threads = torch.get_num_threads()
    rows = []
    for batch in batches:
        threads = 1 if batch == 1 else all_threads
        torch.set_num_threads(threads)
        gens = []
        for label, path, precision in models:
            g = load_generator(path)
            g.precision = precision
            gens.append((label, g))
        c = np.resize(cond, (64 if batch == 1 else batch, 9))
        times: dict[str, list[float]] = {label: [] for label, _ in gens}
        for _ in range(rounds):
            for label, g in gens:
                reps = 1 if batch == 4096 and label.startswith("fm") else 3
                t = median_time(lambda: g.generate(c, seed=0, batch_size=batch), repeats=reps, warmup=1)
                times[label].append(1e3 * t / len(c))
        for label, g in gens:
            ms = float(np.median(times[label]))
            rows.append((label, g, batch, threads, ms))
    torch.set_num_threads(all_threads)
    base = {b: ms for label, g, b, th, ms in rows if label.startswith("fm")}
    out = []
    for label, g, b, th, ms in rows:
        ratio = f"{base[b] / ms:.1f}" if b in base else "-"
        out.append(f"| {label} | {g.sampler} | {g.precision} | {b} | {th} | {ms:.4f} | {ratio} |")
    return out


@torch.no_grad()
def reconstruction(vae: str, ds) -> dict:
    from fastzdc.models import get_kind
    from fastzdc.training.checkpoint import WEIGHTS, load_config, load_tensors, load_weights_into, resolve

    ckpt = resolve(vae)
    cfg = load_config(ckpt)
    kind = get_kind(cfg["kind"])(ds.detector, cfg["hparams"])
    net = kind.build()
    load_weights_into(net, load_tensors(ckpt / WEIGHTS), ckpt / WEIGHTS)
    net.eval()
    from fastzdc.data.scaler import StandardScaler

    cond = torch.from_numpy(StandardScaler.from_dict(cfg["scaler"]).transform(ds.conditions))
    parts = []
    for start in range(0, len(ds), 1024):
        x = torch.log1p(torch.from_numpy(ds.responses[start : start + 1024].astype(np.float32)))[:, None]
        parts.append(counts_from_log_images(kind.reconstruct(net, x, cond[start : start + 1024])))
    return compare_counts(ds.detector, ds.responses, np.concatenate(parts), 1)


def fidelity_header(sub, rows_label: str, autoencoder: str | None, rec_label: str) -> tuple[dict, list[str]]:
    """The Monte Carlo re-simulation floor on ``sub`` (n_rep 1) and, with an ``autoencoder`` checkpoint,
    its reconstruction W: the floor scores and the lines that report them."""
    from fastzdc.workflows import floor_generator  # the Monte Carlo given the file's O2 filter

    floor = compare_counts(sub.detector, sub.responses, floor_generator(sub).generate(sub.conditions, seed=1), 1)
    lines = ["", f"### fidelity on {len(sub)} {rows_label} (SYNTHETIC stand-in, n_rep 1); MC re-simulation floor "
             f"W {floor['w_mean']:.3f}, MAE {floor['mae']:.2f}", ""]
    if autoencoder:
        rec = reconstruction(autoencoder, sub)
        lines += [f"{rec_label}: W {rec['w_mean']:.3f} ({rec['w_mean'] / floor['w_mean']:.2f} x floor), "
                  f"MAE {rec['mae']:.2f}", ""]
        print(lines[-2], flush=True)
    return floor, lines


def plot(out: dict, floor: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for m in sorted({k[0] for k in out}):
        pts = sorted((v[0], v[1]) for k, v in out.items() if k[0] == m)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
    ax.axhline(floor, color="k", ls="--", lw=1, label="original-data floor")
    ax.axhline(3 * floor, color="r", ls=":", lw=1, label="3 x floor (target)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("latent network evaluations per sample")
    ax.set_ylabel("mean W (5 channels)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfm", required=True)
    ap.add_argument("--fm", help="FM checkpoint timed in the same run (the 20x comparison)")
    ap.add_argument("--vae", help="VAE checkpoint: reconstruction W on the same rows")
    ap.add_argument("--data", required=True, help="test file (stand-in test split)")
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--steps", type=int, nargs="*", default=[1, 2, 3, 4, 6, 8, 12, 16])
    ap.add_argument("--methods", nargs="*", default=["euler", "midpoint", "heun"])
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 256, 4096])
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    det = ds.detector.name
    text = [f"## Latent FM {Path(args.lfm).name} ({machine()})", ""]
    if not args.no_speed:
        models = ([("fm", args.fm, "float32")] if args.fm else []) + [
            ("latent-fm", args.lfm, "float32"), ("latent-fm bf16", args.lfm, "bfloat16")]
        text += ["ms per sample of `generate` (particles -> uint16 counts), median of 3 alternating rounds; "
                 "speed-up = FM time / this time at the same batch, same run.", "",
                 "| model | sampler | precision | batch | threads | ms / sample | speed-up vs FM |",
                 "|---|---|---|---:|---:|---:|---:|"]
        text += speed(models, ds.conditions[:4096], tuple(args.batches))
        print("\n".join(text), flush=True)
    sub = ds.subset(slice(0, args.rows))
    if args.vae or not args.no_sweep:
        floor, lines = fidelity_header(sub, "test rows", args.vae, "VAE reconstruction (decoder of the posterior mean)")
        text += lines
    if not args.no_sweep:
        text += ["| solver | steps | latent evaluations | W | MAE |", "|---|---:|---:|---:|---:|"]
        lines, out = steps_sweep(args.lfm, sub, args.steps, args.methods)
        text += lines
        png = Path(__file__).with_name(f"lfm_steps_{det}.png")
        plot(out, floor["w_mean"], png, f"latent FM {det.upper()} on synthetic stand-in: W vs latent steps")
        text += ["", f"Plot: `{png.name}`."]
    if args.append:
        append_results("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
