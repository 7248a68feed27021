"""Bias schemes: each one's draw, its moments, its formula and source, and its Keras and PyTorch code, once.

A scheme is the registry key of ``Scenario.bias`` and ``TrainScenario.bias``; with the scenario's
``bias_value`` (``value`` below) and a layer's fan-in ``n`` it fixes the law of every bias of that layer:

=============  ============================  ==========  ===============  ===============================
scheme         one bias                      mean        variance         source
=============  ============================  ==========  ===============  ===============================
zeros          0                             0           0                Keras ``Dense`` (the textbooks)
constant       value                         value       0                ``keras.initializers.Constant``
random_normal  N(0, value^2)                 0           value^2          ``keras.initializers.RandomNormal``
torch_linear   U[-1/sqrt(n), 1/sqrt(n)]      0           1 / (3 n)        PyTorch ``nn.Linear.reset_parameters``
=============  ============================  ==========  ===============  ===============================

(``random_normal`` takes ``|value|`` as its standard deviation; a uniform law on [-a, a] has variance
(2a)^2 / 12 = a^2 / 3; ``torch_linear`` ignores ``value``: PyTorch's ``init.uniform_(bias, -bound, bound)``
with ``bound = 1/sqrt(fan_in)``.)

Every consumer reads this table: the deep-signal engine and the training draw with :func:`draw`, the
mean-field theory takes :func:`moments`, the code generator prints :func:`keras_code` and
:func:`torch_code`, the scenario offers :data:`NAMES` and hides the value box for
:data:`WITHOUT_VALUE`. A new scheme is one :class:`BiasScheme` entry.

Zero biases (``zeros``, and ``constant`` or ``random_normal`` with value 0) draw
nothing: the generator is not consumed and the code generator prints the ``zeros`` code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from initlab.weights.initializers import _fan  # the initializers' fan check and message

__all__ = ["BiasScheme", "NAMES", "WITHOUT_VALUE", "draw", "get", "is_zero", "keras_code", "moments",
           "torch_code"]

# (value, fan_in) -> ...
_Moments = Callable[[float, int], tuple[float, float]]
_Code = Callable[[float, int], str]
# (value, fan_in, shape, rng, dtype) -> biases
_Sample = Callable[[float, int, tuple[int, ...], np.random.Generator, np.dtype], np.ndarray]


@dataclass(frozen=True)
class BiasScheme:
    """One bias scheme.

    ``moments(value, fan_in)`` is (mean, variance) of one bias, the formula's exact values;
    ``sample(value, fan_in, shape, rng, dtype)`` draws biases from ``rng`` (never called for zero biases,
    see :func:`draw`); ``keras(value, fan_in)`` is the ``bias_initializer=`` expression of a Keras 3
    ``Dense`` layer and ``torch(value, fan_in)`` the statement that initialises a PyTorch bias tensor
    ``b`` in place (under ``torch.no_grad()``, ``math`` imported); ``takes_value``: whether ``value``
    changes anything (else the page draws no box for it); ``zero(value)``: whether every bias is 0.
    """

    name: str
    formula: str
    source: str
    takes_value: bool
    zero: Callable[[float], bool]
    moments: _Moments
    sample: _Sample
    keras: _Code
    torch: _Code


def _no_draw(value: float, fan_in: int, shape: tuple[int, ...], rng: np.random.Generator,
             dtype: np.dtype) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def _normal(value: float, fan_in: int, shape: tuple[int, ...], rng: np.random.Generator,
            dtype: np.dtype) -> np.ndarray:
    return rng.standard_normal(shape, dtype=dtype) * dtype.type(abs(value))


def _torch_uniform(value: float, fan_in: int, shape: tuple[int, ...], rng: np.random.Generator,
                   dtype: np.dtype) -> np.ndarray:
    bound = 1.0 / math.sqrt(_fan(fan_in, "fan_in"))
    u = rng.random(shape, dtype=dtype)  # U[0, 1)
    return (u * dtype.type(2 * bound) - dtype.type(bound)).astype(dtype, copy=False)


def _num(x: float) -> str:
    """A float literal that round-trips (``repr``), as the code generator prints every number."""
    return repr(float(x))


def _keras_torch_linear(value: float, fan_in: int) -> str:
    lim = 1.0 / math.sqrt(fan_in)
    return f"keras.initializers.RandomUniform(minval={_num(-lim)}, maxval={_num(lim)})"


_SCHEMES: dict[str, BiasScheme] = {b.name: b for b in (
    BiasScheme(
        "zeros", "0", "Keras `Dense` (`bias_initializer=\"zeros\"`) and the textbooks", takes_value=False,
        zero=lambda value: True,
        moments=lambda value, fan_in: (0.0, 0.0),
        sample=_no_draw,
        keras=lambda value, fan_in: '"zeros"',
        torch=lambda value, fan_in: ("nn.init.zeros_(b)"
                                     "  # nn.Linear's default bias is U[+-1/sqrt(fan_in)], not zeros"),
    ),
    BiasScheme(
        "constant", "value", "`keras.initializers.Constant`", takes_value=True,
        zero=lambda value: value == 0,
        moments=lambda value, fan_in: (value, 0.0),
        sample=lambda value, fan_in, shape, rng, dtype: np.full(shape, value, dtype=dtype),
        keras=lambda value, fan_in: f"keras.initializers.Constant(value={_num(value)})",
        torch=lambda value, fan_in: f"nn.init.constant_(b, {_num(value)})",
    ),
    BiasScheme(
        "random_normal", "N(0, value^2), |value| the standard deviation", "`keras.initializers.RandomNormal`",
        takes_value=True,
        zero=lambda value: value == 0,  # not value**2 == 0: a std of 1e-200 is drawn, its square underflows
        moments=lambda value, fan_in: (0.0, value**2),
        sample=_normal,
        keras=lambda value, fan_in: f"keras.initializers.RandomNormal(mean=0.0, stddev={_num(abs(value))})",
        torch=lambda value, fan_in: f"nn.init.normal_(b, mean=0.0, std={_num(abs(value))})",
    ),
    BiasScheme(
        "torch_linear", "U[-1/sqrt(n), 1/sqrt(n)], n = fan_in: variance (2/sqrt(n))^2 / 12 = 1/(3n)",
        "PyTorch `nn.Linear.reset_parameters` (`init.uniform_(bias, -bound, bound)`, bound 1/sqrt(fan_in))",
        takes_value=False,
        zero=lambda value: False,
        moments=lambda value, fan_in: (0.0, 1.0 / (3 * fan_in)),
        sample=_torch_uniform,
        keras=_keras_torch_linear,
        torch=lambda value, fan_in: (f"nn.init.uniform_(b, -1 / math.sqrt({fan_in}), 1 / math.sqrt({fan_in}))"
                                     "  # nn.Linear's own default bias"),
    ),
)}

NAMES: tuple[str, ...] = tuple(_SCHEMES)
WITHOUT_VALUE: tuple[str, ...] = tuple(n for n, b in _SCHEMES.items() if not b.takes_value)


def get(scheme: str) -> BiasScheme:
    """The :class:`BiasScheme` registered as ``scheme``; ValueError naming the value and the choices."""
    try:
        return _SCHEMES[scheme]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown bias scheme {scheme!r}; choose one of {list(NAMES)}") from None


def moments(scheme: str, value: float, fan_in: int) -> tuple[float, float]:
    """(mean, variance) of one bias of ``scheme`` with ``value`` in a layer of ``fan_in`` inputs."""
    return get(scheme).moments(value, fan_in)


def is_zero(scheme: str, value: float) -> bool:
    """True when ``scheme`` with ``value`` gives all-zero biases (then nothing is drawn): ``zeros``, and
    ``constant`` or ``random_normal`` with value 0."""
    return get(scheme).zero(value)


def draw(scheme: str, value: float, fan_in: int, shape: tuple[int, ...], rng: np.random.Generator,
         dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Biases of ``shape`` for layers with ``fan_in`` inputs each, drawn from ``rng`` by ``scheme``.

    The one place biases are drawn: the deep-signal engine (:func:`initlab.signal.network.build`, one call
    for all its layers) and the training (:func:`initlab.training.engine.initial_params`, one call per
    layer) use it, so a scheme means the same distribution in both. Successive calls on one generator
    consume it exactly like one call for all the layers together (numpy draws element by element in C
    order). Draws nothing when :func:`is_zero`.
    """
    b = get(scheme)
    dt = np.dtype(dtype)
    if is_zero(scheme, value):
        return np.zeros(shape, dtype=dt)
    return b.sample(value, fan_in, shape, rng, dt)


def keras_code(scheme: str, value: float, fan_in: int) -> str:
    """The Keras 3 ``bias_initializer=`` expression for ``scheme`` (``"zeros"`` for zero biases)."""
    return get("zeros" if is_zero(scheme, value) else scheme).keras(value, fan_in)


def torch_code(scheme: str, value: float, fan_in: int) -> str:
    """The PyTorch statement initialising bias tensor ``b`` like ``scheme`` (``zeros_`` for zero biases)."""
    return get("zeros" if is_zero(scheme, value) else scheme).torch(value, fan_in)
