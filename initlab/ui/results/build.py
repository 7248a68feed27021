"""Build the precomputed store that makes a fresh server as fast as a warm one; warm a server from it.

    python -m initlab.ui.results.build DIR            # build the store at DIR (replacing it), ~10-20 s
    python -m initlab.ui.results.build DIR --check    # exit 0 iff DIR holds a complete store of this code

The Docker image runs it at build time (``RUN python -m initlab.ui.results.build /app/.cache/initlab``;
``INITLAB_CACHE_DIR`` points there). Outside Docker it works the same: build into any directory and
start the app (``streamlit run app.py`` or ``deploy/launch.py``) with ``INITLAB_CACHE_DIR=DIR``.

Building:

1. computes :func:`initlab.ui.results.products.preset_products` (the bare link's and every preset link's opening
   page: results, predictions, Compare variants, range curves, Theory products);
2. opens each of those links once with Streamlit's ``AppTest`` (in this process, no server), the
   products of step 1 standing in for the store: this records the charts each page draws (builder
   name and arguments) and any product a page asked for that step 1 missed (computed, added and
   named in the output: the page's own ``products`` (initlab/ui/pages/) should then list it);
3. writes the store (:func:`initlab.ui.results.store.save`) and reads it back as a server would.

At a server's start (``deploy/worker.py``, before it listens) :func:`initlab.ui.results.cache.load_store`
loads the store and :func:`warm_figures` then builds the recorded charts from it,
so a student's first page of a preset costs what the hundredth does.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

from initlab.ui.results import products
from initlab.ui.results import store
from initlab.teaching.presets import PRESETS
from initlab.ui.results import cache as compute
from initlab.ui import logs

APP = Path(__file__).resolve().parents[3] / "app.py"
PAGE_TIMEOUT = 300  # seconds per page while building (a missed product is computed there)

Item = tuple[str, tuple[Hashable, ...]]


def links() -> list[dict[str, str]]:
    """The links whose opening pages the store serves: the bare link and every preset's."""
    return [{}] + [{"preset": name} for name in PRESETS]


@contextlib.contextmanager
def _quiet_bare_mode() -> Iterator[None]:
    """Streamlit warns about a missing ScriptRunContext at each cached call outside a page: expected here."""
    noisy = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    def drop(record: logging.LogRecord) -> bool:  # a filter, not a level: Streamlit may reset levels meanwhile
        return False

    noisy.addFilter(drop)
    try:
        yield
    finally:
        noisy.removeFilter(drop)


@contextlib.contextmanager
def _serving(values: store.Store) -> Iterator[tuple[list[Item], list[Item]]]:
    """``values`` as this process's store; yields the lists of (figures drawn, products missed)."""
    figures: list[Item] = []
    missed: list[Item] = []
    saved = compute.STORE, compute.figure, compute.stored, compute._store_loaded

    def figure(name: str, args: tuple[Hashable, ...], _build: Callable[..., Any]) -> Any:
        if (name, args) not in figures:
            figures.append((name, args))
        return saved[1](name, args, _build)

    def stored(kind: str, *args: Hashable) -> object:
        hit = saved[2](kind, *args)
        if hit is store.Store.MISSING and (kind, args) not in missed:
            missed.append((kind, args))
        return hit

    compute.use_store(values)
    compute.figure, compute.stored = figure, stored  # type: ignore[assignment]
    try:
        yield figures, missed
    finally:
        compute.STORE, compute.figure, compute.stored, compute._store_loaded = saved  # type: ignore[assignment]


