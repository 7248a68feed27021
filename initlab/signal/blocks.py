"""Residual blocks and normalization: one block's forward and backward pass.

The plain MLP of :mod:`initlab.signal.network` is the case ``block="plain", norm="none"``; everything
else goes through here, one block at a time. With N the scenario's norm (the identity for ``none``),
f the activation and alpha the branch scale (:meth:`initlab.signal.scenario.Scenario.alpha`)::

    plain             h_l = f(N(h_(l-1) W_l + b_l))                    (Ioffe & Szegedy 2015, Fig. 2)
    residual, pre     h_l = h_(l-1) + alpha B(h_(l-1))                 (He et al. 2016b; pre-LN Transformer)
                      B(x) = f(N(x)) W + b                             one layer per branch
                      B(x) = f(N(f(N(x)) W1 + b1)) W2 + b2             two layers
    residual, post    h_l = N(h_(l-1) + alpha B(h_(l-1)))             (He et al. 2016a; post-LN Transformer)
                      B(x) = f(x W + b)                                one layer
                      B(x) = f(x W1 + b1) W2 + b2                      two layers

Norms at initialization (gamma = 1, beta = 0), with eps the scenario's ``norm_eps``::

    batch: u = (x - mean_b x) / sqrt(var_b x + eps)   per unit, over the batch (biased variance, as
           PyTorch's BatchNorm1d and Keras' BatchNormalization normalise in training mode)
    layer: u = (x - mean_u x) / sqrt(var_u x + eps)   per example, over the units (LayerNorm)

Backward of a norm (gamma = 1), with s = sqrt(var + eps) and means over the same axis::

    dx = (du - mean(du) - u * mean(du * u)) / s

A BatchNorm subtracts each unit's batch mean, so a bias added just before it cancels exactly.

What a block reports as its row of the per-layer table: ``pre``, the input of the block's last
activation (what saturates or dies); ``act``, the block's output h_l (the residual stream); ``delta``,
the per-example gradient dl_b/dh_l at the block's output for residual blocks and dl_b/dz_l (the linear
output, before the norm) for plain ones, as the plain MLP reports dl_b/dz_l.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab.weights.activations import Activation

__all__ = ["Arch", "BlockCache", "backward", "forward", "norm_backward", "normalize"]


@dataclass(frozen=True)
class Arch:
    """The block structure of a network: what :func:`forward` and :func:`backward` need besides the weights."""

    residual: bool
    norm: str  # "none" | "batch" | "layer"
    position: str  # "pre" | "post" (residual blocks only)
    branch: int  # weight layers per block (1 for plain blocks)
    alpha: float
    eps: float

    @classmethod
    def of(cls, s: Any) -> "Arch":
        """The architecture of scenario ``s``."""
        return cls(s.residual, s.norm, s.norm_position, s.layers_per_block, s.alpha(), float(s.norm_eps))


def normalize(x: np.ndarray, norm: str, eps: float, axis: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(u, inv)``: x normalised as ``norm`` says (gamma = 1, beta = 0) and 1 / sqrt(var + eps) (None for
    ``norm="none"``, where u is x itself). ``axis``: the axis the statistics are taken over, when x is not
    laid out (examples, units) (the training engine holds (runs, units, examples)).

    Overflow-safe: x is divided by its largest magnitude before the mean, the centred values by theirs
    before squaring, so the result is finite whenever x is (float32 squares overflow from 1.8e19; the values may be far larger
    when the weights explode, and a naive variance would give 0 or NaN instead of a normalised array).
    A constant slice (zero variance) normalises to 0.
    """
    if norm == "none":
        return x, None
    if axis is None:
        axis = 0 if norm == "batch" else 1
    dt = x.dtype.type
    with np.errstate(all="ignore"):
        # The plain formula first (what PyTorch and Keras compute); it is exact unless a square overflows
        # or underflows, which the reduced (axis-long) variance shows, and then only the scaled form below
        # is right.
        xc = x - x.mean(axis=axis, keepdims=True, dtype=x.dtype)
        var = np.mean(xc * xc, axis=axis, keepdims=True, dtype=x.dtype)
        tiny = np.finfo(x.dtype).tiny
        if np.isfinite(var).all() and (var > tiny / np.finfo(x.dtype).eps).all():
            inv = dt(1.0) / np.sqrt(var + dt(eps))
            return xc * inv, inv
        # Two scalings: by the largest |x| before the mean (whose sum could overflow), by the largest
        # centred value before squaring.
        s1 = np.max(np.abs(x), axis=axis, keepdims=True)
        s1 = np.where((s1 > 0) & np.isfinite(s1), s1, dt(1.0))
        y = x / s1
        yc = y - y.mean(axis=axis, keepdims=True, dtype=x.dtype)
        m = np.max(np.abs(yc), axis=axis, keepdims=True)
        m = np.where(m > 0, m, dt(1.0))
        xs = yc / m
        var_s = np.mean(xs * xs, axis=axis, keepdims=True, dtype=x.dtype)
        scale = s1 * m  # the centred values are xs * scale
        root = np.sqrt(var_s + dt(eps) / scale / scale)
        u = xs / root
        inv = dt(1.0) / (scale * root)
    return u, inv


