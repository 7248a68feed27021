"""AppTest tests of the whole page (app.py + initlab/ui/): presets, tabs, bad links, share links.

Every test opens a link the way a browser would (``at.query_params`` before the first run) and checks
what a student sees: no traceback, the notices, the controls' values, the charts' numbers, the address
bar and the Share box. The engine's shared caches (:mod:`initlab.ui.results.cache`) live in the process
and are shared by the tests, as they are by the sessions of a server; the reproducibility test clears
them between its runs.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from initlab.weights import activations
from initlab.weights import initializers
from initlab.signal import network
from initlab.teaching.lessons import LESSONS
from initlab.teaching.presets import PRESETS
from initlab.ui.links import LINK_KEYS, SECTIONS, decode_query, defaults, encode_query
from initlab.signal.scenario import FIELD_BY_NAME, FIELDS, INIT_PARAM_NAMES, Scenario, choices_for, irrelevant, max_depth_within_budget, repair
from initlab.pages import (THEORY_PARTS, TRAINING_PARTS, CompareView, RangesView, SignalView, TheoryView, TrainView,
                           train_comparison)
from initlab.plots import training as plots_training
from initlab.plots import units as plots_units
from initlab.training.scenario import TrainScenario
from initlab.ui.results import cache as compute
from initlab.ui import controls
from initlab.ui import pages, shell
from initlab.ui.results import products
from initlab.ui import state
from tests.app_util import TIMEOUT, open_link

ADJUSTED_HEAD = "Adjusted so that this scenario can be computed"
NOTICE_HEAD = "Some settings in this link could not be used as written"
PAGE_FAILED = "This page could not be drawn"
TAB_IDS = state.TAB_IDS
LABEL = state.TABS  # tab id -> the label the tabs widget holds in session state
PRESET_VALUES = state.PRESET_VALUES
VALID_KEYS = set(LINK_KEYS) | {f.url_key for sec in SECTIONS for f in sec.fields}
CHARTS_PER_TAB = {"signal": 2, "gradients": 2, "ranges": 1, "compare": 3, "training": 2, "theory": 2, "learn": 0}
# The Training and Theory tabs draw only their open part (view field ``show``).
CHARTS_PER_PART = {"curves": 2, "restarts": 1, "boundaries": 1, "symmetry": 1, "layers": 1,
                   "phase": 2, "spectra": 1, "lsuv": 1}


def expected_charts(tab: str, s: Scenario, views: dict | None = None) -> int:
    """Charts a tab draws with its expanders closed: Signal adds the saturated/dead/inf chart only when
    some layer has such values (otherwise it says so in a line); Training and Theory draw their open part."""
    views = views or {}
    if tab in ("training", "theory"):
        view = views.get(tab, TrainView() if tab == "training" else TheoryView())
        if tab == "training":
            nets = [v for _, v in train_comparison(views.get("train", TrainScenario()), view.entries, view.by)]
            deep = any(len(v.layer_shapes) > plots_training.DEEP for v in nets)
            ts = views.get("train", TrainScenario())
            if view.show == "boundaries" and ts.dataset == "digits":  # 64 inputs: no plane, a line says so
                return 0
            if view.show in ("boundaries", "symmetry", "units") or view.show == "layers" and deep:  # one per entry
                return len(view.entries)
            if view.show == "errors":  # the confusion matrices, and the misclassified images of digits
                return len(view.entries) * (2 if ts.dataset == "digits" else 1)
            if view.show == "health":  # dead or saturated shares (where the activation has either), update sizes
                shares = plots_units.share_kind(ts.activation) is not None
                return (int(shares) + 1) * (len(view.entries) if deep else 1)
            if view.show == "blocks":  # alpha per residual network, gamma and beta per normalised one
                return sum(v.residual for v in nets) + 2 * sum(v.norm != "none" for v in nets)
        if view.show == "spectra":  # one chart per depth
            return len(products.spectra_depths(s.depth))
        return CHARTS_PER_PART[view.show]
    if tab != "signal":
        return CHARTS_PER_TAB[tab]
    lay = network.propagate(s).layers
    return 2 + int((lay[["frac_saturated", "frac_dead", "frac_nonfinite"]].to_numpy() > 0).any())


# --------------------------------------------------------------------------------------------- helpers


def address_bar(at: AppTest) -> dict[str, str]:
    """The address bar's query after the run (one value per key, as the app writes it)."""
    out = {}
    for key, value in at.query_params.items():  # AppTest: str, or list[str] for a repeated key
        values = [value] if isinstance(value, str) else list(value)
        assert len(values) == 1, f"address bar repeats {key}: {values}"
        out[key] = values[0]
    return out


def notices(at: AppTest) -> list[str]:
    """Texts of the notice boxes: the link's, and adjustments made to fit the budget (verdict boxes may
    also be warnings: they are not notices)."""
    return [w.value for w in at.warning if w.value.startswith((NOTICE_HEAD, ADJUSTED_HEAD))]


