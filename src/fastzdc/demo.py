"""``fastzdc demo``: the whole comparison, end to end on stand-in data.

1. simulate a stand-in test set (ZN and ZP, O2 filter) with the parametric Monte Carlo -- SYNTHETIC;
2. evaluate the floor and every shipped model on it (:func:`fastzdc.evaluation.score_generators`, the
   published protocol: 5 generations per test condition, pooled); the first row of each detector is
   the "original data" floor: an independent re-simulation of the same test particles by the Monte
   Carlo, drawn given O2's filter; the shower-library look-up follows it, and the few-step students
   are scored a second time behind the response gate (:func:`shipped_gated`);
3. plot, write the HTML report (report.html) with results.json / results.csv, return the table.

New models plug in by shipping a checkpoint under ``weights/`` (:func:`shipped_generators`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset, write_h5
from .detector import get_detector
from .evaluation import add_fidelity, floor_generator, score_generators, steps_sweep
from .progress import StageClock, progress_bar
from .report import DetectorEvaluation, build_report


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
    from .inference import load_generator

    return [load_generator(p, precision=precision) for p in shipped_checkpoints(detector)]


def shipped_gated(models: list[Any]) -> list[Any]:
    """The shipped few-step students behind the shipped response gate (``weights/gate``), when it is there
    (docs/joint.md: one detector behind the gate)."""
    if not (WEIGHTS_DIR / "gate" / "config.json").exists():
        return []
    from .inference.gate import load_gate
    from .inference.gated import GatedGenerator

    gate = load_gate(WEIGHTS_DIR / "gate")
    return [GatedGenerator(gate, g) for g in models if g.name.startswith("fm-distill")]


TRAINING_EVENTS = 200_000
TRAINING_SEED = 1
"""The stand-in the shipped weights were trained on: ``fastzdc simulate -d both -n 200000 --seed 1``
(its training split, the published 70/10/20, is the look-up's library)."""


def standin_lookups(progress: bool = True) -> dict[str, Any]:
    """The shower-library look-up of each detector over the training split of the shipped weights' stand-in
    data, re-simulated in memory (about 10 s; the responses are kept sparse)."""
    from scipy.sparse import csr_matrix, vstack

    from . import mc
    from .baselines import LookupGenerator
    from .data import published_split

    conds, libs = [], {"zn": [], "zp": []}
    with progress_bar("simulate the shipped weights' training set (look-up)", TRAINING_EVENTS, progress) as advance:
        for batch in mc.iter_simulate(n=TRAINING_EVENTS, detectors=("zn", "zp"), seed=TRAINING_SEED, keep_nonempty_only=True):
            conds.append(batch.conditions)
            for d in libs:
                libs[d].append(csr_matrix(batch.responses[d].reshape(len(batch.conditions), -1)))
            advance(len(batch.conditions))
    cond = np.concatenate(conds)
    train = published_split(len(cond)).train
    return {d: LookupGenerator(get_detector(d), cond[train], vstack(parts).tocsr()[train], synthetic=True,
                               source=f"stand-in, {TRAINING_EVENTS} events, seed {TRAINING_SEED}, training split")
            for d, parts in libs.items()}


def run_demo(out: str | Path, *, quick: bool = False, seed: int = 0, progress: bool = True,
             precision: str = "auto") -> dict[str, Any]:
    from . import mc

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_test = 600 if quick else 5000
    n_rep = 5
    files: list[str] = []
    params = mc.default_params()
    models_of = {d: shipped_generators(d, precision) for d in ("zn", "zp")}
    gated_of = {d: shipped_gated(ms) for d, ms in models_of.items()}
    # stage weights: rough relative costs, measured on the 2-core CPU (fidelity tests with the image
    # classifier cost about as much as scoring a model; without it, a third)
    w_sim, w_score, w_fid, w_sweep, w_report = 2.0, 3.0, (1.0 if quick else 3.0), 1.0, 1.0
    total = 2 * w_sim + w_report + sum((len(ms) + len(gated_of[d]) + 2) * (w_score + w_fid)
                                       + w_sweep * sum("steps" in g.adjustable for g in ms) for d, ms in models_of.items())
    clock = StageClock("demo", total, progress)
    lookups = standin_lookups(progress)
    clock.tick(w_sim, "look-up libraries built")
    with progress_bar("simulate stand-in test set", n_test, progress) as advance:
        parts = []
        for batch in mc.iter_simulate(n=n_test, detectors=("zn", "zp"), seed=DEMO_SEED_OFFSET + seed, params=params,
                                      keep_nonempty_only=True):
            parts.append(batch)
            advance(len(batch.conditions))
    cond = np.concatenate([b.conditions for b in parts])
    pdg = np.concatenate([b.pdgid for b in parts])
    clock.tick(w_sim, "test set simulated")
    attrs = {"generator": mc.GENERATOR_NAME, "synthetic": True, "seed": DEMO_SEED_OFFSET + seed, "o2_filter": True,
             "generator_mode": "fast", "params_hash": mc.params_hash(params), "split": "demo test"}
    evaluations = []
    for d in ("zn", "zp"):
        resp = np.concatenate([b.responses[d] for b in parts])
        ds = Dataset(cond, resp, pdg, get_detector(d), attrs)
        path = out / f"test_{d}.h5"
        write_h5(ds, path)
        files.append(path.name)
        models = models_of[d]
        samples: dict[str, np.ndarray] = {}
        repeats: dict[str, np.ndarray] = {}
        scored = [(floor_generator(ds), True), (lookups[d], False), *((g, False) for g in [*models, *gated_of[d]])]
        rows = score_generators(ds, scored, n_rep=n_rep,
                                seed=seed, progress=progress, samples=samples, repeats=repeats,
                                tick=lambda what: clock.tick(w_score, what))
        add_fidelity(ds, rows, samples, seed=seed, quick=quick, repeats=repeats, n_rep=n_rep, progress=progress,
                     tick=lambda what: clock.tick(w_fid, what))
        curves = steps_sweep(ds, models, rows=300 if quick else 1000, seed=seed, progress=progress,
                             tick=lambda what: clock.tick(w_sweep, what))
        evaluations.append(DetectorEvaluation(ds.detector, ds.conditions, ds.responses, rows, samples, True, curves))
    notes = [
        "All data here is SYNTHETIC: the fastzdc.mc parametric stand-in, not GEANT and not real ALICE data.",
        "The first row per detector is the floor: an independent re-simulation of the same test particles.",
        "The second is the shower library: each particle gets the stored training response of one of its 8 nearest "
        "training particles (the baseline a model has to beat).",
    ]
    exports = sorted(p for p in (WEIGHTS_DIR / "onnx").glob("*") if (p / "model_card.json").exists()) \
        if (WEIGHTS_DIR / "onnx").is_dir() else []
    for p in exports:
        files_in = ", ".join(sorted(f.name for f in p.iterdir() if f.is_file()))
        notes.append(f"ONNX export for ALICE O2 / ONNX Runtime: {p} ({files_in}); see docs/onnx_o2.md.")
    rep = build_report(out, evaluations, title="fastzdc demo: surrogates vs the Monte Carlo", notes=notes[1:])
    clock.tick(w_report, "report written")
    files += rep["files"]
    results = [r for e in evaluations for r in e.rows]
    return {"synthetic": True, "n_test": int(len(cond)), "n_rep": n_rep, "results": results, "files": files,
            "report": rep["report"], "notes": notes}


