"""Activation functions, their derivatives, gains and saturation rules.

Every activation is a frozen :class:`Activation` record; look one up with :func:`get` and list the
registry keys (stable order) with :func:`names`.

Numerical conventions (all functions ``fn``, ``deriv`` and ``deriv_from_output``):

* **dtype preserving**: float32 in -> float32 out, float64 in -> float64 out (numpy >= 2 / NEP 50:
  the Python-float constants used here do not upcast).  Integer or bool input is computed in float64.
  Array in -> new array out (the input is never modified and never returned as-is); a scalar in
  -> a numpy scalar out, as for numpy ufuncs.
* **no numpy warnings**: every evaluation runs inside ``np.errstate(all="ignore")`` and the formulas
  are arranged so that an intermediate overflow (e.g. ``exp(-z)`` for ``z = -1e30``) lands on the
  correct limit instead of producing ``nan``.
* **inf / huge / nan**: the documented limits hold exactly, e.g. ``sigmoid(+-1e30) = 1 / 0``,
  ``softplus(1e30) = 1e30``, ``gelu(-inf) = swish(-inf) = 0``, ``elu(-inf) = -alpha``; ``nan`` in
  gives ``nan`` out, for ``deriv`` too (so a blown-up forward pass is not silently turned into a
  zero gradient).
* **derivative at kinks**: ``relu'(0) = 0`` and ``leaky_relu'(0) = slope``, as TensorFlow and
  PyTorch use (their backward passes test ``z > 0``); ``elu'(0) = alpha`` and
  ``selu'(0) = lambda * alpha`` (the left-hand derivative, again as PyTorch's backward).

Saturation rule (``Activation.saturation_threshold``)
-----------------------------------------------------
A unit is **saturated** iff ``f'(z) < saturation_threshold``, and the threshold is
**10 % of the activation's largest derivative** ``sup_z f'(z)``.  The rule is only used for
activations whose derivative tends to 0 in a tail (so that a unit can sit in a flat region):

==========  ====================  ===========================================================
activation  sup f'                threshold, saturated region
==========  ====================  ===========================================================
sigmoid     1/4 (z = 0)           0.025: both tails, ``|z| > z*`` where ``s(1-s) = 0.025``,
                                  ``z* = ln((1 + sqrt(0.9)) / (1 - sqrt(0.9))) ~ 3.637``
tanh        1 (z = 0)             0.1: both tails, ``|z| > atanh(sqrt(0.9)) ~ 1.82``
elu         alpha = 1 (z -> 0-)   0.1: left tail ``alpha e^z < 0.1 alpha``, i.e. ``z < ln 0.1``
selu        lambda*alpha ~ 1.758  0.1 * lambda * alpha ~ 0.1758: on ``z < 0``
            (z -> 0-)             ``f' = lambda alpha e^z``, whose sup ``lambda alpha`` exceeds
                                  the right-hand slope ``lambda``; so exactly as for elu the
                                  saturated region is ``z < ln 0.1 ~ -2.30``
softplus    1 (z -> +inf)         0.1: left tail, ``sigmoid(z) < 0.1``, i.e. ``z < -ln 9``
gelu        1.12899306865877...   0.112899...: left region (``z < -0.533``), which includes the
            (z ~ 1.4185)          dip where f' is negative (min f' ~ -0.129)
swish       1.09983932012887...   0.109983...: left region (``z < -0.882``), including the
            (z ~ 2.3994)          negative dip (min f' ~ -0.0998)
==========  ====================  ===========================================================

The gelu and swish maxima are hard-coded: they were obtained by solving ``f''(z) = 0`` with
mpmath at 40 digits (``findroot`` on ``diff(f, z, 2)`` near 1.4 resp. 2.4) and evaluating
``f'`` there; ``tests/test_activations.py`` re-checks them on a fine grid.  linear, relu and
leaky_relu have ``saturation_threshold = None``: their derivative is piecewise constant, and
ReLU's zero-derivative region is **dead** (``can_die``), not saturated.  ``can_die`` is True for
relu only: a dead unit has ``f(z) == 0`` and ``f'(z) == 0``; leaky_relu keeps slope 0.2 and never dies.

Gains (``Activation.gain``)
---------------------------
Where PyTorch's ``torch.nn.init.calculate_gain`` defines a value it is used verbatim (linear 1,
sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + slope^2)) with *this* activation's
slope 0.2 -- PyTorch's own default slope is 0.01 --, selu 3/4).  For elu, gelu, swish and softplus
(no PyTorch entry) the gain is the variance-preserving ``1 / sqrt(E[f(Z)^2])``, ``Z ~ N(0, 1)``,
see :func:`second_moment_gain`.

Why one module of ~700 lines: it is the registry, one record per activation with its function,
derivatives, gain, saturation rule and its Keras, PyTorch and numba kernel code, so a new activation is
one entry here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from initlab.numerics import gaussian
from initlab.numerics.names import suggestion

__all__ = ["ALIASES", "Activation", "get", "names", "second_moment", "second_moment_gain"]

ArrayFn = Callable[[np.ndarray], np.ndarray]

LEAKY_RELU_SLOPE = 0.2  # Keras 3 default negative_slope (PyTorch's default is 0.01)
ELU_ALPHA = 1.0
SELU_LAMBDA = 1.0507009873554805  # Klambauer et al. 2017, as in Keras and PyTorch
SELU_ALPHA = 1.6732632423543772
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715
# sup f' of the tanh-approximate gelu and of swish; see the module docstring for how they were found.
GELU_MAX_DERIV = 1.1289930686587718
SWISH_MAX_DERIV = 1.0998393201288669

# |z| beyond which gelu'/swish' equal their limits (1 right, 0 left) exactly: exp(-1000) underflows
# to 0 in float32 and float64 alike.  Clipping there keeps products like z * sigmoid'(z) finite
# (inf * 0 would be nan) and z**3 far from float32 overflow; for fn only the lower clip is needed
# (z * sigmoid(z) at z = -inf is -inf * 0).
_FAR = 1e3
# gelu' reaches its limits much earlier: at |z| = 30, |w| = 2c |z| (1 + k z^2) ~ 1974 and exp(-1974)
# is 0 even in float64, so f'(+-30) is exactly 1 / 0; clipping there also keeps z^3 and the factor
# z (1 + 3k z^2) ~ 5.8e3 finite in float16.
_GELU_DERIV_FAR = 30.0


@dataclass(frozen=True)
class Activation:
    """One activation function with the metadata the dashboard needs.

    ``fn(z)`` is f, ``deriv(z)`` is f'(z); ``deriv_from_output(h)`` gives f'(z) from h = f(z) when
    f' is a function of the output (saves keeping z around during backprop), else None.
    ``saturation_threshold``: saturated iff f'(z) < threshold (see the module docstring), None
    when the notion does not apply.  ``can_die``: the unit can be dead (f(z) == 0 and f'(z) == 0).

    The same f in the frameworks (what the code snippets print): ``keras`` is the ``activation=``
    argument of a Keras 3 ``Dense`` layer, ``torch`` a PyTorch module expression, ``torch_note`` a
    comment the PyTorch snippet adds where the two frameworks' defaults differ.  ``kernel_code``: the
    compiled training kernel's branch for f (:mod:`initlab.training.kernel`), or None when it has none;
    then ``engine="auto"`` trains with the numpy engine, so a new activation trains (more slowly) from
    its registry entry alone.
    """

    name: str
    label: str
    fn: ArrayFn
    deriv: ArrayFn
    deriv_from_output: ArrayFn | None
    gain: float
    gain_source: str
    saturation_threshold: float | None
    can_die: bool
    description: str
    keras: str
    torch: str
    torch_note: str = ""
    kernel_code: int | None = None


# ---------------------------------------------------------------------------------------------
# helpers


def _as_float(z: np.ndarray | float) -> np.ndarray:
    """Return z as a floating ndarray (float64 for int/bool input), never upcasting float32."""
    z = np.asarray(z)
    if z.dtype.kind != "f":
        if z.dtype.kind == "c":
            raise TypeError(f"activations take real input, got dtype {z.dtype}")
        z = z.astype(np.float64)
    return z


def _elementwise(core: Callable[[np.ndarray], np.ndarray]) -> ArrayFn:
    """Wrap an array kernel: float conversion, 0-d handling, warnings off.

    Kernels receive a float ndarray with ndim >= 1 (so in-place ``out=`` tricks and ``a + 1.0``
    keep returning arrays) and may overflow internally: every kernel is written so that an
    overflow lands on the correct limit, hence ``errstate(all="ignore")``.
    """

    def wrapper(z: np.ndarray | float) -> np.ndarray:
        z = _as_float(z)
        scalar = z.ndim == 0
        if scalar:
            z = z.reshape(1)
        with np.errstate(all="ignore"):
            out = core(z)
        return out[0] if scalar else out  # 0-d in -> numpy scalar out, like a ufunc

    wrapper.__name__ = core.__name__.lstrip("_")
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = core.__doc__
    return wrapper


def _sigmoid_arr(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = 1 / (1 + e^-z) into a fresh array (z a float ndarray, ndim >= 1).

    Accurate to a few ulp *relatively* in both tails (unlike 0.5 (1 + tanh(z/2)), which flushes
    sigmoid(z < -37) to 0 in float64).  For z < -709 e^-z overflows to inf and 1/inf = 0 is the
    right limit; the overflow flag is ignored by the caller's errstate.
    """
    out = np.negative(z)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _step(z: np.ndarray) -> np.ndarray:
    """1 where z > 0, 0 where z <= 0, nan where z is nan; dtype of z.

    Cheaper than np.heaviside (not vectorised in numpy) and than np.where / masked copyto with a
    ~50 % random mask (branch mispredictions); the nan patch-up mask is almost always empty.
    """
    out = np.greater(z, 0.0).astype(z.dtype)
    np.copyto(out, z, where=np.isnan(z))
    return out


# ---------------------------------------------------------------------------------------------
# kernels: z is a float ndarray with ndim >= 1; see _elementwise.  Each returns a fresh array.


@_elementwise
def _linear(z: np.ndarray) -> np.ndarray:
    return z.copy()  # a copy, so callers may modify the output in place


@_elementwise
def _linear_deriv(z: np.ndarray) -> np.ndarray:
    # z*z + 1 >= 1 (or inf), so its sign is 1 everywhere except nan -> nan (deriv propagates nan).
    out = z * z
    out += 1.0
    return np.sign(out, out=out)


@_elementwise
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return _sigmoid_arr(z)


@_elementwise
def _sigmoid_deriv(z: np.ndarray) -> np.ndarray:
    # e/(1+e)^2 with e = exp(-|z|): keeps relative accuracy in both tails (s(1-s) loses it for z >> 0).
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = e + 1.0
    np.multiply(d, d, out=d)
    return np.divide(e, d, out=e)


@_elementwise
def _sigmoid_deriv_from_output(h: np.ndarray) -> np.ndarray:
    out = 1.0 - h
    out *= h
    return out


@_elementwise
def _tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


@_elementwise
def _tanh_deriv(z: np.ndarray) -> np.ndarray:
    # sech^2 z = 4e/(1+e)^2, e = exp(-2|z|): 1 - tanh^2 is already exactly 0 for |z| > 19.
    e = np.abs(z)
    e *= -2.0
    np.exp(e, out=e)
    d = e + 1.0
    np.multiply(d, d, out=d)
    e *= 4.0
    return np.divide(e, d, out=e)


@_elementwise
def _tanh_deriv_from_output(h: np.ndarray) -> np.ndarray:
    out = h * h
    return np.subtract(1.0, out, out=out)


@_elementwise
def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)  # maximum propagates nan


