"""The core, cached by scenario for every session of the server, and throttled.

A preset computed once serves the whole class: results are cached by the frozen (hashable) scenario,
never by arrays. The caches hold the objects themselves (no copy per rerun), so nothing downstream may
mutate a result. Heavy computations run at most ``INITLAB_MAX_CONCURRENT`` at a time (default 2, the
cores of the 2-core machines this was sized on): a burst of students queues instead of exhausting
memory, each waiting at most ``INITLAB_QUEUE_TIMEOUT`` seconds before getting a "busy" message.

The caches are :class:`Shared` (a dictionary with its own lock), not ``st.cache_resource``. Like
``st.cache_resource``, a key asked for by many sessions at once is computed once, the others wait for
it; what Streamlit's cache does not do, and the pages need:

* a page asks whether a result or a chart is ready (``.has``, :func:`figure_ready`, :func:`trained`) to
  decide on a spinner without computing it; a cached Streamlit function has no public way to peek;
* a page run waiting for another session's computation, or running one, gives its page slot
  (:mod:`initlab.ui.gate`) to the queue meanwhile, and a wait longer than ``INITLAB_QUEUE_TIMEOUT``
  ends in a "busy" message; in Streamlit's cache it would wait on the cache's lock, holding its slot,
  without limit;
* a Training comparison claims each initializer it lacks (:meth:`Shared.claim` / :meth:`Shared.finish`)
  and trains them together while drawing progress and partial curves, and a session needing one of them
  meanwhile waits for it; a Streamlit cached function computes one key and replays no elements drawn
  while it ran.

Nor is Streamlit's cache faster here. A hit is one dictionary lookup on the frozen dataclass's hash,
0.007 ms; ``st.cache_resource`` with ``hash_funcs={Scenario: hash, TrainScenario: hash}`` takes 0.14 ms
per hit on a scenario (1.2 ms without ``hash_funcs``) and 0.31 ms on a chart's key, and a page asks five
to twenty times per run. Measured with every result and chart cache of this module made a
``st.cache_resource`` (trainings kept here), same store, back to back on the 2-core machine
(``benchmarks/load.py --launch "python deploy/launch.py" --cpu-per-page 5 --server-env INITLAB_WORKERS=1
...``): server CPU per page 21.6 / 22.4 ms against 20.4 / 22.0 ms here, at 20 pages per link 24.3
against 23.1 ms; 200 students at once on two workers showed no difference beyond the noise (p95
4.5-5.4 s against 4.5-4.9 s on a machine busy with other work).

In front of those caches, each cached function looks in the precomputed store (:mod:`initlab.ui.results.store`, built by
``python -m initlab.ui.results.build DIR``): the directory ``INITLAB_CACHE_DIR`` names is loaded once per
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
from typing import Any, Generic, TypeVar

import pandas as pd
import plotly.graph_objects as go

from initlab.teaching import codegen
from initlab.signal import network
from initlab.ui.results import products
from initlab.signal import spectra
from initlab.ui.results import store
from initlab.theory import meanfield as theory
from initlab.training import engine as training
from initlab.training.scenario import TrainScenario
from initlab.signal.scenario import Scenario
from initlab.ui import logs
from initlab.ui.gate import PAGE_GATE, env_int


class BusyError(RuntimeError):
    """The server is computing too many scenarios at once; try again in a moment."""


MAX_CONCURRENT = env_int("INITLAB_MAX_CONCURRENT", 2, 1, 64)
QUEUE_TIMEOUT = env_int("INITLAB_QUEUE_TIMEOUT", 60, 1, 3600)
CACHE_ENTRIES = env_int("INITLAB_CACHE_ENTRIES", 64, 4, 4096)
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


T = TypeVar("T")
_ALL: list[Shared] = []  # type: ignore[type-arg]


class Shared(Generic[T]):
    """Values shared by every session, each computed once per key even when many sessions ask at once.

    Least recently used entries go first beyond ``entries``. Keys are compared with ``==`` on their
    hash (frozen dataclasses, tuples, strings, numbers), together with the types of the top-level
    arguments, so that ``1`` and ``1.0`` do not share an entry. A session asking for a key another one
    is computing waits for that computation (at most ``INITLAB_QUEUE_TIMEOUT`` s); if it failed, the
    waiting session tries itself. Failures are not cached.
    """

    def __init__(self, entries: int, name: str) -> None:
        self.entries, self.name = entries, name
        self.lock = threading.Lock()
        self.done: OrderedDict[Hashable, T] = OrderedDict()
        self.running: dict[Hashable, threading.Event] = {}
        _ALL.append(self)

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self.lock:
            if key in self.done:
                self.done.move_to_end(key)
                return self.done[key]
            event = self.running.get(key)
            owner = event is None
            if owner:
                event = self.running[key] = threading.Event()
        assert event is not None
        if not owner:
            with PAGE_GATE.step_aside():
                finished = event.wait(QUEUE_TIMEOUT)
            if not finished:
                raise BusyError(f"the same computation has been running for more than {QUEUE_TIMEOUT} s")
            with self.lock:
                if key in self.done:
                    return self.done[key]
            return self.get(key, make)  # the other computation failed: try ourselves
        try:
            value = make()
            with self.lock:
                self.done[key] = value
                while len(self.done) > self.entries:
                    self.done.popitem(last=False)
            return value
        finally:
            with self.lock:
                self.running.pop(key, None)
            event.set()

    def peek(self, key: Hashable) -> T | None:
        """The value of ``key`` if computed (counted as a use, like :meth:`get`), else None; never computes."""
        with self.lock:
            if key in self.done:
                self.done.move_to_end(key)
                return self.done[key]
        return None

    def claim(self, key: Hashable) -> threading.Event | None:
        """Start computing ``key`` outside :meth:`get` (several keys at once): None when this caller now
        owns it (it must :meth:`finish` it), else the event of the computation already running, to wait on."""
        with self.lock:
            event = self.running.get(key)
            if event is not None:
                return event
            self.running[key] = threading.Event()
            return None

    def finish(self, key: Hashable, value: T | None) -> None:
        """End a :meth:`claim`: keep ``value`` (None: the computation failed, nothing is kept) and wake the
        sessions waiting for it."""
        with self.lock:
            if value is not None:
                self.done[key] = value
                self.done.move_to_end(key)
                while len(self.done) > self.entries:
                    self.done.popitem(last=False)
            event = self.running.pop(key, None)
        if event is not None:
            event.set()

    def clear(self) -> None:
        with self.lock:
            self.done.clear()

    def has(self, key: Hashable) -> bool:
        """Whether ``key`` is computed (a hint: it may be evicted right after)."""
        return key in self.done

    def __len__(self) -> int:
        return len(self.done)


def shared(entries: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: ``fn(*args)`` cached in a :class:`Shared` keyed by its positional arguments (and
    their types); the wrapper has ``.clear()`` like an ``st.cache_resource`` function."""

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        cache: Shared[T] = Shared(entries, fn.__qualname__)

        @functools.wraps(fn)
        def cached(*args: Hashable) -> T:
            return cache.get((args, tuple(type(a) for a in args)), lambda: fn(*args))

        cached.clear = cache.clear  # type: ignore[attr-defined]
        cached.has = lambda *args: cache.has((args, tuple(type(a) for a in args)))  # type: ignore[attr-defined]
        cached.cache = cache  # type: ignore[attr-defined]
        return cached

    return wrap


