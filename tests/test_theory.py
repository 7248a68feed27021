"""Mean-field predictions: where they apply, the closed forms, and agreement with the engine."""

import math

import numpy as np
import pytest

from initlab.numerics import gaussian as G
from initlab.weights import activations as A
from initlab import propagate
from initlab.theory import meanfield as theory
from initlab.signal.scenario import Scenario

# Quadrature accuracy of numerics.gaussian.expectation is ~1e-14, so exact closed forms hold to 1e-10
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
    from initlab.signal.scenario import Scenario
    from initlab.theory.meanfield import predict

    assert predict(Scenario(shared=True, depth=5)) is None
    assert predict(Scenario(init="constant", value=0.0, depth=5)) is None


# =====================================================================================================
# Fixed points, chi1, the edge of chaos, depth scales (Poole et al. 2016; Schoenholz et al. 2017)
# =====================================================================================================
ACTS = A.names()
SMOOTH_ETC = [a for a in ACTS if a not in ("linear", "relu", "leaky_relu")]  # tabulated, not closed form
# The table's cubic interpolation in u (step h = 0.005): the Lagrange remainder is at most
# (9/16)/24 h^4 max|d^4 f/du^4| ~ 1.5e-11 max|f''''|, and the interpolated quantities (scaled to be O(1))
# vary like e^{+-k u} with k <= 3 or on the O(1) scale of the activation, so |f''''| <~ 81: 1.2e-9.
INTERP = 2e-9


def _exact_V(act, q):
    return theory.gaussian_moments(act, q).m2


@pytest.mark.parametrize("name", ACTS)
def test_table_interpolation_matches_direct_quadrature(name):
    act = A.get(name)
    tab = theory._table(act)
    q = np.exp(np.random.default_rng(1).uniform(np.log(1e-10), np.log(1e12), 500))
    V, Vp, D = theory._lookup(tab, q)
    m = theory.gaussian_moments(act, q)
    np.testing.assert_allclose(V, m.m2, rtol=INTERP)
    np.testing.assert_allclose(D, m.d2, rtol=INTERP)
    # dV/dq of the bounded activations falls like q^-3/2 to ~1e-19 at q = 1e12, where the direct
    # E[f f' Z]/sqrt(q) itself carries ~1e-9 relative rounding; elsewhere INTERP holds.
    ok = m.dm2 > 1e-12
    np.testing.assert_allclose(Vp[ok], m.dm2[ok], rtol=INTERP)


def test_homogeneous_activations_have_closed_forms():
    # V(q) = c q, E[f'^2] = c with c = (f'(0-)^2 + f'(0+)^2) / 2: linear 1, relu 1/2, leaky (1 + 0.2^2)/2.
    for name, c in (("linear", 1.0), ("relu", 0.5), ("leaky_relu", 0.52)):
        assert theory._table(A.get(name)).homogeneous == pytest.approx(c, rel=1e-15)
        sw2 = np.array([0.3, 0.9, 1 / c - 1e-3])
        for sb2 in (0.0, 0.05, 0.4):
            # q* = sb2 / (1 - c sw2) below the critical sw2 = 1/c; chi1 = c sw2 everywhere.
            np.testing.assert_allclose(theory.fixed_point(name, sw2, sb2), sb2 / (1 - c * sw2), rtol=1e-12)
            np.testing.assert_allclose(theory.chi1(name, sw2, sb2), c * sw2, rtol=1e-15)
            xi_q, xi_c = theory.depth_scales(name, sw2, sb2)
            np.testing.assert_allclose(xi_q, -1 / np.log(c * sw2), rtol=1e-12)
            np.testing.assert_allclose(xi_c, -1 / np.log(c * sw2), rtol=1e-12)
        # At and beyond 1/c: q* = q0 when the map is the identity (sb2 = 0), else it diverges.
        assert theory.fixed_point(name, 1 / c, 0.0, q0=3.7) == 3.7
        assert np.isinf(theory.fixed_point(name, 1 / c, 0.1)) and np.isinf(theory.fixed_point(name, 1.5 / c, 0.0))
        assert np.all(np.isinf(theory.depth_scales(name, 1 / c, 0.0)))
        assert np.all(np.isnan(theory.depth_scales(name, 1.5 / c, 0.2)))
        assert theory.chi1(name, 3.0 / c, 0.2) == pytest.approx(3.0)  # the q -> inf limit
        np.testing.assert_allclose(theory.critical_sw2(name, [0.0, 0.05, 1.0]), 1 / c, rtol=1e-15)


