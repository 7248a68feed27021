"""Server-side logging: what a student sees as a short message, the operator finds in the log.

A page that fails shows the student one sentence (never a traceback); the exception goes to the
server's standard error as one line that says where it failed and for which link, followed by the
traceback, so that an admin can find the bug after a lecture (``docker logs``, ``kubectl logs``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping

LOGGER_NAME = "initlab"
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
_lock = threading.Lock()


def logger() -> logging.Logger:
    """The ``initlab`` logger, writing to standard error (set up once per process).

    Records also propagate to the root logger, so a deployment (or pytest's ``caplog``) that
    configures logging receives them too; Streamlit itself leaves the root logger without handlers,
    so a plain ``streamlit run`` prints each record once.
    """
    log = logging.getLogger(LOGGER_NAME)
    with _lock:
        if not any(getattr(h, "_initlab", False) for h in log.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
            handler._initlab = True  # type: ignore[attr-defined]
            log.addHandler(handler)
            log.setLevel(logging.INFO)
    return log


def failure(where: str, exc: BaseException, context: Mapping[str, object] | None = None) -> None:
    """Log one failure: a single line (where, the exception, the page's link) and its traceback."""
    details = " ".join(f"{k}={v!r}" for k, v in (context or {}).items())
    logger().error("%s failed: %s: %s%s", where, type(exc).__name__, exc, f" | {details}" if details else "",
                   exc_info=(type(exc), exc, exc.__traceback__))


def warning(message: str, *args: object) -> None:
    """Log a condition an operator should know about that is not a bug (e.g. the server is busy)."""
    logger().warning(message, *args)
