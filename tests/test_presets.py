"""Every preset's claim, checked against the numbers propagate computes (tolerances derived below)."""

import math
import re

import numpy as np
import pytest

from initlab import initializers, presets, propagate
from initlab.presets import PRESETS
from initlab.scenario import check_budget, estimate_macs
from initlab.verdict import gradient_verdict, signal_verdict

_CACHE: dict = {}


def run(name: str):
    """propagate once per preset per test session (the 250-layer ones cost ~0.5 s each)."""
    if name not in _CACHE:
        _CACHE[name] = propagate(PRESETS[name].scenario)
    return _CACHE[name]


def lay(name: str):
    return run(name).layers.set_index("layer")


def test_at_least_a_dozen_presets_with_url_safe_names_and_known_tabs():
    assert len(PRESETS) >= 12
    for key, p in PRESETS.items():
        assert key == p.name and re.fullmatch(r"[a-z0-9_]{1,32}", key)
        assert p.tab in presets.TABS and p.title and 2 <= p.text.count(". ") + 1 <= 4
    assert {"signal", "gradients", "ranges", "compare"} <= {p.tab for p in PRESETS.values()}


@pytest.mark.parametrize("name", list(PRESETS))
def test_scenario_validates_and_fits_a_small_budget(name):
    s = PRESETS[name].scenario
    s.validate()
    check_budget(s)
    # 100 x 256 x 256^2 = 1.7e9 multiply-adds forward, 3x that with the backward pass, measured ~0.3 s on
    # 2 cores (float32 BLAS at ~20 GFLOP/s): the cap keeps every preset well under 2 s.
    assert estimate_macs(s) <= 1.7e9


def test_get_and_unknown_name():
    assert presets.get("he_relu") is PRESETS["he_relu"]
    with pytest.raises(ValueError, match="nope.*zero_init.*he_relu"):
        presets.get("nope")


def test_zero_init_never_breaks_symmetry():
    t = lay("zero_init")
    assert (t["unit_spread"] == 0).all() and (t["act_mean"] == 0.5).all()  # sigmoid(0) = 0.5 everywhere
    assert (t["weight_grad_norm"].iloc[:-1] == 0).all() and (t["grad_std"].iloc[:-1] == 0).all()
    assert t["weight_grad_norm"].iloc[-1] == pytest.approx(2.78, rel=5e-3)  # the number the text quotes


def test_standard_normal_explodes_to_inf_near_layer_32():
    res = run("std1_explodes")
    # std grows x sqrt(256) = 16 per layer; the largest of 64*256 Gaussians is ~4.5 sd, float32 max 3.4e38:
    # first inf where 4.5 * 16^l > 3.4e38, l = 31.4; the log-std random walk moves this by < 1.5 layers.
    predicted = math.log(3.4e38 / 4.5) / math.log(16)
    assert abs(res.first_nonfinite_layer - predicted) <= 1.5 and res.first_nonfinite_layer == 32
    t = res.layers.set_index("layer")
    assert t.loc[1, "act_std"] == pytest.approx(16, rel=0.02)  # sqrt(256) * 1 * std(x) = 16 (+-1/sqrt(16384))
    assert t.loc[2, "act_std"] == pytest.approx(256, rel=0.04)
    assert t.loc[250, "frac_nonfinite"] == 1.0
    assert gradient_verdict(res.layers).kind == "overflow" and signal_verdict(res.layers).kind == "overflow"


def test_small_normal_vanishes_to_exactly_zero():
    t = lay("std001_vanishes")
    # x0.16 per layer: after 10 layers 0.16^10 = 1.1e-8 (log-walk: +-0.3 decades at l = 10).
    assert math.log10(t.loc[10, "act_std"]) == pytest.approx(10 * math.log10(0.16), abs=0.3)
    # Every value is exactly 0 where 4.5 * 0.16^l drops below float32's smallest subnormal 1.4e-45 and rounds
    # to 0: l = log(1.4e-45 / 4.5) / log(0.16) = 57.2, within the same +-1.5 layers of random walk.
    zero = t.index[(t["act_min"] == 0) & (t["act_max"] == 0)]
    predicted = math.log(1.4e-45 / 4.5) / math.log(0.16)
    assert abs(zero[0] - predicted) <= 1.5 and zero[0] == 57 and list(zero) == list(range(57, 251))
    # h_{l-1} * delta_l ~ 0.16^249 for every l: every weight gradient underflows in float32.
    assert (t["weight_grad_norm"] == 0).all()
    res = run("std001_vanishes")
    assert gradient_verdict(res.layers).kind == "vanishing" and signal_verdict(res.layers).kind == "vanishing"


def test_std01_gradient_explodes_without_overflow():
    t = lay("std01_grows")
    # Backward, each layer multiplies by W^T: x sqrt(256) * 0.1 = 1.6; over 49 layers 1.6^49 = 1e10.
    # Log-walk sd of ln(std) ~ sqrt(49/(2*256)) = 0.31 -> 3 sd = 0.4 decades.
    assert math.log10(t.loc[1, "grad_std"] / t.loc[50, "grad_std"]) == pytest.approx(49 * math.log10(1.6), abs=0.4)
    assert t.loc[1, "grad_std"] == pytest.approx(1.06e10, rel=5e-3)  # the text's number
    assert gradient_verdict(run("std01_grows").layers).kind == "exploding"


