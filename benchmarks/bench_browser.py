"""Real-browser timings of initlab, as ratios to a minimal Streamlit page measured in the same run.

Usage::

    python benchmarks/bench_browser.py                # about 5-10 minutes on a busy 2-core machine
    python benchmarks/bench_browser.py --reps 3 --fresh 2 --slider 10   # quicker, noisier
    python benchmarks/bench_browser.py --slider-only                     # only the slider (about a minute)

Needs Debian's chromium (/usr/bin/chromium) and the playwright package. Not a test: prints a table
and exits 0.

1. Page load: from navigation start (``performance.now()`` origin of the new document) to every
   ``.js-plotly-plot`` on the page having its ``.main-svg`` while Streamlit is idle (no running
   indicator, no stale element). Measured for ``?preset=he_relu`` and the heavier
   ``?preset=std1_explodes`` against a one-chart page (``st.plotly_chart(go.Figure(go.Scatter(...)))``)
   served by a second Streamlit server. Each load uses a new browser context. Three cases:
   - warm: the preset's result is already in the server's cache (median over --reps loads);
   - cold (new seed): ``&seed=N`` with a fresh N each time, so every load computes (same server);
   - cold (fresh server): first load after a new server start (imports + compute), --fresh servers.
   The minimal page has nothing to cache: its warm loads are the reference for the first two cases,
   its first-load-after-start for the third. Goal: ratio <= 1.5.
2. Slider: the default scenario, Depth slider moved with the keyboard; from the key press to the
   summary line (``at layer N``; on the reference pages ``std at layer N``) showing the new N with
   every chart drawn and Streamlit idle. "new": ArrowRight each time (a depth never computed: cache
   miss); "cached": ArrowLeft / ArrowRight between two depths already computed. Reference pages, each
   with the same slider:
   - a one-chart page that computes nothing: Streamlit's own floor (the ratio column);
   - a one-chart page whose step computes the same scenario (``initlab.propagate``, one line chart);
   - initlab's own three Signal figures for the slider's depth, built before the first step, with
     nothing else on the page: the browser's share of an initlab step, which no server work goes below.
   Goal: a new depth at most 2x the same step on a one-chart page (ratio <= 2); printed against both
   one-chart pages.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from initlab.teaching.presets import PRESETS  # noqa: E402
from tests.browser_util import (  # noqa: E402
    CHROMIUM_MISSING,
    StreamlitServer,
    find_chromium,
    launch_chromium,
    slider_thumb,
    slider_value,
)

MINIMAL = """import streamlit as st, plotly.graph_objects as go
st.plotly_chart(go.Figure(go.Scatter(y=[1, 3, 2])))
"""

MINIMAL_SLIDER = """import streamlit as st, plotly.graph_objects as go
with st.sidebar:
    n = st.slider("Depth (layers)", 1, 1000, 50)
st.metric(f"std at layer {n}", n)
st.plotly_chart(go.Figure(go.Scatter(y=list(range(n)))))
"""

# The same step on a one-chart page that does the same computation: the default scenario at the
# slider's depth through the public API (``initlab.propagate``, cached by depth as any Streamlit page
# would), its per-layer std as one line chart. initlab's step against this one is what the page adds
# on top of the computation a step needs.
COMPUTING_SLIDER = """import dataclasses, sys
sys.path.insert(0, {repo!r})
import plotly.graph_objects as go
import streamlit as st
import initlab
from initlab.signal.scenario import Scenario


@st.cache_resource
def std(n):
    return initlab.propagate(dataclasses.replace(Scenario(), depth=n)).layers["act_std"].tolist()


with st.sidebar:
    n = st.slider("Depth (layers)", 1, 1000, Scenario().depth)
st.metric(f"std at layer {{n}}", n)
st.plotly_chart(go.Figure(go.Scatter(y=std(n))))
"""

# initlab's own three Signal charts of the default scenario at the slider's depth, with nothing else on
# the page and nothing to compute (every depth the benchmark visits is built before the first step): the
# browser's share of an initlab step, i.e. the floor no server-side work can go below.
THREE_CHARTS = """import dataclasses, sys
sys.path.insert(0, {repo!r})
import streamlit as st
from initlab.signal.scenario import Scenario
from initlab.ui.results import cache as compute
from initlab.ui import figures


def figures(n):
    s = dataclasses.replace(Scenario(), depth=n)
    return [("signal", (s, "act_std")), ("heatmap", (s, "act")), ("fractions", (((figures.label(s), s),),))]


@st.cache_resource
def build_all(lo, hi):
    for n in range(lo, hi + 1):
        for name, args in figures(n):
            compute.figure(name, args, figures.FIGURES[name])


build_all(Scenario().depth - 1, Scenario().depth + {steps})
with st.sidebar:
    n = st.slider("Depth (layers)", 1, 1000, Scenario().depth)
st.metric(f"std at layer {{n}}", n)
for name, args in figures(n):
    figures.chart(name, *args)
