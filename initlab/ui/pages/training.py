"""The Training page: small networks trained on the spot from 2-4 initializers (or architectures) x several
restarts, in parts (curves, every restart, boundaries, confusion and errors, each unit, symmetry, per layer,
dead units and update size, alpha/gamma/beta), only the open one drawn.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from initlab.ui import controls, figures, logs, shell, state
from initlab.ui.figures import Pairs
from initlab.ui.results import cache as compute
from initlab.ui.shell import Values, ss
from initlab.pages import TRAINING, TRAINING_PARTS, TrainView, train_architectures, train_comparison, train_key
from initlab.plots import training as plots_training
from initlab.plots import units as plots_units
from initlab.signal.scenario import BIASES_WITHOUT_VALUE, Scenario
from initlab.training import summaries as train_summaries
from initlab.training.engine import TrainResult
from initlab.training.scenario import INIT_FIELDS, TRAIN, TrainScenario, irrelevant
from initlab.weights import initializers


# Training controls, by group (every one a field of the train section, kept while the tab is closed).
TRAIN_GROUPS = (("Data", ("dataset", "n_train", "n_test", "noise", "data_seed", "inputs")),
                ("Network", ("hidden", "activation", "bias", "bias_value")),
                ("Training", ("optimizer", "lr", "momentum", "steps", "batch_size", "restarts", "seed", "dtype")),
                # What replaying a notebook needs (the course preset sets all three): its weight stream and
                # layout, the steps it prints at and its cost formula.
                ("Recording and replay", ("records", "weights_rng", "cost")),
                # Residual blocks and norms (hidden layers 2..k become blocks; the stem stays a plain layer).
                ("Architecture", ("block", "norm", "norm_position", "branch_layers", "residual_rule",
                                  "residual_scale", "residual_learned", "norm_eps")))


# What the data controls mean for digits, said where the dataset is chosen.
DIGITS_DATA = ("**digits**: 1797 images of 8 × 8 pixels, split once (seeded by the data seed, every digit in its "
               "share) into 1437 training and 360 test images. Training and test points take at most that many, "
               "keeping each digit's share; noise is ignored (the images are used as scanned); standard inputs "
               "are the grey levels divided by 16, their maximum, so every pixel is in [0, 1] (some pixels are 0 in "
               "every image: standardising them would divide by 0); unscaled inputs are the levels 0 to 16.")


def _train_controls(ts: TrainScenario, view: TrainView) -> Any:
    """The comparison and the settings form. Returns where a training's progress goes, where the student
    looks: just above the form's button on the run its click started, else under the comparison (the other
    control that starts a training), above the settings. Below the open settings (~700 px of controls)
    it was off screen at 900 px height."""
    c = st.columns([1, 3])
    controls.page_control("training", "by", where=c[0])
    controls.page_control("training", "archs" if view.by == "architecture" else "compare", where=c[1])
    top = st.empty()
    # A form: a student changes several settings, then trains once (each change used to retrain at once,
    # 4-12 s each). The custom initializer's settings live in it too.
    custom = "custom" in view.entries or view.by == "architecture"  # the form's initializer is trained
    box = st.expander("Data, network and training (the same for every " + (
                      "network)" if view.by == "architecture" else "initializer)"), key="train_settings",
                      on_change="rerun", expanded="custom" in view.entries)
    if not box.open:
        return top
    with box, st.form("train_form", border=False, enter_to_submit=False):
        cols = st.columns(len(TRAIN_GROUPS))
        unused = irrelevant(ts)
        for col, (title, names) in zip(cols, TRAIN_GROUPS):
            col.markdown(f"**{title}**")
            for name in names:
                if title == "Architecture" and name in unused:  # e.g. a plain network's alpha
                    continue
                if name == "momentum" and ts.optimizer != "momentum":
                    continue
                if name == "bias_value" and ts.bias in BIASES_WITHOUT_VALUE:
                    continue
                controls.widget(TRAIN, name, where=col, persist=True)
            if title == "Data" and ts.dataset == "digits":
                col.caption(DIGITS_DATA)
        if custom:
            st.markdown("**Initializer of every network**" if view.by == "architecture" else
                        "**Custom initializer** (the comparison's *custom* entry)")
            c = st.columns(4)
            controls.widget(TRAIN, "init", where=c[0], persist=True)
            for i, (pname, p) in enumerate(initializers.spec(ts.init).params.items()):
                if pname in {f.name for f in TRAIN.fields}:
                    extra = (dict(default_label=str(p.default)) if p.kind == "choice"
                             else dict(placeholder=f"default {p.default}"))
                    controls.widget(TRAIN, pname, where=c[1 + i % 3], persist=True, **extra)
        above_button = st.empty()  # above it: a button at the bottom of the screen would push it off
        return above_button if st.form_submit_button("Train with these settings", type="primary") else top


@compute.shared(shell.TEXTS)
def _train_table(pairs: Pairs) -> pd.DataFrame:
    """The summary table of a trained comparison (its results are cached: read, not retrained)."""
    by_net = len({ts.replace(**{k: pairs[0][1].__dict__[k] for k in INIT_FIELDS}) for _, ts in pairs}) > 1
    return shell.static_table(train_summaries.train_table(figures.trained(pairs),
                                                          "network" if by_net else "initializer"))


def _architecture_caption(ts: TrainScenario, pairs: Pairs) -> str:
    """What the networks of a comparison by architecture share, and what the form asked that they changed."""
    net = pairs[0][1]
    init = f"{ts.init}" + (" + LSUV" if ts.lsuv else "")
    blocks = (f"; a residual network's first hidden layer is its stem, the other {len(net.hidden) - 1} its blocks"
              if any(v.residual for _, v in pairs) else "")
    text = (f"Every network starts from the form's initializer ({init}), with the same data, hidden widths "
            f"({train_summaries.widths_in_words(net.hidden)}), optimizer and restart seeds{blocks}. They train one "
            "after the other.")
    if net.hidden != ts.hidden:
        text += (f" The form asks for hidden layers {train_summaries.widths_in_words(ts.hidden)}: here every one is "
                 f"{net.hidden[0]} wide, since a residual block adds its input to its output.")
    return text


def _intro(ts: TrainScenario) -> str:
    """The page's first sentence: what learns what, for the dataset of the form."""
    if ts.dataset == "digits":
        what = ("a small MLP (64 inputs, the pixels of an 8 × 8 image; the hidden layers below; a softmax over 10 "
                "outputs, one per digit) learns scikit-learn's handwritten digits")
    elif ts.softmax:
        what = (f"a small MLP (2 inputs, the hidden layers below, a softmax over {ts.classes} outputs, one per "
                "class) learns a 2-D dataset")
    else:
        what = "a small MLP (2 inputs, the hidden layers below, one sigmoid output) learns a 2-D dataset"
    return (f"Real networks trained on the spot: {what} by gradient descent, **from several random restarts at "
            "once**. Each restart ends differently, so judge an initialization by all of them: the line is "
            "the median over restarts, the band the middle half.")


