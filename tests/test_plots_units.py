"""Figures of single units and predictions (initlab.plots.units), built from real (small, seeded) trainings."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import plotly.graph_objects as go
import pytest

from initlab.pages import train_comparison
from initlab.plots import units
from initlab.training import engine
from initlab.training.scenario import TrainScenario

DIGITS = TrainScenario(dataset="digits", classes=10, hidden=(16,), n_train=300, n_test=100, batch_size=64, steps=60,
                       restarts=2, lr=0.1)
PLANE = TrainScenario(n_train=80, n_test=40, hidden=(8, 8), steps=60, restarts=3)


def trained(ts: TrainScenario, names: tuple[str, ...] = ("zeros", "normal_10", "he"), by: str = "init"
            ) -> dict[str, engine.TrainResult]:
    pairs = train_comparison(ts, names, by)
    return dict(zip([label for label, _ in pairs], engine.train_many([t for _, t in pairs], records=3,
                                                                     engine="numpy")))


@pytest.fixture(scope="module")
def digits() -> dict[str, engine.TrainResult]:
    return trained(DIGITS)


@pytest.fixture(scope="module")
def relu() -> dict[str, engine.TrainResult]:
    return trained(PLANE)


@pytest.fixture(scope="module")
def tanh() -> dict[str, engine.TrainResult]:
    return trained(PLANE.replace(activation="tanh"))


def nanmedian(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(np.isfinite(a), a, np.nan), axis=0)


def heatmap(fig: go.Figure) -> go.Heatmap:
    (h,) = [t for t in fig.data if isinstance(t, go.Heatmap)]
    return h


def texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def tile(z: np.ndarray, j: int, per_row: int, h: int, w: int, top: int = 0) -> np.ndarray:
    """Tile j of a mosaic laid out per_row to a row, one pixel apart, ``top`` rows above each tile."""
    r0, c0 = (j // per_row) * (top + h + 1) + top, (j % per_row) * (w + 1)
    return np.asarray(z)[r0:r0 + h, c0:c0 + w]


def diverged(r: engine.TrainResult, restart: int = 0) -> engine.TrainResult:
    """``r`` with ``restart``'s parameters and losses NaN from the second record on (as a blow-up leaves them)."""
    theta, loss = np.array(r.theta), np.array(r.loss)
    theta[restart, 1:] = np.nan
    loss[restart, 1:] = np.nan
    return dataclasses.replace(r, theta=theta, loss=loss)


def small_json(fig: go.Figure, limit: int) -> None:
    assert heatmap(fig).z.dtype == np.float32
    assert len(fig.to_json()) < limit


# ------------------------------------------------------------------------------------- weight images


def test_weight_images_are_the_first_layer_columns_at_their_tiles(digits):
    k, label = 2, list(digits)[2]
    r = digits[label]
    step = int(r.recorded_steps[-1])
    fig = units.weight_images_panel(digits, k, 1, step)
    W = r.params(1, step)[0][0]
    h = heatmap(fig)
    per_row = units._per_row(16)
    for j in range(16):
        np.testing.assert_array_equal(tile(h.z, j, per_row, 8, 8), W[:, j].reshape(8, 8).astype(np.float32))
        cd = tile(h.customdata, j, per_row, 8, 8)
        assert (cd[..., 0] == j + 1).all() and cd[2, 5, 1] == 2 and cd[2, 5, 2] == 5
    assert np.isnan(np.asarray(h.z)[:, 8]).all()  # the gap between the first two columns of tiles
    top = float(np.abs(W).max())
    assert (h.zmin, h.zmax) == (-top, top)
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # reversed: row 0 on top
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert fig.layout.title.text == f"{label}:<br>16 distinct units of 16"
    assert "unit %{customdata[0]}, pixel (%{customdata[1]}, %{customdata[2]})" in h.hovertemplate
    small_json(fig, 40_000)


