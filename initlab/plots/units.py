"""Figures of single units and single predictions of a training: what every hidden unit looks at and
computes, the test set's confusion matrix and wrong images, and per-layer charts of dead and saturated
units and of the relative update size over training.

Pure functions with the conventions of :mod:`initlab.plots.style` and :mod:`initlab.plots.training`
(one panel per entry, ``results`` a label -> :class:`TrainResult` mapping and ``k`` the entry's index;
``restart`` and a recorded ``step`` pick the network drawn). Many small images are drawn as ONE heatmap
(a mosaic, :func:`_mosaic`): tiles side by side with a NaN gap between them, which plotly leaves
transparent; a figure of one subplot per unit is slow to lay out and to send. Heatmap values are float32
and their hover indices uint8 or uint16 (:func:`_hover_indices`), so a panel's JSON stays small.

A note on a panel (:func:`_note`) says in words what the picture alone would not: every weight 0, every
unit the same, points without a prediction, how many images are shown. A restart whose parameters are
not finite (it diverged) draws nothing and says so, as the decision-boundary panels do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from initlab.plots.style import LABEL_BOX, PANEL_HEIGHT, PANEL_MARGIN, finish, panel_layout
from initlab.plots.training import (
    _all_diverged, _grid, _no_prediction, _quantiles, _steps_axis, fan_panel, layer_lines,
)
from initlab.training import engine
from initlab.training.engine import TrainResult
from initlab.weights import activations

__all__ = [
    "MAP_GRID", "SHARE_KINDS", "activation_layer_names", "confusion_panel", "frozen_updates", "map_grid",
    "misclassified_panel", "share_kind", "undefined_updates", "unit_flags", "unit_maps_panel", "unit_share_figure",
    "unit_share_panel", "update_ratio_figure", "update_ratio_panel", "weight_images_panel",
]

MAP_GRID = 28  # points per side of a unit's map over the input plane (784 outputs a unit: a tile reads at ~40 px)
MAP_CELLS = 16 * MAP_GRID**2  # at most this many map values a panel: wider layers get coarser maps (64 units: 14)
MIN_MAP_GRID = 14
PER_ROW = 8  # tiles per mosaic row at most
LABEL_ROWS = 3  # pixel rows above each tile of the misclassified mosaic, for its "true→predicted" label
IMAGE_SCALE = "RdBu"  # weights: negative red, positive blue, 0 white
MAP_SCALE = "Viridis"  # unit outputs and counts: dark to light, readable on either theme and in grey
INK_SCALE = "Greys"  # raw pixels: 0 white paper, the largest grey level black ink
SHARE_KINDS = ("dead", "saturated")  # what unit_share_figure can draw
NOTE_ROOM = 22  # px under the plot per line of a note
MOSAIC_WIDTH = 300  # px of plot a mosaic panel is sized for (a phone, or a third of a wide page)


# ---------------------------------------------------------------------------------------------------
# Mosaics: many small images as one heatmap
# ---------------------------------------------------------------------------------------------------

def _per_row(n: int) -> int:
    """Tiles per row for ``n`` tiles: a mosaic about as tall as wide, so the tiles are as large as a panel
    of fixed width allows (16 tiles: 4 rows of 4; 10: rows of 4, 4 and 2), at most :data:`PER_ROW`."""
    return int(min(PER_ROW, max(1, math.ceil(math.sqrt(n)))))


def _mosaic(tiles: np.ndarray, per_row: int, top: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tiles`` (n, h, w, ...) laid out ``per_row`` to a row with one NaN pixel between neighbours and
    ``top`` NaN rows above every tile: the mosaic (rows (top + h + 1) - 1, per_row (w + 1) - 1, ...) as
    float32, and the mosaic row and column of every tile's top-left pixel (n,) each. A trailing axis
    (hover indices) is carried along."""
    n, h, w = tiles.shape[:3]
    rows = max(1, math.ceil(n / per_row))
    out = np.full((rows * (top + h + 1) - 1, per_row * (w + 1) - 1, *tiles.shape[3:]), np.nan, np.float32)
    r0 = (np.arange(n) // per_row) * (top + h + 1) + top
    c0 = (np.arange(n) % per_row) * (w + 1)
    for i in range(n):
        out[r0[i]:r0[i] + h, c0[i]:c0[i] + w] = tiles[i]
    return out, r0, c0


def _hover_indices(mosaic: np.ndarray) -> np.ndarray:
    """Hover indices (whole numbers >= 0) in the smallest unsigned type that holds them (uint8, else
    uint16), 0 in the gaps, where ``hoverongaps=False`` shows nothing: not -1, whose bytes are base64
    "////", each "/" escaped to six characters in the figure's JSON."""
    out = np.where(np.isfinite(mosaic), mosaic, 0)
    return out.astype(np.uint8 if out.max(initial=0) < 256 else np.uint16)


def _image_side(features: int) -> int:
    """The side of a square image of ``features`` pixels; ValueError when ``features`` is not a square."""
    side = math.isqrt(features)
    if features < 4 or side * side != features:
        raise ValueError(f"{features} inputs are not a square image: images are drawn for the digits dataset "
                         f"(8x8 pixels)")
    return side


def _mosaic_axes(fig: go.Figure, shape: tuple[int, ...]) -> None:
    """Pixel axes of a mosaic: no ticks, grid or titles; row 0 on top (images upright) and square pixels
    (the y axis anchored to the x axis at ratio 1)."""
    rows, cols = shape[:2]
    fig.update_xaxes(visible=False, range=[-0.5, cols - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[rows - 0.5, -0.5], scaleanchor="x", scaleratio=1, constrain="domain")


def _mosaic_height(shape: tuple[int, ...]) -> int:
    """A panel height that fits a mosaic of ``shape`` at :data:`MOSAIC_WIDTH` px of plot width, within
    ``PANEL_HEIGHT - 120 .. PANEL_HEIGHT + 150``."""
    rows, cols = shape[:2]
    plot = MOSAIC_WIDTH * rows / max(cols, 1)
    return int(np.clip(plot + PANEL_MARGIN["t"] + PANEL_MARGIN["b"], PANEL_HEIGHT - 120, PANEL_HEIGHT + 150))


def _note(fig: go.Figure, lines: list[str]) -> None:
    """``lines`` written under the plot, left-aligned (the bottom margin grows to hold them)."""
    if not lines:
        return
    fig.add_annotation(text="<br>".join(lines), x=0.0, y=0.0, xref="paper", yref="paper", xanchor="left",
                       yanchor="top", yshift=-6, showarrow=False, align="left", font=dict(size=12))
    fig.update_layout(margin=dict(b=PANEL_MARGIN["b"] + NOTE_ROOM * len(lines)),
                      height=(fig.layout.height or PANEL_HEIGHT) + NOTE_ROOM * len(lines))


def _middle(fig: go.Figure, text: str) -> None:
    """``text`` in the middle of an empty panel, in a label box (nothing drawn behind it)."""
    fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, text=text, **LABEL_BOX)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)


