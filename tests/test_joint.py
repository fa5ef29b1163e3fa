"""ZN and ZP of the same particles: the floor drawn given O2's filter from the command line."""

from __future__ import annotations

import h5py
import numpy as np
import pytest


def _lit(path) -> np.ndarray:
    with h5py.File(path) as f:
        r = f["responses"][...]
    return r.reshape(len(r), -1).any(axis=1)


@pytest.fixture(scope="module")
def filtered_pair(tmp_path_factory):
    """300 filtered stand-in particles, ZN and ZP files sharing their rows."""
    from fastzdc.workflows import simulate_to_files

    d = tmp_path_factory.mktemp("pair")
    simulate_to_files(d / "s.h5", n=300, seed=5, progress=False)
    return d


def test_given_filter_redraws_empty_events_and_keeps_every_row(cli, filtered_pair, tmp_path):
    src = filtered_pair / "s_zn.h5"
    res = cli("simulate", "--conditions", src, "-o", tmp_path / "g.h5", "--given-filter", "--seed", "3", "--json")
    assert res.code == 0, res.err
    assert res.json()["rows"] == {"zn": 300, "zp": 300} and res.json()["o2_filter"] is True
    assert (_lit(tmp_path / "g_zn.h5") | _lit(tmp_path / "g_zp.h5")).all()
    with h5py.File(tmp_path / "g_zn.h5") as f, h5py.File(src) as s:
        assert np.array_equal(f["conditions"][...], s["conditions"][...]) and bool(f.attrs["o2_filter"])
    res = cli("simulate", "--conditions", src, "-o", tmp_path / "u.h5", "--seed", "3", "--json")
    assert res.code == 0 and res.json()["o2_filter"] is False
    empty = ~(_lit(tmp_path / "u_zn.h5") | _lit(tmp_path / "u_zp.h5"))
    assert empty.mean() > 0.02  # the unconditioned re-simulation leaves some events with both detectors empty


@pytest.mark.parametrize("extra,msg", [([], "--conditions"), (["--no-filter"], "--no-filter")])
def test_given_filter_refuses_what_it_cannot_mean(cli, filtered_pair, tmp_path, extra, msg):
    args = ["-n", "10"] if not extra else ["--conditions", filtered_pair / "s_zn.h5", *extra]
    res = cli("simulate", *args, "-o", tmp_path / "x.h5", "--given-filter")
    assert res.code == 2 and msg in res.err and len(res.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
