"""Property tests of the boundary validators."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fastzdc import ZN, ZP, FastZDCError
from fastzdc.data.validate import validate_conditions, validate_pdgid, validate_responses


@settings(max_examples=40, deadline=None)
@given(arr=arrays(np.int64, st.tuples(st.integers(1, 4), st.sampled_from([(44, 44), (56, 30)])).map(lambda t: (t[0], *t[1])),
                  elements=st.integers(0, 70000)))
def test_valid_counts_pass_and_keep_values(arr):
    out, det = validate_responses(arr, "x.npz")
    assert det is (ZN if arr.shape[1:] == (44, 44) else ZP)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == (np.uint16 if arr.max() <= 65535 else np.uint32)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), pos=st.integers(0, 10**6), bad=st.sampled_from([-1.0, np.nan, np.inf, -np.inf, 0.5]))
def test_any_single_bad_count_is_rejected_with_its_row(n, pos, bad):
    arr = np.zeros((n, 44, 44), np.float64)
    flat = pos % arr.size
    arr.reshape(-1)[flat] = bad
    with pytest.raises(FastZDCError, match=f"row {flat // (44 * 44)}") as err:
        validate_responses(arr, "f.npz")
    assert str(err.value).startswith("f.npz: ")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), row=st.integers(0, 100), col=st.integers(0, 8), bad=st.sampled_from([np.nan, np.inf, -np.inf, 1e39]))
def test_any_bad_feature_is_rejected(n, row, col, bad):
    x = np.ones((n, 9))
    x[row % n, col] = bad
    with pytest.raises(FastZDCError, match="NaN or inf|overflow"):
        validate_conditions(x, "p.npz")


@pytest.mark.parametrize("shape", [(3, 8), (3, 10), (9,), (3, 9, 1)])
def test_feature_shapes(shape):
    with pytest.raises(FastZDCError, match="shape"):
        validate_conditions(np.zeros(shape))


def test_pdgid_checks():
    assert validate_pdgid(np.array([22.0, 2112.0]), 2).tolist() == [22, 2112]
    with pytest.raises(FastZDCError):
        validate_pdgid(np.array([22.5, 1.0]), 2)
    with pytest.raises(FastZDCError):
        validate_pdgid(np.array([1, 2, 3]), 2)
