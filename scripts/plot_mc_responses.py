"""Plot a grid of synthetic ZN/ZP responses of the fastzdc.mc stand-in: docs/mc_responses.png.

Columns: a few primaries (all from the IP on side A, aimed at the ZN centre unless stated); rows:
independent draws, ZN (44 x 44) above ZP (56 x 30) for each draw. x is horizontal (the magnetic
bending plane), log colour scale, empty fibres white.

    python scripts/plot_mc_responses.py [--out docs/mc_responses.png] [--mode fast|detailed]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from fastzdc.detector import ZN, ZP  # noqa: E402
from fastzdc.mc import simulate  # noqa: E402

PARTICLES = [  # (label, E GeV, mass MeV, charge, pdg)
    ("n 1 TeV", 1000.0, 939.565, 0, 2112),
    ("n 2.5 TeV", 2500.0, 939.565, 0, 2112),
    ("γ 500 GeV", 500.0, 0.0, 0, 22),
    ("p 3 TeV (ZP window)", 3000.0, 938.272, 1, 2212),
    ("K⁰ 2.7 TeV", 2700.0, 497.611, 0, 311),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "mc_responses.png"))
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--mode", default="fast", choices=["fast", "detailed"])
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()

    rows = []
    for _, e, m, q, _ in PARTICLES:
        pz = np.sqrt(e**2 - (m / 1000.0) ** 2)
        rows.append([e, 0, 0, 0, 0, 0, pz, m, q])
    cond = np.array(rows, dtype=np.float32)
    batch = simulate(conditions=cond, pdgid=np.array([p[4] for p in PARTICLES]), repeat=args.draws,
                     mode=args.mode, seed=args.seed)
    zn, zp = batch.responses["zn"], batch.responses["zp"]

    ncol, nrow = len(PARTICLES), 2 * args.draws
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 1.55 * nrow + 0.9),
                             gridspec_kw={"height_ratios": [1.0, 0.68] * args.draws})
    vmax = max(int(zn.max()), int(zp.max()), 2)
    norm = LogNorm(vmin=1, vmax=vmax)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("white")
    im = None
    for j, (label, *_rest) in enumerate(PARTICLES):
        for d in range(args.draws):
            k = j * args.draws + d
            for r, (img, det) in enumerate(((zn[k], ZN), (zp[k], ZP))):
                ax = axes[2 * d + r, j]
                data = np.ma.masked_equal(img.T.astype(float), 0)
                im = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest",
                               extent=(det.x_low_cm, det.x_high_cm, det.y_low_cm, det.y_high_cm))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.text(0.02, 0.95, f"{det.name.upper()} Σ={int(img.sum())}", transform=ax.transAxes, fontsize=7,
                        va="top", color="black")
                if d == 0 and r == 0:
                    ax.set_title(label, fontsize=9)
    fig.suptitle(f"fastzdc.mc responses ({args.mode} mode) — synthetic stand-in (fastzdc.mc), not GEANT\n"
                 f"{args.draws} independent draws per particle; ZN above ZP; photo-electrons per fibre, log scale",
                 fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.6, label="photo-electrons")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
