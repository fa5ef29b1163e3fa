"""VQ-GAN benchmarks: fidelity vs the prior's sampling temperature and top-k, speed, VQ reconstruction W.

    python benchmarks/bench_vq.py --prior weights/vq-zn --vq runs/vq-zn/best \\
        --data data/split_zn/val.h5 [--rows 2000] [--append]

* sweeps (validation split, first ``--rows`` rows, n_rep 1, one seed): mean W and MAE at each
  temperature with no top-k filter, at each top-k with temperature 1, then every top-k at the best
  temperature and every temperature at the best top-k; beside the Monte Carlo floor on the same rows
  (``fastzdc.evaluation.floor_generator``). Table, plot ``benchmarks/vq_sampling_<det>.png`` and the
  best setting (the candidate sampler defaults);
* speed: ms per sample of ``Generator.generate`` (particles in, uint16 counts out) with the
  checkpoint's sampler at batch 1 (one thread: the O2 per-particle case), 256 and 4096 (all threads),
  float32, median over ``--rounds`` rounds of the median of ``--repeats`` calls, with the glibc
  allocator settings of ``_common.py``;
* the VQ autoencoder's reconstruction W on the same rows (the published VQ-GAN reaches 3.09 on real ZN).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import SPEED_HEADER, ensure_allocator_env, fidelity_header, first_rows  # noqa: E402
from _common import machine, publish, speed_options, speed_rows  # noqa: E402

ensure_allocator_env()

from fastzdc.data import load_dataset  # noqa: E402
from fastzdc.evaluation.metrics import compare_counts  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402

SEED = 11


def score(gen, ds, **opts) -> tuple[float, float]:
    fake = gen.generate(ds.conditions, seed=SEED, batch_size=1024, **opts)
    sc = compare_counts(ds.detector, ds.responses, fake, 1)
    return sc["w_mean"], sc["mae"]


def sweep(prior: str, ds, temperatures: list[float], top_ks: list[int]) -> tuple[list[str], dict]:
    """Rows of the table and ``{(temperature, top_k): (W, MAE)}``."""
    gen = load_generator(prior)
    n_codes = int(gen.kind.vq_kind.hparams["n_codes"])
    out: dict[tuple[float, int], tuple[float, float]] = {}
    lines = []

    def run(t: float, k: int, label: str) -> None:
        if (t, k) not in out:
            out[(t, k)] = score(gen, ds, temperature=t, top_k=k, top_p=1.0)
        w, mae = out[(t, k)]
        lines.append(f"| {label} | {t:g} | {k if k < n_codes else 'all'} | {w:.3f} | {mae:.2f} |")
        print(lines[-1], flush=True)

    for t in temperatures:
        run(t, n_codes, "temperature")
    for k in top_ks:
        run(1.0, min(k, n_codes), "top-k")
    best_t = min(temperatures, key=lambda t: out[(t, n_codes)][0])
    best_k = min((min(k, n_codes) for k in top_ks), key=lambda k: out[(1.0, k)][0])
    # the cross through the best pair: every top-k at the best temperature, every temperature at the best top-k
    for k in top_ks if best_t != 1.0 else []:
        run(best_t, min(k, n_codes), f"top-k at T {best_t:g}")
    for t in temperatures if best_k != n_codes else []:
        run(t, best_k, f"temperature at top-k {best_k}")
    return lines, out


def plot(out: dict, n_codes: int, floor: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for k in sorted({k for _, k in out}):  # W vs temperature, one line per top-k swept over temperatures
        temps = sorted((t, v[0]) for (t, kk), v in out.items() if kk == k)
        if len(temps) >= 3:
            axes[0].plot([a for a, _ in temps], [w for _, w in temps], "o-", label="no top-k" if k == n_codes else f"top-k {k}")
    for t in sorted({t for t, _ in out}):
        ks = sorted((k, v[0]) for (tt, k), v in out.items() if tt == t)
        if len(ks) >= 3:
            axes[1].plot([a for a, _ in ks], [w for _, w in ks], "o-", label=f"temperature {t:g}")
    axes[0].set_xlabel("temperature")
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("top-k")
    axes[0].legend(fontsize=8)
    axes[0].set_ylabel("mean W (5 channels)")
    for ax in axes:
        ax.axhline(floor, color="k", ls="--", lw=1, label="original-data floor")
        ax.axhline(3 * floor, color="r", ls=":", lw=1, label="3 x floor (target)")
        ax.set_yscale("log")
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", required=True, help="vq-prior checkpoint")
    ap.add_argument("--vq", help="vq checkpoint: reconstruction W on the same rows")
    ap.add_argument("--data", required=True, help="validation file (stand-in validation split)")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--temperatures", type=float, nargs="*", default=[0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4])
    ap.add_argument("--top-ks", type=int, nargs="*", default=[4, 8, 16, 32, 64, 128, 512])
    speed_options(ap)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    det = ds.detector.name
    sub = first_rows(ds, args.rows)
    gen = load_generator(args.prior)
    text = [f"## VQ-GAN {args.prior} ({machine()})", "",
            f"Prior: {gen.n_params:,} parameters (GPT + prefix MLP + VQ decoder), {gen.kind.n_tokens()} tokens, "
            f"checkpoint sampler {gen.sampler}; SYNTHETIC stand-in data.", ""]
    if not args.no_speed:
        text += [f"ms per sample of `generate` (particles -> uint16 counts), float32, median over {args.rounds} rounds "
                 f"of the median of {args.repeats} calls.", "", *SPEED_HEADER]
        text += speed_rows([("vq-prior", args.prior, "float32")], ds.conditions[:4096], tuple(args.batches),
                           rounds=args.rounds, repeats=args.repeats)
    if args.vq or not args.no_sweep:
        floor, lines = fidelity_header(sub, f"rows of {Path(args.data).name}", args.vq,
                                       "VQ reconstruction (decoder of the quantised encoding)")
        text += lines
    if not args.no_sweep:
        text += ["| sweep | temperature | top-k | W | MAE |", "|---|---:|---:|---:|---:|"]
        lines, out = sweep(args.prior, sub, args.temperatures, args.top_ks)
        text += lines
        n_codes = int(gen.kind.vq_kind.hparams["n_codes"])
        (t, k), (w, mae) = min(out.items(), key=lambda kv: kv[1][0])
        png = Path(__file__).with_name(f"vq_sampling_{det}.png")
        plot(out, n_codes, floor["w_mean"], png, f"VQ-GAN prior {det.upper()} on synthetic stand-in: W vs sampling")
        text += ["", f"Best: temperature {t:g}, top-k {k} -> W {w:.3f} ({w / floor['w_mean']:.2f} x floor), "
                 f"MAE {mae:.2f}. Plot: `{png.name}`."]
    publish(text, args.append)


if __name__ == "__main__":
    main()
