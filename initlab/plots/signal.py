"""Figures: result data in, plotly ``go.Figure`` out.

Pure functions: no streamlit, no randomness, no I/O; the same data always gives the same figure
(``fig.to_json()`` identical). Conventions shared by every figure:

* colours from the Okabe-Ito palette (colour-blind safe) minus yellow and black, which vanish on a
  light or a dark background; mid grey ``#999999`` for reference lines; traces also differ by dash
  pattern, so they stay apart in greyscale and for every kind of colour vision;
* labelled reference lines are drawn by :func:`ref_line`, which places the label where plotly.js
  reads it on a log axis (log10 of the value), never by ``add_hline(annotation_text=...)``;
* no background or font colour and no template is set, so Streamlit's theme (light or dark) styles
  the chart;
* legends horizontal above the plot, hover values with 3 significant digits, both axis titles set;
* numbers never carry plotly's default SI-like suffixes ("180B", "5µ"): log axes write powers of ten,
  linear ones plotly's "e" notation (1.8e+11), and the tick labels set here (:func:`_tick_labels`) have
  as many digits as it takes to tell neighbours apart;
* per-layer magnitudes (stds, norms, ratios) are on a log axis of at least one decade, centred on the
  data; :func:`axis_is_log` says which axis is logarithmic (for tests of texts that speak of "the log
  scale"); every log axis labels its ticks by :func:`log_ticks` (whole numbers, never plotly's bare
  minor digits);
* a label drawn over data (a scenario's marker or line) has a readable box, :data:`LABEL_BOX`: dark
  text on a semi-opaque white box, the same on a light and a dark page;
* arrays are float64 when short (per-layer lines: at most 1000 points) and float32 for the heatmap;
  nothing is downsampled, and no trace has more than 5000 points, so none needs ``go.Scattergl``.

Values a log axis cannot show are marked instead of silently dropped: the first layer whose value is
exactly 0 gets a marker and an annotation ("underflowed to 0 at layer N" when the values before it were
vanishingly small, "exactly 0 at layer N" otherwise, e.g. zero init), and the first layer holding
inf/NaN gets a dashed vertical line and "overflowed to inf at layer N", in the colour of its trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from initlab.weights import activations
from initlab.signal.network import Result

PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
DASHES: tuple[str, ...] = ("solid", "dash", "dashdot", "longdash", "longdashdot")  # "dot" is kept for theory
REF_GREY = "#999999"
EMPTY_NOTE = "Nothing to draw yet: choose at least one scenario."
# A label over data: dark text on a semi-opaque white box reads over any colour and on either theme.
LABEL_BOX: dict[str, object] = dict(bgcolor="rgba(255,255,255,0.85)", bordercolor="rgba(26,26,26,0.5)",
                                    borderwidth=1, borderpad=2, font=dict(size=11, color="#1a1a1a"))

LOG_DECADES = 2.0  # automatic log axis when the positive values span more than this many decades
MIN_LOG_SPAN = 1.0  # a log y axis shows at least this many decades, centred on the data
# Non-negative per-layer magnitudes: drawn on a log axis by default, because depth multiplies them (a
# constant factor per layer is a straight line) and because a near-constant one must look flat, not
# like a cliff on an axis zoomed to its 0.5% wobble.
MAGNITUDE_COLUMNS = frozenset({"act_std", "pre_std", "grad_std", "weight_norm", "weight_grad_norm", "grad_ratio",
                               "unit_spread"})
MINUS = "\u2212"  # the minus sign plotly itself writes in tick labels
DECADE_TICKS_FROM = 2.0  # a log axis spanning at least this many decades labels only (some of) its decades
MAX_DECADE_LABELS = 8  # ... every k-th decade, k = ceil(span / this), so no more than about this many labels
ASINH_RATIO = 1e3  # automatic asinh axis when max |value| exceeds this multiple of the scale s
UNDERFLOW_RATIO = 1e-6  # a 0 after a value below this fraction of the series' largest is an underflow

COLUMN_TITLES: dict[str, str] = {
    "act_std": "std of activations h",
    "act_mean": "mean of activations h",
    "pre_std": "std of pre-activations z",
    "pre_mean": "mean of pre-activations z",
    "unit_spread": "spread across units (max − min of h)",
    "weight_norm": "‖W‖ (Frobenius)",
    "grad_std": "std of ∂loss/∂z (per example)",
    "grad_mean": "mean of ∂loss/∂z (per example)",
    "weight_grad_norm": "‖∂L/∂W‖ (Frobenius)",
    "grad_ratio": "‖∂L/∂W‖ / ‖W‖",
}
_VALUE_NAMES = {"act": ("h", "activation h"), "pre": ("z", "pre-activation z")}


# --------------------------------------------------------------------------------------------- helpers


def colour(i: int) -> str:
    """The i-th trace colour (Okabe-Ito, no yellow or black), cycling."""
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    """The i-th dash pattern, cycling; with :func:`colour` the first 30 traces all differ."""
    return DASHES[i % len(DASHES)]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


def axis_is_log(fig: go.Figure, axis: str = "y") -> bool:
    """Whether ``fig``'s ``axis`` (``"x"``, ``"y"``, ``"y2"``...) has a logarithmic scale.

    For tests of page texts: a sentence that speaks of "the log scale" must sit above a figure for
    which this is True.
    """
    match = re.fullmatch(r"([xy])([2-9]|[1-9][0-9]+)?", axis) if isinstance(axis, str) else None
    if match is None:
        raise ValueError(f"axis must be 'x', 'y' or a numbered one such as 'y2'; received {axis!r}")
    # A figure without that axis (no subplots) has no log axis of that name; plotly would raise.
    return fig.layout.to_plotly_json().get(f"{match[1]}axis{match[2] or ''}", {}).get("type") == "log"


def axis_position(value: float, log: bool) -> float:
    """Where plotly.js puts an annotation (or an axis range end) for the data value ``value``: on a log
    axis it reads those coordinates as log10 of the value (shapes and traces take the value itself)."""
    if not log:
        return float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"a log axis can only place a positive finite value; received {value!r}")
    return math.log10(value)


def ref_line(
    fig: go.Figure,
    *,
    x: float | None = None,
    y: float | None = None,
    text: str | None = None,
    log: bool | None = None,
    line: Mapping[str, object] | None = None,
    position: str = "top left",
    row: int | None = None,
    col: int | None = None,
    box: bool = False,
) -> go.Figure:
    """A labelled reference line: horizontal at the data value ``y`` or vertical at ``x``.

    plotly's ``add_hline(..., annotation_text=...)`` gives the label the data value as its coordinate,
    but plotly.js reads an annotation's coordinate on a log axis as log10 of the value (the line itself,
    a shape, takes the value): "target variance 1" landed at 10 and "this network: 100 layers" at
    1e100. Here the label's coordinate is :func:`axis_position` of the value. ``log=None`` reads the
    axis type the figure has at the time of the call (set a log axis first); ``row``/``col`` pick a
    subplot. ``position`` ("top left", "top right", "bottom left", "bottom right"): for a horizontal
    line, above or below it at its left or right end; for a vertical one, at the top or bottom of the
    plot, left or right of it. The line is dotted REF_GREY unless ``line`` says otherwise. ``box`` draws
    the label in :data:`LABEL_BOX` (for a label that lies over the data, such as the scenario's).
    """
    if (x is None) == (y is None):
        raise ValueError("give exactly one of x (a vertical line) or y (a horizontal line)")
    vert, side = position.split()
    if vert not in ("top", "bottom") or side not in ("left", "right"):
        raise ValueError(f"position must be 'top left', 'top right', 'bottom left' or 'bottom right'; "
                         f"received {position!r}")
    xa, ya = "x", "y"
    if row is not None or col is not None:
        sub = fig.get_subplot(row or 1, col or 1)
        xa, ya = sub.xaxis.plotly_name.replace("axis", ""), sub.yaxis.plotly_name.replace("axis", "")
    vertical = x is not None
    value = float(x if vertical else y)  # type: ignore[arg-type]
    if log is None:
        log = axis_is_log(fig, xa if vertical else ya)
    at = axis_position(value, log)
    where = dict(row=row, col=col) if row is not None or col is not None else {}
    style = dict(line) if line is not None else dict(color=REF_GREY, dash="dot", width=1.5)
    if vertical:
        fig.add_vline(x=value, line=style, **where)
    else:
        fig.add_hline(y=value, line=style, **where)
    if text:
        top = vert == "top"
        if vertical:
            place = dict(x=at, xref=xa, y=1.0 if top else 0.0, yref=f"{ya} domain", yanchor="top" if top else "bottom",
                         xanchor="left" if side == "right" else "right", xshift=3 if side == "right" else -3)
        else:
            place = dict(x=0.0 if side == "left" else 1.0, xref=f"{xa} domain", y=at, yref=ya, xanchor=side,
                         yanchor="bottom" if top else "top")
        style = LABEL_BOX if box else dict(font=dict(size=11))
        fig.add_annotation(text=text, showarrow=False, **style, **place)
    return fig


def _plain(text: str) -> str:
    """Trailing zeros after the decimal point removed, typographic minus, no "-0"."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace("-", MINUS)


def _sci(v: float, digits: int) -> str:
    """``v`` in scientific notation as plotly's ``exponentformat="e"`` writes it (1.5e−7, 2e+5), with
    ``digits`` decimals of the mantissa at most; exponent 0 is left out."""
    mant, exp = f"{v:.{max(0, digits)}e}".split("e")
    e = int(exp)
    return _plain(mant) + (f"e{'+' if e > 0 else MINUS}{abs(e)}" if e else "")


def _number(v: float, e_step: int, e_mag: int) -> str:
    """``v`` with its digits down to 10^e_step: plain for 1e-3 <= |values| < 1e4, else scientific."""
    if v == 0:
        return "0"
    if -3 <= e_mag <= 3:
        return _plain(f"{v:.{max(0, -e_step)}f}")
    return _sci(v, math.floor(math.log10(abs(v))) - e_step)


MAX_PLAIN_DIGITS = 6  # beyond this many significant digits, ticks are written as an offset ± a difference


def _tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for evenly spaced tick values: distinct, short, never with SI suffixes.

    Each label has the digits that tell it from its neighbours (0.99996, 0.99997, ... 1, where ``.3g``
    wrote 1, 1, 1); plain numbers for magnitudes 1e-3 .. 1e4 and scientific notation outside (plotly's
    "e" format: 2.5e−7, 1e+6). Ticks that need more than MAX_PLAIN_DIGITS significant digits (a float64
    range of 1e-10 around 1) are written as the roundest tick and differences from it ("1 + 2e−10").
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.size == 0:
        return []
    uniq = np.unique(vals)
    steps = np.diff(uniq)
    if not (np.isfinite(vals).all() and steps.size and steps.min() > 0):
        return [_sci(float(v), 2) if np.isfinite(v) and v != 0 and not 1e-3 <= abs(v) < 1e4 else _plain(f"{v:.3g}")
                for v in vals]
    step = float(steps.min())
    e_step = math.floor(math.log10(step) + 1e-9)  # 0.99999 - 0.99998 is 9.99999999995e-06, a step of 1e-5
    if abs(step / 10.0**e_step - round(step / 10.0**e_step)) > 1e-6:  # 2.5 x 10^k needs one more digit
        e_step -= 1
    mag = float(np.abs(vals).max())
    e_mag = math.floor(math.log10(mag))
    if e_mag - e_step + 1 <= MAX_PLAIN_DIGITS:
        return [_number(float(v), e_step, e_mag) for v in vals]

    def roundness(v: float) -> int:  # the largest k with v a multiple of 10^k (to a thousandth of the step)
        if v == 0:
            return 400
        for k in range(e_mag + 1, e_step - 1, -1):
            r = v / 10.0**k
            if abs(r - round(r)) * 10.0**k <= step * 1e-3:
                return k
        return e_step

    mid = 0.5 * (vals.min() + vals.max())
    ref = float(max(vals, key=lambda v: (roundness(float(v)), -abs(v - mid))))
    ref_text = _number(ref, min(roundness(ref), e_mag), e_mag) if ref != 0 else "0"
    out = []
    for v in vals:
        d = float(v) - ref
        if abs(d) <= step * 1e-3:
            out.append(ref_text)
        else:
            out.append(f"{ref_text} {'+' if d > 0 else MINUS} {_sci(abs(d), math.floor(math.log10(abs(d))) - e_step)}")
    return out


def _log_label(v: float) -> str:
    """A tick label on a log axis for v = m × 10^k, written whole: "0.02", "500", or in the "e"
    notation of the linear axes outside 1e-3 .. 1e4 ("2e−5")."""
    k = math.floor(math.log10(v) + 1e-9)
    return _plain(f"{v:.{max(0, -k)}f}") if -3 <= k <= 3 else _sci(v, 0)


def _axis_values(fig: go.Figure, axis: str) -> np.ndarray:
    """The positive finite values the traces and data-referenced shapes of ``fig`` put on ``axis``."""
    letter = axis[0]
    vals: list[np.ndarray] = []
    for t in fig.data:
        if (getattr(t, f"{letter}axis", None) or letter) != axis or getattr(t, letter, None) is None:
            continue
        try:
            vals.append(np.asarray(getattr(t, letter), dtype=np.float64).ravel())
        except (TypeError, ValueError):  # categories (labels), not numbers
            continue
    for sh in fig.layout.shapes:
        if getattr(sh, f"{letter}ref") == axis:
            vals.append(np.array([getattr(sh, f"{letter}0"), getattr(sh, f"{letter}1")], dtype=np.float64))
    return _finite_positive(vals)


def log_ticks(fig: go.Figure, axis: str = "y") -> go.Figure:
    """Tick labels on the log axis ``axis`` that read as numbers; no-op on any other axis.

    Left to itself, plotly writes the minor ticks of a log axis spanning a few decades as bare digits
    beside the decades ("2 5", "9 8 7"): they collide, and read as numbers of their own ("7" for 70, "5"
    for 0.5). Here, an axis spanning DECADE_TICKS_FROM decades or more labels only its decades (every
    k-th one beyond MAX_DECADE_LABELS); a narrower one gets ticks at 1, 2 and 5 × 10^k (every digit where
    those are fewer than 3), each labelled in full ("0.02", "0.05", "0.1"); narrower still (under about
    a third of a decade) plotly's own ticks, which it labels in full. The span is the axis range when
    one is set, else that of the positive finite values drawn on the axis (:func:`_axis_values`).
    """
    axis_name = f"{axis[0]}axis{axis[1:]}"
    if not axis_is_log(fig, axis):
        return fig
    rng = fig.layout[axis_name].range
    if rng is not None and None not in rng:
        lo, hi = sorted(float(r) for r in rng)
    else:
        vals = _axis_values(fig, axis)
        if not vals.size:
            return fig
        lo, hi = math.log10(vals.min()), math.log10(vals.max())
    span = hi - lo
    if span >= DECADE_TICKS_FROM:
        fig.update_layout({axis_name: dict(tickmode="linear", tick0=0,
                                           dtick=max(1, math.ceil(span / MAX_DECADE_LABELS - 1e-9)))})
        return fig
    for mults in ((1, 2, 5), range(1, 10)):
        ticks = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in mults
                 if lo - 1e-9 <= k + math.log10(m) <= hi + 1e-9]
        if len(ticks) >= 3:
            fig.update_layout({axis_name: dict(tickmode="array", tickvals=ticks,
                                               ticktext=[_log_label(v) for v in ticks])})
            break
    return fig


