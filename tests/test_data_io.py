"""Data I/O: lossless round trips and one clear error (exit code 2, no output) per defect."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.data import (
    load_conditions,
    load_dataset,
    pair_paths,
    read_h5,
    read_npz_pair,
    write_h5,
    write_npz_pair,
)

from .conftest import leftovers, make_dataset


def _same(a, b):
    assert a.detector == b.detector
    np.testing.assert_array_equal(a.conditions, b.conditions)
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.pdgid, b.pdgid)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), zp=st.booleans(), seed=st.integers(0, 2**16), big=st.booleans())
def test_npz_h5_npz_is_lossless(tmp_path, n, zp, seed, big):
    ds = make_dataset(n, ZP if zp else ZN, seed)
    if big:  # counts beyond uint16 force uint32 storage
        ds.responses = ds.responses.astype(np.uint32)
        ds.responses[0, 0, 0] = 70000
    d = tmp_path / f"case{seed}_{n}_{zp}_{big}"
    d.mkdir()
    write_npz_pair(ds, d / "a_responses.npz")
    first = read_npz_pair(d / "a_responses.npz")
    write_h5(first, d / "a.h5")
    second = read_h5(d / "a.h5")
    write_npz_pair(second, d / "b_responses.npz")
    third = read_npz_pair(d / "b_particles.npz")  # either member finds its partner
    for x in (first, second, third):
        _same(ds, x)


def test_h5_attributes(tmp_path, zn_dataset):
    write_h5(zn_dataset, tmp_path / "x.h5", {"seed": 7, "params_hash": "abc"})
    with h5py.File(tmp_path / "x.h5") as f:
        assert f["responses"].dtype == np.uint16 and f["responses"].chunks is not None
        assert f["responses"].compression == "gzip"
        assert f.attrs["synthetic"] and f.attrs["detector"] == "zn" and f.attrs["seed"] == 7
        assert list(f.attrs["feature_units"]) == ["GeV", "cm", "cm", "cm", "GeV", "GeV", "GeV", "MeV", "e"]
        assert f.attrs["format_version"] == 1
    assert load_dataset(tmp_path / "x.h5").synthetic


def test_pair_paths():
    assert pair_paths("d/data_nonrandom_responses.npz")[1] == Path("d/data_nonrandom_particles.npz")
    assert pair_paths("d/data_nonrandom_particles.npz")[0] == Path("d/data_nonrandom_responses.npz")
    assert pair_paths("x.npz")[1] == Path("x_particles.npz")


def test_nine_column_particles_and_text_conditions(tmp_path, zn_dataset):
    np.savez(tmp_path / "p_responses.npz", arr_0=zn_dataset.responses)
    np.savez(tmp_path / "p_particles.npz", arr_0=zn_dataset.conditions)
    ds = read_npz_pair(tmp_path / "p_responses.npz")
    assert (ds.pdgid == 0).all()
    txt = tmp_path / "c.csv"
    txt.write_text("E,vx,vy,vz,px,py,pz,mass,charge,pdg\n1000,0,0,0,0,0,1000,939.565,0,2112\n")
    cond, pdg = load_conditions(txt)
    assert cond.shape == (1, 9) and pdg.tolist() == [2112]


# ----------------------------------------------------------------------------- defects
def _write_pair(folder: Path, responses, particles, name="bad"):
    np.savez(folder / f"{name}_responses.npz", arr_0=responses)
    np.savez(folder / f"{name}_particles.npz", arr_0=particles)
    return folder / f"{name}_responses.npz"


def _particles(ds):
    return np.column_stack([ds.conditions, ds.pdgid]).astype(np.float64)


def _defect_missing_key(folder, ds):
    np.savez(folder / "bad_responses.npz", images=ds.responses)
    np.savez(folder / "bad_particles.npz", arr_0=_particles(ds))
    return folder / "bad_responses.npz", "missing key"


def _defect_wrong_shape(folder, ds):
    return _write_pair(folder, ds.responses[:, :40, :40], _particles(ds)), "shape"


def _defect_wrong_dtype(folder, ds):
    return _write_pair(folder, ds.responses.astype("U3"), _particles(ds)), "dtype"


def _defect_negative(folder, ds):
    r = ds.responses.astype(np.int32)
    r[3, 1, 1] = -1
    return _write_pair(folder, r, _particles(ds)), "negative"


def _defect_nonfinite_counts(folder, ds):
    r = ds.responses.astype(np.float32)
    r[5, 2, 2] = np.inf
    return _write_pair(folder, r, _particles(ds)), "NaN or inf"


def _defect_nan_features(folder, ds):
    p = _particles(ds)
    p[2, 4] = np.nan
    return _write_pair(folder, ds.responses, p), "NaN or inf"


def _defect_row_mismatch(folder, ds):
    return _write_pair(folder, ds.responses, _particles(ds)[:-3]), "row-count mismatch"


def _defect_empty_file(folder, ds):
    (folder / "bad_responses.npz").write_bytes(b"")
    np.savez(folder / "bad_particles.npz", arr_0=_particles(ds))
    return folder / "bad_responses.npz", "empty"


def _defect_no_rows(folder, ds):
    return _write_pair(folder, ds.responses[:0], _particles(ds)[:0]), "no rows"


def _defect_truncated(folder, ds):
    path = _write_pair(folder, ds.responses, _particles(ds))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, "corrupt"


def _defect_corrupt_h5(folder, ds):
    write_h5(ds, folder / "bad.h5")
    data = (folder / "bad.h5").read_bytes()
    (folder / "bad.h5").write_bytes(data[:600])
    return folder / "bad.h5", "corrupt"


def _defect_h5_missing_dataset(folder, ds):
    with h5py.File(folder / "bad.h5", "w") as f:
        f["responses"] = ds.responses
        f["pdgid"] = ds.pdgid
    return folder / "bad.h5", "missing dataset 'conditions'"


def _defect_non_integer_counts(folder, ds):
    r = ds.responses.astype(np.float64)
    r[0, 0, 0] = 0.5
    return _write_pair(folder, r, _particles(ds)), "integer"


DEFECTS = {f.__name__[len("_defect_") :]: f for f in list(globals().values()) if callable(f) and getattr(f, "__name__", "").startswith("_defect_")}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_gives_one_line_error_exit_2_and_no_output(tmp_path, cli, zn_dataset, defect):
    src_dir = tmp_path / "in"
    out_dir = tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    src, message = DEFECTS[defect](src_dir, zn_dataset)
    with pytest.raises(FastZDCError, match=message) as err:
        load_dataset(src)
    assert str(src.name) in str(err.value) or "particles" in str(err.value)
    dst = out_dir / ("x.h5" if src.suffix == ".npz" else "x_responses.npz")
    res = cli("convert", src, dst)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastzdc: error: ") and message.split()[0] in lines[0]
    assert list(out_dir.iterdir()) == []  # nothing written, no temp files


def test_missing_file(cli, tmp_path):
    res = cli("info", tmp_path / "nope.h5")
    assert res.code == 2 and "file not found" in res.err


def test_unwritable_output(cli, tmp_path, zn_dataset):
    write_h5(zn_dataset, tmp_path / "a.h5")
    res = cli("convert", tmp_path / "a.h5", tmp_path / "no_such_dir" / "b.h5")
    assert res.code == 2 and "does not exist" in res.err


def test_interrupted_write_leaves_nothing(tmp_path, zn_dataset):
    from fastzdc.data import H5Writer

    with pytest.raises(RuntimeError), H5Writer(tmp_path / "x.h5", ZN) as w:
        w.append(zn_dataset.conditions, zn_dataset.responses, zn_dataset.pdgid)
        raise RuntimeError("crash mid-way")
    assert list(tmp_path.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_cli_convert_and_info_json(cli, tmp_path, zp_dataset):
    write_npz_pair(zp_dataset, tmp_path / "zp_responses.npz")
    res = cli("convert", tmp_path / "zp_particles.npz", tmp_path / "zp.h5", "--json")
    assert res.code == 0 and res.json()["rows"] == len(zp_dataset)
    info = cli("info", tmp_path / "zp.h5", "--json").json()
    assert info["rows"] == len(zp_dataset) and info["detector"] == "zp" and info["synthetic"]
    assert info["max_pixel"] == int(zp_dataset.responses.max())
    sums = zp_dataset.responses.reshape(len(zp_dataset), -1).sum(1)
    assert info["empty_fraction"] == pytest.approx(np.mean(sums == 0))
    assert info["photon_sum"]["median"] == pytest.approx(np.median(sums))
    assert info["zero_pixel_fraction"] == pytest.approx(np.mean(zp_dataset.responses == 0))
    assert info["features"]["E"]["unit"] == "GeV"


def test_bad_zip_detected(tmp_path):
    p = tmp_path / "z_responses.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("arr_0.npy", b"not an npy file")
    np.savez(tmp_path / "z_particles.npz", arr_0=np.zeros((1, 10)))
    with pytest.raises(FastZDCError, match="corrupt|numeric"):
        load_dataset(p)
