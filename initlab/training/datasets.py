"""Toy two-dimensional binary classification datasets (the playgrounds of initialization lessons).

``make(name, n, noise, seed, **params) -> (X, y)``: ``X`` float64 of shape ``(n, 2)``, ``y`` int64 of
0s and 1s. Every dataset is a clean shape plus isotropic Gaussian jitter ``N(0, noise^2 I)`` on each
point, and has ``n // 2`` points of class 0 and ``n - n // 2`` of class 1 (balanced for even ``n``).
Points come shuffled, so any prefix is a fair sample. Randomness comes only from
``np.random.default_rng(seed)``: the same arguments give the same arrays, bit for bit.

=========  ==========================================================================================
circles    As scikit-learn ``make_circles``: class 0 on the circle of radius 1, class 1 on the circle
           of radius ``factor`` (default 0.8), angles equally spaced (``linspace(0, 2 pi, m,
           endpoint=False)``), then shuffled and jittered.
moons      As scikit-learn ``make_moons``: class 0 on the upper half circle of radius 1 centred at
           (0, 0), class 1 on the lower half circle centred at (1, 0.5), angles ``linspace(0, pi,
           m)``.
xor        Uniform in the square [-1, 1]^2 with each coordinate at least ``margin`` (default 0.1)
           away from 0: class 1 in the quadrants where x1 x2 > 0, class 0 where x1 x2 < 0 (the XOR
           of the signs; as TensorFlow Playground's "exclusive or").
spiral     Two interleaved Archimedean spirals (as TensorFlow Playground's "spiral"): point i of m
           has radius r = i / m and angle 2 pi turns r + c pi for class c, ``turns`` default 1.75.
blobs      Two isotropic Gaussian clusters of standard deviation ``std`` (default 0.5) centred at
           (-distance/2, 0) for class 0 and (+distance/2, 0) for class 1 (``distance`` default 2).
=========  ==========================================================================================

Scikit-learn's generators are re-implemented (not imported) with numpy's ``Generator`` so that the
core keeps to numpy and no global random state is touched; the shapes follow their definitions but the
random draws are not scikit-learn's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["NAMES", "PARAMS", "make"]

SeedLike = int | np.random.SeedSequence

# Extra shape parameters per dataset: name -> (default, lower bound, upper bound).
PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "circles": {"factor": (0.8, 0.0, 1.0)},
    "moons": {},
    "xor": {"margin": (0.1, 0.0, 0.9)},
    "spiral": {"turns": (1.75, 0.0, 10.0)},
    "blobs": {"distance": (2.0, 0.0, 100.0), "std": (0.5, 0.0, 100.0)},
}
NAMES: tuple[str, ...] = tuple(PARAMS)


def _circles(n0: int, n1: int, rng: np.random.Generator, factor: float) -> np.ndarray:
    a0 = np.linspace(0.0, 2.0 * math.pi, n0, endpoint=False)
    a1 = np.linspace(0.0, 2.0 * math.pi, n1, endpoint=False)
    return np.concatenate([np.column_stack([np.cos(a0), np.sin(a0)]),
                           factor * np.column_stack([np.cos(a1), np.sin(a1)])])


def _moons(n0: int, n1: int, rng: np.random.Generator) -> np.ndarray:
    a0 = np.linspace(0.0, math.pi, n0)
    a1 = np.linspace(0.0, math.pi, n1)
    return np.concatenate([np.column_stack([np.cos(a0), np.sin(a0)]),
                           np.column_stack([1.0 - np.cos(a1), 0.5 - np.sin(a1)])])


def _xor(n0: int, n1: int, rng: np.random.Generator, margin: float) -> np.ndarray:
    # |x1|, |x2| ~ U[margin, 1]; the signs make x1 x2 < 0 for class 0 and > 0 for class 1.
    mag = margin + (1.0 - margin) * rng.random((n0 + n1, 2))
    s1 = np.where(rng.random(n0 + n1) < 0.5, -1.0, 1.0)
    s2 = np.concatenate([-s1[:n0], s1[n0:]])
    return mag * np.column_stack([s1, s2])


def _spiral(n0: int, n1: int, rng: np.random.Generator, turns: float) -> np.ndarray:
    parts = []
    for c, m in ((0, n0), (1, n1)):
        r = np.arange(m) / max(m, 1)
        t = 2.0 * math.pi * turns * r + c * math.pi
        parts.append(np.column_stack([r * np.cos(t), r * np.sin(t)]))
    return np.concatenate(parts)


def _blobs(n0: int, n1: int, rng: np.random.Generator, distance: float, std: float) -> np.ndarray:
    pts = std * rng.standard_normal((n0 + n1, 2))
    pts[:n0, 0] -= distance / 2.0
    pts[n0:, 0] += distance / 2.0
    return pts


_SHAPES: dict[str, Callable[..., np.ndarray]] = {
    "circles": _circles, "moons": _moons, "xor": _xor, "spiral": _spiral, "blobs": _blobs,
}


def make(name: str, n: int, noise: float = 0.0, seed: SeedLike = 0, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of dataset ``name`` with Gaussian jitter of std ``noise``, drawn from ``seed``.

    Returns ``(X, y)``: ``X`` float64 ``(n, 2)``, ``y`` int64 ``(n,)`` with ``n // 2`` zeros and
    ``n - n // 2`` ones, in random order. ``params`` are the dataset's shape parameters (see
    :data:`PARAMS` and the module docstring); an unknown name, parameter or an out-of-range value raises
    ``ValueError`` naming it.
    """
    if name not in _SHAPES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a whole number >= 0; received {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise < math.inf:
        raise ValueError(f"noise must be a finite number >= 0; received {noise!r}")
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

    rng = np.random.default_rng(seed)
    n = int(n)
    n0 = n // 2  # as scikit-learn: the odd point goes to class 1
    n1 = n - n0
    X = _SHAPES[name](n0, n1, rng, **kwargs)
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = rng.permutation(n)
    X, y = X[order], y[order]
    if noise > 0:
        X += rng.normal(scale=noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=np.float64), y