@pytest.mark.parametrize("name", SMOOTH_ETC)
def test_fixed_point_is_a_fixed_point_of_the_exact_map(name):
    act = A.get(name)
    sw2, sb2 = np.meshgrid(np.linspace(0.1, 6.0, 25), np.array([0.0, 0.01, 0.05, 0.3, 1.0]))
    q = theory.fixed_point(act, sw2, sb2)
    fin = np.isfinite(q) & (q > 0)
    assert fin.sum() > 20
    resid = sw2[fin] * _exact_V(act, q[fin]) + sb2[fin] - q[fin]
    # G(q*) = 0 on the interpolant: the exact map misses by sw2 |V_interp - V| <= sw2 INTERP V <= INTERP q*.
    assert np.all(np.abs(resid) <= 2 * INTERP * q[fin]), np.abs(resid / q[fin]).max()


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "selu", "elu", "softplus", "gelu"])
@pytest.mark.parametrize("sw2, sb2", [(0.5, 0.1), (1.5, 0.05), (1.2, 0.0), (2.5, 0.2), (6.0, 1.0)])
def test_fixed_point_is_where_iterating_the_q_map_goes(name, sw2, sb2):
    # Reference: iterate the q-map from q0 = 1, one scalar expectation (numerics.gaussian.expectation) per
    # step, until it stops moving or passes 1e12 (divergence); theory.fixed_point solves for q instead.
    f = A.get(name).fn
    q = 1.0
    for _ in range(100000):
        q_new = sw2 * float(G.expectation(lambda z: f(z) ** 2, math.sqrt(q))) + sb2
        if abs(q_new - q) <= 1e-15 * q or q_new > 1e12:
            break
        q = q_new
    got = float(theory.fixed_point(name, sw2, sb2))
    if q_new > 1e12:
        assert got == math.inf
    elif q_new < 1e-9:  # the q-map creeps to 0 (f(0) = 0, sb2 = 0)
        assert got == pytest.approx(0.0, abs=1e-9)
    else:
        assert got == pytest.approx(q_new, rel=1e-8)


def test_fixed_point_depends_on_q0_where_the_map_is_bistable():
    # gelu: V(q) ~ q/4 near 0 and ~ q/2 for large q, so at sw2 = 3, sb2 = 0 q = 0 attracts small
    # starts while large ones run away.
    assert theory.fixed_point("gelu", 3.0, 0.0, q0=1e-3) == 0.0
    assert np.isinf(theory.fixed_point("gelu", 3.0, 0.0, q0=50.0))
    assert theory.chi1("gelu", 3.0, 0.0, q0=1e-3) == pytest.approx(3.0 / 4.0, rel=1e-9)  # gelu'(0) = 1/2
    assert theory.chi1("gelu", 3.0, 0.0, q0=50.0) == pytest.approx(1.5, rel=1e-12)  # f'(+inf) = 1, f'(-inf) = 0


@pytest.mark.parametrize("name, sw2, sb2", [
    ("tanh", 0.8, 0.3), ("tanh", 1.9, 0.05), ("tanh", 3.5, 0.5), ("sigmoid", 0.8, 0.3), ("sigmoid", 3.5, 0.5),
    ("selu", 0.8, 0.3), ("selu", 1.5, 0.05), ("gelu", 0.8, 0.3), ("gelu", 1.9, 0.05), ("softplus", 1.5, 0.2),
])
def test_fixed_point_and_chi1_agree_with_monte_carlo(name, sw2, sb2):
    act = A.get(name)
    q = float(theory.fixed_point(act, sw2, sb2))
    assert 0 < q < np.inf
    z = np.random.default_rng(123).standard_normal(2_000_000) * math.sqrt(q)
    f2, d2 = act.fn(z) ** 2, act.deriv(z) ** 2
    n = z.size
    # Monte Carlo means carry sd / sqrt(n); 5 of those is a one-in-a-million miss for a fixed seed.
    assert abs(sw2 * f2.mean() + sb2 - q) <= 5 * sw2 * f2.std() / math.sqrt(n)
    assert abs(sw2 * d2.mean() - float(theory.chi1(act, sw2, sb2))) <= 5 * sw2 * d2.std() / math.sqrt(n)


