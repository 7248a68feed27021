"""LSUV (Mishkin & Matas 2016): unit pre-activation variance per layer, the report, the engine stage."""

import math

import numpy as np
import pytest

from initlab import propagate
from initlab.weights import activations
from initlab.weights import initializers
from initlab.signal import lsuv
from initlab.signal import network
from initlab.ui.links import decode_query, encode_query
from initlab.signal.scenario import FIELD_BY_NAME, Scenario, estimate_bytes, estimate_macs


def _stack(depth=6, width=64, batch=256, dtype=np.float64, init="orthogonal", seed=0, **params):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width)).astype(dtype)
    ini = initializers.get(init, **params)
    return [ini((width, width), rng, dtype=dtype) for _ in range(depth)], x, rng


def _pre_variances(weights, x, act, biases=None):
    h, out = x, []
    for i, w in enumerate(weights):
        z = h @ w + (0 if biases is None else biases[i])
        out.append(float(np.var(z.astype(np.float64))))
        h = activations.get(act).fn(z)
    return np.array(out)


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "selu"])
def test_zero_bias_lands_on_one_in_one_rescaling(act):
    # z_l is linear in the scale of W_l: W / sqrt(Var) gives Var = 1 up to rounding (float64: ~1e-15).
    weights, x, _ = _stack(init="random_normal", stddev=0.3)
    out, rep = lsuv.lsuv(weights, x, act)
    assert rep.converged.all()
    assert set(rep.iterations.tolist()) <= {0, 1}
    rescaled = rep.iterations == 1
    assert rescaled.any()
    np.testing.assert_allclose(rep.var_after[rescaled], 1.0, rtol=0, atol=1e-12)
    # The report is true of the returned weights, recomputed independently.
    np.testing.assert_allclose(_pre_variances(out, x, act), rep.var_after, rtol=1e-12)
    np.testing.assert_allclose(rep.scale, [np.linalg.norm(o) / np.linalg.norm(w) for o, w in zip(out, weights)],
                               rtol=1e-12)


def test_float32_lands_within_rounding():
    weights, x, _ = _stack(dtype=np.float32, init="glorot_uniform")
    out, rep = lsuv.lsuv(weights, x, "tanh")
    assert all(o.dtype == np.float32 for o in out)
    # float32 rounding of z (2^-24 relative per value), averaged over 16k values: far below 1e-5.
    np.testing.assert_allclose(rep.var_after[rep.iterations == 1], 1.0, atol=1e-5)


def test_random_biases_need_several_iterations_and_still_converge():
    # Var(s zW + b) is not s^2 Var(zW): the loop iterates; with Var(b) = 0.25 < 1 it converges.
    weights, x, rng = _stack()
    biases = rng.standard_normal((6, 64)) * 0.5
    out, rep = lsuv.lsuv(weights, x, "tanh", biases=biases)
    assert rep.converged.all() and rep.iterations.max() >= 2
    assert np.all(np.abs(rep.var_after - 1) < lsuv.TOL)
    np.testing.assert_allclose(_pre_variances(out, x, "tanh", biases), rep.var_after, rtol=1e-12)


def test_biases_too_large_stop_at_max_iter_and_say_so():
    # Var(b) = 2.25 > 1: no scale of W brings Var(z) to 1.
    weights, x, rng = _stack()
    biases = rng.standard_normal((6, 64)) * 1.5
    _, rep = lsuv.lsuv(weights, x, "relu", biases=biases, max_iter=7)
    assert not rep.converged.any()
    assert np.all(rep.iterations == 7)
    assert np.all(rep.var_after > 1 + lsuv.TOL)


def test_zero_weights_cannot_be_rescaled_and_are_reported():
    weights, x, _ = _stack(depth=3, init="zeros")
    out, rep = lsuv.lsuv(weights, x, "tanh")
    assert np.all(rep.iterations == 0) and not rep.converged.any()
    assert np.all(rep.var_before == 0) and all(o is w for o, w in zip(out, weights))


