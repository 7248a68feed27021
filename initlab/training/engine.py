"""Train a small MLP on a toy 2-D dataset from many initial points at once, and watch what init does.

Model (layers numbered 1..L, sizes ``(2, *hidden, 1)``; Keras kernel layout (fan_in, fan_out))::

    h_0 = x                              x: (n, 2), the scenario's inputs (standardized by default)
    z_l = h_{l-1} W_l + b_l,  h_l = f(z_l)   for the hidden layers l < L (f: the activation)
    s = z_L = h_{L-1} W_L + b_L          one logit; p = sigmoid(s) is the probability of class 1

Loss: the mean binary cross-entropy over the (mini-)batch, computed from the logit without forming
``log(p)`` (which overflows to -inf for large |s|)::

    l_i = -y_i log p_i - (1 - y_i) log(1 - p_i) = softplus((1 - 2 y_i) s_i),  L = mean_i l_i
    dL/ds_i = (sigmoid(s_i) - y_i) / batch

Backward (standard backpropagation, e.g. Goodfellow et al. 2016, 6.5): with d_L = dL/ds,
``dL/dW_l = h_{l-1}^T d_l``, ``dL/db_l = sum_i d_l``, ``d_{l-1} = (d_l W_l^T) * f'(z_{l-1})``, f' taken
from the output h = f(z) where the activation allows it (``deriv_from_output``: all but gelu, swish).

Updates (Keras 3 semantics): ``sgd``  W -= lr g;  ``momentum``  v = m v - lr g, W += v;  ``adam``
m += (1 - b1)(g - m), v += (1 - b2)(g^2 - v), W -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).

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
the same steps compiled, several times faster (``benchmarks/bench_training.py``). Tests compare them.
``engine="auto"`` takes numba for every activation the kernel has a branch for (its registry
``kernel_code``) and numpy for the others, so a new activation trains from its registry entry alone.

Recorded at step 0, at ``records`` evenly spaced steps and at the last step, on the full training and
test sets: loss, accuracies, the norm of every layer's weight gradient (full training set), the number
of distinct units per hidden layer, and a snapshot of every parameter (enough to draw the decision
boundary of any run at any recorded step). Non-finite values (too-large init can overflow) are
recorded as inf/NaN and never raise; no numpy warning escapes.

Why one module of ~800 lines: data, parameters, the numpy steps, the measurements and the trainer
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
from initlab.signal.lsuv import lsuv
from initlab.signal.scenario import BudgetError
from initlab.training.scenario import (
    ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, DEFAULT_RECORDS, INIT_FIELDS, MAX_TRAIN_BYTES, MAX_TRAIN_EXAMPLES,
    MAX_TRAIN_MACS, TrainScenario, check_train_budget,
)

__all__ = [
    "ENGINES", "TrainData", "TrainResult", "TrainSummary", "batches", "check_restart", "distinct_units",
    "initial_params", "iter_train", "make_data", "naive_cost", "record_steps", "summarize", "train", "train_many",
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


@dataclass(frozen=True, eq=False)
class TrainData:
    """The arrays the network saw: ``X = (X_raw - shift) / scale`` in the scenario's dtype, y in {0, 1}."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    shift: np.ndarray  # (2,) training-set mean per feature (0 for unscaled inputs)
    scale: np.ndarray  # (2,) training-set std per feature (1 for unscaled inputs)


def make_data(ts: TrainScenario) -> TrainData:
    """The training and test sets of ``ts``, scaled as ``ts.inputs`` says (read-only arrays).

    The training set is ``datasets.make(..., seed=data_seed)``, the test set ``seed=data_seed + 1`` (modulo
    2**32), as a notebook seeding numpy with 1 for the training set and 2 for the test set would;
    ``standard`` inputs subtract the training mean and divide by the training standard deviation of
    each feature (the test set is scaled with the training statistics, as a deployed model would be).
    """
    X_tr, y_tr = datasets.make(ts.dataset, ts.n_train, ts.noise, ts.data_seed)
    X_te, y_te = datasets.make(ts.dataset, ts.n_test, ts.noise, (ts.data_seed + 1) % (datasets.MAX_SEED + 1))
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
    sizes = ts.sizes
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        w = init((fi, fo), rng_w, dtype=dt)
        b = bias_schemes.draw(ts.bias, ts.bias_value, fi, (fo,), rng_b, dt)
        out.append((w, b))
    if ts.lsuv:
        weights, _ = lsuv([w for w, _ in out], make_data(ts).X_train, ts.activation, biases=[b for _, b in out])
        out = [(w, b) for w, (_, b) in zip(weights, out)]
    return out


