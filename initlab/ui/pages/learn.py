"""The Learn page: the classic texts' and papers' ideas in short (:data:`initlab.teaching.lessons.LESSONS`),
each with buttons that open its presets, on their page and the part the lesson is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from initlab.ui import state
from initlab.ui.links import defaults
from initlab.ui.shell import Values
from initlab.pages import PAGE_SPECS, THEORY_PARTS, TRAINING_PARTS
from initlab.signal.scenario import Scenario
from initlab.teaching.lessons import LESSONS
from initlab.teaching.presets import PRESETS


def draw(values: Values) -> None:
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
                           help=opens_on(name), on_click=state.apply_preset, args=(name,))


_PARTS = {"training": TRAINING_PARTS, "theory": THEORY_PARTS}


def opens_on(name: str) -> str:
    """Where a preset's button leads: its page, and on the Training and Theory pages the part it opens."""
    p = PRESETS[name]
    where = f"Opens the {PAGE_SPECS[p.tab].label} page with this preset"
    if p.tab in _PARTS:
        where += f", at its part “{_PARTS[p.tab][{**defaults(), **p.values()}[p.tab].show]}”"
    return where + "."


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """The Learn page computes nothing."""
    return []
