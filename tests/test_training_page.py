"""The Training tab: its presets' numbers (recomputed from the core) and the page, through AppTest."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from initlab.teaching.presets import PRESETS
from initlab.training.engine import train_many
from initlab.signal.verdict import fmt
from initlab.pages import TrainView, train_comparison
from tests.app_util import open_clean

_RESULTS: dict[str, dict] = {}


def results(name: str) -> dict:
    """The preset's comparison trained by the core (not through the page)."""
    if name not in _RESULTS:
        values = PRESETS[name].values()
        view = values["training"]
        pairs = train_comparison(values["train"], view.entries, view.by)
        _RESULTS[name] = {label: train_many([ts])[0] for label, ts in pairs}
    return _RESULTS[name]


def final_acc(r) -> np.ndarray:  # type: ignore[no-untyped-def]
    return r.test_acc[:, -1]


def array(v) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A plotly JSON array (plain list or typed base64 ``bdata``) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ------------------------------------------------------------------------------- the presets' numbers


# A training's digits depend on the CPU (the compiled kernel and BLAS add in their own orders; 15000 steps
# amplify the last bits: N(0, 1) x 10's median test accuracy reads 0.725 on one CPU, 0.73 on another). The
# preset texts therefore quote them through fields filled in from the page's results, and these tests
# check what each claim means, not the digits. "Clearly above" is a margin of 0.05 test accuracy (5 of the
# 100 test points): far above what a summation order moves a median (the three orders at hand, numba for
# this CPU, numba generic and the numpy engine, move the claims' medians by at most 0.045 and flip none),
# far below the differences the texts describe (0.1 to 0.4).


@pytest.mark.slow
def test_classic_comparison_claims() -> None:
    # The accuracies are called accuracies: "ends anywhere between 0.54 and 0.95" used to follow "a loss of
    # 1440" and read as a loss.
    assert "between a test accuracy of {normal_10.acc_min} and" in PRESETS["train_classic"].text
    res = results("train_classic")
    zeros, big, he = res["zeros"], res["N(0, 1) × 10"], res["He N(0, √(2/n))"]
    # zeros: exactly chance and ln 2 at every record of every restart (every logit is exactly 0: softplus(0)
    # = ln 2 to float32 rounding, 1e-7), one unit per layer
    assert (zeros.test_acc == 0.5).all() and np.allclose(zeros.loss, math.log(2), rtol=1e-6)
    assert (zeros.distinct == 1).all()
    assert fmt(math.log(2)) == "0.693"
    # "starts at a median loss of ...": output weights of std 10 on ReLU units of std ~10 x 10 give logits of
    # std ~1e3; half the points are on the wrong side, each costing ~|logit|: far above ln 2.
    assert np.median(big.loss[:, 0]) > 100
    a, h = final_acc(big), final_acc(he)
    # "ends anywhere between ... and ...": a wide spread (10 restarts on 100 test points: 0.2 is 20 points);
    # "every restart of He ends between": He learns the circles in every restart, above N(0,1)x10's median.
    assert a.max() - a.min() >= 0.2 and h.min() >= 0.9 and np.median(a) < h.min() - 0.1
    assert np.ptp(a) > 3 * np.ptp(h)


@pytest.mark.slow
def test_symmetry_claims() -> None:
    res = results("train_symmetry")
    ones, const, he = res["ones"], res["constant 0.5"], res["He N(0, √(2/n))"]
    for r in (ones, const):
        assert (r.distinct == 1).all()  # every record, every restart, both layers
        # "no more than one unit can": one ReLU unit per layer draws one straight boundary, and no straight
        # line separates two concentric circles much better than chance.
        assert np.median(final_acc(r)) < 0.7
    assert (he.distinct[:, -1, 0] == 10).all() and (he.distinct[:, -1, 1] == 5).all()
    assert np.median(final_acc(he)) >= 0.9


