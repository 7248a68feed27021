"""The Training tab's numbers in words: pure functions of training results (no streamlit).

What the page says about a comparison (its summary table, and the numbers a preset's text fills in at
run time) is computed here, once, so that the text and the table cannot disagree and both are
unit-tested without a page. A preset text quotes a measured training number through a field such as
``{he.acc_median}``: the digits of a training run depend on the CPU (the compiled kernel and BLAS add in
their own orders, and training amplifies the differences), so they are filled in from the results on
the page, never written into the text.

Diverged restarts (a loss that became inf or NaN at some recorded step) are counted and left out of
every other statistic (:func:`initlab.training.engine.summarize`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from initlab.numerics.format import MISSING, fmt, fmt_or_dash
from initlab.training import engine as training
from initlab.training.engine import TrainResult
from initlab.training.scenario import TrainScenario, irrelevant

__all__ = ["distinct_in_words", "norms_caption", "setup_line", "train_facts", "train_table", "widths_in_words"]


def distinct_in_words(medians: list[float | None], widths: tuple[int, ...]) -> str:
    """The distinct units at the end per weight layer (but the output), "10 / 5"; past 4 layers "16 in all 21
    layers" or "1 – 16 (of 16) over 21 layers": one number per layer of a deep network fills no cell."""
    if len(medians) <= 4:
        return " / ".join(fmt_or_dash(d) for d in medians)
    known = [d for d in medians if d is not None]
    if not known:
        return MISSING
    if min(known) == max(known) and len(known) == len(medians):
        return f"{fmt_or_dash(known[0])} in all {len(medians)} layers"
    return f"{fmt_or_dash(min(known))} – {fmt_or_dash(max(known))} (of {max(widths)}) over {len(medians)} layers"


def train_table(results: Mapping[str, TrainResult], entry: str = "initializer") -> list[dict[str, Any]]:
    """The Training tab's summary table: one row per entry (label -> result); ``entry`` names the first
    column (an initializer, or a network when architectures are compared)."""
    rows = []
    for label, r in results.items():
        s = training.summarize(r)
        rows.append({
            entry: label,
            "median test accuracy": fmt_or_dash(s.acc_median),
            "middle half of restarts": (MISSING if s.acc_q1 is None
                                        else f"{fmt_or_dash(s.acc_q1)} – {fmt_or_dash(s.acc_q3)}"),
            "worst – best": (MISSING if s.acc_min is None
                             else f"{fmt_or_dash(s.acc_min)} – {fmt_or_dash(s.acc_max)}"),
            "median loss at step 0": fmt_or_dash(s.loss0_median) + (f" ({s.loss0_nonfinite} inf/NaN)"
                                                                    if s.loss0_nonfinite else ""),
            "median final loss": fmt_or_dash(s.loss_median),
            "diverged (inf/NaN loss)": f"{s.diverged} of {s.restarts}" + (", left out of the other columns"
                                                                          if s.diverged else ""),
            "distinct units at the end": distinct_in_words(list(s.distinct_median), r.scenario.hidden),
        })
    return rows


def norms_caption(optimizer: str, full_batch: bool = True) -> str:
    """What the per-layer chart's three quantities mean for the optimizer in use (Keras 3 updates, see
    :mod:`initlab.training.engine`): only plain gradient descent moves W by lr times the gradient, and the chart's
    gradient is the full training set's (a mini-batch step follows its own batch's gradient)."""
    head = ("Median over restarts, per layer: the gradient ‖∂L/∂W‖ on the whole training set, the weights' own "
            "size ‖W‖, or their ratio. ")
    if optimizer == "sgd":
        batch = "" if full_batch else " (on average: each mini-batch's gradient scatters around it)"
        return head + (f"Plain gradient descent moves W by the learning rate times the gradient{batch}: the ratio "
                       "times the learning rate is how much one step changes a layer, relative to its size.")
    if optimizer == "momentum":
        return head + ("With momentum a step adds up the recent gradients (about 1 / (1 − momentum) of them while "
                       "they agree), so one step changes a layer by up to that many times the learning rate times "
                       "the ratio.")
    return head + ("Adam divides each gradient by its own running size: a step moves every weight by about the "
                   "learning rate whatever ‖∂L/∂W‖ is, so here the gradient says how steep the loss still is, not "
                   "how big a step is; ‖W‖ shows how far the weights have moved.")