def draw(values: Values) -> None:
    ts: TrainScenario = values["train"]
    view: TrainView = values["training"]
    st.markdown(_intro(ts))
    bar = _train_controls(ts, view)  # where the progress goes
    st.caption(train_summaries.setup_line(ts))
    what = "networks" if view.by == "architecture" else "initializers"
    if len(view.entries) < 2:
        st.info(f"Pick at least two {what} to compare ({len(view.entries)} chosen).")
        return
    pairs = train_comparison(ts, view.entries, view.by)  # the same key as products.train_key: the store finds it
    if view.by == "architecture":
        st.caption(_architecture_caption(ts, pairs))
        for text in train_architectures(ts, view.entries)[1]:
            st.warning(text)

    # Only the initializers not trained yet are trained (results are kept per initializer).
    new = sum(compute.trained(v) is None for v in dict.fromkeys(v for _, v in pairs))

    def progress(fraction: float, step: int) -> None:
        count = f"{new} {what if new != 1 else what[:-1]} × {ts.restarts} restarts"
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"Training {count}: step {step} of {ts.steps}"
                     + (" (one network after the other)" if view.by == "architecture" and new > 1 else ""))

    sketch = st.empty()

    def partial(so_far: tuple[TrainResult | None, ...]) -> None:
        # While training: the loss curves so far (not cached: each picture is drawn once); a network not
        # started yet has none.
        got = {lbl: r for (lbl, _), r in zip(pairs, so_far) if r is not None}
        sketch.plotly_chart(plots_training.curves_figure(got, "loss"), width="stretch", config=figures.CHART,
                            key=None)

    try:
        results = dict(zip((label for label, _ in pairs), compute.train(tuple(v for _, v in pairs), progress, partial)))
    except compute.BusyError as exc:
        logs.warning("busy: %s (training %r)", exc, ts)
        st.warning(f"Not computed: {exc}. Press R or change a control to retry.")
        return
    except ValueError as exc:  # scenarios are repaired before they get here: this is a bug, log it
        logs.failure("train", exc, {"scenario": ts})
        st.error(f"This training cannot be run: {exc}")
        return
    bar.empty()
    sketch.empty()
    first = next(iter(results.values()))
    steps = first.recorded_steps
    # The view was made to exist in this training (views.repair_training_view, with a notice).
    frame = len(steps) - 1 if view.frame < 0 else view.frame
    run = view.run
    st.table(_train_table(pairs))
    course = train_summaries.course_table(ts, dict(zip(view.entries, results.values())))
    if course is not None:
        st.markdown("**The course notebook's printed numbers beside initlab's** (Deep Learning Specialization, "
                    "course 2, week 1, *Initialization*): the same accuracies; the costs of zeros and He agree to "
                    "about 15 digits. N(0, 1) × 10 agrees to about 1e-4 only: its sums reach 1e3, and the order in "
                    "which they are added (initlab's engines, the notebook's numpy) moves the fourth digit. The "
                    "notebook's `inf` at step 0: every output logit of the × 10 network is large (|z| ≥ 62.7), so "
                    "its sigmoid rounds to exactly 1 and the naive log(1 − a) is −inf for the class-0 points. "
                    "This preset reports the cost the notebook's way (*Reported cost: naive*) and prints the "
                    "same `inf`; the loss computed stably from the logits, which the charts show and training "
                    "descends, is finite.")
        # One row per quantity, one column per initialization: the all-digit numbers side by side made a
        # table wider than the page at 1400 px (9 columns of up to 19 digits).
        inits = [row["Initialization"] for row in course]
        st.table(shell.static_table([{"": key, **{i: row[key] for i, row in zip(inits, course)}}
                                     for key in course[0] if key != "Initialization"]))
    part, box = shell.part_tabs("training", TRAINING_PARTS, view.show)
    with box:
        _training_part(part, pairs, ts, view, steps, frame, run)
    _train_exports(values, results, pairs, run)


