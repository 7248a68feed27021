"""Mean-field predictions for residual and normalised blocks (initlab.theory.meanfield._predict_blocks):
exact checks of the recursion where it has a closed form, and agreement with the engine within
tolerances derived from the sampling error (as tests/test_blocks.py derives PER_BLOCK)."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from initlab.numerics.format import fmt
from initlab.signal import network
from initlab.signal.scenario import Scenario
from initlab.theory import meanfield as theory
from initlab.theory import summaries
from tests.app_util import open_clean
from tests.test_blocks import PER_BLOCK, W

RES = dict(init="he_normal", activation="relu", block="residual")
EPS = 1e-3  # the default norm_eps


# ------------------------------------------------------------------------ the recursion, exactly


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_residual_relu_without_norm_grows_as_one_plus_alpha_squared(alpha):
    """q_l = q_(l-1) + alpha² · 2 E[relu(h)²] = (1 + alpha²) q_(l-1) (He: sigma_w² = 2); backward, each
    block multiplies the gradient's variance by chi = 1 + alpha² · 2 · 1/2."""
    p = theory.predict(Scenario(depth=12, width=64, residual_scale=alpha, **RES))
    blocks = np.arange(1, 13)
    np.testing.assert_allclose(p.act_std ** 2, (1 + alpha ** 2) ** blocks, rtol=1e-12)
    np.testing.assert_allclose(p.pre_std ** 2, (1 + alpha ** 2) ** (blocks - 1), rtol=1e-12)  # the stream before
    np.testing.assert_allclose(p.chi, 1 + alpha ** 2, rtol=1e-12)
    np.testing.assert_allclose(p.grad_std ** 2, (1 + alpha ** 2) ** (12 - blocks), rtol=1e-12)


def test_inv_sqrt_depth_and_fixup():
    p = theory.predict(Scenario(depth=200, width=64, residual_rule="inv_sqrt_depth", **RES))
    assert p.act_std[-1] ** 2 == pytest.approx((1 + 1 / 200) ** 200, rel=1e-10)  # < e
    # Fixup: the last layer of every branch is zero, so with zero biases every block is the identity.
    p = theory.predict(Scenario(depth=30, width=64, branch_layers=2, residual_rule="fixup", **RES))
    np.testing.assert_allclose(p.act_std, 1.0, rtol=1e-14)
    np.testing.assert_allclose(p.chi, 1.0, rtol=1e-14)
    np.testing.assert_allclose(p.grad_std, 1.0, rtol=1e-14)
    # Its first layer is scaled by depth^(-1/2): z_1 = relu(h) W_1 has variance 2 / 30 * E[relu(h)²] = 1/30.
    np.testing.assert_allclose(p.pre_std ** 2, 1 / 30, rtol=1e-12)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_pre_norm_adds_the_normalised_branch_variance(norm):
    """q_l = q_(l-1) + sigma_w² E[relu(u)²] with u ~ N(0, r), r = var / (var + eps): + r for He (-> + 1),
    + 256 r / 2 for N(0, 1) weights at width 256. A LayerNorm sees the stream's variance q; a BatchNorm its
    within-unit variance w, which grows by 2 Var(relu(u)) = r (1 - 1/pi): each unit's own mean over the
    batch (2 E[relu(u)]² = r / pi) is not part of it."""
    p = theory.predict(Scenario(depth=6, width=W, norm=norm, **RES))
    q, w, expect = 1.0, 1.0, []
    for _ in range(6):
        seen = w if norm == "batch" else q
        r = seen / (seen + EPS)
        q, w = q + r, w + r * (1 - 1 / math.pi)
        expect.append(q)
    np.testing.assert_allclose(p.act_std ** 2, expect, rtol=1e-12)
    p = theory.predict(Scenario(depth=4, width=W, norm=norm, **{**RES, "init": "random_normal"}, stddev=1.0))
    steps = np.diff(np.r_[1.0, p.act_std ** 2])
    np.testing.assert_allclose(steps, W / 2, rtol=EPS)
    # Backward: chi_l = 1 + sigma_w² E[relu'(u)²] / (q_(l-1) + eps): 1 + 1 / (q + eps) for He.
    if norm == "layer":
        p = theory.predict(Scenario(depth=6, width=W, norm=norm, **RES))
        q_before = np.r_[1.0, p.act_std[:-1] ** 2]
        np.testing.assert_allclose(p.chi, 1 + 1 / (q_before + EPS), rtol=1e-12)


def test_post_norm_gradient_gain_per_block():
    """Post-norm, He + ReLU, LayerNorm: one-layer branch chi = (1 + 1) / Var(h + relu(z)) = 2 / (2 - 1/pi);
    two layers: (1 + 2) / (1 + 2) = 1 (up to eps / var)."""
    one = theory.predict(Scenario(depth=10, width=W, norm="layer", norm_position="post", **RES))
    assert one.chi[-1] == pytest.approx(2 / (2 - 1 / math.pi), rel=2 * EPS)
    np.testing.assert_allclose(one.act_std ** 2, one.act_std[-1] ** 2, rtol=1e-6)  # var / (var + eps) ~ 1
    assert one.act_std[-1] ** 2 == pytest.approx(1.0, abs=EPS)
    two = theory.predict(Scenario(depth=10, width=W, norm="layer", norm_position="post", branch_layers=2, **RES))
    assert two.chi[-1] == pytest.approx(1.0, rel=2 * EPS)


