"""``fastzdc demo``: the README's main job, end to end on stand-in data.

1. simulate a stand-in test set (ZN and ZP, O2 filter) with the parametric Monte Carlo -- SYNTHETIC;
2. evaluate the floor and every shipped model on it (:func:`fastzdc.workflows.score_generators`, the
   published protocol: 5 generations per test condition, pooled); the first row of each detector is
   the "original data" floor: an independent re-simulation of the same test particles by the Monte
   Carlo, drawn given O2's filter;
3. plot, write the HTML report (report.html) with results.json / results.csv, return the table.

New models plug in by shipping a checkpoint under ``weights/`` (:func:`shipped_generators`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset, write_h5
from .detector import get_detector
from .progress import progress_bar
from .report import DetectorEvaluation, build_report
from .workflows import add_fidelity, floor_generator, score_generators, steps_sweep


def _weights_dir() -> Path:
    """``$FASTZDC_WEIGHTS``, else ``weights/`` of the source checkout, else ``./weights``."""
    import os

    env = os.environ.get("FASTZDC_WEIGHTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "weights"
    return repo if repo.is_dir() else Path("weights")


WEIGHTS_DIR = _weights_dir()


def shipped_checkpoints(detector: str) -> list[Path]:
    """Pretrained checkpoints under ``weights/`` for ``detector`` (folders ``<kind>-<detector>``)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_dir() and p.name.endswith(f"-{detector}") and (p / "config.json").exists())


DEMO_SEED_OFFSET = 2_000_003
"""The demo's test particles use seed ``DEMO_SEED_OFFSET + seed``: never the rows of a training file
simulated with a small seed (the shipped weights were trained on seed 1)."""


def shipped_generators(detector: str, precision: str = "float32") -> list[Any]:
    """Every shipped model of ``detector`` as a Generator (evaluated by the demo after the floor)."""
    from .sampling.generator import load_generator

    return [load_generator(p, precision=precision) for p in shipped_checkpoints(detector)]


def run_demo(out: str | Path, *, quick: bool = False, seed: int = 0, progress: bool = True,
             precision: str = "auto") -> dict[str, Any]:
    from . import mc

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_test = 600 if quick else 5000
    n_rep = 5
    files: list[str] = []
    params = mc.default_params()
    with progress_bar("simulate stand-in test set", n_test, progress) as advance:
        parts = []
        for batch in mc.iter_simulate(n=n_test, detectors=("zn", "zp"), seed=DEMO_SEED_OFFSET + seed, params=params,
                                      keep_nonempty_only=True):
            parts.append(batch)
            advance(len(batch.conditions))
    cond = np.concatenate([b.conditions for b in parts])
    pdg = np.concatenate([b.pdgid for b in parts])
    attrs = {"generator": mc.GENERATOR_NAME, "synthetic": True, "seed": DEMO_SEED_OFFSET + seed, "o2_filter": True,
             "generator_mode": "fast", "params_hash": mc.params_hash(params), "split": "demo test"}
    evaluations = []
    for d in ("zn", "zp"):
        resp = np.concatenate([b.responses[d] for b in parts])
        ds = Dataset(cond, resp, pdg, get_detector(d), attrs)
        path = out / f"test_{d}.h5"
        write_h5(ds, path)
        files.append(path.name)
        models = shipped_generators(d, precision)
        samples: dict[str, np.ndarray] = {}
        repeats: dict[str, np.ndarray] = {}
        rows = score_generators(ds, [(floor_generator(ds), True), *((g, False) for g in models)], n_rep=n_rep,
                                seed=seed, progress=progress, samples=samples, repeats=repeats)
        add_fidelity(ds, rows, samples, seed=seed, quick=quick, repeats=repeats, n_rep=n_rep, progress=progress)
        curves = steps_sweep(ds, models, rows=300 if quick else 1000, seed=seed, progress=progress)
        evaluations.append(DetectorEvaluation(ds.detector, ds.conditions, ds.responses, rows, samples, True, curves))
    notes = [
        "All data here is SYNTHETIC: the fastzdc.mc parametric stand-in, not GEANT and not real ALICE data.",
        "The first row per detector is the floor: an independent re-simulation of the same test particles.",
    ]
    exports = sorted(p for p in (WEIGHTS_DIR / "onnx").glob("*") if (p / "model_card.json").exists()) \
        if (WEIGHTS_DIR / "onnx").is_dir() else []
    for p in exports:
        files_in = ", ".join(sorted(f.name for f in p.iterdir() if f.is_file()))
        notes.append(f"ONNX export for ALICE O2 / ONNX Runtime: {p} ({files_in}); see the README, 'Using a model in O2'.")
    rep = build_report(out, evaluations, title="fastzdc demo: surrogates vs the Monte Carlo", notes=notes[1:])
    files += rep["files"]
    results = [r for e in evaluations for r in e.rows]
    return {"synthetic": True, "n_test": int(len(cond)), "n_rep": n_rep, "results": results, "files": files,
            "report": rep["report"], "notes": notes}


