"""The browserless load client (benchmarks/stclient.py, benchmarks/load.py) against a real server.

One ``streamlit run app.py`` on a free port of 127.0.0.1 for the module; every test talks to it over
Streamlit's websocket protocol exactly as the load generator does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import load  # noqa: E402
import stclient  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server_url():
    server = load.Server()
    try:
        server.start(timeout=60)
    except RuntimeError as exc:
        pytest.fail(f"could not start streamlit: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


def test_only_local_urls_are_accepted():
    with pytest.raises(ValueError):
        stclient._check_local("http://example.com:8501")
    with pytest.raises(ValueError):
        stclient._check_local("https://127.0.0.1:8501")
    assert stclient._check_local("http://127.0.0.1:8501/base/")[2] == "/base"


def test_preset_page_finishes_with_charts(server_url):
    r = stclient.open_page_sync(server_url, "preset=he_relu", timeout=90)
    assert r.ok, r.error
    assert r.error is None
    assert r.element_types["plotly_chart"] >= 2, r.element_types
    assert r.element_types["exception"] == 0
    assert r.exception_texts == []
    assert r.n_deltas >= r.element_types.total() > 0
    assert r.n_runs >= 1 and r.session_id
    assert 0 < r.seconds < 90
    assert load.failure_reason(r) is None
    # The app rewrites the address bar from the scenario: the preset stays in it.
    assert r.query_string_after is not None and "preset=he_relu" in r.query_string_after


def test_leading_question_mark_and_no_xsrf(server_url):
    r = stclient.open_page_sync(server_url, "?preset=he_relu", timeout=90, xsrf=False)
    assert r.ok, r.error
    assert r.query == "preset=he_relu"
    assert r.element_types["plotly_chart"] >= 2


def test_bad_link_shows_a_warning_naming_depth(server_url):
    r = stclient.open_page_sync(server_url, "depth=abc&foo=1", timeout=90)
    assert r.ok, r.error
    assert r.exception_texts == []
    warnings = [body for fmt, body in r.alerts if fmt in ("warning", "error")]
    assert any("depth" in body for body in warnings), r.alerts
    assert load.failure_reason(r) is None
    # The unusable values are not written back to the address bar.
    assert r.query_string_after is not None and "abc" not in r.query_string_after


def test_unreachable_server_is_a_failure_not_an_exception():
    url = f"http://127.0.0.1:{load.free_port()}"
    r = stclient.open_page_sync(url, "preset=he_relu", timeout=5)
    assert not r.ok
    assert r.error and r.error.startswith("connection")
    assert load.failure_reason(r) == "connection error"


def test_small_load_has_no_failures(server_url):
    links = ["preset=he_relu", "preset=zero_init", "preset=xavier_range", "depth=abc&foo=1"]
    rep = asyncio.run(load.run_load(server_url, 10, links, timeout=90))
    assert rep["sessions"] == 10
    assert rep["failures"] == 0, rep["failure_examples"]
    assert rep["p50_s"] <= rep["p95_s"] <= rep["max_s"] < 90
    assert set(rep["per_link"]) == set(links)
    assert rep["per_link"]["preset=he_relu"]["n"] == 3


def test_percentile_and_memory_helpers():
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert load.percentile([5.0], 95) == 5.0
    import os

    s = load.MemorySampler(os.getpid(), interval=0.05).start()
    report = s.stop()
    assert report["vmhwm_mb"] > 0 and report["rss_peak_sampled_mb"] >= 0
    assert load.cpu_seconds(os.getpid()) > 0
