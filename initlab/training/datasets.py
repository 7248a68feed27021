"""Toy two-dimensional classification datasets (the playgrounds of initialization lessons), and digits.

``make(name, n, noise, seed, classes=2, **params) -> (X, y)``: ``X`` float64 of shape ``(n, 2)``, ``y``
int64 class indices; two classes have ``n // 2`` points of class 0 and ``n - n // 2`` of class 1
(balanced for even ``n``). blobs and spiral also make 3 to 10 classes (:data:`MULTICLASS`): class c has
``n // classes`` points, the last ``n % classes`` classes one more. Points come shuffled, so any prefix is
a fair sample. The same arguments give the same arrays, bit for bit.

``digits(n_train, n_test, seed, scaled)``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 64
pixel inputs of 0..16, 10 classes; ``sklearn.datasets.load_digits``, nothing downloaded), split as
``train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)`` into 1437 training and 360 test
images; ``n_train`` / ``n_test`` keep at most that many of each part (a stratified subset: :func:`_stratified`),
and ``scaled`` divides the pixels by 16, their maximum.
Dividing by a constant rather than standardising every column: 3 of the 64 pixels are 0 in every image
(and others nearly so), and a column standardised by a zero or tiny spread would blow up.

==================  =================================================================================
circles             scikit-learn's ``make_circles(n, noise=noise, factor=factor, random_state=seed)``:
                    class 0 on the circle of radius 1, class 1 on the circle of radius ``factor``
                    (default 0.8), equally spaced angles, shuffled, Gaussian jitter of std ``noise``.
moons               scikit-learn's ``make_moons(n, noise=noise, random_state=seed)``: class 0 on the upper
                    half circle of radius 1 centred at (0, 0), class 1 on the lower one centred at (1, 0.5).
blobs               scikit-learn's ``make_blobs(n_samples=[n // 2, n - n // 2], centers=[(-distance/2, 0),
                    (distance/2, 0)], cluster_std=hypot(std, noise), random_state=seed)``: two isotropic
                    Gaussian clusters (``distance`` default 2, ``std`` default 0.5; the jitter ``noise``
                    adds to the clusters' own spread, as independent Gaussians do).
gaussian_quantiles  scikit-learn's ``make_gaussian_quantiles(n_samples=n, n_features=2, n_classes=2,
                    cov=cov, random_state=seed)``: one Gaussian N(0, cov I) (``cov`` default 1), class 0
                    the half of the points nearest the centre, class 1 the outer half. It has no jitter:
                    ``noise`` is ignored.
xor                 initlab's own: uniform in the square [-1, 1]^2 with each coordinate at least ``margin``
                    (default 0.1) away from 0: class 1 where x1 x2 > 0, class 0 where x1 x2 < 0 (as
                    TensorFlow Playground's "exclusive or"), then jitter.
spiral              initlab's own: two interleaved Archimedean spirals (as TensorFlow Playground's
                    "spiral"): point i of m has radius r = i / m and angle 2 pi turns r + c pi for class c,
                    ``turns`` default 1.75, then jitter. With k classes, k arms: angle 2 pi turns r + c 2 pi / k
                    (the same numbers for k = 2).
==================  =================================================================================

blobs with k >= 3 classes: ``make_blobs(n_samples=[counts], centers=...)`` with the k centres evenly on the
circle of radius ``distance / 2``, centre c at angle pi + 2 pi c / k (so neighbouring clusters are as far
apart for every k, and the spread means the same as with two); two classes keep the two centres above.

Randomness. xor and spiral draw from ``np.random.default_rng(seed)``. The four scikit-learn datasets are
scikit-learn's own arrays, drawn by scikit-learn from numpy's legacy ``RandomState(seed)``: the one
exception to initlab's rule "every draw from a ``Generator``", made so that initlab's data are exactly the
data of the courses and notebooks that use scikit-learn (e.g. the Deep Learning Specialization's
"Initialization" notebook: ``np.random.seed(1); make_circles(300, noise=.05)`` is ``make("circles", 300,
0.05, seed=1)``). A ``RandomState(seed)`` is private to the call: numpy's global random state is never
touched. scikit-learn is imported here lazily, on the first such dataset (``pip install scikit-learn``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["DATASETS", "DIGITS_CLASSES", "DIGITS_FEATURES", "MULTICLASS", "NAMES", "PARAMS", "SKLEARN_NAMES",
           "digits", "make"]

# A seed of scikit-learn's datasets: what numpy's RandomState accepts.
MAX_SEED = 2**32 - 1

# Extra shape parameters per dataset: name -> (default, lower bound, upper bound).
PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "circles": {"factor": (0.8, 0.0, 0.999)},  # scikit-learn requires factor < 1
    "moons": {},
    "xor": {"margin": (0.1, 0.0, 0.9)},
    "spiral": {"turns": (1.75, 0.0, 10.0)},
    "blobs": {"distance": (2.0, 0.0, 100.0), "std": (0.5, 0.0, 100.0)},
    "gaussian_quantiles": {"cov": (1.0, 1e-6, 100.0)},
}
NAMES: tuple[str, ...] = tuple(PARAMS)  # the 2-D datasets :func:`make` draws
# Every dataset a training can use: the 2-D ones, then scikit-learn's bundled digits (:func:`digits`).
DATASETS: tuple[str, ...] = (*NAMES, "digits")
# The 2-D datasets that make 3 or more classes; the others are two classes by their shape.
MULTICLASS: tuple[str, ...] = ("blobs", "spiral")
MAX_CLASSES = 10
DIGITS_FEATURES, DIGITS_CLASSES = 64, 10
DIGITS_MAX = 16.0  # the largest pixel value of load_digits (4-bit grey levels)
DIGITS_TEST_SHARE = 0.2
DIGITS_TRAIN, DIGITS_TEST = 1437, 360  # the split of the 1797 images (test_size=0.2 rounds the test part up)
SKLEARN_NAMES: tuple[str, ...] = ("circles", "moons", "blobs", "gaussian_quantiles")
# Datasets that add no jitter: their ``noise`` is ignored.
NOISELESS: tuple[str, ...] = ("gaussian_quantiles",)


def _counts(n: int, classes: int) -> list[int]:
    """Points per class: n // classes each, one more for the last n % classes (two classes: n // 2 and
    n - n // 2, as scikit-learn gives the odd point to class 1)."""
    return [n // classes + (c >= classes - n % classes) for c in range(classes)]


def _sklearn(name: str, n0: int, n1: int, noise: float, seed: int, classes: int = 2, **kw: float
             ) -> tuple[np.ndarray, np.ndarray]:
    # Lazy: the core imports without scikit-learn until one of its datasets is asked for.
    from sklearn import datasets as skd

    n = n0 + n1
    if name == "blobs" and classes > 2:
        r = kw["distance"] / 2.0
        angles = [math.pi + 2.0 * math.pi * c / classes for c in range(classes)]
        return skd.make_blobs(n_samples=_counts(n, classes), n_features=2,
                              centers=[[r * math.cos(a), r * math.sin(a)] for a in angles],
                              cluster_std=math.hypot(kw["std"], noise), random_state=seed)
    if name == "circles":
        return skd.make_circles(n, noise=noise or None, factor=kw["factor"], random_state=seed)
    if name == "moons":
        return skd.make_moons(n, noise=noise or None, random_state=seed)
    if name == "blobs":
        d = kw["distance"] / 2.0
        return skd.make_blobs(n_samples=[n0, n1], n_features=2, centers=[[-d, 0.0], [d, 0.0]],
                              cluster_std=math.hypot(kw["std"], noise), random_state=seed)
    if n == 1:  # scikit-learn wants a point per class: the outer point of two, class 1 as the odd point is
        X, y = skd.make_gaussian_quantiles(cov=kw["cov"], n_samples=2, n_features=2, n_classes=2, random_state=seed)
        return X[y == 1], y[y == 1]
    return skd.make_gaussian_quantiles(cov=kw["cov"], n_samples=n, n_features=2, n_classes=2, random_state=seed)


def _xor(n0: int, n1: int, rng: np.random.Generator, margin: float) -> np.ndarray:
    # |x1|, |x2| ~ U[margin, 1]; the signs make x1 x2 < 0 for class 0 and > 0 for class 1.
    mag = margin + (1.0 - margin) * rng.random((n0 + n1, 2))
    s1 = np.where(rng.random(n0 + n1) < 0.5, -1.0, 1.0)
    s2 = np.concatenate([-s1[:n0], s1[n0:]])
    return mag * np.column_stack([s1, s2])


def _spiral(n0: int, n1: int, rng: np.random.Generator, turns: float, classes: int = 2) -> np.ndarray:
    parts = []
    # 2 pi / 2 is pi exactly (a power-of-two scaling), so two arms are the same numbers as before k arms.
    for c, m in enumerate(_counts(n0 + n1, classes)):
        r = np.arange(m) / max(m, 1)
        t = 2.0 * math.pi * turns * r + c * (2.0 * math.pi / classes)
        parts.append(np.column_stack([r * np.cos(t), r * np.sin(t)]))
    return np.concatenate(parts)


_SHAPES: dict[str, Callable[..., np.ndarray]] = {"xor": _xor, "spiral": _spiral}


def make(name: str, n: int, noise: float = 0.0, seed: int = 0, classes: int = 2, **params: Any
         ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of dataset ``name`` with Gaussian jitter of std ``noise``, drawn from ``seed``.

    ``seed`` is a whole number in [0, 2**32 - 1] (numpy's ``RandomState`` range); for circles, moons,
    blobs and gaussian_quantiles the arrays are exactly scikit-learn's with ``random_state=seed``.

    Returns ``(X, y)``: ``X`` float64 ``(n, 2)``, ``y`` int64 ``(n,)`` with ``n // 2`` zeros and
    ``n - n // 2`` ones, in random order. ``classes`` (2 to 10; more than 2 only for :data:`MULTICLASS`):
    ``y`` in 0 .. classes - 1, ``n // classes`` points of each class and one more for the last
    ``n % classes`` classes. ``params`` are the dataset's shape parameters (see :data:`PARAMS` and the
    module docstring); an unknown name, parameter or an out-of-range value raises ``ValueError`` naming it.
    digits is not drawn point by point: :func:`digits`.
    """
    if name == "digits":
        raise ValueError("digits is a fixed set of images split into training and test parts: use datasets.digits")
    if name not in PARAMS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be a whole number in [2, {MAX_CLASSES}]; received {classes!r}")
    if classes > 2 and name not in MULTICLASS:
        raise ValueError(f"dataset {name!r} has two classes; {', '.join(MULTICLASS)} can have more")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a whole number >= 0; received {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite number >= 0; received {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in [0, {MAX_SEED}]; received {seed!r}")
    specs = PARAMS[name]
    unknown = sorted(set(params) - set(specs))
    if unknown:
        valid = ", ".join(specs) or "none"
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for dataset {name!r}; valid: {valid}")
    kwargs: dict[str, float] = {}
    for key, (default, lo, hi) in specs.items():
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ValueError(f"{key} of dataset {name!r} must be in [{lo:g}, {hi:g}]; received {value!r}")
        kwargs[key] = float(value)

    n = int(n)
    n0 = n // 2  # as scikit-learn: the odd point goes to class 1
    n1 = n - n0
    if name in SKLEARN_NAMES:
        if n == 0:
            return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
        X, y = _sklearn(name, n0, n1, float(noise), int(seed), int(classes), **kwargs)
        return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if classes > 2:
        X = _SHAPES[name](n0, n1, rng, classes=int(classes), **kwargs)
        y = np.repeat(np.arange(classes, dtype=np.int64), _counts(n, int(classes)))
    else:
        X = _SHAPES[name](n0, n1, rng, **kwargs)
        y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = rng.permutation(n)
    X, y = X[order], y[order]
    if noise > 0:
        X += rng.normal(scale=noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=np.float64), y


def digits(n_train: int, n_test: int, seed: int = 0, scaled: bool = True
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits, split: ``(X_train, y_train, X_test, y_test)``.

    ``load_digits()`` (1797 images of 8x8 pixels with values 0..16, classes 0..9; bundled with
    scikit-learn, nothing is downloaded) is split by ``train_test_split(X, y, test_size=0.2, stratify=y,
    random_state=seed)`` into 1437 training and 360 test images, every digit in both parts in its share of
    the whole. A part larger than ``n_train`` (``n_test``) keeps a stratified subset of that many images
    (:func:`_stratified`): whatever the size, every digit keeps its share (within one image). ``scaled``:
    pixels / 16, in [0, 1] (module docstring: why not standardised). ``X`` float64 (m, 64) in the split's
    (shuffled) order, ``y`` int64.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in [0, {MAX_SEED}]; received {seed!r}")
    for label, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < DIGITS_CLASSES:
            raise ValueError(f"{label} must be a whole number >= {DIGITS_CLASSES} (one image per digit); received {n!r}")
    X, y = _digits_images()
    tr, te = _digits_split(int(seed))
    X_tr, X_te, y_tr, y_te = X[tr], X[te], y[tr], y[te]
    parts = []
    for Xp, yp, n in ((X_tr, y_tr, int(n_train)), (X_te, y_te, int(n_test))):
        if n < len(yp):
            keep = _stratified(yp, n)
            Xp, yp = Xp[keep], yp[keep]
        if scaled:
            Xp = Xp / DIGITS_MAX
        parts += [np.ascontiguousarray(Xp), np.ascontiguousarray(yp)]
    return parts[0], parts[1], parts[2], parts[3]


@functools.lru_cache(maxsize=64)
def _digits_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of :func:`_digits_images` in ``train_test_split(X, y, test_size=0.2, stratify=y,
    random_state=seed)``'s training and test parts (its split of the row numbers is its split of the rows),
    kept per seed (read-only): scikit-learn's argument checks took a training's first milliseconds."""
    from sklearn.model_selection import train_test_split

    _, y = _digits_images()
    tr, te = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_SHARE, stratify=y, random_state=seed)
    tr.flags.writeable = False
    te.flags.writeable = False
    return tr, te


@functools.lru_cache(maxsize=1)
def _digits_images() -> tuple[np.ndarray, np.ndarray]:
    """``load_digits()``'s images (1797, 64) float64 and labels int64, read once per process (read-only):
    parsing the bundled compressed CSV took ~10 ms, at every training and every page of a digits run."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _stratified(y: np.ndarray, n: int) -> np.ndarray:
    """Indices (ascending) of ``n`` of the examples ``y``, every class in its share: class c keeps its first
    q_c examples in the given order, q_c = n count_c / len(y) rounded down, the n - sum q_c left over going
    to the classes with the largest fractional parts (Hamilton's largest-remainder rounding; ties to the
    smaller class index), so |q_c - n count_c / len(y)| < 1. The order is the split's, already shuffled
    by its seed, so the kept examples are a random sample of each class; a larger n keeps a superset
    whenever the quotas grow with it. (scikit-learn's ``train_test_split(train_size=n, stratify=y)`` would
    do but needs n and len(y) - n both at least the number of classes, which 359 of 360 test images is not.)
    """
    counts = np.bincount(y)
    exact = counts * n / len(y)
    q = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(counts)), -(exact - q)))  # largest remainder first
    q[order[:n - int(q.sum())]] += 1
    rank = np.empty(len(y), np.int64)  # position of each example within its class
    for c in range(len(counts)):
        idx = np.flatnonzero(y == c)
        rank[idx] = np.arange(len(idx))
    return np.flatnonzero(rank < q[y])