def test_critical_sw2_known_values():
    # Schoenholz et al. 2017: tanh has its edge of chaos at sw2 = 1 for sb2 = 0 (q* = 0, chi1 = sw2 tanh'(0)^2)
    # and at about 1.76 for sb2 = 0.05 (their Fig. 2 and the networks trained there).
    c0, c05 = theory.critical_sw2("tanh", [0.0, 0.05])
    assert c0 == pytest.approx(1.0, abs=1e-9)
    assert c05 == pytest.approx(1.76, abs=0.005)
    assert theory.chi1("tanh", c05, 0.05) == pytest.approx(1.0, abs=1e-9)
    # elu'(0) = 1 with elu(0) = 0: the same collapse argument gives 1 at sb2 = 0.
    assert theory.critical_sw2("elu", 0.0) == pytest.approx(1.0, abs=1e-9)
    # The critical line rises with sb2 for tanh (more bias noise needs larger weights to become chaotic).
    line = theory.critical_sw2("tanh", np.linspace(0, 0.5, 11))
    assert np.all(np.diff(line) > 0)


def test_critical_point_agrees_with_monte_carlo():
    sw2 = float(theory.critical_sw2("tanh", 0.05))
    q = float(theory.fixed_point("tanh", sw2, 0.05))
    z = np.random.default_rng(7).standard_normal(2_000_000) * math.sqrt(q)
    d2 = A.get("tanh").deriv(z) ** 2
    assert abs(sw2 * d2.mean() - 1.0) <= 5 * sw2 * d2.std() / math.sqrt(z.size)


@pytest.mark.parametrize("name", ["tanh", "selu", "softplus", "sigmoid", "gelu"])
@pytest.mark.parametrize("sw2, sb2", [(0.7, 0.2), (1.5, 0.05)])
def test_xi_q_is_the_slope_of_the_exact_q_map_at_its_fixed_point(name, sw2, sb2):
    # q_l - q* ~ F'(q*)^l, xi_q = -1/log F'(q*). F' by central differences of the exact map, step
    # 1e-4 q*: truncation ~1e-8 F''' q*^2, rounding ~1e-12.
    act = A.get(name)
    q = float(theory.fixed_point(act, sw2, sb2))
    assert 0 < q < np.inf
    dq = 1e-4 * q
    slope = sw2 * (_exact_V(act, q + dq) - _exact_V(act, q - dq)) / (2 * dq)
    xi_q, _ = theory.depth_scales(act, sw2, sb2)
    assert math.exp(-1 / float(xi_q)) == pytest.approx(float(slope), rel=1e-6)


def test_xi_c_in_the_ordered_phase_diverges_at_the_edge():
    sw2 = np.array([0.5, 0.9, 1.5, 1.75])
    _, xi_c = theory.depth_scales("tanh", sw2, 0.05)
    np.testing.assert_allclose(xi_c, -1 / np.log(theory.chi1("tanh", sw2, 0.05)), rtol=1e-12)
    crit = float(theory.critical_sw2("tanh", 0.05))
    near = theory.depth_scales("tanh", crit * np.array([1 - 1e-3, 1 + 1e-3]), 0.05)[1]
    assert np.all(near > 200) and np.all(np.isfinite(near))  # both sides of the edge
    assert theory.depth_scales("tanh", 1.0, 0.0)[1] == np.inf  # chi1 = 1 exactly


@pytest.mark.parametrize("name, sw2, sb2", [("tanh", 2.5, 0.05), ("tanh", 4.0, 0.3), ("selu", 1.5, 0.05),
                                            ("elu", 1.8, 0.1)])
def test_chaotic_correlation_fixed_point_agrees_with_monte_carlo(name, sw2, sb2):
    act = A.get(name)
    q = float(theory.fixed_point(act, sw2, sb2))
    c = float(theory.correlation_fixed_point(act, sw2, sb2))
    assert float(theory.chi1(act, sw2, sb2)) > 1 and 0 <= c < 1
    rng = np.random.default_rng(11)
    z1, z2 = rng.standard_normal((2, 2_000_000))
    u1 = math.sqrt(q) * z1
    u2 = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    ff = act.fn(u1) * act.fn(u2)
    dd = act.deriv(u1) * act.deriv(u2)
    n = z1.size
    # c* is the fixed point of C(c) = (sw2 E[f f] + sb2) / q, and e^(-1/xi_c) = sw2 E[f' f'] there.
    assert abs((sw2 * ff.mean() + sb2) / q - c) <= 5 * sw2 * ff.std() / (q * math.sqrt(n))
    _, xi_c = theory.depth_scales(act, sw2, sb2)
    assert abs(sw2 * dd.mean() - math.exp(-1 / float(xi_c))) <= 5 * sw2 * dd.std() / math.sqrt(n)


