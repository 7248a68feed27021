"""Load test: N simulated students open initlab links at once; time to a finished page, failures, memory.

    python benchmarks/load.py --spawn-server                       # 200 sessions, every preset, own server
    python benchmarks/load.py --url http://127.0.0.1:8501 --sessions 200 \\
        --links "preset=he_relu" "preset=std1_explodes" --json out.json
    python benchmarks/load.py --spawn-server --sessions 200 --ramp 10   # spread the arrivals over 10 s
    python benchmarks/load.py --spawn-server --warmup --server-env OPENBLAS_NUM_THREADS=1   # warm cache
    python benchmarks/load.py --launch "python deploy/launch.py" --server-env INITLAB_WORKERS=2 --warmup
    python benchmarks/load.py --spawn-server --warmup --cpu-per-page 10   # server CPU ms per page, per link

``--cpu-per-page N`` (with a server to account: ``--spawn-server``, ``--launch`` or ``--server-pid``)
replaces the burst: each link is opened N times, one session after the other (each closed when its page
finished), and the server's CPU time over those N pages is divided by N: the server's work per page,
which unlike the wall time hardly depends on what else the machine is doing (the lowest of
``--rounds`` rounds, default 2). Default links: every preset and the Learn tab. Printed per link and
per tab.

``--launch CMD`` starts the image's command instead of a bare ``streamlit run`` (from the project root,
with ``STREAMLIT_SERVER_PORT`` set to a free port and ``STREAMLIT_SERVER_ADDRESS=127.0.0.1``): HAProxy in
front of its workers; every session keeps the cookies it is given, as a browser does, so it stays on
one worker.

Each session is one :func:`stclient.open_page` (``deploy/stclient.py``, the client the image's worker
warms itself with: health GET for the XSRF cookie, websocket, rerun with
the link's query, read until ``script_finished``). Sessions are opened all at once (the start of a
lecture) or spread evenly over ``--ramp`` seconds, links assigned round-robin (default: every preset
of ``initlab.teaching.presets.PRESETS`` as ``preset=NAME``). Every finished session stays open (as a student's
tab does) until all sessions are done, so the server holds all N sessions at its peak.

Reported: p50 / p95 / max seconds to a finished page, the order in which pages finished against the
order in which their requests arrived (Spearman rank correlation: 1 when the first to ask is the first
served, about 0 when all pages come out together at the end), failures by reason (timeout, connection
error, exception on the page, the app's own error boxes: "could not be drawn", "Not computed" (busy),
"cannot be computed", "The server is busy" (a page that waited too long for its turn)), throughput,
the client's own CPU time, and with ``--spawn-server`` / ``--launch`` (or ``--server-pid``) the
server's CPU time and memory: RSS of the server and all its descendants sampled every 0.2 s (peak of
the sum), and per process (each worker, HAProxy, the launcher) the sampled peak RSS and the kernel's
high-water mark VmHWM. Linux /proc only; standard library plus ``websockets`` and ``streamlit`` (for
its protobuf classes). Only 127.0.0.1 / localhost.

Exit status: 0 when there was no failure, 1 otherwise (2 on usage / server start errors).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "deploy"))

import stclient  # noqa: E402  (deploy/stclient.py: one session client for the image, this and the tests)

# Texts of the app's own "this failed" boxes (initlab/ui/pages.py, app.py): a page showing one of
# these is a failure for the student even though the script run finished.
APP_ERROR_MARKERS = ("could not be drawn", "Not computed", "cannot be computed", "The server is busy")
WORKER_COOKIE = "INITLAB_WORKER"  # deploy/launch.py's HAProxy names a session's worker in it
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def default_links() -> list[str]:
    sys.path.insert(0, str(REPO))
    from initlab.teaching.presets import PRESETS

    return [f"preset={name}" for name in PRESETS]


def failure_reason(r: stclient.PageResult) -> str | None:
    """Why this page counts as a failure (None: it is fine)."""
    if r.error:
        if r.error.startswith("timeout"):
            return "timeout"
        if r.error.startswith(("connection", "websocket rejected")):
            return "connection error"
        return "error: " + r.error[:80]
    if not r.ok:
        return "not finished"
    if r.exception_texts:
        return "exception on page: " + r.exception_texts[0][:80]
    for fmt, body in r.alerts:
        for marker in APP_ERROR_MARKERS:
            if marker in body:
                return f"app {fmt}: {marker}"
    return None


# -- server process ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m streamlit run app.py`` on a free port of 127.0.0.1, in its own process group.

    With ``cmd`` (e.g. ``["python", "deploy/launch.py"]``) that command instead, told its port and
    address through ``STREAMLIT_SERVER_PORT`` / ``STREAMLIT_SERVER_ADDRESS`` as the image tells it."""

    def __init__(self, script: str = "app.py", cwd: Path = REPO, port: int | None = None,
                 env: dict[str, str] | None = None, extra_args: list[str] | None = None,
                 cmd: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = cmd or [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                           "--server.port", str(self.port), "--server.address", "127.0.0.1",
                           "--browser.gatherUsageStats", "false", *(extra_args or [])]
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        if cmd:
            self.env.update(STREAMLIT_SERVER_PORT=str(self.port), STREAMLIT_SERVER_ADDRESS="127.0.0.1")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="initlab-load-server-", suffix=".log", delete=False)

    def start(self, timeout: float = 60) -> Server:
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            stclient.wait_healthy(self.url, timeout, self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- server log tail ---\n{self.log_tail()}") from exc
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 4000) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_pids(pid: int) -> list[int]:
    """The Streamlit workers among ``pid``'s descendants (deploy/launch.py starts them with
    ``--server.port=PORT``)."""
    return [p for p in process_tree(pid) if process_label(p).startswith("worker ")]


