"""The schema, its sections and the share links: round trips, bad links, validation, the budget.

The new behaviours of the per-section links have their own tests in test_links.py; this file
keeps the codec's general contract: every valid page state round-trips exactly, every link decodes to a
valid state without raising, and every value not taken as written has a notice.
"""

import dataclasses
import importlib.util
import math
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from initlab import schema
from initlab.schema import deferred_checks
from initlab.weights import initializers
from initlab.training.datasets import DIGITS_CLASSES, MULTICLASS, NOISELESS
from initlab.training.scenario import TRAIN, TrainScenario
from initlab.ui.links import (
    ALL_KEYS, LINK_KEYS, MAX_NOTICES, SCHEMA_VERSION, SECTIONS, STREAMLIT_KEYS, LinkState, cross_repair, decode_query,
    defaults,
    encode_query, section,
)
from initlab.signal.scenario import (
    FIELD_BY_NAME, FIELDS, INIT_PARAM_NAMES, MAX_RAW_LENGTH, NET, BudgetError, FieldSpec, InitParams, Scenario,
    ARCHITECTURE_FIELDS, check_budget, check_value, choices_for, format_value, irrelevant, max_depth_within_budget, parse_value,
)
from initlab.pages import COMPARE, RANGES, SIGNAL, CompareView, RangesView, SignalView
from tests.test_links import assert_markup_safe

KNOWN_KEYS = set(ALL_KEYS) | set(STREAMLIT_KEYS)
VIEW_SECTIONS = [s for s in SECTIONS if s is not NET]
TABS = ("signal", "gradients", "ranges", "compare", "learn")
V = str(SCHEMA_VERSION)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- strategies built from the schema ------------------------------------------------------------

def _value(f: FieldSpec) -> st.SearchStrategy:
    """Any value the schema accepts for ``f`` (None included when optional)."""
    if f.kind == "bool":
        s = st.booleans()
    elif f.kind == "choice":
        s = st.sampled_from(choices_for(f))
    elif f.kind == "list":
        s = st.lists(st.sampled_from(choices_for(f)), min_size=int(f.lo or 0), max_size=int(f.hi),
                     unique=True).map(tuple)
    elif f.kind == "int":
        s = st.integers(int(f.lo), int(f.hi))
    elif f.kind == "widths":
        s = st.lists(st.integers(int(f.lo), int(f.hi)), min_size=1, max_size=f.max_items or 1).map(tuple)
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
    # Architecture fields that mean nothing for this network are at their defaults (as repair leaves them).
    s = s.replace(**{k: FIELD_BY_NAME[k].default for k in irrelevant(s) if k in ARCHITECTURE_FIELDS})
    # Draw depth x width x batch over their full ranges, then cut depth to the budget (filtering would
    # throw away most draws): the boundary depth itself is then exercised often.
    depth = max_depth_within_budget(s)
    assume(depth >= 1)
    return s.replace(depth=min(s.depth, depth))


@st.composite
def train_scenarios(draw) -> TrainScenario:
    """A valid training scenario in canonical form (what a link to it decodes back to): parameters its
    initializer takes, the default momentum unless the optimizer uses it, within the budget."""
    base = TrainScenario()
    values = {f.name: draw(_value(f)) for f in TRAIN.fields if f.name not in INIT_PARAM_NAMES}
    accepted = initializers.spec(values["init"]).params
    for name in INIT_PARAM_NAMES:
        values[name] = draw(_value(FIELD_BY_NAME[name])) if name in accepted else None
    if values["optimizer"] != "momentum":
        values["momentum"] = base.momentum
    if values["dataset"] in (*NOISELESS, "digits"):  # they add no jitter: a link leaves the noise out
        values["noise"] = base.noise
    # classes the dataset can have (drawn freely, 8 draws in 9 were refused and the health check failed)
    if values["dataset"] == "digits":
        values["classes"] = DIGITS_CLASSES
    elif values["dataset"] not in MULTICLASS:
        values["classes"] = 2
    if values["classes"] > 2:
        values["cost"] = "stable"
    ts = TrainScenario(**values)
    try:
        ts.validate()
    except ValueError:
        assume(False)
    fixed, notices = TRAIN.repair(ts, base, set())
    return fixed