def test_zero_init_is_one_distinct_unit_and_says_every_weight_is_zero(digits):
    r = digits["zeros"]
    for step in r.recorded_steps:
        fig = units.weight_images_panel(digits, 0, 0, int(step))
        assert fig.layout.title.text == "zeros:<br>1 distinct unit of 16"
        assert r.distinct[0, r._index(int(step)), 0] == 1  # the Symmetry chart's count
        note = " ".join(texts(fig))
        assert "every weight is 0" in note and "every unit shows the same image" in note
        h = heatmap(fig)
        assert (h.zmin, h.zmax) == (-1, 1)


def test_constant_init_notes_identical_units_but_not_zero_weights():
    res = trained(DIGITS.replace(restarts=1, steps=10), ("ones",))
    fig = units.weight_images_panel(res, 0, 0, 10)
    assert fig.layout.title.text.endswith("1 distinct unit of 16")
    note = " ".join(texts(fig))
    assert "every unit shows the same image" in note and "every weight is 0" not in note


def test_a_diverged_restart_draws_no_weights_and_says_so(digits):
    res = {"bad": diverged(digits["He N(0, √(2/n))"])}
    step = int(res["bad"].recorded_steps[-1])
    fig = units.weight_images_panel(res, 0, 0, step)
    assert not fig.data and "diverged" in texts(fig)[0] and "no weights to draw" in texts(fig)[0]
    assert heatmap(units.weight_images_panel(res, 0, 1, step))  # the other restart is drawn


def test_images_need_square_inputs_and_maps_need_the_plane(relu, digits):
    with pytest.raises(ValueError, match="square"):
        units.weight_images_panel(relu, 0, 0, 60)
    with pytest.raises(ValueError, match="square"):
        units.misclassified_panel(relu, 0, 0, 60)
    with pytest.raises(ValueError, match="plane"):
        units.unit_maps_panel(digits, 0, 0, 60, 1)
    with pytest.raises(ValueError, match="layer"):
        units.unit_maps_panel(relu, 0, 0, 60, 3)


# ----------------------------------------------------------------------------------------- unit maps


def count_marks(fig: go.Figure, mark: str) -> int:
    return sum(t == mark for t in texts(fig))


@pytest.mark.parametrize("which", ["relu", "tanh"])
def test_dead_and_saturated_marks_agree_with_the_recorded_shares(which, relu, tanh):
    res = relu if which == "relu" else tanh
    share, mark, word = (("dead_share", "dead", "dead") if which == "relu"
                         else ("saturated_share", "sat.", "saturated"))
    marked = 0
    for k, (label, r) in enumerate(res.items()):
        for restart in range(r.scenario.restarts):
            for t, step in enumerate(r.recorded_steps):
                for layer in (1, 2):
                    fig = units.unit_maps_panel(res, k, restart, int(step), layer)
                    expected = getattr(r, share)[restart, t, layer - 1] * 8
                    n = count_marks(fig, mark)
                    assert n == expected, (label, restart, step, layer)
                    assert fig.layout.title.text == f"{label}:<br>{n} of 8 units {word}"
                    marked += n
    assert marked >= 10  # the check is not vacuous: N(0, 1) × 10 kills or saturates many units


def test_marks_agree_with_the_shares_of_a_batch_normalised_network():
    res = trained(PLANE.replace(norm="batch", batch_size=20, restarts=2), ("normal_10", "he"))
    marked = 0
    for k, r in enumerate(res.values()):
        for restart in range(2):
            for t, step in enumerate(r.recorded_steps):
                for layer in (1, 2):
                    fig = units.unit_maps_panel(res, k, restart, int(step), layer)
                    assert count_marks(fig, "dead") == r.dead_share[restart, t, layer - 1] * 8
                    marked += count_marks(fig, "dead")
    assert marked > 0


def test_unit_maps_are_the_hidden_outputs_over_the_grid_upright(relu):
    r = relu["He N(0, √(2/n))"]
    fig = units.unit_maps_panel(relu, 2, 1, 60, 2)
    n = units.map_grid(8)
    assert n == units.MAP_GRID
    from initlab.plots.training import _grid
    _, _, pts = _grid(np.asarray(r.data.X_train, dtype=np.float64), n)
    h = r.hidden_outputs(pts, 1, 60)[1]
    z = heatmap(fig).z
    for j in range(8):
        np.testing.assert_array_equal(tile(z, j, units._per_row(8), n, n),
                                      h[:, j].reshape(n, n)[::-1].astype(np.float32))
    lo, hi = float(np.nanmin(h)), float(np.nanmax(h))
    assert (heatmap(fig).zmin, heatmap(fig).zmax) == (lo, hi)
    assert units.map_grid(64) == units.MIN_MAP_GRID
    small_json(fig, 120_000)


