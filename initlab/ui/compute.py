"""The core, cached by scenario for every session of the server, and throttled.

A preset computed once serves the whole class: results are cached by the frozen (hashable) scenario,
never by arrays. The cache holds the objects themselves (``st.cache_resource``: no copy per rerun),
so nothing downstream may mutate a result. Heavy computations run at most ``INITLAB_MAX_CONCURRENT``
at a time (default 2, the cores of the 2-core machines this was sized on): a burst of students queues instead of exhausting memory,
each waiting at most ``INITLAB_QUEUE_TIMEOUT`` seconds before getting a "busy" message.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from initlab import codegen, network, ranges, spectra, theory, training
from initlab.train_scenario import TrainScenario
from initlab.scenario import Scenario
from initlab.ui import logs
from initlab.ui.gate import PAGE_GATE


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
    # numpy computes without the GIL: the page slot (initlab/ui/gate.py) serves other students meanwhile.
    with PAGE_GATE.step_aside():
        if not _HEAVY.acquire(timeout=QUEUE_TIMEOUT):
            raise BusyError(f"the server is busy computing other scenarios (more than {QUEUE_TIMEOUT} s in the queue)")
        try:
            return fn(*args)
        finally:
            _HEAVY.release()


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def propagate(s: Scenario) -> network.Result:
    """``initlab.propagate`` cached by scenario, shared by all sessions (the result is read-only)."""
    return _throttled(network.propagate, s)


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def predict(s: Scenario) -> theory.Prediction | None:
    """Mean-field prediction for ``s`` (cheap; cached because every rerun draws it)."""
    return theory.predict(s)


GRID = 120  # points per axis of the phase diagram (goal: at least 100 x 100, under 0.2 s)


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def phase(activation: str, sw2_max: float, sb2_max: float) -> theory.PhaseDiagram:
    """chi1 over (sigma_w^2, sigma_b^2) in [0, sw2_max] x [0, sb2_max] (the left edge starts just above 0)."""
    sw2 = np.linspace(sw2_max / GRID, sw2_max, GRID)
    sb2 = np.linspace(0.0, sb2_max, GRID)
    return theory.phase_diagram(activation, sw2, sb2)


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def depth_curve(activation: str, sb2: float, sw2_max: float) -> theory.DepthScaleCurve:
    """Depth scales against sigma_w^2 at one sigma_b^2 (about 0.3 s for tanh: cached)."""
    return theory.depth_scale_curve(activation, np.linspace(sw2_max / 200, sw2_max, 200), sb2)


def spectra_depths(depth: int) -> tuple[int, ...]:
    """A few depths for the Jacobian spectra: 1, a quarter, half and all of the network."""
    return tuple(sorted({1, max(1, depth // 4), max(1, depth // 2), depth}))


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def jacobian(s: Scenario) -> spectra.JacobianSpectra:
    """Singular values of dh_l/dh_0 at :func:`spectra_depths` (cached by scenario)."""
    return _throttled(spectra.jacobian_singular_values, s, spectra_depths(s.depth))


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

    def get(self, key: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None = None
            ) -> tuple[training.TrainResult, ...]:
        with self.lock:
            if key in self.done:
                self.done.move_to_end(key)
                return self.done[key]
            event = self.running.get(key)
            owner = event is None
            if owner:
                event = self.running[key] = threading.Event()
        if not owner:
            with PAGE_GATE.step_aside():
                finished = event.wait(QUEUE_TIMEOUT)
            if not finished:
                raise BusyError(f"the same training has been running for more than {QUEUE_TIMEOUT} s")
            with self.lock:
                if key in self.done:
                    return self.done[key]
            return self.get(key, progress)  # the other computation failed: try ourselves
        try:
            result = tuple(_throttled(lambda: training.train_many(list(key), progress=progress)))
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


_TRAINED = _TrainCache(CACHE_ENTRIES)


def train(scenarios: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None = None
          ) -> tuple[training.TrainResult, ...]:
    """All restarts of all ``scenarios`` trained together, shared by every session (read-only results).

    ``progress(fraction, step)`` reports to the session that computes it; others asking for the same
    scenarios meanwhile wait for that one computation.
    """
    return _TRAINED.get(tuple(scenarios), progress)


train.clear = _TRAINED.clear  # type: ignore[attr-defined]  # like the st.cache_resource functions


@functools.lru_cache(maxsize=256)
def train_snippet(ts: TrainScenario) -> str:
    """PyTorch code that trains the same network from the same starting weights (pure text)."""
    return codegen.pytorch_training_snippet(ts)


def _range_entries(inits: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    """Initializers that are one of the tutorial's classic curves keep its label."""
    classic = {c.init: c.label for c in ranges.CLASSIC if not c.params}
    classic["torch_kaiming_normal"] = "He N(0, √(2/n))"  # PyTorch's default kaiming_normal_ is exactly it
    return [(n, {}, classic[n]) if n in classic else n for n in inits]


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def range_curves(inits: tuple[str, ...], n_max: int, fan_out: int, seed: int) -> pd.DataFrame:
    """Weight-range curves for the Weight ranges page (fan_out 0: tied to the number of inputs).

    Expensive initializers (orthogonal: a QR factorization per draw) are sampled at fewer n so that
    every request draws in about a second; :func:`range_plan` says so in words.
    """
    rng = np.random.default_rng(seed)
    return _throttled(lambda: ranges.range_curves(_range_entries(inits), n_max, fan_out=fan_out or None, rng=rng))


def range_plan(inits: tuple[str, ...], n_max: int, fan_out: int) -> str:
    """The sentence saying how a Weight ranges request was thinned to draw in about a second ("" if not)."""
    return ranges.plan_ranges(_range_entries(inits), n_max, fan_out=fan_out or None).note


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

