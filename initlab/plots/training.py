"""Figures of the Training page: curves over restarts, final accuracies, decision boundaries, symmetry
and per-layer gradient norms.

Pure functions with the conventions of :mod:`initlab.plots.style` (Okabe-Ito colours by initializer, no theme
colours, no SI suffixes). A "band" is the range between the 25th and 75th percentile over restarts, the
line their median: the median of a handful of restarts is robust to the one that diverged.

A restart that diverged (training loss inf or NaN at some record, :attr:`TrainResult.diverged`) has no
value to draw from then on. Every figure says so in words, so that an initializer whose restarts all
blew up is not mistaken for one that drew nothing: its name carries the count ("N(0, 1) × 10 (5 of 5
restarts diverged)", :func:`_named`), an empty column or panel says "all 5 restarts diverged (loss
inf/NaN)", a decision-boundary panel whose restart's parameters are not finite says "restart 0 diverged
by step 11: no prediction", and a point of a line with no finite neighbour (often step 0, the last
record before the blow-up) is drawn as a marker, not as an invisible line (:func:`_line_style`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from initlab.plots.style import (
    CLASS_COLOURS, CLASS_SYMBOLS, LABEL_BOX, PANEL_HEIGHT, REF_GREY, colour, dash, finish, panel_layout, rgba,
)
from initlab.training.engine import TrainResult, summarize

__all__ = ["accuracy_points_figure", "alpha_panel", "boundary_figures", "boundary_panel", "curves_figure", "deep",
           "distinct_fan_panel", "distinct_figures", "distinct_panel", "fan_panel", "grad_norm_figure", "grad_norm_panel",
           "layer_lines", "layer_name", "layers_in_words", "never_positive", "norm_param_panel"]

GRID = 80  # points per side of a decision-boundary grid (6400 logits per run: cheap, smooth enough)
LONE_MARKER = 9  # marker size of a point a line cannot draw (no finite neighbour)


def _diverged_count(r: TrainResult) -> str:
    """"2 of 5 restarts diverged", or "" when none did."""
    bad, n = int(r.diverged.sum()), int(r.diverged.size)
    return f"{bad} of {n} restart{'s' if n != 1 else ''} diverged" if bad else ""


def _named(label: str, r: TrainResult, sep: str = " ") -> str:
    """``label`` with the count of restarts that diverged when any did ("N(0, 1) × 10 (5 of 5 restarts
    diverged)"); ``sep`` goes before the parenthesis ("<br>" in a narrow panel title)."""
    count = _diverged_count(r)
    return f"{label}{sep}({count})" if count else label


def _all_diverged(r: TrainResult) -> str | None:
    """What an empty column or panel says when every restart diverged; None otherwise."""
    n = int(r.diverged.size)
    if not r.diverged.all():
        return None
    return f"{'all ' + str(n) + ' restarts' if n != 1 else 'the restart'} diverged<br>(loss inf/NaN)"


def _line_style(y: np.ndarray, color: str) -> dict:
    """``mode`` and ``marker`` of a line through ``y``: a finite point between two non-finite ones (or
    the ends) draws nothing as a line, so such lone points get a marker (the step-0 value of a run that
    diverged by the next record)."""
    fin = np.isfinite(np.asarray(y, dtype=np.float64))
    lone = fin & ~np.r_[False, fin[:-1]] & ~np.r_[fin[1:], False]
    if not lone.any():
        return dict(mode="lines")
    return dict(mode="lines+markers", marker=dict(size=np.where(lone, LONE_MARKER, 0), color=color))


