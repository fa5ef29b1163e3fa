"""The report's figures, each a function of NumPy arrays returning PNG bytes (matplotlib, Agg).

Conventions: ``data`` is the reference sample (the test set), ``samples`` maps a generator's name to
its counts for the same test conditions (first repetition, same row order), images are
``(N, nx, ny)`` photon counts. Every figure states that the data are synthetic when they are.

>>> png = photon_vs_energy(np.full(10, 2500.0), np.ones((10, 4, 4)), {"model": np.ones((10, 4, 4))})
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..detector import Detector

CHANNEL_LABELS = ("ch1: tower 1", "ch2: tower 2", "ch3: tower 3", "ch4: tower 4", "ch5: sum (PMC)")
COLORS = ("black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    return buf.getvalue()


def _suptitle(fig: Any, title: str, synthetic: bool) -> None:
    fig.suptitle(title + ("  [SYNTHETIC stand-in data]" if synthetic else ""), fontsize=10)


def photon_sums(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).sum(1, dtype=np.int64).astype(np.float64)


def centroids(images: np.ndarray) -> np.ndarray:
    """``(N, 2)`` photon-weighted centroid (row, column) in fibre units; NaN for empty events."""
    img = images.astype(np.float64)
    tot = img.sum((1, 2))
    rows = (img.sum(2) * np.arange(img.shape[1])).sum(1)
    cols = (img.sum(1) * np.arange(img.shape[2])).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([rows / tot, cols / tot], 1)


def sample_grid(det: Detector, data: np.ndarray, samples: dict[str, np.ndarray], idx: Sequence[int],
                energies: np.ndarray, synthetic: bool = True) -> bytes:
    """Rows: test particles ``idx``; columns: the reference response then each generator's response
    to the same particle (log colour scale, shared per row)."""
    plt = _plt()
    cols = {"reference": data, **samples}
    fig, axes = plt.subplots(len(idx), len(cols), figsize=(1.9 * len(cols), 1.9 * len(idx) + 0.4), squeeze=False)
    for r, i in enumerate(idx):
        vmax = max(float(np.log1p(a[i]).max()) for a in cols.values()) or 1.0
        for c, (name, arr) in enumerate(cols.items()):
            ax = axes[r, c]
            ax.imshow(np.log1p(arr[i]).T if det.name == "zp" else np.log1p(arr[i]), cmap="magma", vmin=0, vmax=vmax,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=7)
            if c == 0:
                ax.set_ylabel(f"E {energies[i]:.0f} GeV", fontsize=7)
            ax.text(0.02, 0.02, f"{int(arr[i].sum())} ph", transform=ax.transAxes, color="w", fontsize=6)
    _suptitle(fig, f"{det.name.upper()}: same particles, log1p counts", synthetic)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _png(fig)


def _hist_with_ratio(ax, axr, ref: np.ndarray, gens: dict[str, np.ndarray], label: str) -> None:
    hi = max(np.percentile(ref, 99.5), 1.0)
    bins = np.linspace(0, hi, 41)
    h_ref, _ = np.histogram(np.clip(ref, 0, hi), bins)
    centers = 0.5 * (bins[1:] + bins[:-1])
    ax.stairs(h_ref, bins, color="black", lw=1.4, label="reference")
    for k, (name, g) in enumerate(gens.items()):
        h, _ = np.histogram(np.clip(g, 0, hi), bins)
        ax.stairs(h, bins, color=COLORS[(k + 1) % len(COLORS)], lw=1, label=name)
        with np.errstate(invalid="ignore", divide="ignore"):
            axr.plot(centers, h / h_ref, ".", ms=3, color=COLORS[(k + 1) % len(COLORS)])
    ax.set_yscale("log")
    ax.set_title(label, fontsize=8)
    ax.tick_params(labelsize=6)
    axr.axhline(1, color="black", lw=0.8)
    axr.set_ylim(0.5, 1.5)
    axr.set_ylabel("gen / ref", fontsize=6)
    axr.tick_params(labelsize=6)


def sums_histograms(det: Detector, data: np.ndarray, samples: dict[str, np.ndarray], synthetic: bool = True) -> bytes:
    """Histograms of the 5 channel sums and the photon sum with ratio panels (generated / reference)."""
    plt = _plt()
    ref_ch = det.channel_sums(data)
    gen_ch = {k: det.channel_sums(v) for k, v in samples.items()}
    fig = plt.figure(figsize=(12, 6))
    grid = fig.add_gridspec(4, 3, height_ratios=[3, 1, 3, 1], hspace=0.45, wspace=0.25)
    for j in range(6):
        r, c = 2 * (j // 3), j % 3
        ax, axr = fig.add_subplot(grid[r, c]), fig.add_subplot(grid[r + 1, c])
        if j < 5:
            _hist_with_ratio(ax, axr, ref_ch[:, j], {k: v[:, j] for k, v in gen_ch.items()}, CHANNEL_LABELS[j])
        else:
            _hist_with_ratio(ax, axr, photon_sums(data), {k: photon_sums(v) for k, v in samples.items()},
                             "photon sum (all fibres)")
        if j == 0:
            ax.legend(fontsize=6)
    _suptitle(fig, f"{det.name.upper()}: channel sums and photon sum", synthetic)
    return _png(fig)


def photon_vs_energy(energy: np.ndarray, data: np.ndarray, samples: dict[str, np.ndarray], det_name: str = "",
                     synthetic: bool = True) -> bytes:
    """Mean photon sum (band: +-1 standard deviation) in bins of the particle energy."""
    plt = _plt()
    edges = np.unique(np.quantile(energy, np.linspace(0, 1, 13)))
    if len(edges) < 2:
        edges = np.array([energy.min() - 0.5, energy.max() + 0.5])
    which = np.clip(np.digitize(energy, edges) - 1, 0, len(edges) - 2)
    centers = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for k, (name, arr) in enumerate({"reference": data, **samples}.items()):
        s = photon_sums(arr)
        m = np.array([s[which == b].mean() if np.any(which == b) else np.nan for b in range(len(centers))])
        sd = np.array([s[which == b].std() if np.any(which == b) else np.nan for b in range(len(centers))])
        ax.plot(centers, m, "o-", ms=3, color=COLORS[k % len(COLORS)], label=name)
        ax.fill_between(centers, m - sd, m + sd, color=COLORS[k % len(COLORS)], alpha=0.12)
    ax.set_xlabel("particle energy [GeV]")
    ax.set_ylabel("photon sum")
    ax.legend(fontsize=7)
    _suptitle(fig, f"{det_name.upper()}: photon sum vs energy", synthetic)
    fig.tight_layout()
    return _png(fig)


def centroid_maps(det: Detector, data: np.ndarray, samples: dict[str, np.ndarray], synthetic: bool = True) -> bytes:
    """2-D histograms of the photon-weighted centroid (non-empty events) per generator."""
    plt = _plt()
    cols = {"reference": data, **samples}
    fig, axes = plt.subplots(1, len(cols), figsize=(2.6 * len(cols), 2.9), squeeze=False)
    nx, ny = det.shape
    for c, (name, arr) in enumerate(cols.items()):
        cen = centroids(arr)
        ok = np.isfinite(cen[:, 0])
        axes[0, c].hist2d(cen[ok, 1], cen[ok, 0], bins=[ny, nx], range=[[0, ny], [0, nx]], cmap="viridis")
        axes[0, c].set_title(f"{name} ({ok.sum()} non-empty)", fontsize=7)
        axes[0, c].tick_params(labelsize=6)
        axes[0, c].set_aspect("equal")
    _suptitle(fig, f"{det.name.upper()}: centroid maps (column vs row, fibres)", synthetic)
    fig.tight_layout()
    return _png(fig)


def steps_curves(curves: dict[str, list[tuple[int, float]]], floor: float | None, det_name: str,
                 synthetic: bool = True) -> bytes:
    """Mean W against network evaluations per sample, one curve per model (the published Fig. 10)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for k, (name, pts) in enumerate(curves.items()):
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS[(k + 1) % len(COLORS)], label=name)
    if floor is not None:
        ax.axhline(floor, color="black", ls="--", lw=1, label="original-data floor")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations per sample")
    ax.set_ylabel("mean W (5 channels)")
    ax.legend(fontsize=7)
    _suptitle(fig, f"{det_name.upper()}: fidelity vs sampling steps", synthetic)
    fig.tight_layout()
    return _png(fig)


def time_vs_fidelity(rows: list[dict[str, Any]], synthetic: bool = True) -> bytes:
    """Time per sample against mean W for every row of every detector (the published Fig. 4);
    the floor of each detector as a dashed line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    markers = {"zn": "o", "zp": "s"}
    for k, r in enumerate(rows):
        if r.get("extra", {}).get("is_floor"):
            ax.axhline(r["w_mean"], ls="--", lw=0.8, color="gray")
            ax.text(0.01, r["w_mean"] * 1.03, f"{r['detector'].upper()} floor", fontsize=7, color="gray",
                    transform=ax.get_yaxis_transform())
            continue
        ax.scatter(r["time_per_sample_ms"], r["w_mean"], marker=markers.get(r["detector"], "o"),
                   color=COLORS[(k + 1) % len(COLORS)], s=40)
        ax.annotate(f"{r['detector'].upper()} {r['name']}", (r["time_per_sample_ms"], r["w_mean"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time per sample [ms] (device and batch: see the table)")
    ax.set_ylabel("mean W (5 channels)")
    _suptitle(fig, "time vs fidelity, all models", synthetic)
    fig.tight_layout()
    return _png(fig)
