"""Verdicts on synthetic per-layer tables: every kind, NaN / zero / inf columns, depth 1."""

import re

import numpy as np
import pandas as pd
import pytest

from initlab import propagate
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import Scenario
from initlab.signal.verdict import (KINDS, FirstLayer, Verdict, first_layer,
                             gradient_verdict, signal_verdict)


def table(grad, act=None, wgrad=None, **extra) -> pd.DataFrame:
    grad = np.asarray(grad, dtype=float)
    d = len(grad)
    cols = {"layer": np.arange(1, d + 1), "grad_std": grad,
            "weight_grad_norm": np.ones(d) if wgrad is None else np.asarray(wgrad, dtype=float),
            "act_std": np.ones(d) if act is None else np.asarray(act, dtype=float)}
    cols.update({k: np.asarray(v, dtype=float) for k, v in extra.items()})
    return pd.DataFrame(cols)


def geometric(first: float, factor: float, depth: int) -> np.ndarray:
    return first * factor ** np.arange(depth)


def test_vanishing_gradient_reports_the_factor_per_layer():
    # grad std 1 at the top (layer 250), x0.69 per layer going down: bottom = 0.69^249 ~ 1e-40.
    g = geometric(1.0, 0.69, 250)[::-1]  # index 0 = layer 1 = the smallest
    v = gradient_verdict(table(g))
    assert isinstance(v, Verdict) and v.kind == "vanishing" and v.kind in KINDS
    assert "x0.69 per layer" in v.details[0] and "at layer 250" in v.details[0] and "at layer 1" in v.details[0]


def test_exploding_and_healthy_thresholds_are_three_decades():
    assert gradient_verdict(table(geometric(1.0, 1.6, 50)[::-1])).kind == "exploding"
    # One jump at the bottom, the upper half flat (rate 1): the total change alone decides.
    for bottom, kind in ((2e3, "exploding"), (5e2, "healthy"), (5e-4, "vanishing"), (2e-3, "healthy")):
        assert gradient_verdict(table([bottom] + [1.0] * 9)).kind == kind, bottom
        assert signal_verdict(table(np.ones(10), act=[1.0] + [bottom] * 9)).kind == kind, bottom


def test_gradient_exactly_zero_at_the_bottom_is_vanishing():
    g = np.r_[np.zeros(5), geometric(1e-3, 10.0, 4)]  # layers 1-5 exactly 0, then 1e-3 .. 1
    v = gradient_verdict(table(g, wgrad=np.r_[np.zeros(5), np.ones(4)]))
    assert v.kind == "vanishing" and "layer 5" in v.headline
    assert any("exactly 0 in 5 of 9 layers" in d for d in v.details)


def test_nan_or_inf_gradient_is_overflow():
    g = np.r_[np.full(3, np.nan), 1.0, 1.0]
    assert gradient_verdict(table(g)).kind == "overflow"
    v = gradient_verdict(table(np.ones(4), wgrad=[1, 1, np.inf, 1]))
    assert v.kind == "overflow" and "layer 3" in v.headline
    assert gradient_verdict(table(np.ones(3), grad_nonfinite=[0, 0.5, 0])).kind == "overflow"


def test_zero_gradient_below_the_top_is_dead():
    v = gradient_verdict(table([0, 0, 0, 0.25], wgrad=[0, 0, 0, 2.78]))
    assert v.kind == "dead" and "2.78" in v.headline and "3 layers below" in v.headline
    v = gradient_verdict(table([0, 0, 0], wgrad=[0, 0, 0]))
    assert v.kind == "dead" and "top one included" in v.headline


def test_depth_one():
    assert gradient_verdict(table([0.5])).kind == "healthy"
    assert gradient_verdict(table([0.0], wgrad=[0.0])).kind == "dead"
    assert gradient_verdict(table([np.nan])).kind == "overflow"
    assert signal_verdict(table([1.0], act=[0.7])).kind == "healthy"
    assert signal_verdict(table([1.0], act=[np.inf])).kind == "overflow"


def test_signal_overflow_names_the_layer():
    a = np.r_[geometric(16.0, 16.0, 31), np.nan, np.nan]
    v = signal_verdict(table(np.ones(33), act=a, frac_nonfinite=np.r_[np.zeros(31), 1, 1]))
    assert v.kind == "overflow" and "overflowed to inf at layer 32" in v.headline
    assert any("x16 per layer" in d for d in v.details)