def _section_values(sec) -> st.SearchStrategy:
    if sec is NET:
        return scenarios()
    if sec is TRAIN:
        return train_scenarios()
    return st.builds(sec.cls, **{f.name: _value(f) for f in sec.fields})


def _consistent(values):
    """A page state the page can show: the checks between sections applied (a recorded step must exist in
    the training it shows), as the codec applies them to every link it reads."""
    if isinstance(values, Scenario):
        return values
    full = {**defaults(), **values}
    cross_repair(full)
    return {k: full[k] for k in values}


page_states = st.fixed_dictionaries({sec.id: _section_values(sec) for sec in SECTIONS}).map(_consistent)
# What a preset may hold: a bare scenario, or some sections (the codec fills in the others' defaults).
preset_values = st.one_of(
    scenarios(),
    st.fixed_dictionaries({"net": scenarios()},
                          optional={sec.id: _section_values(sec) for sec in VIEW_SECTIONS}).map(_consistent),
)


def _full(values) -> dict:
    """A preset's values as a full page state."""
    return {**defaults(), **({"net": values} if isinstance(values, Scenario) else values)}


def _assert_valid(state: LinkState) -> None:
    assert isinstance(state, LinkState)
    assert set(state.values) == {sec.id for sec in SECTIONS}
    state.scenario.validate()
    check_budget(state.scenario)
    assert state.scenario is state.value("net")
    for sec in SECTIONS:
        value = state.value(sec.id)
        assert type(value) is sec.cls, sec.id
        for f in sec.fields:
            check_value(f, getattr(value, f.name))
    assert len(state.notices) <= MAX_NOTICES
    for n in state.notices:
        # Notices are markdown on the page: text from the link is quoted in code spans, so no tag or link
        # can form ("<=" from a message template such as "need minval <= maxval" is fine).
        assert_markup_safe(n.message)
        assert len(n.message) < 1000, n


def _decode_bad(params, key: str, presets=None) -> LinkState:
    """Decode a bad link: never raises, valid result, a notice naming ``key``."""
    state = decode_query(params, presets or {}, tabs=TABS)
    _assert_valid(state)
    assert any(n.key == key for n in state.notices), (key, state.notices)
    return state


# --- round trips ---------------------------------------------------------------------------------

@SETTINGS
@given(page_states, st.one_of(st.none(), st.sampled_from(TABS)))
def test_round_trip_without_preset(values, tab):
    q = encode_query(values, preset=None, tab=tab)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in q.items())
    assert q["v"] == V
    state = decode_query(q, presets={}, tabs=TABS)
    assert state.notices == ()
    assert state.values == values
    assert state.scenario == values["net"]
    assert (state.preset, state.tab) == (None, tab)


def _keeps_base(ts: TrainScenario, base: TrainScenario) -> TrainScenario:
    """``ts`` as a link over ``base`` decodes it: fields that mean nothing for it (momentum without the momentum
    optimizer, the noise of a dataset that adds none) are left out of the link, so the base's are kept."""
    if ts.optimizer != "momentum":
        ts = ts.replace(momentum=base.momentum)
    if ts.dataset in (*NOISELESS, "digits"):
        ts = ts.replace(noise=base.noise)
    return ts


@SETTINGS
@given(page_states, st.lists(preset_values, min_size=1, max_size=3), st.data())
def test_round_trip_with_preset(values, preset_list, data):
    presets = {f"p{i}": p for i, p in enumerate(preset_list)}
    name = data.draw(st.sampled_from(sorted(presets)))
    base_train = _full(presets[name])["train"]
    values = {**values, "train": _keeps_base(values["train"], base_train)}
    q = encode_query(values, preset=name, base=presets[name])
    assert q["preset"] == name
    state = decode_query(q, presets)
    assert state.notices == ()
    assert (state.values, state.preset) == (values, name)


@SETTINGS
@given(scenarios())
def test_a_bare_scenario_stands_for_the_net_section(s):
    assert encode_query(s) == encode_query({**defaults(), "net": s}) == encode_query({"net": s})
    assert decode_query(encode_query(s), {}).values == {**defaults(), "net": s}