def test_restarts_claims() -> None:
    from initlab.weights import initializers
    from initlab.pages import TRAIN_INITS

    # The two initializers must differ where the network starts: with 2 inputs He's first layer is N(0, 1)
    # (sqrt(2 / 2) = 1), so comparing it with N(0, 1) compared one layer of 3 weights and noise.
    p = PRESETS["train_restarts"]
    a, b = (TRAIN_INITS[n] for n in p.views["training"].compare)
    fan_in, fan_out = 2, p.views["train"].hidden[0]
    assert initializers.get(a[0], **a[1]).std(fan_in, fan_out) < initializers.get(b[0], **b[1]).std(fan_in, fan_out) / 10
    res = results("train_restarts")
    small, he = final_acc(res["N(0, 0.01)"]), final_acc(res["He N(0, √(2/n))"])
    # "restarts of both initializers get stuck": xor's stuck runs use too few units, ending near 0.72-0.78
    # (the 100 test points split 3:1 or so by one line); "the difference shows" over 20: He's median is
    # clearly above, and its middle half too.
    assert small.min() < 0.8 and he.min() < 0.8
    assert np.median(he) >= np.median(small) + 0.05 and np.percentile(he, 25) > np.percentile(small, 25)


@pytest.mark.slow
def test_sigmoid_claims() -> None:
    from initlab.training.engine import _views

    text = PRESETS["train_sigmoid_large"].text
    # The text used to say "their gradients are tiny", while the page's own chart showed N(0,1)x10's
    # gradient norms larger than Xavier's in every layer at step 0.
    assert "gradients are tiny" not in text and "larger than Xavier's in every layer at step 0" in text
    res = results("train_sigmoid_large")
    big, xav = res["N(0, 1) × 10"], res["Xavier (glorot_uniform)"]
    # "the output is confidently wrong": median loss far above ln 2; Xavier's small logits start near ln 2.
    assert np.median(big.loss[:, 0]) > 3 * math.log(2) and abs(np.median(xav.loss[:, 0]) - math.log(2)) < 0.1
    # "Its gradients are not small (larger than Xavier's in every layer at step 0)"
    assert (np.median(big.grad_norm[:, 0], axis=0) > np.median(xav.grad_norm[:, 0], axis=0)).all()

    def norms(r):  # type: ignore[no-untyped-def]  # (R, T, L) Frobenius norms of the kernels
        Ws, _ = _views(np.asarray(r.theta, dtype=np.float64), r.scenario.sizes)
        return np.stack([np.sqrt((W ** 2).sum(axis=(-2, -1))) for W in Ws], axis=-1)

    wb, wx = np.median(norms(big), axis=0), np.median(norms(xav), axis=0)  # (T, L)
    # "its weights are far larger still": std 10 against Xavier's sqrt(2 / (fan_in + fan_out)) ~ 0.4-0.6.
    assert (wb[0] > 10 * wx[0]).all()
    # "the weights chart shows them hardly moving" (within 10% in every layer, measured ~3%), while
    # "Xavier's ... weights grow as it learns" (more than threefold in every layer, measured 7-15x).
    assert (np.abs(wb[-1] / wb[0] - 1) < 0.1).all() and (wx[-1] > 3 * wx[0]).all()
    # "after 5000 steps ... at {median}", well below Xavier's, whose final loss is lower
    assert np.median(final_acc(big)) < np.median(final_acc(xav)) - 0.05
    assert np.median(xav.loss[:, -1]) < np.median(big.loss[:, -1])
    # "ahead of Xavier for the first thousand steps": at step 1000 its median test accuracy is higher, while
    # Xavier sits "on a plateau near its symmetric start" (loss within 0.01 of ln 2, accuracy near chance).
    k = int(np.flatnonzero(big.recorded_steps == 1000)[0])
    assert np.median(big.test_acc[:, k]) > np.median(xav.test_acc[:, k]) + 0.05
    assert abs(np.median(xav.loss[:, k]) - math.log(2)) < 0.01 and np.median(xav.test_acc[:, k]) < 0.6