def test_batchnorm_sees_the_within_unit_variance():
    """Plain He + ReLU + BatchNorm: z = relu(u) W has within-unit variance 2 Var(relu(u)) = 1 - 1/pi (the
    units' own means, 2 E[relu]² = 1/pi of it, are removed), so chi = 2 · 1/2 / (1 - 1/pi) = pi / (pi - 1):
    BatchNorm's gradient explosion. LayerNorm sees 2 E[relu²] = 1: chi = 1."""
    bn = theory.predict(Scenario(depth=10, width=W, init="he_normal", activation="relu", norm="batch"))
    assert bn.chi[-1] == pytest.approx(math.pi / (math.pi - 1), rel=3 * EPS)
    ln = theory.predict(Scenario(depth=10, width=W, init="he_normal", activation="relu", norm="layer"))
    assert ln.chi[-1] == pytest.approx(1.0, rel=2 * EPS)
    # eps matters where the norm's input is small: std 0.001 at width 256 gives var = 2.56e-4 before tanh.
    tiny = theory.predict(Scenario(depth=3, width=W, init="random_normal", stddev=0.001, activation="tanh",
                                   norm="layer"))
    var = W * 0.001 ** 2
    assert tiny.pre_std[0] ** 2 == pytest.approx(var / (var + EPS), rel=1e-12)


def test_mse_gradient_std_removes_the_mean_the_identity_path_carries():
    s = Scenario(depth=5, width=64, init="glorot_normal", activation="tanh", block="residual", norm="layer",
                 loss="mse", bias="constant", bias_value=0.3)
    p = theory.predict(s)
    np.testing.assert_allclose(p.act_mean, 0.3 * np.arange(1, 6), rtol=1e-12)
    assert p.grad_std[-1] ** 2 == pytest.approx(p.act_std[-1] ** 2 + 1, rel=1e-12)  # Var(h - y)


# ------------------------------------------------------------------------ where the theory applies


def test_reasons():
    res = Scenario(depth=5, width=16, **RES)
    assert theory.scenario_sigmas(res) is None and theory.why_no_curve(res) is None
    why = theory.why_no_point(res)
    assert "never in the ordered phase" in why and "Yang & Schoenholz 2017" in why and "I + α J_B" in why
    assert "BatchNorm after every linear layer" in theory.why_no_point(Scenario(norm="batch"))
    assert "LayerNorm before every branch" in theory.why_no_point(res.replace(norm="layer"))
    assert "LayerNorm after every block" in theory.why_no_point(res.replace(norm="layer", norm_position="post"))
    fixup = res.replace(branch_layers=2, residual_rule="fixup")
    assert "χ₁ = 1 exactly" in theory.why_no_point(fixup)
    ones = res.replace(init="ones")
    assert theory.predict(ones) is None and "no spread" in theory.why_no_curve(ones)
    assert theory.predict(Scenario(shared=True, **RES)) is None
    assert "LSUV" in theory.why_no_curve(Scenario(lsuv=True, norm="layer"))
    # The plain MLP keeps its point and its reasons.
    assert theory.why_not_plain(Scenario()) is None and theory.scenario_sigmas(Scenario()) is not None


# ------------------------------------------------------------------------ against the engine


def _mean_var(seeds: range, **kw) -> np.ndarray:
    return np.mean([network.propagate(Scenario(seed=seed, width=W, **kw)).layers.act_std.to_numpy(np.float64) ** 2
                    for seed in seeds], axis=0)


