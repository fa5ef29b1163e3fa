"""fastzdc.evaluation: features on hand-made images, classifier AUC on MC vs MC and degraded sets,
FPD/KPD against closed forms and direct loops, conditional slices, diversity, the suite."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
from scipy.ndimage import uniform_filter
from scipy.stats import wasserstein_distance

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.evaluation import (
    FEATURE_NAMES,
    by_energy,
    by_species,
    classifier_auc_features,
    classifier_auc_images,
    diversity,
    diversity_from_counts,
    fidelity_suite,
    fpd,
    frechet_distance,
    hanley_mcneil_se,
    high_level_features,
    kpd,
    mmd2_poly_unbiased,
    photon_sum_agreement,
    species_groups,
    transform_features,
)
from fastzdc.evaluation._threads import limit_threads
from fastzdc.evaluation.features import LOG_COLUMNS
from fastzdc.evaluation.fpd import _line_intercept, normalise_by_reference
from fastzdc.mc import MonteCarloGenerator, simulate

N_MC = 2000


@pytest.fixture(scope="module")
def mc_sets():
    """Filtered stand-in conditions and two independent filtered MC responses of the same particles (ZN)."""
    cond = simulate(n=N_MC, detectors=("zn",), keep_nonempty_only=True, seed=5).conditions
    gen = MonteCarloGenerator(ZN, nonempty=True)
    return cond, gen.generate(cond, seed=1), gen.generate(cond, seed=2)


def degraded(counts: np.ndarray, how: str) -> np.ndarray:
    if how == "scaled":
        return np.rint(counts * 0.8).astype(np.uint16)
    return np.rint(uniform_filter(counts.astype(np.float64), size=(1, 3, 3), mode="constant")).astype(np.uint16)


# ---------------------------------------------------------------- features
@pytest.mark.parametrize("det", [ZN, ZP])
def test_features_single_lit_pixel(det):
    ix, iy = det.nx - 3, 4
    img = np.zeros((2, *det.shape), np.uint16)
    img[0, ix, iy] = 17
    f = high_level_features(det, img)
    assert f.shape == (2, len(FEATURE_NAMES))
    row = dict(zip(FEATURE_NAMES, f[0]))
    assert row["centroid_x"] == ix - (det.nx - 1) / 2 and row["centroid_y"] == iy - (det.ny - 1) / 2
    assert row["width_x"] == 0 and row["width_y"] == 0
    assert row["n_lit"] == 1 and row["max_pixel"] == 17 and row["photon_sum"] == 17
    np.testing.assert_array_equal(f[0, :5], det.channel_sums(img[:1])[0])
    assert f[0, :5].sum() == 17
    # the empty event: everything 0, centroid at the centre
    np.testing.assert_array_equal(f[1], np.zeros(len(FEATURE_NAMES)))


def test_features_two_pixels_by_hand():
    img = np.zeros((1, 44, 44))
    img[0, 10, 20] = 1.0
    img[0, 14, 20] = 3.0
    f = dict(zip(FEATURE_NAMES, high_level_features(ZN, img)[0]))
    assert f["centroid_x"] == pytest.approx(13.0 - 21.5)  # (10 * 1 + 14 * 3) / 4 = 13
    assert f["centroid_y"] == pytest.approx(20 - 21.5)
    assert f["width_x"] == pytest.approx(np.sqrt((1 * 9 + 3 * 1) / 4))
    assert f["width_y"] == 0 and f["n_lit"] == 2 and f["max_pixel"] == 3 and f["photon_sum"] == 4


@pytest.mark.parametrize("det", [ZN, ZP])
def test_features_match_per_event_loop(det):
    rng = np.random.default_rng(3)
    img = rng.poisson(rng.uniform(0, 2, (23, 1, 1)) * rng.random((23, *det.shape)) ** 4).astype(np.uint16)
    img[5] = 0
    f = high_level_features(det, img, chunk=4)  # several chunks
    ii, jj = np.meshgrid(np.arange(det.nx), np.arange(det.ny), indexing="ij")
    for k, im in enumerate(img.astype(np.float64)):
        s = im.sum()
        if s == 0:
            np.testing.assert_array_equal(f[k], 0)
            continue
        cx = np.average(ii, weights=im) - (det.nx - 1) / 2
        cy = np.average(jj, weights=im) - (det.ny - 1) / 2
        wx = np.sqrt(np.average((ii - (det.nx - 1) / 2 - cx) ** 2, weights=im))
        wy = np.sqrt(np.average((jj - (det.ny - 1) / 2 - cy) ** 2, weights=im))
        sums = [im[m].sum() for m in det.channel_masks]
        expected = [*sums, s, cx, cy, wx, wy, np.count_nonzero(im), im.max()]
        np.testing.assert_allclose(f[k], expected, rtol=1e-12, atol=1e-12)


def test_transform_features_and_bad_inputs():
    f = high_level_features(ZN, np.full((1, 44, 44), 2, np.uint16))
    t = transform_features(f)
    np.testing.assert_allclose(t[:, list(LOG_COLUMNS)], np.log1p(f[:, list(LOG_COLUMNS)]))
    other = [j for j in range(len(FEATURE_NAMES)) if j not in LOG_COLUMNS]
    np.testing.assert_array_equal(t[:, other], f[:, other])
    with pytest.raises(FastZDCError):
        high_level_features(ZN, np.zeros((3, 56, 30)))  # ZP shape for ZN
    with pytest.raises(FastZDCError):
        high_level_features(ZN, -np.ones((1, 44, 44)))
    with pytest.raises(FastZDCError):
        high_level_features(ZN, np.full((1, 44, 44), np.nan))
    with pytest.raises(FastZDCError):
        high_level_features(ZN, np.zeros((0, 44, 44)))
    with pytest.raises(FastZDCError):
        transform_features(np.zeros((2, 3)))


# ---------------------------------------------------------------- classifier
def test_hanley_mcneil_closed_form():
    n1, n0 = 300, 500
    # A = 0.5: Q1 = 1/3, Q2 = 1/3  ->  SE^2 = (1/4 + (n1 + n0 - 2) / 12) / (n1 n0)
    assert hanley_mcneil_se(0.5, n1, n0) == pytest.approx(np.sqrt((0.25 + (n1 + n0 - 2) / 12) / (n1 * n0)))
    assert hanley_mcneil_se(1.0, n1, n0) == 0.0
    assert hanley_mcneil_se(0.9, n1, n0) < hanley_mcneil_se(0.6, n1, n0)
    with pytest.raises(FastZDCError):
        hanley_mcneil_se(0.5, 0, 3)


def test_classifier_features_mc_vs_mc_and_degraded(mc_sets):
    cond, a, b = mc_sets
    fa, fb = high_level_features(ZN, a), high_level_features(ZN, b)
    null = classifier_auc_features(fa, fb, seed=0)
    assert null["n_test_per_class"] == N_MC // 2
    assert abs(null["auc"] - 0.5) < 0.05 and abs(null["auc"] - 0.5) < 3.5 * null["auc_err"]
    cnull = classifier_auc_features(fa, fb, conditions=cond, seed=0)
    assert abs(cnull["auc"] - 0.5) < 0.05 and cnull["method"] == "hgb-features+conditions"
    bad = classifier_auc_features(fa, high_level_features(ZN, degraded(b, "scaled")), seed=0)
    assert bad["auc"] > 0.55 and bad["auc"] - 0.5 > 5 * bad["auc_err"]
    # deterministic for one seed
    assert classifier_auc_features(fa, fb, seed=0)["auc"] == null["auc"]


def test_classifier_images_mc_vs_mc_and_blurred(mc_sets):
    _, a, b = mc_sets
    null = classifier_auc_images(ZN, a, b, seed=0, epochs=3)
    assert abs(null["auc"] - 0.5) < 0.05 and abs(null["auc"] - 0.5) < 3.5 * null["auc_err"]
    blurred = classifier_auc_images(ZN, a, degraded(b, "blur"), seed=0, epochs=3)
    assert blurred["auc"] > 0.7 and blurred["auc"] - 0.5 > 10 * blurred["auc_err"]
    small = dict(seed=4, epochs=1, max_events=300)
    first = classifier_auc_images(ZN, a, degraded(b, "blur"), **small)
    assert first["n_train_per_class"] == 150
    assert classifier_auc_images(ZN, a, degraded(b, "blur"), **small)["auc"] == first["auc"]


def test_classifier_images_zp_and_bad_inputs():
    rng = np.random.default_rng(0)
    a = rng.poisson(0.3, (60, 56, 30))
    res = classifier_auc_images(ZP, a, a * 3, seed=1, epochs=2)
    assert res["auc"] > 0.9  # trivially separable, odd-free ZP shape works
    with pytest.raises(FastZDCError):
        classifier_auc_images(ZN, a, a)
    with pytest.raises(FastZDCError):
        classifier_auc_features(np.zeros((10, 12)), np.zeros((10, 12)), test_fraction=1.0)
    with pytest.raises(FastZDCError):
        classifier_auc_features(np.zeros((2, 12)), np.zeros((2, 12)))


def test_limit_threads_restores_settings():
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert torch.get_num_threads() == before
    for bad in (0, 1.5, True):
        with pytest.raises(FastZDCError):
            with limit_threads(bad):
                pass


# ---------------------------------------------------------------- FPD / KPD
def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


def test_frechet_distance_matches_sqrtm_formula():
    rng = np.random.default_rng(7)
    for d in (1, 3, 12):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = _spd(rng, d), _spd(rng, d)
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9, abs=1e-9)
        assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(FastZDCError):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_fpd_gaussians_large_n_limit():
    rng = np.random.default_rng(11)
    d = 3
    mu1, mu2 = np.zeros(d), np.array([0.3, -0.2, 0.1])
    s1 = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    s2 = np.diag([1.4, 0.8, 0.6])
    x = rng.multivariate_normal(mu1, s1, 20_000)
    y = rng.multivariate_normal(mu2, s2, 20_000)
    exact = frechet_distance(mu1, s1, mu2, s2)  # 0.266
    res = fpd(x, y, normalise=False, seed=1)
    assert res["max_samples"] == 20_000 and res["min_samples"] == 8_000
    # the spread of the estimate over independent pools of 20k is 0.010 (measured, 12 pools; mean 0.2670)
    assert res["value"] == pytest.approx(exact, abs=0.04)
    assert fpd(x, y, normalise=False, seed=1) == res


def test_fpd_extrapolation_removes_the_finite_n_bias():
    # same distribution, d = 40, n = 2000: the plain Fréchet distance of the two sets is ~0.45, all
    # of it O(1/n) bias; the 1/N extrapolation must remove it (measured over 10 pools: |FPD| <= 0.052)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 40)), rng.normal(size=(2000, 40))
    plain = frechet_distance(x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T))
    res = fpd(x, y, normalise=False, seed=0)
    assert plain > 0.35 and abs(res["value"]) < 0.2 * plain


def test_fpd_normalisation_is_scale_invariant():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3000, 4)), rng.normal(0.2, 1.1, size=(3000, 4))
    scale = np.array([1.0, 10.0, 1e3, 0.01])
    a = fpd(x, y, seed=3, num_batches=4, num_points=4)
    b = fpd(x * scale, y * scale, seed=3, num_batches=4, num_points=4)
    assert b["value"] == pytest.approx(a["value"], rel=1e-9, abs=1e-12)
    assert b["err"] == pytest.approx(a["err"], rel=1e-6)
    xn, yn = normalise_by_reference(np.c_[x, np.zeros(3000)], np.c_[y, np.ones(3000)])
    assert np.abs(xn[:, :4]).max(axis=0) == pytest.approx(np.ones(4)) and (yn[:, 4] == 1).all()
    with pytest.raises(FastZDCError):
        fpd(x, y, max_samples=5000)
    with pytest.raises(FastZDCError):
        fpd(x, y[:, :3])
    with pytest.raises(FastZDCError):
        fpd(x, np.full_like(y, np.nan))


def test_line_fit_matches_curve_fit():
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(9)
    x = 1.0 / np.linspace(1 / 2000, 1 / 5000, 10)
    y = 0.3 + 40.0 / x + rng.normal(0, 1e-3, 10)
    params, cov = curve_fit(lambda t, a, b: a * t + b, 1.0 / x, y)
    b, err = _line_intercept(1.0 / x, y)
    assert b == pytest.approx(params[1], rel=1e-6) and err == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-4)


def test_mmd_unbiased_matches_direct_loop():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(5, 3))

    def k(a, b):
        return (a @ b / 3 + 1.0) ** 4

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert mmd2_poly_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    # paired: rows i of both sets form a pair; the k(x_i, y_i) cross terms are left out
    xp = x[:5]
    pkxx = sum(k(xp[i], xp[j]) for i in range(5) for j in range(5) if i != j) / 20
    pkxy = sum(k(xp[i], y[j]) + k(y[i], xp[j]) for i in range(5) for j in range(5) if i != j) / 20
    assert mmd2_poly_unbiased(xp, y, paired=True) == pytest.approx(pkxx + kyy - pkxy, rel=1e-10)
    with pytest.raises(FastZDCError):
        mmd2_poly_unbiased(x[:1], y)
    with pytest.raises(FastZDCError):
        mmd2_poly_unbiased(x, y, paired=True)


def test_kpd_identical_near_zero_shifted_positive():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 5))
    same = kpd(x, rng.normal(size=(2000, 5)), seed=0)
    shifted = kpd(x, rng.normal(0.3, 1.0, size=(2000, 5)), seed=0)
    assert same["batch_size"] == 1000 and same["num_batches"] == 10 and same["paired"]
    assert abs(same["value"]) < 3 * same["err"] + 1e-4
    assert shifted["value"] > 20 * max(same["err"], abs(same["value"]))
    unpaired = kpd(x, rng.normal(size=(1500, 5)), seed=0, num_batches=3)
    assert not unpaired["paired"] and unpaired["batch_size"] == 750
    assert kpd(x[:300], x[::-1][:300], seed=0) == kpd(x[:300], x[::-1][:300], seed=0)
    with pytest.raises(FastZDCError):
        kpd(x, x, batch_size=1)
    with pytest.raises(FastZDCError):
        kpd(x, x[:10], paired=True)


def test_fpd_kpd_on_mc_features(mc_sets):
    _, a, b = mc_sets
    xa, xb = transform_features(high_level_features(ZN, a)), transform_features(high_level_features(ZN, b))
    xs = transform_features(high_level_features(ZN, degraded(b, "scaled")))
    xl = transform_features(high_level_features(ZN, degraded(b, "blur")))
    f_null, f_scaled, f_blur = fpd(xa, xb, seed=0), fpd(xa, xs, seed=0), fpd(xa, xl, seed=0)
    k_null, k_blur = kpd(xa, xb, seed=0), kpd(xa, xl, seed=0)
    # paired sets (same conditions): no O(1/n) negative bias; values measured: ~1e-4 (null),
    # ~2e-3 (scaled by 0.8), ~0.11 (blurred); the pool-to-pool spread of the null is ~3e-4
    assert abs(f_null["value"]) < 1e-3 and f_null["paired"]
    assert f_scaled["value"] > f_null["value"] and f_blur["value"] > 0.05
    assert abs(k_null["value"]) < 5e-4 and k_blur["value"] > 0.01 and k_blur["value"] > 5 * k_blur["err"]


# ---------------------------------------------------------------- conditional
def test_species_groups_from_mass_and_charge():
    rows = [(0.0, 0), (939.565, 0), (938.272, 1), (938.272, -1), (139.57, 1), (493.677, -1), (497.611, 0),
            (1115.683, 0), (1672.45, -1), (0.511, -1), (777.0, 0)]
    cond = np.zeros((len(rows), 9), np.float32)
    cond[:, 0] = 100.0
    cond[:, 7], cond[:, 8] = [r[0] for r in rows], [r[1] for r in rows]
    expected = ["gamma/e/pi0", "n", "p", "pbar", "pi+-/K+-", "pi+-/K+-", "K0", "hyperon", "hyperon",
                "gamma/e/pi0", "other"]
    assert species_groups(cond).tolist() == expected
    pdg = np.array([2112] * len(rows))
    assert set(species_groups(cond, pdg)) == {"n"}
    with pytest.raises(FastZDCError):
        species_groups(cond, pdg[:-1])


def _toy_features(n, rng, scale=1.0):
    f = np.zeros((n, len(FEATURE_NAMES)))
    f[:, :5] = rng.exponential(50.0, (n, 5)) * scale
    f[rng.random(n) < 0.2, :5] = 0
    f[:, 5] = f[:, :5].sum(1)
    return f


def test_by_energy_and_species_slices():
    rng = np.random.default_rng(6)
    n = 400
    cond = np.zeros((n, 9), np.float32)
    cond[:, 0] = np.r_[np.full(100, 50.0), np.full(290, 500.0), np.full(10, 5000.0)]
    cond[:, 7] = np.where(np.arange(n) % 2, 939.565, 0.0)
    ref = _toy_features(n, rng)
    gen = ref.copy()
    gen[100:390, :5] *= 1.5
    gen[100:390, 5] *= 1.5
    bins = by_energy(cond, ref, gen)
    assert [b["n"] for b in bins] == [100, 0, 290, 0, 10]
    assert bins[0]["w_mean"] == 0 and bins[0]["photon_sum"]["ratio"] == 1.0
    sel = slice(100, 390)
    w = np.mean([wasserstein_distance(ref[sel, c], gen[sel, c]) for c in range(5)])
    assert bins[2]["w_mean"] == pytest.approx(w) and bins[2]["photon_sum"]["ratio"] == pytest.approx(1.5)
    assert bins[2]["empty_fraction"]["difference"] == 0
    assert bins[4]["w_mean"] is None  # 10 < MIN_EVENTS
    assert bins[1]["w_mean"] is None and bins[4]["hi"] is None and bins[4]["label"] == ">= 3000 GeV"
    sp = by_species(cond, ref, gen)
    assert [s["species"] for s in sp] == ["gamma/e/pi0", "n"] and [s["n"] for s in sp] == [200, 200]
    with pytest.raises(FastZDCError):
        by_energy(cond[:-1], ref, gen)
    with pytest.raises(FastZDCError):
        by_energy(cond, ref, gen, edges=(0.0, 10.0, 5.0))


def test_photon_sum_agreement_by_hand():
    ref = np.zeros((4, len(FEATURE_NAMES)))
    gen = np.zeros((4, len(FEATURE_NAMES)))
    ref[:, 5] = [0, 10, 20, 30]
    gen[:, 5] = [0, 0, 20, 40]
    p = photon_sum_agreement(ref, gen)
    assert p["mean_reference"] == 15 and p["mean_generated"] == 15 and p["ratio"] == 1
    assert p["w1"] == pytest.approx(wasserstein_distance(ref[:, 5], gen[:, 5]))
    e = p["empty_fraction"]
    assert (e["reference"], e["generated"], e["difference"]) == (0.25, 0.5, 0.25)
    assert e["difference_err"] == pytest.approx(np.sqrt(0.25 * 0.75 / 4 + 0.25 / 4))


# ---------------------------------------------------------------- diversity
def test_diversity_from_counts_by_hand():
    k, n = 3, 4
    rng = np.random.default_rng(8)
    vals = rng.integers(1, 50, (k, n))
    model = np.zeros((k * n, 44, 44), np.uint16)
    model[np.arange(k * n), 3, 5] = vals.ravel()
    ref = np.zeros_like(model)
    ref[np.arange(k * n), 3, 5] = 2 * vals.ravel()
    d = diversity_from_counts(ZN, model, ref, k)
    assert d["k"] == k and d["n_conditions"] == n
    assert d["photon_sum"]["model"] == pytest.approx(vals.std(axis=0, ddof=1).mean())
    assert d["photon_sum"]["ratio"] == pytest.approx(0.5)
    # spreads proportional condition by condition: the correlated error of the ratio vanishes
    assert d["photon_sum"]["ratio_err"] == pytest.approx(0.0, abs=1e-9)
    assert d["centroid_x"]["model"] == 0 and d["centroid_x"]["ratio"] is None
    with pytest.raises(FastZDCError):
        diversity_from_counts(ZN, model, ref, 5)
    with pytest.raises(FastZDCError):
        diversity_from_counts(ZN, model, ref, 1)


class _Collapsed:
    """A degenerate generator: the Monte Carlo with one fixed seed for every row's repeats (no diversity)."""

    name = "collapsed"
    detector = ZN
    n_params = 0

    def generate(self, conditions, *, seed=None, batch_size=8192, device=None):
        c = np.asarray(conditions)
        uniq, inv = np.unique(c, axis=0, return_inverse=True)
        return MonteCarloGenerator(ZN, nonempty=True).generate(uniq, seed=123)[inv.ravel()]


