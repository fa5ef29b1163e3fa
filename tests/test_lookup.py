"""The shower-library baseline: nearest-neighbour choice, seeding, thinning, its folder and its row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.baselines import LookupGenerator
from fastzdc.data import Dataset, write_h5
from fastzdc.generator import Generator
from fastzdc.mc import simulate

from .conftest import leftovers


@pytest.fixture(scope="module")
def train_zp():
    b = simulate(600, detectors=("zp",), seed=5, keep_nonempty_only=True)
    return Dataset(b.conditions, b.responses["zp"], b.pdgid, ZP, {"synthetic": True})


def test_k1_returns_the_nearest_training_response(train_zp):
    lib = LookupGenerator.from_dataset(train_zp, k=1)
    assert isinstance(lib, Generator) and lib.n_params == 0 and lib.adjustable == frozenset()
    out = lib.generate(train_zp.conditions[:50], seed=3)
    assert np.array_equal(out, train_zp.responses[:50])  # each particle is its own nearest neighbour


def test_same_seed_same_output_any_batch_size_and_k_gives_variety(train_zp):
    lib = LookupGenerator.from_dataset(train_zp, k=8)
    cond = np.repeat(train_zp.conditions[:5], 300, axis=0)  # 1500 rows: spans two random blocks
    a = lib.generate(cond, seed=1, batch_size=7)
    assert np.array_equal(a, lib.generate(cond, seed=1, batch_size=4096))
    assert not np.array_equal(a, lib.generate(cond, seed=2))
    idx = lib.neighbours(cond[:1])[0]
    picked = {lib.library[i].toarray().tobytes() for i in idx}
    seen = {r.tobytes() for r in a[:300].reshape(300, -1)}
    assert seen <= picked and len(seen) > 1  # only the k neighbours' responses, and more than one of them


def test_rescale_thins_higher_energy_neighbours_only(train_zp):
    lib = LookupGenerator.from_dataset(train_zp, k=1, rescale=True)
    cond = train_zp.conditions[:200].copy()
    cond[:, 0] *= 0.5  # half the energy: about half the light of the picked response is kept
    pick = lib.neighbours(cond)[:, 0]
    out = lib.generate(cond, seed=0).astype(np.int64)
    ref = train_zp.responses[pick].astype(np.int64)
    ratio = out.sum() / ref.sum()
    keep = np.clip(cond[:, 0] / train_zp.conditions[pick, 0], 0, 1)
    assert np.all(out <= ref) and ratio == pytest.approx((keep[:, None, None] * ref).sum() / ref.sum(), rel=0.05)


def test_bad_options_are_one_line_errors(train_zp):
    with pytest.raises(FastZDCError, match="positive integer"):
        LookupGenerator.from_dataset(train_zp, k=0)
    with pytest.raises(FastZDCError, match="at least one"):
        LookupGenerator.from_dataset(train_zp.subset(slice(0, 0)))
    with pytest.raises(FastZDCError, match="no per-call options"):
        LookupGenerator.from_dataset(train_zp).generate(train_zp.conditions[:2], steps=3)
    with pytest.raises(FastZDCError, match="pixels"):
        LookupGenerator(ZN, train_zp.conditions, train_zp.responses)


def test_lookup_folder_generate_and_evaluate(cli, tmp_path, train_zp):
    split = tmp_path / "split"
    split.mkdir()
    write_h5(train_zp.subset(slice(0, 500)), split / "train.h5")
    write_h5(train_zp.subset(slice(500, 600)), split / "test.h5")
    res = cli("lookup", "--data", split / "train.h5", "--out", tmp_path / "lib", "--k", "4", "--json")
    assert res.code == 0, res.err
    info = res.json()
    assert info["rows"] == 500 and info["k"] == 4 and info["memory_mb"] > 0
    card = json.loads((tmp_path / "lib" / "lookup.json").read_text())
    assert card["data"] == "../split/train.h5" and len(card["data_sha256"]) == 64
    assert leftovers(tmp_path) == []
    res = cli("generate", "--model", tmp_path / "lib", "--conditions", split / "test.h5", "-o", tmp_path / "g.h5", "--json")
    assert res.code == 0, res.err
    res = cli("evaluate", "--data", split / "test.h5", "--no-fidelity", "--json")  # train.h5 beside: the row is added
    assert res.code == 0, res.err
    names = [r["name"] for r in res.json()["results"]]
    assert names[0].startswith("original data") and names[1] == "lookup-zp"
    res = cli("evaluate", "--data", split / "test.h5", "--no-fidelity", "--no-lookup", "--json")
    assert [r["name"] for r in res.json()["results"]] == names[:1]
    with open(split / "train.h5", "ab") as f:  # the library's file changed: refused, one line
        f.write(b"\0")
    res = cli("generate", "--model", tmp_path / "lib", "--conditions", split / "test.h5", "-o", tmp_path / "h.h5")
    assert res.code == 2 and "changed" in res.err and len(res.err.strip().splitlines()) == 1


def test_lookup_refuses_to_replace_foreign_folders(cli, tmp_path, train_zp):
    write_h5(train_zp, tmp_path / "train.h5")
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    res = cli("lookup", "--data", tmp_path / "train.h5", "--out", tmp_path / "keep")
    assert res.code == 2 and (tmp_path / "keep" / "notes.txt").read_text() == "mine"
    res = cli("lookup", "--data", tmp_path / "train.h5", "--out", tmp_path / "lib", "--k", "0")
    assert res.code == 2 and "positive integer" in res.err and not (tmp_path / "lib").exists()