def _training_part(part: str, pairs: Pairs, ts: TrainScenario, view: TrainView, steps: np.ndarray, frame: int,
                   run: int) -> None:
    if part == "curves":
        shell.section("Loss during training", "Median over restarts with the middle half as a band, on a log axis. "
                      "A line that stays flat has not learned; a wide band means the restarts disagree.")
        figures.chart("train_curves", pairs, "loss", int(steps[frame]))
        if ts.softmax:
            st.caption(_start_loss(pairs))
        chance = "0.5 is chance for two balanced classes" if not ts.softmax else (
            f"1/{ts.classes} = {1 / ts.classes:.2g} is chance for {ts.classes} balanced classes")
        shell.section("Test accuracy during training", f"On the held-out {'images' if ts.dataset == 'digits' else 'points'}: "
                      f"{chance}.")
        figures.chart("train_curves", pairs, "test_acc", int(steps[frame]))
    elif part == "restarts":
        shell.section("Every restart's final test accuracy", "One point per restart, the bar is the median: a tight "
                      "column is an initialization you can rely on; a tall one a lottery.")
        figures.chart("train_points", pairs)
    elif part == "boundaries":
        _boundaries(pairs, ts, steps, frame, run)
    elif part == "errors":
        _errors(pairs, ts, steps, frame, run)
    elif part == "units":
        _units(pairs, ts, view, steps, frame, run)
    elif part == "health":
        _health(pairs, ts)
    elif part == "symmetry":
        nets = [v for _, v in pairs]
        residual = any(v.residual for v in nets)
        shell.section("Symmetry: distinct units per " + ("weight layer" if residual else "hidden layer"),
                      "Units whose incoming weights and bias are equal compute the same thing forever. Zero or "
                      "constant init keeps every layer at 1 distinct unit; a random init starts (and stays) at the "
                      "layer's width." + (_SYMMETRY_RESIDUAL if residual else "")
                      + (_SYMMETRY_NORM if any(v.norm != "none" for v in nets) else ""))
        deep = plots_training.deep(figures.trained(pairs))
        figures.panels("distinct_fan" if deep else "distinct", len(pairs), pairs)
    elif part == "layers":
        shell.section("Each layer's weights during training", train_summaries.norms_caption(ts.optimizer, ts.full_batch)
                      + (" One panel per network, a line per weight layer from the input (dark) to the output (light)."
                         if plots_training.deep(figures.trained(pairs)) else ""))
        controls.page_control("training", "norms")
        if plots_training.deep(figures.trained(pairs)):
            figures.panels("grad_norm_panel", len(pairs), pairs, view.norms)
        else:
            figures.chart("grad_norms", pairs, view.norms)
        zero = _never_positive(pairs, view.norms)
        if zero:
            st.caption(zero)
    else:
        _blocks_part(pairs)


