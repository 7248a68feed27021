"""Share links by section: notices that quote what was typed, safely; a cap on notice lines;
parameters an initializer does not take; the budget's binding limit in plain words; view settings read
one field at a time; compare selections of any size; v1 tab labels; fields of the same name in two
sections. Every test here failed on the single-View codec that initlab/signal/scenario.py used to hold.

``split_code_spans`` / ``assert_markup_safe`` are also used by test_scenario.py and test_fuzz.py.
"""

from __future__ import annotations

import re
import string

import pytest

from initlab.ui import links
from initlab.ui.links import (
    ALL_KEYS, LINK_KEYS, MAX_NOTICES, SCHEMA_VERSION, SECTIONS, STREAMLIT_KEYS, V1_TAB_LABELS, decode_query,
    defaults, encode_query,
)
from initlab.signal.scenario import NET, BudgetError, Scenario, check_budget, max_depth_within_budget
from initlab.schema import check_value
from initlab.training.scenario import TrainScenario
from initlab.pages import COMPARE, RANGES, SIGNAL, CompareView, RangesView, SignalView

TAB_IDS = ("signal", "gradients", "ranges", "compare", "learn")


# --- what a notice can do once rendered as markdown -----------------------------------------------

def split_code_spans(text: str) -> tuple[str, list[str]]:
    """(text outside inline code spans, contents of the spans), following CommonMark: a run of k
    backticks opens a span closed by the next run of exactly k backticks (an unclosed run is literal
    text); backslash escapes work outside spans only. Each span is replaced by a space outside."""
    outside: list[str] = []
    spans: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in string.punctuation:
            outside.append(text[i:i + 2])
            i += 2
            continue
        if ch != "`":
            outside.append(ch)
            i += 1
            continue
        j = i
        while j < n and text[j] == "`":
            j += 1
        k, m, close = j - i, j, None
        while m < n:
            if text[m] != "`":
                m += 1
                continue
            e = m
            while e < n and text[e] == "`":
                e += 1
            if e - m == k:
                close = (m, e)
                break
            m = e
        if close is None:
            outside.append(text[i:j])
            i = j
        else:
            spans.append(text[j:close[0]])
            outside.append(" ")
            i = close[1]
    return "".join(outside), spans


# What markdown/HTML could make of text outside a code span: an HTML tag, comment, declaration or
# processing instruction, an autolink (all start "<" + letter, "/", "!" or "?"), a link target "](",
# an unmatched backtick (a span that did not close as intended), a line break that would end the bullet.
_RISK = re.compile(r"<[A-Za-z/!?]|\]\(|`|[\n\r]")


def assert_markup_safe(message: str, *, strict: bool = False) -> None:
    """A notice line cannot form markup: everything risky lies inside a code span.

    ``strict``: every ``<`` at all lies inside a span (for links whose notices come from templates
    without a comparison such as "need a < b").
    """
    outside, _ = split_code_spans(message)
    assert not _RISK.search(outside), (message, outside)
    assert not strict or "<" not in outside, (message, outside)
    assert all(ch.isprintable() for ch in message), message


def test_the_span_splitter_is_commonmark_enough():
    # The checker must be able to fail: these lines would render markup.
    for bad in ["unknown parameter <b>x</b> ignored", "`a` then <img src=x>", "`unclosed <b>", "x](javascript:1)",
                "\\`<b>\\`", "``a` <b>"]:
        with pytest.raises(AssertionError):
            assert_markup_safe(bad)
    assert split_code_spans("a `<b>` c ``d`e`` f") == ("a   c   f", ["<b>", "d`e"])
    assert split_code_spans("`a\\` <b>`")[1] == ["a\\"]  # no escapes inside a span: it closes at the 2nd backtick
    assert_markup_safe("need a < b; minval <= maxval")
    with pytest.raises(AssertionError):
        assert_markup_safe("need a < b", strict=True)


def _messages(params, presets=None, tabs=TAB_IDS) -> list[str]:
    return [n.message for n in decode_query(params, presets or {}, tabs=tabs).notices]


# --- a bad key or value is shown as typed, safely -------------------------------------------------

