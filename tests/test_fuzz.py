"""Hostile links: thousands of generated query strings through the link codec, a hundred through the app.

Two tiers over the same seeded generator (case i is reproducible on its own from its index):

* the codec, in-process (about a millisecond a link; ``INITLAB_FUZZ_CASES``, default 10000, the first
  2000 in the quick tier, the rest marked slow): decoding never raises, keeps at most 20 notices, gives
  every unknown or repeated parameter a notice, quotes everything from the link in inline code spans so
  that no notice can form markup, names only real presets and tabs, and the link the app writes back
  (``encode_query`` of what was decoded, as the address bar does) reopens the same state without a
  notice and encodes to itself;
* the real app (AppTest, ~35 ms a page; ``INITLAB_FUZZ_PAGES``, default 100, marked slow): each link opens a working
  page: no exception, no failed page, the codec's notices all on the page in one box of at most 20
  lines, the tab the link names, an address bar that reopens the same page silently, and nothing from
  the link able to form markup anywhere on the page (outside code spans no tag, autolink or link target).
"""

from __future__ import annotations

import os
import random
import re
import string
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from initlab.ui.links import ALL_KEYS, MAX_NOTICES, STREAMLIT_KEYS, V1_TAB_LABELS, decode_query, encode_query
from initlab.teaching.presets import PRESETS
from initlab.ui.state import PRESET_VALUES, TAB_IDS, TABS
from tests.test_links import assert_markup_safe, split_code_spans

APP = Path(__file__).resolve().parents[1] / "app.py"
CASES = int(os.environ.get("INITLAB_FUZZ_CASES", "10000"))  # links through the codec
PAGES = int(os.environ.get("INITLAB_FUZZ_PAGES", "100"))  # links through the app, a subset of the cases
PAGE_BUDGET_S = 60.0  # AppTest's own timeout: a page slower than this fails the case
NOTICE_HEAD = "Some settings in this link could not be used as written"
# Outside inline code spans, an HTML tag or a markdown link target would be markup. The codec quotes
# every key and value from a link as typed inside a code span (only backticks and invisible characters
# become "?"), so a "<script>" from the link is shown, never interpreted.
TAG = re.compile(r"<\s*/?\s*[a-z!?]|\]\(\s*javascript:", re.IGNORECASE)

KEYS = list(ALL_KEYS)
NASTY = [
    "", " ", "abc", "-1", "0", "1e9", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "1_000", "0x10", "12.5",
    "9" * 5000, "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "`rm -rf`", "**bold**",
    "[link](javascript:alert(1))", "<b>x</b>", "a`<b>`c", "\\`<b>\\`", "<http://evil.example>", "%00", "\x00",
    "😀", "ü", "\u202e", "٣", "true", "false", "1", "pre", "activation", "glorot_uniform", "zeros", "relu",
    "float64", "fan_avg", ",,,", "he_normal", "he_normal,he_normal", "tanh,relu,zzz", "seed,init",
    *PRESETS, *TAB_IDS, *V1_TAB_LABELS, "x" * 300,
]


def _junk(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "<>\"'&;=%/\\`*_[]()#|{}😀é\u202e "
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))


def _case(rng: random.Random) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(KEYS) if rng.random() < 0.7 else _junk(rng)
        values = params.setdefault(key, [])
        for _ in range(1 if rng.random() < 0.85 else rng.randint(2, 3)):  # repeated keys too
            values.append(rng.choice(NASTY) if rng.random() < 0.75 else _junk(rng))
    return params


def _texts(at: AppTest) -> list[str]:
    """Everything rendered as markdown (code blocks are shown verbatim: left out)."""
    out = []
    for kind in ("markdown", "warning", "info", "error", "success", "caption", "title", "subheader"):
        out += [str(e.value) for e in at.get(kind)]
    return out


def _address_bar(at: AppTest) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in at.query_params.items()}


def _params(i: int) -> dict[str, list[str]]:
    return _case(random.Random(20261124 + i))  # case i is reproducible on its own


def _codec_problems(params: dict[str, list[str]]) -> list[str]:
    """What the codec gets wrong on one link (empty: nothing)."""
    try:
        link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
    except Exception as e:  # noqa: BLE001 - the codec must never raise; report which link made it
        return [f"decode raised {type(e).__name__}: {e}"]
    expected = link.notices
    problems = []
    if len(expected) > MAX_NOTICES:
        problems.append(f"{len(expected)} notices, more than {MAX_NOTICES}")
    capped = len(expected) == MAX_NOTICES and expected[-1].message.startswith("and ")
    for key, values in params.items():
        if capped:
            break
        if key not in KEYS and key not in STREAMLIT_KEYS and not any(n.key == key for n in expected):
            problems.append(f"unknown key {key!r} got no notice")
        if len(values) > 1 and not any(n.key == key and "times" in n.message for n in expected):
            problems.append(f"key {key!r} given {len(values)} times got no notice")
    for n in expected:
        try:
            assert_markup_safe(n.message)
        except AssertionError:
            problems.append(f"notice could form markup: {n.message!r}")
    if link.preset is not None and link.preset not in PRESETS:
        problems.append(f"preset {link.preset!r} is not a preset")
    if link.tab is not None and link.tab not in TAB_IDS:
        problems.append(f"tab {link.tab!r} is not a tab")
    # The address bar: the app writes encode_query of what it opened (base = the preset's values).
    query = encode_query(link.values, preset=link.preset, base=PRESET_VALUES.get(link.preset or ""),
                         hide=link.hide, lock=link.lock, tab=link.tab)
    back = decode_query(query, PRESET_VALUES, tabs=TAB_IDS)
    if back.notices or dict(back.values) != dict(link.values) or (back.preset, back.tab, back.hide, back.lock) != (
            link.preset, link.tab, link.hide, link.lock):
        problems.append(f"re-encoded {query} does not reopen the link silently: {back.notices}")
    again = encode_query(back.values, preset=back.preset, base=PRESET_VALUES.get(back.preset or ""),
                         hide=back.hide, lock=back.lock, tab=back.tab)
    if again != query:
        problems.append(f"encoding is not stable: {query} then {again}")
    return problems


