"""The Theory page: mean-field theory beside the live network, in three parts (order and chaos,
Jacobian spectra, LSUV), only the open one drawn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from initlab.ui import controls, figures, shell
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values
from initlab.pages import THEORY_PARTS, TheoryView, orthogonal_start, theory_pair
from initlab.numerics.format import fmt
from initlab.signal import lsuv, spectra
from initlab.signal.scenario import Scenario
from initlab.theory import meanfield, summaries


def draw(values: Values) -> None:
    s: Scenario = values["net"]
    view: TheoryView = values["theory"]
    st.markdown("Mean-field theory (Poole et al. 2016, Schoenholz et al. 2017) follows a signal through an "
                "infinitely wide random network. One number decides its fate: **χ₁ = σw² · E[φ′(z)²]**, the "
                "factor by which each layer multiplies the *squared* distance between two nearby inputs. χ₁ < 1: "
                "differences shrink until the inputs become indistinguishable (ordered); χ₁ > 1: small differences "
                "grow, until two inputs are about as different as unrelated ones (chaotic); χ₁ = 1 is the **edge of "
                "chaos**, where information about the input travels deepest, and the deepest networks train.")
    texts = _theory_texts(s, view.sw2_max, view.sb2_max)
    (st.markdown if texts.point is not None else st.caption)(texts.intro)
    part, box = shell.part_tabs("theory", THEORY_PARTS, view.show)
    with box:
        {"phase": _theory_phase, "spectra": _theory_spectra, "lsuv": _theory_lsuv}[part](s, view, texts)


def _theory_phase(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    if not s.plain_mlp:
        _theory_blocks(s)
        return
    point, act = texts.point, s.activation
    c = st.columns(3)
    controls.page_control("theory", "sw2_max", where=c[0])
    controls.page_control("theory", "sb2_max", where=c[1])
    shell.section("Order and chaos",
                  f"Colour is χ₁ for {act} at each weight and bias variance: blue is ordered, red chaotic, the green "
                  "line the edge of chaos. The cross is this scenario (on the border, as a triangle, when it lies beyond "
                  "the axes): move the initializer, its scale or the bias and it moves.")
    figures.chart("phase", act, view.sw2_max, view.sb2_max, point)
    shell.section("How deep can the signal go?",
                  f"At σb² = {fmt(texts.sb2)} (this scenario's bias variance): ξ_c is the number of layers over "
                  "which 1 − the correlation of two nearby inputs shrinks by a factor e in the ordered phase (in the "
                  "chaotic phase, over which the correlation settles at c\\*). Schoenholz et al. (2017) could train "
                  "networks up to about 6 ξ_c deep, not deeper; ξ_c diverges at the edge of chaos. ξ_q is the same for "
                  "the size of the signal.")
    figures.chart("depth_scale", act, texts.sb2, view.sw2_max, point[0] if point else None, s.depth)
    if texts.depth:
        st.markdown(texts.depth)


def _theory_blocks(s: Scenario) -> None:
    """For residual or normalised networks: the variance recursion per block instead of the phase diagram."""
    if shell.result_or_say(s) is None:
        return
    shell.section("The variance recursion, block by block",
                  "What mean-field theory says for these blocks (initlab.theory.meanfield.predict), next to the "
                  "network itself: the variance of every block's output on a log axis.")
    figures.chart("block_variance", s)
    st.caption(_block_caption(s))


@compute.shared(shell.TEXTS)
def _block_caption(s: Scenario) -> str:
    res = compute.propagate(s)
    return summaries.block_caption(s, compute.predict(s), res.layers["act_std"].to_numpy(dtype=float) ** 2,
                                   res.layers["grad_std"].to_numpy(dtype=float))


def _theory_spectra(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    if not s.plain_mlp:
        st.info(summaries.HIDDEN_SPECTRA)
        return
    controls.page_control("theory", "vs")
    pair = theory_pair(s, view.vs)
    shell.section("Dynamical isometry: the input-output Jacobian",
                  "Histograms of the singular values s of ∂h_l/∂h_0 at the first input (Saxe et al. 2014; Pennington "
                  "et al. 2017). Every direction of the input survives when they all sit near 1 (one narrow spike); a "
                  "wide spread means a few directions are amplified while most are lost. Orthogonal weights keep them "
                  "all equal in a *linear* network; with a nonlinearity only where f′(z) is about the same for every "
                  "unit (tanh with small pre-activations), so elsewhere orthogonal spectra spread too. Values below "
                  f"{fmt(spectra.NOISE_FLOOR[s.dtype])} of the largest (more where the network's values underflow "
                  f"into {s.dtype}'s smallest numbers) are {s.dtype}'s rounding, not the network's: they are not drawn, "
                  "and the table counts them.")
    with figures.working("Multiplying Jacobians…", "spectra", pair, 0):
        figures.panels("spectra", len(compute.jacobian(pair[0][1]).depths), pair, per_row=2)
    st.table(_jacobian_table(pair))
    note = _jacobian_note(s, view.sw2_max, view.sb2_max)
    if note:
        st.markdown(note)


def _theory_lsuv(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    if not s.plain_mlp:
        st.info(summaries.HIDDEN_LSUV)
        return
    shell.section("LSUV: rescale every layer on the data",
                  "Layer-sequential unit-variance init (Mishkin & Matas 2016) starts from orthogonal weights and "
                  "rescales each layer, in order, until the variance of its *pre-activations* z on the batch is 1 "
                  f"(within {fmt(lsuv.TOL)}, at most {lsuv.MAX_ITER} tries per layer, as in the paper). Unlike "
                  "the paper, initlab uses one fixed batch (the scenario's) for every try, and keeps the biases as the "
                  "scenario draws them (the paper's start at 0). Lines: Var(z) per layer with this scenario's own "
                  "initializer, from the orthogonal start before any rescaling, and after LSUV.")
    with figures.working("Running LSUV…", "lsuv", s):
        figures.chart("lsuv", s)
    for line in _lsuv_lines(s):
        st.markdown(line)


@compute.shared(shell.TEXTS)
def _theory_texts(s: Scenario, sw2_max: float, sb2_max: float) -> summaries.TheoryTexts:
    return summaries.theory_texts(s, sw2_max, sb2_max)


@compute.shared(shell.TEXTS)
def _jacobian_note(s: Scenario, sw2_max: float, sb2_max: float) -> str | None:
    return summaries.jacobian_note(s, _theory_texts(s, sw2_max, sb2_max), compute.predict(s))


@compute.shared(shell.TEXTS)
def _jacobian_table(pair: tuple[tuple[str, Scenario], ...]) -> pd.DataFrame:
    return shell.static_table(summaries.jacobian_table([(label, compute.jacobian(v), _chi(v)) for label, v in pair]))


def _chi(s: Scenario) -> np.ndarray | None:
    pred = compute.predict(s)
    return None if pred is None else pred.chi


@compute.shared(shell.TEXTS)
def _lsuv_lines(s: Scenario) -> tuple[str, ...]:
    """What LSUV did to ``s``, and the scenario's own variances, in words."""
    rep = compute.propagate(dataclasses.replace(s, lsuv=True)).lsuv
    own = None if s.lsuv else figures.pre_var(s)
    return summaries.lsuv_lines(s, rep, own, figures.pre_var(orthogonal_start(s)))


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes: only its open part is drawn (the precomputed store keeps it for every
    preset that opens here)."""
    tv: TheoryView = views.get("theory", TheoryView())
    out: list[tuple[str, tuple[Any, ...]]] = []
    if not s.plain_mlp:  # the variance recursion per block; spectra and LSUV are hidden
        return [("propagate", (s,)), ("predict", (s,))] if tv.show == "phase" else []
    if tv.show == "phase":
        out.append(("phase", (s.activation, tv.sw2_max, tv.sb2_max)))
        out.append(("depth_curve", (s.activation, meanfield.bias_variance(s), tv.sw2_max)))
    elif tv.show == "spectra":
        for _, v in theory_pair(s, tv.vs):  # spectra, and the mean-field product of chi beside them
            out += [("jacobian", (v,)), ("predict", (v,))]
    else:
        out.append(("propagate", (dataclasses.replace(s, lsuv=True),)))
        out.append(("propagate", (orthogonal_start(s),)))
        if not s.lsuv:
            out.append(("propagate", (s,)))
    return out