def test_a_mistyped_key_is_quoted_as_typed_with_a_suggestion():
    state = decode_query({"bias_valu": "3"}, {})
    assert state.values == defaults()
    [notice] = state.notices
    assert notice.key == "bias_valu"
    assert "`bias_valu`" in notice.message  # as typed: the underscore is kept, in a code span
    assert "did you mean `bias_value`" in notice.message
    assert_markup_safe(notice.message, strict=True)


@pytest.mark.parametrize("key, near", [("tabs", "tab"), ("rng-n", "rng_n"), ("Depth", "depth"),
                                       ("cmp_init", "cmp_inits"), ("presets", "preset")])
def test_unknown_keys_suggest_the_nearest_key(key, near):
    [msg] = _messages({key: "1"})
    assert f"`{key}`" in msg and f"did you mean `{near}`?" in msg


def test_a_far_unknown_key_suggests_nothing():
    [msg] = _messages({"zzzzqqq": "1"})
    assert msg == "unknown parameter `zzzzqqq` ignored"


@pytest.mark.parametrize("key, raw, section, name, expected, near", [
    ("init", "he_norml", "net", "init", "glorot_uniform", "he_normal"),
    ("activation", "rellu", "net", "activation", "tanh", "relu"),
    ("cmp_by", "activations", "compare", "by", "init", "activation"),
])
def test_a_mistyped_choice_is_quoted_as_typed_with_a_suggestion(key, raw, section, name, expected, near):
    state = decode_query({key: raw}, {})
    assert getattr(state.value(section), name) == expected
    [notice] = state.notices
    assert notice.key == key
    assert f"`{raw}`" in notice.message and f"did you mean `{near}`?" in notice.message


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "a`<b>`c",
    "``<b>``",
    "\\`<b>\\`",
    "**bold** _em_ [x](javascript:alert(1))",
    "<!-- c --><?php ?><!DOCTYPE x>",
    "<http://evil.example>",
    "x\u202e<b>\u200b</b>",
    "line\n<b>break</b>",
    "&lt;b&gt;<b>",
    "$x$ :red[x] <b>",
    "<" * 60,
]


@pytest.mark.parametrize("evil", HOSTILE)
def test_markup_in_keys_and_values_never_leaves_a_code_span(evil):
    params = {evil: evil, "init": evil, "depth": evil, "cmp_inits": f"he_normal,{evil}", "preset": evil,
              "tab": evil, "hide": evil, "lock": f"seed,{evil}", "v": evil, "which": evil, "rng_log": evil}
    state = decode_query(params, {"p": Scenario()}, tabs=TAB_IDS)
    assert {n.key for n in state.notices} == set(params)
    for n in state.notices:
        assert_markup_safe(n.message, strict=True)
    assert state.values == {**defaults(), "compare": CompareView(inits=("he_normal",))}


@pytest.mark.parametrize("evil", ["<script>alert(1)</script>", "<b>x</b>", "**x** [y](z)"])
def test_a_hostile_key_is_quoted_as_typed(evil):
    [msg] = _messages({evil: "1"})
    assert f"`{evil}`" in msg  # shown, not dropped or mangled: the student sees what the link says
    assert_markup_safe(msg, strict=True)


def test_backticks_and_invisible_characters_are_shown_as_question_marks():
    [msg] = _messages({"a`b\u202ec\u200bd\x00e": "1"})
    assert "`a?b?c?d?e`" in msg


# --- at most MAX_NOTICES lines, then "and N more" -------------------------------------------------

def test_the_cap_is_twenty():
    assert MAX_NOTICES == 20


@pytest.mark.parametrize("n", [1, 19, 20, 21, 30, 257])
def test_at_most_twenty_notice_lines_then_and_n_more(n):
    params = {f"zz{i:03d}": "1" for i in range(n)}
    notices = decode_query(params, {}).notices
    assert len(notices) == min(n, MAX_NOTICES)
    if n <= MAX_NOTICES:
        assert [x.key for x in notices] == list(params)
        assert not any("more" in x.message for x in notices)
    else:
        assert [x.key for x in notices[:-1]] == list(params)[:MAX_NOTICES - 1]
        assert notices[-1].message == f"and {n - (MAX_NOTICES - 1)} more"


