"""Every chart the pages draw, by name: a builder per figure, a pure function of hashable arguments that
reads the cached core and calls :mod:`initlab.plots`; :func:`chart` draws one, built once per (name,
arguments) for every session (``cache.figure``), so no figure can be served for inputs it was not built
from. The precomputed store records the charts of every preset page by these names.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from initlab.ui.results import cache as compute
from initlab.pages import orthogonal_start
from initlab.plots import signal as plots
from initlab.plots import theory as plots_theory
from initlab.plots import training as plots_training
from initlab.plots import units as plots_units
from initlab.signal.network import Result
from initlab.signal.scenario import Scenario
from initlab.training.engine import TrainResult
from initlab.training.scenario import TrainScenario

def label(s: Scenario) -> str:
    return f"{s.init} + {s.activation}"


def mean_field(s: Scenario, column: str) -> dict[str, np.ndarray] | None:
    """The mean-field curve of ``column`` for ``s``, capped at the dtype's range (beyond it: inf)."""
    pred = compute.predict(s)
    if pred is None:
        return None
    curve = getattr(pred, column)
    with np.errstate(all="ignore"):
        return {label(s): np.where(curve <= np.finfo(s.dtype).max, curve, np.inf)}


def _results(scenarios: tuple[tuple[str, Scenario], ...]) -> dict[str, Result]:
    return {label: compute.propagate(s) for label, s in scenarios}


def _fig_signal(s: Scenario, column: str) -> go.Figure:
    return plots.signal_figure({label(s): compute.propagate(s)}, column, theory=mean_field(s, column))


def _fig_gradient(s: Scenario, column: str, with_theory: bool) -> go.Figure:
    theory = mean_field(s, column) if with_theory else None
    return plots.gradient_figure({label(s): compute.propagate(s)}, column, theory=theory)


def _fig_plain_signal(s: Scenario, column: str) -> go.Figure:
    return plots.signal_figure({label(s): compute.propagate(s)}, column)


def _fig_heatmap(s: Scenario, which: str) -> go.Figure:
    return plots.heatmap_figure(compute.propagate(s), which)


def _fig_spread(s: Scenario, which: str) -> go.Figure:
    return plots.spread_figure(compute.propagate(s), which)


def _fig_fractions(scenarios: tuple[tuple[str, Scenario], ...]) -> go.Figure:
    return plots.fractions_figure(_results(scenarios))


def _curves(scenarios: tuple[tuple[str, Scenario], ...], column: str) -> dict[str, np.ndarray]:
    """Each compared scenario's mean-field curve of ``column`` (where the theory has one), by label."""
    out: dict[str, np.ndarray] = {}
    for lab, s in scenarios:
        curve = mean_field(s, column)
        if curve is not None:
            out[lab] = next(iter(curve.values()))
    return out


def _fig_cmp_signal(scenarios: tuple[tuple[str, Scenario], ...], column: str, with_theory: bool = False
                    ) -> go.Figure:
    return plots.signal_figure(_results(scenarios), column,
                               theory=_curves(scenarios, column) if with_theory else None)


def _fig_cmp_gradient(scenarios: tuple[tuple[str, Scenario], ...], with_theory: bool = False) -> go.Figure:
    return plots.gradient_figure(_results(scenarios), "grad_std",
                                 theory=_curves(scenarios, "grad_std") if with_theory else None)


def _fig_ranges(inits: tuple[str, ...], n_max: int, m: int, seed: int, log_n: bool) -> go.Figure:
    return plots.ranges_figure(compute.range_curves(inits, n_max, m, seed), log_n=log_n)


def _fig_phase(activation: str, sw2_max: float, sb2_max: float, point: tuple[float, float] | None) -> go.Figure:
    return plots_theory.phase_figure(compute.phase(activation, sw2_max, sb2_max), point)


def _fig_depth_scale(activation: str, sb2: float, sw2_max: float, sw2: float | None, depth: int) -> go.Figure:
    return plots_theory.depth_scale_figure(compute.depth_curve(activation, sb2, sw2_max), sw2, depth)


def _fig_spectra(scenarios: tuple[tuple[str, Scenario], ...], k: int) -> go.Figure:
    return plots_theory.spectra_panel({label: compute.jacobian(v) for label, v in scenarios}, k)


def _fig_lsuv(s: Scenario) -> go.Figure:
    with_lsuv = compute.propagate(dataclasses.replace(s, lsuv=True))
    own = None if s.lsuv else pre_var(s)
    return plots_theory.lsuv_figure(with_lsuv.lsuv, own, f"{s.init}, as initialized",
                                    start_var=pre_var(orthogonal_start(s)))


def _fig_block_variance(s: Scenario) -> go.Figure:
    pred = compute.predict(s)
    measured = compute.propagate(s).layers["act_std"].to_numpy(dtype=float) ** 2
    return plots_theory.block_variance_figure(measured, None if pred is None else pred.act_std ** 2, label(s))


def pre_var(s: Scenario) -> np.ndarray:
    return compute.propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2


Pairs = tuple[tuple[str, TrainScenario], ...]


def trained(pairs: Pairs) -> dict[str, TrainResult]:
    return dict(zip((label for label, _ in pairs), compute.train(tuple(ts for _, ts in pairs))))


def _fig_train_curves(pairs: Pairs, what: str, step: int) -> go.Figure:
    return plots_training.curves_figure(trained(pairs), what, step)


def _fig_train_points(pairs: Pairs) -> go.Figure:
    return plots_training.accuracy_points_figure(trained(pairs))


