"""One list of pages: the tabs, the presets, the page modules and the store all read ``initlab.pages.PAGE_SPECS``."""

import ast
from pathlib import Path

from initlab.ui import pages as app_pages
from initlab.ui import state
from initlab.ui.results import products
from initlab.pages import PAGE_IDS, PAGE_SPECS
from initlab.teaching import presets

ROOT = Path(__file__).resolve().parent.parent


def test_the_tabs_presets_and_page_modules_are_the_registry():
    assert tuple(PAGE_SPECS) == PAGE_IDS
    assert state.TAB_IDS == PAGE_IDS and tuple(state.TAB_LABELS) == tuple(p.label for p in PAGE_SPECS.values())
    assert presets.TABS == PAGE_IDS
    assert tuple(app_pages.PAGES) == PAGE_IDS and tuple(app_pages.MODULES) == PAGE_IDS
    for pid, module in app_pages.MODULES.items():
        assert module.__name__ == f"initlab.ui.pages.{pid}"
        assert callable(module.draw) and callable(module.products)


def test_the_store_asks_each_page_what_it_computes(monkeypatch):
    """``page_products`` is the page module's own ``products``: replace one and the store sees it."""
    seen = []

    def fake(s, views):
        seen.append((s, views))
        return [("marker", (1,))]

    monkeypatch.setattr(app_pages.MODULES["ranges"], "products", fake)
    p = next(p for p in presets.PRESETS.values() if p.tab == "ranges")
    assert products.page_products("ranges", p.scenario, p.views) == [("marker", (1,))] and seen


def _literal_page_lists(tree: ast.AST) -> list[int]:
    """Lines of tuple/list/set literals holding three or more page ids (a copy of the page list)."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(names & set(PAGE_IDS)) >= 3:
                hits.append(node.lineno)
    return hits


def test_no_module_keeps_its_own_copy_of_the_page_list():
    offenders = []
    for p in sorted((ROOT / "initlab").rglob("*.py")) + [ROOT / "app.py"]:
        if p == ROOT / "initlab" / "pages.py":
            continue
        hits = _literal_page_lists(ast.parse(p.read_text(encoding="utf-8")))
        offenders += [f"{p.relative_to(ROOT)}:{line}" for line in hits]
    assert not offenders, offenders


def test_the_copy_detector_sees_a_copy():
    assert _literal_page_lists(ast.parse("TABS = ('signal', 'gradients', 'ranges')"))
    assert not _literal_page_lists(ast.parse("PARTS = ('signal', 'other')"))
