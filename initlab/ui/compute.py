"""The core, cached by scenario for every session of the server, and throttled.

A preset computed once serves the whole class: results are cached by the frozen (hashable) scenario,
never by arrays. The cache holds the objects themselves (``st.cache_resource``: no copy per rerun),
so nothing downstream may mutate a result. Heavy computations run at most ``INITLAB_MAX_CONCURRENT``
at a time (default 2, the cores of the 2-core machines this was sized on): a burst of students queues instead of exhausting memory,
each waiting at most ``INITLAB_QUEUE_TIMEOUT`` seconds before getting a "busy" message.

Before any of that, each cached function looks in the precomputed store (:mod:`initlab.store`, built by
``python -m initlab.ui.precompute DIR``): the directory ``INITLAB_CACHE_DIR`` names is loaded once per
process (:func:`load_store`: deploy/worker.py calls it before the server listens; else the first
lookup does), so every preset link's opening page is a dictionary lookup from the first second. A
stale or missing store is logged and ignored: everything is computed on demand, as without one.
"""

from __future__ import annotations

import functools
import math
import os
import time
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from initlab import codegen, network, products, spectra, store, theory, training
from initlab.train_scenario import TrainScenario
from initlab.scenario import Scenario
from initlab.ui import logs


class BusyError(RuntimeError):
    """The server is computing too many scenarios at once; try again in a moment."""


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    try:
        return min(max(int(os.environ.get(name, default)), lo), hi)
    except ValueError:
        return default


MAX_CONCURRENT = _env_int("INITLAB_MAX_CONCURRENT", 2, 1, 64)
QUEUE_TIMEOUT = _env_int("INITLAB_QUEUE_TIMEOUT", 60, 1, 3600)
CACHE_ENTRIES = _env_int("INITLAB_CACHE_ENTRIES", 64, 4, 4096)
_HEAVY = threading.BoundedSemaphore(MAX_CONCURRENT)


def _throttled(fn, *args):  # type: ignore[no-untyped-def]
    if not _HEAVY.acquire(timeout=QUEUE_TIMEOUT):
        raise BusyError(f"the server is busy computing other scenarios (more than {QUEUE_TIMEOUT} s in the queue)")
    try:
        return fn(*args)
    finally:
        _HEAVY.release()


# --------------------------------------------------------------------------- the precomputed store

STORE: store.Store | None = None
_MISSING = store.Store.MISSING
_STORE_LOCK = threading.RLock()
_store_loaded = False


def load_store(path: str | os.PathLike[str] | None = None) -> store.Store | None:
    """Load the store at ``path`` (default: ``$INITLAB_CACHE_DIR``; unset or empty: none) for this
    process, replacing the current one; the log says what was loaded, or why the server serves cold.

    deploy/worker.py calls it before the server listens; otherwise the first lookup does."""
    global STORE, _store_loaded
    where = os.environ.get("INITLAB_CACHE_DIR", "").strip() if path is None else str(path)
    with _STORE_LOCK:
        STORE = store.load(where or None, on_log=lambda level, msg: logs.logger().log(level, "%s", msg))
        _store_loaded = True
    return STORE


def use_store(values: store.Store | None) -> None:
    """Serve from ``values`` (an in-memory store, or None: compute everything) instead of a directory."""
    global STORE, _store_loaded
    with _STORE_LOCK:
        STORE, _store_loaded = values, True


def stored(kind: str, *args: Hashable) -> object:
    """The stored product ``kind(*args)``, or ``_MISSING``."""
    if not _store_loaded:
        with _STORE_LOCK:
            if not _store_loaded:
                load_store()
    return _MISSING if STORE is None else STORE.get(kind, args)