@_elementwise
def _relu_deriv(z: np.ndarray) -> np.ndarray:
    # 1 for z > 0, 0 for z <= 0 (f'(0) = 0 as TF/PyTorch), nan for nan.
    # Also valid on the output h = max(z, 0): h > 0 iff z > 0.
    return _step(z)


@_elementwise
def _leaky(z: np.ndarray) -> np.ndarray:
    # max(z, slope z) == leaky_relu(z) because 0 < slope < 1; nan and +-inf come through.
    out = z * LEAKY_RELU_SLOPE
    return np.maximum(z, out, out=out)


@_elementwise
def _leaky_deriv(z: np.ndarray) -> np.ndarray:
    # slope + (1 - slope) step(z): 1 for z > 0, slope for z <= 0, nan for nan.
    # Also valid on the output (same sign as z).
    out = _step(z)
    out *= 1.0 - LEAKY_RELU_SLOPE
    out += LEAKY_RELU_SLOPE
    return out


def _elu_core(z: np.ndarray, alpha: float, scale: float) -> np.ndarray:
    """scale * (z if z > 0 else alpha (e^z - 1)), as max(z, 0) + alpha (e^min(z, 0) - 1).

    The branch-free sum avoids a ~50 % random mask (np.where costs as much as the exp here) and
    exp never overflows on min(z, 0); nan, +inf and -inf (-> -alpha) come through.  e^x - 1 rather
    than np.expm1 (8x slower, not vectorised): the absolute error stays below 1 ulp(1), only the
    relative accuracy of tiny outputs (|z| < 1e-4) suffers, which no statistic here can see.
    """
    out = np.minimum(z, 0.0)
    np.exp(out, out=out)
    out -= 1.0
    out *= alpha
    out += np.maximum(z, 0.0)
    if scale != 1.0:
        out *= scale
    return out