def page_failures(at: AppTest) -> list[str]:
    return [e.value for e in at.error if e.value.startswith(PAGE_FAILED)]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(v) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A plotly JSON array (plain list or typed base64 ``bdata``) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], list) else a
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def all_texts(at: AppTest) -> list[str]:
    """Every text the page renders (markdown, boxes, captions, code, titles, widget labels)."""
    out: list[str] = []
    for kind in ("markdown", "warning", "error", "info", "success", "caption", "code", "title", "subheader"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("slider", "selectbox", "number_input", "checkbox", "multiselect", "radio", "button"):
        out += [str(w.label) for w in getattr(at, kind)]
    return out


def widget_values(at: AppTest) -> dict[str, object]:
    """Value of every keyed control on the page (sidebar and the open tab)."""
    out: dict[str, object] = {}
    for kind in ("slider", "selectbox", "number_input", "checkbox", "radio", "multiselect"):
        for w in getattr(at, kind):
            if w.key:
                out[w.key] = w.value
    return out


def share_links(at: AppTest) -> list[str]:
    """Links in the Share box, opening it first if it is closed (it is drawn only while open);
    ``st.context.url`` is empty under AppTest: they start with '?'."""
    if "share_open" not in at.session_state or not at.session_state["share_open"]:
        at.session_state["share_open"] = True
        at.run()
    return [c.value for c in at.code if c.value.startswith("?")]


def decode_link(query: str):  # type: ignore[no-untyped-def]
    return decode_query(parse_qs(query.lstrip("?"), keep_blank_values=True), PRESET_VALUES, tabs=TAB_IDS)


def base_of(preset: str | None) -> dict:
    return {**defaults(), **(PRESETS[preset].values() if preset in PRESETS else {})}


def default_tab(preset: str | None) -> str:
    return PRESETS[preset].tab if preset in PRESETS else TAB_IDS[0]


def values_of(s: Scenario | None = None, preset: str | None = None, **views: object) -> dict:
    """Page state: the preset's (or the default) views, the given scenario and the given views."""
    out = base_of(preset)
    if s is not None:
        out["net"] = s
    out.update(views)
    return out


def expected_widgets(s: Scenario, hide: frozenset[str] = frozenset(), more_open: bool | None = None,
                     arch_open: bool | None = None) -> dict[str, object]:
    """The sidebar controls a scenario must show (session key -> value). The "More" and "Architecture"
    expanders' controls are drawn only while open; each starts open when one of them is not at its default.
    The architecture controls that mean nothing for the network (a plain one's alpha) are not drawn."""
    accepted = initializers.spec(s.init).params
    if more_open is None:
        more_open = any(getattr(s, n) != getattr(Scenario(), n) for n in controls.MORE if n not in hide)
    if arch_open is None:
        arch_open = any(getattr(s, n) != getattr(Scenario(), n) for n in controls.ARCHITECTURE if n not in hide)
    unused = irrelevant(s)
    out: dict[str, object] = {}
    for f in FIELDS:
        if f.name in hide or f.name in INIT_PARAM_NAMES and f.name not in accepted:
            continue
        if f.name in controls.MORE and not more_open:
            continue
        if f.name in controls.ARCHITECTURE and (not arch_open or f.name in unused):
            continue
        if f.name == "bias_value" and s.bias in ("zeros", "torch_linear"):
            continue
        out[f"net.{f.name}"] = getattr(s, f.name)
    return out


def assert_healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not page_failures(at), page_failures(at)


def assert_shows(at: AppTest, values: dict, preset: str | None, tab: str | None,
                 hide: frozenset[str] = frozenset(), lock: frozenset[str] = frozenset()) -> None:
    """Controls, address bar and Share box all describe exactly (values, preset, tab)."""
    s = values["net"]
    got = widget_values(at)
    more_open = at.session_state["more_settings"] if "more_settings" in at.session_state else None
    arch_open = at.session_state["arch_settings"] if "arch_settings" in at.session_state else None
    expected = expected_widgets(s, hide, more_open, arch_open)
    for name, value in expected.items():
        assert name in got, f"control {name} missing"
        assert got[name] == value, f"control {name} shows {got[name]!r}, scenario has {value!r}"
    for name in (f"net.{f.name}" for f in FIELDS):
        if name not in expected:
            assert name not in got, f"control {name} shown but should not be"
    for sec in SECTIONS[1:]:  # a tab's controls live on their tab only
        for f in sec.fields:
            k = sec.session_key(f.name)
            if k in got:
                value = getattr(values[sec.id], f.name)
                assert got[k] == (list(value) if isinstance(value, tuple) else value), k
    assert got["preset_pick"] == (preset or "")
    tab = tab or default_tab(preset)
    want = encode_query(values, preset=preset, base=base_of(preset), hide=hide, lock=lock,
                        tab=tab if tab != default_tab(preset) else None)
    assert address_bar(at) == want
    assert at.session_state["tab"] == LABEL[tab]
    link = share_links(at)[0]
    back = decode_link(link)
    assert back.notices == ()
    assert (dict(back.values), back.preset) == (dict(values), preset)
    assert (back.tab or default_tab(preset)) == tab


# --------------------------------------------------------------------------------------------- presets

_PRESET_RUNS: dict[str, AppTest] = {}


def preset_run(name: str) -> AppTest:
    """One run of ``?preset=name`` shared by the tests that only read it."""
    if name not in _PRESET_RUNS:
        _PRESET_RUNS[name] = open_link({"preset": name})
    return _PRESET_RUNS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_opens_on_its_page_with_charts(name: str) -> None:
    at = preset_run(name)
    p = PRESETS[name]
    assert_healthy(at)
    assert notices(at) == []
    tab = default_tab(name)
    assert at.session_state["tab"] == LABEL[tab]
    assert len(charts(at)) == expected_charts(tab, p.scenario, dict(p.views)) >= 1
    text = shell.preset_text(name)  # filled in from the results the page computed (Training presets)
    assert text is not None and "{" not in text
    assert any(i.value.startswith(f"**{p.title}**") and text in i.value for i in at.info)
    assert address_bar(at) == {"v": "3", "preset": name}
    # The link of a preset is the preset: scenario -> link -> app -> controls, address bar, Share box.
    assert encode_query(p.values(), preset=name, base=base_of(name)) == {"v": "3", "preset": name}
    assert_shows(at, base_of(name), name, None)
    assert share_links(at)[0] == f"?v=3&preset={name}"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.tab == "signal"])
def test_signal_preset_charts_show_the_engines_numbers(name: str) -> None:
    """The first chart's measured line is ``propagate(scenario).layers['act_std']``, value for value."""
    at = preset_run(name)
    s = PRESETS[name].scenario
    layers = compute.propagate(s).layers  # the server's cache: the result the page drew, not recomputed
    first = charts(at)[0]
    measured = [t for t in first["data"] if t["name"] == f"{s.init} + {s.activation}"]
    assert len(measured) == 1
    x, y = array(measured[0]["x"]), array(measured[0]["y"])
    np.testing.assert_array_equal(x, np.arange(1, s.depth + 1))
    want = layers["act_std"].to_numpy(dtype=float)
    finite = np.isfinite(want) & (want > 0)  # a log axis marks 0 / inf instead of plotting them
    np.testing.assert_array_equal(y[finite], want[finite])


def test_preset_numbers_quoted_in_the_text_are_on_the_page() -> None:
    """std1_explodes: 'the values become inf at layer 32' is what the page's summary line says."""
    at = preset_run("std1_explodes")
    line = next(m.value for m in at.markdown if m.value.startswith("input mean"))
    assert "first inf/NaN layer **32**" in line and "at layer 250 **inf/NaN**" in line
    assert "float32 overflows above **3.4e38**" in line
    input_std = float(line.split("**")[3])
    assert input_std == pytest.approx(1, abs=0.01)
    layers = compute.propagate(PRESETS["std1_explodes"].scenario).layers
    assert not np.isfinite(layers["act_std"].iloc[-1])


