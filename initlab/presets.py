"""Ready-made scenarios: each one shows one thing the choice of initial weights does.

``PRESETS`` maps a URL key (``?preset=he_relu``) to a :class:`Preset`; the insertion order is the
display order. Every number quoted in a preset's ``text`` is what :func:`initlab.propagate` computes
for its scenario (seed 0); ``tests/test_presets.py`` re-computes each one and checks it, with the
tolerance derived from the math.

Budget: every scenario runs in well under 2 s on 2 cores (width <= 256, batch 64..256; the 250-layer
ones use batch 64..128, and the orthogonal one width 128 because 250 QR factorisations dominate).

Only the standard library and :mod:`initlab.scenario` are imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from initlab.scenario import Scenario
from initlab.views import CompareView, RangesView, SignalView

__all__ = ["PRESETS", "TABS", "Preset", "get", "names"]

Tab = Literal["signal", "gradients", "ranges", "compare", "theory"]
TABS: tuple[str, ...] = ("signal", "gradients", "ranges", "compare", "theory")
_NAME = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class Preset:
    """One ready-made scenario: ``name`` is the stable URL key ([a-z0-9_]), ``title`` a short label,
    ``text`` 2-3 plain sentences saying what to look at and what it means, ``tab`` the page that
    shows it best, ``views`` the settings of that page (section id -> view) where they differ from the
    page's defaults: the opening view shows what the text describes."""

    name: str
    title: str
    text: str
    scenario: Scenario
    tab: Tab
    views: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def values(self) -> dict[str, Any]:
        """The page state this preset opens with: its scenario (section ``net``) and its views; sections
        it does not set keep their defaults (the link codec fills them in)."""
        return {"net": self.scenario, **self.views}

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"preset name {self.name!r} must be 1-32 characters of [a-z0-9_]")
        if self.tab not in TABS:
            raise ValueError(f"preset tab {self.tab!r} must be one of {', '.join(TABS)}")


# The classic 250-layer linear stack of the source texts; batch 64 keeps it at ~0.5 s.
_LINEAR_250 = dict(activation="linear", depth=250, width=256, batch=64)