"""

# Returns performance.now() (ms since this document's navigation start) once >= min charts are drawn,
# the label text (if given, e.g. "std at layer 51") is on the page and Streamlit is idle; else false.
JS_DONE = """([min, label]) => {
  if (document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')) return false;
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  if (plots.length < min || !plots.every(p => p.querySelector('.main-svg'))) return false;
  if (label) {  // the label text, not followed by another digit ("layer 5" must not match "layer 50")
    const t = document.body.innerText, i = t.indexOf(label);
    if (i < 0 || "0123456789".includes(t.charAt(i + label.length) || "x")) return false;
  }
  return performance.now();
}"""

TIMEOUT_MS = 180_000


class _Done(Exception):
    """Ends the measurements early (--no-slider)."""


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p90(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def load_time(browser, url: str, min_charts: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds from navigation start to all charts drawn and idle; and the number of charts."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        done = page.wait_for_function(JS_DONE, arg=[min_charts, None], timeout=TIMEOUT_MS, polling=20)
        t = done.json_value() / 1000
        exceptions = page.locator('[data-testid="stException"]').count()
        if exceptions:
            print(f"  warning: {url} shows {exceptions} exception(s)", file=sys.stderr)
        return t, page.locator(".js-plotly-plot").count()
    finally:
        ctx.close()


def slider_times(browser, url: str, label_fmt: str, n_new: int, n_cached: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    out: dict[str, list[float]] = {"new": [], "cached": []}
    try:
        page = ctx.new_page()
        page.goto(url, timeout=TIMEOUT_MS)
        page.wait_for_function(JS_DONE, arg=[1, None], timeout=TIMEOUT_MS, polling=20)
        charts = page.locator(".js-plotly-plot").count()
        thumb = slider_thumb(page, "Depth")
        thumb.focus()

        def step(key: str) -> float:
            want = slider_value(thumb) + (1 if key == "ArrowRight" else -1)
            t0 = page.evaluate("performance.now()")
            page.keyboard.press(key)
            done = page.wait_for_function(JS_DONE, arg=[charts, label_fmt.format(want)], timeout=TIMEOUT_MS,
                                          polling=20)
            return (done.json_value() - t0) / 1000

        for _ in range(n_new):  # every depth is new: a cache miss on the server
            out["new"].append(step("ArrowRight"))
        for i in range(n_cached):  # between the last two depths: both cached
            out["cached"].append(step("ArrowLeft" if i % 2 == 0 else "ArrowRight"))
    finally:
        ctx.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="loads per case on the long-running servers")
    ap.add_argument("--fresh", type=int, default=3, help="fresh server starts per page for the cold case")
    ap.add_argument("--slider", type=int, default=20, help="slider moves per case")
    ap.add_argument("--presets", default="he_relu,std1_explodes")
    ap.add_argument("--slider-only", action="store_true", help="only part 2 (the slider)")
    ap.add_argument("--no-slider", action="store_true", help="only part 1 (the preset links)")
    args = ap.parse_args()

    chromium = find_chromium()
    if chromium is None:
        print(CHROMIUM_MISSING, file=sys.stderr)
        return 0
    from playwright.sync_api import sync_playwright

    presets = [p for p in args.presets.split(",") if p]
    tmp = Path(tempfile.mkdtemp(prefix="initlab-bench-"))
    (tmp / "minimal.py").write_text(MINIMAL)
    (tmp / "minimal_slider.py").write_text(MINIMAL_SLIDER)
    (tmp / "computing_slider.py").write_text(COMPUTING_SLIDER.format(repo=str(Path(__file__).resolve().parent.parent)))
    (tmp / "three_charts.py").write_text(THREE_CHARTS.format(repo=str(Path(__file__).resolve().parent.parent),
                                                              steps=args.slider + 1))
    # Same server settings as the app (.streamlit/config.toml is read from the cwd, tmp has none).
    same = ("--runner.postScriptGC", "false", "--server.fileWatcherType", "none")

    times: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    t_start = time.monotonic()
    with sync_playwright() as pw:
        browser = launch_chromium(pw, chromium)
        try:
            if not args.slider_only:
                # -- 1a. warm and new-seed loads on long-running servers, interleaved --------------------
                with StreamlitServer("app.py") as app, StreamlitServer(tmp / "minimal.py", cwd=tmp, extra_args=same) as mini:
                    load_time(browser, mini.url + "/", 1)  # imports plotly etc. on the server
                    for p in presets:  # prime the cache, learn how many charts the page draws
                        _, counts[p] = load_time(browser, f"{app.url}/?preset={p}", 1)
                    seed = 1000
                    for r in range(args.reps):
                        t, _ = load_time(browser, mini.url + "/", 1)
                        times.setdefault(("minimal", "warm"), []).append(t)
                        for p in presets:
                            t, _ = load_time(browser, f"{app.url}/?preset={p}", counts[p])
                            times.setdefault((p, "warm"), []).append(t)
                            if PRESETS[p].tab == "training":  # a new seed trains for seconds: not a page cost
                                continue
                            seed += 1
                            t, _ = load_time(browser, f"{app.url}/?preset={p}&seed={seed}", counts[p])
                            times.setdefault((p, "cold (new seed)"), []).append(t)
                        print(f"  load round {r + 1}/{args.reps} done ({time.monotonic() - t_start:.0f} s)", file=sys.stderr)

                # -- 1b. first load after a fresh server start -------------------------------------------
                for r in range(args.fresh):
                    with StreamlitServer(tmp / "minimal.py", cwd=tmp, extra_args=same) as mini:
                        t, _ = load_time(browser, mini.url + "/", 1)
                        times.setdefault(("minimal", "cold (fresh server)"), []).append(t)
                    for p in presets:
                        with StreamlitServer("app.py") as app:
                            t, _ = load_time(browser, f"{app.url}/?preset={p}", counts[p])
                            times.setdefault((p, "cold (fresh server)"), []).append(t)
                    print(f"  fresh round {r + 1}/{args.fresh} done ({time.monotonic() - t_start:.0f} s)", file=sys.stderr)

            if args.no_slider:
                raise _Done
            # -- 2. slider -> redrawn charts ---------------------------------------------------------
            # The image serves the presets from its store, so nothing computes them in the background while a
            # student moves a slider; here (no store) the first page would start that warm-up: switched off.
            with StreamlitServer("app.py", env={"INITLAB_WARMUP": "0"}) as app, \
                    StreamlitServer(tmp / "minimal_slider.py", cwd=tmp, extra_args=same) as mini, \
                    StreamlitServer(tmp / "three_charts.py", cwd=tmp, extra_args=same) as three, \
                    StreamlitServer(tmp / "computing_slider.py", cwd=tmp, extra_args=same) as computing:
                slider_base = slider_times(browser, mini.url + "/", "std at layer {}", args.slider, args.slider)
                slider_computing = slider_times(browser, computing.url + "/", "std at layer {}", args.slider, args.slider)
                slider_three = slider_times(browser, three.url + "/", "std at layer {}", args.slider, args.slider)
                slider_app = slider_times(browser, app.url + "/", "at layer {}", args.slider, args.slider)  # the summary line
        except _Done:
            pass
        finally:
            browser.close()
            shutil.rmtree(tmp, ignore_errors=True)

    # -- report -------------------------------------------------------------------------------------
    print(f"\ninitlab in a real browser (chromium headless), {time.monotonic() - t_start:.0f} s in all")
    if not args.slider_only:
        print("\n1. Preset link -> all plotly charts drawn, Streamlit idle (seconds; ratio to the one-chart page)")
        print(f"{'page':<26}{'case':<22}{'n':>3}{'median':>9}{'min':>8}{'max':>8}{'ratio':>8}  goal <= 1.5")
        ref = {"warm": median(times[("minimal", "warm")]), "cold (new seed)": median(times[("minimal", "warm")]),
               "cold (fresh server)": median(times.get(("minimal", "cold (fresh server)"), []))}
        for case in ("warm", "cold (new seed)", "cold (fresh server)"):
            for page in ["minimal", *presets]:
                xs = times.get((page, case), [])
                if not xs or (page == "minimal" and case == "cold (new seed)"):
                    continue
                ratio = median(xs) / ref[case]
                charts = f" ({counts[page]} charts)" if page in counts else ""
                ok = "" if page == "minimal" else ("ok" if ratio <= 1.5 else "MISSED")
                print(f"{page + charts:<26}{case:<22}{len(xs):>3}{median(xs):>9.2f}{min(xs):>8.2f}{max(xs):>8.2f}"
                      f"{ratio:>8.2f}  {ok}")
        print("   (reference for 'cold (new seed)' is the minimal page's warm load: it has nothing to cache)")

    if args.no_slider:
        return 0
    print("\n2. Depth slider key press -> new metric, all charts redrawn, idle (seconds), default scenario")
    print(f"{'page':<26}{'case':<22}{'n':>3}{'median':>9}{'p90':>8}{'max':>8}{'ratio':>8}  goal: new depth ratio <= 2")
    for name, res in (("minimal slider", slider_base), ("one chart + same compute", slider_computing),
                      ("initlab's 3 charts only", slider_three), ("initlab", slider_app)):
        for case in ("new", "cached"):
            xs = res[case]
            ratio = median(xs) / median(slider_base[case])
            # The goal: a step that computes costs at most twice the same step on a one-chart page.
            ok = "" if name != "initlab" or case != "new" else ("ok" if ratio <= 2 else "MISSED")
            label = "new depth (miss)" if case == "new" else "cached depth (hit)"
            print(f"{name:<26}{label:<22}{len(xs):>3}{median(xs):>9.2f}{p90(xs):>8.2f}{max(xs):>8.2f}{ratio:>8.2f}  {ok}")
    print("   (one chart + same compute: a one-chart page whose step computes the same scenario with initlab.propagate;\n"
          "    initlab's 3 charts only: the same three figures with nothing else on the page and nothing to compute,\n"
          "    the part of a step that is the browser drawing them)")
    new_vs_computing = median(slider_app["new"]) / median(slider_computing["new"])
    print(f"   initlab's new depth against the one-chart page doing the same computation: {new_vs_computing:.2f}"
          f"  {'ok' if new_vs_computing <= 2 else 'MISSED'} (<= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