_NUMBER_IN_TEXT = r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?(?![\w])"
# A derivation written out in a text ("sqrt(256) x 0.1 = 1.6", "(256 x 0.5 x 0.05 = 6.4)", "Var(w) = 2/n")
# explains where a number comes from: its operands and result are formula values, checked against the core
# in tests/test_presets.py, not readings of the page.
_DERIVATION = r"\([^()]*=[^()]*\)|(?:sqrt\(\d+\)|[\d./]+)(?:\s*[x×*/+]\s*(?:sqrt\(\d+\)|[\d./]+))+\s*=\s*[\d./e+-]+|=\s*[\d./]+(?:\s*[+]\s*[\d./]+)*"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_number_a_preset_quotes_is_visible_on_its_opening_view(name: str) -> None:
    """Each number in a preset's text is shown by the page it opens on (verdict, summary line, table,
    controls), not only computed by the core: the text itself (the blue box) is left out, and so are
    small counts (0, 1, 2, 10) and written-out derivations."""
    import re

    at = preset_run(name)
    text = shell.preset_text(name)
    at_text = [i for i in at.info if text in i.value]
    assert len(at_text) == 1
    shown = _shown_elsewhere(at, text)
    quoted = re.findall(_NUMBER_IN_TEXT, re.sub(_DERIVATION, " ", text))
    missing = [q for q in quoted if q.lstrip("+") not in shown and q not in ("0", "1", "2", "10")]
    assert not missing, f"{name}: {missing} quoted but not shown on its page"


def _shown_elsewhere(at: AppTest, text: str) -> set[str]:
    """Every number a student can read on the page outside the preset's own text (the blue box):
    texts, boxes, controls, table cells."""
    import re

    others = [t for t in all_texts(at) if text not in t]
    others += [f"{w.label} {w.value}" for w in (*at.slider, *at.number_input, *at.selectbox)]
    others += [df.value.to_string() for df in (*at.dataframe, *at.table)]
    return set(re.findall(_NUMBER_IN_TEXT, "\n".join(others).replace("**", " ")))


# ------------------------------------------------------------------------------------------------ tabs


@pytest.mark.parametrize("tab", TAB_IDS)
def test_every_tab_renders(tab: str) -> None:
    at = open_link({"tab": tab})
    assert_healthy(at)
    assert notices(at) == []
    assert at.session_state["tab"] == LABEL[tab]
    assert len(charts(at)) == expected_charts(tab, Scenario())
    for c in charts(at):
        assert c["data"], "empty chart"
    assert address_bar(at) == ({"v": "3"} if tab == "signal" else {"v": "3", "tab": tab})
    if tab == "learn":
        buttons = [b.key for b in at.button]
        assert buttons == [f"learn_{i}_{n}" for i, lesson in enumerate(LESSONS) for n in lesson.presets]
    if tab == "compare":  # one line per compared initializer, all from the same seed and batch
        names = [t["name"] for t in charts(at)[0]["data"]]
        assert names == list(CompareView().inits)
    if tab == "ranges":
        assert at.multiselect(key="ranges.inits").value == list(RangesView().inits)
        assert at.number_input(key="ranges.n").value == RangesView().n


@pytest.mark.parametrize("label, tab", [("Signal", "signal"), ("Gradients", "gradients"),
                                        ("Weight ranges", "ranges"), ("Compare", "compare"), ("Learn", "learn")])
def test_old_v1_links_with_tab_labels_still_open_their_tab(label: str, tab: str) -> None:
    at = open_link({"v": "1", "tab": label, "depth": "7"})
    assert_healthy(at)
    assert notices(at) == []
    assert at.session_state["tab"] == LABEL[tab]
    assert address_bar(at) == ({"v": "3", "depth": "7"} if tab == "signal" else {"v": "3", "depth": "7", "tab": tab})


# ------------------------------------------------------------------------------------------- bad links

BAD_LINKS = {
    # id: (params, keys the notice must name, expected control values)
    "unknown_preset": ({"preset": "nope"}, ["preset", "nope"], {"preset_pick": "", "depth": 50}),
    "unknown_init": ({"init": "nope"}, ["init", "nope"], {"init": "glorot_uniform"}),
    "depth_abc": ({"depth": "abc"}, ["depth", "abc"], {"depth": 50}),
    "depth_huge": ({"depth": "1000000000", "width": "16", "batch": "4"}, ["depth", "1000000000", "1000"], {"depth": 1000}),
    "depth_nan": ({"depth": "NaN"}, ["depth"], {"depth": 50}),
    "depth_1e400": ({"depth": "1e400"}, ["depth"], {"depth": 50}),
    "depth_inf": ({"depth": "inf"}, ["depth"], {"depth": 50}),
    "depth_fraction": ({"depth": "2.5"}, ["depth", "2.5"], {"depth": 50}),
    "depth_empty": ({"depth": ""}, ["depth"], {"depth": 50}),
    "width_negative": ({"width": "-5", "depth": "5"}, ["width", "-5"], {"width": 1, "depth": 5}),
    "repeated_key": ({"depth": ["3", "4"]}, ["depth", "2 times"], {"depth": 4}),
    "unknown_key": ({"zzz": "1"}, ["zzz"], {}),
    "script_key": ({"<script>alert(1)</script>": "1"}, ["script"], {}),
    "script_value": ({"init": "<script>alert(1)</script>"}, ["init", "script"], {"init": "glorot_uniform"}),
    "script_preset": ({"preset": "<script>alert(1)</script>"}, ["preset", "script"], {"preset_pick": ""}),
    "long_value": ({"activation": "x" * 10_000}, ["activation", "10000"], {"activation": "tanh"}),
    "long_key": ({"k" * 10_000: "1"}, ["unknown parameter"], {}),
    "unicode": ({"init": "глоrot☃", "ünïcode": "é"}, ["init", "глоrot☃", "ünïcode"], {"init": "glorot_uniform"}),
    "bad_bool": ({"shared": "maybe"}, ["shared", "maybe"], {"shared": False}),
    "bad_version": ({"v": "abc"}, ["version"], {}),
    "future_version": ({"v": "99"}, ["version `99`"], {}),
    "unknown_tab": ({"tab": "nope"}, ["tab", "nope"], {}),
    "param_not_of_init": ({"stddev": "3"}, ["stddev", "glorot_uniform"], {}),
    "minval_above_maxval": ({"init": "random_uniform", "minval": "1", "maxval": "-1", "depth": "5"},
                            ["minval", "maxval"], {"init": "random_uniform", "minval": None, "maxval": None}),
    "cmp_inits_junk": ({"cmp_inits": "zzz", "tab": "compare", "depth": "5"}, ["cmp_inits"],
                       {"cmp_inits": list(CompareView().inits)}),
    "rng_n_low": ({"rng_n": "1", "tab": "ranges"}, ["rng_n"], {"rng_n": 2}),
    "which_bad": ({"which": "x"}, ["which"], {"which": "act"}),
    "bad_preset_keeps_overrides": ({"preset": "nope", "depth": "7"}, ["preset"], {"depth": 7, "preset_pick": ""}),
    "good_preset_bad_override": ({"preset": "he_relu", "depth": "abc"}, ["depth"], {"depth": 50, "batch": 128}),
}


