"""The Theory tab's numbers in words: pure functions of the theory and of results (no streamlit).

Where the scenario sits in mean-field theory, its depth scale against its depth, the Jacobian-spectra
table and what LSUV did, each a pure function unit-tested without a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab.numerics.format import fmt
from initlab.signal.lsuv import LsuvReport
from initlab.signal.scenario import Scenario
from initlab.signal.spectra import JacobianSpectra
from initlab.theory import meanfield as theory

__all__ = ["EDGE_BAND", "HIDDEN_LSUV", "HIDDEN_SPECTRA", "TRAINABLE_XI", "TheoryTexts", "architecture_words",
           "block_caption", "depth_line", "jacobian_note", "jacobian_table", "lsuv_lines", "theory_texts"]

# Schoenholz et al. (2017, Fig. 5-6): networks trained when their depth was below about 6 xi_c, not beyond.
TRAINABLE_XI = 6
EDGE_BAND = 0.01  # |chi1 - 1| below this: a network of a few hundred layers cannot tell the phases apart


@dataclass(frozen=True)
class TheoryTexts:
    """What the Theory page says about a scenario's place in mean-field theory."""

    point: tuple[float, float] | None  # (σw², σb²) on the phase diagram; None: the theory does not describe it
    sb2: float  # the σb² of the depth-scale curve: the scenario's bias variance
    intro: str  # where the scenario sits (or why it has no point)
    depth: str  # ξ_c against the network's depth


def _phase_word(chi: float) -> str:
    return "ordered" if chi < 1 - EDGE_BAND else "chaotic" if chi > 1 + EDGE_BAND else "at the edge of chaos"


def theory_texts(s: Scenario, sw2_max: float, sb2_max: float) -> TheoryTexts:
    """The scenario's point, phase, edge of chaos and depth scale in words, for a phase diagram drawn over
    [0, sw2_max] x [0, sb2_max] (a point or an edge beyond it is said to be beyond it)."""
    act = s.activation
    sb2 = theory.bias_variance(s)
    if not s.plain_mlp:
        return TheoryTexts(None, sb2, _block_intro(s), "")
    point = theory.scenario_sigmas(s)
    crit = float(theory.critical_sw2(act, sb2))
    edge = (f"the edge of chaos for {act} at σb² = {fmt(sb2)} is at **σw² = {fmt(crit)}**"
            if math.isfinite(crit) else f"{act} has no edge of chaos at σb² = {fmt(sb2)}")
    if math.isfinite(crit) and crit > sw2_max:
        edge += f", beyond this diagram (raise “σw² up to” above {fmt(crit)} to see it)"
    if point is None:
        why = theory.why_no_point(s)
        intro = f"This scenario has no point on the diagram: {why}. For its activation and bias, {edge}."
        return TheoryTexts(None, sb2, intro, "")
    sw2 = point[0]
    chi = float(theory.chi1(act, sw2, sb2))
    intro = (f"This scenario: {act}, **σw² = {fmt(sw2)}**, **σb² = {fmt(sb2)}**, **χ₁ = {fmt(chi)}** "
             f"({_phase_word(chi)}); {edge}.")
    if sw2 > sw2_max or sb2 > sb2_max:
        intro += " The scenario itself lies beyond the diagram's range: its marker sits on the border."
    if chi > 1 + EDGE_BAND:
        c_star = float(theory.correlation_fixed_point(act, sw2, sb2))
        if math.isfinite(c_star):
            intro += (f" In this chaotic phase a small difference between two inputs grows only until their "
                      f"correlation reaches **c\\* = {fmt(c_star)}**: nearby inputs end up about as different as "
                      "unrelated ones.")
    return TheoryTexts(point, sb2, intro, depth_line(s, sw2, sb2, chi))


