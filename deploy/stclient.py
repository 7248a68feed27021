"""The one Streamlit session client of initlab: open a page the way the browser does, and time it.

    import stclient                                       # deploy/ on sys.path (see below)
    r = stclient.open_page_sync("http://127.0.0.1:8501", "preset=he_relu")
    r.ok, r.seconds, r.element_types["plotly_chart"], r.exception_texts, r.alerts
    stclient.healthy("http://127.0.0.1:8501")            # GET /_stcore/health answered "ok"?
    stclient.wait_healthy(url, timeout=60, proc=server)  # poll it until it is

Its users: the image's worker opens its own pages with it before it says it is ready
(``deploy/worker.py``: :func:`warm`), the launcher and the container's health check ask
:func:`healthy`, the load benchmark (``benchmarks/load.py``) opens hundreds of sessions at once, and the
tests drive servers with it. It lives in ``deploy/`` because the image needs it (``benchmarks/`` and
``tests/`` are not in the image); scripts of ``deploy/`` find it as their neighbour (``python
deploy/worker.py`` puts ``deploy/`` first on ``sys.path``), benchmarks and tests put ``deploy/`` on
``sys.path``. At import it needs the standard library only (the health check and the launcher run it
often or before anything else); Streamlit's protobuf classes and ``websockets`` are imported when the
first session opens.

What a session does, mirroring Streamlit 1.67's frontend and read off its server source
(``streamlit/web/server/starlette/starlette_websocket.py``, ``runtime/app_session.py``):
1. ``GET /_stcore/health``: the browser's first request. With XSRF protection on (the default) the
   response sets the ``_streamlit_xsrf`` cookie.
2. Websocket ``/_stcore/stream`` with the ``Sec-WebSocket-Protocol`` header repurposed as
   ``streamlit, <xsrf token>`` (first entry: the subprotocol the server selects; second: the XSRF token,
   which the browser copies from the cookie; a third entry would resume an old session), the cookie,
   and a same-origin ``Origin`` header (the server rejects a foreign Origin with close code 1008).
   The XSRF token only gates reading auth cookies; the connection works without it too
   (``xsrf=False``), but a client with it is what a student's browser is.
3. ``BackMsg.rerun_script``: a ``ClientState`` with the query string (no ``?``), an empty
   ``page_script_hash`` / ``page_name`` (the main page), empty widget states, no cached message hashes
   and the browser's ``context_info`` (url, timezone, locale). Nothing runs before this message.
4. Reads ``ForwardMsg``s until ``script_finished`` says the run is over. ``FINISHED_EARLY_FOR_RERUN``
   (an ``st.rerun()`` or a rerun request) is not the end: a ``new_session`` starts the next run and
   what the page shows is what that run draws, so the element counts restart there.

Notes:

* ForwardMsg cache: the server replaces a large element by a ``ref_hash`` reference only if the
  client listed its hash in ``ClientState.cached_message_hashes``. We list none, so every element
  arrives in full; a ``ref_hash`` anyway is a protocol error here (reported in ``error``).
* Keep-alive: the server pings at the websocket level every ``server.websocketPingInterval`` (30 s);
  the ``websockets`` library answers pings itself. The browser's ``app_heartbeat`` BackMsg is only
  needed for idle pages held open for long; ``open_page(hold=...)`` sends one every 20 s while holding.
* Websocket compression is off on the server by default (``server.enableWebsocketCompression``);
  we offer none.
* Lean on CPU: one protobuf parse per message (upb, C), the element type read from the oneof; the
  texts of ``exception`` and ``alert`` elements are the only payloads kept.

* HTTP (the health GET) is the standard library's ``http.client``, run in a thread of the event loop's
  executor by the async session (:func:`open_page`): a burst of N sessions needs N threads for it, which
  ``benchmarks/load.py`` gives its loop. Measured against the hand-written asynchronous GET it replaced
  (200 sessions at once on the launcher's two workers, five runs each, alternated): the client's own CPU
  0.67-0.71 s against 0.29-0.37 s, the students' times no different beyond the noise (p95 2.4-4.2 s
  against 2.1-3.9 s on a 2-core machine busy with other work).

Only 127.0.0.1 / localhost URLs are accepted.
"""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

