"""Mean-field predictions: where they apply, the closed forms, and agreement with the engine."""

import math

import numpy as np
import pytest

from initlab import propagate, theory
from initlab.scenario import Scenario

# Quadrature accuracy of activations.gaussian_expectation is ~1e-14, so exact closed forms hold to 1e-10
# with a wide margin (the q-map compounds the error at most linearly over the few layers used here).
EXACT = 1e-10


@pytest.mark.parametrize("kw", [
    dict(init="ones"),
    dict(init="small_uniform"),
    dict(init="random_normal", mean=0.5),
    dict(init="zeros"),
    dict(init="constant", value=0.3),
    dict(init="random_uniform", minval=0.0, maxval=1.0),
])
def test_predict_is_none_for_non_zero_mean_weights(kw):
    assert theory.predict(Scenario(depth=4, width=8, **kw)) is None


@pytest.mark.parametrize("init", ["glorot_uniform", "he_normal", "random_normal", "orthogonal", "lecun_uniform",
                                  "torch_kaiming_normal", "truncated_normal", "variance_scaling"])
@pytest.mark.parametrize("depth", [1, 7])
def test_predict_gives_one_value_per_layer(init, depth):
    p = theory.predict(Scenario(init=init, depth=depth, width=16))
    assert p is not None
    for arr in (p.pre_std, p.act_std, p.act_mean, p.grad_std, p.chi):
        assert isinstance(arr, np.ndarray) and arr.shape == (depth,)
        assert np.all(np.isfinite(arr))


@pytest.mark.parametrize("kw", [
    dict(init="he_normal", activation="relu"),
    dict(init="he_uniform", activation="relu"),
    dict(init="glorot_uniform", activation="linear"),
    dict(init="glorot_normal", activation="linear"),
    dict(init="orthogonal", gain=1.0, activation="linear"),
])
def test_chi_is_one_at_the_edge_of_chaos(kw):
    # chi = sigma_w^2 E[f'(z)^2]: He gives sigma_w^2 = 2 and E[relu'^2] = 1/2; Glorot with fan_in = fan_out
    # and orthogonal(gain 1) give sigma_w^2 = 1 and linear f' = 1.
    p = theory.predict(Scenario(depth=6, width=64, **kw))
    np.testing.assert_allclose(p.chi, 1.0, rtol=0, atol=EXACT)


def test_chi_of_xavier_with_relu_is_one_half():
    # sigma_w^2 = 1 (fan_avg with n = m), E[relu'(z)^2] = P(z > 0) = 1/2 for every q.
    p = theory.predict(Scenario(init="glorot_uniform", activation="relu", depth=6, width=64))
    np.testing.assert_allclose(p.chi, 0.5, rtol=0, atol=EXACT)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.1])
@pytest.mark.parametrize("width", [16, 256])
def test_linear_random_normal_closed_form(sigma, width):
    # Var(z_1) = n sigma^2 E[x^2] = n sigma^2; each linear layer multiplies the variance by n sigma^2.
    depth = 12
    p = theory.predict(Scenario(init="random_normal", stddev=sigma, activation="linear", depth=depth,
                                width=width, dtype="float64"))
    layers = np.arange(1, depth + 1)
    expected = (sigma * math.sqrt(width)) ** layers
    np.testing.assert_allclose(p.pre_std, expected, rtol=1e-9, atol=0)
    np.testing.assert_allclose(p.act_std, expected, rtol=1e-9, atol=0)
    np.testing.assert_allclose(p.chi, width * sigma**2, rtol=1e-9)
    # Backward: unit variance at the top (projection loss), multiplied by chi per layer going down.
    np.testing.assert_allclose(p.grad_std, (sigma * math.sqrt(width)) ** (depth - layers), rtol=1e-9)


def test_he_relu_keeps_pre_activation_and_gradient_std_constant():
    # q_1 = 2 E[x^2] = 2; q_{l+1} = 2 E[relu(z)^2] = 2 q_l / 2 = q_l: pre_std = sqrt(2) at every layer.
    # Gradient: Var = E[relu'^2] * 1 = 1/2 at the top, times chi = 1 per layer: grad_std = sqrt(1/2).
    p = theory.predict(Scenario(init="he_normal", activation="relu", depth=40, width=128))
    np.testing.assert_allclose(p.pre_std, math.sqrt(2.0), rtol=EXACT)
    np.testing.assert_allclose(p.grad_std, math.sqrt(0.5), rtol=EXACT)
    # act: E[relu(z)] = sqrt(q / (2 pi)) = 1/sqrt(pi), E[relu(z)^2] = q/2 = 1.
    np.testing.assert_allclose(p.act_mean, 1.0 / math.sqrt(math.pi), rtol=EXACT)
    np.testing.assert_allclose(p.act_std, math.sqrt(1.0 - 1.0 / math.pi), rtol=EXACT)