def test_the_count_of_the_rest_is_exact_across_kinds_of_notices():
    # 12 unknown keys, 2 repeated keys (2 notices each: repeated + bad value), 6 bad or clamped values,
    # 1 parameter the initializer does not take: 12 + 4 + 6 + 1 = 23 notices.
    params = {**{f"zz{i:02d}": "x" for i in range(12)},
              "depth": ["3", "abc"], "width": ["1", "0"],
              "batch": "99999", "seed": "-1", "dtype": "float16", "rng_n": "800", "rng_m": "abc", "which": "post",
              "stddev": "0.5"}
    uncapped = sum(len(decode_query({k: v}, {}).notices) for k, v in params.items())
    assert uncapped == 23
    state = decode_query(params, {})
    assert len(state.notices) == MAX_NOTICES and state.notices[-1].message == "and 4 more"
    # the values are all applied, whether or not their notice was listed
    s = state.scenario
    assert (s.depth, s.width, s.batch, s.seed, s.dtype) == (50, 1, 4096, 0, "float32")
    assert (state.value("ranges").n, state.value("ranges").m, state.value("signal").which) == (500, 0, "act")


# --- a parameter the initializer does not take, whatever its value --------------------------------

@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e400", "abc", "", "0.5", "<b>", "9" * 300])
def test_a_parameter_glorot_uniform_does_not_take_is_reported_as_such(raw):
    state = decode_query({"stddev": raw}, {})
    assert state.scenario == Scenario()
    [notice] = state.notices
    assert notice.key == "stddev"
    assert notice.message == "`stddev` ignored: glorot_uniform has no such parameter"


def test_the_initializer_that_decides_is_the_one_the_link_ends_with():
    # From a preset on random_normal, a link switching to he_normal: stddev means nothing there.
    presets = {"p": Scenario(init="random_normal", stddev=0.5)}
    [msg] = _messages({"preset": "p", "init": "he_normal", "stddev": "nan"}, presets)
    assert msg == "`stddev` ignored: he_normal has no such parameter"
    # An unknown initializer falls back to the base's (glorot_uniform), which has no stddev either.
    msgs = _messages({"init": "nope", "stddev": "nan"})
    assert "`stddev` ignored: glorot_uniform has no such parameter" in msgs
    # Where the initializer does take it, a non-finite value is a bad value.
    [msg] = _messages({"init": "random_normal", "stddev": "nan"})
    assert msg.startswith("`stddev`: `nan` is not a finite number")


# --- the budget names its binding limit in plain words --------------------------------------------

def _binding_limit(s: Scenario) -> str:
    """The limit that stops ``s`` from having one more layer."""
    with pytest.raises(BudgetError) as exc:
        check_budget(s.replace(depth=s.depth + 1))
    return exc.value.limit


@pytest.mark.parametrize("params, limit", [
    ({"width": "64", "batch": "4096", "depth": "1000"}, "memory"),
    ({"width": "64", "batch": "4096", "depth": "1000", "dtype": "float64"}, "memory"),
    ({"width": "2048", "batch": "1", "depth": "1000", "dtype": "float64"}, "memory"),
    ({"width": "2048", "batch": "16", "depth": "1000", "shared": "1"}, "computation"),
    ({"width": "2048", "batch": "16", "depth": "1000", "shared": "1", "dtype": "float64"}, "computation"),
    ({"width": "256", "batch": "512", "depth": "1000"}, "computation"),
    # Over both limits at the depth asked for (memory is the one reported first there), but it is the
    # computation limit that stops one more layer at the reduced depth: that is the one to name.
    pytest.param({"width": "1024", "batch": "1024", "depth": "1000"}, "computation", id="both-1024x1024"),
    pytest.param({"width": "2048", "batch": "4096", "depth": "1000"}, "computation", id="both-2048x4096"),
    pytest.param({"width": "2048", "batch": "512", "depth": "1000", "shared": "1", "dtype": "float64"},
                 "computation", id="both-2048x512-shared-f64"),
])
def test_the_budget_notice_names_the_limit_that_binds_in_plain_words(params, limit):
    state = decode_query(params, {})
    s = state.scenario
    assert s.depth == max_depth_within_budget(s) < 1000
    assert _binding_limit(s) == limit  # the case is what it says it is
    [notice] = state.notices
    assert notice.key == "depth"
    msg = notice.message
    other = {"memory": "computation", "computation": "memory"}[limit]
    assert f"the most that fits the {limit} limit" in msg, msg
    assert f"the {other} limit" not in msg, msg
    assert f"from 1000 to {s.depth}" in msg
    for jargon in ("budget", "MACs", "x width", "^2", "bytes"):
        assert jargon not in msg, (jargon, msg)


