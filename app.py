"""initlab: what does the choice of initial weights do to a neural network?

Streamlit entry point: page configuration, sidebar, tabs and wiring only (see initlab/ui/).
"""

import streamlit as st

st.set_page_config(page_title="initlab: what initial weights do", page_icon="🧪", layout="wide",
                   initial_sidebar_state="expanded")

from initlab.presets import PRESETS  # noqa: E402
from initlab.ui import controls, pages, state  # noqa: E402

link = state.start()
with st.sidebar:
    st.title("initlab")
    controls.sidebar(link.hide, link.lock)
scenario, view, repairs = state.current()
state.sync_url(scenario, view, link.hide, link.lock)

st.markdown("### What does the choice of initial weights do to a neural network?")
pages.notices(list(st.session_state.get("_notices", [])) + repairs)
if state.preset() in PRESETS:
    p = PRESETS[state.preset()]
    st.info(f"**{p.title}**: {p.text}", icon="🎯")

tabs = st.tabs(state.TAB_LABELS, default=state.default_tab(), key="tab", bind="query-params")
for label, tab in zip(state.TAB_LABELS, tabs):
    if tab.open:
        with tab:
            try:
                pages.PAGES[label](scenario, view)
            except Exception as exc:  # a page must never show a traceback to a student
                st.error(f"This page could not be drawn ({type(exc).__name__}). Try another setting or reload.")

with st.sidebar:
    st.divider()
    pages.share_box(scenario, view, st.session_state.get("tab"))
