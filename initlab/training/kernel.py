"""The compiled training loop (numba): many steps of many runs in one call, with no numpy call per step.

Why: at the sizes of the classic experiments (300 examples, layers of 10 and 5 units) a step is a few
hundred thousand multiply-adds spread over ~40 small array operations, so numpy spends most of its
time in per-call overhead and in passes over memory (``benchmarks/bench_training.py``). This kernel
runs the steps of a chunk for one run at a time, with all of that run's activations in the L1 cache,
and loops over the examples innermost (contiguous, vectorised by LLVM).

It computes what :func:`initlab.training.engine._numpy_steps` computes (the reference, which the tests
compare it to for every activation and optimizer); only the order of floating-point sums differs
(``fastmath`` reassociation lets LLVM vectorise the reductions) and exp is computed by the code
below, so results agree to a few ulp per step. The fastmath flags used never assume finite values:
inf and NaN propagate as in numpy.

Layout: the parameters of run g are one flat vector ``theta[g]``; layer l's kernel (fan_in, fan_out)
starts at ``woff[l]`` (row-major, W[j, k] at ``woff[l] + j * fan_out + k``), its bias at ``boff[l]``.
Activations are stored feature-major, ``(layer, unit, example)``.

The activations re-implement the registry (:mod:`initlab.weights.activations`) with the same formulas and
limits (derivatives from the output where the registry has ``deriv_from_output``, as the numpy
engine); ``tests/test_training.py`` checks them against it value by value.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from initlab.weights import activations
from initlab.weights.activations import ELU_ALPHA, GELU_C, GELU_K, LEAKY_RELU_SLOPE, SELU_ALPHA, SELU_LAMBDA

try:
    import numba
except ImportError:  # pragma: no cover - numba is a runtime dependency; numpy is the fallback engine
    numba = None

AVAILABLE = numba is not None

# Activation and optimizer codes (the kernel branches on them once per row, not per value). The activation
# codes are the registry's ``kernel_code``s (the branches of _act_layer / _dact_layer below); an activation
# without one is not here, and the engine trains it with numpy.
ACT_CODES = {a: activations.get(a).kernel_code for a in activations.names()
             if activations.get(a).kernel_code is not None}
OPT_CODES = {"sgd": 0, "momentum": 1, "adam": 2}

# The registry's constants as plain floats, which numba freezes into the compiled code.
_SLOPE = float(LEAKY_RELU_SLOPE)
_ELU_A = float(ELU_ALPHA)
_SELU_L = float(SELU_LAMBDA)
_SELU_A = float(SELU_ALPHA)
_SELU_C = _SELU_L * _SELU_A
_GC = float(GELU_C)
_GK = float(GELU_K)
_FAR = 1e3  # as activations._FAR
_GELU_FAR = 30.0  # as activations._GELU_DERIV_FAR

# Reassociation (vectorised sums), contraction (FMA), no signed zeros, reciprocal: none of these
# assumes finite values, unlike fastmath=True ("nnan", "ninf"), which would break inf/NaN handling.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# The elementwise helpers (exp, activations) need no reassociation to vectorise, and it would undo the
# exact two-part ln 2 reduction of exp (107 ulp at |x| ~ 700 instead of < 1): contraction to FMA only
# (which is 1.6x faster than none, and exact there).
_EXACT = {"contract"}


def _jit(fn=None, *, fastmath=_FASTMATH):
    """njit with an on-disk cache when one can be written, else without (never fails at import).

    ``error_model="numpy"``: x / 0 is inf or NaN as in numpy. numba's default ("python") tests every
    float division for a zero divisor to raise ZeroDivisionError, which keeps LLVM from vectorising
    any loop that divides (sigmoid, tanh: 1.7 ns a value instead of ~0.5).

    numba caches next to this file, else in NUMBA_CACHE_DIR or the user's cache directory; a read-only
    install with no writable home (a locked-down container) gets no cache and compiles once per process.
    """
    if fn is None:
        return lambda f: _jit(f, fastmath=fastmath)
    if numba is None:
        return fn
    try:
        return numba.njit(cache=True, fastmath=fastmath, nogil=True, error_model="numpy")(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        warnings.warn(f"numba cannot cache the training kernel ({exc}); set NUMBA_CACHE_DIR to a writable "
                      "directory to avoid compiling in every process", UserWarning, stacklevel=2)
        return numba.njit(cache=False, fastmath=fastmath, nogil=True, error_model="numpy")(fn)


# ---------------------------------------------------------------------------------------------------
# Vectorisable exp / expm1 / log1p. numba calls libm's scalar exp (~3.3 ns a value here) unless Intel's
# SVML is installed; these pure-arithmetic versions vectorise (~0.8 ns) and are accurate to 1 ulp.
# They work in float64 whatever the array dtype (float32 values are rounded once at the end).
# ---------------------------------------------------------------------------------------------------

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
# Taylor coefficients 1/j! of e^r - 1 - r, j = 2..13: for |r| <= ln2 / 2 the first omitted term
# r^14 / 14! < 4e-18 (below half an ulp of 1).
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (1.0 / math.factorial(j) for j in range(2, 14))
_EXP_HI = 709.782712893384  # ln(largest double): above it e^x = inf
_EXP_LO = -708.3964185322641  # ln(smallest normal double): below it e^x is taken as 0 (no subnormals)


@_jit(fastmath=_EXACT)
def _vexp(buf, n, kb, minus_one):  # pragma: no cover - compiled
    """buf[:n] = e^buf[:n] (or e^buf[:n] - 1 if ``minus_one``) in place; ``kb``: int64 scratch, length >= n.

    e^x = 2^k (1 + q): k = round(x / ln 2), r = x - k ln 2 (two-part ln 2, so exact), q = e^r - 1 by
    its Taylor series, 2^k built from its bit pattern (exponent field k + 1023, read through a float64
    view of ``kb``). e^x - 1 = 2^k q + (2^k - 1) keeps full relative accuracy near 0 (expm1).
    Limits: NaN -> NaN, x > ln(max double) -> inf, x < ln(min normal) -> 0 (expm1: -1); results
    that would be subnormal are flushed to 0.
    """
    kf = kb.view(np.float64)
    for i in range(n):
        x = buf[i]
        v = min(max(x, _EXP_LO), _EXP_HI)
        v = 0.0 if x != x else v
        k = math.floor(v * _LOG2E + 0.5)  # in [-1022, 1024]
        r = (v - k * _LN2_HI) - k * _LN2_LO
        q = _E13
        q = q * r + _E12
        q = q * r + _E11
        q = q * r + _E10
        q = q * r + _E9
        q = q * r + _E8
        q = q * r + _E7
        q = q * r + _E6
        q = q * r + _E5
        q = q * r + _E4
        q = q * r + _E3
        q = q * r + _E2
        q = q * r * r + r
        kk = min(k, 1023)  # 2^1024 is not a double: fold the last factor 2 into q, (1 + q) 2 = 1 + (2q + 1)
        q = q * 2.0 + 1.0 if k > kk else q
        q = np.inf if x > _EXP_HI else q
        q = x if x != x else q
        kb[i] = 0 if x < _EXP_LO else (np.int64(kk) + 1023) << 52  # bits 0 are +0.0: e^x = 0, expm1 = -1
        buf[i] = q
    if minus_one:
        for i in range(n):
            p = kf[i]
            buf[i] = buf[i] * p + (p - 1.0)
    else:
        for i in range(n):
            buf[i] = (buf[i] + 1.0) * kf[i]


@_jit(fastmath=_EXACT)
def _log1p_unit(buf, n):  # pragma: no cover - compiled
    """buf[:n] = log(1 + u) for u in [0, 1], in place: 2 atanh(s), s = u / (2 + u) <= 1/3, series in s^2.

    Terms s^(2j+1) / (2j+1) for j <= 17; the first omitted one is below 3^-37 / 37 < 1e-19.
    """
    for i in range(n):
        u = buf[i]
        s = u / (2.0 + u)
        s2 = s * s
        p = 1.0 / 35.0
        p = p * s2 + 1.0 / 33.0
        p = p * s2 + 1.0 / 31.0
        p = p * s2 + 1.0 / 29.0
        p = p * s2 + 1.0 / 27.0
        p = p * s2 + 1.0 / 25.0
        p = p * s2 + 1.0 / 23.0
        p = p * s2 + 1.0 / 21.0
        p = p * s2 + 1.0 / 19.0
        p = p * s2 + 1.0 / 17.0
        p = p * s2 + 1.0 / 15.0
        p = p * s2 + 1.0 / 13.0
        p = p * s2 + 1.0 / 11.0
        p = p * s2 + 1.0 / 9.0
        p = p * s2 + 1.0 / 7.0
        p = p * s2 + 1.0 / 5.0
        p = p * s2 + 1.0 / 3.0
        buf[i] = 2.0 * s * (1.0 + s2 * p)


@_jit(fastmath=_EXACT)
def _act_layer(act, zs, hs, l, fo, n, buf, kb):  # pragma: no cover - compiled
    """hs[l + 1, k, :n] = f(zs[l, k, :n]) for every unit k < fo, with the registry's formulas and limits;
    ``buf`` is float64 and ``kb`` int64 scratch.

    The exponential activations fill ``buf`` with the argument of their exp, share one call of
    :func:`_vexp` (one copy of its code: compile time), then finish.
    """
    for k in range(fo):
        if act == 3:  # relu: 0 for z <= 0, z otherwise (NaN stays NaN)
            for i in range(n):
                v = zs[l, k, i]
                hs[l + 1, k, i] = 0.0 if v <= 0.0 else v
            continue
        if act == 0:  # linear
            for i in range(n):
                hs[l + 1, k, i] = zs[l, k, i]
            continue
        if act == 4:  # leaky_relu
            for i in range(n):
                v = zs[l, k, i]
                hs[l + 1, k, i] = v if v > 0.0 else _SLOPE * v
            continue
        if act == 1:  # sigmoid = 1 / (1 + e^-z)
            for i in range(n):
                buf[i] = -zs[l, k, i]
        elif act == 2:  # tanh, via m = expm1(-2|z|)
            for i in range(n):
                buf[i] = -2.0 * abs(zs[l, k, i])
        elif act == 5 or act == 6:  # elu, selu: e^min(z, 0)
            for i in range(n):
                buf[i] = min(zs[l, k, i], 0.0)
        elif act == 7:  # gelu: e^(-2u), u = c (z + k z^3)
            for i in range(n):
                v = max(zs[l, k, i], -_FAR)
                buf[i] = -2.0 * _GC * v * (1.0 + _GK * v * v)
        elif act == 8:  # swish: e^-z
            for i in range(n):
                buf[i] = -max(zs[l, k, i], -_FAR)
        else:  # softplus: e^-|z|
            for i in range(n):
                buf[i] = -abs(zs[l, k, i])
        _vexp(buf, n, kb, act == 2)
        if act == 1:  # 1 / (1 + e^-z); e^-z = inf gives the limit 0
            for i in range(n):
                hs[l + 1, k, i] = 1.0 / (1.0 + buf[i])
        elif act == 2:  # tanh z = sign(z) (-m / (2 + m)): no cancellation near 0; NaN gives NaN
            for i in range(n):
                m = buf[i]
                hs[l + 1, k, i] = math.copysign(-m / (2.0 + m), zs[l, k, i])
        elif act == 5 or act == 6:  # scale (max(z, 0) + alpha (e^min(z, 0) - 1)), as the registry
            a = _ELU_A if act == 5 else _SELU_A
            s = 1.0 if act == 5 else _SELU_L
            for i in range(n):
                v = zs[l, k, i]
                hs[l + 1, k, i] = v if v != v else s * ((buf[i] - 1.0) * a + max(v, 0.0))
        elif act == 7 or act == 8:  # gelu, swish: z / (1 + e^...), z clipped below at -1000
            for i in range(n):
                v = zs[l, k, i]
                hs[l + 1, k, i] = v if v != v else max(v, -_FAR) / (1.0 + buf[i])
        else:  # softplus = max(z, 0) + log1p(e^-|z|)
            _log1p_unit(buf, n)
            for i in range(n):
                v = zs[l, k, i]
                hs[l + 1, k, i] = v if v != v else max(v, 0.0) + buf[i]


@_jit(fastmath=_EXACT)
def _dact_layer(act, zs, hs, ds, l, fi, n, buf, kb):  # pragma: no cover - compiled
    """ds[l, j, :n] *= f'(z) for z = zs[l, j, :n], every unit j < fi; from the output h = hs[l + 1, j, :n] = f(z) where the registry has deriv_from_output."""
    for j in range(fi):
        if act == 3:  # relu' = 1 for h > 0 else 0; 0 * o keeps NaN/inf gradients NaN, as g * f' in numpy
            for i in range(n):
                ds[l, j, i] = ds[l, j, i] if hs[l + 1, j, i] > 0.0 else 0.0 * ds[l, j, i]
        elif act == 0:
            pass
        elif act == 4:
            for i in range(n):
                ds[l, j, i] *= 1.0 if hs[l + 1, j, i] > 0.0 else _SLOPE
        elif act == 1:  # h (1 - h)
            for i in range(n):
                v = hs[l + 1, j, i]
                ds[l, j, i] *= (1.0 - v) * v
        elif act == 2:  # 1 - h^2
            for i in range(n):
                v = hs[l + 1, j, i]
                ds[l, j, i] *= 1.0 - v * v
        elif act == 5:  # 1 for h > 0, else h + alpha
            for i in range(n):
                v = hs[l + 1, j, i]
                ds[l, j, i] *= 1.0 if v > 0.0 else v + _ELU_A
        elif act == 6:  # lambda for h > 0, else h + lambda alpha
            for i in range(n):
                v = hs[l + 1, j, i]
                ds[l, j, i] *= _SELU_L if v > 0.0 else v + _SELU_C
        else:  # softplus, gelu, swish: one shared exp
            if act == 9:  # softplus' = sigmoid(z) = -expm1(-h)
                for i in range(n):
                    buf[i] = -hs[l + 1, j, i]
            elif act == 7:  # e^-|w|, w = 2c (z + k z^3), z clipped to +-30
                for i in range(n):
                    v = min(max(zs[l, j, i], -_GELU_FAR), _GELU_FAR)
                    buf[i] = -abs(2.0 * _GC * v * (1.0 + _GK * v * v))
            else:  # e^-|z|, z clipped to +-1000
                for i in range(n):
                    buf[i] = -abs(min(max(zs[l, j, i], -_FAR), _FAR))
            _vexp(buf, n, kb, act == 9)
            if act == 9:
                for i in range(n):
                    ds[l, j, i] *= -buf[i]
            elif act == 7:  # gelu' = s(w) + s'(w) z 2c (1 + 3k z^2), with a = sigmoid(-|w|)
                for i in range(n):
                    v = min(max(zs[l, j, i], -_GELU_FAR), _GELU_FAR)
                    w = 2.0 * _GC * v * (1.0 + _GK * v * v)
                    g = 2.0 * _GC * v * (1.0 + 3.0 * _GK * v * v)
                    e = buf[i]
                    a = e / (1.0 + e)
                    sw = a if w <= 0.0 else 1.0 - a
                    ds[l, j, i] *= sw + a * (1.0 - a) * g
            else:  # swish' = s + z s (1 - s), with a = sigmoid(-|z|)
                for i in range(n):
                    v = min(max(zs[l, j, i], -_FAR), _FAR)
                    e = buf[i]
                    a = e / (1.0 + e)
                    s = a if v <= 0.0 else 1.0 - a
                    ds[l, j, i] *= s + v * a * (1.0 - a)


