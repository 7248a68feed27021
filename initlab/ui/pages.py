"""The five pages and the share / export boxes. No science here: read the scenario, call the cached
core, draw the pure figures."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from urllib.parse import urlencode

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from initlab import initializers, plots, verdict
from initlab.lessons import LESSONS
from initlab.network import Result
from initlab.presets import PRESETS
from initlab.scenario import INIT_PARAM_NAMES, LESSON_CONTROLS, VIEW_FIELDS, Scenario, View, repair
from initlab.ui import compute, logs, state

ss = st.session_state
CHART = {"displaylogo": False}  # plotly's own PNG export (camera icon) stays on every chart


def chart(key: tuple, build: Callable[[], go.Figure]) -> None:  # type: ignore[type-arg]
    """Draw the figure ``build()`` makes, built once per ``key`` across sessions (compute.figure)."""
    st.plotly_chart(compute.figure(key, build), width="stretch", config=CHART)


def section(title: str | None, text: str) -> None:
    """A heading and its explanation as one element (each element is a message to every browser)."""
    st.markdown((f"##### {title}\n\n" if title else "") + f":gray[{text}]")


def run(s: Scenario) -> Result | None:
    """The cached result of ``s``, with a progress indicator when it must be computed; a message
    instead of a traceback."""
    # Always one placeholder element, spinner or not, so that the elements below keep their places
    # between a computed and a cached run (the browser then updates charts instead of replacing them).
    holder = st.empty()
    try:
        if compute.is_cached(s):
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


def _label(s: Scenario) -> str:
    return f"{s.init} + {s.activation}"


def signal(s: Scenario, view: View) -> None:
    res = run(s)
    if res is None:
        return
    which = view.which
    name = "activations h = f(z)" if which == "act" else "pre-activations z = hW + b"
    _verdict_box(verdict.signal_verdict(res.layers))
    last = res.layers.iloc[-1]
    top_std = last[f"{which}_std"]
    # One line, not four st.metric: each element is a message to every browser on every run.
    st.markdown(" · ".join([
        f"input std **{res.input.std:.3g}**",
        f"std at layer {s.depth} **{verdict.fmt(top_std) if np.isfinite(top_std) else 'inf/NaN'}**",
        f"first inf/NaN layer **{'none' if res.first_nonfinite_layer is None else res.first_nonfinite_layer}**",
        f"saturated in layer {s.depth} **{last['frac_saturated']:.1%}**",
    ]))
    st.radio("Show", ("act", "pre"), persist_state="session", key="which", horizontal=True,
             format_func=lambda w: "activations h" if w == "act" else "pre-activations z")
    theory = _theory(s, f"{which}_std")
    section(f"How spread out are the {name} at each layer?",
            "A healthy network keeps this roughly level. A straight rising line on the log scale means "
               "the same factor is multiplied in at every layer (exploding); a falling one, vanishing. "
               + _theory_note(theory))
    chart(("signal", s, which), lambda: plots.signal_figure({_label(s): res}, f"{which}_std", theory=theory))
    section("Where the values of each layer sit",
            "Colour is the share of a layer's values in each bin (1024 values sampled per layer): a collapse "
            "to one value (zero init, vanishing) or a blow-up (the inf/NaN row) is plain to see.")
    chart(("heatmap", s, which), lambda: plots.heatmap_figure(res, which))
    if (res.layers[["frac_saturated", "frac_dead", "frac_nonfinite"]].to_numpy() > 0).any():
        section("Saturated, dead and overflowed values",
                "Saturated: the activation's slope is below 10% of its peak, so almost no gradient passes. "
                "Dead (ReLU): output and slope exactly 0. inf/NaN: the numbers ran out of range.")
        chart(("fractions", s), lambda: plots.fractions_figure({_label(s): res}))
    else:
        section(None, "No layer has saturated, dead (ReLU) or inf/NaN values.")
    # Stateful expander: its charts are built and drawn only while it is open (each chart costs the
    # browser ~0.2 s per rerun).
    more = st.expander("Percentiles and mean of every layer", key="more_signal", on_change="rerun")
    if more.open:
        with more:
            section("The whole distribution, layer by layer",
                    "Median, middle 50% and middle 98% of the values of each layer, with mean ± std.")
            chart(("spread", s, which), lambda: plots.spread_figure(res, which))
            section(f"Mean of the {name}", "All-positive weights or inputs shift the mean away from 0, layer "
                    "after layer.")
            chart(("mean", s, which), lambda: plots.signal_figure({_label(s): res}, f"{which}_mean"))
    _exports(s, view, res)


def _theory(s: Scenario, column: str) -> dict[str, np.ndarray] | None:
    """The mean-field curve of ``column`` for ``s``, capped at the dtype's range (beyond it: inf)."""
    pred = compute.predict(s)
    if pred is None:
        return None
    curve = getattr(pred, column)
    with np.errstate(all="ignore"):
        return {_label(s): np.where(curve <= np.finfo(s.dtype).max, curve, np.inf)}