CODEC_CHUNK = 2000  # cases per test: a failure names its chunk, and each chunk takes a few seconds at most


@pytest.mark.parametrize("start", [pytest.param(start, marks=[pytest.mark.slow] if start else [])
                                   for start in range(0, CASES, CODEC_CHUNK)])
def test_thousands_of_hostile_links_decode_to_valid_silent_round_trips(start: int) -> None:
    failures: list[str] = []
    for i in range(start, min(start + CODEC_CHUNK, CASES)):
        params = _params(i)
        problems = _codec_problems(params)
        if problems:
            failures.append(f"case {i} {params!r}: {'; '.join(problems)}")
            if len(failures) >= 5:
                break
    assert not failures, "\n".join(failures)


def test_the_codec_checks_can_fail(monkeypatch):
    """The codec checks catch what they claim to: a lost notice, markup in a notice, a lossy round trip."""
    import dataclasses

    from initlab.ui import links

    params = {"zz_unknown": ["<b>x</b>"], "depth": ["7", "8"]}
    assert _codec_problems(params) == []

    def silent(*a, **kw):
        return dataclasses.replace(links.decode_query(*a, **kw), notices=())

    def markup(*a, **kw):
        link = links.decode_query(*a, **kw)
        return dataclasses.replace(link, notices=(*link.notices, links.Notice("x", "shown <b>bold</b>")))

    monkeypatch.setattr(f"{__name__}.decode_query", silent)
    found = _codec_problems(params)
    assert any("'zz_unknown' got no notice" in p for p in found) and any("2 times" in p for p in found)
    monkeypatch.setattr(f"{__name__}.decode_query", markup)
    assert any("could form markup" in p for p in _codec_problems(params))
    monkeypatch.setattr(f"{__name__}.encode_query", lambda *a, **kw: {"v": "3", "depth": "3"})
    assert any("does not reopen" in p for p in _codec_problems(params))


@pytest.mark.slow
@pytest.mark.parametrize("start", range(0, PAGES, 100))
def test_hostile_links_open_working_pages(start: int) -> None:
    failures: list[str] = []
    slowest = 0.0
    for i in range(start, min(start + 100, PAGES)):
        params = _params(i)
        at = AppTest.from_file(str(APP), default_timeout=PAGE_BUDGET_S)
        for key, values in params.items():
            at.query_params[key] = values if len(values) > 1 else values[0]
        t0 = time.perf_counter()
        at.run()
        slowest = max(slowest, time.perf_counter() - t0)
        texts = _texts(at)
        joined = "\n".join(texts + [str(e.value) for e in at.get("code")])
        link = decode_query(params, PRESET_VALUES, tabs=TAB_IDS)
        expected = link.notices
        problems = []
        if at.exception:
            problems.append(f"exception {at.exception[0].value}")
        if "could not be drawn" in joined:
            problems.append("a page failed")
        missing = [n.message for n in expected if n.message not in joined]
        if missing:
            problems.append(f"notice not shown: {missing[0]!r}")
        capped = len(expected) == MAX_NOTICES and expected[-1].message.startswith("and ")
        for key in params:
            if key not in KEYS and key not in STREAMLIT_KEYS and not capped and not any(n.key == key for n in expected):
                problems.append(f"unknown key {key!r} got no notice")
        boxes = [t for t in texts if t.startswith(NOTICE_HEAD)]
        lines = [line[2:] for box in boxes for line in box.splitlines() if line.startswith("- ")]
        if len(boxes) > 1 or (boxes and len(lines) > MAX_NOTICES) or (expected and not boxes):
            problems.append(f"{len(boxes)} link notice boxes, {len(lines)} lines")
        for line in lines:
            try:
                assert_markup_safe(line)
            except AssertionError:
                problems.append(f"notice line could form markup: {line!r}")
        if any(TAG.search(split_code_spans(t)[0]) for t in texts):
            problems.append("raw markup reflected")
        if link.tab is not None and at.session_state["tab"] != TABS[link.tab]:
            problems.append(f"opened tab {at.session_state['tab']!r}, the link names {link.tab!r}")
        back = decode_query(_address_bar(at), PRESET_VALUES, tabs=TAB_IDS)
        if back.notices or dict(back.values) != dict(link.values) or back.preset != link.preset:
            problems.append(f"address bar {_address_bar(at)} does not reopen the page silently: {back.notices}")
        if problems:
            failures.append(f"case {i} {params!r}: {'; '.join(problems)}")
            if len(failures) >= 5:
                break
    assert not failures, "\n".join(failures)
    assert slowest < PAGE_BUDGET_S
