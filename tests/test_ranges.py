"""Tests for initlab.teaching.ranges: theory columns, sample statistics, fan_out handling, validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from initlab.teaching import ranges as R

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


# ------------------------------------------------------------------------------------- work model


class Work:
    """Counts what range_curves asks of the initializers: kernel calls, entry draws, weights, QR work.

    ``fake=True`` returns zeros of the right shape instead of drawing (the counts, not the values,
    are under test, and a worst-case request would otherwise do its QR factorizations for real).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fake: bool = False) -> None:
        self.kernel_calls = self.entry_calls = self.weights = self.qr_work = 0
        self.kernel_shapes: list[tuple[int, int]] = []
        real_get = R.initializers.get
        work = self

        def counting_get(name, **params):  # type: ignore[no-untyped-def]
            init = real_get(name, **params)

            class Counting:
                def __call__(self, shape, rng, **kw):  # type: ignore[no-untyped-def]
                    n, m = shape
                    work.kernel_calls += 1
                    work.kernel_shapes.append((n, m))
                    work.weights += n * m
                    if init.kind(n, m) == "orthogonal":
                        work.qr_work += n * m * min(n, m)
                    return np.zeros(shape) if fake else init(shape, rng, **kw)

                def sample_entries(self, n, m, count, rng, **kw):  # type: ignore[no-untyped-def]
                    work.entry_calls += 1
                    work.weights += count
                    return np.zeros(count) if fake else init.sample_entries(n, m, count, rng, **kw)

                def __getattr__(self, attr):  # type: ignore[no-untyped-def]
                    return getattr(init, attr)

            return Counting()

        monkeypatch.setattr(R.initializers, "get", counting_get)

    @property
    def calls(self) -> int:
        return self.kernel_calls + self.entry_calls


def test_classic_plot_draws_only_what_it_needs(monkeypatch) -> None:
    # Elementwise initializers draw exactly `samples` entries per n, never a whole n x n kernel: the
    # default plot is 3 x 100 calls and 3 x 100 x 1000 weights (it used to be ~1.1M weights).
    work = Work(monkeypatch)
    df = R.range_curves(R.CLASSIC, 100, samples=1000, rng=np.random.default_rng(0))
    assert (work.kernel_calls, work.entry_calls, work.weights) == (0, 300, 300 * 1000)
    assert len(df) == 300 and df["sample_max"].notna().all()
    plan = df.attrs["plan"]
    assert not plan.reduced and plan.note == ""
    assert (sum(e.calls for e in plan.entries), sum(e.weights for e in plan.entries)) == (300, 300_000)


