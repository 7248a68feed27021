"""The scenario schema and its share links: round trips, bad links, validation, the budget."""

import dataclasses
import importlib.util
import math
import re
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from initlab import initializers
from initlab.scenario import (
    FIELD_BY_NAME, FIELDS, INIT_PARAM_NAMES, LINK_KEYS, MAX_RAW_LENGTH, SCHEMA_VERSION, STREAMLIT_KEYS,
    VIEW_FIELDS, BudgetError, FieldSpec, LinkState, Scenario, View, check_budget, check_value, choices_for,
    decode_query, encode_query, format_value, max_depth_within_budget, parse_value,
)

KNOWN_KEYS = set(FIELD_BY_NAME) | set(LINK_KEYS) | set(STREAMLIT_KEYS)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- strategies built from the schema ------------------------------------------------------------

def _value(f: FieldSpec) -> st.SearchStrategy:
    """Any value the schema accepts for ``f`` (None included when optional)."""
    if f.kind == "bool":
        s = st.booleans()
    elif f.kind == "choice":
        s = st.sampled_from(choices_for(f))
    elif f.kind == "list":
        s = st.lists(st.sampled_from(choices_for(f)), min_size=int(f.lo), max_size=int(f.hi), unique=True).map(tuple)
    elif f.kind == "int":
        s = st.integers(int(f.lo), int(f.hi))
    else:
        s = st.floats(f.lo, f.hi, allow_nan=False, allow_infinity=False)
    return st.one_of(st.none(), s) if f.optional else s


@st.composite
def scenarios(draw) -> Scenario:
    """A valid scenario within budget whose initializer parameters are all ones ``init`` accepts.

    Parameters the initializer ignores are left None: a link never carries them (decoding reports them as
    ignored), so only such canonical scenarios can round-trip exactly; see test_ignored_params_*.
    """
    values = {f.name: draw(_value(f)) for f in FIELDS if f.name not in INIT_PARAM_NAMES}
    accepted = initializers.spec(values["init"]).params
    for name in INIT_PARAM_NAMES:
        values[name] = draw(_value(FIELD_BY_NAME[name])) if name in accepted else None
    s = Scenario(**values)
    try:
        s.validate()  # cross-parameter rules: minval <= maxval, a < b with enough mass, mode per init...
    except ValueError:
        assume(False)
    # Draw depth x width x batch over their full ranges, then cut depth to the budget (filtering would
    # throw away most draws): the boundary depth itself is then exercised often.
    depth = max_depth_within_budget(s)
    assume(depth >= 1)
    return s.replace(depth=min(s.depth, depth))


views = st.builds(View, **{f.name: _value(f) for f in VIEW_FIELDS})


_TAG = re.compile(r"<[A-Za-z/!?]")


def _assert_valid(state: LinkState) -> None:
    assert isinstance(state, LinkState)
    state.scenario.validate()
    check_budget(state.scenario)
    for f in VIEW_FIELDS:
        check_value(f, getattr(state.view, f.name))
    for n in state.notices:
        # Notices are shown on the page: raw text is quoted through _show, which drops markup characters, so
        # no tag can start ("<=" from a message template such as "need minval <= maxval" is fine).
        assert not _TAG.search(n.message), n
        assert len(n.message) < 1000, n


def _decode_bad(params, key: str, presets=None) -> LinkState:
    """Decode a bad link: never raises, valid result, a notice naming ``key``."""
    state = decode_query(params, presets or {})
    _assert_valid(state)
    assert any(n.key == key for n in state.notices), (key, state.notices)
    return state


# --- round trips ---------------------------------------------------------------------------------

@SETTINGS
@given(scenarios(), views)
def test_round_trip_without_preset(s, view):
    q = encode_query(s, view, preset=None)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in q.items())
    assert q["v"] == str(SCHEMA_VERSION)
    state = decode_query(q, presets={})
    assert state.notices == ()
    assert state.scenario == s
    assert state.view == view
    assert state.preset is None


@SETTINGS
@given(scenarios(), views, st.lists(scenarios(), min_size=1, max_size=3), st.data())
def test_round_trip_with_preset(s, view, preset_scenarios, data):
    presets = {f"p{i}": p for i, p in enumerate(preset_scenarios)}
    name = data.draw(st.sampled_from(sorted(presets)))
    q = encode_query(s, view, preset=name, base=presets[name])
    assert q["preset"] == name
    state = decode_query(q, presets)
    assert state.notices == ()
    assert (state.scenario, state.view, state.preset) == (s, view, name)


