"""Command-line behaviour: --json output, bad arguments (one line, exit 2, no file), determinism, demo."""

from __future__ import annotations

import itertools
import json

import h5py
import numpy as np
import pytest

from .conftest import leftovers


def test_help_everywhere(cli):
    for cmd in ([], ["simulate"], ["convert"], ["info"], ["split"], ["train"], ["generate"], ["evaluate"], ["demo"], ["mc", "calibrate"]):
        res = cli(*cmd, "--help")
        assert res.code == 0 and "Usage" in res.out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["-n", "0"], "positive"),
        (["-n", "-5"], "positive"),
        (["-n", "10", "--detector", "zdc"], "unknown detector"),
        (["-n", "10", "--mode", "full"], "unknown mode"),
        (["-n", "10", "--repeat", "0"], "repeat"),
        ([], "give -n"),
    ],
)
def test_simulate_bad_arguments(cli, tmp_path, args, msg):
    res = cli("simulate", "--out", tmp_path / "x.h5", *args)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["generate", "--bogus"], ["simulate", "-n"], ["export", "onnx", "--no-such"]])
def test_usage_errors_are_reported_as_such_not_as_internal_errors(cli, args):
    res = cli(*args)
    assert res.code == 2 and "Error: " in res.err and "unexpected" not in res.err


def test_simulate_unwritable_and_malformed_conditions(cli, tmp_path):
    res = cli("simulate", "-n", "10", "--out", tmp_path / "missing" / "x.h5")
    assert res.code == 2 and "does not exist" in res.err
    bad = tmp_path / "cond.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    res = cli("simulate", "--conditions", bad, "--out", tmp_path / "y.h5", "--detector", "zn")
    assert res.code == 2 and "9 columns" in res.err and len(res.err.strip().splitlines()) == 1
    bad.write_text("1000,0,0,0,0,0,1000,939.565,nan\n")
    res = cli("simulate", "--conditions", bad, "--out", tmp_path / "y.h5", "--detector", "zn")
    assert res.code == 2 and "NaN" in res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cond.csv"]


def test_simulate_same_seed_identical_files_and_labels(cli, tmp_path):
    for name in ("a", "b"):
        res = cli("simulate", "-d", "both", "-n", "300", "--seed", "4", "--out", tmp_path / f"{name}.h5", "--json")
        assert res.code == 0
        assert res.json()["rows"] == {"zn": 300, "zp": 300}
    for det in ("zn", "zp"):
        with h5py.File(tmp_path / f"a_{det}.h5") as fa, h5py.File(tmp_path / f"b_{det}.h5") as fb:
            assert np.array_equal(fa["responses"][...], fb["responses"][...])
            assert np.array_equal(fa["conditions"][...], fb["conditions"][...])
            assert fa.attrs["synthetic"] and "not GEANT" in fa.attrs["generator"] and fa.attrs["seed"] == 4
            assert len(fa.attrs["params_hash"]) >= 8
    # O2 filter: no event with both images empty
    with h5py.File(tmp_path / "a_zn.h5") as fn, h5py.File(tmp_path / "a_zp.h5") as fp:
        both_empty = (fn["responses"][...].reshape(300, -1).sum(1) == 0) & (fp["responses"][...].reshape(300, -1).sum(1) == 0)
        assert not both_empty.any()
    assert leftovers(tmp_path) == []


def test_simulate_npz_repeat_and_conditions(cli, tmp_path):
    cond = tmp_path / "c.txt"
    cond.write_text("# E vx vy vz px py pz m q pdg\n1000 0 0 0 0 0 1000 939.565 0 2112\n500 0 0 0 0 0 -500 0 0 22\n")
    res = cli("simulate", "--conditions", cond, "--repeat", "3", "-d", "zn", "--format", "npz", "--out", tmp_path / "r.npz", "--json")
    assert res.code == 0, res.err
    from fastzdc.data import read_npz_pair

    ds = read_npz_pair(tmp_path / "r_responses.npz")
    assert len(ds) == 6 and ds.synthetic and ds.pdgid.tolist() == [2112] * 3 + [22] * 3
    assert np.allclose(ds.conditions[:3, 0], 1000) and np.allclose(ds.conditions[3:, 0], 500)
    sums = ds.responses.reshape(6, -1).sum(1)
    assert len(set(sums[:3].tolist())) > 1  # independent draws of one particle differ


def test_info_json_is_one_object(cli, tmp_path):
    cli("simulate", "-d", "zp", "-n", "200", "--out", tmp_path / "p.h5")
    res = cli("info", tmp_path / "p.h5", "--json")
    obj = json.loads(res.out)
    assert obj["rows"] == 200 and obj["detector"] == "zp" and obj["synthetic"] is True


def test_demo_quick_smoke(cli, tmp_path):
    res = cli("demo", "--quick", "--out", tmp_path / "demo", "--json")
    assert res.code == 0, res.err
    obj = res.json()
    assert obj["synthetic"] and {r["detector"] for r in obj["results"]} == {"zn", "zp"}
    floors = [r for r in obj["results"] if r["extra"].get("is_floor")]
    assert len(floors) == 2 and all(r["w_mean"] > 0 for r in floors)
    gated = sorted(r["detector"] for r in obj["results"] if r["name"].endswith(" + gate"))
    assert gated == ["zn", "zp"]  # the students behind the shipped response gate
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved["results"] == obj["results"]


def test_mc_calibrate_cli_passes(cli):
    res = cli("mc", "calibrate", "-n", "20000", "--json")
    obj = res.json()
    assert res.code == 0 and obj["all_passed"] is True
    names = " ".join(r["name"] for r in obj["rows"])
    assert "ZP empty fraction" in names and len(obj["rows"]) >= 20
    assert cli("mc", "calibrate", "-n", "10").code == 2


def test_allocator_tuning_is_accepted_on_glibc():
    """The CLI's mallopt settings (no mmap for large blocks, no trim) are accepted by glibc; elsewhere a no-op."""
    import platform

    from fastzdc._alloc import tune_allocator

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert tune_allocator() is expected


@pytest.mark.parametrize("command", [["generate"], ["fit"], ["merge"], ["train"], ["lookup"], ["evaluate"], ["gate", "train"]])
def test_help_paragraphs_flow_to_the_terminal_width(cli, monkeypatch, command):
    """A docstring's line breaks never reach the help: every description line but a paragraph's last is full."""
    monkeypatch.setenv("COLUMNS", "80")
    res = cli(*command, "--help")
    assert res.code == 0
    lines = [line.rstrip() for line in res.out.splitlines()]
    desc = lines[: next(i for i, line in enumerate(lines) if "Options" in line and "─" in line)]
    short = [a.strip() for a, b in itertools.pairwise(desc) if a.strip() and b.strip() and len(a) < 62
             and not a.strip().startswith("Usage")]
    assert short == []
