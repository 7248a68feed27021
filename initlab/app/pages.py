"""The pages and the share / export boxes. No science here: read the page state, call the cached core,
draw the pure figures.

What a page computes from the (cached) results for its texts and tables is cached too, by exactly
the inputs it depends on (``_*_view`` functions through :func:`initlab.app.results.cache.shared`): a class
opening the same preset 200 times computes each verdict and table once.

Every page function takes the page state (``section id -> value``: ``values["net"]`` is the scenario,
``values["compare"]`` the Compare page's own settings, ...). Every control is built from the schema
(:mod:`initlab.app.controls`). Every chart goes through :func:`chart`, which caches the figure under the
builder's name and exactly the arguments the builder receives, so no figure can be served for inputs
it was not built from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import streamlit as st
from streamlit import dataframe_util

from initlab.theory import summaries
from initlab.training import summaries as train_summaries
from initlab.weights import initializers
from initlab.signal import lsuv
from initlab.plots import signal as plots
from initlab.plots import theory as plots_theory
from initlab.plots import training as plots_training
from initlab.app.results import products
from initlab.signal import spectra
from initlab.signal import verdict
from initlab.teaching.lessons import LESSONS
from initlab.app.links import LESSON_CONTROLS, differences
from initlab.signal.network import Result
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import BIASES_WITHOUT_VALUE, Scenario
from initlab.training.scenario import TRAIN, TrainScenario
from initlab.training.engine import TrainResult
from initlab.pages import (
    THEORY_PARTS, TRAINING, TRAINING_PARTS, CompareView, RangesView, SignalView, TheoryView, TrainView, train_comparison,
)
from initlab.app.results import cache as compute
from initlab.app import controls
from initlab.app import logs
from initlab.app import state

ss = st.session_state
VIEWS = compute.CACHE_ENTRIES * 4  # cached page texts and tables (small)
CHART = {"displaylogo": False}  # plotly's own PNG export (camera icon) stays on every chart
Values = Mapping[str, Any]


# ------------------------------------------------------------------------------------------- figures
# Builders: pure functions of their (hashable) arguments; results come from the cached core.


def _label(s: Scenario) -> str:
    return f"{s.init} + {s.activation}"


def _theory(s: Scenario, column: str) -> dict[str, np.ndarray] | None:
    """The mean-field curve of ``column`` for ``s``, capped at the dtype's range (beyond it: inf)."""
    pred = compute.predict(s)
    if pred is None:
        return None
    curve = getattr(pred, column)
    with np.errstate(all="ignore"):
        return {_label(s): np.where(curve <= np.finfo(s.dtype).max, curve, np.inf)}


def _results(scenarios: tuple[tuple[str, Scenario], ...]) -> dict[str, Result]:
    return {label: compute.propagate(s) for label, s in scenarios}


def _fig_signal(s: Scenario, column: str) -> go.Figure:
    return plots.signal_figure({_label(s): compute.propagate(s)}, column, theory=_theory(s, column))


def _fig_gradient(s: Scenario, column: str, with_theory: bool) -> go.Figure:
    theory = _theory(s, column) if with_theory else None
    return plots.gradient_figure({_label(s): compute.propagate(s)}, column, theory=theory)


def _fig_plain_signal(s: Scenario, column: str) -> go.Figure:
    return plots.signal_figure({_label(s): compute.propagate(s)}, column)


def _fig_heatmap(s: Scenario, which: str) -> go.Figure:
    return plots.heatmap_figure(compute.propagate(s), which)


def _fig_spread(s: Scenario, which: str) -> go.Figure:
    return plots.spread_figure(compute.propagate(s), which)


def _fig_fractions(scenarios: tuple[tuple[str, Scenario], ...]) -> go.Figure:
    return plots.fractions_figure(_results(scenarios))


def _fig_cmp_signal(scenarios: tuple[tuple[str, Scenario], ...], column: str) -> go.Figure:
    return plots.signal_figure(_results(scenarios), column)


def _fig_cmp_gradient(scenarios: tuple[tuple[str, Scenario], ...]) -> go.Figure:
    return plots.gradient_figure(_results(scenarios), "grad_std")


def _fig_ranges(inits: tuple[str, ...], n_max: int, m: int, seed: int, log_n: bool) -> go.Figure:
    return plots.ranges_figure(compute.range_curves(inits, n_max, m, seed), log_n=log_n)


def _fig_phase(activation: str, sw2_max: float, sb2_max: float, point: tuple[float, float] | None) -> go.Figure:
    return plots_theory.phase_figure(compute.phase(activation, sw2_max, sb2_max), point)


def _fig_depth_scale(activation: str, sb2: float, sw2_max: float, sw2: float | None, depth: int) -> go.Figure:
    return plots_theory.depth_scale_figure(compute.depth_curve(activation, sb2, sw2_max), sw2, depth)


def _fig_spectra(scenarios: tuple[tuple[str, Scenario], ...]) -> go.Figure:
    return plots_theory.spectra_figure({label: compute.jacobian(v) for label, v in scenarios})


def _fig_lsuv(s: Scenario) -> go.Figure:
    with_lsuv = compute.propagate(dataclasses.replace(s, lsuv=True))
    own = None if s.lsuv else _pre_var(s)
    return plots_theory.lsuv_figure(with_lsuv.lsuv, own, f"{s.init}, as initialized",
                                    start_var=_pre_var(products.orthogonal_start(s)))


Pairs = tuple[tuple[str, TrainScenario], ...]


def _trained(pairs: Pairs) -> dict[str, TrainResult]:
    return dict(zip((label for label, _ in pairs), compute.train(tuple(ts for _, ts in pairs))))


def _fig_train_curves(pairs: Pairs, what: str, step: int) -> go.Figure:
    return plots_training.curves_figure(_trained(pairs), what, step)


