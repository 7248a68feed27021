"""The page's state and the address bar: one codec (initlab.ui.links) for both directions.

Page state is one value per section (``net``: the sidebar's scenario; ``signal``, ``compare``,
``ranges``: the tabs' own settings). Every widget's session key is ``"<section>.<field>"``
(:meth:`initlab.schema.Section.session_key`), so two sections can both have a ``seed``. The link is
decoded once per session by :func:`initlab.ui.links.decode_query` (which clamps and reports), the widgets
run on ``st.session_state``, and after every run the address bar is rewritten by :func:`share_query`,
the function that builds the Share link, so the two can never disagree.

Why not Streamlit's ``bind="query-params"``: a bound widget silently drops a value it cannot parse and
silently resets an out-of-range one to its default, so the page could not say which parameter of a link
was ignored, could not clamp, and the address bar would lose the value the page shows.

Lesson links: a teacher's link may hide or lock any control of any section (by its link key,
:data:`initlab.ui.links.CONTROLS`). Nothing a student does changes them: their values are *pinned* to
the link's in :func:`current`, whatever the session state says; the preset picker and the Learn page's
"Show me" buttons are off in a lesson (a preset applied to only some controls would no longer show what
its text says); and a change whose repair (a budget cut, a restart that no longer exists) would move a
pinned value is undone, with a notice, instead. :func:`back_to_link` brings a student who wandered off
back to what the link opened.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from initlab.weights import initializers
from initlab.pages import PAGE_SPECS
from initlab.ui.links import (CONTROLS, SECTIONS, STREAMLIT_KEYS, LinkState, cross_repair, decode_query, defaults,
                               encode_query, lesson_lock)
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import INIT_PARAM_NAMES, NET, Notice
from initlab.schema import Section, format_value, parse_value

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
        _restore(link)
    return ss["_link"]


def _restore(link: LinkState) -> None:
    """Every control, the preset and the tab as ``link`` opened them (and its notices)."""
    ss["_notices"] = list(link.notices)
    ss["_preset"] = link.preset
    _seed(link.values)
    ss["_last"] = dict(link.values)
    ss["preset_pick"] = link.preset or ""
    ss["tab"] = TABS[link.tab or default_tab()]  # a preset opens on its own page unless the link names one


def lesson() -> tuple[frozenset[str], frozenset[str]]:
    """The lesson link's hidden and locked controls, as link keys (both empty outside a lesson).

    An initializer parameter only exists for its initializer, so hiding or locking one locks its section's
    initializer too (:func:`initlab.ui.links.lesson_lock`).
    """
    link: LinkState = ss["_link"]
    return link.hide, lesson_lock(link.hide, link.lock)


def in_lesson() -> bool:
    link: LinkState = ss["_link"]
    return bool(link.hide or link.lock)


def fixed(sec: Section, name: str) -> str:
    """``"hide"`` or ``"lock"`` when the lesson hides or locks field ``name`` of ``sec``, else ``""``:
    what every widget asks before it is drawn (so a new field needs no code to be hidden or locked)."""
    hide, lock = lesson()
    k = sec.field(name).url_key
    return "hide" if k in hide else "lock" if k in lock else ""


def pins() -> dict[tuple[str, str], Any]:
    """``(section id, field name) -> value`` of every hidden or locked field: the link's value, which
    nothing a student does may change."""
    hide, lock = lesson()
    link: LinkState = ss["_link"]
    out: dict[tuple[str, str], Any] = {}
    for k in hide | lock:
        c = CONTROLS[k]
        if c.section:
            out[(c.section, c.name)] = getattr(link.values[c.section], c.name)
    return out


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

    Refused in a lesson link, with a notice (the picker and the buttons are disabled there; this is the
    last guard): the lesson's fixed values would have to change with it.
    """
    if in_lesson():
        if name in PRESETS:
            ss["_adjusted"] = [Notice("preset", f"Preset {PRESETS[name].title!r} not opened: this lesson link fixes "
                                                "some settings, and a preset would change them")]
        ss["preset_pick"] = preset() or ""
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

    If the change pushes the scenario over the budget, depth is lowered to fit (and the notice says so).
    When the lesson fixes the depth, :func:`current` undoes the change instead (the depth it returns is
    the pinned one, so nothing is done here).
    """
    values, notices = current()
    depth = values["net"].depth
    if ss.get(key("net", "depth")) == depth:
        return
    ss[key("net", "depth")] = depth
    ss["_adjusted"] = [n for n in notices if n.key == "depth"]


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
    scenario repaired (never invalid, never over budget); the notices say what was changed.

    In a lesson, a hidden or locked field takes the link's value whatever its control says (a control
    that says otherwise is reported, and :func:`show_as_used` puts the value back); a change whose repair
    would move such a value is undone: every section goes back to its last computed value, with a notice.
    """
    b = base()
    pinned = pins()
    out: dict[str, Any] = {}
    asked: dict[str, dict[str, Any]] = {}
    notices: list[Notice] = []
    for sec in SECTIONS:
        values = _read(sec, b[sec.id], notices)
        for (sid, name), v in pinned.items():
            if sid == sec.id:
                if name in values and not _same(values[name], v):
                    f = sec.field(name)
                    notices.append(Notice(f.url_key, f"{CONTROLS[f.url_key].title} is fixed by this lesson: kept at "
                                                     f"{format_value(f, v) or 'default'}"))
                values[name] = v
        if sec is NET:
            init = values.get("init", b["net"].init)
            accepted = initializers.spec(init).params if init in initializers.names() else {}
            values.update({k: None for k in INIT_PARAM_NAMES if k not in accepted})
        asked[sec.id] = values
        out[sec.id], more = sec.from_values(values, b[sec.id])
        notices.extend(more)
    notices.extend(cross_repair(out))
    moved = [(sid, name) for (sid, name), v in pinned.items() if getattr(out[sid], name) != v]
    if moved:
        return _undo(moved, asked, notices)
    return out, notices


