"""Shared test setup."""

import os

# One BLAS thread for every test and every server a test starts (they inherit the environment): on
# 2 cores the threads of many small products fight (an orthogonal preset took 31.8 s with the default
# threads and 0.58 s with one). Set before numpy loads OpenBLAS; threadpoolctl below covers the case
# where a plugin imported numpy first.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

# The app computes every preset in a background thread on its first run in a process (for a class);
# in tests that would only compete with the tests themselves. test_app.py tests it on its own.
os.environ.setdefault("INITLAB_WARMUP", "0")


def pytest_configure(config):
    """The slow tiers, so that ``python -m pytest -m "not browser and not deploy and not slow"`` runs
    the rest in about a minute (README, Tests). Registered here rather than in pytest.ini so that the
    markers live next to the fixtures the tiers share."""
    for line in (
        "browser: drives a real Chromium through Playwright (tests/test_browser.py)",
        "deploy: builds or starts the deployment: launcher, haproxy, Dockerfile, server processes",
        "slow: takes more than ~5 s for another reason (many app pages, long training runs, ...)",
    ):
        config.addinivalue_line("markers", line)


@pytest.fixture(autouse=True, scope="session")
def _no_component_scan():
    """AppTest scans every installed distribution for custom-component manifests at each
    ``AppTest.from_file`` (1.7 s of 2 s per app run here); initlab uses no custom components."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    original = BidiComponentManager.discover_and_register_components
    BidiComponentManager.discover_and_register_components = lambda self, **kw: None
    yield
    BidiComponentManager.discover_and_register_components = original
