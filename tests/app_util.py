"""Opening the app the way a browser opens a link, for the AppTest tests (no server, no browser)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # seconds per run: a cold 250-layer preset on a busy 2-core machine takes ~10 s


def open_link(params: dict[str, str | list[str]] | None = None) -> AppTest:
    """A fresh session opening ``?params`` (values: a string, or a list for a repeated key)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    return at


def open_clean(params: dict[str, str | list[str]]) -> AppTest:
    """:func:`open_link`, asserting that the page shows no exception and no error box."""
    at = open_link(params)
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error]
    return at
