"""The Training tab: its presets' numbers (recomputed from the core) and the page, through AppTest."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from initlab.presets import PRESETS
from initlab.training import train_many
from initlab.verdict import fmt
from initlab.views import train_comparison
from tests.app_util import open_clean

_RESULTS: dict[str, dict] = {}


def results(name: str) -> dict:
    """The preset's comparison trained by the core (not through the page)."""
    if name not in _RESULTS:
        values = PRESETS[name].values()
        pairs = train_comparison(values["train"], values["training"].compare)
        _RESULTS[name] = dict(zip([label for label, _ in pairs], train_many([ts for _, ts in pairs])))
    return _RESULTS[name]


def final_acc(r) -> np.ndarray:  # type: ignore[no-untyped-def]
    return r.test_acc[:, -1]


def array(v) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A plotly JSON array (plain list or typed base64 ``bdata``) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ------------------------------------------------------------------------------- the presets' numbers


def test_classic_comparison_numbers() -> None:
    res = results("train_classic")
    zeros, big, he = res["zeros"], res["N(0, 1) × 10"], res["He N(0, 2/n)"]
    # zeros: exactly chance and exactly ln 2 at every record of every restart, one unit per layer
    assert (zeros.test_acc == 0.5).all() and np.allclose(zeros.loss, math.log(2), rtol=1e-6)
    assert (zeros.distinct == 1).all()
    assert fmt(math.log(2)) == "0.693"
    assert fmt(float(np.median(big.loss[:, 0]))) == "1440"
    a = final_acc(big)
    assert (fmt(a.min()), fmt(a.max()), fmt(float(np.median(a)))) == ("0.54", "0.95", "0.725")
    h = final_acc(he)
    assert (fmt(h.min()), fmt(h.max())) == ("0.97", "0.98") and np.median(h) >= 0.9
    assert np.median(h) - np.median(a) > 0.2 and np.ptp(a) > 3 * np.ptp(h)  # clearly worse and more spread


def test_symmetry_preset_numbers() -> None:
    res = results("train_symmetry")
    ones, const, he = res["ones"], res["constant 0.5"], res["He N(0, 2/n)"]
    for r in (ones, const):
        assert (r.distinct == 1).all()  # every record, every restart, both layers
    assert fmt(float(np.median(final_acc(ones)))) == "0.51" and fmt(float(np.median(final_acc(const)))) == "0.56"
    assert (he.distinct[:, -1, 0] == 10).all() and (he.distinct[:, -1, 1] == 5).all()
    assert fmt(float(np.median(final_acc(he)))) == "0.97"


def test_restarts_preset_numbers() -> None:
    res = results("train_restarts")
    normal, he = final_acc(res["N(0, 1)"]), final_acc(res["He N(0, 2/n)"])
    for a in (normal, he):
        assert (fmt(float(np.median(a))), fmt(a.min()), fmt(a.max())) == ("0.99", "0.72", "1")
    q = lambda a: tuple(fmt(float(v)) for v in np.percentile(a, [25, 75]))  # noqa: E731
    assert q(normal) == ("0.77", "0.992") and q(he) == ("0.9", "1")


def test_sigmoid_preset_numbers() -> None:
    res = results("train_sigmoid_large")
    big, xav = res["N(0, 1) × 10"], res["Xavier (glorot_uniform)"]
    assert fmt(float(np.median(big.loss[:, 0]))) == "5.64"
    a = final_acc(big)
    assert (fmt(float(np.median(a))), fmt(a.min()), fmt(a.max())) == ("0.835", "0.69", "0.95")
    assert fmt(float(np.median(xav.loss[:, 0]))) == "0.706" and fmt(float(np.median(xav.loss[:, -1]))) == "0.0404"
    assert fmt(float(np.median(final_acc(xav)))) == "0.97"


# ------------------------------------------------------------------------------------------- the page


def test_training_tab_draws_the_comparison_and_its_summary() -> None:
    at = open_clean({"tab": "training", "tr_steps": "400", "tr_restarts": "3"})
    assert len(charts(at)) == 6
    table = at.dataframe[0].value
    assert list(table["initializer"]) == ["zeros", "N(0, 1) × 10", "He N(0, 2/n)"]
    assert table.loc[0, "distinct units at the end"] == "1 / 1"
    assert "400 steps" in next(c.value for c in at.caption if "restarts" in c.value)
    points = charts(at)[2]
    assert sum(len(array(t["y"])) for t in points["data"] if t["mode"] == "markers") == 9  # 3 inits x 3 restarts