def test_tanh_without_bias_decorrelates_completely_in_the_chaotic_phase():
    # Odd f, sb2 = 0: C(0) = 0, so c* = 0 and chi_c* = sw2 E[f'(u)]^2 (a 1-D integral, here one scalar
    # expectation: accurate to ~1e-14 at this q ~ 1.7).
    sw2 = 2.5
    q = float(theory.fixed_point("tanh", sw2, 0.0))
    assert float(theory.correlation_fixed_point("tanh", sw2, 0.0)) == pytest.approx(0.0, abs=1e-12)
    mean_deriv = float(G.expectation(A.get("tanh").deriv, math.sqrt(q)))
    _, xi_c = theory.depth_scales("tanh", sw2, 0.0)
    assert math.exp(-1 / float(xi_c)) == pytest.approx(sw2 * mean_deriv**2, rel=1e-9)


def test_unbounded_cases_are_values_not_warnings():
    # pytest.ini turns RuntimeWarning into errors: none of these may warn.
    assert np.isinf(theory.fixed_point("relu", 3.0, 0.1))
    assert theory.chi1("relu", 3.0, 0.1) == pytest.approx(1.5)
    assert np.all(np.isnan(theory.depth_scales("relu", 3.0, 0.1)))
    assert np.isnan(theory.correlation_fixed_point("selu", 3.0, 0.1))
    assert theory.fixed_point("tanh", 0.5, 0.0) == 0.0 and theory.chi1("tanh", 0.5, 0.0) == pytest.approx(0.5)
    big = theory.fixed_point("tanh", 1e8, 0.0)  # beyond the table: the linear extension, V -> 1
    assert float(big) == pytest.approx(1e8, rel=1e-3)
    assert theory.fixed_point("sigmoid", 0.0, 0.3) == pytest.approx(0.3, rel=1e-12)
    # softplus^2 > relu^2 everywhere, so at sw2 = 2 F(q) > q for every q (by ~1/sqrt(q)): it diverges,
    # slowly; just below 2 the fixed point is finite but large.
    q = theory.fixed_point("softplus", [2.0, 2.0 - 1e-3], 0.0)
    assert np.isinf(q[0]) and 100 < q[1] < 1e4


@pytest.mark.parametrize("bad", [dict(sw2=-1.0), dict(sb2=float("nan")), dict(sw2=float("inf"))])
def test_bad_arguments_name_themselves(bad):
    kw = dict(sw2=1.0, sb2=0.0)
    kw.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        theory.fixed_point("tanh", kw["sw2"], kw["sb2"])
    with pytest.raises(ValueError, match="q0"):
        theory.chi1("tanh", 1.0, 0.0, q0=0.0)
    with pytest.raises(ValueError, match="nope"):
        theory.chi1("nope", 1.0, 0.0)


def test_phase_diagram_and_depth_scale_curve_for_plotting():
    sw2 = np.linspace(0.1, 4, 30)
    sb2 = np.linspace(0, 0.3, 20)
    pd_ = theory.phase_diagram("tanh", sw2, sb2)
    assert pd_.chi1.shape == pd_.q_star.shape == (20, 30) and pd_.critical_sw2.shape == (20,)
    np.testing.assert_allclose(pd_.chi1[7], theory.chi1("tanh", sw2, sb2[7]), rtol=1e-15)
    np.testing.assert_allclose(pd_.critical_sw2, theory.critical_sw2("tanh", sb2), rtol=1e-15)
    # Every row is ordered left of its critical point and chaotic right of it.
    for row, crit in zip(pd_.chi1, pd_.critical_sw2):
        assert np.all((row < 1) == (sw2 < crit))
    curve = theory.depth_scale_curve("tanh", sw2, 0.05)
    assert curve.critical_sw2 == pytest.approx(float(theory.critical_sw2("tanh", 0.05)))
    for arr in (curve.q_star, curve.chi1, curve.c_star, curve.xi_q, curve.xi_c):
        assert arr.shape == sw2.shape
    # xi_c peaks next to the edge of chaos.
    assert abs(sw2[np.argmax(curve.xi_c)] - curve.critical_sw2) <= sw2[1] - sw2[0]


# --- scenarios ------------------------------------------------------------------------------------


