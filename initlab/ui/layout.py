"""How the page fits a screen, where Streamlit has no parameter for it: tables whose first column stays in
view while the rest scrolls sideways (a phone is 390 px wide; the Training summary needs about 490).

* ``st.table`` (:func:`initlab.ui.shell.static_table`): a CSS rule (:func:`page_style`, one ``<style>``
  element per run, which Streamlit puts in its event container, so it takes no room) makes the first
  column (the index: which initializer or depth a row is about) sticky; Streamlit's wrapper already
  scrolls. Its own sticky index (``st.table(width=<pixels>)``) also stops every cell from wrapping and
  cuts long ones with an ellipsis, so on a wide screen the table would scroll where wrapped headers fit.
  The sticky cell needs an opaque background: ``Canvas`` is the page's colour in the colour scheme
  Streamlit sets on the app (white in the light theme, near-black in the dark one).
* ``st.dataframe`` (:func:`dataframe`): its grid scrolls by itself; the first column is pinned.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import streamlit as st

TABLE_CSS = """
[data-testid="stTable"] th:first-child {
  position: sticky; left: 0; z-index: 1; background-color: Canvas;
}
"""


def page_style() -> None:
    st.html(f"<style>{TABLE_CSS}</style>")


def dataframe(table: pa.Table, **kwargs: Any) -> None:
    """``st.dataframe(table)`` without the index, the width of the page, its first column pinned."""
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={table.column_names[0]: st.column_config.Column(pinned=True)}, **kwargs)
