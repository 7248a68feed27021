"""The Compare page: two to four initializers (or activations) on the same seed and batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import streamlit as st

from initlab.ui import controls, figures, layout, shell
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values
from initlab.pages import CompareView, compare_variants
from initlab.signal import summaries
from initlab.signal.network import Result
from initlab.signal.scenario import Scenario


def draw(values: Values) -> None:
    s: Scenario = values["net"]
    view: CompareView = values["compare"]
    what = {"init": "initializer", "activation": "activation", "architecture": "architecture"}[view.by]
    st.markdown(f"Same seed, same input batch, same depth and width: only the {what} changes, so every "
                "difference below comes from it.")
    c = st.columns([1, 3])
    controls.page_control("compare", "by", where=c[0])
    field = {"init": "inits", "activation": "acts", "architecture": "archs"}[view.by]
    controls.page_control("compare", field, where=c[1])
    chosen = getattr(view, field)
    if view.by == "architecture":
        if s.branch_layers == 1:
            same = ("Every network gets the very same weight matrices (one per layer or block, drawn in the same "
                    "order from the same seed).")
        else:
            same = ("The residual networks get the very same weight matrices (two per block, drawn in the same "
                    "order from the same seed)" + ("; the plain network takes the first of the same sequence, "
                                                   "one per layer." if "plain" in chosen else "."))
        st.caption(f"{same} A residual network's layer l is its block l: its output h_l, the residual stream.")
    if len(chosen) < 2:
        st.info(f"Pick at least two {what}s to compare ({len(chosen)} chosen).")
        return
    results: dict[str, Result] = {}
    runs = compare_variants(s, view)
    for label, v in runs.items():
        r = shell.result_or_say(v)
        if r is not None:
            results[label] = r
    if not results:
        return
    key = tuple((label, runs[label]) for label in results)  # exactly what the figures below are made of
    which = values["signal"].which
    # Architectures differ in how the variance grows, which the mean-field recursion predicts per block:
    # drawn dotted beside each (not for initializers or activations: 2-4 more lines there say nothing new).
    theory = view.by == "architecture"
    st.markdown("##### Forward: spread of the values at each layer")
    figures.chart("cmp_signal", key, f"{which}_std", theory)
    st.markdown("##### Backward: size of the gradient reaching each layer")
    figures.chart("cmp_gradient", key, theory)
    if theory:
        st.caption("Dotted: each network's mean-field prediction (infinite width), beside the measured line.")
    st.markdown("##### Saturated, dead and overflowed values")
    figures.chart("fractions", key)
    layout.dataframe(_compare_table(key, which, s.depth))


@compute.shared(shell.TEXTS)
def _compare_table(scenarios: tuple[tuple[str, Scenario], ...], which: str, depth: int) -> pa.Table:
    """Each compared scenario's verdicts and stds."""
    return shell.table(summaries.compare_rows([(label, compute.propagate(v)) for label, v in scenarios], which, depth))


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes (the precomputed store keeps it for every preset that opens here)."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    for v in compare_variants(s, views.get("compare", CompareView())).values():
        out += [("propagate", (v,)), ("predict", (v,))]
    return out
