"""One self-contained HTML report (inline PNGs, inline CSS, no scripts, no network) plus the tables
as results.json / results.csv, all written from the same result rows so their numbers agree.

``build_report(out, evaluations)`` takes one :class:`DetectorEvaluation` per detector: the test set,
the result rows (floor first), each generator's first-repetition samples, optional fidelity-vs-steps
curves and optional extra fidelity measures per model (classifier AUC, FPD/KPD, ...).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._atomic import atomic_path, atomic_write_text
from ..detector import Detector
from . import plots

AUC_KEYS = ("auc_features", "auc_features_conditional", "auc_sums", "auc_sums_conditional", "auc_images")
CSV_FIELDS = ["synthetic_data", "detector", "name", "time_per_sample_ms", "w_mean", "w_err", "w_over_floor",
              "w_over_floor_err", *(f"w_ch{i}" for i in range(1, 6)), "mae", "mae_div5", "rmse", "n_params", "n_test",
              "n_rep", "batch_size", "device", "precision", *AUC_KEYS, "fpd", "kpd", "diversity_photon_sum"]


@dataclass
class DetectorEvaluation:
    detector: Detector
    conditions: np.ndarray
    reference: np.ndarray
    rows: list[dict[str, Any]]
    samples: dict[str, np.ndarray]
    synthetic: bool = True
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def add_floor_ratios(rows: list[dict[str, Any]]) -> None:
    """``w_over_floor`` on every row of a detector that has a floor row."""
    floors = {r["detector"]: r["w_mean"] for r in rows if r.get("extra", {}).get("is_floor")}
    for r in rows:
        f = floors.get(r["detector"])
        r["w_over_floor"] = r["w_mean"] / f if f else None
        r.setdefault("w_over_floor_err", None)


def results_csv(rows: list[dict[str, Any]], synthetic: bool) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        flat = dict(r, synthetic_data=synthetic)
        for i, v in enumerate(r["w_per_channel"], 1):
            flat[f"w_ch{i}"] = v
        for key in (*AUC_KEYS, "fpd", "kpd", "diversity_photon_sum"):
            val = (r.get("fidelity") or {}).get(key)
            flat[key] = val.get("value") if isinstance(val, dict) else val
        w.writerow(flat)
    return buf.getvalue()


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, dict):  # {"value": x, "error": e}
        return f"{_fmt(v.get('value'), digits)} ± {_fmt(v.get('error'), digits)}" if v.get("error") is not None else _fmt(v.get("value"), digits)
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-3 else f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "time / sample [ms]", "device, batch, precision", "W mean", "W / floor", "W per channel (1-5)",
            "MAE", "params", "AUC features", "AUC features | particle", "AUC sums", "AUC sums | particle", "AUC images",
            "FPD ×10³", "KPD ×10³", "empty fraction (ref → gen)", "diversity / MC"]
    out = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        fid = r.get("fidelity") or {}
        cls = ' class="floor"' if r.get("extra", {}).get("is_floor") else ""
        cells = [
            html.escape(r["name"]), _fmt(r["time_per_sample_ms"], 4),
            html.escape(f"{r['device']}, {r['batch_size']}, {r['precision']}"),
            _fmt({"value": r["w_mean"], "error": r.get("w_err")}),
            _fmt({"value": r.get("w_over_floor"), "error": r.get("w_over_floor_err")}, 2),
            " / ".join(_fmt(v, 2) for v in r["w_per_channel"]),
            _fmt(r["mae"], 2), str(r["n_params"]), *(_fmt(fid.get(k)) for k in AUC_KEYS),
            _fmt(_scaled(fid.get("fpd"), 1e3)), _fmt(_scaled(fid.get("kpd"), 1e3)), _empty(fid.get("empty_fraction")),
            _fmt(fid.get("diversity_photon_sum"), 2),
        ]
        out.append(f"<tr{cls}>" + "".join(f"<td data-key='{k}'>{c}</td>" for k, c in zip(head, cells)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _single_feature_table(rows: list[dict[str, Any]]) -> str:
    """Rows: generators; columns: the held-out AUC of a classifier on each high-level feature alone."""
    have = [r for r in rows if (r.get("fidelity_detail") or {}).get("single_features")]
    if not have:
        return ""
    names = [f["name"] for f in have[0]["fidelity_detail"]["single_features"]]
    out = ["<h3>Which features separate a generator from the reference</h3><p class='notes'>Held-out AUC of a "
           "classifier that sees one high-level feature at a time (0.5: that feature alone is indistinguishable; "
           "error about ± 0.01). The largest values show where a model's showers differ.</p>",
           "<table><thead><tr><th>generator</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
           + "</tr></thead><tbody>"]
    for r in have:
        aucs = [f["auc"] for f in r["fidelity_detail"]["single_features"]]
        worst = max(range(len(aucs)), key=lambda j: aucs[j])
        cells = "".join(f"<td{' class=worst' if j == worst and aucs[j] > 0.55 else ''}>{_fmt(a)}</td>"
                        for j, a in enumerate(aucs))
        out.append(f"<tr><td>{html.escape(r['name'])}</td>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _against_lookup(rows: list[dict[str, Any]]) -> str:
    """Each model beside the shower library: who wins on W / floor, on the feature AUC and on the
    conditional channel-sum AUC (differences with their errors)."""
    look = next((r for r in rows if r.get("extra", {}).get("is_lookup")), None)
    models = [r for r in rows if not r.get("extra", {}).get("is_floor") and not r.get("extra", {}).get("is_lookup")]
    if look is None or not models:
        return ""

    def cmp(r: dict[str, Any], value: Any, lower_is_better: bool = True) -> str:
        a, b = value(r), value(look)
        if a is None or b is None:
            return "–"
        (va, ea), (vb, eb) = a, b
        diff = va - vb
        err = float(np.hypot(ea or 0.0, eb or 0.0))
        better = diff < -err if lower_is_better else diff > err
        worse = diff > err if lower_is_better else diff < -err
        verdict = "beats the look-up" if better else ("behind the look-up" if worse else "within errors")
        return f"{va:.3f} vs {vb:.3f} ({diff:+.3f} ± {err:.3f}): {verdict}"

    def ratio(r):
        return (r["w_over_floor"], r.get("w_over_floor_err")) if r.get("w_over_floor") is not None else None

    def auc(key):
        def get(r):
            v = (r.get("fidelity") or {}).get(key)
            return (v["value"], v.get("error")) if v and v.get("value") is not None else None
        return get

    out = ["<h3>Against the shower library</h3><p class='notes'>A model earns its place where it beats the "
           "look-up of its own training data. Lower is better for all three; a difference within the combined "
           "error is not a win.</p><table><thead><tr><th>model</th><th>W / floor</th><th>AUC features</th>"
           "<th>AUC sums | particle</th></tr></thead><tbody>"]
    for r in models:
        cells = [cmp(r, ratio), cmp(r, auc("auc_features")), cmp(r, auc("auc_sums_conditional"))]
        out.append(f"<tr><td>{html.escape(r['name'])}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                   + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _example_rows(reference: np.ndarray, energy: np.ndarray, k: int = 4) -> list[int]:
    """Up to ``k`` non-empty reference events spread over the energy range (empty ones only if needed)."""
    lit = np.flatnonzero(reference.reshape(len(reference), -1).any(1))
    pool = lit if len(lit) >= k else np.arange(len(reference))
    order = pool[np.argsort(energy[pool], kind="stable")]
    return [int(i) for i in order[np.linspace(0, len(order) - 1, min(k, len(order))).astype(int)]]


def _scaled(v: dict[str, Any] | None, f: float) -> dict[str, Any] | None:
    if not v or v.get("value") is None:
        return None
    return {"value": v["value"] * f, "error": None if v.get("error") is None else v["error"] * f}


def _empty(e: dict[str, Any] | None) -> str:
    return "–" if not e else f"{e['reference']:.3f} → {e['generated']:.3f}"


def _img(png: bytes, alt: str) -> str:
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1400px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.floor{background:#f1f1f1;font-style:italic}
.banner{background:#fff3cd;border:1px solid #e0c36c;padding:8px 12px;margin:10px 0;font-weight:600}
figure{margin:10px 0}img{max-width:100%}.notes{font-size:13px;color:#444}td.worst{background:#f8d7da;font-weight:600}
h3{font-size:15px;margin-top:18px}"""


