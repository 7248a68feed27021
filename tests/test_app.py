"""AppTest tests of the whole page (app.py + initlab/ui/): presets, tabs, bad links, share links.

Every test opens a link the way a browser would (``at.query_params`` before the first run) and checks
what a student sees: no traceback, the notices, the controls' values, the charts' numbers, the address
bar and the Share box. The engine's cache (``st.cache_resource``) lives in the process and is shared by
the tests, as it is by the sessions of a server; the reproducibility test clears it between its runs.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import string
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from initlab import activations, initializers, network
from initlab.lessons import LESSONS
from initlab.presets import PRESETS
from initlab.scenario import (
    FIELD_BY_NAME,
    FIELDS,
    INIT_PARAM_NAMES,
    LINK_KEYS,
    STREAMLIT_KEYS,
    VIEW_FIELDS,
    Scenario,
    View,
    choices_for,
    decode_query,
    encode_query,
    max_depth_within_budget,
    repair,
)
from initlab.ui import compute, controls, state

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # seconds per run: a cold 250-layer preset on a busy 2-core machine takes ~10 s
ADJUSTED_HEAD = "Adjusted so that this scenario can be computed"
NOTICE_HEAD = "Some settings in this link could not be used as written"
PAGE_FAILED = "This page could not be drawn"
TAB_LABELS = state.TAB_LABELS
PRESET_SCENARIOS = {name: p.scenario for name, p in PRESETS.items()}
VALID_KEYS = set(LINK_KEYS) | {f.name for f in FIELDS} | {f.name for f in VIEW_FIELDS}
CHARTS_PER_TAB = {"Signal": 2, "Gradients": 2, "Weight ranges": 1, "Compare": 3, "Learn": 0}


def expected_charts(tab: str, s: Scenario) -> int:
    """Charts a tab draws with its expanders closed: Signal adds the saturated/dead/inf chart only when
    some layer has such values (otherwise it says so in a line)."""
    if tab != "Signal":
        return CHARTS_PER_TAB[tab]
    lay = network.propagate(s).layers
    return 2 + int((lay[["frac_saturated", "frac_dead", "frac_nonfinite"]].to_numpy() > 0).any())


# --------------------------------------------------------------------------------------------- helpers


def open_link(params: dict[str, str | list[str]]) -> AppTest:
    """A fresh session opening ``?params`` (values: a string, or a list for a repeated key)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


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
    """Links in the Share box (``st.context.url`` is empty under AppTest: they start with '?')."""
    return [c.value for c in at.code if c.value.startswith("?")]


def decode_link(query: str):  # type: ignore[no-untyped-def]
    return decode_query(parse_qs(query.lstrip("?"), keep_blank_values=True), PRESET_SCENARIOS, tabs=TAB_LABELS)


def base_of(preset: str | None) -> Scenario:
    return PRESETS[preset].scenario if preset in PRESETS else Scenario()


def default_tab(preset: str | None) -> str:
    return state.TAB_OF_PRESET[PRESETS[preset].tab] if preset in PRESETS else TAB_LABELS[0]


def expected_widgets(s: Scenario, hide: frozenset[str] = frozenset(), more_open: bool | None = None
                     ) -> dict[str, object]:
    """The sidebar controls a scenario must show, with their values. The "More" expander's controls
    are drawn only while it is open; it starts open when one of them is not at its default."""
    accepted = initializers.spec(s.init).params
    if more_open is None:
        more_open = any(getattr(s, n) != getattr(Scenario(), n) for n in controls.MORE if n not in hide)
    out: dict[str, object] = {}
    for f in FIELDS:
        if f.name in hide or f.name in INIT_PARAM_NAMES and f.name not in accepted:
            continue
        if f.name in controls.MORE and not more_open:
            continue
        if f.name == "bias_value" and s.bias == "zeros":
            continue
        out[f.name] = getattr(s, f.name)
    return out


def assert_healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not page_failures(at), page_failures(at)


