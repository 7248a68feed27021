"""The Training page: small networks trained on the spot from 2-4 initializers x several restarts,
in five parts (curves, every restart, boundaries, symmetry, per layer), only the open one drawn.
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
from initlab.pages import TRAINING, TRAINING_PARTS, TrainView, train_comparison, train_key
from initlab.plots import training as plots_training
from initlab.signal.scenario import BIASES_WITHOUT_VALUE, Scenario
from initlab.training import summaries as train_summaries
from initlab.training.engine import TrainResult
from initlab.training.scenario import TRAIN, TrainScenario, irrelevant
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


def _train_controls(ts: TrainScenario, view: TrainView) -> Any:
    """The comparison and the settings form. Returns where a training's progress goes, where the student
    looks: just above the form's button on the run its click started, else under the comparison (the other
    control that starts a training), above the settings. Below the open settings (~700 px of controls)
    it was off screen at 900 px height."""
    controls.page_control("training", "compare")
    top = st.empty()
    # A form: a student changes several settings, then trains once (each change used to retrain at once,
    # 4-12 s each). The custom initializer's settings live in it too.
    box = st.expander("Data, network and training (the same for every initializer)", key="train_settings",
                      on_change="rerun", expanded="custom" in view.compare)
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
        if "custom" in view.compare:
            st.markdown("**Custom initializer** (the comparison's *custom* entry)")
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
    return shell.static_table(train_summaries.train_table(figures.trained(pairs)))


def draw(values: Values) -> None:
    ts: TrainScenario = values["train"]
    view: TrainView = values["training"]
    st.markdown("Real networks trained on the spot: a small MLP (2 inputs, the hidden layers below, one "
                "sigmoid output) learns a 2-D dataset by gradient descent, **from several random restarts at "
                "once**. Each restart ends differently, so judge an initialization by all of them: the line is "
                "the median over restarts, the band the middle half.")
    bar = _train_controls(ts, view)  # where the progress goes
    st.caption(train_summaries.setup_line(ts))
    if len(view.compare) < 2:
        st.info(f"Pick at least two initializers to compare ({len(view.compare)} chosen).")
        return
    pairs = train_comparison(ts, view.compare)  # the same key as products.train_key: the store finds it

    # Only the initializers not trained yet are trained (results are kept per initializer).
    new = sum(compute.trained(v) is None for v in dict.fromkeys(v for _, v in pairs))

    def progress(fraction: float, step: int) -> None:
        what = f"{new} initializer{'s' if new != 1 else ''} × {ts.restarts} restarts"
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"Training {what}: step {step} of {ts.steps}")

    sketch = st.empty()

    def partial(so_far: tuple[TrainResult, ...]) -> None:
        # While training: the loss curves so far (not cached: each picture is drawn once).
        sketch.plotly_chart(plots_training.curves_figure(dict(zip((lbl for lbl, _ in pairs), so_far)), "loss"),
                            width="stretch", config=figures.CHART, key=None)

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
    course = train_summaries.course_table(ts, dict(zip(view.compare, results.values())))
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
        shell.section("Test accuracy during training", "On the held-out points: 0.5 is chance for two balanced classes.")
        figures.chart("train_curves", pairs, "test_acc", int(steps[frame]))
    elif part == "restarts":
        shell.section("Every restart's final test accuracy", "One point per restart, the bar is the median: a tight "
                      "column is an initialization you can rely on; a tall one a lottery.")
        figures.chart("train_points", pairs)
    elif part == "boundaries":
        _boundaries(pairs, ts, steps, frame, run)
    elif part == "symmetry":
        shell.section("Symmetry: distinct units per hidden layer", "Units whose incoming weights and bias are equal "
                      "compute the same thing forever. Zero or constant init keeps every layer at 1 distinct unit; a "
                      "random init starts (and stays) at the layer's width.")
        figures.panels("distinct", len(pairs), pairs)
    else:
        shell.section("Each layer's weights during training", train_summaries.norms_caption(ts.optimizer, ts.full_batch))
        controls.page_control("training", "norms")
        figures.chart("grad_norms", pairs, view.norms)
        zero = _never_positive(pairs, view.norms)
        if zero:
            st.caption(zero)


def _boundaries(pairs: Pairs, ts: TrainScenario, steps: np.ndarray, frame: int, run: int) -> None:
    shell.section("Decision boundaries", f"Restart {run} at step {int(steps[frame])}: colour is the predicted "
                  "probability of class 1, the black line the boundary. Scrub through training with the slider.")
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
    figures.panels("boundary", len(pairs), pairs, run, int(steps[frame]))


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
    parts = [f"{label}: {plots_training.layers_in_words(ls, results[label].grad_norm.shape[2])}"
             for label, ls in by.items()]
    return (f"Not drawn, since a log axis has no 0: {'; '.join(parts)} — {quantity} of exactly 0 at every step "
            "(median over restarts).")


def products(s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """What this page computes: each initializer of its comparison, trained (kept one by one)."""
    key = train_key(views)
    return [("train", (ts,)) for ts in dict.fromkeys(key)] if len(key) >= 2 else []