@SETTINGS
@given(st.data())
def test_each_section_round_trips_on_its_own(data):
    sec = data.draw(st.sampled_from(SECTIONS))
    value = data.draw(_section_values(sec))
    base = data.draw(_section_values(sec))
    if sec is TRAIN:
        value = _keeps_base(value, base)
    raw = sec.encode(value, base)
    assert set(raw) <= set(sec.keys())
    back, notices, given_ = sec.decode(raw, base)
    assert (back, notices) == (value, [])
    assert given_ == {f.name for f in sec.fields if f.url_key in raw}
    # the widgets' path: the same value from its field values (lists arrive as lists), no notice
    widget_values = {f.name: (list(v) if isinstance(v, tuple) else v)
                     for f in sec.fields for v in [getattr(value, f.name)]}
    assert sec.from_values(widget_values, base) == (value, [])


@SETTINGS
@given(page_states)
def test_link_carries_only_values_that_differ_from_the_defaults(values):
    q = encode_query(values)
    expected = set()
    for sec in SECTIONS:
        value, base = values[sec.id], sec.default()
        unused = sec.irrelevant(value) if sec.irrelevant is not None else {}  # e.g. tr_nonlinearity for zeros
        expected |= {f.url_key for f in sec.fields
                     if getattr(value, f.name) != getattr(base, f.name) and f.name not in unused}
    assert set(q) - {"v"} == expected


def test_default_link_is_just_the_version():
    assert encode_query(Scenario()) == {"v": V}
    assert encode_query(defaults()) == {"v": V}
    assert encode_query(Scenario(depth=250)) == {"v": V, "depth": "250"}
    assert encode_query({"ranges": RangesView(n=10)}) == {"v": V, "rng_n": "10"}
    assert encode_query({"ranges": RangesView(log=True)}) == {"v": V, "rng_log": "1"}
    assert encode_query({"signal": SignalView(which="pre")}) == {"v": V, "which": "pre"}
    assert encode_query({"compare": CompareView(by="activation")}) == {"v": V, "cmp_by": "activation"}
    state = decode_query({}, {})
    assert (state.values, state.notices, state.preset, state.tab) == (defaults(), (), None, None)


def test_lesson_options_round_trip():
    q = encode_query(Scenario(), hide={"seed", "dtype"}, lock={"init"})
    assert q["hide"] == "seed,dtype" and q["lock"] == "init"
    state = decode_query(q, {})
    assert state.hide == {"seed", "dtype"} and state.lock == {"init"} and state.notices == ()


def test_ignored_params_are_left_out_of_links():
    # While the app reads its widgets, a scenario may hold a parameter its initializer ignores (after
    # switching init in the UI; built under deferred_checks); the link must not carry it, or opening the
    # app's own link would show an "ignored" notice.
    with deferred_checks():
        s = Scenario(init="he_normal", stddev=0.3, gain=2.0)
    q = encode_query(s)
    assert q == {"v": V, "init": "he_normal"}
    state = decode_query(q, {})
    assert state.notices == ()
    assert state.scenario == Scenario(init="he_normal")


def test_irrelevant_names_the_parameters_the_initializer_does_not_take():
    # he_normal takes none; a plain network without a norm has no use for the residual and norm settings.
    arch_unused = {"norm_position", "branch_layers", "residual_rule", "residual_scale", "norm_eps"}
    assert set(irrelevant(Scenario(init="he_normal"))) == set(INIT_PARAM_NAMES) | arch_unused
    unused = irrelevant(Scenario(init="random_normal"))
    assert "stddev" not in unused and "mean" not in unused and unused["gain"] == "random_normal has no such parameter"
    with deferred_checks():
        assert set(irrelevant(Scenario(init="nope"))) == arch_unused


def test_irrelevant_architecture_fields_follow_the_network():
    res = irrelevant(Scenario(block="residual", norm="layer"))
    assert not {"norm_position", "branch_layers", "residual_rule", "residual_scale", "norm_eps"} & set(res)
    assert irrelevant(Scenario(block="residual", residual_rule="fixup"))["residual_scale"] == "the rule fixup sets alpha"
    assert "norm_eps" in irrelevant(Scenario(block="residual"))