def _fig_train_points(pairs: Pairs) -> go.Figure:
    return plots_training.accuracy_points_figure(_trained(pairs))


def _fig_boundary(pairs: Pairs, restart: int, step: int) -> go.Figure:
    return plots_training.boundary_figure(_trained(pairs), restart, step)


def _fig_distinct(pairs: Pairs) -> go.Figure:
    return plots_training.distinct_figure(_trained(pairs))


def _fig_grad_norms(pairs: Pairs, what: str) -> go.Figure:
    return plots_training.grad_norm_figure(_trained(pairs), what=what)


@compute.shared(VIEWS)
def _never_positive(pairs: Pairs, what: str) -> str:
    """The lines the per-layer chart cannot draw (exactly 0 at every step), in words; "" if none."""
    results = _trained(pairs)
    zero = plots_training.never_positive(results, what)
    if not zero:
        return ""
    by: dict[str, list[int]] = {}
    for label, layer in zero:
        by.setdefault(label, []).append(layer)
    quantity = {"grad": "a gradient", "weight": "weights", "relative": "a gradient"}[what]
    parts = [f"{label}: {plots_training.layers_in_words(ls, results[label].grad_norm.shape[2])}"
             for label, ls in by.items()]
    return (f"Not drawn, since a log axis has no 0: {'; '.join(parts)} — {quantity} of exactly 0 at every step "
            "(median over restarts).")


FIGURES: dict[str, Callable[..., go.Figure]] = {
    "train_curves": _fig_train_curves, "train_points": _fig_train_points, "boundary": _fig_boundary,
    "distinct": _fig_distinct, "grad_norms": _fig_grad_norms,
    "phase": _fig_phase, "depth_scale": _fig_depth_scale, "spectra": _fig_spectra, "lsuv": _fig_lsuv,
    "signal": _fig_signal, "gradient": _fig_gradient, "plain_signal": _fig_plain_signal, "heatmap": _fig_heatmap,
    "spread": _fig_spread, "fractions": _fig_fractions, "cmp_signal": _fig_cmp_signal,
    "cmp_gradient": _fig_cmp_gradient, "ranges": _fig_ranges,
}


def chart(name: str, *args: Any) -> go.Figure:
    """Draw ``FIGURES[name](*args)``, built once per (name, args) for all sessions; return the figure."""
    fig = compute.figure(name, args, FIGURES[name])
    st.plotly_chart(fig, width="stretch", config=CHART)
    return fig


def log_y(fig: go.Figure) -> bool:
    return fig.layout.yaxis.type == "log"


# -------------------------------------------------------------------------------------------- helpers


def section(title: str | None, text: str) -> None:
    """A heading and its explanation as one element (each element is a message to every browser)."""
    st.markdown((f"##### {title}\n\n" if title else "") + f":gray[{text}]")


def working(text: str, name: str, *args: Any) -> contextlib.AbstractContextManager[Any]:
    """``st.spinner(text)`` around the drawing of chart ``name`` unless that figure is already built.

    A spinner costs a timer thread and one more message even when it never shows (Streamlit shows it
    after 0.5 s): for a class opening the same preset, nothing to wait for, so no spinner."""
    return contextlib.nullcontext() if compute.figure_ready(name, args) else st.spinner(text)


def run(s: Scenario) -> Result | None:
    """The cached result of ``s``, with a progress indicator when it must be computed; a message
    instead of a traceback."""
    # Always one placeholder element, spinner or not, so that the elements below keep their places
    # between a computed and a cached run. Streamlit shows the spinner only after 0.5 s, so a cached
    # result never flashes one; a cached result has no spinner at all (a timer thread and a message).
    holder = st.empty()
    try:
        if compute.propagate.has(s):  # type: ignore[attr-defined]
            return compute.propagate(s)
        with holder, st.spinner(f"Pushing {s.batch} examples through {s.depth} layers of {s.width} units…",
                                show_time=True):
            return compute.propagate(s)
    except compute.BusyError as exc:
        logs.warning("busy: %s (scenario %r)", exc, s)
        st.warning(f"Not computed: {exc}. Press R or change a control to retry.")
    except ValueError as exc:  # scenarios are repaired before they get here: this is a bug, log it
        logs.failure("propagate", exc, {"scenario": s})
        st.error(f"This scenario cannot be computed: {exc}")
    return None


def _verdict_box(v: verdict.Verdict) -> None:
    body = f"**{v.headline}**\n\n" + "\n".join(f"- {d}" for d in v.details)
    {"healthy": st.success, "vanishing": st.warning, "exploding": st.warning}.get(v.kind, st.error)(body)


def _theory_note(theory: dict[str, np.ndarray] | None) -> str:
    if theory is None:
        return "(No mean-field curve: weights with a non-zero mean give every unit a shared part.)"
    return ("Dotted: the infinite-width (mean-field) prediction. At a finite width the measured line wanders "
            "away from it, typically by a relative amount of order √(depth / width) (less where the activation "
            "pulls the signal back, as tanh does).")


def _scale_words(fig: go.Figure) -> str:
    if log_y(fig):
        return ("The axis is logarithmic: a straight rising line means the same factor is multiplied in at "
                "every layer (exploding); a straight falling one, vanishing.")
    return "The axis is linear: the values stay within two orders of magnitude of each other."