@SETTINGS
@given(scenarios())
def test_link_carries_only_values_that_differ_from_the_defaults(s):
    q = encode_query(s)
    base = Scenario()
    assert set(q) - {"v"} == {f.name for f in FIELDS if getattr(s, f.name) != getattr(base, f.name)}


def test_default_link_is_just_the_version():
    assert encode_query(Scenario()) == {"v": "1"}
    assert encode_query(Scenario(), View()) == {"v": "1"}
    assert encode_query(Scenario(depth=250)) == {"v": "1", "depth": "250"}
    assert encode_query(Scenario(), View(rng_n=10)) == {"v": "1", "rng_n": "10"}
    state = decode_query({}, {})
    assert (state.scenario, state.view, state.notices) == (Scenario(), View(), ())


def test_lesson_options_round_trip():
    q = encode_query(Scenario(), hide={"seed", "dtype"}, lock={"init"})
    assert q["hide"] == "seed,dtype" and q["lock"] == "init"
    state = decode_query(q, {})
    assert state.hide == {"seed", "dtype"} and state.lock == {"init"} and state.notices == ()


def test_ignored_params_are_left_out_of_links():
    # A scenario may hold a parameter its initializer ignores (e.g. after switching init in the UI); the
    # link must not carry it, or opening the app's own link would show an "ignored" notice.
    s = Scenario(init="he_normal", stddev=0.3, gain=2.0).validate()
    q = encode_query(s)
    assert q == {"v": "1", "init": "he_normal"}
    state = decode_query(q, {})
    assert state.notices == ()
    assert state.scenario.init_params() == s.init_params()


def test_longest_valid_list_fits_in_a_link():
    names = sorted(choices_for(FIELD_BY_NAME["init"]), key=len)[-6:]
    view = View(rng_inits=tuple(names))
    q = encode_query(Scenario(), view)
    assert len(q["rng_inits"]) <= MAX_RAW_LENGTH
    state = decode_query(q, {})
    assert state.view == view and state.notices == ()


def test_float_format_is_shortest_round_trip():
    f = FIELD_BY_NAME["stddev"]
    for x in (0.1, 1 / 3, 5e-324, 1e-6, 99.99999999999999, 2.0, -0.0, 100.0):
        text = format_value(f, x)
        assert parse_value(f, text) == (x, None)
    assert format_value(f, 2.0) == "2" and format_value(f, None) == ""


_PRESETS_SPEC = importlib.util.find_spec("initlab.presets")


@pytest.mark.skipif(_PRESETS_SPEC is None, reason="initlab/presets.py does not exist yet")
def test_every_real_preset_round_trips():
    from initlab import presets as P

    scenarios_ = {n: p.scenario for n, p in P.PRESETS.items()}
    assert scenarios_
    for name, sc in scenarios_.items():
        sc.validate()
        check_budget(sc)
        state = decode_query({"preset": name}, scenarios_)
        assert state.notices == (), name
        assert state.scenario == sc and state.preset == name
        assert encode_query(sc, preset=name, base=sc) == {"v": "1", "preset": name}
        # and a tweak on top of the preset round-trips too
        tweaked = sc.replace(seed=sc.seed + 1)
        q = encode_query(tweaked, preset=name, base=sc)
        assert q == {"v": "1", "preset": name, "seed": str(sc.seed + 1)}
        assert decode_query(q, scenarios_).scenario == tweaked


# --- bad links -----------------------------------------------------------------------------------

def test_unknown_preset():
    state = _decode_bad({"preset": "nope"}, "preset", presets={"real": Scenario(depth=7)})
    assert state.preset is None and state.scenario == Scenario()
    assert "real" in next(n.message for n in state.notices if n.key == "preset")


def test_explicit_keys_override_the_preset_and_bad_ones_fall_back_to_it():
    presets = {"deep": Scenario(depth=200, activation="relu")}
    state = decode_query({"preset": "deep", "width": "64"}, presets)
    assert state.notices == () and state.scenario == presets["deep"].replace(width=64)
    state = _decode_bad({"preset": "deep", "depth": "abc", "activation": "nope"}, "depth", presets)
    assert state.scenario == presets["deep"]
    assert any(n.key == "activation" for n in state.notices)


