"""Plain-language verdicts on a :func:`initlab.propagate` result: is the signal / gradient healthy?

Both verdicts read the per-layer table ``Result.layers`` (one row per layer, ``layer`` = 1..depth) and
judge two numbers (``v`` = the std of the signal, or of the gradient, in each layer)::

    ratio = v[depth] / v[1]    signal: what the top sees     (the forward pass runs bottom -> top)
            v[1] / v[depth]    gradient: what the bottom gets (the backward pass runs top -> bottom)
    rate  = the factor one layer applies, on average over the upper half, layers h = ceil(depth/2)
            to depth:  (v[depth] / v[h]) ** (1 / (depth - h))  (gradient: (v[h] / v[depth]) ** ...)

**Total change.** Three orders of magnitude between the ends (``RATIO_LIMIT`` = 1e3): a learning
rate tuned for the top layer is then 1000x off for the bottom one, which no single step size serves
(Glorot & Bengio 2010 ask for equal variances across layers for this reason).

**Rate per layer.** A deep stack multiplies the scale by about the same factor in every layer (one
more random matrix each: e.g. x sqrt(width) * stddev for a linear layer), so a rate far from 1 means
the stack is vanishing or exploding whatever its depth: a shallow stack only has not had the layers
to show it yet. The rate limit is derived from the 1e3 rule: ``RATE_LIMIT`` = 1e3 ** (1/30) = 1.259,
the rate that reaches 1000x within 30 layers. Below x0.794 or above x1.259 per layer is vanishing /
exploding. He + ReLU (about x0.97 per layer at width 256, the finite-width drift) and Xavier + tanh
(x0.977 over 100 layers, its slow algebraic decay) are inside.
The rate is read over the upper half because the first layers are transients, not the rate the
stack keeps: tanh's first layers shrink x0.63-x0.84 on their way to its slow algebraic decay (1/sqrt(l),
mean field), unscaled inputs inflate layer 1 alone. It only decides once it has compounded into a
real change, a factor of at least ``RATE_MIN_CHANGE`` = 10 (one decade) between the ends: over
2-10 layers a rate near the limit changes the scale by less than that and is not yet worth a warning
(Xavier + tanh over 3 layers: x0.77 per layer, a factor 0.65 in all).

So: **vanishing** if ratio < 1e-3, or ratio < 1/10 and rate < 1/1.259; **exploding** likewise
upwards; otherwise **healthy**. Overflow, dead networks and (signal only) outputs that no longer depend
on the input are checked first, and the details name causes: saturation (with
:class:`FirstLayer`, whether the weights are too large, not centred on 0, the biases large or the
inputs unscaled), dead ReLUs, broken symmetry.

Only numpy, pandas and the standard library are imported.

Why one module of ~600 lines: the signal and gradient verdicts share their rules, limits and sentence
builders (the factor and rate sentences, the rounding floor), and the limits above are derived once for
both; split, each half would import the other's private helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

# fmt is the house number format (initlab.numerics.format); it stays importable from here, where the
# pages and tests have always found it.
from initlab.numerics.format import fmt, pct

if TYPE_CHECKING:  # for the annotation only: at run time the verdicts read tables and plain numbers
    from initlab.signal.network import Result

__all__ = ["EXAMPLE_SPREAD_LIMIT", "KINDS", "RATE_LIMIT", "RATE_MIN_CHANGE", "RATIO_LIMIT", "ROUNDING_FLOOR",
           "SATURATION_LIMIT", "relative",
           "FirstLayer", "Verdict", "first_layer", "fmt", "gradient_verdict", "signal_verdict"]

Kind = Literal["vanishing", "exploding", "healthy", "overflow", "dead"]
KINDS: tuple[str, ...] = ("vanishing", "exploding", "healthy", "overflow", "dead")

# Three orders of magnitude between the ends of the network (see the module docstring).
RATIO_LIMIT = 1e3
# The per-layer rate that reaches RATIO_LIMIT within 30 layers: 1e3 ** (1/30) = 1.2589.
RATE_LAYERS = 30
RATE_LIMIT = RATIO_LIMIT ** (1.0 / RATE_LAYERS)
# A rate decides only once the ends differ by at least one decade.
RATE_MIN_CHANGE = 10.0
# More than half of the last layer's units on a flat part of the activation (f' < 10% of its peak):
# most of the output gradient is then multiplied by almost nothing before it enters the network.
SATURATION_LIMIT = 0.5
# Share of never-firing ReLU units in one layer worth mentioning (a few percent is normal noise).
DEAD_UNITS_LIMIT = 0.1
# Spread across the examples below 1% of a layer's std: 99.99% of its variance is a pattern over the
# units that is the same for every input, so the layer's outputs no longer carry the input.
EXAMPLE_SPREAD_LIMIT = 0.01


@dataclass(frozen=True)
class Verdict:
    """One verdict: ``kind`` (one of :data:`KINDS`), a one-sentence ``headline`` and the ``details``
    (sentences carrying the numbers that justify it)."""

    kind: Kind
    headline: str
    details: tuple[str, ...]


def _table(layers: pd.DataFrame, need: tuple[str, ...]) -> pd.DataFrame:
    """The rows sorted by layer, with the required columns checked (ValueError naming what is missing)."""
    missing = [c for c in need if c not in layers.columns]
    if missing:
        raise ValueError(f"layers table lacks column(s) {missing}; has {list(layers.columns)}")
    if len(layers) == 0:
        raise ValueError("layers table is empty: a verdict needs at least one layer")
    return layers.sort_values("layer").reset_index(drop=True)


def _col(t: pd.DataFrame, name: str, fill: float = 0.0) -> np.ndarray:
    """Column ``name`` as float64, or ``fill`` everywhere when the table does not carry it."""
    if name not in t.columns:
        return np.full(len(t), fill)
    return t[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _per_layer(x: float) -> str:
    """A factor per layer, ``"x0.977 per layer"``, with a 4th digit where 3 would print ``x1``
    (``"x1.005 per layer"``); where even 4 would (|x - 1| < 0.05%), the power of ten the change stays
    below: ``"less than 1e-4% per layer"``."""
    if fmt(x) != "1":
        return f"x{fmt(x)} per layer"
    four = f"{x:.4g}"
    if four != "1":
        return f"x{four} per layer"
    p = abs(x - 1) * 100
    if p == 0:
        return "no change per layer"
    bound = min(10.0 ** (math.floor(math.log10(p)) + 1), 0.05)  # > p: floor + 1, never equal
    return f"less than {fmt(bound)}% per layer"


def _factor_sentence(what: str, start: float, l_start: int, end: float, l_end: int) -> str:
    """``"<what> falls from A at layer i to B at layer j: a factor R, i.e. xg per layer"``.

    Never compares a number with itself: when A and B print alike (3 significant digits) it says
    ``"<what> stays at A from layer i to layer j"``, and with one layer ``"<what> is A at layer i"``.
    """
    steps = abs(l_end - l_start)
    if steps == 0:
        return f"{what} is {fmt(start)} at layer {l_start}."
    if fmt(start) == fmt(end):
        return f"{what} stays at {fmt(start)} from layer {l_start} to layer {l_end}."
    with np.errstate(all="ignore"):  # start may be 0: no warning on the server console
        ratio = end / start
    verb = "falls from" if ratio < 1 else "grows from"
    s = f"{what} {verb} {fmt(start)} at layer {l_start} to {fmt(end)} at layer {l_end}"
    if not (math.isfinite(ratio) and ratio > 0):
        return s + "."
    if fmt(ratio) == "1":  # 0.999 -> 1 (a normalised layer): "a factor 1" would compare 1 with itself
        return s + ", a change of less than 0.5% in all."  # fmt prints 1 for ratios in [0.9995, 1.005)
    per = ratio ** (1.0 / steps)
    return s + f": a factor {fmt(ratio)}, i.e. {_per_layer(per)} on average."


def _upper(depth: int) -> int:
    """0-based index of layer ceil(depth / 2), where the upper half starts."""
    return (depth - 1) // 2


def _rate(v: np.ndarray, backward: bool) -> float:
    """Mean factor per layer over the upper half (see the module docstring); NaN for one layer or a 0 std."""
    h = _upper(len(v))
    steps = len(v) - 1 - h
    if steps < 1 or not (v[h] > 0 and v[-1] > 0):
        return math.nan
    r = v[h] / v[-1] if backward else v[-1] / v[h]
    return float(r ** (1.0 / steps))


def _judge(ratio: float, rate: float) -> Literal["vanishing", "exploding", "healthy"]:
    """The kind for a total ``ratio`` and an upper-half ``rate`` (rules in the module docstring)."""
    if ratio < 1 / RATIO_LIMIT or (ratio < 1 / RATE_MIN_CHANGE and rate < 1 / RATE_LIMIT):
        return "vanishing"
    if ratio > RATIO_LIMIT or (ratio > RATE_MIN_CHANGE and rate > RATE_LIMIT):
        return "exploding"
    return "healthy"


def _by_rate(ratio: float) -> bool:
    """True when the total ratio alone is within RATIO_LIMIT, i.e. the rate decided."""
    return 1 / RATIO_LIMIT <= ratio <= RATIO_LIMIT


def _thousand_every(rate: float) -> str:
    """How many layers a rate takes to change the scale 1000-fold, e.g. ``"12"``."""
    return f"{math.log(RATIO_LIMIT) / abs(math.log(rate)):.0f}"


def _rate_sentence(what: str, rate: float, depth: int, backward: bool) -> str:
    """``"In the upper half (from layer 5 to layer 10) <what> shrinks x0.57 per layer on average."``"""
    h = _upper(depth) + 1
    span = f"going down from layer {depth} to layer {h}" if backward else f"from layer {h} to layer {depth}"
    verb = "shrinks" if rate < 1 else "grows"
    per = _per_layer(rate)
    if per.startswith("no change"):
        return f"In the upper half ({span}) {what} does not change at all."
    if not per.startswith("x"):
        return f"In the upper half ({span}) {what} changes by {per} on average."
    return f"In the upper half ({span}) {what} {verb} {per} on average."


def _deeper_sentence(rate: float, ratio: float, depth: int) -> str | None:
    """When the rate is beyond the limit but has not yet compounded into a decade: what more layers
    would do, and what these did (so that a healthy verdict never hides an unhealthy rate)."""
    if not (math.isfinite(rate) and (rate < 1 / RATE_LIMIT or rate > RATE_LIMIT)):
        return None
    what = "vanish" if rate < 1 else "explode"
    return (f"At {_per_layer(rate)} a deeper stack would {what} (1000-fold every {_thousand_every(rate)} "
            f"layers); over these {depth} layers the change is a factor {fmt(ratio)}.")


def gradient_verdict(layers: pd.DataFrame | Result) -> Verdict:
    """Is the backward signal usable at the bottom of the network?

    Rule, in order (``g`` = ``grad_std``, the std of dl/dz_l; ``depth`` = number of rows):

    1. **overflow**: some layer's gradient is inf/NaN (``grad_nonfinite > 0`` or a non-finite
       ``grad_std`` / ``weight_grad_norm``).
    2. **dead**: every layer below the top has exactly zero gradient (``grad_std == 0`` and
       ``weight_grad_norm == 0``); the zero-init symmetry case, where only the top layer learns
       (or, with depth 1 or a zero top gradient too, nothing does). Also **dead**: every weight gradient
       is exactly 0 while the gradient itself is not (residual branches scaled by alpha = 0).
    3. ratio = g[1] / g[depth] and the upper-half rate going down (module docstring):
       **vanishing** if ratio < 1e-3 (including exactly 0, i.e. float underflow) or ratio < 0.1 with
       a rate below x0.794 per layer, **exploding** if ratio > 1e3 or ratio > 10 with a rate above
       x1.259, **healthy** otherwise (and always for depth 1).

    The details also mention a first layer more than half saturated (its units pass almost nothing
    on to their weights). ``layers`` needs the columns ``layer``, ``grad_std`` and
    ``weight_grad_norm``; ``grad_nonfinite`` and ``frac_saturated`` are used when present. A
    :class:`~initlab.signal.network.Result` stands for its ``layers``. Raises ``ValueError`` for an empty
    table or a missing column.
    """
    if not isinstance(layers, pd.DataFrame):  # a Result: what a notebook holds
        layers = layers.layers
    t = _table(layers, ("layer", "grad_std", "weight_grad_norm"))
    depth = len(t)
    lay = t["layer"].to_numpy()
    g = _col(t, "grad_std")
    wg = _col(t, "weight_grad_norm")
    sat = _col(t, "frac_saturated")
    bad = (_col(t, "grad_nonfinite") > 0) | ~np.isfinite(g) | ~np.isfinite(wg)
    n_wzero = int(np.count_nonzero(wg == 0))

    if bad.any():
        top_bad = int(lay[np.flatnonzero(bad)[-1]])  # the backward pass meets the topmost one first
        # The headline says where; the details add how many layers and why (not the headline again).
        details = [f"{int(bad.sum())} of the {depth} layers get an inf/NaN gradient"
                   + (" (some layers below still get a finite one)." if int(bad.sum()) < top_bad else ".")]
        if "frac_nonfinite" in t.columns and (_col(t, "frac_nonfinite") > 0).any():
            first = int(lay[np.flatnonzero(_col(t, "frac_nonfinite") > 0)[0]])
            details.append(f"The forward pass had already overflowed at layer {first}, so the loss and "
                           "everything computed from it are inf or NaN.")
        ok = np.flatnonzero(~bad & (g > 0))
        if ok.size >= 2:
            details.append(_factor_sentence("Where it is still finite, grad std", g[ok[-1]], int(lay[ok[-1]]),
                                            g[ok[0]], int(lay[ok[0]])))
        return Verdict("overflow", f"The gradient overflowed: from layer {top_bad} down it is inf or NaN, so "
                                   "a training step would write NaN into the weights.", tuple(details))

    below_zero = depth >= 2 and bool((g[:-1] == 0).all() and (wg[:-1] == 0).all())
    if below_zero or (depth == 1 and g[0] == 0 and wg[0] == 0):
        if g[-1] == 0 and wg[-1] == 0:
            head = "No gradient at all: every layer, the top one included, gets exactly 0, so nothing can learn."
            details = [f"grad std and weight gradient are exactly 0 in all {depth} layers."]
        else:
            head = (f"Only the top layer gets a gradient (weight gradient norm {fmt(wg[-1])}); the "
                    f"{depth - 1} layers below get exactly 0 and cannot learn.")
            details = [f"grad std is {fmt(g[-1])} at layer {int(lay[-1])} and exactly 0 in every layer below it.",
                       "Zero weights send zero back to the layers below, whatever the loss says."]
        return Verdict("dead", head, tuple(details))
    if n_wzero == depth and (g > 0).all():
        # The backward signal reaches the layers (an identity path carries it) but no weight gets any of it.
        head = (f"No weight gets a gradient: ‖∂L/∂W‖ is exactly 0 in all {depth} layers, although the gradient "
                f"itself reaches every layer (grad std {fmt(g[0])} at layer 1).")
        details = ["Every weight's contribution is multiplied by 0 (residual branches scaled by α = 0, or "
                   "all-zero weights behind an identity path): until that factor moves, no weight can."]
        return Verdict("dead", head, tuple(details))

    top, bottom = g[-1], g[0]
    if depth == 1:
        return Verdict("healthy", "A single layer: there is nothing for the gradient to vanish or explode through.",
                       (f"grad std at layer {int(lay[0])} is {fmt(top)}.",))
    ratio = bottom / top if top > 0 else math.inf
    details: list[str] = []
    if bottom == 0:
        # The factor is measured down to the lowest layer that still holds a non-zero gradient.
        nz = np.flatnonzero(g > 0)
        low = int(nz[0]) if nz.size else depth - 1
        zero_from = int(lay[low - 1]) if low > 0 else int(lay[0])
        details.append(_factor_sentence("grad std", top, int(lay[-1]), g[low], int(lay[low])))
        details.append(f"Below that, grad std reads exactly 0 (layers 1-{zero_from}): the gradient is lost to "
                       "float underflow.")
    else:
        details.append(_factor_sentence("grad std", top, int(lay[-1]), bottom, int(lay[0])))
    rate = _rate(g, backward=True)
    if depth >= 3 and math.isfinite(rate):
        details.append(_rate_sentence("it", rate, depth, backward=True))
    if n_wzero:
        details.append(f"The weight gradient is exactly 0 in {n_wzero} of {depth} layers: those weights "
                       "cannot move.")
    if np.isfinite(sat[0]) and sat[0] > SATURATION_LIMIT:
        details.append(f"{pct(sat[0])} of layer {int(lay[0])}'s units are saturated (f' below 10% of its peak): "
                       "they pass almost none of the gradient on to layer 1's weights.")

    if bottom == 0:
        head = (f"Vanishing gradient: it reads exactly 0 from layer {zero_from} down, so the bottom layers "
                "cannot learn at all.")
        return Verdict("vanishing", head, tuple(details))
    kind = _judge(ratio, rate)
    if kind == "vanishing":
        if _by_rate(ratio):
            head = (f"Vanishing gradient: going down the upper layers it shrinks {_per_layer(rate)}, 1000-fold "
                    f"every {_thousand_every(rate)} layers; layer 1 gets {fmt(ratio)} times the top's gradient.")
        else:
            head = (f"Vanishing gradient: the bottom layer gets {fmt(ratio)} times the gradient of the top one, "
                    "so it barely learns.")
        return Verdict("vanishing", head, tuple(details))
    if kind == "exploding":
        if _by_rate(ratio):
            head = (f"Exploding gradient: going down the upper layers it grows {_per_layer(rate)}, 1000-fold "
                    f"every {_thousand_every(rate)} layers; layer 1 gets {fmt(ratio)} times the top's gradient.")
        else:
            head = (f"Exploding gradient: the bottom layer gets {fmt(ratio)} times the gradient of the top one; "
                    "a step size that suits one end blows up the other.")
        return Verdict("exploding", head, tuple(details))
    if fmt(bottom) == fmt(top):
        head = f"Healthy gradient: grad std stays at {fmt(top)} from the top layer down to layer 1"
        details = [d for d in details if not d.startswith("grad std stays at")]  # the headline says it
    else:
        head = f"Healthy gradient: layer 1 gets {fmt(ratio)} times the top layer's gradient"
    if depth >= 3 and _per_layer(rate).startswith("x"):
        head += f", and going down the upper layers it changes {_per_layer(rate)}"
    deeper = _deeper_sentence(rate, ratio, depth) if depth >= 3 else None
    return Verdict("healthy", head + ".", tuple(details + ([deeper] if deeper else [])))


@dataclass(frozen=True)
class FirstLayer:
    """What layer 1's pre-activations ``z = x W + b`` are made of, to name the cause of its saturation.

    ``fan_in`` = n inputs per unit; the input batch's mean and std (over all its values), the mean,
    std and minimum of W_1's values and the mean and std of b_1's. For independent draws the mean
    square of z over units and examples is the sum of three parts (cross terms vanish when the
    weights or the inputs are centred)::

        E[z^2] = n s_w^2 (m_x^2 + s_x^2)      the weights' spread times the inputs' size
               + n m_w^2 (s_x^2 + n m_x^2)    the weights' shared mean: n terms that do not cancel
               + m_b^2 + s_b^2                the biases

    and the first part is split again into its two factors, the weight gain s_w sqrt(n) (1 for
    Xavier / LeCun scaling) and the inputs' root mean square sqrt(m_x^2 + s_x^2) (1 for standardised
    inputs): whichever is larger is named.
    """

    fan_in: int
    input_mean: float
    input_std: float
    weight_mean: float
    weight_std: float
    weight_min: float
    bias_mean: float = 0.0
    bias_std: float = 0.0

    def cause(self) -> Literal["weights", "inputs", "mean", "bias"]:
        """The largest contribution to E[z^2] (see the class docstring)."""
        n = self.fan_in
        x2 = self.input_mean**2 + self.input_std**2
        spread = n * self.weight_std**2 * x2
        shared = n * self.weight_mean**2 * (self.input_std**2 + n * self.input_mean**2)
        bias = self.bias_mean**2 + self.bias_std**2
        if shared >= max(spread, bias):
            return "mean"
        if bias > spread:
            return "bias"
        return "inputs" if math.sqrt(x2) > self.weight_std * math.sqrt(n) else "weights"


def first_layer(result: Result) -> FirstLayer:
    """The :class:`FirstLayer` of an :class:`initlab.signal.network.Result` (its ``input``,
    ``first_weights``, ``first_bias`` and the scenario's width, which is every layer's fan-in)."""
    w, b, x = result.first_weights, result.first_bias, result.input
    return FirstLayer(fan_in=int(result.scenario.width), input_mean=float(x.mean), input_std=float(x.std),
                      weight_mean=float(w.mean), weight_std=float(w.std), weight_min=float(w.min),
                      bias_mean=float(b.mean), bias_std=float(b.std))


def _saturation_cause(f: FirstLayer, pre_mean: float, pre_std: float) -> str:
    """Why layer 1 is saturated, as the end of a sentence, with the numbers that show it."""
    n = f.fan_in
    gain = f.weight_std * math.sqrt(n)
    z = f"its pre-activations have mean {fmt(pre_mean)} and std {fmt(pre_std)}"
    cause = f.cause()
    if cause == "mean":
        sign = "are all positive" if f.weight_min >= 0 and f.weight_mean > 0 else "are not centred on 0"
        return (f"its weights {sign} (mean {fmt(f.weight_mean)}, std {fmt(f.weight_std)}), so the {n} products a "
                f"unit adds up do not cancel: {z}")
    if cause == "bias":
        return f"its biases are large (mean {fmt(f.bias_mean)}, std {fmt(f.bias_std)}): {z}"
    if cause == "inputs":
        weights = (f"while the weights are scaled (std x sqrt({n}) = {fmt(gain)})" if 0.5 <= gain <= 2 else
                   f"and the weights' std x sqrt({n}) is {fmt(gain)}")
        return f"the inputs are not scaled (mean {fmt(f.input_mean)}, std {fmt(f.input_std)}), {weights}: {z}"
    rms = math.sqrt(f.input_mean**2 + f.input_std**2)
    inputs = f", on inputs of root mean square {fmt(rms)}" if not 0.5 <= rms <= 2 else ""
    return (f"its weights are too large for {n} inputs (std {fmt(f.weight_std)} x sqrt({n}) = {fmt(gain)}, where "
            f"Xavier or LeCun scaling gives 1{inputs}): {z}")


# Below these relative sizes a number is rounding noise, not a measurement: a value computed through L
# layers of n-term sums differs between CPUs (whose BLAS kernels add in other orders) by up to about
# L sqrt(n) eps of itself (20 layers of 256 units: 320 eps); the spread across examples of values that
# nearly agree is a difference of two such values. 1000 eps (rounded to a power of ten) leaves a margin:
# a text never quotes the digits of a smaller ratio, it says that it is this small.
ROUNDING_FLOOR = {"float32": 1e-4, "float64": 1e-13}


def relative(value: float, dtype: str = "float32") -> str:
    """``fmt(value)`` for a ratio to a layer's own scale, or "less than 1e-4 (float32's rounding noise)"
    when it is below :data:`ROUNDING_FLOOR`, where its digits depend on the CPU."""
    floor = ROUNDING_FLOOR.get(dtype, ROUNDING_FLOOR["float32"])
    if math.isfinite(value) and 0 < value < floor:
        return f"less than {fmt(floor)} ({dtype}'s rounding noise)"
    return fmt(value)


def signal_verdict(layers: pd.DataFrame | Result, which: Literal["act", "pre"] = "act", *,
                   first: FirstLayer | None = None, dtype: str | None = None) -> Verdict:
    """Does the forward signal keep its scale, and its dependence on the input, from layer 1 to the top?

    ``which`` picks the values judged: ``"act"`` the activations h_l = f(z_l) (columns ``act_*``),
    ``"pre"`` the pre-activations z_l (columns ``pre_*``); the sentences name them. Rule, in order
    (``a`` = ``{which}_std``, the std over the batch and the units):

    1. **overflow**: some layer's values hold inf/NaN (``{which}_nonfinite > 0``, else
       ``frac_nonfinite > 0``, or a non-finite ``a``); the sentence names the first such layer.
    2. **dead**: layer 1 already holds one value everywhere (``{which}_min == {which}_max``, or
       ``a == 0`` without those columns; e.g. zero weights) or some layer has every unit dead
       (``frac_dead_units == 1``: ReLU outputs 0 for every example).
    3. ratio = a[depth] / a[1] and the upper-half rate (module docstring): **vanishing** if ratio
       < 1e-3 or ratio < 0.1 with a rate below x0.794 per layer, or some layer is constant / has std 0
       ("underflowed to exactly 0 at layer N" when the constant is 0, "collapsed to a constant"
       otherwise; the factor is measured up to the layer before); **exploding** if ratio > 1e3 or
       ratio > 10 with a rate above x1.259.
    4. **vanishing** too when the scale is kept but the top layer no longer depends on the input:
       its spread across the examples (``{which}_example_std``, see
       :func:`initlab.numerics.stats.example_std`) is below 1% of its std; otherwise **healthy**.

    Whatever the kind, the details also mention more than 50% saturated units in the last layer or
    in layer 1 (with ``first``, its cause: weights too large, weights not centred on 0, large
    biases or unscaled inputs; see :class:`FirstLayer`), ReLU units that never fire (>10% of a
    layer), layers in which every unit outputs the same value (``unit_spread == 0``: symmetry) and
    an example spread below 1% of the std.
    A ratio below :data:`ROUNDING_FLOOR` of ``dtype`` (the scenario's) is said to be that small, not
    quoted: its digits are the CPU's rounding (:func:`relative`).
    ``layers`` needs ``layer`` and ``{which}_std``; ``{which}_mean``, ``{which}_min``,
    ``{which}_max``, ``{which}_example_std``, ``{which}_nonfinite``, ``frac_nonfinite``,
    ``frac_saturated``, ``frac_dead_units``, ``unit_spread`` and ``pre_mean`` / ``pre_std`` are used
    when present.

    Given a :class:`~initlab.signal.network.Result` instead of its ``layers`` (what a notebook holds),
    ``first`` defaults to :func:`first_layer` of it and ``dtype`` to its scenario's: the verdict the
    Signal page shows. ``dtype`` of a bare table defaults to float32.
    """
    if which not in ("act", "pre"):
        raise ValueError(f"which must be 'act' or 'pre'; received {which!r}")
    if not isinstance(layers, pd.DataFrame):
        result = layers
        layers, first = result.layers, first if first is not None else first_layer(result)
        dtype = dtype or result.scenario.dtype
    dtype = dtype or "float32"
    noun = "activations" if which == "act" else "pre-activations"
    std_of = f"The std of the {noun}"
    t = _table(layers, ("layer", f"{which}_std"))
    depth = len(t)
    lay = t["layer"].to_numpy()
    a = _col(t, f"{which}_std")
    mean = _col(t, f"{which}_mean")
    ex = _col(t, f"{which}_example_std", fill=np.nan)
    sat = _col(t, "frac_saturated")
    dead_units = _col(t, "frac_dead_units")
    spread = _col(t, "unit_spread", fill=np.nan)
    nonfinite_col = f"{which}_nonfinite" if f"{which}_nonfinite" in t.columns else "frac_nonfinite"
    bad = (_col(t, nonfinite_col) > 0) | ~np.isfinite(a)

    notes: list[str] = []
    if np.isfinite(sat[-1]) and sat[-1] > SATURATION_LIMIT and depth > 1:
        notes.append(f"{pct(sat[-1])} of the last layer's outputs are saturated (f' below 10% of its peak): "
                     "they pass almost no gradient back.")
    if np.isfinite(sat[0]) and sat[0] > SATURATION_LIMIT:
        s1 = f"{pct(sat[0])} of layer {int(lay[0])}'s outputs are saturated (f' below 10% of its peak)"
        pre_m, pre_s = _col(t, "pre_mean", fill=np.nan)[0], _col(t, "pre_std", fill=np.nan)[0]
        if first is not None:
            s1 += " because " + _saturation_cause(first, pre_m, pre_s)
        elif math.isfinite(pre_s):
            s1 += f": its pre-activations have mean {fmt(pre_m)} and std {fmt(pre_s)}"
        notes.append(s1 + ("; they pass almost no gradient back." if depth == 1 else "."))
    if np.nanmax(dead_units) > DEAD_UNITS_LIMIT:
        i = int(np.nanargmax(dead_units))
        notes.append(f"{pct(dead_units[i])} of the units of layer {int(lay[i])} never fire for any example "
                     "of the batch (dead ReLUs).")
    same = np.flatnonzero((spread == 0) & ~bad)
    if same.size:
        notes.append(f"From layer {int(lay[same[0]])} on{'' if same.size == depth - same[0] else ' (in places)'}, "
                     "all units of an example output the same value (unit spread 0): the layer acts as one unit.")

    if bad.any():
        k_bad = int(np.flatnonzero(bad)[0])
        first_bad = int(lay[k_bad])
        # The headline says where; the first detail says what overflowing means (not the headline again).
        details = [f"A value too large for the number format becomes inf; the next layer's sums of +inf and -inf, "
                   f"and 0 times inf, give NaN, so the {noun} above carry no information."]
        fin = np.flatnonzero(~bad[:k_bad])
        if fin.size >= 2:
            details.append(_factor_sentence(f"Before that, the std of the {noun}", a[fin[0]], int(lay[fin[0]]),
                                            a[fin[-1]], int(lay[fin[-1]])))
        return Verdict("overflow", f"The forward signal overflowed to inf at layer {first_bad}: from there on the "
                                   f"{noun} are inf or NaN.",
                       tuple(details + notes))
    other = "pre" if which == "act" else "act"
    if f"{other}_nonfinite" in t.columns and (_col(t, f"{other}_nonfinite") > 0).any():
        k = int(lay[np.flatnonzero(_col(t, f"{other}_nonfinite") > 0)[0]])
        other_noun = "pre-activations" if other == "pre" else "activations"
        notes.append(f"The {other_noun} hold inf/NaN from layer {k} on, while the {noun} stay finite.")

    # "Every value identical" is read off min == max (exact); the std alone can read 0 too early, when
    # the squares of tiny float32 values underflow although the values themselves are not yet 0.
    has_range = f"{which}_min" in t.columns and f"{which}_max" in t.columns
    const = (_col(t, f"{which}_min") == _col(t, f"{which}_max")) if has_range else (a == 0)
    all_dead = np.flatnonzero(dead_units >= 1.0)
    if const[0] or all_dead.size:
        if all_dead.size:
            li = int(lay[all_dead[0]])
            head = f"Dead network: every unit of layer {li} outputs 0 for every example, so no input reaches the top."
        else:
            head = (f"No signal: every one of layer 1's {noun} is the same value, so nothing about the input "
                    "reaches the layers above.")
        details = [f"{std_of} is {fmt(a[0])} at layer {int(lay[0])}" + (f" (every value {fmt(mean[0])})."
                                                                       if f"{which}_mean" in t.columns else ".")]
        return Verdict("dead", head, tuple(details + notes))

    k_const = int(np.flatnonzero(const)[0]) if const.any() else None
    k_std = int(np.flatnonzero(a == 0)[0]) if (a == 0).any() else None
    details = []
    rate = math.nan
    if k_const is not None or k_std is not None:
        stop = min(k for k in (k_const, k_std) if k is not None)  # >= 1: layer 1 is not constant here
        details.append(_factor_sentence(std_of, a[0], int(lay[0]), a[stop - 1], int(lay[stop - 1])))
        if k_std is not None and (k_const is None or k_std < k_const):
            details.append(f"From layer {int(lay[k_std])} on the std reads 0 although the values are not yet all "
                           "equal: their squares are below the smallest float.")
        if k_const is not None:
            if mean[k_const] == 0:
                details.append(f"The {noun} underflowed to exactly 0 at layer {int(lay[k_const])}: every "
                               "value is 0 from there on.")
            else:
                details.append(f"The {noun} collapsed to a constant at layer {int(lay[k_const])}: every value "
                               f"there equals {fmt(mean[k_const])}, whatever the input.")
        ratio = 0.0
    else:
        ratio = a[-1] / a[0]
        details.append(_factor_sentence(std_of, a[0], int(lay[0]), a[-1], int(lay[-1])))
        rate = _rate(a, backward=False)
        if depth >= 3 and math.isfinite(rate):
            details.append(_rate_sentence("it", rate, depth, backward=False))
    # Does the top still depend on the input? Spread across the examples against the overall std.
    with np.errstate(all="ignore"):
        rel = ex / a
    lost = None
    if k_const is None and k_std is None and np.isfinite(rel[-1]) and rel[-1] < EXAMPLE_SPREAD_LIMIT:
        below = rel < EXAMPLE_SPREAD_LIMIT
        above = np.flatnonzero(~below)
        lost = int(above[-1]) + 1 if above.size else 0  # first layer of the final run below the limit
        noise = relative(rel[-1], dtype) != fmt(rel[-1])
        spread = "" if noise else f" (example spread {fmt(ex[-1])}, std {fmt(a[-1])})"
        details.append(f"From layer {int(lay[lost])} on the {noun} hardly depend on the input (their spread across "
                       f"the examples is below {EXAMPLE_SPREAD_LIMIT:.0%} of their std): at layer "
                       f"{int(lay[-1])} a unit's value varies across the examples by {relative(rel[-1], dtype)} "
                       f"times the layer's std{spread}; the rest is a pattern over the units that is the same for "
                       "every input.")
    details += notes
    saturated = np.isfinite(sat[-1]) and sat[-1] > SATURATION_LIMIT
    tail = f"; {pct(sat[-1])} of the last layer is saturated" if saturated else ""

    if depth == 1:
        return Verdict("healthy", f"A single layer: the std of its {noun} is {fmt(a[0])}{tail}.", tuple(details))
    if k_const is not None:
        head = (f"Vanishing signal: from layer {int(lay[k_const])} on every value is the same "
                f"({fmt(mean[k_const])}), whatever the input{tail}.")
        return Verdict("vanishing", head, tuple(details))
    kind = _judge(ratio, rate)
    if kind == "vanishing":
        if _by_rate(ratio):
            head = (f"Vanishing signal: the {noun} shrink {_per_layer(rate)} in the upper layers, 1000-fold "
                    f"every {_thousand_every(rate)} layers; the top is {fmt(ratio)} times as spread as layer 1{tail}.")
        else:
            head = (f"Vanishing signal: the top layer's {noun} are {fmt(ratio)} times as spread as layer 1's"
                    f"{tail}.")
        return Verdict("vanishing", head, tuple(details))
    if kind == "exploding":
        if _by_rate(ratio):
            head = (f"Exploding signal: the {noun} grow {_per_layer(rate)} in the upper layers, 1000-fold "
                    f"every {_thousand_every(rate)} layers; the top is {fmt(ratio)} times as spread as layer 1{tail}.")
        else:
            head = f"Exploding signal: the spread of the {noun} grows {fmt(ratio)}-fold from layer 1 to the top{tail}."
        return Verdict("exploding", head, tuple(details))
    if lost is not None:
        head = (f"Vanishing signal: the {noun} still have a std of {fmt(a[-1])} at the top, but from layer "
                f"{int(lay[lost])} on they hardly depend on the input (at the top, their spread across the examples "
                f"is {relative(rel[-1], dtype)} times their std){tail}.")
        return Verdict("vanishing", head, tuple(details))
    if fmt(a[0]) == fmt(a[-1]):
        head = f"Healthy signal: the std of the {noun} stays at {fmt(a[0])} from layer 1 to the top"
        details = [d for d in details if not d.startswith(f"The std of the {noun} stays at")]  # the headline says it
    else:
        head = f"Healthy signal: from layer 1 to the top the std of the {noun} changes by a factor {fmt(ratio)}"
    if depth >= 3 and _per_layer(rate).startswith("x"):
        head += f", and in the upper layers by {_per_layer(rate)}"
    deeper = _deeper_sentence(rate, ratio, depth) if depth >= 3 else None
    return Verdict("healthy", head + tail + ".", tuple(details + ([deeper] if deeper else [])))
