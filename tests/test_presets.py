"""Every preset's claim, checked against the numbers propagate computes (tolerances derived below).

Each preset test lists every number its text quotes (``quotes``): the number as printed, and the value
recomputed from the core that must print the same (``fmt``, 3 significant digits; percentages with the
text's decimals), or ``True`` where the test body asserts it (bounds, layer numbers, formula constants).
The list must hold exactly the numbers of the text, so a new number cannot go unchecked. Numbers taken
from a verdict are also asserted to appear in that verdict's sentences, the page element that shows them.
"""

import math
import re

import numpy as np
import pytest

from initlab import propagate
from initlab.weights import initializers
from initlab.teaching import presets
from initlab.weights.activations import get as activation
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import check_budget, estimate_macs
from initlab.signal.verdict import EXAMPLE_SPREAD_LIMIT, ROUNDING_FLOOR, first_layer, fmt, gradient_verdict, signal_verdict

_CACHE: dict = {}
# A number as a text writes it: "0.818", "x0.974", "2.23e37", "6.8%" (not the digits inside "float32").
NUMBER = re.compile(r"(?<![\w.])x?\d+(?:\.\d+)?(?:e-?\d+)?%?")


def run(name: str):
    """propagate once per preset per test session (the 250-layer ones cost ~0.5 s each)."""
    if name not in _CACHE:
        _CACHE[name] = propagate(PRESETS[name].scenario)
    return _CACHE[name]


def lay(name: str):
    return run(name).layers.set_index("layer")


def said(v) -> str:
    """Everything a verdict box shows."""
    return " ".join((v.headline, *v.details))


def quotes(name: str, expected: dict) -> None:
    """The text of preset ``name`` quotes exactly the numbers in ``expected``, and each prints as recomputed."""
    text = PRESETS[name].text
    found = set(NUMBER.findall(text))
    assert found == set(expected), (name, sorted(found - set(expected)), sorted(set(expected) - found))
    for token, value in expected.items():
        if value is True:  # asserted in the test body
            continue
        if token.endswith("%"):
            decimals = len(token[:-1].partition(".")[2])
            assert f"{100 * value:.{decimals}f}%" == token, (name, token, value)
        elif token.startswith("x"):
            assert "x" + fmt(value) == token, (name, token, value)
        else:
            assert fmt(value) == token, (name, token, value)


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


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.tab != "ranges" and n != "edge_of_chaos"])
def test_measured_numbers_are_said_to_be_for_seed_0(name):
    # Every text quoting a measured number says which seed it is for (formula-only texts need not: the
    # range presets and edge_of_chaos, whose numbers are mean-field theory).
    assert PRESETS[name].scenario.seed == 0
    if name != "zero_init":  # zero init draws nothing: its numbers do not depend on a seed
        # A Training preset's numbers are medians over restarts: it names every seed they come from.
        p = PRESETS[name]
        tr = p.views.get("train")
        said = ("seed 0" if p.tab != "training" else f"seed {tr.seed}" if tr.restarts == 1  # one run: its seed
                else f"seeds 0 to {tr.restarts - 1}")
        assert said in p.text or (p.tab == "training" and "seed 0 and the" in p.text), (name, said)


def test_zero_init_never_breaks_symmetry():
    res = run("zero_init")
    t = res.layers.set_index("layer")
    assert (t["unit_spread"] == 0).all() and (t["act_mean"] == 0.5).all()  # sigmoid(0) = 0.5 everywhere
    assert (t["weight_grad_norm"].iloc[:-1] == 0).all() and (t["grad_std"].iloc[:-1] == 0).all()
    gv = gradient_verdict(res.layers)
    assert gv.kind == "dead" and "2.78" in gv.headline and "the 9 layers below get exactly 0" in gv.headline
    quotes("zero_init", {"0": True, "2.78": t["weight_grad_norm"].iloc[-1], "9": len(t) - 1})


