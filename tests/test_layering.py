"""Layering: the core imports neither streamlit nor plotly, and nothing runs code taken from data."""

import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "initlab"
# The house rule: plotly figures only in initlab/plots/, Streamlit only in initlab/ui/; everything else is
# the core, which a notebook can use with numpy and pandas alone.
NOT_CORE = ("plots", "ui")
SKIP_DIRS = {".git", "tests", "__pycache__", "node_modules", ".venv", "venv", ".hypothesis", ".pytest_cache"}


def _module(p: Path) -> str:
    parts = p.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _core_modules() -> list[str]:
    return sorted({_module(p) for p in PKG.rglob("*.py") if "__pycache__" not in p.parts
                   and p.relative_to(PKG).parts[0] not in NOT_CORE})


CORE = _core_modules()


def test_the_expected_core_modules_are_discovered():
    for m in ("weights.initializers", "weights.activations", "signal.network", "numerics.stats", "teaching.ranges",
              "signal.scenario", "theory.meanfield", "numerics.gaussian", "signal.spectra", "signal.lsuv",
              "training.engine", "pages", "schema"):
        assert f"initlab.{m}" in CORE
    assert not [m for m in CORE if m.startswith(("initlab.ui", "initlab.plots"))]


# The folder tree is the architecture: a package imports only from its own layer or the ones below.
LAYERS = (
    ("initlab.numerics",),
    ("initlab.weights",),
    ("initlab.schema",),  # its registry fields list the initializers and activations
    ("initlab.signal",),
    ("initlab.theory", "initlab.training"),
    ("initlab.pages",),
    ("initlab.teaching",),
    ("initlab.plots",),
    ("initlab.ui",),
)


def _layer(module: str) -> tuple[int, str] | None:
    for i, group in enumerate(LAYERS):
        for pkg in group:
            if module == pkg or module.startswith(pkg + "."):
                return i, pkg
    return None


def test_every_module_imports_only_its_own_layer_or_below():
    """numerics < weights < schema < signal < theory, training < pages < teaching < plots < app; theory and
    training (one layer) do not import each other."""
    offenders = []
    for p in _py_files(PKG):
        if p == PKG / "__init__.py":  # the public API re-exports from every layer
            continue
        me = _layer(_module(p))
        assert me is not None, f"{p} belongs to no layer: add its package to LAYERS"
        tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                other = _layer(name)
                if other is None:
                    continue
                if other[0] > me[0] or (other[0] == me[0] and other[1] != me[1]):
                    offenders.append(f"{p.relative_to(ROOT)} imports {name}")
                    break
    assert not offenders, offenders


# One interpreter for all of them (one per module cost ~26 interpreter starts for what the AST test
# above already proves statically); this one catches what the AST cannot see, e.g. an import through
# importlib or a core module importing a plots/app module that imports streamlit. Each import records
# which modules it added to sys.modules, so a failure names the core module that pulled them in.
_IMPORT_ALL = """
import importlib, json, sys
grown = {}
for name in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(name)
    grown[name] = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('streamlit', 'plotly'))
print(json.dumps(grown))
"""


def test_core_modules_import_without_streamlit_or_plotly():
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL, *CORE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    grown = json.loads(proc.stdout.splitlines()[-1])
    assert sorted(grown) == CORE
    offenders = {m: bad[:5] for m, bad in grown.items() if bad}
    assert not offenders, f"importing these core modules loaded streamlit/plotly: {offenders}"


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
        if rel.parts[1] in NOT_CORE:
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


# A module grows past this many lines only with a reason at its top (a "Why one module" paragraph in
# its docstring), so that a newcomer sees either a short module or why it is not split.
LONG_MODULE_LINES = 600


def test_every_long_module_says_why_it_is_one_module():
    offenders = []
    for p in _py_files(PKG):
        text = p.read_text(encoding="utf-8")
        if text.count("\n") > LONG_MODULE_LINES and "Why one module" not in (ast.get_docstring(ast.parse(text)) or ""):
            offenders.append(f"{p.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not offenders, offenders


_ISSUE_REF = re.compile(r"\bissues?\s*#?\d+", re.I)


def test_no_comment_or_docstring_cites_an_issue_number():
    """Issue numbers mean nothing to a reader of the code; the reason itself belongs in the comment."""
    offenders = []
    for top in (PKG, ROOT / "tests", ROOT / "benchmarks", ROOT / "deploy"):
        for p in _py_files(top):
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if _ISSUE_REF.search(line) and p.name != "test_layering.py":
                    offenders.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:80]}")
    assert not offenders, offenders