def test_diversity_mc_vs_mc_and_collapsed(mc_sets):
    cond = mc_sets[0]
    mc = MonteCarloGenerator(ZN, nonempty=True)
    d = diversity(mc, MonteCarloGenerator(ZN, nonempty=True), cond, k=4, n_conditions=150, seed=3)
    assert d["model_name"] == "mc-fast-filtered" and d["n_conditions"] == 150
    for name in ("photon_sum", "log1p_photon_sum"):
        assert abs(d[name]["ratio"] - 1) < max(0.25, 3 * d[name]["ratio_err"])
    c = diversity(_Collapsed(), mc, cond, k=4, n_conditions=150, seed=3)
    assert c["photon_sum"]["model"] == 0 and c["photon_sum"]["ratio"] == 0
    with pytest.raises(FastZDCError):
        diversity(mc, MonteCarloGenerator(ZP), cond)


# ---------------------------------------------------------------- suite
def test_fidelity_suite_keys_json_and_determinism(mc_sets):
    cond, a, b = mc_sets
    n = 800
    r = fidelity_suite(ZN, cond[:n], a[:n], b[:n], seed=0, quick=True)
    text = json.dumps(r, allow_nan=False)
    assert set(r) == {"detector", "n_events", "seed", "quick", "features", "channels", "photon_sum",
                      "energy_bins", "species", "classifier", "single_features", "fpd", "kpd", "timing_s"}
    assert set(r["classifier"]) == {"features", "features_conditional", "sums", "sums_conditional", "images"}
    assert [f["name"] for f in r["single_features"]] == list(FEATURE_NAMES)
    assert r["n_events"] == n and r["classifier"]["images"] is None
    assert r["features"]["names"] == list(FEATURE_NAMES) and len(r["channels"]["w_per_channel"]) == 5
    assert abs(r["classifier"]["features"]["auc"] - 0.5) < 0.1
    again = fidelity_suite(ZN, cond[:n], a[:n], b[:n], seed=0, quick=True)
    r.pop("timing_s"), again.pop("timing_s")
    for part in ("classifier",):
        for v in (*r[part].values(), *again[part].values()):
            if v:
                v.pop("seconds")
    assert again == r and len(text) > 0
    with pytest.raises(FastZDCError):
        fidelity_suite(ZN, cond[:n], a[:n], b[: n - 1])


