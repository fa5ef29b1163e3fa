"""Compare velocity-network designs of the flow-matching model: fidelity per millisecond.

    python benchmarks/compare_fm_designs.py --data data/standin_zn.h5 [--rows 40000] [--epochs 2] [--append]

Each design (``--designs``, keys of ``FM_DESIGNS`` in ``_common.py``) is trained with the same budget
(``--epochs`` over the first ``--rows`` training rows of the published split, same seed and schedule),
then scored on 2000 validation rows (W with n_rep = 1, default sampler) next to the Monte Carlo floor
on the same rows (``fastzdc.evaluation.floor_generator``), and timed (ms per sample at batch 256 with
the default sampler, median of repeats, float32 on this CPU). A short-budget comparison: it ranks
designs, it does not give their converged fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import FM_DESIGNS, ensure_allocator_env, floor_w, machine, publish, time_generate  # noqa: E402

ensure_allocator_env()

import numpy as np  # noqa: E402

from fastzdc.data import load_dataset, published_split  # noqa: E402
from fastzdc.evaluation.metrics import compare_counts  # noqa: E402
from fastzdc.evaluation.protocol import FLOOR_SEED_OFFSET  # noqa: E402
from fastzdc.inference import load_generator  # noqa: E402
from fastzdc.training.config import TrainConfig  # noqa: E402
from fastzdc.training.loop import train  # noqa: E402

DESIGNS = {label: model for label, model in FM_DESIGNS.values()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rows", type=int, default=40000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default="/tmp/fastzdc_design_cmp")
    ap.add_argument("--designs", nargs="*", default=list(DESIGNS))
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    sp = published_split(len(ds))
    val = ds.subset(np.sort(sp.val[:2000]))
    w_floor = floor_w(val, seed=FLOOR_SEED_OFFSET)["w_mean"]
    lines = []
    for name in args.designs:
        out = Path(args.out) / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        cfg = TrainConfig(kind="fm", model=DESIGNS[name], epochs=args.epochs, max_train_rows=args.rows, lr=3e-3,
                          val_rows=2000, seed=0)
        t0 = time.perf_counter()
        res = train(cfg, args.data, out, progress=False)
        t_train = time.perf_counter() - t0
        gen = load_generator(out / "last")
        fake = gen.generate(val.conditions, seed=3)
        w = compare_counts(ds.detector, val.responses, fake, 1)["w_mean"]
        c = np.resize(val.conditions, (256, 9))
        ms = time_generate(gen, c, 256, repeats=5)
        lines.append(f"| {name} | {gen.n_params} | {gen.sampler['steps']} {gen.sampler['method']} | {ms:.2f} | "
                     f"{w:.2f} | {w / w_floor:.2f} | {t_train:.0f} |")
        print(lines[-1], flush=True)
        print(json.dumps(res["history"]), flush=True)
    text = [f"## FM velocity-network designs, {ds.detector.name.upper()} ({machine()}, float32)", "",
            f"Same budget for every design: {args.epochs} epochs over {args.rows} training rows of the synthetic "
            f"stand-in, lr 3e-3 one-cycle, EMA; W on 2000 validation rows (n_rep 1, last checkpoint) against the "
            f"Monte Carlo floor W {w_floor:.2f} on the same rows; time = ms per sample at batch 256 with the "
            "default sampler, 2 threads.", "",
            "| design | params | sampler | ms / sample | W | W / floor | train s |", "|---|---:|---|---:|---:|---:|---:|", *lines]
    publish(text, args.append)


if __name__ == "__main__":
    main()
