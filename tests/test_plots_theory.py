"""Figures of the Theory page (initlab.plots.theory), built from real results of the core."""

from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from initlab import propagate
from initlab.plots import style
from initlab.plots import theory as plots_theory
from initlab.signal import spectra
from initlab.theory import meanfield as theory
from initlab.signal.scenario import Scenario


def annotation(fig: go.Figure, start: str) -> go.layout.Annotation:
    hits = [a for a in fig.layout.annotations if (a.text or "").startswith(start)]
    assert len(hits) == 1, [a.text for a in fig.layout.annotations]
    return hits[0]


def log_span(fig: go.Figure) -> tuple[float, float]:
    """log10 of the smallest and largest positive y the traces draw."""
    ys = np.concatenate([np.asarray(t.y, dtype=float) for t in fig.data if t.y is not None])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    return float(np.log10(ys.min())), float(np.log10(ys.max()))


@pytest.fixture(scope="module")
def tanh_lsuv() -> tuple[Scenario, object]:
    s = Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=20, width=64, batch=32)
    return s, propagate(s.replace(lsuv=True)).lsuv


@pytest.fixture(scope="module")
def relu_curve() -> theory.DepthScaleCurve:
    return theory.depth_scale_curve("relu", np.linspace(0.02, 4.0, 200), 0.0)


# ------------------------------------------------------------------------------ labels on log axes


@pytest.mark.parametrize("depth", [10, 100, 1000])
def test_depth_scale_network_label_is_at_log10_depth_inside_the_axis(relu_curve, depth):
    fig = plots_theory.depth_scale_figure(relu_curve, 1.5, depth)
    assert style.axis_is_log(fig)
    label = annotation(fig, "this network")
    assert label.text == f"this network: {depth} layers"
    assert label.y == pytest.approx(math.log10(depth)) and label.yref == "y"
    lo, hi = fig.layout.yaxis.range
    assert lo < label.y < hi


def test_lsuv_target_label_is_at_log10_of_1_inside_the_data(tanh_lsuv):
    s, rep = tanh_lsuv
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    fig = plots_theory.lsuv_figure(rep, own, "N(0, 0.01)")
    label = annotation(fig, "target variance 1")
    assert style.axis_is_log(fig) and label.y == 0.0 and label.yref == "y"
    lo, hi = log_span(fig)
    assert lo <= label.y <= hi


# ------------------------------------------------------------------------------------- phase diagram


def grid(sw2_max: float, sb2_max: float, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The page's grid (products.phase), coarser: σw² from sw2_max / n, σb² from 0."""
    return np.linspace(sw2_max / n, sw2_max, n), np.linspace(0.0, sb2_max, n)


@pytest.fixture(scope="module")
def tanh_small() -> theory.PhaseDiagram:
    return theory.phase_diagram("tanh", *grid(1.5, 0.5))


def point_trace(fig: go.Figure) -> go.Scatter:
    hits = [t for t in fig.data if isinstance(t, go.Scatter) and t.name == "this scenario"]
    assert len(hits) == 1
    return hits[0]


def luminance(colour: str) -> float:
    """WCAG relative luminance of '#rrggbb'."""
    c = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)]) / 255.0
    lin = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)))
    return (lb + 0.05) / (la + 0.05)


LIGHT_BG, DARK_BG = "#ffffff", "#0e1117"  # Streamlit's light and dark backgrounds


def test_phase_colour_bar_is_titled_by_what_its_ticks_show(tanh_small):
    bar = plots_theory.phase_figure(tanh_small, None).data[0].colorbar
    assert bar.ticktext[3] == "1" and bar.ticktext[-1] == "≥ 8"  # χ₁ values...
    assert bar.title.text == "χ₁ (log scale)"  # ...so the title names χ₁, not log₂ χ₁