def clear_all() -> None:
    """Empty every shared cache of this process (results, figures, page texts)."""
    for cache in _ALL:
        cache.clear()


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
    """Look ``kind(*args)`` up in the store before calling the (shared-cached) function; the
    wrapper's ``clear()`` clears that cache."""
    def wrap(cached: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(cached)
        def lookup(*args: Hashable) -> Any:
            hit = stored(kind, *args)
            return cached(*args) if hit is _MISSING else hit

        lookup.clear = cached.clear  # type: ignore[attr-defined]
        lookup.cache = cached.cache  # type: ignore[attr-defined]
        lookup.has = lambda *args: stored(kind, *args) is not _MISSING or cached.has(*args)  # type: ignore[attr-defined]
        return lookup
    return wrap


@_store_first("propagate")
@shared(CACHE_ENTRIES)
def propagate(s: Scenario) -> network.Result:
    """``initlab.propagate`` cached by scenario, shared by all sessions (the result is read-only)."""
    return _throttled(network.propagate, s)


@_store_first("predict")
@shared(CACHE_ENTRIES)
def predict(s: Scenario) -> theory.Prediction | None:
    """Mean-field prediction for ``s`` (cheap; cached because every rerun draws it)."""
    return theory.predict(s)


GRID = products.GRID  # points per axis of the phase diagram


@_store_first("phase")
@shared(CACHE_ENTRIES)
def phase(activation: str, sw2_max: float, sb2_max: float) -> theory.PhaseDiagram:
    """chi1 over (sigma_w^2, sigma_b^2) in [0, sw2_max] x [0, sb2_max] (the left edge starts just above 0)."""
    return products.phase(activation, sw2_max, sb2_max)


@_store_first("depth_curve")
@shared(CACHE_ENTRIES)
def depth_curve(activation: str, sb2: float, sw2_max: float) -> theory.DepthScaleCurve:
    """Depth scales against sigma_w^2 at one sigma_b^2 (about 0.3 s for tanh: cached)."""
    return products.depth_curve(activation, sb2, sw2_max)


spectra_depths = products.spectra_depths


@_store_first("jacobian")
@shared(CACHE_ENTRIES)
def jacobian(s: Scenario) -> spectra.JacobianSpectra:
    """Singular values of dh_l/dh_0 at :func:`spectra_depths` (cached by scenario)."""
    return _throttled(products.jacobian, s)


PARTIAL_EVERY = 0.3  # seconds between two partial pictures while a training runs


def _train_showing(key: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None,
                   partial: Callable[[tuple[training.TrainResult | None, ...]], None] | None
                   ) -> tuple[training.TrainResult, ...]:
    """Train ``key`` (all restarts of the scenarios that can train together at once: a comparison of
    initializers in one batched computation, one of architectures network after network), reporting the
    step count over all of them and, every :data:`PARTIAL_EVERY` seconds, the results so far (None for a
    network not started yet): the first curves appear long before the end."""
    groups = training.train_groups(key)
    total = max(sum(key[g[0]].steps for g in groups), 1)
    shown = -math.inf
    done: dict[int, training.TrainResult] = {}
    before = 0  # steps of the groups finished
    for group in groups:
        last: list[training.TrainResult] = []
        for last in training.iter_train([key[i] for i in group]):
            step = last[0].steps_done
            if progress is not None:
                progress((before + step) / total, step)
            now = time.perf_counter()
            if partial is not None and now - shown >= PARTIAL_EVERY and before + step < total:
                partial(tuple(done.get(i) or (last[group.index(i)] if i in group else None) for i in range(len(key))))
                shown = now
        done.update(zip(group, last))
        before += key[group[0]].steps
    return tuple(done[i] for i in range(len(key)))


# One entry per training scenario (an initializer with a training setup): removing an initializer from a
# comparison, or coming back to one, trains nothing. Restarts of scenarios that differ only in their
# initialization give the same numbers, bit for bit, trained together or apart (tests/test_training.py),
# so the missing ones of a comparison are trained together, in one batched computation, and kept one by
# one. Each is claimed while it trains: a session that needs it meanwhile waits for it instead of
# training it again (the background warm-up trains one initializer at a time, a student a comparison).
# Not a @shared function: the session that computes shows a progress bar and partial curves while it
# trains (Streamlit cannot replay elements drawn inside a cached function).
_TRAINED: Shared[training.TrainResult] = Shared(CACHE_ENTRIES * 4, "train")


def trained(ts: TrainScenario) -> training.TrainResult | None:
    """The finished result of ``ts`` if the store or the cache holds it (never computes)."""
    hit = stored("train", ts)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    return _TRAINED.peek(ts)


def train(scenarios: tuple[TrainScenario, ...], progress: Callable[[float, int], None] | None = None,
          partial: Callable[[tuple[training.TrainResult | None, ...]], None] | None = None
          ) -> tuple[training.TrainResult, ...]:
    """Every restart of each of ``scenarios``, shared by every session (read-only results), in order.

    Each scenario's result comes from the store, else the cache, else from a computation another session
    is running (waited for), else the ones left are trained together here: ``progress(fraction, step)``
    and ``partial(results so far, in the order of scenarios)`` report to this session.
    """
    order = tuple(dict.fromkeys(scenarios))
    have = {ts: r for ts in order if (r := trained(ts)) is not None}
    mine: list[TrainScenario] = []
    theirs: list[tuple[TrainScenario, threading.Event]] = []
    for ts in order:
        if ts not in have:
            event = _TRAINED.claim(ts)
            if event is None:
                mine.append(ts)
            else:
                theirs.append((ts, event))
    results: tuple[training.TrainResult, ...] = ()
    try:
        if mine:
            def part(so_far: tuple[training.TrainResult | None, ...]) -> None:
                now = dict(zip(mine, so_far))
                known = [have.get(ts) or now.get(ts) for ts in scenarios]
                if any(r is not None for r in known):  # not started yet (or another session's): None
                    partial(tuple(known))  # type: ignore[misc, arg-type]

            results = _throttled(_train_showing, tuple(mine), progress, None if partial is None else part)
    finally:
        for i, ts in enumerate(mine):
            _TRAINED.finish(ts, results[i] if i < len(results) else None)
    have.update(zip(mine, results))
    for ts, event in theirs:
        with PAGE_GATE.step_aside():
            if not event.wait(QUEUE_TIMEOUT):
                raise BusyError(f"the same training has been running for more than {QUEUE_TIMEOUT} s")
        r = trained(ts)
        have[ts] = r if r is not None else train((ts,))[0]  # the other session's training failed: ours
    return tuple(have[ts] for ts in scenarios)


train.clear = _TRAINED.clear  # type: ignore[attr-defined]  # like the st.cache_resource functions
train.cache = _TRAINED  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=256)
def train_snippet(ts: TrainScenario, restart: int) -> str:
    """PyTorch code that replays restart ``restart`` of ``ts`` step for step (pure text)."""
    return codegen.pytorch_training_snippet(ts, restart)


