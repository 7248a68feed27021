"""The training scenario: a small MLP trained on a toy 2-D dataset, in the schema style of ``Scenario``.

A :class:`TrainScenario` holds only registry keys, numbers and a tuple of widths, so it is hashable,
cacheable and printable. :data:`TRAIN_FIELDS` declares every setting with its bounds, default and help
text, and the dataclass's fields are made from it (:func:`initlab.schema.dataclass_of`). The settings
the two scenarios share (``init`` and its Keras-named parameters ``mean``, ``stddev``, ..., ``bias``,
``bias_value``, ``activation``, ``seed``, ``dtype``, ``lsuv``) reuse the field specs of
:data:`initlab.signal.scenario.FIELDS`, so the two cannot disagree about them; where a default differs
(``init``, ``nonlinearity``, ``activation``), the change is written below, once.

The architecture settings (``block``, ``norm``, ``norm_position``, ``branch_layers``, ``residual_rule``,
``residual_scale``, ``norm_eps``) are the signal engine's too; ``residual_learned`` is training's own (alpha
trained per block: ReZero, SkipInit). Their defaults are the plain MLP, and :func:`repair_architecture`
turns a network that cannot be built into one that can, with a notice.

The defaults are the classic three-way comparison of initializers (the zeros / N(0,1) x 10 / He
experiment of Ng et al.'s *Improving Deep Neural Networks* course): ``circles`` with 300 training and
100 test points and noise 0.05, hidden layers (10, 5) with ReLU, one sigmoid output, full-batch
gradient descent with learning rate 0.01 for 15000 steps, here with 10 restarts and He initialization
(``torch_kaiming_normal`` with nonlinearity relu: N(0, sqrt(2 / fan_in)), untruncated).

Why one module of ~600 lines: the fields, their validation, the budget estimates and the repair that cuts a
scenario back into the budget are one contract. The form, the link codec and the engine all read these
definitions, and a repair has to agree with the estimates it cuts against (restarts, then steps, then the
points the records evaluate) and with the fields' bounds, so they are kept together.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from initlab.training import datasets
from initlab.signal.scenario import FIELD_BY_NAME, INIT_PARAM_NAMES, BudgetError, InitParams, repair_init
from initlab.schema import FieldSpec, Notice, Section, dataclass_of, format_value, over_limit

__all__ = [
    "TRAIN", "TRAIN_FIELDS", "TRAIN_FIELD_BY_NAME", "TrainScenario", "check_train_budget", "estimate_train_bytes",
    "estimate_train_macs", "irrelevant", "max_steps_within_budget", "recorded_count", "repair", "repair_architecture",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
TRAIN_INPUTS = ("standard", "unscaled")
WEIGHT_RNGS = ("generator", "legacy")
COSTS = ("stable", "naive")
# 1 stem + 32 residual blocks: deep enough for the identity path to matter; plain networks may go as deep, for
# the comparison.
MAX_HIDDEN_LAYERS = 33
# Adam's constants are Keras 3's defaults (keras.optimizers.Adam): beta_1, beta_2, epsilon.
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-7

# Hard caps per training request. The reference scenario (10 restarts x 15000 steps x 300 examples x
# 75 weights = 3.4e9 multiply-adds) takes ~0.5 s with the compiled engine (float32, one core), ~3 s
# with the numpy engine; the cap allows three times that.
MAX_TRAIN_MACS = 1.0e10
# Examples processed (restarts x steps x batch): what bounds tiny networks, whose time goes into the
# per-example work that does not scale with the weights (shuffling ~12 ns an example, the output unit).
MAX_TRAIN_EXAMPLES = 1.5e8
MAX_TRAIN_BYTES = 250_000_000
DEFAULT_RECORDS = 50  # recorded steps (plus step 0) per training: ~50 snapshots per run, enough for smooth curves and a scrubbable step slider

_D = "data"
_T = "training"


def _reuse(name: str, **changes: Any) -> FieldSpec:
    """The field spec of :class:`initlab.signal.scenario.Scenario` named ``name``, with some changes."""
    return dataclasses.replace(FIELD_BY_NAME[name], **changes)


def _keyed(fields: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
    """Every field under the link key ``tr_<name>``: the training tab's keys never meet the sidebar's."""
    return tuple(dataclasses.replace(f, key=f"tr_{f.name}") for f in fields)


TRAIN_FIELDS: tuple[FieldSpec, ...] = _keyed((
    FieldSpec("dataset", "choice", "circles", "Dataset",
              "Points in the plane: circles (inner radius 0.8), moons, Gaussian blobs or Gaussian quantiles "
              "(scikit-learn's datasets, exactly), xor or spiral; or digits: scikit-learn's bundled 8x8 "
              "handwritten digits (1797 images, 64 pixel inputs, 10 classes; 20% held out for testing, "
              "stratified by digit).",
              choices=datasets.DATASETS, group=_D),
    FieldSpec("classes", "int", 2, "Classes",
              "Two classes: one sigmoid output and binary cross-entropy. 3 to 10 (blobs: clusters evenly on a "
              "circle; spiral: that many arms): one output per class, softmax and categorical cross-entropy. "
              "digits always has 10; the other datasets have 2.",
              lo=2, hi=datasets.MAX_CLASSES, group=_D),
    FieldSpec("n_train", "int", 300, "Training points", "Points the network is trained on (an equal share per "
              "class). digits: at most this many of its 1437 training images, a subset with every digit in "
              "its share (2000: all of them).",
              lo=10, hi=2000, group=_D),
    FieldSpec("n_test", "int", 100, "Test points", "Held-out points, drawn the same way, never trained on. "
              "digits: at most this many of its 360 test images, every digit in its share (2000: all of them).",
              lo=10, hi=2000, group=_D),
    FieldSpec("noise", "float", 0.05, "Noise", "Standard deviation of the Gaussian jitter added to every point "
              "(gaussian_quantiles and digits have no jitter: they ignore the noise).",
              lo=0, hi=1, group=_D),
    FieldSpec("data_seed", "int", 0, "Data seed", "Seed of the training set (scikit-learn's random_state); the test "
              "set uses data_seed + 1. digits: the seed of its stratified split into training and test images "
              "(train_test_split's random_state). Every restart trains on the same points.",
              lo=0, hi=2**32 - 1, group=_D),
    FieldSpec("inputs", "choice", "standard", "Inputs",
              "standard: each feature shifted and scaled to mean 0, std 1 on the training set (test points "
              "use the training statistics); unscaled: the raw coordinates. digits: standard is the pixels "
              "divided by 16 (their maximum: in [0, 1]; some pixels are 0 in every image, so they are not "
              "standardised), unscaled the raw grey levels 0..16.", choices=TRAIN_INPUTS, group=_D),
    FieldSpec("hidden", "widths", (10, 5), "Hidden layers",
              f"Units per hidden layer, input side first (1 to {MAX_HIDDEN_LAYERS} layers; 16x20 is 20 layers of "
              "16); the output is one sigmoid unit.", lo=1, hi=64, max_items=MAX_HIDDEN_LAYERS),
    _reuse("activation", default="relu", help="Nonlinearity of every hidden layer (the output unit is a sigmoid)."),
    _reuse("init", default="torch_kaiming_normal",
           help="How every weight matrix (hidden and output) is drawn (Keras names; classic and PyTorch "
                "schemes under their own names)."),
    *(_reuse(name, default="relu") if name == "nonlinearity" else _reuse(name) for name in INIT_PARAM_NAMES),
    _reuse("bias"),
    _reuse("bias_value"),
    FieldSpec("optimizer", "choice", "sgd", "Optimizer",
              "sgd: W -= lr dL/dW; momentum: v = m v - lr dL/dW, W += v (Keras SGD); adam: Keras Adam "
              f"(beta_1 {ADAM_BETA1:g}, beta_2 {ADAM_BETA2:g}, epsilon {ADAM_EPSILON:g}).",
              choices=OPTIMIZERS, group=_T),
    FieldSpec("lr", "float", 0.01, "Learning rate", "Step size of every update.", lo=1e-6, hi=10, group=_T),
    FieldSpec("momentum", "float", 0.9, "Momentum", "Velocity decay m of the momentum optimizer (others ignore it).",
              lo=0, hi=0.999, group=_T),
    FieldSpec("steps", "int", 15000, "Steps", "Number of parameter updates.", lo=1, hi=100_000, group=_T),
    FieldSpec("batch_size", "int", 0, "Batch size",
              "Examples per update; 0 (or at least the training set) = the full training set, every step.",
              lo=0, hi=2000, group=_T),
    FieldSpec("restarts", "int", 10, "Restarts",
              "Independent runs: restart r draws its weights and batches from seed + r.", lo=1, hi=50, group=_T),
    _reuse("seed", help="Seed of the weights and batch order: restart r uses seed + r.", group=_T),
    FieldSpec("weights_rng", "choice", "generator", "Weight draws",
              "generator: restart r draws its kernels from numpy Generator streams of SeedSequence(seed + r), in "
              "the Keras layout (fan_in, fan_out). legacy: as the course notebooks, np.random.seed(seed + r), then "
              "every kernel in layer order from that legacy RandomState, row-major in the (fan_out, fan_in) layout "
              "(np.random.randn(n_l, n_l-1) x scale) and transposed: the same numbers as the notebook's W.",
              choices=WEIGHT_RNGS, group=_T),
    FieldSpec("cost", "choice", "stable", "Reported cost",
              "How the training cost in the history's cost column is computed. stable: from the logits, "
              "mean softplus((1 - 2y) z), finite whenever the logits are (the loss every chart shows). naive: as "
              "the course notebook, -(1/m) nansum(y log a + (1 - y) log(1 - a)) with a = 1 / (1 + exp(-z)): a "
              "sigmoid that rounds to exactly 1 on a class-0 point makes it inf. Only the reported number differs: "
              "the gradient, the charts and the divergence count use the stable loss.",
              choices=COSTS, group=_T),
    FieldSpec("records", "int", DEFAULT_RECORDS, "Recorded steps",
              "Steps recorded (besides step 0), evenly spaced up to the last: losses, accuracies, snapshots. "
              "15 over 15000 steps records every 1000, as the course notebook prints its cost.",
              lo=1, hi=200, group=_T),
    _reuse("dtype"),
    _reuse("lsuv", help="LSUV (Mishkin & Matas 2016): start from orthogonal weights and rescale each layer, on the "
                        "training inputs, until its pre-activations have variance 1 (replaces the initializer)."),
    # The architecture: the signal engine's settings under the same names (initlab.signal.blocks has the
    # formulas); the defaults are the plain network every result above was computed with.
    _reuse("block", help="plain: every hidden layer is Linear -> (Norm) -> f. residual: the first hidden layer "
                         "(the stem, 2 inputs -> width) is such a plain layer, every further hidden layer a "
                         "residual block h_l = h_(l-1) + alpha B(h_(l-1)) (He et al. 2016); all hidden widths "
                         "must then be equal."),
    _reuse("norm", help="batch: each unit normalised over the mini-batch in training and with running estimates "
                        "when evaluated, as PyTorch's BatchNorm1d (momentum 0.1, unbiased running variance; "
                        "Ioffe & Szegedy 2015). layer: each example over the units (Ba et al. 2016). gamma and "
                        "beta are learned, starting at 1 and 0."),
    _reuse("norm_position"),
    _reuse("branch_layers"),
    _reuse("residual_rule", help="fixed: alpha = residual_scale (1: the plain ResNet; 0: ReZero and SkipInit, with "
                                 "learned alpha). inv_sqrt_depth: alpha = 1/sqrt(blocks). fixup (two layers per "
                                 "branch, Zhang et al. 2019): alpha = 1, the branch's last layer zero, its first "
                                 "scaled by blocks^(-1/2)."),
    _reuse("residual_scale"),
    FieldSpec("residual_learned", "bool", False, "Learn alpha",
              "alpha is a trained parameter, one per block, starting at the rule's value (ReZero, Bachlechner et "
              "al. 2020, and SkipInit, De & Smith 2020: start at 0 and learn); otherwise it stays fixed.",
              group="architecture"),
    _reuse("norm_eps"),
))

TRAIN_FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in TRAIN_FIELDS}
# Fields that only decide the initial parameters: scenarios that differ only in these can train together.
INIT_FIELDS: tuple[str, ...] = ("init", *INIT_PARAM_NAMES, "bias", "bias_value", "lsuv")


@dataclass_of(TRAIN_FIELDS)
class TrainScenario(InitParams):
    """Everything that determines one training of the small MLP, over all its restarts; plain values only.

    Its fields are :data:`TRAIN_FIELDS`, in order, each with its default there (see
    :func:`initlab.schema.dataclass_of`). ``TrainScenario()`` is the classic comparison's He run;
    ``ts.with_init("zeros")`` derives another. :func:`initlab.training.engine.train` validates it
    (:meth:`validate`) and checks the budget.
    """

    @property
    def train_examples(self) -> int:
        """Examples in the training set: ``n_train``, except for digits, which has at most its 1437 training
        images (:func:`initlab.training.datasets.digits`)."""
        return min(self.n_train, datasets.DIGITS_TRAIN) if self.dataset == "digits" else self.n_train

    @property
    def test_examples(self) -> int:
        """Examples in the test set: ``n_test``, at most digits' 360 test images."""
        return min(self.n_test, datasets.DIGITS_TEST) if self.dataset == "digits" else self.n_test

    @property
    def batch(self) -> int:
        """Examples per update: ``batch_size``, or the whole training set when it is 0 or larger."""
        n = self.train_examples
        return n if self.batch_size == 0 or self.batch_size >= n else self.batch_size

    @property
    def full_batch(self) -> bool:
        """True when every update uses the whole training set (no shuffling, no batches)."""
        return self.batch == self.train_examples

    @property
    def features(self) -> int:
        """Inputs of the network: 64 pixels for digits, 2 coordinates for the other datasets."""
        return datasets.DIGITS_FEATURES if self.dataset == "digits" else 2

    @property
    def outputs(self) -> int:
        """Output units: one logit (sigmoid, binary cross-entropy) for two classes, one per class (softmax,
        categorical cross-entropy) for more."""
        return 1 if self.classes == 2 else self.classes

    @property
    def softmax(self) -> bool:
        """The output is a softmax over ``classes`` logits (3 or more classes), not one sigmoid unit."""
        return self.classes > 2

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes from input to output: ``(features, *hidden, outputs)``; ``(2, *hidden, 1)`` for two classes
        in the plane."""
        return (self.features, *self.hidden, self.outputs)

    @property
    def residual(self) -> bool:
        """Residual blocks after the stem (``block="residual"``), not plain layers."""
        return self.block == "residual"

    @property
    def layers_per_block(self) -> int:
        """Weight layers per block: ``branch_layers`` in a residual network, 1 in a plain one."""
        return self.branch_layers if self.residual else 1

    @property
    def plain_mlp(self) -> bool:
        """The network every result before residual blocks was computed with: plain layers, no norm (both
        engines keep its numbers bit for bit as they were; its recorded passes stay numpy)."""
        return not self.residual and self.norm == "none"

    @property
    def blocks(self) -> int:
        """Residual blocks: every hidden layer after the stem (0 in a plain network)."""
        return len(self.hidden) - 1 if self.residual else 0

    @property
    def alpha_learned(self) -> bool:
        """alpha is a trained parameter (one per block) rather than a constant."""
        return self.residual and self.residual_learned and self.blocks > 0

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """(fan_in, fan_out) of every weight layer in order: the first hidden layer (the stem), then one per
        plain hidden layer or ``branch_layers`` (width, width) per residual block, then the head (-> outputs)."""
        h = self.hidden
        if not self.residual:
            return tuple(zip(self.sizes[:-1], self.sizes[1:]))
        return ((self.features, h[0]), *[(h[0], h[0])] * (self.blocks * self.branch_layers), (h[-1], self.outputs))

    @property
    def layer_names(self) -> tuple[str, ...]:
        """A name per weight layer, in :attr:`layer_shapes` order: "layer 1", ... then "output layer" in a plain
        network; "stem", "block 1" (or "block 1, W1" and "block 1, W2" with two layers per branch), ... then
        "output layer" in a residual one."""
        if not self.residual:
            return (*(f"layer {l + 1}" for l in range(len(self.hidden))), "output layer")
        per = self.branch_layers
        branch = [f"block {k + 1}" + (f", W{j + 1}" if per > 1 else "") for k in range(self.blocks) for j in range(per)]
        return ("stem", *branch, "output layer")

    @property
    def norm_names(self) -> tuple[str, ...]:
        """A name per norm, in :attr:`norm_widths` order: where it acts ("layer 2", "stem", "block 3", "block 3,
        before W2")."""
        if self.norm == "none":
            return ()
        if not self.residual:
            return tuple(f"layer {l + 1}" for l in range(len(self.hidden)))
        if self.norm_position == "post":
            return ("stem", *(f"block {k + 1}" for k in range(self.blocks)))
        per = self.branch_layers
        return ("stem", *(f"block {k + 1}" + (f", before W{j + 1}" if per > 1 else "")
                          for k in range(self.blocks) for j in range(per)))

    @property
    def norm_widths(self) -> tuple[int, ...]:
        """Units of every norm in order (empty without normalization): plain networks one after every
        hidden layer's linear part; residual ones one after the stem's, then per block one before every
        branch layer (``pre``) or one on the block's sum (``post``)."""
        if self.norm == "none":
            return ()
        if not self.residual:
            return tuple(self.hidden)
        per_block = self.branch_layers if self.norm_position == "pre" else 1
        return (self.hidden[0],) * (1 + self.blocks * per_block)

    def alpha(self) -> float:
        """The branch scale alpha at initialization: ``residual_scale`` (rule ``fixed``), 1/sqrt(blocks)
        (``inv_sqrt_depth``) or 1 (``fixup``, whose scaling is in the weights), as
        :meth:`initlab.signal.scenario.Scenario.alpha` with the blocks as its depth."""
        if self.residual_rule == "inv_sqrt_depth":
            return 1.0 / float(max(self.blocks, 1)) ** 0.5
        return 1.0 if self.residual_rule == "fixup" else float(self.residual_scale)

    @property
    def cancelled_biases(self) -> tuple[int, ...]:
        """Weight layers whose bias only shifts every unit by a constant just before a BatchNorm: the stem's
        and every plain layer's; in two-layer branches the first layer's of a pre-norm block (the second
        norm takes its output) and the last layer's of a post-norm block (added to the sum the norm takes). A BatchNorm subtracts each unit's batch mean, so in training the loss does not
        depend on these biases and their gradient is exactly 0 (Ioffe & Szegedy 2015, sec. 3.2). The
        engine makes it 0 rather than the rounding noise a computed sum leaves, which Adam would divide by
        its epsilon and turn into real steps (lr noise / eps); the bias still shifts the evaluated network
        (running statistics), so it stays a parameter, fixed at its initial value."""
        if self.norm != "batch":
            return ()
        if not self.residual:
            return tuple(range(len(self.hidden)))
        if self.branch_layers == 2:
            last = 1 if self.norm_position == "post" else 0
            return (0, *(1 + 2 * k + last for k in range(self.blocks)))
        return (0,)

    @property
    def merge_last_batch(self) -> bool:
        """A last mini-batch of one example is merged into the one before it: BatchNorm over one example
        outputs 0 (and its unbiased variance divides by 0), so with ``norm="batch"`` and ``n_train %
        batch == 1`` every epoch has ``n_train // batch`` updates, the last of ``batch + 1`` examples (PyTorch's
        replay does the same). Other networks keep Keras' short last batch."""
        return self.norm == "batch" and not self.full_batch and self.train_examples % self.batch == 1

    def architecture_problems(self) -> dict[str, str]:
        """Requests that cannot be built, by field, with the reason (empty when there is none)."""
        out: dict[str, str] = {}
        if self.residual and len(self.hidden) < 2:
            out["block"] = "a residual network needs at least 2 hidden layers (the stem, then the blocks)"
        elif self.residual and len(set(self.hidden)) > 1:
            out["hidden"] = "residual blocks add their input to their output, so every hidden layer needs the same width"
        if self.norm == "layer" and min(self.hidden) == 1:
            out["norm"] = "a LayerNorm over 1 unit always outputs 0 (each example minus its own mean)"
        if self.norm == "batch" and self.batch == 1:
            out["norm"] = "a BatchNorm over a batch of 1 always outputs 0 (each unit minus its batch mean)"
        if self.residual and self.residual_rule == "fixup" and self.branch_layers != 2:
            out["branch_layers"] = "Fixup is defined for branches of two layers (the last one starts at zero)"
        if self.lsuv and not self.plain_mlp:
            out["lsuv"] = ("LSUV rescales plain layers one after the other; it is not defined for residual or "
                           "normalised networks")
        if self.dataset == "digits" and self.classes != datasets.DIGITS_CLASSES:
            out["classes"] = "the digits are 10 classes, 0 to 9"
        elif self.dataset not in (*datasets.MULTICLASS, "digits") and self.classes != 2:
            out["classes"] = f"{self.dataset} has two classes by its shape (blobs and spiral can have more)"
        if self.softmax and self.cost == "naive":
            out["cost"] = ("the naive cost is the course notebook's binary cross-entropy of a sigmoid; a softmax "
                           "output reports its loss from the logits")
        return out


def recorded_count(steps: int, records: int = DEFAULT_RECORDS) -> int:
    """How many steps a training of ``steps`` updates records: step 0 and ``min(records, steps)`` more,
    evenly spaced (the length of :func:`initlab.training.engine.record_steps`; no two round to the same step,
    since they are at least one step apart)."""
    return min(records, steps) + 1


def _weights(ts: TrainScenario) -> int:
    """Multiply-adds of one example's forward pass: sum of fan_in x fan_out over the weight layers."""
    return sum(a * b for a, b in ts.layer_shapes)


def _parameters(ts: TrainScenario) -> int:
    """Trained parameters: kernels and biases, gamma and beta of every norm, alpha of every block if learned."""
    return (sum(a * b + b for a, b in ts.layer_shapes) + 2 * sum(ts.norm_widths)
            + (ts.blocks if ts.alpha_learned else 0))


def estimate_train_macs(ts: TrainScenario, records: int = DEFAULT_RECORDS) -> float:
    """Multiply-adds of the forward passes of training and of its records:
    restarts x (steps x batch + (records + 1) x (train + test examples)) x weights.

    Every record evaluates the whole training set (loss, gradient, unit shares) and the test set: on
    digits (1437 + 360 images, batches of 64, 2000 steps) that is 70 % of the training's own examples, so
    it is counted. The backward passes cost about twice the forward ones again, in both parts alike.
    """
    evaluated = recorded_count(ts.steps, records) * (ts.train_examples + ts.test_examples)
    return float(ts.restarts) * (float(ts.steps) * ts.batch + evaluated) * _weights(ts)


def estimate_train_bytes(ts: TrainScenario, records: int = DEFAULT_RECORDS) -> int:
    """Upper bound of the memory of one training and its result, in bytes.

    Per run: the parameter snapshots (records + 1 of them), the optimizer state, the recorded
    statistics, and the activations of the largest evaluated set (a handful of arrays of
    n x sum(hidden)); plus the data.
    """
    item = 4 if ts.dtype == "float32" else 8
    params = _parameters(ts)
    io = ts.features + ts.outputs  # 3 for two classes in the plane
    act = max(ts.train_examples, ts.test_examples) * (sum(ts.hidden) + io) * 6
    if not ts.plain_mlp:
        # Per weight layer and norm the backward pass keeps a few more (n, width) arrays (what the norm,
        # the activation and the branch saw), the overflow-safe norm a few temporaries; and the BatchNorm
        # running statistics are snapshotted with the parameters.
        units = sum(fo for _, fo in ts.layer_shapes) + sum(ts.norm_widths)
        act = max(ts.train_examples, ts.test_examples) * (units + io) * 12
        params += 2 * sum(ts.norm_widths) if ts.norm == "batch" else 0
    layers = len(ts.hidden) + 1
    # Recorded statistics per record: loss, cost, 2 accuracies, test loss, a gradient norm and an update ratio
    # per layer, and the distinct units and the shares of dead and saturated units per hidden layer, float64.
    stats = (5 + 5 * layers) * 8
    per_run = (records + 1) * params * item + 4 * params * 8 + (records + 1) * stats + act * 8
    return ts.restarts * per_run + (ts.train_examples + ts.test_examples) * (ts.features + 1) * 8 + 1_000_000


def check_train_budget(ts: TrainScenario, records: int = DEFAULT_RECORDS, *,
                       max_bytes: float | None = MAX_TRAIN_BYTES, max_macs: float | None = MAX_TRAIN_MACS,
                       max_examples: float | None = MAX_TRAIN_EXAMPLES) -> None:
    """Raise :class:`initlab.signal.scenario.BudgetError` if ``ts`` would need more than ``max_bytes`` of
    memory (:func:`estimate_train_bytes`), ``max_macs`` multiply-adds (:func:`estimate_train_macs`) or
    ``max_examples`` examples processed (restarts x steps x batch); None lifts a limit.

    The defaults are the server's budget per training, which the app's repair applies. The message says
    which limit binds and what to reduce; ``BudgetError.limit`` is ``"memory"`` or ``"computation"``
    (memory first: it is the one that can take the server down).
    """
    need = estimate_train_bytes(ts, records)
    if max_bytes is not None and need > max_bytes:
        raise BudgetError(
            f"{ts.restarts} restarts x {records + 1} recorded snapshots x {_parameters(ts)} parameters would need "
            f"about {need / 1e6:.0f} MB of memory, more than the {max_bytes / 1e6:.0f} MB one training may "
            "use: reduce the restarts or the hidden widths.", "memory")
    macs = estimate_train_macs(ts, records)
    if max_macs is not None and macs > max_macs:
        need, most = over_limit(macs, max_macs)
        raise BudgetError(
            f"{ts.restarts} restarts x ({ts.steps} steps x {ts.batch} examples per step + "
            f"{recorded_count(ts.steps, records)} records x {ts.train_examples + ts.test_examples} training and test "
            f"examples) x {_weights(ts)} weights = {need} multiply-adds, more computation than the {most} one "
            "training may use: "
            "reduce the steps, the restarts, the batch size or the hidden widths.", "computation")
    examples = float(ts.restarts) * ts.steps * ts.batch
    if max_examples is not None and examples > max_examples:
        need, most = over_limit(examples, max_examples)
        raise BudgetError(
            f"{ts.restarts} restarts x {ts.steps} steps x {ts.batch} examples per step = {need} examples, "
            f"more computation than the {most} one training may use: reduce the steps, the "
            "restarts or the batch size.", "computation")


def max_steps_within_budget(ts: TrainScenario) -> int:
    """The largest number of steps that keeps ``ts`` within the compute budgets (at least 1)."""
    examples = float(ts.restarts) * ts.batch
    hi = int(TRAIN_FIELD_BY_NAME["steps"].hi or 1)
    # The records' evaluations do not shrink with the steps (at most DEFAULT_RECORDS + 1 of them): what is
    # left of the multiply-adds after them goes to the steps.
    evaluated = float(ts.restarts) * (DEFAULT_RECORDS + 1) * (ts.train_examples + ts.test_examples)
    return max(1, min(hi, math.floor((MAX_TRAIN_MACS / _weights(ts) - evaluated) / examples),
                      math.floor(MAX_TRAIN_EXAMPLES / examples)))


def max_restarts_within_budget(ts: TrainScenario, records: int = DEFAULT_RECORDS, *, compute: bool = True) -> int:
    """The most restarts that fit the memory budget and (unless ``compute`` is False) the compute
    budgets at ``ts``'s steps; at least 1."""
    per_run = estimate_train_bytes(ts.replace(restarts=2), records) - estimate_train_bytes(ts.replace(restarts=1), records)
    fixed = estimate_train_bytes(ts.replace(restarts=1), records) - per_run
    most = [int(TRAIN_FIELD_BY_NAME["restarts"].hi or 1), (MAX_TRAIN_BYTES - fixed) // per_run]
    if compute:
        per_restart = float(ts.steps) * ts.batch
        evaluated = recorded_count(ts.steps, records) * (ts.train_examples + ts.test_examples)
        most += [math.floor(MAX_TRAIN_MACS / ((per_restart + evaluated) * _weights(ts))),
                 math.floor(MAX_TRAIN_EXAMPLES / per_restart)]
    return max(1, min(most))


# A budget cut takes restarts away before steps, but keeps at least this many: the median and the middle
# half of five restarts still say whether an initialization is reliable; fewer steps stop the learning
# itself (a run cut to a few hundred steps has not learned, whatever its init).
MIN_RESTARTS_KEPT = 5


def irrelevant(ts: TrainScenario) -> dict[str, str]:
    """Fields that mean nothing for ``ts``, with the reason (a link to ``ts`` never carries them)."""
    from initlab.weights import initializers

    out: dict[str, str] = {}
    if ts.init in initializers.names():
        accepted = initializers.spec(ts.init).params
        out.update({k: f"{ts.init} has no such parameter" for k in INIT_PARAM_NAMES if k not in accepted})
    if ts.optimizer != "momentum":
        out["momentum"] = f"{ts.optimizer} has no momentum"
    if not ts.residual:
        out.update({k: "a plain network has no residual branch" for k in
                    ("norm_position", "branch_layers", "residual_rule", "residual_scale", "residual_learned")})
    elif ts.residual_rule != "fixed":
        out["residual_scale"] = f"the rule {ts.residual_rule} sets alpha"
    if ts.norm == "none":
        out["norm_eps"] = "there is no normalization"
    if ts.dataset in (*datasets.NOISELESS, "digits"):
        out["noise"] = f"{ts.dataset} adds no jitter to its points"
    return out


ARCHITECTURE_FIELDS: tuple[str, ...] = tuple(f.name for f in TRAIN_FIELDS if f.group == "architecture")


def _fallback(ts: TrainScenario, name: str) -> tuple[Any, str]:
    """What an impossible architecture falls back to, by the field that names the problem, in words."""
    if name == "hidden":
        return (ts.hidden[0],) * len(ts.hidden), f"{len(ts.hidden)} hidden layers of {ts.hidden[0]} (the stem's width)"
    if name == "classes":
        n = datasets.DIGITS_CLASSES if ts.dataset == "digits" else 2
        return n, f"{n} classes"
    return {"block": ("plain", "plain layers"), "norm": ("none", "no normalization"),
            "branch_layers": (2, "2 layers per branch"), "cost": ("stable", "the stable loss from the logits"),
            "lsuv": (False, "the initializer's own weights, without LSUV")}[name]


def repair_architecture(ts: TrainScenario) -> tuple[TrainScenario, list[Notice]]:
    """A network that can be built (:meth:`TrainScenario.architecture_problems`), with a notice per change,
    as :func:`initlab.signal.scenario.repair_architecture`; fields that mean nothing for the network go back
    to their defaults (one network, one form: the page and its link compare equal)."""
    notices = []
    for _ in range(len(ARCHITECTURE_FIELDS) + 4):  # a fix can only remove problems; each field is fixed once
        problems = ts.architecture_problems()
        if not problems:
            break
        name, why = next(iter(problems.items()))
        value, words = _fallback(ts, name)
        notices.append(Notice(f"tr_{name}", f"{name}={format_value(TRAIN_FIELD_BY_NAME[name], getattr(ts, name))} "
                                            f"cannot be built here: {why}. Using {words}."))
        ts = ts.replace(**{name: value})
    unused = {k: TRAIN_FIELD_BY_NAME[k].default for k in irrelevant(ts) if k in ARCHITECTURE_FIELDS}
    return ts.replace(**unused), notices


def repair(ts: TrainScenario, base: TrainScenario | None = None, given: set[str] | None = None
           ) -> tuple[TrainScenario, list[Notice]]:
    """Fix cross-field problems, with notices: initializer parameters (as :func:`initlab.signal.scenario.repair`)
    and the budget (fewer restarts when memory binds, then fewer steps when computation does)."""
    base = base or TrainScenario()
    ts, notices = repair_init(ts, base, TrainScenario(), "tr_init")
    if given is not None and "classes" not in given and "classes" in ts.architecture_problems():
        # The dataset changed and the classes were not asked for: they follow it without a notice (choosing
        # digits in the form would otherwise warn "classes=2 cannot be built" every time).
        ts = ts.replace(classes=_fallback(ts, "classes")[0])
    ts, more = repair_architecture(ts)
    notices += more
    try:
        check_train_budget(ts)
    except BudgetError as exc:
        # Restarts go first (down to MIN_RESTARTS_KEPT, or what was asked if fewer), then steps.
        floor = min(ts.restarts, MIN_RESTARTS_KEPT)
        restarts = min(ts.restarts, max_restarts_within_budget(ts, compute=False),  # memory: steps cannot help
                       max(floor, max_restarts_within_budget(ts)))
        if restarts < ts.restarts:
            then = ("" if restarts > floor else ", the fewest a budget cut keeps (they still show how restarts spread)"
                    if restarts == floor else ", the most the memory allows")
            notices.append(Notice("tr_restarts", f"Restarts reduced from {ts.restarts} to {restarts}{then}: {exc}"))
            ts = ts.replace(restarts=restarts)
        try:
            check_train_budget(ts)
        except BudgetError as exc2:
            steps = max_steps_within_budget(ts)
            if exc2.limit == "computation" and steps < ts.steps:  # fewer steps cannot save memory
                notices.append(Notice("tr_steps", f"Steps reduced from {ts.steps} to {steps}, since {ts.restarts} "
                                                  f"restarts must remain: {exc2}"))
                ts = ts.replace(steps=steps)
        try:
            check_train_budget(ts)
        except BudgetError as exc3:
            # Still over at the fewest restarts and steps: the records evaluate every training and test point
            # whatever the steps, and a deep network's activations on a big set take the memory.
            m = max_examples_within_budget(ts)
            cut = {k: m for k in ("n_train", "n_test") if getattr(ts, k) > m}
            if cut:
                words = " and ".join(f"{'training' if k == 'n_train' else 'test'} points from {getattr(ts, k)}"
                                     for k in cut)
                notices.append(Notice(f"tr_{next(iter(cut))}", f"Reduced the {words} to {m}, since the records "
                                                               f"evaluate every point whatever the steps: {exc3}"))
                ts = ts.replace(**cut)
    return ts, notices


def max_examples_within_budget(ts: TrainScenario) -> int:
    """The most training and test points (each set capped at it) with which ``ts`` fits the budgets at its
    restarts and steps, or the fields' smallest if none does: the cut of last resort, for a deep and wide
    network on a big set, over the budget at one restart and one step (:func:`repair`)."""
    lo = max(int(TRAIN_FIELD_BY_NAME["n_train"].lo or 1), int(TRAIN_FIELD_BY_NAME["n_test"].lo or 1))
    hi = max(ts.n_train, ts.n_test, lo)

    def fits(m: int) -> bool:
        try:
            check_train_budget(ts.replace(n_train=min(ts.n_train, m), n_test=min(ts.n_test, m)))
        except BudgetError:
            return False
        return True

    if not fits(lo):
        return lo
    while lo < hi:  # the largest m that fits: the estimates grow with the points
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


TRAIN = Section("train", TrainScenario, TRAIN_FIELDS, repair=lambda s, base, given: repair(s, base, given),
                irrelevant=irrelevant)
"""The training tab's section: its link keys (``tr_...``), widgets and repairs."""
