"""Library functions behind the CLI commands: each takes plain arguments and returns a dict of what it
did, so notebooks and scripts get the same behaviour as the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._atomic import check_not_input, check_writable
from .data import (
    Dataset,
    H5Writer,
    file_format,
    iter_dataset,
    load_conditions,
    load_dataset,
    pair_paths,
    summarize,
    write_npz_pair,
)
from .detector import get_detector
from .errors import FastZDCError
from .progress import progress_bar

DETECTOR_CHOICES = ("zn", "zp", "both")
SATURATED = int(np.iinfo(np.uint16).max)
"""a generated pixel holding this count is saturated: the model asked for at least this many photons"""
MAX_SEED = 2**63 - 1
MAX_BATCH = 1 << 20
MAX_STEPS = 10000


def check_seed(seed: int) -> int:
    """A seed must be an integer in [0, 2**63 - 1]."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise FastZDCError(f"--seed must be an integer in [0, {MAX_SEED}], got {seed}")
    return seed


def output_paths(out: str | Path, detectors: list[str], fmt: str) -> dict[str, Path]:
    """Where ``simulate`` writes each detector: ``out`` itself for one detector; for both,
    ``<stem>_zn.h5`` / ``<stem>_zp.h5`` (or ``<base>_zn_responses.npz`` ... for npz pairs)."""
    out = Path(out)
    if fmt == "h5":
        if len(detectors) == 1:
            return {detectors[0]: out}
        return {d: out.with_name(f"{out.stem}_{d}{out.suffix or '.h5'}") for d in detectors}
    base = out.name[: -len(".npz")] if out.name.endswith(".npz") else out.name
    base = base[: -len("_responses")] if base.endswith("_responses") else base
    if len(detectors) == 1:
        return {detectors[0]: out.with_name(f"{base}_responses.npz")}
    return {d: out.with_name(f"{base}_{d}_responses.npz") for d in detectors}