def session_key(name: str) -> str:
    """The session key of a control named as in a link (``depth``, ``cmp_inits``, ``preset_pick``)."""
    for sec in SECTIONS:
        for f in sec.fields:
            if f.url_key == name:
                return sec.session_key(f.name)
    return name


def assert_no_live_markup(at: AppTest) -> None:
    """Markup typed into a link is shown only inside code spans (as text), never live on the page."""
    import re

    for text in all_texts(at):
        outside = re.sub(r"`[^`]*`", "", text)
        assert "<script" not in outside.lower(), text


def check_bad_link(params: dict[str, str | list[str]], named: list[str]) -> AppTest:
    """Open a bad link: a working page, one notice naming every offending key, a clean address bar."""
    at = open_link(params)
    assert_healthy(at)
    texts = notices(at)
    assert len(texts) == 1, texts
    for word in named:
        assert word in texts[0], f"notice does not name {word!r}: {texts[0]}"
    assert_no_live_markup(at)
    # The address bar holds only valid keys, with one value each, and opens without a notice ...
    bar = address_bar(at)
    assert set(bar) <= VALID_KEYS, bar
    assert decode_link("&".join(f"{k}={v}" for k, v in bar.items())).notices == ()
    # ... and describes what the page shows: the link as decoded (fallbacks, clamps, budget).
    link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
    assert_shows(at, dict(link.values), link.preset, link.tab, link.hide, link.lock)
    return at


@pytest.mark.parametrize("case", list(BAD_LINKS))
def test_bad_link_shows_a_notice_and_a_working_page(case: str) -> None:
    params, named, controls = BAD_LINKS[case]
    at = check_bad_link(params, named)
    got = widget_values(at)
    for name, value in controls.items():
        key = session_key(name)
        shown = got[key] if key in got else at.session_state[key]  # the "More" settings may be closed
        assert shown == value, (key, shown)
    link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
    if (link.tab or default_tab(link.preset)) != "learn":
        assert charts(at), "a bad link must still draw its page"


def test_link_over_budget_reduces_depth_and_says_so() -> None:
    """depth=10^9 is clamped to 1000, then the budget (width 2048) reduces it; slider = address bar."""
    params = {"depth": "1000000000", "width": "2048", "batch": "1", "tab": "learn"}
    at = check_bad_link(params, ["`depth`: `1000000000` is above the maximum 1000", "Depth reduced from 1000 to",
                                 "memory"])
    reduced = int(notices(at)[0].split("Depth reduced from 1000 to ")[1].split(",")[0])
    assert reduced == max_depth_within_budget(Scenario(depth=1000, width=2048, batch=1)) < 1000
    assert at.slider(key="net.depth").value == reduced
    assert address_bar(at)["depth"] == str(reduced)
    assert at.slider(key="net.width").value == 2048


def _junk(rng: random.Random) -> dict[str, str | list[str]]:
    alphabet = string.printable + "éü☃глоř\u200b\u202e<>\"'&%#;=?/\\"
    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))
    keys = [f.url_key for sec in SECTIONS for f in sec.fields] + ["v", "preset", "hide", "lock"]
    numbers = ["-1", "0", "1e308", "-1e400", "nan", "-inf", "1_0", "0x10", "3.", ".5", "9" * 30, "1e-320"]
    params: dict[str, str | list[str]] = {}
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(keys) if rng.random() < 0.7 else text(12) or "k"
        r = rng.random()
        value: str | list[str] = (rng.choice(numbers) if r < 0.35 else text(30) if r < 0.9 else text(400))
        if rng.random() < 0.1:
            value = [text(5), text(5)]
        params[key] = value
    params["tab"] = "learn"  # the sidebar and the notices are what junk can reach; keep the runs cheap
    return params


JUNK = [_junk(random.Random(seed)) for seed in range(30)]


@pytest.mark.parametrize("params", JUNK, ids=[f"junk{i}" for i in range(len(JUNK))])
def test_random_junk_links_never_crash(params: dict[str, str | list[str]]) -> None:
    at = open_link(params)
    assert_healthy(at)
    link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
    assert len(notices(at)) == (1 if link.notices else 0)
    for n in link.notices:
        assert n.message in notices(at)[0]
    assert_no_live_markup(at)
    bar = address_bar(at)
    assert set(bar) <= VALID_KEYS
    assert_shows(at, dict(link.values), link.preset, link.tab, link.hide, link.lock)


# ----------------------------------------------------------------------------------------- round trips


def _random_scenario(rng: random.Random) -> tuple[dict, str | None, str]:
    """A random valid (page state, preset, tab), small enough to compute in a blink."""
    while True:
        init = rng.choice(initializers.names())
        values: dict[str, object] = {}
        for pname, p in initializers.spec(init).params.items():
            f = FIELD_BY_NAME.get(pname)
            if f is None or rng.random() < 0.3:
                continue
            if f.kind == "choice":
                opts = [c for c in (p.choices or choices_for(f)) if c in choices_for(f)]
                values[pname] = rng.choice(opts)
            else:
                lo = max(f.lo, p.lo if getattr(p, "lo", None) is not None else f.lo)
                hi = min(f.hi, 3.0)
                values[pname] = rng.choice([round(rng.uniform(lo, hi), 3), rng.uniform(lo, hi)])
        s = Scenario(
            init=init, activation=rng.choice(activations.names()), depth=rng.randint(1, 12),
            width=rng.randint(1, 48), batch=rng.randint(1, 48), seed=rng.choice([0, 7, 2**32 - 1, rng.randrange(2**32)]),
            dtype=rng.choice(("float32", "float64")), bias=rng.choice(("zeros", "constant", "random_normal")),
            bias_value=rng.choice([0.1, -2.5, round(rng.uniform(-3, 3), 4)]),
            inputs=rng.choice(("standard", "minmax", "raw")), loss=rng.choice(("projection", "mse")),
            shared=rng.random() < 0.3, **values,
        )
        if repair(s, s, set(INIT_PARAM_NAMES))[1]:
            continue  # e.g. minval > maxval: not a valid scenario
        break
    views = dict(
        signal=SignalView(which=rng.choice(("act", "pre"))),
        compare=CompareView(by=rng.choice(("init", "activation")),
                            inits=tuple(rng.sample(initializers.names(), rng.randint(0, 4))),
                            acts=tuple(rng.sample(activations.names(), rng.randint(2, 4)))),
        ranges=RangesView(inits=tuple(rng.sample(initializers.names(), rng.randint(1, 6))),
                          n=rng.randint(2, 120), m=rng.randint(0, 50), log=rng.random() < 0.5),
    )
    preset = rng.choice([None, None, *PRESETS])
    return values_of(s, preset, **views), preset, rng.choice(TAB_IDS)


