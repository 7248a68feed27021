"""The style every figure shares: colours, dashes, reference lines, tick labels, the common layout.

Figures (:mod:`.signal`, :mod:`.training`, :mod:`.theory`) are pure functions: no streamlit, no randomness,
no I/O; the same data always gives the same figure (``fig.to_json()`` identical). Conventions shared by
every figure, kept here:

* colours from the Okabe-Ito palette (colour-blind safe) minus yellow and black, which vanish on a
  light or a dark background; mid grey ``#999999`` for reference lines; traces also differ by dash
  pattern, so they stay apart in greyscale and for every kind of colour vision;
* labelled reference lines are drawn by :func:`ref_line`, which places the label where plotly.js
  reads it on a log axis (log10 of the value), never by ``add_hline(annotation_text=...)``;
* no background or font colour and no template is set, so Streamlit's theme (light or dark) styles
  the chart;
* legends horizontal above the plot, hover values with 3 significant digits, both axis titles set;
* a family of panels (one per initializer or depth) is one chart per panel with :func:`panel_layout`,
  which the app places in columns: side by side on a wide screen, one per row on a phone;
* numbers never carry plotly's default SI-like suffixes ("180B", "5µ"): log axes write powers of ten,
  linear ones plotly's "e" notation (1.8e+11), and the tick labels set here (:func:`tick_labels`) have
  as many digits as it takes to tell neighbours apart;
* per-layer magnitudes (stds, norms, ratios) are on a log axis of at least one decade, centred on the
  data; :func:`axis_is_log` says which axis is logarithmic (for tests of texts that speak of "the log
  scale"); every log axis labels its ticks by :func:`log_ticks` (whole numbers, never plotly's bare
  minor digits);
* a label drawn over data (a scenario's marker or line) has a readable box, :data:`LABEL_BOX`: dark
  text on a semi-opaque white box, the same on a light and a dark page;
* arrays are float64 when short (per-layer lines: at most 1000 points) and float32 for the heatmap;
  nothing is downsampled, and no trace has more than 5000 points, so none needs ``go.Scattergl``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
# One colour per class where a dataset has up to 10 (Tableau 10: distinct on light and dark backgrounds); the
# class markers also differ in shape (CLASS_SYMBOLS), so no class is told by its colour alone.
CLASS_COLOURS: tuple[str, ...] = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1",
                                  "#FF9DA7", "#9C755F", "#BAB0AC")
CLASS_SYMBOLS: tuple[str, ...] = ("circle", "x", "square", "diamond", "triangle-up", "cross", "star",
                                  "triangle-down", "pentagon", "hexagon")
DASHES: tuple[str, ...] = ("solid", "dash", "dashdot", "longdash", "longdashdot")  # "dot" is kept for theory
REF_GREY = "#999999"
EMPTY_NOTE = "Nothing to draw yet: choose at least one scenario."
# A label over data: dark text on a semi-opaque white box reads over any colour and on either theme.
LABEL_BOX: dict[str, object] = dict(bgcolor="rgba(255,255,255,0.85)", bordercolor="rgba(26,26,26,0.5)",
                                    borderwidth=1, borderpad=2, font=dict(size=11, color="#1a1a1a"))

MINUS = "\u2212"  # the minus sign plotly itself writes in tick labels
DECADE_TICKS_FROM = 2.0  # a log axis spanning at least this many decades labels only (some of) its decades
MAX_DECADE_LABELS = 8  # ... every k-th decade, k = ceil(span / this), so no more than about this many labels
def colour(i: int) -> str:
    """The i-th trace colour (Okabe-Ito, no yellow or black), cycling."""
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    """The i-th dash pattern, cycling; with :func:`colour` the first 30 traces all differ."""
    return DASHES[i % len(DASHES)]


def rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


def finite_positive(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The finite, strictly positive values of ``arrays``, flattened into one float64 array."""
    vals = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.empty(0)
    return vals[np.isfinite(vals) & (vals > 0)]


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


def tick_labels(values: Sequence[float]) -> list[str]:
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
    return finite_positive(vals)


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


def finish(
    fig: go.Figure, x_title: str, y_title: str, title: str | None = None, hovermode: str = "closest"
) -> go.Figure:
    """Layout shared by every figure: titles, horizontal legend on top, margins, number format. No colours.

    Numbers on the axes (ticks, and the unified hover header) are never written with plotly's default
    SI-like suffixes ("180B", "5µ", "2k" mislead in a science app): log axes write powers of ten,
    linear ones scientific notation ("1.8e+11") beyond 1e4 and below 1e-3; log axes are labelled by
    :func:`log_ticks` (call ``finish`` after the traces, shapes and ranges are set).
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


# A family of panels (decision boundaries and symmetry per initializer, Jacobian spectra per depth) is one
# chart per panel, not one figure of side-by-side subplots: a plotly figure cannot reflow, so on a phone
# (390 px) its panels were squashed to 80 px each, titles and tick labels on top of each other. The app
# lays the panels out in columns (initlab.ui.figures.panels): side by side on a wide screen, one per row
# on a narrow one. Every panel of a family has the same layout, and the same axis ranges where they compare.
PANEL_HEIGHT = 330
PANEL_MARGIN = dict(l=55, r=10, t=75, b=45)  # the title and a one-line legend above the plot
PANEL_TITLE = dict(x=0.0, xanchor="left", y=0.98, yref="container", yanchor="top", font=dict(size=15))
PANEL_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0)


PANEL_LINE = 19  # px per line of a panel title (15 px font)


def panel_layout(fig: go.Figure, title: str, height: int = PANEL_HEIGHT) -> go.Figure:
    """The layout every panel shares: its title top left, a horizontal legend between title and plot.

    A title of several lines ("N(0, 1) × 10<br>(4 of 4 restarts diverged)") gets the room of its extra lines
    above the plot, and is anchored lower by them: plotly anchors a multi-line title by its first line and
    sets the others above it, which put the first line outside the chart."""
    extra = title.count("<br>") * PANEL_LINE
    place = dict(PANEL_TITLE, y=PANEL_TITLE["y"] - extra / (height + extra)) if extra else PANEL_TITLE
    margin = dict(PANEL_MARGIN, t=PANEL_MARGIN["t"] + extra)
    fig.update_layout(title=dict(text=title, **place), legend=PANEL_LEGEND, margin=margin, height=height + extra)
    return fig


def message_figure(text: str = EMPTY_NOTE) -> go.Figure:
    """An empty figure that says ``text`` in its middle (for "nothing to draw")."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False, title_text="")
    fig.update_yaxes(visible=False, title_text="")
    fig.update_layout(margin=dict(l=20, r=20, t=20, b=20), height=200)
    return fig


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least ``raw`` (> 0): a step for ticks or bins."""
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