def test_phase_point_beyond_the_axis_is_drawn_on_its_border_with_its_value(tanh_small):
    from initlab.teaching.presets import PRESETS

    sw2, sb2 = theory.scenario_sigmas(PRESETS["edge_of_chaos"].scenario)  # 1.76, 0.05: beyond 1.5
    fig = plots_theory.phase_figure(tanh_small, (sw2, sb2))
    t = point_trace(fig)
    assert t.x[0] == pytest.approx(tanh_small.sw2[-1]) and t.y[0] == pytest.approx(sb2)  # on the right border
    assert t.marker.symbol == "triangle-right" and t.cliponaxis is False
    assert t.text[0] == "this scenario: σw² = 1.76 →"
    assert list(t.customdata[0]) == pytest.approx([sw2, sb2])  # the real values, for the hover
    corner = point_trace(plots_theory.phase_figure(tanh_small, (25.0, 0.8)))
    assert (corner.x[0], corner.y[0]) == pytest.approx((tanh_small.sw2[-1], 0.5))
    assert corner.marker.symbol == "triangle-ne" and corner.text[0].endswith("σw² = 25, σb² = 0.8 ↗")
    inside = point_trace(plots_theory.phase_figure(tanh_small, (1.0, 0.25)))
    assert (inside.x[0], inside.y[0], inside.marker.symbol, inside.text[0]) == (1.0, 0.25, "x", "this scenario")


def test_phase_names_an_edge_of_chaos_beyond_the_axis():
    sig = theory.phase_diagram("sigmoid", *grid(20.0, 0.5))
    crit0, crit_top = (float(c) for c in theory.critical_sw2("sigmoid", [0.0, 0.5]))
    assert crit0 > 100 and np.nanmin(sig.critical_sw2) > sig.sw2[-1]  # the whole line lies beyond 20
    note = annotation(plots_theory.phase_figure(sig, (1.0, 0.0)), "edge of chaos")
    assert note.text == (f"edge of chaos at<br>σw² = {crit0:.3g} (σb² = 0)<br>to {crit_top:.3g} (σb² = 0.5),"
                         "<br>beyond this axis →")
    assert (note.x, note.xref, note.xanchor) == (1.0, "x domain", "right")
    assert 0 <= note.y <= 0.5
    assert boxed(note)  # dark text on a white box: it lies on sigmoid's dark blue, on either theme
    relu = theory.phase_diagram("relu", *grid(1.5, 0.5))  # σw² = 2 on every row
    assert annotation(plots_theory.phase_figure(relu, None), "edge of chaos").text.startswith(
        "edge of chaos at σw² = 2<br>(σb² = 0 to 0.5)")
    tanh = theory.phase_diagram("tanh", *grid(4.0, 0.5))  # 1 .. 2.84: all inside
    assert not [a for a in plots_theory.phase_figure(tanh, None).layout.annotations if "edge" in a.text]


def test_phase_edge_of_chaos_reads_on_light_and_dark_themes(tanh_small):
    fig = plots_theory.phase_figure(tanh_small, (1.0, 0.1))
    edge = [t for t in fig.data if t.name == "edge of chaos (χ₁ = 1)"]
    assert len(edge) == 1 and edge[0].showlegend is not False
    c = edge[0].line.color
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", c), c  # a colour of its own, not the theme's or a name
    assert contrast(c, LIGHT_BG) >= 3 and contrast(c, DARK_BG) >= 3  # the legend swatch, on either page
    assert contrast(c, "#f7f7f7") >= 3  # RdBu's white at χ₁ = 1, where the line runs
    for t in fig.data:
        if isinstance(t, go.Scatter):
            assert str(t.line.color).lower() not in ("black", "#000000", "#000")


# --------------------------------------------------------------------------------------- depth scales


SW2 = np.linspace(0.02, 4.0, 200)  # the page's curve (products.depth_curve, sw2_max = 4)


@pytest.mark.parametrize("activation, edge", [("relu", 2.0), ("linear", 1.0)])
def test_depth_scale_marks_where_the_signal_grows_without_bound(activation, edge):
    curve = theory.depth_scale_curve(activation, SW2, 0.0)
    assert np.isinf(curve.q_star[SW2 > edge + 0.01]).all() and np.isfinite(curve.q_star[SW2 <= edge]).all()
    fig = plots_theory.depth_scale_figure(curve, None, 50)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1
    assert edge <= rects[0].x0 <= edge + 0.02 and rects[0].x1 == pytest.approx(4.0)  # exactly the blank half
    note = annotation(fig, "χ₁ > 1")
    assert "grows without bound" in note.text and "no depth scale" in note.text
    assert rects[0].x0 < note.x < rects[0].x1
    tanh = plots_theory.depth_scale_figure(theory.depth_scale_curve("tanh", SW2, 0.05), 1.76, 50)
    assert not [s for s in tanh.layout.shapes if s.type == "rect"]  # q* finite everywhere: nothing to mark


