"""How numbers and shares are written (initlab.numerics.format), and that nothing else writes them."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from initlab.numerics import format as numfmt
from initlab.numerics.format import MISSING, fmt, fmt_or_dash, pct


def test_fmt_three_significant_digits():
    assert fmt(16.0271) == "16" and fmt(0.07807) == "0.0781" and fmt(1060) == "1060"
    assert fmt(3.0213e-41) == "3.02e-41" and fmt(1.06e10) == "1.06e10" and fmt(1e-4) == "1e-4"
    assert fmt(0) == "0" and fmt(math.inf) == "inf" and fmt(-math.inf) == "-inf" and fmt(math.nan) == "NaN"


def test_fmt_signs_zeros_and_numpy_scalars():
    assert fmt(-16.0271) == "-16" and fmt(-3.0213e-41) == "-3.02e-41" and fmt(-0.0) == "0"
    assert fmt(np.float32(0.1)) == "0.1" and fmt(np.float64(2.5e-7)) == "2.5e-7"
    assert fmt(1.7976931348623157e308) == "1.8e308" and fmt(5e-324) == "4.94e-324"  # the float64 extremes


@pytest.mark.parametrize("x, want", [
    (1e-3, "0.001"), (0.00099951, "0.001"),  # rounds to 1e-3: written like it, not "1e-3"
    (0.0009994, "9.99e-4"), (0.00099949, "9.99e-4"),
    (9990.0, "9990"), (9994.9, "9990"), (9999.6, "1e4"), (1e4, "1e4"), (-9999.6, "-1e4"),  # "10000" before
    (12345.0, "1.23e4"),
])
def test_fmt_chooses_plain_or_scientific_on_the_rounded_value(x, want):
    assert fmt(x) == want


def test_fmt_or_dash_writes_a_dash_where_there_is_no_value():
    assert fmt_or_dash(0.8125) == "0.812" == fmt(0.8125) and fmt_or_dash(0.0) == "0"
    assert fmt_or_dash(None) == fmt_or_dash(math.nan) == fmt_or_dash(math.inf) == fmt_or_dash(-math.inf) == MISSING
    assert MISSING == "—"


@pytest.mark.parametrize("frac, want", [
    (0.0, "0%"), (-0.0, "0%"), (math.nan, "NaN"), (math.inf, "NaN"),
    (0.0037, "0.37%"), (0.068, "6.8%"), (0.0999, "10%"), (0.0996, "10%"), (0.0994, "9.9%"),
    (1e-6, "0.0001%"), (1.5e-7, "1.5e-5%"),  # a small share never reads 0%; exponents as fmt writes them
    (0.1, "10%"), (0.734, "73%"), (0.99, "99%"),
    (0.994, ">99%"), (0.996, ">99%"), (0.9999, ">99%"),  # never a partial share rounded up to 100%
    (1.0, "100%"),
    (-0.068, "-6.8%"), (-0.5, "-50%"),  # not a share, but written by the same rules
])
def test_pct(frac, want):
    assert pct(frac) == want


def test_pct_writes_every_share_the_verdicts_quote_as_they_wrote_it():
    """The verdicts quote shares above 10% only (saturation above 50%, dead units above 10%): there the one
    ``pct`` writes what the verdicts' own ``_pct`` wrote ("<1%" only ever applied below 1%)."""
    def before(frac: float) -> str:
        p = 100.0 * frac
        return ">99%" if 99 < p < 100 else f"{p:.0f}%"
    shares = np.concatenate([np.linspace(0.1, 1.0, 9001), [0.10000001, 0.5000001, 0.985, 0.995, 0.99999]])
    assert [pct(f) for f in shares] == [before(f) for f in shares]


# Number formatters defined outside numerics/format.py that may stay, each with its reason.
ALLOWED = {
    ("initlab/ui/controls.py", "fmt"): "a choice widget's format_func (option key -> label), not a number",
}
NAMES = {"fmt", "pct", "_pct", "_f", "fmt_or_dash"}


def test_numbers_are_written_by_numerics_format_only():
    """An AST scan: no module under initlab but numerics/format.py defines a function ``fmt``, ``pct``,
    ``_pct``, ``_f`` or ``fmt_or_dash`` that returns text (a function of such a name annotated to return
    something else, such as initializers' ``_f`` -> ParamSpec, is not a formatter)."""
    pkg = Path(numfmt.__file__).resolve().parents[1]
    found = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg.parent).as_posix()
        if path == Path(numfmt.__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in NAMES \
                    and (node.returns is None or ast.unparse(node.returns) == "str") \
                    and (rel, node.name) not in ALLOWED:
                found.append(f"{rel}:{node.lineno} {node.name}")
    assert not found, f"numbers written outside initlab/numerics/format.py (import fmt / pct from there): {found}"


def test_verdict_fmt_is_the_one_fmt():
    """``verdict.fmt`` stays importable (the pages and tests use it) and is the same function."""
    from initlab.signal import verdict

    assert verdict.fmt is fmt
