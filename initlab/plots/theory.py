"""Figures of the Theory page: phase diagram, depth scales, Jacobian spectra, LSUV.

Pure functions, same conventions as :mod:`initlab.plots.style` (Okabe-Ito colours, no theme colours, no SI
suffixes, float data in, ``go.Figure`` out, no randomness).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from initlab.signal.lsuv import LsuvReport
from initlab.plots.style import LABEL_BOX, REF_GREY, colour, dash, finish, nice_step, panel_layout, ref_line
from initlab.signal.spectra import JacobianSpectra
from initlab.theory.meanfield import DepthScaleCurve, PhaseDiagram

__all__ = ["block_variance_figure", "depth_scale_figure", "lsuv_figure", "phase_figure", "spectra_figures",
           "spectra_panel"]

# log2(chi1) is clipped to +-CHI_CLIP for the colours: a factor 8 per layer is already "fast".
CHI_CLIP = 3.0
# The edge of chaos, on every Theory chart: Okabe-Ito bluish green, which reads on a light and a dark
# background (contrast about 3.3 against white, 5.5 against Streamlit's dark #0e1117) and stands apart
# in hue from the red-blue chi1 colours. On the phase diagram it runs where chi1 = 1, which the colour
# scale draws white, so it gets a white casing there (a wider white line underneath).
EDGE = colour(2)
EDGE_CASING = "rgba(255,255,255,0.9)"
# The phase diagram's axes reach this fraction of their span beyond [0, max] on each side, so that a
# marker on the border (σb² = 0: most scenarios) is drawn whole, not cut by the axis.
BORDER_PAD = 0.04
# Where a point off the drawn ranges is put on the border: (dx, dy) -> arrow, marker pointing outward.
_OUTWARD = {(1, 0): ("→", "triangle-right"), (-1, 0): ("←", "triangle-left"), (0, 1): ("↑", "triangle-up"),
            (0, -1): ("↓", "triangle-down"), (1, 1): ("↗", "triangle-ne"), (-1, 1): ("↖", "triangle-nw"),
            (1, -1): ("↘", "triangle-se"), (-1, -1): ("↙", "triangle-sw")}


def _side(v: float, lo: float, hi: float) -> int:
    return 1 if v > hi else -1 if v < lo else 0


def _label_anchor(fx: float, fy: float) -> dict[str, object]:
    """Where a label goes beside a marker at the fractions (fx, fy) of the plot's width and height:
    towards the middle of the plot (right of a marker in the left third, left in the right third;
    above one in the lower half, below in the upper), so that it stays inside the plot area."""
    h = "left" if fx < 0.35 else "right" if fx > 0.65 else "center"
    return dict(xanchor=h, xshift={"left": 10, "right": -10, "center": 0}[h],
                yanchor="bottom" if fy < 0.5 else "top", yshift=11 if fy < 0.5 else -11)


def _scenario_point(fig: go.Figure, pd_: PhaseDiagram, point: tuple[float, float], label: str,
                    ranges: tuple[tuple[float, float], tuple[float, float]]) -> None:
    """The scenario's cross; off the drawn ranges (inside: 0 <= σw² <= the last grid σw², 0 <= σb² <=
    the last grid σb²), a triangle on the border pointing outward with its real values in the label
    ("this scenario: σw² = 1.76 →"), so the student sees where it is.

    The label is an annotation in :data:`LABEL_BOX` (dark on a white box: it reads on every χ₁ colour
    and on either theme, and an edge-of-chaos line under it does not cross the words), placed inside the
    plot (:func:`_label_anchor`; ``ranges`` are the axis ranges): a trace's own text cannot have a box.
    The point's trace is named ``label`` and holds the label as its ``text`` (for what reads the
    figure's data) without drawing it.
    """
    sw2, sb2 = float(point[0]), float(point[1])
    (x0, x1), (y0, y1) = (0.0, float(pd_.sw2[-1])), (0.0, float(pd_.sb2[-1]))
    dx, dy = _side(sw2, x0, x1), _side(sb2, y0, y1)
    symbol, text = "x", label
    if dx or dy:
        arrow, symbol = _OUTWARD[(dx, dy)]
        real = [f"σw² = {sw2:.3g}"] * bool(dx) + [f"σb² = {sb2:.3g}"] * bool(dy)
        text = f"{label}: {', '.join(real)} {arrow}"
    x, y = min(max(sw2, x0), x1), min(max(sb2, y0), y1)
    fig.add_trace(go.Scatter(
        x=[x], y=[y], mode="markers", name=label, text=[text],
        cliponaxis=False, customdata=[[sw2, sb2]],
        marker=dict(size=14, symbol=symbol, color=colour(1), line=dict(width=2, color="#1a1a1a")),
        hovertemplate=f"{label}<br>σw² %{{customdata[0]:.3g}}<br>σb² %{{customdata[1]:.3g}}<extra></extra>",
    ))
    (rx0, rx1), (ry0, ry1) = ranges
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, **LABEL_BOX,
                       **_label_anchor((x - rx0) / (rx1 - rx0), (y - ry0) / (ry1 - ry0)))


def _edge_beyond(fig: go.Figure, pd_: PhaseDiagram) -> None:
    """Say where the edge of chaos is when (part of) it lies right of the drawn σw² range, with its σw²
    at the first and last such σb² row (``critical_sw2`` is solved per row over 1e-6 .. 1e6, whatever
    the grid). None lies left of it: the axis starts at σw² = 0. The words are in :data:`LABEL_BOX`: near-black
    text with a white halo (its former style) all but vanished on sigmoid's dark blue, on either theme."""
    crit, sb2 = pd_.critical_sw2, pd_.sb2
    idx = np.flatnonzero(np.isfinite(crit) & (crit > float(pd_.sw2[-1])))
    if not idx.size:
        return
    a, b = idx[0], idx[-1]
    # Short lines: the plot is ~280 px wide on a phone, and a longer line ran over the σb² axis.
    if a == b:
        at = f"edge of chaos at<br>σw² = {crit[a]:.3g} (σb² = {sb2[a]:.3g})"
    elif f"{crit[b]:.3g}" == f"{crit[a]:.3g}":  # relu: 2 on every row
        at = f"edge of chaos at σw² = {crit[a]:.3g}<br>(σb² = {sb2[a]:.3g} to {sb2[b]:.3g})"
    else:
        at = f"edge of chaos at<br>σw² = {crit[a]:.3g} (σb² = {sb2[a]:.3g})<br>to {crit[b]:.3g} (σb² = {sb2[b]:.3g})"
    fig.add_annotation(x=1.0, xref="x domain", xanchor="right", y=float(0.5 * (sb2[a] + sb2[b])), yref="y",
                       showarrow=False, text=f"{at},<br>beyond this axis →", align="right", **LABEL_BOX)


