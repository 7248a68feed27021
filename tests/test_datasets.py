"""Toy datasets: shapes, balance, determinism, and the geometry each one promises, as numbers."""

import math

import numpy as np
import pytest

from initlab.training import datasets

NAMES = datasets.NAMES


@pytest.mark.parametrize("n", [0, 1, 7, 300])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtypes_and_balance(name, n):
    X, y = datasets.make(name, n, noise=0.1, seed=3)
    assert X.shape == (n, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert np.count_nonzero(y == 0) == n // 2 and np.count_nonzero(y == 1) == n - n // 2
    assert np.isfinite(X).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    a, b, c = (datasets.make(name, 200, 0.05, seed) for seed in (5, 5, 6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_scikit_learns_datasets_are_exactly_scikit_learns_arrays():
    # random_state=seed, bit for bit; the course notebook's np.random.seed(1) is the same stream.
    skd = pytest.importorskip("sklearn.datasets")
    cases = [
        ("circles", {}, lambda: skd.make_circles(301, noise=0.05, factor=0.8, random_state=5)),
        ("circles", {"factor": 0.3}, lambda: skd.make_circles(301, noise=0.05, factor=0.3, random_state=5)),
        ("moons", {}, lambda: skd.make_moons(301, noise=0.05, random_state=5)),
        ("blobs", {"std": 0.4, "distance": 3.0}, lambda: skd.make_blobs(
            n_samples=[150, 151], centers=[[-1.5, 0.0], [1.5, 0.0]], cluster_std=math.hypot(0.4, 0.05),
            random_state=5)),
        ("gaussian_quantiles", {"cov": 2.0}, lambda: skd.make_gaussian_quantiles(
            cov=2.0, n_samples=301, n_features=2, n_classes=2, random_state=5)),
    ]
    for name, params, theirs in cases:
        X, y = datasets.make(name, 301, 0.05, 5, **params)
        tX, ty = theirs()
        assert np.array_equal(X, tX) and np.array_equal(y, ty), name
    np.random.seed(1)
    tX, ty = skd.make_circles(n_samples=300, noise=.05)  # the course notebook's training set
    X, y = datasets.make("circles", 300, 0.05, 1)
    assert np.array_equal(X, tX) and np.array_equal(y, ty)
    # Without noise, scikit-learn adds none (noise=None): the shapes are exact.
    assert np.array_equal(datasets.make("moons", 20, 0.0, 3)[0], skd.make_moons(20, random_state=3)[0])


def test_gaussian_quantiles_split_at_the_median_radius_and_ignore_noise():
    X, y = datasets.make("gaussian_quantiles", 1000, 0.0, seed=3)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 0].max() <= r[y == 1].min()
    assert np.array_equal(X, datasets.make("gaussian_quantiles", 1000, 0.5, seed=3)[0])


@pytest.mark.parametrize("name", NAMES)
def test_no_global_random_state_is_used(name):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    datasets.make(name, 50, 0.1, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name", NAMES)
def test_points_come_shuffled(name):
    # Not all of class 0 first: a prefix (a mini-batch) sees both classes.
    _, y = datasets.make(name, 200, 0.0, seed=1)
    assert 0 < y[:50].sum() < 50


def test_circles_without_noise_lie_exactly_on_the_two_circles():
    X, y = datasets.make("circles", 301, 0.0, seed=0, factor=0.3)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0, rtol=1e-15)
    np.testing.assert_allclose(r[y == 1], 0.3, rtol=1e-15)
    # Equally spaced angles, as scikit-learn's make_circles: 150 outer points 2 pi / 150 apart.
    angles = np.sort(np.arctan2(X[y == 0, 1], X[y == 0, 0]) % (2 * math.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * math.pi / 150, atol=1e-12)


def test_circles_radii_with_noise_match_the_gaussian_formula():
    # x = r u + e, e ~ N(0, s^2 I): E|x|^2 = r^2 + 2 s^2, Var|x|^2 = 4 r^2 s^2 + 4 s^4 (u.e ~ N(0, s^2),
    # |e|^2 = s^2 chi^2_2). The sample mean of m points is within 5 standard errors (seeded).
    s, m = 0.05, 20_000
    X, y = datasets.make("circles", 2 * m, s, seed=11)  # default factor 0.8
    r2 = X[:, 0] ** 2 + X[:, 1] ** 2
    for cls, r in ((0, 1.0), (1, 0.8)):
        se = math.sqrt((4 * r * r * s * s + 4 * s**4) / m)
        assert abs(r2[y == cls].mean() - (r * r + 2 * s * s)) < 5 * se


def test_moons_without_noise_lie_on_their_half_circles():
    X, y = datasets.make("moons", 400, 0.0, seed=2)
    a, b = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(a[:, 0], a[:, 1]), 1.0, rtol=1e-14)
    assert (a[:, 1] >= -1e-15).all()  # upper half of the circle around (0, 0)
    np.testing.assert_allclose(np.hypot(b[:, 0] - 1.0, b[:, 1] - 0.5), 1.0, rtol=1e-14)
    assert (b[:, 1] <= 0.5 + 1e-15).all()  # lower half of the circle around (1, 0.5)


def test_xor_labels_are_the_sign_of_the_product_and_respect_the_margin():
    X, y = datasets.make("xor", 1000, 0.0, seed=4, margin=0.2)
    assert np.array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(np.int64))
    assert (np.abs(X) >= 0.2).all() and (np.abs(X) <= 1.0).all()


def test_spiral_arms_are_point_reflections_of_each_other():
    # Class c has angle 2 pi turns r + c pi at the same radii r = i/m: arm 1 = -arm 0, point by point.
    X, y = datasets.make("spiral", 500, 0.0, seed=5)
    a, b = X[y == 0], X[y == 1]
    key = lambda p: p[np.lexsort((p[:, 1], p[:, 0]))]  # noqa: E731
    np.testing.assert_allclose(key(-a), key(b), atol=1e-12)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() == 0.0 and r.max() < 1.0


def test_blobs_means_and_spread_match_their_parameters():
    m, std, dist = 5000, 0.4, 3.0
    X, y = datasets.make("blobs", 2 * m, 0.0, seed=6, std=std, distance=dist)
    se = std / math.sqrt(m)  # standard error of a class mean, per coordinate
    for cls, cx in ((0, -dist / 2), (1, dist / 2)):
        mean = X[y == cls].mean(axis=0)
        assert abs(mean[0] - cx) < 5 * se and abs(mean[1]) < 5 * se
        # The sample std of m normals has standard error ~ std / sqrt(2m).
        assert abs(X[y == cls].std(axis=0).mean() - std) < 5 * std / math.sqrt(4 * m)


def test_noise_is_gaussian_with_the_given_std():
    # blobs with std 0 are two points; what remains is the jitter alone.
    s, m = 0.3, 20_000
    X, y = datasets.make("blobs", 2 * m, s, seed=7, std=0.0, distance=0.0)
    assert abs(X.std() - s) < 5 * s / math.sqrt(2 * 2 * 2 * m)
    assert abs(X.mean()) < 5 * s / math.sqrt(2 * 2 * m)


@pytest.mark.parametrize("call, message", [
    (lambda: datasets.make("rings", 10), "unknown dataset 'rings'"),
    (lambda: datasets.make("circles", -1), "n must be"),
    (lambda: datasets.make("circles", 2.5), "n must be"),
    (lambda: datasets.make("circles", 10, noise=-0.1), "noise must be"),
    (lambda: datasets.make("circles", 10, noise=float("nan")), "noise must be"),
    (lambda: datasets.make("circles", 10, factor=1.5), "factor of dataset 'circles' must be in"),
    (lambda: datasets.make("moons", 10, factor=0.5), "unknown parameter(s) factor for dataset 'moons'"),
    (lambda: datasets.make("moons", 10, seed=-1), "seed must be"),
    (lambda: datasets.make("moons", 10, seed=2**32), "seed must be"),
])
def test_bad_arguments_raise_naming_the_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)
