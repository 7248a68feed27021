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
from typing import Any, Self

from initlab.weights.biases import NAMES as BIASES, WITHOUT_VALUE as BIASES_WITHOUT_VALUE  # noqa: F401 - re-exported
from initlab.numerics.names import nearest
from initlab.weights.initializers import DENSE_NONLINEARITIES, DISTRIBUTIONS, MODES
from initlab.schema import (  # noqa: F401 - re-exported: the schema machinery used to live here
    MAX_RAW_LENGTH,
    FieldSpec,
    Kind,
    Notice,
    Section,
    Settings,
    check_value,
    choice_error,
    choices_for,
    dataclass_of,
    deferred_checks,
    format_value,
    over_limit,
    parse_value,
)


class BudgetError(ValueError):
    """A scenario that would cost more memory or compute than one request may use.

    ``limit`` names the limit that binds: ``"memory"`` or ``"computation"``.
    """

    def __init__(self, message: str, limit: str = "memory") -> None:
        super().__init__(message)
        self.limit = limit


# Loss at the output, per example b (L is the batch mean of these):
#   projection: l_b = r_b . h_L[b], r_b ~ N(0, I) fixed by the seed, so dl_b/dh_L = r_b: the backward
#               signal starts with unit variance whatever the forward pass did, which isolates what the
#               layers do to gradients (the setting of Schoenholz et al. 2017 and most init analyses).
#   mse:        l_b = 1/2 ||h_L[b] - y_b||^2, y_b ~ N(0, I): a realistic regression loss whose gradient
#               also carries the forward explosion (h_L - y).
LOSSES = ("projection", "mse")
# Input batches: standardised N(0,1) features; min-max scaled U[0,1]; raw U[0,255] like unscaled pixels.
INPUTS = ("standard", "minmax", "raw")
DTYPES = ("float32", "float64")
# The network's blocks (see initlab.signal.blocks for the formulas).
BLOCKS = ("plain", "residual")
NORMS = ("none", "batch", "layer")
NORM_NAMES = {"none": "no norm", "batch": "BatchNorm", "layer": "LayerNorm"}  # as the pages write them
NORM_POSITIONS = ("pre", "post")
# How the residual branch's scale alpha is set: the number residual_scale; 1/sqrt(depth) (GPT-2's
# 1/sqrt(2 n_layer) with one branch per block); Fixup (Zhang et al. 2019: alpha 1, each branch's last
# layer zero and its first scaled by depth^(-1/2)).
RESIDUAL_RULES = ("fixed", "inv_sqrt_depth", "fixup")

# Hard caps per request. The classic experiments (250 layers x 512 units x batch 256) fit in both
# dtypes; the memory estimate below is an upper bound of the engine's peak and stays under 1 GB.
MAX_BYTES = 950_000_000
MAX_MACS = 2.0e10  # multiply-accumulates of the forward pass (the backward pass costs twice that)

