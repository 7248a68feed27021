"""Mean-field theory of deep random networks: per-layer predictions, fixed points, chi_1, depth scales.

In the limit of infinite width, with zero-mean i.i.d. weights of variance sigma_w^2 / n (n = fan_in =
width here) and biases of variance sigma_b^2, every pre-activation of layer l is Gaussian with the same
variance q_l, which follows the "q-map" (Poole et al. 2016, "Exponential expressivity in deep neural
networks through transient chaos"; Schoenholz et al. 2017, "Deep information propagation")::

    q_1     = sigma_w^2 E[x^2] + sigma_b^2                  x: one input feature
    q_{l+1} = sigma_w^2 V(q_l) + sigma_b^2,   V(q) = E[f(sqrt(q) Z)^2],  Z ~ N(0, 1)

The backward pass, under the usual gradient-independence assumption, multiplies the variance of the
per-example gradient by chi_l = sigma_w^2 E[f'(z_l)^2] at each layer going down::

    Var(dl/dz_depth) = E[f'(z_depth)^2] Var(dl/dh_depth)
    Var(dl/dz_l)     = E[f'(z_l)^2] sigma_w^2 Var(dl/dz_{l+1})

Xavier/He are exactly the choices that put chi = 1 for linear/ReLU networks. At finite width the measured
values scatter around these curves: the variance of the fluctuations grows like depth / width (Roberts,
Yaida & Hanin 2022), so their typical size like sqrt(depth / width) (measured for He + ReLU: about
0.7 sqrt(depth / width) in relative terms; less for tanh, whose decay pulls the signal back), which
is itself a lesson the overlay shows.

Fixed point, chi_1, phase diagram (Poole et al. 2016; Schoenholz et al. 2017)
-----------------------------------------------------------------------------
With zero-mean biases the q-map F(q) = sw2 V(q) + sb2 (sw2 = sigma_w^2, sb2 = sigma_b^2) is increasing,
so iterating it from q_1 = q0 converges monotonically: up to the first fixed point above q0 when
F(q0) > q0, down to the last one below q0 when F(q0) < q0. That limit is :func:`fixed_point` ``q*``;
it depends on q0 only where F has several stable fixed points (gelu and swish for 2 < sw2 < 4 at
sb2 = 0: q = 0 is stable since V(q) ~ q/4 near 0, yet V(q) ~ q/2 for large q makes the map expand),
and the default q0 = 1 is the pre-activation variance of a standardised first layer. Then

* ``chi1 = sw2 E[f'(sqrt(q*) Z)^2]``: the factor by which gradients (and the distance between two
  nearby inputs) grow per layer. chi1 < 1: ordered phase, nearby inputs merge; chi1 > 1: chaotic
  phase, they separate; chi1 = 1 is the edge of chaos (:func:`critical_sw2`), where signals and
  gradients travel deepest (:func:`phase_diagram` maps chi1 over a (sw2, sb2) grid).
* depth scales (Schoenholz et al. 2017): q_l - q* ~ exp(-l / xi_q) and the correlation of
  two inputs c_l - c* ~ exp(-l / xi_c), with ::

      xi_q^-1 = -log(sw2 E[f'(u)^2 + f(u) f''(u)]),          u = sqrt(q*) Z
              = -log F'(q*)                                   (F'(q) = sw2 dV/dq, Price's theorem)
      xi_c^-1 = -log(sw2 E[f'(u1) f'(u2)]),   (u1, u2) Gaussian, variances q*, correlation c*

  c* = 1 in the ordered phase (so xi_c^-1 = -log chi1, and xi_c diverges at chi1 = 1); in the chaotic
  phase c* < 1 is the stable fixed point of the correlation map
  C(c) = (sw2 E[f(u1) f(u2)] + sb2) / q*, found here by Newton's method (C is convex on [0, 1]).
  The derivative form dV/dq = E[f(u) f'(u) Z] / sqrt(q) is used, so f'' is never needed (ReLU's
  f'' is a delta at 0, where f = 0).

Unbounded cases (documented values, never a warning):

* ``q* = inf``: the q-map diverges from q0 (no fixed point above it). This happens for activations
  that grow linearly (relu, leaky_relu, linear, elu, selu, gelu, swish, softplus) when sw2 exceeds
  1 / lim V(q)/q (2 for relu), and at that boundary whenever sb2 > 0. There chi1 is its limit
  sw2 lim_{q->inf} E[f'(sqrt(q) Z)^2] (sw2 / 2 for relu: the rate at which gradients still grow while
  the forward signal diverges), and both depth scales are NaN (there is no fixed point to approach).
* ``q* = 0`` for sb2 = 0 when f(0) = 0 and the map contracts (tanh with sw2 <= 1, relu with sw2 < 2):
  chi1 and F'(0) are the q -> 0+ limits (relu keeps chi1 = sw2 / 2). Within 1e-12 of the marginal
  sw2 F'(0) = 1 a fixed point below ~1e-12 is reported as 0.
* Exactly marginal maps: relu at sw2 = 2, linear at sw2 = 1 (sb2 = 0) have F(q) = q, every q is a fixed
  point: q* = q0, chi1 = 1, xi_q = xi_c = inf.
* xi = inf wherever the relevant slope is >= 1 (no exponential approach), 0 where it is 0.
* Resolution: |F(q) - q| < 1e-9 q counts as 0 (20x the table's interpolation error). So q0 itself is
  returned when it is a fixed point to that accuracy, and a map that creeps upwards by less than that
  (softplus at sw2 = 2: F(q) - q ~ 1/sqrt(q)) is not stopped by a spurious root: q* = inf.

How it is computed (and why it is fast)
---------------------------------------
Positively homogeneous activations (linear, relu, leaky_relu: V(q) = c q exactly) use closed forms.
For the others V(q), dV/dq and E[f'^2] are tabulated once per activation on 3,361 values of
sqrt(q) = 0.1 sinh(u), u = 0, 0.005, ..., 16.8 (uniform near 0, geometric up to sqrt(q) = 1e6), each by
:func:`initlab.numerics.gaussian.expectation` (the kink-split, range-scaled rule, ~1e-14), and interpolated by
cubic Lagrange in u (relative error <= 5e-11 measured, 2e-9 asserted by the tests). The
fixed point is bracketed on the table (the first sign change of F(q) - q in the direction F(q0) - q0,
found for all sb2 values of a grid at once) and polished by safeguarded Newton on the interpolant.
Beyond sqrt(q) = 1e6 V follows its asymptote D_inf q + c1 sqrt(q) + d_inf (exact slope and constant,
fitted sqrt term; relative error O(1e-6)). A 100 x 100 phase diagram with its critical line then
costs 0.02-0.05 s of CPU (mostly the critical line), plus a one-off ~0.02 s table per activation
(``benchmarks/bench_theory.py``). The depth-scale curve is dearer on its chaotic side, where each c*
needs the 2-D correlation map: ~0.3 s for 200 values of sw2 with tanh.

Per-layer predictions (:func:`predict`) integrate each layer directly (no table) with the same rule,
including a constant bias mean.

Why one module of ~900 lines: the fixed point, chi_1, the depth scales and the phase diagram read the
same cached moment tables (``_table``) and q-map solver (``_QSolver``), and the per-layer predictions
the same Gaussian moments (``_moments``) those tables are built from; split, these private pieces would
become an interface between modules that only this theory uses. The sections follow this docstring.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from initlab.weights import activations
from initlab.weights import biases
from initlab.numerics import gaussian
from initlab.weights import initializers
from initlab.signal.scenario import Scenario

__all__ = [
    "DepthScaleCurve", "GaussianMoments", "PhaseDiagram", "Prediction", "chi1", "correlation_fixed_point",
    "critical_sw2",
    "bias_variance", "depth_scale_curve", "depth_scales", "fixed_point", "gaussian_moments", "phase_diagram",
    "predict", "scenario_sigmas", "why_no_curve", "why_no_point", "why_not_plain",
    "input_variance",
]

ActivationLike = str | activations.Activation


# ---------------------------------------------------------------------------------------------------
# Gaussian moments of an activation


@dataclass(frozen=True)
class GaussianMoments:
    """E over z ~ N(mean, q) of f, f^2, f'^2 and d/dq E[f^2] (arrays of the broadcast shape)."""

    m1: np.ndarray  # E[f(z)]
    m2: np.ndarray  # E[f(z)^2] = V(q) when mean = 0
    d2: np.ndarray  # E[f'(z)^2]
    dm2: np.ndarray  # d/dq E[f(z)^2] = E[f(z) f'(z) Z] / sqrt(q); the q -> 0+ limit at q = 0