def _dead_layers(r, restart: int, step: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Hidden layers (1..) of a plain ReLU network whose every unit outputs 0 on every training point."""
    h, dead = np.asarray(r.data.X_train, dtype=np.float64), []
    for l, (W, b) in enumerate(r.params(restart, step)[:-1]):
        h = np.maximum(h @ W + b, 0.0)
        if not h.any():
            dead.append(l + 1)
    return dead


@pytest.mark.slow
def test_deep_residual_claims() -> None:
    res = results("train_deep_residual")
    plain, resid, normed = res["plain"], res["residual (α = 1)"], res["residual + pre-BatchNorm"]
    ln2 = math.log(2)
    # "Most of the plain network's restarts never leave the loss of a coin flip": more than half end within
    # 0.005 of ln 2 (float32 rounding of a constant logit near 0 is far smaller), and its median is chance.
    stuck = np.abs(plain.loss[:, -1] - ln2) < 0.005
    assert stuck.sum() > plain.loss.shape[0] / 2 and np.median(final_acc(plain)) <= 0.55
    # "in a stuck restart ... a whole layer of 16 ReLU units below zero on every training point, within the
    # first few hundred steps": every stuck restart has a dead layer at the end, which was there by step 800.
    early = int(plain.recorded_steps[plain.recorded_steps <= 800][-1])
    for g in np.flatnonzero(stuck):
        assert _dead_layers(plain, g, int(plain.recorded_steps[-1])) and _dead_layers(plain, g, early), g
    # "The same depth as ... residual blocks learns": its median is far above chance and above the plain one;
    # "with a BatchNorm before each branch every restart does": the worst restart still learns the spiral.
    assert np.median(final_acc(resid)) >= 0.8 and np.median(final_acc(resid)) > np.median(final_acc(plain)) + 0.2
    assert final_acc(normed).min() >= 0.85 and not normed.diverged.any() and not resid.diverged.any()


@pytest.mark.slow
def test_rezero_claims() -> None:
    res = results("train_rezero")
    one, rezero = res["residual (α = 1)"], res["ReZero (α from 0, learned)"]
    # "the output starts huge ... diverge by the first recorded step after it, step 40"
    assert np.median(one.loss[:, 0]) > 100 and one.diverged.all() and int(one.recorded_steps[1]) == 40
    assert (one.runs["nonfinite_step"] == 40).all()
    # "the network starts as its stem alone": alpha 0 in every block, a loss near ln 2 (one ReLU layer and a
    # He output unit: order 1); "to a median test accuracy of": it learns.
    assert (rezero.alpha[:, 0] == 0).all() and np.median(rezero.loss[:, 0]) < 1.5
    assert np.median(final_acc(rezero)) >= 0.85 and not rezero.diverged.any()
    # "every block's alpha leaving 0, some up and some down"
    end = rezero.alpha[:, -1]
    assert (end != 0).all() and (end > 0).any() and (end < 0).any()
    assert (np.median(end, axis=0) > 0).any() and (np.median(end, axis=0) < 0).any()


@pytest.mark.slow
def test_residual_symmetry_claims() -> None:
    res = results("train_residual_symmetry")
    zeros, const, he = res["zeros"], res["constant 0.5"], res["He N(0, √(2/n))"]
    # "the stem and every branch keep 1 distinct unit at every step" (every restart, every record)
    for r in (zeros, const):
        assert r.distinct.shape[2] == 7 and (r.distinct == 1).all()
        # "learns like a network one unit wide": no better than a single straight boundary on circles
        assert np.median(final_acc(r)) < 0.7
    # "He's random start keeps all 16 units of every layer distinct and reaches ..."
    assert (he.distinct == 16).all() and np.median(final_acc(he)) >= 0.9


@pytest.mark.slow
def test_digits_claims() -> None:
    """train_digits, train_digits_start, train_digits_errors: one training, read three ways."""
    res = results("train_digits")
    zeros, big, he = res["zeros"], res["N(0, 1) × 10"], res["He N(0, √(2/n))"]
    ln10 = math.log(10)
    assert zeros.data.X_train.shape == (1437, 64) and zeros.data.X_test.shape == (360, 64)
    # "Zeros never leaves the loss of a uniform guess": every output logit equal at step 0 is exactly ln 10
    # (up to float32 rounding of log-sum-exp), and training moves only the output biases towards the class
    # shares (equal to within a digit: 1/10 each), so the loss stays within 0.01 of it.
    assert np.allclose(zeros.loss[:, 0], ln10, atol=1e-5) and np.abs(zeros.loss[:, -1] - ln10).max() < 0.01
    # "predicts one digit for every image ... chance is 0.1": one column of its confusion matrix holds everything
    for g in range(zeros.loss.shape[0]):
        cm = zeros.confusion(g, int(zeros.recorded_steps[-1]))
        assert np.count_nonzero(cm.sum(axis=0)) == 1 and cm.sum() == 360
    assert np.median(final_acc(zeros)) <= 0.11
    # "He starts a little above ln 10": logits of random weights differ by order 1 (a median start between
    # ln 10 and ln 10 + 1); "N(0, 1) x 10 ... logits thousands apart": a start 100 times higher.
    assert ln10 < np.median(he.loss[:, 0]) < ln10 + 1 and np.median(big.loss[:, 0]) > 100 * ln10
    s = big.decision_function(big.data.X_train, 0, 0)
    assert np.median(s.max(axis=1) - s.min(axis=1)) > 1000
    # "ends anywhere from ... to": a spread of more than 0.1; "He reaches ..., every restart between":
    # reliable and far above N(0, 1) x 10's median.
    assert np.ptp(final_acc(big)) > 0.1 and final_acc(he).min() >= 0.93
    assert np.median(final_acc(he)) > np.median(final_acc(big)) + 0.05
    # "He's counts sit on the diagonal": restart 0's matrix has its trace / 360 = the recorded accuracy
    cm = he.confusion(0, int(he.recorded_steps[-1]))
    assert np.trace(cm) / 360 == pytest.approx(he.test_acc[0, -1]) and np.trace(cm) >= 0.93 * 360


@pytest.mark.slow
def test_digits_weights_claims() -> None:
    res = results("train_digits_weights")
    zeros, const, he = res["zeros"], res["constant 0.5"], res["He N(0, √(2/n))"]
    first = slice(0, 64 * 32)  # the first layer's kernel leads theta
    # "With zeros every weight stays 0"
    assert (zeros.theta[:, :, first] == 0).all()
    # "with 0.5 all 32 units ... stay copies of one image": 1 distinct unit in the first layer at every step,
    # and the weights did move; "learns like one with a single hidden unit": far below He
    assert (const.distinct[:, :, 0] == 1).all() and not (const.theta[:, -1, first] == 0.5).all()
    assert np.median(final_acc(const)) < np.median(final_acc(he)) - 0.3
    # "He's 32 random images become 32 different": all distinct at the end
    assert (he.distinct[:, -1, 0] == 32).all()


@pytest.mark.slow
def test_units_and_dead_units_claims() -> None:
    res = results("train_units")
    zeros, big, he = res["zeros"], res["N(0, 1) × 10"], res["He N(0, √(2/n))"]
    # "With zeros every unit of a layer outputs 0 everywhere, dead from the start"
    assert (zeros.dead_share == 1).all()
    grid = np.random.default_rng(0).normal(size=(50, 2))
    assert all((h == 0).all() for h in zeros.hidden_outputs(grid, 0, 0))
    # "N(0, 1) x 10 starts with few dead units, but by the first recorded step ... killed nearly every unit of
    # layers 2 and 3"; "every update is exactly 0 and the network is frozen at a coin flip"
    assert np.median(big.dead_share[:, 0, 1:]) <= 0.125
    assert (np.median(big.dead_share[:, 1:, 1:], axis=0) >= 0.9).all()
    assert (np.median(big.update_ratio[:, 2:], axis=0) == 0).all() and abs(np.median(final_acc(big)) - 0.5) < 0.05
    # "He's updates stay near a hundredth of its weights and nearly all its units live"
    ratio = np.median(he.update_ratio[:, 1:], axis=0)
    assert 1e-4 < ratio.min() and ratio.max() < 0.1
    assert np.median(he.dead_share[:, -1]) <= 0.125 and np.median(final_acc(he)) >= 0.9
    # "zeros has no ratio at all"
    assert np.isnan(zeros.update_ratio).all()


def test_fixups_zero_branch_layers_split_within_the_first_recorded_steps() -> None:
    """The Symmetry part's sentence on residual networks: Fixup's zero last layer of each branch starts at 1
    distinct unit and splits at once, since each of its units adds to its own unit of a stream whose units
    differ (He stem)."""
    from initlab.training.engine import train
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(hidden=(8,) * 4, block="residual", branch_layers=2, residual_rule="fixup", steps=200,
                       restarts=2, optimizer="adam", batch_size=64)
    r = train(ts, records=5)
    last = [i for i, name in enumerate(ts.layer_names[:-1]) if name.endswith("W2")]
    assert last == [2, 4, 6] and (r.distinct[:, 0, last] == 1).all()
    assert (r.distinct[:, 1, last] == 8).all() and int(r.recorded_steps[1]) == 40
    assert (r.distinct[:, 0, [0, 1, 3, 5]] == 8).all()


# ------------------------------------------------------------------------------------------- the page


def test_training_tab_draws_the_comparison_and_its_summary() -> None:
    at = open_clean({"tab": "training", "tr_steps": "400", "tr_restarts": "3"})
    assert len(charts(at)) == 2  # the learning curves; the other parts are drawn when opened
    table = at.table[0].value.reset_index()
    assert list(table["initializer"]) == ["zeros", "N(0, 1) × 10", "He N(0, √(2/n))"]
    assert table.loc[0, "distinct units at the end"] == "1 / 1"
    assert "400 steps" in next(c.value for c in at.caption if "restarts" in c.value)
    at.session_state["training.show"] = "restarts"
    at.run()
    points = charts(at)[0]
    assert sum(len(array(t["y"])) for t in points["data"] if t["mode"] == "markers") == 9  # 3 inits x 3 restarts


def test_scrubbing_the_boundary_slider_goes_into_the_link() -> None:
    at = open_clean({"tab": "training", "tr_steps": "200", "tr_restarts": "2", "tr_show": "boundaries"})
    assert "tr_frame" not in dict(at.query_params)
    slider = at.select_slider(key="training.frame_ui")
    assert slider.format_func(3) == "12"  # the slider reads in steps: 200 steps, 50 records, step 4 x 3
    slider.set_value(3).run()
    assert dict(at.query_params)["tr_frame"] in ("3", ["3"])
    title = next(m.value for m in at.markdown if "Decision boundaries" in m.value)
    assert "at step 12" in title


def test_fewer_than_two_initializers_say_so() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "he"})
    assert any("Pick at least two initializers" in i.value for i in at.info)
    assert charts(at) == []
    assert dict(at.query_params)["tr_cmp"] in ("he", ["he"])


def test_custom_initializer_controls_appear_when_chosen() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "custom,he", "tr_init": "random_normal", "tr_stddev": "3",
                    "tr_steps": "100", "tr_restarts": "2"})
    assert at.number_input(key="train.stddev").value == 3
    assert list(at.table[0].value.index) == ["custom: random_normal", "He N(0, √(2/n))"]


def test_bad_training_values_get_notices_not_tracebacks() -> None:
    at = open_clean({"tab": "training", "tr_hidden": "10,x", "tr_steps": "1e9", "tr_restarts": "0", "tr_cmp": "he,bogus",
                    "tr_run": "500"})
    text = next(w.value for w in at.warning if "could not be used" in w.value)
    for key in ("tr_hidden", "tr_steps", "tr_restarts", "tr_cmp", "tr_run"):
        assert f"`{key}`" in text, key


@pytest.mark.slow
@pytest.mark.parametrize("name, part", [("train_classic", "Learning curves"), ("train_symmetry", "Symmetry"),
                                        ("train_restarts", "Every restart"), ("train_sigmoid_large", "Per layer"),
                                        ("train_deep_residual", "Learning curves"), ("train_rezero", "α, γ and β"),
                                        ("train_residual_symmetry", "Symmetry"), ("train_digits", "Learning curves"),
                                        ("train_digits_errors", "Confusion and errors"),
                                        ("train_digits_weights", "Each unit"), ("train_units", "Each unit"),
                                        ("train_dead_units", "Dead units and update size")])
def test_training_presets_open_on_the_training_tab_and_the_part_their_text_is_about(name: str, part: str) -> None:
    at = open_clean({"preset": name})
    assert at.session_state["tab"] == "Training" and at.session_state["training.show_ui"] == part
    panels = len(PRESETS[name].views["training"].entries)  # symmetry, alpha: one chart per entry
    per_part = {"Learning curves": 2, "Symmetry": panels, "α, γ and β": panels, "Each unit": panels,
                "Confusion and errors": 2 * panels, "Dead units and update size": 2}
    assert len(charts(at)) == per_part.get(part, 1)


def test_each_part_of_the_training_page_draws_its_charts_and_goes_into_the_link() -> None:
    """Only the open part is drawn (the page loads what it shows); the link keeps which one."""
    at = open_clean({"tab": "training", "tr_steps": "200", "tr_restarts": "2"})
    k = len(TrainView().compare)  # boundaries and symmetry: one chart per initializer
    for pid, n in (("restarts", 1), ("boundaries", k), ("symmetry", k), ("layers", 1), ("curves", 2)):
        at.session_state["training.show"] = pid
        at.run()
        assert len(charts(at)) == n and not at.exception, pid
        q = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
        assert q.get("tr_show") == (None if pid == "curves" else pid)


def test_a_running_training_shows_partial_results_then_the_same_final_ones(monkeypatch) -> None:
    """The first curves appear long before the end: partial results come every PARTIAL_EVERY seconds
    (0 here: every record), each further along, and the end is exactly what train_many computes."""
    from initlab.training.scenario import TrainScenario
    from initlab.ui.results import cache as compute

    monkeypatch.setattr(compute, "PARTIAL_EVERY", 0.0)
    key = tuple(ts for _, ts in train_comparison(TrainScenario(steps=300, restarts=2), ("zeros", "he")))
    seen: list[int] = []
    steps: list[int] = []
    final = compute._train_showing(key, lambda f, s: steps.append(s), lambda res: seen.append(res[0].steps_done))
    assert seen[0] == 0 and seen == sorted(seen) and len(seen) >= 10 and seen[-1] < 300
    assert steps[-1] == 300 and all(r.complete for r in final)
    direct = train_many(list(key))
    for a, b in zip(final, direct):
        np.testing.assert_array_equal(a.loss, b.loss)


# ------------------------------------------------------------------ controls show what is computed


def notice_text(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning)


def test_a_restart_or_step_that_does_not_exist_is_shown_as_used_with_a_notice() -> None:
    """``tr_run=99&tr_frame=999`` on a training of 3 restarts and 51 records: the page shows restart 2 and the
    last step, the controls and the link say so, and a notice names both keys (it used to show 99 in the box,
    draw restart 0 and keep 99 in the link)."""
    at = open_clean({"preset": "train_classic", "tr_steps": "400", "tr_restarts": "3", "tr_run": "99",
                     "tr_frame": "999", "tr_show": "boundaries"})
    text = notice_text(at)
    assert "`tr_run` (restart shown): restart 99 does not exist" in text and "showing restart 2" in text
    assert "`tr_frame` (recorded step): 999 is beyond the 51 recorded steps" in text and "step 400" in text
    assert at.number_input(key="training.run").value == 2 and at.number_input(key="training.run").max == 2
    q = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
    assert q["tr_run"] == "2" and "tr_frame" not in q
    title = next(m.value for m in at.markdown if "Decision boundaries" in m.value)
    assert "Restart 2 at step 400" in title


def _settings(at: AppTest) -> AppTest:
    """Open the training settings (a stateful expander holding a form)."""
    at.session_state["train_settings"] = True
    return at.run()


def test_training_settings_repaired_by_the_budget_or_the_bounds_are_shown_as_used() -> None:
    """Typed hidden widths out of range and a training over the budget: the boxes show what is trained,
    and a notice says why (the text box kept "100,0" while 64,1 trained; restarts 50 trained as fewer
    while the box kept 50). One initializer: nothing is trained, only repaired."""
    at = _settings(open_clean({"tab": "training", "tr_cmp": "he", "tr_n_train": "20"}))
    at.text_input(key="train.hidden").set_value("100,0")
    at.number_input(key="train.restarts").set_value(50)
    at.number_input(key="train.steps").set_value(100000)
    at.form_submit_button[0].click().run()
    assert not at.exception
    text = notice_text(at)
    assert "Hidden layers: 100, 0 clamped to [1, 64]" in text
    assert "Restarts reduced from 50 to 25" in text
    # 25 restarts x 1e5 steps x 20 examples x (2*64 + 64*1 + 1*1 = 193 weights) = 9.65e9 <= 1e10 < 26 restarts' worth
    assert at.text_input(key="train.hidden").value == "64,1"
    assert at.number_input(key="train.restarts").value == 25 and at.number_input(key="train.steps").value == 100000
    q = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
    assert q["tr_hidden"] == "64,1" and q["tr_restarts"] == "25"


def test_the_learning_rate_box_steps_by_a_tenth_of_its_decade() -> None:
    at = _settings(open_clean({"tab": "training", "tr_cmp": "he"}))
    lr = at.number_input(key="train.lr")
    assert lr.value == 0.01 and lr.step == pytest.approx(0.001)  # "−" works at 0.01 (a step of 0.01 hit the minimum)
    lr.set_value(0.5)
    at.form_submit_button[0].click().run()
    assert at.number_input(key="train.lr").step == pytest.approx(0.01)


def test_the_sidebar_says_it_does_not_set_the_training_network() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "he"})
    assert any("trains its own small network" in c.value for c in at.sidebar.caption)
    assert at.selectbox(key="net.init").disabled and at.slider(key="net.depth").disabled
    at = open_clean({"tab": "signal", "depth": "5", "width": "16"})
    assert not at.selectbox(key="net.init").disabled and not at.slider(key="net.depth").disabled


def test_removing_an_initializer_or_moving_the_view_trains_nothing(monkeypatch) -> None:
    """Results are kept per (initializer, training setup): only a new initializer trains, and only itself."""
    from initlab.training import engine as training
    from initlab.ui.results import cache as compute

    calls: list[int] = []
    real = training.iter_train

    def counting(scenarios, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(scenarios))
        return real(scenarios, **kw)

    monkeypatch.setattr(training, "iter_train", counting)
    compute.train.clear()
    at = open_clean({"tab": "training", "tr_steps": "200", "tr_restarts": "2", "tr_data_seed": "4242",
                     "tr_show": "boundaries"})
    assert calls == [3]
    at.multiselect(key="training.compare").set_value(["zeros", "he"]).run()
    at.number_input(key="training.run").set_value(1).run()
    at.select_slider(key="training.frame_ui").set_value(5).run()
    at.multiselect(key="training.compare").set_value(["zeros", "normal_10", "he"]).run()
    assert calls == [3] and not at.exception
    at.multiselect(key="training.compare").set_value(["zeros", "normal_10", "he", "xavier"]).run()
    assert calls == [3, 1]

def test_summary_table_counts_diverged_restarts_and_never_says_nan() -> None:
    """Restarts that blew up used to read as accuracy 0 and "NaN / NaN" distinct units: the table now
    leaves them out of its numbers, counts them, and shows "–" where no restart is left."""
    import warnings

    from initlab.training.scenario import TrainScenario
    from initlab.training.engine import train
    from initlab.training.summaries import train_table

    base = TrainScenario(dataset="moons", steps=300, restarts=10, lr=0.2, activation="linear")
    half = train(base.with_init("random_normal", stddev=3.0), records=10)
    every = train(TrainScenario(activation="linear", steps=20, restarts=3, hidden=(64, 64), lr=10.0)
                  .with_init("random_normal", stddev=100.0), records=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = train_table({"half": half, "every": every})
    assert not any("NaN" in str(v) for row in rows for v in row.values())
    k = int(half.diverged.sum())
    assert k > 0 and rows[0]["diverged (inf/NaN loss)"] == f"{k} of 10, left out of the other columns"
    assert float(rows[0]["median test accuracy"]) > 0.8 and rows[0]["distinct units at the end"] == "10 / 5"
    assert rows[1]["diverged (inf/NaN loss)"].startswith("3 of 3") and rows[1]["median test accuracy"] == "—"
    assert rows[1]["worst – best"] == "—" and rows[1]["distinct units at the end"] == "— / —"


def test_the_blue_box_says_it_describes_the_preset_once_a_student_changed_it() -> None:
    """train_classic, then moons and 5 restarts: the box kept quoting circles and 10 restarts as if they
    were on screen. It now lists what differs from the preset it describes."""
    at = _settings(open_clean({"preset": "train_classic", "tr_steps": "300"}))
    box = next(i.value for i in at.info if i.value.startswith("**Training: zeros"))
    assert "this page differs from the preset: Steps: 15000 → 300" in box
    at.selectbox(key="train.dataset").set_value("moons")
    at.number_input(key="train.restarts").set_value(5)
    at.form_submit_button[0].click().run()
    box = next(i.value for i in at.info if i.value.startswith("**Training: zeros"))
    assert "The preset's text describes the preset, not what is on screen now" in box
    for change in ("Dataset: circles → moons", "Steps: 15000 → 300", "Restarts: 10 → 5"):
        assert change in box, change
    # The text itself (with the preset's numbers) is one click away, not quoted above the new page.
    assert "between a test accuracy of" not in box
    assert any(e.label.startswith("What the preset's text says") for e in at.expander)


@pytest.mark.slow
def test_opening_another_part_does_not_call_the_text_untrue() -> None:
    """Opening "Every restart" on train_classic changes no number the text quotes: no "differs from the preset"; nor does
    switching train_sigmoid_large's per-layer chart to the gradients its text points at."""
    at = open_clean({"preset": "train_classic", "tr_show": "restarts", "tr_run": "3"})
    box = next(i.value for i in at.info if i.value.startswith("**Training: zeros"))
    assert "differs from the preset" not in box and "between a test accuracy of" in box
    at = open_clean({"preset": "train_sigmoid_large", "tr_norms": "grad"})
    box = next(i.value for i in at.info if i.value.startswith("**Training: sigmoid"))
    assert "differs from the preset" not in box and "larger than Xavier's in every layer" in box


def test_a_preset_opened_unchanged_has_no_changes_line() -> None:
    at = open_clean({"preset": "train_restarts"})
    box = next(i.value for i in at.info if i.value.startswith("**Training: judge"))
    assert "differs from the preset" not in box and "{" not in box


def test_five_initializers_say_which_one_was_dropped_and_why() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "zeros,ones,he,xavier,orthogonal", "tr_steps": "100",
                     "tr_restarts": "2"})
    text = notice_text(at)
    assert "kept zeros, ones, he, xavier; orthogonal dropped: at most 4 at once" in text