# What the Symmetry chart shows in a residual network, and with norms (their gamma and beta count as the unit's).
_SYMMETRY_RESIDUAL = (
    " In a residual network the identity path carries the stream past every block, yet it breaks no symmetry by "
    "itself: when every layer starts symmetric (zero or constant init everywhere) the stem's units are copies, so "
    "is the stream, and so is every unit after it. It breaks a symmetry only where the surroundings differ: Fixup's "
    "zero last layer of each branch starts at 1 distinct unit and splits within the first recorded steps, since "
    "each of its units adds to its own, different unit of the stream.")
_SYMMETRY_NORM = (" A norm's learned γ and β of a unit count as part of it where the norm acts unit by unit (plain "
                  "layers and the stem).")


def _blocks_part(pairs: Pairs) -> None:
    """alpha per block (learned or fixed), and the norms' learned gamma and beta, for every entry."""
    residual = tuple(p for p in pairs if p[1].residual)
    normed = tuple(p for p in pairs if p[1].norm != "none")
    if not residual and not normed:
        st.info("These networks have no residual blocks and no norms, so there is no α, γ or β to show. Compare "
                "architectures above, or set *Block* or *Norm* in the form's Architecture group.")
        return
    if len(residual) < len(pairs) or len(normed) < len(pairs):
        st.caption("Only the networks that have them: " + "; ".join(
            f"{label}: {', '.join(w for w, has in (('α', p in residual), ('γ and β', p in normed)) if has) or 'none'}"
            for label, p in ((lbl, (lbl, v)) for lbl, v in pairs)) + ".")
    if residual:
        shell.section("α per block during training", "The scale of each residual branch, h = h + α B(h). Learned "
                      "(ReZero, SkipInit) it starts at 0, so every block starts as the identity and the network as "
                      "shallow as its stem; the optimizer then grows each block's α as far as that block helps. "
                      "A fixed α is a flat line, said in its panel.")
        figures.panels("alpha", len(residual), residual)
    if normed:
        shell.section("The norms' learned scale γ and shift β", "Each norm outputs γ u + β from its normalised u, "
                      "with γ = 1 and β = 0 at the start: the root mean square over the norm's units, median over "
                      "restarts, shows how far training moved them, one line per norm from the input side (dark) "
                      "to the output side (light).")
        figures.panels("norm_param", 2 * len(normed), normed, per_row=2)  # each network's gamma beside its beta