def _theory_note(theory: dict[str, np.ndarray] | None) -> str:
    if theory is None:
        return "(No mean-field curve: weights with a non-zero mean give every unit a shared part.)"
    return ("Dotted: the infinite-width (mean-field) prediction; the measured line scatters around it by "
            "roughly depth / width.")


def gradients(s: Scenario, view: View) -> None:
    res = run(s)
    if res is None:
        return
    _verdict_box(verdict.gradient_verdict(res.layers))
    st.caption("The loss at the top is " + ("l = r·h with r ~ N(0, 1): the gradient enters the top with unit "
                                            "variance, so every change below is the layers' doing."
                                            if s.loss == "projection" else "½‖h − y‖² with y ~ N(0, 1)."))
    theory = _theory(s, "grad_std")
    section("How big is the gradient that reaches each layer?",
            "Read it from the right (the top, where the loss is) to the left (layer 1): the backward pass "
               "multiplies by each layer's weights and slopes on the way down. " + _theory_note(theory))
    chart(("grad_std", s), lambda: plots.gradient_figure({_label(s): res}, "grad_std", theory=theory))
    section("Gradient of each weight matrix",
            "‖∂L/∂W‖: how strongly gradient descent would push each layer's weights. Exactly 0 means "
               "that layer cannot learn at all.")
    chart(("weight_grad_norm", s), lambda: plots.gradient_figure({_label(s): res}, "weight_grad_norm"))
    more = st.expander("Relative update size ‖∂L/∂W‖ / ‖W‖", key="more_grad", on_change="rerun")
    if more.open:
        with more:
            section(None, "With one learning rate for all layers, layers where this is tiny barely move and "
                    "layers where it is huge jump. Healthy training wants it similar across layers.")
            chart(("grad_ratio", s), lambda: plots.gradient_figure({_label(s): res}, "grad_ratio"))
    _exports(s, view, res)


def weight_ranges(s: Scenario, view: View) -> None:
    st.markdown("How wide is the distribution each initializer draws from, as the number of inputs *n* "
                "grows? Bounded schemes show their exact limits; normal ones have no limit, so the band is "
                "± 1 standard deviation and the dots are what 1000 actual draws reached.")
    names = initializers.names()
    c = st.columns([3, 1, 1])
    c[0].multiselect("Initializers", names, persist_state="session", key="rng_inits", max_selections=6)
    c[1].number_input("up to n inputs", 2, 1000, persist_state="session", key="rng_n", step=10)
    c[2].number_input("fan-out m (0: m = n)", 0, 1000, persist_state="session", key="rng_m", step=1)
    inits = tuple(ss.get("rng_inits") or View().rng_inits)
    n_max, m = int(ss.get("rng_n", view.rng_n)), int(ss.get("rng_m", view.rng_m))
    try:
        with st.spinner("Sampling weights…"):
            curves = compute.range_curves(inits, n_max, m, s.seed)
    except ValueError as exc:  # e.g. too many weights to sample for this n and m
        st.warning(f"Not drawn for up to n = {n_max}, m = {m or 'n'}: {exc}. Try a smaller n.")
        return
    chart(("ranges", inits, n_max, m, s.seed), lambda: plots.ranges_figure(curves))
    rows = []
    for name in inits:
        init = initializers.get(name)
        lim = init.limits(10, 10)
        rows.append({"initializer": name, "formula": init.formula(),
                     "std at n=m=10": round(init.std(10, 10), 4),
                     "limits at n=m=10": "unbounded" if lim is None else f"[{lim[0]:.4g}, {lim[1]:.4g}]"})
    st.dataframe(rows, hide_index=True, width="stretch")
    with st.expander("Where these formulas come from"):
        for name in inits:
            st.markdown(f"**{name}**: {initializers.get(name).description}")


def _variants(s: Scenario, view: View) -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    if view.cmp_by == "init":
        for name in view.cmp_inits:
            v = s if name == s.init else dataclasses.replace(s, init=name, **{k: None for k in INIT_PARAM_NAMES})
            out[name] = repair(v)[0]
    else:
        for name in view.cmp_acts:
            out[name] = dataclasses.replace(s, activation=name)
    return out


def warm_up_list() -> list[Scenario]:
    """Every scenario a preset link computes: its own, and on the Compare page its variants."""
    out: list[Scenario] = []
    for p in PRESETS.values():
        out.append(p.scenario)
        if p.tab == "compare":
            out.extend(v for v in _variants(p.scenario, View()).values() if v not in out)
    return out