_ALL: tuple[Preset, ...] = (
    Preset(
        "zero_init", "Zero init: the symmetry is never broken",
        "Every weight starts at 0, so every sigmoid unit of every layer outputs exactly 0.5 for every input: "
        "unit spread is 0 everywhere. Only the top layer gets a gradient (weight gradient norm 2.78); all "
        "9 layers below get exactly 0, and since all units of a layer are identical they would receive "
        "identical updates forever.",
        Scenario(init="zeros", activation="sigmoid", depth=10, width=256, batch=128),
        "gradients",
    ),
    Preset(
        "std1_explodes", "N(0, 1) weights: 250 layers explode",
        "Weights drawn from N(0, 1), 256 inputs per unit, no activation: each layer multiplies the spread by "
        "sqrt(256) x 1 = 16 (std 16 after layer 1, 256 after layer 2). Around 10^38 float32 runs out of "
        "numbers and the values become inf at layer 32; everything above, and the whole gradient, is inf or NaN.",
        Scenario(init="random_normal", stddev=1.0, **_LINEAR_250),
        "signal",
    ),
    Preset(
        "std001_vanishes", "N(0, 0.01) weights: 250 layers vanish",
        "The same 250 linear layers with weights of std 0.01: each layer multiplies the spread by "
        "sqrt(256) x 0.01 = 0.16, so after 10 layers it is 1e-8 and at layer 57 every value is exactly 0 in "
        "float32. Going down, the gradient fades just as fast, and the weight gradient is exactly 0 in all "
        "250 layers: nothing can learn.",
        Scenario(init="random_normal", stddev=0.01, **_LINEAR_250),
        "signal",
    ),
    Preset(
        "std01_grows", "N(0, 0.1) weights: the gradient explodes",
        "Weights of std 0.1 look small, but with 256 inputs each layer multiplies the spread by "
        "sqrt(256) x 0.1 = 1.6. Over 50 linear layers that is 1.6^49 = 1e10: the gradient has std 1 at "
        "the top and 1.06e10 at layer 1, so no single learning rate suits both ends.",
        Scenario(init="random_normal", stddev=0.1, activation="linear", depth=50, width=256, batch=256),
        "gradients",
    ),
    Preset(
        "small_uniform", "U[0, 0.1]: \"small\" is not enough",
        "Weights in [0, 0.1] are small but all positive, so they average 0.05 and every pre-activation is "
        "pushed up: with inputs in [0, 1] the pre-activation mean is 6.4 in layer 1 (256 x 0.5 x 0.05) and "
        "about 12.8 from layer 2 on. tanh is then flat: 100% of the units are saturated, every output is exactly 1 "
        "and the gradient is exactly 0 in every layer.",
        Scenario(init="small_uniform", activation="tanh", depth=10, width=256, batch=256, inputs="minmax"),
        "signal",
    ),
    Preset(
        "xavier_tanh", "Xavier + tanh: a stable band",
        "Glorot (Xavier) uniform weights, Var(w) = 2/(fan_in + fan_out) = 1/256, keep tanh in its useful "
        "range: the output std starts at 0.63 and only drifts down slowly, to 0.066 after 100 layers; 7% of "
        "the units are saturated in layer 1 and under 0.5% above. The gradient at layer 1 is 0.084 of the "
        "one at the top: a factor 12 over 100 layers, not 10^15.",
        Scenario(init="glorot_uniform", activation="tanh", depth=100, width=256, batch=128),
        "signal",
    ),
    Preset(
        "xavier_relu", "Xavier + ReLU: halving per layer",
        "ReLU sets half of its inputs to 0, so with Xavier's Var(w) = 1/n each layer halves the variance: the "
        "std shrinks x0.70 (1/sqrt 2) per layer, from 0.58 at layer 1 to 3.6e-16 at layer 100, and the "
        "gradient reaching layer 1 is 1e-15 of the one at the top. Switch to he_normal to compare.",
        Scenario(init="glorot_uniform", activation="relu", depth=100, width=256, batch=256),
        "compare",
    ),
    Preset(
        "he_relu", "He + ReLU: stable",
        "He weights, Var(w) = 2/n, double the variance to make up for the half ReLU throws away, so the "
        "pre-activation std starts at sqrt(2) = 1.42 and after 50 layers is 0.38: a slow drift by a factor "
        "3.8 (the random walk of a finite width), where Xavier would have shrunk it 2^24.5 = 2e7-fold. The "
        "gradient at layer 1 is 0.68 of the one at the top.",
        Scenario(init="he_normal", activation="relu", depth=50, width=256, batch=128),
        "signal",
    ),
    Preset(
        "sigmoid_saturation", "Sigmoid with too-large weights: saturation",
        "With N(0, 1) weights a sigmoid unit sums 256 terms, so its input has std 16 in layer 1 and about 11 "
        "above, far out on the flat tails: 82% of the units in layer 1 and about 70% in every layer above are "
        "saturated (slope below 10% of its peak). The top layer passes on only 0.078 of the output gradient.",
        Scenario(init="random_normal", stddev=1.0, activation="sigmoid", depth=10, width=256, batch=256),
        "signal",
    ),
    Preset(
        "orthogonal", "Orthogonal + linear: norm preserved",
        "An orthogonal matrix rotates a vector without stretching it. So 250 linear layers keep the std of "
        "the signal at 0.995 from layer 1 to layer 250 (it moves by less than 0.04%, only because the mean "
        "wobbles; the root mean square is kept to 1e-7), and the gradient arrives at layer 1 as large as it "
        "left the top.",
        Scenario(init="orthogonal", activation="linear", depth=250, width=128, batch=128),
        "signal",
    ),
    Preset(
        "raw_inputs", "Unscaled inputs saturate the first layer",
        "Good weights cannot rescue unscaled data: raw pixel values in [0, 255] give layer 1 pre-activations "
        "with std 132, and 99% of its tanh units are saturated. Layer 2 is back to normal (8%): scale the "
        "inputs to mean 0, std 1 and layer 1 looks like the others.",
        Scenario(init="glorot_uniform", activation="tanh", depth=10, width=256, batch=256, inputs="raw"),
        "signal",
    ),
    Preset(
        "keras_default", "Keras default Dense layer",
        "A Keras Dense layer with no arguments uses glorot_uniform weights, zero biases and no activation "
        "(linear). For square layers Var(w) = 2/(256 + 256) = 1/256 preserves the variance, so the std stays "
        "between 0.89 and 1.05 over 100 layers. Add activation=\"relu\" and keep this initializer, and you get xavier_relu.",
        Scenario(init="glorot_uniform", activation="linear", depth=100, width=256, batch=256),
        "compare",
    ),
    Preset(
        "pytorch_default", "PyTorch default nn.Linear with ReLU",
        "PyTorch's nn.Linear draws U[-1/sqrt(n), 1/sqrt(n)], a variance of 1/(3n): a third of LeCun's and a "
        "sixth of what ReLU needs. Each ReLU layer divides the variance by 6 (std x0.41), so the std falls "
        "from 0.34 at layer 1 to 1.2e-8 at layer 20, and the gradient at layer 1 is 3.6e-8 of the top one.",
        Scenario(init="torch_linear", activation="relu", depth=20, width=256, batch=256),
        "signal",
    ),
    Preset(
        "xavier_range", "Weight range against the number of inputs",
        "The classic plot: U[-1/sqrt(n), +1/sqrt(n)] weights span [-1, 1] for a unit with 1 input and only "
        "[-0.1, 0.1] with 100 inputs. The more inputs are summed, the smaller each weight must be for the "
        "sum to keep the same spread.",
        Scenario(init="xavier_heuristic", activation="tanh", depth=10, width=100, batch=128),
        "ranges", MappingProxyType({"ranges": RangesView()}),
    ),
    Preset(
        "he_range", "He: a standard deviation, not a range",
        "He normal weights have std sqrt(2/n): 1.41 for one input, 0.141 for 100. That is one standard "
        "deviation, not a range: 35% of Keras's he_normal weights lie outside +-sqrt(2/n) (it only redraws "
        "values beyond 2.27 std), and PyTorch's kaiming_normal_ has no bound at all.",
        Scenario(init="he_normal", activation="relu", depth=10, width=100, batch=128),
        "ranges", MappingProxyType({"ranges": RangesView(inits=("he_normal", "torch_kaiming_normal"))}),
    ),
)

