"""Lessons: every referenced preset exists; bodies are short plain-text paragraphs."""

import math
import re

import numpy as np
import pytest

from initlab import propagate
from initlab.weights import activations
from initlab.teaching.lessons import LESSONS
from initlab.teaching.presets import PRESETS
from initlab.signal.verdict import fmt, signal_verdict


def test_lessons_reference_existing_presets():
    assert len(LESSONS) >= 8
    for lesson in LESSONS:
        assert lesson.presets, lesson.title
        for name in lesson.presets:
            assert name in PRESETS, f"{lesson.title!r} refers to unknown preset {name!r}"


def test_bodies_are_3_to_8_sentences_without_latex():
    for lesson in LESSONS:
        n = len(re.findall(r"[.!?](?:\s|$)", lesson.body))
        assert 3 <= n <= 8, (lesson.title, n)
        assert "$" not in lesson.body and "\\" not in lesson.body


def test_the_derivations_carry_the_formulas():
    text = " ".join(lesson.body for lesson in LESSONS)
    for formula in ("Var(w) = 1/n", "2/(n + m)", "sqrt(6/(n + m))", "r^2/3", "Var(w) = 2/n", "1/(3n)"):
        assert formula in text, formula
    assert len({lesson.title for lesson in LESSONS}) == len(LESSONS)
    used = {name for lesson in LESSONS for name in lesson.presets}
    assert {"zero_init", "std1_explodes", "std001_vanishes", "he_relu", "xavier_relu", "he_range"} <= used


# ---------------------------------------------------------------------------------------------------
# What the lessons claim about the presets' numbers (every sentence true).


BY_TITLE = {lesson.title: lesson.body for lesson in LESSONS}


def _crossing(deriv, level: float) -> float:
    """The z > 0 where a decreasing derivative falls to ``level`` (bisection to 1e-12)."""
    lo, hi = 0.0, 20.0
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(deriv(np.array(mid))) > level else (lo, mid)
    return lo


def _t(name):
    return propagate(PRESETS[name].scenario).layers.set_index("layer")


def test_saturation_lesson_says_what_the_gradient_does():
    body = BY_TITLE["Saturation: large weights and unscaled inputs"]
    # The old claim, that saturated units "pass almost no gradient back", is false of the preset it links:
    # the N(0, 1) weights multiply the gradient by sqrt(256) = 16 per layer going down, and it grows.
    assert "pass almost no gradient back" not in body
    t = _t("sigmoid_saturation")
    grow = t.loc[1, "grad_std"] / t.loc[10, "grad_std"]
    assert f"grows {fmt(grow)}-fold from the top layer to layer 1" in body and grow > 1 and "seed 0" in body
    assert f"std of {fmt(t.loc[1, 'pre_std'])} in the first layer" in body
    # The slope thresholds: sigmoid' = 0.25 / 10 at |z| = 3.6, tanh' = 1 / 10 at |z| = 1.8.
    sig, tanh = activations.get("sigmoid"), activations.get("tanh")
    z_sig, z_tanh = _crossing(sig.deriv, 0.025), _crossing(tanh.deriv, 0.1)
    assert f"about {z_sig:.1f} the sigmoid" in body and f"tanh's beyond about {z_tanh:.1f}" in body


def test_xavier_lesson_says_slow_drift_not_stable_band():
    body = BY_TITLE["Xavier (Glorot) initialization in two lines"]
    texts = " ".join([lesson.body for lesson in LESSONS] + [p.text + p.title for p in PRESETS.values()])
    assert "stable band" not in texts
    t = _t("xavier_tanh")
    fold = t.loc[1, "act_std"] / t.loc[100, "act_std"]
    assert "about 10-fold over 100 layers" in body and "seed 0" in body and 8 < fold < 12  # 9.5 with seed 0


def test_exploding_lesson_matches_the_presets():
    body = BY_TITLE["Exploding and vanishing signals"]
    assert "after about 32 layers" in body and propagate(PRESETS["std1_explodes"].scenario).first_nonfinite_layer == 32
    zero = _t("std001_vanishes")
    assert "after about 57 layers" in body and zero.loc[57, "act_max"] == 0 and zero.loc[56, "act_max"] > 0
    # s = 0.1: dl/dz grows x1.6 per layer going down, the weight gradient stays level (within 0.4 decades,
    # see test_presets) while dl/dz spans 10.
    t = _t("std01_grows")
    assert "grows it 1.6-fold per layer going down" in body and "stays level" in body
    assert fmt((t.loc[1, "grad_std"] / t.loc[50, "grad_std"]) ** (1 / 49)) == "1.6"
    wg = t["weight_grad_norm"]
    assert math.log10(wg.max() / wg.min()) < 0.4