def phase_figure(pd_: PhaseDiagram, point: tuple[float, float] | None, label: str = "this scenario") -> go.Figure:
    """chi1 over (sigma_w^2, sigma_b^2) as colour (log scale: blue ordered < 1 < red chaotic), the edge
    of chaos chi1 = 1 and the scenario's point.

    The colour bar's ticks are chi1 values (≤ ⅛ … ≥ 8) on a log scale, and its title says so. The axes
    run from 0 (the grid's first σw² is just above it) to the grid's last value, BORDER_PAD beyond on
    both sides, so a marker on the border is drawn whole. A point outside [0, max σw²] × [0, max σb²]
    is drawn on the border (see :func:`_scenario_point`; its trace is named ``label``, the
    real values in ``customdata``), and an edge of chaos (partly) beyond the σw² range is named at that
    border with its value (sigmoid's is near σw² = 103).
    """
    with np.errstate(all="ignore"):
        z = np.clip(np.log2(pd_.chi1), -CHI_CLIP, CHI_CLIP)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=pd_.sw2.astype(np.float32), y=pd_.sb2.astype(np.float32), z=z.astype(np.float32), zmid=0,
        zmin=-CHI_CLIP, zmax=CHI_CLIP, colorscale="RdBu_r", customdata=pd_.chi1.astype(np.float32),
        # Under the plot, across it: beside it, the colour bar took a third of a phone's width from the plot.
        colorbar=dict(title=dict(text="χ₁ (log scale)", side="top"), tickvals=[-3, -2, -1, 0, 1, 2, 3],
                      ticktext=["≤ ⅛", "¼", "½", "1", "2", "4", "≥ 8"], orientation="h", thickness=12,
                      x=0.0, xanchor="left", len=1.0, y=-0.22, yanchor="top"),
        hovertemplate="σw² %{x:.3g}<br>σb² %{y:.3g}<br>χ₁ %{customdata:.3g}<extra></extra>", name="χ₁",
    ))
    # The edge within the drawn σw² range (beyond it, _edge_beyond names it): the axes reach a little
    # past the heatmap, and a line drawn there would run off the colours it is the border of.
    ok = np.isfinite(pd_.critical_sw2) & (pd_.critical_sw2 <= pd_.sw2[-1])
    x, y = pd_.critical_sw2[ok].astype(np.float32), pd_.sb2[ok].astype(np.float32)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=EDGE_CASING, width=7), showlegend=False,
                             hoverinfo="skip", legendgroup="edge"))
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="edge of chaos (χ₁ = 1)", legendgroup="edge",
                             line=dict(color=EDGE, width=3),
                             hovertemplate="edge of chaos<br>σw² %{x:.3g}<br>σb² %{y:.3g}<extra></extra>"))
    _edge_beyond(fig, pd_)
    ranges = tuple((-BORDER_PAD * hi, (1 + BORDER_PAD) * hi) for hi in (float(pd_.sw2[-1]), float(pd_.sb2[-1])))
    if point is not None:
        _scenario_point(fig, pd_, point, label, ranges)
    fig.update_xaxes(range=list(ranges[0]))
    fig.update_yaxes(range=list(ranges[1]))
    finish(fig, "σw² (weight variance × fan-in)", "σb² (bias variance)")
    return fig.update_layout(height=520, margin=dict(b=130))  # the colour bar below the σw² axis


