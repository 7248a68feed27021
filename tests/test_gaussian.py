"""Vectorised Gaussian expectations: closed forms, a brute-force reference, kinks, large std, shapes."""

import math

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss

from initlab.weights import activations as A
from initlab.numerics import gaussian as G

# The rule's documented accuracy: ~1e-14 relative; the reference below is itself good to ~1e-14 (1000
# panels of 20 Gauss-Legendre nodes, graded down to 1e-4/std next to the kink), so 1e-12 leaves a margin
# of 100 for the sum of both, whatever the activation and std.
REL = 1e-12

_X20, _W20 = leggauss(20)


def _reference(g, std: float, mean: float = 0.0) -> float:
    """Brute-force E[g(mean + std Z)]: split at the kink, ~1000 panels per side (uniform + geometric)."""
    z0 = -mean / std
    inside = abs(z0) <= G.L
    z0 = min(max(z0, -G.L), G.L)
    total = 0.0
    for side in (-1.0, 1.0):
        T = G.L - side * z0
        if T <= 0:
            continue
        bp = np.unique(np.concatenate([[0.0], np.geomspace(min(1e-4 / std, T / 10), T, 600), np.linspace(0, T, 400)]))
        a, b = bp[:-1, None], bp[1:, None]
        t = (a + b) / 2 + (b - a) / 2 * _X20
        w = (b - a) / 2 * _W20
        z = z0 + side * t
        u = side * std * t if inside else mean + std * z
        total += float(np.sum(w * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * g(u)))
    return total


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("name", A.names())
def test_matches_brute_force_from_tiny_to_huge_std(name):
    # From std = 1e-3: below it elu/selu's own e^u - 1 loses ~eps/std relative accuracy near u = 0 (the
    # activation's rounding, not the rule's), which the two rules sample at different nodes.
    act = A.get(name)
    stds = np.array([1e-3, 0.1, 1.0, 3.0, 10.0, 100.0, 1e4, 1e6])
    for g in (lambda u: act.fn(u) ** 2, lambda u: act.deriv(u) ** 2):
        got = G.expectation(g, stds)
        ref = np.array([_reference(g, s) for s in stds])
        np.testing.assert_allclose(got, ref, rtol=REL, atol=0)


@pytest.mark.parametrize("name", ["relu", "selu", "tanh", "softplus"])
@pytest.mark.parametrize("mean, std", [(-3.0, 0.5), (0.3, 1.0), (2.0, 7.0), (50.0, 0.01)])
def test_matches_brute_force_with_a_mean(name, mean, std):
    # The kink moves to z0 = -mean/std (at 50/0.01 it lies far in the neglected tail).
    act = A.get(name)
    g = lambda u: act.fn(u) ** 2  # noqa: E731
    assert float(G.expectation(g, std, mean)) == pytest.approx(_reference(g, std, mean), rel=REL)


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (0.7, 0.3), (-1.2, 2.5), (0.0, 1e5)])
def test_relu_closed_forms(mu, sigma):
    # E[relu(X)] = mu Phi(a) + sigma phi(a), E[relu(X)^2] = (mu^2 + sigma^2) Phi(a) + mu sigma phi(a),
    # a = mu / sigma; E[relu'(X)^2] = Phi(a).
    relu = A.get("relu")
    a = mu / sigma
    assert float(G.expectation(relu.fn, sigma, mu)) == pytest.approx(mu * _cdf(a) + sigma * _pdf(a), rel=REL)
    want2 = (mu * mu + sigma * sigma) * _cdf(a) + mu * sigma * _pdf(a)
    assert float(G.expectation(lambda u: relu.fn(u) ** 2, sigma, mu)) == pytest.approx(want2, rel=REL)
    assert float(G.expectation(lambda u: relu.deriv(u) ** 2, sigma, mu)) == pytest.approx(_cdf(a), rel=REL)


def test_a_fixed_interval_rule_fails_where_this_one_does_not():
    # The reason for the range-scaled inner panel: E[tanh'(sZ)^2] at s = 100. The rule initlab used to have
    # (96 Gauss-Legendre nodes on each half of [-20, 20], whatever s) is off by more than 1e-3 there.
    tanh = A.get("tanh")
    g = lambda u: tanh.deriv(u) ** 2  # noqa: E731
    ref = _reference(g, 100.0)
    x, w = leggauss(96)
    z = np.concatenate([(x - 1.0) * 10.0, (x + 1.0) * 10.0])
    fixed = float(np.sum(np.tile(w, 2) * 10.0 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * g(100.0 * z)))
    assert abs(fixed / ref - 1) > 1e-3
    assert float(G.expectation(g, 100.0)) == pytest.approx(ref, rel=REL)


def test_zero_std_is_the_value_at_the_mean_and_shapes_broadcast():
    sig = A.get("sigmoid")
    got = G.expectation(sig.fn, np.zeros((2, 3)), np.array([-1.0, 0.0, 2.0]))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, np.broadcast_to(sig.fn(np.array([-1.0, 0.0, 2.0])), (2, 3)), rtol=1e-15)
    u, z, w = G.nodes(np.ones((4, 1)), np.zeros(5), n_inner=8, n_outer=4)
    assert u.shape == z.shape == w.shape == (4, 5, 24)
    _, _, w = G.nodes(np.array([0.0, 1.0, 1e3]), np.array([0.0, 0.5, -2.0]))
    np.testing.assert_allclose(w.sum(axis=-1), 1.0 - math.erfc(G.L / math.sqrt(2)), rtol=1e-14)


def test_nodes_on_each_side_of_the_kink_have_the_right_sign():
    u, _, _ = G.nodes(np.array([1e-3, 1.0, 1e6]), np.array([0.0, 0.5, -3.0]))
    k = u.shape[-1] // 2
    assert np.all(u[:, :k] < 0) and np.all(u[:, k:] > 0)