def test_defaults_lesson_says_the_biases_hold_the_pytorch_stack():
    body = BY_TITLE["Keras and PyTorch defaults differ"]
    assert "weights (and biases)" in body and "until the biases hold it" in body
    res = propagate(PRESETS["pytorch_default"].scenario)
    a = res.layers["act_std"].to_numpy()
    assert a[-1] > 0.01 and abs(math.log(a[-1] / a[9])) < 0.35  # held, not divided by 6 per layer
    assert "hardly depend on the input" in signal_verdict(res.layers).headline


def test_he_lesson_factor():
    body = BY_TITLE["He initialization in two lines"]
    assert "2^49.5, about 1e15" in body and 2**49.5 == pytest.approx(8e14, rel=0.01)  # 99 halvings of variance


# ---------------------------------------------------------------------------------------------------
# The lessons on the Training and Theory presets. A lesson is static text: it quotes no measured training
# number (those digits depend on the CPU), and what it says about the charts is checked here on the computed
# results, with margins that hold on any CPU (as in tests/test_training_page.py: 0.05 test accuracy is 5 of
# the 100 test points, far above what a summation order moves, far below the differences described).


def test_the_learn_page_leads_to_training_and_theory_presets_on_their_part():
    from initlab.pages import THEORY_PARTS, TRAINING_PARTS, TheoryView, TrainView

    parts = {"training": (TRAINING_PARTS, TrainView()), "theory": (THEORY_PARTS, TheoryView())}
    shown = {name for lesson in LESSONS for name in lesson.presets}
    # Every preset of the Training and Theory pages has a "Show me" button.
    assert {n for n, p in PRESETS.items() if p.tab in parts} <= shown
    # Each lesson below says which part of the page to look at: its preset opens that part.
    want = {"Symmetry during training: copies stay copies": {"train_symmetry": "Symmetry"},
            "Judge an initializer over many restarts": {"train_restarts": "Every restart",
                                                        "train_classic": "Learning curves"},
            "The edge of chaos: how deep can a signal go?": {"edge_of_chaos": "Order and chaos"},
            "Dynamical isometry: every direction, not just the average": {"isometry": "Jacobian spectra"},
            "LSUV: measure the variance instead of deriving it": {"lsuv_rescue": "LSUV"}}
    for title, presets in want.items():
        lesson = next(lesson for lesson in LESSONS if lesson.title == title)
        assert set(lesson.presets) == set(presets), title
        for name, part in presets.items():
            p = PRESETS[name]
            labels, default = parts[p.tab]
            assert labels[p.views.get(p.tab, default).show] == part, name
            # "the Every restart chart", "the Order and chaos chart", ...: the body names what it opens on
            assert part in lesson.body or part.lower() in lesson.body or name == "train_classic", (title, part)


def _training(name: str) -> dict:
    from tests.test_training_page import results

    return results(name)


def final_acc(r) -> np.ndarray:  # type: ignore[no-untyped-def]
    return r.test_acc[:, -1]


def _best_line_accuracy(X: np.ndarray, y: np.ndarray) -> float:
    """An upper bound on the accuracy of any straight-line classifier on (X, y): a best half-plane can be
    moved until its border passes through two points; for each pair, the points strictly on either side
    are counted as well as they can be and the points on the line as if all were right."""
    X = np.asarray(X, dtype=np.float64)
    n = len(y)
    best = 0
    for i in range(n - 1):
        d = X[i + 1:] - X[i]  # (m, 2) directions to the later points
        rel = X[None, :, :] - X[i]  # (1, n, 2)
        cross = d[:, None, 0] * rel[:, :, 1] - d[:, None, 1] * rel[:, :, 0]  # (m, n)
        scale = np.abs(d).max(axis=1)[:, None] * np.abs(rel).max() + 1e-300
        on = np.abs(cross) <= 1e-9 * scale
        pos, neg = (cross > 0) & ~on, (cross < 0) & ~on
        right = np.maximum((pos & (y == 1)).sum(1) + (neg & (y == 0)).sum(1),
                           (pos & (y == 0)).sum(1) + (neg & (y == 1)).sum(1))
        best = max(best, int((right + on.sum(1)).max()))
    return best / n


