"""Figures: structure of the plotly figures built from real and synthetic results (no rendering)."""

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from initlab import propagate
from initlab.signal import network
from initlab.plots import signal as plots
from initlab.plots import style
from initlab.numerics import stats
from initlab.signal.scenario import Scenario

# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def overflow() -> network.Result:
    return propagate(Scenario(init="random_normal", stddev=1.0, activation="linear", depth=60, width=256, batch=16))


@pytest.fixture(scope="module")
def underflow() -> network.Result:
    return propagate(Scenario(init="random_normal", stddev=0.01, activation="linear", depth=80, width=256, batch=16))


@pytest.fixture(scope="module")
def healthy() -> network.Result:
    return propagate(Scenario(init="glorot_uniform", activation="tanh", depth=20, width=64, batch=32))


@pytest.fixture(scope="module")
def relu() -> network.Result:
    return propagate(Scenario(init="he_normal", activation="relu", depth=15, width=32, batch=16))


@pytest.fixture(scope="module")
def zero() -> network.Result:
    return propagate(Scenario(init="zeros", activation="tanh", depth=10, width=32, batch=16))


def synthetic(samples: np.ndarray, **columns) -> network.Result:
    """A Result built from per-layer samples (statistics from them) with ``columns`` overriding any column."""
    samples = np.asarray(samples, dtype=np.float32)
    depth = samples.shape[0]
    ms = [stats.moments(row) for row in samples]
    cols = {"layer": np.arange(1, depth + 1)}
    cols.update(stats.moments_columns(ms, "act"))
    cols.update(stats.moments_columns(ms, "pre"))
    pct = stats.sample_percentiles(samples)
    for j, q in enumerate(stats.PERCENTILES):
        cols[f"act_p{q:02.0f}"] = pct[:, j]
        cols[f"pre_p{q:02.0f}"] = pct[:, j]
    for c in ("frac_saturated", "frac_dead", "frac_dead_units", "unit_spread", "grad_mean", "grad_nonfinite"):
        cols[c] = np.zeros(depth)
    cols["frac_nonfinite"] = cols["act_nonfinite"]
    cols["grad_std"] = cols["weight_grad_norm"] = cols["weight_norm"] = cols["grad_ratio"] = np.ones(depth)
    cols.update({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()})
    bad = np.flatnonzero(cols["frac_nonfinite"] > 0)
    h = stats.histograms(samples)
    return network.Result(
        scenario=Scenario(activation="linear", depth=depth), layers=pd.DataFrame(cols), hist_pre=h, hist_act=h,
        samples_pre=samples, samples_act=samples, input=stats.moments(samples[:1]), loss=0.0,
        first_nonfinite_layer=int(bad[0]) + 1 if bad.size else None, first_nonfinite_grad_layer=None,
    )


def geometric(depth: int, factor: float, k: int = 256) -> np.ndarray:
    base = np.linspace(-2.0, 2.0, k)
    return np.array([base * factor**i for i in range(depth)])


def ranges_frame() -> pd.DataFrame:
    n = np.array([1, 10, 100, 1000, 4000], dtype=float)
    rows = []
    for init, formula, lim, sd in (
        ("glorot_uniform", "U[-sqrt(6/(n+m)), +sqrt(6/(n+m))]", np.sqrt(6 / (2 * n)), np.sqrt(2 / (2 * n))),
        ("he_tutorial", "N(0, sqrt(2/n))", None, np.sqrt(2 / n)),
    ):
        for i, ni in enumerate(n):
            rows.append(dict(
                init=init, formula=formula, n=int(ni), m=int(ni), theory_std=sd[i], theory_mean=0.0,
                theory_lo=-lim[i] if lim is not None else np.nan, theory_hi=lim[i] if lim is not None else np.nan,
                sample_min=-0.9 * (lim[i] if lim is not None else 3 * sd[i]),
                sample_max=0.9 * (lim[i] if lim is not None else 3 * sd[i]), sample_std=sd[i], sample_mean=0.0,
            ))
    return pd.DataFrame(rows)


