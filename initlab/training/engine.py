"""Train a small MLP on a toy 2-D dataset from many initial points at once, and watch what init does.

Model (layers numbered 1..L, sizes ``(features, *hidden, outputs)``: 2 inputs, or digits' 64 pixels; one
output for two classes, one per class for more; Keras kernel layout (fan_in, fan_out))::

    h_0 = x                              x: (n, 2), the scenario's inputs (standardized by default)
    z_l = h_{l-1} W_l + b_l,  h_l = f(z_l)   for the hidden layers l < L (f: the activation)
    s = z_L = h_{L-1} W_L + b_L          one logit; p = sigmoid(s) is the probability of class 1

Loss: the mean binary cross-entropy over the (mini-)batch, computed from the logit without forming
``log(p)`` (which overflows to -inf for large |s|)::

    l_i = -y_i log p_i - (1 - y_i) log(1 - p_i) = softplus((1 - 2 y_i) s_i),  L = mean_i l_i
    dL/ds_i = (sigmoid(s_i) - y_i) / batch

With 3 or more classes the head has one logit per class and the loss is the mean categorical
cross-entropy from the log-softmax (PyTorch's ``cross_entropy``; Goodfellow et al. 2016, 6.2.2.3)::

    l_i = logsumexp(s_i) - s_{i, y_i},  logsumexp(s) = m + log sum_k e^(s_k - m), m = max_k s_k
    dL/ds_ki = (softmax(s_i)_k - [k = y_i]) / batch,  the prediction argmax_k s_ik

Backward (standard backpropagation, e.g. Goodfellow et al. 2016, 6.5): with d_L = dL/ds,
``dL/dW_l = h_{l-1}^T d_l``, ``dL/db_l = sum_i d_l``, ``d_{l-1} = (d_l W_l^T) * f'(z_{l-1})``, f' taken
from the output h = f(z) where the activation allows it (``deriv_from_output``: all but gelu, swish).

Updates (Keras 3 semantics): ``sgd``  W -= lr g;  ``momentum``  v = m v - lr g, W += v;  ``adam``
m += (1 - b1)(g - m), v += (1 - b2)(g^2 - v), W -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).

Residual and normalised networks (``block``, ``norm``, ... as in the signal engine, whose block formulas
:mod:`initlab.signal.blocks` gives; N is the norm, y = gamma N(x) + beta with gamma, beta learned per
unit from 1 and 0)::

    plain + norm      h_l = f(gamma_l N(h_{l-1} W_l + b_l) + beta_l)      every hidden layer
    residual          h_1 = that same plain layer (the stem, 2 -> width: the issue's "plain layer", with
                            its norm, as ResNet's conv-BN-ReLU stem; so layer 1 is the plain network's
                            layer 1 and the two differ only in layers 2..k)
                      h_l = h_{l-1} + alpha_l B(h_{l-1})       pre:  B(x) = f(N(x)) W + b  [twice]
                      h_l = N(h_{l-1} + alpha_l B(h_{l-1}))    post: B(x) = f(x W1 + b1) [W2 + b2]
    head              s = h_k W + b                                       (no final norm)

The initializer draws the stem, every branch layer and the head, input side first, from the weight
stream; ``fixup`` zeroes each branch's last layer and scales its first by blocks^(-1/2) (as the signal
engine). alpha is the rule's constant, or with ``residual_learned`` a parameter per block starting at
the rule's value (ReZero, Bachlechner et al. 2020, and SkipInit, De & Smith 2020, start it at 0). A
separate switch rather than "learned whenever alpha = 0": a fixed alpha = 0 (branches off) and
alpha learned from 1 are both experiments worth running, and the link says which one it is.

BatchNorm trains on each mini-batch's statistics (biased variance) and moves running estimates as
PyTorch's ``BatchNorm1d`` (running = 0.9 running + 0.1 batch statistic, the unbiased variance
var m / (m - 1), from mean 0 and variance 1), kept per run in ``state`` beside ``theta`` and
snapshotted at every record (``TrainResult.norm_state``). The recorded losses and accuracies and
:meth:`TrainResult.decision_function` are the evaluated network's (running estimates: PyTorch's evaluation mode);
``grad_norm`` is the gradient of a full-batch training step (batch statistics over the whole training
set, without moving the running estimates): the gradient an optimizer is given, where an evaluation-mode
gradient is one no optimizer computes. A last mini-batch of one example is merged into the one before
it (:func:`batches`). A bias just before a BatchNorm only shifts each unit by a constant the norm
subtracts, so its gradient is exactly 0 and is set so (``TrainScenario.cancelled_biases``: computed, it
would be rounding noise, which Adam divides by its epsilon into real steps). Both engines train these
networks: the compiled kernel runs each as a program of ops (:func:`_kernel_program`), and with it the
passes a record takes (the full-batch gradient, the evaluated network on both sets) are compiled too.

Randomness (all explicit, no global state):

* data: ``data_seed`` gives the training set and ``data_seed + 1`` the test set (:func:`make_data`;
  scikit-learn's datasets draw from a private legacy ``RandomState``, see :mod:`initlab.training.datasets`);
  every restart and every initializer trains on the same points;
* restart ``r`` uses the integer seed ``seed + r`` (reported in ``runs``): ``SeedSequence(seed + r)
  .spawn(3)`` gives the weight, bias and batch-order streams. So restart r of a scenario is restart 0
  of the same scenario with ``seed + r``, and two initializers compared on the same seed start from the
  very same standard-normal / uniform draws (scaled differently) and see the same batches.
* weights are drawn layer by layer (input side first) from the weight stream by
  :func:`initlab.weights.initializers.get`, biases from the bias stream by
  :func:`initlab.weights.biases.draw` (the deep-signal engine's code); :func:`initial_params`
  returns them and :func:`batches` lists the examples of every update, so a run can be replayed
  step for step in any framework.

Restarts (and initializers, :func:`train_many`) run together: the parameters of all runs are one
array ``theta`` of shape (runs, parameters). The numpy engine (the reference) takes one batched
``np.einsum`` per layer and pass over a leading runs axis (not BLAS: units made equal by the init stay
bit-identical, see ``_forward``); the numba engine (:mod:`initlab.training.kernel`) runs
the same steps compiled, several times faster (``benchmarks/bench_training.py``), wide softmax MLPs
(digits) with their products by BLAS where no units start equal (:func:`_blas_runs`). Tests compare them.
``engine="auto"`` takes numba for every network whose activation the kernel has a branch for (its
registry ``kernel_code``) and numpy for the others, so a new activation trains from its registry entry
alone.

Recorded at step 0, at ``records`` evenly spaced steps and at the last step, on the full training and
test sets: loss, accuracies, the norm of every layer's weight gradient (full training set), the number
of distinct units per hidden layer, the shares of dead and saturated units per activation layer
(:func:`unit_shares`), the update-to-weight ratio of every weight layer's last update
(:func:`update_ratio`), and a snapshot of every parameter (enough to draw the decision
boundary of any run at any recorded step). Non-finite values (too-large init can overflow) are
recorded as inf/NaN and never raise; no numpy warning escapes.

Why one module of ~1850 lines: data, parameters, the numpy steps, the measurements and the trainer
share one flat parameter layout (``_offsets``/``_views``/``_pack``) and one record schedule, and the
numba kernel (:mod:`.kernel`) must reproduce the numpy steps here bit for bit on the same layout;
keeping them together keeps that contract in one file. :mod:`.summaries` holds the texts.
"""

from __future__ import annotations

import functools
import math
import html
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from initlab.numerics import stats
from initlab.numerics.format import fmt
from initlab.weights import activations
from initlab.weights import biases as bias_schemes
from initlab.training import datasets
from initlab.weights import initializers
from initlab.signal import blocks
from initlab.signal.lsuv import lsuv
from initlab.signal.scenario import BudgetError
from initlab.training.scenario import (
    ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, DEFAULT_RECORDS, INIT_FIELDS, MAX_TRAIN_BYTES, MAX_TRAIN_EXAMPLES,
    MAX_TRAIN_MACS, TrainScenario, check_train_budget,
)

__all__ = [
    "ENGINES", "TrainData", "TrainResult", "TrainSummary", "activation_layers", "batches", "check_restart",
    "distinct_units", "unit_shares", "update_ratio",
    "initial_params", "initial_state", "initial_theta", "iter_train", "make_data", "naive_cost", "record_steps", "summarize", "train", "train_many",
    "warm_up",
]

ENGINES = ("auto", "numba", "numpy")
MAX_SHOWN_RESTARTS = 12  # a TrainResult's repr lists this many restarts' accuracies, then "… (N more)"
Progress = Callable[[float, int], None]
Params = list[tuple[np.ndarray, np.ndarray]]

# Two units are "the same" when their incoming weights and bias differ by at most this much relative to
# the layer's largest parameter. Units made equal by the init are updated by identical arithmetic and
# stay bit-identical; random inits differ by O(std) ~ 1e-1. The tolerance only has to absorb rounding
# from sums taken in a different order, a few ulp per step.
DISTINCT_RTOL = {"float32": 1e-4, "float64": 1e-9}


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy: for arrays nothing writes any more)."""
    a = a.view()
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class TrainData:
    """The arrays the network saw: ``X = (X_raw - shift) / scale`` in the scenario's dtype, y the class
    indices 0 .. classes - 1 (int64)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    shift: np.ndarray  # (features,) training-set mean per feature (0 for unscaled inputs and digits)
    scale: np.ndarray  # (features,) training-set std per feature (1 for unscaled inputs; 16 for digits' pixels)


def make_data(ts: TrainScenario) -> TrainData:
    """The training and test sets of ``ts``, scaled as ``ts.inputs`` says (read-only arrays).

    The training set is ``datasets.make(..., seed=data_seed)``, the test set ``seed=data_seed + 1`` (modulo
    2**32), as a notebook seeding numpy with 1 for the training set and 2 for the test set would;
    ``standard`` inputs subtract the training mean and divide by the training standard deviation of
    each feature (the test set is scaled with the training statistics, as a deployed model would be).
    blobs and spiral are drawn with ``ts.classes`` classes.

    digits (:func:`initlab.training.datasets.digits`): one stratified split of scikit-learn's images by
    ``data_seed``, at most ``n_train`` / ``n_test`` of each part; ``standard`` inputs are the pixels / 16
    (shift 0, scale 16: a constant divisor, since some pixels are 0 in every image), ``unscaled`` the raw
    grey levels 0..16. ``noise`` is ignored.
    """
    if ts.dataset == "digits":
        X_tr, y_tr, X_te, y_te = datasets.digits(ts.n_train, ts.n_test, ts.data_seed, scaled=False)
        shift = np.zeros(ts.features)
        scale = np.full(ts.features, datasets.DIGITS_MAX if ts.inputs == "standard" else 1.0)
        dt = np.dtype(ts.dtype)
        return TrainData(_readonly((X_tr / scale).astype(dt)), _readonly(y_tr), _readonly((X_te / scale).astype(dt)),
                         _readonly(y_te), _readonly(shift), _readonly(scale))
    extra = {"classes": ts.classes} if ts.classes != 2 else {}
    X_tr, y_tr = datasets.make(ts.dataset, ts.n_train, ts.noise, ts.data_seed, **extra)
    X_te, y_te = datasets.make(ts.dataset, ts.n_test, ts.noise, (ts.data_seed + 1) % (datasets.MAX_SEED + 1), **extra)
    if ts.inputs == "standard":
        shift = X_tr.mean(axis=0)
        scale = X_tr.std(axis=0)
        scale[scale == 0] = 1.0  # a constant feature (noise 0 on a degenerate shape) is only shifted
    else:
        shift, scale = np.zeros(2), np.ones(2)
    dt = np.dtype(ts.dtype)
    return TrainData(_readonly(((X_tr - shift) / scale).astype(dt)), _readonly(y_tr),
                     _readonly(((X_te - shift) / scale).astype(dt)), _readonly(y_te),
                     _readonly(shift), _readonly(scale))


def record_steps(steps: int, records: int = DEFAULT_RECORDS) -> np.ndarray:
    """The recorded steps: 0, ``records`` evenly spaced steps up to ``steps`` (all steps if fewer)."""
    if records < 1:
        raise ValueError(f"records must be at least 1; received {records!r}")
    return np.unique(np.round(np.linspace(0, steps, min(records, steps) + 1)).astype(np.int64))


def _run_streams(seed: int) -> list[np.random.SeedSequence]:
    """Weight, bias and batch-order seed sequences of the run with integer seed ``seed``."""
    return np.random.SeedSequence(seed).spawn(3)


def check_restart(ts: TrainScenario, restart: int) -> int:
    """``restart`` as an int after checking ``ts`` (:meth:`TrainScenario.validate`) and that ``0 <= restart <
    ts.restarts``; ``ValueError`` naming the value otherwise."""
    ts.validate()
    if isinstance(restart, bool) or not isinstance(restart, (int, np.integer)) or not 0 <= restart < ts.restarts:
        raise ValueError(f"restart must be a whole number in [0, {ts.restarts - 1}]; received {restart!r}")
    return int(restart)