def test_every_normal_initializer_label_gives_a_standard_deviation() -> None:
    """"He N(0, 2/n)" gave a variance where every other label gives a std (N(0, 1) × 10, N(0, 0.01))."""
    from initlab.weights import initializers
    from initlab.pages import TRAIN_INITS

    std = {"normal_001": 0.01, "normal_1": 1.0, "normal_10": 10.0}
    for name, value in std.items():
        init, params, label = TRAIN_INITS[name]
        assert initializers.get(init, **params).std(8, 3) == pytest.approx(value)
        assert label == ("N(0, 1) × 10" if name == "normal_10" else f"N(0, {value:g})")
    init, params, label = TRAIN_INITS["he"]
    assert label == "He N(0, √(2/n))" and initializers.get(init, **params).std(8, 3) == pytest.approx(math.sqrt(2 / 8))


def test_the_course_preset_shows_the_notebooks_numbers_beside_initlabs():
    at = open_clean({"preset": "course_c2w1"})
    text = " ".join(m.value for m in at.markdown)
    assert "course notebook's printed numbers beside initlab's" in text and "62.7" in text
    # One row per quantity, one column per initialization (so that all digits fit the page).
    [course] = [t for t in at.table if "cost at 0 (notebook)" in t.value.index]
    df = course.value
    assert list(df.columns) == ["zeros", "N(0, 1) × 10", "He, × √(2/n)"]
    assert df.loc["cost at 0 (notebook)", "N(0, 1) × 10"] == "inf"
    assert df.loc["cost at 0 (initlab)", "N(0, 1) × 10"] == "inf"  # the notebook's formula, reproduced
    assert df.loc["loss at 0 from the logits (initlab)", "N(0, 1) × 10"].startswith("1773.58")
    assert (df.loc["test accuracy (notebook)"] == df.loc["test accuracy (initlab)"]).all()
    assert (df.loc["train accuracy (notebook)"] == df.loc["train accuracy (initlab)"]).all()
    # The preset's text, its fields filled in: the finite loss where the notebook printed inf.
    assert any("the same inf; the loss from the logits, which the charts show, is finite: 1" in i.value
               for i in at.info)
    # The settings that make it so are controls on the page, not a special code path.
    at = _settings(at)
    assert at.selectbox(key="train.cost").value == "naive"
    assert at.selectbox(key="train.weights_rng").value == "legacy"
    assert at.selectbox(key="train.inputs").value == "unscaled" and at.number_input(key="train.records").value == 15


