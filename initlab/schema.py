"""The schema machinery: typed fields, their checks and URL forms, and sections of page state.

A :class:`FieldSpec` says everything about one setting: its kind, default, bounds, help and the key
it has in a share link. A :class:`Section` groups the fields of one part of the page (the sidebar's
network, a tab's own settings) around one frozen dataclass. Everything generic lives here, once:
checking one value, parsing and formatting it for a link, reading a section from a link or from the
widgets *one field at a time* (a bad value falls back alone, with its own notice, and never resets its
neighbours), and writing a section back to a link with only the values that differ from its base.
A new tab therefore adds a dataclass and its fields, never codec code. :func:`dataclass_of` makes a
section's dataclass from its fields, so each setting is declared once, with its default.

Only the standard library and :mod:`initlab.numerics.names` are imported (the registries are imported
lazily for their choices).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from initlab.numerics.names import nearest, suggestion

Kind = Literal["int", "float", "choice", "bool", "list", "widths"]  # widths: a tuple of layer sizes
T = TypeVar("T")

# Longer values are refused unread: no link can make the parser work hard. It must exceed the longest
# valid value: a list of 6 registry names takes up to ~130 characters.
MAX_RAW_LENGTH = 200
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class FieldSpec:
    """One setting: how it is typed, bounded, defaulted and explained, and its key in a link.

    ``name`` is the attribute of the section's dataclass; ``key`` the stable URL key (defaults to
    ``name``; a retired key is never reused). ``registry`` names where the choices of a choice or list
    field come from when they are not fixed (``"init"``: the initializer registry, ``"activation"``).
    For a list field, ``lo``/``hi`` bound the number of items; for a widths field (a tuple of whole
    numbers such as hidden-layer sizes) they bound each item and ``max_items`` their number.
    """

    name: str
    kind: Kind
    default: Any
    label: str
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False  # None allowed: "use the initializer's default"
    group: str = "network"
    key: str = ""
    registry: str | None = None
    widget: str = ""  # "slider" or "radio" where the default widget (number box, select box) is not the best
    choice_labels: tuple[tuple[str, str], ...] = ()  # how choices read on the page, e.g. ("act", "activations h")
    max_items: int | None = None  # widths: at most this many items

    @property
    def url_key(self) -> str:
        """The key of this field in a share link."""
        return self.key or self.name


@dataclass(frozen=True)
class Notice:
    """One parameter of a link (or a control) that was not taken as written, and what was done."""

    key: str
    message: str


def choices_for(field: FieldSpec) -> tuple[str, ...]:
    """Valid values of a choice or list field (a registry's names, or the fixed choices)."""
    if field.registry == "init":
        from initlab.weights import initializers

        return tuple(initializers.names())
    if field.registry == "activation":
        from initlab.weights import activations

        return tuple(activations.names())
    assert field.choices is not None, field.name
    return field.choices


def aliases_for(field: FieldSpec) -> Mapping[str, str]:
    """Other names of a registry field's choices (``xavier`` for ``glorot_uniform``), for suggestions only."""
    if field.registry == "init":
        from initlab.weights import initializers

        return initializers.ALIASES
    if field.registry == "activation":
        from initlab.weights import activations

        return activations.ALIASES
    return {}


def check_value(field: FieldSpec, value: Any) -> None:
    """Raise ``ValueError`` if ``value`` is not valid for ``field`` (type, finiteness, bounds, choices)."""
    if value is None:
        if field.optional:
            return
        raise ValueError(f"{field.name} must be set; received None")
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{field.name} must be true or false; received {value!r}")
        return
    if field.kind == "list":
        valid = choices_for(field)
        bad = [v for v in value if v not in valid] if isinstance(value, tuple) else [value]
        if bad or not (field.lo or 0) <= len(value) <= (field.hi or len(value)) or len(set(value)) != len(value):
            raise ValueError(f"{field.name} must be {field.lo or 0:g} to {field.hi:g} distinct values from "
                             f"{', '.join(valid)}; received {value!r}")
        return
    if field.kind == "choice":
        valid = choices_for(field)
        if value not in valid:
            raise ValueError(f"{field.name} must be one of {', '.join(valid)}; received {value!r}")
        return
    if field.kind == "widths":
        most = field.max_items or 1
        ok = isinstance(value, tuple) and 1 <= len(value) <= most and all(
            isinstance(v, int) and not isinstance(v, bool) and (field.lo is None or v >= field.lo)
            and (field.hi is None or v <= field.hi) for v in value)
        if not ok:
            raise ValueError(f"{field.name} must be 1 to {most} whole numbers in [{field.lo:g}, {field.hi:g}]; "
                             f"received {value!r}")
        return
    if field.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{field.name} must be a whole number; received {value!r}")
    if field.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{field.name} must be a number; received {value!r}")
    if isinstance(value, float) and not math.isfinite(value):  # ints are finite (and may exceed a float)
        raise ValueError(f"{field.name} must be finite; received {value!r}")
    if field.lo is not None and value < field.lo or field.hi is not None and value > field.hi:
        raise ValueError(f"{field.name} must be in [{field.lo:g}, {field.hi:g}]; received {value!r}")


def format_value(field: FieldSpec, value: Any) -> str:
    """The URL form of a field value (``repr`` for floats: the shortest string that round-trips)."""
    if value is None:
        return ""
    if field.kind == "bool":
        return "1" if value else "0"
    if field.kind == "list":
        return ",".join(value)
    if field.kind == "widths":  # a run of 3 or more equal items as "16x20" (what the parser reads back)
        runs = [(v, len(list(g))) for v, g in itertools.groupby(value)]
        return ",".join(f"{v}x{k}" if k >= 3 else ",".join([str(v)] * k) for v, k in runs)
    if field.kind == "float":
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(value)


def show(text: str, limit: int = 40) -> str:
    """A value or key from a link, quoted as typed in a notice: an inline code span, so that markdown
    and HTML in it are shown, never interpreted. Only what a code span cannot hold is replaced:
    backticks and unprintable characters (control, bidi overrides, zero-width) become ``?``."""
    clean = "".join(ch if ch.isprintable() and ch != "`" else "?" for ch in text)
    if len(clean) > limit:
        clean = clean[: limit - 3] + "..."
    return f"`{clean}`" if clean.strip() else "`(empty)`"


def parse_value(field: FieldSpec, raw: str) -> tuple[Any, str | None]:
    """Parse one URL value for ``field``: ``(value, None)`` if taken as is, ``(value, why)`` if clamped
    or partly kept.

    Raises ``ValueError`` with a reason a student can read when the value cannot be used at all.
    """
    text = raw.strip()
    if len(text) > MAX_RAW_LENGTH:
        raise ValueError(f"is {len(text)} characters long (at most {MAX_RAW_LENGTH})")
    if field.kind == "list":
        valid = choices_for(field)
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in valid]
        known = tuple(dict.fromkeys(t for t in items if t in valid))
        most = int(field.hi or 99)
        kept, over = known[:most], known[most:]
        if len(kept) < (field.lo or 0) or (text and not kept):
            least = max(field.lo or 0, 1)
            raise ValueError(f"needs at least {least:g} known name{'s' if least > 1 else ''} from: {', '.join(valid)}")
        why = None
        if bad or len(kept) < len(items):
            parts = [f"kept {', '.join(kept)}"]
            if over:
                parts.append(f"{', '.join(over)} dropped: at most {most} at once")
            if bad:
                parts.append(f"unknown {', '.join(show(b) for b in bad[:5])} dropped")
            if len(known) + len(bad) < len(items):
                parts.append("repeats dropped")
            why = "; ".join(parts)
        return kept, why
    if text == "":
        if field.optional:
            return None, None
        raise ValueError("is empty")
    if field.kind == "widths":
        return _parse_widths(field, text)
    if field.kind == "bool":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True, None
        if low in ("0", "false", "no", "off"):
            return False, None
        raise ValueError(f"{show(text)} is not true/false (use 1 or 0)")
    if field.kind == "choice":
        valid = choices_for(field)
        if text in valid:
            return text, None
        near = nearest(text, valid, aliases_for(field), cutoff=0.75)
        hint = f" (did you mean `{near}`?)" if near else f"; valid: {', '.join(valid)}"
        raise ValueError(f"{show(text)} is not one of the choices{hint}")
    if not _NUMBER.fullmatch(text):  # float() would also take "1_000", "٣" and " 1 "
        raise ValueError(f"{show(text)} is not a number")
    num = float(text)
    if not math.isfinite(num):
        raise ValueError(f"{show(text)} is not a finite number")
    if field.kind == "int" and not num.is_integer():
        raise ValueError(f"{show(text)} is not a whole number")
    lo, hi = field.lo, field.hi
    why = None
    if lo is not None and num < lo:
        why, num = f"{show(text)} is below the minimum {lo:g}: clamped to {lo:g}", lo
    elif hi is not None and num > hi:
        why, num = f"{show(text)} is above the maximum {hi:g}: clamped to {hi:g}", hi
    return (int(num) if field.kind == "int" else float(num)), why