def _vline(fig: go.Figure, x: float, text: str, lo: float, hi: float, line: dict, position: str,
           box: bool = False) -> None:
    """A labelled vertical line at ``x``, or, when ``x`` is outside [lo, hi], its label at that border with
    an arrow (a line far off, sigmoid's critical σw² = 103, would stretch the axis and flatten the curves).
    ``box``: the label in :data:`LABEL_BOX` (it crosses the curves)."""
    if lo <= x <= hi:
        ref_line(fig, x=x, text=text, position=position, line=line, box=box)
        return
    right, top = x > hi, position.startswith("top")
    style = LABEL_BOX if box else dict(font=dict(size=11, color=line["color"]))
    fig.add_annotation(x=1.0 if right else 0.0, xref="x domain", xanchor="right" if right else "left",
                       y=1.0 if top else 0.0, yref="y domain", yanchor="top" if top else "bottom", showarrow=False,
                       text=f"{text}, beyond this axis →" if right else f"← {text}, below this axis", **style)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def depth_scale_figure(curve: DepthScaleCurve, sw2: float | None, depth: int) -> go.Figure:
    """The depth scales xi_c (correlations) and xi_q (lengths) against sigma_w^2 at the scenario's
    sigma_b^2, the critical sigma_w^2 (xi_c diverges), the scenario's sigma_w^2 and its depth.

    Where the q-map has no finite fixed point (``curve.q_star`` is inf: linearly growing activations
    such as linear and relu in the chaotic phase) the signal's size grows without bound and there is no
    depth scale: that σw² range is shaded and says so, instead of being left blank, where no reference
    line crosses the words (away from the depth line, :func:`_note_height`, and between the vertical
    lines, :func:`_widest_gap`). The σw² axis is the curve's range; a critical or scenario σw² beyond
    it is named at the border. The scenario's label crosses the curves: it has a box (LABEL_BOX).
    """
    fig = go.Figure()
    for i, (name, ys) in ((0, ("ξ_c: depth over which inputs stay distinguishable", curve.xi_c)),
                          (4, ("ξ_q: depth over which the signal's size settles", curve.xi_q))):
        y = np.where(np.isfinite(ys) & (ys > 0), ys, np.nan)
        fig.add_trace(go.Scatter(x=curve.sw2, y=y, mode="lines", name=name, line=dict(color=colour(i), dash=dash(i))))
    x = np.asarray(curve.sw2, dtype=np.float64)
    lo, hi = float(x[0]), float(x[-1])
    # xi diverges at the critical point: the axis stops two decades above the network's depth so that
    # the finite part stays readable (the peak runs off the top, as a divergence should).
    y_range = (math.log10(0.3), math.log10(max(1e3, 100.0 * depth)))
    lines = [v for v in (curve.critical_sw2, sw2) if v is not None and math.isfinite(v)]
    for a, b in _runs(np.isinf(curve.q_star)):
        x0 = lo if a == 0 else 0.5 * (x[a - 1] + x[a])  # the border between the last finite and first inf q*
        x1 = hi if b == x.size - 1 else 0.5 * (x[b] + x[b + 1])
        fig.add_vrect(x0=x0, x1=x1, fillcolor=REF_GREY, opacity=0.18, line_width=0, layer="below")
        ge = "≥" if np.nanmin(curve.chi1[a:b + 1]) <= 1 else ">"
        fig.add_annotation(x=_widest_gap(x0, x1, lines), y=_note_height(depth, y_range), yref="y domain",
                           showarrow=False, font=dict(size=11),
                           text=f"χ₁ {ge} 1: the signal's size<br>grows without bound,<br>no depth scale")
    fig.update_yaxes(type="log", range=list(y_range))
    fig.update_xaxes(range=[lo, hi])
    ref_line(fig, y=depth, text=f"this network: {depth} layers")
    if math.isfinite(curve.critical_sw2):
        _vline(fig, curve.critical_sw2, f"critical σw² = {curve.critical_sw2:.3g}", lo, hi,
               dict(color=EDGE, width=2), "top right")
    if sw2 is not None:
        _vline(fig, sw2, f"this scenario: {sw2:.3g}", lo, hi, dict(color=colour(1), dash="dash"), "bottom right",
               box=True)
    return finish(fig, "σw² (weight variance × fan-in)", "depth scale ξ (layers)", hovermode="x unified")


