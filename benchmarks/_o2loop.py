"""O2's particle loop in ONNX Runtime, for ``bench_onnx.py --o2-loop`` (a helper module, not a script).

O2 opens one session per model (1 intra-op thread, no spinning) and calls it once per particle at batch
1 with a fresh noise vector and the scaled features. Measured here for each export folder: that loop;
the same particles batched B per call; the graph-optimisation levels at batch 1; the Python API's loop
(``fastzdc.load(folder)`` then ``generate`` on one particle, a new seed per call) against the bare call;
and, for a checkpoint re-exported in memory with fewer steps, the batch-1 loop again. ``--o2-dropin-w ROWS``:
W / floor of the O2 drop-in graph (``model.o2.onnx``, 10-value noise expanded in the graph) against
``model.o2.onnx``'s source graph ``model.onnx`` on the same test rows.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import fastzdc
from fastzdc.data import load_dataset
from fastzdc.export.o2 import load_scales
from fastzdc.inference.card import load_card
from fastzdc.inference.graph import OUTPUT, export_sampler, with_count_output
from fastzdc.inference.load import read_checkpoint
from fastzdc.inference.onnx import open_session, session_options

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (4, 16, 64)
LEVELS = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def _loop_ms(sess: ort.InferenceSession, noise: np.ndarray, scaled: np.ndarray, batch: int = 1) -> float:
    """ms per particle of one pass over the particles, ``batch`` particles per ``run``."""
    names = [i.name for i in sess.get_inputs()]
    t0 = time.perf_counter()
    for a in range(0, len(scaled), batch):
        sess.run([OUTPUT], {names[0]: noise[a : a + batch], names[1]: scaled[a : a + batch]})
    return 1e3 * (time.perf_counter() - t0) / len(scaled)


def _median_rounds(fns: dict[str, callable], rounds: int) -> dict[str, float]:
    """Every measurement once per round, rounds interleaved (the load of a shared machine drifts); medians."""
    for fn in fns.values():
        fn()  # warm-up
    got: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            got[k].append(fn())
    return {k: statistics.median(v) for k, v in got.items()}


def _inputs(det: str, n: int, noise_shape: tuple[int, ...], scaler_txt: Path, data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw test particles, their O2-scaled features (float32, from scaler.txt) and fresh noise per particle."""
    path = Path(str(data).replace("split_zn", f"split_{det}").replace("split_zp", f"split_{det}"))
    raw = load_dataset(path).conditions[:n]
    means, scales = load_scales(scaler_txt)
    scaled = ((raw - means) / scales).astype(np.float32)
    noise = np.random.default_rng(1).standard_normal((n, *noise_shape)).astype(np.float32)
    return raw, scaled, noise


def _w_over_floor(name: str) -> str:
    path = ROOT / "weights" / f"{name}.eval.json"
    if not path.is_file():
        return "–"
    rows = [r for r in json.loads(path.read_text())["results"]
            if r.get("w_over_floor") and not r.get("extra", {}).get("is_floor") and not r["name"].startswith("lookup")]
    return f"{rows[0]['w_over_floor']:.2f}" if rows else "–"


