"""The page's state and the address bar: one codec (initlab.scenario) for both directions.

Why not Streamlit's ``bind="query-params"`` for the controls: a bound widget silently drops a value it
cannot parse and silently resets an out-of-range one to its default, so the page could not say which
parameter of a link was ignored, could not clamp, and the URL would lose the value the page shows.
Here the link is decoded once per session by :func:`initlab.scenario.decode_query` (which clamps and
reports), the widgets (and the tabs) run on ``st.session_state``, and after every run the address bar
is rewritten by :func:`share_query`, the same function that builds the Share link, so the two can
never disagree.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import streamlit as st

from initlab import initializers

from initlab.presets import PRESETS
from initlab.scenario import (
    FIELDS,
    INIT_PARAM_NAMES,
    LINK_KEYS,
    STREAMLIT_KEYS,
    VIEW_FIELDS,
    LinkState,
    Notice,
    Scenario,
    View,
    check_value,
    decode_query,
    encode_query,
    repair,
)

TAB_LABELS = ("Signal", "Gradients", "Weight ranges", "Compare", "Learn")
TAB_OF_PRESET = {"signal": "Signal", "gradients": "Gradients", "ranges": "Weight ranges", "compare": "Compare"}
PRESET_SCENARIOS = {name: p.scenario for name, p in PRESETS.items()}
_OWN_KEYS = {f.name for f in FIELDS} | {f.name for f in VIEW_FIELDS} | set(LINK_KEYS)

ss = st.session_state


def start() -> LinkState:
    """Decode the link once per session and seed the controls from it; return the decoded link."""
    if "_link" not in ss:
        params = {key: st.query_params.get_all(key) for key in st.query_params.keys()}
        default = os.environ.get("INITLAB_DEFAULT_PRESET", "").strip()
        if default and not any(k in params for k in ("preset", *(f.name for f in FIELDS))):
            params["preset"] = [default]  # a teacher's default; an unknown name is reported like any link
        link = decode_query(params, PRESET_SCENARIOS, tabs=TAB_LABELS)
        ss["_link"] = link
        ss["_notices"] = list(link.notices)
        _seed(link.scenario, link.view, link.preset)
        ss["tab"] = link.tab or default_tab()  # a preset opens on its own page unless the link names one
    return ss["_link"]


def _seed(s: Scenario, view: View | None, preset: str | None) -> None:
    """Put a scenario (and view) into the widgets' session state."""
    for f in FIELDS:
        ss[f.name] = getattr(s, f.name)
    if view is not None:
        for f in VIEW_FIELDS:
            value = getattr(view, f.name)
            ss[f.name] = list(value) if isinstance(value, tuple) else value
    ss["_preset"] = preset
    ss["preset_pick"] = preset or ""


def apply_preset(name: str | None) -> None:
    """Switch every scenario control to a preset (or to the defaults for None/"")."""
    name = name or None
    s = PRESETS[name].scenario if name in PRESETS else Scenario()
    _seed(s, None, name)
    ss["_notices"] = []
    if name in PRESETS:
        ss["tab"] = TAB_OF_PRESET[PRESETS[name].tab]


def fit_budget() -> None:
    """Widget callback: after a size change, bring depth back within the budget (and show it)."""
    s, _, notices = current()
    if ss.get("depth") != s.depth:
        ss["depth"] = s.depth
        ss["_adjusted"] = [n for n in notices if n.key == "depth"]  # shown once; the rest shows anyway


def preset() -> str | None:
    """The preset the current view started from (None: the defaults)."""
    return ss.get("_preset")


def base() -> Scenario:
    """The scenario the link is relative to: the preset's, else the defaults."""
    name = preset()
    return PRESETS[name].scenario if name in PRESETS else Scenario()


def current() -> tuple[Scenario, View, list[Notice]]:
    """The scenario and view the controls describe, repaired (never invalid, never over budget)."""
    b = base()
    values: dict[str, Any] = {}
    for f in FIELDS:
        # A parameter whose widget is not on the page (it does not apply to this initializer) was
        # dropped from session state by Streamlit: it means "the initializer's default".
        default = None if f.name in INIT_PARAM_NAMES else getattr(b, f.name)
        values[f.name] = ss.get(f.name, default)
    # Parameters of another initializer (left from before the user switched) mean nothing here.
    accepted = initializers.spec(values["init"]).params if values["init"] in initializers.names() else {}
    values.update({k: None for k in INIT_PARAM_NAMES if k not in accepted})
    s = Scenario(**values)
    try:
        s.validate()
        notices: list[Notice] = []
        s, notices = repair(s, b, set())
    except ValueError as exc:
        # Widgets keep values inside the schema, so only cross-field rules can land here.
        s, notices = repair(dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES}), b, set())
        notices.insert(0, Notice("init", f"{exc}; using the defaults of {s.init}"))
    view_values = {}
    for f in VIEW_FIELDS:
        value = ss.get(f.name, getattr(View(), f.name))
        view_values[f.name] = tuple(value) if isinstance(value, list) else value
    try:
        view = View(**view_values)
        for f in VIEW_FIELDS:
            check_value(f, getattr(view, f.name))
    except (TypeError, ValueError):
        view = View()  # e.g. fewer than two to compare: the page says so, the link keeps the defaults
    return s, view, notices


def sync_url(s: Scenario, view: View, hide: frozenset[str], lock: frozenset[str], tab: str | None) -> None:
    """Rewrite the address bar from the scenario: only non-default values, the version, the preset,
    the tab when it is not the preset's own page: exactly the Share link's query."""
    want = share_query(s, view, hide, lock, tab=tab)
    have = {key: st.query_params.get_all(key) for key in st.query_params.keys()}
    for key in list(have):
        if key in STREAMLIT_KEYS:
            continue  # Streamlit's own (?embed=true)
        if key not in want:
            del st.query_params[key]
    for key, value in want.items():
        if have.get(key) != [value]:
            st.query_params[key] = value


def share_query(s: Scenario, view: View, hide: frozenset[str] = frozenset(), lock: frozenset[str] = frozenset(),
                tab: str | None = None) -> dict[str, str]:
    """The query of a link that reopens exactly this view (plus a teacher's hide/lock options)."""
    q = encode_query(s, view, preset=preset(), base=base(), hide=hide, lock=lock)
    if tab and tab != default_tab():
        q["tab"] = tab
    return q


def default_tab() -> str:
    """The tab a link opens on when it names none: the preset's page, else Signal."""
    name = preset()
    return TAB_OF_PRESET[PRESETS[name].tab] if name in PRESETS else TAB_LABELS[0]