def test_small_uniform_shifts_the_mean_and_saturates():
    t = lay("small_uniform")
    # E[z] = 256 inputs * E[x] * E[w] = 256 * 0.5 * 0.05 = 6.4 in layer 1; the batch mean of 256*256 values
    # has sd ~ 0.34/sqrt(256) (per-example sums share the weights), so 0.1 is plenty.
    assert t.loc[1, "pre_mean"] == pytest.approx(6.4, abs=0.1)
    # From layer 2 the inputs are tanh(6.4) ~ 1: E[z] = 256 * 1 * 0.05 = 12.8.
    assert np.allclose(t["pre_mean"].iloc[1:], 12.8, atol=0.15)
    assert (t["frac_saturated"] == 1.0).all()
    assert (t.loc[2:, "act_min"] == 1.0).all() and (t.loc[2:, "act_max"] == 1.0).all()  # tanh(12.8) == 1 in float32
    assert (t["grad_std"] == 0).all() and (t["weight_grad_norm"] == 0).all()
    res = run("small_uniform")
    assert gradient_verdict(res.layers).kind == "dead" and signal_verdict(res.layers).kind == "vanishing"


def test_xavier_tanh_stays_in_a_band():
    t = lay("xavier_tanh")
    # Mean field (see test_network): tanh decays algebraically ~ 1/sqrt(2l), never exponentially.
    assert t.loc[1, "act_std"] == pytest.approx(0.63, abs=0.01) and t.loc[100, "act_std"] == pytest.approx(0.066, abs=0.003)
    assert t["act_std"].min() > 0.05 and t.loc[1, "frac_saturated"] < 0.08 and t.loc[2:, "frac_saturated"].max() < 0.005
    assert t.loc[1, "grad_std"] / t.loc[100, "grad_std"] == pytest.approx(0.084, abs=0.002)
    res = run("xavier_tanh")
    assert gradient_verdict(res.layers).kind == "healthy" and signal_verdict(res.layers).kind == "healthy"


def test_xavier_relu_halves_the_variance_per_layer():
    t = lay("xavier_relu")
    # Var z_{l+1} = 256 * (1/256) * Var(z_l)/2: std_100 / std_1 = 2^-49.5; log-walk sd of ln q after 100
    # layers ~ sqrt(5*100/256) = 1.4 -> ln(std) within 2.5 sd * 1.4 / 2 = 1.75 (as in test_network).
    assert math.log(t.loc[100, "pre_std"] / t.loc[1, "pre_std"]) == pytest.approx(-49.5 * math.log(2), abs=1.75)
    assert t.loc[100, "act_std"] == pytest.approx(3.6e-16, rel=0.02)
    res = run("xavier_relu")
    assert gradient_verdict(res.layers).kind == "vanishing" and signal_verdict(res.layers).kind == "vanishing"


def test_he_relu_is_stable():
    t = lay("he_relu")
    # Var z_1 = 256 * (2/256) * 1 = 2; then preserved in expectation. Log-walk sd of ln q after 50 layers
    # ~ sqrt(5*50/256) = 1.0, so ln(std) within 3.5 sd * 1.0 / 2 = 1.75 of ln sqrt(2) over the whole path.
    assert (np.abs(np.log(t["pre_std"] / math.sqrt(2))) < 1.75).all()
    assert t.loc[1, "pre_std"] == pytest.approx(1.42, abs=0.01) and t.loc[50, "pre_std"] == pytest.approx(0.38, abs=0.01)
    assert t.loc[1, "grad_std"] / t.loc[50, "grad_std"] == pytest.approx(0.68, abs=0.01)
    res = run("he_relu")
    assert gradient_verdict(res.layers).kind == "healthy" and signal_verdict(res.layers).kind == "healthy"


def test_sigmoid_with_large_weights_saturates():
    t = lay("sigmoid_saturation")
    # z ~ N(0, 256 E[h^2]) with E[h^2] >= 1/4: sd >= 8, P(|z| > 3.64) >= 0.65; layer 1: sd 16, P = 0.82.
    assert t.loc[1, "pre_std"] == pytest.approx(16, rel=0.02) and t.loc[1, "frac_saturated"] == pytest.approx(0.82, abs=0.01)
    assert (t.loc[2:, "frac_saturated"] > 0.6).all() and t.loc[2:, "frac_saturated"].min() > 0.69
    assert t.loc[10, "grad_std"] == pytest.approx(0.078, abs=0.001)
    sv = signal_verdict(run("sigmoid_saturation").layers)
    assert sv.kind == "healthy" and "saturated" in sv.headline