def _elu_deriv_core(z: np.ndarray, alpha: float, scale: float) -> np.ndarray:
    """scale * (1 if z > 0 else alpha e^z); at z = 0 the left value scale * alpha (as PyTorch).

    Branch-free: c e^min(z,0) + [z > 0] (scale - c), c = scale alpha; for z > 0 this is
    c + (scale - c) = scale (exact in float64 by Sterbenz, within an ulp in float32).
    """
    c = scale * alpha
    out = np.minimum(z, 0.0)  # nan stays nan, and nan + 0 below too
    np.exp(out, out=out)
    out *= c
    if c != scale:
        out += np.multiply(z > 0, scale - c, dtype=out.dtype)
    return out


def _elu_from_output_core(h: np.ndarray, left_max: float, right: float) -> np.ndarray:
    """f' from h = f(z): ``right`` for h > 0, else h + left_max (f = c (e^z - 1) => f' = f + c)."""
    out = np.minimum(h, 0.0)  # nan stays nan
    out += left_max
    if left_max != right:
        out += np.multiply(h > 0, right - left_max, dtype=out.dtype)
    return out


@_elementwise
def _elu(z: np.ndarray) -> np.ndarray:
    return _elu_core(z, ELU_ALPHA, 1.0)


@_elementwise
def _elu_deriv(z: np.ndarray) -> np.ndarray:
    return _elu_deriv_core(z, ELU_ALPHA, 1.0)


