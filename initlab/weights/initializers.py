"""Weight initializers for a dense kernel of shape ``(fan_in, fan_out)`` (Keras layout).

Every scheme resolves, for given fans, to one of six small distributions (constant, uniform,
normal, truncated normal, orthogonal, identity). Those carry the sampling code *and* the
theoretical moments, so ``std()``/``mean()``/``limits()`` can never drift from what
``__call__`` draws. The Keras schemes follow ``keras/src/initializers`` (Keras 3): one
``variance_scaling`` family with the Glorot / He / LeCun presets as fixed settings of it. The
PyTorch schemes follow ``torch.nn.init`` and are expressed through the same family.

Usage::

    init = get("he_normal")
    w = init((fan_in, fan_out), np.random.default_rng(0), dtype=np.float32)
    init.std(fan_in, fan_out), init.mean(fan_in, fan_out), init.limits(fan_in, fan_out)

Only numpy and the standard library are imported (the module runs once per layer, for up to
1000 layers, inside the dashboard's hot loop).

Why one module of ~730 lines: it is the registry, one entry per scheme (Keras and PyTorch), each with
its draw, moments, formula and framework code next to each other; that is the "one home per scheme".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

import numpy as np

from initlab.numerics.names import suggestion

__all__ = [
    "TRUNCATED_NORMAL_STD",
    "LegacyDraws",
    "KERNEL_KINDS",
    "NONLINEARITIES",
    "DENSE_NONLINEARITIES",
    "MODES",
    "DISTRIBUTIONS",
    "DISTRIBUTION_ALIASES",
    "ALIASES",
    "ParamSpec",
    "InitSpec",
    "Initializer",
    "calculate_gain",
    "names",
    "spec",
    "get",
]

# Std of a standard normal truncated to [-2, 2]; Keras divides by it so that the *truncated*
# draw has the variance_scaling target variance. (Hard-coded in Keras; the tests re-derive it.)
TRUNCATED_NORMAL_STD = 0.87962566103423978

# Accepted by torch.nn.init.calculate_gain, in PyTorch's order.
NONLINEARITIES: tuple[str, ...] = (
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
)
_LINEAR_LIKE = frozenset(NONLINEARITIES[:8])
# The ones a dense layer can follow: the conv* entries have gain 1, as linear, and name layers initlab does
# not build, so the scenario does not offer them (calculate_gain and the initializers still accept them).
DENSE_NONLINEARITIES: tuple[str, ...] = tuple(n for n in NONLINEARITIES if not n.startswith("conv"))

# variance_scaling's n (Keras ``mode``); PyTorch's kaiming_* take the first two.
MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg")
# variance_scaling's distributions, and the names accepted for them: Keras reads "normal" as
# truncated_normal (accepted, so Keras-style arguments work, but not offered as a fourth choice).
DISTRIBUTION_ALIASES: dict[str, str] = {"normal": "truncated_normal"}
DISTRIBUTIONS: tuple[str, ...] = ("truncated_normal", "untruncated_normal", "uniform", *DISTRIBUTION_ALIASES)
_MIN_TRUNC_MASS = 1e-3  # below this the rejection sampler could effectively hang
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for a nonlinearity, exactly as ``torch.nn.init.calculate_gain``.

    linear, conv*, sigmoid -> 1; tanh -> 5/3; relu -> sqrt(2);
    leaky_relu -> sqrt(2 / (1 + slope^2)) with slope = 0.01 when ``param`` is None; selu -> 3/4.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool) and math.isfinite(param):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        # PyTorch's value: keeps the input and output gradient scales of SELU comparable.
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; choose one of {list(NONLINEARITIES)}")


# --------------------------------------------------------------------------------------------
# Distributions: sampling + exact moments in one place.
# --------------------------------------------------------------------------------------------

def _phi(x: float) -> float:
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / _SQRT2PI


def _xphi(x: float) -> float:
    return 0.0 if math.isinf(x) else x * _phi(x)


def _normal_mass(alpha: float, beta: float) -> float:
    """P(alpha <= Z <= beta) for Z ~ N(0, 1), using erfc on the tail side to avoid cancellation."""
    if alpha >= 0:
        return 0.5 * (math.erfc(alpha / _SQRT2) - math.erfc(beta / _SQRT2))
    if beta <= 0:
        return 0.5 * (math.erfc(-beta / _SQRT2) - math.erfc(-alpha / _SQRT2))
    return 1.0 - 0.5 * (math.erfc(-alpha / _SQRT2) + math.erfc(beta / _SQRT2))


@dataclass(frozen=True)
class _Constant:
    value: float

    mean = property(lambda self: self.value)
    std = property(lambda self: 0.0)
    limits = property(lambda self: (self.value, self.value))

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        return np.full(shape, self.value, dtype=dtype)


@dataclass(frozen=True)
class _Uniform:
    lo: float
    hi: float

    mean = property(lambda self: 0.5 * (self.lo + self.hi))
    std = property(lambda self: (self.hi - self.lo) / math.sqrt(12.0))
    limits = property(lambda self: (self.lo, self.hi))

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        w = rng.random(shape, dtype=dtype)
        if not math.isfinite(self.hi - self.lo):  # |bounds| near float64 max: avoid inf - inf
            return self.lo * (1.0 - w) + self.hi * w
        w *= self.hi - self.lo  # in place: no float64 temporaries for float32 kernels
        w += self.lo
        return w


@dataclass(frozen=True)
class _Normal:
    loc: float
    scale: float

    mean = property(lambda self: self.loc)
    std = property(lambda self: self.scale)
    limits = property(lambda self: None)

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        w = rng.standard_normal(shape, dtype=dtype)
        w *= self.scale
        w += self.loc
        return w


@dataclass(frozen=True)
class _TruncNormal:
    """N(loc, scale^2) restricted to [lo, hi]; out-of-range draws are redrawn, never rescaled."""

    loc: float
    scale: float
    lo: float
    hi: float
    clip: bool = False  # torch.nn.init.trunc_normal_ clamps to [a, b] at the end; Keras does not

    @property
    def _ab(self) -> tuple[float, float]:
        return (self.lo - self.loc) / self.scale, (self.hi - self.loc) / self.scale

    @property
    def mass(self) -> float:
        return 1.0 if self.scale == 0 else _normal_mass(*self._ab)

    @property
    def mean(self) -> float:
        if self.scale == 0:
            return self.loc
        a, b = self._ab
        return self.loc + self.scale * (_phi(a) - _phi(b)) / self.mass

    @property
    def std(self) -> float:
        if self.scale == 0:
            return 0.0
        a, b = self._ab
        z = self.mass
        m1 = (_phi(a) - _phi(b)) / z
        var = 1.0 + (_xphi(a) - _xphi(b)) / z - m1 * m1
        return self.scale * math.sqrt(max(var, 0.0))

    limits = property(lambda self: (self.lo, self.hi))

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        if self.scale == 0:
            return np.full(shape, self.loc, dtype=dtype)
        a, b = self._ab
        w = _std_trunc_normal(shape, a, b, rng, dtype)
        w *= self.scale
        w += self.loc
        if self.clip:
            np.clip(w, self.lo, self.hi, out=w)
        return w


def _std_trunc_normal(shape: tuple[int, int], a: float, b: float, rng: np.random.Generator,
                      dtype: np.dtype) -> np.ndarray:
    """Standard normal restricted to [a, b] by rejection (no inverse CDF).

    The proposal with the best acceptance rate is used, so a 1e-3-mass interval costs a few
    draws per entry instead of ~1000: the normal itself (acceptance = mass), a uniform on [a, b]
    (narrow intervals), or Robert's (1995, "Simulation of truncated normal variables")
    translated exponential (intervals in one tail).
    """
    mass = _normal_mass(a, b)
    acc_normal = mass
    acc_uniform = mass / ((b - a) * _phi(min(max(0.0, a), b))) if math.isfinite(b - a) else 0.0
    lo_tail = a if a >= 0 else (-b if b <= 0 else math.nan)  # tail interval mirrored to [lo, .)
    lam = 0.5 * (lo_tail + math.sqrt(lo_tail * lo_tail + 4.0))
    acc_exp = lam * math.exp(lam * lo_tail - 0.5 * lam * lam) * _SQRT2PI * mass if lo_tail >= 0 else 0.0

    if acc_normal >= max(acc_uniform, acc_exp):
        # Keras-style: redraw only the out-of-range entries until none remain.
        w = rng.standard_normal(shape, dtype=dtype)
        flat = w.reshape(-1)
        bad = np.flatnonzero((flat < a) | (flat > b))
        while bad.size:
            redraw = rng.standard_normal(bad.size, dtype=dtype)
            flat[bad] = redraw
            bad = bad[(redraw < a) | (redraw > b)]
        return w

    size = math.prod(shape)
    out = np.empty(size, dtype=np.float64)
    filled = 0
    acc = max(acc_uniform, acc_exp)
    while filled < size:
        n = int((size - filled) / acc * 1.1) + 16
        if acc_uniform >= acc_exp:
            x = a + (b - a) * rng.random(n)
            peak = min(max(0.0, a), b)
            keep = rng.random(n) <= np.exp(0.5 * (peak * peak - x * x))
        else:
            hi_tail = b if a >= 0 else -a
            x = lo_tail + rng.standard_exponential(n) / lam
            keep = (x <= hi_tail) & (rng.random(n) <= np.exp(-0.5 * (x - lam) ** 2))
            if a < 0:
                x = -x
        x = x[keep][: size - filled]
        out[filled: filled + x.size] = x
        filled += x.size
    return out.astype(dtype, copy=False).reshape(shape)


@dataclass(frozen=True)
class _Orthogonal:
    gain: float
    rows: int
    cols: int

    mean = property(lambda self: 0.0)
    # Columns (or rows) are orthonormal: sum of squares = gain^2 * min(r, c) over r * c entries.
    std = property(lambda self: self.gain / math.sqrt(max(self.rows, self.cols)))
    limits = property(lambda self: None)

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        # Keras 3 Orthogonal: QR of the tall Gaussian matrix; the sign fix makes Q Haar-distributed
        # (Mezzadri 2007) instead of biased by the QR sign convention.
        a = rng.standard_normal((max(shape), min(shape)), dtype=dtype)
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diagonal(r))
        if shape[0] < shape[1]:
            q = q.T
        q *= self.gain
        return np.ascontiguousarray(q)


@dataclass(frozen=True)
class _Identity:
    gain: float
    rows: int
    cols: int

    @property
    def _frac(self) -> float:  # share of entries on the diagonal
        return min(self.rows, self.cols) / (self.rows * self.cols)

    mean = property(lambda self: self.gain * self._frac)
    std = property(lambda self: self.gain * math.sqrt(self._frac * (1.0 - self._frac)))
    limits = property(lambda self: (self.gain, self.gain) if self._frac == 1.0 else (0.0, self.gain))

    def sample(self, shape: tuple[int, int], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        return self.gain * np.eye(*shape, dtype=dtype)


_Dist = _Constant | _Uniform | _Normal | _TruncNormal | _Orthogonal | _Identity
_KINDS: dict[type, str] = {_Constant: "constant", _Uniform: "uniform", _Normal: "normal",
                           _TruncNormal: "truncated_normal", _Orthogonal: "orthogonal", _Identity: "identity"}
# Whole-kernel schemes: an entry's value depends on the other entries (orthogonal) or on its position
# (identity), so a few entries cannot be drawn without drawing the kernel.
KERNEL_KINDS: frozenset[str] = frozenset({"orthogonal", "identity"})


def _variance_scaling(scale: float, mode: str, distribution: str, fan_in: int, fan_out: int) -> _Dist:
    """Keras 3 VarianceScaling: target variance scale / n, n chosen by ``mode``."""
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    var = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * var)
        return _Uniform(-limit, limit)
    if distribution == "untruncated_normal":
        return _Normal(0.0, math.sqrt(var))
    sd = math.sqrt(var) / TRUNCATED_NORMAL_STD
    return _TruncNormal(0.0, sd, -2.0 * sd, 2.0 * sd)


# --------------------------------------------------------------------------------------------
# Declarative metadata (the UI builds its widgets from these).
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter. ``kind`` "float": finite number in [lo, hi] (None = unbounded;
    ``lo_open`` makes the lower bound exclusive). ``kind`` "choice": one of ``choices``."""

    name: str
    default: Any
    kind: Literal["float", "choice"]
    choices: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    help: str = ""
    lo_open: bool = False

    def validate(self, value: Any, init_name: str) -> Any:
        where = f"parameter {self.name!r} of initializer {init_name!r}"
        if self.kind == "choice":
            if value not in (self.choices or ()):
                raise ValueError(f"Invalid {where}: {value!r}; valid choices: {list(self.choices or ())}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"Invalid {where}: {value!r} is not a number; valid range: {self._range()}")
        value = float(value)
        too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        too_high = self.hi is not None and value > self.hi
        if not math.isfinite(value) or too_low or too_high:
            raise ValueError(f"Invalid {where}: {value!r}; valid range: {self._range()}")
        return value

    def _range(self) -> str:
        lo = "(-inf" if self.lo is None else ("(" if self.lo_open else "[") + f"{self.lo:g}"
        hi = "+inf)" if self.hi is None else f"{self.hi:g}]"
        return f"{lo}, {hi} (finite)"


@dataclass(frozen=True)
class InitSpec:
    name: str
    label: str
    family: Literal["keras", "classic", "pytorch"]
    params: dict[str, ParamSpec]
    description: str


def _f(name: str, default: float, help: str, lo: float | None = None, lo_open: bool = False) -> ParamSpec:
    return ParamSpec(name, default, "float", None, lo, None, help, lo_open)


def _c(name: str, default: str, choices: tuple[str, ...], help: str) -> ParamSpec:
    return ParamSpec(name, default, "choice", choices, None, None, help)


_MEAN = _f("mean", 0.0, "Mean of the normal distribution.")
_STDDEV = _f("stddev", 0.05, "Standard deviation of the normal distribution (before truncation).", lo=0.0)
_GAIN = _f("gain", 1.0, "Multiplicative factor applied to the matrix.", lo=0.0)
_TORCH_KAIMING = (
    _c("mode", "fan_in", MODES[:2], "fan_in preserves forward variance, fan_out backward."),
    _c("nonlinearity", "leaky_relu", NONLINEARITIES, "Nonlinearity whose torch calculate_gain is used."),
    _f("negative_slope", 0.0, "Slope of leaky_relu for x < 0 (torch's `a`); only used by leaky_relu."),
)

_Build = Callable[[Mapping[str, Any], int, int], _Dist]
_Formula = Callable[[Mapping[str, Any], str, str], str]


@dataclass(frozen=True)
class _Entry:
    spec: InitSpec
    build: _Build
    formula: _Formula
    check: Callable[[Mapping[str, Any], str], None] | None = None  # cross-parameter rules


def _fan_expr(mode: str, n: str, m: str) -> tuple[str, float]:
    """Symbolic denominator for a mode, and the factor that folds the /2 of fan_avg in."""
    return {"fan_in": (n, 1.0), "fan_out": (m, 1.0), "fan_avg": (f"({n}+{m})", 2.0)}[mode]


def _times(gain: float) -> str:
    return "" if gain == 1.0 else f"{gain:g}*"


def _sqrt_over(coef: float, denom: str) -> str:
    return f"1/sqrt({denom})" if coef == 1.0 else f"sqrt({coef:.4g}/{denom})"


def _vs_formula(scale: float, mode: str, distribution: str, n: str, m: str) -> str:
    denom, k = _fan_expr(mode, n, m)
    if distribution == "uniform":
        lim = _sqrt_over(3.0 * scale * k, denom)
        return f"U[-{lim}, +{lim}]"
    sd = _sqrt_over(scale * k, denom)
    if distribution == "untruncated_normal":
        return f"N(0, {sd})"
    return f"N(0, {sd}), truncated at 2 sd and rescaled by 1/{TRUNCATED_NORMAL_STD:.4f}"


def _kaiming(p: Mapping[str, Any], distribution: str, fan_in: int, fan_out: int) -> _Dist:
    gain = calculate_gain(p["nonlinearity"], p["negative_slope"])
    # std = gain / sqrt(fan)  <=>  variance_scaling with scale = gain^2 (untruncated).
    return _variance_scaling(gain * gain, p["mode"], distribution, fan_in, fan_out)


def _kaiming_formula(p: Mapping[str, Any], n: str, m: str, uniform: bool) -> str:
    fan = n if p["mode"] == "fan_in" else m
    gain = calculate_gain(p["nonlinearity"], p["negative_slope"])
    g = f"gain={gain:.4g} ({p['nonlinearity']})"
    return f"U[-b, +b], b = gain*sqrt(3/{fan}), {g}" if uniform else f"N(0, gain/sqrt({fan})), {g}"


def _check_minmax(p: Mapping[str, Any], name: str) -> None:
    if p["minval"] > p["maxval"]:
        raise ValueError(f"Invalid parameters of {name!r}: minval={p['minval']!r} > maxval={p['maxval']!r}; "
                         "need minval <= maxval")


def _check_trunc(p: Mapping[str, Any], name: str) -> None:
    a, b = p["a"], p["b"]
    if a >= b:
        raise ValueError(f"Invalid parameters of {name!r}: a={a!r} >= b={b!r}; need a < b")
    mass = _TruncNormal(p["mean"], p["stddev"], a, b).mass
    if not mass >= _MIN_TRUNC_MASS:
        raise ValueError(
            f"Invalid parameters of {name!r}: [a, b] = [{a!r}, {b!r}] holds probability {mass:.3g} of "
            f"N({p['mean']!r}, {p['stddev']!r}); need at least {_MIN_TRUNC_MASS:g} (move [a, b] towards the mean)")


def _entry(name: str, label: str, family: str, params: tuple[ParamSpec, ...], description: str,
           build: _Build, formula: _Formula, check: Callable[[Mapping[str, Any], str], None] | None = None
           ) -> _Entry:
    return _Entry(InitSpec(name, label, family, {ps.name: ps for ps in params}, description),  # type: ignore[arg-type]
                  build, formula, check)


def _vs_preset(name: str, label: str, scale: float, mode: str, distribution: str, paper: str,
               family: str = "keras", source: str | None = None, note: str = "") -> _Entry:
    """A fixed setting of variance_scaling with no free parameters."""
    formula = _vs_formula(scale, mode, distribution, "fan_in", "fan_out")
    source = source or f"`keras.initializers.{''.join(w.capitalize() for w in name.split('_'))}`"
    desc = f"`{formula}`. {note}Source: {paper}; {source}."
    return _entry(name, label, family, (), desc,
                  lambda p, n, m: _variance_scaling(scale, mode, distribution, n, m),
                  lambda p, n, m: _vs_formula(scale, mode, distribution, n, m))


_GLOROT = 'Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks"'
_HE = 'He et al. 2015, "Delving Deep into Rectifiers"'
_LECUN = 'LeCun et al. 1998, "Efficient BackProp"'
_TRUNC_NOTE = ("Keras draws N(0, s/0.8796) and redraws values beyond 2 sd, so the actual std is s. ")

_REGISTRY: dict[str, _Entry] = {e.spec.name: e for e in (
    _entry("zeros", "Zeros", "keras", (),
           "All weights 0. Every unit computes the same thing (symmetry is never broken). "
           "Source: `keras.initializers.Zeros`.",
           lambda p, n, m: _Constant(0.0), lambda p, n, m: "0"),
    _entry("ones", "Ones", "keras", (),
           "All weights 1: no symmetry breaking, and activations grow with the fan-in. "
           "Source: `keras.initializers.Ones`.",
           lambda p, n, m: _Constant(1.0), lambda p, n, m: "1"),
    _entry("constant", "Constant", "keras", (_f("value", 0.0, "Value of every weight."),),
           "All weights equal `value`. Source: `keras.initializers.Constant`.",
           lambda p, n, m: _Constant(p["value"]), lambda p, n, m: f"{p['value']:g}"),
    _entry("random_normal", "Random normal", "keras", (_MEAN, _STDDEV),
           "`N(mean, stddev)`, independent of the layer size. Source: `keras.initializers.RandomNormal`.",
           lambda p, n, m: _Normal(p["mean"], p["stddev"]),
           lambda p, n, m: f"N({p['mean']:g}, {p['stddev']:g})"),
    _entry("random_uniform", "Random uniform", "keras",
           (_f("minval", -0.05, "Lower bound."), _f("maxval", 0.05, "Upper bound.")),
           "`U[minval, maxval]`, independent of the layer size. Source: `keras.initializers.RandomUniform`.",
           lambda p, n, m: _Uniform(p["minval"], p["maxval"]),
           lambda p, n, m: f"U[{p['minval']:g}, {p['maxval']:g}]", _check_minmax),
    _entry("truncated_normal", "Truncated normal", "keras", (_MEAN, _STDDEV),
           "`N(mean, stddev)` with values further than 2 stddev from the mean redrawn (not rescaled: "
           f"the actual std is {TRUNCATED_NORMAL_STD:.4f} * stddev). "
           "Source: `keras.initializers.TruncatedNormal`.",
           lambda p, n, m: _TruncNormal(p["mean"], p["stddev"], p["mean"] - 2 * p["stddev"],
                                        p["mean"] + 2 * p["stddev"]),
           lambda p, n, m: f"N({p['mean']:g}, {p['stddev']:g}), truncated at 2 sd (redrawn, not rescaled)"),
    _entry("variance_scaling", "Variance scaling", "keras", (
               _f("scale", 1.0, "Target variance times n.", lo=0.0, lo_open=True),
               _c("mode", "fan_in", MODES, "n = fan_in, fan_out or (fan_in + fan_out) / 2."),
               _c("distribution", "truncated_normal",
                  tuple(d for d in DISTRIBUTIONS if d not in DISTRIBUTION_ALIASES),
                  "truncated_normal: N(0, sqrt(scale/n)/0.8796) cut at 2 sd; untruncated_normal: "
                  "N(0, sqrt(scale/n)); uniform: U[-sqrt(3 scale/n), +sqrt(3 scale/n)]. "
                  "'normal' is accepted as an alias of truncated_normal, as in Keras.")),
           "Target variance `scale / n`, n = fan_in, fan_out or (fan_in + fan_out) / 2 (each at least 1). "
           "truncated_normal: `N(0, sqrt(scale/n) / 0.8796)` redrawn beyond 2 sd (actual std "
           "`sqrt(scale/n)`); untruncated_normal: `N(0, sqrt(scale/n))`; uniform: "
           "`U[-sqrt(3 scale/n), +sqrt(3 scale/n)]`. Glorot, He and LeCun are presets of it. "
           "Source: `keras.initializers.VarianceScaling`.",
           lambda p, n, m: _variance_scaling(p["scale"], p["mode"], p["distribution"], n, m),
           lambda p, n, m: _vs_formula(p["scale"], p["mode"], p["distribution"], n, m)),
    _entry("orthogonal", "Orthogonal", "keras", (_GAIN,),
           "`gain * Q`, Q from the QR decomposition of a max(n,m) x min(n,m) standard normal matrix, "
           "columns sign-corrected (`Q *= sign(diag(R))`), transposed when fan_in < fan_out; so "
           "`W^T W = gain^2 I` (fan_in >= fan_out) or `W W^T = gain^2 I`. Entry std "
           "`gain / sqrt(max(n, m))`. Source: Saxe et al. 2014, \"Exact solutions to the nonlinear "
           "dynamics of learning in deep linear neural networks\"; `keras.initializers.Orthogonal`.",
           lambda p, n, m: _Orthogonal(p["gain"], n, m),
           lambda p, n, m: f"{_times(p['gain'])}Q, Q orthonormal from QR of N(0,1) max({n},{m}) x min({n},{m})"),
    _entry("identity", "Identity", "keras", (_GAIN,),
           "`gain * I` (rectangular allowed: ones on the main diagonal). Each layer passes its input "
           "through unchanged up to `gain`. Source: `keras.initializers.Identity` (Le et al. 2015, "
           "\"A Simple Way to Initialize Recurrent Networks of Rectified Linear Units\").",
           lambda p, n, m: _Identity(p["gain"], n, m),
           lambda p, n, m: f"{_times(p['gain'])}I({n} x {m})"),
    _vs_preset("glorot_uniform", "Glorot uniform (Keras default)", 1.0, "fan_avg", "uniform", _GLOROT),
    _vs_preset("glorot_normal", "Glorot normal", 1.0, "fan_avg", "truncated_normal", _GLOROT,
               note=_TRUNC_NOTE),
    _vs_preset("he_uniform", "He uniform", 2.0, "fan_in", "uniform", _HE),
    _vs_preset("he_normal", "He normal", 2.0, "fan_in", "truncated_normal", _HE, note=_TRUNC_NOTE),
    _vs_preset("lecun_uniform", "LeCun uniform", 1.0, "fan_in", "uniform", _LECUN),
    _vs_preset("lecun_normal", "LeCun normal", 1.0, "fan_in", "truncated_normal", _LECUN, note=_TRUNC_NOTE),
    _entry("small_uniform", "Small uniform U[0, 0.1]", "classic", (),
           "`U[0, 0.1]`: the \"small random numbers close to zero\" of many tutorials. All weights are "
           "positive, so every pre-activation gets a positive mean shift of 0.05 * sum of inputs, "
           "and the scale ignores the layer width. Source: introductory tutorials and course notes.",
           lambda p, n, m: _Uniform(0.0, 0.1), lambda p, n, m: "U[0, 0.1]"),
    # Both are variance_scaling(1/3, fan_in, uniform): limit sqrt(3 * (1/3) / n) = 1/sqrt(n).
    _vs_preset("xavier_heuristic", "Xavier heuristic U[+-1/sqrt(n)]", 1.0 / 3.0, "fan_in", "uniform",
               _GLOROT + " (eq. 1, the heuristic they argue against)", family="classic",
               source="tutorials that call it \"Xavier\"",
               note="The heuristic some tutorials call \"Xavier\"; it is *not* Keras `glorot_uniform` "
                    "(`U[+-sqrt(6/(fan_in+fan_out))]`): its variance 1/(3 fan_in) is a third of LeCun's. "),
    _vs_preset("torch_linear", "PyTorch nn.Linear default", 1.0 / 3.0, "fan_in", "uniform",
               "PyTorch `nn.Linear.reset_parameters`", family="pytorch",
               source="`torch.nn.init.kaiming_uniform_(w, a=sqrt(5))`",
               note="gain sqrt(2/(1+5)) times sqrt(3/fan_in) = 1/sqrt(fan_in); numerically the same "
                    "as `xavier_heuristic`. "),
    _entry("torch_kaiming_uniform", "PyTorch kaiming_uniform_", "pytorch", _TORCH_KAIMING,
           "`U[-b, +b]`, `b = gain * sqrt(3 / fan)`, gain = `calculate_gain(nonlinearity, negative_slope)`, "
           f"fan = fan_in or fan_out. Source: {_HE}; `torch.nn.init.kaiming_uniform_`.",
           lambda p, n, m: _kaiming(p, "uniform", n, m),
           lambda p, n, m: _kaiming_formula(p, n, m, uniform=True)),
    _entry("torch_kaiming_normal", "PyTorch kaiming_normal_", "pytorch", _TORCH_KAIMING,
           "`N(0, gain / sqrt(fan))`, untruncated, gain = `calculate_gain(nonlinearity, negative_slope)`, "
           f"fan = fan_in or fan_out. Source: {_HE}; `torch.nn.init.kaiming_normal_`.",
           lambda p, n, m: _kaiming(p, "untruncated_normal", n, m),
           lambda p, n, m: _kaiming_formula(p, n, m, uniform=False)),
    _entry("torch_xavier_uniform", "PyTorch xavier_uniform_", "pytorch", (_GAIN,),
           "`U[-b, +b]`, `b = gain * sqrt(6 / (fan_in + fan_out))`. "
           f"Source: {_GLOROT}; `torch.nn.init.xavier_uniform_`.",
           lambda p, n, m: _variance_scaling(p["gain"] ** 2, "fan_avg", "uniform", n, m),
           lambda p, n, m: f"U[-{_times(p['gain'])}sqrt(6/({n}+{m})), +{_times(p['gain'])}sqrt(6/({n}+{m}))]"),
    _entry("torch_xavier_normal", "PyTorch xavier_normal_", "pytorch", (_GAIN,),
           "`N(0, gain * sqrt(2 / (fan_in + fan_out)))`, untruncated (unlike Keras `glorot_normal`, "
           f"which is truncated and rescaled). Source: {_GLOROT}; `torch.nn.init.xavier_normal_`.",
           lambda p, n, m: _variance_scaling(p["gain"] ** 2, "fan_avg", "untruncated_normal", n, m),
           lambda p, n, m: f"N(0, {_times(p['gain'])}sqrt(2/({n}+{m})))"),
    _entry("torch_trunc_normal", "PyTorch trunc_normal_", "pytorch", (
               _f("mean", 0.0, "Mean of the untruncated normal."),
               _f("stddev", 1.0, "Std of the untruncated normal (torch's `std`).", lo=0.0, lo_open=True),
               _f("a", -2.0, "Absolute lower cut-off (not in units of stddev)."),
               _f("b", 2.0, "Absolute upper cut-off (not in units of stddev).")),
           "`N(mean, stddev)` restricted to the *absolute* interval [a, b] (values outside are redrawn; "
           "not rescaled, so the std is smaller than `stddev` when [a, b] cuts the bulk). With the "
           "defaults a=-2, b=2 a small stddev such as 0.02 is effectively untruncated. "
           "Source: `torch.nn.init.trunc_normal_`.",
           lambda p, n, m: _TruncNormal(p["mean"], p["stddev"], p["a"], p["b"], clip=True),
           lambda p, n, m: f"N({p['mean']:g}, {p['stddev']:g}) restricted to [{p['a']:g}, {p['b']:g}]",
           _check_trunc),
)}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

class Initializer:
    """A resolved initializer: ``init(shape, rng, dtype)`` plus its theoretical moments."""

    def __init__(self, entry: _Entry, params: dict[str, Any]) -> None:
        self._entry = entry
        self.name: str = entry.spec.name
        self.label: str = entry.spec.label
        self.family: str = entry.spec.family
        self.params: dict[str, Any] = dict(params)  # a copy: editing it cannot bypass validation
        self._params = params
        self.description: str = entry.spec.description

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Initializer({self.name!r}{', ' if args else ''}{args})"

    def _dist(self, fan_in: int, fan_out: int) -> _Dist:
        return self._entry.build(self._params, _fan(fan_in, "fan_in"), _fan(fan_out, "fan_out"))

    def __call__(self, shape: tuple[int, int], rng: np.random.Generator | LegacyDraws,
                 dtype: np.dtype | type = np.float64) -> np.ndarray:
        """Draw a ``shape = (fan_in, fan_out)`` kernel from ``rng`` in ``dtype``."""
        if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
            raise ValueError(f"shape must be (fan_in, fan_out); got {shape!r}")
        if not isinstance(rng, (np.random.Generator, LegacyDraws)):
            raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        dt = np.dtype(dtype)
        if not np.issubdtype(dt, np.floating):
            raise ValueError(f"dtype must be a floating dtype; got {dt}")
        return _draw(self._dist(*shape), (int(shape[0]), int(shape[1])), rng, dt)

    def kind(self, fan_in: int, fan_out: int) -> str:
        """The distribution a ``(fan_in, fan_out)`` kernel is drawn from.

        One of ``"constant"``, ``"uniform"``, ``"normal"``, ``"truncated_normal"`` (independent,
        identically distributed entries) or one of :data:`KERNEL_KINDS`, ``"orthogonal"`` and
        ``"identity"`` (whole-kernel schemes). Lets callers such as a cost model tell a QR
        factorisation from a cheap elementwise draw without knowing initializer names.
        """
        return _KINDS[type(self._dist(fan_in, fan_out))]

    def sample_entries(self, fan_in: int, fan_out: int, count: int, rng: np.random.Generator,
                       dtype: np.dtype | type = np.float64) -> np.ndarray:
        """``count`` independent entries of a ``(fan_in, fan_out)`` kernel, as a 1-D array.

        For the elementwise kinds (see :meth:`kind`) the entries of a kernel are i.i.d., so these have
        exactly the distribution of any ``count`` entries of ``self((fan_in, fan_out), rng)``, at a cost
        proportional to ``count`` instead of ``fan_in * fan_out``. Whole-kernel kinds (orthogonal,
        identity) raise ValueError: their entries only exist as part of a kernel.
        """
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"count must be a non-negative integer; got {count!r}")
        if not isinstance(rng, (np.random.Generator, LegacyDraws)):
            raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        dt = np.dtype(dtype)
        if not np.issubdtype(dt, np.floating):
            raise ValueError(f"dtype must be a floating dtype; got {dt}")
        dist = self._dist(fan_in, fan_out)
        kind = _KINDS[type(dist)]
        if kind in KERNEL_KINDS:
            raise ValueError(f"{self.name} draws whole kernels ({kind}); its entries cannot be drawn one by one")
        return _draw(dist, (1, int(count)), rng, dt).reshape(-1)

    def std(self, fan_in: int, fan_out: int) -> float:
        """Theoretical standard deviation of one entry."""
        return float(self._dist(fan_in, fan_out).std)

    def mean(self, fan_in: int, fan_out: int) -> float:
        """Theoretical mean of one entry."""
        return float(self._dist(fan_in, fan_out).mean)

    def limits(self, fan_in: int, fan_out: int) -> tuple[float, float] | None:
        """Hard bounds (lo, hi) of the entries, or None when unbounded."""
        lim = self._dist(fan_in, fan_out).limits
        return None if lim is None else (float(lim[0]), float(lim[1]))

    def formula(self, fan_in_symbol: str = "n", fan_out_symbol: str = "m") -> str:
        """Short human-readable formula, e.g. ``U[-sqrt(6/(n+m)), +sqrt(6/(n+m))]``."""
        return self._entry.formula(self._params, fan_in_symbol, fan_out_symbol)


