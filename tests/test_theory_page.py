"""The Theory tab: its presets' numbers (recomputed from the core) and the page, through AppTest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from initlab import propagate
from initlab.ui.results.products import spectra_depths
from initlab.signal import spectra
from initlab.theory import meanfield as theory
from initlab.teaching.presets import PRESETS
from initlab.signal.scenario import Scenario
from tests.app_util import open_clean



def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ------------------------------------------------------------------------------- the presets' numbers


def test_edge_of_chaos_preset_numbers() -> None:
    s = PRESETS["edge_of_chaos"].scenario
    sw2, sb2 = theory.scenario_sigmas(s)
    assert sw2 == pytest.approx(1.76, rel=1e-12) and sb2 == pytest.approx(0.05, rel=1e-12)
    crit = float(theory.critical_sw2("tanh", 0.05))
    assert round(crit, 2) == 1.76  # the text's "at 1.76" (Schoenholz et al. 2017: about 1.76)
    chi = float(theory.chi1("tanh", sw2, sb2))
    assert abs(chi - 1) < 0.01  # "sits on it (chi1 = 1)": within the page's 1% band of the edge
    xi_c = float(theory.depth_scales("tanh", sw2, sb2)[1])
    assert f"{xi_c:.3g}" == "4.91e+03" and xi_c > s.depth
    lower = float(theory.depth_scales("tanh", 1.0, sb2)[1])
    assert float(theory.chi1("tanh", 1.0, sb2)) < 0.99 and lower < 10  # "only a few layers" at sigma_w^2 = 1


def test_isometry_preset_numbers() -> None:
    s = PRESETS["isometry"].scenario
    sp = spectra.jacobian_singular_values(s, [100])
    gauss = sp.summary()
    # "the largest is 15.6": the largest singular value carries a relative rounding error of about
    # 100 layers x eps32 = 1.2e-5 (measured across OpenBLAS kernels: 15.60950 to 15.60950); 15.6 holds
    # unless it sits within that of a rounding boundary (15.55 or 15.65), which it does not.
    assert f"{gauss['max'][0]:.3g}" == "15.6" and min(abs(gauss["max"][0] - b) for b in (15.55, 15.65)) > 1e-3
    # "about three in four fall below float32's rounding floor": the count of values below 1e-7 s_max is
    # 188-194 of 256 across CPUs (the exact product, multiplied in float64, has 194 there); 0.65-0.85 is
    # "about three in four", and the smallest value's digits (1.98e-9 on one CPU, 1.44e-9 on another,
    # ~1e-18 exactly) are never quoted.
    assert 0.65 * 256 <= gauss["below_floor"][0] <= 0.85 * 256
    assert gauss["min"][0] < spectra.NOISE_FLOOR["float32"] * gauss["max"][0]
    orth = spectra.jacobian_singular_values(s.replace(init="orthogonal", scale=None, mode=None, distribution=None),
                                            [100]).summary()
    # Orthogonal: every singular value is 1, up to float32 rounding accumulated over 100 products.
    assert abs(orth["max"][0] - 1) < 100 * 2 * np.finfo(np.float32).eps * 10
    assert abs(orth["min"][0] - 1) < 100 * 2 * np.finfo(np.float32).eps * 10
    assert theory.scenario_sigmas(s) == (pytest.approx(1.0), 0.0)


def test_lsuv_rescue_preset_numbers() -> None:
    s = PRESETS["lsuv_rescue"].scenario
    own = propagate(s).layers["pre_std"].to_numpy(dtype=float) ** 2
    assert f"{own[0]:.3g}" == "0.0257" and f"{own[-1]:.2g}" == "2.8e-80"
    rep = propagate(s.replace(lsuv=True)).lsuv
    assert int(rep.iterations.sum()) == 49
    assert f"{np.nanmin(rep.var_after):.3g}" == "0.985" and f"{np.nanmax(rep.var_after):.3g}" == "1"
    assert np.all(np.abs(rep.var_after - 1) < rep.tol)


# ------------------------------------------------------------------------------------------- the page


def test_theory_tab_draws_the_charts_of_its_open_part_and_marks_the_scenario() -> None:
    at = open_clean({"tab": "theory", "depth": "20", "width": "64", "batch": "32"})
    figs = charts(at)
    assert len(figs) == 2  # order and chaos: phase diagram and depth scales
    for part, n in (("spectra", len(spectra_depths(20))), ("lsuv", 1)):  # spectra: one chart per depth
        other = open_clean({"tab": "theory", "depth": "20", "width": "64", "batch": "32", "th_show": part})
        assert len(charts(other)) == n
    phase = figs[0]
    point = [t for t in phase["data"] if t.get("name") == "this scenario"]
    assert len(point) == 1
    sw2, sb2 = theory.scenario_sigmas(Scenario(depth=20, width=64, batch=32))
    assert point[0]["x"][0] == pytest.approx(sw2) and point[0]["y"][0] == pytest.approx(sb2)
    heat = [t for t in phase["data"] if t["type"] == "heatmap"][0]
    z = heat["z"]
    shape = z["shape"] if isinstance(z, dict) else (len(z), len(z[0]))
    rows, cols = (int(v) for v in str(shape).strip("[]()").split(",")) if isinstance(shape, str) else shape
    assert rows >= 100 and cols >= 100  # at least a 100 x 100 grid


def test_moving_a_control_moves_the_point() -> None:
    at = open_clean({"tab": "theory", "init": "random_normal", "stddev": "0.05", "depth": "10", "width": "64"})
    before = [t for t in charts(at)[0]["data"] if t.get("name") == "this scenario"][0]["x"][0]
    assert before == pytest.approx(64 * 0.05**2)
    at.number_input(key="net.stddev").set_value(0.2).run()
    after = [t for t in charts(at)[0]["data"] if t.get("name") == "this scenario"][0]["x"][0]
    assert after == pytest.approx(64 * 0.2**2)
    assert at.query_params["stddev"] in ("0.2", ["0.2"])


def test_no_point_when_the_theory_does_not_describe_the_scenario() -> None:
    at = open_clean({"tab": "theory", "init": "small_uniform", "depth": "10", "width": "32"})
    assert any("has no point on the diagram" in c.value for c in at.caption)
    assert not [t for t in charts(at)[0]["data"] if t.get("name") == "this scenario"]


def test_theory_controls_are_in_the_link_and_checked_one_by_one() -> None:
    at = open_clean({"tab": "theory", "th_sw2": "8", "th_sb2": "9", "th_vs": "he_normal", "depth": "10", "width": "32"})
    warnings = [w.value for w in at.warning if "could not be used" in w.value]
    assert len(warnings) == 1 and "`th_sb2`: `9` is above the maximum 4: clamped to 4" in warnings[0]
    q = {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}
    assert q["th_sw2"] == "8" and q["th_sb2"] == "4" and q["th_vs"] == "he_normal"
    heat = [t for t in charts(at)[0]["data"] if t["type"] == "heatmap"][0]
    assert heat["name"] == "χ₁"
    at.session_state["theory.show"] = "spectra"
    at.run()
    assert set(at.table[0].value.index) == {"glorot_uniform", "he_normal"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["edge_of_chaos", "isometry", "lsuv_rescue"])
def test_theory_presets_open_on_the_theory_tab(name: str) -> None:
    at = open_clean({"preset": name})
    assert at.session_state["tab"] == "Theory"
    spectra_charts = len(spectra_depths(PRESETS[name].scenario.depth))  # one chart per depth
    assert len(charts(at)) == {"edge_of_chaos": 2, "isometry": spectra_charts, "lsuv_rescue": 1}[name]
    line = next(m.value for m in at.markdown if m.value.startswith("This scenario:"))
    if name == "edge_of_chaos":
        assert "(at the edge of chaos)" in line and "**σw² = 1.76**" in line and "**σb² = 0.05**" in line