# ---------------------------------------------------------------------------------------------------
# Flat parameter layout shared by both engines
# ---------------------------------------------------------------------------------------------------

def _offsets(sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Start of each layer's kernel and bias in the flat parameter vector, and its length P."""
    woff, boff, o = [], [], 0
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        woff.append(o)
        boff.append(o + fi * fo)
        o += fi * fo + fo
    return np.array(woff, dtype=np.int64), np.array(boff, dtype=np.int64), o


def _views(theta: np.ndarray, sizes: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-layer views (..., fan_in, fan_out) and (..., fan_out) into a flat (..., P) array."""
    woff, boff, _ = _offsets(sizes)
    lead = theta.shape[:-1]
    Ws = [theta[..., w:b].reshape(*lead, fi, fo) for w, b, fi, fo in zip(woff, boff, sizes[:-1], sizes[1:])]
    bs = [theta[..., b:b + fo] for b, fo in zip(boff, sizes[1:])]
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
                 act: activations.Activation) -> None:
    """Advance all runs by ``nsteps`` updates in numpy; same contract as ``_train_jit.run_steps``."""
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
    F = np.concatenate([np.swapaxes(W, -1, -2), b[..., None]], axis=-1).astype(np.float64)  # (runs, units, fi+1)
    runs, units, feats = F.shape
    finite = np.isfinite(F).all(axis=(1, 2))
    F = np.where(finite[:, None, None], F, 0.0)
    scale = np.max(np.abs(F), axis=(1, 2))
    D = np.zeros((runs, units, units))
    for j in range(feats):  # max |F_k - F_j| over the features, without a (runs, units, units, feats) array
        np.maximum(D, np.abs(F[:, :, None, j] - F[:, None, :, j]), out=D)
    same = D <= (rtol * scale)[:, None, None]
    dup = np.tril(same, k=-1).any(axis=2)
    count = (units - dup.sum(axis=1)).astype(np.float64)
    count[~finite] = np.nan
    return count


@dataclass
class _Measure:
    loss: np.ndarray  # (runs,)
    cost: np.ndarray  # (runs,) as ts.cost reports it
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    grad_norm: np.ndarray  # (runs, L)
    distinct: np.ndarray  # (runs, L - 1)


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


def _measure(theta: np.ndarray, data: TrainData, ts: TrainScenario, act: activations.Activation) -> _Measure:
    sizes = ts.sizes
    Ws, bs = _views(theta, sizes)
    grad = np.empty_like(theta)
    gWs, gbs = _views(grad, sizes)
    zs, hs = _forward(Ws, bs, data.X_train, act)
    s = zs[-1][..., 0]
    loss, acc = _loss_acc(s, data.y_train)
    cost = naive_cost(s, data.y_train) if ts.cost == "naive" else loss
    d = _SIGMOID(zs[-1])
    d -= data.y_train.astype(theta.dtype)[:, None]
    d *= theta.dtype.type(1.0 / len(data.y_train))
    _backward(Ws, zs, hs, d, act, gWs, gbs)
    zt, _ = _forward(Ws, bs, data.X_test, act)
    test_loss, test_acc = _loss_acc(zt[-1][..., 0], data.y_test)
    rtol = DISTINCT_RTOL[ts.dtype]
    distinct = np.stack([distinct_units(Ws[l], bs[l], rtol) for l in range(len(Ws) - 1)], axis=1)
    return _Measure(loss, cost, acc, test_loss, test_acc, np.stack([stats.norms(g) for g in gWs], axis=1), distinct)


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` recorded for one scenario; every array is read-only (results are shared).

    Axes: ``R`` restarts, ``T`` recorded steps (``recorded_steps``), ``L`` layers (hidden + output).
    A result from :func:`iter_train` may be partial: ``steps_done < scenario.steps``, and the arrays
    hold the records made so far.
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
        Ws, _ = _views(self.theta, self.scenario.sizes)
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
        """The parameters ``[(W_1, b_1), ...]`` of ``restart`` at recorded ``step`` (copies)."""
        Ws, bs = _views(self.theta[restart, self._index(step)], self.scenario.sizes)
        return [(w.copy(), b.copy()) for w, b in zip(Ws, bs)]

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
        """Logits s (float64) of ``points`` (m, 2), given in the scaled input space of ``data``.

        p = sigmoid(s) is the predicted probability of class 1; the decision boundary is s = 0.
        """
        theta = self.theta[restart, self._index(step)][None]
        Ws, bs = _views(theta, self.scenario.sizes)
        x = np.asarray(points, dtype=self.theta.dtype)
        with np.errstate(all="ignore"):
            zs, _ = _forward(Ws, bs, x, activations.get(self.scenario.activation))
        return zs[-1][0, :, 0].astype(np.float64)


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
    kernel has a branch for ``act`` (its registry ``kernel_code``), else numpy (the reference)."""
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


class _BatchOrder:
    """The shuffled order of the training set, per restart and epoch (mini-batch training only).

    Restart r draws one permutation of the n training points per epoch from its batch stream (the third
    of ``SeedSequence(seed + r).spawn(3)``), epochs in order, whatever the chunking (``permuted`` on a
    block of rows consumes the stream exactly like successive ``permutation(n)`` calls); update t takes
    :func:`_step_examples`. :func:`batches` lists the result for one restart.
    """

    def __init__(self, seeds: Sequence[int], n: int, batch: int) -> None:
        self.rngs = [np.random.default_rng(_run_streams(s)[2]) for s in seeds]
        self.n, self.spe = n, -(-n // batch)
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
        self.perms, self.first = keep, e0
        return self.perms, self.first, min(t1, (e1 + 1) * self.spe)


def _step_examples(perms: np.ndarray, rows: Any, epoch0: int, t: int, spe: int, batch: int) -> np.ndarray:
    """The examples of update ``t`` from a window of :meth:`_BatchOrder.window`: slice ``t % spe`` (of
    ``batch`` examples; the last one of an epoch shorter when ``batch`` does not divide n, as Keras) of
    the permutation of epoch ``t // spe``, for the restarts ``rows``. The compiled kernel
    (``_train_jit.run_steps``) indexes the same way."""
    pos = (t % spe) * batch
    return perms[rows, t // spe - epoch0, pos:pos + batch]


def batches(ts: TrainScenario, restart: int) -> Iterator[np.ndarray]:
    """The training examples of every update of restart ``restart`` of ``ts``, in order (``ts.steps`` arrays
    of indices into ``make_data(ts).X_train``): the batch order initlab trains with.

    Full batch: every update takes all n examples, 0 .. n - 1. Mini-batches: one permutation of the n
    examples per epoch from the restart's batch stream (the third of ``SeedSequence(ts.seed + restart)
    .spawn(3)``), cut into ceil(n / batch) consecutive slices of ``batch`` examples, the last one shorter
    when ``batch`` does not divide n (as Keras ``fit`` with ``shuffle=True``). Computed by the engines'
    own code (``_BatchOrder``, ``_step_examples``), so a replay in another framework that iterates over
    this (:func:`initlab.teaching.codegen.pytorch_training_snippet`) takes exactly initlab's steps.
    """
    restart = check_restart(ts, restart)
    n, batch = ts.n_train, ts.batch
    if ts.full_batch:
        for _ in range(ts.steps):
            yield np.arange(n, dtype=np.int64)
        return
    order, spe, t = _BatchOrder([ts.seed + restart], n, batch), -(-n // batch), 0
    while t < ts.steps:
        perms, epoch0, t_end = order.window(t, ts.steps)
        for step in range(t, t_end):
            yield _step_examples(perms, 0, epoch0, step, spe, batch).copy()
        t = t_end


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
        self.theta = np.stack([_pack(initial_params(s, r)) for s in scenarios for r in range(R)])
        G, P = self.theta.shape
        dt = self.theta.dtype
        self.m1 = np.zeros((G, P), dt)
        self.m2 = np.zeros((G, P), dt)
        self.perm_row = np.tile(np.arange(R, dtype=np.int64), len(scenarios))
        self.batches = None if ts.full_batch else _BatchOrder(self.seeds.tolist(), ts.n_train, ts.batch)
        self.rec = record_steps(ts.steps, records)
        T, L = len(self.rec), len(ts.sizes) - 1
        self.out = {k: np.full((G, T), np.nan) for k in ("loss", "cost", "train_acc", "test_loss", "test_acc")}
        self.grad_norm = np.full((G, T, L), np.nan)
        self.distinct = np.full((G, T, L - 1), np.nan)
        self.snap = np.zeros((G, T, P), dt)
        self.k = 0  # records made
        if self.engine == "numba":
            self.jit = _jit_module()
            self.XT = np.ascontiguousarray(self.data.X_train.T)
            self.yv = self.data.y_train.astype(dt)
            self.sizes = np.array(ts.sizes, dtype=np.int64)
            self.woff, self.boff, _ = _offsets(ts.sizes)
        self._record()

    @property
    def done(self) -> bool:
        return self.k == len(self.rec)

    @property
    def step(self) -> int:
        return int(self.rec[self.k - 1])

    def _record(self) -> None:
        with np.errstate(all="ignore"):
            m = _measure(self.theta, self.data, self.ts, self.act)
        k = self.k
        for name in self.out:
            self.out[name][:, k] = getattr(m, name)
        self.grad_norm[:, k] = m.grad_norm
        self.distinct[:, k] = m.distinct
        self.snap[:, k] = self.theta
        self.k += 1

    def advance(self) -> None:
        """Train up to the next recorded step and record it."""
        t, t1 = int(self.rec[self.k - 1]), int(self.rec[self.k])
        ts = self.ts
        while t < t1:
            if self.batches is not None:
                perms, epoch0, t_end = self.batches.window(t, t1)
            else:
                perms, epoch0, t_end = np.zeros((1, 1, 1), dtype=np.int64), 0, t1
            if self.engine == "numba":
                self.jit.run_steps(self.theta, self.m1, self.m2, t, t_end - t, self.XT, self.yv, perms,
                                   self.perm_row, epoch0, ts.batch, self.sizes, self.woff, self.boff,
                                   self.act.kernel_code, self.jit.OPT_CODES[ts.optimizer],
                                   float(ts.lr), float(ts.momentum), ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON,
                                   self.theta.dtype.type(0))
            else:
                with np.errstate(all="ignore"):
                    _numpy_steps(self.theta, self.m1, self.m2, t, t_end - t, self.data.X_train, self.data.y_train,
                                 perms, self.perm_row, epoch0, ts, self.act)
            t = t_end
        self._record()

    def results(self) -> list[TrainResult]:
        k, R = self.k, self.ts.restarts
        seconds = time.perf_counter() - self.start
        out = []
        for i, s in enumerate(self.scenarios):
            g = slice(i * R, (i + 1) * R)
            out.append(TrainResult(
                scenario=s, data=self.data, recorded_steps=_readonly(self.rec[:k]), seeds=_readonly(self.seeds),
                loss=_readonly(self.out["loss"][g, :k]), cost=_readonly(self.out["cost"][g, :k]),
                train_acc=_readonly(self.out["train_acc"][g, :k]),
                test_loss=_readonly(self.out["test_loss"][g, :k]), test_acc=_readonly(self.out["test_acc"][g, :k]),
                grad_norm=_readonly(self.grad_norm[g, :k]), distinct=_readonly(self.distinct[g, :k]),
                theta=_readonly(self.snap[g, :k]), steps_done=self.step, engine=self.engine, seconds=seconds))
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
    return trainer.results()


def train(ts: TrainScenario, *, progress: Progress | None = None, records: int | None = None,
          engine: str = "auto", max_bytes: float | None = MAX_TRAIN_BYTES, max_macs: float | None = MAX_TRAIN_MACS,
          max_examples: float | None = MAX_TRAIN_EXAMPLES) -> TrainResult:
    """Train every restart of ``ts`` together and return what was recorded (see :class:`TrainResult`).
    The limits are :func:`train_many`'s (None lifts one)."""
    return train_many([ts], progress=progress, records=records, engine=engine, max_bytes=max_bytes,
                      max_macs=max_macs, max_examples=max_examples)[0]


def warm_up(dtypes: Sequence[str] = ("float32", "float64")) -> float:
    """Compile (or load from numba's cache) the training kernel for ``dtypes``; returns the seconds taken.

    Call it at server start so that the first page does not wait for the compiler.
    """
    start = time.perf_counter()
    if _jit_module().AVAILABLE:
        for dt in dtypes:
            for batch_size in (0, 8):
                train(TrainScenario(n_train=10, n_test=10, hidden=(2,), steps=2, restarts=1, dtype=dt,
                                    batch_size=batch_size), records=1, engine="numba")
    return time.perf_counter() - start