_P = "init"  # group name of initializer parameters

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("init", "choice", "glorot_uniform", "Initializer",
              "How every weight matrix is drawn (Keras names; classic and PyTorch schemes under their own names).",
              registry="init"),
    FieldSpec("activation", "choice", "tanh", "Activation", "Nonlinearity applied after every layer.",
              registry="activation"),
    FieldSpec("depth", "int", 50, "Depth (layers)", "Number of dense layers (of residual blocks with a residual "
              "network).", lo=1, hi=1000, widget="slider"),
    FieldSpec("width", "int", 256, "Width (units)", "Units per layer; the input has the same width.", lo=1, hi=2048,
              widget="slider"),
    # 128 examples: 32768 values per layer, plenty for the statistics, half the time of 256.
    FieldSpec("batch", "int", 128, "Batch size", "Number of input examples pushed through the network.", lo=1, hi=4096,
              widget="slider"),
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
              choices=DENSE_NONLINEARITIES, optional=True, group=_P),
    FieldSpec("negative_slope", "float", None, "negative_slope", "Leaky ReLU slope for PyTorch's gain.", lo=0, hi=1,
              optional=True, group=_P),
    FieldSpec("a", "float", None, "a", "Lower truncation bound (absolute).", lo=-100, hi=100, optional=True, group=_P),
    FieldSpec("b", "float", None, "b", "Upper truncation bound (absolute).", lo=-100, hi=100, optional=True, group=_P),
    FieldSpec("bias", "choice", "zeros", "Bias init",
              "How biases start: zeros (the Keras and textbook default), constant, random_normal, or torch_linear: "
              "U[-1/sqrt(n), 1/sqrt(n)] with n inputs, PyTorch's nn.Linear default.",
              choices=BIASES),
    FieldSpec("bias_value", "float", 0.1, "Bias value / std",
              "The constant for bias=constant, the standard deviation for bias=random_normal (not used by zeros "
              "and torch_linear).", lo=-100, hi=100),
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
    FieldSpec("block", "choice", "plain", "Block",
              "plain: every layer is Linear -> (Norm) -> f. residual: every block adds a branch to an identity "
              "path, h_l = h_(l-1) + alpha B(h_(l-1)) (He et al. 2016); depth counts blocks.",
              choices=BLOCKS, group="architecture"),
    FieldSpec("norm", "choice", "none", "Normalization",
              "batch: each unit normalised over the batch (batch statistics, as at the first training step; "
              "Ioffe & Szegedy 2015). layer: each example over the units (Ba et al. 2016). gamma = 1, beta = 0.",
              choices=NORMS, group="architecture"),
    FieldSpec("norm_position", "choice", "pre", "Norm position",
              "Residual blocks: pre, h_l = h_(l-1) + alpha B(h_(l-1)) with B(x) = f(N(x)) W + b (pre-activation "
              "ResNet, pre-LN Transformer: the identity path is never normalised); post, h_l = N(h_(l-1) + "
              "alpha B(h_(l-1))) with B(x) = f(x W + b) (post-LN Transformer).",
              choices=NORM_POSITIONS, group="architecture"),
    FieldSpec("branch_layers", "int", 1, "Layers per branch",
              "Weight layers in each residual branch: 1, or 2 (pre: f(N(f(N(x)) W1 + b1)) W2 + b2; post: "
              "f(x W1 + b1) W2 + b2).", lo=1, hi=2, group="architecture"),
    FieldSpec("residual_rule", "choice", "fixed", "Branch scale",
              "fixed: alpha = residual_scale (1: the plain ResNet; 0: ReZero and SkipInit, which start the "
              "network as the identity). inv_sqrt_depth: alpha = 1/sqrt(depth) (GPT-2's 1/sqrt(2 n_layer), "
              "one branch per block here). fixup (two layers per branch, Zhang et al. 2019): alpha = 1, the "
              "branch's last layer zero, its first scaled by depth^(-1/2).",
              choices=RESIDUAL_RULES, group="architecture"),
    FieldSpec("residual_scale", "float", 1.0, "alpha", "The branch scale alpha when the rule is fixed.",
              lo=0, hi=10, group="architecture"),
    FieldSpec("norm_eps", "float", 1e-3, "Norm epsilon",
              "Added to the variance before the square root: Keras' default 1e-3 (BatchNormalization, "
              "LayerNormalization); PyTorch's is 1e-5.", lo=0, hi=1, group="architecture"),
)

FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
INIT_PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS if f.group == _P)
ARCHITECTURE_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.group == "architecture")


