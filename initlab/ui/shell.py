"""What every page shares: section headings, the page's result or a message instead of a traceback,
verdict boxes, tables, the parts of a page as lazy tabs, the preset's box, the notices, the downloads and
code, and the Share box. No science: the sentences with numbers come from the core's summaries.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import streamlit as st

from initlab.ui import figures, logs, state
from initlab.ui.links import CONTROLS, differences, lesson_lock
from initlab.ui.links import section as link_section
from initlab.ui.results import cache as compute
from initlab.pages import PAGE_SPECS, train_comparison
from initlab.signal import verdict
from initlab.signal.network import Result
from initlab.signal.scenario import Scenario
from initlab.teaching.presets import PRESETS
from initlab.training import summaries as train_summaries

ss = st.session_state


TEXTS = compute.CACHE_ENTRIES * 4  # cached page texts and tables (small), per function


Values = Mapping[str, Any]


def section(title: str | None, text: str) -> None:
    """A heading and its explanation as one element (each element is a message to every browser)."""
    st.markdown((f"##### {title}\n\n" if title else "") + f":gray[{text}]")


def result_or_say(s: Scenario) -> Result | None:
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


def verdict_box(v: verdict.Verdict) -> None:
    body = f"**{v.headline}**\n\n" + "\n".join(f"- {d}" for d in v.details)
    {"healthy": st.success, "vanishing": st.warning, "exploding": st.warning}.get(v.kind, st.error)(body)


def scale_words(fig: go.Figure) -> str:
    if figures.log_y(fig):
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
    """``rows`` as the Arrow table ``st.dataframe(rows)`` would make of them (pyarrow's own conversion, as
    Streamlit's; every column of these rows has one type, so Streamlit's fallback for mixed columns is
    never needed), made once: a cached table is sent without building a DataFrame on every run."""
    return pa.Table.from_pandas(pd.DataFrame(rows))


def part_tabs(section_id: str, parts: Mapping[str, str], current: str) -> tuple[str, Any]:
    """Tabs for the parts of a page (``parts``: stable id -> label), drawn lazily: returns the id of the
    open one and its container, which the caller fills (the others stay empty until opened). The open part
    is the view's ``show`` field, so a link reopens it."""
    k = f"{section_id}.show_ui"
    ss[k] = parts.get(current, next(iter(parts.values())))
    fix = state.fixed(link_section(section_id), "show")
    if fix:
        # A lesson fixes the part: tabs cannot be disabled, so only the open part is drawn; locked, it keeps
        # its tab (its name shown, the only choice), hidden, none.
        pid = current if current in parts else next(iter(parts))
        return pid, st.container() if fix == "hide" else st.tabs([parts[pid]])[0]
    tabs = st.tabs(list(parts.values()), key=k, on_change=_set_part, args=(section_id, dict(parts)))
    for pid, tab in zip(parts, tabs):
        if tab.open:
            return pid, tab
    return current, tabs[list(parts).index(current)] if current in parts else tabs[0]


def _set_part(section_id: str, parts: dict[str, str]) -> None:
    label = ss.get(f"{section_id}.show_ui")
    ss[f"{section_id}.show"] = next((pid for pid, lbl in parts.items() if lbl == label), next(iter(parts)))


MAX_DIFFERENCES = 6  # changes listed under a preset's text; more are counted


# Fields that change which part of a page is open, or the range of an axis, but none of the numbers a
# preset's text quotes: opening another part of the page leaves the text true.
PRESENTATION_ONLY = {("training", "show"), ("training", "run"), ("training", "frame"), ("training", "norms"),
                     ("training", "layer"),
                     ("theory", "show"), ("theory", "sw2_max"), ("theory", "sb2_max")}


