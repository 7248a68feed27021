"""Widgets built from the schema: every control on every page is one :class:`~initlab.schema.FieldSpec`.

:func:`widget` draws the control of one field of one section: its kind picks the widget (or the
field's ``widget`` hint), its bounds, choices, label and help come from the schema, and its session key
is the section's (``"compare.inits"``), which :mod:`initlab.ui.state` seeds from the link and writes
back to the address bar. A lesson link can hide any control (not drawn; the link's value stays) or lock
it (drawn disabled, with its value): :func:`widget` asks :func:`initlab.ui.state.fixed`, so every field
of every section can be hidden or locked with no code of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from initlab.weights import activations
from initlab.weights import initializers
from initlab.ui.links import section
from initlab.teaching.presets import PRESETS
from initlab.signal import summaries as signal_summaries
from initlab.signal.scenario import BIASES_WITHOUT_VALUE, NET, Scenario, irrelevant
from initlab.schema import FieldSpec, Section, choices_for
from initlab.ui import state

ss = st.session_state

# Sidebar widgets for the engine's fields, in the order they appear; init parameters come after "init".
NETWORK = ("activation", "depth", "width", "batch")
# Less used settings live in an expander that is built only while open (every widget is a message to
# every student's browser on every run); persist_state keeps their values while it is closed.
MORE = ("seed", "dtype", "bias", "bias_value", "inputs", "loss", "shared", "lsuv")
# Residual blocks and normalization, in their own expander (built only while open, like MORE).
ARCHITECTURE = ("block", "norm", "norm_position", "branch_layers", "residual_rule", "residual_scale", "norm_eps")


def log_step(value: float | None, lo: float) -> float:
    """The +/- step of a number box whose range spans decades (a learning rate): a tenth of the current
    value's decade, so that "−" works at every value (0.01 steps by 0.001; a fixed step of 0.01 would
    disable "−" at 0.01) and one click changes the value by 10% or less."""
    v = value if isinstance(value, (int, float)) and value > 0 and math.isfinite(value) else max(lo, 1.0)
    return 10.0 ** (math.floor(math.log10(v)) - 1)


def widget(sec: Section, name: str, *, where: Any = None, disabled: bool = False, persist: bool = False,
           on_change: Callable[..., None] | None = None, args: tuple[Any, ...] = (),
           options: Sequence[str] | None = None, default_label: str | None = None,
           placeholder: str | None = None, help_extra: str = "", hi: float | None = None) -> None:
    """Draw the control of field ``name`` of section ``sec``.

    ``persist`` keeps the value while the widget is not drawn (a closed expander, another tab);
    ``options`` narrows a choice field's choices; ``default_label`` names the default an optional
    choice stands for; ``placeholder`` shows in an empty optional number box; ``hi`` narrows a number's
    upper bound to what exists now (the restarts of the training shown). A control the lesson link hides
    is not drawn; one it locks is drawn disabled.
    """
    fix = state.fixed(sec, name)
    if fix == "hide":
        return
    disabled = disabled or fix == "lock"
    f: FieldSpec = sec.field(name)
    where = where or st
    common: dict[str, Any] = dict(key=sec.session_key(name), help=f.help + help_extra, disabled=disabled,
                                  persist_state="session" if persist else None, on_change=on_change, args=args)
    labels = dict(f.choice_labels)
    if f.kind == "bool":
        where.checkbox(f.label, **common)
    elif f.kind == "widths":  # a text box "10, 5": state.py stores its text and parses it per run
        where.text_input(f.label, **common)
    elif f.kind == "list":
        where.multiselect(f.label, list(options or choices_for(f)), max_selections=int(f.hi or 99),
                          format_func=lambda v: labels.get(v, str(v)), **common)
    elif f.kind == "choice":
        opts: list[str | None] = list(options or choices_for(f))
        if f.optional:
            opts = [None, *opts]

        def fmt(v: str | None) -> str:
            return f"default ({default_label})" if v is None else labels.get(v, str(v))

        if f.widget == "radio":
            where.radio(f.label, opts, format_func=fmt, horizontal=True, **common)
        else:
            where.selectbox(f.label, opts, format_func=fmt, **common)
    elif f.widget == "slider":
        where.slider(f.label, int(f.lo or 0), int(f.hi or 1), **common)
    elif f.kind == "int":
        where.number_input(f.label, int(f.lo or 0), int(f.hi if hi is None else hi), step=1, **common)
    else:
        lo, top = float(f.lo or 0), float(f.hi if hi is None else hi)
        # Ranges over many decades (lo > 0) step by a tenth of the value's decade; others by Streamlit's 0.01.
        step = log_step(ss.get(common["key"]), lo) if lo > 0 and top / lo >= 1e3 else None
        where.number_input(f.label, lo, top, value=None if f.optional else "min", step=step,
                           format="%g", placeholder=placeholder, **common)


# Tabs that do not read the sidebar's network: its controls are shown disabled there, with a word why
# (a control that changes nothing on the page in front of the student would mislead).
OWN_NETWORK_TABS = ("training",)


def _net(name: str, persist: bool = False, off: bool = False, **kw: Any) -> None:
    extra = ""
    if name == "activation":  # the recommended gain, in the tooltip (no extra element on every run)
        act = activations.get(ss.get(state.key("net", "activation"), "tanh"))
        extra = f" Recommended gain for {act.name}: {act.gain:.4g} ({act.gain_source})."
    widget(NET, name, disabled=off, persist=persist, on_change=state.changed, args=(name,),
           help_extra=extra, **kw)


def sidebar(scenario: Scenario) -> None:
    """Draw the preset picker and every control the lesson does not hide.

    ``scenario`` is the one the page computes (already repaired): the formula caption describes it,
    never a half-typed value.
    """
    hide, lock = state.lesson()
    names = ["", *PRESETS]
    if ss.get("preset_pick") not in names:
        ss["preset_pick"] = ""
    if "preset" not in hide:
        in_lesson = state.in_lesson()
        st.selectbox(
            "Preset", names, key="preset_pick",
            format_func=lambda n: PRESETS[n].title if n else "— your own settings —",
            on_change=lambda: state.apply_preset(ss["preset_pick"]),
            help=("Off in this lesson link: your teacher fixed some settings, and a preset would change them."
                  if in_lesson else "Ready-made scenarios, each showing one lesson. Controls below start from "
                                    "the preset."),
            disabled="preset" in lock or in_lesson,
        )
    off = state.current_tab() in OWN_NETWORK_TABS
    if off:
        st.caption("The Training tab trains its own small network: its settings are on the page. The controls "
                   "below set the deep network of the other tabs.")
    _net("init", off=off)
    spec = initializers.spec(scenario.init)
    if "init" not in hide:
        st.caption(f"`{initializers.get(scenario.init, **scenario.init_params()).formula()}`")
    for pname, p in spec.params.items():
        if pname not in {f.name for f in NET.fields}:
            continue
        if p.kind == "choice":
            # Only what the schema accepts (PyTorch also lists conv* nonlinearities: gain 1, as linear).
            valid = choices_for(NET.field(pname))
            _net(pname, off=off, options=tuple(c for c in p.choices or () if c in valid),
                 default_label=str(p.default))
        else:
            _net(pname, off=off, placeholder=f"default {float(p.default):g}")
    for name in NETWORK:
        _net(name, off=off)
    base = Scenario()
    shown = [n for n in MORE if n not in hide]
    if shown:
        more = st.expander("More: seed, precision, bias, inputs, loss, LSUV", key="more_settings",
                           on_change="rerun", expanded=any(getattr(scenario, n) != getattr(base, n) for n in shown))
        if more.open:
            with more:
                for name in shown:
                    if name == "bias_value" and scenario.bias in BIASES_WITHOUT_VALUE:
                        continue
                    _net(name, persist=True, off=off)
    _architecture(scenario, [n for n in ARCHITECTURE if n not in hide], base, off)


def _set_net(name: str, value: Any) -> None:
    """Button callback: set the sidebar field ``name`` to ``value`` as its own widget would."""
    ss[NET.session_key(name)] = value
    state.changed(name)


def _architecture(scenario: Scenario, shown: list[str], base: Scenario, off: bool) -> None:
    """The residual-block and normalization controls, those that mean something for the network (a
    plain network has no branch scale), and the block's formula."""
    if not shown:
        return
    box = st.expander("Architecture: residual blocks, normalization", key="arch_settings", on_change="rerun",
                      expanded=any(getattr(scenario, n) != getattr(base, n) for n in shown))
    if not box.open:
        return
    unused = irrelevant(scenario)
    with box:
        for name in shown:
            if name not in unused:
                _net(name, persist=True, off=off)
        if "norm_eps" in shown and "norm_eps" not in unused:
            # Keras' 1e-3 is the default; PyTorch's 1e-5 one click away (and back).
            other, whose = (1e-5, "PyTorch's") if scenario.norm_eps != 1e-5 else (1e-3, "Keras'")
            st.button(f"Use {whose} ε = {other:g}", key="norm_eps_flip", icon=":material/swap_horiz:",
                      on_click=_set_net, args=("norm_eps", other),
                      disabled=off or state.fixed(NET, "norm_eps") == "lock")
        line = signal_summaries.architecture_line(scenario)
        st.caption(line or "Every layer: `h = f(h W + b)`, the plain network of the classic experiments.")


def back_button(values: Mapping[str, Any]) -> None:
    """On a preset or lesson link: a button that brings a student who wandered off back to what the link
    opened (its preset and values, tab and part; a lesson's hidden and locked controls stay as they are).
    Disabled while the page shows exactly that. Not drawn on a link with neither (nothing to go back to
    but the defaults, which the preset picker's first entry gives)."""
    link = ss["_link"]
    lesson = state.in_lesson()
    if not (lesson or link.preset in PRESETS):
        return
    what = f"the preset “{PRESETS[link.preset].title}” with this link's settings" if link.preset in PRESETS else \
        "this link's settings"
    st.button("Back to the lesson link" if lesson else "Back to the preset", key="back_to_link",
              icon=":material/undo:", on_click=state.back_to_link, disabled=state.at_link(values), width="stretch",
              help=f"Puts every control, the tab and its part back to what "
                   f"{'your teacher’s link' if lesson else 'this link'} opened: {what}.")


def page_control(section_id: str, name: str, where: Any = None, **kw: Any) -> None:
    """A page's own control (kept while the tab is closed, so its value stays in the link)."""
    widget(section(section_id), name, where=where, persist=True, **kw)
