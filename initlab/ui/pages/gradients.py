"""The Gradients page: the gradient reaching each layer, its verdict, and each weight matrix's gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from initlab.ui import figures, shell
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values
from initlab.signal import summaries, verdict
from initlab.signal.scenario import Scenario
from initlab.theory import meanfield


@compute.shared(shell.TEXTS)
def _gradient_texts(s: Scenario) -> tuple[verdict.Verdict, str, str]:
    """The Gradients page's verdict, its line of numbers and the note on the mean-field curve."""
    res = compute.propagate(s)
    return (verdict.gradient_verdict(res.layers), summaries.gradient_line(res),
            summaries.mean_field_note(meanfield.why_no_curve(s)))


def draw(values: Values) -> None:
    s: Scenario = values["net"]
    res = shell.result_or_say(s)
    if res is None:
        return
    v, line, note = _gradient_texts(s)
    shell.verdict_box(v)
    st.markdown(line)
    st.caption("The loss at the top is " + ("l = r·h with r ~ N(0, 1): the gradient enters the top with unit "
                                            "variance, so every change below is the layers' doing."
                                            if s.loss == "projection" else "½‖h − y‖² with y ~ N(0, 1).")
               + (" Residual blocks: the gradient drawn first is the one at each block's output, ∂l/∂h_l, which "
                  "the identity path carries down unchanged." if s.residual else ""))
    if not s.plain_mlp:
        st.caption(summaries.architecture_note(s))
    holder = st.empty()
    fig = figures.chart("gradient", s, "grad_std", True)
    holder.markdown("##### How big is the gradient that reaches each layer?\n\n:gray[Read it from the right "
                    "(the top, where the loss is) to the left (layer 1): the backward pass multiplies by each "
                    f"layer's weights and slopes on the way down. {shell.scale_words(fig)} {note}]")
    shell.section("Gradient of each weight matrix",
                  "‖∂L/∂W‖: how strongly gradient descent would push each layer's weights. Exactly 0 means "
                  "that layer cannot learn at all. It is the product of what reaches the layer from below (the "
                  "activations) and from above (the gradient), so it can stay level while both explode.")
    figures.chart("gradient", s, "weight_grad_norm", False)
    more = st.expander("Relative update size ‖∂L/∂W‖ / ‖W‖", key="more_grad", on_change="rerun")
    if more.open:
        with more:
            shell.section(None, "With one learning rate for all layers, layers where this is tiny barely move and "
                          "layers where it is huge jump. Healthy training wants it similar across layers.")
            figures.chart("gradient", s, "grad_ratio", False)
    shell.exports(values, res)


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes (the precomputed store keeps it for every preset that opens here)."""
    return [("propagate", (s,)), ("predict", (s,))]