def test_standard_normal_explodes_to_inf_near_layer_32():
    res = run("std1_explodes")
    # std grows x sqrt(256) = 16 per layer; the largest of 64*256 Gaussians is ~4.5 sd, float32 max 3.4e38:
    # first inf where 4.5 * 16^l > 3.4e38, l = 31.4; the log-std random walk moves this by < 1.5 layers.
    predicted = math.log(3.4e38 / 4.5) / math.log(16)
    assert abs(res.first_nonfinite_layer - predicted) <= 1.5 and res.first_nonfinite_layer == 32
    t = res.layers.set_index("layer")
    assert t.loc[1, "act_std"] == pytest.approx(16, rel=0.02)  # sqrt(256) * 1 * std(x) = 16 (+-1/sqrt(16384))
    assert t.loc[250, "frac_nonfinite"] == 1.0
    sv = signal_verdict(res.layers)
    assert gradient_verdict(res.layers).kind == "overflow" and sv.kind == "overflow"
    assert "from 16 at layer 1 to 2.23e37 at layer 31" in said(sv) and "inf at layer 32" in sv.headline
    s = PRESETS["std1_explodes"].scenario
    quotes("std1_explodes", {"0": True, "1": s.stddev, "256": s.width, "16": math.sqrt(s.width) * s.stddev,
                             "2.23e37": t.loc[31, "act_std"], "31": res.first_nonfinite_layer - 1,
                             "3.4e38": float(np.finfo(np.float32).max), "32": res.first_nonfinite_layer})


def test_small_normal_vanishes_to_exactly_zero():
    res = run("std001_vanishes")
    t = res.layers.set_index("layer")
    # x0.16 per layer: after 10 layers 0.16^10 = 1.1e-8 (log-walk: +-0.3 decades at l = 10).
    assert math.log10(t.loc[10, "act_std"]) == pytest.approx(10 * math.log10(0.16), abs=0.3)
    # Every value is exactly 0 where 4.5 * 0.16^l drops below float32's smallest subnormal 1.4e-45 and rounds
    # to 0: l = log(1.4e-45 / 4.5) / log(0.16) = 57.2, within the same +-1.5 layers of random walk.
    zero = t.index[(t["act_min"] == 0) & (t["act_max"] == 0)]
    predicted = math.log(1.4e-45 / 4.5) / math.log(0.16)
    assert abs(zero[0] - predicted) <= 1.5 and zero[0] == 57 and list(zero) == list(range(57, 251))
    assert (t["weight_grad_norm"] == 0).all()  # h_{l-1} * delta_l ~ 0.16^249 for every l: underflow
    sv = signal_verdict(res.layers)
    assert gradient_verdict(res.layers).kind == "vanishing" and sv.kind == "vanishing"
    assert "from 0.16 at layer 1 to 2.21e-45 at layer 56" in said(sv) and "exactly 0 at layer 57" in said(sv)
    s = PRESETS["std001_vanishes"].scenario
    quotes("std001_vanishes", {"250": s.depth, "0": True, "0.01": s.stddev, "1": True, "256": s.width,
                               "0.16": math.sqrt(s.width) * s.stddev, "2.21e-45": t.loc[56, "act_std"],
                               "56": zero[0] - 1, "1.4e-45": float(np.finfo(np.float32).smallest_subnormal),
                               "57": zero[0]})