def assert_shows(at: AppTest, s: Scenario, view: View, preset: str | None, tab: str | None,
                 hide: frozenset[str] = frozenset(), lock: frozenset[str] = frozenset()) -> None:
    """Controls, address bar and Share box all describe exactly (s, view, preset, tab)."""
    got = widget_values(at)
    more_open = at.session_state["more_settings"] if "more_settings" in at.session_state else None
    expected = expected_widgets(s, hide, more_open)
    for name, value in expected.items():
        assert name in got, f"control {name} missing"
        assert got[name] == value, f"control {name} shows {got[name]!r}, scenario has {value!r}"
    for name in (f.name for f in FIELDS):
        if name not in expected:
            assert name not in got, f"control {name} shown but should not be"
    for f in VIEW_FIELDS:  # view controls live on their tab only
        if f.name in got:
            value = getattr(view, f.name)
            assert got[f.name] == (list(value) if isinstance(value, tuple) else value), f.name
    assert got["preset_pick"] == (preset or "")
    want = encode_query(s, view, preset=preset, base=base_of(preset), hide=hide, lock=lock)
    tab = tab or default_tab(preset)
    if tab != default_tab(preset):  # the preset's own page is where its link opens anyway
        want["tab"] = tab
    assert address_bar(at) == want
    assert at.session_state["tab"] == tab
    link = share_links(at)[0]
    back = decode_link(link)
    assert back.notices == ()
    assert (back.scenario, back.view, back.preset) == (s, view, preset)
    assert (back.tab or default_tab(preset)) == tab


# --------------------------------------------------------------------------------------------- presets

_PRESET_RUNS: dict[str, AppTest] = {}


def preset_run(name: str) -> AppTest:
    """One run of ``?preset=name`` shared by the tests that only read it."""
    if name not in _PRESET_RUNS:
        _PRESET_RUNS[name] = open_link({"preset": name})
    return _PRESET_RUNS[name]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_opens_on_its_page_with_charts(name: str) -> None:
    at = preset_run(name)
    p = PRESETS[name]
    assert_healthy(at)
    assert notices(at) == []
    tab = default_tab(name)
    assert at.session_state["tab"] == tab
    assert len(charts(at)) == expected_charts(tab, p.scenario) >= 1
    assert any(i.value.startswith(f"**{p.title}**") and p.text in i.value for i in at.info)
    assert address_bar(at) == {"v": "1", "preset": name}
    # The link of a preset is the preset: scenario -> link -> app -> controls, address bar, Share box.
    assert encode_query(p.scenario, preset=name, base=p.scenario) == {"v": "1", "preset": name}
    assert_shows(at, p.scenario, View(), name, None)
    assert share_links(at)[0] == f"?v=1&preset={name}"


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
    line = next(m.value for m in at.markdown if m.value.startswith("input std"))
    assert "first inf/NaN layer **32**" in line and "std at layer 250 **inf/NaN**" in line
    input_std = float(line.split("**")[1])
    assert input_std == pytest.approx(1, abs=0.01)
    layers = compute.propagate(PRESETS["std1_explodes"].scenario).layers
    assert not np.isfinite(layers["act_std"].iloc[-1])


# ------------------------------------------------------------------------------------------------ tabs


@pytest.mark.parametrize("label", TAB_LABELS)
def test_every_tab_renders(label: str) -> None:
    at = open_link({"tab": label})
    assert_healthy(at)
    assert notices(at) == []
    assert at.session_state["tab"] == label
    assert len(charts(at)) == expected_charts(label, Scenario())
    for c in charts(at):
        assert c["data"], "empty chart"
    assert address_bar(at) == ({"v": "1"} if label == "Signal" else {"v": "1", "tab": label})
    if label == "Learn":
        buttons = [b.key for b in at.button]
        assert buttons == [f"learn_{i}_{n}" for i, lesson in enumerate(LESSONS) for n in lesson.presets]
    if label == "Compare":  # one line per compared initializer, all from the same seed and batch
        names = [t["name"] for t in charts(at)[0]["data"]]
        assert names == list(View().cmp_inits)
    if label == "Weight ranges":
        assert at.multiselect(key="rng_inits").value == list(View().rng_inits)
        assert at.number_input(key="rng_n").value == View().rng_n


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
    "future_version": ({"v": "99"}, ["version 99"], {}),
    "unknown_tab": ({"tab": "nope"}, ["tab", "nope"], {}),
    "param_not_of_init": ({"stddev": "3"}, ["stddev", "glorot_uniform"], {}),
    "minval_above_maxval": ({"init": "random_uniform", "minval": "1", "maxval": "-1", "depth": "5"},
                            ["minval", "maxval"], {"init": "random_uniform", "minval": None, "maxval": None}),
    "cmp_inits_junk": ({"cmp_inits": "zzz", "tab": "Compare", "depth": "5"}, ["cmp_inits"],
                       {"cmp_inits": list(View().cmp_inits)}),
    "rng_n_low": ({"rng_n": "1", "tab": "Weight ranges"}, ["rng_n"], {"rng_n": 2}),
    "which_bad": ({"which": "x"}, ["which"], {"which": "act"}),
    "bad_preset_keeps_overrides": ({"preset": "nope", "depth": "7"}, ["preset"], {"depth": 7, "preset_pick": ""}),
    "good_preset_bad_override": ({"preset": "he_relu", "depth": "abc"}, ["depth"], {"depth": 50, "batch": 128}),
}


