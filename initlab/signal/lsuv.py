"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2016, "All you need is a good init").

Algorithm 1 of the paper, for the dense stack of :mod:`initlab.signal.network` (z_l = h_{l-1} W_l + b_l,
h_l = f(z_l))::

    pre-initialize every W_l with an orthonormal matrix (Saxe et al. 2014)
    for l = 1 .. depth:
        while |Var(z_l) - 1| >= tol and iterations < max_iter:
            W_l <- W_l / sqrt(Var(z_l))          Var over every entry of z_l on the batch
        h_l = f(z_l)                              the next layer sees the rescaled output

It is not an initializer of the registry: it needs data (the batch) and the activation. The orthonormal
start is the caller's (``network.build`` draws Keras ``orthogonal`` weights when ``Scenario.lsuv`` is
set); :func:`lsuv` rescales whatever it is given, so it also shows what LSUV does to any other start.

Which variance: the *pre-activation* z_l, the output of the layer's matrix product, as in the paper's
Caffe implementation (and Mishkin's PyTorch port), where the nonlinearity is a separate layer. Unit
variance of h_l = f(z_l) would be impossible for tanh and sigmoid (|f| < 1 bounds Var(h) below 1).

With zero biases z_l is linear in the scale of W_l, so one rescaling lands on variance 1 to rounding
and the loop stops after at most one iteration per layer; with random biases Var(s zW + b) is not
proportional to s^2 and the loop iterates (it converges whenever Var(b) < 1; otherwise it stops at
``max_iter`` and reports the layer as not converged). Each iteration rescales the stored product
h_{l-1} W_l instead of recomputing it: exactly the same numbers up to rounding, at the cost of one
forward pass in total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from initlab.weights import activations
from initlab.numerics import stats

__all__ = ["LsuvReport", "TOL", "MAX_ITER", "lsuv"]

TOL = 0.1  # Tol_var of the paper's experiments
MAX_ITER = 10  # T_max


@dataclass(frozen=True)
class LsuvReport:
    """What :func:`lsuv` did, per layer (arrays of length depth, layer 1 first)."""

    tol: float
    max_iter: int
    iterations: np.ndarray  # rescalings applied (0 when the start was already within tol)
    var_before: np.ndarray  # Var(z_l) on the batch before this layer was rescaled (earlier ones done)
    var_after: np.ndarray  # Var(z_l) after
    scale: np.ndarray  # total factor applied to W_l
    converged: np.ndarray  # |var_after - 1| < tol

    def table(self) -> pd.DataFrame:
        """One row per layer (numbered 1..depth), for display and download."""
        return pd.DataFrame({
            "layer": np.arange(1, self.iterations.size + 1),
            "iterations": self.iterations,
            "var_before": self.var_before,
            "var_after": self.var_after,
            "scale": self.scale,
            "converged": self.converged,
        })


def _variance(z: np.ndarray) -> float:
    """Var over every entry of z, overflow-safe (NaN if any entry is not finite)."""
    m = stats.moments(z)
    return m.std * m.std if m.frac_nonfinite == 0 else math.nan


def lsuv(weights: list[np.ndarray], x: np.ndarray, activation: activations.Activation | str, tol: float = TOL,
         max_iter: int = MAX_ITER, *, biases: np.ndarray | None = None, inplace: bool = False
         ) -> tuple[list[np.ndarray], LsuvReport]:
    """Rescale each W_l in turn until Var(z_l) on the batch ``x`` is within ``tol`` of 1.

    ``weights`` are (fan_in, fan_out) kernels, ``biases`` a (depth, width) array or None, ``x`` the
    (batch, width) input batch; the activation is a registry name or record. Returns the rescaled
    weights (same dtype) and the :class:`LsuvReport`. With ``inplace`` the arrays are scaled in place
    (no extra memory) -- except one array that appears at several layers (``shared``), which is copied
    per layer, since each layer gets its own scale. Never emits a numpy warning: a layer whose variance
    is 0 (e.g. zero weights) or not finite cannot be rescaled and is reported as not converged.
    """
    if not (isinstance(tol, (int, float)) and tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a positive number; received {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be a whole number >= 0; received {max_iter!r}")
    act = activations.get(activation) if isinstance(activation, str) else activation
    depth = len(weights)
    iterations = np.zeros(depth, dtype=np.int64)
    before = np.empty(depth)
    after = np.empty(depth)
    scales = np.ones(depth)
    counts: dict[int, int] = {}
    for w in weights:
        counts[id(w)] = counts.get(id(w), 0) + 1
    out: list[np.ndarray] = []
    h = x
    with np.errstate(all="ignore"):
        for i, w in enumerate(weights):
            dt = w.dtype.type
            zw = h @ w
            b = None if biases is None else biases[i]
            z = zw if b is None else zw + b
            v = _variance(z)
            before[i] = v
            scale = 1.0
            while not abs(v - 1.0) < tol and iterations[i] < max_iter:
                if not (math.isfinite(v) and v > 0):
                    break
                scale /= math.sqrt(v)
                z = zw * dt(scale)
                if b is not None:
                    z += b
                v = _variance(z)
                iterations[i] += 1
            after[i] = v
            scales[i] = scale
            if scale == 1.0:
                out.append(w)
            elif inplace and counts[id(w)] == 1:
                w *= dt(scale)
                out.append(w)
            else:  # a copy: the caller's array, or one shared with other layers, keeps its values
                out.append(w * dt(scale))
            h = act.fn(z)
    converged = np.abs(after - 1.0) < tol  # NaN compares False
    return out, LsuvReport(float(tol), int(max_iter), iterations, before, after, scales, converged)