def _parse_widths(field: FieldSpec, text: str) -> tuple[tuple[int, ...], str | None]:
    """``"10,5"`` -> ``(10, 5)``, ``"2,16x3"`` -> ``(2, 16, 16, 16)``; items out of [lo, hi] are clamped and
    extra items dropped, with a reason."""
    items = [t.strip() for t in text.split(",")]
    # Whole numbers with an optional sign: "-3" is a whole number out of range (clamped and said so), not
    # an unreadable item. Digits only (no "1e3", "٣", "1_0"), and short, so no link makes int() work hard.
    # "16x20" is 20 items of 16 (a deep network typed by hand); the count is short too, so no link
    # builds a long list.
    found = [re.fullmatch(r"([+-]?\d{1,12})(?:\s*[x×]\s*([1-9]\d{0,2}))?", t, re.ASCII) for t in items]
    if not all(found):
        raise ValueError(f"{show(text)} is not a comma-separated list of whole numbers (16x20: 20 times 16)")
    most = field.max_items or 1
    values = [int(m[1]) for m in found for _ in range(int(m[2]) if m[2] is not None else 1)]
    lo = int(field.lo) if field.lo is not None else None
    hi = int(field.hi) if field.hi is not None else None
    kept = tuple(min(max(v, lo if lo is not None else v), hi if hi is not None else v) for v in values[:most])
    why = []
    if len(values) > most:
        why.append(f"at most {most} items: kept the first {most}")
    if list(kept) != values[:most]:
        out = [v for v in values[:most] if (lo is not None and v < lo) or (hi is not None and v > hi)]
        why.append(f"{', '.join(map(str, out))} clamped to [{lo}, {hi}]")
    return kept, ("; ".join(why) + f": using {format_value(field, kept)}") if why else None


