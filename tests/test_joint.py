"""ZN and ZP of the same particles: the floor drawn given O2's filter from the command line."""

from __future__ import annotations

import json

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


# --------------------------------------------------------------------------- joint generation
class _Flaky:
    """A stand-in generator: row i of a call with seed s is empty with probability ``p_empty``, else a
    random number of photons in one fibre (from the seed and the row only)."""

    def __init__(self, detector, p_empty: float = 0.3) -> None:
        from fastzdc import get_detector

        self.detector = get_detector(detector)
        self.name = f"flaky-{self.detector.name}"
        self.sampler: dict = {}
        self.p_empty = p_empty

    def generate(self, conditions, *, seed, batch_size=4096, **_):
        rng = np.random.default_rng(seed)
        n = len(conditions)
        out = np.zeros((n, *self.detector.shape), np.uint16)
        count = rng.integers(1, 1000, n)
        count[rng.random(n) < self.p_empty] = 0
        out[:, 0, 0] = count
        return out


@pytest.fixture(scope="module")
def untrained_gate():
    """A gate with random weights and a scaler fitted on stand-in particles (mechanics only)."""
    import torch

    from fastzdc.data import StandardScaler
    from fastzdc.inference.gate import Gate
    from fastzdc.mc import sample_particles
    from fastzdc.nn.gate import GateNet

    cond, _ = sample_particles(500, 1)
    torch.manual_seed(0)
    net = GateNet(hidden=8, depth=1)
    scaler = StandardScaler.fit(cond)
    net.set_scaler(scaler.mean, scaler.scale)
    return Gate(net, scaler), cond


def test_joint_draws_lit_detectors_non_empty_and_empty_ones_zero(untrained_gate):
    from fastzdc.inference.joint import JointGenerator

    gate, cond = untrained_gate
    cond = np.tile(cond, (4, 1))
    jg = JointGenerator(gate, _Flaky("zn"), _Flaky("zp"))
    for include_none in (False, True):
        r = jg.generate(cond, seed=4, include_none=include_none)
        assert r["empty_after_retries"] == {"zn": 0, "zp": 0}
        for bit, d in ((1, "zn"), (2, "zp")):
            lit = r[d].reshape(len(cond), -1).any(axis=1)
            assert np.array_equal(lit, (r["states"] & bit) > 0)
        assert ((r["states"] == 0).any()) == include_none
    again = jg.generate(cond, seed=4, batch_size=7)
    first = jg.generate(cond, seed=4)
    assert all(np.array_equal(again[k], first[k]) for k in ("zn", "zp", "states"))


def test_the_rank_copula_correlates_the_picked_responses(untrained_gate):
    from scipy.stats import spearmanr

    from fastzdc.inference.joint import JointGenerator

    gate, cond = untrained_gate
    cond = np.tile(cond, (4, 1))
    rs = {}
    for rho in (0.0, 0.7):
        jg = JointGenerator(gate, _Flaky("zn", 0.0), _Flaky("zp", 0.0), rho={"pooled": rho}, candidates=8)
        r = jg.generate(cond, seed=1)
        both = r["states"] == 3
        rs[rho] = spearmanr(r["zn"][both, 0, 0], r["zp"][both, 0, 0])[0]
    assert abs(rs[0.0]) < 0.1 and rs[0.7] > 0.2  # within the both-lit quadrant: truncation weakens it


def test_rank_copula_fit_finds_no_hidden_correlation_where_there_is_none():
    from fastzdc.mc import sample_particles
    from fastzdc.mc.copula import fit_rank_copula

    cond, pdg = sample_particles(400, 3)
    rho = fit_rank_copula(cond, pdg, draws=8, seed=1)
    assert set(rho) >= {"pooled"} and abs(rho["pooled"]) < 0.15


def _tiny_models(folder):
    from fastzdc import ZN, ZP

    from .conftest import random_fm_checkpoint

    return random_fm_checkpoint(folder / "zn", ZN), random_fm_checkpoint(folder / "zp", ZP)


@pytest.fixture(scope="module")
def tiny_gate_dir(tmp_path_factory):
    from fastzdc.joint import train_gate_files
    from fastzdc.workflows import simulate_to_files

    d = tmp_path_factory.mktemp("tgate")
    simulate_to_files(d / "raw.h5", n=1200, seed=8, keep_nonempty_only=False, progress=False)
    train_gate_files(d / "raw.h5", d / "gate", progress=False, epochs=2, hidden=16, depth=1, copula_rows=200,
                     copula_draws=4)
    return d