RANDOM_SCENARIOS = [_random_scenario(random.Random(1000 + i)) for i in range(10)]


@pytest.mark.parametrize("case", RANDOM_SCENARIOS, ids=[f"random{i}" for i in range(len(RANDOM_SCENARIOS))])
def test_random_scenario_round_trips_through_the_app(case) -> None:  # type: ignore[no-untyped-def]
    values, preset, tab = case
    s = values["net"]
    query = encode_query(values, preset=preset, base=base_of(preset), tab=tab if tab != default_tab(preset) else None)
    back = decode_query(query, PRESET_VALUES, tabs=TAB_IDS)
    assert back.notices == () and (dict(back.values), back.preset) == (values, preset)
    at = open_link(query)
    assert_healthy(at)
    assert notices(at) == []
    few = tab == "compare" and values["compare"].by == "init" and len(values["compare"].inits) < 2
    assert len(charts(at)) == (0 if few else expected_charts(tab, s, values))
    assert_shows(at, values, preset, tab)
    if tab == "signal":  # the page computed the link's scenario, not another one
        line = [t for t in charts(at)[0]["data"] if t["name"] == f"{s.init} + {s.activation}"][0]
        np.testing.assert_array_equal(array(line["x"]), np.arange(1, s.depth + 1))


# ------------------------------------------------------------------------------------ reproducibility

SAME_LINKS = {
    "preset": {"preset": "sigmoid_saturation"},
    "custom": {"init": "random_normal", "stddev": "0.07", "activation": "relu", "depth": "12", "width": "32",
               "batch": "16", "seed": "7", "bias": "random_normal", "bias_value": "0.3"},
    "compare": {"tab": "compare", "depth": "8", "width": "24", "batch": "8", "seed": "3",
                "cmp_inits": "he_normal,orthogonal,torch_trunc_normal"},
}


@pytest.mark.parametrize("case", list(SAME_LINKS))
def test_same_link_twice_gives_identical_numbers(case: str) -> None:
    params = SAME_LINKS[case]
    first = open_link(params)
    compute.clear_all()  # the second session recomputes everything from the link alone
    second = open_link(params)
    assert_healthy(first)
    assert_healthy(second)
    a, b = [c.proto.spec for c in first.get("plotly_chart")], [c.proto.spec for c in second.get("plotly_chart")]
    assert len(a) >= 3
    assert a == b
    # The verdict and every other sentence quote numbers: they must be identical too.
    texts = [t for t in all_texts(first) if any(ch.isdigit() for ch in t)]
    assert len(texts) >= 2
    assert all_texts(first) == all_texts(second)
    assert share_links(first) == share_links(second)


# ----------------------------------------------------------------------------------------- interaction


def test_changing_a_control_updates_the_address_bar_and_share_box() -> None:
    at = open_link({"tab": "learn"})
    at.slider(key="net.depth").set_value(30).run()
    assert_healthy(at)
    assert address_bar(at) == {"v": "3", "depth": "30", "tab": "learn"}
    assert share_links(at)[0] == "?v=3&depth=30&tab=learn"
    at.selectbox(key="net.init").set_value("random_normal").run()
    at.number_input(key="net.stddev").set_value(0.25).run()
    assert address_bar(at) == {"v": "3", "init": "random_normal", "depth": "30", "stddev": "0.25", "tab": "learn"}
    at.selectbox(key="net.init").set_value("he_normal").run()  # stddev means nothing to he_normal: dropped
    assert address_bar(at) == {"v": "3", "init": "he_normal", "depth": "30", "tab": "learn"}
    at.slider(key="net.depth").set_value(50).run()  # back to the default: left out of the link
    assert address_bar(at) == {"v": "3", "init": "he_normal", "tab": "learn"}
    assert notices(at) == []


@pytest.mark.slow
def test_picking_a_preset_moves_the_controls_and_the_address_bar() -> None:
    at = open_link({"depth": "abc"})
    assert notices(at)
    at.selectbox(key="preset_pick").set_value("keras_default").run()
    assert_healthy(at)
    assert notices(at) == []  # the link's notices are about the old settings
    assert_shows(at, base_of("keras_default"), "keras_default", "compare")
    assert address_bar(at) == {"v": "3", "preset": "keras_default"}
    assert len(charts(at)) == CHARTS_PER_TAB["compare"]
    assert any(i.value.startswith(f"**{PRESETS['keras_default'].title}**") for i in at.info)
    at.slider(key="net.depth").set_value(30).run()
    assert address_bar(at) == {"v": "3", "preset": "keras_default", "depth": "30"}
    at.selectbox(key="preset_pick").set_value("").run()  # "your own settings": the defaults
    assert_healthy(at)
    assert_shows(at, values_of(), None, "compare")  # the page stays; the link now names it
    assert not at.info


def test_learn_show_me_button_applies_its_preset() -> None:
    at = open_link({"tab": "learn"})
    at.button(key="learn_1_zero_init").click().run()
    assert_healthy(at)
    assert widget_values(at)["preset_pick"] == "zero_init"
    got = widget_values(at)
    for name, value in expected_widgets(PRESETS["zero_init"].scenario).items():
        assert got[name] == value
    assert address_bar(at)["preset"] == "zero_init"
    assert any(i.value.startswith(f"**{PRESETS['zero_init'].title}**") for i in at.info)


def test_learn_show_me_button_opens_the_presets_page() -> None:
    at = open_link({"tab": "learn"})
    at.button(key="learn_1_zero_init").click().run()
    assert at.session_state["tab"] == "Gradients"
    assert len(charts(at)) == CHARTS_PER_TAB["gradients"]


LEARN_BUTTONS = [(i, name) for i, lesson in enumerate(LESSONS) for name in lesson.presets]
PARTS = {"training": (TRAINING_PARTS, TrainView()), "theory": (THEORY_PARTS, TheoryView())}


