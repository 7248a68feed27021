"""The compiled training loop (numba): many steps of many runs in one call, with no numpy call per step.

Why: at the sizes of the classic experiments (300 examples, layers of 10 and 5 units) a step is a few
hundred thousand multiply-adds spread over ~40 small array operations, so numpy spends most of its
time in per-call overhead and in passes over memory (``benchmarks/bench_training.py``). This kernel
runs the steps of a chunk for one run at a time, with all of that run's activations in the L1 cache,
and loops over the examples innermost (contiguous, vectorised by LLVM).

It computes what the numpy engine computes (:func:`initlab.training.engine._numpy_steps`, and
``_block_steps`` for residual and normalised networks: the reference, which the tests compare it to for
every architecture, activation and optimizer). Only the order of floating-point sums differs
(``fastmath`` reassociation lets LLVM vectorise the reductions: the weight gradients, and the
BatchNorm / LayerNorm statistics and their backward sums), f' is taken from the activation's output
wherever the registry allows (the numpy block engine takes it from the input) and exp is computed by
the code below, so results agree to a few ulp per step. The fastmath flags used never assume finite
values: inf and NaN propagate as in numpy, and a blown-up run is recorded, never raised.

One design for every network: a program of ops
----------------------------------------------
The network is a short program (``prog``, int64 (ops, N_FIELDS), made by :class:`Program`; the engine's
``_kernel_program`` writes one per architecture). Every op reads slot ``F_SRC`` and writes a new slot
``F_DST``. :func:`run_steps` runs, one run at a time (batched over the runs in the outer loop), for
every step: the ops in order (:func:`_forward`), in reverse (:func:`_backward`: each op writes its
parameters' gradients and hands its input's gradient on), then the optimizer. :func:`evaluate` runs the
same program for what the engine records (a full-batch gradient; the evaluated network's logits)::

    op         computes                    fields
    LINEAR     z = h W + b                 A kernel offset, B bias offset, C bias cancelled by a BatchNorm
    ACT        h = f(z)                    A the activation's kernel_code
    NORM       y = gamma N(x) + beta       A gamma offset (beta follows), B NORM_BATCH / NORM_LAYER,
                                           C constants (eps, momentum, 1 - momentum), D running statistics
                                           in state (BatchNorm, -1 otherwise), E the slot of u = N(x)
    ADD        h = skip + alpha branch     SRC the branch, A the skip, B alpha's theta index (-1: fixed),
                                           C alpha's constant
    OUTPUT     the loss on the logits      A OUT_SIGMOID_BCE (one logit, mean binary cross-entropy) or
                                           OUT_SOFTMAX_CE (one logit per class, mean categorical cross-entropy)

A plain MLP is LINEAR, ACT, ..., LINEAR, OUTPUT: the loops of the kernel before programs, moved into
:func:`_linear_fwd` / :func:`_linear_bwd` unchanged, so its numbers did not move by one bit (those two
are inlined by numba, not by LLVM: LLVM re-optimising them in their caller rebalanced the bias sums).
A plain layer with a norm is LINEAR, NORM, ACT; a pre-norm block [NORM, ACT, LINEAR] x branch layers,
then ADD; a post-norm block LINEAR, ACT, [LINEAR], ADD, NORM.

Layout. Values ``A`` (slot, unit, example) and gradients ``D`` (buffer, unit, example), feature-major:
the loops over examples run innermost, contiguous and vectorised; slot 0 is the input batch. The
gradient of slot s lives in ``D[dmap[s]]``. ``F_DACC`` says how an op's input gets its gradient:
GRAD_WRITE (the op is the first to reach that buffer in the backward pass and writes it), GRAD_ADD (a
slot read twice, the residual stream: the op writes into a spare buffer, which :func:`_backward` adds),
GRAD_SAME (an activation whose input nothing else reads: f' multiplied in place), GRAD_NONE (the input
batch). A residual sum's skip shares the sum's buffer, so the stream's gradient accumulates as it
flows back, without copies; buffers not alive at the same time are one (:meth:`Program.build`). The
parameters of run g are one flat vector ``theta[g]`` in the engine's ``_Layout``: every weight layer's
kernel (fan_in, fan_out) row-major (W[j, k] at ``woff + j * fan_out + k``) and bias, then gamma and
beta of every norm, then the learned alphas; a BatchNorm's running means and variances are in
``state[g]``. Constants (eps, momentum, fixed alphas, 0, 1) are in ``fc``, in theta's dtype, so that
float32 arithmetic stays float32. The scratch is allocated by the callers (:func:`_scratch`), so that
the compiled code runs without reference counting.

Adding an op: a code, a forward and a backward helper below (reading ``A``, ``D`` and ``theta``, writing
its parameters' gradients into ``grad`` at its offsets and, if asked, its input's gradient into the
buffer it is given), a branch in :func:`_forward` and in :func:`_backward`, and a :class:`Program`
method; the engine then emits it for its architecture. The softmax output (3 or more classes,
categorical cross-entropy) was added so, as another OUTPUT kind (OUT_SOFTMAX_CE): the head LINEAR with
one unit per class, ``yv`` holding class indices (in theta's dtype, exact for whole numbers), ``_output_bwd``
writing (softmax(s) - onehot(y)) / n into the logits' gradient, and :func:`evaluate` returning every
class's logit; no other op changed. An op with a second input (besides a residual skip) would hand that
one's gradient on as ADD does its skip's. The input width is the input batch's (``XT``'s rows): 2
coordinates or digits' 64 pixels.

Wide softmax MLPs by BLAS. Where the matrices are big (digits: 64 pixels into 32 units, batches of 64, records
over 1437 and 360 images) the hand loops reach a fifth of what gemm does, so a plain MLP with a softmax
output and a layer of BLAS_MIN_WEIGHTS or more trains in a kernel of its own, :func:`_mlp_kernel`
(:func:`run_mlp_steps`, :func:`evaluate_mlp`): the same program, LINEAR by gemm (numba's np.dot), the
input batch as rows. gemm sums in an order of its own, so only runs whose units all start different go
there (the engine's ``_blas_runs``); a zero or constant init keeps the hand loops, which keep its equal
units bit-identical. A kernel apart, not a branch of ``_kernel``: every number ``_kernel`` computes for the
other networks stays as it was. Its records go through each set in blocks of EVAL_BLOCK examples (gemm's
small-matrix code, a block's values kept in cache); the runs of one restart share the gather of their
batch; a ReLU adds the bias of the layer before it and sums that bias's gradient in its own pass; a
float32 network's softmax is float32 arithmetic (:func:`_softmax_out32`, exponentials by :func:`_vexp32_shifted`),
a float64 one's float64 (:func:`_softmax_out`). Its gemm products are most of its time: for digits they
run at about the core's float32 gemm peak (as measured on 1024 x 1024), the rest is the passes over every
value between them.

The activations re-implement the registry (:mod:`initlab.weights.activations`) with the same formulas and
limits (derivatives from the output where the registry has ``deriv_from_output``, as the numpy
engine); ``tests/test_training.py`` checks them against it value by value.

Why one module of ~1900 lines: the program's format (op codes, record fields, how a gradient is handed
on) is a contract between the Python that writes programs (:class:`Program`) and the compiled code that
runs them, which numba builds from this module's constants and functions; the exp and the activations
are that code's own arithmetic. Kept together, the format is defined, documented and read in one place.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

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

# The program (module docstring): op codes, the fields of an op record, how an op hands its input's
# gradient on, the kinds of norm and output, and the shared constants at the start of ``fc``.
OP_LINEAR, OP_ACT, OP_NORM, OP_ADD, OP_OUTPUT = range(5)
F_OP, F_SRC, F_DST, F_NIN, F_NOUT, F_DACC, F_A, F_B, F_C, F_D, F_E = range(11)
N_FIELDS = 11
GRAD_WRITE, GRAD_ADD, GRAD_SAME, GRAD_NONE = range(4)
NORM_BATCH, NORM_LAYER = 0, 1
OUT_SIGMOID_BCE, OUT_SOFTMAX_CE = 0, 1
MODE_TRAIN, MODE_GRAD, MODE_EVAL = range(3)  # a step; a gradient without moving the statistics; evaluation
C_ZERO, C_ONE, C_FLOOR = 0, 1, 2  # 0, 1, and tiny / eps: a variance at or below it takes the overflow-safe norm
# A plain softmax MLP with a layer of at least this many weights (fan_in x fan_out: digits' 64 pixels into 8 or
# more units) trains by BLAS (:func:`_mlp_kernel`) in the runs allowed to (the engine's ``_blas_runs``): there
# the products are most of a step and gemm is several times the hand loops (512-bit vectors, which numba's
# loops do not use, and no pass over memory per four inputs).
BLAS_MIN_WEIGHTS = 512
# An evaluation by BLAS (:func:`evaluate_mlp`) goes through a set in blocks of this many examples: gemm on
# (32 x 64) by (64 x 256) runs its small-matrix code at ~1.7x the speed it reaches on all 1437 of digits'
# training images at once (packing both operands), and a block's values stay in the core's cache between
# the passes over them.
EVAL_BLOCK = 256

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


def _jit(fn=None, *, fastmath=_FASTMATH, inline="never", nrt=True):
    """njit with an on-disk cache when one can be written, else without (never fails at import).

    ``error_model="numpy"``: x / 0 is inf or NaN as in numpy. numba's default ("python") tests every
    float division for a zero divisor to raise ZeroDivisionError, which keeps LLVM from vectorising
    any loop that divides (sigmoid, tanh: 1.7 ns a value instead of ~0.5).

    numba caches next to this file, else in NUMBA_CACHE_DIR or the user's cache directory; a read-only
    install with no writable home (a locked-down container) gets no cache and compiles once per process.

    ``inline="always"``: numba inlines the function into its callers (its IR, before LLVM sees it);
    ``nrt=False``: compiled without numba's runtime (no reference counts; it may not allocate).

    A helper left to its own call (``inline="never"``) exists twice: its own library, and a copy numba
    links into the caller and LLVM re-optimises there, under a weak symbol. The caller loaded from the
    cache calls the helper's own library if the process has it loaded already (it compiled the kernel, or
    anything else that called the helper) and its copy otherwise. With reassociated sums the two copies
    add in different orders, so a training would depend on the process's history (float32 BatchNorm
    gradients moved in the last bits: ``tests/test_kernel_determinism.py``). Hence every helper with the
    kernel's reassociating flags is inlined by numba; only the ``_EXACT`` ones (no reassociation, the
    same arithmetic in either copy) keep their own calls, as they need flags of their own.
    """
    if fn is None:
        return lambda f: _jit(f, fastmath=fastmath, inline=inline, nrt=nrt)
    if numba is None:
        return fn
    opts = dict(fastmath=fastmath, nogil=True, error_model="numpy", inline=inline, _nrt=nrt)
    try:
        return numba.njit(cache=True, **opts)(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        warnings.warn(f"numba cannot cache the training kernel ({exc}); set NUMBA_CACHE_DIR to a writable "
                      "directory to avoid compiling in every process", UserWarning, stacklevel=2)
        return numba.njit(cache=False, **opts)(fn)


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


_F32 = np.float32
_MAGIC32 = 12582912.0  # 1.5 x 2^23: x + it - it rounds a float32 x to the nearest whole number


@_jit(fastmath=_EXACT, inline="always")
def _exp32_parts(x):  # pragma: no cover - compiled
    """e^x for a float32 x as (q, bits): e^x = (1 + q) 2^k, 2^k the float32 whose bit pattern is ``bits`` (int32;
    0 for +0.0 below the smallest normal float32). Cephes' expf: k = round(x / ln 2) (by the 1.5 x 2^23
    trick), r = x - k ln 2 with ln 2 in two parts (0.693359375, exact in 9 bits, and -2.12194440e-4), q =
    e^r - 1 = r + r^2 P(r) with Cephes' degree-5 minimax P. Limits: NaN -> NaN, x > 88.72 -> inf, x < -87.34
    -> 0. The caller multiplies in a loop of its own, through an int32 array and its float32 view (a bit cast
    numba has no scalar form of; in the same loop as the store it kept LLVM from vectorising):
    :func:`_vexp32_shifted`."""
    v = min(max(x, _F32(-87.33654)), _F32(88.72283))
    v = _F32(0.0) if x != x else v
    k = (v * _F32(1.442695) + _F32(_MAGIC32)) - _F32(_MAGIC32)  # in [-126, 128]
    r = (v - k * _F32(0.693359375)) - k * _F32(-2.12194440e-4)
    p = _F32(1.9875691500e-4)
    p = p * r + _F32(1.3981999507e-3)
    p = p * r + _F32(8.3334519073e-3)
    p = p * r + _F32(4.1665795894e-2)
    p = p * r + _F32(1.6666665459e-1)
    p = p * r + _F32(5.0000001201e-1)
    q = p * (r * r) + r
    kk = min(k, _F32(127.0))  # 2^128 is not a float32: fold the last factor 2 into q, (1 + q) 2 = 1 + (2q + 1)
    q = q * _F32(2.0) + _F32(1.0) if k > kk else q
    q = _F32(np.inf) if x > _F32(88.72283) else q
    q = x if x != x else q
    bits = 0 if x < _F32(-87.33654) else (np.int32(kk) + 127) << 23
    return q, bits


@_jit(fastmath=_EXACT)
def _vexp32_shifted(A, src, M, T, E, kb, w, n):  # pragma: no cover - compiled
    """E[k n + i] = e^(A[src, k, i] - M[i]) and T[i] += each, for k < w, i < n: the float32 exponential
    (:func:`_exp32_parts`) of a softmax's shifted logits, read from ``A`` in the first loop and summed in the
    second. Within 1.01 ulp of e^x over [-87.3, 88.7] (tests/test_training_classes.py checks 2e6 points
    against float64); about 4x :func:`_vexp` (float64, 1 ulp), whose precision a float32 softmax drops when
    it stores its probabilities."""
    kf = kb.view(np.float32)
    for k in range(w):
        for i in range(n):
            j = k * n + i
            q, bits = _exp32_parts(A[src, k, i] - M[i])
            kb[j] = bits
            E[j] = q
    for k in range(w):
        for i in range(n):
            j = k * n + i
            e = (E[j] + _F32(1.0)) * kf[j]
            E[j] = e
            T[i] += e


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
def _act_layer(act, A, src, dst, fo, n, buf, kb):  # pragma: no cover - compiled
    """A[dst, k, :n] = f(A[src, k, :n]) for every unit k < fo, with the registry's formulas and limits;
    ``buf`` is float64 and ``kb`` int64 scratch.

    The exponential activations fill ``buf`` with the argument of their exp, share one call of
    :func:`_vexp` (one copy of its code: compile time), then finish.
    """
    for k in range(fo):
        if act == 3:  # relu: 0 for z <= 0, z otherwise (NaN stays NaN)
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = 0.0 if v <= 0.0 else v
            continue
        if act == 0:  # linear
            for i in range(n):
                A[dst, k, i] = A[src, k, i]
            continue
        if act == 4:  # leaky_relu
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = v if v > 0.0 else _SLOPE * v
            continue
        if act == 1:  # sigmoid = 1 / (1 + e^-z)
            for i in range(n):
                buf[i] = -A[src, k, i]
        elif act == 2:  # tanh, via m = expm1(-2|z|)
            for i in range(n):
                buf[i] = -2.0 * abs(A[src, k, i])
        elif act == 5 or act == 6:  # elu, selu: e^min(z, 0)
            for i in range(n):
                buf[i] = min(A[src, k, i], 0.0)
        elif act == 7:  # gelu: e^(-2u), u = c (z + k z^3)
            for i in range(n):
                v = max(A[src, k, i], -_FAR)
                buf[i] = -2.0 * _GC * v * (1.0 + _GK * v * v)
        elif act == 8:  # swish: e^-z
            for i in range(n):
                buf[i] = -max(A[src, k, i], -_FAR)
        else:  # softplus: e^-|z|
            for i in range(n):
                buf[i] = -abs(A[src, k, i])
        _vexp(buf, n, kb, act == 2)
        if act == 1:  # 1 / (1 + e^-z); e^-z = inf gives the limit 0
            for i in range(n):
                A[dst, k, i] = 1.0 / (1.0 + buf[i])
        elif act == 2:  # tanh z = sign(z) (-m / (2 + m)): no cancellation near 0; NaN gives NaN
            for i in range(n):
                m = buf[i]
                A[dst, k, i] = math.copysign(-m / (2.0 + m), A[src, k, i])
        elif act == 5 or act == 6:  # scale (max(z, 0) + alpha (e^min(z, 0) - 1)), as the registry
            a = _ELU_A if act == 5 else _SELU_A
            s = 1.0 if act == 5 else _SELU_L
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = v if v != v else s * ((buf[i] - 1.0) * a + max(v, 0.0))
        elif act == 7 or act == 8:  # gelu, swish: z / (1 + e^...), z clipped below at -1000
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = v if v != v else max(v, -_FAR) / (1.0 + buf[i])
        else:  # softplus = max(z, 0) + log1p(e^-|z|)
            _log1p_unit(buf, n)
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = v if v != v else max(v, 0.0) + buf[i]


@_jit(fastmath=_EXACT)
def _dact_layer(act, A, src, dst, D, dd, fi, n, buf, kb):  # pragma: no cover - compiled
    """D[dd, j, :n] *= f'(z) for z = A[src, j, :n], every unit j < fi; from the output h = A[dst, j, :n] = f(z)
    where the registry has deriv_from_output."""
    for j in range(fi):
        if act == 3:  # relu' = 1 for h > 0 else 0; 0 * o keeps NaN/inf gradients NaN, as g * f' in numpy
            for i in range(n):
                D[dd, j, i] = D[dd, j, i] if A[dst, j, i] > 0.0 else 0.0 * D[dd, j, i]
        elif act == 0:
            pass
        elif act == 4:
            for i in range(n):
                D[dd, j, i] *= 1.0 if A[dst, j, i] > 0.0 else _SLOPE
        elif act == 1:  # h (1 - h)
            for i in range(n):
                v = A[dst, j, i]
                D[dd, j, i] *= (1.0 - v) * v
        elif act == 2:  # 1 - h^2
            for i in range(n):
                v = A[dst, j, i]
                D[dd, j, i] *= 1.0 - v * v
        elif act == 5:  # 1 for h > 0, else h + alpha
            for i in range(n):
                v = A[dst, j, i]
                D[dd, j, i] *= 1.0 if v > 0.0 else v + _ELU_A
        elif act == 6:  # lambda for h > 0, else h + lambda alpha
            for i in range(n):
                v = A[dst, j, i]
                D[dd, j, i] *= _SELU_L if v > 0.0 else v + _SELU_C
        else:  # softplus, gelu, swish: one shared exp
            if act == 9:  # softplus' = sigmoid(z) = -expm1(-h)
                for i in range(n):
                    buf[i] = -A[dst, j, i]
            elif act == 7:  # e^-|w|, w = 2c (z + k z^3), z clipped to +-30
                for i in range(n):
                    v = min(max(A[src, j, i], -_GELU_FAR), _GELU_FAR)
                    buf[i] = -abs(2.0 * _GC * v * (1.0 + _GK * v * v))
            else:  # e^-|z|, z clipped to +-1000
                for i in range(n):
                    buf[i] = -abs(min(max(A[src, j, i], -_FAR), _FAR))
            _vexp(buf, n, kb, act == 9)
            if act == 9:
                for i in range(n):
                    D[dd, j, i] *= -buf[i]
            elif act == 7:  # gelu' = s(w) + s'(w) z 2c (1 + 3k z^2), with a = sigmoid(-|w|)
                for i in range(n):
                    v = min(max(A[src, j, i], -_GELU_FAR), _GELU_FAR)
                    w = 2.0 * _GC * v * (1.0 + _GK * v * v)
                    g = 2.0 * _GC * v * (1.0 + 3.0 * _GK * v * v)
                    e = buf[i]
                    a = e / (1.0 + e)
                    sw = a if w <= 0.0 else 1.0 - a
                    D[dd, j, i] *= sw + a * (1.0 - a) * g
            else:  # swish' = s + z s (1 - s), with a = sigmoid(-|z|)
                for i in range(n):
                    v = min(max(A[src, j, i], -_FAR), _FAR)
                    e = buf[i]
                    a = e / (1.0 + e)
                    s = a if v <= 0.0 else 1.0 - a
                    D[dd, j, i] *= s + v * a * (1.0 - a)


@_jit(fastmath=_EXACT)
def _sigmoid_out(A, src, D, dd, n, buf, kb):  # pragma: no cover - compiled
    """D[dd, 0, :n] = sigmoid(A[src, 0, :n]) (the output unit), as the sigmoid activation."""
    for i in range(n):
        buf[i] = -A[src, 0, i]
    _vexp(buf, n, kb, False)
    for i in range(n):
        D[dd, 0, i] = 1.0 / (1.0 + buf[i])


# ---------------------------------------------------------------------------------------------------
# The ops: one forward and one backward helper each (module docstring). ``A`` holds the values, ``D`` the
# gradients, both (slot or buffer, unit, example); ``n`` is the batch's size, ``nf`` the same number in
# theta's dtype (so that float32 arithmetic stays float32).
# ---------------------------------------------------------------------------------------------------

@_jit(inline="always")
def _linear_fwd(theta, g, A, src, dst, wo, bo, fi, fo, n):  # pragma: no cover - compiled
    """A[dst] = A[src]^T W + b: z[k, i] = b[k] + sum_j W[j, k] h[j, i], W at ``wo``, b at ``bo``."""
    for k in range(fo):
        bk = theta[g, bo + k]
        # The first pass starts from the bias (no separate initialisation pass).
        if fi >= 2:
            w0 = theta[g, wo + k]
            w1 = theta[g, wo + fo + k]
            for i in range(n):
                A[dst, k, i] = bk + w0 * A[src, 0, i] + w1 * A[src, 1, i]
            j = 2
        else:
            w0 = theta[g, wo + k]
            for i in range(n):
                A[dst, k, i] = bk + w0 * A[src, 0, i]
            j = 1
        while j + 4 <= fi:
            w0 = theta[g, wo + j * fo + k]
            w1 = theta[g, wo + (j + 1) * fo + k]
            w2 = theta[g, wo + (j + 2) * fo + k]
            w3 = theta[g, wo + (j + 3) * fo + k]
            for i in range(n):
                A[dst, k, i] += (w0 * A[src, j, i] + w1 * A[src, j + 1, i]
                                 + w2 * A[src, j + 2, i] + w3 * A[src, j + 3, i])
            j += 4
        if j + 2 <= fi:
            w0 = theta[g, wo + j * fo + k]
            w1 = theta[g, wo + (j + 1) * fo + k]
            for i in range(n):
                A[dst, k, i] += w0 * A[src, j, i] + w1 * A[src, j + 1, i]
            j += 2
        if j < fi:
            w0 = theta[g, wo + j * fo + k]
            for i in range(n):
                A[dst, k, i] += w0 * A[src, j, i]


@_jit(inline="always")
def _linear_bwd(theta, g, grad, A, D, src, ds, dd, wo, bo, fi, fo, n, want, cancelled, zero
                ):  # pragma: no cover - compiled
    """dL/dW = h^T d, dL/db = sum d (0 where ``cancelled``), and (if ``want``) dL/dh = d W^T into D[ds],
    given d = D[dd]."""
    for k in range(fo):
        # The bias sum rides along the first pass (one or two inputs).
        cb = zero
        c0 = zero
        if fi >= 2:
            c1 = zero
            for i in range(n):
                v = D[dd, k, i]
                cb += v
                c0 += A[src, 0, i] * v
                c1 += A[src, 1, i] * v
            grad[wo + fo + k] = c1
            j = 2
        else:
            for i in range(n):
                v = D[dd, k, i]
                cb += v
                c0 += A[src, 0, i] * v
            j = 1
        grad[wo + k] = c0
        grad[bo + k] = cb
        while j + 4 <= fi:
            c0 = zero
            c1 = zero
            c2 = zero
            c3 = zero
            for i in range(n):
                v = D[dd, k, i]
                c0 += A[src, j, i] * v
                c1 += A[src, j + 1, i] * v
                c2 += A[src, j + 2, i] * v
                c3 += A[src, j + 3, i] * v
            grad[wo + j * fo + k] = c0
            grad[wo + (j + 1) * fo + k] = c1
            grad[wo + (j + 2) * fo + k] = c2
            grad[wo + (j + 3) * fo + k] = c3
            j += 4
        if j + 2 <= fi:
            c0 = zero
            c1 = zero
            for i in range(n):
                v = D[dd, k, i]
                c0 += A[src, j, i] * v
                c1 += A[src, j + 1, i] * v
            grad[wo + j * fo + k] = c0
            grad[wo + (j + 1) * fo + k] = c1
            j += 2
        if j < fi:
            c0 = zero
            for i in range(n):
                c0 += A[src, j, i] * D[dd, k, i]
            grad[wo + j * fo + k] = c0
    if cancelled:  # a bias just before a BatchNorm: exactly 0 (TrainScenario.cancelled_biases)
        for k in range(fo):
            grad[bo + k] = zero
    if not want:
        return
    for j in range(fi):
        r0 = wo + j * fo
        if fo >= 2:  # the first pass initialises the row
            w0 = theta[g, r0]
            w1 = theta[g, r0 + 1]
            for i in range(n):
                D[ds, j, i] = w0 * D[dd, 0, i] + w1 * D[dd, 1, i]
            k = 2
        else:
            w0 = theta[g, r0]
            for i in range(n):
                D[ds, j, i] = w0 * D[dd, 0, i]
            k = 1
        while k + 4 <= fo:
            w0 = theta[g, r0 + k]
            w1 = theta[g, r0 + k + 1]
            w2 = theta[g, r0 + k + 2]
            w3 = theta[g, r0 + k + 3]
            for i in range(n):
                D[ds, j, i] += (w0 * D[dd, k, i] + w1 * D[dd, k + 1, i]
                                + w2 * D[dd, k + 2, i] + w3 * D[dd, k + 3, i])
            k += 4
        if k + 2 <= fo:
            w0 = theta[g, r0 + k]
            w1 = theta[g, r0 + k + 1]
            for i in range(n):
                D[ds, j, i] += w0 * D[dd, k, i] + w1 * D[dd, k + 1, i]
            k += 2
        if k < fo:
            w0 = theta[g, r0 + k]
            for i in range(n):
                D[ds, j, i] += w0 * D[dd, k, i]


@_jit(inline="always")
def _act_fwd(act, A, src, dst, w, n, buf, kb):  # pragma: no cover - compiled
    """A[dst] = f(A[src]): the piecewise-linear activations inline, the others in one call (a call with
    array arguments costs about as much as a pass over a row)."""
    if act == 3:
        for k in range(w):
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = 0.0 if v <= 0.0 else v
    elif act == 4:
        for k in range(w):
            for i in range(n):
                v = A[src, k, i]
                A[dst, k, i] = v if v > 0.0 else _SLOPE * v
    elif act == 0:
        for k in range(w):
            for i in range(n):
                A[dst, k, i] = A[src, k, i]
    else:
        _act_layer(act, A, src, dst, w, n, buf, kb)


@_jit(inline="always")
def _act_bwd(act, A, D, src, dst, dd, w, n, buf, kb):  # pragma: no cover - compiled
    """D[dd] *= f'(A[src]) in place, f' from the output A[dst] where the registry allows."""
    if act == 3:  # relu' from the output; 0 * d keeps NaN/inf gradients NaN
        for j in range(w):
            for i in range(n):
                v = D[dd, j, i]
                D[dd, j, i] = v if A[dst, j, i] > 0.0 else 0.0 * v
    elif act == 4:
        for j in range(w):
            for i in range(n):
                D[dd, j, i] *= 1.0 if A[dst, j, i] > 0.0 else _SLOPE
    elif act != 0:
        _dact_layer(act, A, src, dst, D, dd, w, n, buf, kb)


@_jit(inline="always")
def _hand_on(D, ds, frm, w, n, dacc):  # pragma: no cover - compiled
    """D[ds] = D[frm] (GRAD_WRITE) or D[ds] += D[frm] (GRAD_ADD)."""
    for j in range(w):
        if dacc == GRAD_WRITE:
            for i in range(n):
                D[ds, j, i] = D[frm, j, i]
        else:
            for i in range(n):
                D[ds, j, i] += D[frm, j, i]


@_jit(fastmath=_EXACT)
def _safe_slice(A, src, us, IV, o, c, batch_norm, m, eps, one, zero):  # pragma: no cover - compiled
    """u and 1 / sqrt(var + eps) of one slice whose plain variance overflowed or underflowed: unit ``c``
    over the ``m`` examples (``batch_norm``) or example ``c`` over the ``m`` units, by
    :func:`initlab.signal.blocks.normalize`'s overflow-safe form, step by step: x / s1 (s1 the largest |x|;
    1 if that is 0, inf or NaN), centred, divided by its largest magnitude (1 if that is 0 or NaN), then
    squared. Rare (only blown-up runs take it) and exact arithmetic (no reassociation, no reciprocals)."""
    s1 = zero
    finite = True
    for j in range(m):
        a = abs(A[src, c, j] if batch_norm else A[src, j, c])
        if not a < np.inf:
            finite = False
        elif a > s1:
            s1 = a
    if not (finite and s1 > zero):
        s1 = one
    t = zero
    for j in range(m):
        t += (A[src, c, j] if batch_norm else A[src, j, c]) / s1
    IV[o, c] = m  # the count in theta's dtype
    mf = IV[o, c]
    my = t / mf
    mx = zero
    nan = False
    for j in range(m):
        a = abs((A[src, c, j] if batch_norm else A[src, j, c]) / s1 - my)
        if a != a:
            nan = True
        elif a > mx:
            mx = a
    if nan or not mx > zero:
        mx = one
    v = zero
    for j in range(m):
        xs = ((A[src, c, j] if batch_norm else A[src, j, c]) / s1 - my) / mx
        v += xs * xs
    scale = s1 * mx
    root = math.sqrt(v / mf + eps / scale / scale)
    for j in range(m):
        u = (((A[src, c, j] if batch_norm else A[src, j, c]) / s1 - my) / mx) / root
        if batch_norm:
            A[us, c, j] = u
        else:
            A[us, j, c] = u
    IV[o, c] = one / (scale * root)


@_jit(inline="always")
def _norm_fwd(theta, g, state, A, IV, sc, o, src, dst, us, w, n, nf, goff, kind, so, ci, fc, mode
              ):  # pragma: no cover - compiled
    """A[dst] = gamma N(A[src]) + beta, u = N(x) kept in A[us] and 1 / sqrt(var + eps) in IV[o] (per unit
    for a BatchNorm, per example for a LayerNorm); eps is fc[ci]. In training a BatchNorm normalises with
    the batch's statistics and (MODE_TRAIN) moves its running statistics (state[g, so:], means then
    variances; momentum fc[ci + 1], 1 - momentum fc[ci + 2]) as PyTorch's BatchNorm1d; in MODE_EVAL it
    normalises with them. Slices whose variance is not finite or not above tiny / eps take
    :func:`_safe_slice` (as the numpy engine's ``_normalize``). The statistics' sums are reassociated
    (vectorised), as the weight gradients' are."""
    one = fc[C_ONE]
    zero = fc[C_ZERO]
    floor = fc[C_FLOOR]
    eps = fc[ci]
    if kind == NORM_BATCH and mode == MODE_EVAL:
        for k in range(w):
            mean = state[g, so + k]
            iv = one / math.sqrt(state[g, so + w + k] + eps)
            for i in range(n):
                A[us, k, i] = (A[src, k, i] - mean) * iv
    elif kind == NORM_BATCH:
        mom = fc[ci + 1]
        keep = fc[ci + 2]
        unbiased = n / (n - 1.0)
        for k in range(w):
            s = zero
            for i in range(n):
                s += A[src, k, i]
            mean = s / nf
            v = zero
            for i in range(n):
                c = A[src, k, i] - mean
                v += c * c
            var = v / nf
            if mode == MODE_TRAIN:
                state[g, so + k] = state[g, so + k] * keep + mom * mean
                state[g, so + w + k] = state[g, so + w + k] * keep + mom * (var * unbiased)
            if var < np.inf and var > floor:  # NaN fails both
                iv = one / math.sqrt(var + eps)
                IV[o, k] = iv
                for i in range(n):
                    A[us, k, i] = (A[src, k, i] - mean) * iv
            else:
                IV[o, k] = -one  # marks the unit for _safe_slice below
    else:
        # LayerNorm: statistics per example over the units, summed unit by unit (vectorised over examples).
        for i in range(n):
            sc[0, i] = zero
            sc[1, i] = zero
        for k in range(w):
            for i in range(n):
                sc[0, i] += A[src, k, i]
        sc[2, 0] = w
        wf = sc[2, 0]
        for i in range(n):
            sc[0, i] = sc[0, i] / wf
        for k in range(w):
            for i in range(n):
                c = A[src, k, i] - sc[0, i]
                sc[1, i] += c * c
        for i in range(n):
            var = sc[1, i] / wf
            IV[o, i] = one / math.sqrt(var + eps) if var < np.inf and var > floor else -one
        for k in range(w):
            for i in range(n):
                A[us, k, i] = (A[src, k, i] - sc[0, i]) * IV[o, i]
    if mode != MODE_EVAL or kind == NORM_LAYER:
        batch_norm = kind == NORM_BATCH
        for c in range(w if batch_norm else n):
            if IV[o, c] < zero:
                _safe_slice(A, src, us, IV, o, c, batch_norm, n if batch_norm else w, eps, one, zero)
    for k in range(w):
        ga = theta[g, goff + k]
        be = theta[g, goff + w + k]
        for i in range(n):
            A[dst, k, i] = ga * A[us, k, i] + be


@_jit(inline="always")
def _norm_bwd(theta, g, grad, A, D, IV, sc, o, ds, dd, us, w, n, nf, goff, kind, want, fc
              ):  # pragma: no cover - compiled
    """dL/dgamma = sum_i dy u, dL/dbeta = sum_i dy, and (if ``want``) dL/dx = inv (du - mean(du) - u
    mean(du u)) with du = gamma dy (means over the norm's axis) into D[ds], given dy = D[dd]."""
    zero = fc[C_ZERO]
    layer = kind == NORM_LAYER
    if layer:  # a LayerNorm's per-example sums of du and du u, over the units
        for i in range(n):
            sc[0, i] = zero
            sc[1, i] = zero
    for k in range(w):
        ga = theta[g, goff + k]
        sdy = zero
        sdyu = zero
        for i in range(n):
            dy = D[dd, k, i]
            u = A[us, k, i]
            sdy += dy
            sdyu += dy * u
            if layer:
                sc[0, i] += dy * ga
                sc[1, i] += (dy * ga) * u
        grad[goff + k] = sdyu
        grad[goff + w + k] = sdy
        if not layer and want:  # a BatchNorm's means of du and du u over the examples, then dL/dx
            m1 = ga * sdy / nf
            m2 = ga * sdyu / nf
            iv = IV[o, k]
            for i in range(n):
                D[ds, k, i] = iv * (D[dd, k, i] * ga - m1 - A[us, k, i] * m2)
    if not layer or not want:
        return
    sc[2, 0] = w
    wf = sc[2, 0]
    for i in range(n):
        sc[0, i] = sc[0, i] / wf
        sc[1, i] = sc[1, i] / wf
    for k in range(w):
        ga = theta[g, goff + k]
        for i in range(n):
            D[ds, k, i] = IV[o, i] * (D[dd, k, i] * ga - sc[0, i] - A[us, k, i] * sc[1, i])


@_jit(inline="always")
def _add_fwd(A, skip, src, dst, w, n, alpha):  # pragma: no cover - compiled
    """A[dst] = A[skip] + alpha A[src] (a residual block's sum)."""
    for k in range(w):
        for i in range(n):
            A[dst, k, i] = A[skip, k, i] + alpha * A[src, k, i]


@_jit(inline="always")
def _add_bwd(grad, A, D, src, ds, dd, w, n, alpha, ai, zero):  # pragma: no cover - compiled
    """dL/dalpha = sum dL/dh A[src] (into grad[ai] when alpha is learned, ``ai`` >= 0) and alpha D[dd] into
    D[ds]. The skip's gradient is D[dd] itself: its buffer is the sum's."""
    if ai >= 0:
        s = zero
        for k in range(w):
            for i in range(n):
                s += D[dd, k, i] * A[src, k, i]
        grad[ai] = s
    for k in range(w):
        for i in range(n):
            D[ds, k, i] = alpha * D[dd, k, i]


@_jit(inline="always")
def _output_bwd(kind, A, D, sc, src, ds, yb, w, n, buf, kb):  # pragma: no cover - compiled
    """D[ds] = dL/ds of the loss over the batch. ``kind`` OUT_SIGMOID_BCE: one logit, the mean binary
    cross-entropy, dL/ds_i = (sigmoid(s_i) - y_i) / n. OUT_SOFTMAX_CE: ``w`` logits per example, the mean
    categorical cross-entropy, dL/ds_ki = (softmax(s_i)_k - [k = y_i]) / n, softmax(s)_k = e^(s_k - m) /
    sum_j e^(s_j - m) with m = max_j s_j (no overflow); sc[0] holds m, sc[1] the sums (free by now: only
    a LayerNorm uses them, within its own op)."""
    if kind == OUT_SIGMOID_BCE:
        _sigmoid_out(A, src, D, ds, n, buf, kb)
        inv = 1.0 / n
        for i in range(n):
            D[ds, 0, i] = (D[ds, 0, i] - yb[i]) * inv
        return
    for i in range(n):
        sc[0, i] = A[src, 0, i]
        sc[1, i] = 0.0
    for k in range(1, w):
        for i in range(n):
            sc[0, i] = max(sc[0, i], A[src, k, i])
    for k in range(w):
        for i in range(n):
            buf[i] = A[src, k, i] - sc[0, i]
        _vexp(buf, n, kb, False)
        for i in range(n):
            D[ds, k, i] = buf[i]
            sc[1, i] += buf[i]
    inv = 1.0 / n
    for k in range(w):
        for i in range(n):
            hit = 1.0 if yb[i] == k else 0.0
            D[ds, k, i] = (D[ds, k, i] / sc[1, i] - hit) * inv


@_jit(inline="always")
def _forward(theta, g, state, A, IV, sc, prog, fc, n, nf, mode, buf, kb):  # pragma: no cover - compiled
    """Run the ops of ``prog`` in order on the n examples in A[0] (``mode``: MODE_TRAIN, MODE_GRAD or
    MODE_EVAL, which only a BatchNorm tells apart)."""
    for o in range(prog.shape[0]):
        op = prog[o, F_OP]
        src = prog[o, F_SRC]
        dst = prog[o, F_DST]
        if op == OP_LINEAR:
            _linear_fwd(theta, g, A, src, dst, prog[o, F_A], prog[o, F_B], prog[o, F_NIN], prog[o, F_NOUT],
                        n)
        elif op == OP_ACT:
            _act_fwd(prog[o, F_A], A, src, dst, prog[o, F_NIN], n, buf, kb)
        elif op == OP_NORM:
            _norm_fwd(theta, g, state, A, IV, sc, o, src, dst, prog[o, F_E], prog[o, F_NIN], n, nf,
                      prog[o, F_A], prog[o, F_B], prog[o, F_D], prog[o, F_C], fc, mode)
        elif op == OP_ADD:
            ai = prog[o, F_B]
            _add_fwd(A, prog[o, F_A], src, dst, prog[o, F_NIN], n,
                     theta[g, ai] if ai >= 0 else fc[prog[o, F_C]])


@_jit(inline="always")
def _backward(theta, g, grad, A, D, IV, sc, prog, dmap, fc, yb, n, nf, buf, kb, zero):  # pragma: no cover - compiled
    """Run the ops of ``prog`` in reverse after :func:`_forward` in training: every parameter's dL/dtheta into
    ``grad`` (yb: the labels of the n examples). An op writes its input's gradient into that input's buffer
    (GRAD_WRITE), or into the spare buffer D[-1], added to the input's here (GRAD_ADD); an activation
    multiplies in place (its output's buffer), handed on here unless the input shares it (GRAD_SAME)."""
    spare = D.shape[0] - 1
    for o in range(prog.shape[0] - 1, -1, -1):
        op = prog[o, F_OP]
        src = prog[o, F_SRC]
        dst = prog[o, F_DST]
        dacc = prog[o, F_DACC]
        want = dacc != GRAD_NONE
        ds = dmap[src]
        dd = dmap[dst]
        tgt = spare if dacc == GRAD_ADD else ds
        if op == OP_LINEAR:
            _linear_bwd(theta, g, grad, A, D, src, tgt, dd, prog[o, F_A], prog[o, F_B], prog[o, F_NIN],
                        prog[o, F_NOUT], n, want, prog[o, F_C] != 0, zero)
        elif op == OP_ACT:
            if want:
                _act_bwd(prog[o, F_A], A, D, src, dst, dd, prog[o, F_NIN], n, buf, kb)
            tgt = dd  # what is handed on below
        elif op == OP_NORM:
            _norm_bwd(theta, g, grad, A, D, IV, sc, o, tgt, dd, prog[o, F_E], prog[o, F_NIN], n, nf,
                      prog[o, F_A], prog[o, F_B], want, fc)
        elif op == OP_ADD:
            ai = prog[o, F_B]
            _add_bwd(grad, A, D, src, tgt, dd, prog[o, F_NIN], n, theta[g, ai] if ai >= 0 else fc[prog[o, F_C]],
                     ai, zero)
        else:  # OP_OUTPUT
            _output_bwd(prog[o, F_A], A, D, sc, src, ds, yb, prog[o, F_NIN], n, buf, kb)
        if want and tgt != ds:
            _hand_on(D, ds, tgt, prog[o, F_NIN], n, dacc)


def _scratch(theta, prog, dmap, nin, cap):
    """The scratch of one run of ``prog`` on up to ``cap`` examples of ``nin`` features (module docstring).
    Allocated here rather than in :func:`_kernel`, which is then compiled without numba's reference
    counting (``_nrt=False``): numba counts references to every array it hands a helper it inlines, and
    those atomic counts took 12 % of a step of the classic network."""
    maxw = max([nin, *prog[:, F_NIN], *prog[:, F_NOUT]])
    dt = theta.dtype
    return (_empty((dmap.size, maxw, cap), dt),  # A[slot]: the values (slot 0: the input batch)
            _empty((int(dmap.max()) + 2, maxw, cap), dt),  # D[dmap[slot]]: dL/d(value), and a spare
            _empty((len(prog), max(maxw, cap)), dt),  # IV: a norm's 1 / sqrt(var + eps), per unit or example
            _empty((3, cap), dt),  # sc: a LayerNorm's per-example sums; sc[2, 0]: a count in theta's dtype
            _empty(cap, dt),  # yb: the labels of the batch
            _empty(cap, np.float64),  # buf, kb: scratch of the activations' exp
            _empty(cap, np.int64),
            _empty(theta.shape[1], dt))  # grad: dL/dtheta of one run


def _empty(shape, dtype):
    """np.empty aligned to 64 bytes (a cache line), as numba aligns its own arrays: numpy's 16-byte
    alignment makes some processes' vector loads straddle cache lines (float64: 20 % slower steps)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + size].view(dtype).reshape(shape)


@_jit(inline="always")
def _unit_counts(prog, A, D, counts, g, n, thr, buf, kb):  # pragma: no cover - compiled
    """After an evaluation pass whose first ``n`` examples are the training set: for every ACT op a (in program
    order), counts[g, a] = (units whose output is 0 on all n examples, units with f'(z) < ``thr`` on all n,
    1 if its input holds a NaN else 0). f' as the backward pass takes it (into the free gradient buffer 0)."""
    a = 0
    for o in range(prog.shape[0]):
        if prog[o, F_OP] != OP_ACT:
            continue
        src, dst, w, code = prog[o, F_SRC], prog[o, F_DST], prog[o, F_NIN], prog[o, F_A]
        dead = 0.0
        sat = 0.0
        nan = 0.0
        for k in range(w):
            for i in range(n):
                D[0, k, i] = 1.0
        _dact_layer(code, A, src, dst, D, 0, w, n, buf, kb)
        for k in range(w):
            zero_all = True
            flat_all = True
            for i in range(n):
                z = A[src, k, i]
                if z != z:
                    nan = 1.0
                if A[dst, k, i] != 0.0:
                    zero_all = False
                if not D[0, k, i] < thr:
                    flat_all = False
            dead += 1.0 if zero_all else 0.0
            sat += 1.0 if flat_all else 0.0
        counts[g, a, 0] = dead
        counts[g, a, 1] = sat
        counts[g, a, 2] = nan
        a += 1


@_jit(inline="always")
def _update(theta, m1, m2, grad, g, t, opt, lr, mom, beta1, beta2, eps):  # pragma: no cover - compiled
    """One optimizer step of run ``g`` at step ``t`` from its gradient ``grad``, with Keras' semantics: SGD
    (``opt`` 0), momentum (1: v = mom v - lr g, theta += v) or Adam (2: lr_t = lr sqrt(1 - beta2^(t+1)) /
    (1 - beta1^(t+1)), theta -= lr_t m / (sqrt(v) + eps)). Shared by both kernels; inlined, so each keeps
    one copy (see :func:`_jit`)."""
    P = theta.shape[1]
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


@_jit(nrt=False)
def _kernel(theta, m1, m2, state, t0, nsteps, XT, yv, perms, perm_row, epoch0, batch, merge, prog, dmap, fc, opt,
            lr, mom, beta1, beta2, eps, zero, XE, grads, logits, counts, thr, A, D, IV, sc, yb, buf, kb, grad
            ):  # pragma: no cover - compiled
    """:func:`run_steps`, or :func:`evaluate` when ``grads`` has rows, with the scratch of :func:`_scratch`.
    One compiled function for both, so that the ops are compiled once per dtype (a second entry point
    would compile and inline them all again: twice the compile time)."""
    G, P = theta.shape
    n = XT.shape[1]
    nin = XT.shape[0]
    m = XE.shape[1]
    evaluating = grads.shape[0] > 0  # two passes a run: the gradient on XT, then the evaluation on XE
    spe = n // batch if merge else (n + batch - 1) // batch
    full = batch == n
    out = prog[prog.shape[0] - 1, F_SRC]  # the logits: the input of the last op, the OUTPUT
    for g in range(G):
        if full:
            for f in range(nin):
                for i in range(n):
                    A[0, f, i] = XT[f, i]
            for i in range(n):
                yb[i] = yv[i]
        for s in range(2 if evaluating else nsteps):
            t = t0 + s
            bsz = n
            mode = MODE_TRAIN
            if evaluating:
                mode = MODE_GRAD if s == 0 else MODE_EVAL
                if s == 1:
                    bsz = m
                    for f in range(nin):
                        for i in range(m):
                            A[0, f, i] = XE[f, i]
            elif not full:
                pos = (t % spe) * batch
                bsz = n - pos if merge and t % spe == spe - 1 else min(batch, n - pos)
                e = t // spe - epoch0
                r = perm_row[g]
                for f in range(nin):
                    for i in range(bsz):
                        A[0, f, i] = XT[f, perms[r, e, pos + i]]
                for i in range(bsz):
                    yb[i] = yv[perms[r, e, pos + i]]
            sc[2, 0] = bsz
            nf = sc[2, 0]  # bsz in theta's dtype (the norms use sc[2, 0] as scratch)
            _forward(theta, g, state, A, IV, sc, prog, fc, bsz, nf, mode, buf, kb)
            if mode == MODE_EVAL:
                for k in range(logits.shape[1]):
                    for i in range(m):
                        logits[g, k, i] = A[out, k, i]
                if counts.shape[0] > 0:
                    _unit_counts(prog, A, D, counts, g, n, thr, buf, kb)
                continue
            _backward(theta, g, grad, A, D, IV, sc, prog, dmap, fc, yb, bsz, nf, buf, kb, zero)
            if evaluating:
                for p in range(P):
                    grads[g, p] = grad[p]
                continue
            _update(theta, m1, m2, grad, g, t, opt, lr, mom, beta1, beta2, eps)


def run_steps(theta, m1, m2, state, t0, nsteps, XT, yv, perms, perm_row, epoch0, batch, merge, prog, dmap, fc, opt,
              lr, mom, beta1, beta2, eps, zero):
    """Advance every run ``g`` of ``theta`` (G, P) by ``nsteps`` updates, steps t0 .. t0 + nsteps - 1,
    running the network ``prog`` (a :class:`Program`'s ops, ``dmap`` its gradient buffers, ``fc`` its
    constants in theta's dtype) forward, then backward in reverse, then the optimizer.

    ``XT`` (features, n) and ``yv`` (n,) are the training set; with ``batch < n`` update t uses examples
    ``perms[perm_row[g], t // spe - epoch0, (t % spe) * batch:][:batch]`` (spe = ceil(n / batch) steps
    per epoch; the last batch of an epoch is smaller), else all of them; with ``merge`` an epoch has
    n // batch steps and its last batch runs to the end of the permutation (batch + 1 examples: the
    engine's ``_step_examples``). ``state`` (G, S) holds the BatchNorm running statistics, moved by
    every step's forward pass. ``m1``, ``m2`` are the optimizer's state (velocity; Adam's moments),
    updated in place. ``zero`` is 0 in theta's dtype (so that sums run in that dtype).

    Speed notes: arrays are indexed in full (``A[src, j, i]``), never sliced into row views inside the
    loops (numba's views cost as much as the arithmetic at these sizes), and the compiled code counts no
    references (:func:`_scratch`). Inputs are taken four at a time where that saves passes over a row.
    """
    _kernel(theta, m1, m2, state, t0, nsteps, XT, yv, perms, perm_row, epoch0, batch, merge, prog, dmap, fc, opt,
            lr, mom, beta1, beta2, eps, zero, np.empty((XT.shape[0], 0), XT.dtype), np.empty((0, 0), theta.dtype),
            np.empty((0, 0, 0), theta.dtype), np.empty((0, 0, 0)), 0.0,
            *_scratch(theta, prog, dmap, XT.shape[0], batch + 1 if merge else batch))


def evaluate(theta, state, XT, yv, XE, prog, dmap, fc, zero, thr=-math.inf):
    """What the engine records of every run ``g`` of ``theta`` (G, P): ``grads`` (G, P), the gradient of a
    full-batch training step on the examples ``XT`` (features, n) with labels ``yv`` (batch statistics,
    the running statistics left as they are), and ``logits`` (G, outputs, m) of the evaluated network (a
    BatchNorm with its running statistics in ``state``) on the examples ``XE`` (features, m): every
    output unit's (one for a sigmoid, one per class for a softmax). ``XE`` must start with the training set:
    ``counts`` (G, activation ops, 3) float64 holds, for every ACT op in program order, the units dead on
    all of it (output 0), the units saturated on all of it (f'(z) < ``thr``; none for the default -inf),
    and 1 where the op's input holds a NaN (:func:`_unit_counts`). Returns ``(grads, logits, counts)``."""
    grads = np.empty_like(theta)
    outputs = prog[prog.shape[0] - 1, F_NIN]  # the OUTPUT op reads the logits
    logits = np.empty((theta.shape[0], outputs, XE.shape[1]), theta.dtype)
    counts = np.zeros((theta.shape[0], int(np.count_nonzero(prog[:, F_OP] == OP_ACT)), 3))
    nothing = np.zeros((1, 1, 1), np.int64)
    _kernel(theta, theta, theta, state, 0, 0, XT, yv, nothing, nothing[0, 0], 0, XT.shape[1], False, prog, dmap, fc,
            0, 0.0, 0.0, 0.0, 0.0, 0.0, zero, XE, grads, logits, counts, float(thr),
            *_scratch(theta, prog, dmap, XT.shape[0], max(XT.shape[1], XE.shape[1], 1)))
    return grads, logits, counts


# ---------------------------------------------------------------------------------------------------
# Plain MLPs by BLAS: a kernel of their own
# ---------------------------------------------------------------------------------------------------
#
# Where the matrices are big enough (digits: 64 pixels into 32 units, batches of 64, and the records' passes
# over 1437 and 360 images), BLAS's gemm multiplies several times faster than the hand loops above. It sums
# in an order of its own, which may differ between the rows and columns of its output (different code for
# different tiles), so it is only for runs whose units all start different (the engine's ``_blas_runs``);
# units made equal by the init need the hand loops, which compute every unit alike and keep them
# bit-identical. It is a kernel of its own rather than a branch of ``_kernel``: LLVM compiles ``_kernel`` as
# one function, and any branch added to it changed how it compiled the existing ops (the last bits of
# BatchNorm networks that never took the branch); a separate function leaves every number of ``_kernel``'s
# networks as it was. Its op set is the plain MLP's only (LINEAR, ACT, OUTPUT), which keeps its compile
# time to a few seconds.

_MANTISSA = (1 << 52) - 1
_ONE_BITS = 1023 << 52  # the exponent field of 1.0
_LN2 = math.log(2.0)
_TINY = 2.2250738585072014e-308  # the smallest normal double


@_jit(fastmath=_EXACT)
def _vlog(t, n, out, tbits, ex):  # pragma: no cover - compiled
    """out[:n] = log(t[:n]) (float64): e ln 2 + log1p(f - 1) for t = 2^e f, f in [1, 2) read from its bits
    (``tbits`` int64 and ``ex`` float64 scratch), by :func:`_log1p_unit` (libm's scalar log cost as much as
    the rest of a softmax record); a t that is 0, subnormal, negative, inf or NaN takes math.log."""
    tb = tbits.view(np.float64)
    for i in range(n):
        tb[i] = t[i]
        b = tbits[i]
        ex[i] = (b >> 52) - 1023
        tbits[i] = (b & _MANTISSA) | _ONE_BITS
        out[i] = tb[i] - 1.0
    _log1p_unit(out, n)
    for i in range(n):
        v = t[i]
        out[i] = ex[i] * _LN2 + out[i] if v >= _TINY and v < np.inf else math.log(v)


@_jit(fastmath=_EXACT)
def _softmax_out(A, D, S0, S1, S2, S3, src, ds, yb, w, n, inv, buf, kb, tbits, want, loss):  # pragma: no cover - compiled
    """The softmax output of :func:`_mlp_kernel` on a block of n examples: (if ``want``) D[ds] = dL/ds =
    (softmax(s) - onehot(y)) * ``inv`` (inv = 1 / the examples of the whole batch or set, of which this
    block is part), as :func:`_output_bwd`; (if ``loss``) returns (sum_i l_i, hits, 1.0 if a logit is NaN
    else 0.0) over the block, l_i = m + log sum_k e^(s_k - m) - s_{y_i} with m the largest logit (0 where
    it is NaN or infinite: the loss is then inf or NaN), hits counting the examples whose first largest
    logit is their class (np.argmax's); else (0, 0, 0). ``S0`` .. ``S3``: float64 scratch rows of length n or
    more, each its own argument (views made in here of one array kept LLVM from vectorising the loops that
    write one row and read another: 4x slower); ``buf`` and ``kb`` hold w * n values: every exponential of
    the block in one call of :func:`_vexp`. A row with a NaN logit gets a NaN loss and its run a NaN
    accuracy (the flag), whatever class it counts. float64 networks; a float32 one takes
    :func:`_softmax_out32`."""
    for i in range(n):
        S0[i] = A[src, 0, i]  # the largest logit, then the shift
        S1[i] = 0.0  # its class
        S2[i] = 0.0  # a NaN logit
        S3[i] = 0.0  # the sum of the exponentials
    for k in range(1, w):
        for i in range(n):
            S0[i] = max(S0[i], A[src, k, i])
    if loss:  # the class: the first k whose logit is the largest (for a row without NaN: np.argmax's)
        for k in range(w - 1, -1, -1):
            kf = float(k)
            for i in range(n):
                v = A[src, k, i]
                S1[i] = kf if v == S0[i] else S1[i]
                S2[i] = max(S2[i], 0.0 if v == v else 1.0)
    nan = 0.0
    hits = 0.0
    if loss:
        for i in range(n):
            nan += S2[i]
            hits += 1.0 if S1[i] == yb[i] else 0.0
            S0[i] = S0[i] if S2[i] == 0.0 and abs(S0[i]) < np.inf else 0.0
    for k in range(w):
        for i in range(n):
            buf[k * n + i] = A[src, k, i] - S0[i]
    _vexp(buf, w * n, kb, False)
    for k in range(w):
        for i in range(n):
            S3[i] += buf[k * n + i]
    if want:
        for k in range(w):
            for i in range(n):
                D[ds, k, i] = buf[k * n + i]
        for k in range(w):
            for i in range(n):
                hit = 1.0 if yb[i] == k else 0.0
                D[ds, k, i] = (D[ds, k, i] / S3[i] - hit) * inv
    if not loss:
        return 0.0, 0.0, 0.0
    _vlog(S3, n, buf, tbits, S2)
    total = 0.0
    for i in range(n):
        total += (S0[i] + buf[i]) - A[src, int(yb[i]), i]
    return total, hits, 1.0 if nan > 0.0 else 0.0


@_jit(fastmath=_EXACT)
def _softmax_out32(A, D, M, C, Fl, T, R, src, ds, yb, w, n, inv, E, kb32, buf, tbits, ex, want, loss
                   ):  # pragma: no cover - compiled
    """:func:`_softmax_out` for a float32 network, in float32 arithmetic: the shift, class and NaN rows
    (``M``, ``C``, ``Fl``), the sums ``T`` and their reciprocals ``R`` are float32 scratch rows (each its own
    argument), the exponentials :func:`_vexp32_shifted`'s (within 1 ulp) into ``E`` (w * n values, int32 scratch
    ``kb32``), and D = (e / sum - [k = y]) * inv with a float32 reciprocal: twice the vector lanes of float64
    and a quarter of the exponential's cost, for probabilities that D stores to float32's precision anyway
    (the softmax was a sixth of a digits training). The loss sums stay float64 (log of the sums by
    :func:`_vlog`, ``buf``, ``tbits`` and ``ex`` its float64 scratch); a sum of float32 exponentials is
    good to ~1e-7, so is each l_i."""
    inv32 = _F32(inv)
    for i in range(n):
        M[i] = A[src, 0, i]
        T[i] = _F32(0.0)
    for k in range(1, w):
        for i in range(n):
            M[i] = max(M[i], A[src, k, i])
    nan = 0.0
    hits = 0.0
    if loss:  # the class: the first k whose logit is the largest (for a row without NaN: np.argmax's)
        for i in range(n):
            C[i] = _F32(0.0)
            Fl[i] = _F32(0.0)
        for k in range(w - 1, -1, -1):
            kf = _F32(k)
            for i in range(n):
                v = A[src, k, i]
                C[i] = kf if v == M[i] else C[i]
                Fl[i] = max(Fl[i], _F32(0.0) if v == v else _F32(1.0))
        for i in range(n):
            nan += Fl[i]
            hits += 1.0 if C[i] == yb[i] else 0.0
            M[i] = M[i] if Fl[i] == _F32(0.0) and abs(M[i]) < _F32(np.inf) else _F32(0.0)
    _vexp32_shifted(A, src, M, T, E, kb32, w, n)
    if want:
        for i in range(n):
            R[i] = _F32(1.0) / T[i]
        for k in range(w):
            kf = _F32(k)
            for i in range(n):
                hit = _F32(1.0) if yb[i] == kf else _F32(0.0)
                D[ds, k, i] = (E[k * n + i] * R[i] - hit) * inv32
    if not loss:
        return 0.0, 0.0, 0.0
    _vlog(T, n, buf, tbits, ex)
    total = 0.0
    for i in range(n):
        total += (M[i] + buf[i]) - A[src, int(yb[i]), i]
    return total, hits, 1.0 if nan > 0.0 else 0.0


@_jit
def _gemm(a, b, out):  # pragma: no cover - compiled
    """out = a b by BLAS gemm: numba's np.dot on 2-D contiguous (C or F) arrays of one float dtype. Compiled
    with numba's runtime (the default): np.dot hands its output back, which code compiled without it
    (``_mlp_kernel``) may not. The views it is given are all contiguous, so nothing is copied."""
    np.dot(a, b, out)


@_jit(inline="always")  # one copy only (see _jit): its sums are reassociated
def _linear_fwd_blas(theta, g, h, A, dst, wo, bo, fi, fo, n, bias):  # pragma: no cover - compiled
    """:func:`_linear_fwd` by BLAS: A[dst] = W^T h + b for the layer's input ``h`` (fi, n): a slot, or the
    input batch's rows transposed; ``A`` a view whose rows hold exactly the n examples. Without ``bias``
    only W^T h: the ReLU after it adds b (:func:`_relu_bias`)."""
    _gemm(theta[g, wo:wo + fi * fo].reshape((fi, fo)).T, h, A[dst, :fo])
    if not bias:
        return
    for k in range(fo):
        bk = theta[g, bo + k]
        for i in range(n):
            A[dst, k, i] += bk


@_jit(inline="always")  # one copy only (see _jit): its sums are reassociated
def _linear_bwd_blas(theta, g, grad, h, D, ds, dd, wo, bo, fi, fo, n, want, zero, bias):  # pragma: no cover - compiled
    """:func:`_linear_bwd` by BLAS: dL/dW = h d^T (h the layer's input (fi, n), d = D[dd, :fo]), dL/db =
    sum d (unless not ``bias``: the ReLU after it summed it, :func:`_drelu_bias`), and (if ``want``) dL/dh =
    W d into D[ds]."""
    d = D[dd, :fo]
    _gemm(h, d.T, grad[wo:wo + fi * fo].reshape((fi, fo)))
    for k in range(fo if bias else 0):
        cb = zero
        for i in range(n):
            cb += D[dd, k, i]
        grad[bo + k] = cb
    if want:
        _gemm(theta[g, wo:wo + fi * fo].reshape((fi, fo)), d, D[ds, :fi])


@_jit(inline="always")
def _relu_after(prog, o):  # pragma: no cover - compiled
    """Whether op ``o`` (a LINEAR) is read by a ReLU next, which then adds its bias and sums its bias's
    gradient (:func:`_relu_bias`, :func:`_drelu_bias`): one pass over the layer's values instead of two."""
    return (o + 1 < prog.shape[0] and prog[o + 1, F_OP] == OP_ACT and prog[o + 1, F_A] == 3
            and prog[o + 1, F_SRC] == prog[o, F_DST])


@_jit(inline="always")  # one copy only (see _jit)
def _relu_bias(theta, bo, g, A, src, dst, fo, n):  # pragma: no cover - compiled
    """z = A[src] + b (b at ``bo``: the LINEAR's before), kept in A[src], and A[dst] = relu(z): the bias of
    :func:`_linear_fwd_blas` and :func:`_act_layer`'s relu in one pass, the same numbers."""
    for k in range(fo):
        bk = theta[g, bo + k]
        for i in range(n):
            z = A[src, k, i] + bk
            A[src, k, i] = z
            A[dst, k, i] = 0.0 if z <= 0.0 else z


@_jit(inline="always")  # one copy only (see _jit): its sums are reassociated
def _drelu_bias(grad, bo, A, D, dst, dd, fi, n, zero):  # pragma: no cover - compiled
    """D[dd] *= relu'(z) (from the output A[dst], as :func:`_dact_layer`), and dL/db of the LINEAR before
    (its gradient is this one) summed in the same pass into grad[bo:]."""
    for j in range(fi):
        cb = zero
        for i in range(n):
            v = D[dd, j, i] if A[dst, j, i] > 0.0 else 0.0 * D[dd, j, i]
            D[dd, j, i] = v
            cb += v
        grad[bo + j] = cb


@_jit(inline="always")
def _mlp_forward(theta, g, prog, xin, A, n, buf, kb):  # pragma: no cover - compiled
    """The forward pass of :func:`_mlp_kernel` on one block of n examples (``xin`` (features, n) the input,
    ``A`` a view whose rows hold exactly those n): every op but the OUTPUT."""
    for o in range(prog.shape[0] - 1):
        src = prog[o, F_SRC]
        dst = prog[o, F_DST]
        if prog[o, F_OP] == OP_LINEAR:
            bias = not _relu_after(prog, o)
            if src == 0:
                _linear_fwd_blas(theta, g, xin, A, dst, prog[o, F_A], prog[o, F_B], prog[o, F_NIN],
                                 prog[o, F_NOUT], n, bias)
            else:
                _linear_fwd_blas(theta, g, A[src, :prog[o, F_NIN]], A, dst, prog[o, F_A], prog[o, F_B],
                                 prog[o, F_NIN], prog[o, F_NOUT], n, bias)
        elif o > 0 and _relu_after(prog, o - 1):
            _relu_bias(theta, prog[o - 1, F_B], g, A, src, dst, prog[o, F_NIN], n)
        else:  # the activations' own functions, not _act_fwd's inlined copies: compile time
            _act_layer(prog[o, F_A], A, src, dst, prog[o, F_NIN], n, buf, kb)


@_jit(inline="always")
def _mlp_backward(theta, g, grad, prog, dmap, xin, A, D, n, buf, kb, zero):  # pragma: no cover - compiled
    """The backward pass of :func:`_mlp_kernel` from dL/ds in the logits' gradient buffer: dL/dtheta of the
    block into ``grad``. Each op writes its input's gradient into that input's buffer (a plain MLP reads
    every slot once), an activation multiplies in place."""
    for o in range(prog.shape[0] - 2, -1, -1):
        op = prog[o, F_OP]
        src = prog[o, F_SRC]
        dst = prog[o, F_DST]
        ds = dmap[src]
        if op == OP_LINEAR:
            bias = not _relu_after(prog, o)
            if src == 0:
                _linear_bwd_blas(theta, g, grad, xin, D, ds, dmap[dst], prog[o, F_A], prog[o, F_B], prog[o, F_NIN],
                                 prog[o, F_NOUT], n, False, zero, bias)
            else:
                _linear_bwd_blas(theta, g, grad, A[src, :prog[o, F_NIN]], D, ds, dmap[dst], prog[o, F_A],
                                 prog[o, F_B], prog[o, F_NIN], prog[o, F_NOUT], n, True, zero, bias)
        else:
            dd = dmap[dst]
            if o > 0 and _relu_after(prog, o - 1):
                _drelu_bias(grad, prog[o - 1, F_B], A, D, dst, dd, prog[o, F_NIN], n, zero)
            else:
                _dact_layer(prog[o, F_A], A, src, dst, D, dd, prog[o, F_NIN], n, buf, kb)
            if ds != dd:
                _hand_on(D, ds, dd, prog[o, F_NIN], n, GRAD_WRITE)


@_jit(inline="always")  # one copy only (see _jit): its sums are reassociated
def _mlp_unit_flags(prog, A, D, LV, counts, g, n, thr, buf, kb):  # pragma: no cover - compiled
    """One block of an evaluation pass over the training set: for every ACT op a and unit k, LV[a, k, 0] +=
    the examples where its output is not 0, LV[a, k, 1] += those where f'(z) >= ``thr`` (or is NaN), and
    counts[g, a, 2] = 1 once its input holds a NaN: a unit is dead (saturated) when its count stays 0 over
    every block (:func:`_unit_counts`'s rules, summed block by block; the sums are whole numbers, exact in
    any order, so they vectorise). ReLU without a threshold (relu has none) in one pass over its values;
    any other activation takes f' as the backward pass does (into the free gradient buffer 0)."""
    a = 0
    for o in range(prog.shape[0]):
        if prog[o, F_OP] != OP_ACT:
            continue
        src, dst, w, code = prog[o, F_SRC], prog[o, F_DST], prog[o, F_NIN], prog[o, F_A]
        nan = 0.0
        if code == 3 and not thr > -np.inf:
            for k in range(w):
                live = 0.0
                for i in range(n):
                    live += 1.0 if A[dst, k, i] != 0.0 else 0.0
                    nan += 1.0 if A[src, k, i] != A[src, k, i] else 0.0
                LV[a, k, 0] += live
                LV[a, k, 1] += n
        else:
            for k in range(w):
                for i in range(n):
                    D[0, k, i] = 1.0
            _dact_layer(code, A, src, dst, D, 0, w, n, buf, kb)
            for k in range(w):
                live = 0.0
                moving = 0.0
                for i in range(n):
                    nan += 1.0 if A[src, k, i] != A[src, k, i] else 0.0
                    live += 1.0 if A[dst, k, i] != 0.0 else 0.0
                    moving += 0.0 if D[0, k, i] < thr else 1.0
                LV[a, k, 0] += live
                LV[a, k, 1] += moving
        if nan > 0.0:
            counts[g, a, 2] = 1.0
        a += 1


@_jit(inline="always")
def _softmax(A, D, S, S32, src, ds, yb, w, n, inv, buf, kb, tbits, E, kb32, want, loss):  # pragma: no cover - compiled
    """:func:`_softmax_out32` for a float32 network (its scratch ``E`` is not empty), else :func:`_softmax_out`;
    the scratch rows handed over one by one (see there)."""
    if E.shape[0] > 0:
        return _softmax_out32(A, D, S32[0], S32[1], S32[2], S32[3], S32[4], src, ds, yb, w, n, inv, E, kb32, buf,
                              tbits, S[0], want, loss)
    return _softmax_out(A, D, S[0], S[1], S[2], S[3], src, ds, yb, w, n, inv, buf, kb, tbits, want, loss)


@_jit(nrt=False)
def _mlp_kernel(theta, m1, m2, t0, nsteps, XS, yv, yvE, perms, perm_row, epoch0, batch, prog, dmap, opt, lr, mom,
                beta1, beta2, eps, zero, XES, grads, logits, counts, records, thr, A, D, yb, buf, kb, grad, XB, YB, S,
                tbits, LV, E, kb32, S32):  # pragma: no cover - compiled
    """:func:`run_mlp_steps`, or :func:`evaluate_mlp` when ``grads`` has rows: ``_kernel`` for a plain MLP
    (no BatchNorm, no merged batch), every LINEAR op by BLAS.

    Every pass works on views of ``A`` and ``D`` whose rows hold exactly its examples, so that every slot
    is a contiguous (units, examples) matrix as gemm takes it. The examples are rows (``XS`` the training
    set's, ``XES`` the evaluated set's, (n, features)): a mini-batch is gathered row by row into
    ``XB[restart]`` (whole rows, not ``_kernel``'s scattered columns), and the first layer reads them
    transposed (free for gemm). The output is the softmax's (:func:`_softmax_out`).

    An evaluation goes through each set in blocks of EVAL_BLOCK examples: the gradient on XS (its logits,
    unit counts, loss sum, hits and NaN flag into ``records[g, :3]``, the blocks' gradients summed into
    ``grads[g]``), then the forward pass on XES (``records[g, 3:]``, labels ``yvE``)."""
    G, P = theta.shape
    n = XS.shape[0]
    m = XES.shape[0]
    evaluating = grads.shape[0] > 0
    spe = (n + batch - 1) // batch
    full = batch == n
    out = prog[prog.shape[0] - 1, F_SRC]  # the logits: the input of the last op, the OUTPUT
    w = prog[prog.shape[0] - 1, F_NIN]
    ds = dmap[out]
    na, wa, nd = A.shape[0], A.shape[1], D.shape[0]
    Aflat = A.reshape(A.size)
    Dflat = D.reshape(D.size)
    if evaluating:
        for g in range(G):
            for p in range(P):
                grads[g, p] = zero
            for j in range(6):
                records[g, j] = 0.0
            for a in range(LV.shape[0]):
                for k in range(LV.shape[1]):
                    LV[a, k, 0] = 0.0
                    LV[a, k, 1] = 0.0
            for part in range(2):
                size = n if part == 0 else m
                at = 0 if part == 0 else n  # where this set's logits go
                for b0 in range(0, size, EVAL_BLOCK):
                    bsz = min(EVAL_BLOCK, size - b0)
                    Av = Aflat[:na * wa * bsz].reshape((na, wa, bsz))
                    Dv = Dflat[:nd * wa * bsz].reshape((nd, wa, bsz))
                    xin = XS[b0:b0 + bsz].T if part == 0 else XES[b0:b0 + bsz].T
                    for i in range(bsz):
                        yb[i] = yv[b0 + i] if part == 0 else yvE[b0 + i]
                    _mlp_forward(theta, g, prog, xin, Av, bsz, buf, kb)
                    if logits.shape[2] > 0:
                        for k in range(w):
                            for i in range(bsz):
                                logits[g, k, at + b0 + i] = Av[out, k, i]
                    if part == 1:
                        loss, hits, nan = _softmax(Av, Dv, S, S32, out, ds, yb, w, bsz, 0.0, buf, kb, tbits, E, kb32, False, True)
                        records[g, 3] += loss
                        records[g, 4] += hits
                        records[g, 5] = max(records[g, 5], nan)
                        continue
                    if counts.shape[0] > 0:
                        _mlp_unit_flags(prog, Av, Dv, LV, counts, g, bsz, thr, buf, kb)
                    loss, hits, nan = _softmax(Av, Dv, S, S32, out, ds, yb, w, bsz, 1.0 / n, buf, kb, tbits, E, kb32, True, True)
                    records[g, 0] += loss
                    records[g, 1] += hits
                    records[g, 2] = max(records[g, 2], nan)
                    _mlp_backward(theta, g, grad, prog, dmap, xin, Av, Dv, bsz, buf, kb, zero)
                    for p in range(P):
                        grads[g, p] += grad[p]
                if part == 0 and counts.shape[0] > 0:
                    for a in range(counts.shape[1]):
                        dead = 0.0
                        flat = 0.0
                        for k in range(_act_width(prog, a)):
                            dead += 1.0 if LV[a, k, 0] == 0.0 else 0.0
                            flat += 1.0 if LV[a, k, 1] == 0.0 else 0.0
                        counts[g, a, 0] = dead
                        counts[g, a, 1] = flat
        return
    # Steps, step by step over the runs (not run by run): the runs of one restart share its batches, which
    # are gathered once a step into XB[restart] (labels YB[restart]) for all of them.
    for s in range(nsteps):
        t = t0 + s
        bsz = n
        pos = 0
        e = 0
        if not full:
            pos = (t % spe) * batch
            bsz = min(batch, n - pos)
            e = t // spe - epoch0
            for r in range(perms.shape[0]):
                for i in range(bsz):
                    x = perms[r, e, pos + i]
                    YB[r, i] = yv[x]
                    for f in range(XS.shape[1]):
                        XB[r, i, f] = XS[x, f]
        Av = Aflat[:na * wa * bsz].reshape((na, wa, bsz))
        Dv = Dflat[:nd * wa * bsz].reshape((nd, wa, bsz))
        for g in range(G):
            r = perm_row[g]
            xin = XS.T if full else XB[r][:bsz].T
            yg = yv if full else YB[r]
            _mlp_forward(theta, g, prog, xin, Av, bsz, buf, kb)
            _softmax(Av, Dv, S, S32, out, ds, yg, w, bsz, 1.0 / bsz, buf, kb, tbits, E, kb32, True, False)
            _mlp_backward(theta, g, grad, prog, dmap, xin, Av, Dv, bsz, buf, kb, zero)
            _update(theta, m1, m2, grad, g, t, opt, lr, mom, beta1, beta2, eps)


@_jit(inline="always")
def _act_width(prog, a):  # pragma: no cover - compiled
    """The units of the ``a``-th ACT op of ``prog`` (0 if there is none)."""
    j = 0
    for o in range(prog.shape[0]):
        if prog[o, F_OP] == OP_ACT:
            if j == a:
                return prog[o, F_NIN]
            j += 1
    return 0


def _mlp_scratch(theta, prog, dmap, nin, cap, rows=1):
    """The scratch of :func:`_mlp_kernel` for blocks of up to ``cap`` examples: A, D, yb and grad as
    :func:`_scratch`'s (padded: below); buf and kb for the softmax's exponentials of a whole block (outputs x
    cap); XB and YB (the batch's rows and labels, for ``rows`` batch orders); S and tbits
    (:func:`_softmax_out`'s); LV (:func:`_mlp_unit_flags`' counts, ACT ops x units x 2); E, kb32 and S32
    (:func:`_softmax_out32`'s exponentials and rows; empty for a float64 network)."""
    # A and D as _scratch's, padded against 4K aliasing (a load after a store to an address with the same low
    # 12 bits stalls the core): a spare row per slot, so that the same unit's rows in two slots (relu reading
    # z and writing h; blocks of 256 examples: rows of 1 KB, slots of 64 KB) are not a whole number of 4 KB
    # apart, and D's start 1040 bytes past a page boundary (A's and D's would both start on one). Together:
    # digits steps 12 % faster, its records 13 %.
    dt = theta.dtype
    width = max([nin, *prog[:, F_NIN], *prog[:, F_NOUT]]) + 1
    A = _empty((dmap.size, width, cap), dt)
    skip = 1040 // dt.itemsize
    size = (int(dmap.max()) + 2) * width * cap
    D = _empty(size + skip, dt)[skip:].reshape((-1, width, cap))
    yb, grad = _empty(cap, dt), _empty(theta.shape[1], dt)
    big = cap * max(1, int(prog[-1, F_NIN]))
    acts = prog[:, F_OP] == OP_ACT
    f32 = big if theta.dtype == np.float32 else 0  # _softmax_out's float32 exponentials
    return (A, D, yb, _empty(big, np.float64), _empty(big, np.int64), grad, _empty((rows, cap, nin), theta.dtype),
            _empty((rows, cap), theta.dtype), _empty((4, cap), np.float64), _empty(cap, np.int64),
            _empty((int(acts.sum()), int(max([1, *prog[acts, F_NIN]])), 2), np.float64),
            _empty(f32, np.float32), _empty(f32, np.int32), _empty((5, cap if f32 else 0), np.float32))


def run_mlp_steps(theta, m1, m2, t0, nsteps, XS, yv, perms, perm_row, epoch0, batch, prog, dmap, opt, lr, mom, beta1,
                  beta2, eps, zero, scratch=None):
    """:func:`run_steps` for a softmax MLP (``prog`` LINEAR, ACT, ..., LINEAR, OUTPUT; no merged batch) by
    BLAS: the same steps, the same batches, the products summed in gemm's order. ``XS`` (n, features) holds
    the training set's examples as rows. Only for runs without units made equal by the init (see above).
    ``scratch``: as :func:`evaluate_mlp`'s."""
    assert prog[-1, F_OP] == OP_OUTPUT and prog[-1, F_A] == OUT_SOFTMAX_CE, "a softmax MLP"
    _mlp_kernel(theta, m1, m2, t0, nsteps, XS, yv, yv[:0], perms, perm_row, epoch0, batch, prog, dmap, opt, lr, mom,
                beta1, beta2, eps, zero, XS[:0], np.empty((0, 0), theta.dtype), np.empty((0, 0, 0), theta.dtype),
                np.empty((0, 0, 0)), np.empty((0, 6)), 0.0,
                *_kept(scratch, theta, prog, dmap, XS.shape[1], batch, perms.shape[0]))


def _kept(scratch, theta, prog, dmap, nin, cap, rows=1):
    """:func:`_mlp_scratch`, kept in the caller's dict ``scratch`` (if any) for the next call of that size."""
    key = (theta.shape, theta.dtype, nin, cap, rows)
    if scratch is None:
        return _mlp_scratch(theta, prog, dmap, nin, cap, rows)
    if key not in scratch:
        scratch[key] = _mlp_scratch(theta, prog, dmap, nin, cap, rows)
    return scratch[key]


def evaluate_mlp(theta, XS, yv, XES, yvE, prog, dmap, zero, thr=-math.inf, scratch=None, logits=True):
    """:func:`evaluate` for a softmax MLP by BLAS, on the examples as rows (``XS`` the training set's, ``XES``
    the evaluated set's, labels ``yv``, ``yvE`` in theta's dtype): the forward pass of the gradient gives
    the training set's logits and unit counts (no BatchNorm: the evaluated network is the trained one),
    then one pass over XES. Returns ``(grads, logits, counts)`` as :func:`evaluate`, and ``records`` (G,
    4) float64: the loss and accuracy on the training set, then on XES (what the engine's
    ``_softmax_loss_acc`` computes from the logits, here from the kernel's own softmax: float64, NaN
    accuracy for a NaN logit). ``scratch``: a dict the caller keeps between calls, where the scratch stays
    (allocated afresh at every record, its page faults cost a tenth of it). ``logits=False``: no copy of the
    logits (an empty (G, classes, 0) array in their place), for a caller that only needs ``records``."""
    G, n, m = theta.shape[0], XS.shape[0], XES.shape[0]
    grads = np.empty_like(theta)
    logits = np.empty((G, prog[prog.shape[0] - 1, F_NIN], n + m if logits else 0), theta.dtype)
    counts = np.zeros((G, int(np.count_nonzero(prog[:, F_OP] == OP_ACT)), 3))
    nothing = np.zeros((1, 1, 1), np.int64)
    sums = np.full((G, 6), np.nan)
    _mlp_kernel(theta, theta, theta, 0, 0, XS, yv, yvE, nothing, nothing[0, 0], 0, n, prog, dmap, 0, 0.0, 0.0, 0.0,
                0.0, 0.0, zero, XES, grads, logits, counts, sums, float(thr),
                *_kept(scratch, theta, prog, dmap, XS.shape[1], max(1, min(max(n, m), EVAL_BLOCK))))
    records = np.empty((G, 4))
    for j, size in ((0, n), (3, m)):  # loss sum, hits, NaN flag -> mean loss, accuracy
        records[:, 2 * (j // 3)] = sums[:, j] / size if size else np.nan
        records[:, 2 * (j // 3) + 1] = np.where(sums[:, j + 2] > 0, np.nan, sums[:, j + 1] / size) if size else np.nan
    return grads, logits, counts, records


@_jit
def layer_sq_sums(a, b, offs, sizes, out):  # pragma: no cover - compiled
    """For every run g and weight layer l (its weights a[g, offs[l]:offs[l] + sizes[l]], the same in b):
    out[g, l, 0] = sum (b - a)^2 and out[g, l, 1] = sum a^2, in float64 (exact differences and squares of
    float32 values: neither overflows nor underflows there). The records' update ratios ||W_after -
    W_before|| / ||W_before|| (a = before, b = after) and gradient norms (a = b = the gradient: out[..., 1])
    of a float32 network in one compiled pass instead of a dozen numpy calls a layer."""
    for g in range(a.shape[0]):
        for l in range(offs.shape[0]):
            s0 = 0.0
            s1 = 0.0
            for p in range(offs[l], offs[l] + sizes[l]):
                x = np.float64(a[g, p])
                d = np.float64(b[g, p]) - x
                s0 += d * d
                s1 += x * x
            out[g, l, 0] = s0
            out[g, l, 1] = s1


@_jit(fastmath=_EXACT)  # no reciprocals: an accuracy is right / n exactly, as numpy's mean of the hits
def softmax_loss_acc(logits, y, start, stop):  # pragma: no cover - compiled
    """Mean categorical cross-entropy and accuracy of every run over the examples ``start:stop`` of
    :func:`evaluate`'s ``logits`` (G, classes, examples), labels ``y`` (stop - start,) int64: (G,) float64
    twice. The engine's ``_softmax_loss_acc`` on the records' layout, compiled (in numpy it cost a third of
    a digits training): l_i = logsumexp(s_i) - s_{i, y_i}, logsumexp(s) = m + log sum_k e^(s_k - m) with m
    = max_k s_k, or 0 where that is not finite (an inf logit gives an inf or NaN loss, as it should), in
    float64 (numpy takes it in the logits' dtype: the two agree to that dtype's rounding); the prediction
    is the first largest logit, and a run with a NaN logit among the examples has accuracy NaN."""
    G, C = logits.shape[0], logits.shape[1]
    n = stop - start
    loss = np.empty(G)
    acc = np.empty(G)
    m = np.empty(n)  # the largest logit so far, then the shift of the exponentials
    best = np.empty(n, np.int64)  # its class
    bad = np.empty(n)  # 1 where the example has a NaN logit
    tot = np.empty(n)
    buf = np.empty(n)
    kb = np.empty(n, np.int64)
    tbits = np.empty(n, np.int64)  # _vlog's scratch
    ex = np.empty(n)
    # Class by class over all examples (contiguous, vectorised; the argmax by selects, not branches).
    for g in range(G):
        for i in range(n):
            v = logits[g, 0, start + i]
            m[i] = v
            best[i] = 0
            bad[i] = 1.0 if v != v else 0.0
            tot[i] = 0.0
        for k in range(1, C):
            for i in range(n):
                v = logits[g, k, start + i]
                up = v > m[i]  # strict: the first largest wins, as np.argmax
                m[i] = v if up else m[i]
                best[i] = k if up else best[i]
                bad[i] = 1.0 if v != v else bad[i]
        nans = 0.0
        for i in range(n):
            nans += bad[i]
            m[i] = m[i] if bad[i] == 0.0 and abs(m[i]) < np.inf else 0.0
        for k in range(C):
            for i in range(n):
                buf[i] = logits[g, k, start + i] - m[i]
            _vexp(buf, n, kb, False)
            for i in range(n):
                tot[i] += buf[i]
        _vlog(tot, n, buf, tbits, ex)
        total = 0.0
        right = 0.0
        for i in range(n):
            c = y[i]
            total += (m[i] + buf[i]) - logits[g, c, start + i]
            right += 1.0 if best[i] == c else 0.0
        loss[g] = total / n
        acc[g] = np.nan if nans > 0.0 else right / n
    return loss, acc


# ---------------------------------------------------------------------------------------------------
# Building a program (plain Python)
# ---------------------------------------------------------------------------------------------------

class Program:
    """A network as the kernel's ops, built input side first; each method returns the slot of its result.

    ``Program(inputs)`` starts with slot 0, the input batch (``inputs`` features). :meth:`build` decides
    how the backward pass hands on gradients (module docstring) and packs everything for
    :func:`run_steps`. The parameter offsets are the caller's (the engine's ``_Layout``).
    """

    def __init__(self, inputs: int) -> None:
        self.ops: list[list[int]] = []
        self.widths = [inputs]  # units of every slot
        self.consts: list[float] = [0.0, 1.0, 0.0]  # C_ZERO, C_ONE, C_FLOOR (set by build, per dtype)

    def _record(self, op: int, src: int, width: int, a: int = 0, b: int = 0, c: int = 0, d: int = 0, e: int = 0
                ) -> int:
        """Append an op reading ``src`` and writing a new slot of ``width`` units; returns that slot."""
        rec = [0] * N_FIELDS
        rec[F_OP], rec[F_SRC], rec[F_NIN], rec[F_NOUT] = op, src, self.widths[src], width
        rec[F_A], rec[F_B], rec[F_C], rec[F_D], rec[F_E] = a, b, c, d, e
        rec[F_DST] = self._slot(width)
        self.ops.append(rec)
        return rec[F_DST]

    def _slot(self, width: int) -> int:
        self.widths.append(width)
        return len(self.widths) - 1

    def _const(self, *values: float) -> int:
        self.consts += [float(v) for v in values]
        return len(self.consts) - len(values)

    def linear(self, src: int, fan_out: int, woff: int, boff: int, cancelled: bool = False) -> int:
        """z = h W + b, W (fan_in, fan_out) row-major at theta[woff], b at theta[boff]; ``cancelled``: the
        bias feeds a BatchNorm, its gradient is exactly 0."""
        return self._record(OP_LINEAR, src, fan_out, int(woff), int(boff), int(cancelled))

    def act(self, src: int, code: int) -> int:
        """f(x) for the activation with kernel code ``code`` (:data:`ACT_CODES`)."""
        return self._record(OP_ACT, src, self.widths[src], int(code))

    def norm(self, src: int, kind: int, goff: int, eps: float, soff: int = -1, momentum: float = 0.1) -> int:
        """gamma N(x) + beta (gamma at theta[goff], beta after it); ``kind`` NORM_BATCH (running statistics
        at state[soff:], means then variances, moved with ``momentum``) or NORM_LAYER."""
        w = self.widths[src]
        return self._record(OP_NORM, src, w, int(goff), kind, self._const(eps, momentum, 1.0 - momentum), int(soff),
                            self._slot(w))

    def add(self, skip: int, branch: int, alpha: float = 1.0, alpha_index: int = -1) -> int:
        """skip + alpha branch; alpha learned at theta[alpha_index] when that is >= 0, else the constant.
        The skip must feed only this sum and the branch (its gradient shares the sum's buffer)."""
        return self._record(OP_ADD, branch, self.widths[branch], skip, int(alpha_index), self._const(alpha))

    def output(self, src: int, kind: int = OUT_SIGMOID_BCE) -> None:
        """The loss on the logits in ``src`` (its gradient starts the backward pass): OUT_SIGMOID_BCE on one
        logit, OUT_SOFTMAX_CE on one per class."""
        self._record(OP_OUTPUT, src, 0, kind)

    def build(self, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(prog, dmap, fc)`` for :func:`run_steps`: the op records (ops, N_FIELDS) int64 with F_DACC set,
        every slot's gradient buffer (slots,) int64, and the constants in ``dtype``.

        Gradient buffers: a residual sum's skip shares the sum's (the skip's gradient is the sum's plus
        what its branch hands back), an activation's input shares its output's when nothing else reads it
        (f' applied in place). In reverse order the first op to hand a gradient into a buffer writes it,
        later ones add to it (through the spare buffer, :func:`_backward`), so nothing is zeroed. Buffers
        whose lifetimes in the backward pass do not overlap are then one (a deep network needs a few, not
        one per slot).
        """
        ops, nslots = self.ops, len(self.widths)
        readers = [0] * nslots
        last_read = [-1] * nslots
        for i, rec in enumerate(ops):
            for s in (rec[F_SRC], rec[F_A]) if rec[F_OP] == OP_ADD else (rec[F_SRC],):
                readers[s] += 1
                last_read[s] = i
        for i, rec in enumerate(ops):
            if rec[F_OP] == OP_ADD and last_read[rec[F_A]] != i:
                raise ValueError(f"the skip of op {i} (slot {rec[F_A]}) is read after its sum")
        group = list(range(nslots))

        def root(s: int) -> int:
            while group[s] != s:
                s = group[s]
            return s

        for rec in ops:
            if rec[F_OP] == OP_ADD:
                group[root(rec[F_A])] = root(rec[F_DST])
            elif rec[F_OP] == OP_ACT and readers[rec[F_SRC]] == 1:
                group[root(rec[F_SRC])] = root(rec[F_DST])
        written: set[int] = set()
        span: dict[int, list[int]] = {}  # group -> first and last backward op (reverse index) touching it
        for r, rec in enumerate(reversed(ops)):
            src, dst = root(rec[F_SRC]), root(rec[F_DST])
            touched = []
            if rec[F_OP] != OP_OUTPUT:
                if dst not in written:
                    raise ValueError(f"slot {rec[F_DST]} is read by nothing: its gradient would be garbage")
                touched.append(dst)
            if rec[F_SRC] == 0:
                rec[F_DACC] = GRAD_NONE
            elif rec[F_OP] == OP_ACT and src == dst:
                rec[F_DACC] = GRAD_SAME
            else:
                rec[F_DACC] = GRAD_ADD if src in written else GRAD_WRITE
                written.add(src)
                touched.append(src)
            for grp in touched:
                span.setdefault(grp, [r, r])[1] = r
        # Interval colouring: in order of first use, a group takes a buffer whose last use is over.
        color: dict[int, int] = {}
        ends: list[int] = []  # last use of each buffer so far
        for grp, (first, last) in sorted(span.items(), key=lambda kv: kv[1][0]):
            b = next((b for b, end in enumerate(ends) if end < first), len(ends))
            if b == len(ends):
                ends.append(last)
            ends[b] = last
            color[grp] = b
        dmap = np.array([color.get(root(s), 0) for s in range(nslots)], dtype=np.int64)
        dt = np.dtype(dtype)
        fc = np.array(self.consts, dtype=dt)
        fc[C_FLOOR] = np.finfo(dt).tiny / np.finfo(dt).eps
        for rec in ops:
            if rec[F_OP] == OP_NORM:  # 1 - momentum in the dtype, as the numpy engine computes it
                fc[rec[F_C] + 2] = dt.type(1.0) - fc[rec[F_C] + 1]
        return np.array(ops, dtype=np.int64).reshape(-1, N_FIELDS), dmap, fc


@_jit
def act_values(act, z, deriv):  # pragma: no cover - compiled
    """f(z) (deriv False) or f'(z) (deriv True) through the kernel's own row functions (for the tests)."""
    n = z.size
    buf = np.empty(n, np.float64)
    kb = np.empty(n, np.int64)
    A = np.empty((2, 1, n), z.dtype)
    A[0, 0] = z
    _act_layer(act, A, 0, 1, 1, n, buf, kb)
    if not deriv:
        return A[1, 0].copy()
    D = np.ones((1, 1, n), z.dtype)
    _dact_layer(act, A, 0, 1, D, 0, 1, n, buf, kb)
    return D[0, 0].copy()


@_jit
def exp_values(x, minus_one):  # pragma: no cover - compiled
    """e^x (or e^x - 1) through the kernel's vectorised exp (for the tests)."""
    buf = x.astype(np.float64)
    kb = np.empty(x.size, np.int64)
    _vexp(buf, x.size, kb, minus_one)
    return buf