def test_bounded_activations_colour_their_output_range(tanh):
    h = heatmap(units.unit_maps_panel(tanh, 2, 0, 60, 1))
    assert (h.zmin, h.zmax) == (-1, 1)
    sig = trained(PLANE.replace(activation="sigmoid", restarts=1, steps=10), ("he",))
    fig = units.unit_maps_panel(sig, 0, 0, 10, 1)
    assert (heatmap(fig).zmin, heatmap(fig).zmax) == (0, 1)


def test_units_that_neither_die_nor_saturate_say_so():
    res = trained(PLANE.replace(activation="leaky_relu", restarts=1, steps=10), ("he",))
    fig = units.unit_maps_panel(res, 0, 0, 10, 1)
    assert fig.layout.title.text.endswith(":<br>8 units")
    assert any("neither die nor saturate" in t for t in texts(fig))


def test_residual_block_outputs_have_no_marks_and_say_why():
    res = trained(PLANE.replace(hidden=(8, 8, 8), restarts=1, steps=10), ("residual",), by="architecture")
    label = list(res)[0]
    fig = units.unit_maps_panel(res, 0, 0, 10, 2)
    assert not any(t in ("dead", "sat.") for t in texts(fig))
    assert any("block 1's output" in t for t in texts(fig))
    with pytest.raises(ValueError, match="plain"):
        res[label].hidden_preactivations(res[label].data.X_train, 0, 10)
    assert fig.layout.title.text.startswith(label)


def test_a_diverged_restart_draws_no_unit_maps(relu):
    res = {"bad": diverged(relu["He N(0, √(2/n))"])}
    fig = units.unit_maps_panel(res, 0, 0, 60, 1)
    assert not fig.data and "diverged" in texts(fig)[0]


# ----------------------------------------------------------------------------------- confusion matrix


def test_confusion_cells_are_the_confusion_matrix(digits):
    for k, (label, r) in enumerate(digits.items()):
        fig = units.confusion_panel(digits, k, 1, 60)
        h = heatmap(fig)
        m = r.confusion(1, 60)
        np.testing.assert_array_equal(np.asarray(h.z), m)
        assert np.asarray(h.z).sum() == r.data.y_test.size == 100
        right = int(np.trace(m))
        assert right / 100 == pytest.approx(r.test_acc[1, -1])
        assert fig.layout.title.text == f"{label}:<br>{right} of 100 test images right ({right}%)"
        assert h.texttemplate == "%{z}"
        assert list(fig.layout.xaxis.tickvals) == list(range(10))
        assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"
        assert not texts(fig)


def test_confusion_of_points_without_prediction(relu, digits):
    r = digits["He N(0, √(2/n))"]
    # Half the test images NaN: those points have no prediction.
    X = np.array(r.data.X_test)
    X[::2] = np.nan
    half = {"half": dataclasses.replace(r, data=dataclasses.replace(r.data, X_test=X))}
    fig = units.confusion_panel(half, 0, 0, 60)
    assert np.asarray(heatmap(fig).z).sum() == 50
    assert any("50 test points without a prediction" in t for t in texts(fig))
    bad = units.confusion_panel({"bad": diverged(r)}, 0, 0, 60)
    assert not bad.data and "diverged" in texts(bad)[0]
    two = units.confusion_panel(relu, 2, 0, 60)  # two classes work too
    assert np.asarray(heatmap(two).z).shape == (2, 2)


# ------------------------------------------------------------------------------ misclassified images