@pytest.mark.slow
def test_symmetry_during_training_lesson():
    body = BY_TITLE["Symmetry during training: copies stay copies"]
    from initlab.training.engine import make_data, train_many
    from initlab.pages import train_comparison

    p = PRESETS["train_symmetry"]
    ts, view = p.views["train"], p.views["training"]
    assert (ts.hidden, ts.activation, ts.dataset, ts.steps, ts.restarts) == ((10, 5), "relu", "circles", 15000, 10)
    assert view.compare == ("ones", "constant", "he")
    for words in ("ReLU network (hidden layers of 10 and 5 units)", "circles for 15000 steps",
                  "from ones, from a constant 0.5 and from He's random weights, 10 restarts each",
                  "stay at 1 for the whole run, He at 10 and 5", "a median above 0.9"):
        assert words in body, words
    res = _training("train_symmetry")
    ones, const, he = res["ones"], res["constant 0.5"], res["He N(0, √(2/n))"]
    data = make_data(ts)
    line = _best_line_accuracy(data.X_test, data.y_test)
    for r in (ones, const):
        assert (r.distinct == 1).all()  # every recorded step of every restart, both hidden layers
        # "with nothing random in them, the constant starts' 10 restarts are one and the same run": full
        # batch (no shuffled order), constant weights (no draw)
        assert ts.batch_size == 0 and (r.theta == r.theta[:1]).all()
        # "The constant starts do get gradients": every layer's weight gradient is non-zero at step 0, and
        # the weights move
        assert (r.grad_norm[:, 0] > 0).all() and (r.theta[:, -1] != r.theta[:, 0]).any()
        # "the network can only draw one straight boundary (open Decision boundaries to see it)": every unit
        # of layer 1 computes the same t = x w + b, and the layers above are monotone in it, so along t the
        # predicted class changes once; both classes are predicted on the chart's grid of restart 0.
        from initlab.plots.training import _grid
        from initlab.training.engine import _views

        _, _, pts = _grid(data.X_train)
        Ws, bs = _views(np.asarray(r.theta[0, -1], dtype=np.float64), ts.sizes)
        t = pts @ Ws[0][:, 0] + bs[0][0]
        cls = r.decision_function(pts, 0, ts.steps)[np.argsort(t, kind="stable")] > 0
        assert np.count_nonzero(np.diff(cls)) == 1
        # "No straight line separates two circles, so they end barely above chance": no restart beats the
        # best straight line on the test set, itself within 0.15 of chance.
        assert (final_acc(r) <= line).all()
    assert 0.5 < line < 0.65
    # "He at 10 and 5" at every recorded step; "a median above 0.9"
    assert (he.distinct[:, :, 0] == 10).all() and (he.distinct[:, :, 1] == 5).all()
    assert np.median(final_acc(he)) >= 0.9 + 0.05
    # "(with all-zero weights every weight gradient of this network would be exactly 0)": ReLU(0) = 0 feeds
    # the output nothing and the zero matrices pass nothing down.
    zeros = train_many([train_comparison(ts.replace(steps=10, restarts=2), ("zeros",))[0][1]])[0]
    assert (zeros.grad_norm == 0).all()


@pytest.mark.slow
def test_restarts_lesson():
    from initlab.training.engine import summarize

    body = BY_TITLE["Judge an initializer over many restarts"]
    p = PRESETS["train_restarts"]
    ts, view = p.views["train"], p.views["training"]
    assert (ts.dataset, ts.hidden, ts.restarts, ts.seed) == ("xor", (3,), 20, 0)
    assert view.compare == ("normal_001", "he")
    for words in ("3 hidden units learns xor 20 times", "(seeds 0 to 19)", "best of N(0, 0.01) beat the worst of He"):
        assert words in body, words
    res = _training("train_restarts")
    small, he = res["N(0, 0.01)"], res["He N(0, √(2/n))"]
    a, h = final_acc(small), final_acc(he)
    # "both initializers have restarts stuck below 0.8" (measured: 0.72 for both; margin 0.05)
    assert a.min() <= 0.8 - 0.05 and h.min() <= 0.8 - 0.05
    # "the best of N(0, 0.01) beat the worst of He, so a single run could crown either"
    assert a.max() >= h.min() + 0.05
    # "He's median, and the lower end of its middle half, sit well above" (the table's median and q1)
    s_small, s_he = summarize(small), summarize(he)
    assert s_he.acc_median >= s_small.acc_median + 0.05 and s_he.acc_q1 >= s_small.acc_q1 + 0.05
    # The classic comparison: "N(0, 1) x 10 ends anywhere in a wide range, a wide band on the test-accuracy
    # curve, and He in a narrow one" (10 restarts). The band is the middle half; at the end, q1 to q3.
    assert PRESETS["train_classic"].views["train"].restarts == 10 and "with 10 restarts" in body
    classic = _training("train_classic")
    big, he10 = summarize(classic["N(0, 1) × 10"]), summarize(classic["He N(0, √(2/n))"])
    assert big.acc_max - big.acc_min >= 0.2 and big.acc_max - big.acc_min > 3 * (he10.acc_max - he10.acc_min)
    assert big.acc_q3 - big.acc_q1 >= 0.1 and big.acc_q3 - big.acc_q1 > 3 * (he10.acc_q3 - he10.acc_q1)