@pytest.mark.parametrize("kw, limit, words", [
    (dict(width=64, batch=4096, depth=1000), "memory", ("of memory", "GB", "use fewer layers, units or examples.")),
    (dict(width=64, batch=4096, depth=1000, dtype="float64"), "memory", ("of memory", "or float32.")),
    (dict(width=256, batch=512, depth=1000), "computation", ("multiply-adds", "more computation than")),
])
def test_budget_error_says_which_limit(kw, limit, words):
    with pytest.raises(BudgetError) as exc:
        check_budget(Scenario(**kw))
    assert exc.value.limit == limit and isinstance(exc.value, ValueError)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))
    assert "budget" not in str(exc.value)


def test_widgets_over_budget_get_the_same_notice_as_links():
    s, notices = NET.from_values({"width": 256, "batch": 512, "depth": 1000}, Scenario())
    assert s.depth == max_depth_within_budget(s)
    [notice] = notices
    assert "the most that fits the computation limit" in notice.message


# --- view settings are read one field at a time ---------------------------------------------------

def test_view_settings_are_decoded_one_field_at_a_time():
    state = decode_query({"tab": "ranges", "which": "pre", "rng_m": "1", "rng_n": "800"}, {}, tabs=TAB_IDS)
    assert state.tab == "ranges"
    assert state.value("signal") == SignalView(which="pre")
    assert state.value("ranges") == RangesView(n=500, m=1)
    [notice] = state.notices
    assert notice.key == "rng_n"
    assert "`800`" in notice.message and "500" in notice.message
    q = encode_query(state.values, tab=state.tab)
    assert q == {"v": str(SCHEMA_VERSION), "which": "pre", "rng_n": "500", "rng_m": "1", "tab": "ranges"}
    again = decode_query(q, {}, tabs=TAB_IDS)
    assert (again.values, again.tab, again.notices) == (state.values, "ranges", ())


def test_one_bad_view_value_never_resets_its_neighbours():
    state = decode_query({"rng_n": "abc", "rng_m": "7", "rng_log": "1", "rng_inits": "he_normal,nope",
                          "cmp_by": "layers", "cmp_acts": "relu,selu"}, {})
    assert state.value("ranges") == RangesView(inits=("he_normal",), n=100, m=7, log=True)
    assert state.value("compare") == CompareView(by="init", acts=("relu", "selu"))
    assert {n.key for n in state.notices} == {"rng_n", "rng_inits", "cmp_by"}


def test_widget_values_are_checked_one_field_at_a_time():
    view, notices = RANGES.from_values({"n": 800, "m": 1, "log": True, "inits": ["zeros"]}, RangesView())
    assert view == RangesView(inits=("zeros",), n=100, m=1, log=True)
    assert [n.key for n in notices] == ["rng_n"]
    view, notices = COMPARE.from_values({"by": "bogus", "inits": ["he_normal", "zeros"]}, CompareView())
    assert view == CompareView(inits=("he_normal", "zeros")) and [n.key for n in notices] == ["cmp_by"]


# --- compare keeps fewer than two choices ---------------------------------------------------------