@pytest.mark.parametrize("key, raw, expected", [
    ("init", "nope", "glorot_uniform"),
    ("activation", "RELU", "tanh"),
    ("depth", "abc", 50),
    ("depth", "1000000000", 1000),  # clamped to the max (1000 x 256 x 256 is within budget)
    ("depth", "1e9", 1000),
    ("depth", "0", 1),
    ("depth", "-3", 1),
    ("width", "-5", 1),
    ("batch", "999999", 4096),
    ("seed", "-1", 0),
    ("seed", "1e30", 2**32 - 1),
    ("depth", "12.5", 50),
    ("depth", "0x10", 50),
    ("bias_value", "nan", 0.1),
    ("bias_value", "inf", 0.1),
    ("bias_value", "-inf", 0.1),
    ("bias_value", "1e400", 0.1),
    ("bias_value", "1e300", 100.0),
    ("depth", "", 50),
    ("init", "", "glorot_uniform"),
    ("bias_value", "", 0.1),
    ("dtype", "float16", "float32"),
    ("shared", "maybe", False),
    ("shared", "2", False),
    ("shared", "", False),
    ("depth", "😀", 50),
    ("init", "glorot_uniform😀", "glorot_uniform"),
    pytest.param("init", "x" * 10_000, "glorot_uniform", id="init-10kB"),
    pytest.param("depth", "9" * 10_000, 50, id="depth-10kB"),
    ("init", "<script>alert(1)</script>", "glorot_uniform"),
    ("loss", "`rm -rf /`", "projection"),
])
def test_bad_scalar_values(key, raw, expected):
    state = _decode_bad({key: raw}, key)
    value = getattr(state.scenario, key)
    assert value == expected and type(value) is type(expected)
    msg = " ".join(n.message for n in state.notices)
    assert "`rm" not in msg and "script>" not in msg and "x" * 50 not in msg and "9" * 50 not in msg


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "NaN", "Infinity", "abc"])
def test_bad_optional_float_falls_back_to_the_initializer_default(raw):
    state = _decode_bad({"init": "random_normal", "stddev": raw}, "stddev")
    assert state.scenario.init == "random_normal" and state.scenario.stddev is None


def test_empty_optional_value_means_the_initializer_default():
    # "stddev=" is how a link resets a preset's parameter to the initializer's own default: no notice.
    presets = {"p": Scenario(init="random_normal", stddev=1.0)}
    state = decode_query({"preset": "p", "stddev": ""}, presets)
    assert state.notices == () and state.scenario.stddev is None


def test_repeated_keys_use_the_last_value_with_a_notice():
    state = _decode_bad({"depth": ["3", "4"]}, "depth")
    assert state.scenario.depth == 4
    state = _decode_bad({"init": ["he_normal", "nope"]}, "init")
    assert state.scenario.init == "glorot_uniform"


@pytest.mark.parametrize("key", ["foo", "Depth", "depth ", "😀", pytest.param("k" * 10_000, id="10kB"),
                                 "<script>alert(1)</script>", "`x`", ""])
def test_unknown_keys_are_reported(key):
    state = _decode_bad({key: "1"}, key)
    assert state.scenario == Scenario()
    msg = next(n.message for n in state.notices if n.key == key)
    assert "<" not in msg and ">" not in msg and "`x`" not in msg and len(msg) < 200


def test_script_everywhere():
    evil = "<script>alert(1)</script>"
    q = {evil: evil, "init": evil, "preset": evil, "v": evil, "hide": evil, "lock": evil, "tab": evil,
         "cmp_inits": evil + ",he_normal,glorot_uniform", "depth": evil}
    state = decode_query(q, {"p": Scenario()}, tabs=("signal",))
    _assert_valid(state)
    for key in q:
        assert any(n.key == key for n in state.notices), key
    assert state.tab is None and not state.hide and not state.lock


@pytest.mark.parametrize("field, raw, expected", [
    ("cmp_inits", "foo,glorot_uniform,he_normal", ("glorot_uniform", "he_normal")),
    ("cmp_inits", "he_normal,he_normal,glorot_uniform", ("he_normal", "glorot_uniform")),
    ("cmp_inits", "he_normal", View.cmp_inits),
    ("cmp_inits", "he_normal,he_normal", View.cmp_inits),
    ("cmp_inits", "foo,bar", View.cmp_inits),
    ("cmp_inits", "", View.cmp_inits),
    ("cmp_inits", "zeros,ones,constant,random_normal,random_uniform", ("zeros", "ones", "constant", "random_normal")),
    ("cmp_acts", "tanh,😀,relu", ("tanh", "relu")),
    ("rng_inits", ",,,", View.rng_inits),
    ("cmp_by", "layer", "init"),
    ("rng_n", "1", 2),
    ("rng_m", "abc", 0),
])
def test_bad_view_values(field, raw, expected):
    state = _decode_bad({field: raw}, field)
    assert getattr(state.view, field) == expected


