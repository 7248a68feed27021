"""initlab.ui.results.store and the build command: the precomputed store round-trips, refuses stale or unsafe
files, and serves every preset link's opening page without computing anything.

* round trip: every product the build stores equals a fresh computation bit for bit (arrays, tables,
  numbers) and comes back read-only (frozen dataclasses, unwritable arrays, a ReadOnlyFrame);
* staleness: a store built by other code (another code version) is refused with a log line, and the
  code version changes with any source file;
* no pickle: every .npz loads with ``allow_pickle=False``; a pickled array, a pickle file posing as an
  .npz and a type outside the allow-list are all refused (and the pickle never runs);
* the app (AppTest) serves the bare link and every preset link from a store built by
  ``python -m initlab.ui.results.build`` with every engine function patched to raise.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from initlab.signal import network
from initlab.ui.results import products
from initlab.teaching import ranges
from initlab.signal import spectra
from initlab.ui.results import store
from initlab.theory import meanfield as theory
from initlab.training import engine as training
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import Scenario
from initlab.ui.results import cache as compute
from initlab.ui.results import build as precompute

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SMALL = Scenario(depth=3, width=8, batch=4)
FAILED = ("could not be drawn", "Not computed", "cannot be computed")  # the app's own failure boxes


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A store built by the documented command, in a subprocess, as the Dockerfile runs it."""
    path = tmp_path_factory.mktemp("store") / "initlab"
    res = subprocess.run([sys.executable, "-m", "initlab.ui.results.build", str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "note:" not in res.stdout, res.stdout  # the pages' own products list everything they compute
    return path


def _own_store(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """This test's store in the app's module, the process's own restored afterwards."""
    monkeypatch.setattr(compute, "STORE", None)
    monkeypatch.setattr(compute, "_store_loaded", False)


def small_store(path: Path, version: str | None = None) -> Path:
    return store.save(path, [("propagate", (SMALL,), network.propagate(SMALL)),
                             ("predict", (SMALL,), theory.predict(SMALL))], version)


# ------------------------------------------------------------------------------------------ round trip


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_same(loaded, computed, where: str = "value") -> None:  # type: ignore[no-untyped-def]
    """``loaded`` equals ``computed`` bit for bit, and is read-only wherever it holds arrays."""
    assert type(loaded) is type(computed), f"{where}: {type(loaded).__name__} != {type(computed).__name__}"
    if isinstance(computed, np.ndarray):
        assert loaded.dtype == computed.dtype and loaded.shape == computed.shape, where
        assert loaded.tobytes() == computed.tobytes(), f"{where}: values differ"
        assert not loaded.flags.writeable, f"{where}: writable"
    elif isinstance(computed, np.generic):
        assert loaded.dtype == computed.dtype and loaded.tobytes() == computed.tobytes(), where
    elif isinstance(computed, pd.DataFrame):
        assert list(loaded.columns) == list(computed.columns), where
        assert loaded.index.equals(computed.index) and type(loaded.index) is type(computed.index), where
        pd.testing.assert_frame_equal(loaded, computed, check_exact=True, check_frame_type=True)
        for c in computed.columns:
            a, b = loaded[c].to_numpy(), computed[c].to_numpy()
            assert loaded[c].dtype == computed[c].dtype, f"{where}.{c}"
            if b.dtype.kind in "biuf":
                assert a.tobytes() == b.tobytes(), f"{where}.{c}: values differ"
        assert_same(dict(loaded.attrs), dict(computed.attrs), f"{where}.attrs")
    elif dataclasses.is_dataclass(computed):
        # A TrainResult's engine first: numbers that differ because another engine trained them say so.
        for f in sorted(dataclasses.fields(computed), key=lambda f: f.name != "engine"):
            if f.name == "seconds":  # a TrainResult's wall time: how long it took, not what it computed
                assert isinstance(getattr(loaded, f.name), float)
                continue
            assert_same(getattr(loaded, f.name), getattr(computed, f.name), f"{where}.{f.name}")
        if type(computed).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(loaded, dataclasses.fields(computed)[0].name, None)
    elif isinstance(computed, (tuple, list)):
        assert len(loaded) == len(computed), where
        for i, (a, b) in enumerate(zip(loaded, computed)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(computed, dict):
        assert list(loaded) == list(computed), where
        for k in computed:
            assert_same(loaded[k], computed[k], f"{where}[{k!r}]")
    elif isinstance(computed, float):
        assert _bits(loaded) == _bits(computed), f"{where}: {loaded!r} != {computed!r}"
    else:
        assert loaded == computed, f"{where}: {loaded!r} != {computed!r}"


def _fresh_process(items: list) -> list:  # type: ignore[type-arg]
    """``products.compute`` of every item in a new Python process (what a freshly started server computes)."""
    code = ("import pickle, sys; from initlab.ui.results import products; "
            "items = pickle.load(sys.stdin.buffer); "
            "sys.stdout.buffer.write(pickle.dumps([products.compute(k, a) for k, a in items]))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, input=pickle.dumps(items), capture_output=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    return pickle.loads(res.stdout)


@pytest.mark.slow
def test_every_stored_product_equals_a_fresh_computation_bit_for_bit(built) -> None:
    """Every product as a fresh server process computes it. The trainings are computed in a new process:
    in this one (thousands of tests in), a float32 residual + BatchNorm training of the compiled kernel
    once came out different in its last bits from the same training in a new process, which no other
    process has reproduced (see the session notes); the store's promise is the freshly started server's."""
    got = store.load(built)
    assert got is not None
    items = products.preset_products()
    kinds = {k for k, _ in items}
    assert kinds == set(products.COMPUTE)  # every kind is exercised
    assert len(got) == len(items) and all(item in got for item in items)
    trainings = [item for item in items if item[0] == "train"]
    fresh = dict(zip(trainings, _fresh_process(trainings)))
    for kind, args in items:
        computed = fresh[(kind, args)] if kind == "train" else products.compute(kind, args)
        assert_same(got.get(kind, args), computed, f"{kind}{args!r:.60}")


@pytest.mark.slow
def test_a_loaded_result_is_read_only_like_a_computed_one(built) -> None:
    res = store.load(built).get("propagate", (PRESETS["he_relu"].scenario,))  # type: ignore[union-attr]
    assert isinstance(res, network.Result) and isinstance(res.layers, network.ReadOnlyFrame)
    with pytest.raises(TypeError, match="read-only"):
        res.layers["act_std"] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        res.layers.loc[0, "act_std"] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        res.samples_act[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        res.hist_act.counts[0, 0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.loss = 0.0  # type: ignore[misc]
    assert res.layers.copy().iloc[0, 0] == res.layers.iloc[0, 0]  # readers work on copies as before


def test_lookups_follow_scenario_equality_and_none_is_a_stored_value(tmp_path) -> None:
    got = store.load(small_store(tmp_path / "s"))
    assert got is not None
    assert got.get("propagate", (dataclasses.replace(SMALL, bias_value=0.1),)) is got.get("propagate", (SMALL,))
    assert got.get("propagate", (dataclasses.replace(SMALL, seed=1),)) is store.Store.MISSING
    assert got.get("propagate", ([1],)) is store.Store.MISSING  # unhashable: never stored
    ones = Scenario(init="ones", depth=3, width=8, batch=4)  # no mean-field prediction: None is stored
    s2 = store.load(store.save(tmp_path / "n", [("predict", (ones,), theory.predict(ones))]))
    assert theory.predict(ones) is None and s2.get("predict", (ones,)) is None  # type: ignore[union-attr]
    key = store.canonical_key("propagate", (SMALL,))
    assert key == store.canonical_key("propagate", (Scenario(depth=3, width=8, batch=4),))
    assert json.loads(key)[1][0]["fields"] == dataclasses.asdict(SMALL)


# ------------------------------------------------------------------------------------------ staleness


def test_a_store_of_other_code_is_stale_refused_and_logged(tmp_path, caplog) -> None:
    path = small_store(tmp_path / "s", version="0123456789abcdef")
    with caplog.at_level(logging.INFO, logger="initlab"):
        assert store.load(path) is None
    msg = caplog.records[-1].getMessage()
    assert "stale" in msg and "0123456789abcdef" in msg and store.code_version() in msg and "serving cold" in msg
    assert "python -m initlab.ui.results.build" in msg
    assert store.load(small_store(tmp_path / "t")) is not None  # the same, built by this code


def test_the_code_version_follows_every_source_file(tmp_path) -> None:
    copy = tmp_path / "initlab"
    shutil.copytree(ROOT / "initlab", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "app.py", tmp_path / "app.py")
    assert store.code_version(copy) == store.code_version()
    (copy / "ui" / "shell.py").write_text((copy / "ui" / "shell.py").read_text() + "\n# a change\n")
    changed = store.code_version(copy)
    assert changed != store.code_version()
    (tmp_path / "app.py").write_text("# another app\n")
    assert store.code_version(copy) not in (changed, store.code_version())


def test_the_app_serves_cold_with_a_stale_or_missing_store(tmp_path, monkeypatch, caplog) -> None:
    _own_store(monkeypatch)
    stale = small_store(tmp_path / "s", version="0" * 16)
    with caplog.at_level(logging.INFO, logger="initlab"):
        monkeypatch.setenv("INITLAB_CACHE_DIR", str(stale))
        assert compute.load_store() is None
        monkeypatch.setenv("INITLAB_CACHE_DIR", str(tmp_path / "nowhere"))
        assert compute.load_store() is None
        monkeypatch.delenv("INITLAB_CACHE_DIR")
        assert compute.load_store() is None
    said = [r.getMessage() for r in caplog.records if r.name == "initlab"]
    assert len(said) == 3 and all("serving cold" in m for m in said), said
    assert "stale" in said[0] and "no manifest.json" in said[1] and "not set" in said[2]
    assert compute.propagate(SMALL).scenario == SMALL  # computed as usual


# ------------------------------------------------------------------------------------------ no pickle


@pytest.mark.slow
def test_every_array_file_loads_without_pickle(built) -> None:
    files = sorted(built.glob("*.npz"))
    assert files and sorted(p.name for p in built.iterdir() if p.suffix not in (".npz", ".parquet")) == ["manifest.json"]
    for p in files:
        with np.load(p, allow_pickle=False) as z:
            for name in z.files:
                assert z[name].dtype != object
    json.loads((built / "manifest.json").read_text())  # plain JSON


class _Boom:
    """Unpickling this would create a file: the proof that a loader ran pickled code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.marker),))


def _entry_npz(path: Path) -> Path:
    return next(path.glob("*.npz"))


def test_a_pickled_array_is_refused(tmp_path, caplog) -> None:
    path = small_store(tmp_path / "s")
    marker = tmp_path / "pickle-ran"
    npz = _entry_npz(path)
    with np.load(npz, allow_pickle=False) as z:
        arrays = {n: z[n] for n in z.files}
    arrays["a0"] = np.array([_Boom(str(marker))], dtype=object)
    np.savez(npz, allow_pickle=True, **arrays)
    with caplog.at_level(logging.WARNING, logger="initlab"):
        assert store.load(path) is None
    assert not marker.exists()
    assert "cannot be used" in caplog.text and "pickle" in caplog.text


def test_a_pickle_file_posing_as_an_array_file_is_refused(tmp_path) -> None:
    path = small_store(tmp_path / "s")
    marker = tmp_path / "pickle-ran"
    _entry_npz(path).write_bytes(pickle.dumps(_Boom(str(marker))))
    assert store.load(path) is None
    assert not marker.exists()


@pytest.mark.parametrize("name", ["builtins.eval", "os.system", "subprocess.Popen", "initlab.signal.network.Network",
                                  "pandas.DataFrame", None, 3])
def test_types_outside_the_allow_list_are_never_constructed(tmp_path, name) -> None:
    path = small_store(tmp_path / "s")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["entries"][0]["value"]["$type"] = name
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert store.load(path) is None
    with pytest.raises(store.StoreError, match="refusing"):
        store._allowed(name)


def test_saving_refuses_what_it_could_only_pickle(tmp_path) -> None:
    for value in (np.array([object()], dtype=object), {1: "not a str key"}, {"a"}, lambda: 0):
        with pytest.raises(store.StoreError):
            store.save(tmp_path / "s", [("propagate", (SMALL,), value)])
    assert not (tmp_path / "s").exists()  # nothing half-written
    assert not list(tmp_path.iterdir())


def test_a_rebuild_replaces_the_store_in_one_step(tmp_path) -> None:
    path = small_store(tmp_path / "s")
    first = store.read_manifest(path)
    other = Scenario(depth=2, width=4, batch=2)
    store.save(path, [("propagate", (other,), network.propagate(other))])
    got = store.load(path)
    assert got is not None and got.keys() == [("propagate", (other,))]
    assert first["entries"][0]["id"] not in {p.stem for p in path.iterdir()}  # the old files are gone
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary directory left


# ------------------------------------------------------------------------------------------ the app


def _forbid(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def forbidden(name: str):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(name)
            raise AssertionError(f"{name} was called: the store should have served it")
        return call

    for mod, name in ((network, "propagate"), (theory, "predict"), (spectra, "jacobian_singular_values"),
                      (ranges, "range_curves"), (theory, "phase_diagram"), (theory, "depth_scale_curve"),
                      (training, "iter_train"), (training, "train_many")):
        monkeypatch.setattr(mod, name, forbidden(f"{mod.__name__}.{name}"))
    return calls


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_app_serves_every_preset_link_from_the_store_without_computing(built, monkeypatch) -> None:
    _own_store(monkeypatch)
    monkeypatch.setenv("INITLAB_CACHE_DIR", str(built))
    assert compute.load_store() is not None
    compute.clear_all()  # nothing computed by earlier tests may stand in for the store
    calls = _forbid(monkeypatch)
    for params in precompute.links():
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        where = params.get("preset", "bare link")
        assert not at.exception, (where, at.exception)
        boxes = [e.value for e in at.error] + [w.value for w in at.warning]
        assert not [b for b in boxes if any(m in b for m in FAILED)], (where, boxes)
        assert at.get("plotly_chart"), where
    assert calls == []
    compute.clear_all()


@pytest.mark.slow
def test_the_store_lists_the_charts_of_every_preset_and_a_server_builds_them(built, monkeypatch) -> None:
    _own_store(monkeypatch)
    got = compute.load_store(built)
    assert got is not None and len(got.figures) >= 2 * len(PRESETS)
    from initlab.ui import figures

    assert {name for name, _ in got.figures} <= set(figures.FIGURES)
    compute.clear_all()
    calls = _forbid(monkeypatch)
    assert precompute.warm_figures() == len(got.figures)
    assert calls == []
    compute.clear_all()


@pytest.mark.slow
def test_the_check_option_tells_a_complete_store_from_anything_else(built, tmp_path) -> None:
    def check(path: Path) -> int:
        return subprocess.run([sys.executable, "-m", "initlab.ui.results.build", str(path), "--check"], cwd=ROOT,
                              capture_output=True, timeout=120).returncode

    assert check(built) == 0
    assert check(tmp_path / "nowhere") == 1
    assert check(small_store(tmp_path / "small")) == 1  # fresh, but not every preset's products


def test_a_stored_result_is_ready_and_the_warm_up_skips_what_the_store_holds(monkeypatch) -> None:
    """The page asks ``compute.propagate.has(s)`` to decide whether to show a spinner, and the warm-up
    computes only what the store lacks: both must see the store in front of the shared caches."""
    _own_store(monkeypatch)
    compute.clear_all()
    held, lacking = Scenario(depth=3, width=4, batch=2), Scenario(depth=4, width=4, batch=2)
    one = training.TrainScenario(steps=10, restarts=1, n_train=20, n_test=10)
    ts = (one,)
    values = {("propagate", (held,)): network.propagate(held), ("predict", (held,)): theory.predict(held),
              ("train", (one,)): training.train(one)}
    compute.use_store(store.Store(None, store.code_version(), values))
    assert compute.propagate.has(held) and not compute.propagate.has(lacking)
    assert compute.propagate(held) is values[("propagate", (held,))]
    assert len(compute.propagate.cache) == 0  # served by the store, not computed into the cache
    assert compute.train(ts)[0] is values[("train", (one,))]

    started: list[list[object]] = []
    monkeypatch.setattr(compute, "_warm_started", False)
    monkeypatch.setenv("INITLAB_WARMUP", "1")
    monkeypatch.setattr(compute.threading, "Thread", lambda target, args, **kw: started.append(args[0]) or
                        type("T", (), {"start": lambda self: None})())
    monkeypatch.setattr("streamlit.runtime.scriptrunner.add_script_run_ctx", lambda *a, **k: None)
    compute.warm_up_once(lambda: [held, one, lacking])
    assert started == [[lacking]]
    compute.warm_up_once(lambda: [lacking])  # once per process
    assert started == [[lacking]]


def test_a_failing_warm_up_list_is_logged_and_never_the_page_s_failure(monkeypatch, caplog) -> None:
    monkeypatch.setattr(compute, "_warm_started", False)
    monkeypatch.setenv("INITLAB_WARMUP", "1")

    def broken() -> list[object]:
        raise ValueError("no presets today")

    with caplog.at_level(logging.ERROR, logger="initlab"):
        compute.warm_up_once(broken)  # returns: no exception reaches the page
    assert "warm-up list failed: ValueError: no presets today" in caplog.text