def test_the_architecture_settings_are_in_the_form_and_only_those_that_mean_something() -> None:
    at = _settings(open_clean({"tab": "training", "tr_cmp": "he", "tr_block": "residual", "tr_hidden": "8,8,8",
                               "tr_steps": "50", "tr_restarts": "2"}))
    assert not at.exception
    keys = {w.key for w in (*at.selectbox, *at.number_input, *at.checkbox)}
    assert {"train.block", "train.norm", "train.norm_position", "train.branch_layers", "train.residual_rule",
            "train.residual_scale", "train.residual_learned"} <= keys
    assert "train.norm_eps" not in keys  # no norm: nothing to add epsilon to
    plain = _settings(open_clean({"tab": "training", "tr_cmp": "he", "tr_steps": "50", "tr_restarts": "2"}))
    keys = {w.key for w in (*plain.selectbox, *plain.number_input, *plain.checkbox)}
    assert "train.block" in keys and "train.residual_scale" not in keys


@pytest.mark.parametrize("part, n", [("curves", 2), ("errors", 6), ("units", 3), ("health", 2), ("boundaries", 0)])
def test_digits_from_the_forms_defaults_draws_every_part(part: str, n: int) -> None:
    """Choosing digits and nothing else (the form's full batch: every one of its 300 images a step): every part
    draws its charts without an error; Decision boundaries says there is no plane instead."""
    at = open_clean({"tab": "training", "tr_dataset": "digits", "tr_steps": "100", "tr_restarts": "3", "tr_show": part})
    assert not at.exception and not at.error and not at.warning
    assert len(charts(at)) == n
    if part == "boundaries":
        assert any("no plane" in i.value for i in at.info)