def test_the_learn_page_has_show_me_buttons_to_training_and_theory_presets() -> None:
    at = open_link({"tab": "learn"})
    names = [b.key.split("_", 2)[2] for b in at.button if b.key.startswith("learn_")]
    assert {PRESETS[n].tab for n in names} >= {"training", "theory"}
    assert {n for n, p in PRESETS.items() if p.tab in PARTS} <= set(names)


@pytest.mark.slow
@pytest.mark.parametrize("i, name", LEARN_BUTTONS, ids=[f"{i}-{name}" for i, name in LEARN_BUTTONS])
def test_every_show_me_button_opens_its_presets_page_and_part(i: int, name: str) -> None:
    """The button applies the preset and opens its page; on Training and Theory, the part its text (and the
    lesson) is about. Controls, address bar and Share box then all describe the preset."""
    at = open_link({"tab": "learn"})
    button = at.button(key=f"learn_{i}_{name}")
    p = PRESETS[name]
    assert f"Opens the {LABEL[p.tab]} page with this preset" in button.help  # the tooltip says where it leads
    button.click().run()
    assert_healthy(at)
    assert at.session_state["tab"] == LABEL[p.tab]
    if p.tab in PARTS:
        labels, default = PARTS[p.tab]
        part = labels[p.views.get(p.tab, default).show]
        assert at.session_state[f"{p.tab}.show_ui"] == part and f"at its part “{part}”" in button.help
    assert len(charts(at)) == expected_charts(p.tab, p.scenario, dict(p.views)) >= 1
    assert any(box.value.startswith(f"**{p.title}**") for box in at.info)
    assert address_bar(at) == {"v": "3", "preset": name}
    assert_shows(at, base_of(name), name, None)


def test_every_offered_nonlinearity_is_accepted() -> None:
    at = open_link({"init": "torch_kaiming_uniform", "tab": "learn"})
    offered = [o for o in at.selectbox(key="net.nonlinearity").options if not o.startswith("default")]
    assert "leaky_relu" in offered and "tanh" in offered
    for option in offered:
        at.selectbox(key="net.nonlinearity").set_value(option).run()
        assert_healthy(at)
        assert notices(at) == []
        assert address_bar(at).get("nonlinearity", "leaky_relu") == option


def test_budget_repair_after_a_control_change_moves_the_slider() -> None:
    at = open_link({"width": "2048", "batch": "1", "depth": "40", "tab": "learn"})
    assert notices(at) == []
    at.slider(key="net.depth").set_value(100).run()
    assert_healthy(at)
    assert "Depth reduced from 100 to" in notices(at)[0]
    assert at.slider(key="net.depth").value == int(address_bar(at)["depth"])


# -------------------------------------------------------------------------------------- lesson links


def test_lesson_link_hides_and_locks_controls() -> None:
    at = open_link({"hide": "depth", "lock": "init", "depth": "30"})
    assert_healthy(at)
    assert notices(at) == []
    assert "net.depth" not in widget_values(at)
    assert at.selectbox(key="net.init").disabled
    assert not at.slider(key="net.width").disabled
    # The hidden control's link value still applies: 30 layers are drawn.
    line = [t for t in charts(at)[0]["data"] if t["name"] == "glorot_uniform + tanh"][0]
    np.testing.assert_array_equal(array(line["x"]), np.arange(1, 31))
    assert address_bar(at) == {"v": "3", "depth": "30", "hide": "depth", "lock": "init"}
    at.slider(key="net.width").set_value(64).run()  # and it survives the student's changes
    assert address_bar(at) == {"v": "3", "depth": "30", "width": "64", "hide": "depth", "lock": "init"}
    assert at.selectbox(key="net.init").disabled


def test_lesson_link_with_unknown_control_names_it() -> None:
    at = check_bad_link({"hide": "bogus,seed", "lock": "nothing", "tab": "learn"}, ["hide", "bogus", "lock", "nothing"])
    assert "net.seed" not in widget_values(at)
    assert address_bar(at) == {"v": "3", "hide": "seed", "tab": "learn"}


def test_teacher_lesson_link_in_the_share_box() -> None:
    at = open_link({"preset": "he_relu", "tab": "learn"})
    assert not at.code and not [m for m in at.multiselect if m.key == "lesson_hide"]  # built only once opened
    assert len(share_links(at)) == 2  # the link and the (so far identical) lesson link
    at.multiselect(key="lesson_hide").set_value(["seed", "dtype"]).run()
    at.multiselect(key="lesson_lock").set_value(["init"]).run()
    lesson = share_links(at)[1]
    back = decode_link(lesson)
    assert back.notices == ()
    assert (back.preset, back.hide, back.lock, back.tab) == ("he_relu", {"seed", "dtype"}, {"init"}, "learn")
    student = open_link({k: v[0] for k, v in parse_qs(lesson.lstrip("?")).items()})
    assert_healthy(student)
    assert "net.seed" not in widget_values(student) and "net.dtype" not in widget_values(student)
    assert student.selectbox(key="net.init").disabled


def test_lesson_link_hides_and_locks_a_tabs_own_control() -> None:
    at = open_link({"hide": "which", "which": "pre", "depth": "6", "width": "16", "batch": "8"})
    assert_healthy(at)
    assert notices(at) == []
    # `which` (the Signal tab's own radio) is a lesson control like the sidebar's: hidden, its value applies.
    assert [r.key for r in at.radio if r.key == "signal.which"] == []
    assert "pre-activations" in " ".join(m.value for m in at.markdown)
    at = open_link({"lock": "which", "depth": "6", "width": "16", "batch": "8"})
    assert at.radio(key="signal.which").disabled and at.radio(key="signal.which").value == "act"


def test_code_expander_shows_keras_and_pytorch_for_the_current_network() -> None:
    at = open_link({"init": "random_normal", "stddev": "1", "activation": "linear", "depth": "7"})
    assert not [c for c in at.code if "import keras" in c.value]  # built only when opened
    at.session_state["code_open"] = True
    at.run()
    keras = next(c.value for c in at.code if "import keras" in c.value)
    torch = next(c.value for c in at.code if "import torch" in c.value)
    assert "RandomNormal(" in keras and "stddev=1" in keras and "range(7)" in keras
    assert "nn.init.normal_(" in torch and "std=1" in torch



def test_closed_expanders_hold_more_charts() -> None:
    at = open_link({"preset": "he_relu"})
    shown = len(charts(at))
    at.session_state["more_signal"] = True
    at.run()
    assert len(charts(at)) == shown + 2  # percentiles and mean
    at = open_link({"preset": "he_relu", "tab": "gradients"})
    at.session_state["more_grad"] = True
    at.run()
    assert len(charts(at)) == CHARTS_PER_TAB["gradients"] + 1  # relative update size


