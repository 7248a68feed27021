"""Serve initlab on every core a container is given: one Streamlit worker per CPU behind HAProxy.

    python deploy/launch.py                 # from anywhere; public port $STREAMLIT_SERVER_PORT (8501)
    INITLAB_WORKERS=2 STREAMLIT_SERVER_ADDRESS=127.0.0.1 python deploy/launch.py --port 8600

A Streamlit server runs every page of every session in one Python process, so it uses about one core
whatever the container has. This launcher is the container's command (Dockerfile CMD) and a small
supervisor:

* **Workers**: ``python deploy/worker.py app.py`` (``streamlit run app.py`` after loading the
  precomputed store named by ``INITLAB_CACHE_DIR``) once per available CPU (``INITLAB_WORKERS``
  overrides; see :func:`available_cpus` for the cgroup rules), each on its own free port of 127.0.0.1,
  started from the project root so ``.streamlit/config.toml`` applies to all of them. Everything else
  in the environment (``STREAMLIT_SERVER_BASE_URL_PATH``, ``INITLAB_*``, ...) is passed through.
* **HAProxy** (no home-made proxy) listens on the public address and port and keeps each browser on
  one worker with a cookie (``INITLAB_WORKER``): Streamlit keeps a session's state, its uploaded files
  and its ``/media`` downloads in the memory of the worker holding its websocket, so every request of
  that browser must reach that worker. New browsers go to the worker with the fewest connections
  (``leastconn``: websockets live for a whole lecture, so connection counts are the load).
* **Readiness**: a worker listens only once its precomputed store is loaded (deploy/worker.py), then
  opens a page of each tab on itself and writes its ready file (``ready-wN`` in the runtime
  directory); without a usable store its log says it serves cold, and it is ready as soon as it
  listens and has opened those pages. HAProxy starts (and the public port opens) once every worker
  is ready (at most 60 s), then checks ``/_stcore/health`` of each worker every 2 s and routes only to
  workers that answer (a restarted worker answers once its store is loaded). The public
  ``/_stcore/health`` is proxied like any path, so the container's health check
  (``deploy/healthcheck.py``) passes only once the workers are ready, and while at least one answers.
* **Restarts**: a worker that exits is started again on the same port after a back-off (1 s, doubling
  up to 30 s while it keeps failing quickly); HAProxy takes it out and back in through its checks, and a
  request that finds its worker gone is sent to another one (``option redispatch``). If HAProxy itself
  exits, the launcher stops everything and exits 1, so the container's restart policy takes over.
* **Signals**: SIGTERM / SIGINT / SIGHUP stop HAProxy and every worker (SIGTERM, then SIGKILL after
  ``--grace`` seconds) and exit 0. Children also get SIGTERM if the launcher itself is killed
  (Linux ``PR_SET_PDEATHSIG``), so nothing is left behind.

One worker keeps the same architecture (HAProxy in front of one worker): one code path to test and
operate, and a worker that dies is restarted in a second instead of taking the container down. The
cost, measured with benchmarks/load.py (200 sessions at once): HAProxy ~20 MB and ~0.08 CPU-s (3% of
the workers' CPU), the launcher ~23 MB and nothing while it waits; a worker is ~500 MB.

``--runtime-dir`` (default: a temporary directory, removed at exit) holds ``haproxy.cfg``, HAProxy's
stats socket ``haproxy.sock`` (``show stat``: each worker's state and request counts) and the workers'
ready files.

Standard library only (it runs before anything else in the image; ``deploy/stclient.py``, whose health
check it uses, imports nothing else until a session opens); Linux.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import stclient  # deploy/stclient.py: this script's directory is the first entry of sys.path

ROOT = Path(__file__).resolve().parents[1]
COOKIE = "INITLAB_WORKER"
MAX_WORKERS = 64
HAPROXY_FALLBACKS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")  # Debian's PATH for users lacks sbin
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 30.0  # seconds
# HAProxy starts once every worker is ready (or after this many seconds, with those that answer): it
# considers its servers up until a check fails, so starting it earlier would send the first browsers
# to workers still booting (retried elsewhere, but logged as alarming "no server available" alerts).
HAPROXY_WAIT = 60.0
POLL = 0.2  # seconds between looks at the children: a signal or a death is handled within this


def log(msg: str) -> None:
    """One line on standard error (docker logs), marked as the launcher's."""
    print(f"initlab-launch: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- how many CPUs


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ancestors(root: Path, rel: str) -> list[Path]:
    """``root/rel`` and each of its parents up to ``root`` (deepest first). A limit may be set on any
    of them; without a cgroup namespace ``rel`` names a host path that is not mounted, and only
    ``root`` (the container's own cgroup) exists."""
    parts = [p for p in rel.strip("/").split("/") if p and p != ".."]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpu_limit(cgroup_root: Path = Path("/sys/fs/cgroup"),
                     proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs allowed by the CPU bandwidth limit of this process's cgroup (quota / period), or None.

    cgroup v2: ``cpu.max`` ("max 100000" = no limit, "150000 100000" = 1.5 CPUs) in the unified
    hierarchy mounted at ``cgroup_root``. cgroup v1: ``cpu.cfs_quota_us`` (-1 = no limit) and
    ``cpu.cfs_period_us`` under ``cgroup_root/cpu`` (or ``cpu,cpuacct``). The smallest limit on the way
    from this process's cgroup up to the root wins, as the kernel enforces every one of them."""
    v2_rel, v1_rel = "/", "/"
    for line in (_read(proc_self_cgroup) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hier == "0" and controllers == "":
            v2_rel = rel or "/"
        elif "cpu" in controllers.split(","):
            v1_rel = rel or "/"
    limits: list[float] = []
    for d in _ancestors(cgroup_root, v2_rel):
        fields = (_read(d / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max":
            try:
                quota, period = int(fields[0]), int(fields[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for d in _ancestors(cgroup_root / mount, v1_rel):
            quota_s, period_s = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            try:
                quota, period = int(quota_s or "-1"), int(period_s or "0")
            except ValueError:
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    return min(limits) if limits else None


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup"),
                   proc_self_cgroup: Path = Path("/proc/self/cgroup"),
                   affinity: int | None = None) -> int:
    """The CPUs this process may use: the CPUs it may run on (``sched_getaffinity``: ``docker run
    --cpuset-cpus``, taskset) capped by the cgroup CPU quota (``docker run --cpus``, Kubernetes CPU
    limits), rounded up (1.5 CPUs: two workers share the quota; a worker is one busy thread most of the
    time, so the half core is used), at least 1."""
    n = affinity if affinity is not None else len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    if limit is not None:
        n = min(n, math.ceil(limit - 1e-9))
    return max(1, n)


def worker_count(env: Mapping[str, str], cpus: int | None = None) -> int:
    """``INITLAB_WORKERS`` if set (1..64; empty or "auto": automatic), else :func:`available_cpus`."""
    raw = env.get("INITLAB_WORKERS", "").strip().lower()
    if raw in ("", "auto"):
        return min(cpus if cpus is not None else available_cpus(), MAX_WORKERS)
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"INITLAB_WORKERS must be a number of workers (1..{MAX_WORKERS}) or 'auto', "
                         f"not {raw!r}") from None
    if not 1 <= n <= MAX_WORKERS:
        raise ValueError(f"INITLAB_WORKERS must be between 1 and {MAX_WORKERS}, not {n}")
    return n


# --------------------------------------------------------------------------- HAProxy's configuration


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports of 127.0.0.1 (all held open together, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def base_path(env: Mapping[str, str]) -> str:
    """Streamlit's ``server.baseUrlPath`` as a URL prefix: "" or "/initlab"."""
    base = env.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
    return f"/{base}" if base else ""


def haproxy_config(address: str, port: int, worker_ports: list[int], base: str = "",
                   stats_socket: Path | None = None) -> str:
    """HAProxy's configuration (2.6 and later): the public frontend and one server per worker."""
    host = f"[{address}]" if ":" in address else address
    lines = [
        "# Written by deploy/launch.py at each start; not meant to be edited.",
        # No request log: in the foreground (-db) HAProxy prints its own warnings (a worker going down
        # or up, start-up problems) on standard error, which is what an operator needs.
        "global",
        *([f"    stats socket {stats_socket} mode 600 level user"] if stats_socket else []),
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",  # loopback: a worker that does not accept in 2 s is not there
        "    timeout http-request 15s",
        # A student's websocket stays open for the whole lecture (Streamlit pings every 30 s).
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout tunnel 1h",
        # A worker busy with a burst of pages may answer its health check late; mark it down only
        # when it really does not answer, or its students would be moved to another worker.
        "    timeout check 10s",
        # A request whose worker is gone (killed, restarting) is retried on another worker at once: also
        # when the dying worker's socket still accepted the connection and then closed it unanswered
        # (empty-response; replaying is harmless: nothing was answered, and a session's upload sent
        # elsewhere is refused by the other worker).
        "    retries 2",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "",
        "frontend initlab",
        f"    bind {host}:{port}",
        "    default_backend workers",
        "",
        "backend workers",
        "    balance leastconn",
        f"    option httpchk GET {base}/_stcore/health",
        "    http-check expect status 200",
        # insert: HAProxy names the worker in a cookie of its own (the app never sees it: indirect);
        # nocache: a shared cache must not hand one student's cookie to another.
        f"    cookie {COOKIE} insert indirect nocache httponly",
        "    default-server check inter 2s fastinter 1s downinter 1s fall 3 rise 1",
    ]
    lines += [f"    server w{i} 127.0.0.1:{p} cookie w{i}" for i, p in enumerate(worker_ports, 1)]
    return "\n".join(lines) + "\n"


def find_haproxy() -> str | None:
    """HAProxy on PATH, else where Debian puts it (a user's PATH often lacks /usr/sbin)."""
    found = shutil.which("haproxy")
    if found:
        return found
    return next((p for p in HAPROXY_FALLBACKS if os.access(p, os.X_OK)), None)


# --------------------------------------------------------------------------- children


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """In a child: get SIGTERM when the launcher dies, whatever kills it (even SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """A supervised process: its command, and what the launcher knows about its current run."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0  # quick deaths in a row (sets the back-off)
    restart_at: float | None = None
    restarts: int = 0
    ready_file: Path | None = None  # a worker writes it once it is ready to serve (deploy/worker.py)

    def start(self) -> None:
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)  # a restarted worker is not ready until it says so
        # Same process group as the launcher: Ctrl-C in a terminal reaches everyone at once.
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)  # noqa: PLW1509 (single-threaded)
        self.started = time.monotonic()
        self.restart_at = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass


def worker(i: int, port: int, env: dict[str, str], ready_file: Path | None = None) -> Child:
    """Worker ``i``: Streamlit on 127.0.0.1:``port``, the rest of its settings from config.toml; it
    writes ``ready_file`` once it is ready to serve."""
    wenv = {**env, "STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
            "STREAMLIT_SERVER_HEADLESS": "true"}
    if ready_file is not None:
        wenv["INITLAB_READY_FILE"] = str(ready_file)
    # deploy/worker.py is `streamlit run` that first loads the precomputed store (INITLAB_CACHE_DIR):
    # the worker opens its port, and so passes its health checks, only once the store is in memory;
    # it writes its ready file after opening a page of each tab on itself.
    argv = [sys.executable, "deploy/worker.py", "app.py", "--server.address=127.0.0.1",
            f"--server.port={port}", "--server.headless=true",
            # Its "You can now view your app at 127.0.0.1:<internal port>" would mislead: the launcher
            # prints the public address.
            "--logger.hideWelcomeMessage=true"]
    return Child(name=f"worker w{i} (port {port})", argv=argv, env=wenv, port=port, ready_file=ready_file)


def split_concurrency(env: dict[str, str], workers: int) -> dict[str, str]:
    """Share ``INITLAB_MAX_CONCURRENT`` (heavy computations at once, default 2) among the workers.

    Each worker applies the limit to itself; the container's memory bound (about 0.5 GB per worker plus
    up to 0.95 GB per computation in flight) holds only if the workers share the container's total,
    so each gets ``max(1, total // workers)``.
    """
    out = dict(env)
    try:
        total = max(1, int(env.get("INITLAB_MAX_CONCURRENT", "2")))
    except ValueError:
        total = 2
    out["INITLAB_MAX_CONCURRENT"] = str(max(1, total // max(1, workers)))
    return out


# --------------------------------------------------------------------------- the supervisor


class Launcher:
    """Starts HAProxy and the workers, restarts workers that die, stops everything on a signal."""

    def __init__(self, address: str, port: int, workers: int, runtime_dir: Path | None = None,
                 grace: float = 5.0, env: dict[str, str] | None = None) -> None:
        haproxy = find_haproxy()
        if haproxy is None:
            raise FileNotFoundError("haproxy not found (apt-get install haproxy; the Docker image has it)")
        self.env = split_concurrency(dict(os.environ if env is None else env), workers)
        self.address, self.port, self.grace = address, port, grace
        self._own_dir = runtime_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="initlab-launch-")) if runtime_dir is None else runtime_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(workers)
        self.workers = [worker(i, p, self.env, self.dir / f"ready-w{i}") for i, p in enumerate(ports, 1)]
        self.config_path = self.dir / "haproxy.cfg"
        self.stats_socket = self.dir / "haproxy.sock"
        self.config_path.write_text(haproxy_config(address, port, ports, base_path(self.env), self.stats_socket))
        self.haproxy = Child(name="haproxy", argv=[haproxy, "-db", "-f", str(self.config_path)], env=self.env)
        self.stop_signal: int | None = None

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum  # the main loop notices within POLL seconds

    def run(self) -> int:
        """Supervise until a signal (exit 0) or until HAProxy exits (exit 1)."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        status = 0
        try:
            t0 = time.monotonic()
            for w in self.workers:
                w.start()
            log(f"starting {len(self.workers)} worker(s) on 127.0.0.1:{','.join(str(w.port) for w in self.workers)}")
            while self.stop_signal is None:
                now = time.monotonic()
                for w in self.workers:
                    self._supervise(w, now)
                if self.haproxy.proc is None:
                    if all(self._ready(w) for w in self.workers) or now - t0 > HAPROXY_WAIT:
                        self.haproxy.start()
                        log(f"serving http://{self.address}:{self.port}{base_path(self.env)}/ through haproxy "
                            f"(config {self.config_path})")
                elif not self.haproxy.running():
                    log(f"haproxy exited with status {self.haproxy.proc.returncode}; stopping")
                    status = 1
                    break
                time.sleep(POLL)
            if self.stop_signal is not None:
                log(f"{signal.Signals(self.stop_signal).name}: stopping haproxy and {len(self.workers)} worker(s)")
        finally:
            self.stop()
        return status

    def _ready(self, w: Child) -> bool:
        """Whether worker ``w`` has said it is ready (its store loaded, its pages opened once) and answers
        its health endpoint (only used before HAProxy starts)."""
        return w.ready_file is not None and w.ready_file.exists() and self._answers(w)

    def _answers(self, w: Child) -> bool:
        """Whether worker ``w`` answers its health endpoint."""
        return w.running() and stclient.healthy(f"http://127.0.0.1:{w.port}{base_path(self.env)}", timeout=1)

    def _supervise(self, w: Child, now: float) -> None:
        if w.running():
            return
        if w.restart_at is None:  # it has just died: schedule the restart
            assert w.proc is not None
            lived = now - w.started
            w.failures = 0 if lived >= STABLE_AFTER else w.failures + 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(w.failures - 1, 0))
            w.restart_at = now + delay
            log(f"{w.name} exited with status {w.proc.returncode} after {lived:.0f} s; restarting in {delay:g} s")
        elif now >= w.restart_at:
            w.start()
            w.restarts += 1
            log(f"{w.name} restarted (pid {w.proc.pid if w.proc else '?'}, restart {w.restarts})")

    def stop(self) -> None:
        """SIGTERM to HAProxy and every worker at once, SIGKILL to whatever is left after ``grace`` s."""
        children = [self.haproxy, *self.workers]
        for c in children:
            c.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(c.running() for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        for c in children:
            if c.running():
                log(f"{c.name} did not stop within {self.grace:g} s; killing it")
                c.signal(signal.SIGKILL)
        for c in children:
            if c.proc is not None:
                try:
                    c.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log(f"{c.name} (pid {c.proc.pid}) is still there after SIGKILL")
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and environment, then supervise; the exit status of the launcher."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default=os.environ.get("STREAMLIT_SERVER_ADDRESS") or "0.0.0.0",
                    help="public address HAProxy listens on (default: $STREAMLIT_SERVER_ADDRESS or 0.0.0.0)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("STREAMLIT_SERVER_PORT") or 8501),
                    help="public port (default: $STREAMLIT_SERVER_PORT or 8501)")
    ap.add_argument("--runtime-dir", type=Path, default=None,
                    help="where haproxy.cfg and HAProxy's stats socket go (default: a temporary directory)")
    ap.add_argument("--grace", type=float, default=5.0, help="seconds the children get to stop before SIGKILL")
    a = ap.parse_args(argv)
    try:
        n = worker_count(os.environ)
        launcher = Launcher(a.address, a.port, n, a.runtime_dir, a.grace)
    except (ValueError, FileNotFoundError, OSError) as exc:
        log(f"error: {exc}")
        return 2
    return launcher.run()


if __name__ == "__main__":
    sys.exit(main())
