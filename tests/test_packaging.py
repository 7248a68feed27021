"""The core is an installable package: ``pip install .`` gives ``import initlab`` with numpy,
pandas and scikit-learn (its training datasets) only; the extras add numba and the app's packages, with
requirements.in's bounds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import initlab
from tests.test_requirements import intents

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _specs(reqs: list[str]) -> dict[str, str]:
    return {canonicalize_name(r.name): str(r.specifier) for r in map(Requirement, reqs)}


def test_the_core_needs_numpy_pandas_and_scikit_learn_only() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == "initlab" and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "initlab.__version__"}
    assert set(_specs(project["dependencies"])) == {"numpy", "pandas", "scikit-learn"}


def test_the_bounds_are_requirements_ins() -> None:
    """One reason per bound: requirements.in says why; pyproject repeats its bounds, never other ones."""
    wanted = {canonicalize_name(r.name): str(r.specifier) for r in intents(ROOT / "requirements.in")}
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    declared = {**_specs(project["dependencies"]), **_specs(extras["app"]), **_specs(extras["numba"])}
    assert {name: wanted[name] for name in declared} == declared
    assert set(_specs(extras["app"])) | set(_specs(project["dependencies"])) == set(wanted)  # the app: all of it


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    import initlab
    from initlab import Scenario, TrainScenario, propagate, train
    res = propagate(Scenario(init="random_normal", stddev=1.0, activation="linear", depth=250))
    tr = train(TrainScenario(steps=50, restarts=2), records=5)
    absent = [m for m in ("streamlit", "plotly", "numba") if importlib.util.find_spec(m) is not None]
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"streamlit", "plotly", "numba"})
    print(json.dumps({"file": initlab.__file__, "version": initlab.__version__, "overflow": res.first_nonfinite_layer,
                      "verdict": res.verdict().kind, "engine": tr.engine, "loss": tr.loss.tolist(),
                      "installed": absent, "loaded": loaded}))
""")


def test_pip_install_gives_a_core_that_runs_without_the_app(tmp_path: Path) -> None:
    """A fresh virtual environment, ``pip install .`` (numpy, pandas and scikit-learn come from the index or
    pip's cache):
    propagate and train run, with neither streamlit, plotly nor numba installed. Measured 18-22 s on the
    2-core machine, with or without pip's cache: not marked slow."""
    src = tmp_path / "src"  # a copy: setuptools writes build/ and *.egg-info next to the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "initlab", src / "initlab", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)]).check_returncode()
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", str(src)], env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Run from an empty directory, so that the source tree cannot be imported instead of the installed package.
    out = _run([str(py), "-c", SCRIPT], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    got = json.loads(out.stdout)
    assert got["file"].startswith(str(venv)) and got["version"] == initlab.__version__
    assert got["installed"] == [] and got["loaded"] == []
    assert got["overflow"] == 32 and got["verdict"] == "overflow"  # the README's numbers
    assert got["engine"] == "numpy"  # numba absent: the reference path
    # Same losses as here on the numpy engine (the installed numpy may be another version: rounding only).
    here = initlab.train(initlab.TrainScenario(steps=50, restarts=2), records=5, engine="numpy")
    np.testing.assert_allclose(got["loss"], here.loss, rtol=1e-5)