def test_std01_gradient_explodes_while_the_weight_gradient_stays_flat():
    res = run("std01_grows")
    t = res.layers.set_index("layer")
    # Backward, each layer multiplies by W^T: x sqrt(256) * 0.1 = 1.6; over 49 layers 1.6^49 = 1e10.
    # Log-walk sd of ln(std) ~ sqrt(49/(2*256)) = 0.31 -> 3 sd = 0.4 decades.
    assert math.log10(t.loc[1, "grad_std"] / t.loc[50, "grad_std"]) == pytest.approx(49 * math.log10(1.6), abs=0.4)
    # dL/dW_l = h_{l-1}^T delta_l / batch: entries of std std(h_{l-1}) std(delta_l) / sqrt(batch), so the norm
    # over width^2 entries is width / sqrt(batch) * 1.6^(l-1) * 1.6^(50-l) = 16 * 1.6^49 = 1.6e11 in EVERY
    # layer. The two walks add: 3 sd of ln over 49 layers ~ 3 * 0.31 = 0.9 -> within 0.4 decades, while
    # grad_std itself spans 10 decades.
    wg = t["weight_grad_norm"]
    assert (np.abs(np.log10(wg / (16 * 1.6**49))) < 0.4).all() and math.log10(wg.max() / wg.min()) < 0.4
    gv = gradient_verdict(res.layers)
    assert gv.kind == "exploding"
    assert "grows from 1 at layer 50 to 1.06e10 at layer 1" in said(gv) and "x1.6 per layer" in said(gv)
    s = PRESETS["std01_grows"].scenario
    quotes("std01_grows", {"0.1": s.stddev, "0": True, "1": t.loc[50, "grad_std"], "256": s.width,
                           "1.6": math.sqrt(s.width) * s.stddev, "50": s.depth,
                           "x1.6": (t.loc[1, "grad_std"] / t.loc[50, "grad_std"]) ** (1 / 49),
                           "1.06e10": t.loc[1, "grad_std"], "1.49e11": wg.min(), "1.81e11": wg.max()})


def test_small_uniform_shifts_the_mean_and_saturates():
    res = run("small_uniform")
    t = res.layers.set_index("layer")
    # E[z] = 256 inputs * E[x] * E[w] = 256 * 0.5 * 0.05 = 6.4 in layer 1; the batch mean of 256*256 values
    # has sd ~ 0.34/sqrt(256) (per-example sums share the weights), so 0.1 is plenty.
    assert t.loc[1, "pre_mean"] == pytest.approx(6.4, abs=0.1)
    assert np.allclose(t["pre_mean"].iloc[1:], 12.8, atol=0.15)  # from layer 2: inputs tanh(6.4) ~ 1
    assert (t["frac_saturated"] == 1.0).all()
    # Layer 1: tanh(z) for z ~ 6.4 +- 3 sd of 0.34 is within 1.2e-4 of 1 but not all 1 in float32; from layer 2
    # every z > 9 and tanh(z) rounds to exactly 1.0 (1 - tanh(9) = 3e-8 < float32's half-ulp below 1).
    assert t.loc[1, "act_mean"] < 1 and t.loc[1, "act_min"] < 1 and t.loc[1, "act_std"] > 0
    assert (t.loc[2:, "act_min"] == 1.0).all() and (t.loc[2:, "act_max"] == 1.0).all()
    assert (t["grad_std"] == 0).all() and (t["weight_grad_norm"] == 0).all()
    sv = signal_verdict(res.layers, first=first_layer(res))
    assert gradient_verdict(res.layers).kind == "dead" and sv.kind == "vanishing"
    for shown in ("all positive (mean 0.05", "mean 6.42 and std 0.336", "100% of layer 1", "is 4.99e-6 at layer 1",
                  "every value there equals 1"):
        assert shown in said(sv), shown
    s, w = PRESETS["small_uniform"].scenario, res.first_weights
    quotes("small_uniform", {"0": True, "0.1": w.max, "1": True, "0.05": w.mean, "256": s.width, "2": True,
                             "6.4": 256 * 0.5 * 0.05, "6.42": t.loc[1, "pre_mean"], "0.5": 0.5,
                             "0.336": t.loc[1, "pre_std"], "100%": t["frac_saturated"].min(),
                             "4.99e-6": t.loc[1, "act_std"]})
    assert w.min >= 0  # "all positive"


