"""Input-output Jacobian spectra (Saxe et al. 2014; Pennington et al. 2017): isometry, spread, overflow."""

import dataclasses

import numpy as np
import pytest

from initlab.signal import network
from initlab.signal import spectra
from initlab.signal.scenario import BudgetError, Scenario


@pytest.mark.parametrize("gain", [1.0, 1.1, 0.9])
def test_orthogonal_linear_network_is_an_isometry_times_gain_to_the_depth(gain):
    # J_l = (gain Q_l)^T ... (gain Q_1)^T: every singular value is gain^l exactly. float64 products of
    # orthogonal matrices stay orthogonal to ~l * 1e-15.
    s = Scenario(init="orthogonal", gain=gain, activation="linear", depth=30, width=64, batch=4, dtype="float64")
    r = spectra.jacobian_singular_values(s, [1, 7, 30])
    want = gain ** r.depths.astype(float)
    np.testing.assert_allclose(r.singular_values, np.broadcast_to(want[:, None], r.singular_values.shape),
                               rtol=1e-12)
    assert r.first_nonfinite_depth is None and r.dtype == "float64"


def test_orthogonal_float32_is_an_isometry_to_float32_rounding():
    # Each product adds ~1e-7 relative; after 50 layers ~50 * 1e-7 (random-walk: far less).
    r = spectra.jacobian_singular_values(Scenario(init="orthogonal", activation="linear", depth=50, width=128), 50)
    np.testing.assert_allclose(r.singular_values, 1.0, rtol=5e-6)


def test_gaussian_linear_network_at_sw2_1_spreads_with_depth():
    # N(0, 1/n) weights: E[mean s^2] = sw2^l = 1 (chi1^l), but the squared singular values of a product
    # of l Ginibre matrices have variance l as n -> inf (Pennington et al. 2017, free probability), so
    # the spectrum spreads while its mean stays put. Over seeds 0-9 at width 256 the worst deviations
    # for l <= 8 were 6 % (mean) and 13 % (variance / l); the tolerances are twice that.
    depths = [1, 2, 4, 8]
    s = Scenario(init="random_normal", stddev=1 / 16, activation="linear", depth=8, width=256, batch=2,
                 dtype="float64")
    r = spectra.jacobian_singular_values(s, depths)
    s2 = r.singular_values**2
    np.testing.assert_allclose(s2.mean(axis=1), 1.0, rtol=0.12)
    np.testing.assert_allclose(s2.var(axis=1) / np.array(depths), 1.0, rtol=0.26)
    assert np.all(np.diff(s2.var(axis=1)) > 0)
    cond = r.summary()["condition"]
    assert np.all(np.diff(np.log(cond)) > 0)
    # The orthogonal network of the same depth has no spread at all.
    o = spectra.jacobian_singular_values(s.replace(init="orthogonal", stddev=None), depths)
    assert np.all(o.singular_values.var(axis=1) < 1e-20)


def _jacobian_fd(net: network.Network, layer: int, eps: float = 1e-6) -> np.ndarray:
    """d h_layer / d h_0 at x[0] by central differences (float64): rows = output units."""
    sub = dataclasses.replace(net, weights=net.weights[:layer],
                              biases=None if net.biases is None else net.biases[:layer])
    x0 = net.x[:1].copy()
    cols = []
    for j in range(x0.shape[1]):
        up, down = x0.copy(), x0.copy()
        up[0, j] += eps
        down[0, j] -= eps
        cols.append((network.forward(dataclasses.replace(sub, x=up)) -
                     network.forward(dataclasses.replace(sub, x=down)))[0] / (2 * eps))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("act", ["tanh", "relu", "selu", "gelu", "sigmoid"])
def test_singular_values_match_finite_differences(act):
    # Central differences: truncation eps^2 f''' ~ 1e-12, rounding 1e-16 / eps ~ 1e-10.
    s = Scenario(init="random_normal", stddev=0.5, activation=act, depth=4, width=7, batch=3, dtype="float64",
                 bias="random_normal", bias_value=0.3, seed=4)
    net = network.build(s)
    r = spectra.jacobian_singular_values(s, [1, 2, 4])
    for row, layer in zip(r.singular_values, r.depths):
        want = np.linalg.svd(_jacobian_fd(net, int(layer)), compute_uv=False)
        np.testing.assert_allclose(row, want, rtol=1e-6, atol=1e-9)


def test_uses_the_same_network_as_propagate_including_lsuv():
    # Orthogonal start + LSUV on a linear network: J_l = prod(scale_k) times an orthogonal matrix.
    s = Scenario(lsuv=True, activation="linear", depth=6, width=32, batch=64, dtype="float64", seed=3)
    scales = network.build(s).lsuv.scale
    r = spectra.jacobian_singular_values(s, [1, 6])
    np.testing.assert_allclose(r.singular_values[0], scales[0], rtol=1e-12)
    np.testing.assert_allclose(r.singular_values[1], np.prod(scales), rtol=1e-12)


def test_float32_overflow_is_reported_not_raised():
    # N(0, 1) weights at width 256 multiply the largest singular value by ~16+ per layer: float32 (3.4e38)
    # overflows around layer 30, float64 (1.8e308) not before ~250.
    s = Scenario(init="random_normal", stddev=1.0, activation="linear", depth=60)
    r = spectra.jacobian_singular_values(s, [1, 10, 20, 50, 60])
    bad = r.first_nonfinite_depth
    assert bad is not None and 20 < bad < 50
    ok = r.depths < bad
    assert np.all(np.isfinite(r.singular_values[ok])) and np.all(np.isnan(r.singular_values[~ok]))
    r64 = spectra.jacobian_singular_values(s.replace(dtype="float64"), [50, 60])
    assert r64.first_nonfinite_depth is None and np.all(np.isfinite(r64.singular_values))
    summary = r.summary()
    assert np.isnan(summary["max"][-1]) and np.isfinite(summary["max"][0])


def test_default_scenario_shapes():
    r = spectra.jacobian_singular_values(Scenario(depth=12, width=32, batch=8), [12, 3, 3])
    assert r.depths.tolist() == [3, 12]  # sorted, unique
    assert r.singular_values.shape == (2, 32)
    assert np.all(np.diff(r.singular_values, axis=1) <= 0)  # descending


@pytest.mark.parametrize("layers", [0, [1, 13], [], [1.5], "3"])
def test_bad_layers_raise(layers):
    with pytest.raises(ValueError, match="layers"):
        spectra.jacobian_singular_values(Scenario(depth=12, width=8, batch=2), layers)


def test_budget_is_enforced():
    with pytest.raises(BudgetError):
        spectra.jacobian_singular_values(Scenario(depth=1000, width=2048, batch=4096), [1])
