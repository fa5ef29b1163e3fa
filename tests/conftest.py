"""Shared fixtures: tiny random datasets and an in-process CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastzdc import ZN, ZP
from fastzdc.cli import main
from fastzdc.data import Dataset


def make_dataset(n: int = 64, detector=ZN, seed: int = 0) -> Dataset:
    """Random but valid data: Poisson counts, features on realistic scales (not physics)."""
    rng = np.random.default_rng(seed)
    cond = np.column_stack(
        [
            rng.uniform(1, 7000, n),
            rng.normal(0, 1e-5, n),
            rng.normal(0, 1e-5, n),
            rng.normal(0, 1e-2, n),
            rng.normal(0, 0.3, n),
            rng.normal(0, 0.3, n),
            rng.uniform(-7000, 7000, n),
            rng.choice([0.0, 938.272, 939.565], n),
            rng.choice([-1.0, 0.0, 1.0], n),
        ]
    ).astype(np.float32)
    # a physical particle: |pz| from E, mass and pT (E raised to the rest energy where pT alone exceeds it)
    cond = cond.astype(np.float64)
    m, pt2 = cond[:, 7] / 1e3, cond[:, 4] ** 2 + cond[:, 5] ** 2
    cond[:, 0] = np.maximum(cond[:, 0], np.sqrt(m**2 + pt2))
    cond[:, 6] = np.sign(cond[:, 6]) * np.sqrt(np.maximum(cond[:, 0] ** 2 - m**2 - pt2, 0.0))
    cond = cond.astype(np.float32)
    resp = rng.poisson(rng.uniform(0, 0.5, (n, 1, 1)), (n, *detector.shape)).astype(np.uint16)
    pdg = rng.choice([22, 2112, 2212, -211], n).astype(np.int32)
    return Dataset(cond, resp, pdg, detector, {"synthetic": True, "generator": "test fixture"})


def tiny_train_config(kind: str, det: str, model: dict, **kw):
    """A TrainConfig for seconds-long test runs: 2 epochs of batch 32, 16 validation rows, one thread."""
    from fastzdc.training.config import TrainConfig

    base = dict(kind=kind, detector=det, model=model, epochs=2, batch_size=32, val_rows=16, seed=3, threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def zn_dataset() -> Dataset:
    return make_dataset(64, ZN)


@pytest.fixture
def zp_dataset() -> Dataset:
    return make_dataset(48, ZP, seed=1)


class CLIResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``fastzdc ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str | Path) -> CLIResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as ex:
            code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
        cap = capsys.readouterr()
        return CLIResult(code, cap.out, cap.err)

    return run


def leftovers(folder: Path) -> list[str]:
    """Temporary files left behind in a folder (there must be none)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


TINY_FM = {"widths": [4, 8, 8], "blocks": [1, 1, 1], "emb_dim": 16}
"""a flow-matching network small enough for any test"""


def random_fm_checkpoint(path: Path, detector, *, rows: int = 100, **config) -> Path:
    """An untrained flow-matching checkpoint of ``detector`` with random (not zero-initialised) weights and a
    scaler fitted on ``rows`` synthetic particles: no training needed to test loading, export and
    generation mechanics. ``config`` entries are added to (or replace) its config.json."""
    import torch

    from fastzdc.checkpoint import save_checkpoint
    from fastzdc.data import StandardScaler
    from fastzdc.models import get_kind

    kind = get_kind("fm")(detector, TINY_FM)
    net = kind.build()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    ds = make_dataset(rows, detector, seed=2)
    cfg = {"kind": "fm", "detector": detector.name, "name": f"tiny-{detector.name}", "hparams": kind.hparams,
           "sampler": {"steps": 2, "method": "euler"}, "scaler": StandardScaler.fit(ds.conditions).to_dict(),
           "data": {"sha256": "ab" * 32, "synthetic": True}, **config}
    save_checkpoint(path, net.state_dict(), cfg)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny batches run best on one thread: on a shared machine two OpenMP threads at batch 16 were
    measured 25x slower than one (threads wait on each other's barrier)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