__all__ = ["PageResult", "healthy", "http_get", "open_page", "open_page_sync", "wait_healthy", "warm"]

_ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}
_ALERT_FORMATS = {1: "error", 2: "warning", 3: "info", 4: "success"}
_HEARTBEAT_EVERY = 20.0
_MAX_BODY = 1 << 20  # bounded: health answers are tiny


@dataclass
class PageResult:
    """What one simulated student saw.

    ``ok``: the script run finished successfully (``script_finished`` FINISHED_SUCCESSFULLY) within the
    timeout; the page may still show exceptions or error boxes (see ``exception_texts``, ``alerts``).
    ``seconds``: from the first request to the final ``script_finished`` (or to the failure).
    ``n_deltas`` / ``element_types`` / ``exception_texts`` / ``alerts``: of the final run only (what the
    page shows); ``element_types`` counts ``Element`` oneof names ("plotly_chart", "alert", "exception",
    "markdown", "metric", ...); ``alerts`` is a list of (format, body), format one of error / warning /
    info / success. ``query_string_after``: the address bar's query after the run (the last
    ``page_info_changed``), None if the server never rewrote it.
    """

    ok: bool
    seconds: float
    n_deltas: int = 0
    element_types: Counter = field(default_factory=Counter)  # type: ignore[type-arg]
    exception_texts: list[str] = field(default_factory=list)
    query_string_after: str | None = None
    error: str | None = None
    alerts: list[tuple[str, str]] = field(default_factory=list)
    query: str = ""
    n_runs: int = 0  # script runs seen (> 1: the app reran itself)
    n_messages: int = 0  # every ForwardMsg of every run
    n_bytes: int = 0
    connect_seconds: float | None = None  # health GET + websocket handshake done
    first_message_seconds: float | None = None  # first ForwardMsg (new_session) arrived
    session_id: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)  # the browser's cookies at the end (e.g. a proxy's)
    # Absolute ``time.perf_counter()`` instants (comparable across the sessions of one client process):
    # the session started, its rerun request went out (the server's arrival order), its page finished.
    started_at: float = 0.0
    sent_at: float | None = None
    finished_at: float | None = None


def _check_local(base_url: str) -> tuple[str, int, str, str]:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in _ALLOWED_HOSTS:
        raise ValueError(f"only http://127.0.0.1 / localhost URLs are allowed, not {base_url!r}")
    port = parts.port or 80
    path = parts.path.rstrip("/")
    return parts.hostname, port, path, parts.netloc


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _store_cookies(jar: dict[str, str], set_cookie: str) -> None:
    """Keep every cookie of ``Set-Cookie`` lines (joined by newlines) in ``jar``, as a browser does."""
    for line in set_cookie.split("\n"):
        if line:
            cookie = SimpleCookie()
            cookie.load(line)
            jar.update({k: m.value for k, m in cookie.items()})