def test_minval_above_maxval_resets_the_init_params():
    state = decode_query({"init": "random_uniform", "minval": "1", "maxval": "0"}, {})
    _assert_valid(state)
    assert state.notices and "minval" in " ".join(n.message for n in state.notices)
    assert state.scenario.init == "random_uniform"
    assert state.scenario.minval is None and state.scenario.maxval is None


def test_truncation_interval_with_no_mass_resets_the_init_params():
    state = decode_query({"init": "torch_trunc_normal", "a": "50", "b": "60", "stddev": "0.1"}, {})
    _assert_valid(state)
    assert state.notices and state.scenario.init_params() == {}


def test_mode_not_offered_by_this_initializer():
    # The schema allows fan_avg (variance_scaling); torch_kaiming_* only take fan_in / fan_out.
    state = decode_query({"init": "torch_kaiming_normal", "mode": "fan_avg"}, {})
    _assert_valid(state)
    assert state.notices and state.scenario.mode is None


def test_parameters_the_init_does_not_accept():
    state = _decode_bad({"init": "he_normal", "stddev": "0.5", "gain": "2"}, "stddev")
    assert state.scenario.stddev is None and state.scenario.gain is None
    msg = " ".join(n.message for n in state.notices)
    assert "stddev" in msg and "gain" in msg


@pytest.mark.parametrize("q", [
    {"width": "2048", "batch": "4096", "depth": "1000"},
    {"width": "2048", "batch": "4096", "depth": "1000", "dtype": "float64"},
    {"width": "2048", "batch": "4096"},  # depth from the defaults (50) is already too much
    {"width": "2048", "batch": "512", "depth": "1000", "shared": "1"},
])
def test_over_budget_reduces_depth_with_a_notice(q):
    state = _decode_bad(q, "depth")
    s = state.scenario
    assert s.depth == max_depth_within_budget(s) >= 1
    assert s.width == int(q["width"]) and s.batch == int(q["batch"])
    with pytest.raises(BudgetError):
        check_budget(s.replace(depth=s.depth + 1))


@pytest.mark.parametrize("v", ["99", "abc", "", "0", "-5", "1.5", pytest.param("-" + "9" * 4000, id="-9x4000"),
                               pytest.param("9" * 4000, id="9x4000"), pytest.param("9" * 10_000, id="9x10000")])
def test_bad_versions(v):
    t0 = time.perf_counter()
    state = _decode_bad({"v": v, "depth": "7"}, "v")
    assert time.perf_counter() - t0 < 1.0  # a far-past version must not spin the migration loop
    assert state.scenario.depth == 7


def test_current_version_and_no_version_are_silent():
    assert decode_query({"v": "1"}, {}).notices == ()
    assert decode_query({"depth": "7"}, {}).notices == ()


def test_streamlit_keys_pass_untouched():
    assert decode_query({"embed": "true", "embed_options": "light_theme"}, {}).notices == ()


def test_unknown_tab_and_lesson_controls():
    state = decode_query({"tab": "nope", "hide": "seed,nope"}, {}, tabs=("signal", "ranges"))
    assert state.tab is None and state.hide == {"seed"}
    assert {n.key for n in state.notices} == {"tab", "hide"}


_text_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "inf", "12.5", "2048", "4096", "1000", "1", "true",
                     "he_normal", "relu", "float64", "random_uniform", "torch_trunc_normal", "fan_avg",
                     "glorot_uniform,he_normal", "<b>", "😀"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
)
_keys = st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), st.text(max_size=20))


@SETTINGS
@given(st.dictionaries(_keys, st.one_of(_text_values, st.lists(_text_values, min_size=1, max_size=3)),
                       max_size=12))
def test_fuzz_decoding_never_raises_and_always_validates(params):
    presets = {"a": Scenario(init="random_normal", stddev=1.0, depth=10), "b": Scenario(activation="relu")}
    state = decode_query(params, presets, tabs=("signal", "ranges"))
    _assert_valid(state)
    noticed = {n.key for n in state.notices}
    for key in params:
        if key not in KNOWN_KEYS:
            assert key in noticed, key


