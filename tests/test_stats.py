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


# --- Frobenius norms: one overflow-safe formula, ||x|| = m * sqrt(sum((x / m)^2)), m = max|x| ---------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norms_match_numpy_row_by_row_on_ordinary_values(dtype):
    x = np.random.default_rng(1).standard_normal((4, 30, 20)).astype(dtype)
    ref = np.linalg.norm(x.astype(np.float64).reshape(4, -1), axis=1)
    np.testing.assert_allclose(stats.norms(x), ref, rtol=1e-14)  # float64 on x / m: as exact as numpy
    assert stats.norm(x[0]) == pytest.approx(ref[0], rel=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_norms_are_finite_and_exact_where_float32_squares_overflow_or_underflow(scale):
    x = (np.array([[3.0, -4.0, 0.0, 12.0]]) * scale).astype(np.float32)  # ||(3, 4, 12)|| = 13
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = float(np.sqrt(np.dot(x[0], x[0])))
    assert naive in (math.inf, 0.0)  # the trap: squares of 1e30 overflow float32, squares of 1e-30 flush to 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = stats.norms(x)[0]
    assert got == pytest.approx(13 * float(np.float32(scale)), rel=1e-6)


def test_norms_rules_for_zero_inf_and_nan():
    x = np.array([[0.0, 0.0], [1.0, np.inf], [-np.inf, 2.0], [np.nan, 1.0], [np.inf, np.nan]], dtype=np.float32)
    got = stats.norms(x)
    assert got[0] == 0.0 and got[1] == got[2] == math.inf and np.isnan(got[3:]).all()
    for row, want in zip(x, got):  # the whole-array norm follows the same rules through its fallback
        assert stats.norm(row) == want or (np.isnan(want) and math.isnan(stats.norm(row)))
    assert stats.norm(np.array([1e30, 2e30], dtype=np.float32)) == pytest.approx(math.sqrt(5) * 1e30, rel=1e-6)


def test_norm_fast_path_is_not_trusted_where_float32_squares_underflow():
    x = np.full(100, 1e-20, dtype=np.float32)  # squares 1e-40: subnormal in float32, their BLAS sum is ~0
    assert stats.norm(x) == pytest.approx(10 * float(np.float32(1e-20)), rel=1e-6)
    assert stats.norm(np.zeros(5, dtype=np.float32)) == 0.0

def test_every_norm_the_network_and_the_training_report_is_computed_by_stats(monkeypatch):
    """One home for the norm: the signal network's weight norms and the training's gradient and weight norms
    come from ``stats.norm`` / ``stats.norms``, so replacing those replaces every number."""
    from initlab.signal.network import propagate
    from initlab.signal.scenario import Scenario
    from initlab.training import engine
    from initlab.training.scenario import TrainScenario

    monkeypatch.setattr(stats, "norm", lambda a: 7.0)
    monkeypatch.setattr(stats, "norms", lambda rows: np.full(rows.shape[0], 5.0))
    lay = propagate(Scenario(depth=3, width=8, batch=4)).layers
    assert (lay["weight_norm"] == 7.0).all() and (lay["weight_grad_norm"] == 7.0).all()
    r = engine.train(TrainScenario(hidden=(4,), steps=2, restarts=2, n_train=20, n_test=10), engine="numpy")
    assert (r.grad_norm == 5.0).all() and (r.weight_norm == 5.0).all()


# Modules that take a square root of a sum of squares of an array, the computation that overflows in float32.
_SQUARES = {"dot", "vdot", "inner", "einsum", "square", "norm"}


def test_no_module_but_stats_computes_a_norm_of_an_array():
    """An AST scan: outside ``numerics/stats.py`` no ``sqrt(...)`` has a dot product, ``einsum``, ``square`` or
    ``norm`` inside it, and nothing calls ``np.linalg.norm``; a norm is ``stats.norm`` / ``stats.norms``."""
    import ast
    from pathlib import Path

    pkg = Path(stats.__file__).resolve().parents[1]
    found = []
    for path in sorted(pkg.rglob("*.py")):
        if path == Path(stats.__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            inner = {getattr(n.func, "attr", getattr(n.func, "id", "")) for a in node.args for n in ast.walk(a)
                     if isinstance(n, ast.Call)}
            if (name == "sqrt" and inner & _SQUARES) or ast.unparse(node.func).endswith("linalg.norm"):
                found.append(f"{path.relative_to(pkg.parent)}:{node.lineno}")
    assert not found, f"a norm computed outside numerics/stats.py (use stats.norm / stats.norms): {found}"