@pytest.mark.slow
def test_saturation_lesson_training_sentence():
    body = BY_TITLE["Saturation: large weights and unscaled inputs"]
    p = PRESETS["train_sigmoid_large"]
    assert p.views["train"].activation == "sigmoid" and p.views["train"].steps == 5000
    assert "(N(0, 1) x 10 weights) crawl" in body and "after 5000 steps still trails Xavier's" in body
    res = _training("train_sigmoid_large")
    big, xav = res["N(0, 1) × 10"], res["Xavier (glorot_uniform)"]
    # "starts confidently wrong": median loss at step 0 far above ln 2, the loss of a 50:50 guess
    assert np.median(big.loss[:, 0]) > 3 * math.log(2)
    # "still trails Xavier's": its median final test accuracy is clearly below
    assert np.median(final_acc(big)) <= np.median(final_acc(xav)) - 0.05


def test_edge_of_chaos_lesson():
    from initlab.theory import meanfield as theory
    from initlab.theory.summaries import EDGE_BAND, TRAINABLE_XI
    from initlab.ui.results import products

    body = BY_TITLE["The edge of chaos: how deep can a signal go?"]
    s = PRESETS["edge_of_chaos"].scenario
    sw2, sb2 = theory.scenario_sigmas(s)
    # "χ₁ = σw² E[f'(z)^2]" at the fixed point q* of the variance (Gauss-Hermite, independent of the core's rule)
    q = float(theory.fixed_point("tanh", sw2, sb2))
    x, w = np.polynomial.hermite_e.hermegauss(120)
    e = float(w @ (1 - np.tanh(math.sqrt(q) * x) ** 2) ** 2 / math.sqrt(2 * math.pi))
    assert float(theory.chi1("tanh", sw2, sb2)) == pytest.approx(sw2 * e, rel=1e-9)
    # "(σb² = 0.05) the edge is at σw² = 1.76, not 1": without biases it is at 1
    assert "(σb² = 0.05) the edge is at σw² = 1.76, not 1" in body and sb2 == pytest.approx(0.05, rel=1e-12)
    assert fmt(float(theory.critical_sw2("tanh", 0.05))) == "1.76" == fmt(sw2)
    assert float(theory.critical_sw2("tanh", 0.0)) == pytest.approx(1.0, abs=1e-6)
    # "the preset sits on it, with ξ_c = 4910 layers for its 100"
    assert abs(float(theory.chi1("tanh", sw2, sb2)) - 1) < EDGE_BAND
    xi = float(theory.depth_scales("tanh", sw2, sb2)[1])
    assert f"ξ_c = {fmt(xi)} layers for its {s.depth}" in body and fmt(xi) == "4910"
    # "At σw² = 1 and the same σb², ξ_c is only 3.63 layers": ordered (blue) there; chaotic (red) above the edge
    assert float(theory.chi1("tanh", 1.0, sb2)) < 1 - EDGE_BAND and float(theory.chi1("tanh", 3.0, sb2)) > 1 + EDGE_BAND
    assert f"ξ_c is only {fmt(float(theory.depth_scales('tanh', 1.0, sb2)[1]))} layers" in body
    # ordered: inputs end up alike (c* = 1); chaotic: nearby inputs become as different as unrelated ones (c* < 1)
    assert float(theory.correlation_fixed_point("tanh", 1.0, sb2)) == pytest.approx(1.0, abs=1e-6)
    assert float(theory.correlation_fixed_point("tanh", 3.0, sb2)) < 0.5
    # "about 6 ξ_c deep" is the bound the page reads; "the spike of ξ_c on the depth-scale chart": the curve
    # the page draws peaks at its point nearest the edge.
    assert "about 6 ξ_c" in body and TRAINABLE_XI == 6
    curve = products.depth_curve("tanh", sb2, 4.0)
    peak = curve.sw2[int(np.nanargmax(curve.xi_c))]
    assert abs(peak - curve.critical_sw2) <= (curve.sw2[1] - curve.sw2[0])


