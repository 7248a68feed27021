"""The scenario schema: one declarative list of every setting, its bounds and its default.

Everything that varies in initlab (the engine, the widgets, the share links, the presets, the docs
tables) reads this one schema. A :class:`Scenario` holds only registry keys and numbers, so it is
hashable, cacheable and printable; it never holds a function or an array.

Initializer parameters (``mean``, ``stddev``, ...) are optional: ``None`` means "the chosen
initializer's own default", because the same name has different defaults in different frameworks
(Keras ``random_normal`` has stddev 0.05, PyTorch ``trunc_normal_`` has std 1).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Kind = Literal["int", "float", "choice", "bool", "list"]


class BudgetError(ValueError):
    """A scenario that would cost more memory or compute than one request may use."""


@dataclass(frozen=True)
class FieldSpec:
    """One setting of the scenario: how it is typed, bounded, defaulted and explained."""

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


# Loss at the output, per example b (L is the batch mean of these):
#   projection: l_b = r_b . h_L[b], r_b ~ N(0, I) fixed by the seed, so dl_b/dh_L = r_b: the backward
#               signal starts with unit variance whatever the forward pass did, which isolates what the
#               layers do to gradients (the setting of Schoenholz et al. 2017 and most init analyses).
#   mse:        l_b = 1/2 ||h_L[b] - y_b||^2, y_b ~ N(0, I): a realistic regression loss whose gradient
#               also carries the forward explosion (h_L - y).
LOSSES = ("projection", "mse")
# Input batches: standardised N(0,1) features; min-max scaled U[0,1]; raw U[0,255] like unscaled pixels.
INPUTS = ("standard", "minmax", "raw")
BIASES = ("zeros", "constant", "random_normal")
DTYPES = ("float32", "float64")
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")
NONLINEARITIES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")

# Hard caps per request. The classic experiments (250 layers x 512 units x batch 256) fit in both
# dtypes; the memory estimate below is an upper bound of the engine's peak and stays under 1 GB.
MAX_BYTES = 950_000_000
MAX_MACS = 2.0e10  # multiply-accumulates of the forward pass (the backward pass costs twice that)

_P = "init"  # group name of initializer parameters

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("init", "choice", "glorot_uniform", "Initializer",
              "How every weight matrix is drawn (Keras names; classic and PyTorch schemes under their own names).",
              choices=None),  # choices filled lazily from the registry (see choices_for)
    FieldSpec("activation", "choice", "tanh", "Activation", "Nonlinearity applied after every layer.", choices=None),
    FieldSpec("depth", "int", 50, "Depth (layers)", "Number of dense layers.", lo=1, hi=1000),
    FieldSpec("width", "int", 256, "Width (units)", "Units per layer; the input has the same width.", lo=1, hi=2048),
    FieldSpec("batch", "int", 128, "Batch size", "Number of input examples pushed through the network.", lo=1, hi=4096),
    FieldSpec("seed", "int", 0, "Seed", "Seed of every random draw: same seed, same numbers.", lo=0, hi=2**32 - 1),
    FieldSpec("dtype", "choice", "float32", "Precision", "float32 overflows above 3.4e38, float64 above 1.8e308.",
              choices=DTYPES),
    FieldSpec("mean", "float", None, "mean", "Mean of the normal distribution.", lo=-100, hi=100, optional=True, group=_P),
    FieldSpec("stddev", "float", None, "stddev", "Standard deviation of the normal distribution.", lo=0, hi=100,
              optional=True, group=_P),
    FieldSpec("minval", "float", None, "minval", "Lower bound of the uniform distribution.", lo=-100, hi=100,
              optional=True, group=_P),
    FieldSpec("maxval", "float", None, "maxval", "Upper bound of the uniform distribution.", lo=-100, hi=100,
              optional=True, group=_P),
    FieldSpec("value", "float", None, "value", "The constant every weight is set to.", lo=-100, hi=100, optional=True,
              group=_P),
    FieldSpec("scale", "float", None, "scale", "Variance scale factor (2 for ReLU, 1 for tanh/linear).", lo=1e-6,
              hi=100, optional=True, group=_P),
    FieldSpec("mode", "choice", None, "mode", "Which fan divides the variance.", choices=MODES, optional=True, group=_P),
    FieldSpec("distribution", "choice", None, "distribution", "Shape of the distribution.", choices=DISTRIBUTIONS,
              optional=True, group=_P),
    FieldSpec("gain", "float", None, "gain", "Multiplicative factor on the matrix.", lo=0, hi=100, optional=True,
              group=_P),
    FieldSpec("nonlinearity", "choice", None, "nonlinearity", "PyTorch calculate_gain nonlinearity.",
              choices=NONLINEARITIES, optional=True, group=_P),
    FieldSpec("negative_slope", "float", None, "negative_slope", "Leaky ReLU slope for PyTorch's gain.", lo=0, hi=1,
              optional=True, group=_P),
    FieldSpec("a", "float", None, "a", "Lower truncation bound (absolute).", lo=-100, hi=100, optional=True, group=_P),
    FieldSpec("b", "float", None, "b", "Upper truncation bound (absolute).", lo=-100, hi=100, optional=True, group=_P),
    FieldSpec("bias", "choice", "zeros", "Bias init", "How biases start (zeros is the Keras and textbook default).",
              choices=BIASES),
    FieldSpec("bias_value", "float", 0.1, "Bias value / std",
              "The constant for bias=constant, the standard deviation for bias=random_normal.", lo=-100, hi=100),
    FieldSpec("inputs", "choice", "standard", "Inputs",
              "standard: N(0,1) features; minmax: U[0,1]; raw: U[0,255], like unscaled pixel values.",
              choices=INPUTS, group="data"),
    FieldSpec("loss", "choice", "projection", "Loss",
              "projection: l = r.h with r ~ N(0,1) (unit output gradient); mse: 1/2 ||h - y||^2, y ~ N(0,1).",
              choices=LOSSES, group="data"),
    FieldSpec("shared", "bool", False, "Reuse one matrix",
              "Use the same weight matrix in every layer (the classic fast.ai experiment).", group="network"),
    FieldSpec("lsuv", "bool", False, "LSUV",
              "Layer-sequential unit-variance init (Mishkin & Matas 2016): start from orthogonal weights "
              "(replacing the initializer), then rescale each layer in turn on the input batch until its "
              "pre-activations have variance 1 (within 0.1).", group="network"),
)

FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
INIT_PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.group == _P)


def choices_for(field: FieldSpec) -> tuple[str, ...]:
    """Valid values of a choice field (the registries for ``init`` and ``activation``)."""
    if field.name == "init":
        from initlab import initializers

        return tuple(initializers.names())
    if field.name in ("cmp_inits", "rng_inits"):
        return choices_for(FIELD_BY_NAME["init"])
    if field.name == "activation" or field.name == "cmp_acts":
        from initlab import activations

        return tuple(activations.names())
    assert field.choices is not None
    return field.choices


@dataclass(frozen=True)
class Scenario:
    """Everything that determines one run of the engine; plain values only.

    ``Scenario()`` is the default scenario; ``dataclasses.replace(s, depth=250)`` derives another.
    Call :meth:`validate` (the engine does) to check values against :data:`FIELDS`.
    """

    init: str = "glorot_uniform"
    activation: str = "tanh"
    depth: int = 50
    width: int = 256
    batch: int = 128  # 32768 values per layer: plenty for the statistics, half the time of 256
    seed: int = 0
    dtype: str = "float32"
    mean: float | None = None
    stddev: float | None = None
    minval: float | None = None
    maxval: float | None = None
    value: float | None = None
    scale: float | None = None
    mode: str | None = None
    distribution: str | None = None
    gain: float | None = None
    nonlinearity: str | None = None
    negative_slope: float | None = None
    a: float | None = None
    b: float | None = None
    bias: str = "zeros"
    bias_value: float = 0.1
    inputs: str = "standard"
    loss: str = "projection"
    shared: bool = False
    lsuv: bool = False

    def init_params(self) -> dict[str, Any]:
        """The initializer parameters set in this scenario (non-None) that ``self.init`` accepts."""
        from initlab import initializers

        accepted = initializers.spec(self.init).params
        return {k: getattr(self, k) for k in INIT_PARAM_NAMES if k in accepted and getattr(self, k) is not None}

    def validate(self) -> "Scenario":
        """Raise ``ValueError`` naming the first field whose value is outside the schema; return self."""
        for f in FIELDS:
            check_value(f, getattr(self, f.name))
        # Unused initializer parameters are harmless but must still be in range (checked above); the
        # used ones must also satisfy the initializer's own rules (minval <= maxval, ...).
        from initlab import initializers

        initializers.get(self.init, **self.init_params())
        return self

    def changes(self) -> dict[str, Any]:
        """Fields that differ from the defaults, in schema order (what a share link carries)."""
        base = Scenario()
        return {f.name: getattr(self, f.name) for f in FIELDS if getattr(self, f.name) != getattr(base, f.name)}

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class View:
    """What the pages show besides the engine's scenario: comparison set and weight-range settings.

    Kept apart from :class:`Scenario` so that changing the view never invalidates the engine cache.
    """

    which: str = "act"
    cmp_by: str = "init"
    cmp_inits: tuple[str, ...] = ("glorot_uniform", "he_normal", "random_normal")
    cmp_acts: tuple[str, ...] = ("tanh", "relu", "sigmoid")
    rng_inits: tuple[str, ...] = ("xavier_heuristic", "glorot_uniform", "torch_kaiming_normal")
    rng_n: int = 100
    rng_m: int = 0

    def replace(self, **changes: Any) -> "View":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


VIEW_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("which", "choice", "act", "Show values of",
              "act: activations h = f(z), after the nonlinearity; pre: pre-activations z = hW + b.",
              choices=("act", "pre"), group="view"),
    FieldSpec("cmp_by", "choice", "init", "Compare", "Compare initializers or activations.",
              choices=("init", "activation"), group="view"),
    FieldSpec("cmp_inits", "list", View.cmp_inits, "Initializers to compare", "Two to four initializers.",
              lo=2, hi=4, group="view"),
    FieldSpec("cmp_acts", "list", View.cmp_acts, "Activations to compare", "Two to four activations.",
              lo=2, hi=4, group="view"),
    FieldSpec("rng_inits", "list", View.rng_inits, "Initializers", "Initializers whose ranges are drawn.",
              lo=1, hi=6, group="view"),
    FieldSpec("rng_n", "int", 100, "Up to n inputs", "Largest number of inputs on the x axis.", lo=2, hi=500,
              group="view"),
    FieldSpec("rng_m", "int", 0, "Fan-out m", "Number of outputs; 0 ties it to the number of inputs (m = n).",
              lo=0, hi=1000, group="view"),
)
ALL_FIELDS: tuple[FieldSpec, ...] = FIELDS + VIEW_FIELDS
FIELD_BY_NAME.update({f.name: f for f in VIEW_FIELDS})


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
            raise ValueError(f"{field.name} must be {field.lo:g} to {field.hi:g} distinct values from "
                             f"{', '.join(valid)}; received {value!r}")
        return
    if field.kind == "choice":
        valid = choices_for(field)
        if value not in valid:
            raise ValueError(f"{field.name} must be one of {', '.join(valid)}; received {value!r}")
        return
    if field.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{field.name} must be a whole number; received {value!r}")
    if field.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{field.name} must be a number; received {value!r}")
    if isinstance(value, float) and not math.isfinite(value):  # ints are finite (and may exceed a float)
        raise ValueError(f"{field.name} must be finite; received {value!r}")
    if field.lo is not None and value < field.lo or field.hi is not None and value > field.hi:
        raise ValueError(f"{field.name} must be in [{field.lo:g}, {field.hi:g}]; received {value!r}")


def itemsize(s: Scenario) -> int:
    """Bytes per value in the scenario's dtype."""
    return 4 if s.dtype == "float32" else 8