def test_depth_scale_critical_line_reads_on_both_themes_and_far_ones_stay_off_the_axis():
    tanh = plots_theory.depth_scale_figure(theory.depth_scale_curve("tanh", SW2, 0.05), 1.76, 50)
    crit = [s for s in tanh.layout.shapes if s.type == "line" and s.x0 == s.x1 and s.line.dash != "dash"]
    assert len(crit) == 1 and crit[0].x0 == pytest.approx(theory.critical_sw2("tanh", 0.05))
    c = crit[0].line.color
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", c), c
    assert contrast(c, LIGHT_BG) >= 3 and contrast(c, DARK_BG) >= 3
    # sigmoid's edge of chaos (σw² ≈ 103) is far beyond 4: the axis keeps the curve's range and says so
    sig = plots_theory.depth_scale_figure(theory.depth_scale_curve("sigmoid", SW2, 0.0), 1.0, 50)
    assert tuple(sig.layout.xaxis.range) == pytest.approx((SW2[0], SW2[-1]))
    assert not [s for s in sig.layout.shapes if s.x0 == s.x1 and s.x0 > SW2[-1]]
    note = annotation(sig, "critical σw²")
    assert note.text == f"critical σw² = {float(theory.critical_sw2('sigmoid', 0.0)):.3g}, beyond this axis →"
    assert (note.x, note.xref) == (1.0, "x domain")


# ----------------------------------------------------------------------------------- Jacobian spectra


@pytest.fixture(scope="module")
def isometry_spectra() -> dict[str, spectra.JacobianSpectra]:
    """The isometry preset, smaller: 25 linear layers of width 64, Gaussian (σw² = 1) and orthogonal."""
    gauss = Scenario(init="variance_scaling", scale=1.0, mode="fan_in", distribution="untruncated_normal",
                     activation="linear", depth=25, width=64, batch=8)
    orth = gauss.replace(init="orthogonal", scale=None, mode=None, distribution=None)
    return {"Gaussian": spectra.jacobian_singular_values(gauss, [1, 12, 25]),
            "orthogonal": spectra.jacobian_singular_values(orth, [1, 12, 25])}


def test_spectra_panels_share_bins_and_an_isometry_is_one_visible_bar(isometry_spectra):
    orth = isometry_spectra["orthogonal"].singular_values
    assert np.abs(orth - 1).max() < 1e-5  # every singular value is 1 up to float32 rounding
    figs = plots_theory.spectra_figures(isometry_spectra)
    assert [f.layout.title.text for f in figs] == ["layer 1", "layer 12", "layer 25"]  # one chart per depth
    assert len({tuple(f.layout.yaxis.range) for f in figs}) == 1  # one count axis, as on a shared one
    for k, traces in enumerate(list(f.data) for f in figs):
        assert figs[k].layout.yaxis.range[1] >= 64  # the spike's bar fits
        assert all(t.xbins.size for t in traces)  # explicit bins: plotly's own made 1e-8 wide ones
        bins = {(t.xbins.start, t.xbins.end, t.xbins.size) for t in traces}
        assert len(bins) == 1  # one set of bins per panel, for every trace
        start, end, size = bins.pop()
        assert size >= 0.05 and end - start >= 1.0  # at least 0.05 decade per bin, a decade per panel
        values = np.concatenate([np.asarray(t.x, dtype=float) for t in traces])
        assert start <= values.min() and values.max() <= end  # nothing falls outside the bins
        edges = np.arange(start, end + size / 2, size)
        spike = [t for t in traces if t.name == "orthogonal"][0]
        counts, _ = np.histogram(np.asarray(spike.x, dtype=float), edges)
        assert counts.max() == orth.shape[1] == 64  # the whole width in one bar, as wide as the other bars
        gauss = [t for t in traces if t.name == "Gaussian"][0]
        assert np.count_nonzero(np.histogram(np.asarray(gauss.x, dtype=float), edges)[0]) > 1


