"""Verdicts on synthetic per-layer tables: every kind, NaN / zero / inf columns, depth 1."""

import math

import numpy as np
import pandas as pd
import pytest

from initlab.verdict import KINDS, Verdict, fmt, gradient_verdict, signal_verdict


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


def test_fmt_three_significant_digits():
    assert fmt(16.0271) == "16" and fmt(0.07807) == "0.0781" and fmt(1060) == "1060"
    assert fmt(3.0213e-41) == "3.02e-41" and fmt(1.06e10) == "1.06e10" and fmt(1e-4) == "1e-4"
    assert fmt(0) == "0" and fmt(math.inf) == "inf" and fmt(-math.inf) == "-inf" and fmt(math.nan) == "NaN"


def test_vanishing_gradient_reports_the_factor_per_layer():
    # grad std 1 at the top (layer 250), x0.69 per layer going down: bottom = 0.69^249 ~ 1e-40.
    g = geometric(1.0, 0.69, 250)[::-1]  # index 0 = layer 1 = the smallest
    v = gradient_verdict(table(g))
    assert isinstance(v, Verdict) and v.kind == "vanishing" and v.kind in KINDS
    assert "x0.69 per layer" in v.details[0] and "at layer 250" in v.details[0] and "at layer 1" in v.details[0]


def test_exploding_and_healthy_thresholds_are_three_decades():
    assert gradient_verdict(table(geometric(1.0, 1.6, 50)[::-1])).kind == "exploding"
    assert gradient_verdict(table([2e3, 1.0])).kind == "exploding"
    assert gradient_verdict(table([5e2, 1.0])).kind == "healthy"
    assert gradient_verdict(table([5e-4, 1.0])).kind == "vanishing"
    assert gradient_verdict(table([2e-3, 1.0])).kind == "healthy"


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
