"""The Weight ranges page: each initializer's limits (or std) against the number of inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import streamlit as st

from initlab.ui import controls, figures, layout, shell
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values
from initlab.pages import RangesView
from initlab.signal.scenario import Scenario
from initlab.teaching import ranges
from initlab.weights import initializers


def draw(values: Values) -> None:
    s: Scenario = values["net"]
    view: RangesView = values["ranges"]
    st.markdown("How wide is the distribution each initializer draws from, as the number of inputs *n* "
                "grows? Bounded schemes show their exact limits; normal ones have no limit, so the band is "
                "± 1 standard deviation and the dots are what 1000 actual draws reached. On a log axis for n "
                "(the box on the right), 1/√n becomes a straight line.")
    c = st.columns([3, 1, 1, 1])
    controls.page_control("ranges", "inits", where=c[0])
    controls.page_control("ranges", "n", where=c[1])
    controls.page_control("ranges", "m", where=c[2])
    controls.page_control("ranges", "log", where=c[3])
    with figures.working("Sampling weights…", "ranges", view.inits, view.n, view.m, s.seed, view.log):
        figures.chart("ranges", view.inits, view.n, view.m, s.seed, view.log)
    plan = compute.range_plan(view.inits, view.n, view.m)
    if plan:
        st.caption(plan)
    layout.dataframe(_ranges_table(view.inits, view.n, view.m))
    with st.expander("Where these formulas come from"):
        for name in view.inits:
            st.markdown(f"**{name}**: {initializers.get(name).description}")


@compute.shared(shell.TEXTS)
def _ranges_table(inits: tuple[str, ...], n_max: int, m_fixed: int) -> pa.Table:
    """Each initializer's formula, std and limits at n = 1 and n = ``n_max``."""
    return shell.table(ranges.table_rows(inits, n_max, m_fixed))


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes (the precomputed store keeps it for every preset that opens here)."""
    view: RangesView = views.get("ranges", RangesView())
    return [("range_curves", (view.inits, view.n, view.m, s.seed))]