def build_report(out: str | Path, evaluations: list[DetectorEvaluation], *, title: str = "fastzdc evaluation",
                 notes: list[str] | None = None, extra_sections: str = "") -> dict[str, Any]:
    """Write ``report.html``, ``results.json``, ``results.csv`` and the PNGs (``plots/``) under ``out``."""
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    synthetic = any(e.synthetic for e in evaluations)
    rows = [r for e in evaluations for r in e.rows]
    add_floor_ratios(rows)
    body: list[str] = []
    pngs: dict[str, bytes] = {}
    for e in evaluations:
        d = e.detector.name
        n = len(e.reference)
        pick = _example_rows(e.reference, e.conditions[:, 0])
        energy = e.conditions[:, 0]
        figs = {
            f"{d}_samples": plots.sample_grid(e.detector, e.reference, e.samples, pick, energy, e.synthetic),
            f"{d}_sums": plots.sums_histograms(e.detector, e.reference, e.samples, e.synthetic),
            f"{d}_photon_vs_energy": plots.photon_vs_energy(energy, e.reference, e.samples, d, e.synthetic),
            f"{d}_centroids": plots.centroid_maps(e.detector, e.reference, e.samples, e.synthetic),
        }
        if e.steps:
            floor = next((r["w_mean"] for r in e.rows if r.get("extra", {}).get("is_floor")), None)
            figs[f"{d}_steps"] = plots.steps_curves(e.steps, floor, d, e.synthetic)
        pngs.update(figs)
        body.append(f"<h2>{d.upper()} ({'x'.join(map(str, e.detector.shape))} fibres): {n} test particles</h2>")
        body.append(_table(e.rows))
        body.append(_against_lookup(e.rows))
        body.append(_single_feature_table(e.rows))
        body += [_img(png, name) for name, png in figs.items()]
    pngs["time_vs_fidelity"] = plots.time_vs_fidelity(rows, synthetic)
    body.append("<h2>Time vs fidelity (all models)</h2>" + _img(pngs["time_vs_fidelity"], "time vs fidelity"))
    for name, png in pngs.items():
        with atomic_path(out / "plots" / f"{name}.png") as tmp:
            Path(tmp).write_bytes(png)
    meta = {"fastzdc": __version__, "date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "machine": platform.machine()}
    notes = list(notes or [])
    if synthetic:
        notes.insert(0, "All data in this report are SYNTHETIC (the fastzdc.mc parametric stand-in), not GEANT and not "
                        "real ALICE data.")
    banner = f'<div class="banner">{html.escape(notes[0])}</div>' if synthetic else ""
    doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style>"
           f"</head><body><h1>{html.escape(title)}</h1>{banner}"
           f"<p class='notes'>W: mean 1-D Wasserstein distance over the 5 channel sums (published metric); the floor "
           f"row is an independent re-simulation of the same test particles by the Monte Carlo (the 'original data' "
           f"row of the published Table 1); W / floor is each model's ratio to it; errors are bootstrap standard "
           f"deviations over the test particles. The look-up row is the shower library (the stored response of one "
           f"of the 8 nearest training particles): the baseline a model has to beat. AUC: held-out area under the "
           f"ROC curve of a classifier trained to tell generated from reference showers (0.5: indistinguishable); "
           f"'| particle': the classifier also sees the particle, so it tests the response given the particle. fastzdc {meta['fastzdc']}, "
           f"{meta['date']}.</p>" + "\n".join(body) + extra_sections
           + "<h2>Notes</h2><ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
           + "</body></html>\n")
    atomic_write_text(out / "report.html", doc)
    atomic_write_text(out / "results.json", json.dumps({"synthetic": synthetic, "meta": meta, "results": rows,
                                                        "steps": {e.detector.name: e.steps for e in evaluations},
                                                        "notes": notes}, indent=2, default=_json_default) + "\n")
    atomic_write_text(out / "results.csv", results_csv(rows, synthetic))
    return {"report": str(out / "report.html"), "files": ["report.html", "results.json", "results.csv",
                                                           *(f"plots/{k}.png" for k in pngs)]}


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))