def norm_backward(du: np.ndarray, u: np.ndarray, inv: np.ndarray | None, norm: str) -> np.ndarray:
    """dL/dx of the norm (gamma = 1) given dL/du, its output u and 1 / sqrt(var + eps) (module docstring)."""
    if norm == "none":
        return du
    axis = 0 if norm == "batch" else 1
    dt = du.dtype
    with np.errstate(all="ignore"):
        return inv * (du - du.mean(axis=axis, keepdims=True, dtype=dt)
                      - u * (du * u).mean(axis=axis, keepdims=True, dtype=dt))


@dataclass
class BlockCache:
    """What one block's backward pass needs from its forward pass. ``us`` are the inputs of the block's
    activations (after their norm), ``invs`` the norms' 1 / sqrt(var + eps), ``out_inv`` the post-norm's."""

    us: list[np.ndarray]
    invs: list[np.ndarray | None]
    out: np.ndarray  # h_l (post-norm: its normalised value, the norm's u)
    out_inv: np.ndarray | None = None


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    z = x @ w
    if b is not None:
        z += b
    return z


def forward(arch: Arch, act: Activation, h: np.ndarray, ws: list[np.ndarray], bs: list[np.ndarray | None]
            ) -> tuple[np.ndarray, np.ndarray, BlockCache]:
    """One block on ``h``: ``(pre, h_next, cache)``, ``pre`` being the input of the block's last activation.
    ``ws``/``bs``: the block's weight layers (one for plain blocks). Call under ``np.errstate(all="ignore")``."""
    norm, eps = arch.norm, arch.eps
    if not arch.residual:
        u, inv = normalize(_linear(h, ws[0], bs[0]), norm, eps)
        out = act.fn(u)
        return u, out, BlockCache([u], [inv], out)
    alpha = h.dtype.type(arch.alpha)
    if arch.position == "pre":
        us, invs = [], []
        x = h
        for w, b in zip(ws, bs):
            u, inv = normalize(x, norm, eps)
            us.append(u)
            invs.append(inv)
            x = _linear(act.fn(u), w, b)
        out = h + alpha * x
        return us[-1], out, BlockCache(us, invs, out)
    # post: B(x) = f(x W1 + b1) [W2 + b2], then the norm on the sum
    z = _linear(h, ws[0], bs[0])
    branch = act.fn(z)
    if len(ws) == 2:
        branch = _linear(branch, ws[1], bs[1])
    out, out_inv = normalize(h + alpha * branch, norm, eps)
    return z, out, BlockCache([z], [None], out, out_inv)


def backward(arch: Arch, act: Activation, g: np.ndarray, h_in: np.ndarray, cache: BlockCache,
             ws: list[np.ndarray], want_dw: bool = True
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """One block backwards: given g = dl/dh_l (per example), ``(g_in, d, delta, dws)``: dl/dh_(l-1), f' at
    ``pre`` (for saturation and death), the reported gradient (module docstring) and the weight gradients
    ``h^T delta`` summed over the batch (not yet divided by it), in the order of ``ws``."""
    norm = arch.norm
    dws: list[np.ndarray] = []
    if not arch.residual:
        u = cache.us[0]
        d = act.deriv(u)
        dz = norm_backward(g * d, u, cache.invs[0], norm)
        if want_dw:
            dws.append(h_in.T @ dz)
        return dz @ ws[0].T, d, dz, dws
    alpha = g.dtype.type(arch.alpha)
    if arch.position == "pre":
        dx = alpha * g  # dl/d(branch output)
        d_last = None
        for k in range(len(ws) - 1, -1, -1):
            u = cache.us[k]
            a = act.fn(u)
            if want_dw:
                dws.append(a.T @ dx)
            d = act.deriv(u)
            if d_last is None:
                d_last = d
            du = (dx @ ws[k].T) * d
            dx = norm_backward(du, u, cache.invs[k], norm)
        return g + dx, d_last, g, dws[::-1]
    gs = norm_backward(g, cache.out, cache.out_inv, norm)  # through the post-norm
    z = cache.us[0]
    d = act.deriv(z)
    db = alpha * gs  # dl/d(branch output)
    if len(ws) == 2:
        if want_dw:
            dws.append(act.fn(z).T @ db)
        db = db @ ws[1].T
    dz = db * d
    if want_dw:
        dws.insert(0, h_in.T @ dz)
    return gs + dz @ ws[0].T, d, g, dws