def depth_line(s: Scenario, sw2: float, sb2: float, chi: float) -> str:
    """ξ_c of the scenario against its depth, in words (Schoenholz et al. 2017)."""
    xi_c = float(theory.depth_scales(s.activation, sw2, sb2)[1])
    if math.isnan(xi_c):  # q* = inf: the variance of the signal never settles
        if chi > 1 + EDGE_BAND:
            return (f"No depth scale here: with {s.activation} at χ₁ = {fmt(chi)} > 1 the variance of the signal "
                    "grows without bound (q\\* = ∞), so there is no fixed point to settle to.")
        adds = f": each layer adds the bias variance σb² = {fmt(sb2)}" if sb2 > 0 else ""
        return (f"No depth scale here: at χ₁ = {fmt(chi)}, on the edge, the variance of the signal still creeps up "
                f"from layer to layer without settling (q\\* = ∞){adds}; small differences between inputs neither "
                "grow nor shrink fast.")
    if math.isinf(xi_c):
        return ("ξ_c is infinite here: exactly at the edge of chaos, a small difference between two inputs neither "
                "shrinks nor grows from layer to layer (to first order).")
    ratio = s.depth / xi_c if xi_c > 0 else math.inf
    head = f"ξ_c here: **{fmt(xi_c)} layers**, against a depth of **{s.depth}** ({fmt(ratio)} ξ_c)"
    chaotic = chi > 1 + EDGE_BAND
    if ratio <= 1:
        return head + (": the correlation of two inputs is still far from c\\* at the top." if chaotic else
                       ": the top still sees most of the difference between two inputs.")
    # In the ordered phase 1 - c decays to 0 (inputs merge); in the chaotic one c settles at c* < 1 (how
    # alike two inputs were is forgotten): either way the top forgets over a few xi_c.
    forgotten = (f"every pair of inputs has settled at the correlation c\\* to within e^-{fmt(ratio)}: how alike "
                 "two inputs were is forgotten" if chaotic else
                 f"the difference between two inputs has faded by a factor e^{fmt(ratio)}")
    if ratio <= TRAINABLE_XI:
        return (head + f": within the ~{TRAINABLE_XI} ξ_c up to which Schoenholz et al. (2017) could still train "
                f"such networks, although by the top {forgotten}.")
    return (head + f": beyond the ~{TRAINABLE_XI} ξ_c up to which Schoenholz et al. (2017) could train such "
            f"networks; by the top, {forgotten}.")


def jacobian_table(pair: Sequence[tuple[str, JacobianSpectra, np.ndarray | None]]) -> list[dict[str, Any]]:
    """Rows of the Jacobian-spectra table: per initializer and depth, the largest and smallest singular
    values (below the rounding floor: said so, not quoted), how many lie below that floor, the mean of
    s² and its mean-field prediction ∏ χ_l (``chi``: the per-layer χ of :func:`initlab.theory.meanfield.predict`)."""
    rows = []
    for label, sp, chi in pair:
        summ = sp.summary()
        n = sp.singular_values.shape[1]
        for k, d in enumerate(summ["depth"]):
            big, small, below, floor = summ["max"][k], summ["min"][k], summ["below_floor"][k], summ["floor"][k]
            noisy = bool(np.isfinite(below) and below > 0)
            if np.isfinite(below) and below == n:  # every value is rounding: nothing measured to quote
                rows.append({"initializer": label, "layer": int(d), "largest": "—",
                             "smallest": f"all below {fmt(floor)} (rounding floor)", "largest / smallest": "—",
                             "below the rounding floor": f"{n} of {n}", "mean of s²": "—",
                             "mean-field ∏ χ_l": "—" if chi is None else fmt(float(np.prod(chi[: int(d)])))})
                continue
            rows.append({
                "initializer": label, "layer": int(d), "largest": fmt(big),
                # Words, not "<" / ">": a cell starting with ">" is a quote in a markdown table.
                "smallest": f"below {fmt(floor)} (rounding floor)" if noisy else fmt(small),
                "largest / smallest": f"at least {fmt(big / floor)}" if noisy else fmt(summ["condition"][k]),
                "below the rounding floor": "—" if not np.isfinite(below) else f"{int(below)} of {n}",
                "mean of s²": fmt(summ["mean_sq"][k]),
                "mean-field ∏ χ_l": "—" if chi is None else fmt(float(np.prod(chi[: int(d)]))),
            })
    return rows