def test_longest_valid_list_fits_in_a_link():
    names = sorted(choices_for(FIELD_BY_NAME["init"]), key=len)[-6:]
    view = RangesView(inits=tuple(names))
    q = encode_query({"ranges": view})
    assert len(q["rng_inits"]) <= MAX_RAW_LENGTH
    state = decode_query(q, {})
    assert state.value("ranges") == view and state.notices == ()


def test_float_format_is_shortest_round_trip():
    f = FIELD_BY_NAME["stddev"]
    for x in (0.1, 1 / 3, 5e-324, 1e-6, 99.99999999999999, 2.0, -0.0, 100.0):
        text = format_value(f, x)
        assert parse_value(f, text) == (x, None)
    assert format_value(f, 2.0) == "2" and format_value(f, None) == ""


_PRESETS_SPEC = importlib.util.find_spec("initlab.teaching.presets")


@pytest.mark.skipif(_PRESETS_SPEC is None, reason="initlab/teaching/presets.py does not exist yet")
def test_every_real_preset_round_trips():
    from initlab.teaching import presets as P

    values = {n: p.values() for n, p in P.PRESETS.items()}
    assert values
    for name, v in values.items():
        sc = v["net"]
        sc.validate()
        check_budget(sc)
        state = decode_query({"preset": name}, values)
        assert state.notices == (), name
        assert state.values == _full(v) and state.preset == name
        assert encode_query(state.values, preset=name, base=v) == {"v": V, "preset": name}
        # and a tweak on top of the preset round-trips too
        tweaked = {**state.values, "net": sc.replace(seed=sc.seed + 1),
                   "ranges": dataclasses.replace(state.value("ranges"), n=7)}
        q = encode_query(tweaked, preset=name, base=v)
        assert q == {"v": V, "preset": name, "seed": str(sc.seed + 1), "rng_n": "7"}
        assert decode_query(q, values).values == tweaked


# --- bad links -----------------------------------------------------------------------------------

def test_unknown_preset():
    state = _decode_bad({"preset": "nope"}, "preset", presets={"real": Scenario(depth=7)})
    assert state.preset is None and state.values == defaults()
    assert "real" in next(n.message for n in state.notices if n.key == "preset")
    [msg] = [n.message for n in _decode_bad({"preset": "reel"}, "preset", {"real": Scenario()}).notices]
    assert "`reel`" in msg and "did you mean `real`?" in msg


def test_explicit_keys_override_the_preset_and_bad_ones_fall_back_to_it():
    presets = {"deep": {"net": Scenario(depth=200, activation="relu"), "ranges": RangesView(n=30, m=5)}}
    state = decode_query({"preset": "deep", "width": "64", "rng_m": "9"}, presets)
    assert state.notices == ()
    assert state.scenario == presets["deep"]["net"].replace(width=64)
    assert state.value("ranges") == RangesView(n=30, m=9)
    state = _decode_bad({"preset": "deep", "depth": "abc", "activation": "nope", "rng_n": "x"}, "depth", presets)
    assert state.scenario == presets["deep"]["net"] and state.value("ranges") == RangesView(n=30, m=5)
    assert {n.key for n in state.notices} == {"depth", "activation", "rng_n"}
    assert "using 30" in next(n.message for n in state.notices if n.key == "rng_n")


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
    ("depth", "1_000", 50),
    ("depth", "٣", 50),
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
    [notice] = state.notices
    # long values are cut in the notice; a backtick cannot close the code span the value is quoted in
    assert "x" * 50 not in notice.message and "9" * 50 not in notice.message and "`rm" not in notice.message
    assert_markup_safe(notice.message, strict=True)
    if 0 < len(raw) <= 30 and "`" not in raw:
        assert f"`{raw}`" in notice.message  # quoted as typed


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "NaN", "Infinity", "abc"])
def test_bad_optional_float_falls_back_to_the_initializer_default(raw):
    state = _decode_bad({"init": "random_normal", "stddev": raw}, "stddev")
    assert state.scenario.init == "random_normal" and state.scenario.stddev is None
    [msg] = [n.message for n in state.notices]
    assert msg.startswith(f"`stddev`: `{raw}` is not") and msg.endswith("using the default")