def train_facts(results: Mapping[str, TrainResult]) -> dict[str, SimpleNamespace]:
    """The numbers a Training preset's text quotes, by comparison entry (``views.TRAIN_INITS`` name ->
    result): ``{he.acc_median}``, ``{normal_10.loss0}``, ... written exactly as :func:`train_table`
    writes them, so every number the text quotes is in the table on the same page."""
    out = {}
    for name, r in results.items():
        s = training.summarize(r)
        out[name] = SimpleNamespace(
            acc_median=fmt_or_dash(s.acc_median), acc_q1=fmt_or_dash(s.acc_q1), acc_q3=fmt_or_dash(s.acc_q3),
            acc_min=fmt_or_dash(s.acc_min), acc_max=fmt_or_dash(s.acc_max), loss0=fmt_or_dash(s.loss0_median),
            loss_end=fmt_or_dash(s.loss_median),
            restarts=str(s.restarts), diverged=str(s.diverged))
    return out


def _architecture(ts: TrainScenario) -> str:
    """`` (stem + 2 residual blocks, pre-norm BatchNorm, 2 layers per branch, alpha learned from 0)``: what
    the network is besides its widths; empty for the plain MLP (its line stays as it was)."""
    if ts.plain_mlp:
        return ""
    norm = {"none": "no norm", "batch": "BatchNorm", "layer": "LayerNorm"}[ts.norm]
    if not ts.residual:
        return f" ({norm} after each)"
    rule = {"fixed": fmt(ts.alpha()), "inv_sqrt_depth": "1/sqrt(blocks)", "fixup": "1 (Fixup)"}[ts.residual_rule]
    alpha = f"alpha learned from {rule}" if ts.alpha_learned else f"alpha {rule}"
    per = f"{ts.branch_layers} layer{'s' if ts.branch_layers > 1 else ''} per branch"
    where = f"{ts.norm_position}-norm {norm}" if ts.norm != "none" else f"{ts.norm_position} branches, no norm"
    blocks = f"{ts.blocks} residual block{'s' if ts.blocks > 1 else ''}"
    return f" (stem + {blocks}, {where}, {per}, {alpha})"


def widths_in_words(hidden: tuple[int, ...]) -> str:
    """Hidden widths as read aloud: "10, 5"; a run of 3 or more equal widths as "16 × 20" ("2, 16 × 3")."""
    runs = [(w, len(list(g))) for w, g in itertools.groupby(hidden)]
    return ", ".join(f"{w} × {k}" if k >= 3 else ", ".join([str(w)] * k) for w, k in runs)


def _data(ts: TrainScenario) -> str:
    """The data part of :func:`setup_line`: what was trained on, as many examples as there are (digits has
    at most 1437 and 360), with the noise only where the dataset adds any and the classes where not 2."""
    if ts.dataset == "digits":
        pixels = "pixels / 16" if ts.inputs == "standard" else "raw pixels 0 to 16"
        return (f"digits: {ts.train_examples} training and {ts.test_examples} test images of 8 × 8, {pixels}, "
                f"{ts.classes} classes")
    noise = "" if "noise" in irrelevant(ts) else f", noise {fmt(ts.noise)}"
    classes = f", {ts.classes} classes" if ts.classes != 2 else ""
    return f"{ts.dataset}: {ts.n_train} training and {ts.n_test} test points{classes}{noise}, {ts.inputs} inputs"


