"""Tests for initlab.weights.activations: values, derivatives, gains, saturation rules, edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from initlab.weights import activations as A

NAMES = A.names()
LAM, ALPHA = A.SELU_LAMBDA, A.SELU_ALPHA
EPS64 = np.finfo(np.float64).eps


def _phi_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# --------------------------------------------------------------------------------------------
# registry


def test_names_and_get() -> None:
    assert NAMES == ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "softplus"]
    for n in NAMES:
        a = A.get(n)
        assert isinstance(a, A.Activation)
        assert a.name == n and a.label and a.description and a.gain_source
    with pytest.raises(Exception):  # frozen
        A.get("relu").gain = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["ReLU", "gelu_exact", "", None])
def test_unknown_name_raises_with_name_and_choices(bad: object) -> None:
    with pytest.raises(ValueError) as exc:
        A.get(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(exc.value)
    assert "leaky_relu" in str(exc.value)


# --------------------------------------------------------------------------------------------
# derivatives

# Central difference D_h f(z) = (f(z+h) - f(z-h)) / 2h has truncation error h^2/6 |f'''| and
# rounding error ~ eps |f| / h.  On |z| <= 6 every f''' here is below 10 in magnitude and |f| <= 6.4,
# so with h = 1e-6 the error is <= 1e-12 * 10 / 6 + 2.2e-16 * 6.4 / 1e-6 * 2 ~ 3e-9; atol 1e-7 leaves
# a wide margin while still catching any formula slip (which shows up at 1e-3 or more).
FD_H = 1e-6
FD_ATOL = 1e-7
# Grid avoiding the kink at 0 (relu family, elu, selu) by more than FD_H.
Z_GRID = np.concatenate([np.linspace(-6.0, -1e-3, 300), np.linspace(1e-3, 6.0, 300)])


@pytest.mark.parametrize("name", NAMES)
def test_deriv_matches_central_difference(name: str) -> None:
    a = A.get(name)
    fd = (a.fn(Z_GRID + FD_H) - a.fn(Z_GRID - FD_H)) / (2 * FD_H)
    np.testing.assert_allclose(a.deriv(Z_GRID), fd, rtol=0, atol=FD_ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_deriv_from_output_consistent(name: str) -> None:
    a = A.get(name)
    if name in ("gelu", "swish"):
        assert a.deriv_from_output is None  # non-monotone: h does not determine z
        return
    assert a.deriv_from_output is not None
    z = np.linspace(-8.0, 8.0, 1601)  # includes 0
    np.testing.assert_allclose(a.deriv_from_output(a.fn(z)), a.deriv(z), rtol=1e-10, atol=1e-14)
    z32 = z.astype(np.float32)
    np.testing.assert_allclose(a.deriv_from_output(a.fn(z32)), a.deriv(z32), rtol=2e-5, atol=1e-6)


def test_kink_conventions() -> None:
    assert A.get("relu").deriv(0.0) == 0.0  # as TF / PyTorch
    assert A.get("leaky_relu").deriv(0.0) == pytest.approx(0.2)
    assert A.get("elu").deriv(0.0) == 1.0
    assert A.get("selu").deriv(0.0) == pytest.approx(LAM * ALPHA, rel=1e-15)
    assert A.get("selu").deriv(1e-9) == pytest.approx(LAM, rel=1e-15)


def test_values_against_closed_forms() -> None:
    z = np.linspace(-5, 5, 101)
    s = 1 / (1 + np.exp(-z))
    c = math.sqrt(2 / math.pi)
    expected = {
        "linear": z,
        "sigmoid": s,
        "tanh": np.tanh(z),
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.2 * z),
        "elu": np.where(z > 0, z, np.expm1(z)),
        "selu": LAM * np.where(z > 0, z, ALPHA * np.expm1(z)),
        "gelu": 0.5 * z * (1 + np.tanh(c * (z + 0.044715 * z**3))),
        "swish": z * s,
        "softplus": np.log1p(np.exp(z)),
    }
    for n, want in expected.items():
        np.testing.assert_allclose(A.get(n).fn(z), want, rtol=1e-13, atol=1e-15, err_msg=n)


def test_gelu_close_to_exact_erf_form() -> None:
    z = np.linspace(-8, 8, 16001)
    exact = 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    err = np.max(np.abs(A.get("gelu").fn(z) - exact))
    assert err < 1e-3  # the documented bound (actual max ~4.7e-4)
    assert "1e-3" in A.get("gelu").description


# --------------------------------------------------------------------------------------------
# dtype, scalars, special values


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_and_input_untouched(name: str, dtype: type) -> None:
    a = A.get(name)
    z = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)
    z0 = z.copy()
    fns = [a.fn, a.deriv] + ([a.deriv_from_output] if a.deriv_from_output else [])
    for f in fns:
        out = f(z)
        assert out.dtype == dtype and out.shape == z.shape
        assert out is not z
    np.testing.assert_array_equal(z, z0)
    assert isinstance(a.fn(dtype(0.5)), dtype)  # scalar in -> numpy scalar of the same dtype
    assert a.fn(np.arange(3)).dtype == np.float64  # ints are computed in float64


_INF = np.inf


def _expected_special() -> dict[str, tuple[list[float], list[float]]]:
    # inputs: +inf, -inf, +1e30, -1e30  ->  (fn values, deriv values)
    return {
        "linear": ([_INF, -_INF, 1e30, -1e30], [1, 1, 1, 1]),
        "sigmoid": ([1, 0, 1, 0], [0, 0, 0, 0]),
        "tanh": ([1, -1, 1, -1], [0, 0, 0, 0]),
        "relu": ([_INF, 0, 1e30, 0], [1, 0, 1, 0]),
        "leaky_relu": ([_INF, -_INF, 1e30, -2e29], [1, 0.2, 1, 0.2]),
        "elu": ([_INF, -1, 1e30, -1], [1, 0, 1, 0]),
        "selu": ([_INF, -LAM * ALPHA, LAM * 1e30, -LAM * ALPHA], [LAM, 0, LAM, 0]),
        "gelu": ([_INF, 0, 1e30, 0], [1, 0, 1, 0]),
        "swish": ([_INF, 0, 1e30, 0], [1, 0, 1, 0]),
        "softplus": ([_INF, 0, 1e30, 0], [1, 0, 1, 0]),
    }


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_without_warnings(name: str, dtype: type) -> None:
    a = A.get(name)
    want_f, want_d = _expected_special()[name]
    z = np.array([_INF, -_INF, 1e30, -1e30, np.nan], dtype=dtype)
    # a wide sweep of magnitudes, from subnormal-ish to the float max, both signs
    big = np.finfo(dtype).max
    mags = np.append(np.geomspace(1e-40, 1e300 if dtype == np.float64 else 1e38, 400), big)
    sweep = np.concatenate([mags, -mags]).astype(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, d = a.fn(z), a.deriv(z)
        np.testing.assert_allclose(f[:4], np.array(want_f, dtype=dtype), rtol=rtol, atol=0)
        np.testing.assert_allclose(d[:4], np.array(want_d, dtype=dtype), rtol=rtol, atol=0)
        assert np.isnan(f[4]) and np.isnan(d[4])  # nan in -> nan out
        if a.deriv_from_output is not None:
            dfo = a.deriv_from_output(f)
            np.testing.assert_allclose(dfo[:4], np.array(want_d, dtype=dtype), rtol=rtol, atol=0)
            assert np.isnan(dfo[4])
        for out in (a.fn(sweep), a.deriv(sweep)):
            assert not np.isnan(out).any()
        assert not np.isnan(a.fn(z[:4])).any()


def test_softplus_large_and_tiny() -> None:
    sp = A.get("softplus")
    assert sp.fn(1e30) == 1e30
    assert sp.fn(-50.0) == pytest.approx(math.exp(-50.0), rel=1e-14)  # left tail keeps relative accuracy


# --------------------------------------------------------------------------------------------
# gains


def test_pytorch_gains_exact() -> None:
    table = {
        "linear": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3.0,
        "relu": math.sqrt(2.0),
        "leaky_relu": math.sqrt(2.0 / (1.0 + 0.2**2)),  # with this activation's slope 0.2
        "selu": 0.75,
    }
    for n, g in table.items():
        a = A.get(n)
        assert a.gain == g, n
        assert a.gain_source.startswith("PyTorch calculate_gain"), n


COMPUTED = ["elu", "gelu", "swish", "softplus"]


@pytest.mark.parametrize("name", COMPUTED)
def test_computed_gain_matches_monte_carlo(name: str) -> None:
    a = A.get(name)
    assert a.gain == A.second_moment_gain(a)
    assert "1/sqrt(E[f(z)^2])" in a.gain_source
    n = 2_000_000
    f2 = a.fn(np.random.default_rng(12345).standard_normal(n)) ** 2
    m, se = f2.mean(), f2.std() / math.sqrt(n)
    # 5 standard errors: a false failure has probability ~6e-7 (and the seed is fixed anyway).
    assert abs(1.0 / a.gain**2 - m) < 5 * se


def test_second_moment_closed_forms() -> None:
    assert A.second_moment_gain("relu") == pytest.approx(math.sqrt(2.0), abs=1e-12)
    assert A.second_moment("linear") == pytest.approx(1.0, abs=1e-12)
    assert A.second_moment("leaky_relu") == pytest.approx((1 + 0.2**2) / 2, abs=1e-12)
    # E[(e^Z - 1)^2 1{Z<0}] = e^2 Phi(-2) - 2 e^(1/2) Phi(-1) + 1/2, using E[e^{aZ} 1{Z<0}] = e^{a^2/2} Phi(-a)
    left = math.exp(2) * _phi_cdf(-2) - 2 * math.exp(0.5) * _phi_cdf(-1) + 0.5
    assert A.second_moment("elu") == pytest.approx(0.5 + left, abs=1e-12)
    assert A.second_moment("selu") == pytest.approx(LAM**2 * (0.5 + ALPHA**2 * left), abs=1e-12)


def test_gains_take_the_one_gaussian_rule() -> None:
    # One Gaussian expectation in initlab (numerics.gaussian): the gains are its E[f(Z)^2], to the bit, and
    # no second rule is left in this module.
    from initlab.numerics import gaussian as G

    assert not hasattr(A, "gaussian_expectation")
    for name in NAMES:
        f = A.get(name).fn
        assert A.second_moment(name) == float(G.expectation(lambda u: f(u) ** 2, 1.0))
    # 1/sqrt(E[f(Z)^2]) by mpmath.quad at 30 digits (split at -5, 0, 5); the former 96-node rule of this
    # module was 1.1e-14 off for sigmoid.
    assert A.second_moment_gain("sigmoid") == pytest.approx(1.846228545338605413, rel=4e-15, abs=0)
    assert A.second_moment_gain("softplus") == pytest.approx(1.041866835535301708, rel=4e-15, abs=0)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "swish", "softplus"])
def test_second_moment_agrees_with_gauss_hermite_for_smooth(name: str) -> None:
    # For smooth f, plain Gauss-Hermite converges fast; it must agree with the split quadrature.
    x, w = hermegauss(150)
    gh = float(np.sum(w * A.get(name).fn(x) ** 2) / math.sqrt(2 * math.pi))
    assert A.second_moment(name) == pytest.approx(gh, abs=1e-12)


# --------------------------------------------------------------------------------------------
# saturation and dead units


def test_sigmoid_saturation_boundary() -> None:
    a = A.get("sigmoid")
    assert a.saturation_threshold == 0.025
    r = math.sqrt(0.9)
    z_star = math.log((1 + r) / (1 - r))  # s(1-s) = 0.025  <=>  s = (1 +- sqrt(0.9)) / 2
    s = 1 / (1 + math.exp(-z_star))
    assert s * (1 - s) == pytest.approx(0.025, rel=1e-12)
    for sign in (1, -1):
        for z in (z_star + 1e-6, z_star + 0.1, z_star + 10):
            assert a.deriv(sign * z) < a.saturation_threshold
        for z in (z_star - 1e-6, z_star - 0.1, 0.0):
            assert a.deriv(sign * z) >= a.saturation_threshold


@pytest.mark.parametrize(
    ("name", "z_star", "both_tails"),
    [
        ("tanh", math.atanh(math.sqrt(0.9)), True),
        ("elu", math.log(0.1), False),
        ("selu", math.log(0.1), False),  # threshold 0.1 lambda alpha: same boundary as elu
        ("softplus", -math.log(9.0), False),
    ],
)
def test_saturation_boundaries(name: str, z_star: float, both_tails: bool) -> None:
    a = A.get(name)
    thr = a.saturation_threshold
    assert thr is not None
    if both_tails:
        for sign in (1, -1):
            assert a.deriv(sign * (z_star + 1e-6)) < thr <= a.deriv(sign * (z_star - 1e-6))
    else:
        assert a.deriv(z_star - 1e-6) < thr <= a.deriv(z_star + 1e-6)
        assert a.deriv(50.0) >= thr  # the right side never saturates


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "selu", "softplus", "gelu", "swish"])
def test_threshold_is_ten_percent_of_max_derivative(name: str) -> None:
    a = A.get(name)
    z = np.concatenate([np.linspace(-40, 40, 800_001), [0.0, 1e3]])
    d = a.deriv(z)
    # grid spacing 1e-4: the sampled max is within f'' * 1e-8 / 2 of the true sup
    assert a.saturation_threshold == pytest.approx(0.1 * d.max(), rel=1e-8)
    assert d.max() <= a.saturation_threshold * 10 * (1 + 1e-15)


def test_gelu_swish_hardcoded_maxima() -> None:
    for name, zmax, dmax in (("gelu", 1.4185040087908284, A.GELU_MAX_DERIV), ("swish", 2.3993572805154677, A.SWISH_MAX_DERIV)):
        a = A.get(name)
        assert a.deriv(zmax) == pytest.approx(dmax, rel=1e-14)
        # zmax is a stationary point: f'' = 0 there (checked by a central difference of f')
        h = 1e-5
        assert abs((a.deriv(zmax + h) - a.deriv(zmax - h)) / (2 * h)) < 1e-8


def test_no_threshold_for_piecewise_linear() -> None:
    for name in ("linear", "relu", "leaky_relu"):
        assert A.get(name).saturation_threshold is None


def test_can_die() -> None:
    assert [n for n in NAMES if A.get(n).can_die] == ["relu"]
    relu = A.get("relu")
    z = np.array([-3.0, -1e-12, 0.0])
    assert np.all(relu.fn(z) == 0) and np.all(relu.deriv(z) == 0)
    leaky = A.get("leaky_relu")
    assert np.all(leaky.deriv(z) > 0)  # leaky never dies
