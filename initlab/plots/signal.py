"""Figures of the Signal, Gradients, Compare and Ranges pages: result data in, plotly ``go.Figure`` out.

Pure functions in the style of :mod:`initlab.plots.style` (its docstring lists the conventions).
Values a log axis cannot show are marked instead of silently dropped: the first layer whose value is
exactly 0 gets a marker and an annotation ("underflowed to 0 at layer N" when the values before it were
vanishingly small, "exactly 0 at layer N" otherwise, e.g. zero init), and the first layer holding
inf/NaN gets a dashed vertical line and "overflowed to inf at layer N", in the colour of its trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from initlab.plots.style import (MINUS, PALETTE, REF_GREY, colour, dash, finish, finite_positive, message_figure,
                                 nice_step, rgba, tick_labels)
from initlab.signal.network import Result
from initlab.weights import activations

LOG_DECADES = 2.0  # automatic log axis when the positive values span more than this many decades
MIN_LOG_SPAN = 1.0  # a log y axis shows at least this many decades, centred on the data
# Non-negative per-layer magnitudes: drawn on a log axis by default, because depth multiplies them (a
# constant factor per layer is a straight line) and because a near-constant one must look flat, not
# like a cliff on an axis zoomed to its 0.5% wobble.
MAGNITUDE_COLUMNS = frozenset({"act_std", "pre_std", "grad_std", "weight_norm", "weight_grad_norm", "grad_ratio",
                               "unit_spread"})
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
# What a column means for residual blocks (initlab.signal.blocks: a row is a block).
BLOCK_TITLES: dict[str, str] = {
    "act_std": "std of block outputs h",
    "act_mean": "mean of block outputs h",
    "pre_std": "std of the last activation's input",
    "pre_mean": "mean of the last activation's input",
    "grad_std": "std of ∂loss/∂h at the block output (per example)",
    "grad_mean": "mean of ∂loss/∂h at the block output (per example)",
}
_MIXED_TITLES: dict[str, str] = {
    "grad_std": "std of ∂loss/∂z (layers), ∂loss/∂h (blocks), per example",
    "grad_mean": "mean of ∂loss/∂z (layers), ∂loss/∂h (blocks), per example",
}


def x_title(results: Mapping[str, Result] | Result) -> str:
    """The x axis: "block" when every network is residual (a row is a block), else "layer"."""
    residual = [r.scenario.residual for r in labelled(results).values()]
    if residual and all(residual):
        return "block"
    return "layer (block, in a residual network)" if any(residual) else "layer"


def column_title(column: str, results: Mapping[str, Result]) -> str:
    """The axis title of ``column`` for these results: a residual network's rows are blocks."""
    residual = [r.scenario.residual for r in results.values()]
    if residual and all(residual):
        return BLOCK_TITLES.get(column, COLUMN_TITLES.get(column, column))
    if any(residual):
        return _MIXED_TITLES.get(column, COLUMN_TITLES.get(column, column))
    return COLUMN_TITLES.get(column, column)


def labelled(results: Mapping[str, Result] | Result) -> Mapping[str, Result]:
    """``results`` as a label -> result mapping: a lone :class:`Result` (what a notebook holds) is labelled
    by its initializer."""
    return {results.scenario.init: results} if isinstance(results, Result) else results