class InitParams(Settings):
    """What every scenario with an initializer (``init`` and the Keras-named parameters of
    :data:`INIT_PARAM_NAMES`) and a schema (``SCHEMA``) can say about itself, and how it changes."""

    def init_params(self) -> dict[str, Any]:
        """The initializer parameters set here (non-None) that ``self.init`` accepts."""
        from initlab.weights import initializers

        accepted = initializers.spec(self.init).params  # type: ignore[attr-defined]
        return {k: getattr(self, k) for k in INIT_PARAM_NAMES if k in accepted and getattr(self, k) is not None}

    def check_arguments(self) -> None:
        """What the constructor checks (as Keras's initializers do): every field against the schema, a name
        not among a choice field's choices with the nearest valid one (``init='xavier': unknown
        initializer; did you mean 'glorot_uniform'?``), and a parameter the initializer does not take
        (``he_normal takes no parameter 'stddev' (it takes none)``), which would otherwise be silently
        ignored while ``scenario.stddev`` still read 0.5. A parameter left at its schema default counts as
        not given (training's default ``nonlinearity='relu'`` belongs to its default initializer).
        ``ValueError`` for all of these; the rules between parameters (minval <= maxval) are
        :meth:`validate`'s. The app builds its scenarios under :func:`initlab.schema.deferred_checks`
        and drops such parameters with a notice (:func:`repair_init`)."""
        for f in self.SCHEMA:
            value = getattr(self, f.name)
            if f.kind == "choice" and isinstance(value, str) and value not in choices_for(f):
                raise ValueError(choice_error(f, value))
            check_value(f, value)
        from initlab.weights import initializers

        accepted = initializers.spec(self.init).params  # type: ignore[attr-defined]
        for f in self.SCHEMA:
            value = getattr(self, f.name)
            if f.name in INIT_PARAM_NAMES and f.name not in accepted and value is not None and value != f.default:
                raise ValueError(_not_taken(self.init, f.name, tuple(accepted)))  # type: ignore[attr-defined]

    def brief(self) -> str:
        """``Scenario(init='random_normal', stddev=1.0, activation='linear', depth=250)``: the initializer
        (with its parameters) and the activation, then only the fields that differ from the defaults.
        Evaluates back to an equal scenario; the full ``repr`` lists all ~30 fields."""
        changed = self.changes()
        # The initializer with its parameters, the activation, then the rest in schema order.
        order = ["init", *INIT_PARAM_NAMES, "activation"] + [f.name for f in self.SCHEMA]
        shown = {k: getattr(self, k) for k in order if k in ("init", "activation") or k in changed}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def validate(self) -> Self:
        """Raise ``ValueError`` naming the first field whose value is outside the schema, a parameter the
        initializer does not take or rejects (minval > maxval, ...), or a network that cannot be built
        (:meth:`architecture_problems`); return self. The engine calls it: a
        scenario built under :func:`initlab.schema.deferred_checks` is checked here too."""
        self.check_arguments()
        from initlab.weights import initializers

        initializers.get(self.init, **self.init_params())  # type: ignore[attr-defined]
        for name, why in self.architecture_problems().items():
            raise ValueError(f"{name}={getattr(self, name)!r}: {why}")
        return self

    def architecture_problems(self) -> dict[str, str]:
        """Requests that cannot be built, by field, with the reason (none here; a network's own rules)."""
        return {}

    def with_init(self, init: str, **params: Any) -> Self:
        """A copy with initializer ``init`` and exactly ``params`` (every other initializer parameter None)."""
        cleared: dict[str, Any] = {k: None for k in INIT_PARAM_NAMES}
        cleared.update(params)
        return dataclasses.replace(self, init=init, **cleared)  # type: ignore[type-var]


def _not_taken(init: str, name: str, accepted: tuple[str, ...]) -> str:
    """``he_normal takes no parameter 'stddev' (it takes none); stddev is a parameter of random_normal, ...``"""
    from initlab.weights import initializers

    takes = f"it takes: {', '.join(accepted)}" if accepted else "it takes none"
    near = nearest(name, accepted)
    owners = [n for n in initializers.names() if name in initializers.spec(n).params]
    return (f"{init} takes no parameter {name!r} ({takes})" + (f"; did you mean {near!r}?" if near else "")
            + (f"; {name} is a parameter of {', '.join(owners)}" if owners else "")
            + " (to switch initializer: .with_init(name, **params))")