def _quantiles(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentile over restarts (axis 0), ignoring NaN (a diverged restart)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (every restart diverged)
        q = np.nanpercentile(np.where(np.isfinite(a), a, np.nan), [25, 50, 75], axis=0)
    return q[0], q[1], q[2]


def _steps_axis(fig: go.Figure) -> go.Figure:
    """Training steps are counts: whole numbers with a thousands separator (15,000), never 1.5e+4."""
    fig.update_xaxes(tickformat=",d", exponentformat="none")
    return fig


def labelled(results: Mapping[str, TrainResult] | TrainResult) -> Mapping[str, TrainResult]:
    """``results`` as a label -> result mapping: a lone :class:`TrainResult` (what a notebook holds) is
    labelled by its initializer."""
    return {results.scenario.init: results} if isinstance(results, TrainResult) else results


def curves_figure(results: Mapping[str, TrainResult] | TrainResult, what: str = "loss",
                  step: int | None = None) -> go.Figure:
    """Median over restarts (line) and the middle half (band) of ``what`` (``loss`` or ``test_acc``)
    against the training step, one colour per initializer (a lone result: its initializer's); a dotted
    line marks ``step``.

    The statistics at a step are over the restarts finite there: those that diverged drop out (their
    count is in the legend name), and an initializer whose restarts all diverged after step 0 is one
    marker at step 0 (on the loss chart, high up: the log axis keeps it, it is true).
    """
    fig = go.Figure()
    for i, (label, r) in enumerate(labelled(results).items()):
        x = r.recorded_steps
        lo, mid, hi = _quantiles(getattr(r, what))
        c = colour(i)
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 mode="lines", fillcolor=rgba(c, 0.18), line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(x=x, y=mid, name=_named(label, r), line=dict(color=c, dash=dash(i)),
                                 legendgroup=label, **_line_style(mid, c)))
    if step is not None:
        fig.add_vline(x=step, line=dict(color="#999999", dash="dot"))
    classes = {r.scenario.classes for r in labelled(results).values()}
    if what == "loss":
        fig.update_yaxes(type="log")
        title = "training loss (binary cross-entropy)"
        if classes and min(classes) > 2:
            title = "training loss (categorical cross-entropy)"
            for c in sorted(classes):  # where an output that says nothing starts: 1/C for every class
                # below the traces: zero init's loss lies exactly on it and must stay visible
                fig.add_hline(y=float(np.log(c)), line=dict(color=REF_GREY, dash="dot", width=1), layer="below")
                # an annotation on a log axis is placed by log10 of its value (a shape by the value itself)
                fig.add_annotation(x=1, xref="x domain", y=float(np.log10(np.log(c))), yref="y", showarrow=False,
                                   xanchor="right", yanchor="bottom", font=dict(size=11, color=REF_GREY),
                                   text=f"ln {c} = {np.log(c):.3f}: 1/{c} for every class")
    else:
        fig.update_yaxes(range=[0.0, 1.02])
        title = "test accuracy"
    return _steps_axis(finish(fig, "step", title, hovermode="x unified"))


def accuracy_points_figure(results: Mapping[str, TrainResult] | TrainResult) -> go.Figure:
    """The final test accuracy of every restart as a point, one column per initializer, with its median.

    A diverged restart has no accuracy to draw (NaN): the legend name counts them, and a column left
    empty says "all N restarts diverged" in its middle.
    """
    results = labelled(results)
    fig = go.Figure()
    for i, (label, r) in enumerate(results.items()):
        acc = r.test_acc[:, -1]
        k = np.arange(acc.size)
        jitter = (k - (acc.size - 1) / 2) * (0.5 / max(acc.size, 1))
        note = _all_diverged(r)
        if note is not None and not np.isfinite(acc).any():
            fig.add_annotation(x=i, y=0.5, text=note, showarrow=False, font=dict(size=11, color=colour(i)))
        fig.add_trace(go.Scatter(x=i + jitter, y=acc, mode="markers", name=_named(label, r),
                                 marker=dict(color=colour(i), size=9),
                                 customdata=k, hovertemplate="restart %{customdata}: %{y:.3f}<extra>" + label + "</extra>"))
        med = summarize(r).acc_median  # the table's median: diverged restarts left out (None: all diverged)
        fig.add_trace(go.Scatter(x=[i - 0.3, i + 0.3], y=[np.nan if med is None else med] * 2, mode="lines",
                                 showlegend=False, line=dict(color=colour(i), width=3), hoverinfo="skip"))
    fig.update_xaxes(tickvals=list(range(len(results))), ticktext=list(results), range=[-0.6, len(results) - 0.4])
    fig.update_yaxes(range=[0.0, 1.02])
    return finish(fig, "initializer", "final test accuracy (one point per restart)")