def test_xavier_tanh_drifts_slowly():
    res = run("xavier_tanh")
    t = res.layers.set_index("layer")
    # Mean field (see test_network): tanh decays algebraically ~ 1/sqrt(2l), never exponentially, so the rate
    # per layer tends to 1 (x0.993 in the upper half) while the total over 100 layers is a factor 0.105.
    assert t["act_std"].min() > 0.05 and t.loc[1, "frac_saturated"] < 0.08 and t.loc[2:, "frac_saturated"].max() < 0.004
    sv = signal_verdict(res.layers)
    assert gradient_verdict(res.layers).kind == "healthy" and sv.kind == "healthy"
    for shown in ("0.626 at layer 1 to 0.0657 at layer 100", "x0.977 per layer", "x0.993 per layer", "factor 0.105"):
        assert shown in said(sv), shown
    a = t["act_std"].to_numpy()
    quotes("xavier_tanh", {"2": True, "1": True, "256": 1 / initializers.get("glorot_uniform").std(256, 256) ** 2,
                           "0": True, "0.626": a[0], "0.0657": a[-1], "100": len(a), "x0.977": (a[-1] / a[0]) ** (1 / 99),
                           "x0.993": (a[-1] / a[49]) ** (1 / 50), "0.105": a[-1] / a[0],
                           "6.8%": t.loc[1, "frac_saturated"], "0.36%": t.loc[2:, "frac_saturated"].max()})


def test_xavier_relu_halves_the_variance_per_layer():
    res = run("xavier_relu")
    t = res.layers.set_index("layer")
    # Var z_{l+1} = 256 * (1/256) * Var(z_l)/2: std_100 / std_1 = 2^-49.5; log-walk sd of ln q after 100
    # layers ~ sqrt(5*100/256) = 1.4 -> ln(std) within 2.5 sd * 1.4 / 2 = 1.75 (as in test_network).
    assert math.log(t.loc[100, "act_std"] / t.loc[1, "act_std"]) == pytest.approx(-49.5 * math.log(2), abs=1.75)
    assert gradient_verdict(res.layers).kind == "vanishing" and signal_verdict(res.layers).kind == "vanishing"
    # Compare page table: "std at layer 100" and "grad std, layer 1"; 0.583 from the chart (layer 1).
    quotes("xavier_relu", {"0": True, "1": True, "2": True, "0.583": t.loc[1, "act_std"],
                           "3.57e-16": t.loc[100, "act_std"], "100": len(t), "6.86e-16": t.loc[1, "grad_std"]})
    assert initializers.get("glorot_uniform").std(256, 256) ** 2 == pytest.approx(1 / 256)  # "Var(w) = 1/n"
    assert initializers.get("he_normal").std(256, 256) ** 2 == pytest.approx(2 / 256)  # "Var(w) = 2/n"


def test_he_relu_drifts_slowly():
    res = run("he_relu")
    t = res.layers.set_index("layer")
    # Var z_1 = 256 * (2/256) * 1 = 2; then preserved in expectation. Log-walk sd of ln q after 50 layers
    # ~ sqrt(5*50/256) = 1.0, so ln(std) within 3.5 sd * 1.0 / 2 = 1.75 of its start over the whole path.
    assert (np.abs(np.log(t["pre_std"] / math.sqrt(2))) < 1.75).all()
    # The activations: relu of N(0, 2) has std sqrt(2) sqrt(1/2 - 1/(2 pi)) = 0.826 (+-1/sqrt(2 * 128 * 256)).
    assert t.loc[1, "act_std"] == pytest.approx(math.sqrt(2) * math.sqrt(0.5 - 0.5 / math.pi), rel=0.02)
    sv = signal_verdict(res.layers)
    assert gradient_verdict(res.layers).kind == "healthy" and sv.kind == "healthy"
    assert "0.818 at layer 1 to 0.229 at layer 50" in said(sv) and "x0.974 per layer" in said(sv)
    a = t["act_std"].to_numpy()
    quotes("he_relu", {"2": True, "0": True, "0.818": a[0], "1": True, "0.229": a[-1], "50": len(a),
                       "x0.974": (a[-1] / a[0]) ** (1 / 49)})