def all_figures(overflow, underflow, healthy, relu, zero) -> list[go.Figure]:
    both = {"N(0, 1)": overflow, "N(0, 0.01)": underflow}
    return [
        plots.signal_figure(both),
        plots.signal_figure({"tanh": healthy}, "act_mean"),
        plots.gradient_figure(both),
        plots.gradient_figure({"relu": relu}, "weight_grad_norm"),
        plots.gradient_figure({"relu": relu, "zero": zero}, "grad_ratio"),
        plots.spread_figure(overflow),
        plots.spread_figure(healthy, "pre"),
        plots.heatmap_figure(overflow),
        plots.heatmap_figure(zero),
        plots.heatmap_figure(relu, "pre", bins=30),
        plots.fractions_figure({"tanh": healthy, "relu": relu, "N(0, 1)": overflow}),
        plots.ranges_figure(ranges_frame()),
    ]


# ------------------------------------------------------------------------------------------ line figures


def test_signal_one_trace_per_result_named_by_label(healthy, relu):
    fig = plots.signal_figure({"glorot tanh": healthy, "he relu": relu})
    assert [t.name for t in fig.data] == ["glorot tanh", "he relu"]
    assert list(fig.data[0].x) == list(range(1, 21))
    np.testing.assert_allclose(fig.data[0].y, healthy.layers["act_std"])
    assert fig.layout.yaxis.title.text == plots.COLUMN_TITLES["act_std"]
    assert fig.layout.legend.orientation == "h"
    assert all(".3g" in t.hovertemplate for t in fig.data)
    assert fig.data[0].line.dash != fig.data[1].line.dash  # not colour alone


def test_signal_axis_log_for_magnitudes_and_when_the_values_span_decades(overflow, healthy):
    # a std is always on a log axis (the page's text speaks of "the log scale"), even when it stays level
    assert plots.signal_figure({"tanh": healthy}).layout.yaxis.type == "log"
    assert plots.gradient_figure({"tanh": healthy}).layout.yaxis.type == "log"
    assert plots.signal_figure({"N(0,1)": overflow}).layout.yaxis.type == "log"
    assert plots.signal_figure({"tanh": healthy}, log_y=False).layout.yaxis.type == "linear"
    assert plots.signal_figure({"N(0,1)": overflow}, log_y=False).layout.yaxis.type == "linear"
    assert plots.signal_figure({"tanh": healthy}, "act_mean").layout.yaxis.type == "linear"
    # a signed column never gets an automatic log axis (its negative values would vanish)
    signed = synthetic(geometric(10, 10.0), act_mean=[(-1) ** i * 10.0**i for i in range(10)])
    assert plots.signal_figure({"s": signed}, "act_mean").layout.yaxis.type == "linear"
    assert plots.signal_figure({"s": synthetic(geometric(10, 10.0))}).layout.yaxis.type == "log"


def test_overflow_line_and_annotation_at_the_first_nonfinite_layer(overflow):
    n = overflow.first_nonfinite_layer
    assert n is not None and 20 < n < 45  # float32 overflows near layer 32
    fig = plots.signal_figure({"N(0, 1)": overflow})
    texts = [a.text for a in fig.layout.annotations]
    assert any("overflowed to inf" in t and f"layer {n}" in t for t in texts), texts
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].x0 == lines[0].x1 == n and lines[0].line.dash == "dash"
    assert lines[0].line.color == fig.data[0].line.color  # colour-matched
    # non-finite values are gaps, not infinities sent to the browser
    assert np.all(np.isnan(np.asarray(fig.data[0].y, dtype=float)[n:]))


def test_underflow_marker_and_annotation_at_the_first_zero(underflow):
    std = underflow.layers["act_std"].to_numpy()
    n = int(underflow.layers["layer"][np.flatnonzero(std == 0)[0]])
    fig = plots.signal_figure({"N(0, 0.01)": underflow})
    assert fig.layout.yaxis.type == "log"
    assert [a.text for a in fig.layout.annotations] == [f"underflowed to 0 at layer {n}"]
    marker = fig.data[1]
    assert marker.mode == "markers" and list(marker.x) == [n] and not marker.showlegend
    lo, hi = fig.layout.yaxis.range
    assert lo < np.log10(marker.y[0]) < np.log10(std[std > 0].min())  # drawn below the line, inside the axis


def test_zero_init_is_not_called_an_underflow(zero):
    fig = plots.signal_figure({"zeros": zero})
    assert [a.text for a in fig.layout.annotations] == ["exactly 0 at layer 1"]