def _boundaries(pairs: Pairs, ts: TrainScenario, steps: np.ndarray, frame: int, run: int) -> None:
    if ts.dataset == "digits":
        st.info("The digits have 64 inputs, so there is no plane to colour. What the networks predict is in "
                "*Confusion and errors* (the confusion matrix and the misclassified test images), what their units "
                "respond to in *Each unit* (every unit's incoming weights as an 8 × 8 image).")
        return
    colours = ("colour is the predicted probability of class 1, the black line the boundary" if not ts.softmax else
               "colour is the predicted class, paler where the network is less sure (its top probability lower); "
               "the borders between colours are the boundaries")
    shell.section("Decision boundaries", f"Restart {run} at step {int(steps[frame])}: {colours}. Scrub through "
                  "training with the slider.")
    _step_controls(ts, steps, frame)
    figures.panels("boundary", len(pairs), pairs, run, int(steps[frame]))


def _errors(pairs: Pairs, ts: TrainScenario, steps: np.ndarray, frame: int, run: int) -> None:
    """The confusion matrix of every entry, and (digits) the test images it gets wrong, at the shown step."""
    step = int(steps[frame])
    points = "images" if ts.dataset == "digits" else "points"
    shell.section("Confusion matrix", f"Restart {run} at step {step:,}, on the {ts.test_examples} held-out test "
                  f"{points}: row i, column j counts the {points} of {'digit' if ts.dataset == 'digits' else 'class'} "
                  "i the network predicts as j, so the diagonal is what it gets right. A network that predicts "
                  "one class for everything fills a single column.")
    _step_controls(ts, steps, frame)
    figures.panels("confusion", len(pairs), pairs, run, step)
    if ts.dataset == "digits":
        shell.section("The test images it gets wrong", f"Restart {run} at step {step:,}: each image with its true "
                      "digit and the network's prediction (true → predicted), in the raw grey levels.")
        figures.panels("misclassified", len(pairs), pairs, run, step)


def _units(pairs: Pairs, ts: TrainScenario, view: TrainView, steps: np.ndarray, frame: int, run: int) -> None:
    """What every unit computes at the shown step: its incoming weights as an image (digits), or its output
    over the plane (2-D datasets)."""
    step = int(steps[frame])
    if ts.dataset == "digits":
        shell.section("First layer's weights, one 8 × 8 image per unit",
                      f"Restart {run} at step {step:,}: unit j's 64 incoming weights drawn where their pixels are "
                      "(blue positive, red negative, white 0): the pattern the unit responds to. Units that start "
                      "equal (zeros or a constant) get equal gradients, so they stay copies of one image for ever: "
                      "the symmetry made visible.")
        _step_controls(ts, steps, frame)
        figures.panels("weight_images", len(pairs), pairs, run, step)
        return
    shell.section(f"What each unit of hidden layer {view.layer} computes",
                  f"Restart {run} at step {step:,}: every unit's output over the input plane, one small map per "
                  "unit, on one colour scale per network. Units that start equal compute one and the same map; a "
                  "dead unit (ReLU output 0 on every training point) is flat and marked, as is a saturated one "
                  "(its slope f′(z) under a tenth of its largest on every training point: it passes almost no "
                  "gradient).")
    _step_controls(ts, steps, frame)
    if len(ts.hidden) > 1:
        controls.page_control("training", "layer", hi=len(ts.hidden))
    figures.panels("unit_maps", len(pairs), pairs, run, step, min(view.layer, len(ts.hidden)))