# Where the depth-scale chart's labels sit, as fractions of the plot height: the critical σw²'s label
# hangs from the top, the scenario's stands on the bottom, and the network's depth line has its label
# just above it. A note in the shaded region keeps clear of all three.
NOTE_BAND = (0.12, 0.86)  # above the scenario's label, below the critical σw²'s
DEPTH_CLEAR = (0.1, 0.14)  # below and above the depth line (its label sits above it)


def _note_height(depth: int, y_range: tuple[float, float]) -> float:
    """The middle of the taller of the two stretches of NOTE_BAND left free by the depth line."""
    f = (math.log10(depth) - y_range[0]) / (y_range[1] - y_range[0])
    below = (NOTE_BAND[0], min(NOTE_BAND[1], f - DEPTH_CLEAR[0]))
    above = (max(NOTE_BAND[0], f + DEPTH_CLEAR[1]), NOTE_BAND[1])
    a, b = max(below, above, key=lambda band: band[1] - band[0])
    return 0.5 * (a + b)


def _widest_gap(x0: float, x1: float, lines: list[float]) -> float:
    """The middle of the widest stretch of [x0, x1] between the vertical lines at ``lines``."""
    cuts = sorted({x0, x1, *(v for v in lines if x0 < v < x1)})
    a, b = max(zip(cuts[:-1], cuts[1:]), key=lambda gap: gap[1] - gap[0])
    return 0.5 * (a + b)


