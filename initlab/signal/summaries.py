"""The Signal, Gradients and Compare pages' numbers in words: pure functions of results (no streamlit).

Every sentence with a number that those pages show is made here, so it can be unit-tested without a
page (tests/test_signal_summaries.py). The verdict boxes are :mod:`initlab.signal.verdict`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from initlab.numerics.format import fmt, pct
from initlab.signal import verdict
from initlab.signal.network import Result
from initlab.signal.scenario import NORM_NAMES

__all__ = ["architecture_line", "architecture_note", "compare_rows", "gradient_line", "mean_field_note", "summary_line"]




def architecture_line(s: Any) -> str:
    """What one block of the scenario's network computes, as a formula with its alpha and norm (markdown),
    and what the combination implies (a BatchNorm right after a bias cancels it). Empty for the plain MLP."""
    if s.plain_mlp:
        return ""
    norm = NORM_NAMES[s.norm] if s.norm != "none" else ""
    eps = f" (ε = {fmt(s.norm_eps)})" if norm else ""
    if not s.residual:
        text = f"Every layer: `h = f(N(h W + b))`, N a {norm}{eps} with γ = 1, β = 0."
    else:
        alpha = s.alpha()
        rule = {"inv_sqrt_depth": f" = 1/√{s.depth}", "fixup": " (Fixup: each branch's last layer starts at 0, its "
                f"first is scaled by {s.depth}^(-1/2))"}.get(s.residual_rule, "")
        if alpha == 0 and s.residual_rule == "fixed":
            rule = " (ReZero, SkipInit: the network starts as the identity; in training α is learned)"
        def nrm(x: str) -> str:
            return f"N({x})" if norm else x

        if s.norm_position == "pre":
            inner = (f"f({nrm('x')}) W + b" if s.branch_layers == 1
                     else f"f({nrm(f'f({nrm(chr(120))}) W₁ + b₁')}) W₂ + b₂")
            text = f"Every block: `h = h + α·B(h)`, `B(x) = {inner}`"
        else:
            inner = "f(x W + b)" if s.branch_layers == 1 else "f(x W₁ + b₁) W₂ + b₂"
            text = f"Every block: `h = {nrm('h + α·B(h)')}`, `B(x) = {inner}`"
        text += f", α = {fmt(alpha)}{rule}" + (f"; N a {norm}{eps} with γ = 1, β = 0." if norm else ".")
    if s.norm == "batch" and not s.residual:
        text += (" A BatchNorm subtracts each unit's batch mean, so the bias added right before it cancels "
                 "exactly: the bias init changes nothing here.")
    return text


def architecture_note(s: Any) -> str:
    """What the per-layer charts mean for a residual or normalised network (empty for the plain MLP)."""
    if s.plain_mlp:
        return ""
    rows = ("Each row of these charts is one block: layer l is block l's output h_l (the residual stream), "
            "its pre-activations the input of the block's last activation, its weight norms over the block's "
            f"{s.branch_layers} weight layer{'s' if s.branch_layers > 1 else ''}.") if s.residual else (
            "Pre-activations here are what the activation receives: z after the norm.")
    return f"{architecture_line(s)} {rows}"


def summary_line(res: Result, which: str) -> str:
    """One line of the numbers the verdict and the preset texts speak of (one element, not four metrics)."""
    lay = res.layers
    s = res.scenario
    col = lay[f"{which}_std"].to_numpy(dtype=float)
    depth = len(lay)
    fin = col[np.isfinite(col)]
    parts = [f"input mean **{fmt(res.input.mean)}**, std **{fmt(res.input.std)}**"
             + (f", from **{fmt(res.input.min)}** to **{fmt(res.input.max)}**" if s.inputs != "standard"
                else ""),
             f"std at layer 1 **{fmt(col[0])}**",
             f"at layer {depth} **{fmt(col[-1]) if np.isfinite(col[-1]) else 'inf/NaN'}**"]
    if depth > 2 and fin.size:
        parts.append(f"range over layers **{fmt(fin.min())} – {fmt(fin.max())}**")
    parts.append(f"first inf/NaN layer **{'none' if res.first_nonfinite_layer is None else res.first_nonfinite_layer}**")
    info = np.finfo(s.dtype)
    if res.first_nonfinite_layer is not None:
        parts.append(f"{s.dtype} overflows above **{fmt(float(info.max))}**")
    elif (lay[f"{which}_max"].to_numpy(dtype=float) == 0).any() and (lay[f"{which}_min"].to_numpy(dtype=float) == 0).any():
        parts.append(f"{s.dtype} rounds to 0 below **{fmt(float(info.smallest_subnormal))}**")
    sat = lay["frac_saturated"].to_numpy(dtype=float)
    if (sat > 0).any():
        parts.append(f"saturated in layer 1 **{pct(sat[0])}**" + (
            f", above it at most **{pct(np.nanmax(sat[1:]))}**" if depth > 1 else ""))
    ex_col = f"{which}_example_std"
    if ex_col in lay.columns:
        ex = lay[ex_col].to_numpy(dtype=float)
        parts.append(f"spread across examples at layer {depth} **{fmt(ex[-1])}**")
    return " · ".join(parts)


def gradient_line(res: Result) -> str:
    """The Gradients page's line of numbers: grad std at the top and at layer 1, the weight gradient's norm."""
    g = res.layers["grad_std"].to_numpy(dtype=float)
    w = res.layers["weight_grad_norm"].to_numpy(dtype=float)
    fw = w[np.isfinite(w)]
    if fw.size == len(w) and fw.size > 1 and fmt(fw.min()) == fmt(fw.max()):  # never "between 0 and 0"
        weights = [f"weight gradient norm **{fmt(fw[0])}** in every layer"]
    else:
        weights = [f"weight gradient norm at the top **{fmt(w[-1])}**, at layer 1 **{fmt(w[0])}**"] + (
            [f"between **{fmt(fw.min())}** and **{fmt(fw.max())}** over the layers"] if fw.size > 2 else [])
    return " · ".join([f"grad std at the top (layer {len(g)}) **{fmt(g[-1])}**", f"at layer 1 **{fmt(g[0])}**",
                       *weights])


def mean_field_note(why_none: str | None) -> str:
    """What the dotted mean-field curve beside a measured line means, or, given ``why_none`` (the
    theory's reason, :func:`initlab.theory.meanfield.why_no_curve`), why there is none."""
    if why_none is not None:
        return f"(No mean-field curve: {why_none}.)"
    return ("Dotted: the infinite-width (mean-field) prediction. At a finite width the measured line wanders "
            "away from it, typically by a relative amount of order √(depth / width) (less where the activation "
            "pulls the signal back, as tanh does).")


def compare_rows(results: Sequence[tuple[str, Result]], which: str, depth: int) -> list[dict[str, Any]]:
    """The Compare page's table: each compared scenario's verdicts and stds."""
    rows = []
    for label, r in results:
        v = r.scenario
        sv = verdict.signal_verdict(r.layers, which, first=verdict.first_layer(r), dtype=v.dtype)
        gv = verdict.gradient_verdict(r.layers)
        std = r.layers[f"{which}_std"].to_numpy(dtype=float)
        fin = std[np.isfinite(std)]
        rows.append({"": label, "forward": sv.kind, "backward": gv.kind,
                     "std at layer 1": fmt(std[0]),
                     f"std at layer {depth}": fmt(std[-1]),
                     "std range over layers": f"{fmt(fin.min())} – {fmt(fin.max())}" if fin.size else "—",
                     "first inf/NaN layer": r.first_nonfinite_layer or "—",
                     "grad std, layer 1": fmt(r.layers["grad_std"].iloc[0])})
    return rows