@_elementwise
def _elu_deriv_from_output(h: np.ndarray) -> np.ndarray:
    return _elu_from_output_core(h, ELU_ALPHA, 1.0)


@_elementwise
def _selu(z: np.ndarray) -> np.ndarray:
    return _elu_core(z, SELU_ALPHA, SELU_LAMBDA)


@_elementwise
def _selu_deriv(z: np.ndarray) -> np.ndarray:
    return _elu_deriv_core(z, SELU_ALPHA, SELU_LAMBDA)


@_elementwise
def _selu_deriv_from_output(h: np.ndarray) -> np.ndarray:
    return _elu_from_output_core(h, SELU_LAMBDA * SELU_ALPHA, SELU_LAMBDA)


@_elementwise
def _softplus(z: np.ndarray) -> np.ndarray:
    # log(1 + e^z) = max(z, 0) + log1p(e), e = e^-|z| in [0, 1]: no overflow, 1e30 -> 1e30,
    # -inf -> 0, +inf -> inf, nan -> nan.  np.logaddexp / np.log1p would do but are ~4x slower
    # (not vectorised); log1p(e) = log(u) + (e - (u - 1)) / u with u = fl(1 + e) is accurate to a
    # few ulp because e - (u - 1) is exactly the rounding error of 1 + e (Sterbenz / Fast2Sum), so
    # the left tail keeps full relative accuracy (softplus(-50) = 1.9e-22, not 0).
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    u = e + 1.0
    corr = u - 1.0
    np.subtract(e, corr, out=corr)
    corr /= u
    np.log(u, out=u)
    u += corr
    u += np.maximum(z, 0.0, out=e)
    return u


