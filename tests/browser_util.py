"""Shared helpers for the real-browser checks (tests/test_browser.py, benchmarks/bench_browser.py).

Start a Streamlit server in its own process group, wait for its health endpoint, launch Debian's
Chromium through Playwright (which cannot download its own browsers here), and wait for Streamlit's
asynchronous reruns to settle. Standard library only at import time: Playwright is imported by the
caller, so a missing package gives a clear message there instead of an import error here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy"))

import stclient  # noqa: E402  (deploy/stclient.py: standard library only at import)

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CHROMIUM_MISSING = ("Chromium not found: install Debian's chromium (apt-get install -y chromium) to run the "
                    "browser tests; .ci/run does this in CI")

# Streamlit's "Running..." indicator (top right) is on the page only while a script run is in progress,
# but it appears ~0.5 s after the run starts; from the start of a run until its end, the elements of
# the previous run carry data-stale="true". "Settled" below means: neither is on the page.
RUNNING = '[data-testid="stStatusWidget"]'
STALE = '[data-stale="true"]'
CHART = ".js-plotly-plot"
EXCEPTION = '[data-testid="stException"]'

JS_SETTLED = """() => !document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')"""

# True when at least `min` plotly charts are on the page, every one has drawn its SVG, and no run is
# in progress. Argument: the minimum number of charts.
JS_CHARTS_DRAWN = """(min) => {
  if (document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')) return false;
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= min && plots.every(p => p.querySelector('.main-svg'));
}"""


def find_chromium() -> str | None:
    """Debian's chromium binary, or None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run <script>`` on a free port of 127.0.0.1, in its own process group.

    Use as a context manager (or call :meth:`start` / :meth:`stop`); ``url`` is the base URL without a
    trailing slash. Output goes to a log file whose tail is shown if the server never gets healthy.
    """

    def __init__(self, script: str | Path = "app.py", cwd: str | Path = REPO, port: int | None = None,
                 timeout: float = 60.0, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.script, self.cwd, self.timeout, self.extra_args = str(script), Path(cwd), timeout, extra_args
        self.env = env  # added to this process's environment for the server
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self) -> StreamlitServer:
        import tempfile

        fd, log = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
        self.log_path = Path(log)
        cmd = [sys.executable, "-m", "streamlit", "run", self.script, "--server.port", str(self.port),
               "--server.headless", "true", "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", *self.extra_args]
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env={**os.environ, **self.env} if self.env else None)
        try:
            stclient.wait_healthy(self.url, self.timeout, self.proc)
        except RuntimeError as exc:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"streamlit at {self.url}: {exc}:\n{tail}") from None
        return self

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the server's whole process group (it was started as a new session: its own group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.log_path is not None:
            try:
                self.log_path.unlink()
            except OSError:
                pass
            self.log_path = None

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_chromium(playwright, executable: str | None = None):  # type: ignore[no-untyped-def]
    """Launch Debian's chromium headless with the flags this sandbox needs."""
    return playwright.chromium.launch(executable_path=executable or find_chromium() or "/usr/bin/chromium",
                                      args=CHROMIUM_ARGS, headless=True)