@pytest.mark.parametrize("key, raw, view", [
    ("cmp_inits", "he_normal", CompareView(inits=("he_normal",))),
    ("cmp_acts", "relu", CompareView(acts=("relu",))),
    ("cmp_inits", "", CompareView(inits=())),
    ("cmp_acts", "", CompareView(acts=())),
])
def test_compare_with_fewer_than_two_choices_is_kept(key, raw, view):
    state = decode_query({key: raw}, {})
    assert state.notices == ()
    assert state.value("compare") == view
    q = encode_query(state.values)
    assert q == {"v": str(SCHEMA_VERSION), key: raw}
    assert decode_query(q, {}).values == state.values


def test_compare_widgets_keep_fewer_than_two_choices():
    view, notices = COMPARE.from_values({"inits": ["he_normal"], "acts": []}, CompareView())
    assert view == CompareView(inits=("he_normal",), acts=()) and notices == []
    for value in [(), ("he_normal",), ("zeros", "ones", "constant", "he_normal")]:
        check_value(COMPARE.field("inits"), value)
    with pytest.raises(ValueError):
        check_value(COMPARE.field("inits"), ("zeros", "ones", "constant", "he_normal", "he_uniform"))


# --- tabs: stable ids, v1 labels migrated ---------------------------------------------------------

@pytest.mark.parametrize("label, tab_id", sorted(V1_TAB_LABELS.items()))
@pytest.mark.parametrize("version", [{"v": "1"}, {}])
def test_v1_tab_labels_open_their_tab_without_a_notice(label, tab_id, version):
    state = decode_query({**version, "tab": label, "depth": "7"}, {}, tabs=TAB_IDS)
    assert (state.tab, state.notices, state.scenario.depth) == (tab_id, (), 7)
    assert encode_query(state.values, tab=state.tab) == {"v": "3", "depth": "7", "tab": tab_id}


def test_v1_labels_are_the_labels_v1_used():
    assert V1_TAB_LABELS == {"Signal": "signal", "Gradients": "gradients", "Weight ranges": "ranges",
                             "Compare": "compare", "Learn": "learn"}
    assert set(V1_TAB_LABELS.values()) == set(TAB_IDS)


@pytest.mark.parametrize("tab", TAB_IDS)
@pytest.mark.parametrize("version", [{"v": "3"}, {}])
def test_tab_ids_open_their_tab(tab, version):
    state = decode_query({**version, "tab": tab}, {}, tabs=TAB_IDS)
    assert (state.tab, state.notices) == (tab, ())


@pytest.mark.parametrize("typed, near", [("range", "ranges"), ("rnages", "ranges"), ("signals", "signal"),
                                         ("Ranges", "ranges"), ("comapre", "compare")])
def test_an_unknown_tab_suggests_the_nearest(typed, near):
    state = decode_query({"tab": typed}, {}, tabs=TAB_IDS)
    assert state.tab is None
    [notice] = state.notices
    assert notice.key == "tab" and f"`{typed}`" in notice.message and f"did you mean `{near}`?" in notice.message


def test_the_schema_version_is_three_and_older_links_without_training_are_silent():
    assert SCHEMA_VERSION == 3
    assert decode_query({"v": "1"}, {}).notices == ()
    assert decode_query({"v": "2", "depth": "7", "tab": "signal"}, {}).notices == ()
    assert decode_query({"v": "3"}, {}).notices == ()
    [msg] = _messages({"v": "4"})
    assert "newer" in msg and "`4`" in msg


@pytest.mark.parametrize("query", [{"v": "2", "tr_lr": "0.1"}, {"v": "1", "tab": "training", "depth": "7"},
                                   {"v": "2", "preset": "p"}])
def test_an_older_training_link_keeps_its_settings_on_the_new_data_and_says_so(query):
    # v3: scikit-learn's datasets, so the same training settings now draw other points.
    presets = {"p": {"train": TrainScenario(lr=0.5)}}
    tabs = (*TAB_IDS, "training")
    state = decode_query(query, presets, tabs=tabs)
    [notice] = state.notices
    assert notice.key == "v" and "other data points" in notice.message and "differ" in notice.message
    fresh = decode_query({**query, "v": "3"}, presets, tabs=tabs)
    assert fresh.notices == () and fresh.values == state.values


# --- sections: shared field names, unique keys ----------------------------------------------------

