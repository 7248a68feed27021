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