def over_limit(value: float, limit: float) -> tuple[str, str]:
    """``value`` and ``limit`` written with just enough significant digits (3 to 9) to read as different
    (``1.02e10`` against ``1e10``, not ``1e+10`` against ``1e+10``): what a budget message quotes."""
    def short(v: float, digits: int) -> str:
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        e = int(exp)
        return mant if e == 0 else f"{mant}e{e}"

    for digits in range(3, 10):
        a, b = short(value, digits), short(limit, digits)
        if a != b:
            return a, b
    return short(value, 9), short(limit, 9)


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean `bias_value`?)`` for the nearest known key (:func:`initlab.numerics.names.nearest`),
    or ``""`` when none is close."""
    near = nearest(key, known)
    return f" (did you mean `{near}`?)" if near else ""


# ------------------------------------------------------------------------------ a schema's dataclass

# The Python type of each kind's values (an optional field also takes None).
_TYPES: dict[str, Any] = {"int": int, "float": float, "choice": str, "bool": bool, "list": tuple[str, ...],
                          "widths": tuple[int, ...]}


# Set while the page state is read from a link or the widgets (:func:`deferred_checks`).
_DEFERRED: ContextVar[bool] = ContextVar("initlab_deferred_checks", default=False)


@contextlib.contextmanager
def deferred_checks() -> Iterator[None]:
    """Build settings without their constructors' checks (:meth:`Settings.check_arguments`) inside the block.

    For the machinery that reads a section from a link or from the widgets (:meth:`Section.decode`,
    :meth:`Section.from_values`, the repairs): there a scenario may hold, for a moment, a parameter of
    another initializer (a widget keeps the stddev it had for random_normal after the student picks
    he_normal, a preset's stddev stays when a link changes its initializer), which the section's repair then
    drops with a notice. A ``ContextVar``, so that another thread (another student's page) is unaffected.
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def choice_error(field: FieldSpec, value: Any) -> str:
    """``init='xavier': unknown initializer; did you mean 'glorot_uniform'? (choose one of ...)``: what a
    constructor says about a value not among a choice field's choices (:func:`initlab.numerics.names.nearest`,
    the rule the link codec suggests with). Starts with the field's name, as every other check's message."""
    noun = {"init": "initializer", "activation": "activation"}.get(field.registry or "", field.name)
    return f"{field.name}={value!r}: unknown {noun}" + suggestion(str(value), choices_for(field), aliases_for(field))


class Settings:
    """What every dataclass made by :func:`dataclass_of` can do; ``SCHEMA`` is its fields, in order."""

    SCHEMA: ClassVar[tuple[FieldSpec, ...]] = ()

    def __post_init__(self) -> None:
        if not _DEFERRED.get():
            self.check_arguments()

    def check_arguments(self) -> None:
        """What the constructor checks, raising ``ValueError`` (nothing here; a subclass adds its rules).
        Skipped inside :func:`deferred_checks`."""

    def changes(self) -> dict[str, Any]:
        """Fields that differ from the defaults, in schema order (what a share link carries)."""
        base = type(self)()
        return {f.name: getattr(self, f.name) for f in self.SCHEMA if getattr(self, f.name) != getattr(base, f.name)}

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def dataclass_of(fields: tuple[FieldSpec, ...]) -> Callable[[type[T]], type[T]]:
    """Class decorator: ``cls`` made the frozen dataclass whose fields are ``fields``, in their order.

    Each field takes its name, type (from the kind) and default from its :class:`FieldSpec` (kept in
    the field's ``metadata["spec"]``), and ``cls.SCHEMA`` is ``fields``: the specs are the settings'
    one declaration, and the class body adds behaviour only. A body (or a dataclass base) that
    declares a field itself is refused, so no second list of fields and defaults can grow back.
    """
    def make(cls: type[T]) -> type[T]:
        own = cls.__dict__.get("__annotations__", {})
        twice = [f.name for f in fields if f.name in own or f.name in cls.__dict__]
        if twice:
            raise TypeError(f"{cls.__name__} declares {', '.join(twice)}: its schema already does")
        cls.__annotations__ = {**{f.name: _TYPES[f.kind] | None if f.optional else _TYPES[f.kind] for f in fields},
                               **own}
        for f in fields:
            setattr(cls, f.name, dataclasses.field(default=f.default, metadata={"spec": f}))
        cls.SCHEMA = fields  # type: ignore[attr-defined]
        out = dataclass(frozen=True)(cls)
        extra = [f.name for f in dataclasses.fields(out) if f.name not in {g.name for g in fields}]
        if extra:
            raise TypeError(f"{cls.__name__} has fields outside its schema ({', '.join(extra)}): declare them "
                            "as FieldSpecs")
        out.__init__ = _naming_unknown_keywords(out, out.__init__)  # type: ignore[method-assign]
        return out

    return make


def _naming_unknown_keywords(cls: type, init: Callable[..., None]) -> Callable[..., None]:
    """``init`` raising, for a keyword that is no field, ``TypeError: Scenario has no setting 'std'; did you
    mean 'stddev'?`` instead of Python's bare "unexpected keyword argument" (the try costs nothing when all
    is well; ``functools.wraps`` keeps the signature that ``help()`` and a notebook's completion show)."""
    names = [f.name for f in dataclasses.fields(cls)]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except TypeError:
            unknown = [k for k in kwargs if k not in names]
            if unknown:
                raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}"
                                + suggestion(unknown[0], names)) from None
            raise

    return __init__