def estimate_bytes(s: Scenario) -> int:
    """Upper bound of the engine's peak memory for ``s`` in bytes.

    The engine keeps, per layer, one (batch, width) array for the backward pass and the weight matrix
    (width, width) unless ``shared`` (LSUV rescales each layer's copy of a shared matrix, so with
    ``lsuv`` every layer has its own); on top of that a handful of (batch, width) temporaries, the
    per-layer samples and the statistics (small). The bound is checked against measured peaks in
    ``benchmarks/bench_propagate.py``.
    """
    bw = s.batch * s.width
    mats = 1 if s.shared and not s.lsuv else s.depth
    values = s.depth * bw + mats * s.width * s.width + 10 * bw + s.depth * 2 * 4096
    return values * itemsize(s) + 2_000_000


def estimate_macs(s: Scenario) -> float:
    """Multiply-accumulates of the forward pass: depth x batch x width^2 (backward costs 2x this).

    With ``lsuv`` the LSUV stage's own forward pass over the batch counts too (2x).
    """
    return float(s.depth) * s.batch * s.width * s.width * (2.0 if s.lsuv else 1.0)


def check_budget(s: Scenario) -> None:
    """Raise :class:`BudgetError` if ``s`` would exceed the per-request memory or compute budget."""
    need = estimate_bytes(s)
    if need > MAX_BYTES:
        raise BudgetError(
            f"depth {s.depth} x width {s.width} x batch {s.batch} in {s.dtype} needs about {need / 1e6:.0f} MB, "
            f"over the {MAX_BYTES / 1e6:.0f} MB budget of one scenario: reduce depth, width or batch"
            + (", or use float32." if s.dtype == "float64" else ".")
        )
    macs = estimate_macs(s)
    if macs > MAX_MACS:
        raise BudgetError(
            f"depth {s.depth} x batch {s.batch} x width {s.width}^2 = {macs:.2g} multiply-adds per pass, over the "
            f"{MAX_MACS:.2g} budget of one scenario: reduce depth, width or batch."
        )


