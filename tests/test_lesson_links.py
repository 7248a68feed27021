"""Lesson links through the real app (AppTest): every control of every section can be hidden or locked,
and nothing a student does moves a hidden or locked value.

The controls each page draws are found by opening the page (no list of them here): the registry
(``PAGE_SPECS``) says which sections a page reads, the schema which fields they have. Every student
action is tried on a locked value: its own widget (a crafted client can send a change to a disabled
widget), the preset picker and the Learn page's "Show me" buttons (same), the budget's repairs, a
cross-section repair, a reload of the address bar, and the "Back to the lesson link" button.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from initlab.ui.links import CONTROLS, SECTIONS, decode_query, section
from initlab.ui.state import PRESET_VALUES, TAB_IDS, TABS
from initlab.ui.shell import control_label
from initlab.pages import PAGE_SPECS
from tests.app_util import open_clean, open_link

ADJUSTED_HEAD = "Adjusted so that this scenario can be computed"
WIDGETS = ("slider", "select_slider", "selectbox", "number_input", "checkbox", "radio", "multiselect", "text_input")
# Small enough that every page is quick: a 6-layer network and a 100-step training of 2 restarts.
CHEAP = {"depth": "6", "width": "16", "batch": "8", "tr_steps": "100", "tr_restarts": "2", "tr_n_train": "40"}
# The expanders that hold controls, opened so their controls are drawn.
EXPANDERS = ("more_settings", "train_settings")


def adjusted(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning if w.value.startswith(ADJUSTED_HEAD))


def query(at: AppTest) -> dict[str, str]:
    return {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}


def drawn(at: AppTest, keys: set[str]) -> dict[str, object]:
    """Session key -> widget of every drawn control whose key is in ``keys``."""
    out = {}
    for kind in WIDGETS:
        for w in getattr(at, kind):
            if w.key in keys:
                out[w.key] = w
    return out


def opened(params: dict[str, str]) -> AppTest:
    """``?params`` with the expanders that hold controls open (each is drawn only while open)."""
    at = open_link(params)
    for k in EXPANDERS:
        at.session_state[k] = True
    return at.run()


def own_sections(page: str) -> list[str]:
    """The sections whose controls a page draws: the ones the registry says it reads (the sidebar's
    network is drawn on every page; it is tested on the pages that read it)."""
    return list(PAGE_SPECS[page].sections)


def cases() -> list[tuple[str, dict[str, str]]]:
    """(page, extra link values): every page that reads a section, opened on each of its parts (the
    choices of a section's ``show`` field: a part draws its own controls), and the Training page with its
    custom initializer (whose parameters are drawn only then)."""
    out: list[tuple[str, dict[str, str]]] = []
    for page in PAGE_SPECS:
        parts = [(f.url_key, c) for sid in own_sections(page) for f in section(sid).fields if f.name == "show"
                 for c in (f.choices or ())]
        out += [(page, {k: c}) for k, c in parts] or ([(page, {})] if own_sections(page) else [])
    out.append(("training", {"tr_cmp": "custom,he", "tr_init": "random_normal", "tr_stddev": "0.5"}))
    return out


@pytest.mark.parametrize("page, extra", cases(), ids=[f"{p}-{'-'.join(e.values()) or 'page'}" for p, e in cases()])
def test_every_control_a_page_draws_can_be_locked_or_hidden(page: str, extra: dict[str, str]) -> None:
    keys = [f.url_key for sid in own_sections(page) for f in section(sid).fields]
    session = {CONTROLS[k].section + "." + CONTROLS[k].name: k for k in keys}
    session |= {s + "_ui": k for s, k in session.items()}  # a control drawn in the page's own units (frame_ui)
    base = {**CHEAP, **extra, "tab": page}
    free = opened(base)
    assert not free.exception
    shown = drawn(free, set(session))
    assert shown, f"{page} draws none of its sections' controls"
    locked = opened({**base, "lock": ",".join(keys)})
    assert not locked.exception and not adjusted(locked)
    got = drawn(locked, set(session))
    assert set(got) == set(shown)  # drawn (with their values) ...
    for k, w in got.items():
        assert w.disabled, f"{k} is locked but not disabled"
        assert w.value == shown[k].value, k
    hidden = opened({**base, "hide": ",".join(keys)})
    assert not hidden.exception and not adjusted(hidden)
    assert drawn(hidden, set(session)) == {}  # ... or not drawn at all
    bar = query(hidden)
    assert set(bar.pop("hide").split(",")) == set(keys) and bar == query(free)  # the hidden values still apply
    # a part (tr_show, th_show) is a control too: locked, its tab strip offers only the open part
    if any(CONTROLS[k].name == "show" for k in keys):
        strip = [t.label for t in locked.tabs if t.label not in TABS.values()]
        assert len(strip) == 1, strip
        assert not [t.label for t in hidden.tabs if t.label not in TABS.values()]


# ------------------------------------------------------------------------------- a locked value holds

# (link, the locked control's session key, a value a crafted client sends, the value that must stay)
CRAFTED = {
    "net": ({"lock": "init"}, "net.init", "he_normal", "glorot_uniform"),
    "signal": ({"lock": "which"}, "signal.which", "pre", "act"),
    "compare": ({"lock": "cmp_inits", "tab": "compare"}, "compare.inits", ["zeros", "ones"],
                ["glorot_uniform", "he_normal", "random_normal"]),
    "ranges": ({"lock": "rng_n", "tab": "ranges"}, "ranges.n", 300, 100),
    "theory": ({"lock": "th_sw2", "tab": "theory"}, "theory.sw2_max", 9.0, 4.0),
    "training": ({"lock": "tr_cmp", "tab": "training"}, "training.compare", ["he", "xavier"],
                 ["zeros", "normal_10", "he"]),
    "train": ({"lock": "tr_dataset", "tab": "training"}, "train.dataset", "moons", "circles"),
}


def test_every_section_is_tried() -> None:
    assert set(CRAFTED) == {sec.id for sec in SECTIONS}


@pytest.mark.parametrize("sid", list(CRAFTED))
def test_a_locked_control_keeps_its_value_whatever_the_client_sends(sid: str) -> None:
    params, key, sent, kept = CRAFTED[sid]
    at = opened({**CHEAP, **params})
    before = query(at)
    kind = next(k for k in WIDGETS if [w for w in getattr(at, k) if w.key == key])
    assert getattr(at, kind)(key=key).disabled
    # A browser cannot change a disabled widget (nor can AppTest); a crafted client can send the change
    # anyway, which reaches the script as the widget's session state.
    at.session_state[key] = sent
    at.run()
    assert not at.exception
    assert getattr(at, kind)(key=key).value == kept
    assert query(at) == before  # the link the page writes still says what the lesson fixed
    name = CONTROLS[section(sid).field(key.split(".")[1]).url_key].title
    assert f"{name} is fixed by this lesson: kept at" in adjusted(at)


def test_a_locked_part_stays_open_when_another_is_asked_for() -> None:
    at = open_clean({**CHEAP, "tab": "theory", "th_show": "spectra", "lock": "th_show"})
    at.session_state["theory.show"] = "lsuv"  # what clicking another part's tab would set
    at.run()
    assert at.session_state["theory.show"] == "spectra" and query(at)["th_show"] == "spectra"
    assert "Theory › Part is fixed by this lesson: kept at spectra" in adjusted(at)


def test_the_preset_picker_and_show_me_buttons_are_off_in_a_lesson() -> None:
    link = {"preset": "train_classic", "hide": "seed", "lock": "init,tr_dataset,tr_cmp", "tr_steps": "100",
            "tr_restarts": "2"}
    at = open_clean(link)
    assert at.selectbox(key="preset_pick").disabled
    at.session_state["tab"] = TABS["learn"]
    at.run()
    assert at.button and all(b.disabled for b in at.button if b.key and b.key.startswith("learn_"))


def _crafted_preset() -> None:
    """What the picker's and the buttons' shared callback does if a crafted client calls it in a lesson."""
    import streamlit as st

    from initlab.ui import state

    state.start()
    state.apply_preset("he_relu")
    values, notices = state.current()
    st.markdown(repr((values["train"].dataset, values["training"].compare, values["net"].init, state.preset())))
    st.markdown(" ".join(n.message for n in st.session_state.get("_adjusted", [])))


def test_a_preset_sent_by_a_crafted_client_in_a_lesson_changes_nothing_and_says_so() -> None:
    at = AppTest.from_function(_crafted_preset)
    for k, v in {"preset": "train_classic", "lock": "tr_dataset,tr_cmp", "hide": "seed"}.items():
        at.query_params[k] = v
    at.run()
    assert at.markdown[0].value == repr(("circles", ("zeros", "normal_10", "he"), "glorot_uniform", "train_classic"))
    assert "not opened: this lesson link fixes some settings" in at.markdown[1].value


def test_a_budget_cut_of_a_locked_training_value_undoes_the_change() -> None:
    """Steps 100000 with 10 restarts of 300 points is over the budget, which cuts restarts first; the
    lesson fixes the restarts, so the steps go back, with a notice (one initializer: nothing trains)."""
    at = opened({"tab": "training", "tr_cmp": "he", "lock": "tr_restarts"})
    at.number_input(key="train.steps").set_value(100000)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert at.number_input(key="train.steps").value == 15000 and at.number_input(key="train.restarts").value == 10
    text = adjusted(at)
    assert ("Training › Steps set back to 15000: this lesson fixes Training › Restarts at 10, and this change would "
            "move it (Restarts reduced from 10 to 5") in text
    assert "tr_steps" not in query(at) and "tr_restarts" not in query(at)
    unlocked = opened({"tab": "training", "tr_cmp": "he"})  # outside a lesson the budget cuts the restarts
    unlocked.number_input(key="train.steps").set_value(100000)
    unlocked.form_submit_button[0].click().run()
    assert unlocked.number_input(key="train.restarts").value == 5


def test_a_cross_section_repair_of_a_locked_value_undoes_the_change() -> None:
    """The restart shown (training view) must exist in the training (train section): fewer restarts would
    move a locked tr_run, so the change of restarts is undone."""
    at = opened({**CHEAP, "tab": "training", "tr_restarts": "4", "tr_run": "3", "tr_show": "boundaries",
                 "lock": "tr_run"})
    assert at.number_input(key="training.run").disabled
    at.number_input(key="train.restarts").set_value(2)
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert at.number_input(key="train.restarts").value == 4 and at.number_input(key="training.run").value == 3
    assert "Training › Restarts set back to 4: this lesson fixes Training › Restart shown at 3" in adjusted(at)


def test_a_reload_keeps_the_lesson() -> None:
    link = {**CHEAP, "tab": "training", "hide": "tr_seed", "lock": "tr_dataset,tr_cmp"}
    at = opened(link)
    at.number_input(key="train.lr").set_value(0.05)  # a free control: moves, and goes into the link
    at.form_submit_button[0].click().run()
    bar = query(at)
    assert bar["tr_lr"] == "0.05" and (bar["hide"], bar["lock"]) == ("tr_seed", "tr_cmp,tr_dataset")  # schema order
    again = opened(bar)  # the reload: a new session from the address bar
    assert not again.exception and not adjusted(again)
    assert "train.seed" not in drawn(again, {"train.seed"})
    assert again.selectbox(key="train.dataset").disabled and again.multiselect(key="training.compare").disabled
    assert again.number_input(key="train.lr").value == 0.05 and query(again) == bar


# ------------------------------------------------------------------------------------ back to the link


def test_back_to_the_lesson_link_restores_the_preset_values_tab_and_part() -> None:
    link = {"preset": "train_classic", "tr_steps": "100", "tr_restarts": "2", "tr_show": "restarts",
            "lock": "tr_dataset", "hide": "seed"}
    at = open_clean(link)
    start = query(at)
    back = at.sidebar.button(key="back_to_link")
    assert back.disabled  # nothing to go back to yet
    at.multiselect(key="training.compare").set_value(["he", "xavier"]).run()  # free: the student moves it
    at.session_state["training.show"] = "symmetry"
    at.run()
    at.session_state["tab"] = TABS["signal"]
    at.run()
    at.slider(key="net.depth").set_value(7).run()
    assert query(at) != start and not at.sidebar.button(key="back_to_link").disabled
    at.sidebar.button(key="back_to_link").click().run()
    assert not at.exception
    assert query(at) == start
    assert at.session_state["tab"] == TABS["training"] and at.session_state["training.show"] == "restarts"
    assert at.multiselect(key="training.compare").value == ["zeros", "normal_10", "he"]
    assert at.session_state["net.depth"] == 50
    assert at.sidebar.button(key="back_to_link").disabled
    assert at.multiselect(key="training.compare").disabled is False and "net.seed" not in drawn(at, {"net.seed"})
    at.session_state["train_settings"] = True
    at.run()
    assert at.selectbox(key="train.dataset").disabled  # the lesson's locks hold after going back


def test_no_back_button_on_a_link_without_a_preset_or_lesson() -> None:
    at = open_clean({"depth": "7"})
    assert not [b for b in at.sidebar.button if b.key == "back_to_link"]


def test_a_preset_link_has_a_way_back_to_its_preset() -> None:
    """A student who opened a plain preset link, wandered to another preset and a changed depth, gets
    back to the link's preset with its own values, on its page."""
    at = open_clean({"preset": "he_relu", "width": "64"})
    start = query(at)
    back = at.sidebar.button(key="back_to_link")
    assert back.label == "Back to the preset" and back.disabled
    at.selectbox(key="preset_pick").set_value("zero_init").run()
    at.slider(key="net.depth").set_value(7).run()
    assert query(at) != start and not at.sidebar.button(key="back_to_link").disabled
    at.sidebar.button(key="back_to_link").click().run()
    assert not at.exception and query(at) == start
    assert at.session_state["net.init"] == "he_normal" and at.session_state["net.width"] == 64
    assert at.session_state["tab"] == TABS["signal"] and at.sidebar.button(key="back_to_link").disabled


# ------------------------------------------------------------------------------------ the Share box


def share(at: AppTest) -> AppTest:
    at.session_state["share_open"] = True
    return at.run()


def test_the_share_box_offers_every_control_labelled_and_grouped() -> None:
    at = share(open_clean({"tab": "learn"}))
    hide = at.multiselect(key="lesson_hide")
    labels = list(hide.options)  # as shown: every control, in link order
    assert labels == [control_label(k) for k in CONTROLS]
    assert "Training › Dataset · tr_dataset" in labels and "Sidebar › Depth (layers) · depth" in labels
    assert "Compare › Initializers (2 to 4) · cmp_inits" in labels and "Sidebar › Preset picker · preset" in labels
    groups = [CONTROLS[k].group for k in CONTROLS]
    assert groups == sorted(groups, key=groups.index)  # each group's controls together


def test_the_share_box_lesson_link_round_trips_and_opens_as_a_student_sees_it() -> None:
    at = share(open_clean({"preset": "train_classic", "tr_steps": "100", "tr_restarts": "2"}))
    at.multiselect(key="lesson_hide").set_value(["tr_seed", "tr_stddev"]).run()
    at.multiselect(key="lesson_lock").set_value(["tr_dataset", "tr_cmp"]).run()
    codes = [c.value for c in at.code if c.value.startswith("?")]
    lesson = codes[1]
    q = {k: v[0] for k, v in parse_qs(lesson.lstrip("?")).items()}
    assert (q["preset"], q["hide"], q["lock"]) == ("train_classic", "tr_stddev,tr_seed", "tr_cmp,tr_dataset")
    back = decode_query(parse_qs(lesson.lstrip("?")), PRESET_VALUES, tabs=TAB_IDS)
    assert back.notices == () and dict(back.values) == dict(decode_query(
        {"preset": "train_classic", "tr_steps": "100", "tr_restarts": "2"}, PRESET_VALUES).values)
    # the teacher is told what else a choice fixes (a hidden parameter locks its initializer)
    assert any("Also locked: Training › Initializer · tr_init" in c.value for c in at.caption)
    # the student view: a button opening exactly the lesson link (a new session, as a student's browser)
    [button] = at.link_button
    assert button.proto.url == lesson
    student = opened(q)
    assert not student.exception and not adjusted(student)
    assert student.selectbox(key="train.dataset").disabled and student.multiselect(key="training.compare").disabled
    assert drawn(student, {"train.seed", "train.stddev"}) == {}
    assert query(student) == q


def test_hiding_a_training_initializer_parameter_locks_the_training_initializer() -> None:
    at = opened({**CHEAP, "tab": "training", "tr_cmp": "custom,he", "tr_init": "random_normal", "tr_stddev": "0.5",
                 "hide": "tr_stddev"})
    assert not at.exception
    assert drawn(at, {"train.stddev"}) == {} and at.selectbox(key="train.init").disabled
    assert at.number_input(key="train.mean").disabled is False  # its sibling parameter stays free