SPECTRA_BINS = 40  # bins per panel at most
MIN_BIN_DECADES = 0.05  # the narrowest bin, in decades of the singular value
MIN_SPAN_DECADES = 1.0  # a panel's bins span at least this many decades, centred on its values


def _log_bins(values: list[np.ndarray]) -> dict[str, float] | None:
    """One set of bins for every trace of a panel (``xbins`` of log10 s), from the union of its values.

    Bins are at least MIN_BIN_DECADES wide and cover at least MIN_SPAN_DECADES: left to plotly
    (``nbinsx``), values all equal to rounding (an orthogonal stack's 1s) got bins 1e-8 wide, a spike
    too thin to see. Bin centres sit on multiples of the width, so s = 1 (log10 s = 0) is one bin's
    centre and an isometry is one bar. None when the panel has no finite positive value.
    """
    v = np.concatenate(values) if values else np.empty(0)
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < MIN_SPAN_DECADES:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5 * MIN_SPAN_DECADES, mid + 0.5 * MIN_SPAN_DECADES
    size = max(nice_step((hi - lo) / SPECTRA_BINS), MIN_BIN_DECADES)
    first, last = math.floor(lo / size + 0.5), math.floor(hi / size + 0.5)  # bins whose centres k * size hold lo, hi
    return dict(start=(first - 0.5) * size, end=(last + 0.5) * size, size=size)


def spectra_panel(spectra: Mapping[str, JacobianSpectra], k: int) -> go.Figure:
    """Histogram of the singular values of dh_l/dh_0 (log10 axis) at the ``k``-th depth, one colour per
    initializer; all traces share the panel's bins (:func:`_log_bins`), so a spike is a bar as wide as
    the other initializer's bars. Values below the spectrum's rounding floor
    (:meth:`~initlab.signal.spectra.JacobianSpectra.floor`) are left out: they are the dtype's rounding,
    not the network's (the page's table counts them).

    One chart per depth (:func:`spectra_figures`; the page lays them out in columns), every panel with
    the same count axis (0 to the tallest bar of any panel), so that bars compare across depths as they
    did on one figure's shared axis.
    """
    logs = _spectra_logs(spectra)
    depth = int(next(iter(spectra.values())).depths[k])
    bins = _log_bins([x[k] for x in logs.values()])
    fig = go.Figure()
    for i, (label, x) in enumerate(logs.items()):
        fig.add_trace(go.Histogram(x=x[k].astype(np.float32), name=label, marker=dict(color=colour(i)), opacity=0.65,
                                   xbins=bins, hovertemplate="log₁₀ s %{x}<br>%{y} values<extra>" + label + "</extra>"))
    if not any(x[k].size for x in logs.values()):  # every value below the rounding floor: say so
        fig.add_annotation(text="every singular value<br>below the rounding floor", showarrow=False,
                           xref="x domain", yref="y domain", x=0.5, y=0.5)
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text="log₁₀ singular value", range=[bins["start"], bins["end"]] if bins else None)
    fig.update_yaxes(title_text="count", range=[0, 1.08 * _tallest_bar(logs) + 1])  # + 1: a bar on an edge
    return panel_layout(fig, f"layer {depth}")


def _spectra_logs(spectra: Mapping[str, JacobianSpectra]) -> dict[str, list[np.ndarray]]:
    """log10 of every drawn singular value, per initializer and depth (those above the rounding floor)."""
    logs: dict[str, list[np.ndarray]] = {}
    for label, sp in spectra.items():
        with np.errstate(all="ignore"):
            logs[label] = [np.log10(s[np.isfinite(s) & (s > 0) & (s >= f)]) for s, f in zip(sp.singular_values, sp.floor())]
    return logs


def _tallest_bar(logs: Mapping[str, list[np.ndarray]]) -> int:
    """The largest count of any bar of any panel (each panel with its own bins, as drawn)."""
    tallest = 0
    for k in range(len(next(iter(logs.values()), []))):
        bins = _log_bins([x[k] for x in logs.values()])
        if bins is None:
            continue
        edges = np.arange(bins["start"], bins["end"] + bins["size"] / 2, bins["size"])
        for x in logs.values():
            if x[k].size:
                tallest = max(tallest, int(np.histogram(x[k].astype(np.float32), edges)[0].max()))
    return tallest