def worker_is_up(url: str, name: str) -> bool:
    """Whether HAProxy routes a browser holding ``INITLAB_WORKER=name`` to that worker: it answers and
    sets no other worker cookie (a worker that is down is skipped and the browser gets a new cookie)."""
    try:
        status, headers, _ = stclient.http_get(url, "/_stcore/health", timeout=5, cookies={WORKER_COOKIE: name})
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 and f"{WORKER_COOKIE}=" not in headers.get("set-cookie", "")


def wait_workers_up(url: str, n: int, timeout: float = 60) -> None:
    """Wait until HAProxy routes to each of the launcher's workers w1..wn (bounded by ``timeout``): a
    burst right after the first health answer would otherwise all land on the first worker up."""
    deadline = time.monotonic() + timeout
    pending = [f"w{i}" for i in range(1, n + 1)]
    while pending and time.monotonic() < deadline:
        pending = [w for w in pending if not worker_is_up(url, w)]
        if pending:
            time.sleep(0.25)
    if pending:
        raise RuntimeError(f"workers {pending} not up behind {url} after {timeout:g} s")


# -- /proc sampling ----------------------------------------------------------------------------------

def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (via /proc/<pid>/task/*/children), bounded to 1000 processes."""
    out, todo = [], [pid]
    while todo and len(out) < 1000:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every descendant, alive or reaped (each live process's own time and
    that of its reaped children: nothing is counted twice)."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def process_label(pid: int) -> str:
    """A short name for a server process: "haproxy", "worker :PORT", "launcher", "streamlit", ..."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return f"pid {pid}"
    joined = " ".join(argv)
    if argv and os.path.basename(argv[0]) == "haproxy":
        return "haproxy"
    if "launch.py" in joined:
        return "launcher"
    for a in argv:
        if a.startswith("--server.port="):
            return f"worker :{a.split('=', 1)[1]}"
    if "streamlit" in joined:
        return "streamlit"
    return os.path.basename(argv[0]) if argv else f"pid {pid}"


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its reaped children (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


class MemorySampler:
    """Samples the RSS of a process tree every ``interval`` s in a thread (the event loop is busy)."""

    def __init__(self, pid: int, interval: float = 0.2, max_seconds: float = 3600) -> None:
        self.pid, self.interval, self.max_seconds = pid, interval, max_seconds
        self.peak_rss_kb = 0
        self.start_rss_kb = 0
        self.samples = 0
        self.series: list[tuple[float, int]] = []
        self.per_process_peak_kb: dict[int, int] = {}
        self.labels: dict[int, str] = {}
        self.cpu_first_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in process_tree(self.pid):
            rss = _status_kb(p, "VmRSS:")
            total += rss
            if p not in self.labels:
                self.labels[p] = process_label(p)
                self.cpu_first_seen[p] = cpu_seconds(p)
            self.per_process_peak_kb[p] = max(self.per_process_peak_kb.get(p, 0), rss)
        return total

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - t0 < self.max_seconds:
            rss = self._sample()
            self.samples += 1
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            if self.samples % 5 == 1:  # one point a second for the JSON
                self.series.append((round(time.monotonic() - t0, 1), rss))
            self._stop.wait(self.interval)

    def start(self) -> MemorySampler:
        self.start_rss_kb = self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=5)
        tree = process_tree(self.pid)
        hwms = {p: _status_kb(p, "VmHWM:") for p in tree}
        per_process = {f"{self.labels.get(p) or process_label(p)} (pid {p})":
                       {"rss_peak_sampled_mb": round(kb / 1024, 1),
                        "vmhwm_mb": round(hwms[p] / 1024, 1) if p in hwms else None,
                        "cpu_s": round(cpu_seconds(p) - self.cpu_first_seen.get(p, 0.0), 2) if p in hwms else None}
                       for p, kb in sorted(self.per_process_peak_kb.items())}
        return {"rss_start_mb": round(self.start_rss_kb / 1024, 1),
                "rss_peak_sampled_mb": round(self.peak_rss_kb / 1024, 1),
                "vmhwm_mb": round(max(hwms.values(), default=0) / 1024, 1),
                "vmhwm_sum_mb": round(sum(hwms.values()) / 1024, 1),
                "processes": len(tree), "samples": self.samples, "per_process": per_process,
                "rss_series_mb": [(t, round(kb / 1024, 1)) for t, kb in self.series]}


# -- the load ----------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))
    return s[int(k)]


async def run_load(url: str, sessions: int = 200, links: list[str] | None = None, *, ramp: float = 0.0,
                   timeout: float = 60.0, hold: bool = True, xsrf: bool = True,
                   cookies: dict[str, str] | None = None) -> dict[str, Any]:
    """Open ``sessions`` pages concurrently (round-robin over ``links``); return the report.

    ``cookies``: what every session's browser already holds, e.g. ``{WORKER_COOKIE: "w2"}`` to pin
    all of them to one worker of the launcher.

    With ``hold`` every session stays open after its page finished until the last page finished
    (or failed), as the students' tabs do; the wall time and throughput are up to that moment."""
    links = links or default_links()
    release = asyncio.Event() if hold else None
    all_pages = asyncio.Event()
    n_pages = 0
    t_last = time.perf_counter()

    def page_done(_: stclient.PageResult) -> None:
        nonlocal n_pages, t_last
        n_pages += 1
        t_last = time.perf_counter()
        if n_pages >= sessions:
            all_pages.set()

    async def one(i: int) -> stclient.PageResult:
        if ramp > 0:
            await asyncio.sleep(ramp * i / sessions)
        return await stclient.open_page(url, links[i % len(links)], timeout=timeout, xsrf=xsrf, hold=release,
                                        hold_timeout=timeout + ramp + 30, on_page=page_done, cookies=cookies)

    # Each session's health GET is a blocking http.client call in the loop's executor: one thread per
    # session, so that the whole burst reaches the server at once, as the students' browsers do.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=min(sessions, 1000)))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    tasks = [asyncio.create_task(one(i)) for i in range(sessions)]
    try:
        # Bounded: every session ends (page, failure or timeout) within ramp + timeout.
        await asyncio.wait_for(all_pages.wait(), ramp + timeout + 15)
    except TimeoutError:
        pass
    wall = t_last - t0
    if release is not None:
        release.set()
    results = list(await asyncio.gather(*tasks))
    client_cpu = time.process_time() - cpu0
    return summarise(results, wall, client_cpu, url, ramp)


def link_tab(query: str) -> str:
    """The tab a link opens on: its ``tab=``, else its preset's page, else Signal."""
    from urllib.parse import parse_qs

    q = parse_qs(query)
    if "tab" in q:
        return q["tab"][0]
    sys.path.insert(0, str(REPO))
    from initlab.teaching.presets import PRESETS

    name = q.get("preset", [""])[0]
    return PRESETS[name].tab if name in PRESETS else "signal"


def cpu_per_page(url: str, pid: int, links: list[str], n: int, *, rounds: int = 2, timeout: float = 60,
                 xsrf: bool = True) -> dict[str, Any]:
    """Server CPU milliseconds per finished page for each link: ``n`` pages opened one after another
    (sequential: no queueing, no interleaving), CPU of the whole server process tree over them / n.

    Every link is measured in each of ``rounds`` rounds over all the links; the lowest of its rounds
    is reported (on a shared machine, other processes only ever add to the CPU time a page seems to
    take: cache misses, a busy sibling hyperthread), the others are kept in the JSON.

    One more session stays open throughout, as in a class some student always has the app open:
    Streamlit forgets the compiled script whenever its last session closes, and recompiling it for
    every page would be counted otherwise."""
    return asyncio.run(_cpu_per_page(url, pid, links, n, rounds=rounds, timeout=timeout, xsrf=xsrf))


async def _cpu_per_page(url: str, pid: int, links: list[str], n: int, *, rounds: int, timeout: float,
                        xsrf: bool) -> dict[str, Any]:
    release = asyncio.Event()
    opened = asyncio.Event()
    anchor = asyncio.create_task(stclient.open_page(url, "tab=learn", timeout=timeout, xsrf=xsrf, hold=release,
                                                    hold_timeout=3600, on_page=lambda _: opened.set()))
    await asyncio.wait_for(opened.wait(), timeout + 5)
    names: list[str] = []
    for link in links:  # a link given twice is measured twice, under its own name
        names.append(link if link not in names else f"{link} #{sum(k.split(' #')[0] == link for k in names) + 1}")
    per_round: dict[str, list[float]] = {name: [] for name in names}
    failures: dict[str, int] = dict.fromkeys(names, 0)
    try:
        for _ in range(rounds):
            for name, link in zip(names, links):
                await stclient.open_page(url, link, timeout=timeout, xsrf=xsrf)  # cached, not counted
                await _settle(pid)  # the previous sessions torn down, no background computation running
                cpu0 = tree_cpu_seconds(pid)
                for _ in range(n):
                    r = await stclient.open_page(url, link, timeout=timeout, xsrf=xsrf)
                    failures[name] += failure_reason(r) is not None
                await asyncio.sleep(0.3)  # this link's session teardown belongs to it
                per_round[name].append(round(1000 * (tree_cpu_seconds(pid) - cpu0) / n, 1))
    finally:
        release.set()
        await anchor
    per_link = {name: {"tab": link_tab(link), "ms_per_page": min(per_round[name]), "rounds_ms": per_round[name],
                       "failures": failures[name]} for name, link in zip(names, links)}
    tabs: dict[str, list[float]] = {}
    for v in per_link.values():
        tabs.setdefault(v["tab"], []).append(v["ms_per_page"])
    return {"pages_per_link": n, "rounds": rounds, "per_link": per_link,
            "per_tab_mean_ms": {k: round(statistics.fmean(v), 1) for k, v in tabs.items()},
            "all_links_mean_ms": round(statistics.fmean(v["ms_per_page"] for v in per_link.values()), 1),
            "failures": sum(failures.values())}


async def _settle(pid: int, quiet: float = 0.01, window: float = 0.3, limit: float = 60.0) -> None:
    """Wait (at most ``limit`` s) until the server used at most ``quiet`` CPU seconds in ``window`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        c0 = tree_cpu_seconds(pid)
        await asyncio.sleep(window)
        if tree_cpu_seconds(pid) - c0 <= quiet:
            return


def print_cpu_report(rep: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(f"\nserver CPU per finished page (ms; {rep['pages_per_link']} pages per link, one at a time, "
      f"lowest of {rep['rounds']} rounds; clock tick {1000 / _CLK_TCK:g} ms)\n")
    for link, v in rep["per_link"].items():
        w(f"  {link or '(bare link)':<40} {v['tab']:<10} {v['ms_per_page']:8.1f}   "
          f"(rounds: {', '.join(f'{x:g}' for x in v['rounds_ms'])})"
          + (f"   {v['failures']} failed" if v["failures"] else "") + "\n")
    w("per tab (mean over its links): " + ", ".join(f"{k} {v}" for k, v in rep["per_tab_mean_ms"].items())
      + f"; all links {rep['all_links_mean_ms']}\n")


def summarise(results: list[stclient.PageResult], wall: float, client_cpu: float, url: str,
              ramp: float = 0.0) -> dict[str, Any]:
    times = [r.seconds for r in results]
    ok_times = [r.seconds for r in results if failure_reason(r) is None]
    reasons = Counter(failure_reason(r) for r in results)
    failures = {k: v for k, v in reasons.items() if k is not None}
    per_link: dict[str, list[float]] = {}
    for r in results:
        per_link.setdefault(r.query, []).append(r.seconds)
    examples = [{"query": r.query, "reason": failure_reason(r), "error": r.error,
                 "exceptions": r.exception_texts[:2], "seconds": round(r.seconds, 2)}
                for r in results if failure_reason(r) is not None][:10]
    n = len(results)
    return {
        "url": url, "sessions": n, "ramp_s": ramp,
        "ok": n - sum(failures.values()), "failures": sum(failures.values()), "failure_reasons": failures,
        "failure_examples": examples,
        "p50_s": round(percentile(times, 50), 3) if times else None,
        "p95_s": round(percentile(times, 95), 3) if times else None,
        "max_s": round(max(times), 3) if times else None,
        "min_s": round(min(times), 3) if times else None,
        "p95_ok_s": round(percentile(ok_times, 95), 3) if ok_times else None,
        "order": arrival_order(results),
        "connect_p95_s": _p95([r.connect_seconds for r in results]),
        "first_message_p95_s": _p95([r.first_message_seconds for r in results]),
        "wall_s": round(wall, 3),
        "throughput_pages_per_s": round(n / wall, 2) if wall > 0 else None,
        "client_cpu_s": round(client_cpu, 2),
        "bytes_total_mb": round(sum(r.n_bytes for r in results) / 1e6, 2),
        "runs_per_session_max": max((r.n_runs for r in results), default=0),
        "sessions_per_worker": dict(sorted(Counter(r.cookies.get(WORKER_COOKIE, "-") for r in results).items())),
        "per_link": {q: {"n": len(v), "p50_s": round(percentile(v, 50), 2), "max_s": round(max(v), 2)}
                     for q, v in per_link.items()},
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "loadavg_before": None,
    }


def ranks(values: list[float]) -> list[float]:
    """Ranks 1..n of ``values`` (ties share their average rank)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation of two equally long lists (None for fewer than 3 pairs or a constant)."""
    if len(x) != len(y) or len(x) < 3:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else None


def arrival_order(results: list[stclient.PageResult]) -> dict[str, Any]:
    """How the finish order of the finished pages follows the order in which their requests went out.

    ``rank_correlation``: Spearman's rho between the two orders (1: first come, first served).
    ``first_tenth_p50_s`` / ``last_tenth_p50_s``: the median time to a finished page of the first and
    the last tenth of the arrivals (first come, first served: the first tenth is much faster)."""
    done = [r for r in results if r.sent_at is not None and r.finished_at is not None]
    if len(done) < 3:
        return {"rank_correlation": None, "first_tenth_p50_s": None, "last_tenth_p50_s": None}
    rho = spearman([r.sent_at for r in done], [r.finished_at for r in done])  # type: ignore[misc]
    by_arrival = sorted(done, key=lambda r: r.sent_at)  # type: ignore[arg-type,return-value]
    tenth = max(1, len(done) // 10)
    return {"rank_correlation": None if rho is None else round(rho, 3),
            "first_tenth_p50_s": round(percentile([r.seconds for r in by_arrival[:tenth]], 50), 3),
            "last_tenth_p50_s": round(percentile([r.seconds for r in by_arrival[-tenth:]], 50), 3)}


def _p95(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(percentile(v, 95), 3) if v else None


def print_report(rep: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(f"\n{rep['sessions']} sessions on {rep['url']} (ramp {rep['ramp_s']:g} s), "
      f"{rep['cpu_count']} CPUs (affinity {rep['affinity_cpus']}), load average before "
      f"{rep.get('loadavg_before')} after {rep.get('loadavg_after')}\n")
    w(f"time to finished page: p50 {rep['p50_s']} s   p95 {rep['p95_s']} s   max {rep['max_s']} s   "
      f"(min {rep['min_s']} s; p95 connect {rep['connect_p95_s']} s, first message {rep['first_message_p95_s']} s)\n")
    order = rep.get("order") or {}
    if order.get("rank_correlation") is not None:
        w(f"finish order vs arrival order: Spearman rank correlation {order['rank_correlation']} "
          f"(1: first come, first served); median time of the first tenth to arrive "
          f"{order['first_tenth_p50_s']} s, of the last tenth {order['last_tenth_p50_s']} s\n")
    w(f"failures: {rep['failures']} / {rep['sessions']}  {rep['failure_reasons'] or ''}\n")
    if set(rep.get("sessions_per_worker", {})) != {"-"}:
        w(f"sessions per worker (the launcher's {WORKER_COOKIE} cookie): {rep['sessions_per_worker']}\n")
    for ex in rep["failure_examples"][:5]:
        w(f"  e.g. {ex}\n")
    w(f"throughput: {rep['throughput_pages_per_s']} pages/s over {rep['wall_s']} s; "
      f"{rep['bytes_total_mb']} MB received; client CPU {rep['client_cpu_s']} s\n")
    srv = rep.get("server")
    if srv:
        w(f"server: peak RSS (sampled, process tree) {srv['rss_peak_sampled_mb']} MB, VmHWM {srv['vmhwm_mb']} MB "
          f"(sum over processes {srv.get('vmhwm_sum_mb')} MB), RSS at start {srv['rss_start_mb']} MB; "
          f"CPU {srv.get('cpu_s')} s ({srv.get('cpu_utilisation')} cores on average)\n")
        if len(srv.get("per_process", {})) > 1:
            w("  per process (peak RSS sampled / VmHWM MB, CPU s): " + ", ".join(
                f"{k} {v['rss_peak_sampled_mb']}/{v['vmhwm_mb']} MB {v.get('cpu_s')} s"
                for k, v in srv["per_process"].items()) + "\n")
    w("per link (p50 / max s): " + ", ".join(f"{q.removeprefix('preset=')} {v['p50_s']}/{v['max_s']}"
                                             for q, v in rep["per_link"].items()) + "\n")
    goal = rep["p95_s"] is not None and rep["p95_s"] <= 5 and rep["failures"] == 0
    w(f"goal (p95 <= 5 s, 0 failures): {'MET' if goal else 'NOT MET'}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8501", help="server to load (ignored with --spawn-server)")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--links", nargs="+", default=None, help='query strings, e.g. "preset=he_relu" (round-robin)')
    ap.add_argument("--ramp", type=float, default=0.0, help="spread the session starts over this many seconds")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-session limit to a finished page (s)")
    ap.add_argument("--no-hold", action="store_true", help="close each session as soon as its page finished")
    ap.add_argument("--no-xsrf", action="store_true", help="skip the health GET / XSRF token")
    ap.add_argument("--spawn-server", action="store_true", help="start app.py on a free port, stop it at the end")
    ap.add_argument("--launch", default=None, metavar="CMD",
                    help='start this command instead, e.g. "python deploy/launch.py" (HAProxy + workers), '
                         "on a free port; stop it at the end")
    ap.add_argument("--server-pid", type=int, default=None, help="sample this server's memory (with --url)")
    ap.add_argument("--server-env", nargs="*", default=[], metavar="NAME=VALUE",
                    help="environment of the spawned server, e.g. INITLAB_MAX_CONCURRENT=2")
    ap.add_argument("--warmup", action="store_true", help="open every link once before the timed run")
    ap.add_argument("--cpu-per-page", type=int, default=0, metavar="N",
                    help="instead of a burst: open each link N times one after another and report the "
                         "server's CPU ms per page (needs a server to account)")
    ap.add_argument("--rounds", type=int, default=2, help="with --cpu-per-page: rounds over all links (the "
                    "lowest is reported)")
    ap.add_argument("--json", default=None, help="write the report here")
    a = ap.parse_args(argv)
    if not 1 <= a.sessions <= 2000:
        ap.error("--sessions must be 1..2000")
    if not 0 <= a.cpu_per_page <= 200 or not 1 <= a.rounds <= 10:
        ap.error("--cpu-per-page must be 0..200 and --rounds 1..10")
    if a.cpu_per_page and not (a.spawn_server or a.launch or a.server_pid):
        ap.error("--cpu-per-page needs --spawn-server, --launch or --server-pid")
    links = a.links or default_links() + (["tab=learn"] if a.cpu_per_page else [])

    server: Server | None = None
    url, pid = a.url, a.server_pid
    try:
        if a.spawn_server or a.launch:
            env = dict(kv.split("=", 1) for kv in a.server_env)
            cmd = shlex.split(a.launch) if a.launch else None
            if cmd and cmd[0] in ("python", "python3"):
                cmd[0] = sys.executable  # the interpreter (and so the venv) running this benchmark
            server = Server(env=env, cmd=cmd)
            print(f"starting {' '.join(server.cmd)} (log {server.log.name})", flush=True)
            server.start()
            url, pid = server.url, server.pid
        else:
            stclient._check_local(url)
            stclient.wait_healthy(url, timeout=10)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if server:
            server.stop()
        return 2

    try:
        n_workers = len(worker_pids(pid)) if (pid and a.launch) else 0
        if n_workers:
            wait_workers_up(url, n_workers, timeout=60)
        if a.warmup:
            # Each worker has its own cache: warm every one of them (pinned by the launcher's cookie) over
            # every link of this run, as each worker warms itself over a page of each tab (stclient.warm).
            for cookies in ([{WORKER_COOKIE: f"w{i}"} for i in range(1, n_workers + 1)] or [None]):
                warm = stclient.warm(url, links, timeout=a.timeout * len(links), cookies=cookies)
                print(f"warm-up{' of ' + cookies[WORKER_COOKIE] if cookies else ''}: {len(warm)} links, "
                      f"max {max(r.seconds for r in warm):.2f} s, "
                      f"failures {sum(failure_reason(r) is not None for r in warm)}", flush=True)
        if a.cpu_per_page:
            assert pid is not None
            rep = cpu_per_page(url, pid, links, a.cpu_per_page, rounds=a.rounds, timeout=a.timeout,
                               xsrf=not a.no_xsrf)
            rep["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            print_cpu_report(rep)
            if a.json:
                Path(a.json).write_text(json.dumps(rep, indent=1))
            return 0 if rep["failures"] == 0 else 1
        load_before = os.getloadavg()
        sampler = MemorySampler(pid).start() if pid else None
        cpu0 = tree_cpu_seconds(pid) if pid else 0.0
        print(f"opening {a.sessions} sessions on {url} over {len(links)} links ...", flush=True)
        rep = asyncio.run(run_load(url, a.sessions, links, ramp=a.ramp, timeout=a.timeout,
                                   hold=not a.no_hold, xsrf=not a.no_xsrf))
        if pid and sampler:
            srv = sampler.stop()
            srv["cpu_s"] = round(tree_cpu_seconds(pid) - cpu0, 2)
            srv["cpu_utilisation"] = round(srv["cpu_s"] / rep["wall_s"], 2) if rep["wall_s"] else None
            rep["server"] = srv
        rep["loadavg_before"] = [round(x, 2) for x in load_before]
        rep["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        rep["links"] = links
    finally:
        if server:
            server.stop()
    print_report(rep)
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1))
        print(f"report written to {a.json}")
    return 0 if rep["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
