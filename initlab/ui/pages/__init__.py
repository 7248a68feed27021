"""The pages, one module each, assembled from the page list of :mod:`initlab.pages`.

Each page module ``initlab.ui.pages.<id>`` has ``draw(values)`` (its controls and charts, from the page
state: section id -> value) and ``products(scenario, views)`` (what it computes, as ``(kind, args)``
pairs of :mod:`initlab.ui.results.products`: the precomputed store keeps them for every preset that
opens on the page, and its build checks that the page computed nothing else). Adding a tab is one entry
in :data:`initlab.pages.PAGE_SPECS` and one module here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from initlab.pages import PAGE_SPECS

MODULES: dict[str, ModuleType] = {pid: importlib.import_module(f"{__name__}.{pid}") for pid in PAGE_SPECS}
PAGES: dict[str, Callable[[Mapping[str, Any]], None]] = {pid: m.draw for pid, m in MODULES.items()}


def products(tab: str, s: Any, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What the page ``tab`` computes for the scenario ``s`` with these views (section id -> view)."""
    return MODULES[tab].products(s, views)
