"""The pages of the app, as data: the one list of pages (:data:`PAGE_SPECS`: id, label, the sections it
reads), each page's own settings (one section each: what a page shows besides the sidebar's scenario),
and what a page's settings imply (the scenarios Compare and the Jacobian spectra compare, the trainings
of a Training comparison).

A page's settings are kept apart from :class:`~initlab.signal.scenario.Scenario` so that changing them
never invalidates the engine's cache. Each is a frozen dataclass with its schema fields (called a
*view* of the page: ``SignalView``, ...); the URL keys are the ones links have always used (``which``,
``cmp_*``, ``rng_*``), so old links keep working. Pure: the app draws the pages
(:mod:`initlab.ui.pages`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from initlab.schema import FieldSpec, Notice, Section
from initlab.signal.scenario import FIELD_BY_NAME, INIT_PARAM_NAMES, NORM_NAMES, Scenario, repair
from initlab.theory import meanfield
from initlab.numerics.format import fmt
from initlab.training.scenario import MAX_HIDDEN_LAYERS, TrainScenario, recorded_count
from initlab.training.scenario import repair as repair_training


@dataclass(frozen=True)
class SignalView:
    """Signal page: which values the charts and the verdict describe."""

    which: str = "act"


@dataclass(frozen=True)
class CompareView:
    """Compare page: initializers or activations, and which ones (a page needs two; fewer are kept in
    the link and the page says so)."""

    by: str = "init"
    inits: tuple[str, ...] = ("glorot_uniform", "he_normal", "random_normal")
    acts: tuple[str, ...] = ("tanh", "relu", "sigmoid")
    archs: tuple[str, ...] = ("plain", "residual", "pre_norm", "post_norm")


# The networks Compare's "architectures" sets side by side: (label, block, norm or None for the
# scenario's own norm, LayerNorm when it has none; position). ``{norm}`` in a label is the norm's name.
ARCHITECTURES: dict[str, tuple[str, str, str | None, str]] = {
    "plain": ("plain", "plain", "none", "pre"),
    "residual": ("residual", "residual", "none", "pre"),
    "pre_norm": ("residual + pre-{norm}", "residual", None, "pre"),
    "post_norm": ("residual + post-{norm}", "residual", None, "post"),
}



@dataclass(frozen=True)
class RangesView:
    """Weight ranges page: which initializers, up to which number of inputs, with which fan-out."""

    inits: tuple[str, ...] = ("xavier_heuristic", "glorot_uniform", "torch_kaiming_normal")
    n: int = 100
    m: int = 0
    log: bool = False


@dataclass(frozen=True)
class TheoryView:
    """Theory page: the ranges of the phase diagram, the initializer the Jacobian spectra are compared
    with, and which of its three parts is open (``show``)."""

    sw2_max: float = 4.0
    sb2_max: float = 0.5
    vs: str = "orthogonal"
    show: str = "phase"


# Initializers a Training comparison can pick, by a short stable name: (registry name, parameters, label).
# "custom" is the Training section's own initializer (tr_init and its parameters).
TRAIN_INITS: dict[str, tuple[str, dict[str, object], str]] = {
    "zeros": ("zeros", {}, "zeros"),
    "ones": ("ones", {}, "ones"),
    "constant": ("constant", {"value": 0.5}, "constant 0.5"),
    "normal_001": ("random_normal", {"stddev": 0.01}, "N(0, 0.01)"),
    "normal_1": ("random_normal", {"stddev": 1.0}, "N(0, 1)"),
    "normal_10": ("random_normal", {"stddev": 10.0}, "N(0, 1) × 10"),
    "he": ("torch_kaiming_normal", {"nonlinearity": "relu"}, "He N(0, √(2/n))"),
    "xavier": ("glorot_uniform", {}, "Xavier (glorot_uniform)"),
    "lecun": ("lecun_normal", {}, "LeCun normal"),
    "orthogonal": ("orthogonal", {}, "orthogonal"),
    "pytorch": ("torch_linear", {}, "PyTorch nn.Linear default"),
    "lsuv": ("orthogonal", {}, "LSUV (orthogonal, rescaled on the data)"),
    "custom": ("", {}, "custom (the initializer below)"),
}


@dataclass(frozen=True)
class TrainView:
    """Training page: what is compared (``by``: initializers, or architectures with the form's initializer)
    and which ones (2 to 4), the run and recorded step the decision boundaries show (``frame`` counts the
    recorded steps; -1 is the last), what the per-layer chart draws (``norms``: the weights' gradient, the
    weights, or their ratio), which group of charts is open (``show``) and whose units the part *Each unit*
    draws over the plane (``layer``, the hidden layer 1..k of a 2-D dataset's network)."""

    compare: tuple[str, ...] = ("zeros", "normal_10", "he")
    run: int = 0
    frame: int = -1
    norms: str = "grad"
    show: str = "curves"
    by: str = "init"
    archs: tuple[str, ...] = ("plain", "residual", "residual_norm")
    layer: int = 1

    @property
    def entries(self) -> tuple[str, ...]:
        """The comparison's entries: initializer names (``by="init"``) or architecture names."""
        return self.archs if self.by == "architecture" else self.compare


# The networks a Training comparison by architecture sets side by side, by a short stable name: (label,
# changes to the form's scenario). None for ``norm``: the form's norm, BatchNorm when it has none; ``{norm}``
# and ``{position}`` ("pre-", "post-") in a label are filled in. "form" is the form's own network, unchanged.
TRAIN_ARCHITECTURES: dict[str, tuple[str, dict[str, object]]] = {
    "plain": ("plain", {"block": "plain", "norm": "none"}),
    "plain_norm": ("plain + {norm}", {"block": "plain", "norm": None}),
    "residual": ("residual (α = 1)", {"block": "residual", "norm": "none", "residual_rule": "fixed",
                                      "residual_scale": 1.0, "residual_learned": False}),
    "residual_norm": ("residual + {position}{norm}", {"block": "residual", "norm": None, "residual_rule": "fixed",
                                                      "residual_scale": 1.0, "residual_learned": False}),
    "rezero": ("ReZero (α from 0, learned)", {"block": "residual", "norm": "none", "residual_rule": "fixed",
                                             "residual_scale": 0.0, "residual_learned": True}),
    "form": ("the form's network", {}),
}


def equal_widths(ts: TrainScenario, names: tuple[str, ...]) -> TrainScenario:
    """``ts`` with every hidden layer as wide as the first when a residual network is among ``names`` (its
    blocks add their input to their output): every network of the comparison then has the same widths."""
    if len(set(ts.hidden)) > 1 and any(_architecture(ts, n).residual for n in names):
        return ts.replace(hidden=(ts.hidden[0],) * len(ts.hidden))
    return ts


def _architecture(ts: TrainScenario, name: str) -> TrainScenario:
    """The network ``name`` built from ``ts``, as asked (not yet repaired nor budgeted)."""
    norm = ts.norm if ts.norm != "none" else "batch"
    return ts.replace(**{k: (norm if k == "norm" and x is None else x) for k, x in TRAIN_ARCHITECTURES[name][1].items()})


def _architecture_label(v: TrainScenario, name: str) -> str:
    """The label of network ``name`` as built (``v``, repaired: e.g. a LayerNorm on width 1 fell back)."""
    if name == "form":
        return f"form: {network_label(v)}"
    return TRAIN_ARCHITECTURES[name][0].format(norm=NORM_NAMES[v.norm], position=f"{v.norm_position}-")


@functools.lru_cache(maxsize=64)
def train_architectures(ts: TrainScenario, names: tuple[str, ...]
                        ) -> tuple[tuple[tuple[str, TrainScenario], ...], tuple[str, ...]]:
    """The (label, scenario) pairs of a comparison by architecture, and what they changed from the form, in
    words. Each network is ``ts`` with its block and norm changed (:data:`TRAIN_ARCHITECTURES`), all with the
    same widths (:func:`equal_widths`), made buildable and fitted to the budget as a link's training is
    (:func:`initlab.training.scenario.repair`); then every one gets the fewest restarts and steps any of them
    was cut to, so that they are compared over the same training (a BatchNorm network, or two layers per
    branch, can need more than the form's network)."""
    fitted = [repair_training(_architecture(equal_widths(ts, names), n)) for n in names]
    labels = [_architecture_label(v, n) for (v, _), n in zip(fitted, names)]
    restarts = min(v.restarts for v, _ in fitted)
    steps = min(v.steps for v, _ in fitted)
    pairs = tuple((label, v.replace(restarts=restarts, steps=steps)) for label, (v, _) in zip(labels, fitted))
    said: dict[str, list[str]] = {}
    for label, (_, notices) in zip(labels, fitted):
        for n in notices:
            said.setdefault(n.message, []).append(label)
    words = [f"{', '.join(labels)}: {message}" for message, labels in said.items()]
    if any(v.restarts != restarts or v.steps != steps for v, _ in fitted):
        words.append(f"Every network trains {restarts} restart{'s' if restarts != 1 else ''} of {steps} steps, the "
                     "fewest any of them was cut to, "
                     "so that all are compared over the same training.")
    return pairs, tuple(words)


def network_label(ts: TrainScenario) -> str:
    """A short name of ``ts``'s network: "plain", "plain + BatchNorm", "residual + post-LayerNorm",
    "residual (α learned from 0)", ..."""
    if not ts.residual:
        return "plain" + (f" + {NORM_NAMES[ts.norm]}" if ts.norm != "none" else "")
    rule = {"fixed": fmt(ts.alpha()), "inv_sqrt_depth": "1/√blocks", "fixup": "1, Fixup"}[ts.residual_rule]
    alpha = f"α learned from {rule}" if ts.alpha_learned else f"α = {rule}"
    norm = f" + {ts.norm_position}-{NORM_NAMES[ts.norm]}" if ts.norm != "none" else ""
    return f"residual{norm} ({alpha})"


# The parts of the Training and Theory pages, each a tab of its own page (stable id -> label): only the
# open one is drawn, so a link opens on the charts its lesson is about and the page loads what it shows.
TRAINING_PARTS = {"curves": "Learning curves", "restarts": "Every restart", "boundaries": "Decision boundaries",
                  "errors": "Confusion and errors", "units": "Each unit", "symmetry": "Symmetry", "layers": "Per layer",
                  "health": "Dead units and update size", "blocks": "α, γ and β"}
THEORY_PARTS = {"phase": "Order and chaos", "spectra": "Jacobian spectra", "lsuv": "LSUV"}


SIGNAL = Section("signal", SignalView, (
    FieldSpec("which", "choice", "act", "Show",
              "act: activations h = f(z), after the nonlinearity; pre: pre-activations z = hW + b.",
              choices=("act", "pre"), group="view", widget="radio",
              choice_labels=(("act", "activations h"), ("pre", "pre-activations z"))),
))
COMPARE = Section("compare", CompareView, (
    FieldSpec("by", "choice", "init", "Compare", "Compare initializers, activations or architectures.",
              choices=("init", "activation", "architecture"), group="view", key="cmp_by", widget="radio",
              choice_labels=(("init", "initializers"), ("activation", "activations"),
                             ("architecture", "architectures"))),
    FieldSpec("inits", "list", CompareView.inits, "Initializers (2 to 4)",
              "The initializers to compare, on the same seed and input batch.", lo=0, hi=4, group="view",
              key="cmp_inits", registry="init"),
    FieldSpec("acts", "list", CompareView.acts, "Activations (2 to 4)",
              "The activations to compare, on the same weights and input batch.", lo=0, hi=4, group="view",
              key="cmp_acts", registry="activation"),
    FieldSpec("archs", "list", CompareView.archs, "Architectures (2 to 4)",
              "The networks to compare, with the sidebar's initializer, activation, depth and width: plain layers; "
              "residual blocks without a norm; residual with the norm before each branch (pre) or after each sum "
              "(post), the sidebar's norm or a LayerNorm when it has none.", lo=0, hi=4, group="view",
              key="cmp_archs", choices=tuple(ARCHITECTURES),
              choice_labels=tuple((k, v[0].format(norm="norm")) for k, v in ARCHITECTURES.items())),
))
RANGES = Section("ranges", RangesView, (
    FieldSpec("inits", "list", RangesView.inits, "Initializers", "Initializers whose ranges are drawn (1 to 6).",
              lo=1, hi=6, group="view", key="rng_inits", registry="init"),
    FieldSpec("n", "int", 100, "Up to n inputs", "Largest number of inputs n on the x axis.", lo=2, hi=500,
              group="view", key="rng_n"),
    FieldSpec("m", "int", 0, "Fan-out m (0: m = n)", "Number of outputs; 0 ties it to the number of inputs (m = n).",
              lo=0, hi=1000, group="view", key="rng_m"),
    FieldSpec("log", "bool", False, "Log axis for n",
              "Show the number of inputs on a logarithmic axis (the 1/√n shape becomes a straight line).",
              group="view", key="rng_log"),
))

THEORY = Section("theory", TheoryView, (
    FieldSpec("sw2_max", "float", 4.0, "σw² up to", "Right end of the phase diagram and of the depth-scale curve "
              "(σw² = weight variance × fan-in).", lo=0.5, hi=200, group="view", key="th_sw2"),
    FieldSpec("sb2_max", "float", 0.5, "σb² up to", "Top of the phase diagram (σb² = bias variance).", lo=0.01,
              hi=4, group="view", key="th_sb2"),
    FieldSpec("vs", "choice", "orthogonal", "Spectra: compare with",
              "The initializer whose Jacobian spectra are drawn next to the scenario's.", group="view",
              key="th_vs", registry="init"),
    FieldSpec("show", "choice", "phase", "Part", "Which part of the page is open.", group="view", key="th_show",
              choices=tuple(THEORY_PARTS), choice_labels=tuple(THEORY_PARTS.items())),
))

def repair_training_view(view: TrainView, state: Mapping[str, Any]) -> tuple[TrainView, list[Notice]]:
    """The restart and recorded step the boundaries show, made to exist in the training they show
    (``state["train"]``): a restart beyond the last one shows the last one, a recorded step beyond the
    last one shows the last one (``frame`` -1), a hidden layer beyond the last one shows the last one;
    each with a notice naming the link key."""
    ts: TrainScenario = state["train"]
    notices: list[Notice] = []
    if view.run >= ts.restarts:
        last = ts.restarts - 1
        notices.append(Notice("tr_run", f"`tr_run` (restart shown): restart {view.run} does not exist, this training "
                                        f"has {ts.restarts} (0 to {last}): showing restart {last}"))
        view = dataclasses.replace(view, run=last)
    count = recorded_count(ts.steps)
    if view.frame >= count:
        notices.append(Notice("tr_frame", f"`tr_frame` (recorded step): {view.frame} is beyond the {count} recorded "
                                          f"steps (0 to {count - 1}): showing the last one, step {ts.steps}"))
        view = dataclasses.replace(view, frame=-1)
    if view.layer > len(ts.hidden):
        last = len(ts.hidden)
        notices.append(Notice("tr_layer", f"`tr_layer` (hidden layer shown): layer {view.layer} does not exist, this "
                                          f"network has {last}: showing layer {last}"))
        view = dataclasses.replace(view, layer=last)
    return view, notices


TRAINING = Section("training", TrainView, (
    FieldSpec("compare", "list", TrainView.compare, "Initializers to compare (2 to 4)",
              "Trained on the same data with the same restart seeds.", lo=0, hi=4, group="view", key="tr_cmp",
              choices=tuple(TRAIN_INITS), choice_labels=tuple((k, v[2]) for k, v in TRAIN_INITS.items())),
    FieldSpec("run", "int", 0, "Restart shown", "Which restart's decision boundary is drawn (0 is the first).",
              lo=0, hi=99, group="view", key="tr_run"),
    FieldSpec("frame", "int", -1, "Recorded step", "Which recorded step the boundaries show (-1: the last).",
              lo=-1, hi=999, group="view", key="tr_frame"),
    FieldSpec("norms", "choice", "grad", "Per-layer chart",
              "grad: the gradient of each layer's weights, ‖∂L/∂W‖; weight: the weights' own size ‖W‖; relative: "
              "‖∂L/∂W‖ / ‖W‖, how much one step of the learning rate changes the layer.",
              choices=("grad", "weight", "relative"), group="view", key="tr_norms", widget="radio",
              choice_labels=(("grad", "gradient ‖∂L/∂W‖"), ("weight", "weights ‖W‖"),
                             ("relative", "relative ‖∂L/∂W‖ / ‖W‖"))),
    FieldSpec("show", "choice", "curves", "Part", "Which part of the page is open.", group="view", key="tr_show",
              choices=tuple(TRAINING_PARTS), choice_labels=tuple(TRAINING_PARTS.items())),
    FieldSpec("by", "choice", "init", "Compare",
              "initializers: the form's network from each initializer. architectures: the form's initializer in "
              "each network (every one with the same data, widths, training and restart seeds).",
              choices=("init", "architecture"), group="view", key="tr_by", widget="radio",
              choice_labels=(("init", "initializers"), ("architecture", "architectures"))),
    FieldSpec("archs", "list", TrainView.archs, "Architectures to compare (2 to 4)",
              "plain layers; plain layers with a norm; residual blocks (alpha = 1); residual blocks with a norm "
              "(the form's norm and position, BatchNorm when it has none); ReZero (no norm, alpha learned from "
              "0); or the form's own network. Branch layers and the norm's epsilon are the form's.",
              lo=0, hi=4, group="view", key="tr_archs", choices=tuple(TRAIN_ARCHITECTURES),
              choice_labels=tuple((k, v[0].format(norm="norm", position=""))
                                  for k, v in TRAIN_ARCHITECTURES.items())),
    FieldSpec("layer", "int", 1, "Hidden layer shown",
              "Whose units *Each unit* draws over the plane: hidden layer 1 is the one after the inputs.",
              lo=1, hi=MAX_HIDDEN_LAYERS, group="view", key="tr_layer"),
), cross=repair_training_view)

VIEW_SECTIONS: tuple[Section, ...] = (SIGNAL, COMPARE, RANGES, THEORY, TRAINING)


def train_comparison(ts: TrainScenario, names: tuple[str, ...], by: str = "init"
                     ) -> tuple[tuple[str, TrainScenario], ...]:
    """The (label, scenario) pairs a Training comparison trains: ``ts`` with each named initializer
    (:data:`TRAIN_INITS`; ``custom`` keeps ``ts``'s own), everything else equal; or, ``by="architecture"``,
    ``ts`` as each named network (:data:`TRAIN_ARCHITECTURES`; ``form`` keeps ``ts``'s own), made buildable
    (:func:`initlab.training.scenario.repair_architecture`: e.g. unequal widths become the stem's)."""
    if by == "architecture":
        return train_architectures(ts, tuple(names))[0]
    out = []
    for name in names:
        init, params, label = TRAIN_INITS[name]
        if name == "custom":
            out.append((f"custom: {ts.init}" + (" + LSUV" if ts.lsuv else ""), ts))
        else:
            out.append((label, ts.with_init(init, **params).replace(lsuv=name == "lsuv")))
    return tuple(out)


# ------------------------------------------------------------------------------------------- the pages


@dataclass(frozen=True)
class PageSpec:
    """One page (tab) of the app: its stable ``id`` (in links: ``tab=theory``), its ``label`` on the page
    (free to change), and the page-state ``sections`` it reads (what a preset's text about it depends on).
    The app draws it with the module ``initlab.ui.pages.<id>``."""

    id: str
    label: str
    sections: tuple[str, ...]


# Every page, in the order of the tabs: the one list the tabs, the presets, the links and the precomputed
# store read. Adding a tab is one entry here and one module in initlab/ui/pages/.
PAGE_SPECS: dict[str, PageSpec] = {p.id: p for p in (
    PageSpec("signal", "Signal", ("net", "signal")),
    PageSpec("gradients", "Gradients", ("net",)),
    PageSpec("ranges", "Weight ranges", ("ranges",)),
    PageSpec("compare", "Compare", ("net", "compare", "signal")),
    PageSpec("training", "Training", ("train", "training")),
    PageSpec("theory", "Theory", ("net", "theory")),
    PageSpec("learn", "Learn", ()),
)}
PAGE_IDS: tuple[str, ...] = tuple(PAGE_SPECS)


# ----------------------------------------------------------------- what a page computes from its settings


def compare_variants(s: Scenario, view: CompareView) -> dict[str, Scenario]:
    """The scenarios a Compare page computes: ``s`` with each chosen initializer (its own defaults), each
    chosen activation, or each chosen architecture (:data:`ARCHITECTURES`; no LSUV, which is for plain
    layers), keyed by their labels."""
    out: dict[str, Scenario] = {}
    if view.by == "init":
        for name in view.inits:
            v = s if name == s.init else dataclasses.replace(s, init=name, **{k: None for k in INIT_PARAM_NAMES})
            out[name] = repair(v)[0]
    elif view.by == "activation":
        for name in view.acts:
            out[name] = dataclasses.replace(s, activation=name)
    else:
        for name in view.archs:
            label, block, norm, position = ARCHITECTURES[name]
            norm = norm or (s.norm if s.norm != "none" else "layer")
            v = dataclasses.replace(s, block=block, norm=norm, norm_position=position, lsuv=False)
            out[label.format(norm=NORM_NAMES[norm])] = repair(v)[0]
    return out


def theory_pair(s: Scenario, vs: str) -> tuple[tuple[str, Scenario], ...]:
    """The (label, scenario) pairs whose Jacobian spectra the Theory page draws: ``s``, and ``s`` with
    initializer ``vs`` (no LSUV, the same biases) unless that is the same network.

    ``vs`` takes its own defaults, except orthogonal, which takes the scenario's σw² (gain √σw²) when the
    scenario has one: compared at the same point of the phase diagram, the two differ only in how their
    weights are drawn (at gain 1 and σb² > 0, orthogonal tanh is ordered where a critical Gaussian is not).
    """
    params: dict[str, Any] = {k: None for k in INIT_PARAM_NAMES}
    label = vs
    point = meanfield.scenario_sigmas(s)
    if vs == "orthogonal" and point is not None and point[0] != 1.0:
        sw2 = point[0]
        most = float(FIELD_BY_NAME["gain"].hi or 1.0)
        gain = min(math.sqrt(sw2), most)
        params["gain"] = gain
        label = (f"orthogonal, gain √{sw2:.3g}" if gain < most else
                 f"orthogonal, gain {most:g} (the largest it takes; this scenario's σw² = {sw2:.3g})")
    other = repair(dataclasses.replace(s, init=vs, **params, lsuv=False))[0]
    mine = s.init + (" + LSUV" if s.lsuv else "")
    return ((mine, s), (label, other)) if other != s else ((mine, s),)


def orthogonal_start(s: Scenario) -> Scenario:
    """The network LSUV starts from: ``s`` with orthogonal weights (gain 1), before any rescaling."""
    return dataclasses.replace(s, init="orthogonal", **{k: None for k in INIT_PARAM_NAMES}, lsuv=False)


def train_key(views: dict[str, Any]) -> tuple[TrainScenario, ...]:
    """The training scenarios a Training page compares (its ``train`` and ``training`` sections)."""
    ts = views.get("train", TrainScenario())
    view = views.get("training", TrainView())
    return tuple(v for _, v in train_comparison(ts, view.entries, view.by))