def test_generate_both_writes_a_pair_in_the_particles_order(cli, filtered_pair, tiny_gate_dir, tmp_path, one_torch_thread):
    zn, zp = _tiny_models(tmp_path)
    args = ["generate", "--detector", "both", "--conditions", filtered_pair / "s_zn.h5", "-o", tmp_path / "g.h5",
            "--joint", f"gate={tiny_gate_dir / 'gate'}", "--joint", f"zn={zn}", "--joint", f"zp={zp}", "--json"]
    res = cli(*args)
    assert res.code == 0, res.err
    r = res.json()
    assert r["rows"] == 300 and r["include_none"] is False and r["states"]["none"] == 0
    assert sum(r["states"].values()) == 300
    with h5py.File(tmp_path / "g_zn.h5") as a, h5py.File(tmp_path / "g_zp.h5") as b, h5py.File(filtered_pair / "s_zn.h5") as s:
        assert np.array_equal(a["conditions"][...], s["conditions"][...])
        assert np.array_equal(b["conditions"][...], s["conditions"][...])
    csv = tmp_path / "p.csv"
    with h5py.File(filtered_pair / "s_zn.h5") as s:
        np.savetxt(csv, s["conditions"][:50], delimiter=",")
    res = cli(*args[:4], csv, "-o", tmp_path / "h.h5", *args[7:])
    assert res.code == 0, res.err
    assert res.json()["include_none"] is True  # a particle list is raw: the gate may say "no response"
    res = cli("generate", "--detector", "both", "--conditions", csv, "-o", tmp_path / "k.h5", "--joint", "colour=red")
    assert res.code == 2 and "unknown key" in res.err


# --------------------------------------------------------------------------- joint evaluation
def test_joint_scores_are_zero_distance_for_identical_responses(filtered_pair):
    from fastzdc.data.pair import read_lit_pair
    from fastzdc.evaluation.joint import joint_scores, occupancy

    assert occupancy(np.array([0, 1, 0, 2]), np.array([0, 0, 3, 1])) == {"none": 0.25, "zn_only": 0.25, "zp_only": 0.25,
                                                                         "both": 0.25}
    pair, resp = read_lit_pair(filtered_pair / "s_zn.h5", filtered_pair / "s_zp.h5", keep="responses")
    ref = (resp["zn"], resp["zp"])
    s = joint_scores(pair.conditions, pair.pdgid, ref, ref, classifier=True)
    assert s["targets"]["overall"]["max_cell_pp"] == 0 and s["targets"]["overall"]["correlation_diff"] == 0
    assert s["auc_joint_conditional"]["value"] == pytest.approx(0.5, abs=1e-9)  # identical rows: nothing to learn
    assert s["auc_sums_conditional_zn"]["value"] == pytest.approx(0.5, abs=1e-9)
    swapped = (resp["zn"][::-1], resp["zp"])  # right marginals, wrong pairing
    s = joint_scores(pair.conditions, pair.pdgid, ref, swapped, classifier=False)
    assert s["targets"]["overall"]["max_cell_pp"] > 2


def test_evaluate_both_scores_floor_lookup_and_models(cli, filtered_pair, tiny_gate_dir, tmp_path, one_torch_thread):
    zn, zp = _tiny_models(tmp_path)
    raw = tiny_gate_dir
    res = cli("evaluate", "--detector", "both", "--data", filtered_pair / "s_zp.h5", "--max-rows", "120",
              "--out", tmp_path / "ev", "--quick", "--joint", f"gate={raw / 'gate'}", "--joint", f"zn={zn}",
              "--joint", f"zp={zp}", "--joint", f"lookup_zn={raw / 'raw_zn.h5'}", "--joint", f"lookup_zp={raw / 'raw_zp.h5'}",
              "--json")
    assert res.code == 0, res.err
    r = res.json()
    names = [row["name"] for row in r["results"]]
    assert names[0].startswith("Monte Carlo floor (given the filter)") and names[1].startswith("look-up")
    assert names[2].startswith("independent") and names[3].startswith("joint")
    assert r["results"][0]["generated"]["overall"]["occupancy"]["none"] == 0  # drawn given O2's filter
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["results"][3]["w"] == r["results"][3]["w"]
    assert "Occupancy" in (tmp_path / "ev" / "report.html").read_text()
    res = cli("evaluate", "--detector", "both", "--data", filtered_pair / "s_zp.h5", "--joint",
              f"lookup_zn={raw / 'raw_zn.h5'}", "--joint", f"lookup_zp={filtered_pair / 's_zp.h5'}")
    assert res.code == 2 and "not the particles" in res.err


def test_python_api_load_joint(tiny_gate_dir, tmp_path, one_torch_thread):
    import fastzdc

    zn, zp = _tiny_models(tmp_path)
    jg = fastzdc.load_joint(tiny_gate_dir / "gate", zn, zp)
    cond = fastzdc.simulate(40, detector="zn", seed=3).conditions
    r = jg.generate(cond, seed=0)
    assert r["zn"].shape == (40, 44, 44) and r["zp"].shape == (40, 56, 30) and (r["states"] > 0).all()
    with pytest.raises(fastzdc.FastZDCError, match="ZN and a ZP"):
        fastzdc.load_joint(tiny_gate_dir / "gate", zp, zn)