def _fig_boundary(pairs: Pairs, restart: int, step: int, k: int) -> go.Figure:
    return plots_training.boundary_panel(trained(pairs), k, restart, step)


def _fig_distinct(pairs: Pairs, k: int) -> go.Figure:
    return plots_training.distinct_panel(trained(pairs), k)


def _fig_grad_norms(pairs: Pairs, what: str) -> go.Figure:
    return plots_training.grad_norm_figure(trained(pairs), what=what)


def _fig_grad_norm_panel(pairs: Pairs, what: str, k: int) -> go.Figure:
    return plots_training.grad_norm_panel(trained(pairs), k, what)


def _fig_distinct_fan(pairs: Pairs, k: int) -> go.Figure:
    return plots_training.distinct_fan_panel(trained(pairs), k)


def _fig_alpha(pairs: Pairs, k: int) -> go.Figure:
    return plots_training.alpha_panel(trained(pairs), k)


def _fig_norm_param(pairs: Pairs, k: int) -> go.Figure:
    """Panel k of the norms' rows: network k // 2, its gamma (k even) or beta (k odd), side by side."""
    return plots_training.norm_param_panel(trained(pairs), k // 2, ("gamma", "beta")[k % 2])


def _fig_confusion(pairs: Pairs, restart: int, step: int, k: int) -> go.Figure:
    return plots_units.confusion_panel(trained(pairs), k, restart, step)


def _fig_misclassified(pairs: Pairs, restart: int, step: int, k: int) -> go.Figure:
    return plots_units.misclassified_panel(trained(pairs), k, restart, step)


def _fig_weight_images(pairs: Pairs, restart: int, step: int, k: int) -> go.Figure:
    return plots_units.weight_images_panel(trained(pairs), k, restart, step)


def _fig_unit_maps(pairs: Pairs, restart: int, step: int, layer: int, k: int) -> go.Figure:
    return plots_units.unit_maps_panel(trained(pairs), k, restart, step, layer)


def _fig_unit_share(pairs: Pairs, which: str) -> go.Figure:
    return plots_units.unit_share_figure(trained(pairs), which)


def _fig_unit_share_panel(pairs: Pairs, which: str, k: int) -> go.Figure:
    return plots_units.unit_share_panel(trained(pairs), k, which)


def _fig_update_ratio(pairs: Pairs) -> go.Figure:
    return plots_units.update_ratio_figure(trained(pairs))


def _fig_update_ratio_panel(pairs: Pairs, k: int) -> go.Figure:
    return plots_units.update_ratio_panel(trained(pairs), k)


FIGURES: dict[str, Callable[..., go.Figure]] = {
    "confusion": _fig_confusion, "misclassified": _fig_misclassified, "weight_images": _fig_weight_images,
    "unit_maps": _fig_unit_maps, "unit_share": _fig_unit_share, "unit_share_panel": _fig_unit_share_panel,
    "update_ratio": _fig_update_ratio, "update_ratio_panel": _fig_update_ratio_panel,
    "train_curves": _fig_train_curves, "train_points": _fig_train_points, "boundary": _fig_boundary,
    "distinct": _fig_distinct, "grad_norms": _fig_grad_norms, "grad_norm_panel": _fig_grad_norm_panel,
    "distinct_fan": _fig_distinct_fan, "alpha": _fig_alpha, "norm_param": _fig_norm_param,
    "phase": _fig_phase, "depth_scale": _fig_depth_scale, "block_variance": _fig_block_variance, "spectra": _fig_spectra, "lsuv": _fig_lsuv,
    "signal": _fig_signal, "gradient": _fig_gradient, "plain_signal": _fig_plain_signal, "heatmap": _fig_heatmap,
    "spread": _fig_spread, "fractions": _fig_fractions, "cmp_signal": _fig_cmp_signal,
    "cmp_gradient": _fig_cmp_gradient, "ranges": _fig_ranges,
}


CHART = {"displaylogo": False}  # plotly's own PNG export (camera icon) stays on every chart


def chart(name: str, *args: Any) -> go.Figure:
    """Draw ``FIGURES[name](*args)``, built once per (name, args) for all sessions; return the figure."""
    fig = compute.figure(name, args, FIGURES[name])
    st.plotly_chart(fig, width="stretch", config=CHART)
    return fig


def panels(name: str, count: int, *args: Any, per_row: int | None = None) -> None:
    """Charts ``FIGURES[name](*args, k)`` for k = 0 .. count - 1 (one panel each: an initializer, a depth),
    side by side in rows of ``per_row`` (default: all of them up to 3, else 2 a row).

    Streamlit stacks columns on a screen 640 px wide or less, so a phone shows one panel per row at its
    full width; one figure of side-by-side subplots cannot reflow and was squashed there."""
    per_row = per_row or (count if count <= 3 else 2)
    for first in range(0, count, per_row):
        cols = st.columns(per_row)  # a short last row keeps the others' column width
        for k in range(first, min(first + per_row, count)):
            with cols[k - first]:
                chart(name, *args, k)


def log_y(fig: go.Figure) -> bool:
    return fig.layout.yaxis.type == "log"


def working(text: str, name: str, *args: Any) -> contextlib.AbstractContextManager[Any]:
    """``st.spinner(text)`` around the drawing of chart ``name`` unless that figure is already built.

    A spinner costs a timer thread and one more message even when it never shows (Streamlit shows it
    after 0.5 s): for a class opening the same preset, nothing to wait for, so no spinner."""
    return contextlib.nullcontext() if compute.figure_ready(name, args) else st.spinner(text)