def test_empty_optional_value_means_the_initializer_default():
    # "stddev=" is how a link resets a preset's parameter to the initializer's own default: no notice.
    presets = {"p": Scenario(init="random_normal", stddev=1.0)}
    state = decode_query({"preset": "p", "stddev": ""}, presets)
    assert state.notices == () and state.scenario.stddev is None


def test_repeated_keys_use_the_last_value_with_a_notice():
    state = _decode_bad({"depth": ["3", "4"]}, "depth")
    assert state.scenario.depth == 4
    assert [n.message for n in state.notices] == ["`depth` appears 2 times; the last value is used"]
    state = _decode_bad({"init": ["he_normal", "nope"]}, "init")
    assert state.scenario.init == "glorot_uniform"
    state = _decode_bad({"rng_n": ["3", "4", "5"]}, "rng_n")
    assert state.value("ranges").n == 5


@pytest.mark.parametrize("key", ["foo", "Depth", "depth ", "😀", pytest.param("k" * 10_000, id="10kB"),
                                 "<script>alert(1)</script>", "`x`", "", "inits", "net.depth", "compare.inits"])
def test_unknown_keys_are_reported(key):
    state = _decode_bad({key: "1"}, key)
    assert state.values == defaults()
    msg = next(n.message for n in state.notices if n.key == key)
    assert msg.startswith("unknown parameter `") and len(msg) < 200 and "`x`" not in msg
    assert_markup_safe(msg, strict=True)


def test_script_everywhere():
    evil = "<script>alert(1)</script>"
    q = {evil: evil, "init": evil, "preset": evil, "v": evil, "hide": evil, "lock": evil, "tab": evil,
         "cmp_inits": evil + ",he_normal,glorot_uniform", "depth": evil, "rng_log": evil}
    state = decode_query(q, {"p": Scenario()}, tabs=TABS)
    _assert_valid(state)
    for key in q:
        assert any(n.key == key for n in state.notices), key
    for n in state.notices:
        assert_markup_safe(n.message, strict=True)
    assert state.tab is None and not state.hide and not state.lock
    assert state.value("compare").inits == ("he_normal", "glorot_uniform")


@pytest.mark.parametrize("key, raw, expected", [
    ("cmp_inits", "foo,glorot_uniform,he_normal", ("glorot_uniform", "he_normal")),
    ("cmp_inits", "he_normal,he_normal,glorot_uniform", ("he_normal", "glorot_uniform")),
    ("cmp_inits", "he_normal,he_normal", ("he_normal",)),
    ("cmp_inits", "foo,bar", CompareView.inits),  # nothing known: the base's, not an empty selection
    ("cmp_inits", "zeros,ones,constant,random_normal,random_uniform", ("zeros", "ones", "constant", "random_normal")),
    ("cmp_acts", "tanh,😀,relu", ("tanh", "relu")),
    ("rng_inits", ",,,", RangesView.inits),
    ("rng_inits", "nope", RangesView.inits),
    ("rng_inits", "a,b,c,d,e,f,g,zeros", ("zeros",)),
    ("rng_inits", ",".join(["zeros", "ones", "constant", "random_normal", "random_uniform", "he_normal", "orthogonal"]),
     ("zeros", "ones", "constant", "random_normal", "random_uniform", "he_normal")),
    ("cmp_by", "layer", "init"),
    ("which", "post", "act"),
    ("which", "ACT", "act"),
    ("rng_n", "1", 2),
    ("rng_n", "100000", 500),
    ("rng_n", "50.5", 100),
    ("rng_m", "abc", 0),
    ("rng_m", "-1", 0),
    ("rng_log", "maybe", False),
    pytest.param("rng_inits", "he_normal," * 1000, RangesView.inits, id="rng_inits-10kB"),
])
def test_bad_view_values(key, raw, expected):
    state = _decode_bad({key: raw}, key)
    owner = next(sec for sec in VIEW_SECTIONS if key in sec.keys())
    name = next(f.name for f in owner.fields if f.url_key == key)
    assert getattr(state.value(owner.id), name) == expected
    assert state.values == {**defaults(), owner.id: state.value(owner.id)}  # nothing else moved
    [notice] = state.notices
    assert notice.message.startswith(f"`{key}`")


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
    assert [n.message for n in state.notices] == ["`stddev` ignored: he_normal has no such parameter",
                                                  "`gain` ignored: he_normal has no such parameter"]


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
    msg = next(n.message for n in state.notices if n.key == "depth")
    assert msg.startswith(f"Depth reduced from {int(q.get('depth', 50))} to {s.depth}, the most that fits the ")