def spectra_figures(spectra: Mapping[str, JacobianSpectra]) -> list[go.Figure]:
    """:func:`spectra_panel` at every depth, in order."""
    return [spectra_panel(spectra, k) for k in range(len(next(iter(spectra.values())).depths))]


def lsuv_figure(report: LsuvReport, own_var: np.ndarray | None, own_label: str,
                start_var: np.ndarray | None = None) -> go.Figure:
    """Per-layer variance of the pre-activations, log axis: with the scenario's own initializer
    (``own_var``, named ``own_label``; None leaves it out), at LSUV's orthogonal start as drawn, with no
    rescaling at all (``start_var``: Var(z) of the same scenario with ``init="orthogonal"`` and
    ``lsuv=False``; None leaves it out), and after LSUV (``report.var_after``); the target 1 as a grey
    line. Each line keeps its colour whichever others are drawn.

    ``report.var_before`` is not drawn: it is each layer's variance after the EARLIER layers were
    already rescaled (what LSUV corrects at that layer), not the orthogonal start it was once named.
    """
    layers = np.arange(1, report.var_after.size + 1)
    fig = go.Figure()
    lines = ((0, own_label, own_var), (1, "orthogonal start (no rescaling)", start_var),
             (2, "after LSUV", report.var_after))
    for i, name, v in lines:
        if v is None:
            continue
        v = np.asarray(v, dtype=np.float64)
        y = np.where(np.isfinite(v) & (v > 0), v, np.nan)
        fig.add_trace(go.Scatter(x=layers, y=y, mode="lines+markers" if layers.size <= 60 else "lines", name=name,
                                 line=dict(color=colour(i), dash=dash(i)), marker=dict(size=5)))
    fig.update_yaxes(type="log")
    ref_line(fig, y=1.0, text="target variance 1", position="top right")
    return finish(fig, "layer", "Var(z) over the batch", hovermode="x unified")


def block_variance_figure(measured: np.ndarray, predicted: np.ndarray | None, label: str) -> go.Figure:
    """The variance of each block's output h_l (the residual stream, or the normalised layer's output),
    measured (solid, ``measured``) and its mean-field recursion q_l (dotted, ``predicted``; None leaves
    it out), against the block, on a log axis: as the Signal page draws a measured line and its
    mean-field curve, in one colour. Values that are not finite and positive are not drawn."""
    blocks_ = np.arange(1, np.asarray(measured).size + 1)
    fig = go.Figure()
    for name, v, style in ((label, measured, dict(color=colour(0), width=2)),
                           (f"{label} (mean-field)", predicted, dict(color=colour(0), dash="dot", width=2))):
        if v is None:
            continue
        v = np.asarray(v, dtype=np.float64)
        y = np.where(np.isfinite(v) & (v > 0), v, np.nan)
        fig.add_trace(go.Scatter(x=blocks_, y=y, name=name, legendgroup=label, line=style,
                                 mode="lines+markers" if blocks_.size <= 60 and v is measured else "lines",
                                 marker=dict(size=4, color=colour(0))))
    fig.update_yaxes(type="log")
    # At least one decade, centred on the data (as the Signal page's log axes): a post-norm stream's flat
    # variance must look flat, not like a cliff on an axis zoomed to its 0.1 % wobble.
    ys = np.concatenate([np.asarray(v, dtype=np.float64) for v in (measured, predicted) if v is not None])
    ys = np.log10(ys[np.isfinite(ys) & (ys > 0)])
    if ys.size and ys.max() - ys.min() < 1.0:
        mid = 0.5 * (ys.max() + ys.min())
        fig.update_yaxes(range=[mid - 0.5, mid + 0.5])
    return finish(fig, "block", "Var(h) over the batch", hovermode="x unified")