def test_spectra_leave_out_the_values_below_the_rounding_floor(isometry_spectra):
    """The Gaussian stack's smallest singular values fall below float32's rounding floor: they are the
    rounding of J, not the network, and are not drawn (the page's table counts them)."""
    sp = isometry_spectra["Gaussian"]
    summ = sp.summary()
    drawn = [t for f in plots_theory.spectra_figures(isometry_spectra) for t in f.data if t.name == "Gaussian"]
    assert summ["below_floor"][-1] > 0
    for k, t in enumerate(drawn):
        assert len(np.asarray(t.x)) == sp.singular_values.shape[1] - summ["below_floor"][k]
        assert np.asarray(t.x, dtype=float).min() >= np.log10(summ["floor"][k]) - 1e-6


# ----------------------------------------------------------------------------------------------- LSUV


def test_lsuv_start_line_is_the_orthogonal_start_without_rescaling(tanh_lsuv):
    s, rep = tanh_lsuv
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    start = propagate(s.replace(init="orthogonal", stddev=None)).layers["pre_std"].to_numpy(dtype=float) ** 2
    # What the old line drew (var_before: each layer after the earlier ones were rescaled) is not the
    # start: tanh shrinks an unrescaled orthogonal stack layer after layer, to 0.03 by layer 20.
    assert start[-1] < 0.1 < 0.3 < rep.var_before[-1]
    old_call = plots_theory.lsuv_figure(rep, own, "N(0, 0.01)")  # the pages' current positional call
    assert [t.name for t in old_call.data] == ["N(0, 0.01)", "after LSUV"]
    fig = plots_theory.lsuv_figure(rep, own, "N(0, 0.01)", start_var=start)
    assert [t.name for t in fig.data] == ["N(0, 0.01)", "orthogonal start (no rescaling)", "after LSUV"]
    by_name = {t.name: np.asarray(t.y, dtype=float) for t in fig.data}
    assert np.array_equal(by_name["orthogonal start (no rescaling)"], start)
    assert np.array_equal(by_name["after LSUV"], rep.var_after)
    assert not any(np.allclose(y, rep.var_before) for y in by_name.values())
    colours = {t.name: t.line.color for t in fig.data}
    assert {t.name: t.line.color for t in old_call.data}.items() <= colours.items()  # a line keeps its colour


# ------------------------------------------------------------------------------------- readable labels


def boxed(a: go.layout.Annotation) -> bool:
    """Dark words on a (semi-)opaque white box: readable over any colour, on a light or a dark page."""
    return (a.bgcolor or "").startswith("rgba(255,255,255") and contrast(a.font.color, "#ffffff") >= 7


@pytest.mark.parametrize("activation, sw2, sb2, sw2_max", [("tanh", 0.0256, 0.0, 4.0),  # lsuv_rescue
                                                             ("sigmoid", 1.0, 0.0, 150.0),  # the sigmoid default
                                                             ("tanh", 1.0, 0.0, 4.0)])  # on the edge, at σb² = 0
def test_phase_scenario_label_has_a_box_inside_the_plot_and_its_marker_is_whole(activation, sw2, sb2, sw2_max):
    from initlab.ui.results import products

    pd_ = products.phase(activation, sw2_max, 0.5)  # the page's grid: σw² from sw2_max / 120
    assert pd_.sw2[0] > 0
    fig = plots_theory.phase_figure(pd_, (sw2, sb2))
    t = point_trace(fig)
    # 0 <= σw² <= sw2_max is inside (the text beside the chart says so): a cross at its place, even
    # below the grid's first σw² (sigmoid at 1 < 150 / 120 was an "outside" border triangle)
    assert (t.x[0], t.y[0], t.marker.symbol, t.text[0]) == (pytest.approx(sw2), sb2, "x", "this scenario")
    assert t.mode == "markers"  # the words are the annotation's, in a box (a trace's text cannot have one)
    label = annotation(fig, "this scenario")
    assert boxed(label) and (label.x, label.y) == (t.x[0], t.y[0])
    # towards the middle of the plot: right of a marker near the left edge, above one on the bottom
    assert (label.xanchor, label.yanchor) == ("left", "bottom") and label.xshift > 0 and label.yshift > 0
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x0 < 0 <= sw2 and sw2_max < x1 and y0 < 0 <= sb2 and 0.5 < y1  # a marker on the border is whole
    assert -0.05 * sw2_max < x0 and -0.05 * 0.5 < y0  # ...a little beyond, not a wide empty band
    edge = [tr for tr in fig.data if tr.name == "edge of chaos (χ₁ = 1)"][0]
    assert (np.asarray(edge.x, dtype=float) <= pd_.sw2[-1]).all()  # not drawn past the heatmap


