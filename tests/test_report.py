"""The HTML report: self-contained, labelled synthetic, numbers equal to results.json / results.csv."""

import csv
import json
import re

import numpy as np
import pytest

from fastzdc.detector import get_detector
from fastzdc.evaluation.metrics import evaluate_generator
from fastzdc.generator import GeneratorDefaults
from fastzdc.mc import MonteCarloGenerator
from fastzdc.report import DetectorEvaluation, build_report
from fastzdc.report.plots import centroids


class Scaled(GeneratorDefaults):
    """A deliberately degraded generator: the Monte Carlo with 20 % fewer photons."""

    def __init__(self, det):
        self.mc, self.detector, self.name, self.n_params = MonteCarloGenerator(det, nonempty=True), det, "scaled-mc", 7

    def generate(self, cond, seed=None, batch_size=4096, device=None, advance=None):
        return (self.mc.generate(cond, seed=seed) * 0.8).astype(np.uint16)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    det = get_detector("zp")
    mc = MonteCarloGenerator(det, nonempty=True)
    from fastzdc.mc import simulate

    batch = simulate(n=120, detectors=("zp",), seed=3, keep_nonempty_only=True)
    cond, ref = batch.conditions, batch.responses["zp"]
    rows, samples = [], {}
    for g, is_floor, seed in ((mc, True, 11), (Scaled(det), False, 12)):
        row, fake = evaluate_generator(g, cond, ref, n_rep=2, seed=seed)
        if is_floor:
            row.extra["is_floor"] = True
        rows.append(row.to_dict())
        samples[row.name] = fake[: len(cond)]
    ev = DetectorEvaluation(det, cond, ref, rows, samples, True, {"scaled-mc": [(1, 3.0), (2, 2.0), (4, 1.5)]})
    return out, build_report(out, [ev], title="test report"), rows


def test_report_files_and_banner(report):
    out, rep, _ = report
    for f in rep["files"]:
        assert (out / f).stat().st_size > 0, f
    text = (out / "report.html").read_text()
    assert "SYNTHETIC" in text and "not real ALICE data" in text
    assert "http://" not in text and "https://" not in text and "<script" not in text  # self-contained
    assert text.count("data:image/png;base64,") == len([f for f in rep["files"] if f.endswith(".png")])
    assert not list(out.glob(".*part"))  # no temporary files left


def test_report_numbers_equal_results_json_and_csv(report):
    out, _, _ = report
    saved = json.loads((out / "results.json").read_text())
    text = (out / "report.html").read_text()
    html_w = [float(v) for v in re.findall(r"data-key='W mean'>([0-9.]+)<", text)]
    assert html_w == pytest.approx([round(r["w_mean"], 3) for r in saved["results"]], abs=6e-4)
    with open(out / "results.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert [float(r["w_mean"]) for r in csv_rows] == pytest.approx([r["w_mean"] for r in saved["results"]])
    assert all(r["synthetic_data"] == "True" for r in csv_rows)
    floor, scaled = saved["results"]
    assert floor["w_over_floor"] == pytest.approx(1.0)
    assert scaled["w_over_floor"] > 1.5  # the degraded generator is clearly worse than the floor


def test_centroid_of_single_pixel():
    img = np.zeros((2, 5, 7), np.uint16)
    img[0, 3, 4] = 9
    c = centroids(img)
    assert c[0].tolist() == [3.0, 4.0] and np.isnan(c[1]).all()


@pytest.mark.parametrize("n_rep", [1, 2])
def test_add_fidelity_any_n_rep(n_rep):
    """`evaluate --n-rep 1` must work: diversity needs repeats, so it is left out, not an error."""
    from fastzdc.data import Dataset
    from fastzdc.evaluation import FLOOR_KEY, add_fidelity, score_generators
    from fastzdc.mc import simulate

    det = get_detector("zp")
    b = simulate(n=80, detectors=("zp",), seed=5, keep_nonempty_only=True)
    ds = Dataset(b.conditions, b.responses["zp"], b.pdgid, det, {"synthetic": True})
    samples, repeats = {}, {}
    rows = score_generators(ds, [(MonteCarloGenerator(det, nonempty=True), True), (Scaled(det), False)], n_rep=n_rep,
                            seed=0, progress=False, samples=samples, repeats=repeats)
    add_fidelity(ds, rows, samples, quick=True, repeats=repeats, n_rep=n_rep, progress=False)
    assert set(samples) == {FLOOR_KEY, "scaled-mc"}
    assert all(0.0 <= r["fidelity"]["auc_features"]["value"] <= 1.0 for r in rows)
    assert ("diversity_photon_sum" in rows[1]["fidelity"]) == (n_rep >= 2)


def test_the_report_puts_every_model_beside_the_lookup():
    from fastzdc.report.html import _against_lookup

    def row(name, ratio, auc, **extra):
        return {"name": name, "w_over_floor": ratio, "w_over_floor_err": 0.1, "extra": extra,
                "fidelity": {"auc_features": {"value": auc, "error": 0.01},
                             "auc_sums_conditional": {"value": auc, "error": 0.01}}}

    rows = [row("floor", 1.0, 0.5, is_floor=True), row("lookup-zn", 2.0, 0.52, is_lookup=True),
            row("good", 1.5, 0.53), row("bad", 2.6, 0.70)]
    text = _against_lookup(rows)
    good, bad = text.split("<td>good</td>")[1].split("</tr>")[0], text.split("<td>bad</td>")[1].split("</tr>")[0]
    assert good.count("beats the look-up") == 1 and good.count("within errors") == 2
    assert bad.count("behind the look-up") == 3
    assert _against_lookup([r for r in rows if not r["extra"].get("is_lookup")]) == ""