def test_misclassified_tiles_are_the_raw_test_images_sorted_by_class(digits):
    k, label = 1, "N(0, 1) × 10"
    r = digits[label]
    wrong = r.misclassified(0, 60)
    assert wrong.size > 40
    pred = r.predictions(r.data.X_test, 0, 60)
    fig = units.misclassified_panel(digits, k, 0, 60, limit=40)
    h = heatmap(fig)
    labels = [t for t in texts(fig) if "→" in t]
    assert len(labels) == 40
    per_row = units._per_row(40)
    ids = []
    for j, text in enumerate(labels):
        i = int(tile(h.customdata, j, per_row, 8, 8, units.LABEL_ROWS)[0, 0])
        ids.append(i)
        raw = np.asarray(r.data.X_test[i], dtype=np.float64) * r.data.scale + r.data.shift
        np.testing.assert_array_equal(tile(h.z, j, per_row, 8, 8, units.LABEL_ROWS),
                                      raw.reshape(8, 8).astype(np.float32))
        assert text == f"{r.data.y_test[i]}→{pred[i]}"
    assert set(ids) <= set(wrong.tolist()) and len(set(ids)) == 40
    true = r.data.y_test[ids]
    assert (np.diff(true) >= 0).all()
    assert set(true) == set(r.data.y_test[wrong])  # every class with errors shows some
    assert raw.max() > 1  # grey levels 0..16, not the scaled inputs
    assert f"showing 40 of {wrong.size}" in texts(fig)
    assert fig.layout.title.text == f"{label}:<br>{wrong.size} of 100 test images wrong"
    assert h.colorscale[0][1].lower() in ("rgb(255,255,255)", "#ffffff")  # white paper, dark ink
    small_json(fig, 80_000)


def test_no_image_wrong_says_so(digits):
    r = digits["He N(0, √(2/n))"]
    pred = r.predictions(r.data.X_test, 0, 60)
    perfect = {"all right": dataclasses.replace(r, data=dataclasses.replace(r.data, y_test=pred))}
    fig = units.misclassified_panel(perfect, 0, 0, 60)
    assert not fig.data and texts(fig) == ["every test image is classified right"]
    few = units.misclassified_panel(digits, 2, 0, 60, limit=500)
    assert not any(t.startswith("showing") for t in texts(few))


# ---------------------------------------------------------------------- per-layer charts over training


def test_share_kind():
    assert units.share_kind("relu") == "dead"
    assert units.share_kind("tanh") == units.share_kind("sigmoid") == "saturated"
    assert units.share_kind("leaky_relu") is None and units.share_kind("linear") is None


@pytest.mark.parametrize("which", ["dead", "saturated"])
def test_share_figure_draws_the_median_of_the_recorded_shares(which, relu, tanh):
    res = relu if which == "dead" else tanh
    fig = units.unit_share_figure(res, which)
    assert [t.name for t in fig.data] == [f"{label}, layer {layer}" for label in res for layer in (1, 2)]
    for t in fig.data:
        label, layer = t.name.rsplit(", layer ", 1)
        r = res[label]
        recorded = r.dead_share if which == "dead" else r.saturated_share
        np.testing.assert_array_equal(np.asarray(t.y), nanmedian(recorded[..., int(layer) - 1]))
        np.testing.assert_array_equal(np.asarray(t.x), r.recorded_steps)
    assert list(fig.layout.yaxis.range) == [0, 1.02]
    r = list(res.values())[1]
    recorded = r.dead_share if which == "dead" else r.saturated_share
    panel = units.unit_share_panel(res, 1, which)
    lines = {t.name: t for t in panel.data if t.name.startswith("layer")}
    for layer in (1, 2):
        np.testing.assert_array_equal(np.asarray(lines[f"layer {layer}"].y), nanmedian(recorded[..., layer - 1]))


def test_a_share_that_does_not_apply_is_not_drawn(relu):
    fig = units.unit_share_figure(relu, "saturated")
    assert not fig.data and "no saturated units" in texts(fig)[0]
    panel = units.unit_share_panel(relu, 2, "saturated")
    assert any("relu units cannot be saturated" in t for t in texts(panel))
    with pytest.raises(ValueError):
        units.unit_share_figure(relu, "asleep")


