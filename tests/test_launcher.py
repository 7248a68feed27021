"""deploy/launch.py: one Streamlit worker per CPU behind HAProxy, as the Docker image runs it.

* CPU counting from fake cgroup files (v1, v2, nested, unlimited, garbage) and ``INITLAB_WORKERS``;
* HAProxy's generated configuration is accepted by ``haproxy -c``;
* readiness: a worker whose precomputed store is still loading (its manifest a FIFO the test holds)
  keeps the public port closed; once the store is loaded the worker opens its pages, says it is
  ready, and the health check passes;
* one launcher for the module (2 workers, no store: they say they serve cold, a free port of
  127.0.0.1, under a base URL path so that the path is passed through; the image test in
  test_deploy.py covers the bare path and the store) started from the project root exactly as
  documented, then, in order: the workers' readiness, health through the proxy, a preset page
  rendered over the websocket with XSRF on, cookie affinity (also for an upload, which only the worker
  holding the session accepts), a killed worker restarted while pages keep rendering, and SIGTERM
  stopping everything with status 0 and no process left behind.

HAProxy is needed: CI installs it (.ci/run); elsewhere these tests skip and say how to get it.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "deploy"))

import launch  # noqa: E402
import load  # noqa: E402
import stclient  # noqa: E402

pytestmark = pytest.mark.deploy

BASE = "/initlab"


def _need_haproxy() -> str:
    exe = launch.find_haproxy()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy missing in CI: .ci/run installs it (apt-get install haproxy)")
        pytest.skip("haproxy not installed: apt-get install haproxy (Debian) to test deploy/launch.py")
    return exe


# --------------------------------------------------------------------------- counting CPUs


def _cgroup(tmp_path: Path, self_cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys-fs-cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(self_cgroup)
    return root, proc


@pytest.mark.parametrize(("self_cgroup", "files", "limit"), [
    # cgroup v2 in a container (cgroup namespace: the container's cgroup is the root)
    ("0::/\n", {"cpu.max": "150000 100000"}, 1.5),
    ("0::/\n", {"cpu.max": "max 100000"}, None),
    # v2 seen from the host side: the limit is on a parent, the leaf says "max"
    ("0::/kubepods/pod1/c1\n", {"kubepods/pod1/cpu.max": "200000 100000", "kubepods/pod1/c1/cpu.max": "max 100000"}, 2.0),
    # every level counts, the smallest wins
    ("0::/a/b\n", {"a/cpu.max": "400000 100000", "a/b/cpu.max": "100000 100000"}, 1.0),
    # a host path that is not mounted here (no cgroup namespace): the mounted root is the container's
    ("0::/docker/abc\n", {"cpu.max": "300000 100000"}, 3.0),
    # cgroup v1 (and the hybrid layout: a unified hierarchy without the cpu controller)
    ("4:cpu,cpuacct:/\n0::/\n", {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 0.5),
    ("4:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "250000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 2.5),
    ("4:cpu,cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    # nothing, or garbage: no limit rather than a crash
    ("", {}, None),
    ("0::/\n", {"cpu.max": "lots 0"}, None),
    ("garbage\n", {"cpu/cpu.cfs_quota_us": "x", "cpu/cpu.cfs_period_us": "100000"}, None),
])
def test_cgroup_cpu_limit(tmp_path, self_cgroup, files, limit):
    root, proc = _cgroup(tmp_path, self_cgroup, files)
    got = launch.cgroup_cpu_limit(root, proc)
    assert got == (pytest.approx(limit) if limit is not None else None)


@pytest.mark.parametrize(("limit", "affinity", "cpus"), [
    ("150000 100000", 8, 2),  # 1.5 CPUs: two workers share the quota
    ("50000 100000", 8, 1),  # half a CPU: still one worker
    ("400000 100000", 2, 2),  # a quota above the CPUs it may run on: the affinity caps
    ("max 100000", 3, 3),
])
def test_available_cpus(tmp_path, limit, affinity, cpus):
    root, proc = _cgroup(tmp_path, "0::/\n", {"cpu.max": limit})
    assert launch.available_cpus(root, proc, affinity=affinity) == cpus


def test_available_cpus_reads_the_affinity_when_not_given(tmp_path, monkeypatch):
    """Without ``affinity``, the CPUs this process may run on come from ``sched_getaffinity`` (what
    ``docker run --cpuset-cpus`` sets), then the quota caps them."""
    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda pid: {0, 2, 5})
    root, proc = _cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000"})
    assert launch.available_cpus(root, proc) == 3
    root, proc = _cgroup(tmp_path / "quota", "0::/\n", {"cpu.max": "150000 100000"})
    assert launch.available_cpus(root, proc) == 2


def test_initlab_workers_overrides_and_is_checked():
    assert launch.worker_count({"INITLAB_WORKERS": "3"}, cpus=8) == 3
    assert launch.worker_count({"INITLAB_WORKERS": " auto "}, cpus=5) == 5
    assert launch.worker_count({}, cpus=2) == 2
    for bad in ("0", "-1", "65", "two", "1.5"):
        with pytest.raises(ValueError, match="INITLAB_WORKERS"):
            launch.worker_count({"INITLAB_WORKERS": bad}, cpus=2)


def test_bad_worker_count_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("INITLAB_WORKERS", "many")
    assert launch.main(["--port", "1"]) == 2
    assert "INITLAB_WORKERS" in capsys.readouterr().err


def test_haproxy_accepts_the_configuration(tmp_path):
    exe = _need_haproxy()
    cfg = launch.haproxy_config("0.0.0.0", 8501, [40001, 40002, 40003], "/initlab", tmp_path / "s.sock")
    assert f"cookie {launch.COOKIE} insert indirect nocache" in cfg
    assert "option httpchk GET /initlab/_stcore/health" in cfg
    assert [ln.split()[1:3] for ln in cfg.splitlines() if ln.strip().startswith("server ")] == [
        ["w1", "127.0.0.1:40001"], ["w2", "127.0.0.1:40002"], ["w3", "127.0.0.1:40003"]]
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    res = subprocess.run([exe, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[WARNING]" not in res.stdout + res.stderr


def test_children_die_with_a_killed_launcher(tmp_path):
    """Even SIGKILL (no chance to clean up) leaves no worker behind: they get SIGTERM from the kernel."""
    _need_haproxy()
    env = {**os.environ, "INITLAB_WORKERS": "1", "STREAMLIT_SERVER_PORT": str(load.free_port()),
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "deploy/launch.py", "--runtime-dir", str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (kids := load.process_tree(proc.pid)[1:]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kids, "the launcher started no worker"
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while (alive := [p for p in kids if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"left behind: {alive}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group, should the test fail
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (an orphan reaped by init, or a zombie, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------------------- readiness waits for the store


@pytest.mark.timeout(240)
def test_a_worker_is_ready_only_once_its_store_is_loaded(tmp_path):
    _need_haproxy()
    from initlab.signal import network
    from initlab.ui.results import store
    from initlab.signal.scenario import Scenario

    s = Scenario(depth=3, width=8, batch=4)
    path = store.save(tmp_path / "store", [("propagate", (s,), network.propagate(s))])
    manifest = path / store.MANIFEST
    content = manifest.read_bytes()
    manifest.unlink()
    os.mkfifo(manifest)  # the worker's load blocks on it until the test writes the manifest
    port = load.free_port()
    env = {**os.environ, "INITLAB_WORKERS": "1", "STREAMLIT_SERVER_PORT": str(port),
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "INITLAB_CACHE_DIR": str(path)}
    log_path = tmp_path / "launch.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "deploy/launch.py", "--runtime-dir", str(tmp_path / "run")], cwd=ROOT,
                                env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    fd = None
    try:
        deadline = time.monotonic() + 60
        while fd is None:  # wait until the worker has opened the manifest for reading
            try:
                fd = os.open(manifest, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO, exc  # no reader yet
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.1)
        cfg = (tmp_path / "run" / "haproxy.cfg").read_text()
        worker_url = "http://" + re.search(r"server w1 (127\.0\.0\.1:\d+)", cfg).group(1)  # type: ignore[union-attr]
        for _ in range(20):  # 4 s with the store still loading: nothing answers, nothing is ready
            assert not stclient.healthy(url) and not stclient.healthy(worker_url)
            assert not (tmp_path / "run" / "ready-w1").exists()
            time.sleep(0.2)
        assert "through haproxy" not in log_path.read_text()
        os.write(fd, content)
        os.close(fd)
        fd = None
        stclient.wait_healthy(url, 90, proc)
        log = log_path.read_text()
        assert f"precomputed store {path} loaded: 1 entries" in log and "serving 1 stored products" in log, log
        assert log.index("loaded: 1 entries") < log.index("ready: ") < log.index("through haproxy")
        hc = subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, timeout=30)
        assert hc.returncode == 0
    finally:
        if fd is not None:
            os.close(fd)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- the launcher, run for real


class Running:
    """The launcher under test: its process, public URL, runtime directory and log."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, runtime_dir: Path, log_path: Path) -> None:
        self.proc, self.port, self.dir, self.log_path = proc, port, runtime_dir, log_path
        self.url = f"http://127.0.0.1:{port}{BASE}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's ``show stat`` for the workers: server name -> column -> value."""
        import csv
        import socket

        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.dir / "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        rows = list(csv.reader(data.decode().lstrip("# ").splitlines()))
        head = rows[0]
        return {r[1]: dict(zip(head, r)) for r in rows[1:] if len(r) == len(head) and r[0] == "workers"}

    def requests_to(self, worker: str) -> int:
        return int(self.stats()[worker]["stot"])

    def worker_pids(self) -> dict[str, int]:
        """Port -> pid of the live workers (from their command lines)."""
        out = {}
        for pid in load.worker_pids(self.proc.pid):
            out[load.process_label(pid).split(":")[1]] = pid
        return out


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    _need_haproxy()
    port = load.free_port()
    tmp = tmp_path_factory.mktemp("launch")
    env = {**os.environ, "INITLAB_WORKERS": "2", "STREAMLIT_SERVER_PORT": str(port),
           "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", "STREAMLIT_SERVER_BASE_URL_PATH": BASE.strip("/"),
           "INITLAB_CACHE_DIR": ""}  # no store: the workers serve cold
    log_path = tmp / "launch.log"
    with open(log_path, "wb") as log_file:
        # The documented command, from the project root; its own session so a failed test cleans up all.
        proc = subprocess.Popen([sys.executable, "deploy/launch.py", "--runtime-dir", str(tmp / "run")], cwd=ROOT,
                                env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    run = Running(proc, port, tmp / "run", log_path)
    try:
        stclient.wait_healthy(run.url, 90, proc)
        load.wait_workers_up(run.url, 2, timeout=60)
    except RuntimeError as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the launcher did not become ready: {exc}\n{run.log()[-3000:]}")
    try:
        yield run
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _page(run: Running, cookies: dict[str, str] | None = None) -> stclient.PageResult:
    page = asyncio.run(stclient.open_page(run.url, "preset=he_relu", timeout=90, cookies=cookies))
    assert page.ok, f"{page.error}\n{run.log()[-2000:]}"
    assert page.element_types["plotly_chart"] >= 2 and not page.exception_texts
    return page


def _fresh_cookie(run: Running) -> tuple[str, str]:
    """A browser without cookies asks for the health endpoint: (its worker cookie, the raw header)."""
    status, headers, body = stclient.http_get(run.url, "/_stcore/health")
    assert status == 200 and body.strip() == b"ok"
    jar: dict[str, str] = {}
    stclient._store_cookies(jar, headers.get("set-cookie", ""))
    return jar[launch.COOKIE], headers["set-cookie"]


def test_without_a_store_each_worker_says_it_serves_cold_and_is_ready(launched):
    log = launched.log()
    assert log.count("no precomputed store (INITLAB_CACHE_DIR is not set): serving cold") == 2, log[-3000:]
    assert log.count("no usable store: serving cold") == 2
    assert len(re.findall(r"worker pid \d+ ready: listening after [\d.]+ s, opened \d+ pages on itself", log)) == 2
    assert "failed" not in log
    assert log.rindex("ready: ") < log.index("through haproxy")
    assert sorted(p.name for p in launched.dir.glob("ready-w*")) == ["ready-w1", "ready-w2"]


@pytest.mark.timeout(180)
def test_health_passes_through_the_proxy_and_a_preset_renders(launched):
    # The image's HEALTHCHECK command, with the same environment as the launcher.
    env = {**os.environ, "STREAMLIT_SERVER_PORT": str(launched.port), "STREAMLIT_SERVER_BASE_URL_PATH": "initlab"}
    hc = subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, timeout=30)
    assert hc.returncode == 0
    page = _page(launched)  # XSRF on (config.toml): the cookie from the health answer, token in the websocket
    assert page.cookies[launch.COOKIE] in ("w1", "w2") and "_streamlit_xsrf" in page.cookies
    assert "preset=he_relu" in (page.query_string_after or "")