@pytest.mark.parametrize("v", ["99", "4", "abc", "", "0", "-5", "1.5", pytest.param("-" + "9" * 4000, id="-9x4000"),
                               pytest.param("9" * 4000, id="9x4000"), pytest.param("9" * 10_000, id="9x10000")])
def test_bad_versions(v):
    t0 = time.perf_counter()
    state = _decode_bad({"v": v, "depth": "7"}, "v")
    assert time.perf_counter() - t0 < 1.0  # a far-past version must not spin a migration loop
    assert state.scenario.depth == 7


def test_current_version_and_no_version_are_silent():
    assert decode_query({"v": V}, {}).notices == ()
    assert decode_query({"v": "1"}, {}).notices == ()  # v1 links are read (and migrated), silently
    assert decode_query({"depth": "7"}, {}).notices == ()


def test_streamlit_keys_pass_untouched():
    assert decode_query({"embed": "true", "embed_options": "light_theme"}, {}).notices == ()


def test_unknown_tab_and_lesson_controls():
    state = decode_query({"tab": "nope", "hide": "seed,nope"}, {}, tabs=("signal", "ranges"))
    assert state.tab is None and state.hide == {"seed"}
    assert {n.key for n in state.notices} == {"tab", "hide"}


def test_view_controls_can_be_hidden_or_locked_by_their_link_keys():
    # Every section's controls are lesson controls now (they used to be reported as unknown).
    state = decode_query({"hide": "which,seed", "lock": "rng_n,tr_dataset"}, {})
    assert state.hide == {"which", "seed"} and state.lock == {"rng_n", "tr_dataset"} and state.notices == ()


_text_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1e400", "nan", "inf", "12.5", "2048", "4096", "1000", "1", "true",
                     "he_normal", "relu", "float64", "random_uniform", "torch_trunc_normal", "fan_avg",
                     "glorot_uniform,he_normal", "<b>", "😀", "a`<b>`", "pre", "activation", "ranges",
                     "Weight ranges", "Signal", "seed,init", "a", "b"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
)
_keys = st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), st.text(max_size=20))


@SETTINGS
@given(st.dictionaries(_keys, st.one_of(_text_values, st.lists(_text_values, min_size=1, max_size=3)),
                       max_size=12))
def test_fuzz_decoding_never_raises_and_always_validates(params):
    presets = {"a": {"net": Scenario(init="random_normal", stddev=1.0, depth=10), "ranges": RangesView(n=20)},
               "b": Scenario(activation="relu")}
    state = decode_query(params, presets, tabs=TABS)
    _assert_valid(state)
    assert state.tab is None or state.tab in TABS
    noticed = {n.key for n in state.notices}
    capped = len(state.notices) == MAX_NOTICES and state.notices[-1].message.startswith("and ")
    for key in params:
        if key not in KNOWN_KEYS and not capped:
            assert key in noticed, key
    # whatever it came from, the page state re-encodes to a link that decodes to itself, silently
    q = encode_query(state.values, preset=state.preset, base=presets.get(state.preset), tab=state.tab,
                     hide=state.hide, lock=state.lock)
    again = decode_query(q, presets, tabs=TABS)
    assert (again.values, again.preset, again.tab, again.hide, again.lock, again.notices) == (
        state.values, state.preset, state.tab, state.hide, state.lock, ())


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
    # A parameter the initializer does not take is refused, not silently ignored, also when the
    # scenario was built without the constructor's checks.
    with pytest.raises(ValueError, match="he_normal takes no parameter 'minval'"):
        Scenario(init="he_normal", minval=1.0, maxval=0.0)
    with deferred_checks():
        s = Scenario(init="he_normal", minval=1.0)
    with pytest.raises(ValueError, match="he_normal takes no parameter 'minval'"):
        s.validate()


