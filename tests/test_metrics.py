"""Metrics: identities against SciPy, hand-computed MAE/RMSE, pooling, the evaluation entry point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import wasserstein_distance

from fastzdc import ZN, ZP
from fastzdc.evaluation.metrics import (
    compare_counts,
    evaluate_generator,
    mae_per_channel,
    pixel_rmse,
    wasserstein_per_channel,
)
from fastzdc.generator import Generator, GeneratorDefaults

floats = st.floats(0, 1e4, allow_nan=False, width=64)


@settings(max_examples=50, deadline=None)
@given(a=arrays(np.float64, st.tuples(st.integers(1, 60), st.just(5)), elements=floats),
       b=arrays(np.float64, st.tuples(st.integers(1, 60), st.just(5)), elements=floats))
def test_wasserstein_equals_scipy(a, b):
    w = wasserstein_per_channel(a, b)
    for c in range(5):
        assert abs(w[c] - wasserstein_distance(a[:, c], b[:, c])) <= 1e-9 * max(1.0, abs(w[c]))


def test_wasserstein_random_and_shift():
    rng = np.random.default_rng(1)
    a = rng.exponential(100, (2000, 5))
    assert wasserstein_per_channel(a, a + 3.0) == pytest.approx(np.full(5, 3.0))
    b = rng.exponential(120, (1500, 5))
    ref = [wasserstein_distance(a[:, c], b[:, c]) for c in range(5)]
    np.testing.assert_allclose(wasserstein_per_channel(a, b), ref, rtol=0, atol=1e-9)


def test_mae_and_rmse_by_hand():
    ref = np.array([[1.0, 2, 3, 4, 5], [0, 0, 0, 0, 0]])
    gen = np.array([[2.0, 2, 3, 4, 9], [0, 0, 0, 0, 10]])
    np.testing.assert_allclose(mae_per_channel(ref, gen), [0.5, 0, 0, 0, 7])
    a = np.zeros((2, 44, 44))
    b = np.zeros((2, 44, 44))
    b[0, 0, 0] = 4.0
    assert pixel_rmse(a, b) == pytest.approx(np.sqrt(16 / a.size))


def test_compare_counts_pooling_and_identity():
    rng = np.random.default_rng(0)
    ref = rng.poisson(1.0, (30, 44, 44))
    gen = np.concatenate([ref, ref])
    s = compare_counts(ZN, ref, gen, n_rep=2)
    assert s["w_mean"] == 0 and s["mae"] == 0 and s["rmse"] == 0
    shifted = np.concatenate([ref, ref + 1])
    s2 = compare_counts(ZN, ref, shifted, n_rep=2)
    ch_pixels = ZN.channel_masks.reshape(5, -1).sum(1)
    # half of the pooled rows shifted by +1 per pixel: W = MAE = pixels/2 per channel
    np.testing.assert_allclose(s2["w_per_channel"], ch_pixels / 2)
    assert s2["mae"] == pytest.approx(ch_pixels.mean() / 2) and s2["mae_div5"] == pytest.approx(s2["mae"] / 5)
    with pytest.raises(ValueError):
        compare_counts(ZN, ref, gen[:-1], n_rep=2)


class OracleGenerator(GeneratorDefaults):
    """Returns the reference response of each condition row (looked up by energy): W = MAE = 0."""

    name = "oracle"

    def __init__(self, cond, resp, det):
        self.detector = det
        self._lookup = {float(e): r for e, r in zip(cond[:, 0], resp, strict=True)}

    def generate(self, conditions, *, seed=None, batch_size=8192, device=None, advance=None):
        assert isinstance(self, Generator)
        return np.stack([self._lookup[float(e)] for e in conditions[:, 0]])


def test_evaluate_generator_oracle_is_perfect():
    rng = np.random.default_rng(2)
    cond = rng.normal(size=(40, 9)).astype(np.float32)
    resp = rng.poisson(0.5, (40, 56, 30))
    row, gen = evaluate_generator(OracleGenerator(cond, resp, ZP), cond, resp, n_rep=5)
    assert gen.shape == (200, 56, 30)
    assert row.w_mean == 0 and row.mae == 0 and row.n_rep == 5 and row.n_test == 40 and row.detector == "zp"
    assert row.time_per_sample_ms >= 0


def test_channel_sums_chunking_is_exact():
    """Large inputs are summed in chunks; chunk boundaries must not change the result."""
    rng = np.random.default_rng(0)
    imgs = rng.poisson(0.3, (101, 44, 44)).astype(np.uint16)
    np.testing.assert_array_equal(ZN.channel_sums(imgs, chunk=7), ZN.channel_sums(imgs))
    assert ZN.channel_sums(imgs).sum() == imgs.sum()


def test_w_from_sorted_sums_equals_scipy_with_tiling():
    from fastzdc.evaluation.metrics import w_sorted

    rng = np.random.default_rng(4)
    ref = rng.exponential(30, (200, 5))
    gen = rng.exponential(33, (3 * 200, 5))
    fast = w_sorted(np.sort(ref, axis=0), np.sort(gen, axis=0), 3)
    slow = [wasserstein_distance(np.tile(ref[:, c], 3), gen[:, c]) for c in range(5)]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_bootstrap_errors_shrink_with_the_test_size_and_the_floor_ratio_is_one():
    from fastzdc.evaluation.metrics import bootstrap_w

    rng = np.random.default_rng(5)

    def errs(n):
        ref = rng.exponential(30, (n, 5))
        sums = {"floor": rng.exponential(30, (2 * n, 5)), "model": rng.exponential(36, (2 * n, 5))}
        return bootstrap_w(ref, sums, 2, floor="floor", n_boot=60, seed=1)

    small, large = errs(300), errs(4800)
    assert large["model"]["w_err"] < 0.5 * small["model"]["w_err"]  # ~ 1 / sqrt(n)
    assert small["floor"]["w_over_floor_err"] == 0.0 and large["model"]["w_over_floor_err"] > 0