def check_bad_link(params: dict[str, str | list[str]], named: list[str]) -> AppTest:
    """Open a bad link: a working page, one notice naming every offending key, a clean address bar."""
    at = open_link(params)
    assert_healthy(at)
    texts = notices(at)
    assert len(texts) == 1, texts
    for word in named:
        assert word in texts[0], f"notice does not name {word!r}: {texts[0]}"
    for text in all_texts(at):
        assert "<script" not in text.lower()
    # The address bar holds only valid keys, with one value each, and opens without a notice ...
    bar = address_bar(at)
    assert set(bar) <= VALID_KEYS, bar
    assert decode_link("&".join(f"{k}={v}" for k, v in bar.items())).notices == ()
    # ... and describes what the page shows: the link as decoded (fallbacks, clamps, budget).
    link = decode_query(params, PRESET_SCENARIOS, tabs=TAB_LABELS)
    assert_shows(at, link.scenario, link.view, link.preset, link.tab, link.hide, link.lock)
    return at


@pytest.mark.parametrize("case", list(BAD_LINKS))
def test_bad_link_shows_a_notice_and_a_working_page(case: str) -> None:
    params, named, controls = BAD_LINKS[case]
    at = check_bad_link(params, named)
    got = widget_values(at)
    for key, value in controls.items():
        shown = got[key] if key in got else at.session_state[key]  # the "More" settings may be closed
        assert shown == value, (key, shown)
    link = decode_query(params, PRESET_SCENARIOS, tabs=TAB_LABELS)
    if (link.tab or default_tab(link.preset)) != "Learn":
        assert charts(at), "a bad link must still draw its page"


def test_link_over_budget_reduces_depth_and_says_so() -> None:
    """depth=10^9 is clamped to 1000, then the budget (width 2048) reduces it; slider = address bar."""
    params = {"depth": "1000000000", "width": "2048", "batch": "1", "tab": "Learn"}
    at = check_bad_link(params, ["depth: 1000000000 is above the maximum 1000", "Depth reduced to"])
    reduced = int(notices(at)[0].split("Depth reduced to ")[1].split(".")[0])
    assert reduced == max_depth_within_budget(Scenario(depth=1000, width=2048, batch=1)) < 1000
    assert at.slider(key="depth").value == reduced
    assert address_bar(at)["depth"] == str(reduced)
    assert at.slider(key="width").value == 2048


def _junk(rng: random.Random) -> dict[str, str | list[str]]:
    alphabet = string.printable + "éü☃глоř\u200b\u202e<>\"'&%#;=?/\\"
    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))
    keys = [f.name for f in FIELDS + VIEW_FIELDS] + ["v", "preset", "hide", "lock"]
    numbers = ["-1", "0", "1e308", "-1e400", "nan", "-inf", "1_0", "0x10", "3.", ".5", "9" * 30, "1e-320"]
    params: dict[str, str | list[str]] = {}
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(keys) if rng.random() < 0.7 else text(12) or "k"
        r = rng.random()
        value: str | list[str] = (rng.choice(numbers) if r < 0.35 else text(30) if r < 0.9 else text(400))
        if rng.random() < 0.1:
            value = [text(5), text(5)]
        params[key] = value
    params["tab"] = "Learn"  # the sidebar and the notices are what junk can reach; keep the runs cheap
    return params


JUNK = [_junk(random.Random(seed)) for seed in range(30)]