def test_several_results_prefix_their_labels_and_theory_is_dotted(overflow, underflow):
    theory = {"N(0, 0.01)": 0.16 ** np.arange(1, 81)}
    fig = plots.signal_figure({"N(0, 1)": overflow, "N(0, 0.01)": underflow}, theory=theory, title="forward")
    names = [t.name for t in fig.data]
    assert names[:3] == ["N(0, 1)", "N(0, 0.01)", "N(0, 0.01) (mean-field)"]
    assert fig.data[2].line.dash == "dot" and fig.data[2].line.color == fig.data[1].line.color
    texts = [a.text for a in fig.layout.annotations]
    assert any(t.startswith("N(0, 1): overflowed to inf at layer ") for t in texts)
    assert any(t.startswith("N(0, 0.01): underflowed to 0 at layer ") for t in texts)
    assert fig.layout.title.text == "forward"


def test_gradient_figure_titles_and_grad_overflow_layer(overflow, healthy):
    titles = {"grad_std": "std of ∂loss/∂z (per example)", "weight_grad_norm": "‖∂L/∂W‖ (Frobenius)",
              "grad_ratio": "‖∂L/∂W‖ / ‖W‖"}
    for column, title in titles.items():
        fig = plots.gradient_figure({"tanh": healthy}, column)
        assert fig.layout.yaxis.title.text == title
        assert fig.layout.xaxis.title.text == "layer"
    n = overflow.first_nonfinite_grad_layer
    assert n is not None
    fig = plots.gradient_figure({"N(0, 1)": overflow})
    assert any(f"overflowed to inf at layer {n}" in a.text for a in fig.layout.annotations)


def test_gradient_underflow_is_searched_from_the_top(underflow):
    g = underflow.layers["grad_std"].to_numpy()
    zero_layers = np.flatnonzero(g == 0) + 1
    fig = plots.gradient_figure({"a": underflow})
    assert [a.text for a in fig.layout.annotations] == [f"underflowed to 0 at layer {zero_layers.max()}"]


def test_unknown_column_is_a_clear_error(healthy):
    with pytest.raises(ValueError, match="nope"):
        plots.signal_figure({"a": healthy}, "nope")


def test_empty_input_gives_a_message_figure():
    for fig in (plots.signal_figure({}), plots.gradient_figure({}), plots.fractions_figure({}),
                plots.ranges_figure(pd.DataFrame())):
        assert len(fig.data) == 0 and len(fig.layout.annotations) == 1
    assert style.message_figure("hello").layout.annotations[0].text == "hello"


# ------------------------------------------------------------------------------------ distributions


def test_spread_bands_are_filled_between_percentiles(healthy):
    fig = plots.spread_figure(healthy)
    names = [t.name for t in fig.data]
    assert names == ["1st percentile", "1–99th percentile", "25th percentile", "25–75th percentile", "median",
                     "mean", "mean − std", "mean ± std"]
    assert [t.fill for t in fig.data[:4]] == [None, "tonexty", None, "tonexty"]
    assert fig.layout.yaxis.title.text == "activation h"
    np.testing.assert_allclose(fig.data[4].y, healthy.layers["act_p50"])


def test_spread_switches_to_asinh_when_values_span_decades(overflow):
    fig = plots.spread_figure(overflow)
    assert fig.layout.yaxis.title.text.startswith("asinh(h / s)")
    y = np.asarray(fig.data[4].y, dtype=float)
    assert np.nanmax(np.abs(y)) < 100  # asinh(1e38 / s) ~ 85: the whole range fits
    assert "1e+30" in fig.layout.yaxis.ticktext  # plotly's own "e" notation, no SI suffix
    np.testing.assert_allclose(np.asarray(fig.data[4].customdata, dtype=float), overflow.layers["act_p50"])


def test_heatmap_columns_are_fractions_of_each_layer(healthy):
    fig = plots.heatmap_figure(healthy, bins=40)
    (hm,) = fig.data
    z = np.asarray(hm.z)
    assert z.shape == (40, healthy.layers.shape[0])
    np.testing.assert_allclose(z.sum(axis=0), 1.0, atol=1e-5)
    assert len(hm.y) == 41  # bin edges, common to every layer
    assert "inf/NaN" not in fig.layout.yaxis.ticktext


