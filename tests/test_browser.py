"""Real-browser checks of what only a browser shows: charts drawn, the address bar rewritten, share links.

Starts ``streamlit run app.py`` on a free port and drives Debian's Chromium with Playwright (sync API).
Without chromium these tests skip and say how to enable them; in CI (``CI=true``) they fail instead,
because .ci/run installs it. Runs in well under 3 minutes; every wait polls for the expected state.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from initlab.ui.links import SCHEMA_VERSION
from initlab.ui.results.products import spectra_depths
from initlab.teaching.presets import PRESETS
from tests.browser_util import (
    CHART,
    CHROMIUM_MISSING,
    EXCEPTION,
    JS_CHARTS,
    JS_CHARTS_SIDE_BY_SIDE,
    JS_TABLE_SCROLL,
    JS_TEXT_PROBLEMS,
    JS_WORDS_WITHOUT_CONTRAST,
    StreamlitServer,
    find_chromium,
    launch_chromium,
    metric_value,
    settled_sidebar_controls,
    sidebar_controls,
    slider_thumb,
    slider_value,
    wait_charts_drawn,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LOAD_MS = 90_000  # first run of a server imports numpy/pandas/plotly and computes: slow on a busy 2-core box
RERUN_MS = 60_000


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(CHROMIUM_MISSING + " (CI=true: it should have been installed)")
        pytest.skip(CHROMIUM_MISSING)
    return path


@pytest.fixture(scope="module")
def browser(chromium: str):  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a broken environment is an error, never a silent skip
        pytest.fail(f"the playwright package is missing ({exc}): pip install -r requirements-dev.txt")
    with sync_playwright() as pw:
        b = launch_chromium(pw, chromium)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(chromium: str):  # type: ignore[no-untyped-def]
    """Base URL of a fresh ``streamlit run app.py`` (killed with its process group at the end)."""
    with StreamlitServer("app.py", timeout=60) as server:
        yield server.url


@pytest.fixture
def page(browser, app_url):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(RERUN_MS)
    yield pg
    context.close()


def _open(page, url: str, min_charts: int = 1) -> None:  # type: ignore[no-untyped-def]
    page.goto(url, wait_until="domcontentloaded")
    wait_charts_drawn(page, min_charts, timeout_ms=LOAD_MS)


def expect_metric_label(page, label: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    import re

    expect(page.get_by_text(re.compile(re.escape(label) + r"\b")).first).to_be_visible(timeout=RERUN_MS)


def _no_exception(page) -> None:  # type: ignore[no-untyped-def]
    if page.locator(EXCEPTION).count():
        pytest.fail("Streamlit shows an exception:\n" + page.locator(EXCEPTION).first.inner_text())
    body = page.inner_text("body")
    assert "This page could not be drawn" not in body, body[:2000]


def test_preset_link_draws_charts(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/?preset=std1_explodes", min_charts=2)
    drawn = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                                    .map(p => p.querySelectorAll('svg.main-svg').length)""")
    assert len(drawn) >= 2 and all(drawn), f"SVGs per chart: {drawn}"
    # The annotation is SVG text inside the chart; the verdict repeats the sentence in the page text.
    annotations = " ".join(page.locator(f"{CHART} text").all_text_contents())
    assert re.search(r"overflowed to inf at layer \d+", annotations), annotations[:500]
    body = page.inner_text("body")
    assert re.search(r"overflowed to inf at layer \d+", body), body[:2000]
    _no_exception(page)
    assert _query(page.url).get("preset") == ["std1_explodes"]