def test_isometry_lesson():
    from initlab.signal import spectra
    from initlab.theory import meanfield as theory
    from initlab.ui.results.products import spectra_depths

    body = BY_TITLE["Dynamical isometry: every direction, not just the average"]
    s = PRESETS["isometry"].scenario
    orth = s.replace(init="orthogonal", scale=None, mode=None, distribution=None)
    assert s.depth == 100 and s.activation == "linear" and "both 100-layer linear stacks have σw² = 1" in body
    assert theory.scenario_sigmas(s) == (pytest.approx(1.0), 0.0) == theory.scenario_sigmas(orth)
    # "At χ₁ = 1 a small change of the input keeps its squared length from layer to layer on average": the
    # mean-field product of the per-layer χ (the table's last column) is 1 at every depth, for both stacks
    for v in (s, orth):
        assert np.prod(theory.predict(v).chi) == pytest.approx(1.0, rel=1e-9)
    depths = spectra_depths(s.depth)
    gauss = spectra.jacobian_singular_values(s, depths).summary()
    # "the Gaussian one spreads wider at every depth shown": the largest grows from depth to depth (by 9%
    # or more, measured: 1.98, 8.83, 9.67, 15.6; rounding moves them by ~1e-5) and more values fall below
    # the floor (0, 87, 146, 189 of 256)
    assert (np.diff(gauss["max"]) > 0.05 * gauss["max"][:-1]).all() and (np.diff(gauss["below_floor"]) > 0).all()
    # "at layer 100 its largest singular value is 15.6 (seed 0) while about three in four are below float32's
    # rounding floor" (how robust these are: tests/test_theory_page.py::test_isometry_preset_numbers)
    assert f"largest singular value is {fmt(gauss['max'][-1])} (seed 0)" in body
    assert 0.65 * s.width <= gauss["below_floor"][-1] <= 0.85 * s.width
    # "The orthogonal stack stays one spike at 1 at every depth" (float32 rounding over 100 products)
    o = spectra.jacobian_singular_values(orth, depths).summary()
    tol = 100 * 2 * np.finfo(np.float32).eps * 10
    assert (np.abs(o["max"] - 1) < tol).all() and (np.abs(o["min"] - 1) < tol).all()
    # "ReLU ...: its slope is 0 for about half of the units, so after a single layer about half of the singular
    # values are already 0, with Gaussian and orthogonal weights alike": at its edge of chaos (σw² = 2).
    for relu in (s.replace(activation="relu", scale=2.0),
                 orth.replace(activation="relu", gain=math.sqrt(2))):
        sp = spectra.jacobian_singular_values(relu, depths).summary()
        # 256 units, each off with probability 1/2: 128 +- 8 (one sd); 0.4-0.6 is 2.5 sd either side
        assert 0.4 * s.width <= sp["below_floor"][0] <= 0.6 * s.width, relu.init
        assert (sp["below_floor"] >= sp["below_floor"][0]).all()


@pytest.mark.slow
def test_lsuv_lesson():
    from initlab.signal import lsuv
    from initlab.pages import orthogonal_start
    from initlab.weights import activations as acts

    body = BY_TITLE["LSUV: measure the variance instead of deriving it"]
    s = PRESETS["lsuv_rescue"].scenario
    assert f"within {fmt(lsuv.TOL)} of 1 (at most {lsuv.MAX_ITER} tries per layer)" in body
    assert (s.init, s.stddev, s.activation, s.depth, s.width, s.bias) == ("random_normal", 0.01, "tanh", 50, 256, "zeros")
    # "multiply Var(z) by about 256 x 0.01^2 = 0.0256 per tanh layer": tanh(z) ~ z for such small z. The
    # measured factor per layer, averaged over 49 layers, is within 2% (each layer's own factor carries a
    # sampling error of about sqrt(2 / 256^2) from the weights and sqrt(2 / (128 x 256)) from the batch).
    assert "256 x 0.01^2 = 0.0256" in body and 256 * 0.01**2 == pytest.approx(0.0256)
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    assert (own[-1] / own[0]) ** (1 / 49) == pytest.approx(0.0256, rel=0.02)
    # "down to the order of 1e-80 at layer 50"
    assert abs(math.log10(own[-1]) + 80) < 1 and abs(math.log10(0.0256**50) + 80) < 1
    # "Even the orthogonal start fades under tanh, to about a hundredth at layer 50": mean field's
    # q_l ~ 1 / (2 l) for tanh at σw² = 1 without biases gives 0.01
    start = propagate(orthogonal_start(s)).layers["pre_std"].to_numpy(dtype=float) ** 2
    assert 0.007 < start[-1] < 0.014
    # "after LSUV every layer sits at 1"; "With zero biases one division per layer is enough"
    rep = propagate(s.replace(lsuv=True)).lsuv
    assert rep.converged.all() and (np.abs(rep.var_after - 1) < lsuv.TOL).all() and rep.iterations.max() == 1
    # "random biases can take more tries"
    noisy = propagate(s.replace(bias="random_normal", bias_value=0.5, lsuv=True)).lsuv
    assert noisy.converged.all() and noisy.iterations.max() > 1
    # "the same procedure brings every activation offered here to unit variance"
    for name in acts.names():
        rep = propagate(s.replace(activation=name, lsuv=True)).lsuv
        assert rep.converged.all(), name