def test_inplace_and_copies():
    weights, x, _ = _stack(depth=3, init="random_normal", stddev=0.5)
    keep = [w.copy() for w in weights]
    out, _ = lsuv.lsuv(weights, x, "tanh")
    assert all(np.array_equal(w, k) for w, k in zip(weights, keep))  # the caller's arrays are untouched
    out2, _ = lsuv.lsuv(weights, x, "tanh", inplace=True)
    assert all(o is w for o, w in zip(out2, weights))
    np.testing.assert_array_equal(np.stack(out2), np.stack(out))
    # One matrix at every layer (shared): each layer gets its own copy, the shared one is not touched.
    shared = [keep[0]] * 3
    out3, rep = lsuv.lsuv(shared, x, "tanh", inplace=True)
    assert np.array_equal(keep[0], shared[0]) and len({id(o) for o in out3}) == 3
    assert np.unique(rep.scale).size == 3


def test_report_table_and_validation():
    weights, x, _ = _stack(depth=4)
    _, rep = lsuv.lsuv(weights, x, "tanh")
    t = rep.table()
    assert list(t.columns) == ["layer", "iterations", "var_before", "var_after", "scale", "converged"]
    assert t["layer"].tolist() == [1, 2, 3, 4]
    for bad in (dict(tol=0.0), dict(tol=float("nan")), dict(max_iter=-1), dict(max_iter=1.5)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            lsuv.lsuv(weights, x, "tanh", **bad)


# --- the engine stage --------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(), dict(activation="relu", dtype="float64"),
                                dict(bias="random_normal", bias_value=0.5), dict(shared=True),
                                dict(inputs="raw", bias="constant", bias_value=0.3)])
def test_propagate_with_lsuv_has_unit_pre_activation_variance(kw):
    s = Scenario(lsuv=True, depth=20, width=128, batch=64, **kw)
    res = propagate(s)
    rep = res.lsuv
    assert rep is not None and rep.converged.all()
    pre_var = res.layers["pre_std"].to_numpy() ** 2
    assert np.all(np.abs(pre_var - 1) < lsuv.TOL)
    # The engine recomputes z = h (s W) + b; LSUV measured s (h W) + b: equal up to float32 rounding.
    np.testing.assert_allclose(pre_var, rep.var_after, rtol=1e-4 if s.dtype == "float32" else 1e-12)


def test_lsuv_starts_orthogonal_whatever_the_initializer():
    # The paper's pre-initialization replaces the initializer: even zeros end up as scaled orthogonal
    # matrices, W^T W = scale^2 I.
    s = Scenario(lsuv=True, init="zeros", depth=5, width=32, batch=64, dtype="float64")
    net = network.build(s)
    for w, sc in zip(net.weights, net.lsuv.scale):
        np.testing.assert_allclose(w.T @ w, sc * sc * np.eye(32), atol=1e-12)
    assert network.build(Scenario(depth=3, width=8, batch=4)).lsuv is None
    assert propagate(Scenario(depth=3, width=8, batch=4)).lsuv is None


def test_lsuv_is_deterministic():
    s = Scenario(lsuv=True, depth=10, width=64, batch=32, seed=5, bias="random_normal", bias_value=0.3)
    a, b = propagate(s), propagate(s)
    assert a.layers.equals(b.layers)
    np.testing.assert_array_equal(a.lsuv.scale, b.lsuv.scale)


def test_schema_link_and_budget():
    f = FIELD_BY_NAME["lsuv"]
    assert f.kind == "bool" and f.default is False and "Mishkin" in f.help
    s = Scenario(lsuv=True)
    q = encode_query(s)
    assert q["lsuv"] == "1"
    assert decode_query(q, {}).scenario == s
    assert "lsuv" not in encode_query(Scenario())
    # A shared matrix gets one rescaled copy per layer; LSUV's forward pass counts in the compute.
    shared = Scenario(shared=True, depth=100, width=512)
    assert estimate_bytes(shared.replace(lsuv=True)) - estimate_bytes(shared) == 99 * 512 * 512 * 4
    assert estimate_macs(s) == 2 * estimate_macs(Scenario())
    assert math.isfinite(estimate_bytes(s))
