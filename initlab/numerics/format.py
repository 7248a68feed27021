"""Numbers written for people: the one place that decides how a number or a share reads in a sentence.

Every verdict, summary, table and caption that quotes a number writes it with one of these, so the same
value reads the same wherever it appears (and a preset text quoting it can be checked against it):

* :func:`fmt`: a number in 3 significant digits (``16``, ``0.0781``, ``1.06e10``, ``NaN``);
* :func:`fmt_or_dash`: the same, or ``—`` where there is no value to quote (a table cell);
* :func:`pct`: a share in percent (``0.37%``, ``6.8%``, ``73%``, ``>99%``, ``100%``).
"""

from __future__ import annotations

import math

__all__ = ["MISSING", "fmt", "fmt_or_dash", "pct"]

MISSING = "—"
"""What a table shows where a value is missing (no restart finished, a loss that is inf or NaN)."""


def fmt(x: float) -> str:
    """``x`` in 3 significant digits: plain for ``1e-3 <= |r| < 1e4``, scientific otherwise, where ``r``
    is ``x`` rounded to 3 significant digits.

    ``fmt(16.0271) == "16"``, ``fmt(0.07807) == "0.0781"``, ``fmt(-1060) == "-1060"``,
    ``fmt(3.0213e-41) == "3.02e-41"``, ``fmt(1.06e10) == "1.06e10"``, ``fmt(0.0) == "0"``,
    ``fmt(inf) == "inf"``, ``fmt(-inf) == "-inf"``, ``fmt(nan) == "NaN"``. Trailing zeros are dropped
    (``1e4``, not ``1.00e+04``). The choice between plain and scientific is made on the rounded value, so
    a number that rounds to a boundary reads like the boundary: ``fmt(9999.6) == fmt(1e4) == "1e4"``,
    ``fmt(0.00099951) == fmt(1e-3) == "0.001"``.
    """
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    r = float(f"{x:.3g}")
    if 1e-3 <= abs(r) < 1e4:
        return f"{r:g}"
    return _scientific(f"{x:.2e}")


def _scientific(s: str) -> str:
    """``"1.50e-05"`` -> ``"1.5e-5"``: Python's exponent form without trailing zeros, plus sign or padding."""
    mant, exp = s.split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def fmt_or_dash(x: float | None) -> str:
    """:func:`fmt` of ``x``, or :data:`MISSING` (``—``) when ``x`` is None, NaN or +-inf.

    For table cells of statistics over restarts, where a missing or non-finite statistic has no digits to
    show; a caller that must tell an infinite value apart says so beside it (the training table adds
    "(k inf/NaN)").
    """
    return MISSING if x is None or not math.isfinite(x) else fmt(x)


def pct(frac: float) -> str:
    """A share ``frac`` (0..1) in percent, ``p = 100 * frac``:

    * ``p == 0``: ``"0%"``; NaN or +-inf (no share): ``"NaN"``;
    * ``|p| < 10``: two significant digits, ``"0.37%"``, ``"6.8%"`` (exponents as :func:`fmt` writes
      them: ``"1.5e-5%"``), so a small non-zero share never reads ``0%``;
    * otherwise the whole percent, ``"73%"``, except strictly between 99% and 100%: ``">99%"``, so a
      partial share never reads ``100%``; exactly 1 is ``"100%"``.

    A share that two significant digits round up to 10 reads ``"10%"`` (``pct(0.0996) == "10%"``), as the
    whole-percent rule writes 10% itself: both rules agree at the boundary.
    """
    p = 100.0 * float(frac)
    if math.isnan(p) or math.isinf(p):
        return "NaN"
    if p == 0:
        return "0%"
    if 99 < p < 100:
        return ">99%"
    if abs(p) >= 10:
        return f"{p:.0f}%"
    s = f"{p:.2g}"
    return (_scientific(s) if "e" in s else s) + "%"
