"""Short lessons on weight initialization, each pointing at the presets that show it happening.

Written for initlab from the ideas of its four source texts (Goodfellow et al. 2016 ch. 8.4, Glorot &
Bengio 2010, He et al. 2015 and three tutorials), re-checked against what :func:`initlab.propagate`
computes; where a tutorial was loose (U[0, 0.1] called "close to zero", a standard deviation called a
range) the lesson says what actually happens. The lessons on the Training and Theory presets follow the
papers they cite (Poole et al. 2016, Schoenholz et al. 2017, Saxe et al. 2014, Pennington et al. 2017,
Mishkin & Matas 2016) and the experiments those presets run. ``tests/test_lessons.py`` checks every preset
exists and recomputes every number a lesson quotes from a preset (those are for seed 0, and the lesson
says so). A lesson is static text, so it never quotes a measured training number (its digits depend on the
CPU: see the README): it says what the charts show, and the tests check that meaning with margins.
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
        ("xavier_tanh", "he_relu", "train_restarts"),
    ),
    Lesson(
        "Why not zeros, or any constant?",
        "If every weight of a layer has the same value, every unit of that layer computes the same "
        "output for every input, receives the same gradient and gets the same update: after any number "
        "of steps they are still identical copies, and a layer of 256 units is worth one. With all-zero "
        "weights it is worse: the gradient sent down through a zero matrix is exactly zero, so at the "
        "first step only the top layer can learn, and only if f(0) is not 0 (sigmoid's 0.5; the layers below "
        "follow later, still as copies); with tanh or ReLU, f(0) = 0 and nothing but the "
        "output bias ever moves. Biases, on the other hand, can safely start at 0 (the Keras and "
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
        "Symmetry during training: copies stay copies",
        "Zero weights are only the extreme case: any start that gives every unit of a layer the same weights "
        "has the same flaw. In the preset a small ReLU network (hidden layers of 10 and 5 units) trains on the "
        "circles for 15000 steps from ones, from a constant 0.5 and from He's random weights, 10 restarts each "
        "(with nothing random in them, the constant starts' 10 restarts are one and the same run). "
        "The Symmetry chart counts the distinct units of each hidden layer at every recorded step: ones and 0.5 "
        "stay at 1 for the whole run, He at 10 and 5. The constant starts do get gradients (with all-zero "
        "weights every weight gradient of this network would be exactly 0), but every unit of a layer gets the "
        "same one, so the copies move together and the network can only draw one straight boundary (open "
        "Decision boundaries to see it). No straight line separates two circles, so they end barely above "
        "chance, while He's restarts reach a median above 0.9. Only different starting weights tell units "
        "apart (Goodfellow et al. 2016, section 8.4): training never breaks the tie.",
        ("train_symmetry",),
    ),
    Lesson(
        "Judge an initializer over many restarts",
        "A training run is one draw of a random experiment: another seed gives other starting weights and "
        "often another result. In the preset a tiny network with 3 hidden units learns xor 20 times from each "
        "of two initializers (seeds 0 to 19). On the Every restart chart each dot is one restart's final test "
        "accuracy: both initializers have restarts stuck below 0.8, and the best of N(0, 0.01) beat the worst "
        "of He, so a single run could crown either. Only the whole column tells them apart: He's median, and "
        "the lower end of its middle half, sit well above those of N(0, 0.01) (the table lists both). The "
        "classic comparison shows the same with 10 restarts on the circles: N(0, 1) x 10 ends anywhere in a wide "
        "range, a wide band on the test-accuracy curve, and He in a narrow one. So report the median over "
        "several restarts and how far they spread, never a single run.",
        ("train_restarts", "train_classic"),
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
        "with well-scaled weights. Standardising the inputs to mean 0 and std 1 is the cheap fix for those. "
        "In training, sigmoid units started far out on the tails (N(0, 1) x 10 weights) crawl: the Training "
        "preset's network starts confidently wrong and after 5000 steps still trails Xavier's.",
        ("sigmoid_saturation", "raw_inputs", "small_uniform", "train_sigmoid_large"),
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
        "2^49.5, about 1e15. The Deep Learning Specialization's Initialization notebook shows it in training: "
        "its preset replays that notebook exactly, zeros against N(0, 1) x 10 against He's sqrt(2/n).",
        ("he_relu", "xavier_relu", "course_c2w1"),
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
    Lesson(
        "The edge of chaos: how deep can a signal go?",
        "Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017) follows two inputs through a very wide "
        "random network and asks whether it can still tell them apart. One number decides: χ₁ = σw² E[f'(z)^2], "
        "with σw² the weights' variance times the number of inputs, is the factor by which each layer "
        "multiplies the squared distance between two nearby inputs. On the Order and chaos chart, below 1 "
        "(ordered, blue) all inputs end up looking alike, above 1 (chaotic, red) nearby inputs become as "
        "different as unrelated ones, and on the green line, the edge of chaos, the depth scale ξ_c over which "
        "differences fade becomes infinite. For tanh with a little bias noise (σb² = 0.05) the edge is at "
        "σw² = 1.76, not 1: the preset sits on it, with ξ_c = 4910 layers for its 100. At σw² = 1 and the same "
        "σb², ξ_c is only 3.63 layers, and Schoenholz et al. could train such networks only up to about 6 ξ_c "
        "deep: look for the spike of ξ_c on the depth-scale chart.",
        ("edge_of_chaos",),
    ),
    Lesson(
        "Dynamical isometry: every direction, not just the average",
        "At χ₁ = 1 a small change of the input keeps its squared length from layer to layer on average, but an "
        "average can hide a lot. The input-output Jacobian has one singular value per direction of the input; dynamical "
        "isometry (Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017) means they all stay near 1, so every "
        "direction survives the depth, forwards and for the gradient coming back. In the preset both 100-layer "
        "linear stacks have σw² = 1. On the Jacobian spectra chart the Gaussian one spreads wider at every depth "
        "shown: at layer 100 its largest singular value is 15.6 (seed 0) while about three in four are below "
        "float32's rounding floor, lost. The orthogonal stack stays one spike at 1 at every depth. ReLU cannot "
        "get there: its slope is 0 for about half of the units, so after a single layer about half of the "
        "singular values are already 0, with Gaussian and orthogonal weights alike.",
        ("isometry",),
    ),
    Lesson(
        "LSUV: measure the variance instead of deriving it",
        "Xavier and He derive the weights' variance from a formula for one activation; LSUV (layer-sequential "
        "unit variance, Mishkin & Matas 2016) measures it on the data instead. It starts from orthogonal "
        "weights, pushes one batch through and, from the bottom layer up, divides each layer's weights by the "
        "std of its pre-activations z until Var(z) is within 0.1 of 1 (at most 10 tries per layer). In the "
        "preset N(0, 0.01) weights multiply Var(z) by about 256 x 0.01^2 = 0.0256 per tanh layer, down to the "
        "order of 1e-80 at layer 50: the falling line on the LSUV chart. Even the orthogonal start fades under "
        "tanh, to about a hundredth at layer 50, but after LSUV every layer sits at 1. With zero biases one "
        "division per layer is enough, because z grows in proportion to the weights; random biases can take "
        "more tries. Since it measures instead of assuming, the same procedure brings every activation offered "
        "here to unit variance.",
        ("lsuv_rescue",),
    ),
    Lesson(
        "Why modern networks forgive their initialization (and where they do not)",
        "A residual block adds a branch to an identity path, h + αB(h), so the gradient always has a way down; "
        "but without a norm the branch adds its own variance on top, and with He weights and ReLU the variance "
        "doubles per block until float32 overflows, a few hundred blocks deep. Scaling every branch by "
        "α = 1/√depth keeps the whole stack within a factor e, and α = 0 (ReZero, SkipInit) or Fixup's zero "
        "last layer start the network as the identity, which the next training steps then move away from. "
        "A norm before each branch (pre-norm) turns the doubling into linear growth, by σw² E[f(u)²] per "
        "block: 1 with He weights, but 128 with N(0, 1) weights at width 256, so the weights still set the "
        "slope. A BatchNorm after each layer carries N(0, 1) weights through 250 linear layers at std 1, yet "
        "makes its layer scale-invariant: the weights' scale now divides their gradient and acts as a "
        "learning rate. Where the norm sits matters too: pre-norm's gradient falls like 1/√(l + 1) from the "
        "input up, post-norm's stays nearly flat with two-layer branches, and neither is the Transformer story "
        "of Xiong and others (2020), which needs attention.",
        ("res_doubles", "res_scaled", "rezero", "fixup", "prenorm_linear", "prenorm_std1", "batchnorm_250",
         "pre_vs_post"),
    ),
    Lesson(
        "Training deep networks: residual blocks, norms and ReZero",
        "At initialization the Signal page shows what the identity path and a norm do to the forward pass; "
        "training shows what that buys. Thirty plain ReLU layers of 16 units often never leave the loss of a "
        "coin flip: one layer whose units all went below zero on every input blocks every gradient beneath it, "
        "and nothing is learned after that. The same depth as residual blocks learns, since the identity path "
        "carries the signal and the gradient past any layer, and a BatchNorm before each branch makes every "
        "restart learn. Without a norm the identity path alone does not keep the scale: with α = 1 the output "
        "starts so large that plain gradient descent blows up at once, while ReZero starts every α at 0, the "
        "network as its stem, and lets training grow each block. And the identity path breaks no symmetry: "
        "zero or constant weights stay one unit wide in every block, as in a plain network.",
        ("train_deep_residual", "train_rezero", "train_residual_symmetry"),
    ),
    Lesson(
        "Real data with ten classes, and what each unit computes",
        "Does the lesson of the 2-D datasets hold on real images with ten classes? On scikit-learn's handwritten "
        "digits it does: zeros never learns, N(0, 1) × 10 starts far above the loss of a uniform guess and is a "
        "lottery, He learns reliably. The loss at step 0 says how a network starts: ln 10 when it knows nothing, "
        "above when it is confidently wrong. Drawing every unit's weights as an image shows the symmetry of a "
        "constant start: one image, repeated. On 2-D data every unit's output can be drawn over the plane, "
        "which shows the units that died, and the size of each update shows why they did.",
        ("train_digits", "train_digits_start", "train_digits_errors", "train_digits_weights", "train_units",
         "train_dead_units"),
    ),
)