# Theory page. sigma_b^2 = 0.05 is the bias variance of Schoenholz et al.'s tanh example.
_TANH_EDGE = dict(init="variance_scaling", scale=1.76, mode="fan_in", distribution="untruncated_normal",
                  activation="tanh", bias="random_normal", bias_value=0.05 ** 0.5, depth=100)
_THEORY: tuple[Preset, ...] = (
    Preset(
        "edge_of_chaos", "tanh at the edge of chaos",
        "With a little bias noise (σb² = 0.05) the edge of chaos for tanh is not at σw² = 1 but at 1.76: the "
        "bias pushes the signal into tanh's flatter part, so the weights must be larger. This network sits "
        "on it (χ₁ = 1), and its depth scale ξ_c is 4910 layers, far more than its 100: every layer still "
        "tells its inputs apart. Move the scale down to 1 and the cross lands in the ordered (blue) phase, "
        "where ξ_c is only a few layers.",
        Scenario(**_TANH_EDGE),
        "theory",
    ),
    Preset(
        "isometry", "Orthogonal vs Gaussian: dynamical isometry",
        "Both 100-layer linear stacks have σw² = 1, so on average nothing grows or shrinks. But the Gaussian "
        "one spreads the singular values of its input-output Jacobian: at layer 100 they run from 1.98e-9 to "
        "15.6, so a few directions of the input are amplified and almost all are lost. The orthogonal "
        "stack keeps every singular value at 1: all directions survive.",
        Scenario(init="variance_scaling", scale=1.0, mode="fan_in", distribution="untruncated_normal",
                 activation="linear", depth=100, width=256),
        "theory",
    ),
    Preset(
        "lsuv_rescue", "LSUV rescues a bad initialization",
        "N(0, 0.01) weights make tanh vanish: Var(z) is 0.0257 at layer 1 and 2.8e-80 at layer 50. LSUV does not "
        "care how the weights started: from an orthogonal start it rescales each layer on the batch until "
        "its output variance is 1, here with 49 rescalings in all, and leaves Var(z) between 0.985 and 1 in "
        "every layer.",
        Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=50),
        "theory",
    ),
)
_ALL = _ALL + _THEORY

PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}
assert len(PRESETS) == len(_ALL), "duplicate preset name"


def names() -> list[str]:
    """Preset keys in display order."""
    return list(PRESETS)


def get(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the unknown value and listing the valid ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
