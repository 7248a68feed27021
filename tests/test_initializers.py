"""Tests for initlab.weights.initializers.

Every statistical tolerance is derived, not tuned: for N iid draws the sample mean has standard
error sigma/sqrt(N) and the sample variance has Var(s^2) ~ (mu4 - sigma^4)/N, with mu4/sigma^4 =
3 (normal), 9/5 (uniform) or the truncated-normal kurtosis (computed here by Gauss-Legendre
quadrature, independently of the module's erf formulas). Assertions allow 5 standard errors; all
draws are seeded, so the outcome is deterministic.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import initlab.weights.initializers as I

SEED = 20240611
Z5 = 5.0  # standard errors allowed
SHAPES = [(400, 300), (300, 400)]  # both orientations, so fan_in != fan_out matters
DTYPES = [np.float32, np.float64]

# How each registry entry is distributed with its default parameters; decides which exact
# kurtosis / bound checks apply. A new initializer must be classified here (see test below).
KIND = {
    "zeros": "constant", "ones": "constant", "constant": "constant",
    "random_normal": "normal", "random_uniform": "uniform", "truncated_normal": "trunc2",
    "variance_scaling": "trunc2", "orthogonal": "orthogonal", "identity": "identity",
    "glorot_uniform": "uniform", "glorot_normal": "trunc2", "he_uniform": "uniform",
    "he_normal": "trunc2", "lecun_uniform": "uniform", "lecun_normal": "trunc2",
    "small_uniform": "uniform", "xavier_heuristic": "uniform", "torch_linear": "uniform",
    "torch_kaiming_uniform": "uniform", "torch_kaiming_normal": "normal",
    "torch_xavier_uniform": "uniform", "torch_xavier_normal": "normal", "torch_trunc_normal": "trunc2",
}
RANDOM = [n for n, k in KIND.items() if k not in ("constant", "identity")]


# ---------------------------------------------------------------- independent reference math

_GL_X, _GL_W = np.polynomial.legendre.leggauss(200)  # exact to ~1e-15 for these smooth integrands


def trunc_moments(alpha: float, beta: float) -> tuple[float, float, float]:
    """(mean, variance, mu4 central) of N(0,1) restricted to [alpha, beta], by quadrature."""
    x = 0.5 * (beta - alpha) * _GL_X + 0.5 * (alpha + beta)
    w = 0.5 * (beta - alpha) * _GL_W * np.exp(-0.5 * x * x)
    z = w.sum()
    m = (w * x).sum() / z
    return m, (w * (x - m) ** 2).sum() / z, (w * (x - m) ** 4).sum() / z


_, _V2, _M4_2 = trunc_moments(-2.0, 2.0)
KURTOSIS = {"normal": 3.0, "uniform": 9.0 / 5.0, "trunc2": _M4_2 / _V2**2}


def assert_mean_std(w: np.ndarray, mean: float, std: float, kurtosis: float) -> None:
    x = w.astype(np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= Z5 * std / math.sqrt(n), (x.mean(), mean)
    # ddof=0 variance has bias -sigma^2/N, added to the allowance.
    se_var = math.sqrt((kurtosis - 1.0) * std**4 / n)
    assert abs(x.var() - std**2) <= Z5 * se_var + std**2 / n, (x.std(), std)


def rounding_slack(bound: float, dtype) -> float:
    """A few ulps: lo + width*u and mean + sd*z round in the output dtype."""
    return 4 * np.finfo(dtype).eps * max(1.0, abs(bound))


def rng(seed: int = SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------- registry-wide

def test_kind_table_covers_registry():
    assert sorted(KIND) == sorted(I.names())


def test_names_order_keras_first():
    families = [I.spec(n).family for n in I.names()]
    order = {"keras": 0, "classic": 1, "pytorch": 2}
    assert [order[f] for f in families] == sorted(order[f] for f in families)
    assert I.names()[0] == "zeros" and len(set(I.names())) == len(I.names())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", I.names())
def test_sample_moments_match_theory(name, shape, dtype):
    init = I.get(name)
    w = init(shape, rng(), dtype=dtype)
    assert w.shape == shape and w.dtype == np.dtype(dtype)
    mean, std = init.mean(*shape), init.std(*shape)
    x = w.astype(np.float64)
    kind = KIND[name]
    if kind == "constant":
        assert std == 0.0 and np.all(x == mean)
    elif kind == "identity":  # deterministic: theory is the population value itself
        assert x.mean() == pytest.approx(mean, rel=1e-12) and x.std() == pytest.approx(std, rel=1e-12)
    elif kind == "orthogonal":
        # Orthonormal columns/rows: sum of squares is exactly gain^2 * min(shape).
        assert (x**2).mean() == pytest.approx(std**2, rel=float(10 * np.finfo(dtype).eps * max(shape)))
        assert abs(x.mean()) <= Z5 * std / math.sqrt(x.size)
    else:
        assert_mean_std(w, mean, std, KURTOSIS[kind])


@pytest.mark.parametrize("name", [n for n in I.names() if KIND[n] in ("uniform", "trunc2")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bounded_samples_fill_their_limits(name, dtype):
    shape = (400, 300)
    init = I.get(name)
    lo, hi = init.limits(*shape)
    x = init(shape, rng(), dtype=dtype).astype(np.float64)
    n = x.size
    assert x.min() >= lo - rounding_slack(lo, dtype) and x.max() <= hi + rounding_slack(hi, dtype)
    p_miss = 1e-9  # chance that no draw lands within eps of a bound
    if KIND[name] == "uniform":
        # P(max < hi - eps) = (1 - eps/width)^N
        eps = (hi - lo) * (1.0 - p_miss ** (1.0 / n))
    else:
        # N(mu, s) cut at mu +- 2s: P(one draw in [hi-eps, hi]) >= pdf(2) * eps / (s * mass)
        s = (hi - lo) / 4.0
        mass = math.erf(2.0 / math.sqrt(2.0))
        pdf2 = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
        eps = -math.log(p_miss) / n * s * mass / pdf2
    assert x.max() >= hi - eps and x.min() <= lo + eps


@pytest.mark.parametrize("name", I.names())
def test_dtype_preserved(name):
    init = I.get(name)
    for dtype in (np.float32, np.float64, np.float16):
        w = init((7, 5), rng(), dtype=dtype)
        assert w.dtype == np.dtype(dtype) and w.shape == (7, 5)


@pytest.mark.parametrize("name", I.names())
def test_same_seed_same_bits_different_seed_different(name):
    init = I.get(name)
    for dtype in DTYPES:
        a = init((60, 40), rng(1), dtype=dtype)
        b = init((60, 40), rng(1), dtype=dtype)
        assert a.tobytes() == b.tobytes()
        if name in RANDOM:
            assert not np.array_equal(a, init((60, 40), rng(2), dtype=dtype))


def test_no_global_rng_used():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for name in I.names():
        I.get(name)((20, 30), rng(), dtype=np.float32)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name", I.names())
def test_metadata_non_empty_and_spec_defaults_are_used(name):
    init = I.get(name)
    s = I.spec(name)
    assert s.name == name == init.name and s.label and s.family in ("keras", "classic", "pytorch")
    assert init.description.strip() and s.description.strip()
    assert init.formula().strip() and init.formula("fan_in", "fan_out").strip()
    assert {k: p.default for k, p in s.params.items()} == init.params
    none_params = I.get(name, **{k: None for k in s.params})
    assert none_params.params == init.params
    for key, p in s.params.items():
        assert p.name == key and p.help
        if p.kind == "choice":
            assert p.choices and p.default in p.choices
        else:
            assert p.kind == "float" and p.choices is None and isinstance(p.default, float)


# --------------------------------------------------------------------- Keras formulas by hand

def test_keras_truncation_constant_is_std_of_normal_cut_at_2():
    _, var, _ = trunc_moments(-2.0, 2.0)
    assert math.sqrt(var) == pytest.approx(0.87962566103423978, abs=1e-14)
    assert I.TRUNCATED_NORMAL_STD == 0.87962566103423978
    assert I.get("truncated_normal", stddev=1.0).std(3, 4) == pytest.approx(math.sqrt(var), rel=1e-13)


@pytest.mark.parametrize("fi,fo", [(400, 300), (300, 400), (1, 1000)])
def test_keras_presets_by_hand(fi, fo):
    def lim(name):
        lo, hi = I.get(name).limits(fi, fo)
        assert lo == -hi
        return hi

    assert lim("glorot_uniform") == pytest.approx(math.sqrt(6 / (fi + fo)), rel=1e-15)
    assert lim("he_uniform") == pytest.approx(math.sqrt(6 / fi), rel=1e-15)
    assert lim("lecun_uniform") == pytest.approx(math.sqrt(3 / fi), rel=1e-15)
    # Truncated normal presets: actual std is sqrt(scale/n); cut at 2 * sqrt(scale/n) / 0.8796.
    for name, var in [("glorot_normal", 2 / (fi + fo)), ("he_normal", 2 / fi), ("lecun_normal", 1 / fi)]:
        init = I.get(name)
        assert init.std(fi, fo) == pytest.approx(math.sqrt(var), rel=1e-13)
        assert lim(name) == pytest.approx(2 * math.sqrt(var) / 0.87962566103423978, rel=1e-15)
        assert init.mean(fi, fo) == 0.0
    for name in ("glorot_uniform", "he_uniform", "lecun_uniform"):
        assert I.get(name).std(fi, fo) == pytest.approx(lim(name) / math.sqrt(3), rel=1e-15)
    assert I.get("glorot_uniform").formula() == "U[-sqrt(6/(n+m)), +sqrt(6/(n+m))]"
    assert I.get("he_normal").formula() == "N(0, sqrt(2/n)), truncated at 2 sd and rescaled by 1/0.8796"


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode,n", [("fan_in", 30), ("fan_out", 50), ("fan_avg", 40)])
def test_variance_scaling_modes(mode, n, distribution):
    init = I.get("variance_scaling", scale=3.0, mode=mode, distribution=distribution)
    assert init.std(30, 50) == pytest.approx(math.sqrt(3.0 / n), rel=1e-13)
    lim = init.limits(30, 50)
    if distribution == "untruncated_normal":
        assert lim is None
    elif distribution == "uniform":
        assert lim[1] == pytest.approx(math.sqrt(9.0 / n), rel=1e-15)
    else:
        assert lim[1] == pytest.approx(2 * math.sqrt(3.0 / n) / 0.87962566103423978, rel=1e-15)


def test_variance_scaling_normal_alias_and_case_like_keras():
    assert I.get("variance_scaling", distribution="normal").params["distribution"] == "truncated_normal"
    assert I.get("variance_scaling", distribution="Uniform").params["distribution"] == "uniform"


def test_keras_fixed_distributions():
    assert I.get("random_normal").params == {"mean": 0.0, "stddev": 0.05}
    assert I.get("random_uniform").limits(3, 4) == (-0.05, 0.05)
    tn = I.get("truncated_normal", mean=1.0, stddev=0.5)
    assert tn.limits(3, 4) == (0.0, 2.0)
    assert tn.std(3, 4) == pytest.approx(0.5 * 0.87962566103423978, rel=1e-13)
    c = I.get("constant", value=-0.25)
    assert np.all(c((3, 4), rng()) == -0.25) and c.limits(3, 4) == (-0.25, -0.25)


# ---------------------------------------------------------------- orthogonal and identity

@pytest.mark.parametrize("shape", [(50, 50), (80, 30), (30, 80)])
@pytest.mark.parametrize("gain", [1.0, 0.5, 2.0])
def test_orthogonal_is_orthogonal(shape, gain):
    init = I.get("orthogonal", gain=gain)
    w = init(shape, rng(), dtype=np.float64)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(shape)), rtol=0, atol=1e-10)
    assert init.std(*shape) == pytest.approx(gain / math.sqrt(max(shape)), rel=1e-15)
    assert init.limits(*shape) is None
    w32 = init(shape, rng(), dtype=np.float32)
    gram32 = w32.T @ w32 if shape[0] >= shape[1] else w32 @ w32.T
    np.testing.assert_allclose(gram32, gain**2 * np.eye(min(shape)), rtol=0, atol=1e-5 * gain**2)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (1, 1)])
def test_identity(shape):
    init = I.get("identity", gain=1.5)
    w = init(shape, rng())
    np.testing.assert_array_equal(w, 1.5 * np.eye(*shape))
    assert init.mean(*shape) == pytest.approx(w.mean(), rel=1e-15, abs=0)
    assert init.std(*shape) == pytest.approx(w.std(), rel=1e-12, abs=1e-15)
    assert init.limits(*shape) == (float(w.min()), float(w.max()))


# -------------------------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("nonlinearity,param,expected", [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0), ("conv_transpose2d", None, 1.0), ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0), ("tanh", None, 5.0 / 3), ("relu", None, math.sqrt(2.0)),
    ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))), ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
    ("leaky_relu", 0, math.sqrt(2.0)), ("selu", None, 0.75),
])
def test_calculate_gain_table(nonlinearity, param, expected):
    assert I.calculate_gain(nonlinearity, param) == expected
    assert nonlinearity in I.NONLINEARITIES


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="gelu"):
        I.calculate_gain("gelu")
    with pytest.raises(ValueError, match="abc"):
        I.calculate_gain("leaky_relu", "abc")


@pytest.mark.parametrize("fi,fo", [(400, 300), (9, 1000)])
def test_torch_bounds_by_hand(fi, fo):
    lin = I.get("torch_linear").limits(fi, fo)
    assert lin[1] == pytest.approx(1 / math.sqrt(fi), rel=1e-14) and lin[0] == -lin[1]
    assert I.get("xavier_heuristic").limits(fi, fo) == pytest.approx(lin, rel=1e-15)
    # kaiming_uniform_ defaults (a=0, leaky_relu) -> gain sqrt(2): bound sqrt(6/fan_in)
    assert I.get("torch_kaiming_uniform").limits(fi, fo)[1] == pytest.approx(math.sqrt(6 / fi), rel=1e-14)
    ku = I.get("torch_kaiming_uniform", mode="fan_out", nonlinearity="tanh")
    assert ku.limits(fi, fo)[1] == pytest.approx(5 / 3 * math.sqrt(3 / fo), rel=1e-14)
    kn = I.get("torch_kaiming_normal", nonlinearity="leaky_relu", negative_slope=0.2)
    assert kn.std(fi, fo) == pytest.approx(math.sqrt(2 / 1.04) / math.sqrt(fi), rel=1e-14)
    assert kn.limits(fi, fo) is None
    xu = I.get("torch_xavier_uniform", gain=2.0)
    assert xu.limits(fi, fo)[1] == pytest.approx(2 * math.sqrt(6 / (fi + fo)), rel=1e-14)
    xn = I.get("torch_xavier_normal", gain=2.0)
    assert xn.std(fi, fo) == pytest.approx(2 * math.sqrt(2 / (fi + fo)), rel=1e-14)
    assert xn.limits(fi, fo) is None  # untruncated, unlike Keras glorot_normal


# Each case exercises a different rejection proposal: straddling (normal), narrow (uniform),
# upper tail and mirrored lower tail (exponential).
TRUNC_CASES = [
    dict(mean=0.0, stddev=1.0, a=-2.0, b=2.0),
    dict(mean=0.3, stddev=0.5, a=-0.2, b=1.5),
    dict(mean=0.0, stddev=1.0, a=0.5, b=0.7),
    dict(mean=0.0, stddev=1.0, a=2.5, b=6.0),
    dict(mean=1.0, stddev=0.5, a=-3.0, b=0.0),
    dict(mean=0.0, stddev=0.02, a=-2.0, b=2.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", TRUNC_CASES, ids=lambda p: f"{p['mean']},{p['stddev']},[{p['a']},{p['b']}]")
def test_torch_trunc_normal_moments_and_bounds(p, dtype):
    init = I.get("torch_trunc_normal", **p)
    alpha, beta = (p["a"] - p["mean"]) / p["stddev"], (p["b"] - p["mean"]) / p["stddev"]
    m, v, m4 = trunc_moments(max(alpha, -40.0), min(beta, 40.0))  # beyond 40 sd mass is 0
    mean, std = p["mean"] + p["stddev"] * m, p["stddev"] * math.sqrt(v)
    assert init.mean(3, 4) == pytest.approx(mean, rel=1e-12, abs=1e-15)
    assert init.std(3, 4) == pytest.approx(std, rel=1e-12)
    assert init.limits(3, 4) == (p["a"], p["b"])
    w = init((300, 400), rng(), dtype=dtype)
    assert w.dtype == np.dtype(dtype)
    assert_mean_std(w, mean, std, m4 / v**2)
    x = w.astype(np.float64)
    assert x.min() >= p["a"] - rounding_slack(p["a"], dtype) and x.max() <= p["b"] + rounding_slack(p["b"], dtype)


# ------------------------------------------------------------------------------ validation

BAD = [
    ("nope", {}, ["'nope'", "glorot_uniform"]),
    ("glorot_uniform", {"scale": 2.0}, ["scale"]),
    ("random_normal", {"sigma": 1.0}, ["sigma", "stddev"]),
    ("random_normal", {"stddev": -1.0}, ["-1.0"]),
    ("random_normal", {"mean": float("nan")}, ["nan"]),
    ("random_normal", {"mean": float("inf")}, ["inf"]),
    ("random_normal", {"stddev": "abc"}, ["'abc'"]),
    ("random_normal", {"stddev": True}, ["True"]),
    ("random_uniform", {"minval": 1.0, "maxval": 0.5}, ["minval=1.0", "0.5"]),
    ("variance_scaling", {"scale": 0.0}, ["0.0", "scale"]),
    ("variance_scaling", {"scale": -2.0}, ["-2.0"]),
    ("variance_scaling", {"mode": "fan_sum"}, ["fan_sum", "fan_avg"]),
    ("variance_scaling", {"distribution": "gaussian"}, ["gaussian", "untruncated_normal"]),
    ("orthogonal", {"gain": -1.0}, ["-1.0", "gain"]),
    ("identity", {"gain": float("nan")}, ["nan"]),
    ("torch_kaiming_uniform", {"mode": "fan_avg"}, ["fan_avg", "fan_in"]),
    ("torch_kaiming_normal", {"mode": "fan_avg"}, ["fan_avg", "fan_out"]),
    ("torch_kaiming_normal", {"nonlinearity": "gelu"}, ["gelu", "leaky_relu"]),
    ("torch_xavier_uniform", {"gain": -0.5}, ["-0.5"]),
    ("torch_trunc_normal", {"a": 3.0, "b": 1.0}, ["3.0", "1.0"]),
    ("torch_trunc_normal", {"a": 10.0, "b": 11.0}, ["10.0", "11.0"]),
    ("torch_trunc_normal", {"stddev": 0.0}, ["0.0", "stddev"]),
]


@pytest.mark.parametrize("name,params,fragments", BAD, ids=[f"{b[0]}-{list(b[1])}" for b in BAD])
def test_bad_params_raise_naming_the_value(name, params, fragments):
    with pytest.raises(ValueError) as err:
        I.get(name, **params)
    for frag in fragments:
        assert frag in str(err.value)


def test_spec_unknown_name():
    with pytest.raises(ValueError, match="nope"):
        I.spec("nope")


@pytest.mark.parametrize("shape", [(0, 3), (3,), (2.5, 3), "ab"])
def test_bad_shape(shape):
    with pytest.raises(ValueError):
        I.get("glorot_uniform")(shape, rng())


def test_bad_rng_and_dtype():
    with pytest.raises(ValueError, match="Generator"):
        I.get("glorot_uniform")((3, 4), np.random.RandomState(0))
    with pytest.raises(ValueError, match="int32"):
        I.get("glorot_uniform")((3, 4), rng(), dtype=np.int32)


def test_overflowing_params_give_inf_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = I.get("random_normal", stddev=1e300)((50, 50), rng(), dtype=np.float32)
        c = I.get("constant", value=1e300)((2, 2), rng(), dtype=np.float32)
        u = I.get("random_uniform", minval=-1e300, maxval=1e300)((50, 50), rng(), dtype=np.float32)
    assert np.isinf(w).any() and np.all(np.isposinf(c)) and np.isinf(u).any()


def test_import_pulls_no_ui_or_scipy():
    import initlab

    root = os.path.dirname(os.path.dirname(os.path.abspath(initlab.__file__)))
    code = ("import sys, initlab.weights.initializers; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly', 'scipy')]; "
            "assert not bad, bad")
    env = dict(os.environ, PYTHONPATH=root)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env, timeout=60)


# ------------------------------------------------------------------------- kinds and entry draws


def test_kind_names_the_distribution_and_kernel_kinds():
    assert {n: I.get(n).kind(30, 20) for n in ("zeros", "glorot_uniform", "torch_kaiming_normal", "he_normal",
                                               "orthogonal", "identity")} == {
        "zeros": "constant", "glorot_uniform": "uniform", "torch_kaiming_normal": "normal",
        "he_normal": "truncated_normal", "orthogonal": "orthogonal", "identity": "identity"}
    assert I.KERNEL_KINDS == {"orthogonal", "identity"}
    assert all(I.get(n).kind(7, 3) in {"constant", "uniform", "normal", "truncated_normal", *I.KERNEL_KINDS}
               for n in I.names())


@pytest.mark.parametrize("name", ["glorot_uniform", "torch_kaiming_normal", "ones", "random_normal"])
def test_sample_entries_are_the_entries_of_a_kernel_without_the_rest(name):
    # uniform, normal and constant kernels are filled entry by entry from the generator, so the same
    # seed gives exactly the kernel's first entries: the same distribution, fans included
    init = I.get(name)
    got = init.sample_entries(30, 20, 100, np.random.default_rng(5))
    want = init((30, 20), np.random.default_rng(5)).reshape(-1)[:100]
    np.testing.assert_array_equal(got, want)
    assert got.shape == (100,) and got.dtype == np.float64
    assert init.sample_entries(30, 20, 10, rng(), dtype=np.float32).dtype == np.float32


def test_sample_entries_of_a_truncated_normal_keep_its_moments_and_limits():
    init = I.get("he_normal")  # redraws beyond 2 sd, so not entry-for-entry equal to a kernel
    n = 200_000
    w = init.sample_entries(50, 10, n, rng())
    lo, hi = init.limits(50, 10)
    sigma = init.std(50, 10)
    assert lo <= w.min() and w.max() <= hi
    assert abs(w.mean()) < 5 * sigma / math.sqrt(n)
    assert abs(w.std() / sigma - 1) < 5 * math.sqrt(0.5 / n) * 2  # kurtosis of the truncation < 3


def test_sample_entries_refuses_whole_kernel_schemes_and_bad_counts():
    for name in ("orthogonal", "identity"):
        with pytest.raises(ValueError, match="whole kernels"):
            I.get(name).sample_entries(4, 4, 10, rng())
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="count"):
            I.get("glorot_uniform").sample_entries(4, 4, bad, rng())
    with pytest.raises(ValueError, match="fan_in"):
        I.get("glorot_uniform").sample_entries(0, 4, 10, rng())
