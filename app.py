"""initlab: what does the choice of initial weights do to a neural network?

Streamlit entry point: page configuration, sidebar, tabs and wiring only (see initlab/ui/).
"""

import streamlit as st

# "auto": open beside the page on a wide screen, closed on a phone, where an open sidebar would cover
# the page a shared link opened (the controls are one tap away). No page icon: an emoji is an empty box
# without an emoji font, and a Material icon as favicon is fetched from fonts.gstatic.com (a failed
# request, and a console error, on a class's offline network); Streamlit's own favicon is served locally.
st.set_page_config(page_title="initlab: what initial weights do", layout="wide", initial_sidebar_state="auto")

from initlab.teaching.presets import PRESETS  # noqa: E402
from initlab.ui.results import cache as compute  # noqa: E402
from initlab.ui import controls
from initlab.ui import gate
from initlab.ui import logs
from initlab.ui import layout
from initlab.ui import pages  # noqa: E402
from initlab.ui import shell  # noqa: E402
from initlab.ui.results import products  # noqa: E402
from initlab.ui import state

HEADING = "### What does the choice of initial weights do to a neural network?"

# The heading's place also shows "in line" while this run waits for its turn (initlab/ui/gate.py: page
# runs are admitted first come, first served, a few at a time; the slot is released however the run
# ends, including when Streamlit stops it for a rerun).
heading = st.empty()
with gate.page_slot(heading, timeout=compute.QUEUE_TIMEOUT):
    compute.warm_up_once(products.warm_up_list)  # the list is made only the first time (0.3 ms a run otherwise)
    link = state.start()
    values, repairs = state.current()
    state.show_as_used(values)
    with st.sidebar:
        st.title("initlab")
        controls.back_button(values)
        controls.sidebar(values["net"])
    state.sync_url(values, st.session_state.get("tab"))
    state.remember(values)
    if dict(values) != dict(link.values):
        st.session_state["_notices"] = []  # the link's notices are about the link; the student moved on

    heading.markdown(HEADING)
    layout.page_style()
    shell.notices(st.session_state.get("_notices", []), "Some settings in this link could not be used as written:")
    shell.notices(repairs + st.session_state.pop("_adjusted", []), "Adjusted so that this scenario can be computed:")
    # The preset's box is drawn after the page: a Training preset's text quotes numbers of the training
    # the page runs (their digits depend on the CPU, so they are filled in from the results).
    box = st.empty()

    # The active tab lives in session state (seeded from the link) and goes into the address bar (as its
    # stable id) with the rest of the view, so "tab" follows the same rules as every other parameter.
    tabs = st.tabs(state.TAB_LABELS, key="tab", on_change="rerun")
    for tab_id, tab in zip(state.TAB_IDS, tabs):
        if tab.open:
            with tab:
                try:
                    pages.PAGES[tab_id](values)
                except Exception as exc:  # a page must never show a traceback to a student; the log has it
                    logs.failure(f"page {tab_id!r}", exc, {"values": dict(values)})
                    st.error(f"This page could not be drawn ({type(exc).__name__}). Try another setting or reload.")

    if state.preset() in PRESETS:
        with box.container():
            shell.preset_box(state.preset(), values)

    with st.sidebar:
        shell.share_box(values, st.session_state.get("tab"))