def _draw(dist: _Dist, shape: tuple[int, int], rng: np.random.Generator, dt: np.dtype) -> np.ndarray:
    """``dist.sample`` in dtype ``dt``, shared by kernel and entry draws."""
    # numpy's generators only produce float32/float64 directly; others are cast afterwards.
    native = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)
    if 2.0 * max(abs(v) for v in vars(dist).values()) > float(np.finfo(native).max):
        # Parameters the dtype cannot hold would meet as inf - inf = nan; computing in float64
        # and casting rounds the out-of-range entries to +-inf instead.
        native = np.dtype(np.float64)
    # Huge parameters may overflow the dtype (-> inf): that is the answer, not a warning.
    with np.errstate(all="ignore"):
        return dist.sample(shape, rng, native).astype(dt, copy=False)


def _fan(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer; got {value!r}")
    return int(value)


def names() -> list[str]:
    """Registry keys in a stable order: Keras first, then the classic schemes, then PyTorch."""
    return list(_REGISTRY)


# Other names students type for these initializers, for "did you mean ...?" (never accepted as such: a
# scenario holds one name per scheme). "xavier" is Glorot & Bengio (2010), whose own formula Keras calls
# glorot_uniform (not xavier_heuristic, the U[+-1/sqrt(n)] some tutorials call "Xavier"); "kaiming" and
# "msra" are He et al. (2015).
ALIASES: dict[str, str] = {
    "xavier": "glorot_uniform", "glorot": "glorot_uniform", "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal", "he": "he_normal", "kaiming": "he_normal", "msra": "he_normal",
    "lecun": "lecun_normal", "normal": "random_normal", "gaussian": "random_normal", "uniform": "random_uniform",
    "zero": "zeros", "one": "ones", "eye": "identity", "trunc_normal": "truncated_normal",
}


def _lookup(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown initializer {name!r}{suggestion(str(name), names(), ALIASES)}") from None


def spec(name: str) -> InitSpec:
    """Declarative metadata of initializer ``name`` (label, family, parameters, description)."""
    return _lookup(name).spec


def get(name: str, **params: Any) -> Initializer:
    """Initializer ``name`` with ``params``; a parameter omitted or given as None takes its default."""
    entry = _lookup(name)
    specs = entry.spec.params
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for initializer {name!r}; "
                         f"valid parameters: {list(specs) or 'none'}")
    resolved: dict[str, Any] = {}
    for key, ps in specs.items():
        value = params.get(key)
        if value is None:
            resolved[key] = ps.default
            continue
        if key == "distribution" and isinstance(value, str):
            value = value.lower()
            value = DISTRIBUTION_ALIASES.get(value, value)
        resolved[key] = ps.validate(value, name)
    if entry.check is not None:
        entry.check(resolved, name)
    return Initializer(entry, resolved)


class LegacyDraws:
    """The draws of an initializer from numpy's legacy ``RandomState``, as the course notebooks make them.

    ``np.random.seed(s); W = np.random.randn(n_l, n_{l-1}) * scale`` draws each kernel row-major in the
    (fan_out, fan_in) layout (PyTorch's and the notebooks'); initlab's kernels are (fan_in, fan_out)
    (Keras's). So every 2-D draw is made in the reversed shape and transposed: the kernel is the
    notebook's ``W.T``, value for value. Only for replaying such notebooks (the training scenario's
    ``weights_rng="legacy"``): the exception to "every draw from a ``Generator``", as scikit-learn's datasets.
    """

    def __init__(self, seed: int) -> None:
        self._rs = np.random.RandomState(seed)

    def _shaped(self, draw: Any, size: Any, dtype: Any) -> np.ndarray:
        if isinstance(size, tuple) and len(size) == 2:
            out = draw(size[::-1]).T
        else:
            out = draw(size)
        return np.ascontiguousarray(out, dtype=dtype)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> np.ndarray:
        return self._shaped(self._rs.standard_normal, size, dtype)

    def random(self, size: Any = None, dtype: Any = np.float64) -> np.ndarray:
        return self._shaped(self._rs.random_sample, size, dtype)

    def standard_exponential(self, size: Any = None) -> np.ndarray:
        return self._shaped(self._rs.standard_exponential, size, np.float64)