def preset_text(name: str) -> str | None:
    """The preset's text, its measured numbers filled in from the results its page computed (None while
    they are not computed: a preset's own numbers are never computed just for its text)."""
    p = PRESETS[name]
    if p.facts != "train":
        return p.text
    view = p.views["training"]
    pairs = train_comparison(p.views["train"], view.entries, view.by)
    got = [compute.trained(ts) for _, ts in pairs]
    if any(r is None for r in got):
        return None
    return p.fill(train_summaries.train_facts(dict(zip(view.entries, got))))  # type: ignore[arg-type]


def preset_box(name: str, values: Values) -> None:
    """The blue box: the preset's title and text, and once the student changed something the text is about,
    what differs (the text describes the preset, not the page any more)."""
    p = PRESETS[name]
    text = preset_text(name)
    text = text if text is not None else "its numbers appear here once its training has run (open its Training tab)."
    changed = differences(values, state.base(), PAGE_SPECS[p.tab].sections, ignore=PRESENTATION_ONLY)
    if changed:
        # The text is kept one click away: quoted above a page it no longer describes, it would mislead.
        listed = "; ".join(changed[:MAX_DIFFERENCES]) + (f"; and {len(changed) - MAX_DIFFERENCES} more"
                                                         if len(changed) > MAX_DIFFERENCES else "")
        # "differs", not "you changed": a link (a teacher's lesson) may carry the changes itself.
        st.info(f"**{p.title}** — this page differs from the preset: {listed}. The preset's text describes the "
                "preset, not what is on screen now.", icon=":material/school:")
        with st.expander("What the preset's text says (about the preset's own settings)"):
            st.markdown(text)
        return
    body = f"**{p.title}**: {text}"
    if state.current_tab() != p.tab:
        body += f"\n\n*This text is about the **{state.TABS[p.tab]}** tab.*"
    st.info(body, icon=":material/school:")


def exports(values: Values, res: Result) -> None:
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
        names = list(CONTROLS)
        hide = st.multiselect("Hide these controls", names, key="lesson_hide", format_func=control_label,
                              help="Students won't see them; the link's values still apply. Every control of "
                                   "every page is listed, by where it is drawn.")
        free = [n for n in names if n not in hide]
        if any(n not in free for n in ss.get("lesson_lock", [])):  # hidden since: only hidden (it is fixed too)
            ss["lesson_lock"] = [n for n in ss["lesson_lock"] if n in free]
        lock = st.multiselect("Lock these controls", free, key="lesson_lock", format_func=control_label,
                              help="Shown, but students cannot change them.")
        also = sorted(lesson_lock(hide, lock) - set(lock) - set(hide), key=names.index)
        st.caption("In a lesson link the preset picker and the “Show me” buttons are off, so that nothing a "
                   "student clicks changes what you fixed; a “Back to the lesson link” button brings a student "
                   "back to this view."
                   + (f" Also locked: {', '.join(control_label(n) for n in also)} (an initializer's parameter "
                      "belongs to it)." if also else ""))
        url = base + "?" + urlencode(state.share_query(values, frozenset(hide), frozenset(lock), tab_label=tab_label))
        st.code(url, language=None, wrap_lines=True)
        # The student view is the lesson link itself, opened in a new browser tab: a new session that decodes
        # it as a student's browser does, so what the teacher sees there is what students get.
        st.link_button("Open it as a student sees it", url, icon=":material/school:",
                       help="Opens the lesson link above in a new browser tab: the same hidden and locked controls, "
                            "the same values, tab and part as your students will get.")


def control_label(key: str) -> str:
    """How a lesson control reads in the Share box: where it is drawn, its label and its link key
    (``Training › Dataset · tr_dataset``)."""
    c = CONTROLS[key]
    return c.title + (f" · {key}" if key != c.label else "")


def notices(items: list, heading: str) -> None:  # type: ignore[type-arg]
    """Ignored / clamped / adjusted parameters, one line each (values are quoted by the codec)."""
    if not items:
        return
    lines = "\n".join(f"- {n.message}" for n in items)
    st.warning(f"{heading}\n{lines}", icon=":material/warning:")