@pytest.mark.parametrize("sec, name, value", [
    (COMPARE, "inits", ("he_normal", "he_normal")),
    (COMPARE, "inits", ["he_normal", "glorot_uniform"]),  # a list, not a tuple: not hashable, not a view value
    (COMPARE, "inits", ("he_normal", "nope")),
    (COMPARE, "inits", "he_normal"),
    (COMPARE, "acts", ("tanh", "relu", "sigmoid", "linear", "selu")),
    (COMPARE, "acts", ("he_normal",)),  # an initializer is not an activation
    (COMPARE, "by", "depth"),
    (RANGES, "inits", ()),
    (RANGES, "inits", ("relu",)),
    (RANGES, "n", 1),
    (RANGES, "n", 501),
    (RANGES, "n", 50.0),
    (RANGES, "m", -1),
    (RANGES, "log", 1),
    (SIGNAL, "which", "post"),
])
def test_check_value_for_view_fields(sec, name, value):
    with pytest.raises(ValueError, match=f"^{name} "):
        check_value(sec.field(name), value)


def test_defaults_are_valid():
    Scenario().validate()
    check_budget(Scenario())
    for sec in SECTIONS:
        assert sec.default() == sec.cls() == defaults()[sec.id] == section(sec.id).default()
        for f in sec.fields:
            check_value(f, getattr(sec.default(), f.name))
            assert getattr(sec.default(), f.name) == f.default, (sec.id, f.name)
            assert dataclasses.is_dataclass(sec.cls) and sec.cls.__dataclass_params__.frozen
    assert set(LINK_KEYS) == {"v", "preset", "tab", "hide", "lock"}


# --- every setting declared once: the field specs, shared by Scenario and TrainScenario ------------

SCENARIO_CLASSES = pytest.mark.parametrize("cls", [Scenario, TrainScenario])
# Settings both scenarios have that mean different things there (not one setting): their own specs.
UNSHARED = {"inputs"}
# Shared settings whose default differs in training (He + ReLU, the classic comparison), written there once.
TRAIN_DEFAULTS = {"init": "torch_kaiming_normal", "nonlinearity": "relu", "activation": "relu"}


@SCENARIO_CLASSES
def test_dataclass_fields_are_made_from_the_schema(cls):
    """Every field is its field spec's: same order, the spec's default object; no second declaration."""
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == [spec.name for spec in cls.SCHEMA]
    for f, spec in zip(fields, cls.SCHEMA):
        assert f.metadata["spec"] is spec and f.default is spec.default, f.name


def test_shared_settings_are_the_scenarios_field_specs():
    """The training schema reuses Scenario's spec of every setting the two share (its link key is its own),
    so the default of each shared field is one object, changed only where training's default differs."""
    shared = set(FIELD_BY_NAME) & set(TRAIN.cls.__dataclass_fields__) - UNSHARED
    assert {"init", *INIT_PARAM_NAMES, "bias", "bias_value", "activation", "seed", "dtype", "lsuv"} <= shared
    for name in shared:
        spec, train_spec = FIELD_BY_NAME[name], TRAIN.field(name)
        assert train_spec.key == f"tr_{name}"
        assert dataclasses.replace(train_spec, key=spec.key, help=spec.help, group=spec.group,
                                   default=spec.default) == spec, name
        train_default = TrainScenario.__dataclass_fields__[name].default
        if name in TRAIN_DEFAULTS:
            assert train_default == TRAIN_DEFAULTS[name] != spec.default
        else:
            assert train_default is Scenario.__dataclass_fields__[name].default, name


def test_a_schema_field_cannot_be_declared_again():
    with pytest.raises(TypeError, match="declares mean: its schema already does"):
        @schema.dataclass_of(FIELDS)
        class Twice(InitParams):
            mean: float | None = None
    with pytest.raises(TypeError, match=r"fields outside its schema \(extra\)"):
        @schema.dataclass_of(FIELDS)
        class Extra(InitParams):
            extra: int = 0


@SCENARIO_CLASSES
def test_changes_replace_and_with_init_are_written_once(cls):
    for name in ("changes", "replace", "with_init", "init_params", "validate"):
        assert getattr(cls, name) is getattr(InitParams, name), name


