"""Weight range / std curves against the number of inputs (the classic tutorial plots).

Reproduces the three plots of Machine Learning Mastery, "Weight Initialization for Deep Learning
Neural Networks" (J. Brownlee, 2021), and generalises them to any initializer of
:mod:`initlab.weights.initializers`:

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

**Cost.**  Elementwise initializers draw just ``samples`` entries per row; orthogonal and identity
draw whole ``(n, m)`` kernels, and orthogonal's QR factorization grows like ``n m min(n, m)``
(every n up to 450 with m = n: ~1.5 s on one core of the development machine; 12 s before the QR factorizations were counted).  A cost
model (:func:`row_seconds`, constants measured by ``benchmarks/bench_ranges.py``) plans every request
before drawing (:func:`plan_ranges`): within :data:`BUDGET_SECONDS` everything is sampled; above it the
expensive initializers are sampled at every s-th n (and, for extreme requests, only up to some n), and
the plan says so in one sentence for the page.  The theory columns always cover every n.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from initlab.numerics.format import fmt
from initlab.weights import initializers

__all__ = ["BUDGET_SECONDS", "CLASSIC", "COLUMNS", "MAX_KERNEL_ENTRIES", "EntryPlan", "RangeEntry", "RangePlan",
           "band", "plan_ranges", "range_curves", "row_seconds"]

N_MAX_LIMIT = 10_000
SAMPLES_RANGE = (10, 100_000)

# Cost model of the sampling, in seconds.  Measured by benchmarks/bench_ranges.py (which prints the
# fit next to these numbers) on the 2-core development machine with one BLAS thread, numpy 2.4, and
# rounded up.  A request whose modelled cost exceeds BUDGET_SECONDS is thinned (see plan_ranges);
# half a second of modelled work leaves room for a server about twice as slow as that machine.
BUDGET_SECONDS = 0.5
CALL_SECONDS = 20e-6  # one initializer call: fans resolved, distribution built, array allocated
ROW_SECONDS = 10e-6  # theory of one row (std, mean, limits) and storing it: every row, sampled or not
STATS_SECONDS = 15e-6  # min / max / std / mean of one row's sample: sampled rows only
# Per weight drawn: generating it, and for whole kernels also copying it once into the sample.
WEIGHT_SECONDS: Mapping[str, float] = MappingProxyType({
    "constant": 1e-9, "uniform": 3e-9, "normal": 10e-9, "truncated_normal": 12e-9,
    "identity": 1e-9, "orthogonal": 20e-9,
})
# Orthogonal kernels: a Householder QR of the max(n, m) x min(n, m) Gaussian matrix and forming its Q
# take ~4 n m min(n, m) flops, so the time is QR_SECONDS per n * m * min(n, m) on top of the per-weight
# cost (least-squares fit over 30 x 1 ... 1000 x 500 kernels: 0.08 ns and 19 ns per weight).  An
# identity kernel is mostly zeros from calloc, dropped right after its first entries are read: 0.2 to
# 0.5 ns per weight measured (4 ns if the kernels were kept alive, every one then a fresh allocation).
QR_SECONDS = 0.1e-9
# Memory guard: a whole kernel larger than this (128 MiB of float64) is never drawn.
MAX_KERNEL_ENTRIES = 1 << 24
# Thinned plans sample every s-th n with s from this list, keeping at least MIN_THINNED_POINTS of them.
STRIDES = (2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
MIN_THINNED_POINTS = 10

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


def row_seconds(kind: str, n: np.ndarray, m: np.ndarray, samples: int) -> np.ndarray:
    """Modelled seconds to sample one row (one n, one m) of an initializer of distribution ``kind``.

    Elementwise kinds draw ``samples`` entries directly: ``CALL + samples * WEIGHT[kind] + STATS``.
    Whole-kernel kinds (``initializers.KERNEL_KINDS``) draw ``k = ceil(samples / (n m))`` kernels:
    ``k (CALL + n m WEIGHT[kind]) + STATS``, plus ``QR_SECONDS * k n m min(n, m)`` for orthogonal.
    ``n`` and ``m`` are arrays of the same shape (one entry per row).
    """
    calls, weights, qr = _row_work(kind, n, m, samples)
    return calls * CALL_SECONDS + weights * WEIGHT_SECONDS[kind] + qr * QR_SECONDS + STATS_SECONDS


def _row_work(kind: str, n: np.ndarray, m: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(initializer calls, weights drawn, n m min(n, m) QR work) per row, as float64 arrays."""
    n, m = np.asarray(n, dtype=np.float64), np.asarray(m, dtype=np.float64)
    if kind not in initializers.KERNEL_KINDS:
        return np.ones_like(n), np.full_like(n, float(samples)), np.zeros_like(n)
    calls = np.ceil(samples / (n * m))
    weights = calls * n * m
    qr = weights * np.minimum(n, m) if kind == "orthogonal" else np.zeros_like(n)
    return calls, weights, qr


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


