"""The deep-signal engine: a deep MLP's forward and backward pass with per-layer statistics.

Network (layers numbered 1..depth, every layer the same width ``w``; the input has width ``w`` too)::

    h_0 = x                       x: (batch, w), drawn as the scenario's ``inputs`` say
    z_l = h_{l-1} W_l + b_l       W_l: (w, w) Keras kernel layout (fan_in, fan_out)
    h_l = f(z_l)                  f: the activation, applied after every layer including the last

Loss (per example b, averaged over the batch; see :data:`initlab.signal.scenario.LOSSES`)::

    projection: l_b = r_b . h_depth[b],            r_b ~ N(0, I)
    mse:        l_b = 1/2 ||h_depth[b] - y_b||^2,  y_b ~ N(0, I)

Backward (standard backpropagation, e.g. Goodfellow et al. 2016, 6.5)::

    g_depth = dl_b/dh_depth          (r_b, or h_depth - y_b)
    delta_l = g_l * f'(z_l)          per-example gradient dl_b/dz_l, reported as ``grad_std``
    dL/dW_l = h_{l-1}^T delta_l / batch        reported as ``weight_grad_norm`` (Frobenius)
    g_{l-1} = delta_l W_l^T

Randomness: one ``numpy.random.SeedSequence(seed)`` is split into independent streams for inputs,
targets, weights, biases and the statistics' sample, so two initializers compared on the same seed see
the very same input batch, and changing the initializer never changes the inputs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import pandas as pd

from initlab.weights import activations
from initlab.weights import biases as bias_schemes
from initlab.weights import initializers
from initlab.numerics import stats
from initlab.signal import blocks
from initlab.signal import verdict as verdicts
from initlab.signal.lsuv import LsuvReport, lsuv
from initlab.signal.scenario import MAX_BYTES, MAX_MACS, BudgetError, Scenario, check_budget

SAMPLE_SIZE = 1024  # values per layer kept for percentiles and histograms (p01 rank error ~ 0.3%)
SYMMETRY_ROWS = 8  # examples on which unit_spread (max - min across a layer's units) is averaged
# The spread across examples (``*_example_std``) is measured on the first EXAMPLE_ROWS examples of the
# first EXAMPLE_UNITS units: examples are independent draws and units are exchangeable (every weight
# column is drawn alike), so this corner is a fair sample. Copying 2 x 2048 values per layer and one
# vectorised pass at the end keep it cheap next to the matrix products, and within the memory the
# budget already reserves for per-layer samples (``scenario.estimate_bytes``).
EXAMPLE_ROWS = 64
EXAMPLE_UNITS = 32


@dataclass
class Network:
    """A built network: weights, biases, the input batch and the loss target, all of one dtype."""

    weights: list[np.ndarray]  # depth entries; with ``shared`` every entry is the same array
    biases: np.ndarray | None  # (depth, width), None for zero biases (skipped, bit-identical)
    x: np.ndarray
    target: np.ndarray  # r (projection) or y (mse)
    activation: activations.Activation
    loss: str
    lsuv: LsuvReport | None = None  # set when the scenario asks for LSUV
    arch: blocks.Arch | None = None  # residual or normalised blocks (initlab.signal.blocks); None: plain MLP


def build(s: Scenario, *, max_bytes: float | None = MAX_BYTES, max_macs: float | None = MAX_MACS) -> Network:
    """Draw the weights, biases, input batch and target of ``s`` (validated, checked against ``max_bytes``
    and ``max_macs``: see :func:`initlab.signal.scenario.check_budget`; None lifts a limit).

    With ``s.lsuv`` the weights start orthogonal (Keras ``orthogonal``, gain 1, drawn from the same
    weight stream in place of ``s.init``: the paper's pre-initialization) and :func:`initlab.signal.lsuv.lsuv`
    then rescales them on the input batch ``x`` (Mishkin & Matas 2016).
    """
    s.validate()
    check_budget(s, max_bytes=max_bytes, max_macs=max_macs)
    dtype = np.dtype(s.dtype)
    rng_x, rng_t, rng_w, rng_b = (np.random.default_rng(c) for c in np.random.SeedSequence(s.seed).spawn(4))
    shape = (s.batch, s.width)
    if s.inputs == "standard":
        x = rng_x.standard_normal(shape, dtype=dtype)
    else:
        top = 1.0 if s.inputs == "minmax" else 255.0
        x = rng_x.random(shape, dtype=dtype) * dtype.type(top)
    target = rng_t.standard_normal(shape, dtype=dtype)
    init = initializers.get("orthogonal") if s.lsuv else initializers.get(s.init, **s.init_params())
    kernel = (s.width, s.width)
    n_layers = s.depth * s.layers_per_block  # weight layers, block after block
    if s.shared:
        weights = [init(kernel, rng_w, dtype=dtype)] * n_layers
    else:
        weights = [init(kernel, rng_w, dtype=dtype) for _ in range(n_layers)]
    if s.residual and s.residual_rule == "fixup":
        # Fixup (Zhang et al. 2019, sec. 3): with L branches of m layers, the first layer of each
        # branch scaled by L^(-1/(2m-2)) (m = 2: L^(-1/2)), the last one zero.
        first = dtype.type(float(s.depth) ** -0.5)
        w0 = weights[0] * first if s.shared else None
        weights = [(w0 if s.shared else w * first) if j % 2 == 0 else np.zeros_like(w)
                   for j, w in enumerate(weights)]
    biases: np.ndarray | None = None  # zero biases are skipped (None), not added
    if not bias_schemes.is_zero(s.bias, s.bias_value):  # every layer has fan_in = width
        biases = bias_schemes.draw(s.bias, s.bias_value, s.width, (n_layers, s.width), rng_b, dtype)
    act = activations.get(s.activation)
    report = None
    if s.lsuv:
        # In place (the arrays are ours): no second copy of the weights; lsuv copies a shared matrix.
        weights, report = lsuv(weights, x, act, biases=biases, inplace=True)
    return Network(weights, biases, x, target, act, s.loss, report, None if s.plain_mlp else blocks.Arch.of(s))


def output_gradient(net: Network, h_out: np.ndarray) -> np.ndarray:
    """Per-example gradient of the loss with respect to the network output, dl_b/dh_depth."""
    return net.target if net.loss == "projection" else h_out - net.target


def loss_value(net: Network, h_out: np.ndarray) -> float:
    """The batch-mean loss L for the output ``h_out``."""
    with np.errstate(all="ignore"):
        if net.loss == "projection":
            return float(np.sum(net.target.astype(np.float64) * h_out) / h_out.shape[0])
        diff = h_out.astype(np.float64) - net.target
        return float(0.5 * np.sum(diff * diff) / h_out.shape[0])


def forward(net: Network) -> np.ndarray:
    """Plain forward pass (no statistics): the network output h_depth. Used by gradient checks."""
    h = net.x
    with np.errstate(all="ignore"):
        if net.arch is not None:
            k = net.arch.branch
            for i in range(len(net.weights) // k):
                js = range(i * k, (i + 1) * k)
                _, h, _ = blocks.forward(net.arch, net.activation, h, [net.weights[j] for j in js],
                                         [None if net.biases is None else net.biases[j] for j in js])
            return h
        for i in range(len(net.weights)):
            _, h = layer(net, i, h)
    return h


def layer(net: Network, i: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Layer ``i + 1`` (0-based ``i``) applied to ``h``: ``z = h W_i + b_i`` and ``f(z)``. The one place
    the forward pass is written (``propagate``, :func:`forward`, the Jacobian spectra use it); call it
    under ``np.errstate(all="ignore")``: overflow is recorded by the caller, not raised."""
    z = h @ net.weights[i]
    if net.biases is not None:
        z += net.biases[i]
    return z, net.activation.fn(z)


class ReadOnlyFrame(pd.DataFrame):
    """A DataFrame that refuses to be changed in place (results are cached and shared by every session).

    Its values live in read-only arrays, so ``.loc[...] = x`` raises; adding, replacing or deleting a
    column raises too. Everything derived from it (``copy()``, a slice, ``assign``...) is an ordinary,
    writable DataFrame, so readers never notice.
    """

    @property
    def _constructor(self):  # type: ignore[no-untyped-def]
        return pd.DataFrame

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("this table is shared by every session and read-only: work on a .copy()")

    __setitem__ = __delitem__ = insert = pop = _refuse  # type: ignore[assignment]


def read_only_frame(df: pd.DataFrame) -> ReadOnlyFrame:
    """``df``'s values in a :class:`ReadOnlyFrame` whose arrays cannot be written."""
    out = ReadOnlyFrame({c: np.array(df[c].to_numpy(), copy=True) for c in df.columns})
    for c in out.columns:
        arr = out[c].to_numpy()
        if isinstance(arr, np.ndarray):
            arr.setflags(write=False)
    for blk in out._mgr.blocks:  # the arrays the frame really holds (pandas may have consolidated them)
        values = getattr(blk, "values", None)
        if isinstance(values, np.ndarray):
            values.setflags(write=False)
    return out


def _freeze(value: object) -> None:
    """Make the arrays inside a result read-only, recursively through dataclasses and lists."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _freeze(v)
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, Scenario):
        for name in value.__dataclass_fields__:
            _freeze(getattr(value, name))


@dataclass(frozen=True)
class Result:
    """What :func:`propagate` measured. ``layers`` has one row per layer, numbered 1..depth.

    Results are cached and shared by every session of a server, so they are read-only: the dataclass
    is frozen, its arrays cannot be written and ``layers`` is a :class:`ReadOnlyFrame`.
    """

    scenario: Scenario
    layers: pd.DataFrame
    hist_pre: stats.Histograms
    hist_act: stats.Histograms
    samples_pre: np.ndarray  # (depth, k) values sampled from z_l at fixed positions
    samples_act: np.ndarray  # (depth, k) values sampled from h_l at the same positions
    input: stats.Moments
    loss: float
    first_nonfinite_layer: int | None  # first layer whose z or h holds inf/NaN
    first_nonfinite_grad_layer: int | None  # first layer (from the top) whose gradient holds inf/NaN
    weight_grads: list[np.ndarray] | None = field(default=None, repr=False)  # only with keep_grads
    deltas: list[np.ndarray] | None = field(default=None, repr=False)
    lsuv: LsuvReport | None = None  # the LSUV stage's per-layer report, when the scenario used it
    # What layer 1's pre-activations z_1 = x W_1 + b_1 are made of (all values of W_1 and of b_1; b_1
    # all 0 without biases): lets a verdict tell large weights, off-centre weights, large biases and
    # unscaled inputs apart (see initlab.signal.verdict.first_layer).
    first_weights: stats.Moments = stats.Moments(0.0, 0.0, 0.0, 0.0, 0.0)
    first_bias: stats.Moments = stats.Moments(0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if not isinstance(self.layers, ReadOnlyFrame):
            object.__setattr__(self, "layers", read_only_frame(self.layers))
        for name in self.__dataclass_fields__:
            if name not in ("layers", "scenario"):
                _freeze(getattr(self, name))

    def verdict(self, which: Literal["act", "pre"] = "act") -> verdicts.Verdict:
        """Does the forward signal keep its scale from layer 1 to the top? The Signal page's verdict on
        the activations (``which="pre"``: the pre-activations); see :func:`initlab.signal.verdict.signal_verdict`."""
        return verdicts.signal_verdict(self, which)

    def gradient_verdict(self) -> verdicts.Verdict:
        """Is the gradient usable at the bottom of the network? The Gradients page's verdict; see
        :func:`initlab.signal.verdict.gradient_verdict`."""
        return verdicts.gradient_verdict(self)

    def _summary(self) -> list[tuple[str, str]]:
        """(label, text) lines: what a notebook shows for this result instead of every array in it."""
        sv, gv = self.verdict(), self.gradient_verdict()
        bad, bad_grad = self.first_nonfinite_layer, self.first_nonfinite_grad_layer
        where = ([f"activations from layer {bad}"] if bad is not None else []) + (
            [f"gradients from layer {bad_grad} down"] if bad_grad is not None else [])
        return [("signal", f"{sv.kind}: {sv.headline}"), ("gradients", f"{gv.kind}: {gv.headline}"),
                ("inf/NaN", ", ".join(where) or f"none: every value of the {len(self.layers)} layers is finite")]

    _HINT = ".layers: one row per layer · .verdict() · .gradient_verdict() · initlab.plots.figure(result) draws it"

    def __repr__(self) -> str:
        # A few lines, not the dataclass's ~9000 characters of arrays and table.
        lines = [f"initlab Result: {self.scenario.brief()}"]
        lines += [f"  {label}: {text}" for label, text in self._summary()]
        return "\n".join(lines + [f"  {self._HINT}"])

    def _repr_html_(self) -> str:
        """What Jupyter shows: the same lines as ``repr``, escaped."""
        items = "".join(f"<li><b>{html.escape(label)}</b>: {html.escape(text)}</li>" for label, text in self._summary())
        return (f"<div><b>initlab Result</b>: <code>{html.escape(self.scenario.brief())}</code>"
                f"<ul style='margin:0.2em 0'>{items}</ul><small>{html.escape(self._HINT)}</small></div>")


def propagate(s: Scenario, *, keep_grads: bool = False, max_bytes: float | None = MAX_BYTES,
              max_macs: float | None = MAX_MACS) -> Result:
    """Run the scenario's network forward and backward and measure every layer.

    Raises ``ValueError`` for an invalid scenario and :class:`initlab.signal.scenario.BudgetError` for one
    that would need more than ``max_bytes`` of memory (an upper bound of the peak,
    :func:`~initlab.signal.scenario.estimate_bytes`) or ``max_macs`` multiply-adds per pass
    (depth x batch x width², :func:`~initlab.signal.scenario.estimate_macs`). The defaults are the
    server's budget (950 MB, 2e10), so that a notebook and the app agree on what runs; on a bigger
    machine pass larger limits, or None to lift one (``propagate(s, max_bytes=None, max_macs=None)``).
    Never lets a numpy warning out. With ``keep_grads`` the per-layer dL/dW and per-example dl/dz arrays
    are returned too (for gradient checks; they cost memory).
    """
    try:
        net = build(s, max_bytes=max_bytes, max_macs=max_macs)
    except BudgetError as exc:
        raise BudgetError(f"{exc} (This is the app's budget per request: outside the app, pass "
                          "propagate(..., max_bytes=..., max_macs=...) to raise it, or None to lift it.)",
                          exc.limit) from None
    return run(net, s, keep_grads=keep_grads)


class _Recorder:
    """The per-layer statistics of one pass, layer by layer (rows 1..depth): one home for both engines,
    the plain MLP's (:func:`run`) and the blocks' (:func:`_run_blocks`)."""

    def __init__(self, net: Network, s: Scenario, depth: int) -> None:
        batch, width = net.x.shape
        self.net, self.s, self.depth = net, s, depth
        self.n = n = batch * width
        rng_s = np.random.default_rng(np.random.SeedSequence(s.seed).spawn(5)[4])
        k = min(SAMPLE_SIZE, n)
        # Fixed random positions (not a stride, which could alias with the width and see few units).
        self.pos = _positions(rng_s, n, k)
        self.sym_rows = min(SYMMETRY_ROWS, batch)
        self.pre_m: list[stats.Moments] = []
        self.act_m: list[stats.Moments] = []
        self.frac_sat = np.zeros(depth)
        self.frac_dead = np.zeros(depth)
        self.frac_dead_units = np.zeros(depth)
        self.unit_spread = np.zeros(depth)
        self.samp_pre = np.empty((depth, k), dtype=net.x.dtype)
        self.samp_act = np.empty((depth, k), dtype=net.x.dtype)
        self.ex_rows, self.ex_units = min(EXAMPLE_ROWS, batch), min(EXAMPLE_UNITS, width)
        self.ex_pre = np.empty((depth, self.ex_rows, self.ex_units), dtype=net.x.dtype)
        self.ex_act = np.empty((depth, self.ex_rows, self.ex_units), dtype=net.x.dtype)
        self.weight_norm = np.empty(depth)
        self.first_bad: int | None = None
        self.grad_m: list[stats.Moments] = [stats.Moments(0, 0, 0, 0, 0)] * depth
        self.wgrad_norm = np.empty(depth)
        self.first_bad_grad: int | None = None

    def forward(self, i: int, z: np.ndarray, h: np.ndarray, weight_norm: float) -> None:
        """Row ``i + 1``: ``z`` the input of its (last) activation, ``h`` its output."""
        mz, mh = stats.moments(z), stats.moments(h)
        self.pre_m.append(mz)
        self.act_m.append(mh)
        if self.first_bad is None and (mz.frac_nonfinite > 0 or mh.frac_nonfinite > 0):
            self.first_bad = i + 1
        zf, hf = z.reshape(-1), h.reshape(-1)
        self.samp_pre[i] = zf[self.pos]
        self.samp_act[i] = hf[self.pos]
        self.ex_pre[i] = z[:self.ex_rows, :self.ex_units]
        self.ex_act[i] = h[:self.ex_rows, :self.ex_units]
        top = h[:self.sym_rows]
        # With one unit there is no symmetry to break: NaN, not a misleading 0.
        self.unit_spread[i] = float(np.mean(top.max(axis=1) - top.min(axis=1))) if h.shape[1] > 1 else np.nan
        self.weight_norm[i] = weight_norm

    def backward(self, i: int, d: np.ndarray, f_of_pre: Callable[[], np.ndarray], delta: np.ndarray,
                 weight_grad_norm: float) -> None:
        """Row ``i + 1``'s backward statistics: ``d`` = f' at its pre-activations, ``f_of_pre()`` the
        activation's output there (asked only for activations that can die), ``delta`` the reported gradient."""
        act, n = self.net.activation, self.n
        # Saturation and death are read off f'(z), which the backward pass needs anyway.
        if act.saturation_threshold is not None:
            self.frac_sat[i] = np.count_nonzero(d < act.saturation_threshold) / n
        if act.can_die:
            off = (d == 0) & (f_of_pre() == 0)
            self.frac_dead[i] = np.count_nonzero(off) / n
            self.frac_dead_units[i] = np.count_nonzero(off.all(axis=0)) / d.shape[1]
        self.grad_m[i] = stats.moments(delta)
        self.wgrad_norm[i] = weight_grad_norm
        if self.grad_m[i].frac_nonfinite > 0 and self.first_bad_grad is None:
            self.first_bad_grad = i + 1  # the backward pass runs top-down: the first seen is the topmost

    def result(self, loss: float, wgrads: list[np.ndarray] | None, deltas: list[np.ndarray] | None) -> Result:
        net, s, depth = self.net, self.s, self.depth
        with np.errstate(all="ignore"):
            # Percentiles and histograms of all layers at once, on the samples (one vectorised pass).
            pct_pre = stats.sample_percentiles(self.samp_pre)
            pct_act = stats.sample_percentiles(self.samp_act)
            wn = self.weight_norm
            ratio = np.where(wn > 0, self.wgrad_norm / np.where(wn > 0, wn, 1.0), np.nan)
        cols: dict[str, np.ndarray] = {"layer": np.arange(1, depth + 1)}
        cols.update(stats.moments_columns(self.act_m, "act"))
        cols.update(stats.moments_columns(self.pre_m, "pre"))
        for j, q in enumerate(stats.PERCENTILES):
            cols[f"act_p{q:02.0f}"] = pct_act[:, j]
        for j, q in enumerate(stats.PERCENTILES):
            cols[f"pre_p{q:02.0f}"] = pct_pre[:, j]
        cols["frac_nonfinite"] = np.maximum(cols["act_nonfinite"], cols["pre_nonfinite"])
        cols["frac_saturated"] = self.frac_sat
        cols["frac_dead"] = self.frac_dead
        cols["frac_dead_units"] = self.frac_dead_units
        cols["unit_spread"] = self.unit_spread
        cols["act_example_std"] = stats.example_std(self.ex_act)
        cols["pre_example_std"] = stats.example_std(self.ex_pre)
        gcols = stats.moments_columns(self.grad_m, "grad")
        cols["grad_mean"] = gcols["grad_mean"]
        cols["grad_std"] = gcols["grad_std"]
        cols["grad_nonfinite"] = gcols["grad_nonfinite"]
        cols["weight_norm"] = wn
        cols["weight_grad_norm"] = self.wgrad_norm
        cols["grad_ratio"] = ratio
        return Result(
            scenario=s,
            layers=pd.DataFrame(cols),
            hist_pre=stats.histograms(self.samp_pre),
            hist_act=stats.histograms(self.samp_act),
            samples_pre=self.samp_pre,
            samples_act=self.samp_act,
            input=stats.moments(net.x),
            loss=loss,
            first_nonfinite_layer=self.first_bad,
            first_nonfinite_grad_layer=self.first_bad_grad,
            weight_grads=wgrads,
            deltas=deltas,
            lsuv=net.lsuv,
            first_weights=stats.moments(net.weights[0]),
            first_bias=(stats.moments(net.biases[0]) if net.biases is not None
                        else stats.Moments(0.0, 0.0, 0.0, 0.0, 0.0)),
        )


def run(net: Network, s: Scenario, *, keep_grads: bool = False) -> Result:
    """Forward + backward pass over a built network, recording the per-layer statistics."""
    if net.arch is not None:
        return _run_blocks(net, s, keep_grads)
    act = net.activation
    depth = len(net.weights)
    rec = _Recorder(net, s, depth)
    store_output = act.deriv_from_output is not None  # else keep z and recompute h in the backward pass
    kept: list[np.ndarray] = []  # h_l (or z_l) for l = 1..depth

    with np.errstate(all="ignore"):
        h = net.x
        for i, w in enumerate(net.weights):
            z, h = layer(net, i, h)
            rec.forward(i, z, h, stats.norm(w))
            kept.append(h if store_output else z)
        loss, g, inv_batch = _top(net, h)
        wgrads: list[np.ndarray] = []
        deltas: list[np.ndarray] = []
        for i in range(depth - 1, -1, -1):
            if store_output:
                d = act.deriv_from_output(kept[i])
                h_prev = kept[i - 1] if i > 0 else net.x
            else:
                d = act.deriv(kept[i])
                h_prev = act.fn(kept[i - 1]) if i > 0 else net.x
            out = kept[i]
            delta = g * d
            dw = h_prev.T @ delta
            dw *= inv_batch
            rec.backward(i, d, (lambda: out) if store_output else (lambda: act.fn(out)), delta, stats.norm(dw))
            if keep_grads:
                wgrads.append(dw)
                deltas.append(delta)
            if i > 0:
                g = delta @ net.weights[i].T
            kept[i] = None  # type: ignore[call-overload]  # free memory as we go down
    return rec.result(loss, wgrads[::-1] if keep_grads else None, deltas[::-1] if keep_grads else None)


def _run_blocks(net: Network, s: Scenario, keep_grads: bool) -> Result:
    """:func:`run` for residual or normalised networks (:mod:`initlab.signal.blocks`): one row per block;
    its weight norms are over all the block's weight layers."""
    act, arch = net.activation, net.arch
    assert arch is not None
    k = arch.branch
    depth = len(net.weights) // k
    rec = _Recorder(net, s, depth)
    caches: list[blocks.BlockCache | None] = []

    def layers_of(i: int) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        idx = range(i * k, (i + 1) * k)
        return [net.weights[j] for j in idx], [None if net.biases is None else net.biases[j] for j in idx]

    with np.errstate(all="ignore"):
        h = net.x
        for i in range(depth):
            ws, bs = layers_of(i)
            pre, h, cache = blocks.forward(arch, act, h, ws, bs)
            rec.forward(i, pre, h, _combined([stats.norm(w) for w in ws]))
            caches.append(cache)
        loss, g, inv_batch = _top(net, h)
        wgrads: list[np.ndarray] = []
        deltas: list[np.ndarray] = []
        for i in range(depth - 1, -1, -1):
            ws, _ = layers_of(i)
            cache = caches[i]
            assert cache is not None
            h_in = caches[i - 1].out if i > 0 else net.x  # type: ignore[union-attr]
            g_in, d, delta, dws = blocks.backward(arch, act, g, h_in, cache, ws)
            for dw in dws:
                dw *= inv_batch
            pre = cache.us[-1]
            rec.backward(i, d, lambda: act.fn(pre), delta, _combined([stats.norm(dw) for dw in dws]))
            if keep_grads:
                wgrads.extend(dws[::-1])
                deltas.append(delta)
            g = g_in
            caches[i] = None  # free memory as we go down
    return rec.result(loss, wgrads[::-1] if keep_grads else None, deltas[::-1] if keep_grads else None)


def _top(net: Network, h_out: np.ndarray) -> tuple[float, np.ndarray, np.floating]:
    """Where the backward pass starts: the loss, dl_b/dh_out per example, and 1 / batch in the dtype."""
    return loss_value(net, h_out), output_gradient(net, h_out), net.x.dtype.type(1.0 / net.x.shape[0])


def _combined(norms: list[float]) -> float:
    """The Frobenius norm of several matrices from theirs (overflow-safe: hypot)."""
    out = 0.0
    for x in norms:
        out = float(np.hypot(out, x))
    return out


def _positions(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` distinct sorted positions out of ``n``, uniformly at random (all of them if k >= n).

    Rejection of duplicates among uniform integers: cheaper than ``rng.choice(replace=False)``, which
    costs about as much as 30 layers' statistics when n is large.
    """
    if k >= n:
        return np.arange(n)
    pos = np.unique(rng.integers(0, n, size=k))
    while pos.size < k:
        pos = np.unique(np.concatenate([pos, rng.integers(0, n, size=k - pos.size)]))
    return pos