def test_phase_label_of_a_point_off_the_top_right_sits_below_and_left_of_it(tanh_small):
    fig = plots_theory.phase_figure(tanh_small, (25.0, 0.8))
    label = annotation(fig, "this scenario")
    assert label.text == "this scenario: σw² = 25, σb² = 0.8 ↗" and boxed(label)
    assert (label.xanchor, label.yanchor) == ("right", "top") and label.xshift < 0 and label.yshift < 0


def test_depth_scale_scenario_label_has_a_box():
    fig = plots_theory.depth_scale_figure(theory.depth_scale_curve("tanh", SW2, 0.0), 1.0, 50)
    assert boxed(annotation(fig, "this scenario: 1"))
    beyond = plots_theory.depth_scale_figure(theory.depth_scale_curve("relu", SW2, 0.0), 10.0, 50)
    assert boxed(annotation(beyond, "this scenario: 10, beyond this axis"))


@pytest.mark.parametrize("activation, sw2, edge", [("linear", 1.0, 1.0), ("relu", 10.0, 2.0), ("relu", 3.0, 2.0)])
def test_depth_scale_note_is_crossed_by_no_reference_line_at_any_depth(activation, sw2, edge):
    """The note in the shaded region sat at half height, where the depth line of a 50-layer network
    runs (and where the dashed scenario line of σw² = 3 runs through a relu's shaded region)."""
    curve = theory.depth_scale_curve(activation, SW2, 0.0)
    for depth in (1, 5, 10, 50, 200, 1000, 5000):
        fig = plots_theory.depth_scale_figure(curve, sw2, depth)
        note = annotation(fig, "χ₁ > 1")
        lo, hi = fig.layout.yaxis.range
        line = (math.log10(depth) - lo) / (hi - lo)  # the depth line's height, a fraction of the plot
        half = 0.08  # three lines of 11-pixel text on a plot about 300 pixels high, and a margin
        assert note.yref == "y domain" and note.yanchor in (None, "middle")
        assert not note.y - half <= line <= note.y + half + 0.06, depth  # nor under the line's own label
        assert 0.1 <= note.y - half and note.y + half <= 0.9  # clear of the labels at the top and bottom
        span = SW2[-1] - SW2[0]
        for x in (edge, sw2):
            assert abs(note.x - x) > 0.1 * span, (depth, x)  # no vertical line through its words


def test_theory_log_axes_label_whole_numbers(relu_curve, tanh_lsuv):
    """The depth scale's 0.3 .. 1000 axis wrote "5" under 1 (for 0.5) and "2 5" beside every decade."""
    s, rep = tanh_lsuv
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    for fig in (plots_theory.depth_scale_figure(relu_curve, 1.5, 50), plots_theory.lsuv_figure(rep, own, "N(0, 0.01)")):
        ax = fig.layout.yaxis
        assert style.axis_is_log(fig) and ax.tickmode == "linear" and ax.dtick >= 1


def test_phase_diagram_fits_a_phone():
    """At 390 px the plot is ~280 px wide: the colour bar goes under it (beside it, it took a third of
    the width), and a label inside the plot has short lines (one long line ran over the σb² axis)."""
    sig = theory.phase_diagram("sigmoid", *grid(4.0, 0.5))
    fig = plots_theory.phase_figure(sig, (1.0, 0.0))
    bar = [t for t in fig.data if isinstance(t, go.Heatmap)][0].colorbar
    assert bar.orientation == "h" and bar.y < 0 and bar.yanchor == "top"
    assert fig.layout.margin.b >= 120  # room for the σw² axis and the bar under it
    for a in fig.layout.annotations:
        assert max(len(line) for line in a.text.split("<br>")) <= 40, a.text
