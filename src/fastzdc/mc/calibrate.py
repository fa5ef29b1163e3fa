"""Compare the stand-in with the published statistics of the real (private) dataset.

Targets: the published real-data statistics (docs/mc.md; [DATA] unless the row says [EST]). The sample is
``n`` events drawn with :func:`sample_particles` and kept by O2's filter (ZN or ZP non-empty), as in the
real dataset. Quantiles use ``np.quantile`` (linear interpolation) on non-zero photon sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import MCParams
from .simulate import iter_simulate


@dataclass
class CalibrationRow:
    """One statistic: real-data ``target`` vs the stand-in's ``value``, with a human-readable tolerance."""

    name: str
    target: float
    value: float
    tolerance: str
    passed: bool
    source: str


def _rel(name, target, value, rel, source, abs_min: float = 0.0) -> CalibrationRow:
    tol = max(rel * abs(target), abs_min)
    text = f"±{rel * 100:.0f} %" + (f" or ±{abs_min:g}" if abs_min else "")
    return CalibrationRow(name, float(target), float(value), text, bool(abs(value - target) <= tol), source)


def _abs(name, target, value, tol, source, unit: str = "") -> CalibrationRow:
    passed = bool(abs(value - target) <= tol)
    return CalibrationRow(name, float(target), float(value), f"±{tol:g}{unit}", passed, source)


def _range(name, target, value, lo, hi, source) -> CalibrationRow:
    return CalibrationRow(name, float(target), float(value), f"[{lo:g}, {hi:g}]", bool(lo <= value <= hi), source)


def calibrate(n: int = 50000, seed: int = 0, params: MCParams | None = None, mode: str = "fast",
              verbose: bool = True) -> list[CalibrationRow]:
    """Simulate ``n`` filtered events and return (and print, if ``verbose``) the comparison rows."""
    conds, zn_sum, zp_sum, zn_nz, zp_nz, zn_max, zp_max = [], [], [], 0, 0, 0, 0
    both_empty = 0
    for b in iter_simulate(n, detectors=("zn", "zp"), mode=mode, seed=seed, params=params, keep_nonempty_only=True,
                           batch_size=8192):
        zn = b.responses["zn"].reshape(len(b), -1)
        zp = b.responses["zp"].reshape(len(b), -1)
        conds.append(b.conditions)
        s_n = zn.sum(axis=1, dtype=np.int64)
        s_p = zp.sum(axis=1, dtype=np.int64)
        zn_sum.append(s_n)
        zp_sum.append(s_p)
        both_empty += int(((s_n == 0) & (s_p == 0)).sum())
        zn_nz += int(np.count_nonzero(zn))
        zp_nz += int(np.count_nonzero(zp))
        zn_max = max(zn_max, int(zn.max(initial=0)))
        zp_max = max(zp_max, int(zp.max(initial=0)))
    c = np.concatenate(conds)
    s_n = np.concatenate(zn_sum)
    s_p = np.concatenate(zp_sum)
    m = len(c)
    nz_n, nz_p = s_n[s_n > 0], s_p[s_p > 0]
    q_n = np.quantile(nz_n, [0.25, 0.5, 0.75]) if len(nz_n) else np.zeros(3)
    q_p = np.quantile(nz_p, [0.25, 0.5, 0.75]) if len(nz_p) else np.zeros(3)
    qe = np.quantile(c[:, 0], [0.25, 0.5, 0.75])
    D = "[DATA]"
    rows = [
        _abs("ZP empty fraction", 0.327, np.mean(s_p == 0), 0.03, D),
        _range("ZN empty fraction", 0.40, np.mean(s_n == 0), 0.10, 0.50, "[EST] (not published)"),
        _abs("both empty after filter", 0.0, both_empty / m, 0.0, D),
        _rel("ZN non-zero sum Q1", 12, q_n[0], 0.25, D),
        _rel("ZN non-zero sum median", 111, q_n[1], 0.25, D),
        _rel("ZN non-zero sum Q3", 510, q_n[2], 0.25, D),
        _rel("ZP non-zero sum Q1", 2, q_p[0], 0.30, D, 1.0),
        _rel("ZP non-zero sum median", 5, q_p[1], 0.30, D, 1.0),
        _rel("ZP non-zero sum Q3", 18, q_p[2], 0.30, D, 1.0),
        _abs("ZP non-zero sums < 15", 0.713, np.mean(nz_p < 15) if len(nz_p) else 0.0, 0.03, D),
        _abs("ZN zero-pixel fraction", 0.961, 1 - zn_nz / (m * 1936), 0.01, D),
        _abs("ZP zero-pixel fraction", 0.989, 1 - zp_nz / (m * 1680), 0.005, D),
        _range("ZN max pixel", 591, zn_max, 591 / 2, 591 * 2, "[DATA] (511k events; factor 2)"),
        _range("ZP max pixel", 765, zp_max, 765 / 2, 765 * 2, "[DATA] (511k events; factor 2)"),
        _range("ZN max photon sum", 3360, s_n.max(initial=0), 3360 / 1.5, 3360 * 1.5, "[DATA] (511k events; factor 1.5)"),
        _range("ZP max photon sum", 2312, s_p.max(initial=0), 2312 / 1.5, 2312 * 1.5, "[DATA] (511k events; factor 1.5)"),
        _rel("energy Q1 [GeV]", 199.09, qe[0], 0.15, D),
        _rel("energy median [GeV]", 547.03, qe[1], 0.15, D),
        _rel("energy Q3 [GeV]", 1582.12, qe[2], 0.15, D),
        _abs("fraction neutral", 0.837, np.mean(c[:, 8] == 0), 0.03, "[DATA/CALC]"),
        _abs("mean charge [e]", 0.111, np.mean(c[:, 8]), 0.03, D),
        _range("fraction photons (mass 0)", 0.55, np.mean(c[:, 7] == 0), 0.50, 0.70, "[DATA] (median mass 0)"),
        _abs("mass 75th percentile [MeV]", 938.27, np.quantile(c[:, 7], 0.75), 1.5, D),
        _rel("mean mass [MeV]", 292.97, np.mean(c[:, 7]), 0.10, D),
        _abs("pz median [GeV]", -52.7, np.median(c[:, 6]), 250.0, D, " GeV"),
        _abs("fraction pz > 0", 0.5, np.mean(c[:, 6] > 0), 0.05, "[DATA/CALC] (quartiles -493/+600)"),
    ]
    if verbose:
        print(format_table(rows, header=f"fastzdc.mc calibration ({mode} mode, {m} kept events, seed {seed})"))
    return rows


def format_table(rows: list[CalibrationRow], header: str | None = None) -> str:
    """Markdown table: name | target | stand-in | tolerance | pass | source."""
    lines = [] if header is None else [header, ""]
    lines += ["| statistic | real data | stand-in | tolerance | pass | source |", "|---|---:|---:|---|---|---|"]
    for r in rows:
        ok = "yes" if r.passed else "NO"
        lines.append(f"| {r.name} | {r.target:.4g} | {r.value:.4g} | {r.tolerance} | {ok} | {r.source} |")
    return "\n".join(lines)
