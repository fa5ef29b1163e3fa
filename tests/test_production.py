"""Sharded and crash-safe generation, and the merge of shard files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from fastzdc import ZN
from fastzdc.data import H5Writer, write_h5
from fastzdc.data.join import append_file
from fastzdc.errors import FastZDCError
from fastzdc.production.merge import merge_shards
from fastzdc.production.shards import Shard, parse_shard, resolve_shard, shard_from_env
from fastzdc.production.workdir import work_dir
from fastzdc.workflows import generate_to_file

from .conftest import leftovers, make_dataset, random_fm_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_torch_thread):
    d = tmp_path_factory.mktemp("prod")
    model = random_fm_checkpoint(d / "model", ZN)
    ds = make_dataset(300, ZN, seed=5)
    write_h5(ds, d / "cond.h5")
    return d, model, d / "cond.h5"


def read_all(path: Path) -> tuple[dict, dict]:
    with h5py.File(path, "r") as f:
        arrays = {k: f[k][...] for k in ("conditions", "responses", "pdgid")}
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    return arrays, attrs


def assert_same_file(a: Path, b: Path, ignore: tuple[str, ...] = ()) -> None:
    xa, aa = read_all(a)
    xb, ab = read_all(b)
    for k in xa:
        assert np.array_equal(xa[k], xb[k]), k
    for k in set(aa) | set(ab):
        if k not in ignore:
            assert aa.get(k) == ab.get(k), k


# ------------------------------------------------------------------------------------------ shards


def test_shard_rows_partition_the_rows():
    for n, count in ((10, 3), (7, 7), (1000, 6)):
        bounds = [Shard(i, count).rows(n) for i in range(count)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(bounds[i][1] == bounds[i + 1][0] for i in range(count - 1))


@pytest.mark.parametrize("text", ["3/3", "a/2", "1", "-1/2", "0/0"])
def test_bad_shard_text_is_refused(text):
    with pytest.raises(FastZDCError, match="--shard"):
        parse_shard(text)


def test_shard_from_the_environment_and_explicit_wins():
    assert shard_from_env({"RANK": "1", "WORLD_SIZE": "4"}) == Shard(1, 4, "RANK/WORLD_SIZE")
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "1"}
    assert shard_from_env(slurm) == Shard(4, 8, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
    assert shard_from_env({}) == Shard()
    assert resolve_shard("0/1", slurm) == Shard(0, 1, "--shard")
    with pytest.raises(FastZDCError, match="RANK"):
        shard_from_env({"RANK": "4", "WORLD_SIZE": "4"})


# ------------------------------------------------------------------------------- generate + merge


@pytest.mark.parametrize(("chunk", "count"), [(64, 3), (128, 2)])
def test_shards_merged_equal_the_one_process_file(setup, chunk, count):
    d, model, cond = setup
    single = d / f"single_{chunk}.h5"
    generate_to_file(model, cond, single, chunk=chunk, progress=False, seed=4, shard="0/1")
    parts = []
    for i in reversed(range(count)):  # any order
        p = d / f"part_{chunk}_{i}.h5"
        r = generate_to_file(model, cond, p, chunk=chunk, progress=False, seed=4, shard=f"{i}/{count}")
        assert (r["row_start"], r["row_stop"]) == Shard(i, count).rows(300)
        parts.append(p)
    with h5py.File(parts[0], "r") as f:
        assert f.attrs["shard_index"] == count - 1 and f.attrs["shard_count"] == count
        assert len(f.attrs["model_sha256"]) == 64 and f.attrs["seed"] == 4
    merged = d / f"merged_{chunk}.h5"
    r = merge_shards(parts, merged)
    assert r["rows"] == 300 and r["shards"] == count
    assert_same_file(single, merged, ignore=("merged_shards",))
    assert not leftovers(d)


def test_aligned_chunks_are_copied_compressed(tmp_path):
    ds = make_dataset(600, ZN, seed=6)
    write_h5(ds, tmp_path / "c.h5")
    with H5Writer(tmp_path / "j.h5", ZN) as w:
        assert append_file(w, tmp_path / "c.h5", (0, 512))["raw_rows"] == 512
        assert append_file(w, tmp_path / "c.h5", (512, 600))["raw_rows"] == 88
        assert append_file(w, tmp_path / "c.h5", (5, 9))["raw_rows"] == 0  # unaligned: decoded and written
    with h5py.File(tmp_path / "j.h5", "r") as f:
        assert np.array_equal(f["responses"][:600], ds.responses)
        assert np.array_equal(f["responses"][600:], ds.responses[5:9])
        assert np.array_equal(f["conditions"][:600], ds.conditions) and np.array_equal(f["pdgid"][600:], ds.pdgid[5:9])


def test_merge_refuses_missing_duplicate_and_foreign_shards(setup, cli):
    d, model, cond = setup
    p = [d / f"m{i}.h5" for i in range(3)]
    for i in range(3):
        generate_to_file(model, cond, p[i], chunk=64, progress=False, seed=1, shard=f"{i}/3")
    other = d / "other_seed.h5"
    generate_to_file(model, cond, other, chunk=64, progress=False, seed=2, shard="1/3")
    out = d / "merged.h5"
    for args, msg in (([p[0], p[2]], "missing"), ([p[0], p[1], p[1], p[2]], "overlap"), ([p[0], other, p[2]], "seed differs"),
                      ([p[0], p[1]], "missing")):
        r = cli("merge", *args, "-o", out)
        assert r.code == 2 and msg in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert not out.exists()
    assert cli("merge", p[2], p[0], p[1], "-o", out).code == 0 and out.exists()


def test_shard_comes_from_the_environment_in_the_cli(setup, cli, monkeypatch):
    d, model, cond = setup
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    r = cli("generate", "--model", model, "--conditions", cond, "-o", d / "env.h5", "--json")
    assert r.code == 0, r.err
    assert (r.json()["row_start"], r.json()["row_stop"], r.json()["shard_source"]) == (150, 300, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")
    r = cli("generate", "--model", model, "--conditions", cond, "-o", d / "all.h5", "--shard", "0/1", "--json")
    assert r.code == 0 and r.json()["rows"] == 300


# -------------------------------------------------------------------------------- crash and resume


def test_killed_generate_resumes_to_the_same_file(setup, tmp_path):
    _, model, _ = setup
    ds = make_dataset(800, ZN, seed=7)
    cond = tmp_path / "cond.h5"
    write_h5(ds, cond)
    ref = tmp_path / "ref.h5"
    generate_to_file(model, cond, ref, chunk=32, progress=False, seed=9)
    out = tmp_path / "out.h5"
    code = (f"from fastzdc.workflows import generate_to_file; "
            f"generate_to_file({str(model)!r}, {str(cond)!r}, {str(out)!r}, chunk=32, progress=False, seed=9)")
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    wd = work_dir(out)
    kill_after = random.Random(0).randint(1, 4)
    deadline = time.monotonic() + 120
    while len(list(wd.glob("chunk-*.h5"))) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not out.exists()  # never a truncated output
    kept = len(list(wd.glob("chunk-*.h5")))
    assert kept >= kill_after
    r = generate_to_file(model, cond, out, chunk=32, progress=False, seed=9)
    assert r["resumed_rows"] == 32 * kept
    assert_same_file(ref, out)
    assert not wd.exists()


def test_other_arguments_start_again(setup, tmp_path):
    _, model, cond = setup
    out = tmp_path / "o.h5"
    wd = work_dir(out)
    wd.mkdir()
    (wd / "run.json").write_text('{"seed": 1}')
    write_h5(make_dataset(64, ZN), wd / "chunk-00000000.h5")  # a chunk of another run
    r = generate_to_file(model, cond, out, chunk=64, progress=False, seed=3)
    assert r["resumed_rows"] == 0
    ref = tmp_path / "ref.h5"
    generate_to_file(model, cond, ref, chunk=64, progress=False, seed=3)
    assert_same_file(ref, out)


# ------------------------------------------------------------------------------ streamed particles


def test_particles_are_read_by_ranges_as_load_conditions_reads_them(tmp_path, monkeypatch):
    from fastzdc.data import conditions_stream as cs
    from fastzdc.data import load_conditions
    from fastzdc.production.provenance import conditions_sha256

    monkeypatch.setattr(cs, "BLOCK", 16)
    ds = make_dataset(50, ZN, seed=8)
    write_h5(ds, tmp_path / "a.h5")
    with h5py.File(tmp_path / "b.h5", "w") as f:  # 10 columns, no pdgid dataset
        f["conditions"] = np.column_stack([ds.conditions, ds.pdgid]).astype(np.float64)
    np.savetxt(tmp_path / "c.csv", ds.conditions)
    for name in ("a.h5", "b.h5", "c.csv"):
        src = cs.ConditionsSource(tmp_path / name)
        cond, pdg = load_conditions(tmp_path / name)
        assert src.n == 50 and (src._mem is None) == name.endswith(".h5")
        got = [src.rows(a, min(50, a + 7)) for a in range(0, 50, 7)]
        assert np.array_equal(np.concatenate([g[0] for g in got]), cond)
        assert np.array_equal(np.concatenate([g[1] for g in got]), pdg)
        assert src.sha256() == conditions_sha256(cond, pdg)
    bad = ds.conditions.copy()
    bad[40, 0] = -1.0  # in the third block: the message is the whole file's
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["conditions"] = bad
    with pytest.raises(FastZDCError) as whole:
        load_conditions(tmp_path / "bad.h5")
    with pytest.raises(FastZDCError) as streamed:
        cs.ConditionsSource(tmp_path / "bad.h5").sha256()
    assert str(streamed.value) == str(whole.value) and "row 40" in str(whole.value)


def test_a_second_run_on_the_same_output_is_refused(setup, tmp_path):
    from fastzdc.production.workdir import WorkDir

    _, model, cond = setup
    out = tmp_path / "o.h5"
    with WorkDir(out, {"a": 1}):
        with pytest.raises(FastZDCError, match="locked"):
            generate_to_file(model, cond, out, chunk=64, progress=False)
        assert work_dir(out).is_dir()  # the refused run leaves the running one's folder alone
    assert not out.exists()