def wait_charts_drawn(page, min_count: int = 1, timeout_ms: float = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until >= min_count plotly charts have their SVG and Streamlit's running indicator is gone."""
    page.wait_for_function(JS_CHARTS_DRAWN, arg=min_count, timeout=timeout_ms, polling=50)


def wait_idle(page, timeout_ms: float = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app is connected, has rendered something and no script run is in progress."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"]')
                 && document.querySelector('[data-testid="stMain"] [data-testid="stMarkdown"], '
                                           + '[data-testid="stMain"] [data-testid="stHeading"]')""",
        timeout=timeout_ms, polling=50)


def slider_thumb(page, label: str):  # type: ignore[no-untyped-def]
    """The keyboard-focusable thumb of the st.slider whose label contains ``label``.

    Streamlit 1.67 draws sliders with react-aria: the thumb is a visually hidden
    ``<input type="range">`` (implicit ARIA role "slider"); older versions used ``div[role=slider]``.
    """
    widget = page.locator('[data-testid="stSlider"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label))
    return widget.get_by_role("slider").first


def slider_value(thumb) -> int:  # type: ignore[no-untyped-def]
    """The current value of a slider thumb from :func:`slider_thumb`."""
    return int(float(thumb.evaluate("e => e.getAttribute('aria-valuenow') ?? e.value")))


def metric_value(page, label_prefix: str, timeout_ms: float = 30_000) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(label, value) of a summary figure such as "std at layer 50 **0.0663**" in the page's markdown:
    the label is ``label_prefix`` with the number that follows it, the value the next word."""
    import re

    line = page.locator('[data-testid="stMarkdownContainer"]', has_text=label_prefix).first
    line.wait_for(timeout=timeout_ms)
    m = re.search(re.escape(label_prefix) + r"(\s*\d*)\s+(\S+)", line.inner_text())
    assert m, line.inner_text()
    return (label_prefix + m.group(1)).strip(), m.group(2).strip()


def sidebar_controls(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every sidebar control's label -> shown value (inputs, selectboxes, sliders, checkboxes)."""
    return page.evaluate("""() => {
      const out = {};
      const side = document.querySelector('[data-testid="stSidebar"]');
      for (const el of side.querySelectorAll('input')) {
        const name = el.getAttribute('aria-label') || el.name || el.id;
        if (!name) continue;
        out[name] = el.type === 'checkbox' ? String(el.checked) : el.value;
      }
      for (const w of side.querySelectorAll('[data-testid="stSlider"]')) {  // div-based sliders
        const label = w.querySelector('[data-testid="stWidgetLabel"]');
        const thumb = w.querySelector('div[role="slider"]');
        if (label && thumb) out[label.innerText.trim()] = thumb.getAttribute('aria-valuenow');
      }
      return out;
    }""")


def settled_sidebar_controls(page, want: dict[str, str], timeout_ms: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The sidebar controls once they equal ``want``, or as they are after ``timeout_ms``.

    The charts can be drawn before the browser has rendered every sidebar slider (div-based sliders
    appear a frame later), so a single snapshot right after the page loads can miss some.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        got = sidebar_controls(page)
        if got == want or time.monotonic() > deadline:
            return got
        page.wait_for_timeout(100)


# --------------------------------------------------------------------------------------- layout checks
# For tests/test_browser.py's layout tests and benchmarks' per-preset pass: each returns plain data the
# caller asserts on, so a failure message can say which chart and which words.

# Text on text in the charts: every pair of visible SVG texts of a chart (titles, axis titles, tick
# labels, legend entries, annotations, colour bar labels; not the hover layer) whose boxes overlap by
# more than 1.5 px both ways, and every text that reaches beyond its chart's box. Returns
# {charts, problems: [{chart, kind: "overlap" | "outside", a, b?}]}.
JS_TEXT_PROBLEMS = """() => {
  const out = [];
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  plots.forEach((plot, ci) => {
    const box = plot.getBoundingClientRect();
    const texts = [...plot.querySelectorAll('svg text')].filter(t => {
      if (!t.textContent.trim() || t.closest('.hoverlayer')) return false;
      const r = t.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) return false;
      for (let e = t; e && e !== plot; e = e.parentElement) {
        const cs = getComputedStyle(e);
        if (cs.display === 'none' || cs.visibility === 'hidden' || cs.opacity === '0') return false;
      }
      return true;
    }).map(t => ({t: t.textContent.trim().slice(0, 60), r: t.getBoundingClientRect()}));
    const T = 1.5;
    for (let i = 0; i < texts.length; i++) {
      const a = texts[i].r;
      if (a.left < box.left - T || a.right > box.right + T || a.top < box.top - T || a.bottom > box.bottom + T)
        out.push({chart: ci, kind: 'outside', a: texts[i].t});
      for (let j = i + 1; j < texts.length; j++) {
        const b = texts[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > T && h > T) out.push({chart: ci, kind: 'overlap', a: texts[i].t, b: texts[j].t});
      }
    }
  });
  return {charts: plots.length, problems: out};
}"""

# Per chart: [visible traces that have values, the names of those among them that plotly did not draw
# (no scatter/bar/histogram group, heatmap image or contour bound to them), its box (left, top, width,
# height)].
JS_CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
  const r = gd.getBoundingClientRect();
  const size = v => v ? (v.length !== undefined ? v.length : (v.bdata || '').length) : 0;  // array or base64
  const withData = (gd._fullData || []).filter(t => t.visible === true && ['x', 'y', 'z'].some(k => size(t[k]) > 0));
  // Plotly binds each drawn trace group to its trace: a trace with data but no group was never drawn.
  const drawn = new Set([...gd.querySelectorAll('g.trace, g.hm, g.contour')]
      .map(g => g.__data__ && g.__data__[0] && g.__data__[0].trace ? g.__data__[0].trace.uid : null));
  return [withData.length, withData.filter(t => !drawn.has(t.uid)).map(t => t.name || t.type),
          [r.left, r.top, r.width, r.height]];
})"""

# Per st.table: how far it overflows its scroller, and where its first column's cells are relative to
# the scroller's left edge before and after scrolling all the way right (0 and 0: it stayed in view),
# and how far its second column moved. The scroller is left scrolled right (the caller reloads).
JS_TABLE_SCROLL = """() => [...document.querySelectorAll('[data-testid="stTable"]')].map(t => {
  const s = [...t.querySelectorAll('div')].find(d => getComputedStyle(d).overflowX === 'auto');
  if (!s) return {overflow: null};
  const th = t.querySelector('tbody th'), td = t.querySelector('tbody td');
  const at = () => [th.getBoundingClientRect().left - s.getBoundingClientRect().left, td.getBoundingClientRect().left];
  const [before, td0] = at();
  s.scrollLeft = s.scrollWidth;
  const [after, td1] = at();
  return {overflow: s.scrollWidth - s.clientWidth, before: before, after: after, moved: td0 - td1};
})"""

# Annotations whose words contrast less than 3:1 with the page's background (the theme's) and have no
# opaque box under them (alpha >= 0.5, and the words contrast >= 3:1 with the box): near-black words on
# the dark theme's page, say. Returns [[chart, text, contrast]].
JS_WORDS_WITHOUT_CONTRAST = """() => {
  const rgba = s => { const m = (s || '').match(/[\\d.]+/g) || []; return m.length >= 3 ? [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1] : null; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const page = rgba(getComputedStyle(document.querySelector('[data-testid="stApp"]')).backgroundColor);
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach((gd, ci) => {
    gd.querySelectorAll('g.annotation').forEach(a => {
      const text = a.querySelector('text');
      if (!text || !text.textContent.trim()) return;
      const fg = rgba(getComputedStyle(text).fill);
      if (!fg || contrast(fg, page) >= 3) return;
      const rect = a.querySelector('rect.bg');
      const bg = rect && rgba(getComputedStyle(rect).fill);
      if (!bg || bg[3] < 0.5 || contrast(fg, bg) < 3)
        out.push([ci, text.textContent.trim().slice(0, 60), Math.round(contrast(fg, page) * 100) / 100]);
    });
  });
  return out;
}"""

# Pairs of charts side by side (their vertical extents overlap by more than 10 px): none on a phone.
JS_CHARTS_SIDE_BY_SIDE = """() => {
  const r = [...document.querySelectorAll('.js-plotly-plot')].map(p => p.getBoundingClientRect());
  let n = 0;
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++)
    if (Math.min(r[i].bottom, r[j].bottom) - Math.max(r[i].top, r[j].top) > 10) n++;
  return n;
}"""