def test_heatmap_overflow_has_an_inf_nan_row_and_asinh_bins(overflow):
    fig = plots.heatmap_figure(overflow)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (61, 60)
    np.testing.assert_allclose(z.sum(axis=0), 1.0, atol=1e-5)
    n = overflow.first_nonfinite_layer
    assert z[-1, : n - 1].sum() == 0 and z[-1, n - 1] > 0 and np.all(z[-1, n:] == 1)
    assert fig.layout.yaxis.ticktext[-1] == "inf/NaN"
    assert fig.layout.yaxis.title.text.startswith("asinh(h / s), s = ")
    assert np.asarray(fig.data[0].z).dtype == np.float32  # the big payload goes out as float32


def test_heatmap_zero_init_all_nan_depth_1_and_depth_1000(zero):
    z = np.asarray(plots.heatmap_figure(zero).data[0].z)
    assert z.shape == (1, 10) and np.all(z == 1)
    nan_layers = synthetic(np.vstack([np.linspace(-1, 1, 64), np.full(64, np.nan), np.full(64, np.inf)]))
    z = np.asarray(plots.heatmap_figure(nan_layers, bins=8).data[0].z)
    assert z.shape == (9, 3) and z[-1, 1] == 1 and z[-1, 2] == 1
    np.testing.assert_allclose(z.sum(axis=0), 1.0, atol=1e-6)
    all_nan = synthetic(np.full((4, 16), np.nan))
    z = np.asarray(plots.heatmap_figure(all_nan).data[0].z)
    assert z.shape == (2, 4) and np.all(z[-1] == 1)
    one = synthetic(np.linspace(-1, 1, 32)[None, :])
    assert np.asarray(plots.heatmap_figure(one, bins=10).data[0].z).shape == (10, 1)
    deep = synthetic(geometric(1000, 1.001, k=64))
    fig = plots.heatmap_figure(deep)
    assert np.asarray(fig.data[0].z).shape == (60, 1000)
    assert len(fig.to_json()) < 600_000


def test_heatmap_float64_extremes_stay_finite():
    vals = np.array([[-1.0, 0.5, 1.0, 2.0], [-1e300, 1e-3, 1e300, 1.7e308]])
    res = dataclasses.replace(synthetic(np.zeros((2, 4))), samples_act=vals)  # float64 samples (a float64 scenario)
    z = np.asarray(plots.heatmap_figure(res, bins=10).data[0].z)
    assert z.shape == (10, 2)  # every value finite: no inf/NaN row
    np.testing.assert_allclose(z.sum(axis=0), 1.0, atol=1e-6)


# ----------------------------------------------------------------------------------------- fractions


def test_fractions_show_what_the_activation_can_do(healthy, relu, overflow):
    fig = plots.fractions_figure({"tanh": healthy, "relu": relu, "lin": overflow})
    names = [t.name for t in fig.data]
    assert names == ["tanh: saturated", "tanh: inf/NaN", "relu: dead", "relu: inf/NaN", "lin: inf/NaN"]
    assert fig.layout.yaxis.tickformat == ".0%" and tuple(fig.layout.yaxis.range) == (-0.02, 1.02)
    assert fig.data[0].line.color != fig.data[2].line.color and fig.data[0].line.dash != fig.data[1].line.dash
    assert max(fig.data[-1].y) == 1.0


# -------------------------------------------------------------------------------------------- ranges


def test_ranges_figure_legend_has_formulas_and_says_std_for_unbounded():
    curves = ranges_frame()
    fig = plots.ranges_figure(curves)
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert "glorot_uniform — limits<br>U[-sqrt(6/(n+m)), +sqrt(6/(n+m))]" in legend
    assert "he_tutorial — ± 1 std (unbounded)<br>N(0, sqrt(2/n))" in legend
    for formula in curves["formula"].unique():
        assert any(formula in t.name for t in fig.data)
    he = [t for t in fig.data if t.name.startswith("he_tutorial") and t.mode == "lines"]
    assert len(he) == 2 and all(t.line.dash == "dot" for t in he)
    np.testing.assert_allclose(he[0].y, np.sqrt(2 / curves["n"][curves["init"] == "he_tutorial"]))
    markers = [t for t in fig.data if t.mode == "markers"]
    assert len(markers) == 4
    assert fig.layout.xaxis.type == "linear"  # n from 1 to 4000, but log only when asked (log_n)
    assert any("not a range" in a.text for a in fig.layout.annotations)


