"""The Theory and Training tabs' sentences (initlab.theory.summaries, initlab.training.summaries): each is true of the numbers beside it.

Each test names what a student saw on the page before (a false or unreadable sentence) and checks the
sentence against the core's own numbers.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from initlab import propagate
from initlab.theory import summaries
from initlab.training import summaries as train_summaries
from initlab.signal import lsuv
from initlab import pages as page_specs
from initlab.ui.results import products
from initlab.signal import spectra
from initlab.theory import meanfield as theory
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import Scenario

EDGE = PRESETS["edge_of_chaos"].scenario  # tanh, sigma_w^2 1.76, sigma_b^2 0.05, depth 100


def texts(s: Scenario, sw2_max: float = 4.0, sb2_max: float = 0.5) -> summaries.TheoryTexts:
    return summaries.theory_texts(s, sw2_max, sb2_max)


def test_a_network_a_few_xi_c_deep_is_not_called_lost() -> None:
    """tanh sigma_w^2 1.5, sigma_b^2 0.05: xi_c = 15.8. The page said a 50-layer network had lost the signal;
    at depth xi_c a difference has decayed by e, and Schoenholz et al. trained networks to ~6 xi_c."""
    s = EDGE.replace(scale=1.5, depth=50)
    xi_c = float(theory.depth_scales("tanh", 1.5, 0.05)[1])
    assert f"{xi_c:.3g}" == "15.8"
    line = texts(s).depth
    assert "**15.8 layers**" in line and "**50**" in line and "(3.17 ξ_c)" in line
    assert "within the ~6 ξ_c" in line and "lost" not in line
    deep = texts(s.replace(depth=100)).depth  # 100 / 15.8 = 6.33 > 6
    assert "beyond the ~6 ξ_c" in deep and "e^6.33" in deep


def test_chaotic_phase_names_the_correlation_it_settles_at() -> None:
    """tanh 2.5 / 0.1 is chaotic; differences grow only until the correlation reaches c* = 0.664 < 1."""
    s = EDGE.replace(scale=2.5, bias_value=0.1 ** 0.5)
    c_star = float(theory.correlation_fixed_point("tanh", 2.5, 0.1))
    assert 0.66 < c_star < 0.67
    t = texts(s)
    assert "(chaotic)" in t.intro and "**c\\* = 0.664**" in t.intro


def test_the_page_says_chi1_scales_the_squared_distance() -> None:
    import inspect

    from initlab.ui.pages import theory as theory_app_page

    source = inspect.getsource(theory_app_page.draw)
    assert "*squared* distance" in source and "stretches a small difference" not in source


def test_zero_weights_name_the_real_cause_and_keep_the_scenario_s_bias_variance() -> None:
    """edge_of_chaos with init=zeros: the page blamed "a non-zero mean, a shared matrix or a constant bias"
    (none true) and drew the depth scale at sigma_b^2 = 0 instead of the scenario's 0.05."""
    s = EDGE.replace(init="zeros", scale=None, mode=None, distribution=None)
    t = texts(s)
    assert t.point is None and t.sb2 == pytest.approx(0.05)
    assert "no spread (every weight is 0)" in t.intro
    for wrong in ("non-zero mean", "shared matrix", "constant bias"):
        assert wrong not in t.intro
    assert ("depth_curve", ("tanh", theory.bias_variance(s), 4.0)) in products.page_products("theory", s, {})


@pytest.mark.parametrize("s, cause", [
    (Scenario(init="small_uniform"), "non-zero mean (0.05)"),
    (Scenario(bias="constant", bias_value=0.3), "constant 0.3"),
    (Scenario(shared=True), "reused in every layer"),
    (Scenario(lsuv=True), "LSUV sets each layer's scale"),
])
def test_every_missing_point_names_its_cause(s: Scenario, cause: str) -> None:
    assert theory.scenario_sigmas(s) is None and cause in texts(s).intro


@pytest.mark.parametrize("s, words", [
    (Scenario(activation="relu", init="random_normal", stddev=0.2, depth=10), "No depth scale here"),
    (Scenario(activation="linear", init="orthogonal", depth=10), "ξ_c is infinite here"),
])
def test_infinite_or_undefined_depth_scales_are_said_in_words(s: Scenario, words: str) -> None:
    """The page printed "ξ_c here: NaN layers" (relu, chi1 > 1: q* = inf) and "inf layers" (exactly critical)."""
    line = texts(s).depth
    assert words in line and "NaN" not in line and "inf layers" not in line