# --- direct validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw, field, shown", [
    (dict(depth=0), "depth", "0"),
    (dict(depth=1001), "depth", "1001"),
    (dict(depth=-4), "depth", "-4"),
    (dict(depth=True), "depth", "True"),
    (dict(depth=3.0), "depth", "3.0"),
    (dict(depth="3"), "depth", "'3'"),
    (dict(depth=10**400), "depth", "depth"),
    (dict(width=None), "width", "None"),
    (dict(stddev="0.5"), "stddev", "'0.5'"),
    (dict(stddev=True), "stddev", "True"),
    (dict(mean=math.nan), "mean", "nan"),
    (dict(bias_value=math.inf), "bias_value", "inf"),
    (dict(bias_value=-math.inf), "bias_value", "-inf"),
    (dict(scale=0.0), "scale", "0.0"),
    (dict(init="nope"), "init", "'nope'"),
    (dict(activation="ReLU"), "activation", "'ReLU'"),
    (dict(dtype="float16"), "dtype", "'float16'"),
    (dict(shared=1), "shared", "1"),
    (dict(mode="fan_sideways"), "mode", "'fan_sideways'"),
])
def test_validate_names_the_field_and_value(kw, field, shown):
    with pytest.raises(ValueError) as exc:
        Scenario(**kw).validate()
    assert field in str(exc.value) and shown in str(exc.value)


def test_validate_checks_the_initializer_rules():
    with pytest.raises(ValueError, match="minval"):
        Scenario(init="random_uniform", minval=1.0, maxval=0.0).validate()
    # An ignored parameter only needs to be in range.
    Scenario(init="he_normal", minval=1.0, maxval=0.0).validate()


@pytest.mark.parametrize("name, value", [
    ("cmp_inits", ("he_normal",)),
    ("cmp_inits", ("he_normal", "he_normal")),
    ("cmp_inits", ["he_normal", "glorot_uniform"]),
    ("cmp_inits", ("he_normal", "nope")),
    ("cmp_acts", ("tanh", "relu", "sigmoid", "linear", "selu")),
    ("rng_n", 1),
    ("cmp_by", "depth"),
])
def test_check_value_for_view_fields(name, value):
    with pytest.raises(ValueError, match=name):
        check_value(FIELD_BY_NAME[name], value)


def test_defaults_are_valid():
    Scenario().validate()
    check_budget(Scenario())
    for f in VIEW_FIELDS:
        check_value(f, getattr(View(), f.name))
    for f in FIELDS:
        assert getattr(Scenario(), f.name) == f.default


# --- the budget ----------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2048), st.integers(1, 4096), st.sampled_from(["float32", "float64"]), st.booleans())
def test_max_depth_within_budget_is_the_boundary(width, batch, dtype, shared):
    s = Scenario(width=width, batch=batch, dtype=dtype, shared=shared)
    d = max_depth_within_budget(s)
    hi = int(FIELD_BY_NAME["depth"].hi)
    assert d >= 1 and d <= hi  # at depth 1 even 2048 x 4096 in float64 fits (~0.8 GB, 1.7e10 MACs)
    check_budget(s.replace(depth=d))
    if d < hi:
        with pytest.raises(BudgetError):
            check_budget(s.replace(depth=d + 1))


def test_budget_error_is_a_value_error_with_a_readable_message():
    with pytest.raises(ValueError, match="budget"):
        check_budget(Scenario(width=2048, batch=4096, depth=1000))


def test_invalid_parameter_combination_falls_back_to_the_presets_values():
    from initlab.scenario import Scenario, decode_query

    base = Scenario(init="random_uniform", minval=-0.5, maxval=0.5)
    link = decode_query({"preset": "p", "minval": "2"}, {"p": base})
    assert (link.scenario.minval, link.scenario.maxval) == (-0.5, 0.5)
    assert any("preset's values" in n.message for n in link.notices)


def test_long_lesson_lists_give_short_notices():
    from initlab.scenario import decode_query

    link = decode_query({"hide": ",".join(["zz"] * 5000)}, {})
    assert len(link.notices) == 1 and len(link.notices[0].message) < 400 and "4995 more" in link.notices[0].message


def test_parameters_of_another_initializer_are_dropped_from_page_and_link():
    from initlab.scenario import Scenario, decode_query, encode_query

    base = Scenario(init="random_normal", stddev=0.01)
    link = decode_query({"preset": "p", "init": "orthogonal"}, {"p": base})
    assert link.scenario.stddev is None and link.notices == ()  # the preset's stddev means nothing here
    assert encode_query(link.scenario, preset="p", base=base) == {"v": "1", "preset": "p", "init": "orthogonal"}