@_elementwise
def _softplus_deriv_from_output(h: np.ndarray) -> np.ndarray:
    # h = log(1 + e^z)  =>  f' = sigmoid(z) = 1 - e^-h = -expm1(-h), which keeps small h accurate.
    # np.expm1 is not vectorised (~8x np.exp); for float32, where np.tanh is, use the identity
    # -expm1(-h) = tanh(h/2) (1 + e^-h), equally accurate (no cancellation) and ~3x faster.
    if h.dtype == np.float32:
        out = np.multiply(h, -1.0)
        np.exp(out, out=out)
        out += 1.0
        half = np.multiply(h, 0.5)
        np.tanh(half, out=half)
        out *= half
        return out
    out = np.negative(h)
    np.expm1(out, out=out)
    return np.negative(out, out=out)


@_elementwise
def _gelu(z: np.ndarray) -> np.ndarray:
    # 0.5 z (1 + tanh(u)) == z sigmoid(2u) == z / (1 + e^-2u), u = c (z + k z^3).  The sigmoid form
    # keeps relative accuracy in the left tail (1 + tanh(u) is exactly 0 for z < ~-7.5 in float64).
    # The lower clip only matters at z = -inf (-inf / inf would be nan); gelu(-1e3) is -0 anyway.
    zc = np.maximum(z, -_FAR)
    t = zc * zc
    t *= -2.0 * GELU_C * GELU_K
    t += -2.0 * GELU_C
    t *= zc  # t = -2u; overflow to +-inf makes exp inf / 0, i.e. the correct limits
    np.exp(t, out=t)
    t += 1.0
    return np.divide(zc, t, out=t)


@_elementwise
def _gelu_deriv(z: np.ndarray) -> np.ndarray:
    # f = z s(w), w = 2u = 2c (z + k z^3)  =>  f' = s(w) + s'(w) z 2c (1 + 3k z^2).
    # With a = sigmoid(-|w|) = e/(1+e), e = exp(-|w|) (no overflow, no cancellation):
    # s'(w) = a (1 - a) and s(w) = a + [w > 0] (1 - 2a).  Three float buffers are reused throughout:
    # fresh 0.5 MB temporaries cost page faults comparable to the arithmetic itself.
    zc = np.clip(z, -_GELU_DERIV_FAR, _GELU_DERIV_FAR)  # f' is exactly 1 / 0 beyond; avoids inf * 0
    g = zc * zc
    w = g * (2.0 * GELU_C * GELU_K)
    w += 2.0 * GELU_C
    w *= zc  # w = 2u
    pos = w > 0  # == z > 0
    g *= 6.0 * GELU_C * GELU_K
    g += 2.0 * GELU_C
    g *= zc  # g = z * 2c (1 + 3k z^2)
    np.abs(w, out=w)
    np.negative(w, out=w)
    np.exp(w, out=w)
    t = np.add(w, 1.0, out=zc)  # zc is not needed any more
    w /= t  # w = a
    np.subtract(1.0, w, out=t)
    t *= w  # t = s'(w)
    g *= t
    np.multiply(w, -2.0, out=t)
    t += 1.0
    t *= pos
    t += w  # t = s(w); nan stays nan (nan * False = nan)
    g += t
    return g