def _grid(data_x: np.ndarray, n: int = GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` points per side spanning the points ``data_x`` (m, 2) with 15 % padding: the x and y ticks and
    the (n * n, 2) points, x varying fastest (row i of a reshape (n, n) is y = gy[i])."""
    lo, hi = data_x.min(axis=0), data_x.max(axis=0)
    pad = 0.15 * (hi - lo) + 1e-9
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)
    xx, yy = np.meshgrid(gx, gy)
    return gx, gy, np.column_stack([xx.ravel(), yy.ravel()])


def _input_title(k: int, r: TrainResult) -> str:
    """The k-th input's axis title as the network saw it: standardized, or the raw coordinate."""
    return f"x{'₁₂'[k - 1]} (standardized)" if r.scenario.inputs == "standard" else f"x{'₁₂'[k - 1]}"


def _no_prediction(r: TrainResult, restart: int, step: int, what: str = "prediction") -> str:
    """What a decision-boundary panel says when ``restart`` has no finite prediction at ``step``: when it
    diverged (the first recorded step, up to ``step``, at which its loss or parameters were not finite).
    ``what`` names what is missing in other panels ("weights to draw")."""
    upto = r.recorded_steps <= step
    bad = ~np.isfinite(r.loss[restart, upto]) | ~np.isfinite(r.theta[restart, upto]).all(axis=1)
    if not bad.any():
        return f"restart {restart}: no finite {what}<br>at step {step:,}"
    return f"restart {restart} diverged<br>by step {int(r.recorded_steps[upto][np.argmax(bad)]):,}: no {what}"


def boundary_panel(results: Mapping[str, TrainResult], k: int, restart: int, step: int) -> go.Figure:
    """The ``k``-th initializer of ``results``: the predicted probability of class 1 over the input plane
    for ``restart`` at recorded ``step`` (colour; the 0.5 contour, black on a white casing so that it
    reads on either theme, is the decision boundary) and the training points. With 3 or more classes
    (a softmax output) the plane is coloured by the predicted class instead, paler where the top
    probability is lower (:func:`_class_regions`), and each class's points have their own colour and shape.

    The axes are named as the network saw the inputs (``scenario.inputs``: "x₁ (standardized)", or
    "x₁" for unscaled ones) and drawn 1:1 in data units (the y axis anchored to the x axis at ratio 1),
    so a circle is a circle whatever the width of the screen. Every panel of a comparison shows the same
    plane (the same training points), with the same colour bar and legend.

    A panel whose restart has no finite prediction at ``step`` (its parameters, or all its outputs, are
    inf/NaN: it diverged) draws no probability and says "restart 0 diverged by step 11: no prediction",
    the first recorded step at which its loss or parameters were not finite.
    """
    label, r = list(results.items())[k]
    X, y = np.asarray(r.data.X_train, dtype=np.float64), np.asarray(r.data.y_train)
    gx, gy, pts = _grid(X)
    fig = go.Figure()
    p = None
    finite = all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in r.params(restart, step))
    if finite and r.scenario.softmax:
        p = r.predict_proba(pts, restart, step)
    elif finite:
        with np.errstate(all="ignore"):
            p = 1.0 / (1.0 + np.exp(-np.clip(r.decision_function(pts, restart, step), -60, 60)))
    if p is None or not np.isfinite(p).any():  # nothing to colour: a 0.5 field would look like zero init's
        fig.add_annotation(x=0.5, y=0.5, xref="x domain", yref="y domain", showarrow=False, **LABEL_BOX,
                           text=_no_prediction(r, restart, step))
    elif r.scenario.softmax:
        _class_regions(fig, gx, gy, p, label)
    else:
        z = np.where(np.isfinite(p), p, 0.5).reshape(GRID, GRID).astype(np.float32)
        x32, y32 = gx.astype(np.float32), gy.astype(np.float32)
        fig.add_trace(go.Contour(x=x32, y=y32, z=z, zmin=0, zmax=1, colorscale="RdBu", reversescale=True,
                                 opacity=0.75, contours=dict(start=0, end=1, size=0.1), line=dict(width=0),
                                 colorbar=dict(title=dict(text="P(class 1)", side="right"), thickness=12, xpad=4,
                                               tickvals=[0, 0.5, 1]),
                                 name=label, hovertemplate="P(class 1) %{z:.2f}<extra></extra>"))
        for color, width in (("rgba(255,255,255,0.85)", 4), ("black", 2)):  # casing, then the line
            fig.add_trace(go.Contour(x=x32, y=y32, z=z, showscale=False, contours=dict(start=0.5, end=0.5, size=1,
                                                                                     coloring="none"),
                                     line=dict(color=color, width=width), hoverinfo="skip", name="boundary",
                                     showlegend=False))
    for cls in range(r.scenario.classes):
        m = y == cls
        # two classes keep their colours of old (the regions are red and blue); more get one colour each
        color = CLASS_COLOURS[cls] if r.scenario.softmax else colour(cls + 3)
        fig.add_trace(go.Scatter(x=X[m, 0].astype(np.float32), y=X[m, 1].astype(np.float32), mode="markers",
                                 marker=dict(symbol=CLASS_SYMBOLS[cls], size=5, color=color,
                                             line=dict(width=0.5, color="#1a1a1a" if r.scenario.softmax else None)),
                                 name=f"class {cls}"))
    fig.update_xaxes(title_text=_input_title(1, r), constrain="domain")
    fig.update_yaxes(title_text=_input_title(2, r), scaleanchor="x", scaleratio=1, constrain="domain")
    return panel_layout(fig, label, height=PANEL_HEIGHT + 50)  # the square plot gets the width of a phone


def _class_regions(fig: go.Figure, gx: np.ndarray, gy: np.ndarray, p: np.ndarray, label: str) -> None:
    """The predicted class over the grid (argmax of the softmax ``p``, (GRID², C)) as regions in the class
    colours, paler where the network is less sure (opacity from the top probability, between 1/C and 1):
    the borders between regions are the decision boundaries."""
    C = p.shape[1]
    ok = np.isfinite(p).all(axis=1)
    cls = np.where(ok, np.argmax(np.where(np.isfinite(p), p, -1.0), axis=1), -1)
    top = np.where(ok, p.max(axis=1), np.nan)
    scale = [(k / C + e / C, CLASS_COLOURS[k]) for k in range(C) for e in (0.0, 1.0)]
    z = np.where(cls >= 0, cls, np.nan).reshape(GRID, GRID).astype(np.float32)
    fig.add_trace(go.Heatmap(x=gx.astype(np.float32), y=gy.astype(np.float32), z=z, zmin=-0.5, zmax=C - 0.5,
                             colorscale=scale, opacity=0.55, name=label,
                             customdata=top.reshape(GRID, GRID).astype(np.float32),
                             colorbar=dict(title=dict(text="predicted class", side="right"), thickness=12, xpad=4,
                                           tickvals=list(range(C))),
                             hovertemplate="predicted class %{z}, p %{customdata:.2f}<extra></extra>"))
    # where the top probability is low the region is washed out by a white veil (a second layer)
    veil = np.clip((1.0 - top) / (1.0 - 1.0 / C), 0.0, 1.0) * 0.6
    fig.add_trace(go.Heatmap(x=gx.astype(np.float32), y=gy.astype(np.float32),
                             z=veil.reshape(GRID, GRID).astype(np.float32), zmin=0, zmax=1, showscale=False,
                             colorscale=[(0, "rgba(255,255,255,0)"), (1, "rgba(255,255,255,1)")], hoverinfo="skip",
                             name="confidence"))


def boundary_figures(results: Mapping[str, TrainResult], restart: int, step: int) -> list[go.Figure]:
    """:func:`boundary_panel` of every initializer, in order."""
    return [boundary_panel(results, k, restart, step) for k in range(len(results))]


def distinct_panel(results: Mapping[str, TrainResult], k: int) -> go.Figure:
    """Distinct units per hidden layer against the step (median over restarts) for the ``k``-th
    initializer of ``results``: 1 means every unit of the layer is the same unit, the symmetry was never
    broken.

    One panel per initializer (the page lays them side by side; one y scale for all, from every
    initializer's widths): drawn on one plot, initializers that keep every unit (N(0, 1) × 10 and He: 10
    and 5) drew identical lines, one hidden under the other. The colour is the initializer's and the dash
    the layer's; at the right end a label names the layers ending at each value ("layers 1, 2" where
    lines coincide, as zero init's at 1). The y axis counts units: whole-number ticks at 1 and at every
    layer's width, up to the widest. A diverged restart has no units to count (NaN) from its blow-up on:
    the title counts such restarts, and a panel whose restarts all diverged says so in its middle.
    """
    label, r = list(results.items())[k]
    fig = go.Figure()
    _, mid, _ = _quantiles(r.distinct)
    steps = r.recorded_steps
    c = colour(k)
    for layer in range(mid.shape[1]):
        fig.add_trace(go.Scatter(x=steps, y=mid[:, layer], name=f"{label}, layer {layer + 1}", showlegend=False,
                                 line=dict(color=c, dash=dash(layer)),
                                 hovertemplate=f"layer {layer + 1}: %{{y:.3g}} distinct units<extra>{label}</extra>",
                                 **_line_style(mid[:, layer], c)))
    note = _all_diverged(r)
    if note is not None:
        fig.add_annotation(x=0.5, y=0.5, xref="x domain", yref="y domain", text=note, showarrow=False,
                           font=dict(size=11, color=c))
    ends: dict[float, list[int]] = {}
    for layer in range(mid.shape[1]):
        if np.isfinite(mid[-1, layer]):
            ends.setdefault(float(mid[-1, layer]), []).append(layer + 1)
    for value, layers in ends.items():
        text = ("layers " + ", ".join(map(str, layers))) if len(layers) > 1 else f"layer {layers[0]}"
        fig.add_annotation(x=float(steps[-1]), y=value, text=text, showarrow=False, xanchor="right",
                           yanchor="bottom", font=dict(size=11, color=c))
    widths = {int(w) for res in results.values() for w in res.scenario.hidden}
    top = max(widths, default=1)
    ticks = sorted({1, *widths})
    fig.update_yaxes(range=[0, top * 1.12], tickmode="array", tickvals=ticks, ticktext=[str(t) for t in ticks],
                     zeroline=False)
    _steps_axis(finish(fig, "step", "distinct units (median)"))
    return panel_layout(fig, _named(label, r, "<br>"), height=PANEL_HEIGHT - 30)


def distinct_figures(results: Mapping[str, TrainResult]) -> list[go.Figure]:
    """:func:`distinct_panel` of every initializer, in order."""
    return [distinct_panel(results, k) for k in range(len(results))]


# What the per-layer chart can draw: the weights' gradient, the weights, or their ratio (the relative
# update size: how much one step of the learning rate changes a layer).
NORMS = {"grad": "‖∂L/∂W‖", "weight": "‖W‖", "relative": "‖∂L/∂W‖ / ‖W‖"}


def _median_norm(r: TrainResult, what: str) -> np.ndarray:
    """Median over restarts of ``what`` (:data:`NORMS`) per recorded step and layer, (T, L); a ratio is
    taken per restart, then its median."""
    g = np.asarray(r.grad_norm, dtype=np.float64)
    if what == "weight":
        g = r.weight_norm
    elif what == "relative":
        with np.errstate(all="ignore"):
            g = g / r.weight_norm
    return _quantiles(g)[1]


def layer_name(layer: int, layers: int) -> str:
    """"layer 2", or "output layer" for the last of ``layers`` (1..L): the Symmetry chart numbers only the
    hidden layers, so the output is named, not given the next number."""
    return "output layer" if layer == layers else f"layer {layer}"


def layers_in_words(layers: list[int], total: int) -> str:
    """Layers 1..``total`` in words: "layer 1", "layers 1, 2", "the output layer", "layers 1, 2 and
    the output layer" (the last of ``total`` is the output)."""
    hidden = [str(layer) for layer in layers if layer != total]
    words = [f"layer{'s' if len(hidden) > 1 else ''} {', '.join(hidden)}"] if hidden else []
    if total in layers:
        words.append("the output layer")
    return " and ".join(words)


def never_positive(results: Mapping[str, TrainResult], what: str = "grad") -> list[tuple[str, int]]:
    """(label, layer) of every layer (1..L) whose median ``what`` (:data:`NORMS`; default the gradient
    ‖∂L/∂W‖) over restarts is exactly 0 at every recorded step (zero init: the hidden layers), in order.

    :func:`grad_norm_figure` draws no line for them (a log axis has no 0); the page says so in words
    (:func:`layers_in_words`: layer L is the output layer).
    """
    out = []
    for label, r in results.items():
        mid = _median_norm(r, "weight" if what == "weight" else "grad")
        out.extend((label, layer + 1) for layer in range(mid.shape[1]) if (mid[:, layer] == 0).all())
    return out


def grad_norm_figure(results: Mapping[str, TrainResult], relative: bool = False, *, what: str | None = None
                     ) -> go.Figure:
    """Per layer against the step (median over restarts), log axis: ‖∂L/∂W_l‖ (``what="grad"``, the
    default), the weights' own ‖W_l‖ (``"weight"``) or the relative update size ‖∂L/∂W_l‖ / ‖W_l‖
    (``"relative"``, also ``relative=True``: the ratio per restart, then its median).

    A layer whose line has no positive finite value (zero init: exactly 0 at every step, see
    :func:`never_positive`) gets no trace, so the legend lists only the lines drawn. Traces are named
    "label, layer 1" .. "label, output layer" (:func:`layer_name`), the label with the count of its
    diverged restarts when there are any (whose values drop out of the median from their blow-up on).
    """
    what = what or ("relative" if relative else "grad")
    fig = layer_lines(results, lambda r: _median_norm(r, what), lambda r: r.scenario.layer_names, log=True)
    fig.update_yaxes(type="log")
    return _steps_axis(finish(fig, "step", f"{NORMS[what]} per layer (median over restarts)", hovermode="x unified"))


def layer_lines(results: Mapping[str, TrainResult], values: Callable[[TrainResult], np.ndarray],
                names: Callable[[TrainResult], Sequence[str]], *, log: bool = False) -> go.Figure:
    """A figure of one line per entry and column of ``values(r)`` (T, n) against the recorded steps: the
    entry's colour, the column's dash, named "label, " + ``names(r)[j]`` (the label with its count of
    diverged restarts, :func:`_named`). Non-finite values (and, with ``log``, values that are not positive:
    a log axis has no 0) are not drawn, and a column with nothing left gets no trace, so the legend lists
    only the lines drawn. The caller sets the axes and calls :func:`finish`."""
    fig = go.Figure()
    for i, (label, r) in enumerate(results.items()):
        mid = np.asarray(values(r), dtype=np.float64)
        name = _named(label, r)
        for j in range(mid.shape[1]):
            y = np.where(np.isfinite(mid[:, j]) & ((mid[:, j] > 0) if log else True), mid[:, j], np.nan)
            if np.isnan(y).all():
                continue
            fig.add_trace(go.Scatter(x=r.recorded_steps, y=y, name=f"{name}, {names(r)[j]}",
                                     line=dict(color=colour(i), dash=dash(j)), **_line_style(y, colour(i))))
    return fig


# ---------------------------------------------------------------------------------------------------
# Deep networks: one panel per entry, a line per layer (or block, or norm) coloured by its depth
# ---------------------------------------------------------------------------------------------------

DEEP = 6  # above this many layers a chart of one line per layer and entry (dash patterns) cannot be read
DEPTH_SCALE = "Viridis"  # first layer dark, last light; readable on either theme, and in grey


def deep(results: Mapping[str, TrainResult]) -> bool:
    """True when the per-layer charts draw one panel per entry (:func:`fan_panel`): some network has more
    than :data:`DEEP` weight layers."""
    return any(len(r.scenario.layer_shapes) > DEEP for r in results.values())


def fan_panel(label: str, r: TrainResult, y: np.ndarray, names: tuple[str, ...], y_title: str, *,
              log: bool = False, what: str = "layer", note: str | None = None, title: str = "") -> go.Figure:
    """One line per column of ``y`` (T, n) against the recorded steps, named by ``names`` and coloured by
    position (:data:`DEPTH_SCALE`: the input side dark, the output side light), with a colour bar from the
    first to the last ``what``. A log axis drops values that are not positive (a log axis has no 0);
    ``note`` is written in the middle of the panel; ``title`` follows the label in the panel's title."""
    from plotly.colors import sample_colorscale

    n = y.shape[1]
    cols = sample_colorscale(DEPTH_SCALE, [0.5] if n == 1 else list(np.linspace(0.0, 1.0, n)))
    fig = go.Figure()
    steps = r.recorded_steps
    drawn = 0
    for j in range(n):
        v = np.asarray(y[:, j], dtype=np.float64)
        v = np.where(np.isfinite(v) & ((v > 0) if log else True), v, np.nan)
        if np.isnan(v).all():
            continue
        drawn += 1
        fig.add_trace(go.Scatter(x=steps, y=v, name=names[j], showlegend=False, line=dict(color=cols[j], width=1.6),
                                 hovertemplate=f"{names[j]}: %{{y:.3g}}<extra></extra>", **_line_style(v, cols[j])))
    if drawn and n > 1:  # the colour bar rides on a marker at each line's end, in the line's colour
        ends = np.array([np.nan if np.isnan(np.asarray(y[:, j], dtype=np.float64)).all() else j + 1
                         for j in range(n)], dtype=np.float64)
        last = np.asarray(y[-1], dtype=np.float64)
        ok = np.isfinite(last) & ((last > 0) if log else True) & np.isfinite(ends)
        if ok.any():
            fig.add_trace(go.Scatter(
                x=np.full(int(ok.sum()), float(steps[-1])), y=last[ok], mode="markers", showlegend=False,
                hoverinfo="skip", name=f"{what} colours",
                marker=dict(size=5, color=ends[ok], cmin=1, cmax=n, colorscale=DEPTH_SCALE, showscale=True,
                            colorbar=dict(title=dict(text=what, side="right"), thickness=10, xpad=4,
                                          tickvals=[1, n], ticktext=[names[0], names[-1]]))))
    if note or not drawn:
        fig.add_annotation(x=0.5, y=0.5, xref="x domain", yref="y domain", showarrow=False, **LABEL_BOX,
                           text=note or "nothing to draw")
    if not drawn:  # the same steps as the panels beside it, not plotly's default axis of an empty chart
        fig.update_xaxes(range=[0, float(steps[-1])])
    if log:
        fig.update_yaxes(type="log")
    _steps_axis(finish(fig, "step", y_title, hovermode="x unified"))
    return panel_layout(fig, _named(label, r, "<br>") + title, height=PANEL_HEIGHT + 20)


def grad_norm_panel(results: Mapping[str, TrainResult], k: int, what: str = "grad") -> go.Figure:
    """:func:`grad_norm_figure`'s quantity for the ``k``-th entry alone, a line per weight layer named as
    ``scenario.layer_names`` (stem, blocks, output): what a deep network's per-layer chart draws."""
    label, r = list(results.items())[k]
    return fan_panel(label, r, _median_norm(r, what), r.scenario.layer_names, f"{NORMS[what]} (median)", log=True,
                     note=_all_diverged(r))


def distinct_fan_panel(results: Mapping[str, TrainResult], k: int) -> go.Figure:
    """:func:`distinct_panel` for a deep network: a line per weight layer but the output (median over
    restarts), the y axis from 0 to the widest layer."""
    label, r = list(results.items())[k]
    fig = fan_panel(label, r, _quantiles(r.distinct)[1], r.scenario.layer_names[:-1], "distinct units (median)",
                    note=_all_diverged(r))
    top = max(int(w) for res in results.values() for w in res.scenario.hidden)
    fig.update_yaxes(range=[0, top * 1.12], tickmode="array", tickvals=sorted({1, top}), zeroline=False)
    return fig


def alpha_panel(results: Mapping[str, TrainResult], k: int) -> go.Figure:
    """The branch scale alpha of every block against the step (median over restarts) for the ``k``-th entry:
    learned (ReZero, SkipInit: from 0, moved by the optimizer like any weight), or the constant of a fixed
    rule (said in the panel); a plain network has none."""
    label, r = list(results.items())[k]
    ts = r.scenario
    if not ts.residual:
        note = "a plain network has no α"
    elif not ts.alpha_learned:
        note = f"α is fixed at {ts.alpha():.3g} (not learned)"
    else:
        note = _all_diverged(r)
    names = tuple(f"block {b + 1}" for b in range(ts.blocks))
    y = _quantiles(r.alpha)[1] if ts.blocks else np.zeros((len(r.recorded_steps), 0))
    return fan_panel(label, r, y, names, "α per block (median)", what="block", note=note)


def norm_param_panel(results: Mapping[str, TrainResult], k: int, which: str = "gamma") -> go.Figure:
    """Root mean square over the units of every norm's learned scale gamma (``which="gamma"``, starts at 1) or
    shift beta (``"beta"``, starts at 0) against the step, median over restarts, for the ``k``-th entry."""
    label, r = list(results.items())[k]
    ts = r.scenario
    i = 0 if which == "gamma" else 1
    y = _quantiles(r.norm_rms[..., i])[1] if ts.norm != "none" else np.zeros((len(r.recorded_steps), 0))
    note = "no norm in this network" if ts.norm == "none" else _all_diverged(r)
    sym = "γ" if which == "gamma" else "β"
    return fan_panel(label, r, y, ts.norm_names, f"{sym}: root mean square over units (median)", what="norm",
                     note=note, title=f": {sym} ({'scale' if which == 'gamma' else 'shift'})")
