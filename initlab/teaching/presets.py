"""Ready-made scenarios: each one shows one thing the choice of initial weights does.

``PRESETS`` maps a URL key (``?preset=he_relu``) to a :class:`Preset`; the insertion order is the
display order. Every number quoted in a preset's ``text`` is either a formula's value or what
:func:`initlab.propagate` (or :mod:`initlab.signal.verdict`) computes for its scenario, whose seed is 0 (the
text says so), and only numbers the preset's opening page shows are quoted;
``tests/test_presets.py`` lists every number of every text and re-computes each one, with the
tolerance derived from the math.

Budget: every scenario runs in well under 2 s on 2 cores (width <= 256, batch 64..256; the 250-layer
ones use batch 64..128, and the orthogonal one width 128 because 250 QR factorisations dominate).

Only the standard library and :mod:`initlab.signal.scenario` are imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from initlab.signal.scenario import Scenario
from initlab.training.scenario import TrainScenario
from initlab.training.summaries import COURSE_C2W1, COURSE_C2W1_COMPARE
from initlab.pages import PAGE_IDS, CompareView, RangesView, TheoryView, TrainView

__all__ = ["PRESETS", "TABS", "Preset", "get", "names"]

TABS: tuple[str, ...] = PAGE_IDS  # the page a preset opens on (initlab.pages: the one list of pages)
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
    tab: str
    views: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # "train": the text quotes measured training numbers as fields ({he.acc_median}), filled in from the
    # comparison on the page (initlab.training.summaries.train_facts): their digits depend on the CPU.
    facts: str = ""

    def values(self) -> dict[str, Any]:
        """The page state this preset opens with: its scenario (section ``net``) and its views; sections
        it does not set keep their defaults (the link codec fills them in)."""
        return {"net": self.scenario, **self.views}

    def fill(self, facts: Mapping[str, Any]) -> str:
        """The text with its fields filled in from ``facts`` (for ``facts == "train"``, the mapping of
        :func:`initlab.training.summaries.train_facts`); a text without fields is returned as it is."""
        return self.text.format_map(facts) if self.facts else self.text

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
        "Every weight starts at 0, so all sigmoid units of a layer compute the same value for every input. Only "
        "the top layer gets a gradient (weight gradient norm 2.78); the 9 layers below get exactly 0, and since "
        "all units of a layer are identical they would receive identical updates forever.",
        Scenario(init="zeros", activation="sigmoid", depth=10, width=256, batch=128),
        "gradients",
    ),
    Preset(
        "std1_explodes", "N(0, 1) weights: 250 layers explode",
        "Weights drawn from N(0, 1), 256 inputs per unit, no activation: each layer multiplies the spread by "
        "sqrt(256) x 1 = 16; with seed 0 the std grows from 16 at layer 1 to 2.23e37 at layer 31. Near 3.4e38 "
        "float32 runs out of numbers, and the values become inf at layer 32; from there on everything is inf or "
        "NaN.",
        Scenario(init="random_normal", stddev=1.0, **_LINEAR_250),
        "signal",
    ),
    Preset(
        "std001_vanishes", "N(0, 0.01) weights: 250 layers vanish",
        "The same 250 linear layers with weights of std 0.01: each layer multiplies the spread by sqrt(256) x "
        "0.01 = 0.16; with seed 0 the std falls from 0.16 at layer 1 to 2.21e-45 at layer 56. Below about 1.4e-45"
        " float32 has no numbers left: at layer 57 every value is exactly 0, and so is every layer above.",
        Scenario(init="random_normal", stddev=0.01, **_LINEAR_250),
        "signal",
    ),
    Preset(
        "std01_grows", "N(0, 0.1) weights: the gradient explodes",
        "Weights of std 0.1 look small, but with 256 inputs each linear layer multiplies the spread by sqrt(256) "
        "x 0.1 = 1.6. Going down the 50 layers, the gradient dl/dz grows x1.6 per layer, with seed 0 from std 1 "
        "at the top to 1.06e10 at layer 1. Yet the weight gradient is flat, between 1.49e11 and 1.81e11 in "
        "every layer: dL/dW multiplies that gradient by the layer's input, which grows x1.6 per layer the other "
        "way, so one step size suits every layer alike, though it must be tiny.",
        Scenario(init="random_normal", stddev=0.1, activation="linear", depth=50, width=256, batch=256),
        "gradients",
    ),
    Preset(
        "small_uniform", "U[0, 0.1]: \"small\" is not enough",
        "Weights in [0, 0.1] are small but all positive (mean 0.05), so the 256 products a unit adds up do not "
        "cancel: with inputs in [0, 1] and seed 0, layer 1's pre-activations have mean 6.42 (256 x 0.5 x 0.05 = "
        "6.4) and std 0.336. tanh is flat there: 100% of the units are saturated, layer 1's outputs have std "
        "4.99e-6 around a mean just below 1, and from layer 2 on every output is exactly 1 in float32, whatever "
        "the input.",
        Scenario(init="small_uniform", activation="tanh", depth=10, width=256, batch=256, inputs="minmax"),
        "signal",
    ),
    Preset(
        "xavier_tanh", "Xavier + tanh: a slow drift",
        "Glorot (Xavier) uniform weights, Var(w) = 2/(fan_in + fan_out) = 1/256, keep tanh in its useful range: "
        "with seed 0 the std of the activations starts at 0.626 and drifts down slowly, to 0.0657 at layer 100, "
        "x0.977 per layer on average and x0.993 in the upper half. That is a factor 0.105 over 100 layers, the "
        "slow algebraic decay of tanh, not an exponential one; 6.8% of layer 1's units are saturated and at "
        "most 0.36% in any layer above.",
        Scenario(init="glorot_uniform", activation="tanh", depth=100, width=256, batch=128),
        "signal",
    ),
    Preset(
        "xavier_relu", "Xavier + ReLU: halving per layer",
        "ReLU sets half of its inputs to 0, so with Xavier's Var(w) = 1/n each layer halves the variance and the "
        "std shrinks by 1/sqrt(2) per layer: with seed 0, from 0.583 at layer 1 to 3.57e-16 at layer 100. The "
        "gradient fades the same way going down, to a std of 6.86e-16 at layer 1. He's Var(w) = 2/n (he_normal) "
        "makes up for the lost half: compare them here.",
        Scenario(init="glorot_uniform", activation="relu", depth=100, width=256, batch=256),
        "compare",
    ),
    Preset(
        "he_relu", "He + ReLU: only a slow drift",
        "He weights, Var(w) = 2/n, double the variance to make up for the half that ReLU sets to 0: with seed 0 "
        "the std of the activations is 0.818 at layer 1 and still 0.229 at layer 50. That is a slow drift, x0.974"
        " per layer on average: at a finite width the scale takes a random walk that tends downwards, while "
        "Xavier's Var(w) = 1/n would shrink the std by 1/sqrt(2) in every layer.",
        Scenario(init="he_normal", activation="relu", depth=50, width=256, batch=128),
        "signal",
    ),
    Preset(
        "sigmoid_saturation", "Sigmoid with too-large weights: saturation",
        "With N(0, 1) weights a sigmoid unit sums 256 terms, so layer 1's pre-activations have std 16, far out on"
        " the flat tails: with seed 0, 82% of layer 1's units and 73% of layer 10's are saturated (slope below "
        "10% of its peak). Their outputs sit near 0 or 1, which keeps the std of the activations near the largest"
        " a sigmoid allows (a half): 0.474 at layer 1, 0.462 at layer 10.",
        Scenario(init="random_normal", stddev=1.0, activation="sigmoid", depth=10, width=256, batch=256),
        "signal",
    ),
    Preset(
        "orthogonal", "Orthogonal + linear: norm preserved",
        "An orthogonal matrix rotates a vector without stretching it, so 250 linear layers keep the std of the "
        "activations at 0.995 from layer 1 to layer 250 (seed 0). In the upper half it changes by less than "
        "1e-4% per layer on average: only rounding, and the batch mean wandering, move it at all.",
        Scenario(init="orthogonal", activation="linear", depth=250, width=128, batch=128),
        "signal",
    ),
    Preset(
        "raw_inputs", "Unscaled inputs saturate the first layer",
        "Good weights cannot rescue unscaled data: raw pixel values in [0, 255] (with seed 0, mean 128 and std "
        "73.4) give layer 1 pre-activations with std 132, and 99% of its tanh units are saturated. Layer 2 is "
        "back to normal (7.9% saturated): scale the inputs to mean 0, std 1 and layer 1 looks like the others.",
        Scenario(init="glorot_uniform", activation="tanh", depth=10, width=256, batch=256, inputs="raw"),
        "signal",
    ),
    Preset(
        "keras_default", "Keras default Dense layer",
        "A Keras Dense layer with no arguments uses glorot_uniform weights, zero biases and no activation "
        "(linear). For square layers Var(w) = 2/(256 + 256) = 1/256 preserves the variance, so the std stays "
        "between 0.887 and 1.05 over 100 layers with seed 0 (0.922 at layer 100). Add activation=\"relu\" and keep "
        "this initializer, and you get xavier_relu.",
        Scenario(init="glorot_uniform", activation="linear", depth=100, width=256, batch=256),
        "compare",
    ),
    Preset(
        "pytorch_default", "PyTorch default nn.Linear with ReLU",
        "PyTorch's nn.Linear draws its weights and its biases from U[-1/sqrt(n), 1/sqrt(n)]; the weights' "
        "variance 1/(3n) is a sixth of what ReLU needs, so (with seed 0) the std of the activations falls from "
        "0.337 at layer 1 until the biases hold it: 0.0224 at layer 20. "
        "What is left hardly depends on the input: from layer 9 on, a unit's spread across the examples is below "
        "1% of the layer's std, and at layer 20 it is down in float32's rounding noise: every input gives the "
        "same output, to float32's precision.",
        Scenario(init="torch_linear", activation="relu", depth=20, width=256, batch=256, bias="torch_linear"),
        "signal",
    ),
    Preset(
        "xavier_range", "Weight range against the number of inputs",
        "The classic plot: U[-1/sqrt(n), +1/sqrt(n)] weights span [-1, 1] for a unit with 1 input and only [-0.1,"
        " 0.1] with 100 inputs; Keras's glorot_uniform, U[-sqrt(6/(n + m)), +sqrt(6/(n + m))] with m = n, shrinks"
        " from [-1.73, 1.73] to [-0.173, 0.173], and PyTorch's kaiming_normal_ has no bound, its std sqrt(2/n) "
        "falling from 1.41 to 0.141. The more inputs are summed, the smaller each weight must be for the sum to "
        "keep the same spread.",
        Scenario(init="xavier_heuristic", activation="tanh", depth=10, width=100, batch=128),
        "ranges", MappingProxyType({"ranges": RangesView()}),
    ),
    Preset(
        "he_range", "He: a standard deviation, not a range",
        "He normal weights have std sqrt(2/n): 1.41 for one input, 0.141 for 100. That is one standard deviation,"
        " not a range: Keras's he_normal only redraws values beyond +-3.22 for one input and +-0.322 for 100, and"
        " PyTorch's kaiming_normal_, with the same std, has no bound at all.",
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
        "one spreads the singular values of its input-output Jacobian: with seed 0, at layer 100 the largest is "
        "15.6 while about three in four fall below float32's rounding floor (a ten-millionth of the largest), so "
        "a few directions of the input are amplified and most are lost. The orthogonal stack keeps every "
        "singular value at 1: all directions survive.",
        Scenario(init="variance_scaling", scale=1.0, mode="fan_in", distribution="untruncated_normal",
                 activation="linear", depth=100, width=256),
        "theory", MappingProxyType({"theory": TheoryView(show="spectra")}),
    ),
    Preset(
        "lsuv_rescue", "LSUV rescues a bad initialization",
        "N(0, 0.01) weights make tanh vanish: with seed 0, Var(z) is 0.0257 at layer 1 and 2.8e-80 at layer 50. LSUV does not "
        "care how the weights started: from an orthogonal start it rescales each layer on the batch until "
        "the variance of its pre-activations z is 1, here with 49 rescalings in all, and leaves Var(z) between "
        "0.985 and 1 in every layer.",
        Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=50),
        "theory", MappingProxyType({"theory": TheoryView(show="lsuv")}),
    ),
)
# Training page: the network scenario stays the default; the training section and its view carry it.
_TRAINING: tuple[Preset, ...] = (
    Preset(
        "course_c2w1", "Training: the course notebook, reproduced",
        "The Deep Learning Specialization's notebook Initialization (course 2, week 1), run by initlab: its data "
        "(scikit-learn's make_circles after np.random.seed(1), the test set after seed 2, unscaled), its network "
        "[2, 10, 5, 1], its weights (np.random.seed(3), then each W drawn as np.random.randn(n_l, n_l-1): zeros, "
        "× 10, × sqrt(2/n_l-1)) and its 15000 full-batch steps at learning rate 0.01, one run each (weight seed "
        "3), the loss recorded at the steps where the notebook prints its cost. The table below puts the "
        "notebook's printed numbers beside initlab's: zeros stays at {zeros.acc_median} and ln 2, × 10 ends at a "
        "test accuracy of {normal_10.acc_median}, He at {he.acc_median}. Its cost is computed as the notebook "
        "computes it (Reported cost: naive), so × 10 starts at the same inf; the loss from the logits, which the "
        "charts show, is finite: {normal_10.loss0}.",
        Scenario(), "training",
        MappingProxyType({"train": COURSE_C2W1, "training": TrainView(compare=COURSE_C2W1_COMPARE)}),
        facts="train",
    ),
    Preset(
        "train_classic", "Training: zeros vs N(0, 1) × 10 vs He",
        "The classic comparison, 10 restarts each (seeds 0 to 9) on the circles. Zero init never leaves a test "
        "accuracy of 0.5 and a loss of 0.693 (ln 2), with 1 distinct unit per layer from start to end. "
        "N(0, 1) × 10 starts at a median loss of {normal_10.loss0} and its restarts end anywhere between a test "
        "accuracy of {normal_10.acc_min} and {normal_10.acc_max} (median {normal_10.acc_median}), while every "
        "restart of He ends between {he.acc_min} and {he.acc_max}.",
        Scenario(), "training",
        MappingProxyType({"train": TrainScenario(), "training": TrainView()}), facts="train",
    ),
    Preset(
        "train_symmetry", "Training: ones and constants never break the symmetry",
        "Every unit of a layer starts with the same weights, gets the same gradient and stays a copy of "
        "the others. With ones or a constant 0.5 the network keeps 1 distinct unit per layer for all "
        "15000 steps and learns no more than one unit can (median test accuracy {ones.acc_median} and "
        "{constant.acc_median}, seeds 0 to 9), while He's random start keeps all 10 and 5 and reaches "
        "{he.acc_median}.",
        Scenario(), "training",
        MappingProxyType({"train": TrainScenario(), "training": TrainView(compare=("ones", "constant", "he"),
                                                                             show="symmetry")}),
        facts="train",
    ),
    Preset(
        "train_restarts", "Training: judge over restarts, not one run",
        "A tiny network (3 hidden units) learns xor from 20 restarts (seed 0 and the 19 after it). Any one run can mislead: "
        "restarts of both initializers get stuck, down to a test accuracy of {he.acc_min}. Over all 20 the "
        "difference shows: from N(0, 0.01)'s tiny weights the median restart reaches {normal_001.acc_median} "
        "(middle half {normal_001.acc_q1} – {normal_001.acc_q3}), from He's {he.acc_median} ({he.acc_q1} – "
        "{he.acc_q3}).",
        Scenario(), "training",
        MappingProxyType({"train": TrainScenario(dataset="xor", hidden=(3,), lr=0.1, steps=5000, restarts=20),
                          "training": TrainView(compare=("normal_001", "he"), show="restarts")}),
        facts="train",
    ),
    Preset(
        "train_sigmoid_large", "Training: sigmoid with too-large weights crawls",
        "With N(0, 1) × 10 weights every sigmoid unit starts saturated, nearly a step, and the output is "
        "confidently wrong: median loss {normal_10.loss0} at step 0 (seeds 0 to 9), against {xavier.loss0} for "
        "Xavier. Its gradients are not small (larger than Xavier's in every layer at step 0), but its weights "
        "are far larger still and only points near a unit's edge pass gradient through it: the weights chart "
        "shows them hardly moving, and the learning curves show it crawling, ahead of Xavier for the first "
        "thousand steps yet at {normal_10.acc_median} in the median restart after 5000 ({normal_10.acc_min} to "
        "{normal_10.acc_max}). Xavier's units start in the sloped middle of the sigmoid: after a plateau near "
        "its symmetric start its weights grow and it learns fast, to a final loss of {xavier.loss_end} and "
        "{xavier.acc_median} in the median restart.",
        Scenario(), "training",
        MappingProxyType({"train": TrainScenario(activation="sigmoid", lr=1.0, steps=5000),
                          "training": TrainView(compare=("normal_10", "xavier"), norms="weight",
                                                show="layers")}),
        facts="train",
    ),
)
# Residual connections and normalization (He et al. 2016; Ioffe & Szegedy 2015; Ba et al. 2016): where modern
# networks change the story, and where the initialization still matters.
_RES_RELU = dict(init="he_normal", activation="relu", block="residual", width=256)
_MODERN: tuple[Preset, ...] = (
    Preset(
        "res_doubles", "Residual blocks without a norm: the variance doubles per block",
        "Residual blocks h = h + B(h) without normalization, He weights and ReLU: each branch adds as much "
        "variance as the stream already carries, so the variance doubles per block and the std grows by √2 "
        "per block, from 1.4 after block 1 (seed 0). The identity path does not protect the scale: "
        "float32 overflows at block 258 of 300.",
        Scenario(**_RES_RELU, depth=300, batch=64),
        "signal",
    ),
    Preset(
        "res_scaled", "Residual branches scaled by 1/√depth",
        "The same 300 residual blocks with every branch scaled by α = 1/√300 = 0.0577, the depth rule behind "
        "GPT-2's 1/√(2·n_layer). The variance now grows by a factor 1 + 1/300 per block, at most e over the "
        "whole depth, so the std stays below √e = 1.65 and ends at 1.61 (seed 0).",
        Scenario(**_RES_RELU, depth=300, batch=64, residual_rule="inv_sqrt_depth"),
        "signal",
    ),
    Preset(
        "rezero", "α = 0 (ReZero, SkipInit): the identity, and no weight gradient",
        "Every branch is multiplied by α = 0, as ReZero and SkipInit start: each block is exactly the "
        "identity: the signal passes through all 50 blocks unchanged, and so does the gradient (grad std 0.998 "
        "in every block, seed 0). Yet no weight gets a gradient, since each branch only counts through α. ReZero learns α "
        "itself, whose gradient is not 0, and the weights follow once α has moved.",
        Scenario(**_RES_RELU, depth=50, residual_scale=0.0),
        "gradients",
    ),
    Preset(
        "fixup", "Fixup: the identity at the start, with gradients",
        "Fixup without any normalization (Zhang, Dauphin and Ma): 50 blocks of two layers, the first scaled by "
        "50^(-1/2), the last one zero. Every block starts as the identity, as with α = 0 (grad std 0.998 "
        "throughout, seed 0), but here weights do get gradients: the zero last layer of each branch sees the "
        "first layer's output (‖∂L/∂W‖ 2.26 in block 1). The first layers get none until the last ones move.",
        Scenario(**_RES_RELU, depth=50, branch_layers=2, residual_rule="fixup"),
        "gradients",
    ),
    Preset(
        "prenorm_linear", "Pre-norm residual: linear growth instead of doubling",
        "A LayerNorm before each branch (pre-norm, He + ReLU): every branch sees a normalised input and adds "
        "the same variance, σw² E[relu(u)²] = 2 × 1/2 = 1, so the variance grows by 1 per block instead of "
        "doubling: std 1.42 after block 1 and 7.11 after block 50 (seed 0), near √(1 + 50) = 7.14. Normalization turns "
        "exponential growth into linear growth; the next preset shows that the weights still set its slope.",
        Scenario(**_RES_RELU, depth=50, norm="layer"),
        "signal",
    ),
    Preset(
        "prenorm_std1", "Pre-norm residual with N(0, 1) weights: linear, but steep",
        "The same pre-norm network with N(0, 1) weights instead of He's: each branch now adds σw² E[relu(u)²] "
        "= 256 × 1/2 = 128 to the variance, and the std is 11.4 after block 1 and 84.4 after block 50 (the "
        "mean-field value is √(1 + 50 × 128) = 80; seed 0). Still linear, thanks to the norm, but 128 times "
        "steeper: normalization forgives an explosion, not the weight scale.",
        Scenario(init="random_normal", stddev=1.0, activation="relu", block="residual", width=256, depth=50,
                 norm="layer"),
        "signal",
    ),
    Preset(
        "batchnorm_250", "BatchNorm: N(0, 1) weights through 250 linear layers",
        "N(0, 1) weights through 250 linear layers, as in the explosion preset, with a BatchNorm after every "
        "layer: every layer's output has std 1 (seed 0) and nothing overflows. The weight scale has moved elsewhere: a "
        "BatchNorm makes its layer scale-invariant, N(x·cW) = N(xW), so ‖∂L/∂W‖ scales as 1/c and the "
        "initialization sets the effective learning rate instead of the signal.",
        Scenario(init="random_normal", stddev=1.0, norm="batch", **_LINEAR_250),
        "signal",
    ),
    Preset(
        "pre_vs_post", "Pre-norm against post-norm: the gradient per block",
        "50 residual blocks of two layers, He + ReLU, with the LayerNorm before each branch (pre) or after each "
        "sum (post). Pre-norm never normalises the stream, whose variance grows with the number of blocks, "
        "and each branch's norm divides by that growing std: block 1 gets 5.16 times the gradient of the top "
        "block (seed 0). Post-norm normalises every sum: std 1 in every block and a nearly flat gradient, "
        "1.14 at block 1; not the growth toward the output that Xiong and others found in "
        "Transformers, which comes with attention. With one layer per branch, f(xW + b), the post-norm "
        "gradient grows toward the input instead, because the norm removes the ReLU branch's mean.",
        Scenario(**_RES_RELU, depth=50, branch_layers=2, norm="layer"),
        "compare", MappingProxyType({"compare": CompareView(by="architecture", archs=("pre_norm", "post_norm"))}),
    ),
)
# Training residual and normalised networks: deep enough (31 hidden layers of 16) for a plain network to get
# stuck. Adam at lr 0.01 shows it most clearly: plain SGD makes the residual network without a norm diverge
# instead (train_rezero). 7 restarts keep the BatchNorm network within the memory budget with room to spare.
_DEEP = TrainScenario(dataset="spiral", hidden=(16,) * 31, optimizer="adam", steps=2000, batch_size=64, restarts=7)
_TRAINING_MODERN: tuple[Preset, ...] = (
    Preset(
        "train_deep_residual", "Training: a deep plain network gets stuck, residual blocks do not",
        "31 hidden layers of 16 on the spiral, He weights, Adam (learning rate 0.01) on batches of 64 for 2000 "
        "steps, 7 restarts (seeds 0 to 6): most of the plain network's restarts never leave the loss of a coin "
        "flip, ln 2 = 0.693 (median test accuracy {plain.acc_median}, worst {plain.acc_min}, best "
        "{plain.acc_max}). Adam moves every weight by about the learning rate whatever its gradient, and in a "
        "stuck restart it pushes a whole layer of 16 ReLU units below zero on every training point within the "
        "first few hundred steps, after which no gradient gets through that layer. The same depth as a stem and "
        "30 residual blocks learns (median {residual.acc_median}, {residual.acc_min} to {residual.acc_max}), and "
        "with a BatchNorm before each branch every restart does ({residual_norm.acc_min} to "
        "{residual_norm.acc_max}): the identity path carries the signal and the gradient past any layer, and the "
        "norm keeps each branch's input centred and scaled. Adam shows this best: with plain SGD the residual "
        "network without a norm diverges instead (next preset).",
        Scenario(), "training",
        MappingProxyType({"train": _DEEP, "training": TrainView(by="architecture",
                                                                archs=("plain", "residual", "residual_norm"))}),
        facts="train",
    ),
    Preset(
        "train_rezero", "Training: ReZero starts deep networks as the identity",
        "A stem and 30 residual blocks of 16 without a norm on the spiral, He weights, plain gradient descent "
        "(learning rate 0.1) on batches of 64, 7 restarts (seeds 0 to 6). With α = 1 every block adds a branch as "
        "large as the stream, so the stream's variance roughly doubles per block: median loss {residual.loss0} at "
        "step 0, and {residual.diverged} of {residual.restarts} restarts diverge (loss inf or NaN) by the "
        "first recorded step after it. ReZero multiplies each branch by an α that starts at 0 and is learned: "
        "the network starts as its stem alone (loss {rezero.loss0}) and gradient descent grows each block's α as "
        "far as that block helps, to a median test accuracy of {rezero.acc_median}; the part α, γ and β shows "
        "every block's α leaving 0, some up and some down.",
        Scenario(), "training",
        MappingProxyType({"train": _DEEP.replace(optimizer="sgd", lr=0.1),
                          "training": TrainView(by="architecture", archs=("residual", "rezero"), show="blocks")}),
        facts="train",
    ),
    Preset(
        "train_residual_symmetry", "Training: the identity path does not break the symmetry",
        "A stem and 6 residual blocks of 16 on circles, Adam on batches of 64, 5 restarts (seeds 0 to 4), every "
        "weight layer started from zeros, from the constant 0.5 or from He's random weights. With zeros or 0.5 the "
        "Symmetry part shows 1 distinct unit in the stem and in every branch at every step: the identity path adds "
        "unit k's input to unit k, the same map for every unit, so units that start equal get equal gradients and "
        "stay equal, and the network learns like one a single unit wide (median test accuracy {zeros.acc_median} "
        "and {constant.acc_median}). He's random start keeps all 16 units of every layer distinct and reaches "
        "{he.acc_median}.",
        Scenario(), "training",
        MappingProxyType({"train": TrainScenario(hidden=(16,) * 7, block="residual", optimizer="adam", steps=2000,
                                                 batch_size=64, restarts=5),
                          "training": TrainView(compare=("zeros", "constant", "he"), show="symmetry")}),
        facts="train",
    ),
)
# Real data with ten classes: scikit-learn's bundled digits, every image of its split, one hidden layer of 32
# ReLU units and a softmax. Batches of 64 keep 10 restarts of 2000 steps within the budget (full batch would be
# 7 times over it). The three digits presets are one training, opened at different parts.
_DIGITS = TrainScenario(dataset="digits", classes=10, n_train=1437, n_test=360, hidden=(32,), lr=0.1, steps=2000,
                        batch_size=64)
# What each unit computes in the plane: three hidden layers of 8 ReLU units on circles, plain gradient descent at
# lr 0.1: N(0, 1) x 10's huge first gradients push most units below zero on every point for good.
_UNITS = TrainScenario(hidden=(8, 8, 8), lr=0.1, steps=2000, batch_size=64)
_TRAINING_UNITS: tuple[Preset, ...] = (
    Preset(
        "train_digits", "Training: handwritten digits, zeros vs N(0, 1) × 10 vs He",
        "scikit-learn's 8 × 8 handwritten digits, 1437 training and 360 test images of ten classes, learned by one "
        "hidden layer of 32 ReLU units and a softmax with plain gradient descent (learning rate 0.1) on batches of "
        "64 for 2000 steps, 10 restarts (seeds 0 to 9). Zeros never leaves the loss of a uniform guess and "
        "predicts one digit for every image (median test accuracy {zeros.acc_median}, chance is 0.1); N(0, 1) × 10 "
        "starts at a loss of {normal_10.loss0} and ends anywhere from {normal_10.acc_min} to {normal_10.acc_max}; "
        "He reaches {he.acc_median}, every restart between {he.acc_min} and {he.acc_max}. The course notebook's "
        "lesson holds on real data with ten classes.",
        Scenario(), "training", MappingProxyType({"train": _DIGITS, "training": TrainView()}), facts="train",
    ),
    Preset(
        "train_digits_start", "Training: the loss at step 0 against ln 10",
        "The same digits training (10 restarts, seeds 0 to 9), read at step 0. An output layer of zeros gives every digit 1/10, a loss of "
        "ln 10 = 2.303, where zeros starts ({zeros.loss0}); He starts a little above it ({he.loss0}), since its "
        "random logits already differ by about one unit and favour a digit that is mostly the wrong one. "
        "N(0, 1) × 10 starts at {normal_10.loss0}: logits thousands apart make it certain of a random digit for "
        "each image, and every wrong certainty costs the whole gap, which training must first undo.",
        Scenario(), "training", MappingProxyType({"train": _DIGITS, "training": TrainView(frame=0)}), facts="train",
    ),
    Preset(
        "train_digits_errors", "Training: what the digits networks get wrong",
        "The same digits training (10 restarts, seeds 0 to 9) at its last step, restart 0: the confusion matrix "
        "counts, for every true digit, what each network predicts. Zeros fills a single column, one digit predicted for every "
        "image; He's counts sit on the diagonal (median test accuracy {he.acc_median}), and the test images it "
        "still gets wrong are drawn below the matrices, each with its true digit and the prediction.",
        Scenario(), "training", MappingProxyType({"train": _DIGITS, "training": TrainView(show="errors")}),
        facts="train",
    ),
    Preset(
        "train_digits_weights", "Training: a constant init gives every unit the same image",
        "The digits network of 32 units started from zeros, from the constant 0.5 and from He, 10 restarts "
        "(seeds 0 to 9), its first layer's weights drawn as one 8 × 8 image per unit. With zeros every weight "
        "stays 0; with 0.5 all 32 units get the same gradient at every step and stay copies of one image, so "
        "the network learns like one with a single hidden unit (median test accuracy {constant.acc_median}). He's "
        "32 random images become 32 different stroke detectors ({he.acc_median}).",
        Scenario(), "training",
        MappingProxyType({"train": _DIGITS, "training": TrainView(compare=("zeros", "constant", "he"), show="units")}),
        facts="train",
    ),
    Preset(
        "train_units", "Training: what each unit computes in the plane",
        "Three hidden layers of 8 ReLU units on circles, plain gradient descent (learning rate 0.1) on batches of "
        "64 for 2000 steps, 10 restarts (seeds 0 to 9), every unit's output drawn over the plane. With zeros every "
        "unit of a layer outputs 0 everywhere, dead from the start; He's units each respond to their own "
        "part of the plane and together they draw the circle (median test accuracy {he.acc_median}). N(0, 1) × "
        "10's first steps are so large that they push most units of layer 2 below zero on every training point, "
        "dead for good (median {normal_10.acc_median}: a coin flip).",
        Scenario(), "training",
        MappingProxyType({"train": _UNITS, "training": TrainView(show="units", layer=2)}), facts="train",
    ),
    Preset(
        "train_dead_units", "Training: dead units and the size of each update",
        "The same three layers of 8 ReLU units on circles, 10 restarts (seeds 0 to 9), read during training. "
        "N(0, 1) × 10 starts with few dead units, but by the first recorded step its huge first updates have "
        "killed nearly every unit of layers 2 and 3; from then on no gradient gets through, every update is "
        "exactly 0 and the network is frozen at a coin flip ({normal_10.acc_median}). He's updates stay near a "
        "hundredth of its weights and nearly all its units live; zeros has no ratio at all, its weights are 0 "
        "and stay 0.",
        Scenario(), "training", MappingProxyType({"train": _UNITS, "training": TrainView(show="health")}),
        facts="train",
    ),
)
_ALL = _ALL + _MODERN + _TRAINING + _TRAINING_MODERN + _TRAINING_UNITS + _THEORY

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
