"""Tests for initlab.ranges: theory columns, sample statistics, fan_out handling, validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from initlab import ranges as R

N = 1000  # samples per row
NS = np.arange(1, 101)


@pytest.fixture(scope="module")
def classic_tied() -> pd.DataFrame:
    return R.range_curves(R.CLASSIC, 100, samples=N, rng=np.random.default_rng(2024))


@pytest.fixture(scope="module")
def classic_fixed() -> pd.DataFrame:
    return R.range_curves(R.CLASSIC, 100, fan_out=10, samples=N, rng=np.random.default_rng(7))


def _curve(df: pd.DataFrame, init: str) -> pd.DataFrame:
    sub = df[df["init"] == init]
    assert len(sub) > 0, init
    return sub


HE_KEY = "variance_scaling(scale=2, mode=fan_in, distribution=untruncated_normal)"


def test_shape_columns_keys(classic_tied: pd.DataFrame) -> None:
    df = classic_tied
    assert tuple(df.columns) == R.COLUMNS
    assert len(df) == 300
    assert list(df["init"].unique()) == ["xavier_heuristic", "glorot_uniform", HE_KEY]
    assert list(df["label"].unique()) == [e.label for e in R.CLASSIC]
    assert [e.label for e in R.CLASSIC] == [
        "Xavier heuristic U[±1/√n]", "Normalized Xavier U[±√6/√(n+m)]", "He N(0, √(2/n))"]
    for key in df["init"].unique():
        sub = _curve(df, key)
        np.testing.assert_array_equal(sub["n"], NS)
        assert sub["formula"].nunique() == 1
    assert df["n"].dtype == np.int64 and df["theory_std"].dtype == np.float64


@pytest.mark.parametrize("fixture", ["classic_tied", "classic_fixed"])
def test_theory_equals_closed_forms(fixture: str, request: pytest.FixtureRequest) -> None:
    df = request.getfixturevalue(fixture)
    n = NS.astype(float)
    m = n if fixture == "classic_tied" else np.full_like(n, 10.0)

    xh = _curve(df, "xavier_heuristic")
    np.testing.assert_allclose(xh["theory_hi"], 1 / np.sqrt(n), rtol=0, atol=1e-12)
    np.testing.assert_allclose(xh["theory_lo"], -1 / np.sqrt(n), rtol=0, atol=1e-12)
    np.testing.assert_allclose(xh["theory_std"], 1 / np.sqrt(3 * n), rtol=0, atol=1e-12)  # U[-L, L]: L/sqrt(3)

    gu = _curve(df, "glorot_uniform")
    np.testing.assert_array_equal(gu["m"], m)
    np.testing.assert_allclose(gu["theory_hi"], np.sqrt(6 / (n + m)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gu["theory_lo"], -np.sqrt(6 / (n + m)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gu["theory_std"], np.sqrt(2 / (n + m)), rtol=0, atol=1e-12)

    he = _curve(df, HE_KEY)
    np.testing.assert_allclose(he["theory_std"], np.sqrt(2 / n), rtol=0, atol=1e-12)
    assert he["theory_lo"].isna().all() and he["theory_hi"].isna().all()  # unbounded

    assert (df["theory_mean"] == 0).all()


def test_classic_he_at_one_input(classic_tied: pd.DataFrame) -> None:
    # The tutorial's He plot starts at 1.414 and calls it the range; our data calls it the std.
    he1 = _curve(classic_tied, HE_KEY).iloc[0]
    assert he1["n"] == 1
    assert he1["theory_std"] == pytest.approx(math.sqrt(2), abs=1e-12)
    assert he1["theory_std"] == pytest.approx(1.414, abs=5e-4)
    b = R.band(classic_tied)
    he_b = b[b["init"] == HE_KEY].iloc[0]
    assert he_b["band_kind"] == "±1 std"
    assert he_b["band_hi"] == pytest.approx(math.sqrt(2)) and he_b["band_lo"] == pytest.approx(-math.sqrt(2))
    # The sample extremes of 1000 normal draws sit near +-3 std, far outside that "range".
    he = _curve(classic_tied, HE_KEY)
    ratio = (he["sample_max"] / he["theory_std"]).median()
    assert 2.5 < ratio < 4.0


def test_band_for_bounded(classic_tied: pd.DataFrame) -> None:
    b = R.band(classic_tied)
    gu = b[b["init"] == "glorot_uniform"]
    assert (gu["band_kind"] == "limits").all()
    np.testing.assert_array_equal(gu["band_lo"], gu["theory_lo"])
    np.testing.assert_array_equal(gu["band_hi"], gu["theory_hi"])
    assert "band_lo" not in classic_tied.columns  # band() returns a copy


# Sample extremes of U[-L, L] with N = 1000 draws.  A single draw lands below L (1 - d) with
# probability 1 - d/2, so P(max < L (1 - d)) = (1 - d/2)^N; d = 0.02 gives 0.99^1000 ~ 4.3e-5 per
# check.  We make 2 inits x 2 sides x 100 n x 2 fixtures = 800 checks, so we use d = 0.04:
# 0.98^1000 ~ 1.7e-9, i.e. < 1.4e-6 for all of them together (and the seeds are fixed).
EXTREME_REL_GAP = 0.04


@pytest.mark.parametrize("fixture", ["classic_tied", "classic_fixed"])
@pytest.mark.parametrize("init", ["xavier_heuristic", "glorot_uniform"])
def test_bounded_sample_extremes(fixture: str, init: str, request: pytest.FixtureRequest) -> None:
    sub = _curve(request.getfixturevalue(fixture), init)
    lo, hi = sub["theory_lo"].to_numpy(), sub["theory_hi"].to_numpy()
    assert (sub["sample_min"] >= lo).all() and (sub["sample_max"] <= hi).all()
    assert (sub["sample_max"] > hi * (1 - EXTREME_REL_GAP)).all()
    assert (sub["sample_min"] < lo * (1 - EXTREME_REL_GAP)).all()


# The sample std s of N draws has standard error ~ sigma sqrt((kurt - 1) / (4 N)) (delta method),
# kurt = 1.8 for a uniform and 3 for a normal; the sample mean has standard error sigma / sqrt(N).
# 5 standard errors: two-sided false alarm ~5.7e-7 per check, ~3.4e-4 over the 600 checks below.
@pytest.mark.parametrize("fixture", ["classic_tied", "classic_fixed"])
@pytest.mark.parametrize(("init", "kurt"), [("xavier_heuristic", 1.8), ("glorot_uniform", 1.8), (HE_KEY, 3.0)])
def test_sample_moments_within_standard_error(fixture: str, init: str, kurt: float,
                                              request: pytest.FixtureRequest) -> None:
    sub = _curve(request.getfixturevalue(fixture), init)
    sigma = sub["theory_std"].to_numpy()
    se_std = sigma * math.sqrt((kurt - 1) / (4 * N))
    assert (np.abs(sub["sample_std"] - sigma) < 5 * se_std).all()
    assert (np.abs(sub["sample_mean"] - sub["theory_mean"]) < 5 * sigma / math.sqrt(N)).all()


def test_fan_out_tied_vs_fixed(classic_tied: pd.DataFrame, classic_fixed: pd.DataFrame) -> None:
    np.testing.assert_array_equal(classic_tied["m"], classic_tied["n"])
    assert (classic_fixed["m"] == 10).all()
    # xavier_heuristic and He depend on n only; glorot_uniform sees the fixed m
    for key in ("xavier_heuristic", HE_KEY):
        np.testing.assert_array_equal(_curve(classic_tied, key)["theory_std"], _curve(classic_fixed, key)["theory_std"])
    g_t, g_f = _curve(classic_tied, "glorot_uniform"), _curve(classic_fixed, "glorot_uniform")
    assert g_t["theory_hi"].iloc[9] == g_f["theory_hi"].iloc[9]  # n = 10 = m
    assert g_t["theory_hi"].iloc[0] != g_f["theory_hi"].iloc[0]


def test_entry_forms_and_keys() -> None:
    rng = np.random.default_rng(0)
    df = R.range_curves(["glorot_uniform", ("he_uniform", {}), ("random_uniform", {"minval": -0.1, "maxval": 0.3}, "mine")],
                        5, n_min=3, samples=10, rng=rng)
    assert list(df["init"].unique()) == ["glorot_uniform", "he_uniform", "random_uniform(minval=-0.1, maxval=0.3)"]
    assert list(df["n"][:3]) == [3, 4, 5]
    assert df[df["init"] == "he_uniform"]["label"].iloc[0] == "He uniform"
    assert df[df["init"].str.startswith("random_uniform")]["label"].iloc[0] == "mine"
    ru = df[df["init"].str.startswith("random_uniform")]
    np.testing.assert_allclose(ru["theory_mean"], 0.1, rtol=1e-12)
    # a single name is accepted as a one-entry sequence
    one = R.range_curves("glorot_uniform", 3, samples=10, rng=rng)
    assert len(one) == 3


def test_kernel_level_initializers_are_drawn_as_kernels() -> None:
    # orthogonal: theory std gain/sqrt(max(n, m)); identity: hard limits (0, 1) -- both via real kernels
    df = R.range_curves(["orthogonal", "identity"], 20, n_min=16, samples=200, rng=np.random.default_rng(3))
    orth = _curve(df, "orthogonal")
    np.testing.assert_allclose(orth["theory_std"], 1 / np.sqrt(orth["n"]), rtol=1e-12)
    ident = _curve(df, "identity")
    assert (ident["sample_min"] == 0).all() and (ident["sample_max"] == 1).all()


def test_deterministic_given_seed() -> None:
    a = R.range_curves(R.CLASSIC, 20, rng=np.random.default_rng(5))
    b = R.range_curves(R.CLASSIC, 20, rng=np.random.default_rng(5))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"n_min": 0}, "0"),
        ({"n_min": 1.5}, "1.5"),
        ({"n_max": 0}, "0"),
        ({"n_max": 10_001}, "10001"),
        ({"n_min": 50, "n_max": 49}, "49"),
        ({"samples": 9}, "9"),
        ({"samples": 100_001}, "100001"),
        ({"samples": True}, "True"),
        ({"fan_out": 0}, "0"),
        ({"fan_out": -3}, "-3"),
        ({"fan_out": 2.0}, "2.0"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, bad: str) -> None:
    args = {"n_max": 10, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError) as exc:
        R.range_curves(["glorot_uniform"], **args)
    assert bad in str(exc.value)


def test_bad_inits_raise() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no_such_init"):
        R.range_curves(["no_such_init"], 5, rng=rng)
    with pytest.raises(ValueError, match="bogus"):
        R.range_curves([("glorot_uniform", {"bogus": 1})], 5, rng=rng)
    with pytest.raises(ValueError, match="empty"):
        R.range_curves([], 5, rng=rng)
    with pytest.raises(ValueError, match="duplicate"):
        R.range_curves(["glorot_uniform", ("glorot_uniform", {})], 5, rng=rng)
    with pytest.raises(ValueError, match="42"):
        R.range_curves([42], 5, rng=rng)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="Generator"):
        R.range_curves(["glorot_uniform"], 5, rng=np.random.RandomState(0))  # type: ignore[arg-type]


def test_work_cap() -> None:
    # m = n up to 10000 would draw ~3e11 weights: refused up front instead of hanging the app
    with pytest.raises(ValueError, match="too large"):
        R.range_curves(R.CLASSIC, 10_000, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="too large"):  # a single 1e8-entry kernel
        R.range_curves(["glorot_uniform"], 10_000, n_min=10_000, fan_out=10_000, rng=np.random.default_rng(0))
    # large n with a small fixed fan_out is fine
    df = R.range_curves(["glorot_uniform"], 10_000, n_min=9_990, fan_out=1, rng=np.random.default_rng(0))
    np.testing.assert_allclose(df["theory_hi"], np.sqrt(6 / (df["n"] + 1)), rtol=1e-15)


def test_classic_plot_draws_only_what_it_needs(monkeypatch) -> None:
    # The default plot must stay cheap: one (n, n) kernel per row once n^2 >= samples, and only
    # ceil(1000 / n^2) small kernels below that, i.e. 3 x (sum over n of ceil(1000/n^2)) calls and about
    # 3 x (1000 x 31 + sum of n^2 for n > 31) ~ 1.1M weights, not 100 x 1000 x n^2 (work, not seconds).
    calls, weights = [], []
    real_get = R.initializers.get

    def counting_get(name, **params):  # type: ignore[no-untyped-def]
        init = real_get(name, **params)

        class Counting:
            def __call__(self, shape, rng, **kw):  # type: ignore[no-untyped-def]
                calls.append(shape)
                weights.append(shape[0] * shape[1])
                return init(shape, rng, **kw)

            def __getattr__(self, attr):  # type: ignore[no-untyped-def]
                return getattr(init, attr)

        return Counting()

    monkeypatch.setattr(R.initializers, "get", counting_get)
    df = R.range_curves(R.CLASSIC, 100, samples=1000, rng=np.random.default_rng(0))
    ns = np.arange(1, 101)
    per_row = -(-1000 // ns**2)
    assert len(calls) == 3 * int(per_row.sum())
    assert sum(weights) == 3 * int((per_row * ns**2).sum())
    assert sum(weights) < 1.2e6
    assert len(df) == 300