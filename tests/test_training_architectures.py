"""Comparing architectures in the training lab (issue 21): the comparison's networks, how they train (one
after the other), their names per layer and norm, and the charts of deep networks (alpha, gamma, beta)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from initlab.pages import TRAIN_ARCHITECTURES, TRAINING, TrainView, network_label, train_comparison
from initlab.plots import training as plots_training
from initlab.training import engine as training
from initlab.training import summaries
from initlab.training.scenario import TrainScenario
from tests.app_util import open_clean

SMALL = TrainScenario(dataset="spiral", n_train=80, n_test=40, hidden=(8, 8, 8), steps=40, restarts=2,
                      optimizer="adam", batch_size=16)


def test_every_architecture_of_a_comparison_is_the_form_with_its_network_changed():
    ts = SMALL.replace(block="residual", norm="layer", norm_position="post", branch_layers=2)
    pairs = dict(train_comparison(ts, tuple(TRAIN_ARCHITECTURES), "architecture"))
    assert list(pairs) == ["plain", "plain + LayerNorm", "residual (α = 1)", "residual + post-LayerNorm",
                           "ReZero (α from 0, learned)", "form: residual + post-LayerNorm (α = 1)"]
    plain, plain_norm, res, res_norm, rezero, form = pairs.values()
    assert (plain.block, plain.norm) == ("plain", "none") and plain_norm.norm == "layer" and not plain_norm.residual
    assert res.residual and res.norm == "none" and res.alpha() == 1.0 and not res.alpha_learned
    assert res_norm.residual and (res_norm.norm, res_norm.norm_position) == ("layer", "post")
    assert rezero.alpha_learned and rezero.alpha() == 0.0 and rezero.norm == "none"
    assert form == ts
    # Everything but the network is the form's: same data, widths, initializer, training and seeds.
    for v in pairs.values():
        assert (v.dataset, v.hidden, v.init, v.optimizer, v.seed, v.restarts) == (
            ts.dataset, ts.hidden, ts.init, ts.optimizer, ts.seed, ts.restarts)
    # Without a norm in the form, the norm entries take BatchNorm.
    assert dict(train_comparison(SMALL, ("plain_norm", "residual_norm"), "architecture")) == {
        "plain + BatchNorm": SMALL.replace(norm="batch"),
        "residual + pre-BatchNorm": SMALL.replace(norm="batch", block="residual")}


def test_unequal_widths_become_the_stems_for_every_network_when_one_is_residual():
    ts = SMALL.replace(hidden=(10, 5, 3))
    pairs = train_comparison(ts, ("plain", "residual"), "architecture")
    assert [v.hidden for _, v in pairs] == [(10, 10, 10)] * 2  # the same widths, so a fair comparison
    assert [v.hidden for _, v in train_comparison(ts, ("plain", "plain_norm"), "architecture")] == [(10, 5, 3)] * 2


def test_network_labels_say_what_the_network_is():
    assert network_label(SMALL) == "plain"
    assert network_label(SMALL.replace(block="residual", residual_rule="inv_sqrt_depth")) == "residual (α = 1/√blocks)"
    assert network_label(SMALL.replace(block="residual", residual_scale=0.0, residual_learned=True, norm="batch",
                                       norm_position="post")) == "residual + post-BatchNorm (α learned from 0)"


def test_a_link_carries_the_comparison_by_architecture_and_repairs_a_bad_one():
    view = TrainView(by="architecture", archs=("plain", "rezero"))
    link = TRAINING.encode(view, TrainView())
    assert link == {"tr_by": "architecture", "tr_archs": "plain,rezero"}
    back, notices, _ = TRAINING.decode(link, TrainView())
    assert back == view and not notices and back.entries == ("plain", "rezero")
    bad, notices, _ = TRAINING.decode({"tr_by": "architecture", "tr_archs": "plain,resnet"}, TrainView())
    assert bad.archs == ("plain",) and any(n.key == "tr_archs" for n in notices)
    assert TrainView().entries == TrainView().compare  # by initializer: the initializers


def test_scenarios_train_together_only_when_they_differ_in_their_initialization():
    a, b = SMALL, SMALL.with_init("zeros")
    c = SMALL.replace(block="residual")
    assert training.train_groups([a, c, b, c.with_init("zeros")]) == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match="may differ only in"):
        training.train_many([a, c])


def test_a_comparison_of_architectures_trains_one_network_after_the_other(monkeypatch):
    """Partial results name the networks not started yet None; the step count runs over all of them; the
    end is what each network's own training computes, bit for bit."""
    from initlab.ui.results import cache as compute

    monkeypatch.setattr(compute, "PARTIAL_EVERY", 0.0)
    key = tuple(v for _, v in train_comparison(SMALL, ("plain", "residual", "rezero"), "architecture"))
    fractions: list[float] = []
    seen: list[tuple[bool, ...]] = []
    final = compute._train_showing(key, lambda f, s: fractions.append(f),
                                   lambda res: seen.append(tuple(r is not None for r in res)))
    assert seen[0] == (True, False, False) and (True, True, False) in seen and (True, True, True) in seen
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0.3 < fractions[len(fractions) // 2] < 0.7
    for ts, r in zip(key, final):
        np.testing.assert_array_equal(r.loss, training.train(ts).loss)


def test_layers_and_norms_are_named_by_where_they_are():
    assert SMALL.layer_names == ("layer 1", "layer 2", "layer 3", "output layer")
    res = SMALL.replace(block="residual", branch_layers=2)
    assert res.layer_names == ("stem", "block 1, W1", "block 1, W2", "block 2, W1", "block 2, W2", "output layer")
    assert len(res.layer_names) == len(res.layer_shapes)
    for ts in (res.replace(norm="batch"), res.replace(norm="layer", norm_position="post"),
               SMALL.replace(norm="batch"), res.replace(norm="layer", branch_layers=1)):
        assert len(ts.norm_names) == len(ts.norm_widths)
    assert res.replace(norm="batch").norm_names == ("stem", "block 1, before W1", "block 1, before W2",
                                                    "block 2, before W1", "block 2, before W2")
    assert res.replace(norm="layer", norm_position="post").norm_names == ("stem", "block 1", "block 2")
    assert SMALL.replace(norm="batch").norm_names == ("layer 1", "layer 2", "layer 3")


@pytest.fixture(scope="module")
def deep_runs() -> dict[str, training.TrainResult]:
    """8 blocks: ReZero, and residual + BatchNorm, 60 Adam steps (alpha moves at most lr = 0.01 per step)."""
    ts = SMALL.replace(hidden=(8,) * 9, steps=60)
    return {label: training.train(v, records=6)
            for label, v in train_comparison(ts, ("rezero", "residual_norm", "plain"), "architecture")}


def test_gamma_and_beta_start_at_one_and_zero_and_training_moves_them(deep_runs):
    r = deep_runs["residual + pre-BatchNorm"]
    rms = r.norm_rms
    assert rms.shape == (2, 7, 9, 2)
    np.testing.assert_array_equal(rms[:, 0, :, 0], 1.0)
    np.testing.assert_array_equal(rms[:, 0, :, 1], 0.0)
    assert np.all(rms[:, -1, :, 1] > 0) and np.all(rms[:, -1, :, 0] != 1.0)
    # Against the snapshots themselves: the root mean square of gamma of the last norm, restart 1, last record.
    gamma = r.norms(1, int(r.recorded_steps[-1]))[-1]["gamma"].astype(np.float64)
    assert rms[1, -1, -1, 0] == pytest.approx(np.sqrt(np.mean(gamma ** 2)), rel=1e-12)
    assert deep_runs["plain"].norm_rms.shape == (2, 7, 0, 2)


def test_deep_networks_get_a_panel_per_network_with_a_line_per_layer(deep_runs):
    assert plots_training.deep(deep_runs)  # 10 weight layers
    shallow = training.train(SMALL.replace(steps=2), records=1)
    assert not plots_training.deep({"x": shallow})  # 4: the one chart of lines, as before
    fig = plots_training.grad_norm_panel(deep_runs, 1, "grad")
    lines = [t for t in fig.data if t.mode != "markers"]
    assert [t.name for t in lines] == list(deep_runs["residual + pre-BatchNorm"].scenario.layer_names)
    assert fig.layout.yaxis.type == "log" and fig.layout.title.text.startswith("residual + pre-BatchNorm")
    scale = [t for t in fig.data if t.mode == "markers"]
    assert len(scale) == 1 and scale[0].marker.showscale  # the colour bar from the stem to the output layer
    assert list(scale[0].marker.colorbar.ticktext) == ["stem", "output layer"]
    d = plots_training.distinct_fan_panel(deep_runs, 2)
    assert [t.name for t in d.data if t.mode != "markers"] == [f"layer {k}" for k in range(1, 10)]
    for t in d.data:
        if t.mode != "markers":
            np.testing.assert_array_equal(t.y, 8.0)  # He: every unit distinct, in every layer, all along


def test_alpha_is_plotted_per_block_learned_from_zero_or_said_to_be_fixed(deep_runs):
    fig = plots_training.alpha_panel(deep_runs, 0)
    lines = [t for t in fig.data if t.mode != "markers"]
    assert [t.name for t in lines] == [f"block {b}" for b in range(1, 9)]
    r = deep_runs["ReZero (α from 0, learned)"]
    for b, t in enumerate(lines):
        np.testing.assert_allclose(t.y, np.median(r.alpha[:, :, b], axis=0))
        assert t.y[0] == 0.0 and t.y[-1] != 0.0
    # Adam moves a parameter by at most about lr per step: |alpha| <= 0.01 x 60 after 60 steps.
    assert np.abs(r.alpha[:, -1]).max() <= 0.01 * 60 * 1.01
    fixed = plots_training.alpha_panel(deep_runs, 1)
    assert "α is fixed at 1" in fixed.layout.annotations[0].text
    assert "no α" in plots_training.alpha_panel(deep_runs, 2).layout.annotations[0].text


def test_the_summary_table_writes_distinct_units_of_a_deep_network_in_one_cell():
    assert summaries.distinct_in_words([10.0, 5.0], (10, 5)) == "10 / 5"
    assert summaries.distinct_in_words([16.0] * 9, (16,) * 9) == "16 in all 9 layers"
    assert summaries.distinct_in_words([1.0, 16.0, 1.0, 16.0, 1.0, 16.0], (16,) * 6) == "1 – 16 (of 16) over 6 layers"
    assert summaries.distinct_in_words([None] * 6, (16,) * 6) == summaries.MISSING  # every restart diverged


def test_the_page_compares_architectures_and_shows_alpha_gamma_and_beta():
    at = open_clean({"tab": "training", "tr_by": "architecture", "tr_archs": "plain,residual_norm,rezero",
                     "tr_dataset": "spiral", "tr_hidden": "8x9", "tr_steps": "60", "tr_restarts": "2",
                     "tr_batch_size": "16", "tr_optimizer": "adam", "tr_show": "blocks"})
    table = at.table[0].value
    assert table.index.name == "network" and list(table.index) == [
        "plain", "residual + pre-BatchNorm", "ReZero (α from 0, learned)"]
    assert table["distinct units at the end"].tolist() == ["8 in all 9 layers"] * 3
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [s["layout"]["title"]["text"] for s in specs]
    # alpha: the two residual networks; gamma and beta: the one with a norm.
    assert titles == ["residual + pre-BatchNorm", "ReZero (α from 0, learned)", "residual + pre-BatchNorm: γ (scale)",
                      "residual + pre-BatchNorm: β (shift)"]
    captions = " ".join(c.value for c in at.caption)
    assert "Every network starts from the form's initializer (torch_kaiming_normal)" in captions
    assert "plain: none" in captions
    plain = open_clean({"tab": "training", "tr_steps": "30", "tr_restarts": "2", "tr_show": "blocks"})
    assert "no residual blocks and no norms" in plain.info[0].value


def test_networks_of_a_comparison_fit_the_budget_and_train_equally_long():
    """A BatchNorm network keeps more per example than the plain one (the memory estimate): it is cut to
    fewer restarts, and the plain network is given the same, so both are compared over the same runs."""
    from initlab.pages import train_architectures
    from initlab.training.scenario import check_train_budget, repair

    ts = repair(TrainScenario(hidden=(16,) * 4, n_train=2000, n_test=2000, restarts=50, steps=10, batch_size=64))[0]
    assert ts.restarts == 37  # the plain form's own budget cut
    pairs, words = train_architectures(ts, ("plain", "residual_norm"))
    assert [(v.restarts, v.steps) for _, v in pairs] == [(9, 10), (9, 10)]
    for _, v in pairs:
        check_train_budget(v)
    assert words[0].startswith("residual + pre-BatchNorm: Restarts reduced from 37 to 9")
    assert words[-1].startswith("Every network trains 9 restarts of 10 steps, the fewest any of them was cut to")
    assert train_architectures(SMALL, ("plain", "residual"))[1] == ()  # nothing cut, nothing said


def test_a_network_that_cannot_be_built_as_asked_says_what_it_became():
    """LSUV is for plain layers: the residual entries of a comparison drop it, and the page says so."""
    from initlab.pages import train_architectures

    ts = SMALL.replace(lsuv=True)
    pairs, words = train_architectures(ts, ("plain", "residual"))
    assert [v.lsuv for _, v in pairs] == [True, False]
    assert len(words) == 1 and words[0].startswith("residual (α = 1): lsuv=1 cannot be built here")
