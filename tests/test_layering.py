"""Layering: the core imports neither streamlit nor plotly, and nothing runs code taken from data."""

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "initlab"
UI_ONLY = set(PKG.glob("plots*.py"))  # the house rule: plotly figures only in initlab/plots*; initlab/ui/ is the Streamlit app
SKIP_DIRS = {".git", "tests", "__pycache__", "node_modules", ".venv", "venv", ".hypothesis", ".pytest_cache"}


def _core_modules() -> list[str]:
    mods = ["initlab"]
    mods += [f"initlab.{p.stem}" for p in sorted(PKG.glob("*.py")) if p.name != "__init__.py" and p not in UI_ONLY]
    return mods


CORE = _core_modules()


def test_the_expected_core_modules_are_discovered():
    for m in ("initializers", "activations", "network", "stats", "ranges", "scenario", "theory", "gaussian", "spectra",
              "lsuv"):
        assert f"initlab.{m}" in CORE


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_without_streamlit_or_plotly(module):
    code = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _py_files(top: Path):
    for p in sorted(top.rglob("*.py")):
        if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts[:-1]):
            yield p


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):  # includes imports inside functions (lazy imports)
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_core_file_imports_streamlit_or_plotly():
    offenders = []
    for p in _py_files(PKG):
        rel = p.relative_to(ROOT)
        if p in UI_ONLY or rel.parts[:2] == ("initlab", "ui"):
            continue
        text = p.read_text(encoding="utf-8")
        try:
            roots = _imported_roots(ast.parse(text, filename=str(p)))
        except SyntaxError:  # a file mid-edit: fall back to a line scan
            roots = set(re.findall(r"^\s*(?:import|from)\s+(streamlit|plotly)\b", text, re.M))
        bad = roots & {"streamlit", "plotly"}
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert not offenders, offenders


_DANGEROUS = {"eval", "exec"}


def _dangerous_calls(text: str) -> list[str]:
    """eval(/exec( (plain or as a method, e.g. DataFrame.eval) and pickle.load(s), found in the token
    stream so that comments and strings do not count."""
    found = []
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)]
    for i, t in enumerate(toks[:-1]):
        nxt = toks[i + 1]
        if t.type == tokenize.NAME and t.string in _DANGEROUS and nxt.string == "(":
            found.append(f"line {t.start[0]}: {t.string}(")
        if (t.type == tokenize.NAME and t.string == "pickle" and nxt.string == "." and i + 2 < len(toks)
                and toks[i + 2].string in ("loads", "load")):
            found.append(f"line {t.start[0]}: pickle.{toks[i + 2].string}")
        if t.string == "from" and nxt.string == "pickle":
            found.append(f"line {t.start[0]}: from pickle import")
    return found


def test_dangerous_call_detector_works():
    assert _dangerous_calls("x = eval('1')\n")
    assert _dangerous_calls("df.eval('a + b')\n")
    assert _dangerous_calls("import pickle\npickle.loads(b)\n")
    assert not _dangerous_calls("# never eval(\ns = 'exec(x)'\nevaluate(1)\nnp.linalg.eigvals(a)\n")


def test_nothing_outside_tests_uses_pickle_eval_or_exec():
    offenders = []
    for p in _py_files(ROOT):
        text = p.read_text(encoding="utf-8")
        try:
            hits = _dangerous_calls(text)
        except (tokenize.TokenError, SyntaxError, IndentationError):  # a file mid-edit: plain text scan
            hits = re.findall(r"\b(?:eval|exec)\s*\(|pickle\.loads?\b", text)
        offenders += [f"{p.relative_to(ROOT)} {h}" for h in hits]
    assert not offenders, offenders