@_store_first("range_curves")
@shared(CACHE_ENTRIES)
def range_curves(inits: tuple[str, ...], n_max: int, fan_out: int, seed: int) -> pd.DataFrame:
    """Weight-range curves for the Weight ranges page (fan_out 0: tied to the number of inputs).

    Expensive initializers (orthogonal: a QR factorization per draw) are sampled at fewer n so that
    every request draws in about a second; :func:`range_plan` says so in words.
    """
    return _throttled(products.range_curves, inits, n_max, fan_out, seed)


range_plan = products.range_plan


class SpecFigure(go.Figure):
    """A shared figure whose plotly JSON dictionary is made once, when it is built.

    ``st.plotly_chart`` calls ``to_dict()`` on every draw: a deep copy of all the traces plus the
    base64 encoding of every array, 0.3 to 1.5 ms per chart and per student for the same preset.
    Here ``to_dict()`` returns the dictionary made when the figure was built. It is shared: nothing may
    change it (Streamlit only serialises it), nor the figure (which is shared anyway).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._initlab_spec = spec

    def to_dict(self) -> dict[str, Any]:
        return self._initlab_spec


def ready_to_send(fig: go.Figure) -> SpecFigure:
    """``fig`` as a :class:`SpecFigure`: built once per figure from its dictionary (about 10 ms of plotly's
    validation, measured over the preset charts, on top of building the chart; each draw then saves
    2 ms per chart and student). The copy is the price of constructing the figure through plotly's own
    constructor instead of changing the class of the object it was built as."""
    return SpecFigure(go.Figure.to_dict(fig))


_FIGURES: Shared[SpecFigure] = Shared(CACHE_ENTRIES * 8, "figure")


def figure(name: str, args: tuple[Hashable, ...], _build: Callable[..., go.Figure]) -> SpecFigure:
    """``_build(*args)``, built once per ``(name, args)`` for all sessions, ready to send.

    The key is exactly what the builder receives (``name`` identifies the builder; the types of the
    arguments are part of it), so a figure can never be served for inputs it was not built from.
    Builders are pure functions of their arguments and read results from the caches above. Building
    the Signal figures costs about ten times what sending them does, and a class opens the same preset
    200 times at once.
    """
    return _FIGURES.get((name, args, tuple(type(a) for a in args)), lambda: ready_to_send(_build(*args)))


figure.clear = _FIGURES.clear  # type: ignore[attr-defined]


def figure_ready(name: str, args: tuple[Hashable, ...]) -> bool:
    """Whether :func:`figure` has ``(name, args)`` built already (drawing it will not compute)."""
    return _FIGURES.has((name, args, tuple(type(a) for a in args)))


@functools.lru_cache(maxsize=256)
def snippet(framework: str, s: Scenario) -> str:
    """The Keras or PyTorch code that builds ``s`` (pure text; cached per scenario)."""
    return codegen.keras_snippet(s) if framework == "keras" else codegen.pytorch_snippet(s)


_WARM_LOCK = threading.Lock()
_warm_started = False


Jobs = list[Scenario | TrainScenario]


def warm_up_once(scenarios: Jobs | Callable[[], Jobs]) -> None:
    """Compute the presets in a background thread the first time any page runs in this process.

    A teacher opening the app before the lecture then serves every preset link from the cache when
    the class arrives (a cold burst of 200 costs about twice a warm one). INITLAB_WARMUP=0 disables it.
    ``scenarios`` may be a function making the list: it is called only the first time (the list costs
    0.3 ms, on every run otherwise).
    """
    global _warm_started
    if _warm_started or os.environ.get("INITLAB_WARMUP", "1") == "0":
        return
    with _WARM_LOCK:
        if _warm_started:
            return
        _warm_started = True
    try:
        jobs = [s for s in (scenarios() if callable(scenarios) else scenarios) if not _in_store(s)]
    except Exception as exc:  # noqa: BLE001 - the warm-up is an optimisation: never the page's failure
        logs.failure("warm-up list", exc, {})
        return
    if not jobs:  # the store has them all
        return
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    thread = threading.Thread(target=_warm, args=(jobs,), daemon=True, name="initlab-warmup")
    add_script_run_ctx(thread, get_script_run_ctx())  # for anything in the core that logs through Streamlit
    thread.start()


def _in_store(job: Scenario | TrainScenario) -> bool:
    if isinstance(job, TrainScenario):
        return stored("train", job) is not _MISSING
    return stored("propagate", job) is not _MISSING and stored("predict", job) is not _MISSING


def _warm(jobs: list[Scenario | TrainScenario]) -> None:
    for s in jobs:
        try:
            if isinstance(s, TrainScenario):  # one initializer of a Training preset's comparison
                train((s,))
                continue
            propagate(s)
            predict(s)
        except BusyError:
            continue  # students are being served first; their own visits will compute it
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only means a cold first visit; log it
            logs.failure("warm-up", exc, {"scenario": s})


