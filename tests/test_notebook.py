"""The core as a notebook uses it: short reprs, constructors that refuse what they would ignore,
methods that take what a user holds, limits a user can lift."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import initlab
from initlab import BudgetError, Scenario, TrainScenario, propagate, train
from initlab.ui.links import decode_query, encode_query
from initlab.schema import deferred_checks
from initlab.signal import verdict
from initlab.signal.scenario import MAX_BYTES, MAX_MACS, NET, estimate_macs
from initlab.training.scenario import MAX_TRAIN_BYTES, MAX_TRAIN_EXAMPLES, MAX_TRAIN_MACS, TRAIN

STD1 = Scenario(init="random_normal", stddev=1.0, activation="linear", depth=250)


@pytest.fixture(scope="module")
def exploding() -> initlab.Result:
    return propagate(STD1)


@pytest.fixture(scope="module")
def trained() -> initlab.TrainResult:
    return train(TrainScenario(steps=200, restarts=14), records=10)


# ------------------------------------------------------------------------------------------- reprs


def test_a_result_prints_a_few_lines_not_its_arrays(exploding):
    text = repr(exploding)
    assert len(text) < 700  # was 9061 characters
    lines = text.splitlines()
    assert lines[0] == ("initlab Result: Scenario(init='random_normal', stddev=1.0, activation='linear', "
                        "depth=250)")
    assert lines[1].startswith("  signal: overflow: The forward signal overflowed to inf at layer 32")
    assert lines[2].startswith("  gradients: overflow: The gradient overflowed: from layer 250 down")
    assert lines[3] == "  inf/NaN: activations from layer 32, gradients from layer 250 down"
    assert str(exploding) == text


def test_the_html_repr_says_the_same_escaped(exploding):
    page = exploding._repr_html_()
    assert "<b>initlab Result</b>" in page and "overflowed to inf at layer 32" in page
    assert "Scenario(init=&#x27;random_normal&#x27;" in page and len(page) < 1000


def test_a_healthy_result_says_every_value_is_finite():
    res = propagate(Scenario(init="he_normal", activation="relu", depth=10, width=64, batch=16))
    assert "inf/NaN: none: every value of the 10 layers is finite" in repr(res)


def test_result_equality_and_fields_are_untouched(exploding):
    assert exploding == exploding and exploding.first_nonfinite_layer == 32
    assert exploding.scenario == STD1 and len(exploding.layers) == 250


def test_a_train_result_prints_its_setup_and_restarts(trained):
    text = repr(trained)
    assert len(text) < 1200  # was 28085 characters
    lines = text.splitlines()
    assert lines[0] == "initlab TrainResult: TrainScenario(init='torch_kaiming_normal', activation='relu', steps=200, restarts=14)"
    assert lines[1].startswith("  setup: circles: 300 training and 100 test points")
    assert lines[2].startswith("  trained: 200 of 200 steps")
    s = trained.summary()
    row = initlab.training.summaries.train_table({"x": trained})[0]
    assert f"median {row['median test accuracy']}" in lines[3] and "diverged: 0 of 14" in lines[3]
    # Every restart's accuracy up to 12, then how many more
    assert lines[6].count(",") == 12 and "… (2 more in .runs)" in lines[6]
    assert s.restarts == 14 and s.acc_median == pytest.approx(float(np.median(trained.test_acc[:, -1])))
    assert "<b>initlab TrainResult</b>" in trained._repr_html_()


def test_brief_evaluates_back_to_the_scenario():
    for s in (STD1, Scenario(), TrainScenario().with_init("zeros"), TrainScenario(dataset="moons", lr=0.1)):
        assert eval(s.brief(), {"Scenario": Scenario, "TrainScenario": TrainScenario}) == s  # noqa: S307 - test only
    assert Scenario().brief() == "Scenario(init='glorot_uniform', activation='tanh')"


# ------------------------------------------------------------------------- methods on what a user holds


def test_verdicts_take_a_result(exploding):
    page = verdict.signal_verdict(exploding.layers, first=verdict.first_layer(exploding), dtype="float32")
    assert exploding.verdict() == verdict.signal_verdict(exploding) == initlab.signal_verdict(exploding) == page
    assert exploding.verdict().kind == "overflow"
    assert exploding.verdict("pre") == verdict.signal_verdict(exploding.layers, "pre", first=verdict.first_layer(exploding))
    assert exploding.gradient_verdict() == verdict.gradient_verdict(exploding.layers) == initlab.gradient_verdict(exploding)


def test_figures_take_a_lone_result(exploding, trained):
    from initlab import plots
    from initlab.plots.signal import gradient_figure, signal_figure
    from initlab.plots.training import curves_figure

    fig = signal_figure(exploding)
    assert [t.name for t in fig.data] == ["random_normal"]
    assert fig.to_dict() == signal_figure({"random_normal": exploding}).to_dict()
    assert plots.figure(exploding).to_dict() == fig.to_dict()
    assert plots.figure(exploding, "grad_std").to_dict() == gradient_figure(exploding).to_dict()
    assert plots.figure(trained).to_dict() == curves_figure({"torch_kaiming_normal": trained}).to_dict()
    assert plots.figure({"a": trained}, "test_acc").to_dict() == curves_figure({"a": trained}, "test_acc").to_dict()


# ------------------------------------------------------------------------ constructors refuse, clearly


@pytest.mark.parametrize("make, message", [
    (lambda: Scenario(init="he_normal", stddev=0.5),
     "he_normal takes no parameter 'stddev' (it takes none); stddev is a parameter of random_normal, "
     "truncated_normal, torch_trunc_normal"),
    (lambda: Scenario(init="random_uniform", stddev=0.5), "random_uniform takes no parameter 'stddev' (it takes: minval, maxval)"),
    (lambda: Scenario(init="xavier"), "init='xavier': unknown initializer; did you mean 'glorot_uniform'?"),
    (lambda: Scenario(activation="ReLU"), "activation='ReLU': unknown activation; did you mean 'relu'?"),
    (lambda: TrainScenario(init="kaiming"), "init='kaiming': unknown initializer; did you mean 'he_normal'?"),
    (lambda: TrainScenario(activation="Tanh"), "activation='Tanh': unknown activation; did you mean 'tanh'?"),
    (lambda: TrainScenario(dataset="moon"), "dataset='moon': unknown dataset; did you mean 'moons'?"),
    (lambda: TrainScenario(init="zeros", nonlinearity="tanh"), "zeros takes no parameter 'nonlinearity'"),
    (lambda: STD1.replace(init="he_normal"), "he_normal takes no parameter 'stddev'"),
    (lambda: Scenario(depth=0), "depth must be in [1, 1000]; received 0"),
])
def test_constructors_refuse_what_they_would_ignore(make, message):
    with pytest.raises(ValueError) as exc:
        make()
    assert str(exc.value).startswith(message), str(exc.value)


def test_an_unknown_keyword_names_the_nearest_setting():
    with pytest.raises(TypeError, match=r"Scenario has no setting 'std'; did you mean 'stddev'\?"):
        Scenario(std=0.5)
    with pytest.raises(TypeError, match=r"TrainScenario has no setting 'optimiser'; did you mean 'optimizer'\?"):
        TrainScenario(optimiser="adam")


def test_defaults_and_with_init_stay_valid():
    assert TrainScenario(init="zeros").init_params() == {}  # its default nonlinearity (relu) belongs to He
    assert STD1.with_init("he_normal") == Scenario(init="he_normal", activation="linear", depth=250)
    assert TrainScenario().with_init("random_normal", stddev=3.0).stddev == 3.0


def test_deferred_checks_are_the_callers_thread_only():
    with deferred_checks():
        s = Scenario(init="he_normal", stddev=0.5)  # what the app's widgets can hold for a moment
        seen: list[BaseException] = []

        def other() -> None:
            try:
                Scenario(init="he_normal", stddev=0.5)
            except ValueError as exc:
                seen.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(seen) == 1  # another student's page is not affected
    with pytest.raises(ValueError, match="he_normal takes no parameter 'stddev'"):
        s.validate()
    with pytest.raises(ValueError, match="he_normal takes no parameter 'stddev'"):
        propagate(s)
    with pytest.raises(ValueError):
        Scenario(init="he_normal", stddev=0.5)  # outside the block again


def test_the_app_still_drops_another_initializers_parameters_with_its_notices():
    # A link: the preset's stddev means nothing to he_normal (dropped silently), the link's own is reported.
    link = decode_query({"preset": "p", "init": "he_normal", "gain": "2"}, {"p": STD1})
    assert link.scenario == STD1.with_init("he_normal")
    assert [n.message for n in link.notices] == ["`gain` ignored: he_normal has no such parameter"]
    # The training tab's link and widgets (which keep the stddev typed for random_normal).
    ts, notices, _ = TRAIN.decode({"tr_init": "zeros", "tr_stddev": "3"}, TrainScenario().with_init("random_normal", stddev=3.0))
    assert ts == TrainScenario().with_init("zeros") and [n.key for n in notices] == ["tr_stddev"]
    ts, notices = TRAIN.from_values({"init": "zeros", "stddev": 3.0, "nonlinearity": "relu"}, TrainScenario())
    assert ts == TrainScenario().with_init("zeros") and notices == []
    s, notices = NET.from_values({"init": "he_normal", "stddev": 0.25}, STD1)
    assert s == STD1.with_init("he_normal") and notices == []
    assert encode_query(s) == {"v": "3", "init": "he_normal", "activation": "linear", "depth": "250"}


def test_the_training_page_switches_initializer_with_a_parameter_left_in_its_box():
    from tests.test_training_page import _settings, notice_text, open_clean

    at = _settings(open_clean({"tab": "training", "tr_cmp": "custom,he", "tr_init": "random_normal",
                               "tr_stddev": "3", "tr_steps": "20", "tr_restarts": "2"}))
    at.selectbox(key="train.init").set_value("zeros")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert list(at.table[0].value.index) == ["custom: zeros", "He N(0, √(2/n))"]
    q = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
    assert q["tr_init"] == "zeros" and "tr_stddev" not in q
    assert "stddev" not in notice_text(at)


# ---------------------------------------------------------------------------------- limits a user can lift


def test_propagate_takes_limits_whose_defaults_are_the_servers():
    s = Scenario(depth=3, width=32, batch=4)
    with pytest.raises(BudgetError, match="computation") as exc:
        propagate(s, max_macs=estimate_macs(s) - 1)
    assert exc.value.limit == "computation" and "max_bytes=..., max_macs=...) to raise it, or None" in str(exc.value)
    with pytest.raises(BudgetError) as exc:
        propagate(s, max_bytes=1000)
    assert exc.value.limit == "memory"
    a, b = propagate(s), propagate(s, max_bytes=None, max_macs=None)
    np.testing.assert_array_equal(a.layers.to_numpy(), b.layers.to_numpy())
    # The defaults are the server's: 250 x 2048 x 4096 is refused unless lifted (not run here: 4.3e12 MACs).
    big = Scenario(depth=250, width=2048, batch=4096)
    with pytest.raises(BudgetError, match="of memory, more than the 950 MB"):
        propagate(big)
    import inspect

    params = inspect.signature(propagate).parameters
    assert (params["max_bytes"].default, params["max_macs"].default) == (MAX_BYTES, MAX_MACS)


def test_the_app_budget_is_unchanged():
    s, notices = NET.decode({"depth": "1000", "width": "2048", "batch": "4096"}, Scenario())[:2]
    assert s.depth < 1000 and any(n.key == "depth" and "Depth reduced from 1000" in n.message for n in notices)
    assert not any("max_bytes" in n.message for n in notices)  # the library's hint is not the page's


def test_train_takes_limits_whose_defaults_are_the_servers():
    ts = TrainScenario(steps=10, restarts=2)
    with pytest.raises(BudgetError, match=r"train\(\.\.\., max_bytes=\.\.\., max_macs=\.\.\., max_examples=\.\.\.\)"):
        train(ts, max_examples=10)
    with pytest.raises(BudgetError) as exc:
        train(ts, max_bytes=1000)
    assert exc.value.limit == "memory"
    r = train(ts, max_bytes=None, max_macs=None, max_examples=None)
    assert r.complete
    import inspect

    params = inspect.signature(train).parameters
    assert (params["max_bytes"].default, params["max_macs"].default, params["max_examples"].default) == (
        MAX_TRAIN_BYTES, MAX_TRAIN_MACS, MAX_TRAIN_EXAMPLES)