def test_conditional_classifier_sees_responses_of_the_wrong_particle():
    """Responses shuffled among the particles keep every marginal: only the conditional tests notice."""
    from fastzdc.evaluation import fidelity_suite
    from fastzdc.mc import MonteCarloGenerator, simulate

    b = simulate(3000, detectors=("zn",), seed=8, keep_nonempty_only=True)
    ref = b.responses["zn"]
    again = MonteCarloGenerator("zn", nonempty=True).generate(b.conditions, seed=9)
    shuffled = again[np.random.default_rng(0).permutation(len(again))]
    fs = fidelity_suite(ZN, b.conditions, ref, shuffled, quick=True, seed=1)
    cls = fs["classifier"]
    assert cls["sums"]["auc"] < 0.56 and cls["features"]["auc"] < 0.56  # marginals agree
    assert cls["sums_conditional"]["auc"] > 0.65 and cls["features_conditional"]["auc"] > 0.65
    fair = fidelity_suite(ZN, b.conditions, ref, again, quick=True, seed=1)["classifier"]
    assert fair["sums_conditional"]["auc"] < 0.56


def test_single_feature_aucs_point_at_the_distorted_feature():
    from fastzdc.evaluation.classifier import single_feature_aucs
    from fastzdc.evaluation.features import FEATURE_NAMES

    rng = np.random.default_rng(2)
    ref = np.abs(rng.normal(5, 1, (4000, 12)))
    gen = np.abs(rng.normal(5, 1, (4000, 12)))
    gen[:, FEATURE_NAMES.index("max_pixel")] *= 1.3
    aucs = {a["name"]: a["auc"] for a in single_feature_aucs(ref, gen, seed=0)}
    assert max(aucs, key=aucs.get) == "max_pixel" and aucs["max_pixel"] > 0.6
    assert all(abs(v - 0.5) < 0.05 for k, v in aucs.items() if k != "max_pixel")