def test_signal_underflow_to_exactly_zero():
    a = np.r_[geometric(0.16, 0.16, 5), np.zeros(3)]
    v = signal_verdict(table(np.ones(8), act=a, act_mean=np.zeros(8), act_min=np.r_[-a[:5], np.zeros(3)],
                             act_max=np.r_[a[:5], np.zeros(3)]))
    assert v.kind == "vanishing" and any("underflowed to exactly 0 at layer 6" in d for d in v.details)
    assert any("x0.16 per layer" in d for d in v.details)


def test_signal_std_reading_zero_before_the_values_do():
    # float32 squares of ~1e-24 underflow: the std reads 0 while min < max.
    v = signal_verdict(table(np.ones(3), act=[1e-20, 0, 0], act_mean=[0, 0, 0], act_min=[-1e-20, -1e-24, 0],
                             act_max=[1e-20, 1e-24, 0]))
    assert v.kind == "vanishing"
    assert any("reads 0" in d for d in v.details) and any("exactly 0 at layer 3" in d for d in v.details)


def test_signal_dead_zero_init_and_dead_relus():
    v = signal_verdict(table(np.zeros(4), act=np.zeros(4), act_mean=np.full(4, 0.5), act_min=np.full(4, 0.5),
                             act_max=np.full(4, 0.5), unit_spread=np.zeros(4)))
    assert v.kind == "dead" and any("0.5" in d for d in v.details)
    v = signal_verdict(table(np.ones(3), act=[0.5, 0.0, 0.0], frac_dead_units=[0.2, 1.0, 1.0]))
    assert v.kind == "dead" and "layer 2" in v.headline


def test_signal_exploding_healthy_saturation_and_dead_units_are_mentioned():
    assert signal_verdict(table(np.ones(50), act=geometric(1.6, 1.6, 50))).kind == "exploding"
    v = signal_verdict(table(np.ones(10), act=np.full(10, 0.46), frac_saturated=np.full(10, 0.73),
                             frac_dead_units=np.r_[np.zeros(9), 0.4]))
    assert v.kind == "healthy" and "73%" in v.headline
    assert any("73% of the last layer" in d for d in v.details) and any("40% of the units of layer 10" in d
                                                                        for d in v.details)
    v = signal_verdict(table(np.ones(3), act=[1, 0.5, 0.4], frac_saturated=[0.99, 0.1, 0.0]))
    assert v.kind == "healthy" and any("99% of layer 1" in d for d in v.details)


def test_missing_columns_and_empty_tables_raise():
    with pytest.raises(ValueError, match="grad_std"):
        gradient_verdict(pd.DataFrame({"layer": [1], "act_std": [1.0]}))
    with pytest.raises(ValueError, match="empty"):
        signal_verdict(table([1.0]).iloc[:0])


def test_rows_out_of_order_are_sorted_by_layer():
    t = table(geometric(1.0, 0.5, 20)[::-1])
    assert gradient_verdict(t.iloc[::-1]) == gradient_verdict(t)


# ---------------------------------------------------------------------------------------------------
# Rates per layer: a stack shrinking x0.57 per layer vanishes even over 10 layers.


@pytest.mark.parametrize("rate, kind", [(0.78, "vanishing"), (0.81, "healthy"), (1.28, "exploding"), (1.23, "healthy")])
def test_the_rate_limit_is_1e3_over_30_layers(rate: float, kind: str) -> None:
    """1e3 ** (1/30) = 1.259 (and 1/1.259 = 0.794) per layer, judged on a steady rate over 20 layers
    whose total change (0.78**19 = 0.009, 1.28**19 = 109) is within the 1e3 total rule, so only the
    rate decides: just beyond the limit is flagged, just inside is not."""
    assert signal_verdict(table(np.ones(20), act=geometric(1.0, rate, 20))).kind == kind


def test_a_steep_rate_with_less_than_a_tenfold_change_stays_healthy() -> None:
    # x0.5 per layer over 3 layers: a factor 0.25, not the decade RATE_MIN_CHANGE asks for.
    assert signal_verdict(table(np.ones(3), act=geometric(1.0, 0.5, 3))).kind == "healthy"
    # ... and over 5 layers, a factor 0.0625: vanishing.
    assert signal_verdict(table(np.ones(5), act=geometric(1.0, 0.5, 5))).kind == "vanishing"