@pytest.mark.timeout(180)
def test_each_browser_stays_on_its_worker(launched):
    # New browsers get HAProxy's cookie (not cacheable by a shared cache), spread over both workers.
    seen = set()
    for _ in range(6):
        worker, raw = _fresh_cookie(launched)
        assert f"{launch.COOKIE}={worker}; path=/; HttpOnly" in raw
        seen.add(worker)
    assert seen == {"w1", "w2"}
    # A browser holding a worker's cookie stays there for everything: page, websocket, other requests.
    for worker, other in (("w1", "w2"), ("w2", "w1")):
        before = {w: launched.requests_to(w) for w in ("w1", "w2")}
        for _ in range(2):
            page = _page(launched, {launch.COOKIE: worker})
            assert page.cookies[launch.COOKIE] == worker
            status, headers, _ = stclient.http_get(launched.url, "/_stcore/host-config", cookies=page.cookies)
            assert status == 200 and launch.COOKIE not in headers.get("set-cookie", "")  # no new cookie
        assert launched.requests_to(worker) >= before[worker] + 6  # 2 x (health, websocket, host-config)
        assert launched.requests_to(other) == before[other]


def _put_upload(run: Running, session_id: str, cookies: dict[str, str], xsrf_header: bool) -> tuple[int, bytes]:
    """An st.file_uploader upload as the browser sends it (XSRF cookie + X-Xsrftoken header)."""
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="w.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nweights\r\n--b--\r\n")
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
               "Content-Type": "multipart/form-data; boundary=b"}
    if xsrf_header:
        headers["X-Xsrftoken"] = cookies["_streamlit_xsrf"]
    conn = http.client.HTTPConnection("127.0.0.1", run.port, timeout=30)
    try:
        conn.request("PUT", f"{BASE}/_stcore/upload_file/{session_id}/file1", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.timeout(180)
def test_uploads_reach_the_worker_holding_the_session_with_xsrf(launched):
    async def scenario() -> list[tuple[int, bytes]]:
        hold = asyncio.Event()
        done: asyncio.Future[stclient.PageResult] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(stclient.open_page(launched.url, "preset=he_relu", timeout=90, hold=hold,
                                                      hold_timeout=60, on_page=done.set_result))
        try:
            page = await asyncio.wait_for(done, 100)
            assert page.ok and page.session_id, page.error
            mine = page.cookies
            other = {**mine, launch.COOKIE: "w2" if mine[launch.COOKIE] == "w1" else "w1"}
            return [await asyncio.to_thread(_put_upload, launched, page.session_id, c, x)
                    for c, x in ((mine, True), (other, True), (mine, False))]
        finally:
            hold.set()
            await task

    same, elsewhere, no_token = asyncio.run(scenario())
    assert same[0] == 204, same  # stored: XSRF passed through the proxy, the session's worker got it
    assert elsewhere[0] == 400 and b"Invalid session_id" in elsewhere[1]  # what affinity is for
    assert no_token[0] == 403  # XSRF is enforced behind the proxy


@pytest.mark.timeout(180)
def test_a_killed_worker_is_restarted_and_pages_keep_rendering(launched):
    pids = launched.worker_pids()
    assert len(pids) == 2, pids
    port = sorted(pids)[0]
    cfg = (launched.dir / "haproxy.cfg").read_text()
    worker = next(ln.split()[1] for ln in cfg.splitlines() if f"127.0.0.1:{port} " in ln)
    os.kill(pids[port], signal.SIGKILL)
    # A student pinned to the dead worker still gets a page (HAProxy retries on the other worker) and
    # a new cookie naming where the page now lives.
    page = _page(launched, {launch.COOKIE: worker})
    assert page.cookies[launch.COOKIE] != worker
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = launched.worker_pids().get(port)
        if new and new != pids[port] and load.worker_is_up(launched.url, worker):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{worker} did not come back\n{launched.log()[-3000:]}")
    before = launched.requests_to(worker)
    page = _page(launched, {launch.COOKIE: worker})
    assert page.cookies[launch.COOKIE] == worker and launched.requests_to(worker) >= before + 2
    assert launched.proc.poll() is None
    assert f"worker {worker} (port {port}) exited with status -9" in launched.log()


@pytest.mark.timeout(60)
def test_sigterm_stops_everything_cleanly(launched):
    tree = load.process_tree(launched.proc.pid)
    assert len(tree) == 4, tree  # launcher, 2 workers, haproxy
    t0 = time.monotonic()
    launched.proc.send_signal(signal.SIGTERM)  # what `docker stop` sends to the container's command
    assert launched.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    assert not [p for p in tree[1:] if _alive(p)], "children left behind"
    with pytest.raises(OSError):
        stclient.http_get(launched.url, "/_stcore/health", timeout=5)
    assert "SIGTERM: stopping haproxy and 2 worker(s)" in launched.log()


def test_the_concurrency_limit_is_shared_among_the_workers() -> None:
    assert launch.split_concurrency({"INITLAB_MAX_CONCURRENT": "2"}, 2)["INITLAB_MAX_CONCURRENT"] == "1"
    assert launch.split_concurrency({"INITLAB_MAX_CONCURRENT": "8"}, 3)["INITLAB_MAX_CONCURRENT"] == "2"
    assert launch.split_concurrency({}, 1)["INITLAB_MAX_CONCURRENT"] == "2"  # the app's default, whole
    assert launch.split_concurrency({"INITLAB_MAX_CONCURRENT": "x"}, 4)["INITLAB_MAX_CONCURRENT"] == "1"
