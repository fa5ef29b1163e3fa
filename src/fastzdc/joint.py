"""Library functions behind the gate commands (``fastzdc gate train / evaluate / export``): plain
arguments in, a dict of what was done out, like :mod:`fastzdc.workflows`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._atomic import check_dir_writable, check_not_input
from .checkpoint import file_sha256
from .data.pair import input_is_filtered, partner_paths, read_lit_pair
from .errors import FastZDCError


def pair_files(data: str | Path) -> tuple[Path, Path]:
    """The ZN and ZP files of a ``simulate --detector both`` run from either member or the stem."""
    zn, zp = partner_paths(data)
    for p in (zn, zp):
        if not p.is_file():
            raise FastZDCError(f"missing the {'ZN' if p == zn else 'ZP'} file of the pair (expected {p.name})", p)
    return zn, zp


COPULA_ROWS = 20000
COPULA_DRAWS = 16


def train_gate_files(data: str | Path, out: str | Path, *, progress: bool = True, threads: int | None = 1,
                     copula_rows: int = COPULA_ROWS, copula_draws: int = COPULA_DRAWS, **options: Any) -> dict[str, Any]:
    """Train the response gate on the unfiltered ZN/ZP pair ``data`` (``<stem>_zn.h5`` / ``<stem>_zp.h5``)
    and write its checkpoint folder ``out``. ``options``: :data:`fastzdc.training.gate.DEFAULTS`.

    For SYNTHETIC data the Monte Carlo also re-simulates the first ``copula_rows`` particles
    ``copula_draws`` times to fit the ZN-ZP rank copula of the joint generation
    (:func:`fastzdc.mc.copula.fit_rank_copula`, stored as ``copula`` in the checkpoint's metrics); for
    other data it is left out (the joint generation then picks ZN and ZP independently)."""
    from .evaluation.gate import gate_scores
    from .training.gate import fit_gate, save_gate

    zn, zp = pair_files(data)
    out = check_dir_writable(out)
    check_not_input(out, [zn, zp])
    if threads is not None:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    pair, _ = read_lit_pair(zn, zp)
    fit = fit_gate(pair, zn, progress=progress, **options)
    val = fit["val"]
    x = torch.from_numpy(fit["scaler"].transform(pair.conditions[val]).astype(np.float32))
    with torch.no_grad():
        probs = torch.softmax(fit["net"](x).double(), dim=1).numpy()
        raw = torch.softmax(fit["val_logits_raw"].double(), dim=1).numpy()
    metrics = {"val_rows": len(val), "train_rows": len(pair) - len(val), "temperature": fit["temperature"],
               "val": gate_scores(probs, pair.states[val]),
               "val_before_temperature": gate_scores(raw, pair.states[val])}
    if pair.attrs.get("synthetic") and copula_rows > 0:
        from .mc.copula import fit_rank_copula

        rows = slice(0, min(copula_rows, len(pair)))
        metrics["copula"] = {"rho": fit_rank_copula(pair.conditions[rows], pair.pdgid[rows], draws=copula_draws,
                                                    seed=fit["hparams"]["seed"]),
                             "rows": rows.stop, "draws": copula_draws}
    data_meta = {"zn": str(zn), "zp": str(zp), "sha256_zn": file_sha256(zn), "sha256_zp": file_sha256(zp),
                 "rows": len(pair), "synthetic": bool(pair.attrs.get("synthetic", False))}
    seconds = round(time.perf_counter() - t0, 1)
    path = save_gate(out, fit["net"], fit["scaler"], fit["hparams"], metrics, data_meta,
                     {"seconds": seconds, "steps": fit["steps"], "threads": torch.get_num_threads()})
    return {"out": str(path), "seconds": seconds, **metrics}


def evaluate_gate_files(gate: str | Path, data: str | Path, *, redraws: int = 0, seed: int = 0) -> dict[str, Any]:
    """Score a gate on an unfiltered ZN/ZP pair: ECE and AUC per event (:mod:`fastzdc.evaluation.gate`). With
    ``redraws`` K >= 1 the Monte Carlo re-simulates the same particles K times (its own predictor: one
    redraw as a 0/1 guess, and the frequency over K), the discrimination the gate is measured against."""
    from . import mc
    from .evaluation.gate import gate_scores, redraw_reference
    from .inference.gate import load_gate

    zn, zp = pair_files(data)
    pair, _ = read_lit_pair(zn, zp)
    g = load_gate(gate)
    t0 = time.perf_counter()
    probs = g.probabilities(pair.conditions)
    result: dict[str, Any] = {"gate": str(gate), "data": str(zn), "rows": len(pair),
                              "ms_per_particle": 1e3 * (time.perf_counter() - t0) / len(pair),
                              "scores": gate_scores(probs, pair.states)}
    if redraws:
        draws = []
        for k in range(redraws):
            b = mc.simulate(conditions=pair.conditions, pdgid=pair.pdgid, seed=seed + 1_000_003 * (k + 1))
            lit = {d: b.responses[d].reshape(len(pair), -1).any(axis=1) for d in ("zn", "zp")}
            draws.append(lit["zn"].astype(np.int64) + 2 * lit["zp"].astype(np.int64))
        result["monte_carlo"] = redraw_reference(np.stack(draws), pair.states)
    return result


def generate_both_to_files(
    conditions_file: str | Path, out: str | Path, *, gate: str | Path = "weights/gate",
    zn: str | Path = "weights/fmd-zn", zp: str | Path = "weights/fmd-zp", include_none: bool | None = None,
    seed: int = 0, batch_size: int = 4096, candidates: int = 4, copula: bool = True, progress: bool = True,
    **load_options: Any,
) -> dict[str, Any]:
    """ZN and ZP responses of every particle of ``conditions_file`` (:class:`fastzdc.inference.joint.JointGenerator`),
    written as ``<stem>_zn.h5`` and ``<stem>_zp.h5`` in the particles' order, as ``simulate --detector both`` does.

    ``include_none``: the gate may also draw "no response" (a raw particle list; such rows get two empty
    images); False: each particle lights ZN, ZP or both (particles O2's filter kept). None: False for a
    fastzdc file made with the filter on, True otherwise (:func:`input_is_filtered`)."""
    from . import __version__
    from ._atomic import check_writable
    from .data import H5Writer, load_conditions
    from .inference.joint import load_joint
    from .progress import progress_bar
    from .workflows import check_seed, input_paths, json_dumps, output_paths

    check_seed(seed)
    paths = output_paths(out, ["zn", "zp"], "h5")
    for p in paths.values():
        check_writable(p)
    check_not_input(list(paths.values()), [*input_paths(conditions_file), Path(gate), Path(zn), Path(zp)])
    if include_none is None:
        include_none = not input_is_filtered(conditions_file)
    joint = load_joint(gate, zn, zp, candidates=candidates, copula=copula, **load_options)
    conditions, pdgid = load_conditions(conditions_file)
    t0 = time.perf_counter()
    with progress_bar(f"generate ZN+ZP ({joint.name})", len(conditions), progress) as advance:
        res = joint.generate(conditions, seed=seed, include_none=include_none, pdgid=pdgid, batch_size=batch_size,
                             advance=advance)
    seconds = time.perf_counter() - t0
    counts = np.bincount(res["states"], minlength=4)
    attrs = {"generator": f"fastzdc joint ({joint.name})", "synthetic": True, "seed": seed, "code_version": __version__,
             "joint": json_dumps({"gate": str(gate), "zn": str(zn), "zp": str(zp), "include_none": include_none,
                                  "candidates": candidates, "copula": copula}),
             "o2_filter": not include_none}
    import contextlib

    with contextlib.ExitStack() as stack:
        for d, path in paths.items():
            w = stack.enter_context(H5Writer(path, d, {**attrs, "sampler": json_dumps(joint.generators[d].sampler)}))
            w.append(conditions, res[d], pdgid)
    return {"files": [str(p) for p in paths.values()], "rows": len(conditions), "include_none": include_none,
            "states": {"none": int(counts[0]), "zn_only": int(counts[1]), "zp_only": int(counts[2]), "both": int(counts[3])},
            "empty_after_retries": res["empty_after_retries"], "seconds": round(seconds, 3),
            "ms_per_particle": 1e3 * seconds / max(len(conditions), 1), "model": joint.name}


def evaluate_joint(
    data: str | Path, *, gate: str | Path = "weights/gate", zn: str | Path = "weights/fmd-zn",
    zp: str | Path = "weights/fmd-zp", seed: int = 0, max_rows: int = 0, floor: bool = True, independent: bool = True,
    lookup_zn: str | Path | None = None, lookup_zp: str | Path | None = None, candidates: int = 4, copula: bool = True,
    classifier: bool = True, out: str | Path | None = None, progress: bool = True, **load_options: Any,
) -> dict[str, Any]:
    """Score joint ZN+ZP generation on the ZN/ZP pair ``data`` (``<stem>_zn.h5`` / ``<stem>_zp.h5`` of one
    ``simulate --detector both`` run): :func:`fastzdc.evaluation.joint.joint_scores` and the W of each
    detector for the rows

    * ``floor``: the Monte Carlo re-simulates both calorimeters of every particle (given O2's filter when
      the file was filtered), the floor of every number;
    * the look-up over two training files of the same particles (``lookup_zn``, ``lookup_zp``, e.g.
      ``split_zn/train.h5`` and ``split_zp/train.h5`` of one simulated pair): one stored particle's
      ZN *and* ZP responses;
    * ``independent``: the ZN and ZP models sampled separately (each response as ``fastzdc generate`` gives it);
    * the joint generator (gate + the same two models, :func:`fastzdc.inference.joint.load_joint`).

    With ``out``: ``results.json`` and ``report.html`` there."""
    from . import mc
    from .evaluation.joint import joint_scores
    from .evaluation.metrics import bootstrap_w, compare_counts
    from .evaluation.protocol import generator_seed
    from .inference.joint import load_joint
    from .workflows import load_lookup_from

    znf, zpf = pair_files(data)
    pair, resp = read_lit_pair(znf, zpf, keep="responses")
    n = len(pair) if not max_rows else min(max_rows, len(pair))
    cond, pdg = pair.conditions[:n], pair.pdgid[:n]
    ref = (resp["zn"][:n], resp["zp"][:n])
    filtered = bool(pair.attrs.get("o2_filter", False))
    if out is not None:
        out = check_dir_writable(out)
    rows: list[tuple[str, tuple[np.ndarray, np.ndarray], float]] = []
    if floor and pair.attrs.get("synthetic"):
        t0 = time.perf_counter()
        if filtered:
            r = mc.simulate_nonempty(cond, pdg, seed=seed + 1_000_000_007)
        else:
            r = mc.simulate(conditions=cond, pdgid=pdg, seed=seed + 1_000_000_007).responses
        rows.append(("Monte Carlo floor" + (" (given the filter)" if filtered else ""), (r["zn"], r["zp"]),
                     time.perf_counter() - t0))
    if lookup_zn is not None and lookup_zp is not None:
        check_same_particles(lookup_zn, lookup_zp)
        libs = (load_lookup_from(lookup_zn), load_lookup_from(lookup_zp))
        t0 = time.perf_counter()
        s = generator_seed(seed, "look-up")  # one seed for both: the same neighbour, so one stored particle
        rows.append(("look-up (one training particle, ZN and ZP)",
                     (libs[0].generate(cond, seed=s), libs[1].generate(cond, seed=s)), time.perf_counter() - t0))
    joint = load_joint(gate, zn, zp, candidates=candidates, copula=copula, **load_options)
    if independent:
        t0 = time.perf_counter()
        g = joint.generators
        rows.append((f"independent ({g['zn'].name} + {g['zp'].name})",
                     (g["zn"].generate(cond, seed=generator_seed(seed, g["zn"].name)),
                      g["zp"].generate(cond, seed=generator_seed(seed, g["zp"].name))), time.perf_counter() - t0))
    t0 = time.perf_counter()
    res = joint.generate(cond, seed=generator_seed(seed, joint.name), include_none=not filtered, pdgid=pdg)
    rows.append((f"joint ({joint.name})", (res["zn"], res["zp"]), time.perf_counter() - t0))
    from .detector import ZN, ZP

    results = []
    for name, (gzn, gzp), seconds in rows:
        scores = joint_scores(cond, pdg, ref, (gzn, gzp), seed=seed, classifier=classifier)
        w = {"zn": compare_counts(ZN, ref[0], gzn)["w_mean"], "zp": compare_counts(ZP, ref[1], gzp)["w_mean"]}
        results.append({"name": name, "w": w, "ms_per_particle": 1e3 * seconds / n, **scores})
    has_floor = bool(rows) and rows[0][0].startswith("Monte Carlo floor")
    floor_w = results[0]["w"] if has_floor else None
    errs = {}
    for j, det in enumerate((ZN, ZP)):
        sums = {name: det.channel_sums(gen[j]) for name, gen, _ in rows}
        errs[det.name] = bootstrap_w(det.channel_sums(ref[j]), sums, 1, floor=rows[0][0] if has_floor else None, seed=seed)
    for r in results:
        r["w_over_floor"] = {d: r["w"][d] / floor_w[d] for d in ("zn", "zp")} if floor_w else None
        r["w_err"] = {d: errs[d][r["name"]]["w_err"] for d in ("zn", "zp")}
        r["w_over_floor_err"] = {d: errs[d][r["name"]].get("w_over_floor_err") for d in ("zn", "zp")} if floor_w else None
    result = {"data": str(znf), "rows": n, "o2_filter": filtered, "synthetic": bool(pair.attrs.get("synthetic")),
              "seed": seed, "results": results}
    if out is not None:
        import json

        from .report.joint import write_joint_report

        out.mkdir(parents=True, exist_ok=True)
        from ._atomic import atomic_write_text

        atomic_write_text(out / "results.json", json.dumps(result, indent=2, default=float) + "\n")
        result["report"] = str(write_joint_report(out / "report.html", result))
    return result


def check_same_particles(a: str | Path, b: str | Path) -> None:
    """Two training files of a joint look-up must hold the same particles in the same order."""
    import h5py

    from .inference.lookup import is_lookup_dir

    def conditions(p: str | Path) -> np.ndarray:
        if is_lookup_dir(p):
            import json

            ref = Path(json.loads((Path(p) / "lookup.json").read_text())["data"])
            p = ref if ref.is_absolute() else Path(p) / ref
        with h5py.File(p, "r") as f:
            return f["conditions"][...]

    if not np.array_equal(conditions(a), conditions(b)):
        raise FastZDCError(f"not the particles of {a}: a joint look-up needs the ZN and ZP files of the same "
                           "simulated particles (e.g. split_zn/train.h5 and split_zp/train.h5 of one pair)", b)