def test_changes_replace_and_with_init_on_both_scenarios():
    for cls in (Scenario, TrainScenario):
        assert cls().changes() == {}
        s = cls().replace(seed=7, init="random_normal", stddev=2.0)
        assert type(s) is cls and (s.seed, s.init, s.stddev) == (7, "random_normal", 2.0)
        changed = s.changes()
        assert changed["seed"] == 7 and changed["init"] == "random_normal" and changed["stddev"] == 2.0
        assert list(changed) == [f.name for f in cls.SCHEMA if f.name in changed]  # schema order: the link's
        w = s.with_init("random_uniform", minval=-1.0)
        assert type(w) is cls and w.init == "random_uniform" and w.seed == 7
        assert {k: getattr(w, k) for k in INIT_PARAM_NAMES} == {k: (-1.0 if k == "minval" else None)
                                                               for k in INIT_PARAM_NAMES}
        assert w.init_params() == {"minval": -1.0} and w.validate() is w
        again = cls().replace(seed=7).with_init("random_uniform", minval=-1.0)
        assert w == again and hash(w) == hash(again)  # frozen values: equal, hashable, cacheable
        with pytest.raises(dataclasses.FrozenInstanceError):
            w.seed = 1  # type: ignore[misc]
    # with_init clears every parameter it is not given, training's default nonlinearity (relu) too.
    ts = TrainScenario().with_init("glorot_uniform")
    assert ts.nonlinearity is None and ts.changes() == {"init": "glorot_uniform", "nonlinearity": None}


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
        with pytest.raises(BudgetError) as exc:
            check_budget(s.replace(depth=d + 1))
        assert exc.value.limit in ("memory", "computation")


def test_budget_error_is_a_value_error_with_a_readable_message():
    with pytest.raises(ValueError, match="of memory, more than the 950 MB one scenario may use") as exc:
        check_budget(Scenario(width=2048, batch=4096, depth=1000))
    assert isinstance(exc.value, BudgetError) and exc.value.limit == "memory"
    with pytest.raises(ValueError, match="more computation than") as exc:
        check_budget(Scenario(width=256, batch=512, depth=1000))
    assert exc.value.limit == "computation"


def test_invalid_parameter_combination_falls_back_to_the_presets_values():
    base = Scenario(init="random_uniform", minval=-0.5, maxval=0.5)
    link = decode_query({"preset": "p", "minval": "2"}, {"p": base})
    assert (link.scenario.minval, link.scenario.maxval) == (-0.5, 0.5)
    assert any("preset's values" in n.message for n in link.notices)


def test_long_lesson_lists_give_short_notices():
    link = decode_query({"hide": ",".join(["zz"] * 5000)}, {})
    assert len(link.notices) == 1 and len(link.notices[0].message) < 400 and "4995 more" in link.notices[0].message


def test_parameters_of_another_initializer_are_dropped_from_page_and_link():
    base = Scenario(init="random_normal", stddev=0.01)
    link = decode_query({"preset": "p", "init": "orthogonal"}, {"p": base})
    assert link.scenario.stddev is None and link.notices == ()  # the preset's stddev means nothing here
    assert encode_query(link.values, preset="p", base=base) == {"v": V, "preset": "p", "init": "orthogonal"}


def test_the_initializer_parameter_choices_are_the_initializers_lists():
    """One home for the choice lists: the scenario's (and the training's) mode, distribution and nonlinearity
    fields offer the initializers' own tuples, and every value they accept, the initializers accept."""
    from initlab.signal.scenario import FIELD_BY_NAME
    from initlab.training.scenario import TRAIN_FIELD_BY_NAME

    for fields in (FIELD_BY_NAME, TRAIN_FIELD_BY_NAME):
        assert fields["mode"].choices is initializers.MODES
        assert fields["distribution"].choices is initializers.DISTRIBUTIONS
        assert fields["nonlinearity"].choices is initializers.DENSE_NONLINEARITIES
    for mode in initializers.MODES:
        for dist in initializers.DISTRIBUTIONS:
            initializers.get("variance_scaling", mode=mode, distribution=dist)
    assert initializers.get("variance_scaling", distribution="normal").params["distribution"] == "truncated_normal"
    for nl in initializers.DENSE_NONLINEARITIES:
        initializers.get("torch_kaiming_normal", nonlinearity=nl)
