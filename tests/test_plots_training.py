"""Figures of the Training page (initlab.plots.training), built from real (small) trainings."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from initlab.plots import style
from initlab.plots import training as plots_training
from initlab.training import engine as training
from initlab.training.scenario import TrainScenario
from initlab.pages import train_comparison

SMALL = TrainScenario(n_train=80, n_test=40, hidden=(10, 5), steps=60, restarts=3)


def trained(ts: TrainScenario, names: tuple[str, ...]) -> dict[str, training.TrainResult]:
    pairs = train_comparison(ts, names)
    return dict(zip([label for label, _ in pairs], training.train_many([t for _, t in pairs], records=6,
                                                                       engine="numpy")))


@pytest.fixture(scope="module")
def classic() -> dict[str, training.TrainResult]:
    """The default comparison (zeros, N(0, 1) × 10, He), small: relu, hidden layers 10 and 5."""
    return trained(SMALL, ("zeros", "normal_10", "he"))


BIG = "N(0, 1) × 10"


@pytest.fixture(scope="module")
def blown() -> dict[str, training.TrainResult]:
    """Three hidden layers of 32: N(0, 1) × 10 starts with a loss near 1e5 and every restart's loss is
    NaN by the next record, step 10 (the tour's case: four layers of 64, 534 steps)."""
    return trained(SMALL.replace(hidden=(32, 32, 32), restarts=4), ("normal_10", "he"))


@pytest.fixture(scope="module")
def partly() -> dict[str, training.TrainResult]:
    """Three hidden layers of 16 at learning rate 0.1: some of N(0, 1) × 10's restarts diverge, not all."""
    return trained(SMALL.replace(hidden=(16, 16, 16), steps=30, restarts=4, lr=0.1), ("normal_10", "he"))


def by_name(fig: go.Figure, start: str) -> list[go.Scatter]:
    return [t for t in fig.data if (t.name or "").startswith(start)]


def lone_markers(t: go.Scatter) -> np.ndarray:
    """The points of a line trace drawn as a visible marker (size > 0)."""
    if "markers" not in (t.mode or ""):
        return np.zeros(len(t.y), dtype=bool)
    return np.broadcast_to(np.asarray(t.marker.size, dtype=float), (len(t.y),)) > 0


# ------------------------------------------------------------------------------------ gradient norms


def test_grad_norms_draw_no_empty_trace_and_name_the_zero_layers(classic):
    zeros = classic["zeros"]
    assert (zeros.grad_norm == 0).all()  # relu(0) = 0: no layer of a zero init ever gets a gradient
    assert (classic["He N(0, √(2/n))"].grad_norm > 0).all()
    fig = plots_training.grad_norm_figure(classic)
    names = [t.name for t in fig.data]
    assert not [n for n in names if n.startswith("zeros")]  # no legend entry without a line
    assert len(names) == 6
    for t in fig.data:
        y = np.asarray(t.y, dtype=float)
        assert (y[np.isfinite(y)] > 0).any()
    assert plots_training.never_positive(classic) == [("zeros", 1), ("zeros", 2), ("zeros", 3)]


def test_grad_norms_relative_is_the_median_of_grad_over_weight_norm(classic):
    fig = plots_training.grad_norm_figure(classic, relative=True)
    assert style.axis_is_log(fig) and "‖∂L/∂W‖ / ‖W‖" in fig.layout.yaxis.title.text
    he = classic["He N(0, √(2/n))"]
    for layer in range(3):
        # independent check: the weight matrices from the parameter snapshots, norms in float64
        want = np.median([[he.grad_norm[r, k, layer] /
                           np.linalg.norm(he.params(r, int(step))[layer][0].astype(np.float64))
                           for k, step in enumerate(he.recorded_steps)] for r in range(he.seeds.size)], axis=0)
        t = [t for t in fig.data if t.name == f"He N(0, √(2/n)), {plots_training.layer_name(layer + 1, 3)}"][0]
        np.testing.assert_allclose(np.asarray(t.y, dtype=float), want, rtol=1e-6)
    assert not [t for t in fig.data if t.name.startswith("zeros")]
    plain = plots_training.grad_norm_figure(classic)
    assert [t.name for t in plain.data] == [t.name for t in fig.data]


# ------------------------------------------------------------------------------------------- symmetry


def test_distinct_units_every_initializer_visible_in_its_own_panel(classic):
    big, he = classic["N(0, 1) × 10"], classic["He N(0, √(2/n))"]
    assert (big.distinct[:, -1] == he.distinct[:, -1]).all()  # both keep 10 and 5: one plot hid one of them
    figs = plots_training.distinct_figures(classic)
    assert len(figs) == 3  # one panel (chart) per initializer...
    for label, fig in zip(classic, figs):
        assert {t.name.rsplit(", layer", 1)[0] for t in fig.data} == {label}  # ...with its own lines only
        assert fig.layout.title.text == label  # the panel title names it
        y = fig.layout.yaxis
        assert list(y.tickvals) == [1, 5, 10] and list(y.ticktext) == ["1", "5", "10"]  # whole units, the widths
        assert y.range[0] <= 1 and y.range[1] > 10
        assert tuple(y.range) == tuple(figs[0].layout.yaxis.range)  # one y scale for all panels
    ends = {a.text for a in figs[0].layout.annotations}
    assert "layers 1, 2" in ends  # zero init: both layers end at 1 unit, said where the lines coincide


# ------------------------------------------------------------------------------- decision boundaries


@pytest.mark.parametrize("inputs, x1, x2", [("standard", "x₁ (standardized)", "x₂ (standardized)"),
                                             ("unscaled", "x₁", "x₂")])
def test_boundary_axes_say_how_the_inputs_were_scaled_and_keep_circles_round(classic, inputs, x1, x2):
    results = classic if inputs == "standard" else trained(SMALL.replace(inputs="unscaled", steps=6), ("zeros", "he"))
    assert {r.scenario.inputs for r in results.values()} == {inputs}
    figs = plots_training.boundary_figures(results, 0, int(next(iter(results.values())).recorded_steps[-1]))
    assert len(figs) == len(results)  # one chart per initializer: the page stacks them on a phone
    for label, fig in zip(results, figs):
        layout = fig.layout.to_plotly_json()
        assert fig.layout.title.text == label
        assert layout["xaxis"]["title"]["text"] == x1 and layout["yaxis"]["title"]["text"] == x2
        # 1:1 in data units in every panel, whatever its width: y anchored to x at ratio 1
        assert layout["yaxis"]["scaleanchor"] == "x" and layout["yaxis"]["scaleratio"] == 1
        assert not [k for k in layout if k[1:5] == "axis" and k[5:]]  # one pair of axes: no subplots
        # every panel has the colour bar and the legend: each reads on its own when stacked
        assert [t.showscale is not False for t in fig.data if isinstance(t, go.Contour) and t.name == label] == [True]
        assert [t.name for t in fig.data if isinstance(t, go.Scatter)] == ["class 0", "class 1"]


def test_the_weights_chart_draws_each_layer_s_norm_from_the_snapshots(classic):
    """``what="weight"``: ‖W_l‖ per layer (median over restarts), the same numbers as
    ``TrainResult.weight_norm``; zero init's weights are exactly 0 and named, not drawn."""
    fig = plots_training.grad_norm_figure(classic, what="weight")
    he = classic["He N(0, √(2/n))"]
    want = np.median(he.weight_norm, axis=0)  # (T, L)
    for layer in range(want.shape[1]):
        trace = next(t for t in fig.data if t.name == f"He N(0, √(2/n)), {plots_training.layer_name(layer + 1, 3)}")
        np.testing.assert_allclose(np.asarray(trace.y, dtype=float), want[:, layer], rtol=1e-12)
    assert not [t for t in fig.data if t.name.startswith("zeros")]
    assert plots_training.never_positive(classic, "weight") == [("zeros", 1), ("zeros", 2), ("zeros", 3)]
    # the norms are those of the drawn kernels: at step 0, He's layer 1 is 2 x 10 draws of N(0, 1)
    w0 = he.params(0, 0)[0][0]
    assert he.weight_norm[0, 0, 0] == pytest.approx(float(np.linalg.norm(w0.astype(np.float64))), rel=1e-12)


# ------------------------------------------------------------------------------------------ divergence


def test_an_initializer_whose_restarts_all_diverged_says_so_in_every_figure(blown):
    big, he = blown[BIG], blown["He N(0, √(2/n))"]
    assert big.diverged.all() and not he.diverged.any()
    assert np.isfinite(big.loss[:, 0]).all() and not np.isfinite(big.loss[:, 1:]).any()  # finite at step 0 only
    assert np.isfinite(big.test_acc[:, 0]).all() and not np.isfinite(big.test_acc[:, 1:]).any()
    named = f"{BIG} (4 of 4 restarts diverged)"
    last = int(big.recorded_steps[-1])

    for what in ("loss", "test_acc"):  # one point left, at step 0: a marker, not an invisible line
        fig = plots_training.curves_figure(blown, what, last)
        line = [t for t in by_name(fig, BIG) if t.showlegend is not False]
        assert [t.name for t in line] == [named]
        assert lone_markers(line[0]).tolist() == [True] + [False] * (len(big.recorded_steps) - 1)
        assert [t.name for t in fig.data if t.name and t.name.startswith("He")] == ["He N(0, √(2/n))"]
        assert all(t.mode == "lines" for t in fig.data if t.fill == "toself")  # bands draw no default markers
    loss = plots_training.curves_figure(blown, "loss", last)
    assert style.axis_is_log(loss) and loss.layout.yaxis.tickmode == "linear"  # ~1e4 at step 0 kept, decades

    points = plots_training.accuracy_points_figure(blown)
    assert [t.name for t in points.data if t.showlegend is not False] == [named, "He N(0, √(2/n))"]
    note = [a for a in points.layout.annotations if "diverged" in a.text]
    assert len(note) == 1 and note[0].text == "all 4 restarts diverged<br>(loss inf/NaN)" and note[0].x == 0

    sym = plots_training.distinct_figures(blown)
    assert [f.layout.title.text for f in sym] == [f"{BIG}<br>(4 of 4 restarts diverged)", "He N(0, √(2/n))"]
    assert "all 4 restarts diverged<br>(loss inf/NaN)" in [a.text for a in sym[0].layout.annotations]
    for t in by_name(sym[0], BIG + ","):  # 32 units at step 0, then nothing to count
        assert lone_markers(t)[0] and np.asarray(t.y, dtype=float)[0] == 32

    norms = plots_training.grad_norm_figure(blown)
    lines = by_name(norms, BIG)
    assert [t.name for t in lines] == [f"{named}, layer {k}" for k in (1, 2, 3)] + [f"{named}, output layer"]
    assert all(lone_markers(t)[0] for t in lines)


def test_a_diverged_restart_s_decision_boundary_panel_says_no_prediction(blown):
    big = blown[BIG]
    by = int(big.runs["nonfinite_step"][0])  # the first recorded step with a non-finite loss
    assert by == int(big.recorded_steps[1])
    last = int(big.recorded_steps[-1])
    figs = plots_training.boundary_figures(blown, 0, last)
    drawn = [[t for t in f.data if isinstance(t, go.Contour)] for f in figs]
    assert not drawn[0] and drawn[1]  # He's panel only: no 0.5 field for the diverged one
    note = [a for a in figs[0].layout.annotations if "no prediction" in a.text]
    assert len(note) == 1 and note[0].text == f"restart 0 diverged<br>by step {by:,}: no prediction"
    assert (note[0].xref, note[0].yref) == ("x domain", "y domain")
    start = plots_training.boundary_figures(blown, 0, 0)  # before the blow-up it predicts
    assert all(any(isinstance(t, go.Contour) for t in f.data) for f in start)
    assert not [a for f in start for a in f.layout.annotations if "no prediction" in a.text]


def test_partly_diverged_restarts_are_counted_and_the_others_still_drawn(partly):
    big = partly[BIG]
    bad = int(big.diverged.sum())
    assert 0 < bad < big.diverged.size
    named = f"{BIG} ({bad} of 4 restarts diverged)"
    ok = np.flatnonzero(~big.diverged)
    curves = plots_training.curves_figure(partly, "loss")
    line = [t for t in by_name(curves, BIG) if t.showlegend is not False]
    assert [t.name for t in line] == [named]
    y = np.asarray(line[0].y, dtype=float)
    assert y[-1] == pytest.approx(np.median(big.loss[ok, -1]))  # the survivors' median at the end
    points = plots_training.accuracy_points_figure(partly)
    drawn = np.asarray(by_name(points, BIG)[0].y, dtype=float)
    assert np.isfinite(drawn).sum() >= ok.size and not [a for a in points.layout.annotations if "diverged" in a.text]
    assert all(t.name.startswith(named + ", ") for t in by_name(plots_training.grad_norm_figure(partly), BIG))
    title = plots_training.distinct_figures(partly)[0].layout.title.text
    assert title == f"{BIG}<br>({bad} of 4 restarts diverged)"
    last = int(big.recorded_steps[-1])
    kept = plots_training.boundary_figures(partly, int(ok[0]), last)
    assert all(any(isinstance(t, go.Contour) for t in f.data) for f in kept)


# ------------------------------------------------------------------------------------------ layer names


def test_the_last_layer_is_named_the_output_layer(classic):
    fig = plots_training.grad_norm_figure(classic)
    he = [t.name for t in by_name(fig, "He")]
    assert he == ["He N(0, √(2/n)), layer 1", "He N(0, √(2/n)), layer 2", "He N(0, √(2/n)), output layer"]
    assert not [n for n in (t.name for t in fig.data) if n.endswith("layer 3")]  # the Symmetry chart has no layer 3
    assert plots_training.layer_name(2, 3) == "layer 2" and plots_training.layer_name(3, 3) == "output layer"
    words = plots_training.layers_in_words
    assert words([1, 2, 3], 3) == "layers 1, 2 and the output layer"  # zero init's caption
    assert (words([1], 3), words([3], 3), words([1, 2], 3)) == ("layer 1", "the output layer", "layers 1, 2")


def test_the_training_log_axes_label_whole_numbers(classic):
    for fig in (plots_training.curves_figure(classic, "loss"), plots_training.grad_norm_figure(classic),
                plots_training.grad_norm_figure(classic, what="relative")):
        ax = fig.layout.yaxis
        assert style.axis_is_log(fig)
        assert ax.tickmode == "array" or (ax.tickmode == "linear" and ax.dtick >= 1), ax.dtick


def test_a_multiclass_boundary_colours_the_predicted_class_and_the_loss_chart_marks_ln_c() -> None:
    """Four spiral arms: the plane is coloured by argmax of the softmax (the page's "predicted class"), each
    class's points drawn in its own colour and shape; the loss chart marks ln 4, where an output that gives
    every class 1/4 starts, and names the loss categorical cross-entropy."""
    ts = TrainScenario(dataset="spiral", classes=4, hidden=(8,), steps=50, batch_size=32, restarts=2,
                       optimizer="adam", lr=0.05)
    r = training.train(ts)
    fig = plots_training.boundary_panel({"he": r}, 0, 1, 50)
    regions = next(t for t in fig.data if isinstance(t, go.Heatmap) and t.name == "he")
    _, _, pts = plots_training._grid(np.asarray(r.data.X_train, dtype=np.float64))
    want = np.argmax(r.predict_proba(pts, 1, 50), axis=1).reshape(regions.z.shape)
    np.testing.assert_array_equal(np.asarray(regions.z), want)
    assert (regions.zmin, regions.zmax) == (-0.5, 3.5)
    points = [t for t in fig.data if isinstance(t, go.Scatter)]
    assert [t.name for t in points] == [f"class {c}" for c in range(4)]
    assert [t.marker.color for t in points] == list(style.CLASS_COLOURS[:4])
    assert len({t.marker.symbol for t in points}) == 4
    curves = plots_training.curves_figure({"he": r}, "loss")
    assert [s.y0 for s in curves.layout.shapes if s.y0 == s.y1] == [pytest.approx(np.log(4))]
    assert "categorical" in curves.layout.yaxis.title.text
    assert any("ln 4 = 1.386" in a.text for a in curves.layout.annotations)