def test_whole_kernel_schemes_draw_ceil_samples_over_nm_kernels(monkeypatch) -> None:
    work = Work(monkeypatch)
    df = R.range_curves(["orthogonal", "identity"], 40, samples=1000, rng=np.random.default_rng(0))
    ns = np.arange(1, 41)
    per_row = -(-1000 // ns**2)
    assert work.entry_calls == 0 and work.kernel_calls == 2 * int(per_row.sum())
    assert work.weights == 2 * int((per_row * ns**2).sum())
    assert work.qr_work == int((per_row * ns**3).sum())
    plan = df.attrs["plan"]
    assert not plan.reduced
    assert [(e.calls, e.weights, e.qr_work) for e in plan.entries] == [
        (int(per_row.sum()), int((per_row * ns**2).sum()), int((per_row * ns**3).sum())),
        (int(per_row.sum()), int((per_row * ns**2).sum()), 0)]


def test_the_cost_model_counts_the_qr_factorization() -> None:
    n = np.array([500])
    t = R.row_seconds("orthogonal", n, n, 1000)[0]
    want = R.CALL_SECONDS + 500 * 500 * R.WEIGHT_SECONDS["orthogonal"] + 500**3 * R.QR_SECONDS + R.STATS_SECONDS
    assert t == pytest.approx(want)
    assert 500**3 * R.QR_SECONDS > 0.5 * t  # the QR dominates a big orthogonal draw
    u = R.row_seconds("uniform", n, n, 1000)[0]  # 1000 entries, whatever n and m
    assert u == pytest.approx(R.CALL_SECONDS + 1000 * R.WEIGHT_SECONDS["uniform"] + R.STATS_SECONDS)
    assert R.row_seconds("identity", n, n, 1000)[0] == pytest.approx(
        R.CALL_SECONDS + 500 * 500 * R.WEIGHT_SECONDS["identity"] + R.STATS_SECONDS)


N_HI, M_HI = 500, 1000  # the page's bounds: views.RANGES n <= 500, m <= 1000 (0: m = n)


def test_page_bounds_match_the_schema() -> None:
    from initlab.pages import RANGES

    assert (RANGES.field("n").hi, RANGES.field("m").hi) == (N_HI, M_HI)


@pytest.mark.parametrize("fan_out", [None, 1, M_HI])
def test_every_initializer_fits_the_budget_at_the_largest_page_request(fan_out: int | None) -> None:
    for name in R.initializers.names():
        plan = R.plan_ranges([name], N_HI, fan_out=fan_out)
        assert plan.seconds <= R.BUDGET_SECONDS, (name, plan)
        if name not in ("orthogonal", "identity"):
            assert not plan.reduced, (name, plan.note)  # elementwise ones never need thinning
    costly = ["orthogonal", "identity", "he_normal", "torch_trunc_normal", "glorot_normal", "random_normal"]
    assert R.plan_ranges(costly, N_HI, fan_out=fan_out).seconds <= R.BUDGET_SECONDS  # six: the control's maximum


def test_orthogonal_at_450_is_thinned_and_says_why(monkeypatch) -> None:
    # n = 450 once took 12 s, all of it in 1.5e4 QR factorizations the old model did not count
    full = R.plan_ranges(["orthogonal"], 450, budget=1e9)
    assert not full.reduced and full.seconds > 2 * R.BUDGET_SECONDS
    work = Work(monkeypatch, fake=True)
    df = R.range_curves(["orthogonal"], 450, rng=np.random.default_rng(0))
    plan = df.attrs["plan"]
    (entry,) = plan.entries
    assert plan.reduced and plan.seconds <= R.BUDGET_SECONDS
    assert entry.stride > 1 and entry.n_top == 450 and 1 < entry.n_from < 450
    assert (work.calls, work.weights, work.qr_work) == (entry.calls, entry.weights, entry.qr_work)
    assert entry.note == (f"Orthogonal: sampled at every {R._ordinal(entry.stride)} n from {entry.n_from} on "
                          "(each draw needs a QR factorization of an n × n matrix)")
    assert plan.note.startswith("To draw in about a second,") and entry.note in plan.note
    assert "limits" not in plan.note and "kernel draws" not in plan.note
    # the rows that are not sampled are NaN, the theory covers every n
    sampled = entry.sampled(df["n"].to_numpy())
    assert df["sample_max"].notna().to_numpy().tolist() == sampled.tolist()
    assert df["theory_std"].notna().all() and len(df) == 450
    assert sampled[: entry.n_from - 1].all() and sampled[-1]
    assert plan == R.plan_ranges(["orthogonal"], 450)


@pytest.mark.parametrize("fan_out", [None, M_HI])
def test_counted_work_matches_the_plan_at_the_page_worst_case(monkeypatch, fan_out: int | None) -> None:
    costly = ["orthogonal", "identity", "he_normal", "glorot_uniform", "torch_trunc_normal", "zeros"]
    work = Work(monkeypatch, fake=True)
    df = R.range_curves(costly, N_HI, fan_out=fan_out, rng=np.random.default_rng(0))
    plan = df.attrs["plan"]
    assert plan.seconds <= R.BUDGET_SECONDS
    assert work.calls == sum(e.calls for e in plan.entries)
    assert work.weights == sum(e.weights for e in plan.entries)
    assert work.qr_work == sum(e.qr_work for e in plan.entries)
    assert max(n * m for n, m in work.kernel_shapes) <= N_HI * (fan_out or N_HI)
    by_key = {e.key: e for e in plan.entries}
    assert by_key["orthogonal"].reduced and by_key["orthogonal"].n_top == N_HI  # thinned, not cut short
    assert not any(by_key[k].reduced for k in ("he_normal", "glorot_uniform", "torch_trunc_normal", "zeros"))


def test_thinned_rows_still_hold_true_statistics() -> None:
    df = R.range_curves(["orthogonal"], 300, fan_out=1000, rng=np.random.default_rng(1))
    assert df.attrs["plan"].reduced
    orth = df.dropna(subset=["sample_std"])
    # 1000 entries of a Haar-orthogonal kernel: std within 10% of gain / sqrt(max(n, m))
    assert (np.abs(orth["sample_std"] / orth["theory_std"] - 1) < 0.1).all()


def test_huge_requests_are_thinned_or_cut_never_refused(monkeypatch) -> None:
    # m = n up to 10000 would draw ~3e11 weights as whole kernels; elementwise ones draw 1000 entries
    work = Work(monkeypatch, fake=True)
    df = R.range_curves(R.CLASSIC, 10_000, rng=np.random.default_rng(0))
    plan = df.attrs["plan"]
    assert len(df) == 30_000 and df["theory_std"].notna().all()
    assert plan.reduced and all("every" in e.note for e in plan.entries)
    assert work.kernel_calls == 0 and work.weights == 1000 * work.entry_calls == 1000 * sum(e.calls for e in plan.entries)
    # a single 10000 x 10000 orthogonal kernel (1e12 QR work, 800 MB): not drawn, and said so
    work = Work(monkeypatch, fake=True)
    df = R.range_curves(["orthogonal", "glorot_uniform"], 10_000, n_min=10_000, fan_out=10_000,
                        rng=np.random.default_rng(0))
    plan = df.attrs["plan"]
    assert work.kernel_calls == 0 and work.entry_calls == 1  # glorot_uniform: 1000 entries, not 1e8
    assert df["sample_max"].isna().tolist() == [True, False]
    assert plan.note.endswith("Orthogonal: no sampled min/max (each draw needs a QR factorization of a 10000 × n "
                              "matrix, too slow even at n = 10000).")
    # orthogonal over a long range: sampled only up to some n, thinned below it
    plan = R.plan_ranges(["orthogonal"], 2000)
    (entry,) = plan.entries
    assert entry.n_top < 2000 and "sampled only up to n = " in entry.note and plan.seconds <= R.BUDGET_SECONDS
    # large n with a small fixed fan_out is fine
    df = R.range_curves(["glorot_uniform"], 10_000, n_min=9_990, fan_out=1, rng=np.random.default_rng(0))
    np.testing.assert_allclose(df["theory_hi"], np.sqrt(6 / (df["n"] + 1)), rtol=1e-15)


@pytest.mark.parametrize("budget", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_budget_raises(budget) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="budget"):
        R.plan_ranges(["glorot_uniform"], 10, budget=budget)


@pytest.mark.parametrize(("m", "shape"), [(None, "an n × n matrix"), (1000, "a 1000 × n matrix"),
                                          (1, "an n × 1 matrix"), (100, "a max(n, 100) × min(n, 100) matrix")])
def test_the_reason_names_the_qr_shape(m: int | None, shape: str) -> None:
    plan = R.plan_ranges(["orthogonal"], 500, fan_out=m, budget=1e-6)
    assert plan.entries[0].reason == f"each draw needs a QR factorization of {shape}"


def test_ordinals() -> None:
    assert [R._ordinal(k) for k in (1, 2, 3, 4, 5, 10, 11, 12, 13, 20, 21, 22, 25, 100, 101)] == [
        "1st", "2nd", "3rd", "4th", "5th", "10th", "11th", "12th", "13th", "20th", "21st", "22nd", "25th", "100th",
        "101st"]