def _finite(params: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    return all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in params)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------------------------------
# What every unit looks at and computes
# ---------------------------------------------------------------------------------------------------

def weight_images_panel(results: Mapping[str, TrainResult], k: int, restart: int, step: int) -> go.Figure:
    """The first layer's incoming weights of every hidden unit of the ``k``-th entry as an image: unit j's
    column W_1[:, j] (one weight per input pixel) reshaped to the input image (64 inputs: 8x8, pixel (row,
    col) = input 8 row + col), ``restart`` at recorded ``step``. The units are tiles of one heatmap, up to
    8 a row (:func:`_mosaic`), upright; hover "unit j, pixel (row, col): value", units counted from 1.

    Colour: red negative, blue positive, white 0 (RdBu), symmetric about 0 from -max|W_1| to +max|W_1| of
    this panel, so each panel uses its full scale (compare patterns between panels, not colours); all
    weights 0 (zero init) draws on ±1 and notes "every weight is 0". The title counts the distinct units
    of the layer (:func:`initlab.training.engine.distinct_units` on W_1 and b_1 at the engine's tolerance
    for the dtype: the Symmetry chart's rule), e.g. "zeros: 1 distinct unit of 32"; when there is only
    one, a note says that every unit shows the same image. A restart whose first layer is not finite (it
    diverged) draws nothing and says so. ValueError when the inputs are not a square image (the 2-D
    datasets: 2 inputs).
    """
    label, r = list(results.items())[k]
    ts = r.scenario
    side = _image_side(ts.features)
    W, b = r.params(restart, step)[0]
    width = W.shape[1]
    fig = go.Figure()
    if not _finite([(W, b)]):
        _middle(fig, _no_prediction(r, restart, step, "weights to draw"))
        return panel_layout(fig, label, height=PANEL_HEIGHT - 60)
    distinct = int(engine.distinct_units(W[None], b[None], engine.DISTINCT_RTOL[ts.dtype])[0])
    tiles = W.T.reshape(width, side, side)
    z, _, _ = _mosaic(tiles, _per_row(width))
    pix = np.arange(side * side).reshape(side, side)
    idx = np.stack(np.broadcast_arrays(np.arange(1, width + 1)[:, None, None], (pix // side)[None], (pix % side)[None]),
                   axis=-1)
    custom, _, _ = _mosaic(idx, _per_row(width))
    top = float(np.abs(W).max())
    notes = []
    if top == 0:
        notes.append("every weight is 0")
        top = 1.0
    if distinct == 1 and width > 1:
        notes.append("every unit shows the same image")
    fig.add_trace(go.Heatmap(z=z, zmin=-top, zmax=top, colorscale=IMAGE_SCALE, customdata=_hover_indices(custom),
                             hoverongaps=False, name=label,
                             hovertemplate="unit %{customdata[0]}, pixel (%{customdata[1]}, %{customdata[2]}): "
                                           "%{z:.3g}<extra></extra>",
                             colorbar=dict(title=dict(text="weight", side="right"), thickness=12, xpad=4)))
    _mosaic_axes(fig, z.shape)
    fig = panel_layout(fig, f"{label}:<br>{distinct} distinct unit{'' if distinct == 1 else 's'} of {width}",
                       height=_mosaic_height(z.shape))
    _note(fig, notes)
    return fig


def _output_range(act: activations.Activation) -> tuple[float, float] | None:
    """The range of f where it is bounded on both sides (tanh [-1, 1], sigmoid [0, 1]), read from f itself
    far out on both sides; None for an f unbounded on either side (relu, elu, linear, ...)."""
    with np.errstate(all="ignore"):
        lo, hi = (float(v) for v in act.fn(np.array([-1e6, 1e6])))
        lo2, hi2 = (float(v) for v in act.fn(np.array([-1e3, 1e3])))
    if not (np.isfinite([lo, hi]).all() and abs(lo - lo2) < 1e-6 and abs(hi - hi2) < 1e-6):
        return None
    return round(lo, 6), round(hi, 6)


def map_grid(width: int) -> int:
    """Points per side of each unit's map for a layer of ``width`` units: :data:`MAP_GRID` up to 16 units,
    then fewer, so that a panel holds about :data:`MAP_CELLS` values (its JSON stays ~100 kB), never under
    :data:`MIN_MAP_GRID` (8 tiles a row on a phone are ~40 px wide: 14 points still show a smooth map)."""
    return int(np.clip(round(math.sqrt(MAP_CELLS / max(width, 1))), MIN_MAP_GRID, MAP_GRID))


def unit_flags(z: np.ndarray, act: activations.Activation) -> tuple[np.ndarray, np.ndarray]:
    """Which units of one layer are dead and which saturated over a set of points, from what f was applied
    to, ``z`` (m, width): dead when f(z) = 0 at every point (an activation that can die: relu),
    saturated when f'(z) < ``act.saturation_threshold`` at every point; two (width,) bool arrays, all
    False where the notion does not apply. The rule of :func:`initlab.training.engine.unit_shares`, unit by
    unit."""
    width = z.shape[-1]
    dead = np.zeros(width, bool)
    sat = np.zeros(width, bool)
    with np.errstate(all="ignore"):
        if act.can_die:
            dead = (act.fn(z) == 0).all(axis=0)
        if act.saturation_threshold is not None:
            sat = (act.deriv(z) < act.saturation_threshold).all(axis=0)
    return dead, sat


def unit_maps_panel(results: Mapping[str, TrainResult], k: int, restart: int, step: int, layer: int) -> go.Figure:
    """Every unit of hidden layer ``layer`` (1-based) of the ``k``-th entry, ``restart`` at recorded
    ``step``: its output over the input plane, one tile per unit (a grid of :func:`map_grid` points per
    side, 28 up to 16 units, spanning the training points with 15 % padding as the decision boundaries'
    grid does, x₂ upwards), all in one heatmap (:func:`_mosaic`). The values are :meth:`TrainResult.hidden_outputs` of the grid points.

    Colour (Viridis, shared by every tile, so a dead unit is flat at the bottom): the activation's output
    range where f is bounded (tanh [-1, 1], sigmoid [0, 1]), else the layer's min..max over the grid.

    A unit that is dead (f(z) = 0 on every TRAINING point) or saturated (f'(z) <
    ``saturation_threshold`` on every training point; :func:`unit_flags`, the rule of
    :func:`initlab.training.engine.unit_shares`, so the counts agree with the recorded ``dead_share`` and
    ``saturated_share``) is marked "dead" or "sat." on its tile, and the title counts them: "He: 3 of 8
    units dead". A residual network's layers after the stem are block outputs (the stream after the sum),
    not the output of one activation: drawn without marks, and a note says so. A restart without finite
    parameters draws nothing and says so. ValueError for a dataset that is not 2-D (digits) or a
    ``layer`` out of range.
    """
    label, r = list(results.items())[k]
    ts = r.scenario
    if ts.features != 2:
        raise ValueError(f"unit maps are drawn over the input plane: {ts.dataset} has {ts.features} inputs, not 2")
    if not 1 <= layer <= len(ts.hidden):
        raise ValueError(f"layer must be 1 to {len(ts.hidden)}; received {layer!r}")
    act = activations.get(ts.activation)
    fig = go.Figure()
    width = ts.hidden[layer - 1]
    if not _finite(r.params(restart, step)):
        _middle(fig, _no_prediction(r, restart, step, "output"))
        return panel_layout(fig, label, height=PANEL_HEIGHT - 60)
    n = map_grid(width)
    _, _, pts = _grid(np.asarray(r.data.X_train, dtype=np.float64), n)
    h = r.hidden_outputs(pts, restart, step)[layer - 1]  # (grid points, width)
    tiles = h.T.reshape(width, n, n)[:, ::-1]  # grid row i is y = gy[i]: the top row is the largest
    per_row = _per_row(width)
    z, r0, c0 = _mosaic(tiles, per_row)
    custom, _, _ = _mosaic(np.broadcast_to(np.arange(1, width + 1, dtype=np.float32)[:, None, None], (width, n, n)),
                           per_row)
    block = ts.residual and layer > 1
    bounds = None if block else _output_range(act)
    finite = h[np.isfinite(h)]
    lo, hi = bounds if bounds else ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5  # a layer constant over the plane (zero init): one colour, not a blank scale
    what = "block output" if block else f"layer {layer} output"
    fig.add_trace(go.Heatmap(z=z, zmin=lo, zmax=hi, colorscale=MAP_SCALE, customdata=_hover_indices(custom),
                             hoverongaps=False, name=label,
                             hovertemplate="unit %{customdata}: %{z:.3g}<extra></extra>",
                             colorbar=dict(title=dict(text=what, side="right"), thickness=12, xpad=4)))
    _mosaic_axes(fig, z.shape)
    notes, counts = [], []
    if block:
        notes.append(f"layer {layer} is block {layer - 1}'s output (a sum):<br>no dead or saturated marks")
    else:
        zt = r.hidden_preactivations(np.asarray(r.data.X_train), restart, step)[layer - 1]
        dead, sat = unit_flags(zt, act)
        for flags, word, mark, applies in ((dead, "dead", "dead", act.can_die),
                                           (sat, "saturated", "sat.", act.saturation_threshold is not None)):
            if applies:
                counts.append(f"{int(flags.sum())} of {width} units {word}")
            for j in np.flatnonzero(flags):
                fig.add_annotation(x=float(c0[j]) + (n - 1) / 2, y=float(r0[j]) + (n - 1) / 2,
                                   xref="x", yref="y", text=mark, showarrow=False, **LABEL_BOX)
        if not counts:
            notes.append(f"{act.name} units neither die nor saturate")
    title = f"{label}:<br>{', '.join(counts)}" if counts else f"{label}:<br>{_plural(width, 'unit')}"
    fig = panel_layout(fig, title, height=_mosaic_height(z.shape))
    _note(fig, notes)
    return fig


# ---------------------------------------------------------------------------------------------------
# The test set: confusion matrix and wrong images
# ---------------------------------------------------------------------------------------------------

def confusion_panel(results: Mapping[str, TrainResult], k: int, restart: int, step: int) -> go.Figure:
    """The test-set confusion matrix of the ``k``-th entry, ``restart`` at recorded ``step``
    (:meth:`TrainResult.confusion`): cell (i, j) counts the test points of true class i (row, top down)
    predicted as j (column), written in the cell; colour by count (Viridis: no cell is the page's
    background, on a light or a dark theme). The title says "label: N of M test points right (acc %)",
    N the trace of the matrix and M the test set's size. Points without a prediction (NaN logits: the
    restart diverged) are in no cell; a note counts them, and a restart with no prediction at all draws
    no matrix and says so.
    """
    label, r = list(results.items())[k]
    C = r.scenario.classes
    m = r.confusion(restart, step)
    n = int(r.data.y_test.size)
    fig = go.Figure()
    counted = int(m.sum())
    if counted == 0:
        _middle(fig, _no_prediction(r, restart, step))
        return panel_layout(fig, label, height=PANEL_HEIGHT - 60)
    classes = np.arange(C)
    fig.add_trace(go.Heatmap(z=m.astype(np.int32), x=classes, y=classes, colorscale=MAP_SCALE, zmin=0,
                             texttemplate="%{z}", name=label, showscale=False,
                             hovertemplate="true %{y}, predicted %{x}: %{z} test points<extra></extra>"))
    right = int(np.trace(m))
    ticks = dict(tickmode="array", tickvals=classes.tolist(), ticktext=[str(c) for c in classes], showgrid=False,
                 zeroline=False)
    fig.update_xaxes(side="bottom", constrain="domain", **ticks)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain", **ticks)
    finish(fig, "predicted class", "true class")
    fig = panel_layout(fig, f"{label}:<br>{right} of {n} test {'images' if r.scenario.dataset == 'digits' else 'points'} right ({right / n:.0%})",
                       height=PANEL_HEIGHT + 20)
    if counted < n:
        _note(fig, [f"{n - counted} test point{'' if n - counted == 1 else 's'} without a prediction "
                    f"(NaN output: the restart diverged) are in no cell"])
    return fig


def _pick_wrong(true: np.ndarray, limit: int) -> np.ndarray:
    """Positions into ``true`` of at most ``limit`` wrong images, taken in turn from every true class (the
    first wrong image of each class, then the second, ...), then sorted by true class and position: every
    class that has errors shows some even when one class has most of them."""
    order = np.lexsort((np.arange(true.size), true))
    rank = np.empty(true.size, np.int64)
    for c in np.unique(true):  # rank of each image within its class, in test-set order
        members = order[true[order] == c]
        rank[members] = np.arange(members.size)
    chosen = np.lexsort((true, rank))[:limit]
    return chosen[np.lexsort((chosen, true[chosen]))]


def misclassified_panel(results: Mapping[str, TrainResult], k: int, restart: int, step: int,
                        limit: int = 40) -> go.Figure:
    """The test images the ``k``-th entry gets wrong, ``restart`` at recorded ``step``
    (:meth:`TrainResult.misclassified`), as the raw pixels (the scaling undone: X scale + shift; digits:
    grey levels 0..16, white paper and black ink) in one heatmap, up to 8 a row, sorted by true class,
    each with "true→predicted" above it ("3→8"; "3→?" for no prediction). At most ``limit`` images, taken
    in turn from every true class (:func:`_pick_wrong`); a note says "showing 40 of 57". The title counts
    the wrong images; none wrong: a note says so. A restart with no prediction at all draws nothing and
    says so. ValueError when the inputs are not a square image (the 2-D datasets).
    """
    label, r = list(results.items())[k]
    side = _image_side(r.scenario.features)
    data = r.data
    n = int(data.y_test.size)
    wrong = r.misclassified(restart, step)
    pred = r.predictions(data.X_test, restart, step)
    fig = go.Figure()
    title = f"{label}:<br>{len(wrong)} of {n} test images wrong"
    if (pred < 0).all():
        _middle(fig, _no_prediction(r, restart, step))
        return panel_layout(fig, label, height=PANEL_HEIGHT - 60)
    if not wrong.size:
        _middle(fig, "every test image is classified right")
        return panel_layout(fig, title, height=PANEL_HEIGHT - 60)
    shown = wrong[_pick_wrong(data.y_test[wrong], max(int(limit), 1))]
    raw = np.asarray(data.X_test[shown], dtype=np.float64) * data.scale + data.shift
    tiles = raw.reshape(len(shown), side, side)
    per_row = _per_row(len(shown))
    z, r0, c0 = _mosaic(tiles, per_row, top=LABEL_ROWS)
    custom, _, _ = _mosaic(np.broadcast_to(shown.astype(np.float32)[:, None, None], (len(shown), side, side)),
                           per_row, top=LABEL_ROWS)
    every = np.asarray(data.X_test, dtype=np.float64) * data.scale + data.shift
    fig.add_trace(go.Heatmap(z=z, zmin=float(every.min()), zmax=float(every.max()), colorscale=INK_SCALE,
                             showscale=False, customdata=_hover_indices(custom), hoverongaps=False, name=label,
                             hovertemplate="test image %{customdata}: grey level %{z}<extra></extra>"))
    for i, j in enumerate(shown):
        p = int(pred[j])
        fig.add_annotation(x=float(c0[i]) + (side - 1) / 2, y=float(r0[i]) - 0.5, xref="x", yref="y", yanchor="bottom",
                           text=f"{int(data.y_test[j])}→{p if p >= 0 else '?'}", showarrow=False,
                           font=dict(size=10))
    _mosaic_axes(fig, z.shape)
    fig = panel_layout(fig, title, height=_mosaic_height(z.shape))
    _note(fig, [f"showing {len(shown)} of {len(wrong)}"] if len(shown) < len(wrong) else [])
    return fig


# ---------------------------------------------------------------------------------------------------
# Per-layer charts over training: dead and saturated units, relative update size
# ---------------------------------------------------------------------------------------------------

def share_kind(act_name: str) -> str | None:
    """Which unit chart applies to the activation ``act_name``: "dead" where a unit can die (relu: output
    0 on every point), "saturated" where f has a saturation threshold (tanh, sigmoid, elu, ...), None
    where neither (leaky_relu, linear): the page then says why nothing is drawn."""
    act = activations.get(act_name)
    if act.can_die:
        return "dead"
    if act.saturation_threshold is not None:
        return "saturated"
    return None


def activation_layer_names(r: TrainResult) -> tuple[str, ...]:
    """A name per activation layer (:func:`initlab.training.engine.activation_layers` order): "layer 1", ...
    in a plain network; "stem", then "block k" (post-norm, one f per block) or "block k, before Wj"
    (pre-norm, an f before every branch layer) in a residual one."""
    ts = r.scenario
    if not ts.residual:
        return tuple(f"layer {l + 1}" for l in range(len(ts.hidden)))
    per = ts.branch_layers if ts.norm_position == "pre" else 1
    return ("stem", *(f"block {b + 1}" + (f", before W{j + 1}" if per > 1 else "")
                      for b in range(ts.blocks) for j in range(per)))


def _shares(r: TrainResult, which: str) -> np.ndarray:
    """Median over restarts of the recorded share of ``which`` units, (T, A); NaN where not recorded."""
    if which not in SHARE_KINDS:
        raise ValueError(f"which must be one of {SHARE_KINDS}; received {which!r}")
    a = r.dead_share if which == "dead" else r.saturated_share
    if a is None:
        return np.full((len(r.recorded_steps), engine.activation_layers(r.scenario)), np.nan)
    return _quantiles(np.asarray(a, dtype=np.float64))[1]


def _share_axis(fig: go.Figure) -> go.Figure:
    fig.update_yaxes(range=[0.0, 1.02], tickformat=".0%")
    return fig


def unit_share_figure(results: Mapping[str, TrainResult], which: str) -> go.Figure:
    """The share of dead (``which="dead"``) or saturated (``"saturated"``) units of every activation layer
    against the step, median over restarts of the recorded ``dead_share`` / ``saturated_share``: a colour
    per entry, a dash per layer ("label, layer 2"), y from 0 to 100 %. A layer whose share is never
    defined (the notion does not apply to the activation, :func:`share_kind`; or every restart diverged)
    gets no trace; with none drawn the chart says so in its middle. For shallow networks; deep ones:
    :func:`unit_share_panel`."""
    fig = layer_lines(results, lambda r: _shares(r, which), activation_layer_names)
    if not fig.data:
        fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, **LABEL_BOX,
                           text=f"no {which} units to count")
    _share_axis(fig)
    return _steps_axis(finish(fig, "step", f"share of {which} units (median over restarts)",
                              hovermode="x unified"))


def unit_share_panel(results: Mapping[str, TrainResult], k: int, which: str) -> go.Figure:
    """:func:`unit_share_figure`'s quantity for the ``k``-th entry alone, a line per activation layer coloured
    by depth (:func:`initlab.plots.training.fan_panel`): what a deep network's chart draws. A note says
    when the activation has no such units or every restart diverged."""
    label, r = list(results.items())[k]
    kind = share_kind(r.scenario.activation)
    note = _all_diverged(r)
    if kind != which:
        note = f"{r.scenario.activation} units cannot be {which}"
    fig = fan_panel(label, r, _shares(r, which), activation_layer_names(r),
                    f"share of {which} units (median)", note=note)
    return _share_axis(fig)


RATIO_TITLE = "‖ΔW‖ / ‖W‖"


def _median_ratio(r: TrainResult) -> np.ndarray:
    """Median over restarts of the recorded update ratio per step and weight layer (T, L); NaN undefined."""
    if r.update_ratio is None:
        return np.full((len(r.recorded_steps), len(r.scenario.layer_shapes)), np.nan)
    return _quantiles(np.asarray(r.update_ratio, dtype=np.float64))[1]


def update_ratio_figure(results: Mapping[str, TrainResult]) -> go.Figure:
    """The relative size of the last update before each record, ‖W_t - W_(t-1)‖ / ‖W_(t-1)‖ of every weight
    layer (the recorded ``update_ratio``), against the step, median over restarts, on a log axis: a
    colour per entry, a dash per layer ("label, output layer"). Undefined values (NaN: step 0 has no
    update yet; a zero-initialised layer has ‖W‖ = 0) are not drawn, and a layer with none defined gets
    no trace: :func:`undefined_updates` lists those for the page to say in words. No "healthy" reference
    line: what a good ratio is depends on the optimizer and the learning rate. Deep networks:
    :func:`update_ratio_panel`."""
    fig = layer_lines(results, _median_ratio, lambda r: r.scenario.layer_names, log=True)
    fig.update_yaxes(type="log")
    return _steps_axis(finish(fig, "step", f"{RATIO_TITLE} per layer (median over restarts)", hovermode="x unified"))


def update_ratio_panel(results: Mapping[str, TrainResult], k: int) -> go.Figure:
    """:func:`update_ratio_figure` for the ``k``-th entry alone, a line per weight layer coloured by depth
    (:func:`initlab.plots.training.fan_panel`); a panel whose every ratio is undefined says so."""
    label, r = list(results.items())[k]
    mid = _median_ratio(r)
    note = _all_diverged(r)
    if note is None and not np.isfinite(mid[1:]).any():
        note = "‖W‖ = 0 before every update:<br>the ratio is undefined"
    return fan_panel(label, r, mid, r.scenario.layer_names, f"{RATIO_TITLE} (median)", log=True, note=note)


def undefined_updates(results: Mapping[str, TrainResult]) -> list[tuple[str, int]]:
    """(label, layer) of every weight layer (1..L, the last the output layer) whose update ratio is
    undefined (NaN) at every recorded step after 0 in every restart that did not diverge: its ‖W‖ was 0
    before each of those updates (zero init: the hidden layers stay 0, and so does an output layer fed
    only zeros). Entries whose restarts all diverged, or with no record after step 0, list nothing (there
    the ratio says nothing about the weights). :func:`update_ratio_figure` draws no line for them."""
    out = []
    for label, r in results.items():
        ok = ~r.diverged
        if r.update_ratio is None or not ok.any() or len(r.recorded_steps) < 2:
            continue
        later = np.asarray(r.update_ratio)[ok, 1:]
        out.extend((label, layer + 1) for layer in range(later.shape[2]) if np.isnan(later[..., layer]).all())
    return out


def frozen_updates(results: Mapping[str, TrainResult]) -> list[tuple[str, int]]:
    """(label, layer) of every weight layer (1..L) whose median update ratio over restarts is exactly 0 at
    every recorded step after 0: the layer received no gradient at all (every unit it feeds, or every unit
    feeding it, is a dead ReLU), so no update moved it. A log axis has no 0, so :func:`update_ratio_figure`
    draws nothing for such a layer; the page says so in words."""
    out = []
    for label, r in results.items():
        mid = _median_ratio(r)[1:]
        if mid.shape[0] == 0:
            continue
        out.extend((label, layer + 1) for layer in range(mid.shape[1]) if (mid[:, layer] == 0).all())
    return out
