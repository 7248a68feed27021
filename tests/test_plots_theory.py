"""Figures of the Theory page (initlab.plots_theory), built from real results of the core."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from initlab import plots, plots_theory, propagate, theory
from initlab.scenario import Scenario


def annotation(fig: go.Figure, start: str) -> go.layout.Annotation:
    hits = [a for a in fig.layout.annotations if (a.text or "").startswith(start)]
    assert len(hits) == 1, [a.text for a in fig.layout.annotations]
    return hits[0]


def log_span(fig: go.Figure) -> tuple[float, float]:
    """log10 of the smallest and largest positive y the traces draw."""
    ys = np.concatenate([np.asarray(t.y, dtype=float) for t in fig.data if t.y is not None])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    return float(np.log10(ys.min())), float(np.log10(ys.max()))


@pytest.fixture(scope="module")
def tanh_lsuv() -> tuple[Scenario, object]:
    s = Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=20, width=64, batch=32)
    return s, propagate(s.replace(lsuv=True)).lsuv


@pytest.fixture(scope="module")
def relu_curve() -> theory.DepthScaleCurve:
    return theory.depth_scale_curve("relu", np.linspace(0.02, 4.0, 200), 0.0)


# ------------------------------------------------------------------------------ labels on log axes


@pytest.mark.parametrize("depth", [10, 100, 1000])
def test_depth_scale_network_label_is_at_log10_depth_inside_the_axis(relu_curve, depth):
    fig = plots_theory.depth_scale_figure(relu_curve, 1.5, depth)
    assert plots.axis_is_log(fig)
    label = annotation(fig, "this network")
    assert label.text == f"this network: {depth} layers"
    assert label.y == pytest.approx(math.log10(depth)) and label.yref == "y"
    lo, hi = fig.layout.yaxis.range
    assert lo < label.y < hi


def test_lsuv_target_label_is_at_log10_of_1_inside_the_data(tanh_lsuv):
    s, rep = tanh_lsuv
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    fig = plots_theory.lsuv_figure(rep, own, "N(0, 0.01)")
    label = annotation(fig, "target variance 1")
    assert plots.axis_is_log(fig) and label.y == 0.0 and label.yref == "y"
    lo, hi = log_span(fig)
    assert lo <= label.y <= hi