def test_update_ratio_figure_draws_the_defined_medians_on_a_log_axis(relu):
    fig = units.update_ratio_figure(relu)
    assert fig.layout.yaxis.type == "log"
    assert not fig.layout.shapes  # no "healthy value" line
    names = [t.name for t in fig.data]
    assert not any(n.startswith("zeros") for n in names)  # all undefined: ‖W‖ = 0 before every update
    assert "He N(0, √(2/n)), output layer" in names
    for t in fig.data:
        (label,) = [lab for lab in relu if t.name.startswith(lab + ", ")]
        r, layer_name = relu[label], t.name[len(label) + 2:]
        j = r.scenario.layer_names.index(layer_name)
        med = nanmedian(r.update_ratio[..., j])
        np.testing.assert_array_equal(np.asarray(t.y), np.where(med > 0, med, np.nan))
        assert np.isnan(t.y[0])  # step 0: no update yet
    assert units.undefined_updates(relu) == [("zeros", 1), ("zeros", 2), ("zeros", 3)]
    panel = units.update_ratio_panel(relu, 0)
    assert any("undefined" in t for t in texts(panel))
    he = units.update_ratio_panel(relu, 2)
    lines = [t for t in he.data if t.name in relu["He N(0, √(2/n))"].scenario.layer_names]
    assert len(lines) == 3 and he.layout.yaxis.type == "log"


def test_every_public_function_is_documented_and_listed():
    for name in units.__all__:
        obj = getattr(units, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 60, name
    json.dumps(units.__all__)


def test_frozen_updates_lists_the_layers_no_update_moved() -> None:
    """N(0, 1) x 10 with plain gradient descent at lr 0.1 on circles kills every unit of its deeper layers
    within the first recorded steps: from then on their updates are exactly 0 (the median over restarts),
    which a log axis cannot draw; He's layers all move; zeros' are undefined, not 0, so not listed here."""
    from initlab.pages import train_comparison
    from initlab.training.engine import train_many
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(hidden=(8, 8, 8), lr=0.1, steps=400, batch_size=64, restarts=5)
    pairs = train_comparison(ts, ("zeros", "normal_10", "he"), "init")
    res = {label: r for (label, _), r in zip(pairs, train_many([v for _, v in pairs]))}
    frozen = units.frozen_updates(res)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zeros: every ratio is NaN
        mids = {label: np.nanmedian(r.update_ratio[:, 1:], axis=0) for label, r in res.items()}
    assert frozen == [(label, layer + 1) for label, m in mids.items() for layer in range(m.shape[1])
                      if (m[:, layer] == 0).all()]
    assert {label for label, _ in frozen} == {"N(0, 1) × 10"}


@pytest.mark.parametrize("dataset, classes", [("circles", 2), ("moons", 2), ("xor", 2), ("gaussian_quantiles", 2),
                                              ("blobs", 3), ("spiral", 4)])
def test_per_unit_pictures_and_training_charts_work_on_every_2d_dataset(dataset: str, classes: int) -> None:
    """Every 2-D dataset (two classes or more): each hidden layer's unit maps mark exactly the units the
    records count as dead at that step, and the share and update-size charts draw the recorded medians."""
    ts = TrainScenario(dataset=dataset, classes=classes, hidden=(6, 4), steps=60, batch_size=32, restarts=2,
                       optimizer="adam", lr=0.05)
    res = trained(ts, ("normal_10", "he"))
    for k, (label, r) in enumerate(res.items()):
        step = int(r.recorded_steps[-1])
        for layer in (1, 2):
            fig = units.unit_maps_panel(res, k, 1, step, layer)
            dead = sum(a.text == "dead" for a in fig.layout.annotations)
            assert dead == round(r.dead_share[1, -1, layer - 1] * ts.hidden[layer - 1]), (label, layer)
    share = units.unit_share_figure(res, "dead")
    ratio = units.update_ratio_figure(res)
    assert len(share.data) == 2 * 2 and all(np.isfinite(np.asarray(t.y, dtype=float)).any() for t in share.data)
    he = res["He N(0, √(2/n))"]
    drawn = {t.name: np.asarray(t.y, dtype=float) for t in ratio.data}
    np.testing.assert_allclose(drawn["He N(0, √(2/n)), output layer"][1:], nanmedian(he.update_ratio[:, 1:, -1]))