def initial_params(ts: TrainScenario, restart: int) -> Params:
    """The parameters restart ``restart`` of ``ts`` starts from: ``[(W_1, b_1), ..., (W_L, b_L)]``.

    ``W_l`` has the Keras shape (fan_in, fan_out) and ``ts.dtype``; the output layer is drawn like the
    hidden ones. Restart r uses seed ``ts.seed + r``: kernels come from the first stream of
    ``SeedSequence(ts.seed + r).spawn(3)``, in layer order, biases from the second, layer by layer, by
    :func:`initlab.weights.biases.draw` (the deep-signal engine's code: zeros, constant ``bias_value``,
    random_normal with std ``|bias_value|``, or torch_linear U[+-1/sqrt(fan_in)] with the layer's fan_in).
    With ``ts.lsuv`` the kernels are drawn orthogonal (gain 1, same stream) and every layer is then
    rescaled by :func:`initlab.signal.lsuv.lsuv` on the scaled training inputs until its pre-activation
    variance is 1 (Mishkin & Matas 2016), as the deep-signal engine does.
    These are exactly the arrays :func:`train` starts from (its snapshot at step 0).

    Residual networks: one entry per weight layer of ``ts.layer_shapes`` (the stem, the blocks' branch
    layers in order, the head), drawn in that order; Fixup scales as the signal engine does. The norms'
    gamma and beta (1 and 0) and learned alphas are :func:`initial_theta`'s.
    """
    restart = check_restart(ts, restart)
    init = initializers.get("orthogonal") if ts.lsuv else initializers.get(ts.init, **ts.init_params())
    dt = np.dtype(ts.dtype)
    ss_w, ss_b, _ = _run_streams(ts.seed + restart)
    rng_b = np.random.default_rng(ss_b)
    # weights_rng="legacy": the notebooks' np.random.seed(seed + r) stream (LegacyDraws: the exception to
    # "every draw from a Generator", for replaying them exactly); else the Generator weight stream.
    rng_w = (initializers.LegacyDraws(ts.seed + restart) if ts.weights_rng == "legacy"
             else np.random.default_rng(ss_w))
    out: Params = []
    for fi, fo in ts.layer_shapes:
        w = init((fi, fo), rng_w, dtype=dt)
        b = bias_schemes.draw(ts.bias, ts.bias_value, fi, (fo,), rng_b, dt)
        out.append((w, b))
    if ts.residual and ts.residual_rule == "fixup":
        # Fixup (Zhang et al. 2019, sec. 3), as the signal engine: with B blocks of two layers, each branch's
        # first layer scaled by B^(-1/2), its last one zero (the stem and the head keep their draws).
        first = dt.type(float(ts.blocks) ** -0.5)
        for j in range(ts.blocks * 2):
            w, b = out[1 + j]
            out[1 + j] = (w * first if j % 2 == 0 else np.zeros_like(w), b)
    if ts.lsuv:
        weights, _ = lsuv([w for w, _ in out], make_data(ts).X_train, ts.activation, biases=[b for _, b in out])
        out = [(w, b) for w, (_, b) in zip(weights, out)]
    return out


def initial_theta(ts: TrainScenario, restart: int) -> np.ndarray:
    """Everything restart ``restart`` of ``ts`` starts from, flat (P,) in the layout of the engines: the
    kernels and biases of :func:`initial_params`, then gamma = 1 and beta = 0 of every norm, then alpha
    of every block (the rule's value, :meth:`TrainScenario.alpha`) when it is learned."""
    parts = [_pack(initial_params(ts, restart))]
    dt = np.dtype(ts.dtype)
    for w in ts.norm_widths:
        parts += [np.ones(w, dt), np.zeros(w, dt)]
    if ts.alpha_learned:
        parts.append(np.full(ts.blocks, ts.alpha(), dt))
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------------
# Flat parameter layout shared by both engines
# ---------------------------------------------------------------------------------------------------

