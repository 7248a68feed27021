"""Sidebar controls, built from the scenario schema (bounds, choices, help come from FIELDS).

Widgets read and write ``st.session_state[field name]``; :mod:`initlab.ui.state` seeds those values
from the link and writes the address bar back. A lesson link can hide controls (not drawn; the link's
value stays) or lock them (drawn disabled).
"""

from __future__ import annotations

import streamlit as st

from initlab import activations, initializers
from initlab.presets import PRESETS
from initlab.scenario import FIELD_BY_NAME, FieldSpec, Scenario, choices_for
from initlab.ui import state

ss = st.session_state

# Widgets for the engine's fields, in the order they appear; init parameters come after "init".
NETWORK = ("activation", "depth", "width", "batch")
# Less used settings live in an expander that is built only while open (every widget is a message to
# every student's browser on every run); persist_state keeps their values while it is closed.
MORE = ("seed", "dtype", "bias", "bias_value", "inputs", "loss", "shared", "lsuv")


def _label(f: FieldSpec) -> str:
    return f.label


def _number(f: FieldSpec, common: dict, *, optional_default: float | None = None) -> None:  # type: ignore[type-arg]
    """A number widget for ``f``: slider for the network's sizes, number input for the rest."""
    if f.kind == "int" and f.name in ("depth", "width", "batch"):
        # A size change can push the scenario over budget: the callback lowers depth so the slider
        # always shows what is computed.
        st.slider(_label(f), int(f.lo), int(f.hi), on_change=state.fit_budget, **common)
    elif f.kind == "int":
        st.number_input(_label(f), int(f.lo), int(f.hi), step=1, **common)
    else:
        placeholder = f"default {optional_default:g}" if optional_default is not None else None
        st.number_input(_label(f), float(f.lo), float(f.hi), value=None if f.optional else "min", format="%g",
                        placeholder=placeholder, **common)


def _choice(f: FieldSpec, common: dict, *, options: tuple[str, ...] | None = None,  # type: ignore[type-arg]
            default: str | None = None) -> None:
    opts: list[str | None] = list(options or choices_for(f))
    if f.optional:
        opts = [None, *opts]
    st.selectbox(_label(f), opts, on_change=state.fit_budget,
                 format_func=lambda v: f"default ({default})" if v is None else str(v), **common)


def _field(name: str, hide: frozenset[str], lock: frozenset[str], persist: bool = False, **kw: object) -> None:
    if name in hide:
        return
    f = FIELD_BY_NAME[name]
    help_text = f.help
    if name == "activation":  # the recommended gain, in the tooltip (no extra element on every run)
        act = activations.get(ss.get("activation", "tanh"))
        help_text += f" Recommended gain for {act.name}: {act.gain:.4g} ({act.gain_source})."
    common = dict(key=name, help=help_text, disabled=name in lock, persist_state="session" if persist else None)
    if f.kind == "bool":
        st.checkbox(_label(f), on_change=state.fit_budget, **common)
    elif f.kind == "choice":
        _choice(f, common, **kw)  # type: ignore[arg-type]
    else:
        _number(f, common, **kw)  # type: ignore[arg-type]


def sidebar(hide: frozenset[str], lock: frozenset[str]) -> None:
    """Draw the preset picker and every control the lesson does not hide."""
    names = ["", *PRESETS]
    if ss.get("preset_pick") not in names:
        ss["preset_pick"] = ""
    if "preset" not in hide:
        st.selectbox(
            "Preset", names, key="preset_pick",
            format_func=lambda n: PRESETS[n].title if n else "— your own settings —",
            on_change=lambda: state.apply_preset(ss["preset_pick"]),
            help="Ready-made scenarios, each showing one lesson. Controls below start from the preset.",
            disabled="preset" in lock,
        )
    _field("init", hide, lock)
    init = ss.get("init", "glorot_uniform")
    spec = initializers.spec(init)
    if "init" not in hide:
        params = {k: ss.get(k) for k in spec.params if k in FIELD_BY_NAME}
        try:
            st.caption(f"`{initializers.get(init, **params).formula()}`")
        except ValueError as exc:  # e.g. minval > maxval typed in: say so, the page uses the defaults
            st.caption(f":red[{exc}]")
    for pname, p in spec.params.items():
        if pname not in FIELD_BY_NAME:
            continue
        if p.kind == "choice":
            # Only what the schema accepts (PyTorch also lists conv* nonlinearities: gain 1, as linear).
            valid = choices_for(FIELD_BY_NAME[pname])
            _field(pname, hide, lock, options=tuple(c for c in p.choices or () if c in valid), default=str(p.default))
        else:
            _field(pname, hide, lock, optional_default=float(p.default))
    for name in NETWORK:
        _field(name, hide, lock)
    shown = [n for n in MORE if n not in hide]
    if not shown:
        return
    base = Scenario()
    more = st.expander("More: seed, precision, bias, inputs, loss, LSUV", key="more_settings", on_change="rerun",
                       expanded=any(ss.get(n, getattr(base, n)) != getattr(base, n) for n in shown))
    if more.open:
        with more:
            for name in shown:
                if name == "bias_value" and ss.get("bias", "zeros") == "zeros":
                    continue
                _field(name, hide, lock, persist=True)