def _column(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        raise ValueError(f"column must be one of {', '.join(map(str, df.columns))}; received {column!r}")
    return np.asarray(df[column], dtype=np.float64)


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
    pos = finite_positive([y])
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
    y_title = column_title(column, results)
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
        pos = finite_positive([drawable(v) for v in (*series.values(), *curves.values())])
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
    return finish(fig, x_title(results), y_title, title, hovermode="x unified")


def signal_figure(
    results: Mapping[str, Result] | Result,
    column: str = "act_std",
    *,
    log_y: bool | None = None,
    title: str | None = None,
    theory: Mapping[str, np.ndarray] | None = None,
) -> go.Figure:
    """Forward signal: ``column`` (a per-layer column of ``Result.layers``) against layer, one line per result.

    ``results`` maps a legend label to a result (a lone result is labelled by its initializer). ``log_y=None`` picks a log axis for the per-layer
    magnitudes (``MAGNITUDE_COLUMNS``: stds, norms, ratios) and for any other column whose finite positive
    values span more than two decades (never for a column with negative values). A log axis spans at
    least MIN_LOG_SPAN decades, centred on the data, so a near-constant line looks flat. Marks per result the
    first layer whose value is exactly 0 and ``first_nonfinite_layer`` (see the module docstring).
    ``theory`` maps a label to per-layer predicted values (layer 1..len), drawn dotted in that label's
    colour and named "label (mean-field)".
    """
    return _layer_lines(labelled(results), column, log_y=log_y, title=title, theory=theory,
                        bad_attr="first_nonfinite_layer", top_down=False)


def gradient_figure(
    results: Mapping[str, Result] | Result,
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
    return _layer_lines(labelled(results), column, log_y=log_y, title=title, theory=theory,
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
    # Labels closer than a twentieth of the axis overlap (±1 beside 0 on an axis spanning ±1e38, seen on a
    # residual stream): keep 0, then the ticks farthest out, and drop any that crowd a kept one.
    gap = (hi - lo) / 20
    kept: list[int] = []
    for i in sorted(range(len(vals)), key=lambda i: (vals[i] != 0, -abs(vals[i]))):
        if all(abs(vals[i] - vals[j]) >= gap for j in kept):
            kept.append(i)
    kept = sorted(kept)  # the original order: 0 first, then +-10^k outward
    return [vals[i] for i in kept], [text[i] for i in kept]


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
        ("1–99th percentile", q["99"], rgba(base, 0.18), dict(width=0, color=base), True),
        ("25th percentile", q["25"], None, dict(width=0, color=base), False),
        ("25–75th percentile", q["75"], rgba(base, 0.38), dict(width=0, color=base), True),
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
    return finish(fig, x_title(result), y_title, hovermode="x unified")


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
             else ([float(v) for v in _nice_ticks(lo, hi)], tick_labels(_nice_ticks(lo, hi))))
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
    return finish(fig, x_title(result), y_label)


# ------------------------------------------------------------------------------------------- fractions


def fractions_figure(results: Mapping[str, Result] | Result) -> go.Figure:
    """Share of saturated, dead and non-finite values against layer, in percent (0–100%).

    Colour = result, dash = quantity (saturated solid, dead dash, non-finite dot). "saturated" is drawn
    when the activation defines saturation or any value is > 0, "dead" when the activation can die or
    any value is > 0; non-finite always (a flat 0 says nothing overflowed).
    """
    results = labelled(results)
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
    return finish(fig, x_title(results), "share of values (%)", hovermode="x unified")


# ---------------------------------------------------------------------------------------------- ranges


def ranges_figure(curves: pd.DataFrame, log_n: bool = False) -> go.Figure:
    """Weight limits against the number of inputs n, per initializer (``ranges.range_curves`` output).

    ``log_n``: n on a log axis (the 1/sqrt(n) shrinking of small n spread out); linear by default.

    One colour per ``init`` (the display key). Bounded initializers (finite ``theory_lo`` and
    ``theory_hi``): the two limit lines. Unbounded ones (normal, orthogonal): ``theory_mean ± theory_std``
    drawn dotted and named "± 1 std (unbounded)", because a normal draw has no range: about a third of
    its weights lie outside ± 1 std (the He tutorial curve is this kind; same rule as ``ranges.band``).
    Sampled min/max are markers (triangles up/down). Legend entries are "label — kind<br>formula", the
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
        # Two lines: "label: formula — kind" on one ran off a phone's screen (390 px) by 200 px.
        name = f"{label} — {kind}<br>{formula}" if label != formula else f"{formula} — {kind}"
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
            text="dotted: ± 1 std of an unbounded distribution,<br>not a range (≈32% of weights fall outside)",
        )
    fig.add_hline(y=0, line=dict(color=REF_GREY, width=1))
    finish(fig, "number of inputs n (fan-in)", "weight value")
    return fig.update_layout(height=560)  # the legend above takes up to ~9 lines on a phone