def max_depth_within_budget(s: Scenario) -> int:
    """The largest depth that keeps ``s`` (its width, batch, dtype) within the budget; 0 if none does."""
    lo, hi = 0, int(FIELD_BY_NAME["depth"].hi or 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            check_budget(dataclasses.replace(s, depth=mid))
            lo = mid
        except BudgetError:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------------------------------
# Share links: Scenario <-> URL query parameters
# ---------------------------------------------------------------------------------------------------
# Rules: a link carries the schema version ``v``, optionally ``preset``, and only the fields that differ
# from the base (the preset's scenario, else the defaults), under their schema names. A retired name is
# never reused; a change of meaning bumps SCHEMA_VERSION and adds a migration below. Decoding never
# raises and never guesses silently: every ignored, clamped or replaced value yields a Notice.

SCHEMA_VERSION = 1
# Older link versions -> function rewriting their params into the next version's (none retired yet).
MIGRATIONS: dict[int, Any] = {}
# Keys that are not scenario fields but belong to the link: version, preset, the active tab (bound to
# Streamlit's tabs widget), and a teacher's lesson options. Streamlit's own embed keys pass untouched.
LINK_KEYS = ("v", "preset", "tab", "hide", "lock")
# Controls a lesson link may hide or lock: the sidebar's (every scenario field and the preset picker).
LESSON_CONTROLS = ("preset", *(f.name for f in FIELDS))
STREAMLIT_KEYS = ("embed", "embed_options")
# Longer values are refused unread: no link can make the parser work hard. It must exceed the longest
# valid value: a list of 6 registry names (rng_inits) takes up to ~130 characters.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE | re.ASCII)
MAX_RAW_LENGTH = 200


@dataclass(frozen=True)
class Notice:
    """One parameter of a link that was not taken as written, and what was done instead."""

    key: str
    message: str


@dataclass(frozen=True)
class LinkState:
    """What a link decodes to: the scenario, its preset, the lesson options and the notices."""

    scenario: Scenario
    view: View = View()
    preset: str | None = None
    tab: str | None = None
    hide: frozenset[str] = frozenset()
    lock: frozenset[str] = frozenset()
    notices: tuple[Notice, ...] = ()


def format_value(field: FieldSpec, value: Any) -> str:
    """The URL form of a field value (``repr`` for floats: the shortest string that round-trips)."""
    if value is None:
        return ""
    if field.kind == "bool":
        return "1" if value else "0"
    if field.kind == "list":
        return ",".join(value)
    if field.kind == "float":
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(value)


def parse_value(field: FieldSpec, raw: str) -> tuple[Any, str | None]:
    """Parse one URL value for ``field``: ``(value, None)`` if taken as is, ``(value, why)`` if clamped.

    Raises ``ValueError`` with a reason a student can read when the value cannot be used at all.
    """
    text = raw.strip()
    if len(text) > MAX_RAW_LENGTH:
        raise ValueError(f"is {len(text)} characters long (at most {MAX_RAW_LENGTH})")
    if text == "":
        if field.optional:
            return None, None
        raise ValueError("is empty")
    if field.kind == "bool":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True, None
        if low in ("0", "false", "no", "off"):
            return False, None
        raise ValueError(f"'{_show(text)}' is not true/false (use 1 or 0)")
    if field.kind == "list":
        valid = choices_for(field)
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in valid]
        kept = tuple(dict.fromkeys(t for t in items if t in valid))[: int(field.hi or 99)]
        if len(kept) < (field.lo or 0):
            raise ValueError(f"needs at least {field.lo:g} known names from: {', '.join(valid)}")
        why = None
        if bad or len(kept) < len(items):
            why = f"kept {', '.join(kept)}" + (f"; unknown {', '.join(_show(b) for b in bad)} dropped" if bad else "")
        return kept, why
    if field.kind == "choice":
        valid = choices_for(field)
        if text in valid:
            return text, None
        raise ValueError(f"'{_show(text)}' is not one of: {', '.join(valid)}")
    if not _NUMBER.fullmatch(text):  # float() would also take "1_000", "٣" and " 1 "
        raise ValueError(f"'{_show(text)}' is not a number")
    num = float(text)
    if not math.isfinite(num):
        raise ValueError(f"'{_show(text)}' is not a finite number")
    if field.kind == "int":
        if not num.is_integer():
            raise ValueError(f"'{_show(text)}' is not a whole number")
    lo, hi = field.lo, field.hi
    why = None
    if lo is not None and num < lo:
        why, num = f"{_show(text)} is below the minimum {lo:g}: clamped to {lo:g}", lo
    elif hi is not None and num > hi:
        why, num = f"{_show(text)} is above the maximum {hi:g}: clamped to {hi:g}", hi
    return (int(num) if field.kind == "int" else float(num)), why


