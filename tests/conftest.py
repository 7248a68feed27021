"""Shared test setup."""

import os

import pytest

# The app computes every preset in a background thread on its first run in a process (for a class);
# in tests that would only compete with the tests themselves. test_app.py tests it on its own.
os.environ.setdefault("INITLAB_WARMUP", "0")


@pytest.fixture(autouse=True, scope="session")
def _no_component_scan():
    """AppTest scans every installed distribution for custom-component manifests at each
    ``AppTest.from_file`` (1.7 s of 2 s per app run here); initlab uses no custom components."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    original = BidiComponentManager.discover_and_register_components
    BidiComponentManager.discover_and_register_components = lambda self, **kw: None
    yield
    BidiComponentManager.discover_and_register_components = original