def test_ranges_figure_on_the_real_classic_curves():
    ranges = pytest.importorskip("initlab.teaching.ranges")
    curves = ranges.range_curves(ranges.CLASSIC, 30, rng=np.random.default_rng(0))
    fig = plots.ranges_figure(curves)
    assert fig.layout.xaxis.type == "linear" and fig.layout.xaxis.title.text
    legend = [t.name for t in fig.data if t.showlegend is not False]
    for label, formula in curves.groupby("init", sort=False)[["label", "formula"]].first().itertuples(index=False):
        assert any(name.startswith(f"{label} — ") and name.endswith(f"<br>{formula}") for name in legend), (label, legend)
    he = [t for t in fig.data if t.name.startswith("He ") and t.mode == "lines"]
    assert len(he) == 2 and all("± 1 std (unbounded)" in t.name and t.line.dash == "dot" for t in he)
    assert plots.ranges_figure(curves).to_json() == fig.to_json()


def test_ranges_figure_log_n_is_an_option_and_linear_by_default():
    curves = ranges_frame()
    assert not style.axis_is_log(plots.ranges_figure(curves), "x")
    fig = plots.ranges_figure(curves, log_n=True)
    assert style.axis_is_log(fig, "x") and fig.layout.xaxis.exponentformat == "power"
    assert not style.axis_is_log(fig, "y")  # weight values are signed


def test_ranges_figure_sends_no_marker_for_unsampled_rows():
    curves = ranges_frame()
    thinned = curves["n"].isin([10, 1000])  # as a thinned plan leaves rows without samples
    curves.loc[thinned, ["sample_min", "sample_max"]] = np.nan
    fig = plots.ranges_figure(curves)
    markers = [t for t in fig.data if t.mode == "markers"]
    assert len(markers) == 4
    for t in markers:
        assert list(t.x) == [1, 100, 4000] and np.isfinite(np.asarray(t.y, dtype=float)).all()
    lines = [t for t in fig.data if t.mode == "lines"]
    assert all(len(t.x) == 5 for t in lines)  # the theory still covers every n


def test_ranges_figure_draws_a_thinned_real_plan():
    from initlab.teaching import ranges

    curves = ranges.range_curves(["orthogonal", "glorot_uniform"], 450, rng=np.random.default_rng(0))
    plan = curves.attrs["plan"]
    assert plan.reduced and "Orthogonal" in plan.note
    fig = plots.ranges_figure(curves)
    orth = [t for t in fig.data if t.mode == "markers" and t.name.startswith("Orthogonal")]
    sampled = plan.entries[0].sampled(np.arange(1, 451))
    assert all(list(t.x) == list(np.arange(1, 451)[sampled]) for t in orth) and 20 < sampled.sum() < 450


# ------------------------------------------------------------------------------- axes and tick labels


@pytest.fixture(scope="module")
def small_uniform() -> network.Result:
    """The ``small_uniform`` preset: every tanh output is within 5e-5 of 1 (the ticks once all read "1")."""
    return propagate(Scenario(init="small_uniform", activation="tanh", depth=10, width=256, batch=256, inputs="minmax"))


@pytest.fixture(scope="module")
def orthogonal() -> network.Result:
    """The ``orthogonal`` preset: the std stays at 0.995 (+-0.04%) for 250 layers."""
    return propagate(Scenario(init="orthogonal", activation="linear", depth=250, width=128, batch=128))


def _value(label: str) -> float:
    """A tick label read back as a number ("1 − 4e−5" too)."""
    text = label.replace(style.MINUS, "-")
    if " + " in text or " - " in text:
        ref, op, diff = text.split(" ")
        return float(ref) + (1 if op == "+" else -1) * float(diff)
    return float(text)