def _show(text: str) -> str:
    """A raw value made safe to quote in a notice: printable, short, no markup characters."""
    clean = "".join(ch if ch.isprintable() and ch not in "<>`*_[]()#|\\" else "?" for ch in text)
    return clean if len(clean) <= 40 else clean[:37] + "..."


def encode_query(
    s: Scenario,
    view: View | None = None,
    *,
    preset: str | None = None,
    base: Scenario | None = None,
    hide: frozenset[str] | set[str] = frozenset(),
    lock: frozenset[str] | set[str] = frozenset(),
) -> dict[str, str]:
    """The query parameters of a link to ``s``: version, preset, fields that differ from ``base``.

    ``base`` is the preset's scenario when ``preset`` is given (the caller passes it), else the defaults.
    Lesson options ``hide`` / ``lock`` are comma-separated field names in schema order.
    """
    from initlab import initializers

    base = base or Scenario()
    accepted = initializers.spec(s.init).params
    out: dict[str, str] = {"v": str(SCHEMA_VERSION)}
    if preset:
        out["preset"] = preset
    for f in FIELDS:
        value = getattr(s, f.name)
        if f.group == _P and f.name not in accepted:
            continue  # s.init ignores it (decoding resets such parameters to None anyway)
        if value != getattr(base, f.name):
            out[f.name] = format_value(f, value)
    view, base_view = view or View(), View()
    for f in VIEW_FIELDS:
        value = getattr(view, f.name)
        if value != getattr(base_view, f.name):
            out[f.name] = format_value(f, value)
    for key, names in (("hide", hide), ("lock", lock)):
        joined = ",".join(n for n in LESSON_CONTROLS if n in names)
        if joined:
            out[key] = joined
    return out