def test_url_keys_are_unique_across_sections_and_link_keys():
    keys = [f.url_key for sec in SECTIONS for f in sec.fields]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert not set(keys) & set(LINK_KEYS) and not set(keys) & set(STREAMLIT_KEYS)
    assert len(ALL_KEYS) == len(set(ALL_KEYS)) and set(ALL_KEYS) == set(LINK_KEYS) | set(keys)
    # the keys links have always used are still there
    assert {"which", "cmp_by", "cmp_inits", "cmp_acts", "rng_inits", "rng_n", "rng_m", "rng_log"} <= set(keys)


def test_section_ids_and_session_keys_are_unique():
    ids = [sec.id for sec in SECTIONS]
    assert ids == ["net", "signal", "compare", "ranges", "theory", "training", "train"]
    session = [sec.session_key(f.name) for sec in SECTIONS for f in sec.fields]
    assert len(session) == len(set(session))
    assert [links.section(i) for i in ids] == list(SECTIONS)


def test_two_sections_may_share_a_field_name():
    assert COMPARE.field("inits").name == RANGES.field("inits").name == "inits"
    assert (COMPARE.session_key("inits"), RANGES.session_key("inits")) == ("compare.inits", "ranges.inits")
    assert (COMPARE.field("inits").url_key, RANGES.field("inits").url_key) == ("cmp_inits", "rng_inits")
    state = decode_query({"cmp_inits": "he_normal,zeros", "rng_inits": "ones"}, {})
    assert state.notices == ()
    assert state.value("compare").inits == ("he_normal", "zeros") and state.value("ranges").inits == ("ones",)
    assert encode_query(state.values) == {"v": "3", "cmp_inits": "he_normal,zeros", "rng_inits": "ones"}
    # and a field name is not a URL key: "inits" or "n" alone is an unknown parameter
    for key in ("inits", "n", "by"):
        [n] = decode_query({key: "1"}, {}).notices
        assert n.message.startswith(f"unknown parameter `{key}` ignored")


def test_every_view_field_has_its_schema_default():
    for sec in (SIGNAL, COMPARE, RANGES):
        for f in sec.fields:
            assert getattr(sec.default(), f.name) == f.default, (sec.id, f.name)
            check_value(f, f.default)


# --- lesson links: every control of every section can be hidden or locked -------------------------

def _registry_controls() -> list[tuple[str, str, str]]:
    """(link key, section id, field name) of every field of every section a page of the registry reads,
    plus every section of the codec: derived from PAGE_SPECS and the schema, not from a list here."""
    from initlab.pages import PAGE_SPECS

    read = {sid for page in PAGE_SPECS.values() for sid in page.sections}
    assert read <= {sec.id for sec in SECTIONS}, "a page reads a section the codec does not know"
    return [(f.url_key, sec.id, f.name) for sec in SECTIONS for f in sec.fields]


def test_every_field_of_every_section_is_a_lesson_control():
    expected = _registry_controls()
    assert links.LESSON_CONTROLS == ("preset", *(k for k, _, _ in expected))  # link order: schema order
    for key, sid, name in expected:
        c = links.CONTROLS[key]
        assert (c.section, c.name) == (sid, name)
        assert c.label == links.section(sid).field(name).label


@pytest.mark.parametrize("key", [k for k, _, _ in _registry_controls()])
def test_every_control_is_accepted_in_hide_and_lock_and_round_trips(key):
    link = decode_query({"hide": key, "lock": "preset"}, {})
    assert link.notices == () and link.hide == {key} and link.lock == {"preset"}
    link = decode_query({"lock": key}, {})
    assert link.notices == () and link.lock == {key}
    q = encode_query(link.values, lock=link.lock)
    assert q == {"v": "3", "lock": key}
    assert decode_query(q, {}).lock == {key}


def test_every_control_is_grouped_where_it_is_drawn():
    """The sidebar's section in the sidebar; every other section under the first page that reads it."""
    from initlab.pages import PAGE_SPECS

    assert links.CONTROLS["preset"].group == "Sidebar" and links.CONTROLS["depth"].group == "Sidebar"
    for key, sid, _ in _registry_controls():
        if sid != "net":
            first = next(p.label for p in PAGE_SPECS.values() if sid in p.sections)
            assert links.CONTROLS[key].group == first, key
    assert links.CONTROLS["tr_dataset"].group == links.CONTROLS["tr_cmp"].group == "Training"


