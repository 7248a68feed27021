"""One initlab server process: load the precomputed store, serve app.py with Streamlit, warm itself.

    python deploy/worker.py app.py --server.port=8502 ...     # the arguments of `streamlit run`

deploy/launch.py starts one of these per CPU. It is ``streamlit run`` with two steps around it:

1. **Before the server listens**: the store that ``INITLAB_CACHE_DIR`` names (built by
   ``python -m initlab.ui.results.build DIR``; the image does both) is loaded into this process with the
   modules the pages use, and the charts it lists are built from it. So the worker answers
   ``/_stcore/health`` -- and HAProxy counts it as up -- only once every preset link's page is a
   dictionary lookup away. (Streamlit's health endpoint answers as soon as the server listens, before
   any page ran: readiness has to come from the order of these steps.)
2. **Once it listens**: it opens one page of each tab on itself, as a browser would (a websocket
   session on 127.0.0.1, with initlab's one session client ``deploy/stclient.py``), because a
   Streamlit process's first sessions cost several times the later ones (the server's own code paths,
   not initlab's), and then writes the file ``INITLAB_READY_FILE`` names. The launcher opens the public
   port only when every worker has written its file, so the container's health check passes only then.

Without a usable store (``INITLAB_CACHE_DIR`` unset, the directory missing, or built by other code) the
log says why and that the worker serves cold; it is ready as soon as it listens and has opened its
pages, which also starts the background warm-up of the presets (``INITLAB_WARMUP``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import stclient  # deploy/stclient.py: this script's directory is the first entry of sys.path

ROOT = Path(__file__).resolve().parents[1]
WARM_TIMEOUT = 120.0  # seconds for the worker to listen and for its own pages (then it is ready anyway)


def preload() -> None:
    """Import the app's modules, load the store, build the charts it lists, and say in the log whether
    this worker serves warm or cold."""
    t0 = time.perf_counter()
    from initlab.ui.results import cache as compute  # noqa: F401 - pages: imported for the app
    from initlab.ui import logs
    from initlab.ui import pages  # noqa: F401 - the page modules, imported before the first student
    from initlab.ui.results import build as precompute

    compute.load_store()
    if compute.STORE is not None:
        precompute.warm_figures()
        state = f"serving {len(compute.STORE)} stored products"
    else:
        state = "no usable store: serving cold, computing on demand"
    logs.logger().info("worker pid %d loaded in %.1f s, %s", os.getpid(), time.perf_counter() - t0, state)


def _option(args: list[str], name: str, env: str, default: str) -> str:
    """A ``--name=value`` / ``--name value`` option of the streamlit command line, else $env, else default."""
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return os.environ.get(env) or default


def warm_links() -> list[str]:
    """The bare link and the first preset of each tab: one page of every kind."""
    from initlab.teaching.presets import PRESETS

    first: dict[str, str] = {}
    for p in PRESETS.values():
        first.setdefault(p.tab, f"preset={p.name}")
    return ["", *first.values()]


def warm_then_ready(port: int, base: str, ready_file: str | None) -> None:
    """Wait until this server listens, open :func:`warm_links` on it, then write ``ready_file``."""
    from initlab.ui import logs

    url = f"http://127.0.0.1:{port}{base}"
    t0 = time.monotonic()
    try:
        listening = stclient.wait_healthy(url, WARM_TIMEOUT, interval=0.05)
        pages = warm_links()
        results = stclient.warm(url, pages, timeout=max(1.0, WARM_TIMEOUT - (time.monotonic() - t0)))
        failed = [r.query or "(bare link)" for r in results if not r.ok]
        logs.logger().info("worker pid %d ready: listening after %.1f s, opened %d pages on itself in %.1f s%s",
                           os.getpid(), listening, len(pages), time.monotonic() - t0 - listening,
                           f" ({len(failed)} failed: {', '.join(failed)})" if failed else "")
    except Exception as exc:  # noqa: BLE001 - warming is an optimisation: say so, and be ready anyway
        logs.logger().warning("worker pid %d could not open its own pages (%s: %s); ready anyway",
                              os.getpid(), type(exc).__name__, exc)
    if ready_file:
        Path(ready_file).write_text(f"{os.getpid()}\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    preload()
    port = int(_option(args, "server.port", "STREAMLIT_SERVER_PORT", "8501"))
    base = _option(args, "server.baseUrlPath", "STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
    threading.Thread(target=warm_then_ready, args=(port, f"/{base}" if base else "", os.environ.get("INITLAB_READY_FILE")),
                     daemon=True, name="initlab-self-warm").start()
    from streamlit.web import cli

    # Exactly `streamlit run ARGS` in this process: the modules and the store loaded above stay loaded.
    sys.argv = ["streamlit", "run", *args]
    return cli.main(prog_name="streamlit")  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main())