def _store_first(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Look ``kind(*args)`` up in the store before calling the (Streamlit-cached) function; the
    wrapper's ``clear()`` clears that cache."""
    def wrap(cached: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(cached)
        def lookup(*args: Hashable) -> Any:
            hit = stored(kind, *args)
            return cached(*args) if hit is _MISSING else hit

        lookup.clear = cached.clear  # type: ignore[attr-defined]
        return lookup
    return wrap


@_store_first("propagate")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def propagate(s: Scenario) -> network.Result:
    """``initlab.propagate`` cached by scenario, shared by all sessions (the result is read-only)."""
    return _throttled(network.propagate, s)


@_store_first("predict")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def predict(s: Scenario) -> theory.Prediction | None:
    """Mean-field prediction for ``s`` (cheap; cached because every rerun draws it)."""
    return theory.predict(s)


GRID = products.GRID  # points per axis of the phase diagram


@_store_first("phase")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def phase(activation: str, sw2_max: float, sb2_max: float) -> theory.PhaseDiagram:
    """chi1 over (sigma_w^2, sigma_b^2) in [0, sw2_max] x [0, sb2_max] (the left edge starts just above 0)."""
    return products.phase(activation, sw2_max, sb2_max)


@_store_first("depth_curve")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def depth_curve(activation: str, sb2: float, sw2_max: float) -> theory.DepthScaleCurve:
    """Depth scales against sigma_w^2 at one sigma_b^2 (about 0.3 s for tanh: cached)."""
    return products.depth_curve(activation, sb2, sw2_max)


spectra_depths = products.spectra_depths


@_store_first("jacobian")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def jacobian(s: Scenario) -> spectra.JacobianSpectra:
    """Singular values of dh_l/dh_0 at :func:`spectra_depths` (cached by scenario)."""
    return _throttled(products.jacobian, s)


class _TrainCache:
    """Training results shared by every session, computed once per key even when many ask at once.

    Not ``st.cache_resource``: the session that computes shows a progress bar while it trains, and
    Streamlit's cache cannot replay elements drawn inside a cached function. Least recently used
    entries go first; a session asking for a key being computed waits for that computation.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.lock = threading.Lock()
        self.done: OrderedDict[tuple[TrainScenario, ...], tuple[training.TrainResult, ...]] = OrderedDict()
        self.running: dict[tuple[TrainScenario, ...], threading.Event] = {}

    def get(self, key: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None = None,
            partial: Callable[[tuple[training.TrainResult, ...]], None] | None = None
            ) -> tuple[training.TrainResult, ...]:
        hit = stored("train", key)  # a Training preset, computed when the image was built
        if hit is not _MISSING:
            return hit
        with self.lock:
            if key in self.done:
                self.done.move_to_end(key)
                return self.done[key]
            event = self.running.get(key)
            owner = event is None
            if owner:
                event = self.running[key] = threading.Event()
        if not owner:
            if not event.wait(QUEUE_TIMEOUT):
                raise BusyError(f"the same training has been running for more than {QUEUE_TIMEOUT} s")
            with self.lock:
                if key in self.done:
                    return self.done[key]
            return self.get(key, progress, partial)  # the other computation failed: try ourselves
        try:
            result = _throttled(lambda: _train_showing(key, progress, partial))
            with self.lock:
                self.done[key] = result
                while len(self.done) > self.entries:
                    self.done.popitem(last=False)
            return result
        finally:
            with self.lock:
                self.running.pop(key, None)
            event.set()

    def clear(self) -> None:
        with self.lock:
            self.done.clear()


PARTIAL_EVERY = 0.3  # seconds between two partial pictures while a training runs


def _train_showing(key: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None,
                   partial: Callable[[tuple[training.TrainResult, ...]], None] | None
                   ) -> tuple[training.TrainResult, ...]:
    """Train ``key`` (all restarts of all scenarios together), reporting the step count and, every
    :data:`PARTIAL_EVERY` seconds, the results so far: the first curves appear long before the end."""
    total = max(key[0].steps, 1)
    shown = -math.inf
    last: list[training.TrainResult] = []
    for last in training.iter_train(list(key)):
        step = last[0].steps_done
        if progress is not None:
            progress(step / total, step)
        now = time.perf_counter()
        if partial is not None and now - shown >= PARTIAL_EVERY and step < total:
            partial(tuple(last))
            shown = now
    return tuple(last)


_TRAINED = _TrainCache(CACHE_ENTRIES)


def train(scenarios: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None = None,
          partial: Callable[[tuple[training.TrainResult, ...]], None] | None = None
          ) -> tuple[training.TrainResult, ...]:
    """All restarts of all ``scenarios`` trained together, shared by every session (read-only results).

    ``progress(fraction, step)`` reports to the session that computes it; others asking for the same
    scenarios meanwhile wait for that one computation.
    """
    return _TRAINED.get(tuple(scenarios), progress, partial)


train.clear = _TRAINED.clear  # type: ignore[attr-defined]  # like the st.cache_resource functions


@functools.lru_cache(maxsize=256)
def train_snippet(ts: TrainScenario) -> str:
    """PyTorch code that trains the same network from the same starting weights (pure text)."""
    return codegen.pytorch_training_snippet(ts)


@_store_first("range_curves")
@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def range_curves(inits: tuple[str, ...], n_max: int, fan_out: int, seed: int) -> pd.DataFrame:
    """Weight-range curves for the Weight ranges page (fan_out 0: tied to the number of inputs).

    Expensive initializers (orthogonal: a QR factorization per draw) are sampled at fewer n so that
    every request draws in about a second; :func:`range_plan` says so in words.
    """
    return _throttled(products.range_curves, inits, n_max, fan_out, seed)


range_plan = products.range_plan


@st.cache_resource(max_entries=CACHE_ENTRIES * 8, show_spinner=False)
def figure(name: str, args: tuple[Hashable, ...], _build: Callable[..., go.Figure]) -> go.Figure:
    """``_build(*args)``, built once per ``(name, args)`` for all sessions.

    The key is exactly what the builder receives (``name`` identifies the builder), so a figure can
    never be served for inputs it was not built from. Builders are pure functions of their arguments
    and read results from the caches above. Building the Signal figures costs about ten times what
    sending them does, and a class opens the same preset 200 times at once. ``st.plotly_chart``
    copies the figure (``to_dict``), so the shared object is never mutated.
    """
    return _build(*args)


@functools.lru_cache(maxsize=256)
def snippet(framework: str, s: Scenario) -> str:
    """The Keras or PyTorch code that builds ``s`` (pure text; cached per scenario)."""
    return codegen.keras_snippet(s) if framework == "keras" else codegen.pytorch_snippet(s)


_WARM_LOCK = threading.Lock()
_warm_started = False


def warm_up_once(scenarios: list[Scenario | tuple[TrainScenario, ...]]) -> None:
    """Compute the presets in a background thread the first time any page runs in this process.

    A teacher opening the app before the lecture then serves every preset link from the cache when
    the class arrives (a cold burst of 200 costs about twice a warm one). INITLAB_WARMUP=0 disables it.
    """
    global _warm_started
    if os.environ.get("INITLAB_WARMUP", "1") == "0":
        return
    scenarios = [s for s in scenarios if stored("propagate", s) is _MISSING or stored("predict", s) is _MISSING]
    if not scenarios:  # the store has them all
        return
    with _WARM_LOCK:
        if _warm_started:
            return
        _warm_started = True
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    thread = threading.Thread(target=_warm, args=(scenarios,), daemon=True, name="initlab-warmup")
    add_script_run_ctx(thread, get_script_run_ctx())  # st.cache_resource needs a script context
    thread.start()


def _warm(jobs: list[Scenario | tuple[TrainScenario, ...]]) -> None:
    for s in jobs:
        try:
            if isinstance(s, tuple):  # a Training preset's comparison
                train(s)
                continue
            propagate(s)
            predict(s)
        except BusyError:
            continue  # students are being served first; their own visits will compute it
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only means a cold first visit; log it
            logs.failure("warm-up", exc, {"scenario": s})


