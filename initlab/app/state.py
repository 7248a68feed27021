"""The page's state and the address bar: one codec (initlab.app.links) for both directions.

Page state is one value per section (``net``: the sidebar's scenario; ``signal``, ``compare``,
``ranges``: the tabs' own settings). Every widget's session key is ``"<section>.<field>"``
(:meth:`initlab.schema.Section.session_key`), so two sections can both have a ``seed``. The link is
decoded once per session by :func:`initlab.app.links.decode_query` (which clamps and reports), the widgets
run on ``st.session_state``, and after every run the address bar is rewritten by :func:`share_query`,
the function that builds the Share link, so the two can never disagree.

Why not Streamlit's ``bind="query-params"``: a bound widget silently drops a value it cannot parse and
silently resets an out-of-range one to its default, so the page could not say which parameter of a link
was ignored, could not clamp, and the address bar would lose the value the page shows.

Lesson links: a teacher's link may hide or lock sidebar controls. Nothing a student does changes them:
the preset picker and the Learn page's "Show me" buttons are off in a lesson (a preset applied to only
some controls would no longer show what its text says), and a size change that would push a locked
depth over the budget is undone instead of lowering the depth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from initlab.weights import initializers
from initlab.pages import PAGE_SPECS
from initlab.app.links import SECTIONS, STREAMLIT_KEYS, LinkState, cross_repair, decode_query, defaults, encode_query
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import INIT_PARAM_NAMES, NET, Notice, Scenario
from initlab.schema import format_value, parse_value

# Stable tab ids (in links) and their display labels (free to change), from the one list of pages.
TABS: dict[str, str] = {pid: p.label for pid, p in PAGE_SPECS.items()}
TAB_IDS: tuple[str, ...] = tuple(TABS)
TAB_LABELS: tuple[str, ...] = tuple(TABS.values())
TAB_ID_OF_LABEL = {label: tab_id for tab_id, label in TABS.items()}
PRESET_VALUES = {name: p.values() for name, p in PRESETS.items()}

ss = st.session_state


def key(section_id: str, name: str) -> str:
    """The session key of field ``name`` of section ``section_id`` (e.g. ``"net.depth"``)."""
    return f"{section_id}.{name}"


def start() -> LinkState:
    """Decode the link once per session and seed the controls from it; return the decoded link."""
    if "_link" not in ss:
        params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
        default = os.environ.get("INITLAB_DEFAULT_PRESET", "").strip()
        if default and not any(k in params for k in ("preset", *NET.keys())):
            params["preset"] = [default]  # a teacher's default; an unknown name is reported like any link
        link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
        ss["_link"] = link
        ss["_notices"] = list(link.notices)
        ss["_preset"] = link.preset
        _seed(link.values)
        ss["preset_pick"] = link.preset or ""
        ss["tab"] = TABS[link.tab or default_tab()]  # a preset opens on its own page unless the link names one
    return ss["_link"]


def lesson() -> tuple[frozenset[str], frozenset[str]]:
    """The lesson link's hidden and locked controls (both empty outside a lesson).

    An initializer parameter only exists for its initializer, so hiding or locking one locks ``init``.
    """
    link: LinkState = ss["_link"]
    lock = link.lock
    if (link.hide | link.lock) & set(INIT_PARAM_NAMES):
        lock = lock | {"init"}
    return link.hide, lock


def in_lesson() -> bool:
    link: LinkState = ss["_link"]
    return bool(link.hide or link.lock)


def _seed(values: Mapping[str, Any]) -> None:
    """Put every section's value into the widgets' session state."""
    for sec in SECTIONS:
        if sec.id not in values:
            continue
        for f in sec.fields:
            value = getattr(values[sec.id], f.name)
            if f.kind == "widths":  # its widget is a text box
                value = format_value(f, value)
            ss[key(sec.id, f.name)] = list(value) if isinstance(value, tuple) else value


def apply_preset(name: str | None) -> None:
    """Switch every control to a preset (or to the defaults for None/""), and open its page.

    Refused in a lesson link (the picker and the buttons are disabled there; this is the last guard).
    """
    if in_lesson():
        return
    name = name or None
    values = {**defaults(), **(PRESETS[name].values() if name in PRESETS else {})}
    _seed(values)
    ss["_preset"] = name
    ss["preset_pick"] = name or ""
    ss["_notices"] = []
    if name in PRESETS:
        ss["tab"] = TABS[PRESETS[name].tab]


def changed(name: str) -> None:
    """Widget callback of every sidebar control: keep the scenario computable.

    If the change pushes the scenario over the budget, depth is lowered to fit (and the notice says so)
    unless the lesson fixes depth: then the change itself is undone, with a notice.
    """
    values, notices = current()
    s: Scenario = values["net"]
    if ss.get(key("net", "depth")) == s.depth:
        return
    hide, lock = lesson()
    budget = [n for n in notices if n.key == "depth"]
    if "depth" in lock or "depth" in hide:
        last: Scenario = ss.get("_last_net", Scenario())
        ss[key("net", name)] = getattr(last, name)
        why = budget[0].message.split(": ", 1)[-1] if budget else ""
        ss["_adjusted"] = [Notice(name, f"{name} set back to {getattr(last, name)}: this lesson fixes the depth "
                                        f"at {ss.get(key('net', 'depth'))}, and {why}")]
        return
    ss[key("net", "depth")] = s.depth
    ss["_adjusted"] = budget


def current_tab() -> str:
    """The stable id of the open tab."""
    return TAB_ID_OF_LABEL.get(ss.get("tab") or "", default_tab())


def preset() -> str | None:
    """The preset the current view started from (None: the defaults)."""
    return ss.get("_preset")


def base() -> dict[str, Any]:
    """The page state the link is relative to: the preset's, else the defaults."""
    name = preset()
    return {**defaults(), **(PRESETS[name].values() if name in PRESETS else {})}