class EntryPlan(NamedTuple):
    """Which rows of one initializer get sampled statistics, and what that costs.

    Rows with ``n < n_from`` are all sampled; from ``n_from`` on every ``stride``-th n
    (``n_from, n_from + stride, ...``) up to ``n_top``, and ``n_top`` itself.  Nothing above ``n_top``
    is sampled (``n_top < n_min``: nothing at all).  The theory columns cover every row regardless.
    """

    key: str
    label: str
    kind: str  # the initializer's distribution at the largest n (initializers.Initializer.kind)
    n_min: int
    n_max: int
    n_from: int
    stride: int
    n_top: int
    calls: int  # initializer calls the sampled rows make
    weights: int  # weights they draw
    qr_work: int  # sum of n m min(n, m) over the orthogonal kernels they draw
    seconds: float  # modelled seconds of the sampled rows (row_seconds), theory rows excluded
    reason: str  # what one draw costs, in words: "each draw needs a QR factorization of an n × n matrix"

    @property
    def reduced(self) -> bool:
        """Whether some rows are not sampled."""
        return self.n_top < self.n_max or (self.stride > 1 and self.n_from < self.n_top)

    def sampled(self, ns: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows ``ns`` (fan-in values) that are sampled."""
        ns = np.asarray(ns)
        on_grid = (ns >= self.n_from) & ((ns - self.n_from) % self.stride == 0)
        return (ns <= self.n_top) & ((ns < self.n_from) | on_grid | (ns == self.n_top))

    @property
    def note(self) -> str | None:
        """One plain sentence saying which n are sampled and why, or None when every n is."""
        if not self.reduced:
            return None
        if self.n_top < self.n_min:
            return f"{self.label}: no sampled min/max ({self.reason}, too slow even at n = {self.n_min})"
        parts = []
        if self.n_top < self.n_max:
            parts.append(f"sampled only up to n = {self.n_top}")
        if self.stride > 1 and self.n_from < self.n_top:
            every = f"at every {_ordinal(self.stride)} n" + (f" from {self.n_from} on" if self.n_from > self.n_min else "")
            parts.append(every if parts else f"sampled {every}")
        return f"{self.label}: {', '.join(parts)} ({self.reason})"


class RangePlan(NamedTuple):
    """The sampling plan of a :func:`range_curves` request (see :func:`plan_ranges`)."""

    entries: tuple[EntryPlan, ...]
    samples: int
    fan_out: int | None
    budget: float
    seconds: float  # modelled seconds of the whole request: sampled rows plus every theory row

    @property
    def reduced(self) -> bool:
        """Whether any initializer is sampled at fewer n than requested."""
        return any(e.reduced for e in self.entries)

    @property
    def note(self) -> str:
        """What the page should say under the chart when the request was thinned; "" when it was not."""
        notes = [e.note for e in self.entries if e.note]
        if not notes:
            return ""
        return ("To draw in about a second, the sampled min/max are shown at fewer n (the theory lines "
                "still cover every n): " + "; ".join(notes) + ".")


def _reason(kind: str, n_lo: int, n_hi: int, fan_out: int | None, samples: int) -> str:
    if kind == "orthogonal":
        if fan_out is None:
            shape = "an n × n matrix"
        elif fan_out >= n_hi:
            shape = f"a {fan_out} × n matrix"
        elif fan_out <= n_lo:
            shape = f"an n × {fan_out} matrix"
        else:
            shape = f"a max(n, {fan_out}) × min(n, {fan_out}) matrix"
        return f"each draw needs a QR factorization of {shape}"
    if kind in initializers.KERNEL_KINDS:
        return "each draw builds a whole n × " + ("n" if fan_out is None else str(fan_out)) + " kernel"
    return f"{samples} weights are drawn at each n"


def _thin(costs: np.ndarray, limit: int, share: float) -> tuple[int, int, int]:
    """(first thinned row, stride, top row) of the densest plan of the rows ``0..limit-1`` within ``share``.

    Preference: every row; else the smallest stride that fits, with as many rows before the thinned
    part as fit; else the highest top row for which some stride fits.  Returns top row -1 when not
    even row 0 fits.
    """

    def best(t: int) -> tuple[int, int] | None:
        c = costs[: t + 1]
        if c.sum() <= share:
            return t + 1, 1
        prefix = np.concatenate([[0.0], np.cumsum(c)])[:-1]  # prefix[f] = cost of rows 0..f-1
        f = np.arange(t + 1)
        for s in (s for s in STRIDES if (t + 1) / s >= MIN_THINNED_POINTS):
            pad = np.concatenate([c, np.zeros(-c.size % s)]).reshape(-1, s)
            tail = np.cumsum(pad[::-1], axis=0)[::-1].reshape(-1)[: t + 1]  # c[f] + c[f+s] + ...
            total = prefix + tail + np.where((t - f) % s != 0, c[t], 0.0)
            ok = np.flatnonzero(total <= share)
            if ok.size:
                # A dense part shorter than one stride reads as noise ("every 50th n from 2 on"):
                # start the thinned part at the first row instead when that fits too.
                f_best = int(ok[-1])
                return (0 if f_best < s and total[0] <= share else f_best), s
        return None

    if limit <= 0 or costs[0] > share:
        return 0, 1, -1
    lo, hi = 0, limit - 1  # best(lo) fits; find the largest fitting top row
    if best(hi) is not None:
        lo = hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if best(mid) is not None:
            lo = mid
        else:
            hi = mid - 1
    f, s = best(lo)  # type: ignore[misc]
    return f, s, lo


def _validate(n_max: Any, n_min: Any, fan_out: Any, samples: Any, budget: Any) -> tuple[int, int, int | None, int, float]:
    n_min = _check_int(n_min, "n_min", 1)
    n_max = _check_int(n_max, "n_max", 1, N_MAX_LIMIT)
    if n_max < n_min:
        raise ValueError(f"n_max must be >= n_min = {n_min}; got n_max = {n_max!r}")
    samples = _check_int(samples, "samples", *SAMPLES_RANGE)
    if fan_out is not None:
        fan_out = _check_int(fan_out, "fan_out", 1)
    ok = isinstance(budget, (int, float, np.floating)) and not isinstance(budget, bool) and math.isfinite(budget) \
        and budget > 0
    if not ok:
        raise ValueError(f"budget must be a positive number of seconds; got {budget!r}")
    return n_max, n_min, fan_out, samples, float(budget)


def _resolve(inits: Any) -> list[tuple[initializers.Initializer, str, str]]:
    if isinstance(inits, str) or (isinstance(inits, tuple) and len(inits) in (2, 3) and isinstance(inits[0], str)
                                  and isinstance(inits[1], Mapping)):
        inits = [inits]  # a single entry rather than a sequence of entries
    entries = [_parse_entry(e) for e in inits]
    if not entries:
        raise ValueError("inits must name at least one initializer; got an empty sequence")
    resolved = []
    seen: set[str] = set()
    for name, params, label in entries:
        init = initializers.get(name, **params)
        key = _display_key(name, params)
        if key in seen:
            raise ValueError(f"duplicate initializer entry {key!r}")
        seen.add(key)
        resolved.append((init, key, label or initializers.spec(name).label))
    return resolved


def _plan(resolved: list[tuple[initializers.Initializer, str, str]], n_max: int, n_min: int,
          fan_out: int | None, samples: int, budget: float) -> RangePlan:
    ns = np.arange(n_min, n_max + 1, dtype=np.int64)
    ms = ns if fan_out is None else np.full_like(ns, fan_out)
    theory = ROW_SECONDS * ns.size * len(resolved)
    # The theory rows are not thinned; whatever they leave (at least a quarter) is for sampling.
    avail = max(budget - theory, budget / 4)
    rows = []
    for init, key, label in resolved:
        kind = init.kind(int(ns[-1]), int(ms[-1]))
        if init.kind(int(ns[0]), int(ms[0])) != kind:  # no registry entry does this; stay exact if one does
            kinds = [init.kind(int(n), int(m)) for n, m in zip(ns, ms)]
            costs = np.array([row_seconds(k, n, m, samples) for k, n, m in zip(kinds, ns, ms)], dtype=np.float64)
        else:
            costs = row_seconds(kind, ns, ms, samples)
        # Whole kernels beyond the memory guard are never drawn: rows from the first such one are out.
        big = np.flatnonzero((ns * ms > MAX_KERNEL_ENTRIES) & (kind in initializers.KERNEL_KINDS))
        rows.append((init, key, label, kind, costs, int(big[0]) if big.size else ns.size))
    # Water-filling: the cheapest entries take all they need, the rest share what is left equally.
    order = sorted(range(len(rows)), key=lambda i: float(rows[i][4][: rows[i][5]].sum()))
    plans: list[EntryPlan | None] = [None] * len(rows)
    left = avail
    for done, i in enumerate(order):
        init, key, label, kind, costs, limit = rows[i]
        share = left / (len(rows) - done)
        f, s, t = _thin(costs, limit, share)
        n_from, n_top = int(ns[min(f, ns.size - 1)]), int(ns[t]) if t >= 0 else n_min - 1
        if t >= 0 and f > t:  # every row up to the top
            n_from, s = n_min, 1
        plan = EntryPlan(key, label, kind, n_min, n_max, n_from, s, n_top, 0, 0, 0, 0.0,
                         _reason(kind, n_min, n_max, fan_out, samples))
        mask = plan.sampled(ns)
        calls, weights, qr = _row_work(kind, ns[mask], ms[mask], samples)
        spent = float(costs[mask].sum())
        plans[i] = plan._replace(calls=int(calls.sum()), weights=int(weights.sum()), qr_work=int(qr.sum()),
                                 seconds=spent)
        left -= spent
    done_plans = tuple(p for p in plans if p is not None)
    return RangePlan(done_plans, samples, fan_out, budget, theory + sum(p.seconds for p in done_plans))


def plan_ranges(
    inits: Sequence[str | tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str]],
    n_max: int = 100,
    *,
    n_min: int = 1,
    fan_out: int | None = None,
    samples: int = 1000,
    budget: float = BUDGET_SECONDS,
) -> RangePlan:
    """What :func:`range_curves` with the same arguments will sample, and what that costs (no drawing).

    Cheap and deterministic (no RNG, no timing): the cost model (:func:`row_seconds`) decides.  When
    the whole request is modelled above ``budget`` seconds, the sampled rows are thinned: the cheapest
    initializers keep every n, the expensive ones (orthogonal's QR factorizations, whole kernels) are
    sampled at every s-th n from some n on, and only up to a smaller n when even that is too slow.
    ``RangePlan.note`` says so in one sentence for the page ("" when nothing was thinned); each
    ``EntryPlan`` holds the counts (calls, weights, QR work) the draws will make.
    """
    n_max, n_min, fan_out, samples, budget = _validate(n_max, n_min, fan_out, samples, budget)
    return _plan(_resolve(inits), n_max, n_min, fan_out, samples, budget)


def range_curves(
    inits: Sequence[str | tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str]],
    n_max: int = 100,
    *,
    n_min: int = 1,
    fan_out: int | None = None,
    samples: int = 1000,
    rng: np.random.Generator,
    budget: float = BUDGET_SECONDS,
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
        weights drawn per (initializer, n), in ``[10, 100000]``, in float64 by the initializer itself.
        Elementwise initializers (i.i.d. entries) draw exactly ``samples`` entries of the ``(n, m)``
        distribution (``Initializer.sample_entries``: the distribution of any ``samples`` entries of
        an ``(n, m)`` kernel, without drawing the rest).  Whole-kernel schemes (orthogonal, identity)
        draw ``ceil(samples / (n m))`` independent ``(n, m)`` kernels and keep their first ``samples``
        entries (row-major), so they are represented as they are really used.
    rng:
        the generator all draws come from (rows are drawn in order, so a seed fixes the frame).
    budget:
        modelled seconds the sampling may take (see :func:`plan_ranges`); above it the sampled rows are
        thinned, never refused.  The plan is ``df.attrs["plan"]`` (a :class:`RangePlan`; its ``note``
        is the sentence to show); ``plan_ranges`` with the same arguments returns the same plan.

    Returns
    -------
    DataFrame with one row per (initializer, n), initializers in the given order, and columns
    ``init`` (display key: the name, or ``name(k=v, ...)`` with the given parameters),
    ``label`` (the entry's label, else the initializer's), ``formula`` (``init.formula()``),
    ``n``, ``m``, ``theory_std``, ``theory_mean``, ``theory_lo`` / ``theory_hi`` (hard limits, NaN
    when unbounded), ``sample_min``, ``sample_max``, ``sample_std`` (ddof = 1) and
    ``sample_mean`` (NaN in the rows the plan does not sample).

    Raises
    ------
    ValueError
        for out-of-range arguments (naming the value), unknown initializers or parameters (from
        :func:`initlab.weights.initializers.get`) or duplicate entries.
    """
    n_max, n_min, fan_out, samples, budget = _validate(n_max, n_min, fan_out, samples, budget)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    resolved = _resolve(inits)
    plan = _plan(resolved, n_max, n_min, fan_out, samples, budget)

    ns = np.arange(n_min, n_max + 1, dtype=np.int64)
    ms = ns if fan_out is None else np.full_like(ns, fan_out)
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for (init, key, label), entry in zip(resolved, plan.entries):
        formula = init.formula()
        sampled = entry.sampled(ns)
        for n, m, draw in zip(ns.tolist(), ms.tolist(), sampled.tolist()):
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
            if not draw:
                for c in ("sample_min", "sample_max", "sample_std", "sample_mean"):
                    cols[c].append(math.nan)
                continue
            if init.kind(n, m) not in initializers.KERNEL_KINDS:
                w = init.sample_entries(n, m, samples, rng)
            else:
                k = -(-samples // (n * m))  # ceil(samples / (n m)) kernels
                w = init((n, m), rng).reshape(-1)[:samples] if k == 1 else \
                    np.concatenate([init((n, m), rng).reshape(-1) for _ in range(k)])[:samples]
            cols["sample_min"].append(float(w.min()))
            cols["sample_max"].append(float(w.max()))
            cols["sample_std"].append(float(w.std(ddof=1)))
            cols["sample_mean"].append(float(w.mean()))
    df = pd.DataFrame(cols, columns=list(COLUMNS))
    df = df.astype({"n": np.int64, "m": np.int64, **{c: np.float64 for c in COLUMNS[5:]}})
    df.attrs["plan"] = plan
    return df


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


def table_rows(inits: Sequence[str], n_max: int, m_fixed: int) -> list[dict[str, Any]]:
    """The Weight ranges page's table: each initializer's formula, std and limits at n = 1 and n = ``n_max``
    (``m_fixed`` 0: the fan-out equals n)."""
    rows = []
    for name in inits:
        init = initializers.get(name)
        row: dict[str, Any] = {"initializer": name, "formula": init.formula()}
        for n in (1, n_max):
            m = m_fixed or n
            lim = init.limits(n, m)
            row[f"std at n={n}"] = fmt(init.std(n, m))
            row[f"limits at n={n}"] = "unbounded" if lim is None else f"[{fmt(lim[0])}, {fmt(lim[1])}]"
        rows.append(row)
    return rows