def test_an_edge_beyond_the_diagram_and_a_point_beyond_it_are_said() -> None:
    """sigmoid's edge at sigma_w^2 = 103 was never on the diagram; a cross at 1.76 left axes drawn to 1.5."""
    t = texts(Scenario(activation="sigmoid"), sw2_max=20)
    assert "**σw² = 103**" in t.intro and "beyond this diagram" in t.intro
    assert float(theory.critical_sw2("sigmoid", 0.0)) == pytest.approx(103.0, abs=0.05)
    assert "beyond the diagram's range" in texts(EDGE, sw2_max=1.5).intro
    assert "beyond" not in texts(EDGE, sw2_max=4.0).intro


def test_the_spectra_compare_with_orthogonal_at_the_same_point() -> None:
    """edge_of_chaos used to compare with orthogonal at gain 1, which is ordered at sigma_b^2 = 0.05 (mean s^2
    1e-12 at layer 100), next to a caption praising orthogonal."""
    pair = page_specs.theory_pair(EDGE, "orthogonal")
    (_, mine), (label, other) = pair
    assert mine == EDGE and other.init == "orthogonal" and label == "orthogonal, gain √1.76"
    assert other.gain == pytest.approx(math.sqrt(1.76)) and other.bias == EDGE.bias and other.bias_value == EDGE.bias_value
    assert theory.scenario_sigmas(other) == (pytest.approx(1.76), pytest.approx(0.05))
    # isometry (linear, sigma_w^2 = 1): gain 1, the plain orthogonal network, labelled as before
    iso = PRESETS["isometry"].scenario
    assert [lbl for lbl, _ in page_specs.theory_pair(iso, "orthogonal")] == ["variance_scaling", "orthogonal"]
    assert page_specs.theory_pair(iso, "orthogonal")[1][1].gain is None


def test_why_the_critical_network_s_mean_s2_moves() -> None:
    """chi1 = 1 at q*, but the inputs enter at q = 1.81: the per-layer chi starts at 0.642 and the mean of s^2
    falls (0.264 at layer 100 measured); the note says so with the theory's numbers."""
    t = texts(EDGE)
    pred = theory.predict(EDGE)
    note = summaries.jacobian_note(EDGE, t, pred)
    q_star = float(theory.fixed_point("tanh", 1.76, 0.05))
    assert note is not None and f"q\\* = {q_star:.3g}" in note and "q = 1.81" in note and "0.642" in note
    assert pred.pre_std[0] ** 2 == pytest.approx(1.76 + 0.05) and pred.chi[0] < 1
    # the product of chi over the layers is below 1, as the measured mean of s^2: both fall
    sp = spectra.jacobian_singular_values(EDGE, [100]).summary()
    assert np.prod(pred.chi) < 0.6 and sp["mean_sq"][0] < 0.6
    # at a finite width one input's value wanders around the product by a factor of order e^sqrt(L/n):
    # sqrt(100 / 256) = 0.63; 3 of those (3 "sd") bound the measured ratio.
    assert abs(math.log(sp["mean_sq"][0] / np.prod(pred.chi))) < 3 * math.sqrt(100 / 256)
    assert summaries.jacobian_note(PRESETS["isometry"].scenario, texts(PRESETS["isometry"].scenario),
                                   theory.predict(PRESETS["isometry"].scenario)) is None


def test_noise_level_singular_values_are_counted_not_quoted() -> None:
    pair = page_specs.theory_pair(PRESETS["isometry"].scenario, "orthogonal")
    rows = summaries.jacobian_table([(lbl, spectra.jacobian_singular_values(v, [100]), None) for lbl, v in pair])
    gauss, orth = rows
    assert gauss["smallest"].endswith("(rounding floor)") and gauss["largest / smallest"].startswith("at least ")
    # no cell starts with ">" (a quote in a markdown table, which st.table renders)
    assert not [v for row in rows for v in row.values() if str(v).startswith((">", "<"))]
    below = int(gauss["below the rounding floor"].split(" of ")[0])
    assert 0.65 * 256 <= below <= 0.85 * 256 and gauss["largest"] == "15.6"
    assert orth["below the rounding floor"] == "0 of 256" and orth["smallest"] == "1" and orth["largest"] == "1"


