"""Figures of the Theory page: phase diagram, depth scales, Jacobian spectra, LSUV.

Pure functions, same conventions as :mod:`initlab.plots` (Okabe-Ito colours, no theme colours, no SI
suffixes, float data in, ``go.Figure`` out, no randomness).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from initlab.lsuv import LsuvReport
from initlab.plots import _finish, colour, dash, ref_line
from initlab.spectra import JacobianSpectra
from initlab.theory import DepthScaleCurve, PhaseDiagram

__all__ = ["depth_scale_figure", "lsuv_figure", "phase_figure", "spectra_figure"]

# log2(chi1) is clipped to +-CHI_CLIP for the colours: a factor 8 per layer is already "fast".
CHI_CLIP = 3.0


def phase_figure(pd_: PhaseDiagram, point: tuple[float, float] | None, label: str = "this scenario") -> go.Figure:
    """chi1 over (sigma_w^2, sigma_b^2) as colour (log2: blue ordered < 0 < red chaotic), the critical
    line chi1 = 1 and the scenario's point."""
    with np.errstate(all="ignore"):
        z = np.clip(np.log2(pd_.chi1), -CHI_CLIP, CHI_CLIP)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=pd_.sw2.astype(np.float32), y=pd_.sb2.astype(np.float32), z=z.astype(np.float32), zmid=0,
        zmin=-CHI_CLIP, zmax=CHI_CLIP, colorscale="RdBu_r", customdata=pd_.chi1.astype(np.float32),
        colorbar=dict(title=dict(text="log₂ χ₁"), tickvals=[-3, -2, -1, 0, 1, 2, 3],
                      ticktext=["≤ ⅛", "¼", "½", "1", "2", "4", "≥ 8"]),
        hovertemplate="σw² %{x:.3g}<br>σb² %{y:.3g}<br>χ₁ %{customdata:.3g}<extra></extra>", name="χ₁",
    ))
    ok = np.isfinite(pd_.critical_sw2)
    fig.add_trace(go.Scatter(x=pd_.critical_sw2[ok], y=pd_.sb2[ok], mode="lines", name="edge of chaos (χ₁ = 1)",
                             line=dict(color="black", width=3)))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers+text", name=label, text=[label],
                                 textposition="top center", marker=dict(size=14, symbol="x", color=colour(1),
                                                                          line=dict(width=2))))
    fig.update_xaxes(range=[float(pd_.sw2[0]), float(pd_.sw2[-1])])
    fig.update_yaxes(range=[float(pd_.sb2[0]), float(pd_.sb2[-1])])
    return _finish(fig, "σw² (weight variance × fan-in)", "σb² (bias variance)")


def depth_scale_figure(curve: DepthScaleCurve, sw2: float | None, depth: int) -> go.Figure:
    """The depth scales xi_c (correlations) and xi_q (lengths) against sigma_w^2 at the scenario's
    sigma_b^2, the critical sigma_w^2 (xi_c diverges), the scenario's sigma_w^2 and its depth."""
    fig = go.Figure()
    for i, (name, ys) in enumerate((("ξ_c: depth over which inputs stay distinguishable", curve.xi_c),
                                    ("ξ_q: depth over which the signal's size settles", curve.xi_q))):
        y = np.where(np.isfinite(ys) & (ys > 0), ys, np.nan)
        fig.add_trace(go.Scatter(x=curve.sw2, y=y, mode="lines", name=name, line=dict(color=colour(i), dash=dash(i))))
    # xi diverges at the critical point: the axis stops two decades above the network's depth so that
    # the finite part stays readable (the peak runs off the top, as a divergence should).
    top = max(1e3, 100.0 * depth)
    fig.update_yaxes(type="log", range=[math.log10(0.3), math.log10(top)])
    ref_line(fig, y=depth, text=f"this network: {depth} layers")
    if math.isfinite(curve.critical_sw2):
        ref_line(fig, x=curve.critical_sw2, text=f"critical σw² = {curve.critical_sw2:.3g}", position="top right",
                 line=dict(color="black", width=1))
    if sw2 is not None:
        ref_line(fig, x=sw2, text=f"this scenario: {sw2:.3g}", position="bottom right",
                 line=dict(color=colour(1), dash="dash"))
    return _finish(fig, "σw² (weight variance × fan-in)", "depth scale ξ (layers)", hovermode="x unified")


def spectra_figure(spectra: Mapping[str, JacobianSpectra]) -> go.Figure:
    """Histograms of the singular values of dh_l/dh_0 (log10 axis), one panel per depth, one colour per
    initializer."""
    first = next(iter(spectra.values()))
    depths = [int(d) for d in first.depths]
    fig = make_subplots(rows=1, cols=len(depths), shared_yaxes=True,
                        subplot_titles=[f"layer {d}" for d in depths])
    for i, (label, sp) in enumerate(spectra.items()):
        for k, _ in enumerate(depths):
            s = sp.singular_values[k]
            with np.errstate(all="ignore"):
                x = np.log10(s[np.isfinite(s) & (s > 0)])
            fig.add_trace(go.Histogram(x=x.astype(np.float32), name=label, legendgroup=label, showlegend=k == 0,
                                       marker=dict(color=colour(i)), opacity=0.65, nbinsx=40,
                                       hovertemplate="log₁₀ s %{x}<br>%{y} values<extra>" + label + "</extra>"),
                          row=1, col=k + 1)
            fig.update_xaxes(title_text="log₁₀ singular value", row=1, col=k + 1)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="count", row=1, col=1)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.12, xanchor="left", x=0.0),
                      margin=dict(l=60, r=20, t=90, b=50))
    return fig


def lsuv_figure(report: LsuvReport, own_var: np.ndarray | None, own_label: str) -> go.Figure:
    """Per-layer variance of the pre-activations: with the scenario's own initializer, at LSUV's
    orthogonal start (before each layer is rescaled) and after; the target 1 as a grey line."""
    layers = np.arange(1, report.var_after.size + 1)
    fig = go.Figure()
    traces = [("LSUV: orthogonal start, before rescaling", report.var_before),
              ("LSUV: after rescaling", report.var_after)]
    if own_var is not None:
        traces.insert(0, (own_label, own_var))
    for i, (name, v) in enumerate(traces):
        y = np.where(np.isfinite(v) & (v > 0), v, np.nan)
        fig.add_trace(go.Scatter(x=layers, y=y, mode="lines+markers" if layers.size <= 60 else "lines", name=name,
                                 line=dict(color=colour(i), dash=dash(i))))
    fig.update_yaxes(type="log")
    ref_line(fig, y=1.0, text="target variance 1")
    return _finish(fig, "layer", "Var(z) over the batch", hovermode="x unified")
