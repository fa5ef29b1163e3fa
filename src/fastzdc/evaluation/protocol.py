"""The evaluation protocol: the Monte Carlo floor, scoring generators on a test set, the fidelity tests
of each row, and the fidelity-vs-steps sweep.

The published protocol: every test condition is generated ``n_rep`` times (default 5) and the
repetitions are pooled; W is the 1D Wasserstein distance of each of the 5 channel sums, averaged.
The floor ("original data") is an independent re-simulation of the same test particles by the Monte
Carlo that made the stand-in data, drawn given O2's filter when the file was filtered: the W a perfect
surrogate would score.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..baselines import LookupGenerator
from ..data import Dataset
from ..generator import Generator
from ..mc import MonteCarloGenerator
from ..progress import progress_bar
from ..sampling.ode import evaluations
from .diversity import diversity_from_counts
from .metrics import bootstrap_w, compare_counts, evaluate_generator
from .suite import fidelity_suite


BOOTSTRAPS = 100
"""bootstrap resamples of the test particles for the errors of W and W / floor"""


def score_generators(
    ds: Dataset, gens: list[tuple[Generator, bool]], *, n_rep: int, seed: int, batch_size: int = 4096, progress: bool = True,
    samples: dict[str, np.ndarray] | None = None,
    repeats: dict[str, np.ndarray] | None = None,
    repeat_rows: int = 500,
    tick: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Result rows for ``(generator, is_floor)`` pairs on one test set: the published protocol
    (``n_rep`` pooled generations per condition). The floor row is named "original data" and draws
    from an offset seed; model rows record their sampler. With ``samples`` (a dict), each row's first
    repetition is stored in it under the row's name (for plots); with ``repeats``, all ``n_rep``
    repetitions of the first ``repeat_rows`` conditions (repetition-major, for the diversity test).
    ``tick(name)`` is called as each generator is done (the demo's overall progress)."""
    rows = []
    sums: dict[str, np.ndarray] = {}
    for k, (g, is_floor) in enumerate(gens):
        with progress_bar(f"{ds.detector.name.upper()} {g.name}: {n_rep} x {len(ds)} samples", n_rep * len(ds),
                          progress) as advance:
            gseed = FLOOR_SEED_OFFSET + seed if is_floor else generator_seed(seed, g.name)
            row, fake = evaluate_generator(g, ds.conditions, ds.responses, n_rep=n_rep, seed=gseed, batch_size=batch_size,
                                           advance=advance)
        if is_floor:
            row.name = f"original data (MC re-simulation, {g.name})"
            row.extra["is_floor"] = True
        elif isinstance(g, LookupGenerator):
            row.extra["is_lookup"] = True
        if not is_floor and row.name in {r["name"] for r in rows}:  # two models of one name: rows, plots and keys stay apart
            row.name = f"{row.name} ({k + 1})"
        else:
            row.extra["sampler"] = dict(g.sampler)
        key = FLOOR_KEY if is_floor else row.name
        sums[key] = ds.detector.channel_sums(fake)
        if samples is not None:
            samples[key] = fake[: len(ds)]
        if repeats is not None:
            m = min(repeat_rows, len(ds))
            repeats[key] = fake.reshape(n_rep, len(ds), *fake.shape[1:])[:, :m].reshape(n_rep * m, *fake.shape[1:])
        rows.append(row.to_dict())
        if tick is not None:
            tick(f"{ds.detector.name.upper()} {g.name} scored")
    add_errors(rows, ds.detector.channel_sums(ds.responses), sums, n_rep, seed=seed)
    return rows


def generator_seed(seed: int, name: str) -> int:
    """The noise seed of a model row: from the evaluation's seed and the generator's name, so that a model
    scores the same whichever other rows share the table."""
    return seed + 1 + zlib.crc32(name.encode()) % 1_000_003


def add_errors(rows: list[dict[str, Any]], ref_sums: np.ndarray, sums: dict[str, np.ndarray], n_rep: int, *,
               seed: int = 0, n_boot: int = BOOTSTRAPS) -> None:
    """``w_err``, ``w_over_floor`` and ``w_over_floor_err`` on each row (in place): bootstrap over the test
    particles, shared by all rows (:func:`fastzdc.evaluation.metrics.bootstrap_w`)."""
    floor = FLOOR_KEY if FLOOR_KEY in sums else None
    errs = bootstrap_w(ref_sums, sums, n_rep, floor=floor, n_boot=n_boot, seed=seed)
    floor_w = next((r["w_mean"] for r in rows if r.get("extra", {}).get("is_floor")), None)
    for row in rows:
        key = FLOOR_KEY if row.get("extra", {}).get("is_floor") else row["name"]
        row["w_err"] = errs[key]["w_err"]
        row["w_over_floor"] = row["w_mean"] / floor_w if floor_w else None
        row["w_over_floor_err"] = errs[key].get("w_over_floor_err") if floor_w else None



