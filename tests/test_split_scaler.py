"""The published split and the scaler (JSON and O2 text formats)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler as SkScaler

from fastzdc import FastZDCError
from fastzdc.data import StandardScaler, published_split


def test_published_sizes_for_the_zn_set():
    sp = published_split(306_780)
    assert (sp.train.size, sp.val.size, sp.test.size) == (214_746, 30_678, 61_356)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(10, 3000))
def test_split_is_a_partition_and_equals_sklearn_on_arrays(n):
    sp = published_split(n)
    allidx = np.concatenate([sp.train, sp.val, sp.test])
    assert np.array_equal(np.sort(allidx), np.arange(n))
    # the papers split the arrays themselves: same rows must come out
    data = np.arange(n) * 10 + 3
    a_tv, a_test = train_test_split(data, test_size=0.2, random_state=42)
    a_train, a_val = train_test_split(a_tv, test_size=0.125, random_state=43)
    assert np.array_equal(data[sp.test], a_test) and np.array_equal(data[sp.train], a_train)
    assert np.array_equal(data[sp.val], a_val)


def test_split_too_small():
    with pytest.raises(FastZDCError):
        published_split(5)


def test_scaler_matches_sklearn_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 9)) * rng.uniform(1e-6, 1e3, 9) + rng.normal(size=9)
    x[:, 8] = 0.0  # constant feature: scale 1
    ours = StandardScaler.fit(x)
    sk = SkScaler().fit(x)
    np.testing.assert_allclose(ours.mean, sk.mean_)
    np.testing.assert_allclose(ours.scale, sk.scale_)
    np.testing.assert_allclose(ours.transform(x), sk.transform(x).astype(np.float32), rtol=1e-5, atol=1e-5)
    ours.save_json(tmp_path / "s.json")
    ours.save_o2(tmp_path / "s.txt")
    for back in (StandardScaler.load_json(tmp_path / "s.json"), StandardScaler.load_o2(tmp_path / "s.txt")):
        np.testing.assert_array_equal(back.mean, ours.mean)  # repr() of floats is exact
        np.testing.assert_array_equal(back.scale, ours.scale)
    text = (tmp_path / "s.txt").read_text()
    assert text.startswith("#means\n") and "\n\n#scales\n" in text
    assert len(text.split("#scales")[1].split()) == 9


def test_reads_o2_shipped_layout():
    text = "#means\n" + "\n".join(str(v) for v in range(1, 10)) + "\n\n#scales\n" + "\n".join("2.5" for _ in range(9)) + "\n"
    s = StandardScaler.from_o2_text(text)
    assert s.mean.tolist() == list(map(float, range(1, 10))) and (s.scale == 2.5).all()


@pytest.mark.parametrize(
    "text,msg",
    [
        ("#means\n1\n2\n#scales\n1\n2\n", "9 means"),
        ("#means\n" + "1\n" * 9, "missing #scales"),
        ("#means\n" + "1\n" * 8 + "x\n#scales\n" + "1\n" * 9, "not a number"),
        ("#means\n" + "1\n" * 9 + "#scales\n" + "1\n" * 8 + "0\n", "positive"),
    ],
)
def test_bad_o2_text(text, msg):
    with pytest.raises(FastZDCError, match=msg):
        StandardScaler.from_o2_text(text)


def test_split_cli_fits_scaler_on_train_only(cli, tmp_path):
    from fastzdc.data import load_dataset, write_h5

    from .conftest import make_dataset

    ds = make_dataset(200)
    write_h5(ds, tmp_path / "all.h5")
    res = cli("split", tmp_path / "all.h5", "--out-dir", tmp_path / "s", "--json")
    assert res.code == 0
    assert res.json()["rows"] == {"train": 140, "val": 20, "test": 40}
    train = load_dataset(tmp_path / "s" / "train.h5")
    scaler = StandardScaler.load_o2(tmp_path / "s" / "scaler.txt")
    np.testing.assert_allclose(scaler.mean, train.conditions.astype(np.float64).mean(0), rtol=1e-6)
    assert not np.allclose(scaler.mean, ds.conditions.astype(np.float64).mean(0), rtol=1e-6)