def test_scenario_sigmas():
    assert theory.scenario_sigmas(Scenario(init="he_normal", width=64)) == pytest.approx((2.0, 0.0))
    assert theory.scenario_sigmas(Scenario()) == pytest.approx((1.0, 0.0))  # glorot, fan_in = fan_out
    assert theory.scenario_sigmas(Scenario(init="random_normal", stddev=0.1, width=100, bias="random_normal",
                                     bias_value=0.2)) == pytest.approx((1.0, 0.04))
    assert theory.scenario_sigmas(Scenario(init="orthogonal", gain=1.5)) == pytest.approx((2.25, 0.0))
    for kw in (dict(init="zeros"), dict(init="ones"), dict(shared=True), dict(lsuv=True),
               dict(bias="constant", bias_value=0.1)):
        assert theory.scenario_sigmas(Scenario(**kw)) is None
    # The marked point is where predict's chi sits: chi1 at the scenario's (sw2, sb2) is its limit.
    s = Scenario(init="he_normal", activation="tanh", depth=200, width=64, bias="random_normal", bias_value=0.3)
    sw2, sb2 = theory.scenario_sigmas(s)
    assert theory.predict(s).chi[-1] == pytest.approx(float(theory.chi1("tanh", sw2, sb2)), rel=1e-8)


def test_predict_with_lsuv_pins_unit_pre_activation_variance():
    p = theory.predict(Scenario(lsuv=True, activation="relu", init="zeros", depth=30, inputs="raw"))
    np.testing.assert_allclose(p.pre_std, 1.0, rtol=1e-12)
    # relu at q = 1: E[h^2] = 1/2, so every layer after the first gets sigma_w^2 = 2 and chi = 2 * 1/2.
    np.testing.assert_allclose(p.chi[1:], 1.0, rtol=1e-12)
    p = theory.predict(Scenario(lsuv=True, bias="random_normal", bias_value=0.5, depth=10))
    np.testing.assert_allclose(p.pre_std, 1.0, rtol=1e-12)
    assert theory.predict(Scenario(lsuv=True, bias="random_normal", bias_value=1.0)) is None  # Var(b) = 1
    assert theory.predict(Scenario(lsuv=True, shared=True)) is None


def test_engine_with_lsuv_matches_its_prediction_within_lsuv_tolerance():
    s = Scenario(lsuv=True, depth=30, width=256, batch=128, bias="random_normal", bias_value=0.3, seed=2)
    measured = propagate(s).layers["pre_std"].to_numpy() ** 2
    predicted = theory.predict(s).pre_std ** 2
    assert np.all(np.abs(measured - predicted) < 0.1)  # LSUV stops within tol = 0.1 of 1


def test_torch_linear_bias_adds_its_variance():
    # U[+-1/sqrt(n)] has variance (2/sqrt(n))^2 / 12 = 1/(3n): with Var z = n Var(w) E[x^2] = 1 it adds 1/(3*32).
    p = theory.predict(Scenario(init="glorot_uniform", activation="linear", depth=2, width=32, bias="torch_linear"))
    assert p.pre_std[0] == pytest.approx(math.sqrt(1 + 1 / 96), rel=EXACT)


# ------------------------------------------------------------------------- why there is no curve


@pytest.mark.parametrize("s, words", [
    (Scenario(init="zeros", depth=5, width=16, batch=8), "no spread (every weight is 0)"),
    (Scenario(init="ones", depth=5, width=16, batch=8), "no spread (every weight is 1)"),
    (Scenario(init="small_uniform", depth=5, width=16, batch=8), "non-zero mean (0.05)"),
    (Scenario(init="glorot_normal", shared=True, depth=5, width=16, batch=8), "one matrix is reused"),
    (Scenario(init="glorot_normal", lsuv=True, bias="random_normal", bias_value=1.5, depth=5, width=16, batch=8),
     "variance 2.25, at least 1"),
])
def test_the_reason_for_a_missing_curve_names_the_scenarios_own_cause(s, words):
    assert theory.predict(s) is None
    assert words in theory.why_no_curve(s)


@pytest.mark.parametrize("init", ["zeros", "ones", "constant", "random_normal", "random_uniform", "small_uniform",
                                  "glorot_uniform", "he_normal", "orthogonal", "identity", "lecun_normal"])
@pytest.mark.parametrize("flags", [{}, {"shared": True}, {"lsuv": True},
                                   {"lsuv": True, "bias": "random_normal", "bias_value": 1.0}])
def test_there_is_a_reason_exactly_when_there_is_no_curve(init, flags):
    s = Scenario(init=init, depth=4, width=8, batch=8, **flags)
    assert (theory.predict(s) is None) == (theory.why_no_curve(s) is not None)
