"""Plain-language verdicts on a :func:`initlab.propagate` result: is the signal / gradient healthy?

Both verdicts read only the per-layer table ``Result.layers`` (one row per layer, ``layer`` = 1..depth)
and compare the bottom of the network with the top as a **per-layer geometric factor**::

    gradient:  ratio = grad_std[1] / grad_std[depth]      (the backward pass runs top -> bottom)
    signal:    ratio = act_std[depth] / act_std[1]         (the forward pass runs bottom -> top)
    g = ratio ** (1 / (depth - 1))                          (the factor one layer applies on average)

A deep stack multiplies the scale by roughly the same factor in every layer (each layer is one more
random matrix, e.g. x sqrt(width) * stddev for a linear layer), so ``g`` is the number to compare
between depths, and ``ratio`` = g^(depth-1) is what the bottom (gradient) or top (signal) actually
sees. The thresholds are deliberately coarse: three orders of magnitude.

Only numpy, pandas and the standard library are imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["KINDS", "RATIO_LIMIT", "SATURATION_LIMIT", "Verdict", "fmt", "gradient_verdict", "signal_verdict"]

Kind = Literal["vanishing", "exploding", "healthy", "overflow", "dead"]
KINDS: tuple[str, ...] = ("vanishing", "exploding", "healthy", "overflow", "dead")

# Three orders of magnitude between the ends of the network: a learning rate tuned for the top layer
# is then 1000x off for the bottom one, which no single step size can serve (Glorot & Bengio 2010
# argue for equal variance across layers for this reason).
RATIO_LIMIT = 1e3
# More than half of the last layer's units on a flat part of the activation (f' < 10% of its peak):
# most of the output gradient is then multiplied by almost nothing before it enters the network.
SATURATION_LIMIT = 0.5
# Share of never-firing ReLU units in one layer worth mentioning (a few percent is normal noise).
DEAD_UNITS_LIMIT = 0.1


@dataclass(frozen=True)
class Verdict:
    """One verdict: ``kind`` (one of :data:`KINDS`), a one-sentence ``headline`` and the ``details``
    (sentences carrying the numbers that justify it)."""

    kind: Kind
    headline: str
    details: tuple[str, ...]


def fmt(x: float) -> str:
    """A number in 3 significant digits: plain for 1e-3 <= |x| < 1e4, scientific otherwise.

    ``fmt(16.0271) == "16"``, ``fmt(0.07807) == "0.0781"``, ``fmt(3.02e-41) == "3.02e-41"``,
    ``fmt(1.06e10) == "1.06e10"``, ``fmt(0.0) == "0"``, ``fmt(inf) == "inf"``, ``fmt(nan) == "NaN"``.
    """
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{float(f'{x:.3g}'):g}"
    mant, exp = f"{x:.2e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _pct(frac: float) -> str:
    """A fraction as a percentage, never rounding a non-zero share to 0% or a partial one to 100%."""
    p = 100.0 * float(frac)
    if 0 < p < 1:
        return "<1%"
    if 99 < p < 100:
        return ">99%"
    return f"{p:.0f}%"


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


def _factor_sentence(what: str, start: float, l_start: int, end: float, l_end: int) -> str:
    """``"<what> goes from A at layer i to B at layer j: a factor R, i.e. xg per layer"``."""
    steps = abs(l_end - l_start)
    with np.errstate(all="ignore"):  # start may be 0: no warning on the server console
        ratio = end / start
    verb = "stays at" if ratio == 1 else ("falls from" if ratio < 1 else "grows from")
    s = f"{what} {verb} {fmt(start)} at layer {l_start} to {fmt(end)} at layer {l_end}"
    if ratio == 1 or steps == 0:
        return s + "."
    per = ratio ** (1.0 / steps)
    return s + f": a factor {fmt(ratio)}, i.e. x{fmt(per)} per layer."


def gradient_verdict(layers: pd.DataFrame) -> Verdict:
    """Is the backward signal usable at the bottom of the network?

    Rule, in order (``g`` = ``grad_std``, the std of dl/dz_l; ``depth`` = number of rows):

    1. **overflow**: some layer's gradient is inf/NaN (``grad_nonfinite > 0`` or a non-finite
       ``grad_std`` / ``weight_grad_norm``).
    2. **dead**: every layer below the top has exactly zero gradient (``grad_std == 0`` and
       ``weight_grad_norm == 0``); the zero-init symmetry case, where only the top layer learns
       (or, with depth 1 or a zero top gradient too, nothing does).
    3. ratio = g[1] / g[depth], per-layer factor ``(g[1] / g[depth]) ** (1 / (depth - 1))``:
       **vanishing** if ratio < 1e-3 (including exactly 0, i.e. float underflow),
       **exploding** if ratio > 1e3, **healthy** otherwise (and always for depth 1).

    ``layers`` needs the columns ``layer``, ``grad_std`` and ``weight_grad_norm``; ``grad_nonfinite``
    is used when present. Raises ``ValueError`` for an empty table or a missing column.
    """
    t = _table(layers, ("layer", "grad_std", "weight_grad_norm"))
    depth = len(t)
    lay = t["layer"].to_numpy()
    g = _col(t, "grad_std")
    wg = _col(t, "weight_grad_norm")
    bad = (_col(t, "grad_nonfinite") > 0) | ~np.isfinite(g) | ~np.isfinite(wg)
    n_wzero = int(np.count_nonzero(wg == 0))

    if bad.any():
        top_bad = int(lay[np.flatnonzero(bad)[-1]])  # the backward pass meets the topmost one first
        details = [f"The gradient holds inf/NaN from layer {top_bad} down ({int(bad.sum())} of {depth} layers)."]
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
    if n_wzero:
        details.append(f"The weight gradient is exactly 0 in {n_wzero} of {depth} layers: those weights "
                       "cannot move.")

    if bottom == 0:
        head = (f"Vanishing gradient: it reads exactly 0 from layer {zero_from} down, so the bottom layers "
                "cannot learn at all.")
        return Verdict("vanishing", head, tuple(details))
    if ratio < 1 / RATIO_LIMIT:
        head = (f"Vanishing gradient: the bottom layer gets {fmt(ratio)} times the gradient of the top one, "
                "so it barely learns.")
        return Verdict("vanishing", head, tuple(details))
    if ratio > RATIO_LIMIT:
        head = (f"Exploding gradient: the bottom layer gets {fmt(ratio)} times the gradient of the top one; "
                "a step size that suits one end blows up the other.")
        return Verdict("exploding", head, tuple(details))
    head = f"Healthy gradient: bottom and top layers differ by a factor {fmt(ratio)}, within 1000."
    return Verdict("healthy", head, tuple(details))


def signal_verdict(layers: pd.DataFrame) -> Verdict:
    """Does the forward signal keep its scale from layer 1 to the top?

    Rule, in order (``a`` = ``act_std``, the std of the layer outputs h_l over the batch and units):

    1. **overflow**: some layer holds inf/NaN (``frac_nonfinite > 0`` or a non-finite ``act_std``);
       the sentence names the first such layer ("overflowed to inf at layer N").
    2. **dead**: layer 1 already outputs one value everywhere (``act_min == act_max``, or ``a == 0``
       without those columns; e.g. zero weights) or some
       layer has every unit dead (``frac_dead_units == 1``: ReLU outputs 0 for every example).
    3. ratio = a[depth] / a[1], per layer ``ratio ** (1 / (depth - 1))``: **vanishing** if < 1e-3
       or some layer is constant / has std 0 ("underflowed to exactly 0 at layer N" when the constant
       is 0, "collapsed to a constant" otherwise; the factor is measured up to the layer before),
       **exploding** if > 1e3, **healthy** otherwise.

    Whatever the kind, the details also mention more than 50% saturated units in the last layer
    (or a first layer more than 50% saturated), ReLU units that never fire (>10% of a layer), and
    layers in which every unit outputs the same value (``unit_spread == 0``: symmetry).
    ``layers`` needs ``layer`` and ``act_std``; ``act_mean``, ``frac_nonfinite``, ``frac_saturated``,
    ``frac_dead_units`` and ``unit_spread`` are used when present.
    """
    t = _table(layers, ("layer", "act_std"))
    depth = len(t)
    lay = t["layer"].to_numpy()
    a = _col(t, "act_std")
    mean = _col(t, "act_mean")
    sat = _col(t, "frac_saturated")
    dead_units = _col(t, "frac_dead_units")
    spread = _col(t, "unit_spread", fill=np.nan)
    bad = (_col(t, "frac_nonfinite") > 0) | ~np.isfinite(a)

    notes: list[str] = []
    if np.isfinite(sat[-1]) and sat[-1] > SATURATION_LIMIT:
        notes.append(f"{_pct(sat[-1])} of the last layer's outputs are saturated (f' below 10% of its peak): "
                     "they pass almost no gradient back.")
    if depth > 1 and np.isfinite(sat[0]) and sat[0] > SATURATION_LIMIT:
        notes.append(f"{_pct(sat[0])} of layer {int(lay[0])}'s outputs are saturated: the inputs are too large "
                     "for the weights.")
    if np.nanmax(dead_units) > DEAD_UNITS_LIMIT:
        i = int(np.nanargmax(dead_units))
        notes.append(f"{_pct(dead_units[i])} of the units of layer {int(lay[i])} never fire for any example "
                     "of the batch (dead ReLUs).")
    same = np.flatnonzero((spread == 0) & ~bad)
    if same.size:
        notes.append(f"From layer {int(lay[same[0]])} on{'' if same.size == depth - same[0] else ' (in places)'}, "
                     "all units of an example output the same value (unit spread 0): the layer acts as one unit.")

    if bad.any():
        first = int(lay[np.flatnonzero(bad)[0]])
        details = [f"The activations overflowed to inf at layer {first}; from there on the values are inf or NaN."]
        fin = np.flatnonzero(~bad[: np.flatnonzero(bad)[0]])
        if fin.size >= 2:
            details.append(_factor_sentence("Before that, act std", a[fin[0]], int(lay[fin[0]]), a[fin[-1]],
                                            int(lay[fin[-1]])))
        return Verdict("overflow", f"The forward signal overflowed to inf at layer {first}.",
                       tuple(details + notes))

    # "Every value identical" is read off min == max (exact); act_std alone can read 0 too early, when
    # the squares of tiny float32 values underflow although the values themselves are not yet 0.
    has_range = "act_min" in t.columns and "act_max" in t.columns
    const = (_col(t, "act_min") == _col(t, "act_max")) if has_range else (a == 0)
    all_dead = np.flatnonzero(dead_units >= 1.0)
    if const[0] or all_dead.size:
        if all_dead.size:
            li = int(lay[all_dead[0]])
            head = f"Dead network: every unit of layer {li} outputs 0 for every example, so no input reaches the top."
        else:
            head = ("No signal: every output of layer 1 is the same value, so nothing about the input reaches "
                    "the layers above.")
        details = [f"act std is {fmt(a[0])} at layer {int(lay[0])}" + (f" (every value {fmt(mean[0])})."
                                                                       if "act_mean" in t.columns else ".")]
        return Verdict("dead", head, tuple(details + notes))

    k_const = int(np.flatnonzero(const)[0]) if const.any() else None
    k_std = int(np.flatnonzero(a == 0)[0]) if (a == 0).any() else None
    details = []
    if k_const is not None or k_std is not None:
        stop = min(k for k in (k_const, k_std) if k is not None)  # >= 1: layer 1 is not constant here
        details.append(_factor_sentence("act std", a[0], int(lay[0]), a[stop - 1], int(lay[stop - 1])))
        if k_std is not None and (k_const is None or k_std < k_const):
            details.append(f"From layer {int(lay[k_std])} on the std reads 0 although the values are not yet all "
                           "equal: their squares are below the smallest float.")
        if k_const is not None:
            if mean[k_const] == 0:
                details.append(f"The activations underflowed to exactly 0 at layer {int(lay[k_const])}: every "
                               "output is 0 from there on.")
            else:
                details.append(f"The activations collapsed to a constant at layer {int(lay[k_const])}: every output "
                               f"there equals {fmt(mean[k_const])}, whatever the input.")
        ratio = 0.0
    else:
        ratio = a[-1] / a[0]
        details.append(_factor_sentence("act std", a[0], int(lay[0]), a[-1], int(lay[-1])))
    details += notes
    saturated = np.isfinite(sat[-1]) and sat[-1] > SATURATION_LIMIT
    tail = f", and {_pct(sat[-1])} of the last layer is saturated" if saturated else ""

    if depth == 1:
        return Verdict("healthy", f"A single layer with output std {fmt(a[0])}{tail}.", tuple(details))
    if k_const is not None:
        head = (f"Vanishing signal: from layer {int(lay[k_const])} on every output is the same value "
                f"({fmt(mean[k_const])}), whatever the input{tail}.")
        return Verdict("vanishing", head, tuple(details))
    if ratio < 1 / RATIO_LIMIT:
        head = (f"Vanishing signal: the top layer's outputs are {fmt(ratio)} times as spread as layer 1's"
                f"{tail}.")
        return Verdict("vanishing", head, tuple(details))
    if ratio > RATIO_LIMIT:
        return Verdict("exploding", f"Exploding signal: the spread grows {fmt(ratio)}-fold from layer 1 to the "
                                    f"top{tail}.", tuple(details))
    return Verdict("healthy", f"The signal keeps its scale: layer 1 and the top differ by a factor {fmt(ratio)}"
                              f"{tail}.", tuple(details))