def current() -> tuple[dict[str, Any], list[Notice]]:
    """Every section's value as the controls describe it, each field checked on its own and the
    scenario repaired (never invalid, never over budget); the notices say what was changed."""
    b = base()
    out: dict[str, Any] = {}
    notices: list[Notice] = []
    for sec in SECTIONS:
        values: dict[str, Any] = {}
        for f in sec.fields:
            k = key(sec.id, f.name)
            if k in ss and f.kind == "widths" and isinstance(ss[k], str):
                try:
                    values[f.name], why = parse_value(f, ss[k])
                    if why:
                        notices.append(Notice(f.url_key, f"{f.label}: {why}"))
                except ValueError as exc:
                    notices.append(Notice(f.url_key, f"{f.label}: {exc}; using {format_value(f, getattr(b[sec.id], f.name))}"))
            elif k in ss:
                values[f.name] = ss[k]
            elif sec is NET and f.name in INIT_PARAM_NAMES:
                # Its widget is not on the page (the initializer does not take it): the initializer's default.
                values[f.name] = None
        if sec is NET:
            init = values.get("init", b["net"].init)
            accepted = initializers.spec(init).params if init in initializers.names() else {}
            values.update({k: None for k in INIT_PARAM_NAMES if k not in accepted})
        out[sec.id], more = sec.from_values(values, b[sec.id])
        notices.extend(more)
    notices.extend(cross_repair(out))
    return out, notices


def show_as_used(values: Mapping[str, Any]) -> None:
    """Put the values the page computes with back into the controls: a repaired value (clamped, cut by
    the budget, made to exist) is shown as used, never the typed one (the notice says what changed).

    Call it before the widgets are drawn (their session state can only be set then)."""
    for sec in SECTIONS:
        for f in sec.fields:
            k = key(sec.id, f.name)
            if k not in ss:
                continue
            used = getattr(values[sec.id], f.name)
            have = ss[k]
            if f.kind == "widths":
                try:  # "10, 5" stays as typed; "100,0" (clamped: a reason) becomes what is used, "64,1"
                    same = isinstance(have, str) and parse_value(f, have) == (used, None)
                except ValueError:
                    same = False
                if not same:
                    ss[k] = format_value(f, used)
            elif (tuple(have) if isinstance(have, list) else have) != used:
                ss[k] = list(used) if isinstance(used, tuple) else used


def sync_url(values: Mapping[str, Any], tab_label: str | None) -> None:
    """Rewrite the address bar: only non-default values, the version, the preset, the lesson options,
    the tab when it is not the preset's own page: exactly the Share link's query."""
    hide, lock = ss["_link"].hide, ss["_link"].lock
    want = share_query(values, hide, lock, tab_label)
    have = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    for k in list(have):
        if k in STREAMLIT_KEYS:
            continue  # Streamlit's own (?embed=true)
        if k not in want:
            del st.query_params[k]
    for k, value in want.items():
        if have.get(k) != [value]:
            st.query_params[k] = value


def share_query(values: Mapping[str, Any], hide: frozenset[str] = frozenset(), lock: frozenset[str] = frozenset(),
                tab_label: str | None = None) -> dict[str, str]:
    """The query of a link that reopens exactly this view (plus a teacher's hide/lock options)."""
    tab_id = TAB_ID_OF_LABEL.get(tab_label or "")
    return encode_query(values, preset=preset(), base=base(), hide=hide, lock=lock,
                        tab=tab_id if tab_id and tab_id != default_tab() else None)


def default_tab() -> str:
    """The tab id a link opens on when it names none: the preset's page, else Signal."""
    name = preset()
    return PRESETS[name].tab if name in PRESETS else TAB_IDS[0]


def remember(values: Mapping[str, Any]) -> None:
    """Keep the last computed scenario (what a refused change in a lesson goes back to)."""
    ss["_last_net"] = values["net"]