def _finish(
    fig: go.Figure, x_title: str, y_title: str, title: str | None = None, hovermode: str = "closest"
) -> go.Figure:
    """Layout shared by every figure: titles, horizontal legend on top, margins, number format. No colours.

    Numbers on the axes (ticks, and the unified hover header) are never written with plotly's default
    SI-like suffixes ("180B", "5µ", "2k" mislead in a science app): log axes write powers of ten,
    linear ones scientific notation ("1.8e+11") beyond 1e4 and below 1e-3; log axes are labelled by
    :func:`log_ticks` (call ``_finish`` after the traces, shapes and ranges are set).
    """
    fig.update_layout(
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        margin=dict(l=60, r=20, t=90 if title else 50, b=50),
        hovermode=hovermode,
    )
    if title:
        fig.update_layout(title=dict(text=title, x=0.0, xanchor="left", y=0.98, yref="container", yanchor="top"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    for ax in (fig.layout.xaxis, fig.layout.yaxis):
        ax.exponentformat = "power" if ax.type == "log" else "e"
    return log_ticks(log_ticks(fig, "x"), "y")


def message_figure(text: str = EMPTY_NOTE) -> go.Figure:
    """An empty figure that says ``text`` in its middle (for "nothing to draw")."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False, title_text="")
    fig.update_yaxes(visible=False, title_text="")
    fig.update_layout(margin=dict(l=20, r=20, t=20, b=20), height=200)
    return fig


def _column(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        raise ValueError(f"column must be one of {', '.join(map(str, df.columns))}; received {column!r}")
    return np.asarray(df[column], dtype=np.float64)


def _finite_positive(arrays: Sequence[np.ndarray]) -> np.ndarray:
    vals = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.empty(0)
    return vals[np.isfinite(vals) & (vals > 0)]


def _spans_decades(arrays: Sequence[np.ndarray]) -> bool:
    """True when the finite positive values span more than LOG_DECADES decades and none is negative."""
    vals = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.empty(0)
    fin = vals[np.isfinite(vals)]
    pos = fin[fin > 0]
    if pos.size == 0 or (fin < 0).any():
        return False
    return math.log10(pos.max()) - math.log10(pos.min()) > LOG_DECADES


def _first_zero(y: np.ndarray, order: np.ndarray) -> tuple[int, bool] | None:
    """Index of the first exact 0 of ``y`` in scan ``order`` and whether it looks like an underflow.

    Underflow: the last positive value before it was below UNDERFLOW_RATIO of the series' largest
    (the values shrank geometrically to 0). A 0 with no such tiny value before it (zero weights) is not.
    """
    if (y[np.isfinite(y)] < 0).any():
        return None  # a signed quantity (a mean): 0 is an ordinary value, not a vanished one
    pos = _finite_positive([y])
    big = pos.max() if pos.size else 0.0
    last = None
    for i in order:
        v = y[i]
        if v == 0:
            return int(i), last is not None and last < UNDERFLOW_RATIO * big
        if np.isfinite(v) and v > 0:
            last = v
    return None


# ------------------------------------------------------------------------------- per-layer line figures


def _layer_lines(
    results: Mapping[str, Result],
    column: str,
    *,
    log_y: bool | None,
    title: str | None,
    theory: Mapping[str, np.ndarray] | None,
    bad_attr: str,
    top_down: bool,
) -> go.Figure:
    """One line per result of ``column`` against layer, with overflow and exact-zero markers.

    ``bad_attr`` names the Result attribute holding the first non-finite layer; ``top_down`` scans for
    the first exact 0 from the last layer down (the backward pass) instead of from layer 1 up.
    """
    if not results:
        return message_figure()
    theory = theory or {}
    labels = list(results)
    series = {lab: _column(r.layers, column) for lab, r in results.items()}
    layers = {lab: np.asarray(r.layers["layer"], dtype=np.int32) for lab, r in results.items()}
    curves = {lab: np.asarray(v, dtype=np.float64).ravel() for lab, v in theory.items()}
    if log_y is None:
        fin = np.concatenate([v[np.isfinite(v)] for v in (*series.values(), *curves.values())])
        log = (column in MAGNITUDE_COLUMNS and not (fin < 0).any()) or _spans_decades([*series.values(),
                                                                                     *curves.values()])
    else:
        log = bool(log_y)
    y_title = COLUMN_TITLES.get(column, column)
    multi = len(results) > 1
    depth = max((len(x) for x in layers.values()), default=1)

    def drawable(v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            ok = np.isfinite(v) & (v > 0) if log else np.isfinite(v)
        return np.where(ok, v, np.nan)

    fig = go.Figure()
    for i, lab in enumerate(labels):
        y, x = series[lab], layers[lab]
        fig.add_trace(go.Scatter(
            x=x, y=drawable(y), name=lab, legendgroup=lab, mode="lines+markers" if len(x) <= 60 else "lines",
            line=dict(color=colour(i), dash=dash(i), width=2), marker=dict(size=4, color=colour(i)),
            hovertemplate=f"layer %{{x}}<br>{column} = %{{y:.3g}}<extra>%{{fullData.name}}</extra>",
        ))
    for j, (lab, v) in enumerate(curves.items()):
        i = labels.index(lab) if lab in labels else len(labels) + j
        fig.add_trace(go.Scatter(
            x=np.arange(1, v.size + 1, dtype=np.int32), y=drawable(v), name=f"{lab} (mean-field)", legendgroup=lab,
            mode="lines", line=dict(color=colour(i), dash="dot", width=2),
            hovertemplate=f"layer %{{x}}<br>{column} (theory) = %{{y:.3g}}<extra>%{{fullData.name}}</extra>",
        ))

    # Exact zeros: a marker at 0 (linear axis) or just below the lowest drawn value (log axis).
    zeros = []
    for i, lab in enumerate(labels):
        order = np.arange(series[lab].size)[::-1] if top_down else np.arange(series[lab].size)
        hit = _first_zero(series[lab], order)
        if hit is not None:
            zeros.append((i, lab, int(layers[lab][hit[0]]), hit[1]))
    floor_log = 0.0
    if log:
        pos = _finite_positive([drawable(v) for v in (*series.values(), *curves.values())])
        lo, hi = (math.log10(pos.min()), math.log10(pos.max())) if pos.size else (-1.0, 1.0)
        narrow = hi - lo < MIN_LOG_SPAN
        if narrow:  # at least MIN_LOG_SPAN decades, centred: a 0.5% wobble must not look like a cliff
            mid = 0.5 * (lo + hi)
            lo, hi = mid - 0.5 * MIN_LOG_SPAN, mid + 0.5 * MIN_LOG_SPAN
        if zeros:
            gap = max(0.3, 0.05 * (hi - lo))
            floor_log = lo - gap
            fig.update_yaxes(range=[lo - 2 * gap, hi + gap])
        elif narrow:
            fig.update_yaxes(range=[lo, hi])
    for k, (i, lab, n, underflow) in enumerate(zeros):
        y0 = 10.0**floor_log if log else 0.0
        what = f"underflowed to 0 at layer {n}" if underflow else f"exactly 0 at layer {n}"
        fig.add_trace(go.Scatter(
            x=[n], y=[y0], mode="markers", name=f"{lab}: {what}", legendgroup=lab, showlegend=False,
            marker=dict(symbol="triangle-down", size=11, color=colour(i), line=dict(width=1, color=colour(i))),
            hovertemplate=f"layer {n}: {column} is exactly 0<extra>%{{fullData.name}}</extra>",
        ))
        fig.add_annotation(
            x=n, y=floor_log if log else 0.0, text=(f"{lab}: " if multi else "") + what, showarrow=True, arrowhead=2,
            arrowcolor=colour(i), ax=0, ay=-(28 + 18 * k), font=dict(color=colour(i), size=11),
        )

    # First non-finite layer: dashed vertical line + label, stacked from the top.
    bad = [(i, lab, getattr(results[lab], bad_attr)) for i, lab in enumerate(labels)]
    for k, (i, lab, n) in enumerate((i, lab, int(n)) for i, lab, n in bad if n is not None):
        fig.add_shape(type="line", x0=n, x1=n, y0=0, y1=1, yref="paper",
                      line=dict(color=colour(i), dash="dash", width=1.5))
        right_half = n > 1 + 0.7 * (depth - 1)
        fig.add_annotation(
            x=n, y=1 - 0.07 * k, yref="paper", yanchor="top", xanchor="right" if right_half else "left",
            xshift=-4 if right_half else 4, showarrow=False, font=dict(color=colour(i), size=11),
            text=(f"{lab}: " if multi else "") + f"overflowed to inf at layer {n}",
        )

    fig.update_yaxes(type="log" if log else "linear")
    if depth <= 12:
        fig.update_xaxes(dtick=1)
    return _finish(fig, "layer", y_title, title, hovermode="x unified")


def signal_figure(
    results: Mapping[str, Result],
    column: str = "act_std",
    *,
    log_y: bool | None = None,
    title: str | None = None,
    theory: Mapping[str, np.ndarray] | None = None,
) -> go.Figure:
    """Forward signal: ``column`` (a per-layer column of ``Result.layers``) against layer, one line per result.

    ``results`` maps a legend label to a result. ``log_y=None`` picks a log axis for the per-layer
    magnitudes (``MAGNITUDE_COLUMNS``: stds, norms, ratios) and for any other column whose finite positive
    values span more than two decades (never for a column with negative values). A log axis spans at
    least MIN_LOG_SPAN decades, centred on the data, so a near-constant line looks flat. Marks per result the
    first layer whose value is exactly 0 and ``first_nonfinite_layer`` (see the module docstring).
    ``theory`` maps a label to per-layer predicted values (layer 1..len), drawn dotted in that label's
    colour and named "label (mean-field)".
    """
    return _layer_lines(results, column, log_y=log_y, title=title, theory=theory,
                        bad_attr="first_nonfinite_layer", top_down=False)


def gradient_figure(
    results: Mapping[str, Result],
    column: str = "grad_std",
    *,
    log_y: bool | None = None,
    title: str | None = None,
    theory: Mapping[str, np.ndarray] | None = None,
) -> go.Figure:
    """Backward signal: ``grad_std``, ``weight_grad_norm`` or ``grad_ratio`` against layer.

    Same conventions as :func:`signal_figure` (including the optional dotted ``theory`` curves); the
    overflow line is at ``first_nonfinite_grad_layer`` and the first exact 0 is searched from the top
    layer down, the direction the gradient travels.
    """
    return _layer_lines(results, column, log_y=log_y, title=title, theory=theory,
                        bad_attr="first_nonfinite_grad_layer", top_down=True)


# ------------------------------------------------------------------------- distribution figures (1 result)


def _asinh(x: np.ndarray, s: float) -> np.ndarray:
    """asinh(x / s) that stays finite for every finite x (x / s may overflow when s < 1)."""
    with np.errstate(all="ignore"):
        y = np.arcsinh(x / s)
        big = np.isfinite(x) & ~np.isfinite(y)
        if big.any():
            y = np.where(big, np.sign(x) * (math.log(2.0) + np.log(np.abs(x)) - math.log(s)), y)
    return y


def _scale(samples: np.ndarray) -> float:
    """s for the asinh axis: the median |value| of the first layer's finite sample.

    If that median is 0 (ReLU: most values are 0; zero init: all are) the median of the nonzero ones is
    used, from the first layer that has any; 1 when no layer has a nonzero finite value.
    """
    for row in np.asarray(samples, dtype=np.float64):
        a = np.abs(row[np.isfinite(row)])
        if a.size:
            m = float(np.median(a))
            if m > 0:
                return m
            nz = a[a > 0]
            if nz.size:
                return float(np.median(nz))
    return 1.0


def _value_axis(samples: np.ndarray, extra: Sequence[np.ndarray] = ()) -> tuple[bool, float]:
    """(use asinh, s): asinh when the largest finite |value| exceeds ASINH_RATIO * s."""
    s = _scale(samples)
    vals = np.concatenate([np.asarray(samples, dtype=np.float64).ravel(), *(np.ravel(e) for e in extra)])
    vals = np.abs(vals[np.isfinite(vals)])
    return bool(vals.size and vals.max() > ASINH_RATIO * s), s


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least ``raw`` (> 0): a step for ticks or bins."""
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _nice_ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    if not hi > lo:
        return np.array([lo])
    step = nice_step((hi - lo) / n)
    ticks = np.arange(math.ceil(lo / step), math.floor(hi / step) + 1) * step
    return np.round(ticks, 12)


def _asinh_ticks(lo: float, hi: float, s: float) -> tuple[list[float], list[str]]:
    """Ticks at 0 and +-10^k (in original units) inside the asinh range [lo, hi], at most ~5 per side."""
    vals, text = [], []
    if lo <= 0 <= hi:
        vals.append(0.0)
        text.append("0")
    top = max(abs(lo), abs(hi))
    k_lo = math.floor(math.log10(s))
    k_hi = math.ceil(math.log10(s) + (top - math.log(2.0)) / math.log(10.0)) + 1
    step = next(d for d in (1, 2, 3, 5, 10, 20, 50, 100) if (k_hi - k_lo) / d <= 5)
    ks = range(math.ceil(k_lo / step) * step, k_hi + 1, step)
    for k in ks:
        for sign in (1.0, -1.0):
            u = k * math.log(10.0) - math.log(s)  # ln(10^k / s), computed without overflow
            t = sign * (u + math.log(2.0) if u > 20 else math.asinh(math.exp(u)))
            if lo <= t <= hi and abs(t) > 0.3:
                vals.append(t)
                # Written as a string: 10.0**k overflows for k > 308, which s < 1 can reach.
                text.append((MINUS if sign < 0 else "") + ("1" + (f"e{'+' if k > 0 else MINUS}{abs(k)}" if k else "")))
    return vals, text


def spread_figure(result: Result, which: str = "act") -> go.Figure:
    """Per layer: median, 25–75 and 1–99 percentile bands (filled) and mean ± std of h (``act``) or z (``pre``).

    When the values span many decades (largest |value| above 1000 s, with s the first layer's median
    |value|, see :func:`_scale`) the y axis shows asinh(value / s) - linear near 0, logarithmic far
    from it, sign kept - with ticks labelled in the original units; the axis title says so.
    """
    sym, name = _VALUE_NAMES[which]
    df = result.layers
    x = np.asarray(df["layer"], dtype=np.int32)
    q = {p: _column(df, f"{which}_p{p}") for p in ("01", "25", "50", "75", "99")}
    mean, std = _column(df, f"{which}_mean"), _column(df, f"{which}_std")
    with np.errstate(all="ignore"):
        lines = {"mean − std": mean - std, "mean + std": mean + std}
    samples = result.samples_act if which == "act" else result.samples_pre
    use_asinh, s = _value_axis(samples, [*q.values(), *lines.values()])

    def tr(v: np.ndarray) -> np.ndarray:
        v = np.where(np.isfinite(v), v, np.nan)
        return _asinh(v, s) if use_asinh else v

    hover = "%{customdata:.3g}" if use_asinh else "%{y:.3g}"
    base, accent = PALETTE[0], PALETTE[3]
    spec = [  # (name, values, fill, line, legend shown)
        ("1st percentile", q["01"], None, dict(width=0, color=base), False),
        ("1–99th percentile", q["99"], _rgba(base, 0.18), dict(width=0, color=base), True),
        ("25th percentile", q["25"], None, dict(width=0, color=base), False),
        ("25–75th percentile", q["75"], _rgba(base, 0.38), dict(width=0, color=base), True),
        ("median", q["50"], None, dict(width=2, color=base, dash="solid"), True),
        ("mean", mean, None, dict(width=2, color=accent, dash="dash"), True),
        ("mean − std", lines["mean − std"], None, dict(width=1.5, color=accent, dash="dot"), False),
        ("mean ± std", lines["mean + std"], None, dict(width=1.5, color=accent, dash="dot"), True),
    ]
    fig = go.Figure()
    for label, v, fill, line, shown in spec:
        group = {"1st percentile": "1–99th percentile", "25th percentile": "25–75th percentile",
                 "mean − std": "mean ± std"}.get(label, label)
        fig.add_trace(go.Scatter(
            x=x, y=tr(v), customdata=np.where(np.isfinite(v), v, np.nan) if use_asinh else None, name=label,
            legendgroup=group, showlegend=shown, mode="lines", line=line,
            fill="tonexty" if fill else None, fillcolor=fill,
            hovertemplate=f"{label}: {hover}<extra></extra>",
        ))
    if use_asinh:
        ys = np.concatenate([tr(v) for _, v, *_ in spec])
        ys = ys[np.isfinite(ys)]
        lo, hi = (float(ys.min()), float(ys.max())) if ys.size else (-1.0, 1.0)
        vals, text = _asinh_ticks(lo, hi, s)
        fig.update_yaxes(tickmode="array", tickvals=vals, ticktext=text)
        y_title = f"asinh({sym} / s), s = {s:.3g} (ticks in {sym})"
    else:
        y_title = name
    if x.size <= 12:
        fig.update_xaxes(dtick=1)
    fig.update_yaxes(type="linear")
    return _finish(fig, "layer", y_title, hovermode="x unified")


def heatmap_figure(result: Result, which: str = "act", bins: int = 60) -> go.Figure:
    """The whole distribution of h (``act``) or z (``pre``) per layer as a heatmap.

    x = layer, y = value bin, z = fraction of the layer's sampled values (``result.samples_*``) in the
    bin; every column sums to 1. The bins are COMMON to all layers (equal width between the smallest
    and largest finite sampled value), so widening or shrinking shows as such. When the values span
    many decades (largest |value| above 1000 s) the bins are equal in asinh(value / s), s the median
    |value| of the first layer (see :func:`_scale`), and the y axis is labelled so (ticks in original
    units). Non-finite samples are counted in an extra top row "inf/NaN" (present when any layer has
    one). All-equal samples (zero init) give one bin.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1; received {bins!r}")
    sym, name = _VALUE_NAMES[which]
    raw = np.asarray(result.samples_act if which == "act" else result.samples_pre, dtype=np.float64)
    depth, k = raw.shape
    if depth == 0 or k == 0:
        return message_figure("No sampled values to draw.")
    use_asinh, s = _value_axis(raw)
    with np.errstate(all="ignore"):
        t = _asinh(raw, s) if use_asinh else raw
        fin = np.isfinite(t)
        any_fin = bool(fin.any())
        lo = float(t[fin].min()) if any_fin else 0.0  # nothing finite: one (empty) bin around 0
        hi = float(t[fin].max()) if any_fin else 0.0
        nb = bins if hi > lo else 1
        if nb == 1:
            pad = abs(lo) * 1e-3 if lo != 0 else 0.5
            lo, hi = lo - pad, hi + pad
        edges = np.linspace(lo, hi, nb + 1)
        idx = np.clip(np.floor((t - lo) / (hi - lo) * nb), 0, nb - 1)
        idx = np.where(fin, idx, nb).astype(np.int64)  # non-finite -> the spill row
    counts = np.bincount((idx + (nb + 1) * np.arange(depth)[:, None]).ravel(), minlength=depth * (nb + 1))
    counts = counts.reshape(depth, nb + 1)
    spill = bool((~fin).any())
    if not spill:
        counts = counts[:, :nb]
    z = (counts.T / k).astype(np.float32)  # (rows, depth): fractions of each layer's sample
    width = edges[1] - edges[0]
    y_edges = np.append(edges, edges[-1] + width) if spill else edges
    ticks = (_asinh_ticks(lo, hi, s) if use_asinh
             else ([float(v) for v in _nice_ticks(lo, hi)], _tick_labels(_nice_ticks(lo, hi))))
    tickvals, ticktext = ticks
    if spill:
        tickvals, ticktext = [*tickvals, float(edges[-1] + width / 2)], [*ticktext, "inf/NaN"]
    y_label = f"asinh({sym} / s), s = {s:.3g} (ticks in {sym})" if use_asinh else name
    # Enough significant digits in the hover to tell neighbouring bins apart (0.999961 vs 0.999962).
    top = max(abs(lo), abs(hi))
    digits = 3 if top == 0 else min(15, max(3, math.floor(math.log10(top)) - math.floor(math.log10(width)) + 1))
    fig = go.Figure(go.Heatmap(
        x=np.arange(1, depth + 1, dtype=np.int32), y=y_edges.astype(np.float64), z=z, zmin=0.0,
        colorscale="Viridis",
        colorbar=dict(title=dict(text="fraction", side="right"), tickformat=".0%", exponentformat="e"),
        hovertemplate=f"layer %{{x}}<br>{'asinh(' + sym + '/s)' if use_asinh else sym} ≈ %{{y:.{digits}g}}"
                      "<br>%{z:.3p} of the layer's values<extra></extra>",
        name=f"{sym} distribution",
    ))
    fig.update_yaxes(tickmode="array", tickvals=tickvals, ticktext=ticktext, type="linear")
    if spill:
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=edges[-1], y1=edges[-1],
                      line=dict(color=REF_GREY, width=1))
    if depth <= 12:
        fig.update_xaxes(dtick=1)
    return _finish(fig, "layer", y_label)


# ------------------------------------------------------------------------------------------- fractions


def fractions_figure(results: Mapping[str, Result]) -> go.Figure:
    """Share of saturated, dead and non-finite values against layer, in percent (0–100%).

    Colour = result, dash = quantity (saturated solid, dead dash, non-finite dot). "saturated" is drawn
    when the activation defines saturation or any value is > 0, "dead" when the activation can die or
    any value is > 0; non-finite always (a flat 0 says nothing overflowed).
    """
    if not results:
        return message_figure()
    fig = go.Figure()
    for i, (lab, r) in enumerate(results.items()):
        try:
            act = activations.get(r.scenario.activation)
            can_sat, can_die = act.saturation_threshold is not None, act.can_die
        except (ValueError, AttributeError):
            can_sat = can_die = False
        x = np.asarray(r.layers["layer"], dtype=np.int32)
        for col, what, d, wanted in (
            ("frac_saturated", "saturated", "solid", can_sat),
            ("frac_dead", "dead", "dash", can_die),
            ("frac_nonfinite", "inf/NaN", "dot", True),
        ):
            v = _column(r.layers, col)
            if not (wanted or np.nanmax(v, initial=0.0) > 0):
                continue
            fig.add_trace(go.Scatter(
                x=x, y=v, name=f"{lab}: {what}", legendgroup=lab, mode="lines+markers" if x.size <= 60 else "lines",
                line=dict(color=colour(i), dash=d, width=2), marker=dict(size=4, color=colour(i)),
                hovertemplate=f"layer %{{x}}<br>{what}: %{{y:.3p}}<extra>{lab}</extra>",
            ))
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", type="linear")
    if max(len(r.layers) for r in results.values()) <= 12:
        fig.update_xaxes(dtick=1)
    return _finish(fig, "layer", "share of values (%)", hovermode="x unified")


# ---------------------------------------------------------------------------------------------- ranges


def ranges_figure(curves: pd.DataFrame, log_n: bool = False) -> go.Figure:
    """Weight limits against the number of inputs n, per initializer (``ranges.range_curves`` output).

    ``log_n``: n on a log axis (the 1/sqrt(n) shrinking of small n spread out); linear by default.

    One colour per ``init`` (the display key). Bounded initializers (finite ``theory_lo`` and
    ``theory_hi``): the two limit lines. Unbounded ones (normal, orthogonal): ``theory_mean ± theory_std``
    drawn dotted and named "± 1 std (unbounded)", because a normal draw has no range: about a third of
    its weights lie outside ± 1 std (the He tutorial curve is this kind; same rule as ``ranges.band``).
    Sampled min/max are markers (triangles up/down). Legend entries are "label: formula — kind", the
    label from the ``label`` column when there is one, else ``init``. Rows without sampled values
    (NaN: n left out by a thinned ``ranges.plan_ranges``) get no marker.
    """
    need = {"init", "formula", "n", "theory_std", "theory_mean", "theory_lo", "theory_hi"}
    if curves is None or curves.empty or not need <= set(curves.columns):
        return message_figure("No initializer curves to draw.")
    fig = go.Figure()
    any_unbounded = False
    for i, init in enumerate(pd.unique(curves["init"])):
        g = curves[curves["init"] == init].sort_values("n", kind="stable")
        n = np.asarray(g["n"], dtype=np.float64)
        label = str(g["label"].iloc[0]) if "label" in g.columns else str(init)
        formula = str(g["formula"].iloc[0])
        lo, hi = np.asarray(g["theory_lo"], dtype=np.float64), np.asarray(g["theory_hi"], dtype=np.float64)
        mean, sd = np.asarray(g["theory_mean"], dtype=np.float64), np.asarray(g["theory_std"], dtype=np.float64)
        has = np.isfinite(lo) & np.isfinite(hi)  # the rule of ranges.band: limits where both exist
        bounded = bool(has.all())
        lo, hi = np.where(has, lo, mean - sd), np.where(has, hi, mean + sd)
        any_unbounded |= not bounded
        kind = "limits" if bounded else "± 1 std (unbounded)"
        line = dict(color=colour(i), dash=dash(i) if bounded else "dot", width=2)
        name = f"{label}: {formula} — {kind}" if label != formula else f"{formula} — {kind}"
        ends = ((hi, "upper limit" if bounded else "mean + 1 std", True),
                (lo, "lower limit" if bounded else "mean − 1 std", False))
        for y, which, shown in ends:
            fig.add_trace(go.Scatter(
                x=n, y=y, mode="lines", name=name, legendgroup=str(init), showlegend=shown, line=line,
                hovertemplate=f"n = %{{x}}<br>{which}: %{{y:.3g}}<extra>{label}</extra>",
            ))
        for col, sym, which, shown in (("sample_max", "triangle-up", "sampled max", True),
                                        ("sample_min", "triangle-down", "sampled min", False)):
            y = np.asarray(g[col], dtype=np.float64) if col in g.columns else np.full(n.size, np.nan)
            keep = np.isfinite(y)  # thinned plans leave rows unsampled: send only the markers drawn
            if not keep.any():
                continue
            fig.add_trace(go.Scatter(
                x=n[keep], y=y[keep], mode="markers", name=f"{label}: sampled min / max", legendgroup=str(init),
                showlegend=shown, marker=dict(symbol=sym, size=6, color=colour(i)),
                hovertemplate=f"n = %{{x}}<br>{which}: %{{y:.3g}}<extra>{label}</extra>",
            ))
    fig.update_xaxes(type="log" if log_n else "linear")
    if any_unbounded:
        fig.add_annotation(
            x=1, y=0, xref="paper", yref="paper", xanchor="right", yanchor="bottom", showarrow=False,
            font=dict(size=11),
            text="dotted: ± 1 std of an unbounded distribution, not a range (≈32% of weights fall outside)",
        )
    fig.add_hline(y=0, line=dict(color=REF_GREY, width=1))
    return _finish(fig, "number of inputs n (fan-in)", "weight value")