def test_warm_up_computes_every_preset_and_compare_variant(monkeypatch) -> None:
    todo = products.warm_up_list()

    assert all(p.scenario in todo for p in PRESETS.values() if p.tab in ("signal", "gradients"))
    assert all(args[0] in todo for kind, args in products.preset_products() if kind == "propagate")
    from initlab.pages import train_key
    from initlab.training.scenario import TrainScenario

    trainings = [job for job in todo if isinstance(job, TrainScenario)]  # one per initializer, kept one by one
    assert set(trainings) == {ts for p in PRESETS.values() if p.tab == "training" for ts in train_key(dict(p.views))}
    compare_presets = [p for p in PRESETS.values() if p.tab == "compare"]
    assert compare_presets and len(todo) > len([p for p in PRESETS.values() if p.tab != "ranges"])
    assert len(set(todo)) == len(todo)
    started = []
    monkeypatch.setenv("INITLAB_WARMUP", "1")
    monkeypatch.setattr(compute, "_warm_started", False)
    monkeypatch.setattr(compute, "_warm", lambda scenarios: started.append(scenarios))
    compute.warm_up_once(todo)
    compute.warm_up_once(todo)  # once per process
    for t in __import__("threading").enumerate():
        if t.name == "initlab-warmup":
            t.join(timeout=10)
    assert started == [todo]


@pytest.mark.slow
def test_notices_stay_when_a_preset_parameter_does_not_apply_to_the_links_initializer() -> None:
    # Fuzz case 1333: the page's scenario (stddev None for orthogonal) differed from the decoded link's
    # (the preset's stddev kept), so the app thought the student had moved on and dropped the notices.
    at = open_link({"preset": "std001_vanishes", "init": "orthogonal", "maxval": "Compare"})
    assert_healthy(at)
    assert any("maxval" in n for n in notices(at))


@pytest.mark.slow
def test_preset_link_whose_initializer_rejects_its_parameters_keeps_its_notice() -> None:
    at = open_link({"preset": "std1_explodes", "init": "random_uniform", "minval": "1", "maxval": "0"})
    assert_healthy(at)
    assert any("minval" in n for n in notices(at))


# ------------------------------------------------------------------------------- operators see failures


def test_a_failing_page_shows_a_short_message_and_logs_the_traceback(monkeypatch, caplog) -> None:
    def broken(values):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("boom in the signal page")

    monkeypatch.setitem(pages.PAGES, "signal", broken)
    with caplog.at_level("ERROR", logger="initlab"):
        at = open_link({"depth": "7"})
    assert page_failures(at) == [f"{PAGE_FAILED} (ZeroDivisionError). Try another setting or reload."]
    assert not at.exception  # no traceback reaches the student
    records = [r for r in caplog.records if r.name == "initlab"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "\n" not in line
    assert line.startswith("page 'signal' failed: ZeroDivisionError: boom in the signal page")
    assert "depth=7" in line  # the scenario, so the admin can reproduce it
    text = caplog.text
    assert "Traceback (most recent call last)" in text and "in broken" in text


def test_a_failed_background_warm_up_is_logged(monkeypatch, caplog) -> None:
    bad = Scenario(depth=3)

    def failing(s):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"cannot compute {s.depth}")

    monkeypatch.setattr(compute, "propagate", failing)
    with caplog.at_level("ERROR", logger="initlab"):
        compute._warm([bad, bad])
    records = [r for r in caplog.records if r.name == "initlab"]
    assert [r.getMessage().split(" | ")[0] for r in records] == ["warm-up failed: RuntimeError: cannot compute 3"] * 2
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in records)


def test_the_log_handler_writes_one_line_and_the_traceback_to_stderr(capfd) -> None:
    import logging

    from initlab.ui import logs

    log = logs.logger()
    assert sum(getattr(h, "_initlab", False) for h in logging.getLogger("initlab").handlers) == 1
    logs.logger()  # set up once per process, whatever the number of calls
    assert sum(getattr(h, "_initlab", False) for h in logging.getLogger("initlab").handlers) == 1
    handler = next(h for h in log.handlers if getattr(h, "_initlab", False))
    try:
        raise KeyError("missing")
    except KeyError as exc:
        record = log.makeRecord("initlab", logging.ERROR, __file__, 1, "page 'X' failed: %s", (exc,),
                                (type(exc), exc, exc.__traceback__))
    out = handler.format(record).splitlines()
    assert " ERROR initlab " in out[0] and out[0].endswith("page 'X' failed: 'missing'")
    assert out[1] == "Traceback (most recent call last):" and out[-1] == "KeyError: 'missing'"


# ----------------------------------------------------------------------------------- page state per section


def test_two_sections_can_have_a_field_of_the_same_name() -> None:
    at = open_link({"tab": "compare", "depth": "5", "width": "16", "batch": "8"})
    assert at.multiselect(key="compare.inits").value == list(CompareView().inits)
    at = open_link({"tab": "ranges", "cmp_inits": "he_normal,zeros"})
    assert at.multiselect(key="ranges.inits").value == list(RangesView().inits)
    assert at.session_state["compare.inits"] == ["he_normal", "zeros"]  # kept while its tab is closed
    assert address_bar(at) == {"v": "3", "cmp_inits": "he_normal,zeros", "tab": "ranges"}


def test_one_bad_view_value_never_resets_its_neighbours() -> None:
    at = open_link({"tab": "ranges", "which": "pre", "rng_m": "1", "rng_n": "800"})
    assert_healthy(at)
    texts = notices(at)
    assert len(texts) == 1 and "`rng_n`: `800` is above the maximum 500: clamped to 500" in texts[0]
    assert "which" not in texts[0] and "rng_m" not in texts[0]
    assert at.number_input(key="ranges.n").value == 500 and at.number_input(key="ranges.m").value == 1
    assert address_bar(at) == {"v": "3", "which": "pre", "rng_n": "500", "rng_m": "1", "tab": "ranges"}
    ranges = charts(at)[0]
    assert max(max(array(t["x"])) for t in ranges["data"] if "x" in t) == 500


def test_compare_with_fewer_than_two_says_so_and_keeps_the_choice() -> None:
    at = open_link({"tab": "compare", "cmp_inits": "he_normal"})
    assert_healthy(at)
    assert notices(at) == []
    assert any("Pick at least two initializers" in i.value for i in at.info)
    assert charts(at) == []
    assert address_bar(at) == {"v": "3", "cmp_inits": "he_normal", "tab": "compare"}
    again = open_link(address_bar(at))  # a reload keeps the one choice, not the default three
    assert again.multiselect(key="compare.inits").value == ["he_normal"]
    at = open_link({"tab": "compare", "cmp_by": "activation", "cmp_acts": "relu"})
    assert any("Pick at least two activations" in i.value for i in at.info)
    assert charts(at) == []  # not the initializer comparison under the activation picker
    assert [m.key for m in at.multiselect] == ["compare.acts"]
    at.multiselect(key="compare.acts").set_value([]).run()
    assert_healthy(at)
    assert address_bar(at)["cmp_acts"] == ""