# "Why not zeros": what all-zero weights let learn, step by step (the claim is exact: zeros times anything).
def _zero_init_layers_that_moved(activation: str, steps: int) -> list[tuple[bool, bool, bool]]:
    """Per layer (bottom to top): (weights moved, bias moved, units of the layer still copies) after ``steps``."""
    from initlab.training import engine
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(init="zeros", activation=activation, hidden=(4, 3, 2), steps=steps, restarts=1,
                       optimizer="sgd", lr=0.5, dataset="moons", dtype="float64")
    res = engine.train(ts, records=steps)
    out = []
    for w, b in res.params(0, steps):
        out.append((bool(np.any(w != 0)), bool(np.any(b != 0)), bool(np.all(w == w[:, :1]))))
    return out


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_zero_weights_with_f0_zero_move_nothing_but_the_output_bias(activation):
    text = next(le.body for le in LESSONS if le.title.startswith("Why not zeros"))
    assert "with tanh or ReLU, f(0) = 0 and nothing but the output bias ever moves" in text
    assert activations.get(activation).fn(np.zeros(1))[0] == 0
    moved = _zero_init_layers_that_moved(activation, 20)
    assert [m[0] for m in moved] == [False] * 4  # no weight of any layer
    assert [m[1] for m in moved] == [False, False, False, True]  # only the output bias


def test_zero_weights_with_sigmoid_let_only_the_top_layer_learn_at_the_first_step_and_keep_copies():
    text = next(le.body for le in LESSONS if le.title.startswith("Why not zeros"))
    assert "at the first step only the top layer can learn, and only if f(0) is not 0" in text
    assert "the layers below follow later, still as copies" in text
    assert [m[0] for m in _zero_init_layers_that_moved("sigmoid", 1)] == [False, False, False, True]
    later = _zero_init_layers_that_moved("sigmoid", 200)
    assert [m[0] for m in later] == [True] * 4  # every layer has moved by then
    assert all(m[2] for m in later)  # every unit of a layer is still a copy of the first


def test_modern_networks_lesson_matches_its_presets():
    body = BY_TITLE["Why modern networks forgive their initialization (and where they do not)"]
    # "a few hundred blocks deep": res_doubles overflows at block 258.
    assert "a few hundred blocks deep" in body
    assert 200 <= propagate(PRESETS["res_doubles"].scenario).first_nonfinite_layer < 400
    # "within a factor e": the variance at any block is below e times the input's.
    a = propagate(PRESETS["res_scaled"].scenario).layers["act_std"].to_numpy()
    assert "within a factor e" in body and (a ** 2 < math.e).all()
    # "1 with He weights, but 128 with N(0, 1) weights at width 256": sigma_w² E[relu(u)²] = sigma_w² / 2.
    assert "1 with He weights, but 128 with N(0, 1) weights at width 256" in body
    assert PRESETS["prenorm_std1"].scenario.width == 256 and 256 * 1.0 / 2 == 128
    big = _t("prenorm_std1")["act_std"]
    assert np.diff(big.to_numpy() ** 2).mean() == pytest.approx(128, rel=0.15)
    # "at std 1" through 250 linear layers.
    bn = _t("batchnorm_250")
    assert "250 linear layers at std 1" in body and len(bn) == 250 and np.allclose(bn["act_std"], 1, rtol=1e-3)