@pytest.mark.parametrize("kw", [
    dict(**RES),
    dict(**RES, norm="layer"),
    dict(**RES, norm="batch"),
    dict(**{**RES, "init": "random_normal"}, stddev=1.0, norm="layer"),
    dict(**RES, norm="layer", branch_layers=2),
    dict(init="glorot_normal", activation="tanh", block="residual", branch_layers=2),
], ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_block_variances_match_the_engine(kw):
    """Averaged over 8 seeds, width 256: block l's variance is a product of l per-block ratios, each within
    PER_BLOCK (4 sd of the 8-seed mean; tests/test_blocks.py), so within sqrt(l) PER_BLOCK."""
    measured = _mean_var(range(8), depth=4, **kw)
    predicted = theory.predict(Scenario(depth=4, width=W, **kw)).act_std ** 2
    tol = PER_BLOCK * np.sqrt(np.arange(1, 5))
    assert np.all(np.abs(measured / predicted - 1) <= tol), (measured, predicted)


@pytest.mark.parametrize("kw, neglected", [
    (dict(norm="layer"), 0.0),
    (dict(norm="layer", norm_position="post"), 0.0),
    (dict(norm="layer", norm_position="post", branch_layers=2), 0.0),
    # BatchNorm's backward over a batch of B: 1/var_hat of a sample variance has mean B/(B-3)/var and the
    # projections keep B-2 of B directions, (B-2)/(B-3) ~ 1 + 1/B per block in variance, which the
    # infinite-batch theory neglects: 49 / (2 x 128) = 0.19 in log std over 50 blocks.
    (dict(norm="batch", norm_position="post", branch_layers=2), 49 / (2 * 128)),
])
def test_block_gradients_match_the_engine(kw, neglected):
    """50 blocks of width 256: the per-block gains are averages over 256 units x 128 examples (relative sd
    ~ 1 %); over 49 blocks that compounds to ~ 7 %, and we allow about twice that (tests/test_blocks.py),
    plus the neglected finite-batch term."""
    s = Scenario(depth=50, width=W, **RES, **kw)
    g = network.propagate(s).layers.grad_std.to_numpy(np.float64)
    p = theory.predict(s).grad_std
    assert abs(math.log((g[0] / g[-1]) / (p[0] / p[-1]))) <= 0.15 + neglected
    assert abs(math.log(g[-1] / p[-1])) <= 0.05  # the top: the loss's own r, 128 x 256 values


def test_pre_norm_weight_gradients_fall_like_one_over_sqrt_block():
    """Pre-norm: block l's weight gradient is relu(u)^T (alpha dl/dh_l), so it follows grad_std, which the
    theory puts at sqrt((L + 1) / (l + 1)) (chi_l = 1 + 1/l): 51/2 from block 1 to 50."""
    s = Scenario(depth=50, width=W, norm="layer", **RES)
    p = theory.predict(s).grad_std
    assert (p[0] / p[-1]) ** 2 == pytest.approx(51 / 2, rel=3 * EPS)
    w = network.propagate(s).layers.weight_grad_norm.to_numpy(np.float64)
    assert w[0] / w[-1] == pytest.approx(p[0] / p[-1], rel=0.15)


# ------------------------------------------------------------------------ the Theory tab


def _values(y) -> np.ndarray:
    """A trace's numbers from the chart's JSON: a list, or plotly's typed array {"dtype", "bdata"}."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).astype(np.float64)
    return np.asarray(y, dtype=np.float64)


def _page(params: dict[str, str]):
    return open_clean({"tab": "theory", "depth": "10", "width": "64", "batch": "32", **params})


def test_theory_tab_for_a_residual_network_shows_the_recursion_with_its_numbers():
    at = _page({"block": "residual", "init": "he_normal", "activation": "relu"})
    s = Scenario(depth=10, width=64, batch=32, **RES)
    captions = [c.value for c in at.caption]
    assert any(theory.why_no_point(s) in c for c in captions)  # the reason, shown
    assert any("What it hides" in c for c in captions)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 1
    names = [t["name"] for t in charts[0]["data"]]
    assert names == ["he_normal + relu", "he_normal + relu (mean-field)"]
    p = theory.predict(s)
    np.testing.assert_allclose(_values(charts[0]["data"][1]["y"]), p.act_std ** 2, rtol=1e-12)
    assert charts[0]["layout"]["yaxis"]["type"] == "log"
    res = network.propagate(s)
    var = res.layers.act_std.to_numpy(np.float64) ** 2
    caption = next(c for c in captions if c.startswith("Solid:"))
    assert caption == summaries.block_caption(s, p, var, res.layers.grad_std.to_numpy(np.float64))
    for number in (p.act_std[0] ** 2, p.act_std[-1] ** 2, var[0], var[-1]):
        assert f"**{fmt(float(number))}**" in caption
    assert f"**{fmt(float((p.grad_std[0] / p.grad_std[-1]) ** 2))}**" in caption


@pytest.mark.parametrize("show, text", [("spectra", summaries.HIDDEN_SPECTRA), ("lsuv", summaries.HIDDEN_LSUV)])
def test_spectra_and_lsuv_are_hidden_with_a_reason(show, text):
    at = _page({"block": "residual", "norm": "layer", "norm_position": "post", "th_show": show})
    assert [i.value for i in at.info] == [text]
    assert not at.get("plotly_chart")


def test_theory_tab_for_a_plain_network_with_batchnorm():
    at = _page({"norm": "batch", "init": "he_normal", "activation": "relu"})
    s = Scenario(depth=10, width=64, batch=32, init="he_normal", activation="relu", norm="batch")
    captions = [c.value for c in at.caption]
    assert any(theory.why_no_point(s) in c for c in captions)
    caption = next(c for c in captions if c.startswith("Solid:"))
    assert f"**{fmt(float(theory.predict(s).pre_std[-1] ** 2))}**" in caption
    assert len(at.get("plotly_chart")) == 1
