"""Train several flow-matching designs side by side within one wall-clock budget (one GPU or CPU).

    python scripts/train_designs.py --runs zn:film zp:film zp:deq --data-dir data --out runs/designs \\
        --budget-s 300 [--set batch_size=1024 --set lr=4e-3]

Each run is ``configs/fm-<det>.toml`` with the design's model options (``FM_DESIGNS`` in
benchmarks/_common.py, or ``wA-B-C`` for FiLM widths A-B-C) and the ``--set`` overrides, trained by
the project's one loop (``fastzdc.training.loop.train``) in its own process. To use the budget fully
without guessing speeds, all runs first train one probe epoch side by side (same contention as
later); each run then gets ``epochs = (budget - its start-up) / its epoch time`` so the one-cycle
schedule completes inside the budget. Results: ``OUT/<det>-<design>/``
(best/, last/), ``OUT/<det>-<design>.log`` and ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _common import fm_design  # noqa: E402

from fastzdc.training.config import TrainConfig, parse_set  # noqa: E402


def run_config(det: str, design: str, sets: list[str]) -> TrainConfig:
    cfg = TrainConfig.from_toml(ROOT / "configs" / f"fm-{det}.toml")
    design_sets = {f"model.{k}": v for k, v in fm_design(design)[1].items()}
    return cfg.with_overrides({**design_sets, **parse_set(sets)})


def worker(spec: dict) -> None:
    """One training process: ``spec`` = config dict, data, out, stop_after."""
    from fastzdc.training.loop import train

    cfg = TrainConfig.from_dict(spec["config"])
    t0 = time.perf_counter()
    res = train(cfg, spec["data"], spec["out"], stop_after=spec.get("stop_after", 0), progress=False,
                log=lambda s: print(s, flush=True))
    res["wall_s"] = time.perf_counter() - t0
    Path(spec["out"], "result.json").write_text(json.dumps(res))


def launch(specs: dict[str, dict], out: Path, tag: str) -> dict[str, subprocess.Popen]:
    procs = {}
    for name, spec in specs.items():
        log = open(out / f"{name}{tag}.log", "w")
        procs[name] = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], stdout=log,
                                       stderr=subprocess.STDOUT, cwd=ROOT)
    return procs


def wait_all(procs: dict[str, subprocess.Popen], deadline: float) -> dict[str, int]:
    codes = {}
    for name, p in procs.items():
        try:
            codes[name] = p.wait(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            p.kill()
            codes[name] = -9
    return codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--runs", nargs="+", default=[], help="DET:DESIGN, designs of FM_DESIGNS in benchmarks/_common.py")
    ap.add_argument("--data-dir", default="data", help="holds standin_zn.h5 / standin_zp.h5")
    ap.add_argument("--out", default="runs/designs")
    ap.add_argument("--budget-s", type=float, default=300, help="wall-clock seconds for the main trainings")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override KEY=VALUE")
    ap.add_argument("--max-epochs", type=int, default=200)
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfgs = {}
    for r in args.runs:
        det, design = r.split(":")
        cfgs[f"{det}-{design}"] = (det, design, run_config(det, design, args.sets + ["threads=1"]))
    data = {n: str(Path(args.data_dir) / f"standin_{det}.h5") for n, (det, _, _) in cfgs.items()}

    # probe: one epoch of every run side by side
    t_probe = time.time()
    probe = {n: {"config": c.to_dict(), "data": data[n], "out": str(out / f"probe-{n}"), "stop_after": 1}
             for n, (_, _, c) in cfgs.items()}
    codes = wait_all(launch(probe, out, ".probe"), time.time() + args.budget_s)
    epochs = {}
    for n in cfgs:
        res_file = out / f"probe-{n}" / "result.json"
        if codes[n] != 0 or not res_file.exists():
            print(f"{n}: probe failed (exit {codes[n]}), see {out / (n + '.probe.log')}", flush=True)
            continue
        res = json.loads(res_file.read_text())
        t_epoch = res["seconds"]
        t_start = res["wall_s"] - res["seconds"]
        epochs[n] = max(1, min(args.max_epochs, math.floor((args.budget_s - t_start) / t_epoch * 0.95)))
        print(f"{n}: probe epoch {t_epoch:.1f} s, start-up {t_start:.1f} s -> {epochs[n]} epochs", flush=True)
        shutil.rmtree(out / f"probe-{n}", ignore_errors=True)
    print(f"probe took {time.time() - t_probe:.0f} s", flush=True)

    main_specs = {}
    for n in epochs:
        c = cfgs[n][2].to_dict()
        c["epochs"] = epochs[n]
        main_specs[n] = {"config": c, "data": data[n], "out": str(out / n)}
    t0 = time.time()
    codes = wait_all(launch(main_specs, out, ""), t0 + args.budget_s * 1.15 + 30)
    summary = {}
    for n, spec in main_specs.items():
        res_file = Path(spec["out"]) / "result.json"
        res = json.loads(res_file.read_text()) if res_file.exists() else {}
        det, design, _ = cfgs[n]
        summary[n] = {"detector": det, "design": design, "label": fm_design(design)[0], "exit": codes[n],
                      "epochs": epochs[n], **{k: res.get(k) for k in ("best_val_w", "seconds", "wall_s", "n_params", "history")}}
        print(f"{n}: exit {codes[n]}, {epochs[n]} epochs, best val W {res.get('best_val_w')}, {res.get('seconds')} s", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"trainings took {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