def _folder_rows(folder: Path, args) -> tuple[str, str]:
    card = load_card(folder)
    name = folder.name
    raw, scaled, noise = _inputs(card["detector"], args.o2_particles, tuple(card["noise_shape"]), folder / "scaler.txt", Path(args.data))
    sess = open_session(folder / "model.onnx", threads=1)
    gen = fastzdc.load(folder)
    bare = [i.name for i in sess.get_inputs()]

    def api_and_bare() -> tuple[list[float], list[float]]:
        """ms of each API call and of each bare call on the API generator's own session, call by call in
        turn (both see the same load)."""
        cs = gen.scaler.transform(raw)
        t_api, t_bare = [], []
        for i in range(len(raw)):
            t0 = time.perf_counter()
            gen.session.run([OUTPUT], {bare[0]: noise[i : i + 1], bare[1]: cs[i : i + 1]})
            t1 = time.perf_counter()
            gen.generate(raw[i : i + 1], seed=i)
            t_bare.append(1e3 * (t1 - t0))
            t_api.append(1e3 * (time.perf_counter() - t1))
        return t_api, t_bare

    api_and_bare()  # warm-up
    pairs = [api_and_bare() for _ in range(args.o2_rounds)]
    api_ms = statistics.median(t for p in pairs for t in p[0])  # medians per call: a busy machine's preemptions
    bare_ms = statistics.median(t for p in pairs for t in p[1])  # inflate loop totals at random
    ratio = api_ms / bare_ms
    fns = {"b1": lambda: _loop_ms(sess, noise, scaled)}
    fns.update({f"b{b}": (lambda b=b: _loop_ms(sess, noise, scaled, b)) for b in BATCHES})
    level_sessions = {}
    for level, value in LEVELS.items():
        so = session_options(1)
        so.graph_optimization_level = value
        level_sessions[level] = ort.InferenceSession(str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"])
        fns[level] = lambda s=level_sessions[level]: _loop_ms(s, noise, scaled)
    dropin = card.get("files", {}).get("float32-o2")
    if dropin:
        o2sess = open_session(folder / dropin["file"], threads=1)
        noise10 = np.random.default_rng(2).standard_normal((len(scaled), 10)).astype(np.float32)
        fns["o2"] = lambda: _loop_ms(o2sess, noise10, scaled)
    m = _median_rounds(fns, args.o2_rounds)
    steps = card["sampler"].get("steps", "–")
    o2 = "–"
    if dropin:
        what = [f"{dropin.get('candidates', 1)} cand."] + (["gate"] if dropin.get("gate") else [])
        o2 = f"{m['o2']:.2f} ({', '.join(what)})"
    main = (f"| `{name}` | {card['detector'].upper()} | {card['kind']} | {card.get('n_params', 0) / 1e3:.0f}k | {steps} | "
            f"**{m['b1']:.2f}** | " + " | ".join(f"{m[f'b{b}']:.2f}" for b in BATCHES)
            + f" | {o2} | {api_ms:.2f} / {bare_ms:.2f} = {ratio:.2f} | {_w_over_floor(name)} |")
    levels = f"| `{name}` | " + " | ".join(f"{m[k]:.2f}" for k in LEVELS) + " |"
    print(main, levels, sep="\n", flush=True)
    return main, levels


def _steps_rows(spec: str, args) -> list[str]:
    name, steps = spec.split(":")
    kind, net, _, cfg = read_checkpoint(ROOT / "weights" / name)
    rows = []
    for s in (int(x) for x in steps.split(",")):
        opts = kind.sampler_options({**cfg.get("sampler", {}), "steps": s})
        sess = open_session(with_count_output(export_sampler(kind, net, opts), kind.dequantized).SerializeToString(), threads=1)
        folder = ROOT / "weights" / "onnx" / name
        _, scaled, noise = _inputs(kind.detector.name, args.o2_particles, tuple(kind.noise_shape()), folder / "scaler.txt", Path(args.data))
        ms = _median_rounds({"b1": lambda sess=sess, noise=noise, scaled=scaled: _loop_ms(sess, noise, scaled)}, args.o2_rounds)["b1"]
        rows.append(f"| `{name}` | {s} ({opts['method']}) | {ms:.2f} |")
        print(rows[-1], flush=True)
    return rows


def _dropin_row(folder: Path, args) -> str | None:
    """W / floor of model.onnx (noise seeds 0 and 1) and of model.o2.onnx on the first ROWS test rows, 5
    generations each: the protocol of ``fastzdc evaluate`` (same floor draw), so the numbers compare with
    weights/NAME.eval.json."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from _common import first_rows

    from fastzdc.evaluation.protocol import floor_generator, score_generators
    from fastzdc.export.dropin import DROPIN_FILE
    from fastzdc.inference.onnx import OnnxGenerator
    from fastzdc.nn.noise_expand import O2_NOISE

    if not (folder / DROPIN_FILE).is_file():
        return None
    card = load_card(folder)
    det = card["detector"]
    ds = first_rows(Path(str(args.data).replace("split_zn", f"split_{det}").replace("split_zp", f"split_{det}")), args.o2_dropin_w)
    full = fastzdc.load(folder)
    dropin = OnnxGenerator(open_session(folder / DROPIN_FILE, threads=torch.get_num_threads()), full.detector, full.scaler,
                           (O2_NOISE,), name=f"{card['name']} (O2 drop-in)", sampler=card["sampler"])
    floor = floor_generator(ds)
    scored = {}
    for key, gen, seed in (("full0", full, 0), ("full1", full, 1), ("o2", dropin, 0)):
        rows = score_generators(ds, [(floor, True), (gen, False)], n_rep=5, seed=seed, progress=False)
        scored[key] = rows[1]
        if key == "full0":
            floor_w = rows[0]["w_mean"]  # the floor of seed 0: evaluate's floor draw

    def cell(r: dict) -> str:
        return f"{r['w_mean'] / floor_w:.2f} ± {r.get('w_over_floor_err') or 0:.2f}"

    row = (f"| `{folder.name}` | {det.upper()} | {floor_w:.3f} | {cell(scored['full0'])} | {cell(scored['full1'])} | "
           f"**{cell(scored['o2'])}** | {100 * (scored['o2']['w_mean'] / scored['full0']['w_mean'] - 1):+.1f} % |")
    print(row, flush=True)
    return row


def o2_loop_section(args, machine_text: str) -> list[str]:
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    mains, levels = zip(*(_folder_rows(Path(f), args) for f in args.o2_loop))
    text = [f"## O2's particle loop in ONNX Runtime ({machine_text}, onnxruntime {ort.__version__})", "",
            f"{time.strftime('%Y-%m-%d')}. `python benchmarks/bench_onnx.py --o2-loop {' '.join(args.o2_loop)} --data {args.data}"
            + (f" --o2-steps {' '.join(args.o2_steps)}" if args.o2_steps else "")
            + (f" --o2-dropin-w {args.o2_dropin_w}" if args.o2_dropin_w else "") + "`. One session per model created "
            "once, 1 intra-op thread, `allow_spinning = 0`, float32 `model.onnx`, fresh noise per particle; "
            f"ms per particle over the first {args.o2_particles} test rows, median of {args.o2_rounds} interleaved rounds. "
            "**batch 1** is O2's call; B = 4 / 16 / 64 batches the particles of one event into one call. "
            "API loop: `fastzdc.load(folder)` then `generate` on one particle with a new seed per call, against the bare "
            "call on the same session, call by call in turn (median ms per call over all rounds, and their ratio). "
            "`model.o2.onnx` batch 1: the drop-in graph in the same loop with O2's 10-value noise vector (its candidates per "
            "particle, and whether the response gate is inside). W / floor: the checkpoint's `weights/NAME.eval.json` (test split, 5000 rows).", "",
            "| export | det | kind | params | steps | **batch 1** | B 4 | B 16 | B 64 | `model.o2.onnx` batch 1 | API loop / bare call | W / floor |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *mains, "",
            "Batch 1 by ONNX Runtime graph-optimisation level (ms per particle):", "",
            "| export | " + " | ".join(LEVELS) + " |", "|---|" + "---:|" * len(LEVELS), *levels]
    if args.o2_steps:
        text += ["", "Batch 1 with fewer sampler steps (re-exported in memory; ms per particle):", "",
                 "| model | steps | batch 1 |", "|---|---:|---:|"]
        for spec in args.o2_steps:
            text += _steps_rows(spec, args)
    if args.o2_dropin_w:
        rows = [r for r in (_dropin_row(Path(f), args) for f in args.o2_loop) if r]
        text += ["", (f"O2 drop-in (`model.o2.onnx`, O2's 10-value noise vector expanded in the graph; with the response "
                      "gate and candidates where the card says so) against `model.onnx` (the model's full noise), first "
                      f"{args.o2_dropin_w} test rows, 5 generations each, W / floor ± bootstrap error, the floor and protocol of "
                      "`fastzdc evaluate`; the second `model.onnx` column uses other noise (seed 1): the seed-to-seed scatter."), "",
                 "| export | det | floor W | `model.onnx` seed 0 | `model.onnx` seed 1 | **`model.o2.onnx`** | drop-in vs seed 0 |",
                 "|---|---|---:|---:|---:|---:|---:|", *rows]
    text += ["", (f"Load average (1 min) of this shared 2-core machine: {load0:.1f} at the start, {os.getloadavg()[0]:.1f} "
                  "at the end (other jobs running: compare within this table).")]
    return text