def test_changing_which_changes_the_heatmap_it_draws() -> None:
    at = open_link({"depth": "6", "width": "16", "batch": "8"})
    act = charts(at)[1]
    at.radio(key="signal.which").set_value("pre").run()
    pre = charts(at)[1]
    assert act != pre
    assert address_bar(at) == {"v": "3", "depth": "6", "width": "16", "batch": "8", "which": "pre"}


# ----------------------------------------------------------------------------------------- link notices


def test_a_mistyped_key_is_quoted_as_typed_with_a_suggestion() -> None:
    at = open_link({"bias_valu": "3"})
    text = notices(at)[0]
    assert "unknown parameter `bias_valu` ignored (did you mean `bias_value`?)" in text


def test_a_parameter_the_initializer_does_not_take_is_reported_as_such_whatever_its_value() -> None:
    for value in ("nan", "2", "abc"):
        text = notices(open_link({"stddev": value, "tab": "learn"}))[0]
        assert "`stddev` ignored: glorot_uniform has no such parameter" in text, text
        assert "finite" not in text and "not a number" not in text


def test_at_most_twenty_notice_lines_per_link() -> None:
    params = {f"junk{i}": "1" for i in range(30)}
    params["tab"] = "learn"
    text = notices(open_link(params))[0]
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(lines) == 20
    assert lines[-1] == "- and 11 more"


@pytest.mark.parametrize("params, limit", [
    ({"depth": "1000", "width": "2048", "batch": "1", "dtype": "float64"}, "memory"),
    ({"depth": "1000", "width": "256", "batch": "512"}, "computation"),
])
def test_budget_notice_names_the_limit_that_binds(params: dict, limit: str) -> None:
    text = notices(open_link({**params, "tab": "learn"}))[0]
    assert f"the most that fits the {limit} limit" in text
    assert ("of memory" in text) == (limit == "memory") and ("multiply-adds" in text) == (limit == "computation")


# ----------------------------------------------------------------------------------------- lesson links

LESSON = {"v": "1", "preset": "he_relu", "depth": "30", "hide": "activation,seed", "lock": "init,depth"}


def _lesson_state(at: AppTest) -> tuple:
    return tuple(at.session_state[f"net.{n}"] for n in ("init", "depth", "activation", "seed"))


def test_a_lesson_link_disables_the_preset_picker_and_the_show_me_buttons() -> None:
    at = open_link(LESSON)
    assert_healthy(at)
    before = _lesson_state(at)
    assert before == ("he_normal", 30, "relu", 0)
    assert at.selectbox(key="preset_pick").disabled
    at = open_link({**LESSON, "tab": "learn"})
    assert at.button and all(b.disabled for b in at.button)
    assert any("off in this lesson link" in c.value for c in at.caption)


def _apply_preset_in_a_session() -> None:
    import streamlit as st

    from initlab.ui import state as page_state

    page_state.start()
    page_state.apply_preset("xavier_tanh")  # what the picker's and the buttons' callbacks call
    st.markdown(repr(tuple(st.session_state[f"net.{n}"] for n in ("init", "depth", "activation", "seed"))))


def test_applying_a_preset_in_a_lesson_changes_nothing() -> None:
    # The picker and the buttons are disabled; the callback they share refuses too (defence in depth,
    # for a crafted client that sends the widget change anyway).
    at = AppTest.from_function(_apply_preset_in_a_session, default_timeout=TIMEOUT)
    for k, v in LESSON.items():
        at.query_params[k] = v
    at.run()
    assert at.markdown[0].value == repr(("he_normal", 30, "relu", 0))
    free = AppTest.from_function(_apply_preset_in_a_session, default_timeout=TIMEOUT)
    free.query_params["preset"] = "he_relu"
    free.run()
    assert free.markdown[0].value == repr(("glorot_uniform", 100, "tanh", 0))  # outside a lesson it applies


def test_a_size_change_that_would_move_a_locked_depth_is_undone() -> None:
    at = open_link({"depth": "1000", "width": "128", "batch": "8", "lock": "depth", "tab": "learn"})
    assert notices(at) == []
    at.slider(key="net.width").set_value(2048).run()
    assert_healthy(at)
    assert at.session_state["net.depth"] == 1000
    assert at.slider(key="net.width").value == 128
    assert any("Sidebar › Width (units) set back to 128: this lesson fixes Sidebar › Depth (layers) at 1000, and this "
               "change would move it (Depth reduced from 1000 to" in n for n in notices(at))
    assert address_bar(at)["depth"] == "1000" and "width" in address_bar(at)


def test_locking_an_initializer_parameter_locks_the_initializer() -> None:
    at = open_link({"init": "random_normal", "stddev": "0.3", "lock": "stddev", "tab": "learn"})
    assert at.number_input(key="net.stddev").disabled
    assert at.selectbox(key="net.init").disabled


def test_no_bias_value_box_for_biases_that_take_none() -> None:
    for bias in ("zeros", "torch_linear"):
        assert "net.bias_value" not in widget_values(open_link({"bias": bias, "tab": "learn"}))
    assert "net.bias_value" in widget_values(open_link({"bias": "constant", "tab": "learn"}))


# Pictographs that need an emoji font (a box where none is installed, as on many Linux machines and in
# Debian's Chromium without fonts-noto-color-emoji): Misc Technical (⏳), Misc Symbols and Dingbats (⚠, ✅),
# the emoji planes (🎯, 🧪) and the emoji variation selector. Arrows, maths and Greek are text fonts' letters.
EMOJI = re.compile("[\u2300-\u23ff\u2600-\u27bf\ufe0f\U0001f000-\U0001faff]")


def test_no_emoji_in_what_the_page_shows() -> None:
    """Icons are Streamlit's Material Symbols (its own bundled font): ``icon=":material/...:"``."""
    root = Path(__file__).resolve().parent.parent
    found = [f"{p.relative_to(root)}:{n}: {line.strip()[:80]}"
             for p in [root / "app.py", *sorted((root / "initlab").rglob("*.py"))]
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if EMOJI.search(line)]
    assert not found, "\n".join(found)