def test_heatmap_ticks_of_a_narrow_range_are_distinct_and_true(small_uniform):
    samples = np.asarray(small_uniform.samples_act, dtype=float)
    assert 0 < samples.max() - samples.min() < 1e-4  # the values sit in a 5e-5 band just below 1
    fig = plots.heatmap_figure(small_uniform)
    vals, text = list(fig.layout.yaxis.tickvals), list(fig.layout.yaxis.ticktext)
    assert len(vals) >= 3 and len(set(text)) == len(text), text
    step = vals[1] - vals[0]
    for v, t in zip(vals, text):
        assert abs(_value(t) - v) < step / 100, (v, t)
    # the hover tells neighbouring bins apart too
    digits = int(re.search(r"%\{y:\.(\d+)g\}", fig.data[0].hovertemplate)[1])
    edges = np.asarray(fig.data[0].y, dtype=float)
    centres = [f"{c:.{digits}g}" for c in 0.5 * (edges[1:] + edges[:-1])]
    assert len(set(centres)) == len(centres)


@pytest.mark.parametrize(("values", "want"), [
    ([0.99996, 0.99997, 0.99998, 0.99999, 1.0], ["0.99996", "0.99997", "0.99998", "0.99999", "1"]),
    ([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"]),
    ([-1.5, -1.0, -0.5, 0.0], ["−1.5", "−1", "−0.5", "0"]),
    ([1e-7, 2e-7, 3e-7], ["1e−7", "2e−7", "3e−7"]),
    ([0.00025, 0.0005], ["2.5e−4", "5e−4"]),
    ([1e11, 1.5e11, 2e11], ["1e+11", "1.5e+11", "2e+11"]),  # not 100B, 150B, 200B
    ([1 - 2e-10, 1 - 1e-10, 1.0, 1 + 1e-10], ["1 − 2e−10", "1 − 1e−10", "1", "1 + 1e−10"]),
    ([42.0], ["42"]),
])
def test_tick_labels_are_distinct_readable_and_scientific(values, want):
    assert style.tick_labels(values) == want


def test_every_numeric_axis_uses_scientific_notation_not_si_suffixes(overflow, underflow, healthy, relu, zero,
                                                                      orthogonal, small_uniform):
    figs = [*all_figures(overflow, underflow, healthy, relu, zero), plots.ranges_figure(ranges_frame(), log_n=True),
            plots.signal_figure({"o": orthogonal}, "act_mean"), plots.heatmap_figure(small_uniform),
            plots.spread_figure(small_uniform)]
    for fig in figs:
        for ax in (fig.layout.xaxis, fig.layout.yaxis):
            assert ax.exponentformat == ("power" if ax.type == "log" else "e"), (ax.title.text, ax.exponentformat)
            for t in ax.ticktext or ():
                assert t == "inf/NaN" or re.fullmatch(r"[−+0-9.e ]+", t), t  # no k, M, G, B, µ
        for t in fig.data:
            assert not re.search(r"%\{[^}]*:[^}]*s\}", t.hovertemplate or "")  # d3's "s" format is SI
            if isinstance(t, go.Heatmap):
                assert t.colorbar.exponentformat == "e"


def test_std_charts_of_the_orthogonal_preset_are_log_and_flat(orthogonal):
    std = orthogonal.layers["act_std"].to_numpy()
    assert std.max() / std.min() < 1.005  # a 0.5% wobble...
    for fig in (plots.signal_figure({"o": orthogonal}), plots.gradient_figure({"o": orthogonal})):
        assert style.axis_is_log(fig)
        lo, hi = fig.layout.yaxis.range
        assert hi - lo >= plots.MIN_LOG_SPAN - 1e-12  # ...on an axis of at least one decade looks flat
        y = np.log10(np.asarray(fig.data[0].y, dtype=float))
        assert abs((lo + hi) / 2 - (y.min() + y.max()) / 2) < 1e-9  # centred on the data


def test_log_axis_span_is_kept_with_an_exact_zero_marker():
    flat = synthetic(geometric(6, 1.0), act_std=[1.0, 1.001, 1.0, 0.999, 1.0, 0.0])
    fig = plots.signal_figure({"flat": flat})
    lo, hi = fig.layout.yaxis.range
    assert hi - lo > plots.MIN_LOG_SPAN and lo < np.log10(fig.data[1].y[0]) < -0.5
    wide = plots.signal_figure({"N": synthetic(geometric(10, 10.0))})
    assert wide.layout.yaxis.range is None  # data spanning decades: plotly's own range


def test_axis_is_log(healthy):
    fig = plots.signal_figure({"tanh": healthy})
    assert style.axis_is_log(fig) and style.axis_is_log(fig, "y") and not style.axis_is_log(fig, "x")
    assert not style.axis_is_log(plots.heatmap_figure(healthy)) and not style.axis_is_log(fig, "y2")
    for bad in ("z", "y1", "yaxis", 2):
        with pytest.raises(ValueError, match="axis"):
            style.axis_is_log(fig, bad)


def test_which_figures_are_log(overflow, healthy, relu):
    """The list the page texts rely on: std / norm / ratio lines are log; nothing else by default."""
    assert style.axis_is_log(plots.signal_figure({"a": healthy}, "act_std"))
    assert style.axis_is_log(plots.signal_figure({"a": healthy}, "pre_std"))
    for column in ("grad_std", "weight_grad_norm", "grad_ratio"):
        assert style.axis_is_log(plots.gradient_figure({"a": relu}, column)), column
    assert not style.axis_is_log(plots.signal_figure({"a": healthy}, "act_mean"))
    for fig in (plots.spread_figure(overflow), plots.heatmap_figure(overflow), plots.fractions_figure({"a": healthy}),
                plots.ranges_figure(ranges_frame())):
        assert not style.axis_is_log(fig, "x") and not style.axis_is_log(fig, "y")


def test_ref_line_labels_sit_at_log10_of_the_value_on_log_axes():
    """plotly.js reads an annotation's coordinate on a log axis as log10(value); the line takes the value."""
    fig = plots.signal_figure({"N": synthetic(geometric(10, 10.0))}, "act_std")  # a log y axis, linear x
    style.ref_line(fig, y=100.0, text="a hundred")
    style.ref_line(fig, x=4.0, text="layer four", position="bottom right")
    hline, vline = fig.layout.shapes[-2:]
    assert hline.y0 == hline.y1 == 100.0 and vline.x0 == vline.x1 == 4.0  # shapes: data values
    by_text = {a.text: a for a in fig.layout.annotations}
    assert by_text["a hundred"].y == pytest.approx(2.0) and by_text["a hundred"].yref == "y"
    assert by_text["layer four"].x == 4.0 and by_text["layer four"].yref == "y domain"
    lin = plots.signal_figure({"N": synthetic(geometric(10, 1.0))}, "act_mean")
    style.ref_line(lin, y=0.5, text="half")
    assert lin.layout.annotations[-1].y == 0.5
    log_x = plots.ranges_figure(ranges_frame(), log_n=True)
    style.ref_line(log_x, x=1000.0, text="n = 1000")
    assert log_x.layout.annotations[-1].x == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        style.ref_line(fig, y=0.0, text="zero")
    with pytest.raises(ValueError, match="exactly one"):
        style.ref_line(fig, x=1.0, y=1.0)


# ------------------------------------------------------------------------------------ every figure


def test_every_figure_has_axis_titles_safe_colours_and_is_deterministic(overflow, underflow, healthy, relu, zero):
    first = all_figures(overflow, underflow, healthy, relu, zero)
    second = all_figures(overflow, underflow, healthy, relu, zero)
    for a, b in zip(first, second):
        assert a.to_json() == b.to_json()
        assert a.layout.xaxis.title.text and a.layout.yaxis.title.text
        assert a.layout.legend.orientation == "h"
        assert a.layout.paper_bgcolor is None and a.layout.plot_bgcolor is None and a.layout.font.color is None
        for t in a.data:
            assert not isinstance(t, go.Scattergl)
            if isinstance(t, go.Scatter):
                for c in (t.line.color, t.marker.color, t.fillcolor):
                    assert c is None or isinstance(c, str)
                    assert str(c).upper() not in ("#F0E442", "#000000", "BLACK", "YELLOW")
                    assert c is None or "240,228,66" not in c


def test_plots_module_does_not_import_streamlit():
    code = "import initlab.plots.signal, sys; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------------------------------- log ticks


def log_axis(lo: float, hi: float, rng: list[float] | None = None) -> go.layout.YAxis:
    fig = go.Figure(go.Scatter(x=[0, 1], y=[lo, hi]))
    fig.update_yaxes(type="log", range=rng)
    return style.log_ticks(fig).layout.yaxis


@pytest.mark.parametrize(("lo", "hi", "dtick"), [(0.01, 100.0, 1), (1.0, 100.0, 1), (1.0, 1e8, 1), (1e-3, 1e30, 5)])
def test_a_log_axis_of_two_decades_or_more_labels_only_decades(lo, hi, dtick):
    """Plotly's own ticks label the minor ticks of a few decades with bare digits ("2 5" beside 10^3):
    "5" below 1 reads as five, not 0.5. From two decades on, only the decades (every k-th over 8)."""
    ax = log_axis(lo, hi)
    assert (ax.tickmode, ax.tick0, ax.dtick) == ("linear", 0, dtick)


@pytest.mark.parametrize(("lo", "hi", "vals", "text"), [
    (0.012, 0.4, [0.02, 0.05, 0.1, 0.2], ["0.02", "0.05", "0.1", "0.2"]),  # 1.5 decades: 1, 2, 5
    (3.0, 80.0, [5, 10, 20, 50], ["5", "10", "20", "50"]),
    (0.3, 0.9, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]),  # every digit
    (1.5e-5, 4e-4, [2e-5, 5e-5, 1e-4, 2e-4], ["2e−5", "5e−5", "1e−4", "2e−4"]),
])
def test_a_narrower_log_axis_labels_every_tick_in_full(lo, hi, vals, text):
    ax = log_axis(lo, hi)
    assert ax.tickmode == "array" and list(ax.tickvals) == pytest.approx(vals) and list(ax.ticktext) == text


def test_log_ticks_leave_a_hair_of_a_decade_and_linear_axes_to_plotly_and_read_a_set_range():
    assert log_axis(0.69, 0.71).tickmode is None  # under a third of a decade plotly labels ticks in full
    lin = go.Figure(go.Scatter(x=[0, 1], y=[1e-3, 1e3]))
    assert style.log_ticks(lin).layout.yaxis.tickmode is None
    assert log_axis(0.5, 0.6, rng=[-3.0, 1.0]).dtick == 1  # the range drawn, not the data, decides


def test_every_log_axis_of_the_signal_and_gradient_figures_has_whole_labels(overflow, underflow, healthy, relu,
                                                                           zero, orthogonal):
    figs = [*all_figures(overflow, underflow, healthy, relu, zero), plots.ranges_figure(ranges_frame(), log_n=True),
            plots.signal_figure({"o": orthogonal}), plots.signal_figure({"tanh": healthy})]
    logs = [(f, a) for f in figs for a in ("x", "y") if style.axis_is_log(f, a)]
    assert len(logs) >= 6
    for fig, a in logs:
        ax = fig.layout[f"{a}axis"]
        assert ax.tickmode == "array" or (ax.tickmode == "linear" and ax.dtick >= 1), (ax.title.text, ax.dtick)


def test_asinh_ticks_never_crowd_each_other():
    from initlab.plots.signal import _asinh_ticks

    # A residual stream from ~1 to 1e38: +-1 sit at +-0.88 beside 0 on an axis of +-88: dropped.
    lo, hi = -88.0, 88.0
    vals, text = _asinh_ticks(lo, hi, 0.998)
    assert "0" in text and "1" not in text and "−1" not in text
    assert min(abs(a - b) for i, a in enumerate(vals) for b in vals[i + 1:]) >= (hi - lo) / 20


def test_axis_titles_say_block_for_residual_networks():
    from initlab.plots.signal import column_title
    from initlab.signal.network import propagate
    from initlab.signal.scenario import Scenario

    plain = propagate(Scenario(depth=3, width=8, batch=4))
    res = propagate(Scenario(depth=3, width=8, batch=4, block="residual"))
    assert column_title("grad_std", {"a": plain}) == "std of ∂loss/∂z (per example)"
    assert column_title("grad_std", {"a": res}) == "std of ∂loss/∂h at the block output (per example)"
    assert "(blocks)" in column_title("grad_std", {"a": plain, "b": res})
    from initlab.plots.signal import signal_figure, x_title

    assert x_title(plain) == "layer" and x_title(res) == "block" and x_title({"a": plain, "b": res}).startswith("layer")
    assert signal_figure({"r": res}, "act_std").layout.xaxis.title.text == "block"