def _health(pairs: Pairs, ts: TrainScenario) -> None:
    """Per layer during training: the share of dead or saturated units, and the size of each update."""
    results = figures.trained(pairs)
    deep = plots_training.deep(results)
    kind = plots_units.share_kind(ts.activation)
    if kind is None:
        st.info(f"No unit of {ts.activation} dies or saturates: its slope is never 0 or near 0 (leaky ReLU keeps a "
                "small slope for z < 0; linear is a line), so there is no share of dead or saturated units to draw.")
    else:
        rule = ("dead: its output is 0 on every training point, so no gradient reaches its weights and no update "
                "revives it" if kind == "dead" else
                "saturated: its slope f′(z) is under a tenth of its largest on every training point, so it passes "
                "almost no gradient back")
        shell.section(f"Share of {kind} units per hidden layer", f"Median over restarts at each recorded step; a unit "
                      f"is {rule}. Evaluated on the whole training set.")
        if deep:
            figures.panels("unit_share_panel", len(pairs), pairs, kind)
        else:
            figures.chart("unit_share", pairs, kind)
    shell.section("Update size per layer, ‖ΔW‖ / ‖W‖",
                  "How much the last update before each recorded step changed each layer's weights, relative to "
                  "their size (median over restarts, log axis). It depends on the learning rate and the optimizer: "
                  "plain gradient descent moves W by the learning rate times the gradient, so a layer whose "
                  "gradient vanishes barely moves; Adam moves every weight by about the learning rate whatever its "
                  "gradient, so its ratio is about the learning rate over the typical weight. Undefined at step 0 "
                  "(no update yet) and where a layer's weights are all 0 (0 in the denominator).")
    if deep:
        figures.panels("update_ratio_panel", len(pairs), pairs)
    else:
        figures.chart("update_ratio", pairs)
    undefined = _undefined_updates(pairs)
    if undefined:
        st.caption(undefined)


def _step_controls(ts: TrainScenario, steps: np.ndarray, frame: int) -> None:
    """The recorded step and the restart a picture shows (the link keeps both)."""
    c = st.columns([3, 1])
    k = "training.frame_ui"
    ss[k] = frame
    # The slider reads in training steps; the link keeps the index of the recorded step (-1: the last).
    fix = state.fixed(TRAINING, "frame")  # a lesson may hide or lock the step shown, as any control
    if fix != "hide":
        c[0].select_slider("Step shown (recorded steps)", options=range(len(steps)), key=k,
                           format_func=lambda i: f"{int(steps[i]):,}", on_change=_set_frame, args=(len(steps),),
                           disabled=fix == "lock",
                           help=f"{len(steps)} recorded steps from 0 to {int(steps[-1]):,}: the boundaries, and "
                                "the dotted line on the curves above, show the network at this step.")
    controls.widget(TRAINING, "run", where=c[1], persist=True, hi=ts.restarts - 1)


def _set_frame(n: int) -> None:
    """The boundary slider shows recorded-step indices; the link keeps -1 for "the last one"."""
    v = int(ss.get("training.frame_ui", n - 1))
    ss["training.frame"] = -1 if v >= n - 1 else v


def _train_exports(values: Values, results: dict[str, TrainResult], pairs: Pairs, run: int) -> None:
    box = st.expander("Download the runs, or train the same network in PyTorch", key="train_code_open",
                      on_change="rerun")
    if not box.open:
        return
    with box:
        c = st.columns(3)

        def history_csv() -> str:
            frames = [r.history.assign(initializer=label) for label, r in results.items()]
            return pd.concat(frames).to_csv(index=False)

        def runs_csv() -> str:
            frames = [r.runs.assign(initializer=label) for label, r in results.items()]
            return pd.concat(frames).to_csv(index=False)

        c[0].download_button("History (CSV)", history_csv, file_name="initlab_history.csv", mime="text/csv",
                             on_click="ignore")
        c[1].download_button("Runs (CSV)", runs_csv, file_name="initlab_runs.csv", mime="text/csv", on_click="ignore")
        doc = {"training": {label: dataclasses.asdict(ts) for label, ts in pairs},
               "link": state.share_query(values)}
        c[2].download_button("Scenario (JSON)", lambda: json.dumps(doc, indent=2, default=list),
                             file_name="initlab_training.json", mime="application/json", on_click="ignore")
        label = st.selectbox("PyTorch code for", [lbl for lbl, _ in pairs], key="train_code_for")
        ts = dict(pairs)[label]
        st.code(compute.train_snippet(ts, run), language="python")  # the restart shown on the page


