"""Share links: page state <-> URL query parameters, one codec for the address bar and the Share box.

Page state is a mapping ``section id -> value`` (``"net"``: the sidebar's
:class:`~initlab.signal.scenario.Scenario`; ``"signal"``, ``"compare"``, ``"ranges"``: the tabs' views, and
any section added to :data:`SECTIONS`). The codec is generic over sections: each one reads and writes
its own keys field by field (:class:`~initlab.schema.Section`), so a new tab adds fields, not codec code.

Rules: a link carries the schema version ``v``, optionally ``preset``, and only the values that
differ from the base (the preset's values, else the defaults). A retired key is never reused; a
change of meaning bumps :data:`SCHEMA_VERSION` and adds a migration. Decoding never raises and never
guesses silently: every ignored, clamped or replaced value yields a :class:`Notice` that quotes the key
as typed (in a code span, so nothing in it is interpreted) and suggests the nearest valid key.

Version history: v1 named the tab by its display label (``tab=Weight ranges``); v2 by a stable id
(``tab=ranges``), so renaming a label never breaks a link. v1 links keep working (migrated on read).
v3: circles, moons and blobs became scikit-learn's own arrays (and the test set's seed
``data_seed + 1``), so the same training settings draw other points. A v1/v2 link that touches training
(a ``tr_`` key, ``tab=training`` or a training preset) opens with its settings, the new data and a
notice (key ``v``) that its numbers differ from when it was made; other links are silent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from initlab.signal.scenario import INIT_PARAM_NAMES, NET, Scenario
from initlab.schema import Notice, Section, did_you_mean, format_value, show
from initlab.training.scenario import TRAIN
from initlab.pages import PAGE_SPECS, VIEW_SECTIONS, PageSpec

__all__ = ["CONTROLS", "LESSON_CONTROLS", "LINK_KEYS", "MAX_NOTICES", "SCHEMA_VERSION", "SECTIONS", "STREAMLIT_KEYS",
           "Control", "LinkState", "Notice", "cross_repair", "decode_query", "differences", "encode_query",
           "lesson_controls", "lesson_lock", "section"]

SCHEMA_VERSION = 3
# Links older than this that touch training were made on other training data.
TRAIN_DATA_VERSION = 3
SECTIONS: tuple[Section, ...] = (NET, *VIEW_SECTIONS, TRAIN)
# Keys that belong to the link rather than to a section: version, preset, the open tab, and a teacher's
# lesson options. Streamlit's own embed keys pass untouched.
LINK_KEYS = ("v", "preset", "tab", "hide", "lock")
STREAMLIT_KEYS = ("embed", "embed_options")
# More notice lines than this are summarised ("and N more"): a page is not a log.
MAX_NOTICES = 20
# v1 links named tabs by their labels; these are frozen history, not the current labels.
V1_TAB_LABELS = {"Signal": "signal", "Gradients": "gradients", "Weight ranges": "ranges", "Compare": "compare",
                 "Learn": "learn"}

_KEY_OWNER: dict[str, Section] = {}
for _sec in SECTIONS:
    for _f in _sec.fields:
        assert _f.url_key not in _KEY_OWNER and _f.url_key not in LINK_KEYS, f"URL key {_f.url_key} used twice"
        _KEY_OWNER[_f.url_key] = _sec
ALL_KEYS: tuple[str, ...] = (*LINK_KEYS, *_KEY_OWNER)

SIDEBAR = "Sidebar"  # where the controls of the sidebar's section (and the preset picker) are drawn


@dataclass(frozen=True)
class Control:
    """One control a lesson link can hide or lock, named in the link by its link ``key``.

    ``section`` and ``name`` say which field it sets (both "" for the preset picker); ``group`` is where
    it is drawn (the sidebar, or the label of the first page that reads its section); ``implies`` is the
    key of a control that is locked with it (an initializer parameter exists only for its initializer,
    so fixing one fixes the initializer too).
    """

    key: str
    section: str
    name: str
    label: str
    group: str
    implies: str = ""

    @property
    def title(self) -> str:
        """Where it is and what it reads (``Training › Seed``): what a student recognises on the page."""
        return f"{self.group} › {'Preset picker' if self.key == 'preset' else self.label}"


def lesson_controls(sections: Sequence[Section], pages: Mapping[str, PageSpec]) -> dict[str, Control]:
    """Every control a lesson link can hide or lock, keyed by its link key, in link order: the preset
    picker, then every field of every section (the sidebar's first). Built from the schema and the page
    registry only, so a new field or a new tab can be hidden and locked with no code of its own."""
    where: dict[str, str] = {NET.id: SIDEBAR}
    for page in pages.values():
        for sid in page.sections:
            where.setdefault(sid, page.label)
    out = {"preset": Control("preset", "", "", "Preset", SIDEBAR)}
    for sec in sections:
        names = {f.name for f in sec.fields}
        init_key = sec.field("init").url_key if "init" in names else ""
        for f in sec.fields:
            out[f.url_key] = Control(f.url_key, sec.id, f.name, f.label, where.get(sec.id, sec.id),
                                     init_key if f.name in INIT_PARAM_NAMES else "")
    return out


# Controls a lesson link may hide or lock: the preset picker and every field of every section, by link key
# (a sidebar field's key is its bare name, so the lesson links written before tabs had locks keep working).
CONTROLS: dict[str, Control] = lesson_controls(SECTIONS, PAGE_SPECS)
LESSON_CONTROLS: tuple[str, ...] = tuple(CONTROLS)
# Examples quoted when a link names an unknown control (the list itself is too long for a notice).
_CONTROL_EXAMPLES = "`depth`, `cmp_inits`, `th_sw2`, `tr_dataset`"


def lesson_lock(hide: Collection[str], lock: Collection[str]) -> frozenset[str]:
    """The controls a lesson locks: ``lock``, plus the controls implied by a hidden or locked one (an
    initializer parameter's initializer: changing the initializer would drop the parameter)."""
    implied = {CONTROLS[k].implies for k in (*hide, *lock) if k in CONTROLS and CONTROLS[k].implies}
    return frozenset(lock) | frozenset(implied)


def _lesson_names(key: str, raw: str, taken: frozenset[str]) -> tuple[frozenset[str], str | None]:
    """The controls a ``hide`` or ``lock`` value names, and what was not taken as written (unknown names,
    repeats, names already hidden when ``key`` is ``lock``), in one notice line; ``None`` when all was."""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in CONTROLS]
    known = [n for n in names if n in CONTROLS]
    kept = frozenset(known) - taken
    parts = []
    if bad:
        shown = ", ".join(show(b) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        parts.append(f"unknown control(s) {shown} ignored{did_you_mean(bad[0], LESSON_CONTROLS)} (a control is "
                     f"named by its key in links, e.g. {_CONTROL_EXAMPLES}; the Share box lists them all)")
    repeated = sorted({n for n in known if known.count(n) > 1}, key=LESSON_CONTROLS.index)
    if repeated:
        parts.append(f"{', '.join(f'`{n}`' for n in repeated[:5])} named more than once: read once")
    both = sorted(frozenset(known) & taken, key=LESSON_CONTROLS.index)
    if both:
        parts.append(f"{', '.join(f'`{n}`' for n in both[:5])} also hidden: a hidden control is fixed too, so it "
                     "is only hidden")
    return kept, (f"{key}: " + "; ".join(parts)) if parts else None


def section(section_id: str) -> Section:
    """The section called ``section_id``."""
    return next(s for s in SECTIONS if s.id == section_id)


def defaults() -> dict[str, Any]:
    """The default value of every section."""
    return {s.id: s.default() for s in SECTIONS}


def _as_state(values: Mapping[str, Any] | Scenario | None) -> dict[str, Any]:
    """A full ``section id -> value`` mapping (a bare Scenario stands for the ``net`` section)."""
    out = defaults()
    if isinstance(values, Scenario):
        out["net"] = values
    elif values:
        out.update(values)
    return out


def _readable(f: Any, value: Any) -> str:
    if value is None:
        return "default"
    if f.kind == "bool":
        return "on" if value else "off"
    labels = dict(f.choice_labels)
    if f.kind == "list":
        return ", ".join(labels.get(v, v) for v in value) or "none"
    return labels.get(value, format_value(f, value))


def differences(values: Mapping[str, Any], base: Mapping[str, Any], sections: Sequence[str],
                ignore: Collection[tuple[str, str]] = ()) -> list[str]:
    """"Label: old → new" for every field of ``sections`` whose value differs from ``base`` (the preset's
    values), in schema order; fields that mean nothing for the current value, and the (section, field)
    pairs of ``ignore``, are left out."""
    out: list[str] = []
    for sec in SECTIONS:
        if sec.id not in sections:
            continue
        now, then = values[sec.id], base[sec.id]
        unused = sec.irrelevant(now) if sec.irrelevant is not None else {}
        for f in sec.fields:
            a, b = getattr(then, f.name), getattr(now, f.name)
            if a != b and f.name not in unused and (sec.id, f.name) not in ignore:
                out.append(f"{f.label}: {_readable(f, a)} → {_readable(f, b)}")
    return out


def cross_repair(state: dict[str, Any]) -> list[Notice]:
    """Apply every section's checks against the other sections (:attr:`Section.cross`) to ``state``, in
    place, after each section was read on its own; return what was changed."""
    notices: list[Notice] = []
    for sec in SECTIONS:
        if sec.cross is not None:
            state[sec.id], more = sec.cross(state[sec.id], state)
            notices.extend(more)
    return notices


@dataclass(frozen=True)
class LinkState:
    """What a link decodes to: each section's value, the preset, tab, lesson options and notices."""

    values: Mapping[str, Any]
    preset: str | None = None
    tab: str | None = None
    hide: frozenset[str] = frozenset()
    lock: frozenset[str] = frozenset()
    notices: tuple[Notice, ...] = field(default=())

    @property
    def scenario(self) -> Scenario:
        return self.values["net"]

    def value(self, section_id: str) -> Any:
        return self.values[section_id]


def encode_query(
    values: Mapping[str, Any] | Scenario,
    *,
    preset: str | None = None,
    base: Mapping[str, Any] | Scenario | None = None,
    hide: frozenset[str] | set[str] = frozenset(),
    lock: frozenset[str] | set[str] = frozenset(),
    tab: str | None = None,
) -> dict[str, str]:
    """The query of a link to ``values``: version, preset, the values that differ from ``base``.

    ``base`` is the preset's values when ``preset`` is given (the caller passes them), else the
    defaults. ``tab`` is a stable tab id, left out by the caller when it is the link's default page.
    Lesson options ``hide`` / ``lock`` are comma-separated control names in schema order.
    """
    state, base_state = _as_state(values), _as_state(base)
    out: dict[str, str] = {"v": str(SCHEMA_VERSION)}
    if preset:
        out["preset"] = preset
    for sec in SECTIONS:
        out.update(sec.encode(state[sec.id], base_state[sec.id]))
    if tab:
        out["tab"] = tab
    for key, names in (("hide", hide), ("lock", frozenset(lock) - frozenset(hide))):
        joined = ",".join(n for n in LESSON_CONTROLS if n in names)
        if joined:
            out[key] = joined
    return out


def _touches_training(raw: Mapping[str, str], presets: Mapping[str, Any]) -> bool:
    """Whether a link's query sets training settings, opens the Training page or a training preset."""
    if raw.get("tab") == "training" or any(k.startswith("tr_") for k in raw):
        return True
    values = presets.get(raw.get("preset", ""), None)
    return isinstance(values, Mapping) and "train" in values


def decode_query(
    params: Mapping[str, str | Sequence[str]],
    presets: Mapping[str, Mapping[str, Any] | Scenario],
    tabs: Sequence[str] = (),
) -> LinkState:
    """Decode a link's query parameters; never raises, reports everything not taken as written.

    ``presets`` maps preset names to their values (``section id -> value``, or a bare Scenario); it is
    passed in so that the schema does not depend on the preset module. ``tabs`` are the valid tab ids.
    Invalid values fall back to the base (the preset's value, else the default), one field at a time;
    out-of-range numbers are clamped; a scenario over budget gets its depth reduced. Each such decision
    adds a :class:`Notice`; more than :data:`MAX_NOTICES` are summarised in a last one.
    """
    notices: list[Notice] = []

    def note(key: str, message: str) -> None:
        notices.append(Notice(key, message))

    raw: dict[str, str] = {}
    for key, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        if not values:
            continue
        if len(values) > 1:
            note(key, f"{show(key)} appears {len(values)} times; the last value is used")
        raw[key] = values[-1]

    version = raw.pop("v", None)
    v = SCHEMA_VERSION
    if version is not None:
        try:
            v = int(version)
        except ValueError:
            v = SCHEMA_VERSION
            note("v", f"link version {show(version)} is not a number; read as version {SCHEMA_VERSION}")
        if v < 1:
            note("v", f"link version {show(version)} does not exist; read as version {SCHEMA_VERSION}")
            v = SCHEMA_VERSION
        if v > SCHEMA_VERSION:
            note("v", f"link version {show(version)} is newer than this initlab ({SCHEMA_VERSION}); read as "
                      f"version {SCHEMA_VERSION}, so some settings may be lost")
    # v1 -> v2: tab labels became ids. A hand-typed link without a version is read leniently the same way.
    if "tab" in raw and raw["tab"] in V1_TAB_LABELS and raw["tab"] not in tabs:
        raw["tab"] = V1_TAB_LABELS[raw["tab"]]

    if v < TRAIN_DATA_VERSION and _touches_training(raw, presets):
        note("v", f"this link was made with initlab's link version {v}, before the training datasets became "
                  "scikit-learn's: it opens with the same settings, but on other data points, so its "
                  "numbers (losses, accuracies) differ from when it was made")
    preset = raw.pop("preset", None)
    base = defaults()
    if preset is not None:
        if preset in presets:
            base = _as_state(presets[preset])
        else:
            note("preset", f"unknown preset {show(preset)} ignored{did_you_mean(preset, presets)}; "
                           f"valid presets: {', '.join(presets)}")
            preset = None

    tab = raw.pop("tab", None)
    if tab is not None and tabs and tab not in tabs:
        note("tab", f"unknown tab {show(tab)} ignored{did_you_mean(tab, tabs)}; tabs: {', '.join(tabs)}")
        tab = None

    lesson: dict[str, frozenset[str]] = {"hide": frozenset()}
    for key in ("hide", "lock"):
        # A lock of a hidden control adds nothing (hidden controls are fixed too): hidden wins, said so.
        lesson[key], why = _lesson_names(key, raw.pop(key, ""), lesson["hide"] if key == "lock" else frozenset())
        if why:
            note(key, why)

    for key in raw:
        if key not in _KEY_OWNER and key not in STREAMLIT_KEYS:
            note(key, f"unknown parameter {show(key)} ignored{did_you_mean(key, ALL_KEYS)}")

    state: dict[str, Any] = {}
    for sec in SECTIONS:
        state[sec.id], more, _ = sec.decode(raw, base[sec.id])
        notices.extend(more)
    notices.extend(cross_repair(state))

    if len(notices) > MAX_NOTICES:
        rest = len(notices) - (MAX_NOTICES - 1)
        notices = notices[: MAX_NOTICES - 1] + [Notice("", f"and {rest} more")]
    return LinkState(state, preset, tab, lesson["hide"], lesson["lock"], tuple(notices))