def compare(s: Scenario, view: View) -> None:
    st.markdown("Same seed, same input batch, same depth and width: only the "
                + ("initializer" if view.cmp_by == "init" else "activation") + " changes, so every difference "
                "below comes from it.")
    c = st.columns([1, 3])
    c[0].radio("Compare", ("init", "activation"), persist_state="session", key="cmp_by",
               format_func=lambda b: "initializers" if b == "init" else "activations")
    if ss.get("cmp_by", view.cmp_by) == "init":
        c[1].multiselect("Initializers (2 to 4)", initializers.names(), persist_state="session", key="cmp_inits", max_selections=4)
    else:
        from initlab import activations

        c[1].multiselect("Activations (2 to 4)", activations.names(), persist_state="session", key="cmp_acts", max_selections=4)
    if len(ss.get("cmp_inits" if view.cmp_by == "init" else "cmp_acts", ())) < 2:
        st.info("Pick at least two to compare.")
        return
    results: dict[str, Result] = {}
    variants = _variants(s, view)
    for label, v in variants.items():
        r = run(v)
        if r is not None:
            results[label] = r
    if not results:
        return
    key = tuple((label, variants[label]) for label in results)  # what the figures below are made of
    st.markdown("##### Forward: spread of the values at each layer")
    chart(("cmp_signal", key, view.which), lambda: plots.signal_figure(results, f"{view.which}_std"))
    st.markdown("##### Backward: size of the gradient reaching each layer")
    chart(("cmp_grad", key), lambda: plots.gradient_figure(results, "grad_std"))
    st.markdown("##### Saturated, dead and overflowed values")
    chart(("cmp_fractions", key), lambda: plots.fractions_figure(results))
    rows = []
    for label, r in results.items():
        sv, gv = verdict.signal_verdict(r.layers), verdict.gradient_verdict(r.layers)
        rows.append({"": label, "forward": sv.kind, "backward": gv.kind,
                     f"std at layer {s.depth}": verdict.fmt(r.layers[f"{view.which}_std"].iloc[-1]),
                     "first inf/NaN layer": r.first_nonfinite_layer or "—",
                     "grad std, layer 1": verdict.fmt(r.layers["grad_std"].iloc[0])})
    st.dataframe(rows, hide_index=True, width="stretch")


def learn(s: Scenario, view: View) -> None:
    st.markdown("Short explanations of what the classic texts on initialization teach. Each one has a "
                "button that opens the preset where you can watch it happen.")
    for i, lesson in enumerate(LESSONS):
        with st.container(border=True):
            st.markdown(f"#### {lesson.title}")
            st.markdown(lesson.body)
            cols = st.columns(max(len(lesson.presets), 1))
            for col, name in zip(cols, lesson.presets):
                col.button(f"Show me: {PRESETS[name].title}", key=f"learn_{i}_{name}",
                           on_click=state.apply_preset, args=(name,))


PAGES: dict[str, Callable[[Scenario, View], None]] = {
    "Signal": signal, "Gradients": gradients, "Weight ranges": weight_ranges, "Compare": compare, "Learn": learn,
}


def _exports(s: Scenario, view: View, res: Result) -> None:
    # A stateful expander: its content is only built (and sent) while it is open.
    code = st.expander("Download the numbers, or build this network in Keras or PyTorch", key="code_open",
                       on_change="rerun")
    if code.open:
        with code:
            c = st.columns(2)
            # Files are made only when a button is clicked (a callable), not on every run.
            c[0].download_button("Per-layer statistics (CSV)", lambda: res.layers.to_csv(index=False),
                                 file_name="initlab_layers.csv", mime="text/csv", on_click="ignore")
            doc = {"scenario": dataclasses.asdict(s), "view": dataclasses.asdict(view),
                   "link": state.share_query(s, view), "first_nonfinite_layer": res.first_nonfinite_layer}
            c[1].download_button("Scenario (JSON)", lambda: json.dumps(doc, indent=2),
                                 file_name="initlab_scenario.json", mime="application/json", on_click="ignore")
            k, p = st.tabs(["Keras", "PyTorch"])
            k.code(compute.snippet("keras", s), language="python")
            p.code(compute.snippet("pytorch", s), language="python")


def share_box(s: Scenario, view: View, tab: str | None) -> None:
    """The full link of the current view, and a teacher's lesson link with hidden / locked controls."""
    base = st.context.url or ""
    if base and not base.endswith("/"):
        base += "/"
    st.markdown("---\n**Link to this view** (copy with the icon on the right):")
    st.code(base + "?" + urlencode(state.share_query(s, view, tab=tab)), language=None, wrap_lines=True)
    lesson = st.expander("Lesson link (for teachers)", key="lesson_open", on_change="rerun")
    if not lesson.open:
        return
    with lesson:
        names = list(LESSON_CONTROLS)
        hide = st.multiselect("Hide these controls", names, key="lesson_hide",
                              help="Students won't see them; the link's values still apply.")
        lock = st.multiselect("Lock these controls", [n for n in names if n not in hide], key="lesson_lock",
                              help="Shown, but students cannot change them.")
        q = state.share_query(s, view, frozenset(hide), frozenset(lock), tab=tab)
        st.code(base + "?" + urlencode(q), language=None, wrap_lines=True)


def notices(items: list, heading: str) -> None:  # type: ignore[type-arg]
    """Ignored / clamped / adjusted parameters, one line each (texts are sanitised by the codec)."""
    if not items:
        return
    lines = "\n".join(f"- {n.message}" for n in items)
    st.warning(f"{heading}\n{lines}", icon="⚠️")


__all__ = ["PAGES", "notices", "share_box", "VIEW_FIELDS"]