@pytest.mark.parametrize("params", JUNK, ids=[f"junk{i}" for i in range(len(JUNK))])
def test_random_junk_links_never_crash(params: dict[str, str | list[str]]) -> None:
    at = open_link(params)
    assert_healthy(at)
    link = decode_query(params, PRESET_SCENARIOS, tabs=TAB_LABELS)
    assert len(notices(at)) == (1 if link.notices else 0)
    for n in link.notices:
        assert n.message in notices(at)[0]
    for text in all_texts(at):
        assert "<script" not in text.lower()
    bar = address_bar(at)
    assert set(bar) <= VALID_KEYS
    assert_shows(at, link.scenario, link.view, link.preset, link.tab, link.hide, link.lock)


# ----------------------------------------------------------------------------------------- round trips


def _random_scenario(rng: random.Random) -> tuple[Scenario, View, str | None, str]:
    """A random valid (scenario, view, preset, tab), small enough to compute in a blink."""
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
    view = View(
        which=rng.choice(("act", "pre")), cmp_by=rng.choice(("init", "activation")),
        cmp_inits=tuple(rng.sample(initializers.names(), rng.randint(2, 4))),
        cmp_acts=tuple(rng.sample(activations.names(), rng.randint(2, 4))),
        rng_inits=tuple(rng.sample(initializers.names(), rng.randint(1, 6))),
        rng_n=rng.randint(2, 120), rng_m=rng.randint(0, 50),
    )
    preset = rng.choice([None, None, *PRESETS])
    return s, view, preset, rng.choice(TAB_LABELS)


RANDOM_SCENARIOS = [_random_scenario(random.Random(1000 + i)) for i in range(10)]


@pytest.mark.parametrize("case", RANDOM_SCENARIOS, ids=[f"random{i}" for i in range(len(RANDOM_SCENARIOS))])
def test_random_scenario_round_trips_through_the_app(case) -> None:  # type: ignore[no-untyped-def]
    s, view, preset, tab = case
    query = encode_query(s, view, preset=preset, base=base_of(preset))
    if tab != default_tab(preset):
        query["tab"] = tab
    back = decode_query(query, PRESET_SCENARIOS, tabs=TAB_LABELS)
    assert back.notices == () and (back.scenario, back.view, back.preset) == (s, view, preset)
    at = open_link(query)
    assert_healthy(at)
    assert notices(at) == []
    assert len(charts(at)) == expected_charts(tab, s)
    assert_shows(at, s, view, preset, tab)
    if tab == "Signal":  # the page computed the link's scenario, not another one
        line = [t for t in charts(at)[0]["data"] if t["name"] == f"{s.init} + {s.activation}"][0]
        np.testing.assert_array_equal(array(line["x"]), np.arange(1, s.depth + 1))


# ------------------------------------------------------------------------------------ reproducibility

SAME_LINKS = {
    "preset": {"preset": "sigmoid_saturation"},
    "custom": {"init": "random_normal", "stddev": "0.07", "activation": "relu", "depth": "12", "width": "32",
               "batch": "16", "seed": "7", "bias": "random_normal", "bias_value": "0.3"},
    "compare": {"tab": "Compare", "depth": "8", "width": "24", "batch": "8", "seed": "3",
                "cmp_inits": "he_normal,orthogonal,torch_trunc_normal"},
}


@pytest.mark.parametrize("case", list(SAME_LINKS))
def test_same_link_twice_gives_identical_numbers(case: str) -> None:
    params = SAME_LINKS[case]
    first = open_link(params)
    for fn in (compute.propagate, compute.predict, compute.range_curves, compute.figure):
        fn.clear()  # the second session recomputes everything from the link alone
    second = open_link(params)
    assert_healthy(first)
    assert_healthy(second)
    a, b = [c.proto.spec for c in first.get("plotly_chart")], [c.proto.spec for c in second.get("plotly_chart")]
    assert len(a) >= 3
    assert a == b
    # The verdict and every other sentence quote numbers: they must be identical too.
    texts = [t for t in all_texts(first) if any(ch.isdigit() for ch in t)]
    assert len(texts) >= 3
    assert all_texts(first) == all_texts(second)
    assert share_links(first) == share_links(second)


# ----------------------------------------------------------------------------------------- interaction


