"""Weight range / std curves against the number of inputs (the classic tutorial plots).

Reproduces the three plots of Machine Learning Mastery, "Weight Initialization for Deep Learning
Neural Networks" (J. Brownlee, 2021), and generalises them to any initializer of
:mod:`initlab.initializers`:

* "Xavier" ``U[-1/sqrt(n), +1/sqrt(n)]`` -- initializer ``xavier_heuristic`` (the heuristic Glorot &
  Bengio 2010 argue *against*, which some tutorials call Xavier);
* normalized Xavier ``U[-sqrt(6)/sqrt(n+m), +sqrt(6)/sqrt(n+m)]`` -- ``glorot_uniform``;
* He ``N(0, sqrt(2/n))`` -- ``variance_scaling(scale=2, mode="fan_in",
  distribution="untruncated_normal")`` (He et al. 2015; the same as PyTorch ``kaiming_normal_``
  with nonlinearity relu, *not* Keras ``he_normal``, which is truncated).

For each initializer and each number of inputs ``n`` in ``[n_min, n_max]`` a row holds the theory
(std, mean, hard limits from the initializer itself) next to statistics of ``samples`` weights
actually drawn by it.

**What the He tutorial plot calls the "range" is one standard deviation**: it plots ``+-sqrt(2/n)``
(1.414 at n = 1).  A normal distribution has no range; our data labels that number ``theory_std``,
and :func:`band` uses ``mean +- std`` as the band of unbounded initializers.  The *sample* min/max
of 1000 normal draws lie much further out, at roughly +-3.2 std (the expected maximum of 1000
standard normals is ~3.24), so a plot of the sample extremes looks about three times wider than
the tutorial's curve.  For uniform initializers the band is the hard limits ``[lo, hi]`` and the
sample extremes approach them.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from initlab import initializers

__all__ = ["CLASSIC", "COLUMNS", "MAX_KERNEL_CALLS", "MAX_KERNEL_ENTRIES", "MAX_WEIGHTS", "RangeEntry", "band",
           "range_curves"]

N_MAX_LIMIT = 10_000
SAMPLES_RANGE = (10, 100_000)
# Work guard (a ValueError instead of a frozen dashboard).  Weights are drawn through the public
# initializer API, one (n, m) kernel per call, measured at ~30 us overhead per call plus ~20 ns per
# weight, so these bounds cap a request at roughly 3 s and 130 MB per kernel.  The default plot
# (3 classic initializers, n = 1..100, m = n, 1000 samples) needs ~5k calls and ~1.5M weights
# (~0.2 s); with m = n the weights grow like n_max^3 / 3, so large n_max needs a fixed fan_out.
MAX_KERNEL_CALLS = 100_000
MAX_WEIGHTS = 100_000_000
MAX_KERNEL_ENTRIES = 1 << 24

COLUMNS = ("init", "label", "formula", "n", "m", "theory_std", "theory_mean", "theory_lo", "theory_hi",
           "sample_min", "sample_max", "sample_std", "sample_mean")


class RangeEntry(NamedTuple):
    """One curve: initializer ``init`` with ``params`` and a display ``label``.

    A plain tuple ``(init, params)`` or ``(init, params, label)`` is accepted wherever a
    RangeEntry is.
    """

    init: str
    params: Mapping[str, Any]
    label: str


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})

CLASSIC: tuple[RangeEntry, ...] = (
    RangeEntry("xavier_heuristic", _NO_PARAMS, "Xavier heuristic U[±1/√n]"),
    RangeEntry("glorot_uniform", _NO_PARAMS, "Normalized Xavier U[±√6/√(n+m)]"),
    RangeEntry(
        "variance_scaling",
        MappingProxyType({"scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"}),
        "He N(0, √(2/n))",
    ),
)
"""The three curves of the Machine Learning Mastery tutorial, in its order."""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _display_key(name: str, params: Mapping[str, Any]) -> str:
    """``name`` or ``name(k=v, ...)`` with the parameters as given (None = default, left out)."""
    given = {k: v for k, v in params.items() if v is not None}
    if not given:
        return name
    return f"{name}({', '.join(f'{k}={_fmt(v)}' for k, v in given.items())})"


def _parse_entry(entry: Any) -> tuple[str, Mapping[str, Any], str | None]:
    if isinstance(entry, str):
        return entry, _NO_PARAMS, None
    if isinstance(entry, tuple) and len(entry) in (2, 3) and isinstance(entry[0], str) \
            and isinstance(entry[1], Mapping) and (len(entry) == 2 or isinstance(entry[2], str)):
        return entry[0], entry[1], (entry[2] if len(entry) == 3 else None)
    raise ValueError(f"initializer entry must be a name, (name, params) or (name, params, label); got {entry!r}")


def _check_int(value: Any, what: str, lo: int, hi: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= lo \
        and (hi is None or value <= hi)
    if not ok:
        rng_txt = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{what} must be an integer {rng_txt}; got {value!r}")
    return int(value)


def range_curves(
    inits: Sequence[str | tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str]],
    n_max: int = 100,
    *,
    n_min: int = 1,
    fan_out: int | None = None,
    samples: int = 1000,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Theoretical and sampled weight statistics against the number of inputs ``n``.

    Parameters
    ----------
    inits:
        initializer names, ``(name, params)`` pairs or ``(name, params, label)`` triples (such as
        the entries of :data:`CLASSIC`); a single name is accepted too.
    n_max, n_min:
        fan-in range, ``1 <= n_min <= n_max <= 10000``; one row per integer ``n`` in it.
    fan_out:
        ``None``: tied to the fan-in (``m = n``, a square layer); else the fixed fan-out ``m >= 1``.
    samples:
        weights drawn per (initializer, n), in ``[10, 100000]``.  They are the **first ``samples``
        entries (row-major) of ``ceil(samples / (n m))`` independent ``(n, m)`` kernels**, drawn in
        float64 by the initializer itself, so kernel-level schemes (orthogonal, identity) are
        represented as they are really used.  Work is capped (see ``MAX_KERNEL_CALLS`` and
        ``MAX_WEIGHTS``): with ``m = n`` the cost of large ``n`` grows like ``n^2`` per row.
    rng:
        the generator all draws come from (rows are drawn in order, so a seed fixes the frame).

    Returns
    -------
    DataFrame with one row per (initializer, n), initializers in the given order, and columns
    ``init`` (display key: the name, or ``name(k=v, ...)`` with the given parameters),
    ``label`` (the entry's label, else the initializer's), ``formula`` (``init.formula()``),
    ``n``, ``m``, ``theory_std``, ``theory_mean``, ``theory_lo`` / ``theory_hi`` (hard limits, NaN
    when unbounded), ``sample_min``, ``sample_max``, ``sample_std`` (ddof = 1) and
    ``sample_mean``.

    Raises
    ------
    ValueError
        for out-of-range arguments (naming the value), unknown initializers or parameters (from
        :func:`initlab.initializers.get`), duplicate entries, or a request over the work cap.
    """
    n_min = _check_int(n_min, "n_min", 1)
    n_max = _check_int(n_max, "n_max", 1, N_MAX_LIMIT)
    if n_max < n_min:
        raise ValueError(f"n_max must be >= n_min = {n_min}; got n_max = {n_max!r}")
    samples = _check_int(samples, "samples", *SAMPLES_RANGE)
    if fan_out is not None:
        fan_out = _check_int(fan_out, "fan_out", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    if isinstance(inits, str) or (isinstance(inits, tuple) and len(inits) in (2, 3) and isinstance(inits[0], str)
                                  and isinstance(inits[1], Mapping)):
        inits = [inits]  # a single entry rather than a sequence of entries
    entries = [_parse_entry(e) for e in inits]
    if not entries:
        raise ValueError("inits must name at least one initializer; got an empty sequence")

    ns = np.arange(n_min, n_max + 1, dtype=np.int64)
    ms = ns if fan_out is None else np.full_like(ns, fan_out)
    sizes = ns * ms
    calls = -(-samples // sizes)  # ceil(samples / (n m)) kernels per row
    total_calls = int(calls.sum()) * len(entries)
    total_weights = int((calls * sizes).sum()) * len(entries)
    if total_calls > MAX_KERNEL_CALLS or total_weights > MAX_WEIGHTS or int(sizes.max()) > MAX_KERNEL_ENTRIES:
        raise ValueError(
            f"request too large: n = {n_min}..{n_max} with fan_out = {fan_out!r} and samples = {samples} "
            f"for {len(entries)} initializer(s) needs {total_calls} kernel draws and {total_weights:.3g} "
            f"weights, the largest kernel {int(sizes.max()):.3g} entries (limits {MAX_KERNEL_CALLS}, "
            f"{MAX_WEIGHTS:.3g} and {MAX_KERNEL_ENTRIES:.3g}); lower n_max or samples, or fix a small fan_out")

    resolved = []
    seen: set[str] = set()
    for name, params, label in entries:
        init = initializers.get(name, **params)
        key = _display_key(name, params)
        if key in seen:
            raise ValueError(f"duplicate initializer entry {key!r}")
        seen.add(key)
        resolved.append((init, key, label or initializers.spec(name).label))

    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for init, key, label in resolved:
        formula = init.formula()
        for n, m, k in zip(ns.tolist(), ms.tolist(), calls.tolist()):
            if k == 1:
                w = init((n, m), rng).reshape(-1)[:samples]
            else:
                w = np.concatenate([init((n, m), rng).reshape(-1) for _ in range(k)])[:samples]
            lim = init.limits(n, m)
            cols["init"].append(key)
            cols["label"].append(label)
            cols["formula"].append(formula)
            cols["n"].append(n)
            cols["m"].append(m)
            cols["theory_std"].append(init.std(n, m))
            cols["theory_mean"].append(init.mean(n, m))
            cols["theory_lo"].append(math.nan if lim is None else lim[0])
            cols["theory_hi"].append(math.nan if lim is None else lim[1])
            cols["sample_min"].append(float(w.min()))
            cols["sample_max"].append(float(w.max()))
            cols["sample_std"].append(float(w.std(ddof=1)))
            cols["sample_mean"].append(float(w.mean()))
    df = pd.DataFrame(cols, columns=list(COLUMNS))
    return df.astype({"n": np.int64, "m": np.int64, **{c: np.float64 for c in COLUMNS[5:]}})


def band(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of a :func:`range_curves` frame with the theory band to shade.

    Adds ``band_lo``, ``band_hi`` and ``band_kind``: the hard limits ``[theory_lo, theory_hi]``
    (``"limits"``) for bounded initializers, else ``theory_mean -+ theory_std`` (``"±1 std"``),
    which is what the He tutorial plot draws and calls the "range" (see the module docstring).
    """
    out = df.copy()
    bounded = out["theory_lo"].notna() & out["theory_hi"].notna()
    out["band_lo"] = np.where(bounded, out["theory_lo"], out["theory_mean"] - out["theory_std"])
    out["band_hi"] = np.where(bounded, out["theory_hi"], out["theory_mean"] + out["theory_std"])
    out["band_kind"] = np.where(bounded, "limits", "±1 std")
    return out