def jacobian_note(s: Scenario, texts: TheoryTexts, pred: theory.Prediction | None) -> str | None:
    """Why the mean of s² of a network at the edge of chaos still moves: χ₁ = 1 holds at the fixed point
    q*, and the inputs enter elsewhere (None when the scenario is not at the edge, or enters at q*).
    ``pred`` is :func:`initlab.theory.meanfield.predict` of ``s``."""
    if texts.point is None:
        return None
    sw2, sb2 = texts.point
    act = s.activation
    chi = float(theory.chi1(act, sw2, sb2))
    q_star = float(theory.fixed_point(act, sw2, sb2))
    if pred is None or abs(chi - 1) >= EDGE_BAND or not math.isfinite(q_star):
        return None
    q1 = float(pred.pre_std[0] ** 2)
    if abs(q1 - q_star) <= 0.1 * max(q_star, 1e-12):
        return None
    return (f"Why the mean of s² still moves although χ₁ = 1: χ₁ is the factor per layer *at the fixed point* "
            f"q\\* = {fmt(q_star)}, and these inputs enter at q = {fmt(q1)}. Until q settles, each layer multiplies "
            f"s² by its own χ_l (layer 1: {fmt(float(pred.chi[0]))}). Mean-field theory's product ∏ χ_l is in the "
            f"table's last column; at a finite width one input's Jacobian wanders around it, by a factor of order "
            f"exp(√(depth / width)) = {fmt(math.exp(math.sqrt(s.depth / s.width)))} here.")


def lsuv_lines(s: Scenario, report: LsuvReport, own_var: np.ndarray | None, start_var: np.ndarray | None
               ) -> tuple[str, ...]:
    """What LSUV did to ``s`` in words: the scenario's own variances, the orthogonal start's, and LSUV's
    rescalings (none needed, how many, which layers did not converge)."""
    lines = []
    depth = report.iterations.size
    if own_var is not None:
        lines.append(f"With {s.init} as initialized, Var(z) is **{fmt(own_var[0])}** at layer 1 and "
                     f"**{fmt(own_var[-1])}** at layer {depth}.")
    if start_var is not None:
        lines.append(f"From orthogonal weights, before any rescaling: **{fmt(start_var[0])}** at layer 1 and "
                     f"**{fmt(start_var[-1])}** at layer {depth}.")
    it, ok = report.iterations, report.converged
    total, rescaled = int(it.sum()), int((it > 0).sum())
    good = report.var_after[ok]
    lo, hi = (fmt(float(good.min())), fmt(float(good.max()))) if good.size else ("", "")
    span = f"Var(z) is **{lo}**" if lo == hi else f"Var(z) lies between **{lo}** and **{hi}**"
    stuck = int(((it == 0) & ~ok).sum())  # Var(z) 0 or not finite: no scale can fix it, none was tried
    failed = int(((it > 0) & ~ok).sum())  # tried max_iter times, still not within tol
    if total == 0 and ok.all():
        lines.append(f"LSUV rescaled nothing: every layer of the orthogonal start was already within "
                     f"{fmt(report.tol)} of 1 ({span}), so its line lies under LSUV's.")
    elif total:
        most = int(it.max())
        each = ("once each" if most == 1 else f"at most **{most}** times for one layer")
        where = "in every layer" if ok.all() else f"in the {int(ok.sum())} layers that reached it"
        lines.append(f"LSUV rescaled **{rescaled}** of the {depth} layers, **{total}** rescalings in all ({each})"
                     + (f"; after it, {span} {where}." if good.size else "."))
    if failed:
        lines.append(f"**{failed}** layer{'s' if failed > 1 else ''} did not reach 1 within {fmt(report.tol)} in "
                     f"{report.max_iter} tries: with biases of variance σb², Var(z) is at least σb², so a bias "
                     "variance of 1 or more cannot be rescaled away.")
    if stuck:
        lines.append(f"**{stuck}** layer{'s' if stuck > 1 else ''} could not be rescaled at all: Var(z) is 0 or not "
                     "finite there (every unit dead or constant, or an overflow), and no scale changes that.")
    return tuple(lines)


# ----------------------------------------------------------------------- residual and normalised networks

HIDDEN_SPECTRA = ("No Jacobian spectra for this network: initlab's spectra multiply the Jacobians of plain "
                  "layers, and a residual or normalised block's Jacobian is another matrix.")
HIDDEN_LSUV = ("No LSUV for this network: LSUV rescales plain layers one after the other; it is not defined for "
               "residual or normalised blocks (initlab refuses the combination).")


def architecture_words(s: Scenario) -> str:
    """``residual blocks (pre-norm LayerNorm, 2 layers per branch, α = 1)``: the network in words."""
    norm = {"batch": "BatchNorm", "layer": "LayerNorm"}.get(s.norm, "")
    if not s.residual:
        return f"plain layers with a {norm} after every linear layer"
    parts = [f"{s.norm_position}-norm {norm}" if norm else "no normalization",
             f"{s.layers_per_block} layer{'s' if s.layers_per_block > 1 else ''} per branch"]
    rule = s.residual_rule
    parts.append("Fixup" if rule == "fixup" else
                 f"α = 1/√{s.depth} = {fmt(s.alpha())}" if rule == "inv_sqrt_depth" else f"α = {fmt(s.alpha())}")
    return f"residual blocks ({', '.join(parts)})"