@_elementwise
def _swish(z: np.ndarray) -> np.ndarray:
    # z / (1 + e^-z); the lower clip is only for z = -inf (see _gelu).
    zc = np.maximum(z, -_FAR)
    t = np.negative(zc)
    np.exp(t, out=t)
    t += 1.0
    return np.divide(zc, t, out=t)


@_elementwise
def _swish_deriv(z: np.ndarray) -> np.ndarray:
    # f' = s + z s (1 - s), s = sigmoid(z); same a = sigmoid(-|z|) scheme as _gelu_deriv.
    zc = np.clip(z, -_FAR, _FAR)
    pos = zc > 0
    a = np.abs(zc)
    np.negative(a, out=a)
    np.exp(a, out=a)
    t = a + 1.0
    a /= t  # a = sigmoid(-|z|)
    np.subtract(1.0, a, out=t)
    t *= a
    t *= zc  # t = z s'(z)
    np.multiply(a, -2.0, out=zc)
    zc += 1.0
    zc *= pos
    zc += a  # zc = s(z)
    t += zc
    return t


# ---------------------------------------------------------------------------------------------
# Gaussian second moment / gain

def second_moment(act: Activation | str) -> float:
    """E[f(Z)^2] for Z ~ N(0, 1), by :func:`initlab.numerics.gaussian.expectation` (the one Gaussian rule:
    split at f's kink at 0, accurate to ~2e-14 relative).

    This is the quantity that sets how the variance of pre-activations propagates under
    variance-scaling initialisation: Var(z_next) = fan_in * Var(w) * E[f(z)^2] (He et al. 2015).
    """
    a = get(act) if isinstance(act, str) else act
    return float(gaussian.expectation(lambda u: np.square(np.asarray(a.fn(u), dtype=np.float64)), 1.0))


def second_moment_gain(act: Activation | str) -> float:
    """Variance-preserving gain ``1 / sqrt(E[f(Z)^2])``, Z ~ N(0, 1).

    With weights of variance gain^2 / fan_in and pre-activations z ~ N(0, 1), the next layer's
    pre-activations keep unit variance (the argument of He et al. 2015, "Delving Deep into
    Rectifiers", applied to any f).  relu gives sqrt(2) (E = 1/2), linear 1.  Note this is not
    PyTorch's ``calculate_gain`` for tanh/sigmoid/selu, which is a different convention.
    """
    return 1.0 / math.sqrt(second_moment(act))


# ---------------------------------------------------------------------------------------------
# registry

_TORCH = "PyTorch calculate_gain"
_COMPUTED = "computed: 1/sqrt(E[f(z)^2]), z ~ N(0,1) (no PyTorch calculate_gain entry)"