def _act(activation: ActivationLike) -> activations.Activation:
    return activation if isinstance(activation, activations.Activation) else activations.get(activation)


def _one_sided_slopes(act: activations.Activation) -> tuple[float, float]:
    """f'(0-) and f'(0+) (equal for smooth f)."""
    tiny = np.array([-1e-30, 1e-30])
    d = np.asarray(act.deriv(tiny), dtype=np.float64)
    return float(d[0]), float(d[1])


def _moments(act: activations.Activation, sigma: np.ndarray, mean: np.ndarray | float = 0.0, *,
             n_inner: int = 80, n_outer: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(E f, E f^2, E f'^2, d/dq E f^2) at z ~ N(mean, sigma^2), one evaluation of f and f' per node."""
    u, z, w = gaussian.nodes(sigma, mean, n_inner=n_inner, n_outer=n_outer)
    with np.errstate(all="ignore"):
        f = np.asarray(act.fn(u), dtype=np.float64)
        d = np.asarray(act.deriv(u), dtype=np.float64)
        m1 = np.einsum("...k,...k->...", w, f)
        m2 = np.einsum("...k,...k->...", w, f * f)
        d2 = np.einsum("...k,...k->...", w, d * d)
        sig = np.asarray(sigma, dtype=np.float64)
        # d/dq E[f(mean + sqrt(q) Z)^2] = E[f f' Z] / sqrt(q); at q = 0 the limit depends on the kink.
        fdz = np.einsum("...k,...k->...", w, f * d * z)
        dm2 = np.where(sig > 0, fdz / np.where(sig > 0, sig, 1.0), np.nan)
    return m1, m2, d2, dm2


def gaussian_moments(activation: ActivationLike, q: np.ndarray | float, mean: np.ndarray | float = 0.0
                     ) -> GaussianMoments:
    """E[f], E[f^2], E[f'^2] and d/dq E[f^2] for z ~ N(mean, q), vectorised over arrays of q and mean.

    Accurate to ~1e-14 relative at kinks and for large q (see :mod:`initlab.numerics.gaussian`). At q = 0 the
    values are those at z = mean, except that for mean = 0 ``d2`` and ``dm2`` are the q -> 0+ limits
    (f'(0-)^2 + f'(0+)^2) / 2 -- relu gives 1/2 there, not relu'(0)^2 = 0 -- (``dm2`` is NaN at q = 0
    when f(0) != 0 or mean != 0).
    """
    act = _act(activation)
    q_arr = np.asarray(q, dtype=np.float64)
    if not np.all(q_arr >= 0):  # also rejects NaN
        raise ValueError(f"q must be >= 0; received {q!r}")
    m1, m2, d2, dm2 = _moments(act, np.sqrt(q_arr), mean)
    zero = np.broadcast_to(q_arr == 0, np.shape(m1)) & np.broadcast_to(np.asarray(mean) == 0, np.shape(m1))
    if zero.any():
        lo, hi = _one_sided_slopes(act)
        limit = 0.5 * (lo * lo + hi * hi)
        f0 = float(act.fn(np.array([0.0]))[0])
        d2 = np.where(zero, limit, d2)
        dm2 = np.where(zero, limit if f0 == 0.0 else np.nan, dm2)
    return GaussianMoments(m1, m2, d2, dm2)


# ---------------------------------------------------------------------------------------------------
# the table of V(q), dV/dq, E[f'^2] (zero mean), per activation

_TAB_A = 0.1  # sqrt(q) = A sinh(u): step A*h near q = 0, ratio e^h beyond sqrt(q) ~ A
_TAB_H = 0.005
_TAB_SIGMA_MAX = 1e6
_Q_MAX = _TAB_SIGMA_MAX**2
_RESOLUTION = 1e-9  # |F(q) - q| / q below this is not resolved (20x the interpolation error)


@dataclass(frozen=True)
class _Table:
    sigma: np.ndarray  # (N+1,) grid of sqrt(q)
    q: np.ndarray
    V: np.ndarray
    Vp: np.ndarray  # dV/dq (k = 0: the q -> 0+ limit)
    D: np.ndarray  # E[f'^2] (k = 0: the q -> 0+ limit)
    stack: np.ndarray  # (3, N+1): V / vscale(q), Vp / tail^3, D / tail -- what is interpolated
    vkind: str  # which vscale (see _vscale)
    bounded: bool  # tail(q) = (1 + q)^-1/2 if bounded else 1
    D_inf: float  # lim_{q -> inf} E[f'(sqrt(q) Z)^2] = (f'(-inf)^2 + f'(+inf)^2) / 2 = lim V(q) / q
    # Beyond the table V(q) = D_inf q + c1 sqrt(q) + d_inf + o(1) (see _table).
    c1: float
    d_inf: float
    zero_is_fixed: bool  # f(0) = 0: q = 0 is a fixed point when sb2 = 0
    homogeneous: float | None  # c with V(q) = E[f'^2] = c q (linear, relu, leaky_relu), else None


@functools.lru_cache(maxsize=32)
def _table(act: activations.Activation) -> _Table:
    n = int(round(math.asinh(_TAB_SIGMA_MAX / _TAB_A) / _TAB_H))
    u = np.arange(n + 1) * _TAB_H
    sigma = _TAB_A * np.sinh(u)
    _, V, D, Vp = _moments(act, sigma)
    lo, hi = _one_sided_slopes(act)
    f0 = float(act.fn(np.array([0.0]))[0])
    D = D.copy()
    Vp = Vp.copy()
    D[0] = 0.5 * (lo * lo + hi * hi)  # the limit (for relu 1/2, while relu'(0)^2 = 0)
    if f0 == 0.0:
        Vp[0] = D[0]  # f(sZ) f'(sZ) Z / s -> f'(0+-)^2 Z^2
    else:
        # Smooth f (sigmoid, softplus): Vp is even and smooth in sigma, so Richardson on sigma^2 removes
        # the O(sigma^2) term (error O(sigma^4) ~ 1e-13).
        s1, s2 = sigma[1] ** 2, sigma[2] ** 2
        Vp[0] = (s2 * Vp[1] - s1 * Vp[2]) / (s2 - s1)
    q = sigma * sigma
    far = np.asarray(act.deriv(np.array([-1e6, 1e6])), dtype=np.float64)
    d_lim = 0.5 * float(far[0] ** 2 + far[1] ** 2)  # D_inf, also lim V(q)/q
    # Tail model for q beyond the table: every registry f is a_+- u + k_+- for |u| > 40 (to double
    # precision) with a k = 0 on each side, so V(q) = D_inf q + (k_-^2 + k_+^2)/2 + o(1); a sqrt(q)
    # term (what is left, e.g. for softplus, gelu) is fitted to the last table entry. k = f(u) - f'(u) u
    # at |u| = 1e3.
    ends = np.array([-1e3, 1e3])
    k = np.asarray(act.fn(ends), dtype=np.float64) - np.asarray(act.deriv(ends), dtype=np.float64) * ends
    v_const = 0.5 * float(k[0] ** 2 + k[1] ** 2)
    c1 = float((V[-1] - d_lim * q[-1] - v_const) / sigma[-1])
    homogeneous: float | None = None
    one = np.asarray(act.fn(np.array([-1.0, 1.0])), dtype=np.float64)
    c = 0.5 * float(one[0] ** 2 + one[1] ** 2)
    if f0 == 0.0 and np.all(np.abs(V[1:] - c * q[1:]) <= 1e-12 * c * q[1:]) and np.all(np.abs(D - c) <= 1e-12 * c):
        homogeneous = c
    # Interpolate each quantity relative to a scale it is proportional to, so that the cubic's error
    # stays relative (a plain e^{-2u} tail would carry ~2e-10): V ~ q near 0 when f(0) = 0, V -> V(0)
    # otherwise; V ~ q for large q, except for bounded f (f' -> 0 at both ends: sigmoid, tanh) where
    # V -> const, dV/dq ~ q^-3/2 and E[f'^2] ~ q^-1/2.
    bounded = d_lim == 0.0
    kind = ("q/(1+q)" if f0 == 0.0 else "1") if bounded else ("q" if f0 == 0.0 else "1+q")
    sv, _ = _vscale(kind, q)
    with np.errstate(all="ignore"):
        vn = np.where(sv > 0, V / np.where(sv > 0, sv, 1.0), Vp[0])
    tail = (1.0 + q) ** -0.5 if bounded else np.ones_like(q)
    stack = np.stack([vn, Vp / tail**3, D / tail])
    return _Table(sigma, q, V, Vp, D, stack, kind, bounded, d_lim, c1, v_const, f0 == 0.0, homogeneous)


def _vscale(kind: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scale V is interpolated relative to, and its derivative in q."""
    if kind == "q":
        return q, np.ones_like(q)
    if kind == "1+q":
        return 1.0 + q, np.ones_like(q)
    if kind == "1":
        return np.ones_like(q), np.zeros_like(q)
    return q / (1.0 + q), 1.0 / (1.0 + q) ** 2


def _lagrange(values: np.ndarray, x: np.ndarray, deriv: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Cubic Lagrange interpolation of rows of ``values`` (shape (R, N+1), uniform grid 0..N) at x.

    Stencils are one-sided at the ends (no reflection: V, E[f'^2] of selu/elu contain odd powers of
    sqrt(q) near 0). Returns (R,) + x.shape values and, with ``deriv``, d/dx.
    """
    n = values.shape[-1] - 1
    s = np.clip(np.floor(x) - 1.0, 0, n - 3).astype(np.intp)
    t = x - s
    t1, t2, t3 = t - 1.0, t - 2.0, t - 3.0
    l0 = -(t1 * t2 * t3) / 6.0
    l1 = (t * t2 * t3) / 2.0
    l2 = -(t * t1 * t3) / 2.0
    l3 = (t * t1 * t2) / 6.0
    v0, v1, v2, v3 = values[:, s], values[:, s + 1], values[:, s + 2], values[:, s + 3]
    out = v0 * l0 + v1 * l1 + v2 * l2 + v3 * l3
    if not deriv:
        return out, None
    d0 = -(t2 * t3 + t1 * t3 + t1 * t2) / 6.0
    d1 = (t2 * t3 + t * t3 + t * t2) / 2.0
    d2 = -(t1 * t3 + t * t3 + t * t1) / 2.0
    d3 = (t1 * t2 + t * t2 + t * t1) / 6.0
    return out, v0 * d0 + v1 * d1 + v2 * d2 + v3 * d3


def _x_of_q(q: np.ndarray | float) -> np.ndarray:
    """Fractional table index of q."""
    return np.arcsinh(np.sqrt(q) / _TAB_A) / _TAB_H


def _lookup(tab: _Table, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V(q), dV/dq, E[f'^2] for 0 <= q <= inf (the tail model beyond the table, the limits at inf)."""
    q = np.asarray(q, dtype=np.float64)
    inside = q <= tab.q[-1]
    x = _x_of_q(np.where(inside, q, 0.0))
    (vn, vp, d), _ = _lagrange(tab.stack, x)
    qi = np.where(inside, q, 0.0)
    V = vn * _vscale(tab.vkind, qi)[0]
    if tab.bounded:
        tail = (1.0 + qi) ** -0.5
        vp, d = vp * tail**3, d * tail
    with np.errstate(all="ignore"):
        sig = np.sqrt(np.where(inside, tab.q[-1], q))
        V = np.where(inside, V, tab.D_inf * q + tab.c1 * sig + tab.d_inf)
        vp = np.where(inside, vp, tab.D_inf + 0.5 * tab.c1 / sig)
        # E[f'^2] approaches its limit like 1/sqrt(q) (the kink region's weight ~ 1/sigma).
        d = np.where(inside, d, tab.D_inf + (tab.D[-1] - tab.D_inf) * tab.sigma[-1] / sig)
    return V, vp, d


# ---------------------------------------------------------------------------------------------------
# fixed point of the q-map


def _first_at_least(rows_values: np.ndarray, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each query i, the first column j with rows_values[rows[i], j] >= x[i] (each row must be
    non-decreasing); the row length when there is none. Vectorised binary search."""
    m = rows_values.shape[1]
    lo = np.zeros(x.shape, dtype=np.intp)
    hi = np.full(x.shape, m, dtype=np.intp)
    while True:
        act = lo < hi
        if not act.any():
            return lo
        mid = (lo + hi) // 2
        below = rows_values[rows, np.minimum(mid, m - 1)] < x
        lo = np.where(act & below, mid + 1, lo)
        hi = np.where(act & ~below, mid, hi)


class _QSolver:
    """Fixed points q* for many (sw2, sb2) with few distinct sb2 values and one q0.

    The sign of G(q) = sw2 V(q) + sb2 - q on the grid is the sign of sw2 - r(q), r(q) = (q - sb2) / V(q)
    (V > 0 for q > 0), and r does not depend on sw2: the running max (min) of r above (below) q0
    turns "first grid point where G changes sign" into a binary search per query. Reused across
    calls with different sw2 (the critical line's search).
    """

    def __init__(self, tab: _Table, sb2_unique: np.ndarray, q0: float) -> None:
        self.tab = tab
        self.sb2 = sb2_unique
        self.q0 = q0
        self.x0 = float(_x_of_q(q0))
        self.V0 = float(_lookup(tab, np.array([q0]))[0][0])
        self.k0 = int(np.searchsorted(tab.q, q0, side="right") - 1)  # q[k0] <= q0 < q[k0 + 1]
        # A sign change counts only where |G| > _RESOLUTION q: the interpolated V is good to ~5e-11, so
        # a smaller |G| is noise (e.g. softplus at sw2 = 2, where F(q) - q ~ 1/sqrt(q) > 0 but falls
        # below V's rounding near q ~ 1e10: without this a spurious "fixed point" would appear there).
        with np.errstate(all="ignore"):
            r_up = ((1.0 - _RESOLUTION) * tab.q[None, :] - sb2_unique[:, None]) / tab.V[None, :]  # G <= -eps q
            r_dn = ((1.0 + _RESOLUTION) * tab.q[None, :] - sb2_unique[:, None]) / tab.V[None, :]  # G >= +eps q
            if tab.V[0] == 0.0:
                # q -> 0+: G > 0 iff sw2 > 1 / V'(0) (sb2 = 0), always when sb2 > 0.
                r_dn[:, 0] = np.where(sb2_unique > 0, -np.inf, 1.0 / tab.Vp[0])
        self.up = np.maximum.accumulate(r_up[:, self.k0 + 1:], axis=1)  # non-decreasing
        self.down = -np.minimum.accumulate(r_dn[:, self.k0::-1], axis=1)  # -(running min going down)

    def solve(self, sw2: np.ndarray, row: np.ndarray) -> np.ndarray:
        tab, sb2 = self.tab, self.sb2[row]
        q = np.full(sw2.shape, np.nan)
        g0 = sw2 * self.V0 + sb2 - self.q0
        g0 = np.where(np.abs(g0) <= _RESOLUTION * self.q0, 0.0, g0)  # q0 is a fixed point within resolution
        q[g0 == 0] = self.q0
        lo_x = np.full(sw2.shape, np.nan)  # bracket in table index units: G >= 0 at lo_x, G <= 0 at hi_x
        hi_x = np.full(sw2.shape, np.nan)

        up = np.flatnonzero(g0 > 0)
        if up.size:
            i = _first_at_least(self.up, row[up], sw2[up])
            k = self.k0 + 1 + i
            found = i < self.up.shape[1]
            f_idx, nf_idx = up[found], up[~found]
            kk = k[found]
            lo_x[f_idx] = np.where(kk - 1 > self.k0, kk - 1, self.x0)
            hi_x[f_idx] = kk
            if nf_idx.size:
                # Beyond the table, with the tail model V = D_inf q + c1 sqrt(q) + d_inf, G = 0 is a
                # quadratic in sigma = sqrt(q): a sigma^2 + b sigma + c with a = sw2 D_inf - 1. a >= 0:
                # the map expands without bound (at a = 0, the marginal relu-like sw2 = 1/D_inf, the
                # constant sw2 d_inf + sb2 > 0 still pushes it up): q* = inf.
                s, b = sw2[nf_idx], sb2[nf_idx]
                a = s * tab.D_inf - 1.0
                lin = s * tab.c1
                const = s * tab.d_inf + b
                with np.errstate(all="ignore"):
                    sig = (lin + np.sqrt(lin * lin - 4.0 * a * const)) / (-2.0 * a)
                q[nf_idx] = np.where(a < 0, np.maximum(sig * sig, tab.q[-1]), np.inf)
        down = np.flatnonzero(g0 < 0)
        if down.size:
            i = _first_at_least(self.down, row[down], -sw2[down])
            k = self.k0 - i
            found = i < self.down.shape[1]
            # A root in (0, q_1) next to the fixed point q = 0 (f(0) = 0, sb2 = 0) exists only if the
            # map expands at 0, sw2 V'(0) > 1; within 1e-12 of marginal it would lie below ~1e-12/|V''(0)|:
            # call it 0 rather than bisect towards it (or towards 0 itself) for 40 steps.
            marginal = (k == 0) & (sb2[down] == 0) & self.tab.zero_is_fixed & (sw2[down] * tab.Vp[0] <= 1 + 1e-12)
            q[down[found & marginal]] = 0.0
            found &= ~marginal
            f_idx = down[found]
            kk = k[found]
            lo_x[f_idx] = kk
            hi_x[f_idx] = np.where(kk + 1 <= self.k0, kk + 1, self.x0)
            q[down[~found]] = 0.0  # G < 0 all the way down: q = 0 is the fixed point (f(0) = 0, sb2 = 0)
        todo = np.flatnonzero(~np.isnan(lo_x))
        if todo.size:
            q[todo] = self._polish(sw2[todo], sb2[todo], lo_x[todo], hi_x[todo])
        return q

    def _polish(self, sw2: np.ndarray, sb2: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Root of G on [a, b] (index units; G(a) >= 0 >= G(b)) by Newton safeguarded with bisection.

        Only unconverged points are iterated; Newton converges in ~5 steps from the bracket's middle.
        """
        stack = self.tab.stack[:1]
        x = 0.5 * (a + b)
        active = np.arange(x.size)
        for _ in range(200):
            xa, aa, bb, s, c = x[active], a[active], b[active], sw2[active], sb2[active]
            u = xa * _TAB_H
            sig = _TAB_A * np.sinh(u)
            dsig = _TAB_A * np.cosh(u) * _TAB_H
            (vn,), (dvn,) = _lagrange(stack, xa, deriv=True)
            q = sig * sig
            dq = 2.0 * sig * dsig
            base, dbase = _vscale(self.tab.vkind, q)
            g = s * vn * base + c - q
            dg = s * (dvn * base + vn * dbase * dq) - dq
            pos = g > 0
            aa = np.where(pos, xa, aa)
            bb = np.where(pos, bb, xa)
            with np.errstate(all="ignore"):
                newton = xa - g / dg
            tol = 1e-13 * np.maximum(xa, 1.0)
            # Converged when Newton's own step is below tol (checked before the safeguard: a step below
            # one ulp lands on x itself, outside the open bracket, and must not trigger a bisection).
            done = (np.abs(newton - xa) <= tol) | (bb - aa <= tol) | (g == 0)
            ok = (newton > aa) & (newton < bb) & np.isfinite(newton)
            x_new = np.where(done, xa, np.where(ok, newton, 0.5 * (aa + bb)))
            x[active], a[active], b[active] = x_new, aa, bb
            active = active[~done]
            if active.size == 0:
                break
        sig = _TAB_A * np.sinh(x * _TAB_H)
        return sig * sig


def _check_nonneg(value: np.ndarray | float, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        bad = float(arr[~(np.isfinite(arr) & (arr >= 0))].ravel()[0])
        raise ValueError(f"{name} must be finite and >= 0; received {bad!r}")
    return arr


def _check_q0(q0: float) -> float:
    try:
        value = float(q0)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(q0, bool) or not (math.isfinite(value) and 0 < value <= _Q_MAX):
        raise ValueError(f"q0 must be a number in (0, {_Q_MAX:g}]; received {q0!r}")
    return value


def _solve(act: activations.Activation, sw2: np.ndarray | float, sb2: np.ndarray | float, q0: float
           ) -> tuple[_Table, np.ndarray, np.ndarray, np.ndarray]:
    """(table, sw2, sb2, q*) with sw2, sb2, q* broadcast to one shape."""
    sw2_a, sb2_a = np.broadcast_arrays(_check_nonneg(sw2, "sw2"), _check_nonneg(sb2, "sb2"))
    q0 = _check_q0(q0)
    tab = _table(act)
    shape = sw2_a.shape
    s, b = sw2_a.ravel(), sb2_a.ravel()
    if tab.homogeneous is not None:
        k = s * tab.homogeneous
        with np.errstate(all="ignore"):
            q = np.where(k < 1, b / (1.0 - k), np.where((k == 1) & (b == 0), q0, np.inf))
    else:
        uniq, row = np.unique(b, return_inverse=True)
        q = _QSolver(tab, uniq, q0).solve(s, row.ravel())
    return tab, sw2_a, sb2_a, q.reshape(shape)


def fixed_point(activation: ActivationLike, sw2: np.ndarray | float, sb2: np.ndarray | float, q0: float = 1.0
                ) -> np.ndarray:
    """The fixed point q* the q-map q -> sw2 E[f(sqrt(q) Z)^2] + sb2 reaches from q_1 = q0.

    Broadcasts over arrays of ``sw2`` = sigma_w^2 and ``sb2`` = sigma_b^2 (both >= 0). ``inf`` where the
    map diverges, 0 where it collapses to q = 0, ``q0`` where every q is a fixed point (relu at sw2 = 2,
    linear at sw2 = 1, with sb2 = 0). See the module docstring (Poole et al. 2016).
    """
    return _solve(_act(activation), sw2, sb2, q0)[3]


def _chi1_from(tab: _Table, sw2: np.ndarray, q: np.ndarray) -> np.ndarray:
    if tab.homogeneous is not None:
        return sw2 * tab.homogeneous
    _, _, d = _lookup(tab, q)
    return sw2 * d


def chi1(activation: ActivationLike, sw2: np.ndarray | float, sb2: np.ndarray | float, q0: float = 1.0
         ) -> np.ndarray:
    """chi_1 = sw2 E[f'(sqrt(q*) Z)^2] at the fixed point q* = :func:`fixed_point` (Poole et al. 2016,
    Schoenholz et al. 2017). 1 is the edge of chaos; where q* = inf, its q -> inf limit."""
    tab, s, _, q = _solve(_act(activation), sw2, sb2, q0)
    return _chi1_from(tab, s, q)


_SW2_BRACKET = (1e-6, 1e6)


def critical_sw2(activation: ActivationLike, sb2: np.ndarray | float, q0: float = 1.0) -> np.ndarray:
    """The sigma_w^2 where chi1(sw2, sb2) crosses 1 (the edge of chaos), for an array of sb2.

    tanh: 1 at sb2 = 0 (the q-map collapses to q* = 0 below it), ~1.76 at sb2 = 0.05 (Schoenholz et
    al. 2017); relu: 2 for every sb2 (for sb2 > 0 the q-map diverges there, q* = inf); linear 1.
    The first crossing in sw2 in [1e-6, 1e6]: a 64-point scan brackets it, multisection refines it to
    ~1e-13 (where q* jumps, as for gelu/swish between their two stable fixed points, the crossing is
    the jump). NaN if chi1 stays below 1 on the whole range.
    """
    act = _act(activation)
    b = _check_nonneg(sb2, "sb2")
    q0 = _check_q0(q0)
    tab = _table(act)
    if tab.homogeneous is not None:
        return np.full(b.shape, 1.0 / tab.homogeneous)
    flat = b.ravel()
    uniq, row = np.unique(flat, return_inverse=True)
    row = row.ravel()
    solver = _QSolver(tab, uniq, q0)

    def excess(log_sw2: np.ndarray, rows: np.ndarray) -> np.ndarray:
        s = np.exp(log_sw2)
        return _chi1_from(tab, s, solver.solve(s, rows)) - 1.0

    # 1. One vectorised scan of 64 values per row brackets the first crossing within a factor 1.55.
    grid = np.linspace(math.log(_SW2_BRACKET[0]), math.log(_SW2_BRACKET[1]), 64)
    scan = excess(np.broadcast_to(grid, (flat.size, grid.size)).ravel(), np.repeat(row, grid.size))
    scan = scan.reshape(flat.size, grid.size) >= 0
    has = scan.any(axis=1)
    j = np.argmax(scan, axis=1)  # first grid value with chi1 >= 1
    out = np.full(flat.shape, np.nan)
    out[has & (j == 0)] = _SW2_BRACKET[0]
    idx = np.flatnonzero(has & (j > 0))
    if idx.size:
        # 2. Multisection: 15 interior points per row in one vectorised solve shrink the bracket 16-fold
        # per round (11 rounds to 1e-13). Robust where chi1 jumps (gelu/swish between their two stable
        # fixed points), and with one solve per round cheaper than bisection's one per halving.
        lo, hi = grid[j[idx] - 1], grid[j[idx]]
        r = row[idx]
        frac = np.arange(1, 16) / 16.0
        for _ in range(16):
            pts = lo[:, None] + (hi - lo)[:, None] * frac
            ok = excess(pts.ravel(), np.repeat(r, frac.size)).reshape(pts.shape) >= 0
            first = np.where(ok.any(axis=1), np.argmax(ok, axis=1), frac.size)  # first point with chi1 >= 1
            new_lo = np.where(first > 0, pts[np.arange(idx.size), np.maximum(first - 1, 0)], lo)
            new_hi = np.where(first < frac.size, pts[np.arange(idx.size), np.minimum(first, frac.size - 1)], hi)
            lo, hi = new_lo, new_hi
            if np.all(hi - lo <= 1e-14 * np.maximum(np.abs(hi), 1.0)):
                break
        out[idx] = np.exp(0.5 * (lo + hi))
    return out.reshape(b.shape)


# ---------------------------------------------------------------------------------------------------
# depth scales


def _xi(slope: np.ndarray) -> np.ndarray:
    """-1 / log(slope): inf where slope >= 1, 0 where slope <= 0, NaN for NaN."""
    with np.errstate(all="ignore"):
        out = -1.0 / np.log(np.where((slope > 0) & (slope < 1), slope, 0.5))
        out = np.where(slope >= 1, np.inf, np.where(slope <= 0, 0.0, out))
    return np.where(np.isnan(slope), np.nan, out)


def _c_map(act: activations.Activation, sigma: np.ndarray, c: np.ndarray, sw2: np.ndarray, sb2: np.ndarray,
           rule: tuple[int, int] = (40, 16)) -> tuple[np.ndarray, np.ndarray]:
    """C(c) = (sw2 E[f(u1) f(u2)] + sb2) / q and C'(c) = sw2 E[f'(u1) f'(u2)] (Price's theorem), for
    (u1, u2) zero-mean Gaussian with variances q = sigma^2 and correlation c, by nested 1-D rules:
    u2 = sigma (c z1 + sqrt(1 - c^2) z2), the inner integral over z2 split at its own kink.

    The default rule (40 + 16 nodes per side and level) agrees with (80, 32) to ~2e-11 at the chaotic
    fixed points of tanh, elu, selu; at c = 1 and q = 100 (inner std -> 0) its error grows to ~4e-7.
    """
    n_in, n_out = rule
    u1, z1, w1 = gaussian.nodes(sigma, n_inner=n_in, n_outer=n_out)  # (P, K)
    s = np.sqrt(np.maximum(1.0 - c * c, 0.0))
    u2, _, w2 = gaussian.nodes((sigma * s)[:, None], (sigma * c)[:, None] * z1, n_inner=n_in, n_outer=n_out)
    with np.errstate(all="ignore"):
        f1, d1 = act.fn(u1), act.deriv(u1)
        f2, d2 = act.fn(u2), act.deriv(u2)
        # Inner sums first: (P, K, K) -> (P, K), then the outer ones.
        ef = np.einsum("pk,pk->p", w1 * f1, np.einsum("pkj,pkj->pk", w2, f2))
        ed = np.einsum("pk,pk->p", w1 * d1, np.einsum("pkj,pkj->pk", w2, d2))
    return (sw2 * ef + sb2) / (sigma * sigma), sw2 * ed


def _chaotic_fixed_point(act: activations.Activation, q: np.ndarray, sw2: np.ndarray, sb2: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(c*, chi_c* = C'(c*)) at the stable correlation fixed point c* < 1 (chaotic phase, chi1 > 1).

    Newton on C(c) - c from c = 0: C is increasing and convex on [0, 1] (Price's theorem: C'' is
    sw2 q E[f''(u1) f''(u2)] >= 0 for c >= 0), C(0) >= 0 and C(1) = 1 with C'(1) = chi1 > 1, so the
    iterates rise monotonically to the unique root below 1. The first steps use a coarse rule (3x
    cheaper); the last ones, to 1e-13, the default rule.
    """
    out = np.empty(q.shape)
    c_out = np.empty(q.shape)
    for start in range(0, q.size, 64):  # chunks keep the (P, K, K) node arrays under ~7 MB
        sl = slice(start, start + 64)
        sigma, s, b = np.sqrt(q[sl]), sw2[sl], sb2[sl]
        c = np.zeros(sigma.shape)
        dc = np.full(sigma.shape, np.nan)
        for rule, tol, steps in (((16, 8), 1e-6, 60), ((40, 16), 1e-13, 20)):
            for _ in range(steps):
                cm, dc = _c_map(act, sigma, c, s, b, rule)
                with np.errstate(all="ignore"):
                    step = (cm - c) / (1.0 - dc)
                step = np.where(np.isfinite(step), step, 0.0)
                c_new = np.clip(c + step, 0.0, 1.0 - 1e-12)
                moved = np.abs(c_new - c)
                c = c_new
                if np.all(moved <= tol):
                    break
        out[sl] = dc  # C'(c) at the last iterate, within 1e-13 of c*
        c_out[sl] = c
    return c_out, out


def _scales(act: activations.Activation, sw2: np.ndarray | float, sb2: np.ndarray | float, q0: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(q*, chi1, c*, xi_q, xi_c), broadcast to one shape."""
    tab, s, b, q = _solve(act, sw2, sb2, q0)
    chi = _chi1_from(tab, s, q)
    if tab.homogeneous is not None:
        fprime = s * tab.homogeneous
    else:
        _, vp, _ = _lookup(tab, q)
        fprime = s * vp
    finite = np.isfinite(q)
    xi_q = np.where(finite, _xi(fprime), np.nan)
    slope_c = np.where(finite, chi, np.nan)
    c_star = np.where(finite, 1.0, np.nan)
    chaotic = finite & (chi > 1) & (q > 0)
    if chaotic.any():  # never for linear/relu/leaky_relu: chi1 > 1 makes their q* infinite
        c_star[chaotic], slope_c[chaotic] = _chaotic_fixed_point(act, q[chaotic], s[chaotic], b[chaotic])
    return q, chi, c_star, xi_q, _xi(slope_c)


def depth_scales(activation: ActivationLike, sw2: np.ndarray | float, sb2: np.ndarray | float, q0: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(xi_q, xi_c): the depths over which the variance and the correlation of inputs relax to their
    fixed points (Schoenholz et al. 2017; see the module docstring).

    xi_q^-1 = -log(sw2 E[f'(u)^2 + f(u) f''(u)]) and xi_c^-1 = -log(sw2 E[f'(u1) f'(u2)]) at (q*, c*);
    in the ordered phase c* = 1 and xi_c^-1 = -log chi1, so xi_c = inf at chi1 = 1. NaN where q* = inf.
    """
    _, _, _, xi_q, xi_c = _scales(_act(activation), sw2, sb2, q0)
    return xi_q, xi_c


def correlation_fixed_point(activation: ActivationLike, sw2: np.ndarray | float, sb2: np.ndarray | float,
                            q0: float = 1.0) -> np.ndarray:
    """c*: the correlation two inputs' pre-activations reach with depth (Poole et al. 2016).

    1 in the ordered phase (chi1 <= 1: inputs become indistinguishable), the stable root c* < 1 of the
    correlation map C(c) = (sw2 E[f(u1) f(u2)] + sb2) / q* in the chaotic phase (0 for odd f with
    sb2 = 0), NaN where q* = inf.
    """
    return _scales(_act(activation), sw2, sb2, q0)[2]


# ---------------------------------------------------------------------------------------------------
# what the UI plots


@dataclass(frozen=True)
class PhaseDiagram:
    """chi1 and q* over a (sw2, sb2) grid; arrays are indexed [sb2, sw2] (rows: sb2), as a heatmap's z."""

    activation: str
    sw2: np.ndarray  # (n,)
    sb2: np.ndarray  # (m,)
    chi1: np.ndarray  # (m, n)
    q_star: np.ndarray  # (m, n); inf where the q-map diverges
    critical_sw2: np.ndarray  # (m,): the edge of chaos chi1 = 1 on each row (NaN if none in the bracket)
    q0: float


def phase_diagram(activation: ActivationLike, sw2: np.ndarray, sb2: np.ndarray, q0: float = 1.0) -> PhaseDiagram:
    """chi1 and q* on the grid sw2 x sb2 and the critical line (Poole et al. 2016; Schoenholz et al. 2017).

    A 100 x 100 grid takes 0.02-0.05 s of CPU, 0.02 s more on an activation's first use (its table);
    see ``benchmarks/bench_theory.py``.
    """
    act = _act(activation)
    sw2 = np.asarray(sw2, dtype=np.float64).ravel()
    sb2 = np.asarray(sb2, dtype=np.float64).ravel()
    tab, s, _, q = _solve(act, sw2[None, :], sb2[:, None], q0)
    return PhaseDiagram(act.name, sw2, sb2, _chi1_from(tab, s, q), q, critical_sw2(act, sb2, q0), q0)


@dataclass(frozen=True)
class DepthScaleCurve:
    """Depth scales against sw2 at one sb2 (Schoenholz et al. 2017): all arrays like ``sw2``."""

    activation: str
    sb2: float
    sw2: np.ndarray
    q_star: np.ndarray
    chi1: np.ndarray
    c_star: np.ndarray  # 1 in the ordered phase
    xi_q: np.ndarray
    xi_c: np.ndarray  # diverges at critical_sw2
    critical_sw2: float
    q0: float


def depth_scale_curve(activation: ActivationLike, sw2: np.ndarray, sb2: float = 0.0, q0: float = 1.0
                      ) -> DepthScaleCurve:
    """xi_q, xi_c, chi1, q* against sw2 at fixed sb2, with the critical sw2 where xi_c diverges."""
    act = _act(activation)
    sw2 = np.asarray(sw2, dtype=np.float64).ravel()
    q, chi, c_star, xi_q, xi_c = _scales(act, sw2, float(sb2), q0)
    crit = float(critical_sw2(act, float(sb2), q0))
    return DepthScaleCurve(act.name, float(sb2), sw2, q, chi, c_star, xi_q, xi_c, crit, q0)


# ---------------------------------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True)
class Prediction:
    """Mean-field per-layer predictions (arrays of length depth, layer 1 first)."""

    pre_std: np.ndarray
    act_std: np.ndarray
    act_mean: np.ndarray
    grad_std: np.ndarray
    chi: np.ndarray  # per-layer backward gain sigma_w^2 E[f'(z)^2]; 1 is the edge of chaos


def _input_moments(inputs: str) -> tuple[float, float]:
    """E[x] and E[x^2] of one input feature for the scenario's input distribution."""
    if inputs == "standard":
        return 0.0, 1.0
    top = 1.0 if inputs == "minmax" else 255.0
    return top / 2, top * top / 3  # U[0, top]


def input_variance(s: Scenario) -> float:
    """Var(x) of one input feature of ``s``: 1 (standard), top^2 / 12 for U[0, top] (minmax, raw)."""
    mean, ex2 = _input_moments(s.inputs)
    return ex2 - mean * mean


def _bias_moments(s: Scenario) -> tuple[float, float]:
    """Mean and variance of one bias of ``s`` (every layer's fan-in is the width): the bias table's."""
    return biases.moments(s.bias, s.bias_value, s.width)


def _iid_weights_apply(s: Scenario) -> bool:
    """The q-map describes the scenario's weights: zero mean, non-zero spread, one matrix per layer."""
    if s.shared:
        return False
    if s.lsuv:
        return True  # orthogonal start, rescaled per layer: see predict
    init = initializers.get(s.init, **s.init_params())
    n = s.width
    return abs(init.mean(n, n)) <= 1e-12 and init.std(n, n) != 0


def _why_not_iid(s: Scenario) -> str | None:
    """Why the q-map does not describe the scenario's (non-LSUV) weights, or None when it does
    (the reasons :func:`_iid_weights_apply` says False for)."""
    if s.shared:
        return "one matrix is reused in every layer, so the layers are not independent draws"
    init = initializers.get(s.init, **s.init_params())
    n = s.width
    mean, std = init.mean(n, n), init.std(n, n)
    if std == 0:
        return (f"its weights have no spread (every weight is {_num(mean)}): the theory describes random "
                "weights, and every unit of a layer here computes the same thing")
    if abs(mean) > 1e-12:
        return (f"its weights have a non-zero mean ({_num(mean)}): every unit shares a common part, which the "
                "theory (zero-mean weights) does not describe")
    return None


def why_no_curve(s: Scenario) -> str | None:
    """Why :func:`predict` has no per-layer curves for ``s``, naming the actual cause (None if it has them)."""
    if s.lsuv and not s.plain_mlp:
        return s.architecture_problems()["lsuv"]
    if s.lsuv:
        _, var_b = _bias_moments(s)
        return None if var_b < 1.0 else (
            f"the biases alone have variance {_num(var_b)}, at least 1, so no weight scale brings Var(z) to 1 "
            "as LSUV asks")
    return _why_not_iid(s)


def why_no_point(s: Scenario) -> str | None:
    """Why :func:`scenario_sigmas` has no point for ``s``, naming the actual cause (None if it has one).

    Residual and normalised networks have none whatever their weights (:func:`why_not_plain`)."""
    if not s.plain_mlp:
        return why_not_plain(s)
    if s.lsuv:
        return "LSUV sets each layer's scale from the data, so there is no single σw²"
    reason = _why_not_iid(s)
    if reason is not None:
        return reason
    mu_b, _ = _bias_moments(s)
    if mu_b != 0:
        return f"its biases are a constant {_num(mu_b)}, not zero-mean, which the theory does not describe"
    return None


_NORM_NAMES = {"batch": "BatchNorm", "layer": "LayerNorm"}


def why_not_plain(s: Scenario) -> str | None:
    """Why the σw²–σb² phase diagram (drawn for plain layers without normalization) does not describe a
    residual or normalised ``s`` (None for the plain MLP).

    Residual, no norm: each block's Jacobian is I + α J_B, whose mean squared singular value is
    χ₁ = 1 + α² χ_B >= 1 with χ_B the branch's own gain (σw² E[f'²] per layer), so the network is never in
    the ordered phase (Yang & Schoenholz 2017, "Mean field residual networks: on the edge of chaos").
    With a norm, the norm resets the scale every block (post) or every branch input (pre), and a plain
    network with a norm after every layer has q = 1 in every layer whatever σw²: in neither does σw²
    place the network on the diagram.
    """
    if s.plain_mlp:
        return None
    if not s.residual:
        name = _NORM_NAMES[s.norm]
        return (f"a {name} after every linear layer sets the variance of the activation's input to 1 in every "
                "layer whatever σw² (q = 1, not a fixed point of the q-map), so σw² does not place the network on "
                "the σw²–σb² diagram, which is drawn for plain layers; its backward gain per layer is "
                "σw² E[φ′(u)²] / Var(z), which does not depend on the weights' scale either")
    alpha = s.alpha()
    if s.norm == "none":
        if s.residual_rule == "fixup" or alpha == 0:
            start = ("Fixup's zero last layer makes every branch 0" if s.residual_rule == "fixup"
                     else "α = 0 switches every branch off")
            return (f"a residual network without normalization is never in the ordered phase: each block's "
                    f"Jacobian is I + α J_B, so χ₁ = 1 + α² χ_B ≥ 1 (Yang & Schoenholz 2017); here {start}, "
                    "so every block starts as the identity and χ₁ = 1 exactly, while σw² only enters once "
                    "training moves the branches")
        chi_b = "σw² E[φ′²]" if s.layers_per_block == 1 else "σw⁴ E[φ′(z₁)²] E[φ′(z₂)²]"
        return ("a residual network without normalization is never in the ordered phase: each block's Jacobian "
                f"is I + α J_B, so χ₁ = 1 + α² {chi_b} ≥ 1 (Yang & Schoenholz 2017; here α = {_num(alpha)}), and "
                "the variance of the signal grows from block to block instead of settling at a fixed point q*")
    name = _NORM_NAMES[s.norm]
    if s.norm_position == "pre":
        return (f"the {name} before every branch resets the scale the branch sees to 1, while the stream adds "
                "α²(σw² E[φ(u)²] + σb²) per block and grows linearly, not towards a fixed point q*: σw² sets "
                "the slope, not a place on the σw²–σb² diagram, which is drawn for plain layers")
    return (f"the {name} after every block sets the stream's variance back to 1, whatever σw², so the "
            "network sits at no point of the σw²–σb² diagram, which is drawn for plain layers; the gradient's "
            "gain per block is (1 + α² χ_B) / Var(h + αB) instead")


def _num(x: float) -> str:
    return f"{float(f'{x:.3g}'):g}"


def bias_variance(s: Scenario) -> float:
    """σb²: the variance of one bias of ``s`` (0 for a constant bias, whose mean the theory leaves out)."""
    return _bias_moments(s)[1]


def scenario_sigmas(s: Scenario) -> tuple[float, float] | None:
    """(sigma_w^2, sigma_b^2) of the scenario: weight variance x fan_in, bias variance.

    The point to mark on :func:`phase_diagram`. None where the diagram does not describe the scenario:
    where :func:`predict` is None (non-zero-mean or constant weights, a shared matrix), for a non-zero
    constant bias (the diagram assumes zero-mean biases) and with LSUV (its per-layer scales depend on
    the data, so there is no single point).
    """
    if why_no_point(s) is not None:
        return None
    _, var_b = _bias_moments(s)
    init = initializers.get(s.init, **s.init_params())
    n = s.width
    # Rounded to 12 digits: n * (sqrt(2 / n))^2 comes out as 2.0000000000000004, which for ReLU is just past
    # the marginal sigma_w^2 = 2 (a divergent q-map) instead of on it.
    return float(f"{n * init.std(n, n) ** 2:.12g}"), float(f"{var_b:.12g}")


def predict(s: Scenario) -> Prediction | None:
    """The mean-field curves for ``s``, or None where the theory does not apply.

    It does not apply to weights with a non-zero mean (``ones``, ``constant``, ``small_uniform``,
    ``random_normal`` with ``mean != 0``): there every unit shares a common component and the
    pre-activations are not independent Gaussians; nor to constant weights (std 0, e.g. ``zeros``), nor
    to one matrix reused in every layer (``shared``), where the layers are no longer independent.

    With LSUV (Mishkin & Matas 2016; ``s.lsuv``) every layer is rescaled until its pre-activations have
    variance 1 on the batch, so the prediction pins q_l = 1: layer l gets
    sigma_w,l^2 = (1 - sigma_b^2) / E[h_{l-1}^2] (None when sigma_b^2 >= 1: no scale reaches 1), and
    ``chi`` is sigma_w,l^2 E[f'(z_l)^2]. (LSUV stops once within its tolerance, so a measured variance
    may sit anywhere in [0.9, 1.1]; with zero biases it lands on 1 to rounding.)

    Values are computed in float64; they may overflow to inf for exploding scenarios, which is the
    prediction. Each layer is one vectorised quadrature; once q stops changing, the remaining layers
    are copied instead of recomputed.
    """
    if not _iid_weights_apply(s):
        return None
    if not s.plain_mlp:
        return None if s.lsuv else _predict_blocks(s)
    lsuv = bool(s.lsuv)
    mu_b, var_b = _bias_moments(s)
    act = activations.get(s.activation)
    _, ex2 = _input_moments(s.inputs)
    depth = s.depth
    if lsuv:
        if var_b >= 1.0:
            return None
        sigma_w2 = (1.0 - var_b) / ex2  # layer 1; later layers divide by E[h^2]
    else:
        init = initializers.get(s.init, **s.init_params())
        sigma_w2 = s.width * init.std(s.width, s.width) ** 2
    q = np.empty(depth)
    m1 = np.empty(depth)
    m2 = np.empty(depth)
    d2 = np.empty(depth)
    sw2 = np.empty(depth)
    with np.errstate(all="ignore"):
        qi = sigma_w2 * ex2 + var_b
        i = 0
        while i < depth:
            q[i] = qi
            sw2[i] = sigma_w2
            if not math.isfinite(qi):
                m1[i:], m2[i:], d2[i:], q[i:], sw2[i:] = np.nan, np.inf, np.nan, np.inf, sigma_w2
                break
            a, b, c, _ = _moments(act, np.array(math.sqrt(qi)), mu_b)
            m1[i], m2[i], d2[i] = float(a), float(b), float(c)
            if lsuv:
                sigma_w2 = (1.0 - var_b) / m2[i] if m2[i] > 0 else np.inf
            q_next = sigma_w2 * m2[i] + var_b
            if q_next == qi and sigma_w2 == sw2[i]:  # a fixed point to the last bit: the rest is equal
                q[i:], m1[i:], m2[i:], d2[i:], sw2[i:] = qi, m1[i], m2[i], d2[i], sigma_w2
                break
            qi = q_next
            i += 1
        chi = sw2 * d2
        top_var = 1.0 if s.loss == "projection" else m2[-1] + 1.0  # E[(h - y)^2], y ~ N(0, 1)
        gvar = np.empty(depth)
        gvar[-1] = d2[-1] * top_var
        for j in range(depth - 2, -1, -1):
            gvar[j] = d2[j] * sw2[j + 1] * gvar[j + 1]
        act_std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    return Prediction(np.sqrt(q), act_std, m1, np.sqrt(gvar), chi)


# ---------------------------------------------------------------------------------------------------
# residual and normalised blocks


def _block_moments(act: activations.Activation, var: float, mean: float) -> tuple[float, float, float]:
    """(E f, E f^2, E f'^2) at z ~ N(mean, var), as floats; (nan, inf, nan) once ``var`` is not finite."""
    if not math.isfinite(var) or not math.isfinite(mean):
        return math.nan, math.inf, math.nan
    g = gaussian_moments(act, max(var, 0.0), mean)
    return float(g.m1), float(g.m2), float(g.d2)


def _unit_means_sq(act: activations.Activation, within: float, off_mean: float, off_var: float, m1: float) -> float:
    """E_j[(E_b f(z_bj))^2]: the mean square over units of each unit's batch mean of f(z), where unit j's
    z is N(c_j, within) over the batch and its offset c_j ~ N(off_mean, off_var) over the units (from the
    biases and the inputs' own unit means). ``m1``: E f over all z (the answer when off_var = 0)."""
    if off_var <= 0 or not math.isfinite(off_var) or not math.isfinite(within):
        return m1 * m1
    c, _, w = gaussian.nodes(math.sqrt(off_var), off_mean)
    inner = _moments(act, np.full(c.shape, math.sqrt(max(within, 0.0))), c)[0]
    return float(np.sum(w * inner * inner))


def _branch_weights(s: Scenario, sw2: float) -> list[float]:
    """sigma_w^2 of each weight layer of one branch: Fixup (Zhang et al. 2019) scales the first by
    depth^(-1/2) (variance / depth) and zeroes the last; every other rule keeps the initializer's."""
    if s.residual and s.residual_rule == "fixup":
        return [sw2 / s.depth, 0.0]
    return [sw2] * s.layers_per_block


def _predict_blocks(s: Scenario) -> Prediction:
    """:func:`predict` for residual or normalised networks (:mod:`initlab.signal.blocks`), one entry per block.

    State per block: the stream's variance v, mean m (over all values) and, for BatchNorm, its
    within-unit variance w (the variance over the batch, averaged over units: what a BatchNorm sees,
    while a LayerNorm sees v; they differ by the spread of the units' own means). A norm's output u is
    N(0, r) with r = var / (var + eps), var what it sees. Forward, with sigma_w^2 per branch layer
    (:func:`_branch_weights`) and sigma_b^2 the bias variance::

        plain + norm   z = h W + b, u = N(z): var = sigma_w^2 E[h^2] + sigma_b^2 (layer),
                       sigma_w^2 w_h (batch: the bias is constant per unit and cancels); h = f(u)
        pre            v_l = v_(l-1) + alpha^2 (sigma_w^2 E[f(a)^2] + sigma_b^2),   m_l = m_(l-1) + alpha mu_b
                       a the last activation's input: the normalised u, or with no norm the stream
                       itself (1 layer) or z_1 = f(h) W_1 + b_1 (2 layers)
        post           z = h W + b ~ N(mu_b, sigma_w^2 E[h^2] + sigma_b^2); s = h + alpha B with
                       Var(B) = Var f(z) (1 layer), sigma_w^2 E[f(z)^2] + sigma_b^2 (2 layers);
                       h_l = N(s): mean 0, variance r (no norm: h_l = s)

    Backward (gradient independence, as for the plain q-map), G_l the variance of dl/dh_l; a norm
    divides the gradient by sqrt(var + eps). Its two projections (the mean, the component along u)
    remove 2 of n directions (LayerNorm: units) or of the batch (BatchNorm), a relative variance of
    about 2/n or 2/batch per norm: neglected (the infinite-width limit)::

        plain + norm   Var(dl/dz_l) = E[f'(u)^2] G_l / (var + eps),   G_(l-1) = sigma_w^2 Var(dl/dz_l)
        pre            G_(l-1) = G_l (1 + alpha^2 prod_k sigma_w,k^2 E[f'(a_k)^2] / (var_k + eps))
        post           G_(l-1) = G_l (1 + alpha^2 E[f'(z)^2] prod_k sigma_w,k^2) / (var_s + eps)

    (no norm: var + eps -> 1). ``chi`` is G_(l-1) / G_l, the mean squared singular value of the block's
    Jacobian (Yang & Schoenholz 2017: 1 + alpha^2 chi_branch >= 1 without a norm). The columns mean
    what the engine's do: ``pre`` is the input of the block's last activation, ``act`` the block's
    output, ``grad_std`` the std of dl/dh_l (residual: the second moment G_l minus the mean the identity
    path carries down from an mse loss, m_L^2) or of dl/dz_l (plain; the norm's backward removes its
    mean). With mse in a plain + norm network the top layer's f(u) and f'(u) are treated as independent,
    as the plain MLP's prediction does. The stream is treated as Gaussian:
    exact for standard inputs (a sum of independent Gaussians at infinite width), an approximation
    for uniform ones (minmax, raw), whose shape the first blocks keep.
    """
    act = activations.get(s.activation)
    mu_b, var_b = _bias_moments(s)
    mx, ex2 = _input_moments(s.inputs)
    init = initializers.get(s.init, **s.init_params())
    sw2s = _branch_weights(s, s.width * init.std(s.width, s.width) ** 2)
    alpha, eps, batch_norm, norm = s.alpha(), float(s.norm_eps), s.norm == "batch", s.norm != "none"
    depth = s.depth
    pre_var, pre_mean = np.empty(depth), np.empty(depth)
    act_var, act_mean, chi = np.empty(depth), np.empty(depth), np.empty(depth)
    # The stream h (the input x at first): variance, mean, within-unit variance, mean square of the
    # units' own means (x: every unit has mean mx).
    v, m, w, unit_m2 = input_variance(s), mx, input_variance(s), mx * mx

    def normalised(tot: float, within: float) -> tuple[float, float]:
        """(r, var + eps) of a norm whose input has variance ``tot`` (within-unit ``within``)."""
        seen = within if batch_norm else tot
        return seen / (seen + eps), seen + eps

    with np.errstate(all="ignore"):
        for i in range(depth):
            if not s.residual:  # plain + norm: z = h W + b, u = N(z), h = f(u)
                r, div = normalised(sw2s[0] * (v + m * m) + var_b, sw2s[0] * w)
                m1, m2, d2 = _block_moments(act, r, 0.0)
                pre_var[i], pre_mean[i] = r, 0.0
                v, m, w = m2 - m1 * m1, m1, m2 - m1 * m1
                chi[i] = sw2s[0] * d2 / div
            elif s.norm_position == "pre":
                tot, mean, within = v, m, w  # the input of the branch's first norm / activation
                gain = 1.0
                for k, sw2 in enumerate(sw2s):
                    if norm:
                        r, div = normalised(tot, within)
                        m1, m2, d2 = _block_moments(act, r, 0.0)
                        pre_var[i], pre_mean[i] = r, 0.0
                    else:
                        m1, m2, d2 = _block_moments(act, tot, mean)
                        pre_var[i], pre_mean[i], div = tot, mean, 1.0
                    gain *= sw2 * d2 / div
                    # The next linear output f(a) W + b (the branch output after the last layer).
                    tot, mean, within = sw2 * m2 + var_b, mu_b, sw2 * (m2 - m1 * m1)
                v, m, w = v + alpha * alpha * tot, m + alpha * mu_b, w + alpha * alpha * within
                chi[i] = 1.0 + alpha * alpha * gain
            else:  # post: z = h W + b, s = h + alpha B, h_l = N(s)
                tot_z = sw2s[0] * (v + m * m) + var_b
                m1, m2, d2 = _block_moments(act, tot_z, mu_b)
                pre_var[i], pre_mean[i] = tot_z, mu_b
                # The units' batch means of f(z) (z's offsets: the biases and the inputs' unit means).
                means_sq = (_unit_means_sq(act, sw2s[0] * w, mu_b, sw2s[0] * unit_m2 + var_b, m1)
                            if batch_norm else m1 * m1)
                if len(sw2s) == 1:
                    b_tot, b_mean, b_within = m2 - m1 * m1, m1, m2 - means_sq
                else:
                    b_tot, b_mean, b_within = sw2s[1] * m2 + var_b, mu_b, sw2s[1] * (m2 - means_sq)
                tot, mean, within = v + alpha * alpha * b_tot, m + alpha * b_mean, w + alpha * alpha * b_within
                branch_gain = alpha * alpha * d2 * math.prod(sw2s)
                if norm:
                    r, div = normalised(tot, within)
                    v, m, w, unit_m2 = r, 0.0, r, 0.0
                else:
                    v, m, w, div = tot, mean, within, 1.0
                chi[i] = (1.0 + branch_gain) / div
            act_var[i], act_mean[i] = v, m
            if not math.isfinite(v):
                pre_var[i + 1:], pre_mean[i + 1:], act_var[i:], act_mean[i:] = np.inf, np.nan, np.inf, np.nan
                chi[i:] = np.nan
                break
        # E[(dl/dh_L)^2]: 1 for the projection loss, E[(h - y)^2] = v + m^2 + 1 for mse (y ~ N(0, 1)).
        mse = s.loss != "projection"
        gvar = np.empty(depth)  # E[(dl/dh_l)^2] at every block's output: the branches multiply it
        gvar[-1] = act_var[-1] + act_mean[-1] ** 2 + 1.0 if mse else 1.0
        for j in range(depth - 2, -1, -1):
            gvar[j] = chi[j + 1] * gvar[j + 1]
        if not s.residual:  # the engine reports dl/dz_l there: G_l E[f'^2] / (var + eps) = G_(l-1) / sigma_w^2
            gvar = gvar * chi / sw2s[0] if sw2s[0] > 0 else np.full(depth, np.nan)
        elif mse:
            # The identity path carries the output's mean m_L (h - y has mean m_L) down to every block; the
            # branches add zero-mean terms (a post-norm's mean is 0 already). grad_std is a std: remove it.
            gvar = np.maximum(gvar - act_mean[-1] ** 2, 0.0)
    return Prediction(np.sqrt(pre_var), np.sqrt(np.maximum(act_var, 0.0)), act_mean, np.sqrt(gvar), chi)