def setup_line(ts: TrainScenario) -> str:
    """The whole training setup in one line (the page's controls live in a closed expander)."""
    batch = "full batch" if ts.full_batch else f"batches of {ts.batch}"
    opt = {"sgd": "plain gradient descent", "momentum": f"momentum {fmt(ts.momentum)}", "adam": "Adam"}[ts.optimizer]
    seeds = f"seed {ts.seed}" if ts.restarts == 1 else f"seeds {ts.seed} to {ts.seed + ts.restarts - 1}"
    return (f"{_data(ts)} · hidden layers {widths_in_words(ts.hidden)}{_architecture(ts)}, {ts.activation}, "
            f"{ts.bias} biases · {opt}, learning rate {fmt(ts.lr)}, {ts.steps} steps, {batch} · "
            f"{ts.restarts} restarts ({seeds}), {ts.dtype}")


# The Deep Learning Specialization's notebook "Initialization" (course 2, week 1), as settings: scikit-learn's
# make_circles(300, noise=.05) after np.random.seed(1) (test set: 100 points after seed 2), unscaled inputs,
# layers [2, 10, 5, 1] (ReLU, ReLU, sigmoid), np.random.seed(3) then W_l = randn(n_l, n_{l-1}) x scale in
# layer order (weights_rng="legacy"), zero biases, full-batch gradient descent, lr 0.01, 15000 steps, float64,
# one run, its cost printed every 1000 iterations (records=15) and computed as the notebook does (cost="naive").
COURSE_C2W1 = TrainScenario(data_seed=1, inputs="unscaled", dtype="float64", restarts=1, seed=3,
                            weights_rng="legacy", records=15, cost="naive")
COURSE_C2W1_COMPARE = ("zeros", "normal_10", "he")
COURSE_C2W1_STEP = 14000  # the last cost the notebook prints
# What the notebook prints, per comparison entry: cost at iteration 0, at 14000, train and test accuracy.
COURSE_C2W1_PRINTED: dict[str, tuple[float, float, float, float]] = {
    "zeros": (0.6931471805599453, 0.6931471805599453, 0.5, 0.5),
    "normal_10": (float("inf"), 0.38278, 0.83, 0.86),
    "he": (0.8830537463419761, 0.07357895962677366, 0.9933333333333333, 0.96),
}


def course_numbers(results: Mapping[str, TrainResult]) -> dict[str, tuple[float, float, float, float]]:
    """initlab's numbers for :data:`COURSE_C2W1_PRINTED`'s: the reported training cost (the notebook's
    formula, ``cost="naive"``) at step 0 and 14000, final train and test accuracy of the single run, by
    comparison entry."""
    out = {}
    for name in COURSE_C2W1_COMPARE:
        r = results[name]
        at = int(list(r.recorded_steps).index(COURSE_C2W1_STEP))
        out[name] = (float(r.cost[0, 0]), float(r.cost[0, at]), float(r.train_acc[0, -1]), float(r.test_acc[0, -1]))
    return out


def course_table(ts: TrainScenario, results: Mapping[str, TrainResult]) -> list[dict[str, str]] | None:
    """initlab's numbers beside the notebook's printed ones (table rows, all digits), or None unless ``ts`` is
    :data:`COURSE_C2W1` (complete: all 15000 steps) and ``results`` has the three initializations."""
    if ts != COURSE_C2W1 or not set(COURSE_C2W1_COMPARE) <= set(results):
        return None
    if any(results[n].steps_done < ts.steps for n in COURSE_C2W1_COMPARE):
        return None
    ours = course_numbers(results)
    labels = {"zeros": "zeros", "normal_10": "N(0, 1) × 10", "he": "He, × √(2/n)"}
    rows = []
    for name in COURSE_C2W1_COMPARE:
        p, o = COURSE_C2W1_PRINTED[name], ours[name]
        rows.append({"Initialization": labels[name],
                     "cost at 0 (notebook)": repr(p[0]), "cost at 0 (initlab)": repr(o[0]),
                     "loss at 0 from the logits (initlab)": repr(float(results[name].loss[0, 0])),
                     f"cost at {COURSE_C2W1_STEP} (notebook)": repr(p[1]),
                     f"cost at {COURSE_C2W1_STEP} (initlab)": repr(o[1]),
                     "train accuracy (notebook)": repr(p[2]), "train accuracy (initlab)": repr(o[2]),
                     "test accuracy (notebook)": repr(p[3]), "test accuracy (initlab)": repr(o[3])})
    return rows