def test_sigmoid_with_large_weights_saturates():
    res = run("sigmoid_saturation")
    t = res.layers.set_index("layer")
    # z ~ N(0, 256 E[h^2]) with E[h^2] >= 1/4: sd >= 8, P(|z| > 3.64) >= 0.65; layer 1: sd 16, P = 0.82.
    assert t.loc[1, "pre_std"] == pytest.approx(16, rel=0.02) and t.loc[1, "frac_saturated"] == pytest.approx(0.82, abs=0.01)
    assert (t.loc[2:, "frac_saturated"] > 0.65).all()
    # Outputs in (0, 1) have std at most 0.5 (half at 0, half at 1); saturated ones sit near 0 or 1.
    assert (t["act_std"] < 0.5).all() and (t["act_std"] > 0.45).all()
    sv = signal_verdict(res.layers, first=first_layer(res))
    assert sv.kind == "healthy" and "saturated" in sv.headline
    for shown in ("82% of layer 1", "73% of the last layer", "std 16", "0.474 at layer 1 to 0.462 at layer 10"):
        assert shown in said(sv), shown
    s = PRESETS["sigmoid_saturation"].scenario
    quotes("sigmoid_saturation", {"0": True, "1": s.stddev, "256": s.width, "16": t.loc[1, "pre_std"],
                                  "82%": t.loc[1, "frac_saturated"], "73%": t.loc[10, "frac_saturated"], "10": s.depth,
                                  "10%": True, "0.474": t.loc[1, "act_std"], "0.462": t.loc[10, "act_std"]})
    # "slope below 10% of its peak": the saturation rule of the activations.
    sig = activation("sigmoid")
    assert sig.saturation_threshold == pytest.approx(0.1 * 0.25)


def test_orthogonal_linear_preserves_the_std():
    res = run("orthogonal")
    t = res.layers.set_index("layer")
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
    sv = signal_verdict(res.layers)
    assert gradient_verdict(res.layers).kind == "healthy" and sv.kind == "healthy"
    assert "stays at 0.995 from layer 1 to the top" in said(sv)
    assert "changes by less than 1e-4% per layer on average" in said(sv)
    assert abs((a[-1] / a[124]) ** (1 / 125) - 1) < 1e-6  # 1e-4% (measured 2.5e-7: the std wobbles, no trend)
    quotes("orthogonal", {"250": len(a), "0": True, "0.995": a[0], "1": True, "1e-4%": True})
    assert fmt(a[-1]) == "0.995"


def test_unscaled_inputs_saturate_layer_one():
    res = run("raw_inputs")
    t = res.layers.set_index("layer")
    # x ~ U[0, 255]: E[x^2] = 255^2/3, z sd = sqrt(256 * (1/256) * 21675) = 147 (measured 132: the mean part
    # is shared); P(|z| > 1.82) ~ 0.99.
    assert t.loc[1, "frac_saturated"] > 0.9 and t.loc[1, "pre_std"] == pytest.approx(132, rel=0.01)
    # Input moments: mean 127.5 +- 73.6/sqrt(65536) and std 255/sqrt(12) = 73.6 (the sample: 73.4).
    assert res.input.mean == pytest.approx(127.5, abs=1.5) and res.input.std == pytest.approx(73.6, rel=0.01)
    sv = signal_verdict(res.layers, first=first_layer(res))
    assert "not scaled (mean 128, std 73.4)" in said(sv) and "std 132" in said(sv) and "99% of layer 1" in said(sv)
    quotes("raw_inputs", {"0": True, "2": True, "255": 255, "1": True, "128": res.input.mean, "73.4": res.input.std,
                          "132": t.loc[1, "pre_std"], "99%": t.loc[1, "frac_saturated"],
                          "7.9%": t.loc[2, "frac_saturated"]})