def test_slider_change_updates_url(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/")
    thumb = slider_thumb(page, "Depth")
    before = slider_value(thumb)
    assert "depth" not in _query(page.url)  # the default is left out of the link
    thumb.focus()
    thumb.press("ArrowRight")
    want = before + 1
    page.wait_for_function("(d) => new URLSearchParams(location.search).get('depth') === String(d)",
                           arg=want, timeout=RERUN_MS)
    wait_charts_drawn(page, timeout_ms=RERUN_MS)
    assert _query(page.url)["depth"] == [str(want)]
    assert slider_value(thumb) == want
    expect_metric_label(page, f"at layer {want}")
    _no_exception(page)


def test_share_link_reopens_same_view(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/?preset=sigmoid_saturation")  # 10 layers: quick to compute
    thumb = slider_thumb(page, "Depth")
    want = slider_value(thumb) - 1
    thumb.focus()
    thumb.press("ArrowLeft")
    page.wait_for_function("(d) => new URLSearchParams(location.search).get('depth') === String(d)",
                           arg=want, timeout=RERUN_MS)
    wait_charts_drawn(page, timeout_ms=RERUN_MS)
    expect_metric_label(page, f"at layer {want}")
    controls, metric = sidebar_controls(page), metric_value(page, "std at layer")
    # The Share box is drawn when opened (its code box costs every page a script download otherwise).
    page.locator('[data-testid="stSidebar"] [data-testid="stExpander"] summary', has_text="Share this view").click()
    code = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').first
    code.wait_for(timeout=RERUN_MS)
    link = re.sub(r"\s+", "", code.inner_text())
    assert link.startswith(app_url), link
    q = _query(link)
    assert q.get("preset") == ["sigmoid_saturation"] and q.get("depth") == [str(want)], link

    other = page.context.new_page()
    _open(other, link)
    assert settled_sidebar_controls(other, controls, RERUN_MS) == controls
    assert metric_value(other, "std at layer") == metric
    assert _query(other.url) == _query(page.url)
    _no_exception(other)


def test_bad_link_names_every_ignored_parameter(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/?depth=abc&preset=nope&foo=1")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="could not be used")
    warning.first.wait_for(timeout=RERUN_MS)
    text = warning.first.inner_text()
    for name in ("depth", "preset", "foo"):
        assert name in text, text
    assert "abc" in text and "nope" in text
    _no_exception(page)
    q = _query(page.url)  # the address bar is rewritten to what the page shows: the bad values are gone
    assert "foo" not in q and "preset" not in q and "depth" not in q, page.url


def test_clicking_a_tab_updates_url(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/")
    page.get_by_role("tab", name="Gradients").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('tab') === 'gradients'",
                           timeout=RERUN_MS)
    wait_charts_drawn(page, timeout_ms=RERUN_MS)
    assert _query(page.url)["tab"] == ["gradients"]
    assert page.get_by_role("tab", name="Gradients").get_attribute("aria-selected") == "true"
    _no_exception(page)


# The Training and Theory pages draw only their open part; each preset opens on the part its text is about.
SPECTRA_CHARTS = len(spectra_depths(PRESETS["isometry"].scenario.depth))  # one chart per depth
THEORY_CHARTS = {"edge_of_chaos": 2, "isometry": SPECTRA_CHARTS, "lsuv_rescue": 1}


def _svgs(page) -> list[int]:  # type: ignore[no-untyped-def]
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                            .map(p => p.querySelectorAll('svg.main-svg').length)""")


def test_theory_tab_and_its_presets_open_from_links(page, app_url) -> None:  # type: ignore[no-untyped-def]
    for name, n in THEORY_CHARTS.items():
        _open(page, app_url + f"/?preset={name}", min_charts=n)
        assert page.get_by_role("tab", name="Theory").get_attribute("aria-selected") == "true"
        drawn = _svgs(page)
        assert len(drawn) == n and all(drawn), f"{name}: SVGs per chart: {drawn}"
        _no_exception(page)
        assert _query(page.url) == {"v": [str(SCHEMA_VERSION)], "preset": [name]}
    body = page.inner_text("body")
    assert "LSUV rescaled" in body and "Var(z)" in body


def test_training_preset_opens_from_its_link_and_its_parts_open_on_a_click(page, app_url) -> None:  # type: ignore[no-untyped-def]
    _open(page, app_url + "/?preset=train_classic", min_charts=2)
    assert page.get_by_role("tab", name="Training").get_attribute("aria-selected") == "true"
    drawn = _svgs(page)
    assert len(drawn) == 2 and all(drawn), f"SVGs per chart: {drawn}"
    _no_exception(page)
    assert "He N(0, √(2/n))" in page.inner_text("body")
    assert _query(page.url) == {"v": [str(SCHEMA_VERSION)], "preset": ["train_classic"]}
    page.get_by_role("tab", name="Decision boundaries").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('tr_show') === 'boundaries'",
                           timeout=RERUN_MS)
    wait_charts_drawn(page, 3, timeout_ms=RERUN_MS)
    assert len(_svgs(page)) == 3 and "Step shown" in page.inner_text("body")  # one chart per initializer
    _no_exception(page)


# ------------------------------------------------------------------------------------------------ layout
# What a wide screen, a phone and the dark theme show (issue "A page that fits"): a handful of links that
# between them draw every kind of chart (panels, heatmaps, annotations, label boxes, colour bars) and both
# kinds of table, each setting in one browser context; a link's results are computed once per server.
# The dark theme is the browser's colour scheme: with no theme in .streamlit/config.toml, Streamlit follows
# it (``?embed_options=dark_theme`` works too; the emulated scheme is what a student's browser does).
BOUNDARIES = "/?preset=train_classic&tr_show=boundaries"  # 3 charts side by side, the Training table
LAYOUT_LINKS = {BOUNDARIES: 3, "/?preset=isometry": SPECTRA_CHARTS, "/?preset=std1_explodes": 3,
                "/?preset=edge_of_chaos": 2, "/?tab=theory&activation=sigmoid&depth=10": 2, "/?preset=xavier_relu": 3,
                "/?preset=he_range": 1}
LAYOUT = {  # setting -> (width, colour scheme, links)
    "wide": (1400, "light", (BOUNDARIES, "/?preset=isometry", "/?preset=std1_explodes", "/?preset=xavier_relu")),
    "phone": (390, "light", tuple(LAYOUT_LINKS)),
    "dark": (1400, "dark", (BOUNDARIES, "/?preset=edge_of_chaos", "/?tab=theory&activation=sigmoid&depth=10",
                            "/?preset=std1_explodes")),
}


@pytest.mark.parametrize("setting", list(LAYOUT))
def test_every_chart_fits_the_screen_and_the_theme(browser, app_url, setting) -> None:  # type: ignore[no-untyped-def]
    """No text on top of text in any chart (titles, tick labels, legends, annotations, colour bars), none
    beyond its chart; every chart draws its traces; words with an explicit colour read on the theme's page
    (or sit on a box they read on); no console error. On a phone: one chart per row, and a table wider
    than the screen scrolls sideways with its first column kept in view. On a wide screen: the tables fit,
    and the decision boundaries stand side by side."""
    width, scheme, links = LAYOUT[setting]
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(RERUN_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    scrolled = 0
    try:
        for link in links:
            n = LAYOUT_LINKS[link]
            _open(page, app_url + link, min_charts=n)
            page.wait_for_timeout(400)  # plotly redraws a chart once its column has its width
            _no_exception(page)
            charts = page.evaluate(JS_CHARTS)
            assert len(charts) == n, f"{link}: {len(charts)} charts"
            for k, (traces, undrawn, box) in enumerate(charts):
                assert traces > 0, f"{link}, chart {k}: no trace with data"
                assert undrawn == [], f"{link}, chart {k}: traces with data that were not drawn: {undrawn}"
                assert box[2] >= (0.8 * 358 if setting == "phone" else 250), f"{link}, chart {k}: {box}"
            text = page.evaluate(JS_TEXT_PROBLEMS)
            assert text["problems"] == [], f"{setting} {link}: {text['problems'][:10]}"
            assert page.evaluate(JS_WORDS_WITHOUT_CONTRAST) == [], link
            tables = page.evaluate(JS_TABLE_SCROLL)
            if setting == "phone":
                assert page.evaluate(JS_CHARTS_SIDE_BY_SIDE) == 0, f"{link}: charts side by side at {width} px"
                for t in tables:
                    if t["overflow"] and t["overflow"] > 1:  # it scrolls, and its first column stays
                        scrolled += 1
                        assert abs(t["after"] - t["before"]) <= 1 and t["moved"] > 0, f"{link}: {t}"
            else:
                assert all(t["overflow"] is not None and t["overflow"] <= 1 for t in tables), f"{link}: {tables}"
                if link == BOUNDARIES:
                    assert page.evaluate(JS_CHARTS_SIDE_BY_SIDE) == 3, "the 3 boundaries are not side by side"
        if setting == "phone":
            assert scrolled >= 1, "no table was wider than the phone: the sticky column went untested"
        if scheme == "dark":
            bg = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
            assert sum(int(v) for v in re.findall(r"\d+", bg)[:3]) < 150, f"not the dark theme: {bg}"
        assert errors == [], errors
    finally:
        context.close()


def test_architecture_button_and_residual_charts(page, app_url) -> None:  # type: ignore[no-untyped-def]
    """A residual pre-LayerNorm link draws its charts with the block axis and the dotted mean-field curve;
    the epsilon button writes PyTorch's 1e-5 into the address bar."""
    _open(page, app_url + "/?block=residual&norm=layer&init=he_normal&activation=relu&depth=20", min_charts=2)
    titles = " ".join(page.locator(f"{CHART} text").all_text_contents())
    assert "block" in titles and "mean-field" in titles, titles[:500]
    page.get_by_role("button", name=re.compile("Use PyTorch's ε = 1e-05")).click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('norm_eps') === '1e-05'",
                           timeout=RERUN_MS)
    wait_charts_drawn(page, timeout_ms=RERUN_MS)
    _no_exception(page)