def _offsets(sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Start of each layer's kernel and bias in the flat parameter vector, and its length P."""
    return _offsets_of(tuple(zip(sizes[:-1], sizes[1:])))


def _offsets_of(shapes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`_offsets` for weight layers given by their (fan_in, fan_out) (``TrainScenario.layer_shapes``)."""
    woff, boff, o = [], [], 0
    for fi, fo in shapes:
        woff.append(o)
        boff.append(o + fi * fo)
        o += fi * fo + fo
    return np.array(woff, dtype=np.int64), np.array(boff, dtype=np.int64), o


def _views(theta: np.ndarray, sizes: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-layer views (..., fan_in, fan_out) and (..., fan_out) into a flat (..., P) array."""
    shapes = tuple(zip(sizes[:-1], sizes[1:]))
    woff, boff, _ = _offsets_of(shapes)
    return _views_of(theta, shapes, woff, boff)


def _views_of(theta: np.ndarray, shapes: Sequence[tuple[int, int]], woff: np.ndarray, boff: np.ndarray
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    lead = theta.shape[:-1]
    Ws = [theta[..., w:b].reshape(*lead, fi, fo) for w, b, (fi, fo) in zip(woff, boff, shapes)]
    bs = [theta[..., b:b + fo] for b, (_, fo) in zip(boff, shapes)]
    return Ws, bs


def _pack(params: Params) -> np.ndarray:
    return np.concatenate([np.concatenate([w.reshape(-1), b]) for w, b in params])


# ---------------------------------------------------------------------------------------------------
# The numpy engine (the reference): batched over a leading runs axis
# ---------------------------------------------------------------------------------------------------

# The contractions below go through np.einsum, never BLAS (np.matmul). Units that start identical (zero,
# ones, constant init) must get bit-identical updates for ever, as they would in exact arithmetic; BLAS
# computes different output columns with different kernels and summation orders (edge tiles), so such
# units drifted apart by rounding (float32, tanh, ones, lr 1: 2 distinct units from step ~1700).
# np.einsum with optimize=False runs its own C loops: every output element is the same sequence of
# multiply-adds over the contracted index (one inner-loop function per call, chosen by the strides,
# which are the same for every unit), so equal inputs give equal outputs. Activations are held
# feature-major, (runs, width, n), so those loops run over contiguous examples: about as fast as the
# batched matmul it replaces (classic scenario, 3 inits x 10 restarts x 15000 steps, one core: float32
# 11.7 s instead of 14.2 s, float64 29.8 s instead of 27.8 s).
_FWD = "...jk,...jn->...kn"  # z^T = W^T h^T: z[k, i] = sum_j W[j, k] h[j, i]
_BACK = "...jk,...kn->...jn"  # (d W^T)^T = W d^T: d'[j, i] = sum_k W[j, k] d[k, i]
_GRAD = "...jn,...kn->...jk"  # h^T d: g[j, k] = sum_i h[j, i] d[k, i]


def _forward(Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray, act: activations.Activation
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations z_1..z_L (runs, n, fan_out) and inputs h_0..h_{L-1} of every layer.

    ``x`` is (n, 2) shared by every run, or (runs, n, 2). The arrays returned are transposed views of
    feature-major memory (see the note above).
    """
    hT = np.ascontiguousarray(np.swapaxes(x, -1, -2))
    zs: list[np.ndarray] = []
    hs: list[np.ndarray] = [np.swapaxes(hT, -1, -2)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        zT = np.einsum(_FWD, W, hT, optimize=False)
        zT += b[..., :, None]
        zs.append(np.swapaxes(zT, -1, -2))
        if l < len(Ws) - 1:
            hT = act.fn(zT)
            hs.append(np.swapaxes(hT, -1, -2))
    return zs, hs


_SIGMOID = activations.get("sigmoid").fn
_SOFTPLUS = activations.get("softplus").fn


def _backward(Ws: list[np.ndarray], zs: list[np.ndarray], hs: list[np.ndarray], d: np.ndarray,
              act: activations.Activation, gWs: list[np.ndarray], gbs: list[np.ndarray]) -> None:
    """Write dL/dW_l, dL/db_l into ``gWs``, ``gbs`` given d = dL/ds of shape (runs, n, 1)."""
    dT = np.swapaxes(d, -1, -2)
    for l in range(len(Ws) - 1, -1, -1):
        hT = np.swapaxes(hs[l], -1, -2)
        np.einsum(_GRAD, hT, dT, out=gWs[l], optimize=False)
        np.sum(dT, axis=-1, out=gbs[l])
        if l > 0:
            dT = np.einsum(_BACK, Ws[l], dT, optimize=False)
            # f'(z) from the output h = f(z) where the registry has it (no second exp), as network.py.
            dT *= act.deriv(np.swapaxes(zs[l - 1], -1, -2)) if act.deriv_from_output is None \
                else act.deriv_from_output(hT)


def _update(theta: np.ndarray, grad: np.ndarray, m1: np.ndarray, m2: np.ndarray, t: int, ts: TrainScenario) -> None:
    """One optimizer step on the flat parameters (Keras 3 formulas; ``t`` counts from 0)."""
    lr = ts.lr
    if ts.optimizer == "sgd":
        theta -= lr * grad
    elif ts.optimizer == "momentum":
        m1 *= ts.momentum
        m1 -= lr * grad
        theta += m1
    else:
        k = t + 1.0
        alpha = lr * math.sqrt(1.0 - ADAM_BETA2 ** k) / (1.0 - ADAM_BETA1 ** k)
        m1 += (grad - m1) * (1.0 - ADAM_BETA1)
        m2 += (grad * grad - m2) * (1.0 - ADAM_BETA2)
        theta -= (m1 * alpha) / (np.sqrt(m2) + ADAM_EPSILON)


def _numpy_steps(theta: np.ndarray, m1: np.ndarray, m2: np.ndarray, t0: int, nsteps: int, X: np.ndarray,
                 y: np.ndarray, perms: np.ndarray, perm_row: np.ndarray, epoch0: int, ts: TrainScenario,
                 act: activations.Activation, state: np.ndarray | None = None) -> None:
    """Advance all runs by ``nsteps`` updates in numpy; same contract as ``_train_jit.run_steps``.
    Residual and normalised networks go through :func:`_block_steps` (``state``: their BatchNorm running
    statistics, (runs, S))."""
    if not ts.plain_mlp:
        if state is None:
            state = initial_state(ts, theta.shape[0])
        _block_steps(theta, m1, m2, state, t0, nsteps, X, y, perms, perm_row, epoch0, ts, act)
        return
    sizes = ts.sizes
    Ws, bs = _views(theta, sizes)
    grad = np.empty_like(theta)
    gWs, gbs = _views(grad, sizes)
    n, batch = X.shape[0], ts.batch
    spe = -(-n // batch)
    yf = y.astype(theta.dtype)
    for s in range(nsteps):
        t = t0 + s
        if batch == n:
            x, yb = X, yf
        else:
            idx = _step_examples(perms, perm_row, epoch0, t, spe, batch)  # (runs, bsz)
            x, yb = X[idx], yf[idx]
        zs, hs = _forward(Ws, bs, x, act)
        if ts.softmax:
            d = np.swapaxes(_softmax_grad(np.swapaxes(zs[-1], -1, -2), yb), -1, -2)
        else:
            d = _SIGMOID(zs[-1])
            d -= yb[..., None]
            d *= theta.dtype.type(1.0 / yb.shape[-1])
        _backward(Ws, zs, hs, d, act, gWs, gbs)
        _update(theta, grad, m1, m2, t, ts)


# ---------------------------------------------------------------------------------------------------
# Measurements at the recorded steps (numpy, both engines)
# ---------------------------------------------------------------------------------------------------

def distinct_units(W: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Number of distinct units of a layer, per run: (runs, fan_in, fan_out), (runs, fan_out) -> (runs,).

    Unit k duplicates an earlier unit j < k when its incoming weights and bias all differ from unit j's
    by at most ``rtol`` times the layer's largest |parameter|; the count is fan_out minus the duplicates
    (so equal units count once). Units with identical incoming parameters compute identical outputs
    and receive identical updates for ever: zero and constant init keep it at 1, which is the symmetry
    that random init breaks (Goodfellow et al. 2016, 8.4). NaN when the layer holds inf or NaN.
    """
    runs, fan_in, units = W.shape
    finite = np.isfinite(W).all(axis=(1, 2)) & np.isfinite(b).all(axis=1)
    scale = np.where(finite, np.maximum(np.abs(W).max(axis=(1, 2)), np.abs(b).max(axis=1)), 0.0).astype(np.float64)
    tol = (rtol * scale)[:, None, None]
    lower = _strictly_lower(units)  # the pairs k > j that can make k a duplicate
    count = np.full(runs, float(units))
    D = None
    with np.errstate(invalid="ignore"):  # inf - inf in a run that is not finite: its count is NaN anyway
        for j in range(fan_in + 1):  # max |F_k - F_j| over the features F = (W[:, :, k], b[k]), pair by pair
            f = (W[:, j, :] if j < fan_in else b).astype(np.float64)
            d = np.abs(f[:, :, None] - f[:, None, :])
            D = d if D is None else np.maximum(D, d, out=D)
            close = (D <= tol) & lower
            # D only grows: once no pair of a finite run is within the tolerance, none will be (random inits:
            # after a feature or two, instead of all fan_in + 1 of them at every record): no duplicates.
            if not close[finite].any():
                break
        else:
            count -= close.any(axis=2).sum(axis=1)
    count[~finite] = np.nan
    return count


@functools.lru_cache(maxsize=64)
def _strictly_lower(units: int) -> np.ndarray:
    """(units, units) bool, True below the diagonal (read-only, shared)."""
    out = np.tri(units, k=-1, dtype=bool)
    out.flags.writeable = False
    return out


@dataclass
class _Measure:
    loss: np.ndarray  # (runs,)
    cost: np.ndarray  # (runs,) as ts.cost reports it
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    grad_norm: np.ndarray  # (runs, L)
    distinct: np.ndarray  # (runs, L - 1)
    dead: np.ndarray | None = None  # (runs, A) share of dead units per activation layer (activation_layers)
    saturated: np.ndarray | None = None  # (runs, A) share of saturated units


def _loss_acc(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean BCE softplus((1 - 2y) s) and accuracy (s > 0 predicts 1; +-inf logits still predict).

    A run with a NaN logit on the set has diverged and predicts nothing there: its accuracy is NaN, not
    the fraction of points a NaN happens to be "wrong" on (that gave 0, below the 0.5 of guessing on two
    balanced classes, and dragged medians over restarts below chance). Medians skip it (nan-aware);
    :func:`summarize` counts it apart.
    """
    sign = (1 - 2 * y).astype(s.dtype)
    loss = np.mean(_SOFTPLUS(s * sign), axis=-1, dtype=np.float64)
    acc = ((s > 0) == (y == 1)).mean(axis=-1)
    acc[np.isnan(s).any(axis=-1)] = np.nan
    return loss, acc


def _softmax_loss_acc(S: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean categorical cross-entropy and accuracy of logits ``S`` (runs, n, classes) for labels ``y`` (n,).

    l_i = -log softmax(s_i)[y_i] = logsumexp(s_i) - s_{i, y_i}, with logsumexp(s) = m + log sum_k e^(s_k - m),
    m = max_k s_k (the log-softmax of PyTorch's ``cross_entropy``: no exponential overflows, and a
    probability that rounds to 0 still has its finite log). The prediction is argmax_k s_k; a run with a
    NaN logit on the set predicts nothing there (accuracy NaN), as :func:`_loss_acc`.
    """
    with np.errstate(all="ignore"):
        m = np.max(S, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # an infinite logit makes the loss inf or NaN, as it should
        lse = np.log(np.sum(np.exp(S - m), axis=-1)) + m[..., 0]
        sy = np.take_along_axis(S, np.broadcast_to(y[:, None], S.shape[:-1] + (1,)), axis=-1)[..., 0]
        loss = np.mean(lse - sy, axis=-1, dtype=np.float64)
    acc = (np.argmax(S, axis=-1) == y).mean(axis=-1)
    acc[np.isnan(S).any(axis=(-2, -1))] = np.nan
    return loss, acc


def _softmax_grad(sT: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/ds = (softmax(s) - onehot(y)) / batch for the mean categorical cross-entropy, feature-major:
    ``sT`` (runs, classes, n), ``y`` the class indices (n,) or (runs, n) (any dtype holding whole numbers).
    softmax(s)_k = e^(s_k - m) / sum_j e^(s_j - m), m = max_j s_j (the same value, without overflow)."""
    e = np.exp(sT - np.max(sT, axis=-2, keepdims=True))
    e /= np.sum(e, axis=-2, keepdims=True)
    e -= (np.arange(sT.shape[-2])[:, None] == y[..., None, :])
    e *= sT.dtype.type(1.0 / sT.shape[-1])
    return e


def naive_cost(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The course notebooks' cost, -(1/m) nansum(y log a + (1 - y) log(1 - a)) with a = 1 / (1 + exp(-s)),
    computed as they compute it (Deep Learning Specialization, course 2 week 1, ``compute_loss``).

    A logit past ~37 (float64) rounds a to exactly 1; on a class-0 point log(1 - a) is then -inf and the
    cost inf, although the loss from the logits is finite. nansum drops the 0 * inf = NaN terms of the
    other class. Reported only (``TrainScenario.cost="naive"``): training's gradient does not use it.
    """
    with np.errstate(all="ignore"):
        a = 1.0 / (1.0 + np.exp(-s))
        yy = y.astype(s.dtype)
        logprobs = np.multiply(-np.log(a), yy) + np.multiply(-np.log(1 - a), 1 - yy)
        return (1.0 / y.shape[-1]) * np.nansum(logprobs, axis=-1).astype(np.float64)


def unit_shares(z: np.ndarray, h: np.ndarray, act: activations.Activation) -> tuple[np.ndarray, np.ndarray]:
    """Shares of dead and of saturated units of one activation layer over a set of n examples, per run:
    pre-activations ``z`` and outputs ``h = f(z)`` (runs, n, width) -> two (runs,) float64 arrays.

    A unit is dead when its output is 0 on every example (``act.can_die``: ReLU, whose gradient is then 0
    too, so no update revives it); saturated when f'(z) < ``act.saturation_threshold`` on every example
    (10 % of sup f': the per-value rule of :mod:`initlab.weights.activations`, which the Signal page
    applies value by value, here required of every example, so the unit passes almost no gradient for the
    whole set). A share is NaN where the notion does not apply to the activation (dead: all but relu;
    saturated: linear, relu, leaky_relu) or where the layer holds a NaN (a diverged run)."""
    runs, width = z.shape[0], z.shape[-1]
    bad = np.isnan(z).any(axis=(-2, -1))
    dead = np.full(runs, np.nan)
    sat = np.full(runs, np.nan)
    with np.errstate(all="ignore"):
        if act.can_die:
            dead = np.count_nonzero((h == 0).all(axis=-2), axis=-1) / width
        if act.saturation_threshold is not None:
            sat = np.count_nonzero((act.deriv(z) < act.saturation_threshold).all(axis=-2), axis=-1) / width
    return np.where(bad, np.nan, dead), np.where(bad, np.nan, sat)


def _measure(theta: np.ndarray, data: TrainData, ts: TrainScenario, act: activations.Activation,
             state: np.ndarray | None = None) -> _Measure:
    if not ts.plain_mlp:
        return _block_measure(theta, initial_state(ts, theta.shape[0]) if state is None else state, data, ts, act)
    sizes = ts.sizes
    Ws, bs = _views(theta, sizes)
    grad = np.empty_like(theta)
    gWs, gbs = _views(grad, sizes)
    zs, hs = _forward(Ws, bs, data.X_train, act)
    if ts.softmax:
        loss, acc = _softmax_loss_acc(zs[-1], data.y_train)
        cost = loss  # the naive cost is the sigmoid's (repair refuses it for a softmax)
        d = np.swapaxes(_softmax_grad(np.swapaxes(zs[-1], -1, -2), data.y_train), -1, -2)
    else:
        s = zs[-1][..., 0]
        loss, acc = _loss_acc(s, data.y_train)
        cost = naive_cost(s, data.y_train) if ts.cost == "naive" else loss
        d = _SIGMOID(zs[-1])
        d -= data.y_train.astype(theta.dtype)[:, None]
        d *= theta.dtype.type(1.0 / len(data.y_train))
    _backward(Ws, zs, hs, d, act, gWs, gbs)
    zt, _ = _forward(Ws, bs, data.X_test, act)
    test_loss, test_acc = (_softmax_loss_acc(zt[-1], data.y_test) if ts.softmax
                           else _loss_acc(zt[-1][..., 0], data.y_test))
    rtol = DISTINCT_RTOL[ts.dtype]
    distinct = np.stack([distinct_units(Ws[l], bs[l], rtol) for l in range(len(Ws) - 1)], axis=1)
    shares = [unit_shares(zs[l], hs[l + 1], act) for l in range(len(Ws) - 1)]
    return _Measure(loss, cost, acc, test_loss, test_acc, np.stack([stats.norms(g) for g in gWs], axis=1), distinct,
                    np.stack([d for d, _ in shares], axis=1), np.stack([s_ for _, s_ in shares], axis=1))


def _norms64(rows: np.ndarray, source: np.dtype) -> np.ndarray:
    """:func:`initlab.numerics.stats.norms` of float64 ``rows`` (runs, m) holding values of dtype ``source``
    (or differences of two of them), by :func:`initlab.numerics.stats.norms_of_float32` where that is
    float32 (one pass: the records take two a layer at every recorded step)."""
    return stats.norms_of_float32(rows) if np.dtype(source).itemsize <= 4 else stats.norms(rows)


def update_ratio(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """||W_after - W_before||_F / ||W_before||_F of one weight matrix per run, (runs, ...) -> (runs,) float64:
    the relative size of one update (cs231n's "update / weight ratio": around 1e-3 is the usual sign of
    a sensible learning rate). The difference is taken in float64 (exact for float32 weights), both norms
    overflow-safe (:func:`initlab.numerics.stats.norms`). NaN where ||W_before|| = 0 (a zero
    initialization: the ratio is undefined, not infinite) or is not finite."""
    runs = before.shape[0]
    b = before.reshape(runs, -1).astype(np.float64)
    with np.errstate(all="ignore"):
        num, den = _norms64(after.reshape(runs, -1).astype(np.float64) - b, before.dtype), _norms64(b, before.dtype)
        out = num / np.where(den > 0, den, 1.0)
    out[~((den > 0) & np.isfinite(den))] = np.nan
    return out


# ---------------------------------------------------------------------------------------------------
# Residual and normalised networks (the numpy reference, batched over runs as above)
# ---------------------------------------------------------------------------------------------------
#
# The same feature-major arrays (runs, units, examples) and the same einsum contractions as the plain
# engine; the block formulas are initlab.signal.blocks' (module docstring there), with learned gamma
# and beta (y = gamma u + beta after every norm) and, with ``residual_learned``, a learned alpha per
# block. The plain networks above keep their own code, so their numbers do not move by one bit.

BN_MOMENTUM = 0.1  # PyTorch BatchNorm1d's default: running = (1 - momentum) running + momentum batch


@dataclass(frozen=True)
class _Layout:
    """Where everything lives in the flat parameter vector ``theta`` (P,) and the BatchNorm state (S,).

    theta: every weight layer's kernel and bias (input side first, as :func:`_offsets`), then gamma and
    beta of every norm (``TrainScenario.norm_widths`` order: gamma_0, beta_0, gamma_1, ...), then alpha of
    every block when learned. For a plain network without norm this is exactly the plain layout.
    state (BatchNorm only): running mean then running variance of every norm, in the same order.
    """

    shapes: tuple[tuple[int, int], ...]
    woff: np.ndarray
    boff: np.ndarray
    goff: tuple[int, ...]  # start of gamma of norm i (beta follows it)
    widths: tuple[int, ...]  # units of norm i
    aoff: int  # start of the alphas (blocks of them when learned)
    blocks: int
    alpha_learned: bool
    P: int
    S: int  # BatchNorm running statistics per run (0 without BatchNorm)


@functools.lru_cache(maxsize=64)
def _layout(ts: TrainScenario) -> _Layout:
    woff, boff, o = _offsets_of(ts.layer_shapes)
    goff = []
    for w in ts.norm_widths:
        goff.append(o)
        o += 2 * w
    aoff = o
    if ts.alpha_learned:
        o += ts.blocks
    S = 2 * sum(ts.norm_widths) if ts.norm == "batch" else 0
    return _Layout(ts.layer_shapes, woff, boff, tuple(goff), ts.norm_widths, aoff, ts.blocks, ts.alpha_learned, o, S)


@dataclass
class _Net:
    """Views of one ``theta`` (..., P) as the network's parameters, and its BatchNorm state (..., S)."""

    Ws: list[np.ndarray]
    bs: list[np.ndarray]
    gammas: list[np.ndarray]
    betas: list[np.ndarray]
    alphas: np.ndarray | None  # (..., blocks) when learned
    means: list[np.ndarray]  # running means (BatchNorm only)
    vars: list[np.ndarray]


def _net(theta: np.ndarray, lay: _Layout, state: np.ndarray | None = None) -> _Net:
    Ws, bs = _views_of(theta, lay.shapes, lay.woff, lay.boff)
    gammas = [theta[..., g:g + w] for g, w in zip(lay.goff, lay.widths)]
    betas = [theta[..., g + w:g + 2 * w] for g, w in zip(lay.goff, lay.widths)]
    alphas = theta[..., lay.aoff:lay.aoff + lay.blocks] if lay.alpha_learned else None
    means, vars_ = [], []
    if state is not None and lay.S:
        o = 0
        for w in lay.widths:
            means.append(state[..., o:o + w])
            vars_.append(state[..., o + w:o + 2 * w])
            o += 2 * w
    return _Net(Ws, bs, gammas, betas, alphas, means, vars_)


def initial_state(ts: TrainScenario, runs: int = 1) -> np.ndarray:
    """The BatchNorm running statistics every run starts with, (runs, S): mean 0 and variance 1 for every
    unit of every norm, as PyTorch's BatchNorm1d (empty without BatchNorm)."""
    lay = _layout(ts)
    state = np.zeros((runs, lay.S), np.dtype(ts.dtype))
    for v in _net(np.zeros((runs, lay.P), state.dtype), lay, state).vars:
        v[...] = 1
    return state


def _normalize(xT: np.ndarray, axis: int, eps: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(u, inv, mean, var)`` over ``axis`` (keepdims): u = (x - mean) inv, inv = 1 / sqrt(var + eps), var
    the biased variance (Ioffe & Szegedy 2015, Alg. 1; what PyTorch normalises with in training).

    The plain formula, as PyTorch computes it; a slice whose variance overflows or underflows (weights
    blown up) is normalised by :func:`initlab.signal.blocks.normalize`'s overflow-safe form instead, slice
    by slice, so one run's overflow never changes another run's numbers."""
    dt = xT.dtype.type
    mean = xT.mean(axis=axis, keepdims=True, dtype=xT.dtype)
    xc = xT - mean
    var = np.mean(xc * xc, axis=axis, keepdims=True, dtype=xT.dtype)
    inv = dt(1.0) / np.sqrt(var + dt(eps))
    u = xc * inv
    ok = np.isfinite(var) & (var > np.finfo(xT.dtype).tiny / np.finfo(xT.dtype).eps)
    if not ok.all():
        u2, inv2 = blocks.normalize(xT, "batch", eps, axis=axis)
        u, inv = np.where(ok, u, u2), np.where(ok, inv, inv2)
    return u, inv, mean, var


class _Pass:
    """One forward pass of a residual or normalised network over a batch, kept for its backward pass.

    ``mode``: ``"train"`` normalises a BatchNorm with the batch's statistics (and, with ``update``,
    moves the running statistics in ``net`` as PyTorch's BatchNorm1d does: momentum 0.1, the unbiased
    batch variance var n / (n - 1)); ``"eval"`` with the running statistics. A LayerNorm is the same in
    both. ``xT``: the inputs (2, n) shared by every run or (runs, 2, n).
    """

    def __init__(self, ts: TrainScenario, net: _Net, act: activations.Activation, xT: np.ndarray,
                 mode: str = "train", update: bool = False) -> None:
        self.ts, self.net, self.act, self.mode, self.update = ts, net, act, mode, update
        self.norm = ts.norm
        self.axis = -1 if ts.norm == "batch" else -2  # examples (BatchNorm) or units (LayerNorm)
        self.eps = float(ts.norm_eps)
        self.caches: list[dict[str, Any]] = []
        l = i = 0  # next weight layer, next norm
        h = xT
        plain_layers = 1 if ts.residual else len(ts.hidden)
        for _ in range(plain_layers):  # the stem, or every hidden layer of a plain network
            c: dict[str, Any] = {"kind": "plain", "l": l, "h": h}
            z = self._linear(l, h)
            l += 1
            if self.norm != "none":
                z = self._norm(i, z, c)
                i += 1
            c["y"] = z
            h = act.fn(z)
            self.caches.append(c)
        m = ts.layers_per_block
        for k in range(ts.blocks):
            alpha = self._alpha(k, h)
            c = {"kind": ts.norm_position, "l": l, "k": k, "h": h, "alpha": alpha}
            if c["kind"] == "pre":  # B(x) = f(N(x)) W + b, once or twice
                x, parts = h, []
                for j in range(m):
                    p: dict[str, Any] = {}
                    y = x
                    if self.norm != "none":
                        y = self._norm(i, x, p)
                        i += 1
                    p["y"], p["a"] = y, act.fn(y)
                    x = self._linear(l + j, p["a"])
                    parts.append(p)
                c["parts"], c["x"] = parts, x
                h = h + alpha * x
            else:  # post: B(x) = f(x W1 + b1) [W2 + b2], the norm on the sum
                z = self._linear(l, h)
                c["z"], c["a"] = z, act.fn(z)
                x = self._linear(l + 1, c["a"]) if m == 2 else c["a"]
                c["x"] = x
                h = h + alpha * x
                if self.norm != "none":
                    h = self._norm(i, h, c)
                    i += 1
            l += m
            self.caches.append(c)
        self.h_last = h
        self.logits = self._linear(l, h)  # (runs, 1, n)

    def _alpha(self, k: int, h: np.ndarray) -> Any:
        if self.net.alphas is not None:
            return self.net.alphas[..., k][..., None, None]
        return h.dtype.type(self.ts.alpha())

    def _linear(self, l: int, hT: np.ndarray) -> np.ndarray:
        zT = np.einsum(_FWD, self.net.Ws[l], hT, optimize=False)
        zT += self.net.bs[l][..., :, None]
        return zT

    def _norm(self, i: int, xT: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
        """gamma N(x) + beta for norm ``i``; ``cache`` gets u and inv for the backward pass."""
        net, dt = self.net, xT.dtype.type
        if self.norm == "batch" and self.mode == "eval":
            inv = dt(1.0) / np.sqrt(net.vars[i] + dt(self.eps))
            u = (xT - net.means[i][..., :, None]) * inv[..., :, None]
        else:
            u, inv, mean, var = _normalize(xT, self.axis, self.eps)
            if self.update and self.norm == "batch":
                n = xT.shape[-1]
                m = dt(BN_MOMENTUM)
                net.means[i] *= dt(1.0) - m
                net.means[i] += m * mean[..., 0]
                net.vars[i] *= dt(1.0) - m
                net.vars[i] += m * (var[..., 0] * dt(n / (n - 1)))
        cache["u"], cache["inv"], cache["norm"] = u, inv, i
        return net.gammas[i][..., :, None] * u + net.betas[i][..., :, None]

    def _norm_back(self, dy: np.ndarray, c: dict[str, Any], g: _Net) -> np.ndarray:
        """dL/dx of gamma N(x) + beta in training mode, writing dL/dgamma and dL/dbeta into ``g``:
        dgamma = sum_n dy u, dbeta = sum_n dy, dx = inv (du - mean(du) - u mean(du u)) with du = gamma dy
        (means over the norm's axis; Ioffe & Szegedy 2015, sec. 3)."""
        i, u = c["norm"], c["u"]
        dt = dy.dtype
        np.sum(dy * u, axis=-1, out=g.gammas[i])
        np.sum(dy, axis=-1, out=g.betas[i])
        du = dy * self.net.gammas[i][..., :, None]
        ax = self.axis
        return c["inv"] * (du - du.mean(axis=ax, keepdims=True, dtype=dt)
                           - u * (du * u).mean(axis=ax, keepdims=True, dtype=dt))

    def _linear_back(self, l: int, hT: np.ndarray, dT: np.ndarray, g: _Net, want_input: bool = True
                     ) -> np.ndarray | None:
        np.einsum(_GRAD, hT, dT, out=g.Ws[l], optimize=False)
        np.sum(dT, axis=-1, out=g.bs[l])
        return np.einsum(_BACK, self.net.Ws[l], dT, optimize=False) if want_input else None

    def backward(self, dT: np.ndarray, g: _Net) -> None:
        """Write dL/dtheta into the views ``g`` given dT = dL/ds (runs, 1, n) (training mode only)."""
        act = self.act
        nl = len(self.net.Ws)
        gh = self._linear_back(nl - 1, self.h_last, dT, g)
        for c in reversed(self.caches):
            kind = c["kind"]
            if kind == "plain":
                dy = gh * act.deriv(c["y"])
                dz = self._norm_back(dy, c, g) if self.norm != "none" else dy
                gh = self._linear_back(c["l"], c["h"], dz, g, want_input=c["l"] > 0)
            elif kind == "pre":
                self._alpha_back(c, gh, g)
                dx = c["alpha"] * gh
                for j in range(len(c["parts"]) - 1, -1, -1):
                    p = c["parts"][j]
                    da = self._linear_back(c["l"] + j, p["a"], dx, g)
                    dy = da * act.deriv(p["y"])
                    dx = self._norm_back(dy, p, g) if self.norm != "none" else dy
                gh = gh + dx
            else:  # post
                ds = self._norm_back(gh, c, g) if self.norm != "none" else gh
                self._alpha_back(c, ds, g)
                dx = c["alpha"] * ds
                da = self._linear_back(c["l"] + 1, c["a"], dx, g) if self.ts.layers_per_block == 2 else dx
                dz = da * act.deriv(c["z"])
                gh = ds + self._linear_back(c["l"], c["h"], dz, g)
        for l in self.ts.cancelled_biases:  # exactly 0 in exact arithmetic (TrainScenario.cancelled_biases)
            g.bs[l][...] = 0

    def _alpha_back(self, c: dict[str, Any], gout: np.ndarray, g: _Net) -> None:
        """dL/dalpha_k = sum over units and examples of dL/dh_k * B(h_(k-1)) (learned alpha only)."""
        if g.alphas is not None:
            g.alphas[..., c["k"]] = np.sum(gout * c["x"], axis=(-2, -1))


def _features_major(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(x, -1, -2))


def _output_grad(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/ds = (sigmoid(s) - y) / batch for the mean BCE over the batch (module docstring)."""
    d = _SIGMOID(s)
    d -= y
    d *= s.dtype.type(1.0 / y.shape[-1])
    return d


def _block_steps(theta: np.ndarray, m1: np.ndarray, m2: np.ndarray, state: np.ndarray, t0: int, nsteps: int,
                 X: np.ndarray, y: np.ndarray, perms: np.ndarray, perm_row: np.ndarray, epoch0: int,
                 ts: TrainScenario, act: activations.Activation) -> None:
    """:func:`_numpy_steps` for residual and normalised networks; ``state`` (runs, S) holds the BatchNorm
    running statistics, moved by every step's forward pass (before the update, as in PyTorch)."""
    lay = _layout(ts)
    net = _net(theta, lay, state)
    grad = np.empty_like(theta)
    g = _net(grad, lay)
    n, batch = X.shape[0], ts.batch
    spe = _steps_per_epoch(n, batch, ts.merge_last_batch)
    yf = y.astype(theta.dtype)
    XT = _features_major(X)
    for s in range(nsteps):
        t = t0 + s
        if batch == n:
            xT, yb = XT, yf
        else:
            idx = _step_examples(perms, perm_row, epoch0, t, spe, batch, ts.merge_last_batch)  # (runs, bsz)
            xT, yb = _features_major(X[idx]), yf[idx]
        fwd = _Pass(ts, net, act, xT, "train", update=True)
        fwd.backward(_softmax_grad(fwd.logits, yb) if ts.softmax else _output_grad(fwd.logits, yb[..., None, :]), g)
        _update(theta, grad, m1, m2, t, ts)


def _block_measure(theta: np.ndarray, state: np.ndarray, data: TrainData, ts: TrainScenario,
                   act: activations.Activation) -> _Measure:
    """:func:`_measure` for residual and normalised networks. Losses and accuracies are the network as it
    is evaluated (a BatchNorm with its running statistics, PyTorch's evaluation mode, ``model.train(False)``); the gradient norms
    are those of a full-batch training step (batch statistics over the whole training set, the gradient an
    optimizer would be given), without moving the running statistics."""
    lay = _layout(ts)
    net = _net(theta, lay, state)
    XT = _features_major(data.X_train)
    yf = data.y_train.astype(theta.dtype)
    train = _Pass(ts, net, act, XT, "train")
    grad = np.empty_like(theta)
    train.backward(_softmax_grad(train.logits, yf) if ts.softmax else _output_grad(train.logits, yf[None, None, :]),
                   _net(grad, lay))
    ev = _Pass(ts, net, act, XT, "eval") if ts.norm == "batch" else train
    st = _Pass(ts, net, act, _features_major(data.X_test), "eval").logits
    m = _block_record(theta, data, ts, grad, _logits_of(ts, ev.logits), _logits_of(ts, st))
    m.dead, m.saturated = _pass_shares(ev, act)
    return m


def activation_layers(ts: TrainScenario) -> int:
    """Activation layers of the network, in order: every hidden layer of a plain network; the stem, then per
    residual block one before every branch layer (pre-norm) or one after its first layer (post-norm)."""
    if not ts.residual:
        return len(ts.hidden)
    return 1 + ts.blocks * (ts.branch_layers if ts.norm_position == "pre" else 1)


def _pass_shares(p: _Pass, act: activations.Activation) -> tuple[np.ndarray, np.ndarray]:
    """:func:`unit_shares` of every activation layer of a residual or normalised network's pass ``p``, in
    :func:`activation_layers` order: (runs, A) twice. The pre-activations are what each f was applied to
    (after the norm where one precedes it)."""
    zs = []
    for c in p.caches:
        if c["kind"] == "plain":
            zs.append(c["y"])
        elif c["kind"] == "pre":
            zs += [part["y"] for part in c["parts"]]
        else:
            zs.append(c["z"])
    shares = [unit_shares(np.swapaxes(z, -1, -2), np.swapaxes(p.act.fn(z), -1, -2), act) for z in zs]
    return np.stack([d for d, _ in shares], axis=1), np.stack([x for _, x in shares], axis=1)


def _logits_of(ts: TrainScenario, sT: np.ndarray) -> np.ndarray:
    """The logits as the records take them from feature-major (runs, outputs, n): (runs, n) for one sigmoid
    unit, (runs, n, classes) for a softmax."""
    return np.swapaxes(sT, -1, -2) if ts.softmax else sT[..., 0, :]


def _block_record(theta: np.ndarray, data: TrainData, ts: TrainScenario, grad: np.ndarray, s: np.ndarray | None,
                  st: np.ndarray | None, softmax_records: tuple[np.ndarray, ...] | None = None,
                  grad_norm: np.ndarray | None = None) -> _Measure:
    """The record of a residual or normalised network from its full-batch training gradient ``grad`` (runs,
    P) and the evaluated network's logits on the training set ``s`` and the test set ``st`` (runs, n), or
    (runs, n, classes) for a softmax (:func:`_logits_of`); ``softmax_records``: a softmax's loss, accuracy,
    test loss and test accuracy when the caller has them (the compiled kernel's; ``s`` and ``st`` are then
    not read); ``grad_norm``: (runs, L) the gradient's norm per weight layer, when the caller has it."""
    lay = _layout(ts)
    net, g = _net(theta, lay), _net(grad, lay)
    if softmax_records is not None:
        loss, acc, test_loss, test_acc = softmax_records
        cost = loss
    elif ts.softmax:
        loss, acc = _softmax_loss_acc(s, data.y_train)
        cost = loss
        test_loss, test_acc = _softmax_loss_acc(st, data.y_test)
    else:
        loss, acc = _loss_acc(s, data.y_train)
        cost = naive_cost(s, data.y_train) if ts.cost == "naive" else loss
        test_loss, test_acc = _loss_acc(st, data.y_test)
    distinct = np.stack([distinct_units(*_unit_params(net, ts, l)) for l in range(len(net.Ws) - 1)], axis=1)
    if grad_norm is None:
        grad_norm = np.stack([_norms64(gw.reshape(len(gw), -1).astype(np.float64), gw.dtype) for gw in g.Ws], axis=1)
    return _Measure(loss, cost, acc, test_loss, test_acc, grad_norm, distinct)


def _unit_params(net: _Net, ts: TrainScenario, l: int) -> tuple[np.ndarray, np.ndarray, float]:
    """What makes unit k of weight layer ``l`` itself: its incoming weights and bias and, where a norm acts on
    this layer's output unit by unit before anything mixes them (plain layers and the stem), that norm's
    gamma_k and beta_k, as extra rows of ``W`` for :func:`distinct_units`."""
    W, b = net.Ws[l], net.bs[l]
    plain_layers = 1 if ts.residual else len(ts.hidden)
    if ts.norm != "none" and l < plain_layers:
        W = np.concatenate([W, net.gammas[l][..., None, :], net.betas[l][..., None, :]], axis=-2)
    return W, b, DISTINCT_RTOL[ts.dtype]


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` recorded for one scenario; every array is read-only (results are shared).

    Axes: ``R`` restarts, ``T`` recorded steps (``recorded_steps``), ``L`` weight layers (hidden + output;
    in a residual network the stem, every branch layer and the head: ``scenario.layer_shapes``).
    A result from :func:`iter_train` may be partial: ``steps_done < scenario.steps``, and the arrays
    hold the records made so far.

    Residual and normalised networks: ``theta`` also holds every norm's gamma and beta and the learned
    alphas (:func:`initial_theta`; read them with :meth:`norms` and :attr:`alpha`), and ``norm_state``
    the BatchNorm running statistics at every record, so :meth:`decision_function` at a recorded step
    is the network as it was then. Their losses and accuracies are the evaluated network's (BatchNorm
    with its running statistics, PyTorch's evaluation mode, ``model.train(False)``), ``grad_norm`` a full-batch training
    step's (batch statistics over the training set).
    """

    scenario: TrainScenario
    data: TrainData
    recorded_steps: np.ndarray  # (T,) int64
    seeds: np.ndarray  # (R,) integer seed of each restart: scenario.seed + restart
    loss: np.ndarray  # (R, T) mean binary cross-entropy on the training set, from the logits (stable)
    cost: np.ndarray  # (R, T) the training cost as scenario.cost reports it: loss itself when "stable"
    train_acc: np.ndarray  # (R, T), NaN where the run's output is NaN (diverged: no prediction)
    test_loss: np.ndarray  # (R, T)
    test_acc: np.ndarray  # (R, T), NaN where the run's output is NaN
    grad_norm: np.ndarray  # (R, T, L) ||dL/dW_l||_F on the full training set
    distinct: np.ndarray  # (R, T, L - 1) distinct units per hidden layer (NaN when non-finite)
    theta: np.ndarray = field(repr=False)  # (R, T, P) every parameter, flat (see params())
    steps_done: int = 0
    engine: str = ""
    seconds: float = 0.0  # wall time of the whole computation this result was part of
    # (R, T, S) BatchNorm running means and variances at every record (S = 0 without BatchNorm; see norms())
    norm_state: np.ndarray | None = field(default=None, repr=False)
    # (R, T, A) share of the units of every activation layer (:func:`activation_layers`: A = L - 1 in a plain
    # network) that are dead (relu: output 0 on every training point) or saturated (f'(z) < the activation's
    # saturation_threshold on every training point) at each record, in the evaluated network (a BatchNorm
    # with its running statistics): :func:`unit_shares`. NaN where the notion does not apply to the
    # activation, and for a diverged run.
    dead_share: np.ndarray | None = field(default=None, repr=False)
    saturated_share: np.ndarray | None = field(default=None, repr=False)
    # (R, T, L) ||W_t - W_(t-1)|| / ||W_(t-1)|| of every weight layer: the update that ENDS at each recorded
    # step t (the last one before the snapshot; :func:`update_ratio`). NaN at step 0 (no update yet) and where
    # ||W_(t-1)|| = 0 (undefined: a zero-initialised layer).
    update_ratio: np.ndarray | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        return self.steps_done == self.scenario.steps

    @property
    def history(self) -> pd.DataFrame:
        """One row per restart and recorded step: restart, step, loss, train_acc, test_acc, test_loss, and
        cost when the scenario reports another cost than the loss (``cost="naive"``)."""
        R, T = self.loss.shape
        extra = {"cost": self.cost.reshape(-1)} if self.scenario.cost != "stable" else {}
        return pd.DataFrame({
            "restart": np.repeat(np.arange(R), T), "step": np.tile(self.recorded_steps, R),
            "loss": self.loss.reshape(-1), **extra, "train_acc": self.train_acc.reshape(-1),
            "test_acc": self.test_acc.reshape(-1), "test_loss": self.test_loss.reshape(-1),
        })

    @property
    def layers(self) -> pd.DataFrame:
        """One row per restart, recorded step and layer (1..L): grad_norm, distinct_units (NaN for the output)."""
        R, T, L = self.grad_norm.shape
        distinct = np.concatenate([self.distinct, np.full((R, T, 1), np.nan)], axis=2)
        return pd.DataFrame({
            "restart": np.repeat(np.arange(R), T * L), "step": np.tile(np.repeat(self.recorded_steps, L), R),
            "layer": np.tile(np.arange(1, L + 1), R * T), "grad_norm": self.grad_norm.reshape(-1),
            "distinct_units": distinct.reshape(-1),
        })

    @functools.cached_property
    def weight_norm(self) -> np.ndarray:
        """‖W_l‖_F of every restart, recorded step and layer, (R, T, L) float64 (overflow-safe), from the
        parameter snapshots: with ``grad_norm`` it gives the relative update size ‖∂L/∂W‖ / ‖W‖."""
        Ws = _net(self.theta, _layout(self.scenario)).Ws
        R, T = self.theta.shape[:2]
        out = np.stack([stats.norms(W.reshape(R * T, -1)).reshape(R, T) for W in Ws], axis=-1)
        out.flags.writeable = False
        return out

    @property
    def diverged(self) -> np.ndarray:
        """(R,) bool: the restart's training loss was inf or NaN at some record (it blew up)."""
        return ~np.isfinite(self.loss).all(axis=1)

    @property
    def runs(self) -> pd.DataFrame:
        """One row per restart, at the last recorded step: restart, seed, final_loss, train_acc, test_acc,
        test_loss, finite (the loss stayed finite at every record: not :attr:`diverged`), nonfinite_step
        (the first recorded step whose loss is inf or NaN; missing if none), distinct_units_1.. per
        hidden layer."""
        bad = ~np.isfinite(self.loss)
        first = np.where(bad.any(axis=1), self.recorded_steps[np.argmax(bad, axis=1)], -1)
        cols: dict[str, Any] = {
            "restart": np.arange(len(self.seeds)), "seed": self.seeds, "final_loss": self.loss[:, -1],
            "train_acc": self.train_acc[:, -1], "test_acc": self.test_acc[:, -1], "test_loss": self.test_loss[:, -1],
            "finite": ~self.diverged,
            "nonfinite_step": pd.array([None if f < 0 else int(f) for f in first], dtype="Int64"),
        }
        for l in range(self.distinct.shape[2]):
            cols[f"distinct_units_{l + 1}"] = self.distinct[:, -1, l]
        return pd.DataFrame(cols)

    def _index(self, step: int) -> int:
        hits = np.flatnonzero(self.recorded_steps == step)
        if not hits.size:
            raise ValueError(f"step {step!r} was not recorded; recorded steps: {self.recorded_steps.tolist()}")
        return int(hits[0])

    def params(self, restart: int, step: int) -> Params:
        """The parameters ``[(W_1, b_1), ...]`` of ``restart`` at recorded ``step`` (copies), one pair per
        weight layer (``scenario.layer_shapes``)."""
        net = _net(self.theta[restart, self._index(step)], _layout(self.scenario))
        return [(w.copy(), b.copy()) for w, b in zip(net.Ws, net.bs)]

    def norms(self, restart: int, step: int) -> list[dict[str, np.ndarray]]:
        """Every norm of ``restart`` at recorded ``step`` (``scenario.norm_widths`` order), as copies:
        ``gamma``, ``beta`` and, for a BatchNorm, ``running_mean`` and ``running_var``."""
        k = self._index(step)
        state = None if self.norm_state is None else self.norm_state[restart, k]
        net = _net(self.theta[restart, k], _layout(self.scenario), state)
        out = [{"gamma": g.copy(), "beta": b.copy()} for g, b in zip(net.gammas, net.betas)]
        for d, m, v in zip(out, net.means, net.vars):
            d.update(running_mean=m.copy(), running_var=v.copy())
        return out

    @functools.cached_property
    def alpha(self) -> np.ndarray:
        """The branch scale alpha of every restart, recorded step and block, (R, T, blocks) float64: the
        trained value when ``residual_learned`` (ReZero, SkipInit), else the rule's constant; (R, T, 0) for
        a plain network."""
        ts = self.scenario
        lay = _layout(ts)
        R, T = self.theta.shape[:2]
        if lay.alpha_learned:
            out = self.theta[..., lay.aoff:lay.aoff + lay.blocks].astype(np.float64)
        else:
            out = np.full((R, T, ts.blocks), ts.alpha())
        out.flags.writeable = False
        return out

    @functools.cached_property
    def norm_rms(self) -> np.ndarray:
        """Root mean square over the units of gamma (``[..., 0]``) and beta (``[..., 1]``) of every norm, per
        restart and recorded step, (R, T, norms, 2) float64: 1 and 0 at the start, how far training moved the
        norms' learned scale and shift since."""
        net = _net(self.theta, _layout(self.scenario))
        R, T = self.theta.shape[:2]
        out = np.zeros((R, T, len(net.gammas), 2))
        with np.errstate(all="ignore"):
            for i, (g, b) in enumerate(zip(net.gammas, net.betas)):
                out[:, :, i, 0] = stats.norms(g.reshape(R * T, -1)).reshape(R, T) / np.sqrt(g.shape[-1])
                out[:, :, i, 1] = stats.norms(b.reshape(R * T, -1)).reshape(R, T) / np.sqrt(b.shape[-1])
        out.flags.writeable = False
        return out

    def summary(self) -> TrainSummary:
        """What the restarts came to at the last record (median and spread of the test accuracy, losses,
        distinct units; diverged restarts counted and left out): :func:`summarize`."""
        return summarize(self)

    def _summary(self) -> list[tuple[str, str]]:
        """(label, text) lines for a notebook: the setup, the summary row the Training page's table shows
        (the same words and digits, :func:`initlab.training.summaries.train_table`), and each restart."""
        from initlab.training.summaries import setup_line, train_table  # same layer; summaries imports us

        ts = self.scenario
        row = train_table({ts.init: self})[0]
        acc = self.test_acc[:, -1]
        shown = ", ".join("diverged" if d else fmt(a) for a, d in zip(acc[:MAX_SHOWN_RESTARTS], self.diverged))
        more = f", … ({len(acc) - MAX_SHOWN_RESTARTS} more in .runs)" if len(acc) > MAX_SHOWN_RESTARTS else ""
        return [
            ("setup", setup_line(ts)),
            ("trained", f"{self.steps_done} of {ts.steps} steps, {self.engine} engine, {self.seconds:.2g} s"),
            ("test accuracy", f"median {row['median test accuracy']}, middle half {row['middle half of restarts']}, "
                              f"worst – best {row['worst – best']}; diverged: {row['diverged (inf/NaN loss)']}"),
            ("loss", f"median {row['median loss at step 0']} at step 0, {row['median final loss']} at step "
                     f"{self.steps_done}"),
            ("distinct units at the end", f"{row['distinct units at the end']} (median per hidden layer)"),
            ("per restart", f"test accuracy {shown}{more}"),
        ]

    _HINT = (".runs: one row per restart · .history · .summary() · initlab.plots.figure(result) draws the "
             "learning curves")

    def __repr__(self) -> str:
        # A few lines, not the dataclass's ~28000 characters of arrays.
        lines = [f"initlab TrainResult: {self.scenario.brief()}"]
        lines += [f"  {label}: {text}" for label, text in self._summary()]
        return "\n".join(lines + [f"  {self._HINT}"])

    def _repr_html_(self) -> str:
        """What Jupyter shows: the same lines as ``repr``, escaped."""
        items = "".join(f"<li><b>{html.escape(label)}</b>: {html.escape(text)}</li>" for label, text in self._summary())
        return (f"<div><b>initlab TrainResult</b>: <code>{html.escape(self.scenario.brief())}</code>"
                f"<ul style='margin:0.2em 0'>{items}</ul><small>{html.escape(self._HINT)}</small></div>")

    def decision_function(self, points: np.ndarray, restart: int, step: int) -> np.ndarray:
        """Logits s (float64) of ``points`` (m, features), given in the scaled input space of ``data``.

        Two classes: (m,), one logit; p = sigmoid(s) is the predicted probability of class 1 and the
        decision boundary is s = 0. Three or more: (m, classes), every class's logit; the prediction is
        argmax_k s_k (:meth:`predict_proba` gives the softmax).
        """
        sT = self._logits(points, restart, step)
        return (sT.T if self.scenario.softmax else sT[0]).astype(np.float64)

    def _logits(self, points: np.ndarray, restart: int, step: int) -> np.ndarray:
        """Feature-major logits (outputs, m) of the evaluated network, in theta's dtype."""
        return self._evaluate(points, restart, step)[0]

    def _evaluate(self, points: np.ndarray, restart: int, step: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """The evaluated network (a BatchNorm with its running statistics then) of ``restart`` at recorded
        ``step`` on ``points``: its logits (outputs, m) and every hidden layer's (or block's) output (m, width),
        in theta's dtype."""
        k = self._index(step)
        theta = self.theta[restart, k][None]
        ts = self.scenario
        x = np.asarray(points, dtype=self.theta.dtype)
        act = activations.get(ts.activation)
        with np.errstate(all="ignore"):
            if ts.plain_mlp:
                Ws, bs = _views(theta, ts.sizes)
                zs, hs = _forward(Ws, bs, x, act)
                return np.swapaxes(zs[-1][0], -1, -2), [h[0] for h in hs[1:]]
            state = (initial_state(ts) if self.norm_state is None else self.norm_state[restart, k][None]).copy()
            p = _Pass(ts, _net(theta, _layout(ts), state), act, _features_major(x), "eval")
        outs = [c["h"] for c in p.caches[1:]] + [p.h_last]  # each layer's or block's input is the last's output
        return p.logits[0], [o[0].T for o in outs]

    def hidden_outputs(self, points: np.ndarray, restart: int, step: int) -> list[np.ndarray]:
        """What every unit computes: one (m, width) float64 array per hidden layer for ``points`` (m, features)
        in the scaled input space of ``data``, of ``restart`` at recorded ``step``. Plain networks: h_l =
        f(z_l) of every hidden layer (with a norm: f(gamma N(z_l) + beta)); residual ones: the stem's output,
        then every block's output h_k (the stream after the block's sum, and its norm when post-norm). The
        network as it is evaluated (a BatchNorm with its running statistics at that record)."""
        return [h.astype(np.float64) for h in self._evaluate(points, restart, step)[1]]

    def predict_proba(self, points: np.ndarray, restart: int, step: int) -> np.ndarray:
        """Predicted class probabilities (m, classes) float64 of ``points`` (m, features), as scikit-learn's
        ``predict_proba``: columns (1 - p, p) with p = sigmoid(s) for two classes (sigmoid(-s) and
        sigmoid(s), each accurate near 0), softmax(s)_k = e^(s_k - max s) / sum_j e^(s_j - max s) for more.
        A point whose logits hold NaN gets NaN probabilities."""
        s = self.decision_function(points, restart, step)
        with np.errstate(all="ignore"):
            if not self.scenario.softmax:
                return np.column_stack([_SIGMOID(-s), _SIGMOID(s)])
            e = np.exp(s - np.max(s, axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

    def predictions(self, points: np.ndarray, restart: int, step: int) -> np.ndarray:
        """Predicted classes (m,) int64: s > 0 for two classes, argmax_k s_k for more; -1 for a point whose
        logits hold NaN (a diverged run predicts nothing there, as the recorded accuracies)."""
        s = self.decision_function(points, restart, step)
        if self.scenario.softmax:
            pred = np.argmax(s, axis=1)
            nan = np.isnan(s).any(axis=1)
        else:
            pred = (s > 0).astype(np.int64)
            nan = np.isnan(s)
        return np.where(nan, -1, pred).astype(np.int64)

    def confusion(self, restart: int, step: int) -> np.ndarray:
        """The confusion matrix (classes, classes) int64 of ``restart`` at recorded ``step`` on the test set:
        entry [i, j] counts the test points of true class i predicted as j (rows the truth, columns the
        prediction, as ``sklearn.metrics.confusion_matrix``); its trace over the number of test points is the
        recorded test accuracy. Points without a prediction (NaN logits) are in no column: the rows then
        sum to less than the class's count."""
        pred = self.predictions(self.data.X_test, restart, step)
        y = self.data.y_test
        C = self.scenario.classes
        ok = pred >= 0
        return np.bincount(y[ok] * C + pred[ok], minlength=C * C).reshape(C, C).astype(np.int64)

    def misclassified(self, restart: int, step: int) -> np.ndarray:
        """Indices (int64, ascending) into ``data.X_test`` of the test points ``restart`` gets wrong at recorded
        ``step`` (its prediction is not the true class, or it has none: NaN logits)."""
        pred = self.predictions(self.data.X_test, restart, step)
        return np.flatnonzero(pred != self.data.y_test).astype(np.int64)

    def hidden_preactivations(self, points: np.ndarray, restart: int, step: int) -> list[np.ndarray]:
        """What the activation f of every hidden layer of a plain network is applied to: one (m, width) array
        per hidden layer for ``points`` (m, features) in the scaled input space of ``data``, of ``restart`` at
        recorded ``step``, in the scenario's dtype. z_l = h_(l-1) W_l + b_l, or gamma N(z_l) + beta with a norm
        (a BatchNorm with its running statistics at that record); f of it is :meth:`hidden_outputs`.

        Computed by the passes the records take (``_forward``; ``_Pass`` with a norm) and kept in the network's
        dtype, so on ``data.X_train`` a unit is dead or saturated by :func:`unit_shares`' rule exactly when
        the recorded ``dead_share`` / ``saturated_share`` counted it. A residual network raises ValueError:
        its activations sit inside the blocks, not on the hidden outputs."""
        ts = self.scenario
        if ts.residual:
            raise ValueError("hidden_preactivations is for plain networks; a residual network's activations sit "
                             "inside its blocks")
        k = self._index(step)
        theta = self.theta[restart, k][None]
        x = np.asarray(points, dtype=self.theta.dtype)
        act = activations.get(ts.activation)
        with np.errstate(all="ignore"):
            if ts.plain_mlp:
                zs, _ = _forward(*_views(theta, ts.sizes), x, act)
                return [np.ascontiguousarray(z[0]) for z in zs[:-1]]
            state = (initial_state(ts) if self.norm_state is None else self.norm_state[restart, k][None]).copy()
            p = _Pass(ts, _net(theta, _layout(ts), state), act, _features_major(x), "eval")
        return [np.ascontiguousarray(c["y"][0].T) for c in p.caches]


@dataclass(frozen=True)
class TrainSummary:
    """What the restarts of one training came to (:func:`summarize`): plain numbers, None (never NaN)
    where no restart qualifies."""

    restarts: int
    diverged: int  # restarts whose training loss was inf or NaN at some record; excluded below
    acc_median: float | None  # final test accuracy over the restarts that did not diverge
    acc_q1: float | None  # its 25th percentile
    acc_q3: float | None  # its 75th percentile
    acc_min: float | None
    acc_max: float | None
    loss0_median: float | None  # loss at step 0 over the restarts where it is finite (all, diverged or not)
    loss0_nonfinite: int  # restarts whose loss is already inf or NaN at step 0 (init too large)
    loss_median: float | None  # final training loss over the restarts that did not diverge
    distinct_median: tuple[float | None, ...]  # per hidden layer: distinct units at the end, same restarts


def _percentile(values: np.ndarray, q: float = 50.0) -> float | None:
    """The ``q``-th percentile of the finite ``values`` (numpy's default linear interpolation between order
    statistics, as ``pandas.Series.quantile``), None when there are none (no "All-NaN slice" warning)."""
    v = values[np.isfinite(values)]
    return float(np.percentile(v, q)) if v.size else None


def summarize(result: TrainResult) -> TrainSummary:
    """Summarize ``result`` over its restarts at its last record, leaving out the restarts that diverged.

    A diverged restart (training loss inf or NaN at any record: :attr:`TrainResult.diverged`) has no
    meaningful final accuracy (NaN, see ``test_acc``), loss or unit count: it is counted in ``diverged``
    and left out of the accuracy, final-loss and distinct-unit statistics, which are taken over the
    others only, so that a blown-up restart neither drags the median accuracy below chance nor turns it
    into NaN. The loss at step 0 (before any update) is summarized over every restart where it is
    finite; ``loss0_nonfinite`` counts the others. Percentiles are numpy's (linear interpolation).
    Pure: no numpy warning, whatever the values.
    """
    ok = ~result.diverged
    loss0 = result.loss[:, 0]
    acc = result.test_acc[ok, -1]
    q0, q1, q2, q3, q4 = (_percentile(acc, q) for q in (0.0, 25.0, 50.0, 75.0, 100.0))
    return TrainSummary(
        restarts=int(ok.size), diverged=int((~ok).sum()), acc_median=q2, acc_q1=q1, acc_q3=q3, acc_min=q0,
        acc_max=q4, loss0_median=_percentile(loss0), loss0_nonfinite=int((~np.isfinite(loss0)).sum()),
        loss_median=_percentile(result.loss[ok, -1]),
        distinct_median=tuple(_percentile(result.distinct[ok, -1, l]) for l in range(result.distinct.shape[2])),
    )


# ---------------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------------

def _jit_module():
    from initlab.training import kernel as _train_jit

    return _train_jit


def _resolve_engine(engine: str, act: activations.Activation) -> str:
    """The engine that trains ``act``: ``auto`` is the compiled kernel where numba is installed and the
    kernel has a branch for ``act`` (its registry ``kernel_code``), else numpy (the reference). The kernel
    trains every network (plain, residual, normalised: :func:`_kernel_program`)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; received {engine!r}")
    compiled = act.kernel_code is not None
    if engine == "auto":
        return "numba" if compiled and _jit_module().AVAILABLE else "numpy"
    if engine == "numba" and not _jit_module().AVAILABLE:
        raise ValueError("engine 'numba' needs the numba package; install it or use engine='numpy'")
    if engine == "numba" and not compiled:
        raise ValueError(f"engine 'numba' has no kernel code for activation {act.name!r}; use engine='numpy' "
                         "or 'auto'")
    return engine


def _kernel_program(ts: TrainScenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network of ``ts`` as the compiled kernel's program (:class:`initlab.training.kernel.Program`,
    packed for ``run_steps``): op for op what :class:`_Pass` computes in training, on the parameters of
    :func:`_layout` (the same offsets) and the BatchNorm state of :func:`initial_state`."""
    K = _jit_module()
    lay = _layout(ts)
    code = activations.get(ts.activation).kernel_code
    kind = {"batch": K.NORM_BATCH, "layer": K.NORM_LAYER}.get(ts.norm)
    cancelled = set(ts.cancelled_biases)
    soff = np.cumsum((0, *lay.widths)) * 2  # running means and variances of norm i start at soff[i]
    prog = K.Program(inputs=ts.features)
    made = {"linear": 0, "norm": 0}  # weight layers and norms emitted so far, input side first

    def linear(h: int) -> int:
        l = made["linear"]
        made["linear"] += 1
        return prog.linear(h, lay.shapes[l][1], lay.woff[l], lay.boff[l], l in cancelled)

    def norm(x: int) -> int:
        if kind is None:
            return x
        i = made["norm"]
        made["norm"] += 1
        return prog.norm(x, kind, lay.goff[i], ts.norm_eps, soff[i] if lay.S else -1, BN_MOMENTUM)

    h = 0  # the input batch
    for _ in range(1 if ts.residual else len(ts.hidden)):  # the stem, or every plain hidden layer
        h = prog.act(norm(linear(h)), code)
    for k in range(ts.blocks):
        alpha = dict(alpha=ts.alpha(), alpha_index=lay.aoff + k if lay.alpha_learned else -1)
        if ts.norm_position == "pre":  # B(x) = f(N(x)) W + b, once or twice
            x = h
            for _ in range(ts.layers_per_block):
                x = linear(prog.act(norm(x), code))
            h = prog.add(h, x, **alpha)
        else:  # post: B(x) = f(x W1 + b1) [W2 + b2], the norm on the sum
            a = prog.act(linear(h), code)
            h = norm(prog.add(h, linear(a) if ts.layers_per_block == 2 else a, **alpha))
    prog.output(linear(h), K.OUT_SOFTMAX_CE if ts.softmax else K.OUT_SIGMOID_BCE)
    assert made == {"linear": len(lay.shapes), "norm": len(lay.widths)}
    return prog.build(ts.dtype)


def _blas_runs(ts: TrainScenario, theta: np.ndarray) -> np.ndarray:
    """(runs,) bool: True where the compiled engine trains run g by BLAS (``kernel.run_mlp_steps``): a plain
    MLP with a softmax output and a layer of ``kernel.BLAS_MIN_WEIGHTS`` weights or more (digits), whose run
    starts with no two units of a layer exactly equal (incoming weights and bias). Units made equal by the
    init (zeros, a constant) get equal updates in exact arithmetic and stay bit-identical only if every
    unit's sums are taken in one order, as the hand loops take them and gemm does not promise (different
    code for different tiles of its output); units that start different stay different, and for them the
    order of a sum is rounding only. Two-class networks keep the hand loops, and so every number they had."""
    K = _jit_module()
    fast = np.zeros(theta.shape[0], bool)
    if not (ts.softmax and ts.plain_mlp and any(fi * fo >= K.BLAS_MIN_WEIGHTS for fi, fo in ts.layer_shapes)):
        return fast
    Ws, bs = _views(theta, ts.sizes)
    fast[:] = True
    for W, b in zip(Ws, bs):  # no two units exactly equal (tolerance 0); a run that is not finite is not fast
        fast &= distinct_units(W, b, 0.0) == W.shape[-1]
    return fast


class _BatchOrder:
    """The shuffled order of the training set, per restart and epoch (mini-batch training only).

    Restart r draws one permutation of the n training points per epoch from its batch stream (the third
    of ``SeedSequence(seed + r).spawn(3)``), epochs in order, whatever the chunking (``permuted`` on a
    block of rows consumes the stream exactly like successive ``permutation(n)`` calls); update t takes
    :func:`_step_examples`. :func:`batches` lists the result for one restart.
    """

    def __init__(self, seeds: Sequence[int], n: int, batch: int, merge: bool = False) -> None:
        self.rngs = [np.random.default_rng(_run_streams(s)[2]) for s in seeds]
        self.n, self.spe = n, _steps_per_epoch(n, batch, merge)
        self.first = 0
        self.perms = np.empty((len(seeds), 0, n), dtype=np.int64)
        # Epochs held at once: at most ~2M indices (16 MB), at least 2.
        self.max_epochs = max(2, 2_000_000 // (len(seeds) * n))

    def window(self, t0: int, t1: int) -> tuple[np.ndarray, int, int]:
        """Permutations (restarts, epochs, n) for steps t0 .. t_end - 1, their first epoch, and t_end.

        ``t_end <= t1`` is where the held epochs run out; the caller continues from there.
        """
        e0 = t0 // self.spe
        e1 = min((t1 - 1) // self.spe, e0 + self.max_epochs - 1)
        have = self.first + self.perms.shape[1]
        assert e0 <= have, "steps must be asked for in order"
        keep = self.perms[:, max(e0 - self.first, 0):]
        start = max(have, e0)
        if e1 >= start:
            block = np.tile(np.arange(self.n, dtype=np.int64), (e1 + 1 - start, 1))
            new = np.stack([rng.permuted(block, axis=1) for rng in self.rngs])
            keep = np.concatenate([keep, new], axis=1) if have > e0 else new
        # Contiguous: a slice of the held epochs (steps between two records within one epoch) has another
        # layout, for which numba would compile the whole kernel again (~12 s, on a live server).
        self.perms, self.first = np.ascontiguousarray(keep), e0
        return self.perms, self.first, min(t1, (e1 + 1) * self.spe)


def _steps_per_epoch(n: int, batch: int, merge: bool = False) -> int:
    """Updates per epoch: ceil(n / batch), or n // batch when a last batch of one example is merged into the
    one before it (``TrainScenario.merge_last_batch``)."""
    return n // batch if merge else -(-n // batch)


def _step_examples(perms: np.ndarray, rows: Any, epoch0: int, t: int, spe: int, batch: int, merge: bool = False
                   ) -> np.ndarray:
    """The examples of update ``t`` from a window of :meth:`_BatchOrder.window`: slice ``t % spe`` (of
    ``batch`` examples; the last one of an epoch shorter when ``batch`` does not divide n, as Keras) of
    the permutation of epoch ``t // spe``, for the restarts ``rows``. The compiled kernel
    (``_train_jit.run_steps``) indexes the same way. With ``merge`` (a BatchNorm network whose last batch
    would hold one example: ``TrainScenario.merge_last_batch``) the last slice of an epoch runs to its end,
    ``batch + 1`` examples."""
    pos = (t % spe) * batch
    end = perms.shape[-1] if merge and t % spe == spe - 1 else pos + batch
    return perms[rows, t // spe - epoch0, pos:end]


def batches(ts: TrainScenario, restart: int) -> Iterator[np.ndarray]:
    """The training examples of every update of restart ``restart`` of ``ts``, in order (``ts.steps`` arrays
    of indices into ``make_data(ts).X_train``): the batch order initlab trains with.

    Full batch: every update takes all n examples, 0 .. n - 1. Mini-batches: one permutation of the n
    examples per epoch from the restart's batch stream (the third of ``SeedSequence(ts.seed + restart)
    .spawn(3)``), cut into ceil(n / batch) consecutive slices of ``batch`` examples, the last one shorter
    when ``batch`` does not divide n (as Keras ``fit`` with ``shuffle=True``), except that a BatchNorm
    network merges a last slice of one example into the one before it (``TrainScenario.merge_last_batch``:
    this is where that batch order is made, for the engine and for a replay). Computed by the engines'
    own code (``_BatchOrder``, ``_step_examples``), so a replay in another framework that iterates over
    this (:func:`initlab.teaching.codegen.pytorch_training_snippet`) takes exactly initlab's steps.
    """
    restart = check_restart(ts, restart)
    n, batch, merge = ts.train_examples, ts.batch, ts.merge_last_batch
    if ts.full_batch:
        for _ in range(ts.steps):
            yield np.arange(n, dtype=np.int64)
        return
    order, spe, t = _BatchOrder([ts.seed + restart], n, batch, merge), _steps_per_epoch(n, batch, merge), 0
    while t < ts.steps:
        perms, epoch0, t_end = order.window(t, ts.steps)
        for step in range(t, t_end):
            yield _step_examples(perms, 0, epoch0, step, spe, batch, merge).copy()
        t = t_end


def train_groups(scenarios: Sequence[TrainScenario]) -> list[list[int]]:
    """The scenarios (by index, in order of first appearance) that :func:`train_many` can train together:
    those that differ only in :data:`INIT_FIELDS` (a comparison of initializers is one group, one of
    architectures a group per network)."""
    groups: dict[TrainScenario, list[int]] = {}
    for i, s in enumerate(scenarios):
        groups.setdefault(s.replace(**{name: getattr(scenarios[0], name) for name in INIT_FIELDS}), []).append(i)
    return list(groups.values())


def _check_together(scenarios: Sequence[TrainScenario]) -> None:
    if not scenarios:
        raise ValueError("at least one scenario is needed")
    first = scenarios[0]
    keep = {name: getattr(first, name) for name in INIT_FIELDS}
    for i, s in enumerate(scenarios[1:], 1):
        if s.replace(**keep) != first:
            diff = [k for k, v in first.__dict__.items() if k not in INIT_FIELDS and getattr(s, k) != v]
            raise ValueError(f"scenarios trained together may differ only in {', '.join(INIT_FIELDS)}; "
                             f"scenario {i} also changes {', '.join(diff)}")


class _Trainer:
    """All runs of one or more scenarios, advanced record by record."""

    def __init__(self, scenarios: Sequence[TrainScenario], records: int | None, engine: str,
                 limits: Mapping[str, float | None] | None = None) -> None:
        _check_together(scenarios)
        if records is None:  # the scenarios' own setting (they agree: only init fields may differ)
            records = scenarios[0].records if scenarios else DEFAULT_RECORDS
        for s in scenarios:
            s.validate()
            try:
                check_train_budget(s, records, **(limits or {}))
            except BudgetError as exc:
                raise BudgetError(f"{exc} (This is the app's budget per training: outside the app, pass "
                                  "train(..., max_bytes=..., max_macs=..., max_examples=...) to raise it, or None "
                                  "to lift it.)", exc.limit) from None
        self.start = time.perf_counter()
        self.scenarios = list(scenarios)
        ts = self.ts = scenarios[0]
        self.act = activations.get(ts.activation)
        self.engine = _resolve_engine(engine, self.act)
        self.data = make_data(ts)
        R = ts.restarts
        self.seeds = ts.seed + np.arange(R, dtype=np.int64)
        self.theta = np.stack([initial_theta(s, r) for s in scenarios for r in range(R)])
        G, P = self.theta.shape
        dt = self.theta.dtype
        self.state = initial_state(ts, G)  # BatchNorm running statistics, (G, 0) without BatchNorm
        self.m1 = np.zeros((G, P), dt)
        self.m2 = np.zeros((G, P), dt)
        self.perm_row = np.tile(np.arange(R, dtype=np.int64), len(scenarios))
        self.batches = (None if ts.full_batch else
                        _BatchOrder(self.seeds.tolist(), ts.train_examples, ts.batch, ts.merge_last_batch))
        self.rec = record_steps(ts.steps, records)
        T, L = len(self.rec), len(ts.layer_shapes)
        self.out = {k: np.full((G, T), np.nan) for k in ("loss", "cost", "train_acc", "test_loss", "test_acc")}
        self.grad_norm = np.full((G, T, L), np.nan)
        self.distinct = np.full((G, T, L - 1), np.nan)
        A = activation_layers(ts)
        self.dead = np.full((G, T, A), np.nan)
        self.saturated = np.full((G, T, A), np.nan)
        self.ratio = np.full((G, T, L), np.nan)  # the update that ends at each record; none before step 0
        self.snap = np.zeros((G, T, P), dt)
        self.state_snap = np.zeros((G, T, self.state.shape[1]), dt)
        self.k = 0  # records made
        if self.engine == "numba":
            self.jit = _jit_module()
            self.XT = np.ascontiguousarray(self.data.X_train.T)
            self.yv = self.data.y_train.astype(dt)
            self.prog, self.dmap, self.fc = _kernel_program(ts)
            self.XE = _features_major(np.concatenate([self.data.X_train, self.data.X_test]))  # evaluated sets
            # The runs trained by BLAS, and the others (the hand loops of the one kernel for every network).
            fast = _blas_runs(ts, self.theta)
            self.kernels = [(rows, mlp) for rows, mlp in ((np.flatnonzero(fast), True), (np.flatnonzero(~fast), False))
                            if len(rows)]
            lay = _layout(ts)  # every weight layer's place in theta, for kernel.layer_sq_sums
            self.woffs = np.array(lay.woff, np.int64)
            self.wsizes = np.array([fi * fo for fi, fo in lay.shapes], np.int64)
            if any(mlp for _, mlp in self.kernels):  # the examples as rows (writable: one type for numba)
                self.XS, self.XES = np.array(self.data.X_train), np.array(self.data.X_test)
                self.scratch: dict[Any, Any] = {}  # the BLAS kernel's scratch, kept from call to call
                self.yvE = self.data.y_test.astype(dt)
        self._record()

    @property
    def done(self) -> bool:
        return self.k == len(self.rec)

    @property
    def step(self) -> int:
        return int(self.rec[self.k - 1])

    def _record(self) -> None:
        with np.errstate(all="ignore"):
            if self.engine == "numba" and (self.ts.softmax or not self.ts.plain_mlp):
                # The passes a record takes (a full-batch gradient, the evaluated network on the training and
                # test sets) compiled: in numpy they cost more than the training between two records. Two-class
                # plain networks keep their numpy records, and so every recorded number they had, bit for bit.
                thr = self.act.saturation_threshold
                grad, logits, counts, soft = self._evaluate(-math.inf if thr is None else thr)
                # float32 gradient norms in one compiled pass (their squares cannot overflow in float64)
                norms = np.sqrt(self._sq_sums(grad, grad)[..., 1]) if grad.dtype == np.float32 else None
                if soft is None:
                    n = len(self.data.y_train)
                    s = _logits_of(self.ts, logits)  # (G, outputs, m) -> the records' layout
                    m = _block_record(self.theta, self.data, self.ts, grad, s[:, :n], s[:, n:], grad_norm=norms)
                else:
                    m = _block_record(self.theta, self.data, self.ts, grad, None, None, tuple(soft.T), norms)
                # Units dead or saturated on the whole training set, counted by the kernel in that same pass.
                width = np.array([self.prog[o, self.jit.F_NIN] for o in range(len(self.prog))
                                  if self.prog[o, self.jit.F_OP] == self.jit.OP_ACT], np.float64)
                bad = counts[..., 2] > 0
                m.dead = np.where(bad | (not self.act.can_die), np.nan, counts[..., 0] / width)
                m.saturated = np.where(bad | (thr is None), np.nan, counts[..., 1] / width)
            else:
                m = _measure(self.theta, self.data, self.ts, self.act, self.state)
        k = self.k
        for name in self.out:
            self.out[name][:, k] = getattr(m, name)
        self.grad_norm[:, k] = m.grad_norm
        self.distinct[:, k] = m.distinct
        if m.dead is not None:
            self.dead[:, k] = m.dead
            self.saturated[:, k] = m.saturated
        self.snap[:, k] = self.theta
        self.state_snap[:, k] = self.state
        self.k += 1

    def _sq_sums(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``kernel.layer_sq_sums`` of float32 (runs, P) arrays: (runs, L, 2) float64, per weight layer the sum
        of (b - a)^2 and of a^2."""
        out = np.empty((a.shape[0], len(self.woffs), 2))
        self.jit.layer_sq_sums(a, b, self.woffs, self.wsizes, out)
        return out

    def _evaluate(self, thr: float) -> tuple[np.ndarray | None, ...]:
        """``kernel.evaluate`` of every run, by BLAS for the runs trained so (``kernel.evaluate_mlp``):
        (grads, logits, counts, soft), soft a softmax's (G, 4) loss, accuracy, test loss and test accuracy
        (None for a sigmoid), logits None for a softmax (its records are ``soft``: no (G, classes, examples)
        copy of every logit at every record)."""
        zero, n = self.theta.dtype.type(0), len(self.data.y_train)
        parts = []
        for rows, mlp in self.kernels:
            whole = len(rows) == self.theta.shape[0]
            theta = self.theta if whole else self.theta[rows]
            if mlp:
                grads, _, counts, soft = self.jit.evaluate_mlp(theta, self.XS, self.yv, self.XES, self.yvE, self.prog,
                                                               self.dmap, zero, thr, self.scratch, logits=False)
                out = (grads, None, counts, soft)
            else:
                grads, logits, counts = self.jit.evaluate(theta, self.state if whole else self.state[rows], self.XT,
                                                          self.yv, self.XE, self.prog, self.dmap, self.fc, zero, thr)
                soft = None
                if self.ts.softmax:  # compiled too: numpy's passes over every logit cost as much as the rest
                    loss = self.jit.softmax_loss_acc(logits, self.data.y_train, 0, n)
                    test = self.jit.softmax_loss_acc(logits, self.data.y_test, n, logits.shape[2])
                    soft, logits = np.stack([*loss, *test], axis=1), None
                out = (grads, logits, counts, soft)
            if whole:
                return out
            parts.append((rows, out))
        merged: list[np.ndarray | None] = []
        for i, first in enumerate(parts[0][1]):
            if first is None:  # None in every part: the same network, the same records
                merged.append(None)
                continue
            o = np.empty((self.theta.shape[0], *first.shape[1:]), first.dtype)
            for rows, arrays in parts:
                o[rows] = arrays[i]
            merged.append(o)
        return tuple(merged)

    def advance(self) -> None:
        """Train up to the next recorded step and record it, with the size of its last update (``ratio``)."""
        t, t1 = int(self.rec[self.k - 1]), int(self.rec[self.k])
        self._steps(t, t1 - 1)
        before = self.theta.copy()  # the parameters the last update before the record starts from
        self._steps(t1 - 1, t1)
        if self.engine == "numba" and self.theta.dtype == np.float32:  # update_ratio's numbers in one pass
            num, den = (np.sqrt(a) for a in np.moveaxis(self._sq_sums(before, self.theta), -1, 0))
            with np.errstate(all="ignore"):
                self.ratio[:, self.k] = np.where((den > 0) & np.isfinite(den), num / np.where(den > 0, den, 1.0),
                                                 np.nan)
        else:
            Wb, Wa = _net(before, _layout(self.ts)).Ws, _net(self.theta, _layout(self.ts)).Ws
            self.ratio[:, self.k] = np.stack([update_ratio(b, a) for b, a in zip(Wb, Wa)], axis=1)
        self._record()

    def _steps(self, t: int, t1: int) -> None:
        """Updates t .. t1 - 1 of every run."""
        ts = self.ts
        while t < t1:
            if self.batches is not None:
                perms, epoch0, t_end = self.batches.window(t, t1)
            else:
                perms, epoch0, t_end = np.zeros((1, 1, 1), dtype=np.int64), 0, t1
            if self.engine == "numba":
                for rows, mlp in self.kernels:
                    whole = len(rows) == self.theta.shape[0]  # else a copy of those runs, written back
                    theta, m1, m2, state = ((a if whole else a[rows]) for a in (self.theta, self.m1, self.m2, self.state))
                    opt = (self.jit.OPT_CODES[ts.optimizer], float(ts.lr), float(ts.momentum), ADAM_BETA1, ADAM_BETA2,
                           ADAM_EPSILON, self.theta.dtype.type(0))
                    if mlp:
                        self.jit.run_mlp_steps(theta, m1, m2, t, t_end - t, self.XS, self.yv, perms, self.perm_row[rows],
                                               epoch0, ts.batch, self.prog, self.dmap, *opt, self.scratch)
                    else:
                        self.jit.run_steps(theta, m1, m2, state, t, t_end - t, self.XT, self.yv, perms,
                                           self.perm_row[rows], epoch0, ts.batch, ts.merge_last_batch, self.prog,
                                           self.dmap, self.fc, *opt)
                    if not whole:
                        self.theta[rows], self.m1[rows], self.m2[rows], self.state[rows] = theta, m1, m2, state
            else:
                with np.errstate(all="ignore"):
                    _numpy_steps(self.theta, self.m1, self.m2, t, t_end - t, self.data.X_train, self.data.y_train,
                                 perms, self.perm_row, epoch0, ts, self.act, self.state)
            t = t_end

    def results(self, last: bool = False) -> list[TrainResult]:
        """Every scenario's :class:`TrainResult` so far: copies of the records (training goes on), or with
        ``last`` (the trainer's last use) read-only views of them (the snapshots alone are 15 MB for the
        digits benchmark: copying them cost ~1 % of its training)."""
        k, R = self.k, self.ts.restarts
        seconds = time.perf_counter() - self.start
        ro = _frozen if last else _readonly
        out = []
        for i, s in enumerate(self.scenarios):
            g = slice(i * R, (i + 1) * R)
            out.append(TrainResult(
                scenario=s, data=self.data, recorded_steps=ro(self.rec[:k]), seeds=ro(self.seeds),
                loss=ro(self.out["loss"][g, :k]), cost=ro(self.out["cost"][g, :k]),
                train_acc=ro(self.out["train_acc"][g, :k]),
                test_loss=ro(self.out["test_loss"][g, :k]), test_acc=ro(self.out["test_acc"][g, :k]),
                grad_norm=ro(self.grad_norm[g, :k]), distinct=ro(self.distinct[g, :k]),
                dead_share=ro(self.dead[g, :k]), saturated_share=ro(self.saturated[g, :k]),
                update_ratio=ro(self.ratio[g, :k]),
                theta=ro(self.snap[g, :k]), steps_done=self.step, engine=self.engine, seconds=seconds,
                norm_state=ro(self.state_snap[g, :k])))
        return out


def iter_train(scenarios: Sequence[TrainScenario], *, records: int | None = None,
               engine: str = "auto", max_bytes: float | None = MAX_TRAIN_BYTES,
               max_macs: float | None = MAX_TRAIN_MACS,
               max_examples: float | None = MAX_TRAIN_EXAMPLES) -> Iterator[list[TrainResult]]:
    """Train ``scenarios`` together, yielding the partial results after every recorded step.

    The first yield (step 0, before any update) comes as soon as the initial parameters are measured,
    then one per recorded step (about ``steps / records`` updates apart), the last one complete. Each
    yield is a list with one :class:`TrainResult` per scenario, independent of later yields. The limits
    are :func:`train_many`'s.
    """
    trainer = _Trainer(scenarios, records, engine,
                       dict(max_bytes=max_bytes, max_macs=max_macs, max_examples=max_examples))
    yield trainer.results()
    while not trainer.done:
        trainer.advance()
        yield trainer.results()


def train_many(scenarios: Sequence[TrainScenario], *, progress: Progress | None = None,
               records: int | None = None, engine: str = "auto", max_bytes: float | None = MAX_TRAIN_BYTES,
               max_macs: float | None = MAX_TRAIN_MACS,
               max_examples: float | None = MAX_TRAIN_EXAMPLES) -> list[TrainResult]:
    """Train several scenarios that differ only in their initialization, in one batched computation.

    All restarts of all scenarios are the runs of one array computation; restart r of every scenario
    uses seed ``seed + r`` (the same draws and batches, differently scaled starting points). Raises
    ``ValueError`` if the scenarios differ in anything but :data:`INIT_FIELDS`, or are invalid, and
    :class:`initlab.signal.scenario.BudgetError` if one needs more than ``max_bytes`` of memory,
    ``max_macs`` multiply-adds or ``max_examples`` examples processed
    (:func:`initlab.training.scenario.check_train_budget`). The defaults are the server's budget per
    training (250 MB, 1e10, 1.5e8); pass larger limits, or None to lift one, on a bigger machine.
    ``progress(fraction, step)`` is called after every recorded step. ``records`` (recorded steps besides
    step 0) defaults to the scenarios' ``records`` setting.
    """
    trainer = _Trainer(scenarios, records, engine,
                       dict(max_bytes=max_bytes, max_macs=max_macs, max_examples=max_examples))
    total = max(trainer.ts.steps, 1)
    if progress is not None:
        progress(0.0, 0)
    while not trainer.done:
        trainer.advance()
        if progress is not None:
            progress(trainer.step / total, trainer.step)
    return trainer.results(last=True)


def train(ts: TrainScenario, *, progress: Progress | None = None, records: int | None = None,
          engine: str = "auto", max_bytes: float | None = MAX_TRAIN_BYTES, max_macs: float | None = MAX_TRAIN_MACS,
          max_examples: float | None = MAX_TRAIN_EXAMPLES) -> TrainResult:
    """Train every restart of ``ts`` together and return what was recorded (see :class:`TrainResult`).
    The limits are :func:`train_many`'s (None lifts one)."""
    return train_many([ts], progress=progress, records=records, engine=engine, max_bytes=max_bytes,
                      max_macs=max_macs, max_examples=max_examples)[0]


def warm_up(dtypes: Sequence[str] = ("float32", "float64")) -> float:
    """Compile (or load from numba's cache) the training kernel for ``dtypes``; returns the seconds taken.

    Call it at server start so that the first page does not wait for the compiler. Every network is a
    program of the same compiled function (one signature per dtype), so one tiny residual BatchNorm network
    with a learned alpha, trained full-batch and in mini-batches (a merged last batch), compiles it all;
    a tiny digits MLP compiles the BLAS kernel of wide softmax MLPs (``kernel.run_mlp_steps``) and the
    compiled softmax records.
    """
    start = time.perf_counter()
    if _jit_module().AVAILABLE:
        for dt in dtypes:
            for batch_size in (0, 9):  # 10 examples in batches of 9: the last one (of 1) is merged
                train(TrainScenario(n_train=10, n_test=10, hidden=(2, 2), block="residual", norm="batch",
                                    residual_learned=True, steps=2, restarts=1, dtype=dt, batch_size=batch_size),
                      records=1, engine="numba")
            # A softmax MLP wide enough for BLAS (its own kernel, kernel._mlp_kernel), in mini-batches and full
            # batch, beside the same network from zeros (the hand loops, and the compiled softmax records).
            for batch_size in (0, 7):
                ts = TrainScenario(dataset="digits", classes=10, n_train=10, n_test=10, hidden=(8,), steps=2,
                                   restarts=1, dtype=dt, batch_size=batch_size)
                train_many([ts, ts.with_init("zeros")], records=1, engine="numba")
    return time.perf_counter() - start