def test_keras_default_linear_keeps_the_std():
    t = lay("keras_default")
    # Var(w) = 2/(256+256): variance preserved in expectation; log-walk sd of ln(std) after 100 layers
    # ~ sqrt(100/(2*256)) = 0.44 -> the measured band [0.887, 1.05] quoted in the text.
    assert gradient_verdict(run("keras_default").layers).kind == "healthy"
    a = t["act_std"]
    quotes("keras_default", {"2": True, "256": 1 / initializers.get("glorot_uniform").std(256, 256) ** 2, "1": True,
                             "0.887": a.min(), "0": True, "1.05": a.max(), "100": len(a), "0.922": a.iloc[-1]})


def test_pytorch_default_settles_and_forgets_the_input():
    res = run("pytorch_default")
    t = res.layers.set_index("layer")
    s = PRESETS["pytorch_default"].scenario
    assert s.bias == "torch_linear" and s.init == "torch_linear"  # nn.Linear's weights AND biases
    # Var z_1 = 256 * 1/(3*256) = 1/3 (+ the bias 1/768); relu std of N(0, 1/3) = sqrt(1/3) sqrt(1/2 - 1/(2 pi)).
    assert t.loc[1, "act_std"] == pytest.approx(math.sqrt(1 / 3 + 1 / 768) * math.sqrt(0.5 - 0.5 / math.pi), rel=0.02)
    # Fixed point of q = q/6 + 1/(3*256): q* = 6/(5*768), relu std sqrt(q*) * 0.584 = 0.0231; the variance
    # approaches it x1/6 per layer (0.337^2 / 6^4 ~ 9e-5 of 5e-4 left by layer 5). Finite-width walk as in
    # test_network: within 0.35 in ln over layers 5-20.
    fixed = math.sqrt(6 / (5 * 768)) * math.sqrt(0.5 - 0.5 / math.pi)
    assert (np.abs(np.log(t.loc[5:, "act_std"] / fixed)) < 0.35).all()
    assert t.loc[5:, "act_std"].between(0.02, 0.025).all() and not 0.02 <= t.loc[4, "act_std"] <= 0.025
    # The spread across examples shrinks x sqrt(1/6) = 0.41 per layer (chi_1 = sigma_w^2 / 2 = 1/6) and is
    # below 1% of the std from layer 9 on (measured; 0.41^8 ~ 8e-4 relative to the shrinking std).
    rel = (t["act_example_std"] / t["act_std"]).to_numpy()
    below = np.flatnonzero(rel >= EXAMPLE_SPREAD_LIMIT)
    assert below[-1] + 2 == 9 and (rel[8:] < EXAMPLE_SPREAD_LIMIT).all()
    # "at layer 20 it is down in float32's rounding noise": 11 more layers at x0.41 from below 1% give
    # 0.01 * 0.41^11 = 5.6e-7, far below the 1e-4 where digits become the CPU's (ROUNDING_FLOOR); its digits
    # (2.78e-7 on one CPU, 2.77e-7 on another) are never quoted, the verdict says "less than 1e-4".
    assert rel[-1] < ROUNDING_FLOOR["float32"] / 10
    sv = signal_verdict(res.layers, dtype=s.dtype)
    assert sv.kind == "vanishing" and gradient_verdict(res.layers).kind == "vanishing"
    for shown in ("still have a std of 0.0224 at the top", "from layer 9 on they hardly depend on the input",
                  "less than 1e-4 (float32's rounding noise) times their std",
                  "falls from 0.337 at layer 1 to 0.0224 at layer 20", "below 1% of their std"):
        assert shown in said(sv), shown
    assert "example spread" not in said(sv)  # a noise-level spread is not quoted either
    quotes("pytorch_default", {"1": True, "3": True, "0": True, "0.337": t.loc[1, "act_std"],
                               "0.0224": t.loc[20, "act_std"], "20": s.depth, "9": 9, "1%": EXAMPLE_SPREAD_LIMIT})
    w = initializers.get("torch_linear")
    assert w.std(256, 256) ** 2 == pytest.approx(1 / (3 * 256))  # "variance 1/(3n)", "a sixth" of He's 2/n


