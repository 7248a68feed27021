"""The README's notebook section is documentation that runs: every ```python block of "## The core in a
notebook" is executed, in order, in one namespace (as a notebook would), and what a line states is checked.

A statement's trailing comment states its outcome:

* ``expr  # -> 32  free text``: ``expr`` evaluates to 32 (the literal up to two spaces; numbers, also
  inside tuples, to 3 significant digits, as the README quotes them; strings exactly);
* ``stmt  # raises ValueError: init='xavier': unknown``: running it raises that exception, whose message
  starts with the text given;
* anything else is run and must not raise; an expression's ``repr`` (and ``_repr_html_``, what Jupyter
  shows) is taken, as a notebook would. A line that is a comment only (``# initlab.propagate(big, ...)``)
  is not run.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The core in a notebook"


def blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION + "\n")
    end = readme.find("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", readme[start:end if end >= 0 else None], re.S)


def _close(got: object, want: object) -> bool:
    """``got`` equals ``want`` as the README quotes it: numbers to 3 significant digits."""
    if isinstance(want, tuple):
        return isinstance(got, tuple) and len(got) == len(want) and all(map(_close, got, want))
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        value = float(np.asarray(got))  # a 0-d array or a numpy scalar is a number too
        return math.isclose(value, want, rel_tol=5e-3) if want else value == 0
    return got == want


def _statements(code: str) -> list[tuple[str, str, bool]]:
    """(source, trailing comment, is an expression) of every top-level statement of ``code``."""
    lines = code.splitlines()
    out = []
    for node in ast.parse(code).body:
        src = ast.get_source_segment(code, node) or ""
        last = lines[node.end_lineno - 1]  # type: ignore[operator]
        rest = last[node.end_col_offset:]  # type: ignore[index]
        out.append((src, rest.split("#", 1)[1].strip() if "#" in rest else "", isinstance(node, ast.Expr)))
    return out


def test_the_section_has_the_three_parts():
    code = "\n".join(blocks())
    for part in ("initlab.propagate(", "initlab.train_many(", "meanfield.", "initlab.plots.figure("):
        assert part in code
    assert code.count("# ->") >= 10 and code.count("# raises") >= 3


def test_every_snippet_runs_and_states_the_truth():
    ns: dict[str, object] = {}
    checked = 0
    for code in blocks():
        for src, comment, expression in _statements(code):
            where = f"README: {src!r}"
            if comment.startswith("->"):
                want_text = re.split(r"\s{2,}", comment[2:].strip())[0]
                got = eval(compile(src, "README.md", "eval"), ns)  # noqa: S307 - our own README
                want = ast.literal_eval(want_text)
                assert _close(got, want), f"{where} gives {got!r}, the README says {want_text}"
                checked += 1
            elif comment.startswith("raises "):
                name, _, message = comment[len("raises "):].partition(": ")
                with pytest.raises(Exception) as exc:
                    exec(compile(src, "README.md", "exec"), ns)  # noqa: S102 - our own README
                assert type(exc.value).__name__ == name, f"{where} raised {exc.value!r}"
                assert str(exc.value).startswith(message), f"{where} says {exc.value}, the README {message}"
                checked += 1
            elif expression:  # a notebook cell's last line: shown, so its repr and HTML must work
                got = eval(compile(src, "README.md", "eval"), ns)  # noqa: S307 - our own README
                assert repr(got)
                if hasattr(got, "_repr_html_"):
                    assert got._repr_html_()
            else:
                exec(compile(src, "README.md", "exec"), ns)  # noqa: S102 - our own README
    assert checked >= 13