Repair = Callable[[Any, Any, set[str]], tuple[Any, list[Notice]]]


@dataclass(frozen=True)
class Section(Generic[T]):
    """One part of the page state: a frozen dataclass ``cls`` and the fields that describe it.

    ``id`` is stable (it prefixes the section's session keys: ``"compare.inits"``); ``repair`` fixes
    cross-field problems (an initializer rejecting its parameters, a budget) after the fields have
    been read one by one, and says what it changed; ``irrelevant`` names the fields that mean nothing
    for a given value (with the reason), so that links neither carry them nor silently accept them.
    """

    id: str
    cls: type[T]
    fields: tuple[FieldSpec, ...]
    repair: Repair | None = None
    irrelevant: Callable[[Any], Mapping[str, str]] | None = None
    # Checks that need other sections (a tab's view against the scenario it shows): ``cross(value, state)``
    # with ``state`` every section's (already repaired) value; returns the value and what was changed.
    cross: Callable[[Any, Mapping[str, Any]], tuple[Any, list[Notice]]] | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        assert names == [f.name for f in dataclasses.fields(self.cls)], (self.id, names)  # type: ignore[arg-type]

    def session_key(self, name: str) -> str:
        """The widget / session-state key of field ``name`` in this section."""
        return f"{self.id}.{name}"

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def default(self) -> T:
        return self.cls()

    def decode(self, raw: Mapping[str, str], base: T) -> tuple[T, list[Notice], set[str]]:
        """The section's value from a link's ``raw`` values (URL key -> text), starting from ``base``.

        Each field is parsed on its own: an unusable value keeps the base's, with a notice; a clamped
        one is used, with a notice. A field that means nothing for the resulting value (see
        ``irrelevant``) is reported as such, whatever was written. Returns the value, the notices and
        the names of the fields the link set. Keys of other sections are ignored (the caller reports
        unknown keys).
        """
        with deferred_checks():  # the repair below drops what the value's class would refuse
            return self._decode(raw, base)

    def _decode(self, raw: Mapping[str, str], base: T) -> tuple[T, list[Notice], set[str]]:
        parsed: dict[str, tuple[Any, str | None] | ValueError] = {}
        for f in self.fields:
            if f.url_key in raw:
                try:
                    parsed[f.name] = parse_value(f, raw[f.url_key])
                except ValueError as exc:
                    parsed[f.name] = exc
        values = {name: p[0] for name, p in parsed.items() if not isinstance(p, ValueError)}
        value = dataclasses.replace(base, **values)  # type: ignore[type-var]
        unused = self.irrelevant(value) if self.irrelevant is not None else {}
        if unused.keys() & values.keys():  # reported as ignored below: not applied either (keeps the base's)
            values = {k: v for k, v in values.items() if k not in unused}
            value = dataclasses.replace(base, **values)  # type: ignore[type-var]
        notices: list[Notice] = []
        for f in self.fields:
            if f.name not in parsed:
                continue
            p = parsed[f.name]
            if f.name in unused:
                notices.append(Notice(f.url_key, f"`{f.url_key}` ignored: {unused[f.name]}"))
            elif isinstance(p, ValueError):
                shown = format_value(f, getattr(base, f.name)) or "the default"
                notices.append(Notice(f.url_key, f"`{f.url_key}`: {p}; using {shown}"))
            elif p[1]:
                notices.append(Notice(f.url_key, f"`{f.url_key}`: {p[1]}"))
        if self.repair is not None:
            value, more = self.repair(value, base, set(values))
            notices.extend(more)
        return value, notices, set(values)

    def encode(self, value: T, base: T) -> dict[str, str]:
        """The link's keys for ``value``: only fields that differ from ``base`` and mean something."""
        unused = self.irrelevant(value) if self.irrelevant is not None else {}
        out: dict[str, str] = {}
        for f in self.fields:
            v = getattr(value, f.name)
            if f.name not in unused and v != getattr(base, f.name):
                out[f.url_key] = format_value(f, v)
        return out

    def from_values(self, values: Mapping[str, Any], base: T) -> tuple[T, list[Notice]]:
        """The section's value from widget values (field name -> value), checked one field at a time.

        A missing or invalid value keeps the base's (with a notice when it was invalid); the others are
        kept as they are. Lists from multiselects arrive as lists and are stored as tuples.
        """
        with deferred_checks():  # the repair below drops what the value's class would refuse
            return self._from_values(values, base)

    def _from_values(self, values: Mapping[str, Any], base: T) -> tuple[T, list[Notice]]:
        out: dict[str, Any] = {}
        notices: list[Notice] = []
        for f in self.fields:
            if f.name not in values:
                continue
            v = values[f.name]
            if isinstance(v, list):
                v = tuple(v)
            try:
                check_value(f, v)
            except ValueError as exc:
                notices.append(Notice(f.url_key, f"{f.label}: {exc}; using {format_value(f, getattr(base, f.name))}"))
                continue
            out[f.name] = v
        value = dataclasses.replace(base, **out)  # type: ignore[type-var]
        if self.repair is not None:
            value, more = self.repair(value, base, set())
            notices.extend(more)
        return value, notices

    def keys(self) -> tuple[str, ...]:
        """The URL keys of this section."""
        return tuple(f.url_key for f in self.fields)