def test_range_presets_quote_the_initializer_formulas_at_1_and_100_inputs():
    # xavier_range draws the classic three (View().rng_inits) with a table at n = 1 and n = 100 (m = n).
    xh, gu, tk = (initializers.get(n) for n in ("xavier_heuristic", "glorot_uniform", "torch_kaiming_normal"))
    assert PRESETS["xavier_range"].scenario.init == "xavier_heuristic"
    quotes("xavier_range", {"1": xh.limits(1, 1)[1], "0.1": xh.limits(100, 100)[1], "100": 100, "6": True,
                            "1.73": gu.limits(1, 1)[1], "0.173": gu.limits(100, 100)[1], "2": True,
                            "1.41": tk.std(1, 1), "0.141": tk.std(100, 100)})
    assert gu.limits(7, 7)[1] == pytest.approx(math.sqrt(6 / 14)) and tk.limits(7, 7) is None  # "no bound"
    assert tk.std(7, 7) == pytest.approx(math.sqrt(2 / 7))
    # he_range draws he_normal and torch_kaiming_normal.
    he = initializers.get(PRESETS["he_range"].scenario.init)
    assert PRESETS["he_range"].scenario.init == "he_normal"
    quotes("he_range", {"2": True, "1.41": he.std(1, 1), "0.141": he.std(100, 100), "100": 100,
                        "3.22": he.limits(1, 1)[1], "0.322": he.limits(100, 100)[1]})
    assert he.std(7, 7) == pytest.approx(math.sqrt(2 / 7)) and tk.std(1, 1) == he.std(1, 1)
    # Keras he_normal: N(0, s/0.8796) redrawn beyond 2 of those sd, so its limit is 2/0.8796 = 2.27 actual sd
    # and 34.9% of the draws lie beyond +-sqrt(2/n): one standard deviation, not a range.
    assert he.limits(400, 400)[1] / he.std(400, 400) == pytest.approx(2 / 0.8796, rel=1e-3)
    w = he((400, 400), np.random.default_rng(0))
    assert np.mean(np.abs(w) > math.sqrt(2 / 400)) == pytest.approx(0.349, abs=0.01)  # 160000 draws: sd 0.0012


def test_every_text_quotes_a_number():
    for p in PRESETS.values():
        assert re.search(r"\d", p.text), p.name


# --- residual blocks and normalization ------------------------------------------------------------------

def test_residual_without_norm_doubles_the_variance_and_overflows():
    res = run("res_doubles")
    t = res.layers.set_index("layer")
    a = t["act_std"]
    # Var doubles per block (1 + alpha² sigma_w² E[relu²]/q = 2): std x sqrt(2) per block from the unit input.
    for l in range(1, 5):
        assert a[l] == pytest.approx(math.sqrt(2) ** l, rel=0.08)  # ~3 % per block, test_blocks.PER_BLOCK
    # First inf where 4.5 sd of the stream passes 3.4e38: 2^(l/2) * 4.5 > 3.4e38, l ~ 251.7. The sampling
    # walk of log2(Var) over 258 blocks (~0.04 per block) moves this by ~1 block; after hundreds of blocks the
    # stream is far from Gaussian (a sum of products: heavier tails than 4.5 sd), which moves it further, so
    # we allow 12 blocks.
    assert abs(res.first_nonfinite_layer - 2 * math.log2(3.4e38 / 4.5)) < 12
    s = PRESETS["res_doubles"].scenario
    quotes("res_doubles", {"2": True, "1.4": a[1], "1": True, "0": True, "258": res.first_nonfinite_layer, "300": s.depth})