@dataclass_of(FIELDS)
class Scenario(InitParams):
    """Everything that determines one run of the engine; plain values only.

    Its fields are :data:`FIELDS`, in order, each with its default there (see
    :func:`initlab.schema.dataclass_of`). ``Scenario()`` is the default scenario; ``s.replace(depth=250)``
    derives another. Call :meth:`validate` (the engine does) to check values against :data:`FIELDS`.
    """

    @property
    def residual(self) -> bool:
        """Residual blocks (``block="residual"``), not plain layers."""
        return self.block == "residual"  # type: ignore[attr-defined]

    @property
    def layers_per_block(self) -> int:
        """Weight layers per block: ``branch_layers`` in a residual network, 1 in a plain one."""
        return self.branch_layers if self.residual else 1  # type: ignore[attr-defined]

    @property
    def plain_mlp(self) -> bool:
        """The classic network every page was written for: plain layers, no normalization."""
        return not self.residual and self.norm == "none"  # type: ignore[attr-defined]

    def alpha(self) -> float:
        """The residual branch scale alpha at initialization: ``residual_scale`` (rule ``fixed``),
        1/sqrt(depth) (``inv_sqrt_depth``) or 1 (``fixup``, whose scaling is in the weights)."""
        rule = self.residual_rule  # type: ignore[attr-defined]
        if rule == "inv_sqrt_depth":
            return 1.0 / float(self.depth) ** 0.5  # type: ignore[attr-defined]
        return 1.0 if rule == "fixup" else float(self.residual_scale)  # type: ignore[attr-defined]

    def architecture_problems(self) -> dict[str, str]:
        """Requests that cannot be built, by field, with the reason (empty when there is none)."""
        out: dict[str, str] = {}
        if self.norm == "layer" and self.width == 1:  # type: ignore[attr-defined]
            out["norm"] = "a LayerNorm over 1 unit always outputs 0 (each example minus its own mean)"
        if self.norm == "batch" and self.batch == 1:  # type: ignore[attr-defined]
            out["norm"] = "a BatchNorm over a batch of 1 always outputs 0 (each unit minus its batch mean)"
        if self.residual and self.residual_rule == "fixup" and self.branch_layers != 2:  # type: ignore[attr-defined]
            out["branch_layers"] = "Fixup is defined for branches of two layers (the last one starts at zero)"
        if self.lsuv and not self.plain_mlp:  # type: ignore[attr-defined]
            out["lsuv"] = "LSUV rescales plain layers one after the other; it is not defined for residual or normalised blocks"
        return out



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
    layers = s.depth * s.layers_per_block
    mats = 1 if s.shared and not s.lsuv else layers
    # Arrays kept per block for the backward pass: the output (plain MLP); with norms or residual blocks
    # also what each activation and norm saw (initlab.signal.blocks: at most 1 + branch_layers).
    kept = 1 if s.plain_mlp else 1 + s.layers_per_block
    # A norm's overflow-safe form (initlab.signal.blocks.normalize) holds a few more temporaries.
    temporaries = 10 if s.plain_mlp else 16
    values = s.depth * kept * bw + mats * s.width * s.width + temporaries * bw + s.depth * 2 * 4096
    return values * itemsize(s) + 2_000_000


def estimate_macs(s: Scenario) -> float:
    """Multiply-accumulates of the forward pass: weight layers x batch x width^2 (backward costs 2x this);
    a residual block has ``branch_layers`` weight layers.

    With ``lsuv`` the LSUV stage's own forward pass over the batch counts too (2x).
    """
    return float(s.depth * s.layers_per_block) * s.batch * s.width * s.width * (2.0 if s.lsuv else 1.0)


def check_budget(s: Scenario, *, max_bytes: float | None = MAX_BYTES, max_macs: float | None = MAX_MACS) -> None:
    """Raise :class:`BudgetError` if ``s`` would need more than ``max_bytes`` of memory
    (:func:`estimate_bytes`) or ``max_macs`` multiply-adds per pass (:func:`estimate_macs`); None lifts a limit.

    The defaults are the server's per-request budget (:data:`MAX_BYTES`, :data:`MAX_MACS`), which the app's
    repair applies. The message says which limit binds, in plain words (memory first: it is the one that
    can take the server down); ``BudgetError.limit`` is ``"memory"`` or ``"computation"``.
    """
    need = estimate_bytes(s)
    what = (f"{s.depth} layers" if not s.residual else
            f"{s.depth} blocks ({s.depth * s.layers_per_block} weight layers)")
    if max_bytes is not None and need > max_bytes:
        raise BudgetError(
            f"{what} of {s.width} units with {s.batch} examples in {s.dtype} would need about "
            f"{_mb(need)} of memory, more than the {_mb(max_bytes)} one scenario may use: use fewer layers, "
            "units or examples" + (", or float32." if s.dtype == "float64" else "."), "memory")
    macs = estimate_macs(s)
    if max_macs is not None and macs > max_macs:
        need, most = over_limit(macs, max_macs)
        raise BudgetError(
            f"{what} of {s.width} units with {s.batch} examples would need {need} multiply-adds "
            f"per pass, more computation than the {most} one scenario may use (several seconds of the "
            "server's time): use fewer layers, units or examples.", "computation")


def _mb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


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


def repair_init(s: Any, base: Any, default: Any, key: str) -> tuple[Any, list[Notice]]:
    """The initializer parameters of ``s`` (a Scenario or a TrainScenario) made valid, with a notice.

    Parameters the initializer does not take become None, whoever set them (a link, or a preset made
    for another initializer): one scenario has one form, so the page and the link always compare
    equal. Parameters the initializer rejects (minval > maxval...) go back to ``base``'s (the preset's),
    else to the initializer's own defaults; the notice, under ``key``, says which.
    """
    with deferred_checks():  # ``s`` and the values tried below may hold parameters s.init does not take
        return _repair_init(s, base, default, key)