def test_subnormal_jacobians_have_an_absolute_floor() -> None:
    """lsuv_rescue's N(0, 0.01) tanh stack: by layer 50 every entry of J is a float32 subnormal (largest
    singular value ~1e-39), which keeps only a few digits; a smallest value of 2e-46, below float32's
    smallest subnormal, was printed as a measurement."""
    sp = spectra.jacobian_singular_values(PRESETS["lsuv_rescue"].scenario, [50])
    summ = sp.summary()
    assert summ["max"][0] < np.finfo(np.float32).smallest_normal
    assert summ["floor"][0] == pytest.approx(256 ** 1.5 * float(np.finfo(np.float32).smallest_subnormal))
    # the spike of rounding near 1e-43 (111 values in [1e-44, 1e-43) where the exact product has 18) lies
    # below it, and so do all values below 1e-42, where float32 and float64 part
    s = sp.singular_values[0]
    assert summ["floor"][0] > 1e-42 and summ["below_floor"][0] == (s < summ["floor"][0]).sum() >= 111


def _lsuv(s: Scenario) -> tuple[str, ...]:
    rep = propagate(s.replace(lsuv=True)).lsuv
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    start = propagate(page_specs.orthogonal_start(s)).layers["pre_std"].to_numpy(dtype=float) ** 2
    return summaries.lsuv_lines(s, rep, own, start)


def test_lsuv_lines_when_nothing_needs_rescaling() -> None:
    """A linear orthogonal stack on standard inputs already has Var(z) = 1: the page said "0 rescalings (at
    most 0 for one layer)"."""
    lines = " ".join(_lsuv(Scenario(activation="linear", depth=8, width=64, batch=128)))
    assert "rescaled nothing" in lines and "0 rescalings" not in lines and "at most 0" not in lines


@pytest.mark.slow
def test_lsuv_lines_count_what_was_rescaled_and_name_the_orthogonal_start() -> None:
    s = PRESETS["lsuv_rescue"].scenario
    lines = _lsuv(s)
    rep = propagate(s.replace(lsuv=True)).lsuv
    assert f"rescaled **{int((rep.iterations > 0).sum())}** of the 50 layers" in lines[-1]
    assert f"**{int(rep.iterations.sum())}** rescalings in all" in lines[-1]
    assert lines[1].startswith("From orthogonal weights, before any rescaling")
    # the pre-activation variance it targets: every layer within the tolerance of 1
    assert np.all(np.abs(rep.var_after - 1) < lsuv.TOL)


def test_lsuv_lines_say_when_a_layer_did_not_converge() -> None:
    """Biases of variance 1 or more cannot be rescaled away: Var(z) >= Var(b) whatever the weights."""
    s = Scenario(activation="tanh", depth=4, width=64, batch=128, bias="random_normal", bias_value=1.5)
    lines = " ".join(_lsuv(s))
    rep = propagate(s.replace(lsuv=True)).lsuv
    assert (~rep.converged).sum() > 0 and f"**{int((~rep.converged).sum())}** layer" in lines


def test_training_facts_are_written_as_the_table_writes_them() -> None:
    """A preset text's numbers are the table's cells, character for character (the page shows both)."""
    from initlab.training.scenario import TrainScenario
    from initlab.training.engine import train_many
    from initlab.pages import train_comparison

    pairs = train_comparison(TrainScenario(steps=200, restarts=3), ("zeros", "he"))
    res = train_many([ts for _, ts in pairs])
    rows = train_summaries.train_table(dict(zip([lbl for lbl, _ in pairs], res)))
    facts = train_summaries.train_facts(dict(zip(("zeros", "he"), res)))
    for row, name in zip(rows, ("zeros", "he")):
        f = facts[name]
        assert row["median test accuracy"] == f.acc_median and row["median final loss"] == f.loss_end
        assert row["worst – best"] == f"{f.acc_min} – {f.acc_max}" and row["median loss at step 0"] == f.loss0
        assert row["middle half of restarts"] == f"{f.acc_q1} – {f.acc_q3}"


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.facts])
def test_every_field_of_a_preset_text_is_a_fact(name: str) -> None:
    """Filling a text never fails on a field the facts do not have (a typo would be a KeyError on the page)."""
    from types import SimpleNamespace

    p = PRESETS[name]
    fields = set(re.findall(r"\{(\w+)\.(\w+)\}", p.text))
    assert fields and {entry for entry, _ in fields} <= set(p.views["training"].entries)
    names = {"acc_median", "acc_q1", "acc_q3", "acc_min", "acc_max", "loss0", "loss_end", "restarts", "diverged"}
    assert {attr for _, attr in fields} <= names
    filled = p.fill({e: SimpleNamespace(**{k: "X" for k in names}) for e in p.views["training"].entries})
    assert "{" not in filled and "X" in filled