def test_residual_scaled_by_one_over_sqrt_depth_stays_below_sqrt_e():
    res = run("res_scaled")
    a = res.layers["act_std"].to_numpy()
    s = PRESETS["res_scaled"].scenario
    assert s.alpha() == pytest.approx(1 / math.sqrt(300)) and (a < math.sqrt(math.e)).all()
    quotes("res_scaled", {"1": True, "300": s.depth, "0.0577": s.alpha(), "2": True,
                          "1.65": math.sqrt(math.e), "1.61": a[-1], "0": True})


def test_rezero_is_the_identity_and_freezes_every_weight():
    res = run("rezero")
    t = res.layers
    assert (t["act_std"] == res.input.std).all() and (t["weight_grad_norm"] == 0).all()
    assert (t["grad_std"] > 0).all() and gradient_verdict(t).kind == "dead"
    assert (t["grad_std"] == t["grad_std"].iloc[-1]).all()  # the identity passes the gradient down unchanged
    quotes("rezero", {"0": True, "0.998": t["grad_std"].iloc[0], "50": len(t)})


def test_fixup_starts_as_the_identity_with_gradients_in_the_last_layers():
    res = run("fixup")
    t = res.layers
    assert (t["act_std"] == res.input.std).all() and (t["weight_grad_norm"] > 0).all()
    net = network_of("fixup")
    assert all(not w.any() for w in net.weights[1::2])  # the last layer of every branch is zero
    grads = propagate(PRESETS["fixup"].scenario, keep_grads=True).weight_grads
    assert all(not g.any() for g in grads[0::2]) and all(g.any() for g in grads[1::2])
    assert (t["grad_std"] == t["grad_std"].iloc[-1]).all()
    quotes("fixup", {"50": len(t), "1": True, "2": True, "0": True, "0.998": t["grad_std"].iloc[0],
                     "2.26": t["weight_grad_norm"].iloc[0]})


def network_of(name: str):
    from initlab.signal import network
    return network.build(PRESETS[name].scenario)


def test_pre_norm_grows_linearly_and_the_weight_scale_sets_the_slope():
    he = lay("prenorm_linear")["act_std"]
    assert he[50] ** 2 == pytest.approx(51, rel=0.1)  # 1 + 50 x 1, ~3 % per block of sampling
    quotes("prenorm_linear", {"2": True, "1": True, "1.42": he[1], "7.11": he[50], "50": 50, "0": True,
                              "7.14": math.sqrt(51)})
    big = lay("prenorm_std1")["act_std"]
    assert big[50] ** 2 == pytest.approx(1 + 50 * 128, rel=0.15)
    quotes("prenorm_std1", {"0": True, "1": True, "256": 256, "2": True, "128": 128, "11.4": big[1],
                            "84.4": big[50], "50": 50, "80": math.sqrt(1 + 50 * 128)})


def test_batchnorm_keeps_250_linear_layers_at_std_1():
    res = run("batchnorm_250")
    assert res.first_nonfinite_layer is None
    np.testing.assert_allclose(res.layers["act_std"], 1.0, rtol=1e-3)  # up to eps / Var(xW) ~ 4e-6
    quotes("batchnorm_250", {"0": True, "1": True, "250": 250})


def test_pre_vs_post_quotes_the_compare_tables_gradients():
    from initlab.pages import compare_variants
    from initlab.signal.summaries import compare_rows

    p = PRESETS["pre_vs_post"]
    runs = compare_variants(p.scenario, p.views["compare"])
    rows = compare_rows([(k, propagate(v)) for k, v in runs.items()], "act", 50)
    pre, post = rows
    assert pre[""] == "residual + pre-LayerNorm" and post[""] == "residual + post-LayerNorm"
    assert post["std at layer 1"] == post["std at layer 50"] == "1"
    quotes("pre_vs_post", {"50": 50, "5.16": float(pre["grad std, layer 1"]), "0": True, "1": True,
                           "1.14": float(post["grad std, layer 1"])})