def static_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``rows`` for ``st.table``, the first column as the index (shown first, in bold). A static table
    costs the browser a fraction of what the interactive ``st.dataframe`` grid does (measured in
    benchmarks/bench_browser.py: its grid's scripts added ~0.3 s to a preset link); the Training and Theory
    tables are a few rows that need no sorting or scrolling."""
    df = pd.DataFrame(rows)
    return df.set_index(df.columns[0])


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as the Arrow table ``st.dataframe(rows)`` would make of them (Streamlit's own conversion),
    made once: a cached table is sent without building a DataFrame on every run."""
    return dataframe_util.convert_pandas_df_to_arrow_table(pd.DataFrame(rows))


@compute.shared(VIEWS)
def _signal_view(s: Scenario, which: str) -> tuple[verdict.Verdict, str, bool, str]:
    """The Signal page's verdict, summary line, whether any layer has saturated / dead / inf values,
    and the note on the mean-field curve."""
    res = compute.propagate(s)
    bad = bool((res.layers[["frac_saturated", "frac_dead", "frac_nonfinite"]].to_numpy() > 0).any())
    return (verdict.signal_verdict(res.layers, which, first=verdict.first_layer(res), dtype=s.dtype),
            summary_line(res, which), bad,
            _theory_note(_theory(s, f"{which}_std")))


# ---------------------------------------------------------------------------------------------- pages


def signal(values: Values) -> None:
    s: Scenario = values["net"]
    view: SignalView = values["signal"]
    res = run(s)
    if res is None:
        return
    which = view.which
    name = "activations h = f(z)" if which == "act" else "pre-activations z = hW + b"
    controls.view("signal", "which")
    v, summary, bad, note = _signal_view(s, which)
    _verdict_box(v)
    st.markdown(summary)
    holder = st.empty()  # the explanation sits above the chart but depends on the chart's axis
    fig = chart("signal", s, f"{which}_std")
    holder.markdown(f"##### How spread out are the {name} at each layer?\n\n:gray[A healthy network keeps this "
                    f"roughly level. {_scale_words(fig)} {note}]")
    section("Where the values of each layer sit",
            "Colour is the share of a layer's values in each bin (1024 values sampled per layer): a collapse "
            "to one value (zero init, vanishing) or a blow-up (the inf/NaN row) is plain to see.")
    chart("heatmap", s, which)
    if bad:
        section("Saturated, dead and overflowed values",
                "Saturated: the activation's slope is below 10% of its peak, so almost no gradient passes. "
                "Dead (ReLU): output and slope exactly 0. inf/NaN: the numbers ran out of range.")
        chart("fractions", ((_label(s), s),))
    else:
        section(None, "No layer has saturated, dead (ReLU) or inf/NaN values.")
    # Stateful expander: its charts are built and drawn only while it is open (each chart costs the
    # browser ~0.2 s per rerun).
    more = st.expander("Percentiles and mean of every layer", key="more_signal", on_change="rerun")
    if more.open:
        with more:
            section("The whole distribution, layer by layer",
                    "Median, middle 50% and middle 98% of the values of each layer, with mean ± std.")
            chart("spread", s, which)
            section(f"Mean of the {name}", "All-positive weights or inputs shift the mean away from 0, layer "
                    "after layer.")
            chart("plain_signal", s, f"{which}_mean")
    _exports(values, res)


def pct(frac: float) -> str:
    """A share in percent with two significant digits under 10% (6.8%, 0.37%), whole above (73%)."""
    p = 100.0 * float(frac)
    if p == 0 or not np.isfinite(p):
        return "0%" if p == 0 else "NaN"
    return f"{p:.0f}%" if p >= 10 else f"{p:.2g}%"


def summary_line(res: Result, which: str) -> str:
    """One line of the numbers the verdict and the preset texts speak of (one element, not four metrics)."""
    lay = res.layers
    s = res.scenario
    col = lay[f"{which}_std"].to_numpy(dtype=float)
    depth = len(lay)
    fin = col[np.isfinite(col)]
    parts = [f"input mean **{verdict.fmt(res.input.mean)}**, std **{verdict.fmt(res.input.std)}**"
             + (f", from **{verdict.fmt(res.input.min)}** to **{verdict.fmt(res.input.max)}**" if s.inputs != "standard"
                else ""),
             f"std at layer 1 **{verdict.fmt(col[0])}**",
             f"at layer {depth} **{verdict.fmt(col[-1]) if np.isfinite(col[-1]) else 'inf/NaN'}**"]
    if depth > 2 and fin.size:
        parts.append(f"range over layers **{verdict.fmt(fin.min())} – {verdict.fmt(fin.max())}**")
    parts.append(f"first inf/NaN layer **{'none' if res.first_nonfinite_layer is None else res.first_nonfinite_layer}**")
    info = np.finfo(s.dtype)
    if res.first_nonfinite_layer is not None:
        parts.append(f"{s.dtype} overflows above **{verdict.fmt(float(info.max))}**")
    elif (lay[f"{which}_max"].to_numpy(dtype=float) == 0).any() and (lay[f"{which}_min"].to_numpy(dtype=float) == 0).any():
        parts.append(f"{s.dtype} rounds to 0 below **{verdict.fmt(float(info.smallest_subnormal))}**")
    sat = lay["frac_saturated"].to_numpy(dtype=float)
    if (sat > 0).any():
        parts.append(f"saturated in layer 1 **{pct(sat[0])}**" + (
            f", above it at most **{pct(np.nanmax(sat[1:]))}**" if depth > 1 else ""))
    ex_col = f"{which}_example_std"
    if ex_col in lay.columns:
        ex = lay[ex_col].to_numpy(dtype=float)
        parts.append(f"spread across examples at layer {depth} **{verdict.fmt(ex[-1])}**")
    return " · ".join(parts)


@compute.shared(VIEWS)
def _gradient_view(s: Scenario) -> tuple[verdict.Verdict, str, str]:
    """The Gradients page's verdict, its line of numbers and the note on the mean-field curve."""
    res = compute.propagate(s)
    g = res.layers["grad_std"].to_numpy(dtype=float)
    w = res.layers["weight_grad_norm"].to_numpy(dtype=float)
    fw = w[np.isfinite(w)]
    line = " · ".join([
        f"grad std at the top (layer {len(g)}) **{verdict.fmt(g[-1])}**", f"at layer 1 **{verdict.fmt(g[0])}**",
        f"weight gradient norm at the top **{verdict.fmt(w[-1])}**, at layer 1 **{verdict.fmt(w[0])}**"]
        + ([f"between **{verdict.fmt(fw.min())}** and **{verdict.fmt(fw.max())}** over the layers"] if fw.size > 2 else []))
    return verdict.gradient_verdict(res.layers), line, _theory_note(_theory(s, "grad_std"))


def gradients(values: Values) -> None:
    s: Scenario = values["net"]
    res = run(s)
    if res is None:
        return
    v, line, note = _gradient_view(s)
    _verdict_box(v)
    st.markdown(line)
    st.caption("The loss at the top is " + ("l = r·h with r ~ N(0, 1): the gradient enters the top with unit "
                                            "variance, so every change below is the layers' doing."
                                            if s.loss == "projection" else "½‖h − y‖² with y ~ N(0, 1)."))
    holder = st.empty()
    fig = chart("gradient", s, "grad_std", True)
    holder.markdown("##### How big is the gradient that reaches each layer?\n\n:gray[Read it from the right "
                    "(the top, where the loss is) to the left (layer 1): the backward pass multiplies by each "
                    f"layer's weights and slopes on the way down. {_scale_words(fig)} {note}]")
    section("Gradient of each weight matrix",
            "‖∂L/∂W‖: how strongly gradient descent would push each layer's weights. Exactly 0 means "
            "that layer cannot learn at all. It is the product of what reaches the layer from below (the "
            "activations) and from above (the gradient), so it can stay level while both explode.")
    chart("gradient", s, "weight_grad_norm", False)
    more = st.expander("Relative update size ‖∂L/∂W‖ / ‖W‖", key="more_grad", on_change="rerun")
    if more.open:
        with more:
            section(None, "With one learning rate for all layers, layers where this is tiny barely move and "
                    "layers where it is huge jump. Healthy training wants it similar across layers.")
            chart("gradient", s, "grad_ratio", False)
    _exports(values, res)


def weight_ranges(values: Values) -> None:
    s: Scenario = values["net"]
    view: RangesView = values["ranges"]
    st.markdown("How wide is the distribution each initializer draws from, as the number of inputs *n* "
                "grows? Bounded schemes show their exact limits; normal ones have no limit, so the band is "
                "± 1 standard deviation and the dots are what 1000 actual draws reached. On a log axis for n "
                "(the box on the right), 1/√n becomes a straight line.")
    c = st.columns([3, 1, 1, 1])
    controls.view("ranges", "inits", where=c[0])
    controls.view("ranges", "n", where=c[1])
    controls.view("ranges", "m", where=c[2])
    controls.view("ranges", "log", where=c[3])
    with working("Sampling weights…", "ranges", view.inits, view.n, view.m, s.seed, view.log):
        chart("ranges", view.inits, view.n, view.m, s.seed, view.log)
    plan = compute.range_plan(view.inits, view.n, view.m)
    if plan:
        st.caption(plan)
    st.dataframe(_ranges_table(view.inits, view.n, view.m), hide_index=True, width="stretch")
    with st.expander("Where these formulas come from"):
        for name in view.inits:
            st.markdown(f"**{name}**: {initializers.get(name).description}")


@compute.shared(VIEWS)
def _ranges_table(inits: tuple[str, ...], n_max: int, m_fixed: int) -> pa.Table:
    """Each initializer's formula, std and limits at n = 1 and n = ``n_max``."""
    rows = []
    for name in inits:
        init = initializers.get(name)
        row: dict[str, Any] = {"initializer": name, "formula": init.formula()}
        for n in (1, n_max):
            m = m_fixed or n
            lim = init.limits(n, m)
            row[f"std at n={n}"] = verdict.fmt(init.std(n, m))
            row[f"limits at n={n}"] = "unbounded" if lim is None else f"[{verdict.fmt(lim[0])}, {verdict.fmt(lim[1])}]"
        rows.append(row)
    return table(rows)


def variants(s: Scenario, view: CompareView) -> dict[str, Scenario]:
    """The scenarios a Compare page computes: ``s`` with each chosen initializer (its own defaults) or
    each chosen activation."""
    return products.compare_variants(s, view)


def warm_up_list() -> list[Scenario | TrainScenario]:
    """Every computation a preset link's opening page needs: its scenario (on the Compare page its
    variants, on the Theory page its LSUV variant), and for a Training preset each initializer of its
    comparison (a training scenario)."""
    out: list[Scenario | TrainScenario] = list(products.scenarios_to_warm())
    out += [args[0] for kind, args in products.preset_products() if kind == "train"]
    return out


def compare(values: Values) -> None:
    s: Scenario = values["net"]
    view: CompareView = values["compare"]
    what = "initializer" if view.by == "init" else "activation"
    st.markdown(f"Same seed, same input batch, same depth and width: only the {what} changes, so every "
                "difference below comes from it.")
    c = st.columns([1, 3])
    controls.view("compare", "by", where=c[0])
    if view.by == "init":
        controls.view("compare", "inits", where=c[1])
    else:
        controls.view("compare", "acts", where=c[1])
    chosen = view.inits if view.by == "init" else view.acts
    if len(chosen) < 2:
        st.info(f"Pick at least two {what}s to compare ({len(chosen)} chosen).")
        return
    results: dict[str, Result] = {}
    runs = variants(s, view)
    for label, v in runs.items():
        r = run(v)
        if r is not None:
            results[label] = r
    if not results:
        return
    key = tuple((label, runs[label]) for label in results)  # exactly what the figures below are made of
    which = values["signal"].which
    st.markdown("##### Forward: spread of the values at each layer")
    chart("cmp_signal", key, f"{which}_std")
    st.markdown("##### Backward: size of the gradient reaching each layer")
    chart("cmp_gradient", key)
    st.markdown("##### Saturated, dead and overflowed values")
    chart("fractions", key)
    st.dataframe(_compare_table(key, which, s.depth), hide_index=True, width="stretch")


@compute.shared(VIEWS)
def _compare_table(scenarios: tuple[tuple[str, Scenario], ...], which: str, depth: int) -> pa.Table:
    """Each compared scenario's verdicts and stds."""
    rows = []
    for label, v in scenarios:
        r = compute.propagate(v)
        sv = verdict.signal_verdict(r.layers, which, first=verdict.first_layer(r), dtype=v.dtype)
        gv = verdict.gradient_verdict(r.layers)
        std = r.layers[f"{which}_std"].to_numpy(dtype=float)
        fin = std[np.isfinite(std)]
        rows.append({"": label, "forward": sv.kind, "backward": gv.kind,
                     "std at layer 1": verdict.fmt(std[0]),
                     f"std at layer {depth}": verdict.fmt(std[-1]),
                     "std range over layers": f"{verdict.fmt(fin.min())} – {verdict.fmt(fin.max())}" if fin.size else "—",
                     "first inf/NaN layer": r.first_nonfinite_layer or "—",
                     "grad std, layer 1": verdict.fmt(r.layers["grad_std"].iloc[0])})
    return table(rows)


def theory_page(values: Values) -> None:
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
    part, box = part_tabs("theory", THEORY_PARTS, view.show)
    with box:
        {"phase": _theory_phase, "spectra": _theory_spectra, "lsuv": _theory_lsuv}[part](s, view, texts)


def _theory_phase(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    point, act = texts.point, s.activation
    c = st.columns(3)
    controls.view("theory", "sw2_max", where=c[0])
    controls.view("theory", "sb2_max", where=c[1])
    section("Order and chaos",
            f"Colour is χ₁ for {act} at each weight and bias variance: blue is ordered, red chaotic, the green "
            "line the edge of chaos. The cross is this scenario (on the border, as a triangle, when it lies beyond "
            "the axes): move the initializer, its scale or the bias and it moves.")
    chart("phase", act, view.sw2_max, view.sb2_max, point)
    section("How deep can the signal go?",
            f"At σb² = {verdict.fmt(texts.sb2)} (this scenario's bias variance): ξ_c is the number of layers over "
            "which 1 − the correlation of two nearby inputs shrinks by a factor e in the ordered phase (in the "
            "chaotic phase, over which the correlation settles at c\\*). Schoenholz et al. (2017) could train "
            "networks up to about 6 ξ_c deep, not deeper; ξ_c diverges at the edge of chaos. ξ_q is the same for "
            "the size of the signal.")
    chart("depth_scale", act, texts.sb2, view.sw2_max, point[0] if point else None, s.depth)
    if texts.depth:
        st.markdown(texts.depth)


def _theory_spectra(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    controls.view("theory", "vs")
    pair = products.theory_pair(s, view.vs)
    section("Dynamical isometry: the input-output Jacobian",
            "Histograms of the singular values s of ∂h_l/∂h_0 at the first input (Saxe et al. 2014; Pennington "
            "et al. 2017). Every direction of the input survives when they all sit near 1 (one narrow spike); a "
            "wide spread means a few directions are amplified while most are lost. Orthogonal weights keep them "
            "all equal in a *linear* network; with a nonlinearity only where f′(z) is about the same for every "
            "unit (tanh with small pre-activations), so elsewhere orthogonal spectra spread too. Values below "
            f"{verdict.fmt(spectra.NOISE_FLOOR[s.dtype])} of the largest (more where the network's values underflow "
            f"into {s.dtype}'s smallest numbers) are {s.dtype}'s rounding, not the network's: they are not drawn, "
            "and the table counts them.")
    with working("Multiplying Jacobians…", "spectra", pair):
        chart("spectra", pair)
    st.table(_jacobian_table(pair))
    note = _jacobian_note(s, view.sw2_max, view.sb2_max)
    if note:
        st.markdown(note)


def _theory_lsuv(s: Scenario, view: TheoryView, texts: summaries.TheoryTexts) -> None:
    section("LSUV: rescale every layer on the data",
            "Layer-sequential unit-variance init (Mishkin & Matas 2016) starts from orthogonal weights and "
            "rescales each layer, in order, until the variance of its *pre-activations* z on the batch is 1 "
            f"(within {verdict.fmt(lsuv.TOL)}, at most {lsuv.MAX_ITER} tries per layer, as in the paper). Unlike "
            "the paper, initlab uses one fixed batch (the scenario's) for every try, and keeps the biases as the "
            "scenario draws them (the paper's start at 0). Lines: Var(z) per layer with this scenario's own "
            "initializer, from the orthogonal start before any rescaling, and after LSUV.")
    with working("Running LSUV…", "lsuv", s):
        chart("lsuv", s)
    for line in _lsuv_lines(s):
        st.markdown(line)


@compute.shared(VIEWS)
def _theory_texts(s: Scenario, sw2_max: float, sb2_max: float) -> summaries.TheoryTexts:
    return summaries.theory_texts(s, sw2_max, sb2_max)


@compute.shared(VIEWS)
def _jacobian_note(s: Scenario, sw2_max: float, sb2_max: float) -> str | None:
    return summaries.jacobian_note(s, _theory_texts(s, sw2_max, sb2_max), compute.predict(s))


@compute.shared(VIEWS)
def _jacobian_table(pair: tuple[tuple[str, Scenario], ...]) -> pd.DataFrame:
    return static_table(summaries.jacobian_table([(label, compute.jacobian(v), _chi(v)) for label, v in pair]))


def _chi(s: Scenario) -> np.ndarray | None:
    pred = compute.predict(s)
    return None if pred is None else pred.chi


@compute.shared(VIEWS)
def _lsuv_lines(s: Scenario) -> tuple[str, ...]:
    """What LSUV did to ``s``, and the scenario's own variances, in words."""
    rep = compute.propagate(dataclasses.replace(s, lsuv=True)).lsuv
    own = None if s.lsuv else _pre_var(s)
    return summaries.lsuv_lines(s, rep, own, _pre_var(products.orthogonal_start(s)))


def _pre_var(s: Scenario) -> np.ndarray:
    return compute.propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2


# Training controls, by group (every one a field of the train section, kept while the tab is closed).
TRAIN_GROUPS = (("Data", ("dataset", "n_train", "n_test", "noise", "data_seed", "inputs")),
                ("Network", ("hidden", "activation", "bias", "bias_value")),
                ("Training", ("optimizer", "lr", "momentum", "steps", "batch_size", "restarts", "seed", "dtype")))


def _train_controls(ts: TrainScenario, view: TrainView) -> None:
    controls.view("training", "compare")
    # A form: a student changes several settings, then trains once (each change used to retrain at once,
    # 4-12 s each). The custom initializer's settings live in it too.
    box = st.expander("Data, network and training (the same for every initializer)", key="train_settings",
                      on_change="rerun", expanded="custom" in view.compare)
    if not box.open:
        return
    with box, st.form("train_form", border=False, enter_to_submit=False):
        cols = st.columns(3)
        for col, (title, names) in zip(cols, TRAIN_GROUPS):
            col.markdown(f"**{title}**")
            for name in names:
                if name == "momentum" and ts.optimizer != "momentum":
                    continue
                if name == "bias_value" and ts.bias in BIASES_WITHOUT_VALUE:
                    continue
                controls.widget(TRAIN, name, where=col, persist=True)
        if "custom" in view.compare:
            st.markdown("**Custom initializer** (the comparison's *custom* entry)")
            c = st.columns(4)
            controls.widget(TRAIN, "init", where=c[0], persist=True)
            for i, (pname, p) in enumerate(initializers.spec(ts.init).params.items()):
                if pname in {f.name for f in TRAIN.fields}:
                    extra = (dict(default_label=str(p.default)) if p.kind == "choice"
                             else dict(placeholder=f"default {p.default}"))
                    controls.widget(TRAIN, pname, where=c[1 + i % 3], persist=True, **extra)
        st.form_submit_button("Train with these settings", type="primary")


@compute.shared(VIEWS)
def _train_table(pairs: Pairs) -> pd.DataFrame:
    """The summary table of a trained comparison (its results are cached: read, not retrained)."""
    return static_table(train_summaries.train_table(_trained(pairs)))


def training_page(values: Values) -> None:
    ts: TrainScenario = values["train"]
    view: TrainView = values["training"]
    st.markdown("Real networks trained on the spot: a small MLP (2 inputs, the hidden layers below, one "
                "sigmoid output) learns a 2-D dataset by gradient descent, **from several random restarts at "
                "once**. Each restart ends differently, so judge an initialization by all of them: the line is "
                "the median over restarts, the band the middle half.")
    _train_controls(ts, view)
    st.caption(train_setup(ts))
    if len(view.compare) < 2:
        st.info(f"Pick at least two initializers to compare ({len(view.compare)} chosen).")
        return
    pairs = train_comparison(ts, view.compare)  # the same key as products.train_key: the store finds it
    bar = st.empty()

    # Only the initializers not trained yet are trained (results are kept per initializer).
    new = sum(compute.trained(v) is None for v in dict.fromkeys(v for _, v in pairs))

    def progress(fraction: float, step: int) -> None:
        what = f"{new} initializer{'s' if new != 1 else ''} × {ts.restarts} restarts"
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"Training {what}: step {step} of {ts.steps}")

    sketch = st.empty()

    def partial(so_far: tuple[TrainResult, ...]) -> None:
        # While training: the loss curves so far (not cached: each picture is drawn once).
        sketch.plotly_chart(plots_training.curves_figure(dict(zip((lbl for lbl, _ in pairs), so_far)), "loss"),
                            width="stretch", config=CHART, key=None)

    try:
        results = dict(zip((label for label, _ in pairs), compute.train(tuple(v for _, v in pairs), progress, partial)))
    except compute.BusyError as exc:
        logs.warning("busy: %s (training %r)", exc, ts)
        st.warning(f"Not computed: {exc}. Press R or change a control to retry.")
        return
    except ValueError as exc:  # scenarios are repaired before they get here: this is a bug, log it
        logs.failure("train", exc, {"scenario": ts})
        st.error(f"This training cannot be run: {exc}")
        return
    bar.empty()
    sketch.empty()
    first = next(iter(results.values()))
    steps = first.recorded_steps
    # The view was made to exist in this training (views.repair_training_view, with a notice).
    frame = len(steps) - 1 if view.frame < 0 else view.frame
    run = view.run
    st.table(_train_table(pairs))
    part, box = part_tabs("training", TRAINING_PARTS, view.show)
    with box:
        _training_part(part, pairs, ts, view, steps, frame, run)
    _train_exports(values, results, pairs, run)


def _training_part(part: str, pairs: Pairs, ts: TrainScenario, view: TrainView, steps: np.ndarray, frame: int,
                   run: int) -> None:
    if part == "curves":
        section("Loss during training", "Median over restarts with the middle half as a band, on a log axis. "
                "A line that stays flat has not learned; a wide band means the restarts disagree.")
        chart("train_curves", pairs, "loss", int(steps[frame]))
        section("Test accuracy during training", "On the held-out points: 0.5 is chance for two balanced classes.")
        chart("train_curves", pairs, "test_acc", int(steps[frame]))
    elif part == "restarts":
        section("Every restart's final test accuracy", "One point per restart, the bar is the median: a tight "
                "column is an initialization you can rely on; a tall one a lottery.")
        chart("train_points", pairs)
    elif part == "boundaries":
        _boundaries(pairs, ts, steps, frame, run)
    elif part == "symmetry":
        section("Symmetry: distinct units per hidden layer", "Units whose incoming weights and bias are equal "
                "compute the same thing forever. Zero or constant init keeps every layer at 1 distinct unit; a "
                "random init starts (and stays) at the layer's width.")
        chart("distinct", pairs)
    else:
        section("Each layer's weights during training", train_summaries.norms_caption(ts.optimizer, ts.full_batch))
        controls.view("training", "norms")
        chart("grad_norms", pairs, view.norms)
        zero = _never_positive(pairs, view.norms)
        if zero:
            st.caption(zero)


def part_tabs(section_id: str, parts: Mapping[str, str], current: str) -> tuple[str, Any]:
    """Tabs for the parts of a page (``parts``: stable id -> label), drawn lazily: returns the id of the
    open one and its container, which the caller fills (the others stay empty until opened). The open part
    is the view's ``show`` field, so a link reopens it."""
    k = f"{section_id}.show_ui"
    ss[k] = parts.get(current, next(iter(parts.values())))
    tabs = st.tabs(list(parts.values()), key=k, on_change=_set_part, args=(section_id, dict(parts)))
    for pid, tab in zip(parts, tabs):
        if tab.open:
            return pid, tab
    return current, tabs[list(parts).index(current)] if current in parts else tabs[0]


def _set_part(section_id: str, parts: dict[str, str]) -> None:
    label = ss.get(f"{section_id}.show_ui")
    ss[f"{section_id}.show"] = next((pid for pid, lbl in parts.items() if lbl == label), next(iter(parts)))


def _boundaries(pairs: Pairs, ts: TrainScenario, steps: np.ndarray, frame: int, run: int) -> None:
    section("Decision boundaries", f"Restart {run} at step {int(steps[frame])}: colour is the predicted "
            "probability of class 1, the black line the boundary. Scrub through training with the slider.")
    c = st.columns([3, 1])
    k = "training.frame_ui"
    ss[k] = frame
    # The slider reads in training steps; the link keeps the index of the recorded step (-1: the last).
    c[0].select_slider("Step shown (recorded steps)", options=range(len(steps)), key=k,
                       format_func=lambda i: f"{int(steps[i]):,}", on_change=_set_frame, args=(len(steps),),
                       help=f"{len(steps)} recorded steps from 0 to {int(steps[-1]):,}: the boundaries, and the "
                            "dotted line on the curves above, show the network at this step.")
    controls.widget(TRAINING, "run", where=c[1], persist=True, hi=ts.restarts - 1)
    chart("boundary", pairs, run, int(steps[frame]))


def train_setup(ts: TrainScenario) -> str:
    """The whole training setup in one line (the controls live in a closed expander)."""
    batch = "full batch" if ts.full_batch else f"batches of {ts.batch}"
    opt = {"sgd": "plain gradient descent", "momentum": f"momentum {verdict.fmt(ts.momentum)}", "adam": "Adam"}[ts.optimizer]
    seeds = f"seed {ts.seed}" if ts.restarts == 1 else f"seeds {ts.seed} to {ts.seed + ts.restarts - 1}"
    return (f"{ts.dataset}: {ts.n_train} training and {ts.n_test} test points, noise {verdict.fmt(ts.noise)}, "
            f"{ts.inputs} inputs · hidden layers {', '.join(map(str, ts.hidden))}, {ts.activation}, "
            f"{ts.bias} biases · {opt}, learning rate {verdict.fmt(ts.lr)}, {ts.steps} steps, {batch} · "
            f"{ts.restarts} restarts ({seeds}), {ts.dtype}")


def _set_frame(n: int) -> None:
    """The boundary slider shows recorded-step indices; the link keeps -1 for "the last one"."""
    v = int(ss.get("training.frame_ui", n - 1))
    ss["training.frame"] = -1 if v >= n - 1 else v


def _train_exports(values: Values, results: dict[str, TrainResult], pairs: Pairs, run: int) -> None:
    box = st.expander("Download the runs, or train the same network in PyTorch", key="train_code_open",
                      on_change="rerun")
    if not box.open:
        return
    with box:
        c = st.columns(3)

        def history_csv() -> str:
            frames = [r.history.assign(initializer=label) for label, r in results.items()]
            return pd.concat(frames).to_csv(index=False)

        def runs_csv() -> str:
            frames = [r.runs.assign(initializer=label) for label, r in results.items()]
            return pd.concat(frames).to_csv(index=False)

        c[0].download_button("History (CSV)", history_csv, file_name="initlab_history.csv", mime="text/csv",
                             on_click="ignore")
        c[1].download_button("Runs (CSV)", runs_csv, file_name="initlab_runs.csv", mime="text/csv", on_click="ignore")
        doc = {"training": {label: dataclasses.asdict(ts) for label, ts in pairs},
               "link": state.share_query(values)}
        c[2].download_button("Scenario (JSON)", lambda: json.dumps(doc, indent=2, default=list),
                             file_name="initlab_training.json", mime="application/json", on_click="ignore")
        label = st.selectbox("PyTorch code for", [lbl for lbl, _ in pairs], key="train_code_for")
        ts = dict(pairs)[label]
        st.code(compute.train_snippet(ts, run), language="python")  # the restart shown on the page


def learn(values: Values) -> None:
    st.markdown("Short explanations of what the classic texts on initialization teach. Each one has a "
                "button that opens the preset where you can watch it happen.")
    locked = state.in_lesson()
    if locked:
        st.caption("The “Show me” buttons are off in this lesson link: your teacher fixed some settings, and "
                   "opening a preset would change them.")
    for i, lesson in enumerate(LESSONS):
        with st.container(border=True):
            st.markdown(f"#### {lesson.title}\n\n{lesson.body}")  # one element, not two: each is a message
            cols = st.columns(max(len(lesson.presets), 1))
            for col, name in zip(cols, lesson.presets):
                col.button(f"Show me: {PRESETS[name].title}", key=f"learn_{i}_{name}", disabled=locked,
                           on_click=state.apply_preset, args=(name,))


# The sections each page reads: what a preset's text (about its own page) depends on.
PAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "signal": ("net", "signal"), "gradients": ("net",), "ranges": ("ranges",), "compare": ("net", "compare", "signal"),
    "training": ("train", "training"), "theory": ("net", "theory"), "learn": (),
}
MAX_DIFFERENCES = 6  # changes listed under a preset's text; more are counted
# Fields that change which part of a page is open, or the range of an axis, but none of the numbers a
# preset's text quotes: opening another part of the page leaves the text true.
PRESENTATION_ONLY = {("training", "show"), ("training", "run"), ("training", "frame"), ("training", "norms"),
                     ("theory", "show"), ("theory", "sw2_max"), ("theory", "sb2_max")}


def preset_text(name: str) -> str | None:
    """The preset's text, its measured numbers filled in from the results its page computed (None while
    they are not computed: a preset's own numbers are never computed just for its text)."""
    p = PRESETS[name]
    if p.facts != "train":
        return p.text
    pairs = train_comparison(p.views["train"], p.views["training"].compare)
    got = [compute.trained(ts) for _, ts in pairs]
    if any(r is None for r in got):
        return None
    return p.fill(train_summaries.train_facts(dict(zip(p.views["training"].compare, got))))  # type: ignore[arg-type]


def preset_box(name: str, values: Values) -> None:
    """The blue box: the preset's title and text, and once the student changed something the text is about,
    what differs (the text describes the preset, not the page any more)."""
    p = PRESETS[name]
    text = preset_text(name)
    text = text if text is not None else "its numbers appear here once its training has run (open its Training tab)."
    changed = differences(values, state.base(), PAGE_SECTIONS[p.tab], ignore=PRESENTATION_ONLY)
    if changed:
        # The text is kept one click away: quoted above a page it no longer describes, it would mislead.
        listed = "; ".join(changed[:MAX_DIFFERENCES]) + (f"; and {len(changed) - MAX_DIFFERENCES} more"
                                                         if len(changed) > MAX_DIFFERENCES else "")
        st.info(f"**{p.title}** — you changed {listed}. The preset's text describes the preset, not what is on "
                "screen now.", icon="🎯")
        with st.expander("What the preset's text says (about the preset's own settings)"):
            st.markdown(text)
        return
    body = f"**{p.title}**: {text}"
    if state.current_tab() != p.tab:
        body += f"\n\n*This text is about the **{state.TABS[p.tab]}** tab.*"
    st.info(body, icon="🎯")


PAGES: dict[str, Callable[[Values], None]] = {
    "signal": signal, "gradients": gradients, "ranges": weight_ranges, "compare": compare,
    "training": training_page, "theory": theory_page, "learn": learn,
}


def _exports(values: Values, res: Result) -> None:
    s: Scenario = values["net"]
    # A stateful expander: its content is only built (and sent) while it is open.
    code = st.expander("Download the numbers, or build this network in Keras or PyTorch", key="code_open",
                       on_change="rerun")
    if code.open:
        with code:
            c = st.columns(2)
            # Files are made only when a button is clicked (a callable), not on every run.
            c[0].download_button("Per-layer statistics (CSV)", lambda: res.layers.to_csv(index=False),
                                 file_name="initlab_layers.csv", mime="text/csv", on_click="ignore")
            doc = {"scenario": dataclasses.asdict(s),
                   "views": {k: dataclasses.asdict(v) for k, v in values.items() if k != "net"},
                   "link": state.share_query(values), "first_nonfinite_layer": res.first_nonfinite_layer}
            c[1].download_button("Scenario (JSON)", lambda: json.dumps(doc, indent=2),
                                 file_name="initlab_scenario.json", mime="application/json", on_click="ignore")
            k, p = st.tabs(["Keras", "PyTorch"])
            k.code(compute.snippet("keras", s), language="python")
            p.code(compute.snippet("pytorch", s), language="python")


def share_box(values: Values, tab_label: str | None) -> None:
    """The full link of the current view, and a teacher's lesson link with hidden / locked controls.

    In an expander drawn only while open: its code box loads the browser's syntax highlighter (1.5 MB of
    script), which cost every page ~0.3 s before its charts (benchmarks/bench_browser.py); the address
    bar always holds the same link."""
    box = st.expander("Share this view, or make a lesson link", key="share_open", on_change="rerun")
    if not box.open:
        return
    base = st.context.url or ""
    if base and not base.endswith("/"):
        base += "/"
    with box:
        st.markdown("**Link to this view** (the address bar holds the same; copy with the icon on the right):")
        st.code(base + "?" + urlencode(state.share_query(values, tab_label=tab_label)), language=None,
                wrap_lines=True)
        st.markdown("**Lesson link** (for teachers)")
        names = list(LESSON_CONTROLS)
        hide = st.multiselect("Hide these controls", names, key="lesson_hide",
                              help="Students won't see them; the link's values still apply.")
        lock = st.multiselect("Lock these controls", [n for n in names if n not in hide], key="lesson_lock",
                              help="Shown, but students cannot change them.")
        st.caption("In a lesson link the preset picker and the “Show me” buttons are off, so that nothing a "
                   "student clicks changes what you fixed.")
        q = state.share_query(values, frozenset(hide), frozenset(lock), tab_label=tab_label)
        st.code(base + "?" + urlencode(q), language=None, wrap_lines=True)


def notices(items: list, heading: str) -> None:  # type: ignore[type-arg]
    """Ignored / clamped / adjusted parameters, one line each (values are quoted by the codec)."""
    if not items:
        return
    lines = "\n".join(f"- {n.message}" for n in items)
    st.warning(f"{heading}\n{lines}", icon="⚠️")

