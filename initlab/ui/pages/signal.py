"""The Signal page: the forward pass's spread per layer, its verdict and where the values sit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from initlab.ui import controls, figures, shell
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values
from initlab.pages import SignalView
from initlab.signal import summaries, verdict
from initlab.signal.scenario import Scenario
from initlab.theory import meanfield


@compute.shared(shell.TEXTS)
def _signal_texts(s: Scenario, which: str) -> tuple[verdict.Verdict, str, bool, str]:
    """The Signal page's verdict, summary line, whether any layer has saturated / dead / inf values,
    and the note on the mean-field curve."""
    res = compute.propagate(s)
    bad = bool((res.layers[["frac_saturated", "frac_dead", "frac_nonfinite"]].to_numpy() > 0).any())
    return (verdict.signal_verdict(res.layers, which, first=verdict.first_layer(res), dtype=s.dtype),
            summaries.summary_line(res, which), bad,
            summaries.mean_field_note(meanfield.why_no_curve(s)))


def draw(values: Values) -> None:
    s: Scenario = values["net"]
    view: SignalView = values["signal"]
    res = shell.result_or_say(s)
    if res is None:
        return
    which = view.which
    if s.residual:
        name = "block outputs h" if which == "act" else "inputs of each block's last activation"
    else:
        name = "activations h = f(z)" if which == "act" else "pre-activations z = hW + b"
    controls.page_control("signal", "which")
    v, summary, bad, note = _signal_texts(s, which)
    shell.verdict_box(v)
    st.markdown(summary)
    if not s.plain_mlp:
        st.caption(summaries.architecture_note(s))
    holder = st.empty()  # the explanation sits above the chart but depends on the chart's axis
    fig = figures.chart("signal", s, f"{which}_std")
    holder.markdown(f"##### How spread out are the {name} at each layer?\n\n:gray[A healthy network keeps this "
                    f"roughly level. {shell.scale_words(fig)} {note}]")
    shell.section("Where the values of each layer sit",
                  "Colour is the share of a layer's values in each bin (1024 values sampled per layer): a collapse "
                  "to one value (zero init, vanishing) or a blow-up (the inf/NaN row) is plain to see.")
    figures.chart("heatmap", s, which)
    if bad:
        shell.section("Saturated, dead and overflowed values",
                      "Saturated: the activation's slope is below 10% of its peak, so almost no gradient passes. "
                      "Dead (ReLU): output and slope exactly 0. inf/NaN: the numbers ran out of range.")
        figures.chart("fractions", ((figures.label(s), s),))
    else:
        shell.section(None, "No layer has saturated, dead (ReLU) or inf/NaN values.")
    # Stateful expander: its charts are built and drawn only while it is open (each chart costs the
    # browser ~0.2 s per rerun).
    more = st.expander("Percentiles and mean of every layer", key="more_signal", on_change="rerun")
    if more.open:
        with more:
            shell.section("The whole distribution, layer by layer",
                          "Median, middle 50% and middle 98% of the values of each layer, with mean ± std.")
            figures.chart("spread", s, which)
            shell.section(f"Mean of the {name}", "All-positive weights or inputs shift the mean away from 0, layer "
                          "after layer.")
            figures.chart("plain_signal", s, f"{which}_mean")
    shell.exports(values, res)


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes (the precomputed store keeps it for every preset that opens here)."""
    return [("propagate", (s,)), ("predict", (s,))]
