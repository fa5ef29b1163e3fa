"""``fastzdc fit``: one data file -> every stage of a model -> evaluation, ONNX export and a summary.

Layout of the fit folder ``DIR``::

    fit.json              the manifest (data hash; per stage: settings hash, state, time, result)
    split/                train.h5, val.h5, test.h5, scaler.json, scaler.txt (the published split)
    runs/STAGE/           each training stage's run folder (best/, last/ with the exact training state)
    weights/NAME-DET/     the finished models (fm, fmd, lfm, vq) and the look-up folder (lookup)
    eval/                 report.html, results.json, results.csv, plots/ (test split, floor and look-up rows)
    onnx/NAME-DET/        ONNX export folders with the O2 scaler and model card
    summary.json          the scores and times of the fit

Every input is checked before anything is trained or written (:func:`preflight`). Each stage is
recorded in ``fit.json`` when it starts and when it is done; a re-run of the same command skips what is
done and resumes a training stage from its ``last/`` checkpoint (exact on CPU), so an interrupted fit
(Ctrl-C, ``kill -9``) ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .._atomic import atomic_dir, atomic_write_text, check_dir_writable, check_not_input
from ..checkpoint import CONFIG, STATE_JSON, WEIGHTS, file_sha256, load_config, resolve
from ..data.convert import open_source
from ..errors import FastZDCError
from .manifest import MANIFEST, Manifest
from .plan import Plan, assign_init, make_plan, read_overrides

LOCK = "fit.lock"
MIN_ROWS = 100
"""rows a fit needs: the 70/10/20 split must leave validation and test rows to score on"""
SUMMARY = "summary.json"


def data_files(data: Path) -> list[Path]:
    """The files a dataset is read from (an npz pair: both members)."""
    if data.suffix.lower() != ".npz":
        return [data]
    from ..data import pair_paths

    return list(pair_paths(data))


def data_fingerprint(data: Path, rows: int) -> dict[str, Any]:
    """Path, rows and SHA-256 of the data (of the concatenated files' hashes for an npz pair)."""
    files = data_files(data)
    hashes = [file_sha256(f) for f in files]
    sha = hashes[0] if len(hashes) == 1 else file_sha256_of_text("".join(hashes))
    return {"path": str(data), "rows": rows, "sha256": sha}


def file_sha256_of_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def preflight(data: str | Path, out: str | Path, *, detector: str | None, model: str, preset: str,
              config: str | Path | None, init: str | Path | None) -> tuple[Plan, dict[str, Any], Manifest | None]:
    """Check every input; nothing is written. Returns the plan, the data fingerprint and the folder's
    manifest (None for a new fit)."""
    data, out = Path(data), Path(out)
    if not data.is_file():
        raise FastZDCError("file not found", data)
    src = open_source(data)
    det = src.detector.name
    if detector is not None and detector.lower() != det:
        raise FastZDCError(f"the data are {det.upper()} responses, --detector says {detector.upper()}", data)
    n_rows = len(src)
    del src
    if n_rows < MIN_ROWS:
        raise FastZDCError(f"too few rows for the 70/10/20 split and training: {n_rows} (at least {MIN_ROWS})", data)
    plan = make_plan(det, model, preset, read_overrides(config), config)
    if init is not None:
        ckpt = resolve(init)
        conf = load_config(ckpt)
        if conf["detector"] != det:
            raise FastZDCError(f"--init is a {conf['detector'].upper()} checkpoint, the data are {det.upper()}", ckpt)
        assign_init(plan, conf["kind"], str(ckpt.resolve()), file_sha256(ckpt / WEIGHTS))
    check_dir_writable(out)
    if out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise FastZDCError("folder is not writable", out)
    check_not_input(out, [*data_files(data), init])
    manifest = Manifest.read(out) if out.is_dir() else None
    if manifest is None and out.is_dir() and any(p.name != LOCK for p in out.iterdir()):
        raise FastZDCError("exists, is not empty and holds no fit (no fit.json); give a new or empty --out", out)
    return plan, data_fingerprint(data, n_rows), manifest


def run_fit(data: str | Path, out: str | Path, *, detector: str | None = None, model: str = "fm",
            preset: str = "default", config: str | Path | None = None, init: str | Path | None = None,
            progress: bool = True, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run (or continue) a fit; returns the summary also written to ``DIR/summary.json``."""
    data, out = Path(data), Path(out)
    plan, fingerprint, manifest = preflight(data, out, detector=detector, model=model, preset=preset,
                                            config=config, init=init)
    hashes = {s: plan.stage_hash(s) for s in plan.stages}
    if manifest is not None:
        manifest.check_compatible(fingerprint, plan.detector, hashes)
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise FastZDCError(f"cannot create the fit folder ({err.strerror})", out) from None
    with _exclusive(out):
        manifest = Manifest.read(out) or manifest  # as it is now that no other fit can change it
        if manifest is None:
            manifest = Manifest(out, fingerprint, plan.detector)
            manifest.save()
        else:
            manifest.check_compatible(fingerprint, plan.detector, hashes)
        return _run_stages(plan, data, out, manifest, hashes, progress, log)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One fit at a time in a folder: an advisory lock on ``DIR/fit.lock`` (released by the system when the
    process ends, ``kill -9`` included)."""
    import fcntl

    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FastZDCError("another fit is running in this folder", out) from None
        yield
    finally:
        os.close(fd)


def _run_stages(plan: Plan, data: Path, out: Path, manifest: Manifest, hashes: dict[str, str], progress: bool,
                log: Callable[[str], None]) -> dict[str, Any]:
    runner = _Runner(plan, data, out, manifest, progress, log)
    for i, stage in enumerate(plan.stages, 1):
        label = f"[{i}/{len(plan.stages)}] {stage}"
        if manifest.done(stage, hashes[stage]):
            log(f"{label}: done ({manifest.stages[stage]['seconds']:.0f} s), skipped")
            continue
        log(f"{label}: {_WHAT.get(stage, 'training')}")
        manifest.start(stage, hashes[stage])
        t0 = time.perf_counter()
        try:
            result = runner.run(stage)
        except BaseException:
            with contextlib.suppress(BaseException):  # after a signal nothing more is written: the time is lost
                manifest.add_time(stage, time.perf_counter() - t0)
            raise
        manifest.finish(stage, time.perf_counter() - t0, result)
    summary = make_summary(plan, manifest, out)
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary


_WHAT = {"split": "the published 70/10/20 split and the scaler", "lookup": "the shower-library look-up",
         "evaluate": "evaluation on the test split (floor and look-up rows)", "export": "ONNX export for O2"}


class _Runner:
    """Runs one stage of a plan in its folder."""

    def __init__(self, plan: Plan, data: Path, out: Path, manifest: Manifest, progress: bool,
                 log: Callable[[str], None]) -> None:
        self.plan, self.data, self.out, self.manifest, self.progress, self.log = plan, data, out, manifest, progress, log
        self.det = plan.detector

    def run(self, stage: str) -> dict[str, Any]:
        if stage == "split":
            return self.split()
        if stage == "lookup":
            return self.lookup()
        if stage == "evaluate":
            return self.evaluate()
        if stage == "export":
            return self.export()
        return self.train(stage)

    def stage_dir(self, stage: str) -> Path:
        return (self.out / "runs" / stage).resolve()

    def product_dir(self, name: str) -> Path:
        return self.out / "weights" / f"{name}-{self.det}"

    def split(self) -> dict[str, Any]:
        from ..workflows import split_file

        with atomic_dir(self.out / "split") as tmp:
            result = split_file(self.data, tmp)
        return {"rows": result["rows"], "folder": "split"}

    def train(self, stage: str) -> dict[str, Any]:
        from ..training.loop import train

        cfg = self.plan.train[stage]
        links = {k: str(self.stage_dir(v[1:]) / "best") for k, v in cfg.model.items() if isinstance(v, str) and v.startswith("@")}
        over: dict[str, Any] = {f"model.{k}": v for k, v in links.items()}
        if cfg.init.startswith("@"):
            over["init"] = str(self.stage_dir(cfg.init[1:]) / "best")
        cfg = cfg.with_overrides(over)
        run = self.stage_dir(stage)
        run.parent.mkdir(exist_ok=True)
        state = run / "last" / STATE_JSON
        if state.is_file() and json.loads(state.read_text()).get("epoch", 0) >= cfg.epochs:
            self.log(f"  {run}: all {cfg.epochs} epochs already trained")
            history = json.loads(state.read_text())["history"]
            result = {"best_val_w": min(h["val_w"] for h in history), "epochs": cfg.epochs, "resumed": True}
        else:
            resume = state.is_file()
            if resume:
                self.log(f"  resuming {run} from its last checkpoint")
            out = train(cfg, self.data, run, resume=resume, overwrite=run.exists() and not resume,
                        progress=self.progress, log=lambda s: self.log(f"  {s}"))
            result = {"best_val_w": out["best_val_w"], "epochs": out["epochs"], "steps": out["steps"], "resumed": resume}
        name = self.plan_product(stage)
        if name:
            self.copy_product(run / "best", self.product_dir(name))
            result["weights"] = str(self.product_dir(name).relative_to(self.out))
        return result

    def plan_product(self, stage: str) -> str:
        return next((p for p, s in self.plan.products.items() if s == stage), "")

    def copy_product(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(exist_ok=True)
        with atomic_dir(dst) as tmp:
            for name in (WEIGHTS, CONFIG):
                shutil.copy2(src / name, tmp / name)
        load_config(dst)  # the copy is checked like any checkpoint

    def lookup(self) -> dict[str, Any]:
        from ..workflows import build_lookup

        opts = self.plan.options["lookup"]
        dst = self.product_dir("lookup")
        dst.parent.mkdir(exist_ok=True)
        result = build_lookup(self.out / "split" / "train.h5", dst, k=opts["k"], rescale=opts["rescale"])
        return {"weights": str(dst.relative_to(self.out)), "rows": result["rows"], "k": result["k"]}

    def evaluate(self) -> dict[str, Any]:
        from ..workflows import evaluate_models

        opts = self.plan.options["evaluate"]
        models = [self.product_dir(p) for p in self.plan.products if p != "lookup"]
        library = self.product_dir("lookup") if "lookup" in self.plan.products else self.out / "split" / "train.h5"
        dst = self.out / "eval"
        with atomic_dir(dst) as tmp:
            result = evaluate_models(models, self.out / "split" / "test.h5", n_rep=opts["n_rep"], seed=opts["seed"],
                                     max_rows=opts["max_rows"], progress=self.progress, out=tmp,
                                     fidelity=opts["fidelity"], quick=opts["quick"], precision=opts["precision"],
                                     lookup=library)
        rows = [_score_row(r) for r in result["results"]]
        return {"rows_evaluated": result["rows_evaluated"], "n_rep": result["n_rep"], "results": rows,
                "notes": result["notes"], "report": "eval/report.html"}

    def export(self) -> dict[str, Any]:
        from ..export import export_onnx

        opts = self.plan.options["export"]
        done = {}
        for name in opts["models"]:
            dst = self.out / "onnx" / f"{name}-{self.det}"
            dst.parent.mkdir(exist_ok=True)
            self.log(f"  exporting {name}-{self.det}")
            # no float16 latent FM: its noise dither needs float32 (the export's self-check refuses it)
            result = export_onnx(self.product_dir(name), dst, opset=opts["opset"], fp16=opts["fp16"] and name != "lfm")
            done[name] = {"folder": str(dst.relative_to(self.out)), "files": sorted(result["files"]),
                          "parity": {k: v for k, v in result["parity"].items() if k.startswith("float")}}
        return {"exports": done}


def _score_row(r: dict[str, Any]) -> dict[str, Any]:
    fid = r.get("fidelity") or {}
    aucs = {k: (fid.get(k) or {}).get("value") for k in ("auc_features", "auc_sums_conditional", "auc_images")}
    return {"name": r["name"], "floor": bool(r.get("extra", {}).get("is_floor")), "w": r["w_mean"], "w_err": r.get("w_err"),
            "w_over_floor": r.get("w_over_floor"), "w_over_floor_err": r.get("w_over_floor_err"), "mae": r["mae"],
            "ms_per_sample": r["time_per_sample_ms"], **{k: v for k, v in aucs.items() if v is not None}}


def make_summary(plan: Plan, manifest: Manifest, out: Path) -> dict[str, Any]:
    """What the fit made, how good and how long: the content of ``summary.json``."""
    st = manifest.stages
    ev = st.get("evaluate", {}).get("result", {})
    return {
        "data": manifest.data, "detector": plan.detector, "model": plan.model, "preset": plan.preset,
        "stages": {s: {"seconds": st[s]["seconds"], **({"best_val_w": st[s]["result"]["best_val_w"]}
                                                         if "best_val_w" in st[s].get("result", {}) else {})}
                   for s in plan.stages if s in st},
        "seconds_total": round(sum(st[s]["seconds"] for s in plan.stages if s in st), 1),
        "weights": {p: str((out / "weights" / f"{p}-{plan.detector}").relative_to(out)) for p in plan.products},
        "onnx": {p: v["folder"] for p, v in st.get("export", {}).get("result", {}).get("exports", {}).items()},
        "report": ev.get("report"), "test_rows": ev.get("rows_evaluated"), "n_rep": ev.get("n_rep"),
        "scores": ev.get("results", []), "notes": ev.get("notes", []),
        "manifest": MANIFEST,
    }