def test_a_critical_relu_network_is_not_called_divergent() -> None:
    """He + ReLU (sigma_w^2 = 2, sigma_b^2 = 0) is exactly critical: every q is a fixed point. n * (sqrt(2/n))^2
    came out as 2.0000000000000004, a divergent q-map, and the page said "at χ₁ = 1 > 1 ... grows without bound"."""
    s = Scenario(init="he_normal", activation="relu")
    assert theory.scenario_sigmas(s) == (2.0, 0.0)
    line = texts(s).depth
    assert "ξ_c is infinite here" in line and "> 1" not in line


@pytest.mark.parametrize("init", ["he_normal", "glorot_uniform", "lecun_normal", "orthogonal"])
@pytest.mark.parametrize("activation", ["relu", "elu", "softplus", "linear", "tanh", "selu", "gelu", "swish"])
@pytest.mark.parametrize("bias", ["zeros", "random_normal"])
def test_the_depth_line_says_chi1_exceeds_1_only_when_it_does(init: str, activation: str, bias: str) -> None:
    s = Scenario(init=init, activation=activation, bias=bias, bias_value=0.2, depth=20, width=64)
    t = texts(s)
    chi = float(theory.chi1(activation, *t.point))
    m = re.search(r"χ₁ = ([0-9.e-]+) > 1", t.depth)
    assert m is None or chi > 1 + summaries.EDGE_BAND, (t.depth, chi)
    assert "NaN" not in t.depth and "inf layers" not in t.depth


def test_in_the_chaotic_phase_the_correlation_settles_it_does_not_fade() -> None:
    """tanh 2.5 / 0.1, 100 layers: differences grow, the correlation settles at c* = 0.664; the page said the
    difference "has faded by a factor e^7.43"."""
    s = EDGE.replace(scale=2.5, bias_value=0.1 ** 0.5)
    line = texts(s).depth
    assert "settled at the correlation c\\*" in line and "forgotten" in line and "faded" not in line


def test_an_orthogonal_partner_never_exceeds_the_gain_it_takes() -> None:
    """N(0, 10^2) weights at width 256: sigma_w^2 = 25600, sqrt = 160 > gain's maximum 100, which failed the
    Jacobian part with a ValueError."""
    from initlab.signal.scenario import FIELD_BY_NAME

    s = Scenario(init="random_normal", stddev=10.0, depth=10)
    (_, _), (label, other) = page_specs.theory_pair(s, "orthogonal")
    other.validate()
    assert other.gain == FIELD_BY_NAME["gain"].hi and "the largest it takes" in label and "2.56e+04" in label


def test_lsuv_lines_when_no_layer_could_be_rescaled() -> None:
    """relu with a constant bias of -10: every unit is dead, Var(z) is 0 after layer 1 and cannot be rescaled.
    The page said "rescaled nothing: every layer ... already within 0.1 of 1" and then "did not reach 1 ... in 10
    tries" (none was made)."""
    s = Scenario(activation="relu", bias="constant", bias_value=-10.0, depth=5, width=64, batch=128)
    lines = " ".join(_lsuv(s))
    rep = propagate(s.replace(lsuv=True)).lsuv
    stuck = int(((rep.iterations == 0) & ~rep.converged).sum())
    assert stuck > 0 and f"**{stuck}** layers could not be rescaled at all" in lines
    assert "rescaled nothing" not in lines and "in 10 tries" not in lines


def test_a_spectrum_entirely_below_the_floor_quotes_nothing() -> None:
    """tanh with N(0, 0.01) weights, 100 layers: by layer 100 every singular value is rounding; the table read
    "largest 0", "mean of s² 0", "at least 0"."""
    s = Scenario(init="random_normal", stddev=0.01, activation="tanh", depth=100)
    sp = spectra.jacobian_singular_values(s, [100])
    assert sp.summary()["below_floor"][0] == 256
    row = summaries.jacobian_table([("N(0, 0.01)", sp, None)])[0]
    assert row["largest"] == "—" and row["mean of s²"] == "—" and row["largest / smallest"] == "—"
    assert row["smallest"].startswith("all below") and row["below the rounding floor"] == "256 of 256"
    from initlab.plots import theory as plots_theory

    fig = plots_theory.spectra_panel({"N(0, 0.01)": sp}, 0)
    assert any("below the rounding floor" in a.text for a in fig.layout.annotations)


def test_the_zero_init_preset_says_its_weights_have_no_spread_not_a_non_zero_mean():
    """zeros has mean 0: the missing mean-field curve is explained by its missing spread."""
    from app_util import open_link

    at = open_link({"preset": "zero_init"})
    texts = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "No mean-field curve: its weights have no spread (every weight is 0)" in texts
    assert "non-zero mean" not in texts