def test_a_steady_rate_beyond_the_limit_vanishes_or_explodes_over_10_layers():
    # x0.57 per layer over 9 steps: a factor 0.0064, within 1000, but 1000-fold every 12 layers.
    v = signal_verdict(table(np.ones(10), act=geometric(0.46, 0.57, 10)))
    assert v.kind == "vanishing" and "x0.57 per layer" in v.headline and "every 12 layers" in v.headline
    g = gradient_verdict(table(geometric(1.0, 0.57, 10)[::-1]))
    assert g.kind == "vanishing" and "x0.57 per layer" in g.headline
    # x1.35 per layer over 11 steps: a factor 27.
    assert signal_verdict(table(np.ones(12), act=geometric(1.0, 1.35, 12))).kind == "exploding"
    assert gradient_verdict(table(geometric(1.0, 1.35, 12)[::-1])).kind == "exploding"


def test_rates_inside_the_limit_stay_healthy_and_the_total_rule_still_applies():
    # He + ReLU (x0.97 per layer over 50 layers: a factor 0.22) and Xavier + tanh (x0.977 over 100: 0.1).
    assert signal_verdict(table(np.ones(50), act=geometric(0.82, 0.97, 50))).kind == "healthy"
    assert signal_verdict(table(np.ones(100), act=geometric(0.63, 0.977, 100))).kind == "healthy"
    assert gradient_verdict(table(geometric(1.0, 0.977, 100)[::-1])).kind == "healthy"
    # x0.9 per layer is inside the rate limit, but over 100 layers it is a factor 2.9e-5: the total rule.
    assert signal_verdict(table(np.ones(100), act=geometric(1.0, 0.9, 100))).kind == "vanishing"


def test_first_layer_transients_and_short_stacks_are_not_called_vanishing():
    # tanh's first layers shrink x0.78, x0.84 on their way to a slow algebraic decay (measured, Xavier).
    assert signal_verdict(table(np.ones(3), act=[0.626, 0.485, 0.407])).kind == "healthy"
    # Unscaled inputs inflate layer 1's pre-activations alone (raw_inputs: 132, then about 1 and a slow decay).
    pre = [132, 1.04, 0.62, 0.49, 0.42, 0.35, 0.32, 0.29, 0.27, 0.25]
    assert signal_verdict(table(np.ones(10), act=pre)).kind == "healthy"
    # x0.7 per layer over 3 layers is a factor 0.49: not yet a decade, but the verdict says what more would do.
    v = signal_verdict(table(np.ones(3), act=geometric(1.0, 0.7, 3)))
    assert v.kind == "healthy" and any("a deeper stack would vanish" in d and "every 19 layers" in d
                                       for d in v.details)


@pytest.mark.parametrize("s", [PRESETS["xavier_range"].scenario,  # xavier_heuristic + tanh, depth 10
                               Scenario(init="random_normal", activation="relu", depth=10, width=256)],  # stddev 0.05
                         ids=["xavier_heuristic_tanh", "relu_normal_0.05"])
def test_the_issue_examples_vanish_by_rate(s):
    res = propagate(s)
    # sigma_w sqrt(n) = 1/sqrt(3) (tanh near 0 is linear) and 0.05 * 16 * sqrt(1/2) = 0.57 (ReLU halves the
    # variance): x0.57 per layer, a factor ~0.006 over 10 layers.
    sv, gv = signal_verdict(res.layers), gradient_verdict(res.layers)
    assert sv.kind == "vanishing" and gv.kind == "vanishing"
    assert "per layer" in sv.headline and "per layer" in gv.headline


# ---------------------------------------------------------------------------------------------------
# No sentence compares a value with itself.

_NUM = r"-?\d[\d.]*(?:e-?\d+)?"
_SELF = [re.compile(rf"(?<![\w.])({_NUM}) at layer \d+ to \1 at layer"),  # "4.99e-6 at layer 1 to 4.99e-6 at layer"
         re.compile(r"from layer (\d+) to layer \1\b"), re.compile(r"at layer (\d+) to .* at layer \1\b"),
         re.compile(r"factor 1(?![\d.e])"), re.compile(r"x1 per layer")]