def test_changing_a_control_updates_the_address_bar_and_share_box() -> None:
    at = open_link({"tab": "Learn"})
    at.slider(key="depth").set_value(30).run()
    assert_healthy(at)
    assert address_bar(at) == {"v": "1", "depth": "30", "tab": "Learn"}
    assert share_links(at)[0] == "?v=1&depth=30&tab=Learn"
    at.selectbox(key="init").set_value("random_normal").run()
    at.number_input(key="stddev").set_value(0.25).run()
    assert address_bar(at) == {"v": "1", "init": "random_normal", "depth": "30", "stddev": "0.25", "tab": "Learn"}
    at.selectbox(key="init").set_value("he_normal").run()  # stddev means nothing to he_normal: dropped
    assert address_bar(at) == {"v": "1", "init": "he_normal", "depth": "30", "tab": "Learn"}
    at.slider(key="depth").set_value(50).run()  # back to the default: left out of the link
    assert address_bar(at) == {"v": "1", "init": "he_normal", "tab": "Learn"}
    assert notices(at) == []


def test_picking_a_preset_moves_the_controls_and_the_address_bar() -> None:
    at = open_link({"depth": "abc"})
    assert notices(at)
    at.selectbox(key="preset_pick").set_value("pytorch_default").run()
    assert_healthy(at)
    assert notices(at) == []  # the link's notices are about the old settings
    assert_shows(at, PRESETS["pytorch_default"].scenario, View(), "pytorch_default", "Compare")
    assert address_bar(at) == {"v": "1", "preset": "pytorch_default"}
    assert len(charts(at)) == CHARTS_PER_TAB["Compare"]
    assert any(i.value.startswith(f"**{PRESETS['pytorch_default'].title}**") for i in at.info)
    at.slider(key="depth").set_value(30).run()
    assert address_bar(at) == {"v": "1", "preset": "pytorch_default", "depth": "30"}
    at.selectbox(key="preset_pick").set_value("").run()  # "your own settings": the defaults
    assert_healthy(at)
    assert_shows(at, Scenario(), View(), None, "Compare")  # the page stays; the link now names it
    assert not at.info


def test_learn_show_me_button_applies_its_preset() -> None:
    at = open_link({"tab": "Learn"})
    at.button(key="learn_1_zero_init").click().run()
    assert_healthy(at)
    assert widget_values(at)["preset_pick"] == "zero_init"
    got = widget_values(at)
    for name, value in expected_widgets(PRESETS["zero_init"].scenario).items():
        assert got[name] == value
    assert address_bar(at)["preset"] == "zero_init"
    assert any(i.value.startswith(f"**{PRESETS['zero_init'].title}**") for i in at.info)


def test_learn_show_me_button_opens_the_presets_page() -> None:
    at = open_link({"tab": "Learn"})
    at.button(key="learn_1_zero_init").click().run()
    assert at.session_state["tab"] == "Gradients"
    assert len(charts(at)) == CHARTS_PER_TAB["Gradients"]


def test_every_offered_nonlinearity_is_accepted() -> None:
    at = open_link({"init": "torch_kaiming_uniform", "tab": "Learn"})
    offered = [o for o in at.selectbox(key="nonlinearity").options if not o.startswith("default")]
    assert "leaky_relu" in offered and "tanh" in offered
    for option in offered:
        at.selectbox(key="nonlinearity").set_value(option).run()
        assert_healthy(at)
        assert notices(at) == []
        assert address_bar(at).get("nonlinearity", "leaky_relu") == option


def test_budget_repair_after_a_control_change_moves_the_slider() -> None:
    at = open_link({"width": "2048", "batch": "1", "depth": "40", "tab": "Learn"})
    assert notices(at) == []
    at.slider(key="depth").set_value(100).run()
    assert_healthy(at)
    assert "Depth reduced to" in notices(at)[0]
    assert at.slider(key="depth").value == int(address_bar(at)["depth"])


# -------------------------------------------------------------------------------------- lesson links


def test_lesson_link_hides_and_locks_controls() -> None:
    at = open_link({"hide": "depth", "lock": "init", "depth": "30"})
    assert_healthy(at)
    assert notices(at) == []
    assert "depth" not in widget_values(at)
    assert at.selectbox(key="init").disabled
    assert not at.slider(key="width").disabled
    # The hidden control's link value still applies: 30 layers are drawn.
    line = [t for t in charts(at)[0]["data"] if t["name"] == "glorot_uniform + tanh"][0]
    np.testing.assert_array_equal(array(line["x"]), np.arange(1, 31))
    assert address_bar(at) == {"v": "1", "depth": "30", "hide": "depth", "lock": "init"}
    at.slider(key="width").set_value(64).run()  # and it survives the student's changes
    assert address_bar(at) == {"v": "1", "depth": "30", "width": "64", "hide": "depth", "lock": "init"}
    assert at.selectbox(key="init").disabled


