"""Data-parallel training: two gloo processes under torchrun equal one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fastzdc import ZN
from fastzdc.checkpoint import STATE, load_tensors
from fastzdc.data import write_h5
from fastzdc.data.rows import read_h5_features, read_h5_responses
from fastzdc.errors import FastZDCError
from fastzdc.training import distributed as ddp
from fastzdc.training.first_stage import make_kind
from fastzdc.training.loop import train

from .conftest import TINY_FM, make_dataset, tiny_train_config

SRC = Path(__file__).resolve().parents[1] / "src"
OPTS = {"epochs": 2, "batch_size": 16, "val_rows": 10, "lr": 1e-2, "schedule": "constant", "batch_parts": 2}


def torchrun(tmp: Path, data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    sets = [f"--set=model={json.dumps(TINY_FM)}", "--set=threads=1", "--set=val_rows=10", "--set=lr=0.01",
            "--set=schedule=constant", "--set=batch_parts=2", "--set=seed=3"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "fastzdc",
           "train", "fm", "--data", str(data), "-o", str(out), "-d", "zn", "--epochs", "2", "--batch-size", "16",
           "--device", "cpu", "--json", *sets, *extra]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=tmp, check=False)


def net_weights(run: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_tensors(run / "last" / STATE).items() if k.startswith("net.")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "train.h5"
    write_h5(make_dataset(100, ZN, seed=4), path)
    return path


def test_two_processes_equal_one_process_with_the_same_global_batch(data, tmp_path, one_torch_thread):
    one = train(tiny_train_config("fm", "zn", TINY_FM, **OPTS), data, tmp_path / "one")
    assert one["processes"] == 1 and one["batch_parts"] == 2 and one["steps"] == 8  # 70 training rows: 2 blocks of 35, parts of 8 rows: 4 steps an epoch
    r = torchrun(tmp_path, data, tmp_path / "two")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["processes"] == 2
    a, b = net_weights(tmp_path / "one"), net_weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=k)
    # the steps moved the weights well beyond that tolerance: the comparison can fail
    torch.manual_seed(3)
    start = make_kind("fm", ZN, TINY_FM).build().state_dict()
    moved = max(float(np.abs(start[k[4:]].numpy() - a[k]).max()) for k in a)
    assert moved > 1e-3


def test_resume_on_another_number_of_processes_continues_exactly(data, tmp_path, one_torch_thread):
    """Two processes for the first epoch, one process for the second: the parts stay 2, so the result is
    the uninterrupted run's."""
    full = train(tiny_train_config("fm", "zn", TINY_FM, **OPTS), data, tmp_path / "full")
    r = torchrun(tmp_path, data, tmp_path / "run", "--stop-after", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = train(tiny_train_config("fm", "zn", TINY_FM, **OPTS), data, tmp_path / "run", resume=True)
    assert resumed["steps"] == full["steps"] and resumed["processes"] == 1
    a, b = net_weights(tmp_path / "full"), net_weights(tmp_path / "run")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_parts_must_divide_among_the_processes():
    assert ddp.my_parts(ddp.World(1, 2), 4) == [1, 3]
    with pytest.raises(FastZDCError, match="batch_parts 3"):
        ddp.my_parts(ddp.World(0, 2), 3)
    assert ddp.part_blocks(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert ddp.part_seed(5, 7, 0, 1) == 5 * 1_000_003 + 7  # one part: the one-process noise


def test_a_process_reads_only_its_rows(data):
    cond, det, _ = read_h5_features(data)
    assert cond.shape == (100, 9) and det.name == "zn"
    rows = np.array([97, 3, 50, 4])
    ds = make_dataset(100, ZN, seed=4)
    assert np.array_equal(read_h5_responses(data, rows), ds.responses[rows])
