"""Residual blocks and normalization in the signal engine (initlab.signal.blocks): exact gradients, and
the variance laws a student is shown, each with its formula and a tolerance derived from its sampling error."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from initlab.signal import blocks, network
from initlab.signal.scenario import BudgetError, Scenario, estimate_bytes, repair

ARCHS = [dict(norm=n) for n in ("batch", "layer")] + [
    dict(block="residual", norm=n, norm_position=p, branch_layers=k)
    for n, p, k in itertools.product(("none", "batch", "layer"), ("pre", "post"), (1, 2))
] + [dict(block="residual", branch_layers=2, residual_rule="fixup", init="he_normal"),
     dict(block="residual", residual_rule="inv_sqrt_depth", norm="layer")]


def _loss(net: network.Network) -> float:
    return network.loss_value(net, network.forward(net))


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_weight_gradients_match_finite_differences(arch, activation):
    """Central differences in float64 (truncation ~ eps² f''' ~ 1e-10, rounding ~ 1e-16 / eps ~ 1e-10)."""
    s = Scenario(**{"init": "glorot_normal", "activation": activation, "depth": 3, "width": 6, "batch": 5,
                    "dtype": "float64", "bias": "random_normal", "bias_value": 0.3, "loss": "mse", "seed": 4, **arch})
    net = network.build(s)
    res = network.run(net, s, keep_grads=True)
    assert len(res.weight_grads) == len(net.weights) == 3 * s.layers_per_block
    eps = 1e-6
    rng = np.random.default_rng(0)
    for j, w in enumerate(net.weights):
        for _ in range(4):
            a, b = rng.integers(0, 6, size=2)
            old = w[a, b]
            w[a, b] = old + eps
            up = _loss(net)
            w[a, b] = old - eps
            down = _loss(net)
            w[a, b] = old
            fd = (up - down) / (2 * eps)
            assert res.weight_grads[j][a, b] == pytest.approx(fd, rel=1e-5, abs=1e-8), (j, a, b)


def test_norms_normalise_and_survive_huge_values():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 32)).astype(np.float32) * np.float32(1e30)  # x² overflows float32
    for norm, axis in (("batch", 0), ("layer", 1)):
        u, inv = blocks.normalize(x, norm, 1e-3)
        assert np.isfinite(u).all() and np.isfinite(inv).all()
        np.testing.assert_allclose(u.mean(axis=axis), 0, atol=1e-5)
        np.testing.assert_allclose((u.astype(np.float64) ** 2).mean(axis=axis), 1, rtol=1e-4)
    u, _ = blocks.normalize(np.full((4, 3), 7.0), "layer", 1e-3)
    assert not u.any()  # a constant row normalises to 0, not NaN


def test_batchnorm_cancels_the_bias_before_it():
    base = dict(init="he_normal", activation="relu", depth=5, width=32, batch=64, norm="batch", dtype="float64")
    a = network.propagate(Scenario(**base)).layers
    b = network.propagate(Scenario(**base, bias="constant", bias_value=5.0)).layers
    np.testing.assert_allclose(a.act_std, b.act_std, rtol=1e-9)


def _block_variances(seeds: range, **kw) -> np.ndarray:
    return np.array([network.propagate(Scenario(seed=seed, **kw)).layers.act_std.to_numpy(np.float64) ** 2
                     for seed in seeds])


# The branch's variance given the stream is a sum over the width's output units of quadratic forms
# W_j' C W_j in Gaussian weights, C the inputs' second-moment matrix; its relative variance is
# 2 tr(C²) / (w tr(C)²). For ReLU outputs C is dominated by the rank-one mean part (mean² / second moment
# = 1/pi for a rectified Gaussian), so tr(C²)/tr(C)² ~ 1/pi² and the relative sd is sqrt(2 / (pi² w))
# ~ 2.8 % per block at width 256. A ratio of consecutive variances 1 + r (r the branch's share) carries
# at most that; averaged over 8 seeds it shrinks by sqrt(8); we allow 4 of these sd.
W = 256
PER_BLOCK = math.sqrt(2 / (math.pi ** 2 * W)) / math.sqrt(8) * 4


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_residual_variance_grows_as_one_plus_alpha_squared_per_block(alpha):
    """He + ReLU, no norm, pre position: q_l = q_(l-1) (1 + alpha² sigma_w² n E[relu(z)²] / q) = (1 + alpha²) q_(l-1)."""
    q = _block_variances(range(8), init="he_normal", activation="relu", depth=4, width=W, block="residual",
                         residual_scale=alpha)
    ratios = q.mean(axis=0)[1:] / q.mean(axis=0)[:-1]
    np.testing.assert_allclose(ratios, 1 + alpha ** 2, rtol=PER_BLOCK)
    # The first block from the unit-variance input: 1 + alpha².
    assert q.mean(axis=0)[0] == pytest.approx(1 + alpha ** 2, rel=PER_BLOCK)


def test_inv_sqrt_depth_keeps_the_stream_within_e_and_zero_alpha_is_the_identity():
    q = _block_variances(range(2), init="he_normal", activation="relu", depth=200, width=64, block="residual",
                         residual_rule="inv_sqrt_depth")
    # (1 + 1/L)^L < e for every L; the sampling error over 200 blocks of width 64 stays far below the gap.
    assert q.max() < math.e
    s = Scenario(init="he_normal", activation="relu", depth=30, width=32, block="residual", residual_scale=0.0)
    net = network.build(s)
    assert np.array_equal(network.forward(net), net.x)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_pre_norm_grows_linearly_by_the_branch_variance(norm):
    """Pre-norm: q_l = q_(l-1) + sigma_w² n E[f(u)²] + sigma_b², u normalised: + 1 for He + ReLU
    (2, 3, 4, 5), + n/2 = 128 for N(0, 1) weights at width 256."""
    q = _block_variances(range(8), init="he_normal", activation="relu", depth=4, width=W, block="residual",
                         norm=norm).mean(axis=0)
    np.testing.assert_allclose(np.diff(q, prepend=1.0), 1.0, rtol=PER_BLOCK * 2)
    q = _block_variances(range(8), init="random_normal", stddev=1.0, activation="relu", depth=4, width=W,
                         block="residual", norm=norm).mean(axis=0)
    np.testing.assert_allclose(np.diff(q, prepend=1.0), W / 2, rtol=PER_BLOCK * 2)


def test_batchnorm_stops_250_linear_layers_from_overflowing_and_moves_the_scale_to_the_gradient():
    base = dict(activation="linear", depth=250, width=W, norm="batch")
    big = network.propagate(Scenario(init="random_normal", stddev=1.0, **base))
    assert big.first_nonfinite_layer is None
    # BatchNorm's output has unit variance per unit up to eps / var (the linear layer's var is ~256 here).
    np.testing.assert_allclose(big.layers.act_std, 1.0, rtol=1e-3)
    small = network.propagate(Scenario(init="random_normal", stddev=0.1, **base))
    # The forward pass is the same network (N(x W) = N(x W / 10) up to eps); the weight gradient is 10x.
    ratio = small.layers.weight_grad_norm.to_numpy() / big.layers.weight_grad_norm.to_numpy()
    np.testing.assert_allclose(ratio, 10.0, rtol=1e-2)


def test_block_gradients_pre_norm_fall_like_one_over_sqrt_depth_post_norm_depends_on_the_branch():
    """50 ReLU blocks of width 256 (He), LayerNorm. Pre-norm: the stream's variance grows like l + 1, the
    norm divides the gradient into block l's weights by its std: ~ 1/sqrt(l + 1) (80 -> 16). Post-norm:
    each block multiplies the backward signal by sqrt(1 + chi) / sqrt(Var(h + B)), chi = 1 the branch
    Jacobian's gain. A two-layer branch B = f(x W1) W2 adds variance 1 to the unit-variance stream: flat.
    A one-layer branch f(x W) adds only Var(relu(z)) = 1 - 1/pi (z ~ N(0, 2); the norm removes its mean
    sqrt(1/pi)), so the gradient grows by sqrt(2 / (2 - 1/pi)) = 1.0905 per block toward the input. Not
    Xiong et al. 2020's post-LN growth toward the output, which is about Transformers with attention.
    Tolerance: the per-block gains are averages over 256 units x 128 examples (relative sd ~ 1 %); over
    49 blocks that compounds to ~ 7 %, and we allow about twice that."""
    kw = dict(init="he_normal", activation="relu", depth=50, width=W, block="residual", norm="layer")
    pre = network.propagate(Scenario(**kw)).layers.weight_grad_norm.to_numpy()
    assert pre[0] / pre[-1] == pytest.approx(math.sqrt(51 / 2), rel=0.15)
    post1 = network.propagate(Scenario(norm_position="post", **kw)).layers.weight_grad_norm.to_numpy()
    assert post1[0] / post1[-1] == pytest.approx((2 / (2 - 1 / math.pi)) ** (49 / 2), rel=0.15)
    post2 = network.propagate(Scenario(norm_position="post", branch_layers=2, **kw)).layers.weight_grad_norm.to_numpy()
    assert post2[0] / post2[-1] == pytest.approx(1.0, rel=0.3)


def test_impossible_architectures_are_refused_and_repaired():
    for kw, key in ((dict(norm="layer", width=1), "norm"), (dict(norm="batch", batch=1), "norm"),
                    (dict(block="residual", residual_rule="fixup"), "branch_layers"),
                    (dict(block="residual", lsuv=True), "lsuv")):
        s = Scenario(**kw)
        with pytest.raises(ValueError, match=key):
            s.validate()
        fixed, notices = repair(s)
        assert [n.key for n in notices] == [key]
        fixed.validate()


def test_the_budget_counts_the_extra_buffers():
    s = Scenario(depth=100, width=512, batch=256)
    res = s.replace(block="residual", branch_layers=2, norm="layer")
    # Two more (batch, width) arrays kept per block (the norms' outputs), a second matrix per block.
    extra = (2 * 100 * 256 * 512 + 100 * 512 * 512 + 6 * 256 * 512) * 4  # + 6 temporaries of the norms
    assert estimate_bytes(res) - estimate_bytes(s) == extra
    with pytest.raises(BudgetError):
        network.propagate(Scenario(depth=1000, width=2048, batch=512, block="residual", branch_layers=2))


def test_gradient_line_never_says_between_0_and_0():
    from initlab.signal.summaries import gradient_line

    res = network.propagate(Scenario(init="he_normal", activation="relu", depth=5, width=16, block="residual",
                                     residual_scale=0.0))
    line = gradient_line(res)
    assert "weight gradient norm **0** in every layer" in line and "between" not in line


def test_budget_messages_count_blocks_and_their_weight_layers():
    with pytest.raises(BudgetError, match=r"^1000 blocks \(2000 weight layers\) of 2048 units"):
        network.propagate(Scenario(depth=1000, width=2048, batch=128, block="residual", branch_layers=2))
    with pytest.raises(BudgetError, match=r"^1000 layers of 2048 units"):
        network.propagate(Scenario(depth=1000, width=2048, batch=128))