def http_get(base_url: str, path: str, *, timeout: float = 10,
             cookies: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``base_url + path`` with ``cookies``: (status, lower-cased headers with the values of repeated
    ones -- ``Set-Cookie`` -- joined by newlines, body up to 1 MiB). ``http.client`` rather than
    ``urllib.request``: any status is an answer here (urllib raises for 4xx/5xx), and the raw
    ``Set-Cookie`` lines are what a browser's jar reads. Raises ``OSError`` / ``http.client.HTTPException``
    for network trouble."""
    host, port, prefix, _ = _check_local(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", prefix + path, headers={"Cookie": _cookie_header(cookies)} if cookies else {})
        resp = conn.getresponse()
        body = resp.read(_MAX_BODY)
        headers: dict[str, str] = {}
        for name, value in resp.getheaders():
            name = name.lower()
            headers[name] = (headers[name] + "\n" if name in headers else "") + value
        return resp.status, headers, body
    finally:
        conn.close()


def healthy(base_url: str, *, timeout: float = 2.0, cookies: dict[str, str] | None = None) -> bool:
    """Whether ``base_url``'s ``/_stcore/health`` answers 200 "ok" within ``timeout`` (never raises for the
    network: a server that is down is simply not healthy)."""
    try:
        status, _, body = http_get(base_url, "/_stcore/health", timeout=timeout, cookies=cookies)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 and body.strip() == b"ok"


def wait_healthy(base_url: str, timeout: float = 60, proc: subprocess.Popen | None = None,  # type: ignore[type-arg]
                 interval: float = 0.2) -> float:
    """Poll :func:`healthy` until it passes; the seconds it took. ``RuntimeError`` after ``timeout``
    seconds, or as soon as ``proc`` (the server's process, if given) has exited."""
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        if healthy(base_url, timeout=min(2.0, max(0.1, timeout))):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{base_url} not healthy after {timeout:g} s")
        time.sleep(interval)


def _rerun_backmsg(query: str, page_url: str) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    cs = msg.rerun_script
    cs.query_string = query
    cs.page_script_hash = ""
    cs.page_name = ""
    cs.widget_states.SetInParent()  # present and empty, as the browser sends it on load
    cs.is_auto_rerun = False
    ci = cs.context_info
    ci.url = page_url
    ci.timezone = "UTC"
    ci.timezone_offset = 0
    ci.locale = "en-US"
    ci.is_embedded = False
    ci.color_scheme = "light"
    return msg.SerializeToString()


def _heartbeat_backmsg() -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.app_heartbeat = True
    return msg.SerializeToString()


async def open_page(base_url: str, query: str, *, timeout: float = 60, xsrf: bool = True,
                    hold: asyncio.Event | None = None, hold_timeout: float = 300,
                    on_page: Callable[[PageResult], None] | None = None,
                    cookies: dict[str, str] | None = None) -> PageResult:
    """Open ``base_url/?query`` as a fresh browser tab would; return when the script run finishes.

    ``timeout`` bounds everything up to the finished page. ``hold``: keep the session open after the
    page finished until the event is set (at most ``hold_timeout`` s), as a student keeps the tab open;
    the result (timed at ``script_finished``) is returned only after closing; ``on_page(result)`` is
    called as soon as the page finished (before holding) or failed. ``cookies``: what the browser
    already holds (e.g. a sticky proxy's worker cookie); like a browser, every cookie the health
    response sets is kept and all of them go with the websocket (``result.cookies``: the final jar).
    Never raises for server or network trouble: ``ok=False`` and ``error`` say what went wrong.
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    query = query.lstrip("?")
    _, _, prefix, netloc = _check_local(base_url)
    t0 = time.perf_counter()
    res = PageResult(ok=False, seconds=0.0, query=query, cookies=dict(cookies or {}), started_at=t0)
    state = {"finished": False}

    async def _session(budget: asyncio.Timeout) -> None:
        headers: dict[str, str] = {}
        subprotocols = ["streamlit"]
        if xsrf:
            status, hdrs, _ = await asyncio.to_thread(http_get, base_url, "/_stcore/health", timeout=timeout,
                                                      cookies=res.cookies)
            if status != 200:
                raise ConnectionError(f"health check answered {status}")
            _store_cookies(res.cookies, hdrs.get("set-cookie", ""))
            if "_streamlit_xsrf" in res.cookies:
                subprotocols.append(res.cookies["_streamlit_xsrf"])
        if res.cookies:
            headers["Cookie"] = _cookie_header(res.cookies)
        page_url = f"http://{netloc}{prefix}/" + (f"?{query}" if query else "")
        uri = f"ws://{netloc}{prefix}/_stcore/stream"
        # One header "streamlit, <token>": the server reads positions 0 (subprotocol) and 1 (XSRF).
        async with connect(uri, subprotocols=subprotocols, additional_headers=headers,  # type: ignore[arg-type]
                           origin=f"http://{netloc}", compression=None, max_size=None, ping_interval=None,
                           open_timeout=timeout, close_timeout=2, max_queue=64) as ws:
            res.connect_seconds = time.perf_counter() - t0
            await ws.send(_rerun_backmsg(query, page_url))
            res.sent_at = time.perf_counter()
            await _read_until_finished(ws)
            state["finished"] = True
            res.finished_at = time.perf_counter()
            res.seconds = res.finished_at - t0
            if on_page is not None:
                on_page(res)
            if hold is not None:
                budget.reschedule(asyncio.get_running_loop().time() + hold_timeout + 5)
                await _hold(ws)

    async def _read_until_finished(ws) -> None:  # type: ignore[no-untyped-def]
        msg = ForwardMsg()
        elements = res.element_types
        while True:
            data = await ws.recv(decode=False)
            res.n_messages += 1
            res.n_bytes += len(data)
            if res.first_message_seconds is None:
                res.first_message_seconds = time.perf_counter() - t0
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta":
                res.n_deltas += 1
                delta = msg.delta
                if delta.WhichOneof("type") == "new_element":
                    el = delta.new_element
                    et = el.WhichOneof("type")
                    elements[et] += 1
                    if et == "exception":
                        res.exception_texts.append(f"{el.exception.type}: {el.exception.message}")
                    elif et == "alert":
                        res.alerts.append((_ALERT_FORMATS.get(el.alert.format, "alert"), el.alert.body))
            elif kind == "script_finished":
                status = msg.script_finished
                if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                    res.ok = True
                    return
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    res.error = "script finished with a compile error"
                    return
                # FINISHED_EARLY_FOR_RERUN: another run follows; fragment runs: keep reading.
            elif kind == "new_session":
                res.n_runs += 1
                res.session_id = res.session_id or msg.new_session.initialize.session_id or None
                # A new run redraws the page: count what the final run shows.
                res.n_deltas = 0
                elements.clear()
                res.exception_texts.clear()
                res.alerts.clear()
            elif kind == "page_info_changed":
                res.query_string_after = msg.page_info_changed.query_string
            elif kind == "session_event":
                ev = msg.session_event
                if ev.WhichOneof("type") == "script_compilation_exception":
                    exc = ev.script_compilation_exception
                    res.exception_texts.append(f"{exc.type}: {exc.message}")
            elif kind == "ref_hash":
                raise RuntimeError(f"server sent a ref_hash ({msg.ref_hash[:12]}) for a message we never cached")
            # session_status_changed, page_config_changed, navigation, heartbeat_ack, ...: nothing to do.

    async def _hold(ws) -> None:  # type: ignore[no-untyped-def]
        assert hold is not None
        deadline = time.monotonic() + hold_timeout
        while not hold.is_set() and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(hold.wait(), min(_HEARTBEAT_EVERY, max(deadline - time.monotonic(), 0.01)))
            except asyncio.TimeoutError:
                await ws.send(_heartbeat_backmsg())
            # Messages arriving while held (heartbeat_ack) stay in the bounded queue; nobody reads them.

    try:
        async with asyncio.timeout(timeout) as budget:
            await _session(budget)
    except TimeoutError:
        if not state["finished"]:
            res.error = f"timeout after {timeout:g} s ({res.n_messages} messages received)"
    except ConnectionClosed as exc:
        res.error = f"connection closed: {exc}"
    except InvalidStatus as exc:
        res.error = f"websocket rejected: HTTP {exc.response.status_code}"
    except (OSError, http.client.HTTPException) as exc:
        res.error = f"connection error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a load test reports, it does not crash
        res.error = f"{type(exc).__name__}: {exc}"
    if not state["finished"]:
        res.ok = False
        res.seconds = time.perf_counter() - t0
        if on_page is not None:
            on_page(res)
    elif res.error and state["finished"]:
        res.error = None  # trouble while holding / closing does not change what the student saw
    return res


def open_page_sync(base_url: str, query: str, *, timeout: float = 60, xsrf: bool = True) -> PageResult:
    """:func:`open_page` for synchronous code (tests, the REPL)."""
    return asyncio.run(open_page(base_url, query, timeout=timeout, xsrf=xsrf))


def warm(base_url: str, links: Sequence[str], *, timeout: float = 60,
         cookies: dict[str, str] | None = None) -> list[PageResult]:
    """Open each of ``links`` once on ``base_url``, one after the other (each session closed when its page
    finished), within ``timeout`` seconds in all: a Streamlit process's first sessions cost several times
    the later ones, and a page's shared results and figures are made by its first visit. The warm-up of
    the image's worker (``deploy/worker.py``) and of ``benchmarks/load.py --warmup``. A link that no
    longer fits in the time left fails with a timeout, as a page that took too long does."""
    async def run() -> list[PageResult]:
        deadline = time.monotonic() + timeout
        return [await open_page(base_url, q, timeout=max(0.1, deadline - time.monotonic()), cookies=cookies)
                for q in links]

    return asyncio.run(run())