def self_comparisons(v: Verdict) -> list[str]:
    return [s for s in (v.headline, *v.details) for pat in _SELF if pat.search(s)]


def test_no_sentence_compares_a_value_with_itself_in_synthetic_tables():
    for v in (signal_verdict(table([1.0], act=[4.99e-6])), gradient_verdict(table([0.5])),
              signal_verdict(table(np.ones(250), act=np.full(250, 0.995))),
              gradient_verdict(table(np.full(250, 0.996))),
              signal_verdict(table(np.ones(250), act=0.995 * (1 + 1e-6 * np.arange(250)))),
              signal_verdict(table(np.ones(10), act=geometric(0.818, 1.00499, 10)))):
        assert not self_comparisons(v), v
    v = signal_verdict(table(np.ones(250), act=np.full(250, 0.995)))
    assert "stays at 0.995 from layer 1 to the top" in v.headline and "stays at" not in " ".join(v.details)
    assert "is 4.99e-6 at layer 1" in signal_verdict(table([1.0], act=[4.99e-6])).details[0]
    # Where even 4 digits print 1, the power of ten the change stays below (never "x1").
    v = signal_verdict(table(np.ones(10), act=geometric(1.0, 1 + 2.5e-7, 10)))
    assert "changes by less than 1e-4% per layer on average" in " ".join(v.details)
    assert "does not change at all" in " ".join(signal_verdict(table(np.ones(4), act=[1.0, 0.5, 0.5, 0.5])).details)
    # A factor that prints as 1 at 3 digits gets a 4th: x1.005, not x1.
    assert "x1.005 per layer" in signal_verdict(table(np.ones(10), act=geometric(0.818, 1.00499, 10))).details[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_no_sentence_compares_a_value_with_itself_in_any_preset(name):
    res = propagate(PRESETS[name].scenario)
    one = propagate(PRESETS[name].scenario.replace(depth=1))
    for r in (res, one):
        for v in (signal_verdict(r.layers, "act", first=first_layer(r)), signal_verdict(r.layers, "pre"),
                  gradient_verdict(r.layers)):
            assert not self_comparisons(v), (name, v)


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_no_detail_repeats_its_headline(name):
    """A verdict box is a headline and bullets that add to it. A bullet that brings no number and at most
    two words the headline does not have only repeats it (std1_explodes: "The activations overflowed to
    inf at layer 32; from there on the values are inf or NaN." under "The forward signal overflowed to inf
    at layer 32: from there on the activations are inf or NaN.")."""
    import re

    res = propagate(PRESETS[name].scenario)
    for v in (signal_verdict(res.layers, "act", first=first_layer(res)), signal_verdict(res.layers, "pre"),
              gradient_verdict(res.layers)):
        head = _words(v.headline)
        for d in v.details:
            new = _words(d) - head
            numbers = {w for w in new if re.fullmatch(r"[0-9]+", w)}
            assert numbers or len(new) > 2, (name, v.headline, d)


# ---------------------------------------------------------------------------------------------------
# Saturation is attributed to its cause.


def _layer1_note(name_or_scenario) -> str:
    s = PRESETS[name_or_scenario].scenario if isinstance(name_or_scenario, str) else name_or_scenario
    res = propagate(s)
    v = signal_verdict(res.layers, first=first_layer(res))
    notes = [d for d in v.details if "of layer 1's outputs are saturated" in d]
    assert len(notes) == 1, v
    return notes[0]


def test_saturation_from_weights_too_large():
    # sigmoid_saturation: N(0, 1) weights, standardised inputs: std x sqrt(256) = 16.
    note = _layer1_note("sigmoid_saturation")
    assert "weights are too large for 256 inputs" in note and "= 16" in note and "std 16" in note
    assert "inputs are not scaled" not in note and "inputs are too large" not in note


def test_saturation_from_all_positive_weights():
    # small_uniform: U[0, 0.1] weights, mean 0.05, minimum >= 0: 256 x 0.5 x 0.05 = 6.4 of shared mean.
    note = _layer1_note("small_uniform")
    assert "weights are all positive (mean 0.05" in note and "mean 6.42" in note
    assert "inputs are not scaled" not in note


def test_saturation_from_unscaled_inputs():
    # raw_inputs: glorot weights (std x sqrt(256) = 1) on U[0, 255] pixels (mean 127.5, std 73.6).
    note = _layer1_note("raw_inputs")
    assert "the inputs are not scaled (mean 128, std 73.4)" in note and "std 132" in note
    assert "weights are too large" not in note


def test_saturation_from_large_biases_and_off_centre_weights():
    note = _layer1_note(Scenario(activation="tanh", bias="constant", bias_value=5.0, depth=3, width=64))
    assert "biases are large (mean 5" in note
    # N(0.4, 0.15): 64 x 0.4^2 of shared mean against 64 x 0.15^2 of spread; about 0.4% of the draws are < 0.
    s = Scenario(init="random_normal", mean=0.4, stddev=0.15, activation="tanh", depth=3, width=64)
    note = _layer1_note(s)
    assert "weights are not centred on 0 (mean 0.4" in note and propagate(s).first_weights.min < 0


def test_saturation_cause_rule_and_no_cause_without_the_first_layer():
    base = dict(fan_in=256, input_mean=0.0, input_std=1.0, weight_mean=0.0, weight_std=1 / 16, weight_min=-0.2)
    assert FirstLayer(**{**base, "weight_std": 1.0}).cause() == "weights"
    assert FirstLayer(**{**base, "input_mean": 127.5, "input_std": 73.6}).cause() == "inputs"
    assert FirstLayer(**{**base, "weight_mean": 0.05, "weight_std": 0.029, "input_mean": 0.5,
                         "input_std": 0.29}).cause() == "mean"
    assert FirstLayer(**{**base, "bias_mean": 5.0}).cause() == "bias"
    res = propagate(PRESETS["raw_inputs"].scenario)
    v = signal_verdict(res.layers)  # no FirstLayer: the numbers, no guessed cause
    note = [d for d in v.details if "of layer 1's outputs are saturated" in d][0]
    assert "because" not in note and "std 132" in note


# ---------------------------------------------------------------------------------------------------
# The verdict follows the act / pre toggle.


def test_which_pre_judges_the_pre_activation_columns():
    t = table(np.ones(10), act=np.full(10, 0.5), pre_std=geometric(1.0, 0.5, 10), pre_mean=np.zeros(10))
    act, pre = signal_verdict(t, "act"), signal_verdict(t, "pre")
    assert act.kind == "healthy" and "activations" in act.headline and "pre-activations" not in act.headline
    assert pre.kind == "vanishing" and "pre-activations" in pre.headline
    assert "The std of the pre-activations falls from 1 at layer 1" in pre.details[0]
    with pytest.raises(ValueError, match="which"):
        signal_verdict(t, "z")


def test_which_pre_on_real_results():
    res = propagate(PRESETS["sigmoid_saturation"].scenario)
    pre = signal_verdict(res.layers, "pre")
    assert "pre-activations" in pre.headline and "from 16 at layer 1" in pre.details[0]  # pre std 16, not act 0.474
    # Zero init: every pre-activation is 0, every activation 0.5.
    z = propagate(PRESETS["zero_init"].scenario).layers
    assert "(every value 0)" in signal_verdict(z, "pre").details[0]
    assert "(every value 0.5)" in signal_verdict(z, "act").details[0]


# ---------------------------------------------------------------------------------------------------
# Outputs that no longer depend on the input.


def test_a_kept_std_without_input_dependence_is_vanishing():
    d = 20
    a = np.r_[0.34, 0.14, 0.06, 0.03, np.full(d - 4, 0.0224)]
    ex = a * np.r_[0.97, 0.74, 0.6, 0.48, geometric(0.22, 0.41, d - 4)]  # rel < 1% from layer 9 on
    v = signal_verdict(table(np.ones(d), act=a, act_example_std=ex))
    assert v.kind == "vanishing" and "hardly depend on the input" in v.headline and "from layer 9 on" in v.headline
    assert any("From layer 9 on the activations hardly depend on the input" in s for s in v.details)
    # Without the column, or with a spread above 1%, nothing is said about it.
    assert signal_verdict(table(np.ones(d), act=a)).kind == "healthy"
    assert signal_verdict(table(np.ones(d), act=a, act_example_std=0.5 * a)).kind == "healthy"
