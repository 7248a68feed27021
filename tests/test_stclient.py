"""The Streamlit session client (deploy/stclient.py) and the load benchmark (benchmarks/load.py) against a
real server.

One ``streamlit run app.py`` on a free port of 127.0.0.1 for the module; every test talks to it over
Streamlit's websocket protocol exactly as the load generator does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "deploy"))

import load  # noqa: E402
import stclient  # noqa: E402

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server():
    srv = load.Server()
    try:
        srv.start(timeout=60)
    except RuntimeError as exc:
        pytest.fail(f"could not start streamlit: {exc}")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def server_url(server):
    return server.url


def test_only_local_urls_are_accepted():
    with pytest.raises(ValueError):
        stclient._check_local("http://example.com:8501")
    with pytest.raises(ValueError):
        stclient._check_local("https://127.0.0.1:8501")
    assert stclient._check_local("http://127.0.0.1:8501/base/")[2] == "/base"


def test_health_over_the_standard_library_s_http(server_url):
    status, headers, body = stclient.http_get(server_url, "/_stcore/health")
    assert status == 200 and body.strip() == b"ok"
    assert "_streamlit_xsrf=" in headers["set-cookie"]  # XSRF on (config.toml): the browser's cookie
    assert stclient.healthy(server_url)
    assert stclient.wait_healthy(server_url, timeout=5) < 5
    down = f"http://127.0.0.1:{load.free_port()}"
    assert not stclient.healthy(down, timeout=1)
    with pytest.raises(RuntimeError, match="not healthy after"):
        stclient.wait_healthy(down, timeout=0.3)


def test_warm_opens_each_link_once_in_order(server_url):
    pages = stclient.warm(server_url, ["preset=he_relu", "tab=learn"], timeout=120)
    assert [p.query for p in pages] == ["preset=he_relu", "tab=learn"]
    assert all(p.ok and load.failure_reason(p) is None for p in pages), [p.error for p in pages]
    assert pages[0].finished_at < pages[1].started_at  # one after the other


def test_importing_the_client_needs_only_the_standard_library():
    """The container's health check and the launcher import it: no Streamlit, no websockets, until a
    session opens."""
    import subprocess

    code = ("import sys; sys.path.insert(0, 'deploy'); import stclient; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'websockets')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


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
    assert -1 <= rep["order"]["rank_correlation"] <= 1
    assert rep["order"]["first_tenth_p50_s"] > 0 and rep["order"]["last_tenth_p50_s"] > 0


def test_a_page_records_when_it_was_asked_for_and_when_it_finished(server_url):
    r = stclient.open_page_sync(server_url, "preset=he_relu", timeout=90)
    assert r.ok, r.error
    assert r.started_at < r.sent_at < r.finished_at
    assert r.finished_at - r.started_at == pytest.approx(r.seconds)


def test_rank_correlation_of_arrival_and_finish():
    assert load.ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]  # ties share their mean rank
    assert load.spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert load.spearman([1, 2, 3, 4], [9, 7, 5, 1]) == pytest.approx(-1.0)
    assert load.spearman([1, 2], [1, 2]) is None and load.spearman([1, 2, 3], [5, 5, 5]) is None

    def page(sent: float, finished: float) -> stclient.PageResult:
        return stclient.PageResult(ok=True, seconds=finished, started_at=0.0, sent_at=sent, finished_at=finished)

    fifo = load.arrival_order([page(i, 10 + i) for i in range(20)])
    assert fifo["rank_correlation"] == 1.0 and fifo["first_tenth_p50_s"] < fifo["last_tenth_p50_s"]
    reversed_ = load.arrival_order([page(i, 30 - i) for i in range(20)])
    assert reversed_["rank_correlation"] == -1.0
    failed = stclient.PageResult(ok=False, seconds=5.0, sent_at=None)
    assert load.arrival_order([failed, page(0, 1)])["rank_correlation"] is None


def test_cpu_per_page_counts_the_servers_cpu(server):
    rep = load.cpu_per_page(server.url, server.pid, ["preset=he_relu", "tab=learn", "preset=he_relu"], 2, rounds=2,
                            timeout=90)
    assert list(rep["per_link"]) == ["preset=he_relu", "tab=learn", "preset=he_relu #2"]
    assert rep["failures"] == 0
    assert all(v["ms_per_page"] > 0 for v in rep["per_link"].values())
    assert rep["per_link"]["tab=learn"]["tab"] == "learn" and set(rep["per_tab_mean_ms"]) == {"signal", "learn"}
    assert all(len(v["rounds_ms"]) == 2 and v["ms_per_page"] == min(v["rounds_ms"]) for v in rep["per_link"].values())


def test_percentile_and_memory_helpers():
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert load.percentile([5.0], 95) == 5.0
    import os

    s = load.MemorySampler(os.getpid(), interval=0.05).start()
    report = s.stop()
    assert report["vmhwm_mb"] > 0 and report["rss_peak_sampled_mb"] >= 0
    assert load.cpu_seconds(os.getpid()) > 0