def simulate_to_files(
    out: str | Path,
    *,
    detector: str = "both",
    n: int | None = None,
    conditions_file: str | Path | None = None,
    mode: str = "fast",
    repeat: int = 1,
    seed: int = 0,
    fmt: str | None = None,
    keep_nonempty_only: bool | None = None,
    batch_size: int = 8192,
    progress: bool = True,
    given_filter: bool = False,
) -> dict[str, Any]:
    """Run the stand-in Monte Carlo and write its responses (HDF5 streamed, or ALICE npz pairs).

    Every file is labelled synthetic with the generator name, code version, parameter hash and seed.
    The O2 filter (drop events with both ZN and ZP empty) is on by default for sampled particles and
    off for user-given conditions. ``given_filter`` (with ``conditions_file`` only) keeps every row and
    draws each response given that O2's filter keeps it (:func:`fastzdc.mc.simulate_nonempty`): the
    floor of a filtered file, as the evaluation draws it.
    """
    from . import mc

    if detector not in DETECTOR_CHOICES:
        raise FastZDCError(f"unknown detector {detector!r}; choose one of: {', '.join(DETECTOR_CHOICES)}")
    if mode not in ("fast", "detailed"):
        raise FastZDCError(f"unknown mode {mode!r}; choose fast or detailed")
    check_seed(seed)
    if not 1 <= repeat <= 10000:
        raise FastZDCError(f"--repeat must be in [1, 10000], got {repeat}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise FastZDCError(f"--batch-size must be in [1, {MAX_BATCH}], got {batch_size}")
    fmt = fmt or file_format(out)
    if fmt not in ("h5", "npz"):
        raise FastZDCError(f"unknown format {fmt!r}; choose h5 or npz")
    detectors = ["zn", "zp"] if detector == "both" else [detector]
    paths = output_paths(out, detectors, fmt)
    for p in paths.values():
        check_writable(p)
        if fmt == "npz":
            check_writable(pair_paths(p)[1])
    check_not_input(written_paths(list(paths.values()), fmt), input_paths(conditions_file))

    params = mc.default_params()
    if given_filter and conditions_file is None:
        raise FastZDCError("--given-filter re-simulates --conditions FILE; sampled particles are filtered already")
    if given_filter and keep_nonempty_only is False:
        raise FastZDCError("--given-filter draws every row given O2's filter; it cannot be combined with --no-filter")
    if conditions_file is not None:
        conditions, pdgid = load_conditions(conditions_file)
        if keep_nonempty_only is None or given_filter:
            keep_nonempty_only = given_filter
    else:
        if n is None or n < 1:
            raise FastZDCError(f"-n must be a positive number of events, got {n}")
        conditions = pdgid = None
        if keep_nonempty_only is None:
            keep_nonempty_only = True
        if repeat > 1:  # first the n distinct particles (kept by the filter if on), then K draws of each
            parts = list(mc.iter_simulate(n=n, detectors=("zn",), seed=seed, params=params,
                                          keep_nonempty_only=keep_nonempty_only, batch_size=batch_size))
            conditions = np.concatenate([b.conditions for b in parts])
            pdgid = np.concatenate([b.pdgid for b in parts])
    total = n if conditions is None else len(conditions) * repeat
    attrs = mc_attrs(params, mode=mode, seed=seed, repeat=repeat, o2_filter=bool(keep_nonempty_only))
    if conditions is None:
        batches = mc.iter_simulate(n=n, detectors=tuple(detectors), mode=mode, seed=seed, params=params,
                                   keep_nonempty_only=keep_nonempty_only, batch_size=batch_size)
    elif (repeat > 1 or given_filter) and keep_nonempty_only:
        batches = _repeated_nonempty(conditions, pdgid, repeat, detectors, mode, seed, params, batch_size)
    else:
        batches = mc.iter_simulate(conditions=conditions, pdgid=pdgid, detectors=tuple(detectors), mode=mode,
                                   seed=seed, params=params, repeat=repeat, keep_nonempty_only=keep_nonempty_only,
                                   batch_size=batch_size)
    counts = {d: 0 for d in detectors}
    label = f"simulate {'+'.join(d.upper() for d in detectors)} ({mode})"
    if fmt == "h5":
        import contextlib

        with contextlib.ExitStack() as stack, progress_bar(label, total, progress) as advance:
            writers = {d: stack.enter_context(H5Writer(paths[d], d, attrs)) for d in detectors}
            for batch in batches:
                for d in detectors:
                    writers[d].append(batch.conditions, batch.responses[d], batch.pdgid)
                advance(len(batch.conditions))
            counts = {d: writers[d].n for d in detectors}
        written = [str(p) for p in paths.values()]
    else:
        parts: list[Any] = []
        with progress_bar(label, total, progress) as advance:
            for batch in batches:
                parts.append(batch)
                advance(len(batch.conditions))
        if not parts:
            raise FastZDCError("the simulation produced no events", out)
        cond = np.concatenate([b.conditions for b in parts])
        pdg = np.concatenate([b.pdgid for b in parts])
        written = []
        for d in detectors:
            resp = np.concatenate([b.responses[d] for b in parts])
            ds = Dataset(cond, resp, pdg, get_detector(d), attrs)
            written += [str(p) for p in write_npz_pair(ds, paths[d])]
            counts[d] = len(ds)
    return {"files": written, "rows": counts, "mode": mode, "seed": seed, "synthetic": True,
            "params_hash": attrs["params_hash"], "o2_filter": bool(keep_nonempty_only)}


def input_paths(path: str | Path | None) -> list[Path]:
    """A command's input file and the files read with it (an npz pair's partner and sidecar)."""
    if path is None:
        return []
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return [path]
    from .data.npz import meta_path

    r_path, p_path = pair_paths(path)
    return [path, r_path, p_path, meta_path(r_path)]


def written_paths(outputs: list[Path], fmt: str) -> list[Path]:
    """Every file an output name stands for (an npz pair: both members and the sidecar)."""
    if fmt != "npz":
        return list(outputs)
    from .data.npz import meta_path

    files: list[Path] = []
    for out in outputs:
        r_path, p_path = pair_paths(out)
        if "responses" not in out.name and "particles" not in out.name:
            stem = out.name[: -len(".npz")] if out.name.endswith(".npz") else out.name
            r_path, p_path = pair_paths(out.with_name(f"{stem}_responses.npz"))
        files += [r_path, p_path, meta_path(r_path)]
    return files


def mc_attrs(params: Any, *, mode: str, seed: int, repeat: int = 1, o2_filter: bool) -> dict[str, Any]:
    """The provenance every Monte Carlo file and dataset carries (``synthetic`` is always True)."""
    from . import mc

    return {"generator": mc.GENERATOR_NAME, "generator_mode": mode, "synthetic": True, "seed": seed,
            "params_hash": mc.params_hash(params), "code_version": __version__, "repeat": repeat, "o2_filter": o2_filter}


def _repeated_nonempty(conditions, pdgid, repeat, detectors, mode, seed, params, batch_size):
    """K responses per condition, each drawn given that O2's filter keeps it (groups stay complete)."""
    from . import mc

    rows = max(1, batch_size // repeat)
    for k, start in enumerate(range(0, len(conditions), rows)):
        cond = np.repeat(conditions[start : start + rows], repeat, axis=0)
        pdg = np.repeat(pdgid[start : start + rows], repeat)
        sub_seed = int(np.random.SeedSequence([seed, 0xC0FFEE, k]).generate_state(1)[0])
        resp = mc.simulate_nonempty(cond, pdg, detectors=tuple(detectors), mode=mode, seed=sub_seed, params=params)
        yield mc.SimBatch(cond, pdg, resp)


def convert_file(src: str | Path, dst: str | Path) -> dict[str, Any]:
    """npz pair <-> HDF5 (or HDF5 -> HDF5 / npz -> npz re-write), validating the input fully."""
    from .data.convert import convert_streaming

    check_not_input(written_paths([Path(dst)], file_format(dst)), input_paths(src))
    written, rows, det = convert_streaming(src, dst)
    return {"input": str(src), "files": [str(p) for p in written], "rows": rows, "detector": det.name}


def info_file(path: str | Path) -> dict[str, Any]:
    """Summary statistics of a dataset file (streamed)."""
    info = summarize(iter_dataset(path))
    info["file"] = str(path)
    return info


def split_file(path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write the published split of ``path`` as ``train.h5``/``val.h5``/``test.h5`` in ``out_dir``, plus
    the scaler fitted on the training rows (``scaler.json`` and O2's ``scaler.txt``)."""
    from .data import StandardScaler, published_split, write_h5

    out_dir = Path(out_dir)
    check_not_input([out_dir / f"{part}.h5" for part in ("train", "val", "test")]
                    + [out_dir / "scaler.json", out_dir / "scaler.txt"], input_paths(path))
    ds = load_dataset(path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FastZDCError(f"cannot create the output folder ({err.strerror})", out_dir) from None
    sp = published_split(len(ds))
    rows = {}
    for part in ("train", "val", "test"):
        idx = getattr(sp, part)
        write_h5(ds.subset(idx), out_dir / f"{part}.h5", {"split": part, "split_rule": "published 70/10/20 (42, 43)"})
        rows[part] = int(idx.size)
    scaler = StandardScaler.fit(ds.conditions[sp.train])
    scaler.save_json(out_dir / "scaler.json")
    scaler.save_o2(out_dir / "scaler.txt")
    return {"input": str(path), "out_dir": str(out_dir), "rows": rows, "scaler": scaler.to_dict()}


def generate_to_file(
    model: str | Path,
    conditions_file: str | Path,
    out: str | Path,
    *,
    steps: int | None = None,
    method: str | None = None,
    batch_size: int = 4096,
    seed: int = 0,
    device: str | None = None,
    chunk: int = 65536,
    progress: bool = True,
    backend: str = "auto",
    sampler: dict[str, Any] | None = None,
    precision: str = "auto",
    shard: str | None = None,
    gate: str | Path | None = None,
) -> dict[str, Any]:
    """Generate one response per condition row with a trained model and stream them to HDF5.

    Memory stays bounded by ``chunk`` rows; the noise of chunk k comes from seed ``(seed, k)``, so the
    same seed gives the same responses whatever the batch size. ``backend``: ``torch``, ``onnx`` (ONNX
    Runtime, CPU; same noise, same numbers up to float rounding) or ``auto``
    (:func:`fastzdc.inference.backend.choose_backend`). ``sampler``: any sampler options of the model's kind
    (``steps`` and ``method`` may also come as their own arguments). ``precision``: ``auto``, ``float32``
    or ``bfloat16`` (:mod:`fastzdc.inference.precision`; bfloat16 runs with PyTorch). ``shard``: ``"i/n"``
    writes only shard i of n (default: from the environment, :mod:`fastzdc.production.shards`). A killed
    run resumes from its completed chunks when run again with the same arguments
    (:mod:`fastzdc.production.workdir`). ``gate``: a response-gate checkpoint in front of the model
    (:class:`fastzdc.inference.gated.GatedGenerator`; given O2's filter when the conditions file was made
    with it, else for a raw particle list).
    """
    import time

    from .data.conditions_stream import ConditionsSource
    from .inference import load_generator, sampler_overrides
    from .production.generate import generate_rows, provenance
    from .production.shards import resolve_shard

    check_seed(seed)
    if not 1 <= batch_size <= MAX_BATCH:
        raise FastZDCError(f"--batch-size must be in [1, {MAX_BATCH}], got {batch_size}")
    if not 1 <= chunk <= 1 << 24:
        raise FastZDCError(f"chunk must be in [1, {1 << 24}], got {chunk}")
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise FastZDCError(f"--steps must be in [1, {MAX_STEPS}], got {steps}")
    if file_format(out) != "h5":
        raise FastZDCError("generate writes HDF5: give an .h5 output", out)
    part = resolve_shard(shard)
    check_writable(out)
    check_not_input(out, [*input_paths(conditions_file), model, *([gate] if gate is not None else [])])
    gen = load_generator(model, device=device, backend=backend, precision=precision, batch_size=batch_size,
                         **sampler_overrides(sampler, steps, method))
    if gate is not None:
        from .data.pair import input_is_filtered
        from .inference.gate import load_gate
        from .inference.gated import GatedGenerator

        gen = GatedGenerator(load_gate(gate), gen, given_filter=input_is_filtered(conditions_file))
    source = ConditionsSource(conditions_file)  # HDF5: read chunk by chunk (memory independent of the rows)
    attrs = {
        "generator": f"fastzdc model {gen.name} ({model})",
        "synthetic": True,
        "code_version": __version__,
        **provenance(gen, model, source, seed=seed, chunk=chunk, shard=part),
    }
    if gate is not None:
        from .production.provenance import model_sha256

        attrs["gate_sha256"] = model_sha256(gate)
    fingerprint = {**attrs, "device": str(gen.device), "batch_size": batch_size}
    a, b = part.rows(source.n)
    t0 = time.perf_counter()
    label = f"generate {gen.name}" + (f" shard {part}" if part.sharded else "")
    with progress_bar(label, b - a, progress) as advance:
        done = generate_rows(gen, source, out, attrs, seed=seed, chunk=chunk, shard=part,
                             batch_size=batch_size, fingerprint=fingerprint, advance=advance)
    elapsed = time.perf_counter() - t0
    return {"file": str(out), "rows": done["rows"], "model": gen.name, "detector": gen.detector.name,
            "sampler": gen.sampler, "seconds": round(elapsed, 3), "ms_per_sample": 1e3 * elapsed / max(1, done["rows"]),
            "backend": gen.backend, "precision": attrs["precision"], "saturated_pixels": done["saturated_pixels"],
            "shard": str(part), "shard_source": part.source, "row_start": a, "row_stop": b,
            "resumed_rows": done["resumed_rows"], "seconds_join": done["seconds_join"]}


def json_dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def evaluate_models(
    models: list[str | Path],
    data: str | Path,
    *,
    n_rep: int = 5,
    seed: int = 0,
    floor: bool = True,
    max_rows: int = 0,
    batch_size: int = 4096,
    steps: int | None = None,
    method: str | None = None,
    progress: bool = True,
    out: str | Path | None = None,
    fidelity: bool = True,
    quick: bool = False,
    sampler: dict[str, Any] | None = None,
    precision: str = "float32",
    lookup: str | Path | bool | None = None,
    gate: str | Path | None = None,
) -> dict[str, Any]:
    """Score models on a test file with the published protocol (n_rep generations per condition,
    pooled). With ``floor`` the Monte Carlo re-simulates the same test particles first: the
    "original data" row every model is measured against (meaningful for stand-in data, whose
    generator is this Monte Carlo). With ``out``: plots, report.html, results.json and results.csv
    there (:func:`fastzdc.report.build_report`). ``fidelity`` adds the classifier AUCs, FPD/KPD and
    the diversity ratio (:func:`add_fidelity`; ``quick``: without the image classifier). ``precision``:
    the models' inference precision (:mod:`fastzdc.inference.precision`; the CLI passes ``auto``).
    ``lookup``: the shower-library row after the floor, built from a training file or a look-up folder;
    None looks for ``train.h5`` beside ``data`` (the layout of ``fastzdc split``), False leaves it out.
    ``gate``: a response-gate checkpoint; every model is scored a second time behind it
    (:class:`fastzdc.inference.gated.GatedGenerator`, drawn given O2's filter when the test file was made
    with it), in a row named ``MODEL + gate``."""
    from .evaluation import add_fidelity, floor_generator, score_generators, steps_sweep
    from .inference import load_generator, sampler_overrides

    if n_rep < 1:
        raise FastZDCError(f"--n-rep must be >= 1, got {n_rep}")
    ds = load_dataset(data)
    if max_rows and len(ds) > max_rows:
        ds = ds.subset(slice(0, max_rows))
    gens: list[tuple[Any, bool]] = []
    notes: list[str] = []
    if floor and ds.synthetic:
        gens.append((floor_generator(ds), True))
    elif floor:
        notes.append("no floor row: the data are not the stand-in, and the Monte Carlo cannot re-simulate them")
    library = find_lookup(data, lookup)
    if library is not None:
        lib = load_lookup_from(library)
        if lib.detector.name != ds.detector.name:
            raise FastZDCError(f"the look-up is for {lib.detector.name.upper()}, data are {ds.detector.name.upper()}", library)
        gens.append((lib, False))
    elif lookup is not False:
        notes.append("no look-up row: no train.h5 beside the test file; give --lookup TRAIN_FILE")
    model_gens = []
    for m in models:
        g = load_generator(m, precision=precision, batch_size=batch_size, **sampler_overrides(sampler, steps, method))
        if g.detector.name != ds.detector.name:
            raise FastZDCError(f"model is for {g.detector.name.upper()}, data are {ds.detector.name.upper()}", m)
        model_gens.append(g)
    gens += [(g, False) for g in model_gens]
    if gate is not None:
        from .inference.gate import load_gate
        from .inference.gated import GatedGenerator

        the_gate = load_gate(gate)
        filtered = bool(ds.attrs.get("o2_filter", True))
        gens += [(GatedGenerator(the_gate, g, given_filter=filtered), False) for g in model_gens]
    if out is not None:
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FastZDCError(f"cannot create the output folder ({err.strerror})", out) from None
        check_writable(Path(out) / "report.html")
    samples: dict[str, np.ndarray] = {}
    repeats: dict[str, np.ndarray] = {}
    rows = score_generators(ds, gens, n_rep=n_rep, seed=seed, batch_size=batch_size, progress=progress, samples=samples,
                            repeats=repeats)
    if fidelity:
        add_fidelity(ds, rows, samples, seed=seed, quick=quick, repeats=repeats, n_rep=n_rep, progress=progress)
    result = {"data": str(data), "synthetic": ds.synthetic, "rows_evaluated": len(ds), "n_rep": n_rep, "results": rows,
              "notes": notes}
    if out is not None:
        from .report import DetectorEvaluation, build_report

        models_only = [g for g, is_floor in gens if not is_floor]
        curves = steps_sweep(ds, models_only, seed=seed, progress=progress) if "steps" not in sampler_overrides(sampler, steps) else {}
        ev = DetectorEvaluation(ds.detector, ds.conditions, ds.responses, rows, samples, ds.synthetic, curves)
        result.update(build_report(out, [ev], title=f"fastzdc evaluate: {Path(data).name}", notes=notes))
    return result




def find_lookup(data: str | Path, lookup: str | Path | bool | None) -> Path | None:
    """The file or folder the evaluation's look-up row is built from (see :func:`evaluate_models`)."""
    if lookup is False:
        return None
    if lookup is None or lookup is True:
        beside = Path(data).with_name("train.h5")
        if beside.is_file() and beside.resolve() != Path(data).resolve():
            return beside
        if lookup is True:
            raise FastZDCError("no train.h5 beside the test file for the look-up: give --lookup TRAIN_FILE", data)
        return None
    return Path(lookup)


def load_lookup_from(path: str | Path) -> Any:
    """A look-up Generator from a look-up folder or directly from a training file."""
    from .inference.lookup import is_lookup_dir, load_lookup, lookup_from_file

    if is_lookup_dir(path):
        return load_lookup(path)
    if Path(path).is_dir():
        raise FastZDCError("not a look-up folder (no lookup.json) and not a training file", path)
    return lookup_from_file(path)


def build_lookup(data: str | Path, out: str | Path, *, k: int = 8, rescale: bool = False,
                 probe_rows: int = 4096) -> dict[str, Any]:
    """Write a look-up folder over the training file ``data`` (its card only: the responses stay in ``data``)
    and report the library's rows, memory, build time and generation speed on ``probe_rows`` of its own
    particles."""
    import json
    import time

    from ._atomic import atomic_dir, check_dir_writable
    from .inference.lookup import CARD, is_lookup_dir, lookup_card

    out = check_dir_writable(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_lookup_dir(out))):
        raise FastZDCError("exists and is not a fastzdc look-up folder; refusing to replace it", out)
    if Path(data).resolve() == out.resolve() or out.resolve() in Path(data).resolve().parents:
        raise FastZDCError("the look-up folder must not contain its own training file", out)
    check_not_input(out, input_paths(data))
    from .baselines import LookupGenerator

    train = load_dataset(data)  # read once: the library and the speed probe
    lib = LookupGenerator.from_dataset(train, k=k, rescale=rescale, source=str(data))
    probe = train.conditions[:probe_rows]
    t0 = time.perf_counter()
    lib.generate(probe, seed=0)
    ms = 1e3 * (time.perf_counter() - t0) / max(len(probe), 1)
    card = lookup_card(out, data, k=lib.k, rescale=rescale, name=lib.name, rows=len(lib), synthetic=lib.synthetic,
                       detector=lib.detector.name, version=__version__)
    with atomic_dir(out) as tmp:
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return {"out": str(out), "data": str(data), "rows": len(lib), "detector": lib.detector.name, "k": lib.k,
            "rescale": rescale, "memory_mb": round(lib.nbytes / 2**20, 1), "build_seconds": round(lib.build_seconds, 2),
            "ms_per_sample": ms, "synthetic": lib.synthetic}