def decode_query(
    params: Mapping[str, str | Sequence[str]],
    presets: Mapping[str, Scenario],
    tabs: Sequence[str] = (),
) -> LinkState:
    """Decode a link's query parameters; never raises, reports everything not taken as written.

    ``presets`` maps preset names to their scenarios (passed in so the schema does not depend on the
    preset module); ``tabs`` are the valid values of ``tab``. Invalid values fall back to the base
    (the preset's value, else the default); out-of-range numbers are clamped; a scenario over budget
    gets its depth reduced. Each such decision adds a :class:`Notice`.
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
            note(key, f"`{_show(key)}` appears {len(values)} times; the last value is used")
        raw[key] = values[-1]

    version = raw.pop("v", None)
    if version is not None:
        try:
            v = int(version)
        except ValueError:
            v = SCHEMA_VERSION
            note("v", f"link version '{_show(version)}' is not a number; read as version {SCHEMA_VERSION}")
        if v < 1:  # no such version; also keeps the migration loop below from running ~forever
            note("v", f"link version '{_show(version)}' does not exist; read as version {SCHEMA_VERSION}")
            v = SCHEMA_VERSION
        if v > SCHEMA_VERSION:
            note("v", f"link version {_show(version)} is newer than this initlab ({SCHEMA_VERSION}); read as "
                      f"version {SCHEMA_VERSION}, so some settings may be lost")
        while v < SCHEMA_VERSION:
            if v in MIGRATIONS:
                raw = MIGRATIONS[v](raw)
            v += 1

    preset = raw.pop("preset", None)
    base = Scenario()
    if preset is not None:
        if preset in presets:
            base = presets[preset]
        else:
            note("preset", f"unknown preset '{_show(preset)}' ignored; valid presets: {', '.join(presets)}")
            preset = None

    tab = raw.pop("tab", None)
    if tab is not None and tabs and tab not in tabs:
        note("tab", f"unknown tab '{_show(tab)}' ignored; tabs: {', '.join(tabs)}")
        tab = None

    lesson: dict[str, frozenset[str]] = {}
    for key in ("hide", "lock"):
        names = [n.strip() for n in raw.pop(key, "").split(",") if n.strip()]
        bad = [n for n in names if n not in LESSON_CONTROLS]
        if bad:
            shown = ", ".join(_show(b) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            note(key, f"{key}: unknown control(s) {shown} ignored (controls: {', '.join(LESSON_CONTROLS)})")
        lesson[key] = frozenset(n for n in names if n in LESSON_CONTROLS)

    values: dict[str, Any] = {}
    view_values: dict[str, Any] = {}
    for key, text in raw.items():
        if key in STREAMLIT_KEYS:
            continue
        field = FIELD_BY_NAME.get(key)
        if field is None:
            note(key, f"unknown parameter `{_show(key)}` ignored")
            continue
        try:
            value, why = parse_value(field, text)
        except ValueError as exc:
            default = getattr(base, key) if field.group != "view" else getattr(View(), key)
            shown = format_value(field, default) or "the initializer's default"
            note(key, f"{key}: {exc}; using {shown}")
            continue
        if why:
            note(key, f"{key}: {why}")
        (view_values if field.group == "view" else values)[key] = value

    s, more = repair(dataclasses.replace(base, **values), base, set(values))
    notices.extend(more)
    view = dataclasses.replace(View(), **view_values)
    return LinkState(s, view, preset, tab, lesson["hide"], lesson["lock"], tuple(notices))


def repair(s: Scenario, base: Scenario | None = None, given: set[str] | None = None) -> tuple[Scenario, list[Notice]]:
    """Fix cross-field problems (parameters the initializer rejects or ignores, budget), with notices.

    ``given`` names the fields a link set explicitly (only those are reported as ignored); the UI calls
    this with the defaults for every run, so a scenario built from widgets can never reach the engine
    invalid or over budget.
    """
    base = base or Scenario()
    given = set(INIT_PARAM_NAMES) if given is None else given
    from initlab import initializers

    notices: list[Notice] = []
    accepted = initializers.spec(s.init).params
    unused = [k for k in INIT_PARAM_NAMES if k in given and k not in accepted and getattr(s, k) is not None]
    if unused:
        notices.append(Notice(unused[0], f"{', '.join(unused)} ignored: {s.init} has no such parameter"))
    # Parameters the initializer does not take are None, whoever set them (a link, or a preset made for
    # another initializer): one scenario has one form, so the page and the link always compare equal.
    s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES if k not in accepted})
    try:
        initializers.get(s.init, **s.init_params())
    except ValueError as exc:
        # Back to the base's parameters (the preset's), else to the initializer's own defaults.
        s = dataclasses.replace(s, **{k: getattr(base, k) for k in INIT_PARAM_NAMES})
        try:
            initializers.get(s.init, **s.init_params())
            whose = "the preset's values" if base != Scenario() else f"the defaults of {s.init}"
        except ValueError:
            s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES})
            whose = f"the defaults of {s.init}"
        notices.append(Notice("init", f"{exc}; using {whose}"))
        s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES if k not in accepted})
    try:
        check_budget(s)
    except BudgetError as exc:
        depth = max_depth_within_budget(s)
        notices.append(Notice("depth", f"{exc} Depth reduced to {depth}."))
        s = dataclasses.replace(s, depth=max(depth, 1))
    return s, notices