def test_scrubbing_the_boundary_slider_goes_into_the_link() -> None:
    at = open_clean({"tab": "training", "tr_steps": "200", "tr_restarts": "2"})
    assert "tr_frame" not in dict(at.query_params)
    at.slider(key="training.frame_ui").set_value(3).run()
    assert dict(at.query_params)["tr_frame"] in ("3", ["3"])
    title = next(m.value for m in at.markdown if "Decision boundaries" in m.value)
    assert "at step 12" in title  # 200 steps, 50 records: step 4 x 3


def test_fewer_than_two_initializers_say_so() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "he"})
    assert any("Pick at least two initializers" in i.value for i in at.info)
    assert charts(at) == []
    assert dict(at.query_params)["tr_cmp"] in ("he", ["he"])


def test_custom_initializer_controls_appear_when_chosen() -> None:
    at = open_clean({"tab": "training", "tr_cmp": "custom,he", "tr_init": "random_normal", "tr_stddev": "3",
                    "tr_steps": "100", "tr_restarts": "2"})
    assert at.number_input(key="train.stddev").value == 3
    assert list(at.dataframe[0].value["initializer"]) == ["custom: random_normal", "He N(0, 2/n)"]


def test_bad_training_values_get_notices_not_tracebacks() -> None:
    at = open_clean({"tab": "training", "tr_hidden": "10,x", "tr_steps": "1e9", "tr_restarts": "0", "tr_cmp": "he,bogus",
                    "tr_run": "500"})
    text = next(w.value for w in at.warning if "could not be used" in w.value)
    for key in ("tr_hidden", "tr_steps", "tr_restarts", "tr_cmp", "tr_run"):
        assert f"`{key}`" in text, key


@pytest.mark.parametrize("name", ["train_classic", "train_symmetry", "train_restarts", "train_sigmoid_large"])
def test_training_presets_open_on_the_training_tab(name: str) -> None:
    at = open_clean({"preset": name})
    assert at.session_state["tab"] == "Training"
    assert len(charts(at)) == 6


def test_a_running_training_shows_partial_results_then_the_same_final_ones(monkeypatch) -> None:
    """The first curves appear long before the end: partial results come every PARTIAL_EVERY seconds
    (0 here: every record), each further along, and the end is exactly what train_many computes."""
    from initlab.train_scenario import TrainScenario
    from initlab.ui import compute

    monkeypatch.setattr(compute, "PARTIAL_EVERY", 0.0)
    key = tuple(ts for _, ts in train_comparison(TrainScenario(steps=300, restarts=2), ("zeros", "he")))
    seen: list[int] = []
    steps: list[int] = []
    final = compute._train_showing(key, lambda f, s: steps.append(s), lambda res: seen.append(res[0].steps_done))
    assert seen[0] == 0 and seen == sorted(seen) and len(seen) >= 10 and seen[-1] < 300
    assert steps[-1] == 300 and all(r.complete for r in final)
    direct = train_many(list(key))
    for a, b in zip(final, direct):
        np.testing.assert_array_equal(a.loss, b.loss)


def test_summary_table_counts_diverged_restarts_and_never_says_nan() -> None:
    """Restarts that blew up used to read as accuracy 0 and "NaN / NaN" distinct units: the table now
    leaves them out of its numbers, counts them, and shows "–" where no restart is left."""
    import warnings

    from initlab.train_scenario import TrainScenario
    from initlab.training import train
    from initlab.ui.pages import _train_summary

    base = TrainScenario(dataset="moons", steps=300, restarts=10, lr=0.2, activation="linear")
    half = train(base.with_init("random_normal", stddev=3.0), records=10)
    every = train(TrainScenario(activation="linear", steps=20, restarts=3, hidden=(64, 64), lr=10.0)
                  .with_init("random_normal", stddev=100.0), records=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = _train_summary({"half": half, "every": every})
    assert not any("NaN" in str(v) for row in rows for v in row.values())
    assert rows[0]["restarts with inf/NaN loss"] == int(half.diverged.sum()) > 0
    assert float(rows[0]["median test accuracy"]) > 0.8 and rows[0]["distinct units at the end"] == "10 / 5"
    assert rows[1]["restarts with inf/NaN loss"] == 3 and rows[1]["median test accuracy"] == "–"
    assert rows[1]["worst – best"] == "–" and rows[1]["distinct units at the end"] == "– / –"
