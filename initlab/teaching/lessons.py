"""Short lessons on weight initialization, each pointing at the presets that show it happening.

Written for initlab from the ideas of its four source texts (Goodfellow et al. 2016 ch. 8.4, Glorot &
Bengio 2010, He et al. 2015 and three tutorials), re-checked against what :func:`initlab.propagate`
computes; where a tutorial was loose (U[0, 0.1] called "close to zero", a standard deviation called a
range) the lesson says what actually happens. ``tests/test_lessons.py`` checks every preset exists and
recomputes every number a lesson quotes from a preset (those are for seed 0, and the lesson says so).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LESSONS", "Lesson"]


@dataclass(frozen=True)
class Lesson:
    """One lesson: a ``title``, a markdown ``body`` (3-8 sentences, no LaTeX) and the ``presets``
    (keys of :data:`initlab.teaching.presets.PRESETS`) that show it on the page."""

    title: str
    body: str
    presets: tuple[str, ...]


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "Why start from random weights?",
        "Training a network is a search: gradient descent starts somewhere in the space of all possible "
        "weights and walks downhill on the loss. We know nothing in advance about where the good valleys "
        "are, so a random starting point is the least biased choice. The search itself is random too "
        "(mini-batches are shuffled every epoch), and different starts end in different solutions. That is "
        "why a fair evaluation trains the same network several times from different seeds (multiple "
        "restarts) and reports the average, and why fixing the seed gives the same network twice.",
        ("xavier_tanh", "he_relu"),
    ),
    Lesson(
        "Why not zeros, or any constant?",
        "If every weight of a layer has the same value, every unit of that layer computes the same "
        "output for every input, receives the same gradient and gets the same update: after any number "
        "of steps they are still identical copies, and a layer of 256 units is worth one. With all-zero "
        "weights it is worse: the gradient sent down through a zero matrix is exactly zero, so only the "
        "top layer learns at all. Biases, on the other hand, can safely start at 0 (the Keras and "
        "textbook default) once the weights are random.",
        ("zero_init",),
    ),
    Lesson(
        "Breaking the symmetry",
        "Two units that see the same inputs must start with different weights, or the learning rule, "
        "being deterministic, keeps them equal forever. Drawing every weight independently at random "
        "breaks this symmetry with probability 1. But random alone is not enough: a random init whose "
        "values share one sign, like U[0, 0.1], pushes every unit of a layer towards the same large "
        "value, and the units become identical again (unit spread 0) through saturation.",
        ("zero_init", "small_uniform"),
    ),
    Lesson(
        "Exploding and vanishing signals",
        "A deep network multiplies its input by one weight matrix per layer: 250 layers are 250 "
        "multiplications in a row. A unit that sums n inputs of variance v through weights of variance "
        "s^2 has variance n s^2 v, so every layer scales the spread by sqrt(n) s. With n = 256 and "
        "s = 1 that is x16 per layer and float32 overflows to inf after about 32 layers; with s = 0.01 it "
        "is x0.16 and the values underflow to exactly 0 after about 57 layers. Gradients travel the same "
        "chain backwards, so the gradient dl/dz reaching each layer explodes or vanishes too. Even s = 0.1, "
        "which looks small, grows it 1.6-fold per layer going down; the weight gradient dL/dW, which also "
        "multiplies by the forward signal growing the other way, stays level there instead.",
        ("std1_explodes", "std001_vanishes", "std01_grows"),
    ),
    Lesson(
        "Saturation: large weights and unscaled inputs",
        "Sigmoid and tanh are flat far from 0: beyond |z| of about 3.6 the sigmoid's slope is less than "
        "a tenth of its peak, and tanh's beyond about 1.8. With N(0, 1) weights and 256 inputs the sum "
        "z has a std of 16 in the first layer, so most units sit on the flat parts and output nearly 0 or "
        "1, whatever their input does. Each saturated unit passes back only a sliver of the gradient it "
        "receives, but the large weights multiply what is left by 16 per layer on the way down: with seed "
        "0 the sigmoid_saturation preset's gradient even grows 6.2-fold from the top layer to layer 1. "
        "Weights that share one sign, like U[0, 0.1], saturate too, because the products a unit adds up do "
        "not cancel; and unscaled inputs, like raw pixel values up to 255, saturate the first layer even "
        "with well-scaled weights. Standardising the inputs to mean 0 and std 1 is the cheap fix for those.",
        ("sigmoid_saturation", "raw_inputs", "small_uniform"),
    ),
    Lesson(
        "Xavier (Glorot) initialization in two lines",
        "For z = w1 x1 + ... + wn xn with independent, zero-mean weights and inputs, Var(z) = n Var(w) "
        "Var(x); keeping Var(z) = Var(x) needs Var(w) = 1/n. The backward pass asks the same of the "
        "number of outputs m, so Glorot & Bengio (2010) compromise on the average: Var(w) = 2/(n + m). "
        "A uniform U[-r, r] has variance r^2/3, which gives the limit r = sqrt(6/(n + m)): Keras's "
        "default glorot_uniform. With tanh (nearly linear around 0) the std then drifts down only slowly, "
        "about 10-fold over 100 layers (xavier_tanh, seed 0), instead of vanishing exponentially.",
        ("xavier_tanh", "keras_default"),
    ),
    Lesson(
        "He initialization in two lines",
        "ReLU sets every negative input to 0, so for zero-mean z it keeps only half of the second "
        "moment: E[relu(z)^2] = Var(z)/2. Making up for that half means doubling the weights' variance: "
        "Var(w) = 2/n (He et al. 2015), i.e. N(0, sqrt(2/n)) or U[-sqrt(6/n), sqrt(6/n)]. With Xavier's "
        "1/n instead, every ReLU layer halves the variance, and 100 layers shrink the std by "
        "2^49.5, about 1e15.",
        ("he_relu", "xavier_relu"),
    ),
    Lesson(
        "Ranges shrink like 1/sqrt(n)",
        "Every scaled initializer has a spread proportional to 1/sqrt(n): the more inputs a unit sums, "
        "the smaller each weight must be. For the uniform U[-1/sqrt(n), 1/sqrt(n)] that really is a "
        "range: [-1, 1] for one input, [-0.1, 0.1] for 100. For He's N(0, sqrt(2/n)) it is not: "
        "sqrt(2/n) is one standard deviation, about a third of the weights lie beyond it, and an "
        "untruncated normal has no bound at all. Plotting +-sqrt(2/n) as \"the range\" understates "
        "the largest weights.",
        ("xavier_range", "he_range"),
    ),
    Lesson(
        "Keras and PyTorch defaults differ",
        "A Keras Dense layer starts with glorot_uniform weights, zero biases and no activation; with "
        "equal fan-in and fan-out that is exactly variance preserving for a linear stack. PyTorch's "
        "nn.Linear draws weights (and biases) from U[-1/sqrt(n), 1/sqrt(n)], a variance of 1/(3n), "
        "which is a third of LeCun's 1/n and a sixth of He's 2/n. Under ReLU the weights then divide the "
        "variance by 6 per layer, until the biases hold it at a small level where the outputs hardly depend "
        "on the input any more. Neither default knows your activation: pick He for ReLU and Xavier for tanh "
        "explicitly.",
        ("keras_default", "pytorch_default", "xavier_relu"),
    ),
    Lesson(
        "Orthogonal matrices preserve the norm",
        "An orthogonal matrix only rotates (and reflects) a vector, so its length is unchanged, exactly, "
        "however many are chained. A deep linear network built from them keeps the size (root mean square) "
        "of its signal and of its gradient over hundreds of layers, up to rounding. Saxe et al. (2014) showed that "
        "this also makes deep linear networks train as fast as shallow ones.",
        ("orthogonal",),
    ),
)