@_jit(fastmath=_EXACT)
def _sigmoid_out(zs, ds, l, n, buf, kb):  # pragma: no cover - compiled
    """ds[l, 0, :n] = sigmoid(zs[l, 0, :n]) (the output unit), as the sigmoid activation."""
    for i in range(n):
        buf[i] = -zs[l, 0, i]
    _vexp(buf, n, kb, False)
    for i in range(n):
        ds[l, 0, i] = 1.0 / (1.0 + buf[i])


@_jit
def run_steps(theta, m1, m2, t0, nsteps, XT, yv, perms, perm_row, epoch0, batch, sizes, woff, boff,
              act, opt, lr, mom, beta1, beta2, eps, zero):  # pragma: no cover - compiled
    """Advance every run ``g`` of ``theta`` (G, P) by ``nsteps`` updates, steps t0 .. t0 + nsteps - 1.

    ``XT`` (2, n) and ``yv`` (n,) are the training set; with ``batch < n`` update t uses examples
    ``perms[perm_row[g], t // spe - epoch0, (t % spe) * batch:][:batch]`` (spe = ceil(n / batch) steps
    per epoch; the last batch of an epoch is smaller), else all of them. ``m1``, ``m2`` are the
    optimizer's state (velocity; Adam's moments), updated in place. ``zero`` is 0 in theta's dtype (so
    that sums run in that dtype).

    Speed notes: arrays are indexed in full (``hs[l, j, i]``), never sliced into row views inside the
    loops: every view costs numba two reference-count calls, which at these sizes cost as much as the
    arithmetic. Inputs are taken four at a time where that saves passes over a row.
    """
    G, P = theta.shape
    L = sizes.size - 1
    n = XT.shape[1]
    maxw = 1
    for l in range(L + 1):
        maxw = max(maxw, sizes[l])
    zs = np.empty((L, maxw, batch), theta.dtype)  # zs[l] = z of layer l + 1
    hs = np.empty((L, maxw, batch), theta.dtype)  # hs[0] = the input batch, hs[l] = f(zs[l - 1])
    ds = np.empty((L, maxw, batch), theta.dtype)  # ds[l] = dL/dzs[l] (one buffer per layer: no copies)
    yb = np.empty(batch, theta.dtype)
    buf = np.empty(batch, np.float64)  # scratch of the activations' exp
    kb = np.empty(batch, np.int64)
    grad = np.empty(P, theta.dtype)
    spe = (n + batch - 1) // batch
    full = batch == n
    for g in range(G):
        if full:
            for i in range(n):
                hs[0, 0, i] = XT[0, i]
                hs[0, 1, i] = XT[1, i]
                yb[i] = yv[i]
        for s in range(nsteps):
            t = t0 + s
            bsz = n
            if not full:
                pos = (t % spe) * batch
                bsz = min(batch, n - pos)
                e = t // spe - epoch0
                r = perm_row[g]
                for i in range(bsz):
                    idx = perms[r, e, pos + i]
                    hs[0, 0, i] = XT[0, idx]
                    hs[0, 1, i] = XT[1, idx]
                    yb[i] = yv[idx]
            # Forward: z_l = h_{l-1} W_l + b_l; h_l = f(z_l) for the hidden layers.
            for l in range(L):
                fi = sizes[l]
                fo = sizes[l + 1]
                wo = woff[l]
                for k in range(fo):
                    bk = theta[g, boff[l] + k]
                    # The first pass starts from the bias (no separate initialisation pass).
                    if fi >= 2:
                        w0 = theta[g, wo + k]
                        w1 = theta[g, wo + fo + k]
                        for i in range(bsz):
                            zs[l, k, i] = bk + w0 * hs[l, 0, i] + w1 * hs[l, 1, i]
                        j = 2
                    else:
                        w0 = theta[g, wo + k]
                        for i in range(bsz):
                            zs[l, k, i] = bk + w0 * hs[l, 0, i]
                        j = 1
                    while j + 4 <= fi:
                        w0 = theta[g, wo + j * fo + k]
                        w1 = theta[g, wo + (j + 1) * fo + k]
                        w2 = theta[g, wo + (j + 2) * fo + k]
                        w3 = theta[g, wo + (j + 3) * fo + k]
                        for i in range(bsz):
                            zs[l, k, i] += (w0 * hs[l, j, i] + w1 * hs[l, j + 1, i]
                                            + w2 * hs[l, j + 2, i] + w3 * hs[l, j + 3, i])
                        j += 4
                    if j + 2 <= fi:
                        w0 = theta[g, wo + j * fo + k]
                        w1 = theta[g, wo + (j + 1) * fo + k]
                        for i in range(bsz):
                            zs[l, k, i] += w0 * hs[l, j, i] + w1 * hs[l, j + 1, i]
                        j += 2
                    if j < fi:
                        w0 = theta[g, wo + j * fo + k]
                        for i in range(bsz):
                            zs[l, k, i] += w0 * hs[l, j, i]
                if l < L - 1:
                    # The piecewise-linear activations inline; the others in one call per layer (a call
                    # with array arguments costs about as much as a pass over a row).
                    if act == 3:
                        for k in range(fo):
                            for i in range(bsz):
                                v = zs[l, k, i]
                                hs[l + 1, k, i] = 0.0 if v <= 0.0 else v
                    elif act == 4:
                        for k in range(fo):
                            for i in range(bsz):
                                v = zs[l, k, i]
                                hs[l + 1, k, i] = v if v > 0.0 else _SLOPE * v
                    elif act == 0:
                        for k in range(fo):
                            for i in range(bsz):
                                hs[l + 1, k, i] = zs[l, k, i]
                    else:
                        _act_layer(act, zs, hs, l, fo, bsz, buf, kb)
            # Output: dL/ds_i = (sigmoid(s_i) - y_i) / batch for the mean binary cross-entropy.
            _sigmoid_out(zs, ds, L - 1, bsz, buf, kb)
            inv = 1.0 / bsz
            for i in range(bsz):
                ds[L - 1, 0, i] = (ds[L - 1, 0, i] - yb[i]) * inv
            # Backward: dL/dW_l = h_{l-1}^T d_l, dL/db_l = sum d_l, d_{l-1} = (d_l W_l^T) * f'(z_{l-1}).
            for l in range(L - 1, -1, -1):
                fi = sizes[l]
                fo = sizes[l + 1]
                wo = woff[l]
                for k in range(fo):
                    # The bias sum rides along the first pass (one or two inputs).
                    cb = zero
                    c0 = zero
                    if fi >= 2:
                        c1 = zero
                        for i in range(bsz):
                            v = ds[l, k, i]
                            cb += v
                            c0 += hs[l, 0, i] * v
                            c1 += hs[l, 1, i] * v
                        grad[wo + fo + k] = c1
                        j = 2
                    else:
                        for i in range(bsz):
                            v = ds[l, k, i]
                            cb += v
                            c0 += hs[l, 0, i] * v
                        j = 1
                    grad[wo + k] = c0
                    grad[boff[l] + k] = cb
                    while j + 4 <= fi:
                        c0 = zero
                        c1 = zero
                        c2 = zero
                        c3 = zero
                        for i in range(bsz):
                            v = ds[l, k, i]
                            c0 += hs[l, j, i] * v
                            c1 += hs[l, j + 1, i] * v
                            c2 += hs[l, j + 2, i] * v
                            c3 += hs[l, j + 3, i] * v
                        grad[wo + j * fo + k] = c0
                        grad[wo + (j + 1) * fo + k] = c1
                        grad[wo + (j + 2) * fo + k] = c2
                        grad[wo + (j + 3) * fo + k] = c3
                        j += 4
                    if j + 2 <= fi:
                        c0 = zero
                        c1 = zero
                        for i in range(bsz):
                            v = ds[l, k, i]
                            c0 += hs[l, j, i] * v
                            c1 += hs[l, j + 1, i] * v
                        grad[wo + j * fo + k] = c0
                        grad[wo + (j + 1) * fo + k] = c1
                        j += 2
                    if j < fi:
                        c0 = zero
                        for i in range(bsz):
                            c0 += hs[l, j, i] * ds[l, k, i]
                        grad[wo + j * fo + k] = c0
                if l > 0:
                    for j in range(fi):
                        r0 = wo + j * fo
                        if fo >= 2:  # the first pass initialises the row
                            w0 = theta[g, r0]
                            w1 = theta[g, r0 + 1]
                            for i in range(bsz):
                                ds[l - 1, j, i] = w0 * ds[l, 0, i] + w1 * ds[l, 1, i]
                            k = 2
                        else:
                            w0 = theta[g, r0]
                            for i in range(bsz):
                                ds[l - 1, j, i] = w0 * ds[l, 0, i]
                            k = 1
                        while k + 4 <= fo:
                            w0 = theta[g, r0 + k]
                            w1 = theta[g, r0 + k + 1]
                            w2 = theta[g, r0 + k + 2]
                            w3 = theta[g, r0 + k + 3]
                            for i in range(bsz):
                                ds[l - 1, j, i] += (w0 * ds[l, k, i] + w1 * ds[l, k + 1, i]
                                                    + w2 * ds[l, k + 2, i] + w3 * ds[l, k + 3, i])
                            k += 4
                        if k + 2 <= fo:
                            w0 = theta[g, r0 + k]
                            w1 = theta[g, r0 + k + 1]
                            for i in range(bsz):
                                ds[l - 1, j, i] += w0 * ds[l, k, i] + w1 * ds[l, k + 1, i]
                            k += 2
                        if k < fo:
                            w0 = theta[g, r0 + k]
                            for i in range(bsz):
                                ds[l - 1, j, i] += w0 * ds[l, k, i]
                    if act == 3:  # relu' from the output; 0 * d keeps NaN/inf gradients NaN
                        for j in range(fi):
                            for i in range(bsz):
                                v = ds[l - 1, j, i]
                                ds[l - 1, j, i] = v if hs[l, j, i] > 0.0 else 0.0 * v
                    elif act == 4:
                        for j in range(fi):
                            for i in range(bsz):
                                ds[l - 1, j, i] *= 1.0 if hs[l, j, i] > 0.0 else _SLOPE
                    elif act != 0:
                        _dact_layer(act, zs, hs, ds, l - 1, fi, bsz, buf, kb)
            # Update (Keras semantics).
            if opt == 0:
                for p in range(P):
                    theta[g, p] -= lr * grad[p]
            elif opt == 1:
                for p in range(P):
                    m1[g, p] = mom * m1[g, p] - lr * grad[p]
                    theta[g, p] += m1[g, p]
            else:
                k1 = t + 1.0
                alpha = lr * math.sqrt(1.0 - beta2 ** k1) / (1.0 - beta1 ** k1)
                for p in range(P):
                    gp = grad[p]
                    m1[g, p] += (gp - m1[g, p]) * (1.0 - beta1)
                    m2[g, p] += (gp * gp - m2[g, p]) * (1.0 - beta2)
                    theta[g, p] -= (m1[g, p] * alpha) / (math.sqrt(m2[g, p]) + eps)


@_jit
def act_values(act, z, deriv):  # pragma: no cover - compiled
    """f(z) (deriv False) or f'(z) (deriv True) through the kernel's own row functions (for the tests)."""
    n = z.size
    buf = np.empty(n, np.float64)
    kb = np.empty(n, np.int64)
    zs = np.empty((1, 1, n), z.dtype)
    hs = np.empty((2, 1, n), z.dtype)
    zs[0, 0] = z
    _act_layer(act, zs, hs, 0, 1, n, buf, kb)
    if not deriv:
        return hs[1, 0].copy()
    ds = np.ones((1, 1, n), z.dtype)
    _dact_layer(act, zs, hs, ds, 0, 1, n, buf, kb)
    return ds[0, 0].copy()


@_jit
def exp_values(x, minus_one):  # pragma: no cover - compiled
    """e^x (or e^x - 1) through the kernel's vectorised exp (for the tests)."""
    buf = x.astype(np.float64)
    kb = np.empty(x.size, np.int64)
    _vexp(buf, x.size, kb, minus_one)
    return buf