def test_a_new_field_and_a_new_tab_are_lockable_with_no_code_of_their_own():
    """lesson_controls is built from the sections and the page registry only: a section and a page it
    has never seen become lesson controls, grouped under the new page."""
    from dataclasses import dataclass

    from initlab.pages import PAGE_SPECS, PageSpec
    from initlab.schema import FieldSpec, Section

    @dataclass(frozen=True)
    class NewView:
        level: int = 1
        mode: str = "a"

    new = Section("newtab", NewView, (
        FieldSpec("level", "int", 1, "Level", "How much.", lo=0, hi=9, group="view", key="nt_level"),
        FieldSpec("mode", "choice", "a", "Mode", "Which.", choices=("a", "b"), group="view", key="nt_mode"),
    ))
    pages = {**PAGE_SPECS, "newtab": PageSpec("newtab", "New tab", ("net", "newtab"))}
    got = links.lesson_controls((*SECTIONS, new), pages)
    assert list(got)[-2:] == ["nt_level", "nt_mode"]
    assert got["nt_level"] == links.Control("nt_level", "newtab", "level", "Level", "New tab")
    assert {k: v for k, v in got.items() if not k.startswith("nt_")} == links.CONTROLS


def test_hiding_or_locking_an_initializer_parameter_locks_its_own_sections_initializer():
    assert links.lesson_lock({"stddev"}, ()) == {"init"}
    assert links.lesson_lock((), {"tr_stddev"}) == {"tr_stddev", "tr_init"}
    assert links.lesson_lock({"tr_dataset"}, {"depth"}) == {"depth"}


@pytest.mark.parametrize("typed, near", [("tr_sed", "tr_seed"), ("tr_datset", "tr_dataset"), ("cmp_init", "cmp_inits"),
                                         ("th_sw", "th_sw2"), ("Depth", "depth"), ("gr_depth", "depth")])
def test_an_unknown_lesson_control_suggests_the_nearest_of_all_keys(typed, near):
    link = decode_query({"lock": f"{typed},init"}, {})
    assert link.lock == {"init"}
    [n] = link.notices
    assert n.key == "lock" and f"unknown control(s) `{typed}` ignored (did you mean `{near}`?)" in n.message
    assert len(n.message) < 400
    assert_markup_safe(n.message, strict=True)


def test_a_sidebar_name_in_a_tabs_place_is_no_longer_suggested():
    # hide=tr_seed is the Training tab's seed now; it used to be "unknown ... did you mean `seed`?"
    assert decode_query({"hide": "tr_seed", "lock": "tr_dataset,tr_cmp"}, {}).notices == ()


def test_repeated_and_doubly_fixed_lesson_controls_are_read_once_and_said_so():
    link = decode_query({"hide": "seed,seed,tr_seed", "lock": "seed,init,init"}, {})
    assert link.hide == {"seed", "tr_seed"} and link.lock == {"init"}
    msgs = {n.key: n.message for n in link.notices}
    assert msgs["hide"] == "hide: `seed` named more than once: read once"
    assert "`init` named more than once: read once" in msgs["lock"]
    assert "`seed` also hidden: a hidden control is fixed too, so it is only hidden" in msgs["lock"]
    q = encode_query(link.values, hide=link.hide, lock=link.lock)
    assert (q["hide"], q["lock"]) == ("seed,tr_seed", "init")
    assert decode_query(q, {}).notices == ()


def test_a_very_long_lesson_list_keeps_its_valid_names_and_gives_one_short_notice():
    names = [k for k, _, _ in _registry_controls()] * 40 + ["nope"] * 3000
    link = decode_query({"lock": ",".join(names)}, {})
    assert link.lock == {k for k, _, _ in _registry_controls()}
    [n] = link.notices
    assert len(n.message) < 600 and "`nope`" in n.message and "2995 more" in n.message
