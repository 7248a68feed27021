"""Shared test setup."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _no_component_scan():
    """AppTest scans every installed distribution for custom-component manifests at each
    ``AppTest.from_file`` (1.7 s of 2 s per app run here); initlab uses no custom components."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    original = BidiComponentManager.discover_and_register_components
    BidiComponentManager.discover_and_register_components = lambda self, **kw: None
    yield
    BidiComponentManager.discover_and_register_components = original