def _same(a: Any, b: Any) -> bool:
    return (tuple(a) if isinstance(a, list) else a) == b


def _undo(moved: list[tuple[str, str]], asked: Mapping[str, Mapping[str, Any]], notices: list[Notice]
          ) -> tuple[dict[str, Any], list[Notice]]:
    """The last computed values, and a notice for each control the student changed: keeping the change
    would have moved the pinned fields ``moved`` (say a budget cut of a locked depth), so it is undone."""
    last: dict[str, Any] = ss["_last"]
    sec_of = {sec.id: sec for sec in SECTIONS}
    sid, name = moved[0]
    pf = sec_of[sid].field(name)
    why = "; ".join(n.message for n in notices if n.key == pf.url_key)
    fixes = (f"this lesson fixes {CONTROLS[pf.url_key].title} at {format_value(pf, getattr(last[sid], name))}"
             + (f", and this change would move it ({why})" if why else ", and this change would move it"))
    out: list[Notice] = []
    for sec in SECTIONS:
        for f in sec.fields:
            if f.name in asked[sec.id] and not _same(asked[sec.id][f.name], getattr(last[sec.id], f.name)):
                old = format_value(f, getattr(last[sec.id], f.name)) or "default"
                out.append(Notice(f.url_key, f"{CONTROLS[f.url_key].title} set back to {old}: {fixes}"))
    return dict(last), out or [Notice(pf.url_key, f"Settings set back: {fixes}")]


def _read(sec: Section, base: Any, notices: list[Notice]) -> dict[str, Any]:
    """Field name -> value of the controls of ``sec`` in the session (a widths text box parsed, with a
    notice when it was not taken as typed)."""
    values: dict[str, Any] = {}
    for f in sec.fields:
        k = key(sec.id, f.name)
        if k in ss and f.kind == "widths" and isinstance(ss[k], str):
            try:
                values[f.name], why = parse_value(f, ss[k])
                if why:
                    notices.append(Notice(f.url_key, f"{f.label}: {why}"))
            except ValueError as exc:
                notices.append(Notice(f.url_key, f"{f.label}: {exc}; using {format_value(f, getattr(base, f.name))}"))
        elif k in ss:
            values[f.name] = ss[k]
        elif sec is NET and f.name in INIT_PARAM_NAMES:
            # Its widget is not on the page (the initializer does not take it): the initializer's default.
            values[f.name] = None
    return values


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
    """Keep the last computed values (what a refused change in a lesson goes back to)."""
    ss["_last"] = dict(values)


def at_link(values: Mapping[str, Any]) -> bool:
    """True while the page shows what the link opened: its values (tab parts included) and its tab."""
    link: LinkState = ss["_link"]
    return dict(values) == dict(link.values) and current_tab() == (link.tab or default_tab())


def back_to_link() -> None:
    """Button callback: every control, the preset, the tab and its part back to what the link opened.

    The lesson's hidden and locked controls are the link's, so they hold; its notices about the link
    are shown again, since the page is the link's again."""
    _restore(ss["_link"])

