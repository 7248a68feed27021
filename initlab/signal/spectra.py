"""Singular values of the input-output Jacobian: how a deep network stretches and squeezes directions.

For the network of :mod:`initlab.signal.network` (row vectors, z_l = h_{l-1} W_l + b_l, h_l = f(z_l)), the
Jacobian of layer l's output with respect to the input, at one input x, is the product::

    J_l = dh_l / dh_0 = D_l W_l^T D_{l-1} W_{l-1}^T ... D_1 W_1^T,      D_k = diag(f'(z_k))

(the chain rule, in column form: dh_k = D_k W_k^T dh_{k-1}). Its singular values say how much the
network magnifies a small change of the input in each direction. Saxe et al. (2014, "Exact solutions
to the nonlinear dynamics of learning in deep linear neural networks") showed that orthogonal weights
make a deep *linear* network an isometry -- every singular value equals gain^l -- while Gaussian
weights of the "right" variance (sigma_w^2 = 1) keep the mean squared singular value at 1 but spread
the spectrum more and more with depth (the squared singular values of a product of l Ginibre matrices
have mean 1 and variance l as width -> inf). Pennington, Schoenholz & Ganguli (2017, "Resurrecting the
sigmoid in deep learning through dynamical isometry") call a spectrum concentrated near 1 *dynamical
isometry* and show that it, not just chi1 = 1 (a mean), is what makes very deep networks trainable.

Computation: the network is the one :func:`initlab.signal.network.build` draws for the scenario (same seed,
same weights, LSUV applied if asked), evaluated at the first example of its input batch. J is
accumulated layer by layer in the scenario's dtype (a (width, width) product per layer: ~0.1 s for the
default depth 50, width 256 in float32), and the singular values of the requested depths are computed
in float64 from it. In float32 the product can overflow long before float64 would; such a depth is
reported (``first_nonfinite_depth``) and its row of singular values is NaN, never an exception or a
numpy warning. Precision: J carries the rounding of its dtype, so singular values below
:data:`NOISE_FLOOR` (1e-7 s_max in float32, 1e-15 s_max in float64) are rounding noise, and a condition
number s_max / s_min beyond 1e7 (1e15) only says "at least that".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from initlab.signal import network
from initlab.signal.scenario import Scenario

__all__ = ["NOISE_FLOOR", "JacobianSpectra", "jacobian_singular_values"]

# Singular values below NOISE_FLOOR[dtype] * s_max are the rounding of J, not the network's: J holds
# entries of relative precision eps, so its singular values carry absolute errors of about eps s_max.
# Measured on the isometry preset (100 Gaussian layers, width 256, float32 against the same weights
# multiplied in float64): values above 1e-6 s_max agree to 0.6%, near 1e-7 s_max to 20%, and below it
# float32 reports ~1e-9 where the exact values are ~1e-18. Texts say how many fall below the floor, never
# their digits (which change with the CPU's BLAS kernels).
NOISE_FLOOR = {"float32": 1e-7, "float64": 1e-15}


@dataclass(frozen=True)
class JacobianSpectra:
    """Singular values of dh_l/dh_0 at the first input example, for each requested depth l."""

    depths: np.ndarray  # (k,) the requested layers, ascending, each in 1..depth
    singular_values: np.ndarray  # (k, width) float64, descending per row; NaN rows where J overflowed
    dtype: str  # the dtype J was accumulated in (the scenario's)
    first_nonfinite_depth: int | None  # first layer (up to the deepest requested) whose J, z or h is not finite

    def summary(self) -> dict[str, np.ndarray]:
        """Per requested depth: largest, smallest, mean of s^2 (the chi1^l of mean-field theory), the
        spread max/min, and ``below_floor``: how many lie below :data:`NOISE_FLOOR` times the largest
        (rounding, not the network: their digits mean nothing); NaN where J overflowed."""
        s = self.singular_values
        with np.errstate(all="ignore"):
            return {
                "depth": self.depths,
                "max": s[:, 0],
                "min": s[:, -1],
                "mean_sq": np.mean(s * s, axis=1),
                "condition": s[:, 0] / s[:, -1],
                "floor": self.floor(),
                "below_floor": np.where(np.isfinite(s[:, 0]), np.sum(s < self.floor()[:, None], axis=1), np.nan),
            }

    def floor(self) -> np.ndarray:
        """Per requested depth, the size below which a singular value is rounding: NOISE_FLOOR[dtype]
        times the largest, and never below n^1.5 times the dtype's smallest subnormal (n = width). Where
        J's entries have underflowed into the subnormal range (a vanishing network), each is a sum of n
        products rounded to a grid of that spacing, so it can be off by up to n grid steps, and an n x n
        matrix of such errors has a spectral norm up to sqrt(n) times that, however small the largest
        singular value. Measured on lsuv_rescue's layer-50 spectrum (largest 1.5e-39; float32 against the
        same network multiplied in float64): values above 1e-42 agree to 1.3%, near 1e-43 they are off by
        half, below it they are rounding (111 values in [1e-44, 1e-43) where the exact spectrum has 18);
        the floor there is 256^1.5 x 1.4e-45 = 5.7e-42."""
        s = self.singular_values
        info = np.finfo(np.dtype(self.dtype))
        rel = NOISE_FLOOR.get(self.dtype, NOISE_FLOOR["float32"])
        with np.errstate(all="ignore"):
            return np.maximum(rel * s[:, 0], s.shape[1] ** 1.5 * float(info.smallest_subnormal))


def _depths(layers: Iterable[int] | int, depth: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(layers))
    if arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(f"layers must be whole numbers in 1..{depth}; received {layers!r}")
    if arr.min() < 1 or arr.max() > depth:
        raise ValueError(f"layers must be in 1..{depth} (the scenario's depth); received {layers!r}")
    return np.unique(arr)


def jacobian_singular_values(s: Scenario, layers: Iterable[int] | int) -> JacobianSpectra:
    """Singular values of the input-output Jacobian dh_l/dh_0 of the scenario's network at ``layers``.

    Evaluated at ``x[0]``, the first example of the scenario's input batch, with the same weights as
    :func:`initlab.propagate` (``network.build(s)``). See the module docstring for the formula, the
    papers and the overflow rule. Raises ``ValueError`` for an invalid scenario or layer, and
    :class:`initlab.signal.scenario.BudgetError` when the scenario is over budget.
    """
    net = network.build(s)
    depth = len(net.weights)
    want = _depths(layers, depth)
    width = net.x.shape[1]
    act = net.activation
    dtype = net.x.dtype
    out = np.full((want.size, width), np.nan)
    first_bad: int | None = None
    h = net.x[:1]  # (1, width): one example
    # J^T in row form: dh_l (row) = dh_0 M_l with M_l = W_1 D_1 W_2 D_2 ... W_l D_l; same singular values.
    m = np.eye(width, dtype=dtype)
    nxt = 0
    with np.errstate(all="ignore"):
        for i, w in enumerate(net.weights):
            z, h = network.layer(net, i, h)
            m = m @ w
            m *= act.deriv(z)  # column scaling by f'(z_l): M W D
            if first_bad is None and not (np.isfinite(m).all() and np.isfinite(z).all() and np.isfinite(h).all()):
                first_bad = i + 1
            if i + 1 == want[nxt]:
                if first_bad is None:
                    out[nxt] = np.linalg.svd(m.astype(np.float64), compute_uv=False)
                nxt += 1
                if nxt == want.size:
                    break
    return JacobianSpectra(want, out, str(dtype), first_bad)
