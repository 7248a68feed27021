"""One Chromium pass over every preset at 1400 px, 390 px and in the dark theme: what
tests/test_browser.py's layout test checks on a handful of links, here on all of them (a few minutes;
not a test). Prints one line per preset and setting; ``--shots DIR`` also saves a screenshot of each
whole page there, to look at.

    python -m tests.layout_pass [--shots /tmp/shots] [--only NAME ...] [--link NAME=QUERY ...]

``--link arch=tab=training&tr_by=architecture`` checks a link that is no preset, under the name given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from initlab.teaching.presets import PRESETS
from tests.browser_util import (JS_CHARTS, JS_CHARTS_SIDE_BY_SIDE, JS_TABLE_SCROLL, JS_TEXT_PROBLEMS,
                                JS_WORDS_WITHOUT_CONTRAST, StreamlitServer, launch_chromium, wait_charts_drawn,
                                wait_idle)

SETTINGS = {"wide": (1400, "light"), "phone": (390, "light"), "dark": (1400, "dark")}


def check(page, setting: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What is wrong with the page as shown, in words (empty: nothing found)."""
    bad = []
    charts = page.evaluate(JS_CHARTS)
    for k, (traces, undrawn, box) in enumerate(charts):
        if traces == 0 or undrawn:
            bad.append(f"chart {k}: {traces} traces with data, not drawn: {undrawn}")
        if box[2] < (280 if setting == "phone" else 250):
            bad.append(f"chart {k}: {box[2]:.0f} px wide")
    bad += [f"chart {p['chart']}: {p['kind']} {p['a']!r}" + (f" / {p['b']!r}" if "b" in p else "")
            for p in page.evaluate(JS_TEXT_PROBLEMS)["problems"]]
    bad += [f"chart {c}: {t!r} contrast {x}" for c, t, x in page.evaluate(JS_WORDS_WITHOUT_CONTRAST)]
    for t in page.evaluate(JS_TABLE_SCROLL):
        if setting == "phone" and t["overflow"] and t["overflow"] > 1 and abs(t["after"] - t["before"]) > 1:
            bad.append(f"table: first column scrolled away ({t})")
        if setting != "phone" and (t["overflow"] or 0) > 1:
            bad.append(f"table: {t['overflow']} px wider than the page")
    if setting == "phone" and page.evaluate(JS_CHARTS_SIDE_BY_SIDE):
        bad.append("charts side by side")
    return bad


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=Path)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--link", nargs="*", default=[], help="NAME=QUERY: a link to check besides (or, with --only "
                                                          "and no names, instead of) the presets")
    args = ap.parse_args()
    links = dict(item.split("=", 1) for item in args.link)
    queries = {n: f"preset={n}" for n in (list(PRESETS) if args.only is None else args.only)} | links
    names = list(queries)
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    with StreamlitServer("app.py", timeout=60) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        for setting, (width, scheme) in SETTINGS.items():
            context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name in names:
                errors.clear()
                t0 = time.monotonic()
                page.goto(f"{server.url}/?{queries[name]}", wait_until="domcontentloaded")
                try:
                    wait_charts_drawn(page, 1, timeout_ms=180_000)
                except Exception:  # noqa: BLE001  (a page without charts: Learn)
                    wait_idle(page)
                page.wait_for_timeout(600)
                n = len(page.evaluate(JS_CHARTS))
                bad = check(page, setting) + [f"console: {e[:120]}" for e in errors]
                if page.locator('[data-testid="stException"]').count():
                    bad.append("exception")
                print(f"{setting:5} {name:20} {n} charts {time.monotonic() - t0:5.1f} s  "
                      + ("ok" if not bad else "; ".join(bad[:6]) + (f" (+{len(bad) - 6})" if len(bad) > 6 else "")),
                      flush=True)
                if args.shots:
                    h = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
                    page.set_viewport_size({"width": width, "height": min(int(h) + 60, 12000)})
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(args.shots / f"{setting}_{name}.png"))
                    page.set_viewport_size({"width": width, "height": 900})
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