def record_pages(values: store.Store, echo: Callable[[str], None] = print) -> tuple[list[Item], list[Item]]:
    """Open every link of :func:`links` once with ``AppTest`` serving from ``values``: the charts drawn
    and the products the pages computed because ``values`` lacked them."""
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.testing.v1 import AppTest

    # AppTest scans every installed distribution for custom components on each page (~2 s); initlab
    # has none.
    discover = BidiComponentManager.discover_and_register_components
    BidiComponentManager.discover_and_register_components = lambda self, **kw: None  # type: ignore[method-assign]
    warmup = os.environ.get("INITLAB_WARMUP")
    os.environ["INITLAB_WARMUP"] = "0"  # no background computations while recording
    try:
        with _serving(values) as (figures, missed), _quiet_bare_mode():
            for params in links():
                t = time.perf_counter()
                at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT)
                for k, v in params.items():
                    at.query_params[k] = v
                at.run()
                if at.exception:
                    raise RuntimeError(f"the page of {params or 'the bare link'} failed: "
                                       f"{at.exception[0].message}")
                echo(f"page {params.get('preset', '(bare link)')}: {time.perf_counter() - t:.2f} s, "
                     f"{len(figures)} charts so far")
    finally:
        BidiComponentManager.discover_and_register_components = discover  # type: ignore[method-assign]
        if warmup is None:
            os.environ.pop("INITLAB_WARMUP", None)
        else:
            os.environ["INITLAB_WARMUP"] = warmup
    return figures, missed


def build(directory: str | Path, echo: Callable[[str], None] = print, items: list[Item] | None = None) -> Path:
    """Compute, record and save the store at ``directory`` (see the module docstring)."""
    t0 = time.perf_counter()
    todo = products.preset_products() if items is None else items
    computed = products.compute_all(todo, echo)
    version = store.code_version()
    values = store.Store(None, version, {(k, a): v for k, a, v in computed})
    figures, missed = record_pages(values, echo)
    if missed:
        echo(f"note: the pages also computed {len(missed)} products that the pages' own ``products`` do "
             f"not list (added to the store): {', '.join(k for k, _ in missed)}")
        computed += products.compute_all(missed, echo)
    keep = []
    for name, args in figures:
        try:
            store.canonical_key(name, args)
            keep.append((name, args))
        except (store.StoreError, ValueError) as exc:  # e.g. an argument JSON cannot hold: built on first use
            echo(f"note: chart {name!r} not listed ({exc})")
    figures = keep
    path = store.save(directory, computed, version, figures)
    size = sum(p.stat().st_size for p in path.iterdir())
    echo(f"stored {len(computed)} products and {len(figures)} charts in {path} ({size / 1e6:.1f} MB, code "
         f"version {version}) in {time.perf_counter() - t0:.1f} s")
    return path


def warm_figures() -> int:
    """Build the charts the store lists from its values (at a server's start): the number built."""
    values = compute.STORE
    if values is None or not values.figures:
        return 0
    from initlab.ui import figures

    t0 = time.perf_counter()
    built = 0
    with _quiet_bare_mode():
        for name, args in values.figures:
            builder = figures.FIGURES.get(name)
            try:
                if builder is None:
                    raise KeyError(f"no chart builder {name!r}")
                fig = compute.figure(name, args, builder)
                built += 1
            except Exception as exc:  # noqa: BLE001 - a chart not built now is built on its first page
                logs.failure(f"chart {name!r} at start", exc, {"args": args})
        if built:
            import plotly.io

            plotly.io.to_json(fig, validate=False)  # what st.plotly_chart sends: its first call imports a lot
    logs.logger().info("built %d of %d preset charts from the store in %.2f s", built, len(values.figures),
                       time.perf_counter() - t0)
    return built


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m initlab.ui.results.build", description=__doc__.split("\n")[0])
    ap.add_argument("directory", type=Path, help="where the store goes (created; replaced if it exists)")
    ap.add_argument("--check", action="store_true",
                    help="only check that DIR holds a complete store of this code (exit 0) or not (exit 1)")
    a = ap.parse_args(argv)

    def say(level: int, msg: str) -> None:
        print(msg, file=sys.stderr if level >= logging.WARNING else sys.stdout, flush=True)

    if not a.check:
        build(a.directory, echo=lambda line: print(line, flush=True))
    # Read it back as the servers will: a store that does not load fails the build, not the lecture.
    got = store.load(a.directory, on_log=say)
    if got is None:
        return 1
    missing = [item for item in products.preset_products() if item not in got]
    if missing:
        say(logging.WARNING, f"{a.directory}: {len(missing)} preset products missing, e.g. {missing[0][0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
