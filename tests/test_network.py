"""The engine: gradients against finite differences, determinism, and the classic phenomena as numbers."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from initlab import propagate
from initlab.weights import activations
from initlab.signal import network
from initlab.signal.scenario import BudgetError, Scenario, check_budget
from initlab.signal.verdict import gradient_verdict

ACTS = activations.names()


def _small(**kw) -> Scenario:
    base = dict(depth=3, width=5, batch=4, dtype="float64", init="random_normal", stddev=0.7, bias="random_normal",
                bias_value=0.3, seed=3)
    base.update(kw)
    return Scenario(**base)


@pytest.mark.parametrize("loss", ["projection", "mse"])
@pytest.mark.parametrize("act", ACTS)
def test_weight_and_preactivation_gradients_match_finite_differences(act, loss):
    s = _small(activation=act, loss=loss)
    net = network.build(s)
    res = network.run(net, s, keep_grads=True)

    def loss_now() -> float:
        return network.loss_value(net, network.forward(net))

    eps = 1e-6  # central differences: truncation O(eps^2 f''') ~ 1e-12, rounding O(1e-16/eps) ~ 1e-10
    rng = np.random.default_rng(0)
    for layer in range(s.depth):
        w = net.weights[layer]
        for i, j in rng.integers(0, s.width, size=(4, 2)):
            old = w[i, j]
            w[i, j] = old + eps
            up = loss_now()
            w[i, j] = old - eps
            down = loss_now()
            w[i, j] = old
            assert res.weight_grads[layer][i, j] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
        # dL/db = mean over the batch of the per-example dl_b/dz: checks the reported deltas.
        b = net.biases[layer]
        for j in range(s.width):
            old = b[j]
            b[j] = old + eps
            up = loss_now()
            b[j] = old - eps
            down = loss_now()
            b[j] = old
            assert res.deltas[layer][:, j].mean() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
    assert res.loss == pytest.approx(loss_now(), rel=1e-12)


def test_same_scenario_same_numbers_bit_for_bit():
    s = Scenario(depth=20, width=64, batch=32, init="he_normal", activation="relu", seed=7)
    a, b = propagate(s), propagate(s)
    pd.testing.assert_frame_equal(a.layers, b.layers, check_exact=True)
    assert np.array_equal(a.samples_act, b.samples_act) and np.array_equal(a.hist_pre.counts, b.hist_pre.counts)
    c = propagate(s.replace(seed=8))
    assert not np.array_equal(a.layers["act_std"], c.layers["act_std"])


def test_result_table_layout():
    res = propagate(Scenario(depth=7, width=16, batch=8))
    need = {"layer", "act_mean", "act_std", "pre_mean", "pre_std", "frac_saturated", "frac_dead", "frac_nonfinite",
            "grad_std", "weight_grad_norm", "grad_ratio", "act_p50", "pre_p01", "pre_p99", "unit_spread"}
    assert need <= set(res.layers.columns)
    assert list(res.layers["layer"]) == list(range(1, 8))
    assert res.first_nonfinite_layer is None and res.hist_act.counts.shape == (7, 40)


def test_inputs_are_the_same_batch_for_every_initializer():
    a = network.build(Scenario(init="glorot_uniform", depth=2, width=8, batch=4))
    b = network.build(Scenario(init="he_normal", activation="relu", depth=2, width=8, batch=4))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.target, b.target)


LINEAR_250 = dict(activation="linear", depth=250, width=256, batch=64, init="random_normal")


def test_standard_normal_weights_overflow_float32_at_the_predicted_layer():
    res = propagate(Scenario(**LINEAR_250, stddev=1.0, dtype="float32"))
    # Each layer multiplies the std by sqrt(width) = 16; float32 overflows at 3.4e38, and the largest of
    # 64*256 Gaussian values is about 4.5 sd, so the first inf appears where 16^l * 4.5 > 3.4e38: l = 32.
    # The random matrices move log(std) by ~ sqrt(2/width) per layer: a fraction of a layer after 32 layers.
    predicted = math.log(3.4e38 / 4.5) / math.log(16)
    assert abs(res.first_nonfinite_layer - predicted) <= 1.5
    lay = res.layers.set_index("layer")
    assert lay.loc[res.first_nonfinite_layer, "frac_nonfinite"] > 0
    assert lay.loc[250, "frac_nonfinite"] == 1.0
    # Before the overflow the std is finite and on the 16^l line.
    l10 = res.first_nonfinite_layer - 10
    assert math.log10(lay.loc[l10, "act_std"]) == pytest.approx(l10 * math.log10(16), abs=1.0)


def test_standard_normal_weights_in_float64_reach_1e301_with_a_finite_std():
    res = propagate(Scenario(**LINEAR_250, stddev=1.0, dtype="float64"))
    # 16^250 = 1e301 < 1.8e308: no overflow, but a naive std (squares: 1e602) would be inf long before.
    assert res.first_nonfinite_layer is None
    std = res.layers["act_std"].to_numpy()
    assert np.isfinite(std).all()
    # log-std random walk: sd of ln(var) per layer <= sqrt(2/width); over 250 layers 5 sd ~ 0.7 decades of std.
    assert math.log10(std[-1]) == pytest.approx(250 * math.log10(16), abs=1.5)


def test_small_weights_vanish():
    res = propagate(Scenario(**LINEAR_250, stddev=0.01, dtype="float32"))
    std = res.layers["act_std"].to_numpy()
    # std_l = (0.01 * sqrt(256))^l = 0.16^l until float32 underflows to exactly zero.
    assert math.log10(std[9]) == pytest.approx(10 * math.log10(0.16), abs=0.5)
    assert std[-1] == 0.0 and res.first_nonfinite_layer is None
    # Backward, the unit output gradient shrinks by the same 0.16 per layer going down: the bottom learns nothing.
    grad = res.layers["grad_std"].to_numpy()
    assert math.log10(grad[239]) == pytest.approx(10 * math.log10(0.16), abs=0.5)
    assert (grad[:150] == 0.0).all()


def _qmap(act_name: str, sigma_w2: float, q0: float, depth: int) -> np.ndarray:
    """Mean-field variance map q_{l+1} = sigma_w^2 E[f(sqrt(q_l) z)^2] (Poole et al. 2016), Gauss-Hermite."""
    f = activations.get(act_name).fn
    z, w = np.polynomial.hermite_e.hermegauss(101)
    w = w / w.sum()
    qs, q = [], q0
    for _ in range(depth):
        q = sigma_w2 * float(np.sum(w * f(np.sqrt(q) * z) ** 2))
        qs.append(q)
    return np.array(qs)


def test_xavier_tanh_follows_mean_field_and_stays_in_a_band():
    res = propagate(Scenario(init="glorot_uniform", activation="tanh", depth=100, width=256, batch=256))
    pre_var = res.layers["pre_std"].to_numpy() ** 2
    # z_l = h_{l-1} W: Var z_l = width * Var(W) * E[h_{l-1}^2] with Var(W) = 1/width; q_1 = 1 (inputs N(0,1)).
    h2 = _qmap("tanh", 1.0, 1.0, 99)  # E[h_l^2] for l = 1..99
    predicted = np.r_[1.0, h2]
    # Mean field is the infinite-width limit; at width w the corrections grow like depth/w (Roberts, Yaida &
    # Hanin 2022, ch. 5), so layer l is allowed a relative error of 0.05 + l/w (0.44 at l = 100, w = 256).
    tol = 0.05 + np.arange(1, 101) / 256
    assert (np.abs(pre_var / predicted - 1) < tol).all()
    assert np.abs(pre_var[:10] / predicted[:10] - 1).max() < 0.1
    act_std = res.layers["act_std"].to_numpy()
    assert act_std.min() > 0.05 and act_std.max() < 1.0  # slow algebraic decay ~ 1/sqrt(2l), no collapse


def test_he_relu_is_stable_and_xavier_relu_decays():
    common = dict(activation="relu", depth=100, width=256, batch=256, dtype="float64")
    he = propagate(Scenario(init="he_normal", **common)).layers["pre_std"].to_numpy()
    xa = propagate(Scenario(init="glorot_uniform", **common)).layers["pre_std"].to_numpy()
    # He: Var z_1 = width * (2/width) * E[x^2] = 2, then Var z_{l+1} = width * (2/width) * Var(z_l)/2 = Var z_l.
    # Log-variance random walk (Hanin & Rolnick 2018): sd of ln q after L layers ~ sqrt(5 L / width) = 1.4,
    # so 2.5 sd bounds the std within e^{+-1.75} of sqrt(2).
    assert (np.abs(np.log(he / math.sqrt(2))) < 1.75).all()
    # Xavier (Var W = 1/width): the variance halves per layer, std_100 = 2^-49.5 = 1.3e-15, same walk.
    assert math.log(xa[-1]) == pytest.approx(-49.5 * math.log(2), abs=3.5)


def test_zero_init_never_breaks_symmetry():
    res = propagate(Scenario(init="zeros", activation="sigmoid", depth=6, width=32, batch=16))
    lay = res.layers
    assert (lay["unit_spread"] == 0).all()  # every unit of every layer computes the same value
    assert (lay["weight_grad_norm"].iloc[:-1] == 0).all()  # nothing below the top can learn
    assert lay["weight_grad_norm"].iloc[-1] > 0
    rand = propagate(Scenario(init="glorot_uniform", activation="sigmoid", depth=6, width=32, batch=16)).layers
    assert (rand["unit_spread"] > 1e-3).all() and (rand["weight_grad_norm"] > 0).all()


def test_sigmoid_saturates_with_large_weights():
    big = propagate(Scenario(init="random_normal", stddev=1.0, activation="sigmoid", depth=10, width=256)).layers
    xav = propagate(Scenario(init="glorot_uniform", activation="sigmoid", depth=10, width=256)).layers
    # N(0,1) weights: z ~ N(0, 256 E[h^2]) with E[h^2] >= 1/4 -> sd >= 8, so P(|z| > 3.66) > 0.64.
    assert (big["frac_saturated"].iloc[1:] > 0.6).all()
    # Xavier: sd of z ~ sqrt(E[h^2]) ~ 0.6, P(|z| > 3.66) < 1e-8.
    assert (xav["frac_saturated"] < 1e-3).all()


def test_unscaled_inputs_saturate_the_first_layer():
    raw = propagate(Scenario(inputs="raw", depth=3, width=128)).layers
    std = propagate(Scenario(inputs="standard", depth=3, width=128)).layers
    assert raw["frac_saturated"].iloc[0] > 0.9 and std["frac_saturated"].iloc[0] < 0.1


def test_relu_dead_units_and_shared_matrix():
    res = propagate(Scenario(init="random_normal", mean=-1.0, stddev=0.1, activation="relu", depth=3, width=64,
                             bias="zeros")).layers
    assert res["frac_dead"].iloc[-1] == 1.0 and res["frac_dead_units"].iloc[-1] == 1.0
    shared = propagate(Scenario(shared=True, depth=5, width=32)).layers
    assert shared["weight_norm"].nunique() == 1


def test_budget_fits_the_classic_experiments_and_refuses_absurd_ones():
    for dtype in ("float32", "float64"):
        check_budget(Scenario(depth=250, width=512, batch=256, dtype=dtype))
    with pytest.raises(BudgetError, match="1000 layers of 2048 units with 4096 examples .* GB of memory") as err:
        propagate(Scenario(depth=1000, width=2048, batch=4096))
    assert err.value.limit == "memory"
    with pytest.raises(BudgetError, match="multiply-adds per pass, more computation") as err:
        check_budget(Scenario(depth=1000, width=256, batch=512))
    assert err.value.limit == "computation"


def test_results_are_read_only():
    """Cached results are shared by every session: no session may change one in place."""
    res = propagate(Scenario(depth=4, width=8, batch=4))
    before = res.layers.to_numpy(dtype=float).copy()
    for change in (lambda: res.layers.__setitem__("act_std", 0.0), lambda: res.layers.loc.__setitem__((0, "act_std"), 5.0),
                   lambda: res.layers.pop("act_std"), lambda: res.samples_act.__setitem__((0, 0), 1.0),
                   lambda: res.hist_act.counts.__setitem__((0, 0), 1), lambda: setattr(res, "loss", 0.0)):
        with pytest.raises((TypeError, ValueError, AttributeError)):
            change()
    np.testing.assert_array_equal(res.layers.to_numpy(dtype=float), before)
    mine = res.layers.copy()  # a copy is an ordinary table the reader may change
    mine["act_std"] = 0.0
    assert (res.layers["act_std"] > 0).all()


@pytest.mark.parametrize(
    "bad, word",
    [(dict(depth=0), "depth"), (dict(width=-3), "width"), (dict(init="nope"), "nope"),
     (dict(stddev=float("nan")), "stddev"), (dict(activation="tanhh"), "tanhh"), (dict(dtype="float16"), "float16")],
)
def test_invalid_scenarios_raise_value_error_naming_the_value(bad, word):
    with pytest.raises(ValueError, match=word):
        propagate(dataclasses.replace(Scenario(depth=2, width=4, batch=2), **bad))


def test_torch_linear_bias_is_pytorchs_default_drawn_from_the_scenario_seed():
    s = Scenario(depth=40, width=64, batch=4, bias="torch_linear", bias_value=7.0)
    b = network.build(s).biases
    bound = 1 / math.sqrt(64)  # nn.Linear.reset_parameters: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert b.shape == (40, 64) and b.dtype == np.float32
    assert b.min() >= -bound and b.max() <= bound  # bias_value (7) is not used
    # 2560 draws of U[-a, a]: variance a^2/3 = 1/(3*64); the sample variance has relative sd sqrt(0.8/2560) = 1.8%.
    assert b.astype(np.float64).var() == pytest.approx(1 / (3 * 64), rel=0.07)
    assert np.array_equal(b, network.build(s).biases)  # same seed, same biases
    assert not np.array_equal(b, network.build(s.replace(seed=1)).biases)
    # The biases have their own stream: choosing them changes neither the weights nor the inputs.
    zero = network.build(s.replace(bias="zeros"))
    assert zero.biases is None and np.array_equal(zero.x, network.build(s).x)
    assert np.array_equal(zero.weights[3], network.build(s).weights[3])


def test_torch_linear_bias_holds_a_relu_stack_at_the_mean_field_fixed_point():
    # Weights U[+-1/sqrt(n)] (sigma_w^2 = n Var w = 1/3), biases of variance 1/(3n): q = q/6 + 1/(3n) has the
    # fixed point q* = 6 / (5 * 3n) = 0.0016 (n = 256), a pre-activation std of 0.0395, reached geometrically
    # (x1/6 per layer in variance). Finite-width walk: sd of ln q ~ sqrt(5 * 20 / 256) = 0.6 at most, so
    # ln(std) within 0.35 of the prediction over layers 10-20 (it is far tighter: the bias term is redrawn
    # per layer and does not compound).
    res = propagate(Scenario(init="torch_linear", bias="torch_linear", activation="relu", depth=20, width=256,
                             batch=256))
    pre = res.layers["pre_std"].to_numpy()
    assert np.abs(np.log(pre[9:] / math.sqrt(6 / (5 * 3 * 256)))).max() < 0.35
    # Without the biases the same stack shrinks x0.41 (1/sqrt 6) per layer, to ~1e-8 at layer 20.
    bare = propagate(Scenario(init="torch_linear", activation="relu", depth=20, width=256, batch=256))
    assert bare.layers["pre_std"].iloc[-1] < 1e-6


def test_example_std_columns_follow_their_definition():
    s = Scenario(init="he_normal", activation="relu", depth=4, width=48, batch=100, bias="random_normal",
                 bias_value=0.5, seed=5)
    res = propagate(s)
    net = network.build(s)
    h = net.x
    for i, w in enumerate(net.weights):
        z = h @ w + net.biases[i]
        h = net.activation.fn(z)
        # The first EXAMPLE_ROWS examples of the first EXAMPLE_UNITS units: std over the examples, mean over units.
        rows, units = network.EXAMPLE_ROWS, network.EXAMPLE_UNITS
        for arr, col in ((z, "pre_example_std"), (h, "act_example_std")):
            ref = arr[:rows, :units].astype(np.float64).std(axis=0).mean()
            assert res.layers[col].iloc[i] == pytest.approx(ref, rel=1e-6)  # float32 matmul, same BLAS order
    # Independent N(0, 1) inputs: at layer 1 every unit varies across examples like the layer as a whole.
    t = res.layers
    assert t["pre_example_std"].iloc[0] / t["pre_std"].iloc[0] == pytest.approx(1, abs=0.15)


def test_example_std_sees_outputs_that_no_longer_depend_on_the_input():
    t = propagate(Scenario(init="torch_linear", bias="torch_linear", activation="relu", depth=20, width=256,
                           batch=256)).layers
    ex = t["act_example_std"].to_numpy()
    # The input-dependent part of z shrinks by sqrt(sigma_w^2 E[relu'^2]) = sqrt(1/3 * 1/2) = 0.41 per layer
    # (mean-field chi_1 = 1/6), while the biases keep the std at its fixed point: 19 layers -> 0.41^19 = 4e-8.
    # Finite width: sd of ln q after 19 layers ~ sqrt(5 * 19 / 256) = 0.61, i.e. 0.13 decades of std; 3.5 sd
    # allow 0.45 decades (the 64 x 32 corner adds ~0.01).
    assert math.log10(ex[-1] / ex[0]) == pytest.approx(19 * math.log10(math.sqrt(1 / 6)), abs=0.45)
    rel = ex / t["act_std"].to_numpy()
    assert rel[0] > 0.9 and rel[-1] < 1e-6  # the std itself stays at the fixed point: the ratio collapses
    # He + ReLU without biases keeps depending on the input (rel well above 1%).
    he = propagate(Scenario(init="he_normal", activation="relu", depth=20, width=256, batch=256)).layers
    assert (he["act_example_std"] / he["act_std"]).min() > 0.05
    # One example: nothing to compare across; every statistic stays finite elsewhere.
    one = propagate(Scenario(depth=3, width=16, batch=1)).layers
    assert one["act_example_std"].isna().all() and np.isfinite(one["act_std"]).all()


def test_example_std_is_finite_where_the_values_are_huge():
    res = propagate(Scenario(**LINEAR_250, stddev=1.0, dtype="float64"))  # values up to ~1e301
    ex = res.layers["act_example_std"].to_numpy()
    assert np.isfinite(ex).all() and ex[-1] > 1e290


def test_result_carries_what_layer_one_is_made_of():
    s = Scenario(init="small_uniform", inputs="minmax", bias="torch_linear", depth=2, width=64, batch=32)
    res = propagate(s)
    net = network.build(s)
    w, b = net.weights[0].astype(np.float64), net.biases[0].astype(np.float64)
    assert res.first_weights.mean == pytest.approx(w.mean(), rel=1e-6) and res.first_weights.min == w.min()
    assert res.first_weights.std == pytest.approx(w.std(), rel=1e-5)
    assert res.first_bias.std == pytest.approx(b.std(), rel=1e-5)
    assert propagate(s.replace(bias="zeros")).first_bias == network.stats.Moments(0.0, 0.0, 0.0, 0.0, 0.0)


def test_a_tiny_weight_gradient_is_not_reported_as_exactly_zero():
    # N(0, 0.01) tanh over 50 layers (the lsuv_rescue scenario): activations fall to ~1e-40, so dW's entries
    # are float32 subnormals whose squares flush to 0; the plain dot product called such a gradient 0.
    s = Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=50)
    res = propagate(s, keep_grads=True)
    wg = res.layers["weight_grad_norm"].to_numpy()
    ref = np.array([np.linalg.norm(dw.astype(np.float64)) for dw in res.weight_grads])
    assert (ref > 0).all()
    np.testing.assert_allclose(wg, ref, rtol=1e-12)
    assert "exactly 0" not in " ".join(gradient_verdict(res.layers).details)