def _repair_init(s: Any, base: Any, default: Any, key: str) -> tuple[Any, list[Notice]]:
    from initlab.weights import initializers

    notices: list[Notice] = []
    accepted = initializers.spec(s.init).params
    s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES if k not in accepted})
    try:
        initializers.get(s.init, **s.init_params())
    except ValueError as exc:
        s = dataclasses.replace(s, **{k: getattr(base, k) for k in INIT_PARAM_NAMES})
        try:
            initializers.get(s.init, **s.init_params())
            whose = "the preset's values" if base != default else f"the defaults of {s.init}"
        except ValueError:
            s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES})
            whose = f"the defaults of {s.init}"
        notices.append(Notice(key, f"{exc}; using {whose}"))
        s = dataclasses.replace(s, **{k: None for k in INIT_PARAM_NAMES if k not in accepted})
    return s, notices


def repair(s: Scenario, base: Scenario | None = None, given: set[str] | None = None) -> tuple[Scenario, list[Notice]]:
    """Fix cross-field problems (parameters the initializer rejects or ignores, budget), with notices.

    Parameters the initializer does not take become None (the codec reports a link that set one: see
    :func:`irrelevant`). ``given`` is kept for the :class:`~initlab.schema.Section` hook signature. The UI
    calls this for every run, so a scenario built from widgets never reaches the engine invalid or over
    budget.
    """
    base = base or Scenario()
    s, notices = repair_init(s, base, Scenario(), "init")
    s, more = repair_architecture(s)
    notices += more
    try:
        check_budget(s)
    except BudgetError as exc:
        depth = max(max_depth_within_budget(s), 1)
        # The limit that stops the depth where it is: the one one more layer would break (the limit
        # broken at the requested depth may be another: memory is checked first).
        binding = exc
        try:
            check_budget(dataclasses.replace(s, depth=depth + 1))
        except BudgetError as at_next:
            binding = at_next
        notices.append(Notice("depth", f"Depth reduced from {s.depth} to {depth}, the most that fits the "
                                       f"{binding.limit} limit: {exc}"))
        s = dataclasses.replace(s, depth=depth)
    return s, notices


# What an impossible architecture falls back to, by the field that names the problem.
_ARCHITECTURE_FALLBACK: dict[str, tuple[Any, str]] = {
    "norm": ("none", "no normalization"),
    "branch_layers": (2, "2 layers per branch"),
    "lsuv": (False, "the initializer's own weights, without LSUV"),
}


def repair_architecture(s: Scenario) -> tuple[Scenario, list[Notice]]:
    """A network that can be built (:meth:`Scenario.architecture_problems`), with a notice per change."""
    notices = []
    for name, why in s.architecture_problems().items():
        value, words = _ARCHITECTURE_FALLBACK[name]
        notices.append(Notice(name, f"{name}={format_value(FIELD_BY_NAME[name], getattr(s, name))} cannot be "
                                    f"built here: {why}. Using {words}."))
        s = dataclasses.replace(s, **{name: value})
    # Fields that mean nothing for this network go back to their defaults (as repair_init does for the
    # initializer's parameters): one network has one form, so the page and its link compare equal.
    unused = {k: FIELD_BY_NAME[k].default for k in irrelevant(s) if k in ARCHITECTURE_FIELDS}
    return dataclasses.replace(s, **unused), notices


def irrelevant(s: Scenario) -> dict[str, str]:
    """Fields that mean nothing for ``s``, with the reason: the parameters its initializer does not take.

    A link that sets one is told so whatever the value it gave (even an unparsable one), and a link to
    ``s`` never carries one.
    """
    from initlab.weights import initializers

    out: dict[str, str] = {}
    if not s.residual:
        out.update({k: "a plain network has no residual branch" for k in
                    ("norm_position", "branch_layers", "residual_rule", "residual_scale")})
    elif s.residual_rule != "fixed":
        out["residual_scale"] = f"the rule {s.residual_rule} sets alpha"
    if s.norm == "none":
        out["norm_eps"] = "there is no normalization"
    if s.init not in initializers.names():
        return out
    accepted = initializers.spec(s.init).params
    out.update({k: f"{s.init} has no such parameter" for k in INIT_PARAM_NAMES if k not in accepted})
    return out


NET = Section("net", Scenario, FIELDS, repair=lambda s, base, given: repair(s, base, given), irrelevant=irrelevant)
"""The sidebar's section: the network scenario every computing page reads."""
