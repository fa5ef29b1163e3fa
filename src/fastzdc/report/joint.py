"""The joint ZN+ZP evaluation as one self-contained HTML page (the numbers of ``results.json``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text

CELLS = (("none", "none"), ("zn_only", "ZN only"), ("zp_only", "ZP only"), ("both", "both"))


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _occupancy_table(result: dict[str, Any], group: str | None) -> str:
    rows = []
    first = result["results"][0]
    ref = first["reference"]["overall"] if group is None else first["reference"]["species"].get(group)
    if ref is None:
        return ""
    head = "".join(f"<th>{label}</th>" for _, label in CELLS)
    rows.append(f"<tr><th>row</th><th>n</th>{head}<th>r(log sums)</th></tr>")
    rows.append("<tr><td>reference</td><td>{}</td>{}<td>{}</td></tr>".format(
        ref["n"], "".join(f"<td>{100 * ref['occupancy'][c]:.1f} %</td>" for c, _ in CELLS), _f(ref["correlation"], 2)))
    for r in result["results"]:
        gen = r["generated"]["overall"] if group is None else r["generated"]["species"].get(group)
        if gen is None:
            continue
        rows.append("<tr><td>{}</td><td>{}</td>{}<td>{}</td></tr>".format(
            html.escape(r["name"]), gen["n"], "".join(f"<td>{100 * gen['occupancy'][c]:.1f} %</td>" for c, _ in CELLS),
            _f(gen["correlation"], 2)))
    title = "all particles" if group is None else f"species {html.escape(group)}"
    return f"<h3>{title}</h3><table>{''.join(rows)}</table>"


def write_joint_report(path: str | Path, result: dict[str, Any]) -> Path:
    """``report.html``: per row the W of each detector, the joint classifier AUC, the 2 x 2 occupancy
    and the ZN-ZP correlation, overall and per species group."""
    label = "SYNTHETIC stand-in data" if result.get("synthetic") else "data"
    summary = [("<tr><th>row</th><th>W ZN</th><th>W ZP</th><th>W / floor ZN</th><th>W / floor ZP</th>"
               "<th>AUC joint | p</th><th>AUC ZN sums | p</th><th>AUC ZP sums | p</th><th>max cell diff (pp)</th><th>r diff</th>"
                "<th>ms / particle</th></tr>")]
    for r in result["results"]:
        wf = r.get("w_over_floor") or {}
        auc = r.get("auc_joint_conditional") or {}
        a_zn, a_zp = r.get("auc_sums_conditional_zn") or {}, r.get("auc_sums_conditional_zp") or {}
        err = r.get("w_err") or {}
        t = r["targets"]["overall"]
        summary.append(
            f"<tr><td>{html.escape(r['name'])}</td><td>{_f(r['w']['zn'], 2)} ± {_f(err.get('zn'), 2)}</td>"
            f"<td>{_f(r['w']['zp'], 2)} ± {_f(err.get('zp'), 2)}</td>"
            f"<td>{_f(wf.get('zn'), 2)}</td><td>{_f(wf.get('zp'), 2)}</td>"
            f"<td>{_f(auc.get('value'))} ± {_f(auc.get('error'))}</td><td>{_f(a_zn.get('value'))}</td>"
            f"<td>{_f(a_zp.get('value'))}</td><td>{t['max_cell_pp']:.1f}</td>"
            f"<td>{_f(t['correlation_diff'], 2)}</td><td>{r['ms_per_particle']:.3f}</td></tr>")
    groups = sorted(result["results"][0]["reference"]["species"])
    body = [(f"<h1>fastzdc joint ZN+ZP evaluation</h1><p>{result['rows']} particles of {html.escape(result['data'])} "
            f"({label}; O2 filter {'on' if result['o2_filter'] else 'off'}).</p>"),
            f"<table>{''.join(summary)}</table>", "<h2>Occupancy and correlation</h2>", _occupancy_table(result, None)]
    body += [_occupancy_table(result, g) for g in groups]
    style = "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>fastzdc joint evaluation</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    atomic_write_text(path, page)
    return Path(path)