def test_input_moments_and_biases_enter_the_first_layer():
    # raw inputs U[0, 255]: E[x^2] = 255^2 / 3; constant bias shifts the mean, not the spread;
    # random_normal bias adds its variance.
    p = theory.predict(Scenario(init="glorot_uniform", activation="linear", depth=2, width=32, inputs="raw"))
    assert p.pre_std[0] == pytest.approx(255 / math.sqrt(3), rel=EXACT)
    p = theory.predict(Scenario(init="glorot_uniform", activation="linear", depth=2, width=32, bias="constant",
                                bias_value=0.5))
    assert p.pre_std[0] == pytest.approx(1.0, rel=EXACT) and p.act_mean[0] == pytest.approx(0.5, rel=EXACT)
    p = theory.predict(Scenario(init="glorot_uniform", activation="linear", depth=2, width=32,
                                bias="random_normal", bias_value=0.5))
    assert p.pre_std[0] == pytest.approx(math.sqrt(1.25), rel=EXACT)


def test_exploding_prediction_overflows_to_inf_without_warnings():
    # (sigma sqrt(n))^l = 16^l passes 1.8e308 near l = 256: the prediction is inf, not an exception.
    p = theory.predict(Scenario(init="random_normal", stddev=1.0, activation="linear", depth=300, width=256))
    assert np.isinf(p.pre_std[-1]) and np.isfinite(p.pre_std[0])


# --- agreement with the engine -------------------------------------------------------------------
W, B, D = 512, 256, 30


@pytest.fixture(scope="module")
def tanh_run():
    s = Scenario(init="glorot_uniform", activation="tanh", depth=D, width=W, batch=B, dtype="float64", seed=1)
    return propagate(s).layers, theory.predict(s)


# Tolerances (relative, per layer l):
# * sampling: a layer's std is estimated from W*B entries; the relative error of a variance estimate is
#   sqrt(2/N) (Gaussian), so sqrt(2/(W*B)) ~ 0.0039 bounds the std error (which is half of that) with a 2x
#   margin. The tanh q-map is contracting (dq'/dq <= 1), so errors of successive layers add at most like a
#   random walk: sqrt(l) of them; 3 of those sigmas.
# * finite width: mean field is the W -> infinity limit; each layer adds an O(1/W) bias (Jensen on the
#   per-example variance, which fluctuates by O(1/sqrt(W))), so O(l/W) after l layers (Roberts, Yaida &
#   Hanin 2022) with a coefficient below 1 for tanh. The gradient at any layer has been through all D
#   layers forward and D - l backward: O(D/W).
# Measured over 16 (seed, dtype) pairs the worst |ratio - 1| was 0.56 of these bounds.
_SAMPLING = math.sqrt(2.0 / (W * B))


def test_engine_pre_std_matches_mean_field_for_glorot_tanh(tanh_run):
    layers, p = tanh_run
    l = np.arange(1, D + 1)
    tol = l / W + 3 * _SAMPLING * np.sqrt(l)
    ratio = layers["pre_std"].to_numpy() / p.pre_std
    assert np.all(np.abs(ratio - 1) <= tol), (ratio - 1, tol)
    # The tolerance is tight enough to matter: the signal decays to ~0.13 (q ~ 1/(2l)), far beyond it.
    assert p.pre_std[-1] < 0.2


def test_engine_grad_std_matches_mean_field_for_glorot_tanh(tanh_run):
    layers, p = tanh_run
    tol = D / W + 3 * _SAMPLING * math.sqrt(D)
    ratio = layers["grad_std"].to_numpy() / p.grad_std
    assert np.all(np.abs(ratio - 1) <= tol), (ratio - 1, tol)
    assert p.grad_std[0] < 0.5 * p.grad_std[-1]  # and the curve itself varies far more than tol


def test_engine_act_std_matches_mean_field_for_glorot_tanh(tanh_run):
    layers, p = tanh_run
    l = np.arange(1, D + 1)
    tol = l / W + 3 * _SAMPLING * np.sqrt(l)  # tanh is 1-Lipschitz: no larger than for z
    ratio = layers["act_std"].to_numpy() / p.act_std
    assert np.all(np.abs(ratio - 1) <= tol), (ratio - 1, tol)


def test_no_prediction_for_a_reused_matrix_or_constant_weights():
    from initlab.scenario import Scenario
    from initlab.theory import predict

    assert predict(Scenario(shared=True, depth=5)) is None
    assert predict(Scenario(init="constant", value=0.0, depth=5)) is None