FLOOR_KEY = "floor (MC)"
"""The key of the floor's samples in ``score_generators``' ``samples`` / ``repeats``."""


def add_fidelity(ds: Dataset, rows: list[dict[str, Any]], samples: dict[str, np.ndarray], *, seed: int = 0,
                 quick: bool = False, repeats: dict[str, np.ndarray] | None = None, n_rep: int = 5,
                 progress: bool = True, tick: Callable[[str], None] | None = None) -> None:
    """Add the modern fidelity tests to each result row (in place): ``row["fidelity"]`` holds the
    classifier AUCs (high-level features; images unless ``quick``), FPD and KPD
    (:func:`fastzdc.evaluation.fidelity_suite`, one generation per test condition against the test
    responses) and, with ``repeats`` of ``n_rep >= 2``, the per-condition diversity ratio to the Monte Carlo;
    ``row["fidelity_detail"]`` the whole suite (energy bins, species, per-feature W)."""
    for row in rows:
        key = FLOOR_KEY if row.get("extra", {}).get("is_floor") else row["name"]
        with progress_bar(f"{ds.detector.name.upper()} {row['name']}: classifier AUC, FPD/KPD", None, progress):
            fs = fidelity_suite(ds.detector, ds.conditions, ds.responses, samples[key], seed=seed, quick=quick,
                                pdgid=ds.pdgid)
        cls = fs["classifier"]

        def auc(entry: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if not entry else {"value": entry["auc"], "error": entry["auc_err"]}

        fid: dict[str, Any] = {
            "auc_features": auc(cls.get("features")), "auc_images": auc(cls.get("images")),
            "auc_features_conditional": auc(cls.get("features_conditional")),
            "auc_sums": auc(cls.get("sums")), "auc_sums_conditional": auc(cls.get("sums_conditional")),
            "fpd": {"value": fs["fpd"]["value"], "error": fs["fpd"]["err"]},
            "kpd": {"value": fs["kpd"]["value"], "error": fs["kpd"]["err"]},
            "empty_fraction": fs["photon_sum"]["empty_fraction"],
        }
        if repeats is not None and n_rep >= 2 and FLOOR_KEY in repeats and key != FLOOR_KEY:
            div = diversity_from_counts(ds.detector, repeats[key], repeats[FLOOR_KEY], n_rep)
            fid["diversity_photon_sum"] = {"value": div["photon_sum"]["ratio"], "error": div["photon_sum"]["ratio_err"]}
            fs["diversity"] = div
        row["fidelity"] = fid
        row["fidelity_detail"] = fs
        if tick is not None:
            tick(f"{ds.detector.name.upper()} {row['name']} fidelity tests")


STEPS_SWEEP = (1, 2, 4, 8)


def steps_sweep(ds: Dataset, gens: list[Generator], *, rows: int = 1000, seed: int = 0, progress: bool = True,
                tick: Callable[[str], None] | None = None) -> dict[str, list[tuple[int, float]]]:
    """Mean W (n_rep 1, first ``rows`` test rows) at 1, 2, 4 and 8 steps of each ODE-sampled model's
    own solver, against network evaluations per sample: the report's fidelity-vs-steps curve. Generators
    whose steps cannot change per call (an ONNX graph has them unrolled) are left out."""
    sub = ds.subset(slice(0, min(rows, len(ds))))
    curves: dict[str, list[tuple[int, float]]] = {}
    for g in gens:
        opts = dict(g.sampler)
        if "steps" not in g.adjustable or "method" not in opts:
            continue
        with progress_bar(f"{ds.detector.name.upper()} {g.name}: W vs steps", len(STEPS_SWEEP), progress) as advance:
            for s in STEPS_SWEEP:
                fake = g.generate(sub.conditions, seed=seed + 7, steps=s)
                w = compare_counts(ds.detector, sub.responses, fake, 1)["w_mean"]
                curves.setdefault(g.name, []).append((evaluations(s, opts["method"]), w))
                advance(1)
        if tick is not None:
            tick(f"{ds.detector.name.upper()} {g.name} steps sweep")
    return curves


FLOOR_SEED_OFFSET = 1_000_000_007
"""The floor's seed is offset so that it never replays the random stream that wrote a data file."""


def floor_generator(ds: Dataset) -> MonteCarloGenerator:
    """The "original data" floor for a stand-in dataset: the Monte Carlo in the file's mode, drawing each
    response given O2's filter when the file was filtered (otherwise the floor would be biased high)."""
    mode = str(ds.attrs.get("generator_mode", "fast"))
    return MonteCarloGenerator(ds.detector, mode=mode if mode in ("fast", "detailed") else "fast",
                               nonempty=bool(ds.attrs.get("o2_filter", False)))