def _make_registry() -> dict[str, Activation]:
    acts = [
        Activation(
            name="linear",
            label="Linear (identity)",
            fn=_linear,
            deriv=_linear_deriv,
            deriv_from_output=_linear_deriv,  # f' = 1 whatever the output
            gain=1.0,
            gain_source=_TORCH,
            saturation_threshold=None,
            can_die=False,
            description="f(z) = z, f'(z) = 1. No nonlinearity: a deep linear network is one matrix "
            "product, useful as the reference case (Keras 'linear', PyTorch gain 1).",
            keras='"linear"',
            torch="nn.Identity()",
            kernel_code=0,
        ),
        Activation(
            name="sigmoid",
            label="Sigmoid",
            fn=_sigmoid,
            deriv=_sigmoid_deriv,
            deriv_from_output=_sigmoid_deriv_from_output,
            gain=1.0,
            gain_source=_TORCH,
            saturation_threshold=0.025,
            can_die=False,
            description="f(z) = 1 / (1 + e^-z), f' = f (1 - f) <= 1/4. Logistic function, the classic "
            "choice of Glorot & Bengio (2010); its outputs are not zero-centred and it saturates "
            "for |z| > ~3.6 (f' < 0.025).",
            keras='"sigmoid"',
            torch="nn.Sigmoid()",
            kernel_code=1,
        ),
        Activation(
            name="tanh",
            label="Tanh",
            fn=_tanh,
            deriv=_tanh_deriv,
            deriv_from_output=_tanh_deriv_from_output,
            gain=5.0 / 3.0,
            gain_source=_TORCH,
            saturation_threshold=0.1,
            can_die=False,
            description="f(z) = tanh z, f' = 1 - f^2. Zero-centred sigmoid-shaped unit (LeCun et al. "
            "1998, Glorot & Bengio 2010); saturates for |z| > ~1.8 (f' < 0.1).",
            keras='"tanh"',
            torch="nn.Tanh()",
            kernel_code=2,
        ),
        Activation(
            name="relu",
            label="ReLU",
            fn=_relu,
            deriv=_relu_deriv,
            deriv_from_output=_relu_deriv,  # sign of h = max(z, 0) tells z > 0; f'(0) = 0 either way
            gain=math.sqrt(2.0),
            gain_source=_TORCH,
            saturation_threshold=None,
            can_die=True,
            description="f(z) = max(z, 0), f'(z) = 1 for z > 0 else 0 (f'(0) = 0, as TensorFlow and "
            "PyTorch). Nair & Hinton (2010); He et al. (2015) derive the gain sqrt(2). A unit with "
            "z <= 0 for every input is dead: zero output and zero gradient.",
            keras='"relu"',
            torch="nn.ReLU()",
            kernel_code=3,
        ),
        Activation(
            name="leaky_relu",
            label=f"Leaky ReLU (slope {LEAKY_RELU_SLOPE:g})",
            fn=_leaky,
            deriv=_leaky_deriv,
            deriv_from_output=_leaky_deriv,  # h and z have the same sign
            gain=math.sqrt(2.0 / (1.0 + LEAKY_RELU_SLOPE**2)),
            gain_source=f"{_TORCH} (negative_slope={LEAKY_RELU_SLOPE:g})",
            saturation_threshold=None,
            can_die=False,
            description=f"f(z) = z for z > 0 else {LEAKY_RELU_SLOPE:g} z (Maas et al. 2013), with the "
            f"Keras 3 default negative_slope {LEAKY_RELU_SLOPE:g} (PyTorch defaults to 0.01). The "
            "gradient never vanishes, so units cannot die.",
            keras='"leaky_relu"',
            torch=f"nn.LeakyReLU({LEAKY_RELU_SLOPE:g})",
            torch_note=f"initlab/Keras slope {LEAKY_RELU_SLOPE:g}; torch's default is 0.01",
            kernel_code=4,
        ),
        Activation(
            name="elu",
            label="ELU (α=1)",
            fn=_elu,
            deriv=_elu_deriv,
            deriv_from_output=_elu_deriv_from_output,
            gain=0.0,  # filled below from second_moment_gain
            gain_source=_COMPUTED,
            saturation_threshold=0.1 * ELU_ALPHA,
            can_die=False,
            description="f(z) = z for z > 0 else alpha (e^z - 1), alpha = 1 (Clevert et al. 2016). "
            "Negative outputs push the mean towards zero; the left tail saturates at -alpha "
            "(f' = f + alpha < 0.1 for z < ln 0.1).",
            keras='"elu"',
            torch="nn.ELU()",
            kernel_code=5,
        ),
        Activation(
            name="selu",
            label="SELU",
            fn=_selu,
            deriv=_selu_deriv,
            deriv_from_output=_selu_deriv_from_output,
            gain=0.75,
            gain_source=_TORCH,
            saturation_threshold=0.1 * SELU_LAMBDA * SELU_ALPHA,
            can_die=False,
            description=f"f(z) = lambda z for z > 0 else lambda alpha (e^z - 1), lambda = {SELU_LAMBDA}, "
            f"alpha = {SELU_ALPHA} (Klambauer et al. 2017, self-normalising with LeCun-normal "
            "weights). PyTorch's gain 3/4 is an empirical choice, not variance preserving.",
            keras='"selu"',
            torch="nn.SELU()",
            kernel_code=6,
        ),
        Activation(
            name="gelu",
            label="GELU (tanh approx.)",
            fn=_gelu,
            deriv=_gelu_deriv,
            deriv_from_output=None,  # f is not monotone: the output does not determine z
            gain=0.0,
            gain_source=_COMPUTED,
            saturation_threshold=0.1 * GELU_MAX_DERIV,
            can_die=False,
            description="f(z) = 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))), the tanh approximation "
            "of z Phi(z) (Hendrycks & Gimpel 2016; Keras approximate=True, PyTorch approximate='tanh'). "
            "It differs from the exact erf form by less than 1e-3 (max ~4.7e-4, near |z| = 2.7).",
            keras="lambda x: keras.activations.gelu(x, approximate=True)",  # the tanh form, as fn
            torch='nn.GELU(approximate="tanh")',
            kernel_code=7,
        ),
        Activation(
            name="swish",
            label="Swish / SiLU",
            fn=_swish,
            deriv=_swish_deriv,
            deriv_from_output=None,  # f is not monotone: the output does not determine z
            gain=0.0,
            gain_source=_COMPUTED,
            saturation_threshold=0.1 * SWISH_MAX_DERIV,
            can_die=False,
            description="f(z) = z sigmoid(z), f' = s + z s (1 - s) (Ramachandran et al. 2017; "
            "Elfwing et al. 2018 call it SiLU). Smooth and non-monotone, with a small negative dip "
            "(min f = -0.278 at z = -1.28).",
            keras='"silu"',
            torch="nn.SiLU()",
            kernel_code=8,
        ),
        Activation(
            name="softplus",
            label="Softplus",
            fn=_softplus,
            deriv=_sigmoid,  # softplus' = sigmoid
            deriv_from_output=_softplus_deriv_from_output,
            gain=0.0,
            gain_source=_COMPUTED,
            saturation_threshold=0.1,
            can_die=False,
            description="f(z) = log(1 + e^z), computed stably as logaddexp(0, z); f' = sigmoid(z) = "
            "1 - e^-f. A smooth ReLU (Dugas et al. 2001) whose left tail saturates (f' < 0.1 for "
            "z < -ln 9).",
            keras='"softplus"',
            torch="nn.Softplus()",
            kernel_code=9,
        ),
    ]
    out: dict[str, Activation] = {}
    for a in acts:
        if a.gain_source == _COMPUTED:
            a = dataclasses.replace(a, gain=second_moment_gain(a))
        out[a.name] = a
    return out


_REGISTRY: dict[str, Activation] = _make_registry()


def names() -> list[str]:
    """Registry keys in a stable display order."""
    return list(_REGISTRY)


# Other names of these activations (Keras, PyTorch, papers), for "did you mean ...?" only.
ALIASES: dict[str, str] = {"identity": "linear", "none": "linear", "logistic": "sigmoid", "silu": "swish",
                           "leaky": "leaky_relu", "leakyrelu": "leaky_relu", "lrelu": "leaky_relu"}


def get(name: str) -> Activation:
    """The :class:`Activation` registered as ``name``; ValueError naming the value and the nearest name."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown activation {name!r}{suggestion(str(name), _REGISTRY, ALIASES)}")
    return _REGISTRY[name]
