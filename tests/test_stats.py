"""Overflow-safe statistics: exact where numpy is exact, finite where numpy overflows."""

import math
import warnings

import numpy as np
import pytest

from initlab.numerics import stats


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loc", [0.0, 0.3, 1e3])
def test_moments_match_numpy_on_ordinary_values(dtype, loc):
    x = (np.random.default_rng(0).standard_normal((300, 200)) * 2.0 + loc).astype(dtype)
    m = stats.moments(x)
    ref = x.astype(np.float64)
    # float32 inputs: sums are pairwise in float32, relative error ~ eps32 * log2(n); 1e-5 covers it.
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert m.mean == pytest.approx(ref.mean(), rel=rtol, abs=rtol * 2)
    assert m.std == pytest.approx(ref.std(), rel=rtol * (1 + loc / 2))  # cancellation grows with mean/std
    assert (m.min, m.max) == (ref.min(), ref.max())
    assert m.frac_nonfinite == 0.0


def test_std_finite_where_naive_std_overflows():
    # Values of 1e30 in float32 are finite (max 3.4e38) but their squares are not.
    x = np.array([1e30, -1e30, 3e30, -2e30], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not np.isfinite(np.std(x))  # the trap
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = stats.moments(x)
    ref = np.std(x.astype(np.float64))
    assert math.isfinite(m.std) and m.std == pytest.approx(ref, rel=1e-6)
    assert m.mean == pytest.approx(np.mean(x.astype(np.float64)), rel=1e-6, abs=1e23)


def test_float64_near_max_is_finite():
    x = np.array([1e300, -1e300, 1.7e308, -1.7e308])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = stats.moments(x)
    assert math.isfinite(m.std) and m.std > 1e308 * 0.5


def test_nonfinite_values_are_counted_and_excluded():
    x = np.array([1.0, 2.0, 3.0, np.inf, np.nan, -np.inf, 5.0, 1.0], dtype=np.float32)
    m = stats.moments(x)
    assert m.frac_nonfinite == pytest.approx(3 / 8)
    assert m.mean == pytest.approx(12 / 5) and m.std == pytest.approx(np.std([1, 2, 3, 5, 1.0]))
    all_bad = stats.moments(np.array([np.nan, np.inf]))
    assert all_bad.frac_nonfinite == 1.0 and math.isnan(all_bad.std)


def test_constant_tensor():
    m = stats.moments(np.zeros((10, 10), dtype=np.float32))
    assert (m.mean, m.std, m.min, m.max, m.frac_nonfinite) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_histograms_account_for_every_value():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((4, 500))
    s[1] = 0.0  # constant layer (zero init)
    s[2, :10] = np.inf
    s[2, 10:15] = -np.inf
    s[2, 15:17] = np.nan
    s[3] = np.nan  # nothing finite
    h = stats.histograms(s)
    total = h.counts.sum(axis=1) + h.n_nan + h.n_posinf + h.n_neginf
    assert (total == 500).all()
    assert h.counts[1].sum() == 500 and h.edges[1, 0] < 0.0 < h.edges[1, -1]
    assert (h.n_posinf[2], h.n_neginf[2], h.n_nan[2]) == (10, 5, 2)
    assert h.n_nan[3] == 500 and h.counts[3].sum() == 0
    assert np.isfinite(h.edges).all()
    # Same counts as numpy's histogram on the same edges for an ordinary layer.
    ref, _ = np.histogram(s[0], bins=h.edges[0])
    assert (ref == h.counts[0]).all()


def test_histogram_edges_finite_at_float64_extremes():
    s = np.array([[-1.7e308, 0.0, 1.7e308]])
    h = stats.histograms(s)
    assert np.isfinite(h.edges).all() and h.counts.sum() == 3
    assert h.counts[0, 0] == 1 and h.counts[0, -1] == 1


def test_sample_percentiles_skip_nonfinite_rows_values():
    s = np.vstack([np.arange(101.0), np.r_[np.arange(100.0), np.inf], np.full(101, np.nan)])
    p = stats.sample_percentiles(s, (50.0,))
    assert p[0, 0] == 50.0 and p[1, 0] == pytest.approx(49.5) and math.isnan(p[2, 0])


def test_tiny_values_keep_their_std_in_float32():
    # Values ~1e-23 are normal float32 numbers, but their squares (1e-46) underflow to 0: a sum-of-squares
    # std would read exactly 0 here although the values differ.
    x = (np.random.default_rng(2).standard_normal(1000) * 1e-23).astype(np.float32)
    m = stats.moments(x)
    ref = x.astype(np.float64).std()
    assert m.std == pytest.approx(ref, rel=1e-5) and m.std > 0


def test_example_std_is_the_mean_over_units_of_the_std_over_examples():
    rng = np.random.default_rng(1)
    # Unit j has its own offset (the same for every example) and its own spread across examples.
    blocks = (rng.standard_normal((3, 64, 32)) * np.arange(1, 33) + 100.0 * rng.standard_normal(32)).astype(np.float32)
    ref = blocks.astype(np.float64).std(axis=1).mean(axis=1)  # numpy: population std over axis 1 (examples)
    # float32 values, float64 arithmetic (after division by the largest magnitude): float64 rounding only.
    np.testing.assert_allclose(stats.example_std(blocks), ref, rtol=1e-12)
    # The offsets between units do not count: the overall std is dominated by them, example_std is not.
    assert ref[0] < 0.5 * blocks[0].std()


def test_example_std_is_overflow_safe_and_nan_where_it_must_be():
    big = np.array([[[1e300, -1e300], [-1e300, 1e300]]])  # squares overflow float64
    assert stats.example_std(big)[0] == pytest.approx(1e300, rel=1e-12)
    tiny = np.array([[[1e-40, 0.0], [-1e-40, 0.0]]], dtype=np.float32)  # float32 squares underflow
    assert stats.example_std(tiny)[0] == pytest.approx(0.5e-40, rel=1e-6)
    layers = np.zeros((3, 4, 2))
    layers[1, 0, 0] = np.inf
    out = stats.example_std(layers)
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == 0.0  # constant layers: 0; a non-finite layer: NaN
    assert np.isnan(stats.example_std(np.ones((2, 1, 5)))).all()  # one example: no spread across examples