def _block_intro(s: Scenario) -> str:
    """What the Theory tab computes for a residual or normalised network and what it hides, with why."""
    why = theory.why_not_plain(s)
    curve = theory.why_no_curve(s)
    computes = ("the mean-field variance recursion per block, drawn below against the variance measured on "
                "this network" if curve is None else
                f"no mean-field recursion either ({curve}); below, the variance measured on this network")
    return (f"This network has {architecture_words(s)}. It has no point on the σw²–σb² diagram: {why}. "
            f"What this tab computes for it: {computes}. What it hides: the phase diagram and the depth scales "
            "ξ_q, ξ_c (drawn for plain layers, for the reason above), the Jacobian spectra (initlab's are for "
            "plain layers) and LSUV (not defined for residual or normalised blocks).")


_GRADIENT_AT = {True: "∂loss/∂h_l at each block's output", False: "∂loss/∂z_l at each linear output"}


def block_caption(s: Scenario, pred: theory.Prediction | None, measured_var: np.ndarray, grad_std: np.ndarray
                  ) -> str:
    """The caption of the Theory tab's variance-per-block chart, its numbers from the computation:
    ``pred`` (:func:`initlab.theory.meanfield.predict`, None where the theory does not apply),
    ``measured_var`` the measured Var(h_l) per block and ``grad_std`` the measured per-block gradient std (the engine's ``grad_std``).

    The recursion said is the one :func:`initlab.theory.meanfield.predict` computes (its
    ``_predict_blocks`` docstring): pre-norm q_l = q_(l-1) + α²(σw² E[φ(a)²] + σb²) (Yang &
    Schoenholz 2017 for the unnormalised stream), post-norm and plain + norm: the norm resets q."""
    depth = measured_var.size
    meas = (f"Measured Var(h): **{fmt(float(measured_var[0]))}** after block 1 and "
            f"**{fmt(float(measured_var[-1]))}** after block {depth}")
    if pred is None:
        return f"Solid: the variance of every block's output, measured. {meas}."
    q = pred.act_std.astype(float) ** 2
    input_var = theory.input_variance(s)
    if not s.residual:
        rule = (f"With a norm after every linear layer, φ's input u has variance **{fmt(float(pred.pre_std[-1] ** 2))}** "
                f"(var / (var + ε)) in every layer, so h_l = φ(u) has mean-field variance **{fmt(float(q[-1]))}** "
                "whatever σw²")
    elif s.norm_position == "post" and s.norm != "none":
        rule = (f"The norm after every block sets the stream's variance back to **{fmt(float(q[-1]))}** "
                "(var / (var + ε)), whatever the branch added")
    else:
        steps = np.diff(np.r_[input_var, q])
        if s.norm != "none":
            rule = (f"Mean field: q_l = q_(l−1) + α²(σw² E[φ(u)²] + σb²), u normalised, so each block adds about "
                    f"the same amount: **{fmt(float(steps[0]))}** in block 1, **{fmt(float(steps[-1]))}** in block "
                    f"{depth}: linear growth")
        else:
            ratio = q[0] / input_var if input_var > 0 else math.nan
            rule = (f"Mean field: q_l = q_(l−1) + α²(σw² E[φ(h)²] + σb²); without a norm E[φ(h)²] grows with "
                    f"q_(l−1), so the variance is multiplied by about **{fmt(float(ratio))}** in block 1")
    with np.errstate(all="ignore"):
        g_pred = float((pred.grad_std[0] / pred.grad_std[-1]) ** 2)
        g_meas = float((grad_std[0] / grad_std[-1]) ** 2)
    back = (f" Backward, the variance of the gradient {_GRADIENT_AT[s.residual]} grows by a factor "
            f"**{fmt(g_pred)}** from block {depth} down to block 1 in mean field (the product of the blocks' χ_l), "
            f"**{fmt(g_meas)}** measured." if depth > 1 else "")
    return (f"Solid: the variance of every block's output h_l, measured; dotted: the mean-field q_l. {rule}. "
            f"Predicted **{fmt(float(q[0]))}** after block 1 and **{fmt(float(q[-1]))}** after block {depth}; "
            f"{meas[0].lower()}{meas[1:]}.{back}")