@compute.shared(shell.TEXTS)
def _start_loss(pairs: Pairs) -> str:
    """The loss at step 0 of every entry against ln C, and what it says."""
    results = figures.trained(pairs)
    first = next(iter(results.values())).scenario
    C = first.classes
    examples = "images" if first.dataset == "digits" else "points"
    facts = train_summaries.train_facts(results)
    each = ", ".join(f"{label} {facts[label].loss0}" for label in results)
    return (f"Loss at step 0, median over restarts: {each}. ln {C} = {np.log(C):.3f} is the loss of an output that "
            f"gives every class 1/{C}, which is where a network starts when its output layer is 0 (zeros) or "
            f"small: it knows nothing and says so. Above ln {C} a network starts confidently wrong: its logits "
            f"already differ a lot, by chance, and on the {examples} whose true class got a low logit it pays for "
            "that confidence. The further above, the larger its initial outputs, and the more it has to unlearn "
            "before it can learn.")


@compute.shared(shell.TEXTS)
def _undefined_updates(pairs: Pairs) -> str:
    """The layers whose update ratio is not drawn, in words: undefined at every recorded step after 0 (weights
    all 0), or exactly 0 there (no gradient reaches them)."""
    results = figures.trained(pairs)

    def named(layers: list[tuple[str, int]]) -> str:
        by: dict[str, list[int]] = {}
        for label, layer in layers:
            by.setdefault(label, []).append(layer)
        return "; ".join(f"{label}: " + ", ".join(results[label].scenario.layer_names[l - 1] for l in ls)
                         for label, ls in by.items())

    out = []
    undefined = plots_units.undefined_updates(results)
    if undefined:
        out.append(f"Not drawn, undefined at every recorded step: {named(undefined)} — weights of exactly 0 before "
                   "every update, so ‖W‖ = 0 and the ratio has no value.")
    frozen = plots_units.frozen_updates(results)
    if frozen:
        out.append(f"Not drawn, since a log axis has no 0: {named(frozen)} — updates of exactly 0 at every recorded "
                   "step after 0 (median over restarts): no gradient reaches these weights any more, the units they "
                   "feed or read from are dead.")
    return " ".join(out)


@compute.shared(shell.TEXTS)
def _never_positive(pairs: Pairs, what: str) -> str:
    """The lines the per-layer chart cannot draw (exactly 0 at every step), in words; "" if none."""
    results = figures.trained(pairs)
    zero = plots_training.never_positive(results, what)
    if not zero:
        return ""
    by: dict[str, list[int]] = {}
    for label, layer in zero:
        by.setdefault(label, []).append(layer)
    quantity = {"grad": "a gradient", "weight": "weights", "relative": "a gradient"}[what]
    parts = [f"{label}: " + (", ".join(results[label].scenario.layer_names[l - 1] for l in ls)
                              if results[label].scenario.residual
                              else plots_training.layers_in_words(ls, results[label].grad_norm.shape[2]))
             for label, ls in by.items()]
    return (f"Not drawn, since a log axis has no 0: {'; '.join(parts)} — {quantity} of exactly 0 at every step "
            "(median over restarts).")


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes: each initializer of its comparison, trained (kept one by one)."""
    key = train_key(views)
    return [("train", (ts,)) for ts in dict.fromkeys(key)] if len(key) >= 2 else []