def test_orthogonal_linear_preserves_the_std():
    t = lay("orthogonal")
    # ||x Q|| = ||x|| exactly, so the root mean square sqrt(mean^2 + std^2) is the invariant: float32 rounding
    # (eps 6e-8, errors of 250 products adding like a random walk, relative ~ sqrt(250) * 6e-8 / sqrt(128 * 128)
    # on an average) leaves it within 1e-6; measured 9e-8.
    rms = np.hypot(t["act_mean"], t["act_std"]).to_numpy()
    assert np.abs(rms / rms[0] - 1).max() < 1e-6
    # The std alone moves with the batch mean: std^2 = rms^2 - mean^2, a relative change of ~ mean^2 / (2 rms^2).
    # The mean of 128 x 128 values of a rotated N(0, 1) batch wanders with sd ~ 1/128 per layer (measured
    # max |mean| 0.026 over 250 layers, i.e. 3.3e-4); 1e-3 allows |mean| up to 0.045 (5.8 sd). Same in float64.
    a = t["act_std"].to_numpy()
    assert np.abs(a / a[0] - 1).max() < 1e-3
    g = np.hypot(t["grad_mean"], t["grad_std"]).to_numpy()
    assert np.abs(g / g[-1] - 1).max() < 1e-6  # backward: W^T is orthogonal too
    a64 = propagate(PRESETS["orthogonal"].scenario.replace(dtype="float64", depth=60)).layers
    rms64 = np.hypot(a64["act_mean"], a64["act_std"]).to_numpy()
    assert np.abs(rms64 / rms64[0] - 1).max() < 1e-12 and np.abs(a64["act_std"] / a64["act_std"][0] - 1).max() < 1e-3
    assert gradient_verdict(t.reset_index()).kind == "healthy" and signal_verdict(t.reset_index()).kind == "healthy"


def test_unscaled_inputs_saturate_layer_one():
    t = lay("raw_inputs")
    # x ~ U[0, 255]: E[x^2] = 255^2/3, z sd = sqrt(256 * (1/256) * 21675) = 147 (measured 132: the mean part
    # is shared); P(|z| > 1.82) ~ 0.99.
    assert t.loc[1, "frac_saturated"] > 0.9 and t.loc[1, "pre_std"] == pytest.approx(132, rel=0.01)
    assert t.loc[2, "frac_saturated"] == pytest.approx(0.079, abs=0.005)


def test_keras_default_linear_keeps_the_std():
    t = lay("keras_default")
    # Var(w) = 2/(256+256): variance preserved in expectation; log-walk sd of ln(std) after 100 layers
    # ~ sqrt(100/(2*256)) = 0.44 -> the measured band [0.887, 1.05] quoted in the text.
    assert 0.885 < t["act_std"].min() < 0.89 and 1.04 < t["act_std"].max() < 1.05
    assert gradient_verdict(run("keras_default").layers).kind == "healthy"


def test_pytorch_default_decays_sixfold_in_variance():
    t = lay("pytorch_default")
    # Var z_1 = 256 * 1/(3*256) = 1/3; relu std of N(0, 1/3) = sqrt(1/3) * sqrt(1/2 - 1/(2 pi)) = 0.337.
    assert t.loc[1, "act_std"] == pytest.approx(math.sqrt(1 / 3) * math.sqrt(0.5 - 0.5 / math.pi), rel=0.02)
    # Var z_{l+1} = 256 * 1/(3*256) * Var z_l / 2 = Var z_l / 6: 19 layers -> 6^-9.5; log-walk +-0.6 in ln.
    assert math.log(t.loc[20, "act_std"] / t.loc[1, "act_std"]) == pytest.approx(-9.5 * math.log(6), abs=1.2)
    assert t.loc[20, "act_std"] == pytest.approx(1.2e-8, rel=0.02)
    res = run("pytorch_default")
    assert gradient_verdict(res.layers).kind == "vanishing" and signal_verdict(res.layers).kind == "vanishing"


def test_range_presets_quote_the_initializer_formulas():
    x = initializers.get(PRESETS["xavier_range"].scenario.init)
    assert x.limits(1, 1) == pytest.approx((-1, 1)) and x.limits(100, 100) == pytest.approx((-0.1, 0.1))
    he = initializers.get(PRESETS["he_range"].scenario.init)
    assert he.std(1, 1) == pytest.approx(1.414, abs=1e-3) and he.std(100, 100) == pytest.approx(0.1414, abs=1e-4)
    # Keras he_normal: N(0, s/0.8796) redrawn beyond 2 of those sd = 2.27 actual sd; share beyond 1 actual sd:
    # (P(|z| > 0.8796) - P(|z| > 2)) / P(|z| < 2) = 0.349.
    w = he((400, 400), np.random.default_rng(0))
    share = np.mean(np.abs(w) > math.sqrt(2 / 400))
    assert share == pytest.approx(0.349, abs=0.01)  # 160000 draws: sd of the share 0.0012
    assert he.limits(400, 400)[1] / he.std(400, 400) == pytest.approx(2 / 0.8796, rel=1e-3)
    assert "35%" in PRESETS["he_range"].text and "2.27" in PRESETS["he_range"].text


def test_every_text_quotes_a_number():
    for p in PRESETS.values():
        assert re.search(r"\d", p.text), p.name