def test_lesson_link_with_unknown_control_names_it() -> None:
    at = check_bad_link({"hide": "bogus,seed", "lock": "nothing", "tab": "Learn"}, ["hide", "bogus", "lock", "nothing"])
    assert "seed" not in widget_values(at)
    assert address_bar(at) == {"v": "1", "hide": "seed", "tab": "Learn"}


def test_teacher_lesson_link_in_the_share_box() -> None:
    at = open_link({"preset": "he_relu", "tab": "Learn"})
    assert len(share_links(at)) == 1  # the lesson options are built only once the teacher opens them
    at.session_state["lesson_open"] = True
    at.run()
    at.multiselect(key="lesson_hide").set_value(["seed", "dtype"]).run()
    at.multiselect(key="lesson_lock").set_value(["init"]).run()
    lesson = share_links(at)[1]
    back = decode_link(lesson)
    assert back.notices == ()
    assert (back.preset, back.hide, back.lock, back.tab) == ("he_relu", {"seed", "dtype"}, {"init"}, "Learn")
    student = open_link({k: v[0] for k, v in parse_qs(lesson.lstrip("?")).items()})
    assert_healthy(student)
    assert "seed" not in widget_values(student) and "dtype" not in widget_values(student)
    assert student.selectbox(key="init").disabled


def test_lesson_link_hiding_a_view_control_is_reported() -> None:
    at = open_link({"hide": "which"})
    assert_healthy(at)
    assert "" not in address_bar(at).values()
    # `which` is a view setting, not a lesson control: the link says so and the radio stays on the page.
    assert any("hide: unknown control(s) which ignored" in n for n in notices(at))
    assert [r.key for r in at.radio if r.key == "which"] == ["which"]


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
    at = open_link({"preset": "he_relu", "tab": "Gradients"})
    at.session_state["more_grad"] = True
    at.run()
    assert len(charts(at)) == CHARTS_PER_TAB["Gradients"] + 1  # relative update size


def test_warm_up_computes_every_preset_and_compare_variant(monkeypatch) -> None:
    from initlab.ui import pages

    todo = pages.warm_up_list()
    assert all(p.scenario in todo for p in PRESETS.values())
    compare_presets = [p for p in PRESETS.values() if p.tab == "compare"]
    assert compare_presets and len(todo) > len(PRESETS)
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


def test_notices_stay_when_a_preset_parameter_does_not_apply_to_the_links_initializer() -> None:
    # Fuzz case 1333: the page's scenario (stddev None for orthogonal) differed from the decoded link's
    # (the preset's stddev kept), so the app thought the student had moved on and dropped the notices.
    at = open_link({"preset": "std001_vanishes", "init": "orthogonal", "maxval": "Compare"})
    assert_healthy(at)
    assert any("maxval" in n for n in notices(at))


def test_preset_link_whose_initializer_rejects_its_parameters_keeps_its_notice() -> None:
    at = open_link({"preset": "std1_explodes", "init": "random_uniform", "minval": "1", "maxval": "0"})
    assert_healthy(at)
    assert any("minval" in n for n in notices(at))


# ------------------------------------------------------------------------------- operators see failures


def test_a_failing_page_shows_a_short_message_and_logs_the_traceback(monkeypatch, caplog) -> None:
    from initlab.ui import pages

    def broken(scenario, view):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("boom in the signal page")

    monkeypatch.setitem(pages.PAGES, "Signal", broken)
    with caplog.at_level("ERROR", logger="initlab"):
        at = open_link({"depth": "7"})
    assert page_failures(at) == [f"{PAGE_FAILED} (ZeroDivisionError). Try another setting or reload."]
    assert not at.exception  # no traceback reaches the student
    records = [r for r in caplog.records if r.name == "initlab"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "\n" not in line
    assert line.startswith("page 'Signal' failed: ZeroDivisionError: boom in the signal page")
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
