"""Training: the schema, gradients against finite differences, the compiled engine against the numpy one,
a replay by an independent implementation, and the classic zeros / He / N(0,1) x 10 comparison as numbers."""

import dataclasses
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import initlab
from initlab.training import kernel as _train_jit
from initlab.weights import activations
from initlab.training import engine as training
from initlab.signal.scenario import BIASES, BudgetError
from initlab.schema import check_value, format_value, parse_value
from initlab.training.scenario import (
    MAX_TRAIN_MACS, TRAIN, TRAIN_FIELD_BY_NAME, TrainScenario, check_train_budget, estimate_train_macs,
    max_restarts_within_budget, max_steps_within_budget,
)

ACTS = activations.names()
COMPILED = [a for a in ACTS if activations.get(a).kernel_code is not None]  # the kernel's branches
EPS64 = np.finfo(np.float64).eps
HE = {"init": "variance_scaling", "scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"}
needs_numba = pytest.mark.skipif(not _train_jit.AVAILABLE, reason="numba is not installed: only the numpy engine")


def _he(ts: TrainScenario) -> TrainScenario:
    p = dict(HE)
    return ts.with_init(p.pop("init"), **p)


# ---------------------------------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------------------------------

def test_defaults_are_the_classic_comparison_and_valid():
    ts = TrainScenario().validate()
    assert (ts.dataset, ts.n_train, ts.n_test, ts.noise, ts.hidden, ts.activation) == ("circles", 300, 100, 0.05,
                                                                                        (10, 5), "relu")
    assert (ts.optimizer, ts.lr, ts.steps, ts.batch, ts.restarts, ts.inputs) == ("sgd", 0.01, 15000, 300, 10,
                                                                                 "standard")
    assert initlab.TrainScenario is TrainScenario
    assert estimate_train_macs(ts) == 10 * (15000 * 300 + 51 * (300 + 100)) * (2 * 10 + 10 * 5 + 5 * 1) < MAX_TRAIN_MACS
    hash(ts)  # cacheable


def test_init_fields_reuse_the_scenario_schema():
    from initlab.signal.scenario import FIELD_BY_NAME

    for name in ("mean", "stddev", "scale", "mode", "distribution", "gain", "bias", "bias_value", "dtype"):
        assert TRAIN_FIELD_BY_NAME[name].lo == FIELD_BY_NAME[name].lo
        assert TRAIN_FIELD_BY_NAME[name].choices == FIELD_BY_NAME[name].choices
    assert TrainScenario().with_init("random_normal", stddev=10.0).init_params() == {"stddev": 10.0}


@pytest.mark.parametrize("changes, name", [
    ({"hidden": (0, 5)}, "hidden"), ({"hidden": (10,) * 34}, "hidden"), ({"hidden": [10, 5]}, "hidden"),
    ({"hidden": (10.0,)}, "hidden"), ({"dataset": "rings"}, "dataset"), ({"lr": 0.0}, "lr"),
    ({"optimizer": "rmsprop"}, "optimizer"), ({"inputs": "raw"}, "inputs"), ({"restarts": 0}, "restarts"),
    ({"steps": 1.5}, "steps"), ({"stddev": -1.0}, "stddev"),
])
def test_validate_names_the_bad_field(changes, name):
    with pytest.raises(ValueError) as err:
        TrainScenario(**changes).validate()
    assert str(err.value).startswith(name)


def test_widths_are_checked_parsed_and_clamped_like_other_fields():
    f = TRAIN_FIELD_BY_NAME["hidden"]
    assert parse_value(f, " 10, 5 ") == ((10, 5), None)
    value, why = parse_value(f, "0,100," + ",".join(["3"] * 32))
    assert value == (1, 64, *[3] * 31) and "at most 33 items" in why and "0, 100 clamped to [1, 64]" in why
    # A deep network typed by hand: "16x20" is 20 layers of 16, and links write runs of 3 or more that way.
    assert parse_value(f, "2, 16 x 3,4") == ((2, 16, 16, 16, 4), None)
    assert parse_value(f, "16×4") == ((16,) * 4, None)
    value, why = parse_value(f, "16x999")
    assert value == (16,) * 33 and why == "at most 33 items: kept the first 33: using 16x33"
    assert format_value(f, (2, 16, 16, 16, 4, 4)) == "2,16x3,4,4" and format_value(f, (10, 5)) == "10,5"
    # Signed whole numbers are whole numbers out of range: clamped and named, not "not whole numbers".
    value, why = parse_value(f, "0,-3")
    assert value == (1, 1) and why == "0, -3 clamped to [1, 64]: using 1,1"
    for bad in ("", "10,,x", "1e3", "--1", "5.0", "1" * 13, "16x0", "16x", "x3", "16x1000", "16x-2", "١٦x2"):
        with pytest.raises(ValueError):
            parse_value(f, bad)
    check_value(f, (64, 1, 2, 3))
    check_value(f, (16,) * 33)
    for bad in ((), (65,), (1,) * 34, [10, 5], (True,)):
        with pytest.raises(ValueError, match="hidden must be 1 to 33 whole numbers in"):
            check_value(f, bad)


def test_the_training_section_encodes_decodes_and_repairs_links():
    ts = TrainScenario(hidden=(8, 4), optimizer="adam", lr=0.1).with_init("random_normal", stddev=10.0)
    link = TRAIN.encode(ts, TrainScenario())
    assert all(k.startswith("tr_") for k in link)  # never the sidebar's keys
    # nonlinearity differs from the default (relu) but random_normal has none: not carried.
    assert link == {"tr_hidden": "8,4", "tr_init": "random_normal", "tr_stddev": "10", "tr_optimizer": "adam",
                    "tr_lr": "0.1"}
    back, notices, _ = TRAIN.decode(link, TrainScenario())
    assert back == ts and not notices
    bad, notices, _ = TRAIN.decode({"tr_init": "zeros", "tr_stddev": "3", "tr_momentum": "0.5", "tr_steps": "100000",
                                    "tr_restarts": "50"}, TrainScenario())
    keys = [n.key for n in notices]
    assert bad.init == "zeros" and bad.stddev is None and bad.nonlinearity is None
    assert "tr_stddev" in keys and "tr_momentum" in keys and "tr_steps" in keys
    check_train_budget(bad)
    assert bad.steps == max_steps_within_budget(bad.replace(steps=100_000))
    big, notices, _ = TRAIN.decode({"tr_hidden": "64,64,64,64", "tr_restarts": "50", "tr_dtype": "float64"},
                                   TrainScenario())
    assert big.restarts == max_restarts_within_budget(big) < 50 and "tr_restarts" in [n.key for n in notices]
    check_train_budget(big)


def test_budget_errors_name_the_limit_that_binds():
    with pytest.raises(BudgetError) as err:
        check_train_budget(TrainScenario(steps=100_000, restarts=50))
    msg = str(err.value)
    assert err.value.limit == "computation"
    assert ("50 restarts x (100000 steps x 300 examples per step + 51 records x 400 training and test examples) x 75 "
            "weights") in msg and "multiply-adds" in msg
    assert "reduce the steps, the restarts, the batch size or the hidden widths" in msg
    with pytest.raises(BudgetError) as err:
        check_train_budget(TrainScenario(hidden=(64, 64, 64, 64), restarts=50, steps=10, dtype="float64"))
    assert err.value.limit == "memory"
    assert "MB of memory" in str(err.value) and "reduce the restarts or the hidden widths" in str(err.value)
    ts = TrainScenario(restarts=50)
    steps = max_steps_within_budget(ts)
    check_train_budget(ts.replace(steps=steps))
    with pytest.raises(BudgetError):
        check_train_budget(ts.replace(steps=steps + 1))
    with pytest.raises(BudgetError):
        training.train(TrainScenario(steps=100_000, restarts=50))


def test_tiny_networks_are_bounded_by_the_examples_budget():
    with pytest.raises(BudgetError, match="= 2e8 examples, more computation than the 1.5e8 one.*reduce the steps, the"):
        check_train_budget(TrainScenario(hidden=(1,), restarts=50, n_train=2000, batch_size=1999, steps=2000))
    ts = TrainScenario(hidden=(1,), restarts=50, n_train=2000, batch_size=1999)
    check_train_budget(ts.replace(steps=max_steps_within_budget(ts)))


def test_batch_size_zero_or_larger_than_the_data_means_full_batch():
    assert TrainScenario(batch_size=0).full_batch and TrainScenario(batch_size=300).full_batch
    assert TrainScenario(batch_size=2000).batch == 300  # more than the 300 training points: all of them
    assert TrainScenario(batch_size=32).batch == 32 and not TrainScenario(batch_size=32).full_batch


# ---------------------------------------------------------------------------------------------------
# Data and initial parameters
# ---------------------------------------------------------------------------------------------------

def test_data_are_standardized_with_training_statistics():
    ts = TrainScenario(dtype="float64")
    d = training.make_data(ts)
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=0), 1.0, rtol=1e-12)
    raw = training.make_data(ts.replace(inputs="unscaled"))
    np.testing.assert_allclose(d.X_test, (raw.X_test - d.shift) / d.scale, rtol=1e-12)
    assert not np.array_equal(raw.X_train[:100], raw.X_test)  # train and test come from different streams
    assert training.make_data(ts.replace(dtype="float32")).X_train.dtype == np.float32
    for a in (d.X_train, d.y_train, d.X_test, d.y_test):
        assert not a.flags.writeable


def test_initial_params_shapes_seeds_and_bias_modes():
    ts = _he(TrainScenario(dtype="float64", hidden=(7, 3), restarts=4, seed=11))
    p = training.initial_params(ts, 2)
    assert [(w.shape, b.shape) for w, b in p] == [((2, 7), (7,)), ((7, 3), (3,)), ((3, 1), (1,))]
    assert all(w.dtype == np.float64 and not b.any() for w, b in p)
    # restart r of seed s is restart 0 of seed s + r
    q = training.initial_params(ts.replace(seed=13), 0)
    assert all(np.array_equal(w1, w2) for (w1, _), (w2, _) in zip(p, q))
    # He as Keras variance_scaling(2, fan_in, untruncated) and as torch kaiming_normal(relu): the same draws
    t = training.initial_params(ts.with_init("torch_kaiming_normal", nonlinearity="relu"), 2)
    for (w1, _), (w2, _) in zip(p, t):
        np.testing.assert_allclose(w1, w2, rtol=1e-15)
    c = training.initial_params(ts.replace(bias="constant", bias_value=0.25), 0)
    assert all((b == 0.25).all() for _, b in c)
    r = training.initial_params(ts.replace(bias="random_normal", bias_value=-0.5), 0)
    assert all(b.std() > 0 for _, b in r[:2])
    with pytest.raises(ValueError, match="restart must be"):
        training.initial_params(ts, 4)


def _bias_law(bias: str, value: float, fan_in: int) -> tuple[float, float, float]:
    """Mean, variance and kurtosis E[(b - mean)^4] / var^2 of one bias of ``bias`` (0 kurtosis: constant)."""
    if bias == "random_normal":
        return 0.0, value * value, 3.0
    if bias == "torch_linear":  # U[-a, a], a = 1/sqrt(fan_in): variance a^2 / 3, kurtosis 9/5
        return 0.0, 1.0 / (3 * fan_in), 1.8
    return (value if bias == "constant" else 0.0), 0.0, 0.0


@pytest.mark.parametrize("bias", BIASES)
def test_training_draws_every_bias_scheme_like_the_deep_signal_engine(bias):
    """The user test's finding: bias=torch_linear trained from zero biases. Every scheme must give the
    training biases the distribution the deep-signal engine (network.build) draws, layer by layer with
    that layer's fan_in (2, 64, 64 here).

    Deterministic schemes: exactly the value. Random ones, pooled over K draws (restarts of many seeds):
    the sample mean is within Z sd / sqrt(K) of 0 and the sample variance within Z var sqrt((kurt - 1) / K)
    of the law's (the variance of a sample variance is (mu_4 - var^2) / K to first order), Z = 5 (a false
    alarm once in 1.7 million per check). K >= 1000: the variance is pinned to 5 sqrt(0.8 / 1000) = 14%;
    zero biases (the old torch_linear) or a wrong fan_in (1/(3 * 64) vs 1/(3 * 2)) miss it by far more.
    """
    from initlab.signal import network
    from initlab.signal.scenario import Scenario

    z, value = 5.0, -0.4
    ts = TrainScenario(hidden=(64, 64), restarts=50, dtype="float64", bias=bias, bias_value=value)
    draws = [training.initial_params(ts.replace(seed=seed), r) for seed in range(0, 2000, 50) for r in range(50)]
    for layer, fan_in in enumerate(ts.sizes[:-1]):
        train_b = np.concatenate([p[layer][1] for p in draws])
        # The deep-signal engine with this layer's fan_in as its width: its biases, all layers pooled.
        net_b = network.build(Scenario(depth=2000 // fan_in, width=fan_in, batch=2, dtype="float64", bias=bias,
                                       bias_value=value, seed=layer)).biases
        net_b = np.zeros(1) if net_b is None else net_b.reshape(-1)  # None: skipped zero biases
        mean, var, kurt = _bias_law(bias, value, fan_in)
        for b in (train_b, net_b):
            if var == 0:
                assert (b == mean).all(), (layer, b[:5])
                continue
            k = b.size
            assert k >= 1000, k
            assert abs(b.mean() - mean) <= z * math.sqrt(var / k), (layer, b.mean())
            assert abs(b.var() / var - 1) <= z * math.sqrt((kurt - 1) / k), (layer, b.var(), var)
            if bias == "torch_linear":
                assert np.abs(b).max() <= 1 / math.sqrt(fan_in)


def test_the_snapshot_at_step_0_is_the_initial_params():
    ts = TrainScenario(steps=5, restarts=3, bias="random_normal")
    res = training.train(ts)
    for r in range(3):
        for (w, b), (w0, b0) in zip(res.params(r, 0), training.initial_params(ts, r)):
            assert np.array_equal(w, w0) and np.array_equal(b, b0)


# ---------------------------------------------------------------------------------------------------
# Gradients and engines
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("act", ACTS)
def test_gradients_match_finite_differences(act):
    ts = TrainScenario(dtype="float64", hidden=(4, 3), activation=act)
    a = activations.get(act)
    rng = np.random.default_rng(1)
    sizes = ts.sizes
    _, _, P = training._offsets(sizes)
    theta = rng.normal(0.0, 0.8, size=(2, P))  # two runs, biases included
    X = rng.normal(size=(7, 2))
    y = np.array([0, 1, 1, 0, 1, 0, 1])

    def losses(th):
        Ws, bs = training._views(th, sizes)
        zs, _ = training._forward(Ws, bs, X, a)
        return training._loss_acc(zs[-1][..., 0], y)[0]

    Ws, bs = training._views(theta, sizes)
    grad = np.empty_like(theta)
    gWs, gbs = training._views(grad, sizes)
    zs, hs = training._forward(Ws, bs, X, a)
    d = training._SIGMOID(zs[-1]) - y[:, None]
    training._backward(Ws, zs, hs, d / len(y), a, gWs, gbs)
    eps = 1e-6  # central differences: truncation ~eps^2 f''' ~ 1e-12, rounding ~1e-16 / eps ~ 1e-10
    for p in range(P):
        up, down = theta.copy(), theta.copy()
        up[:, p] += eps
        down[:, p] -= eps
        fd = (losses(up) - losses(down)) / (2 * eps)
        np.testing.assert_allclose(grad[:, p], fd, rtol=1e-5, atol=1e-8)


@needs_numba
@pytest.mark.parametrize("batch_size", [0, 32])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("act", COMPILED)
def test_compiled_engine_matches_the_numpy_engine(act, optimizer, batch_size):
    # Same steps, sums in another order and exp by other code: a few ulp per step. Over 40 steps in float64
    # anything above ~1e-13 relative would be a different computation, not rounding.
    ts = TrainScenario(activation=act, optimizer=optimizer, batch_size=batch_size, steps=40, restarts=3,
                       hidden=(6, 5), dtype="float64", bias="random_normal", lr=0.05)
    a = training.train(ts, engine="numpy", records=4)
    b = training.train(ts, engine="numba", records=4)
    scale = np.abs(a.theta).max()
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    np.testing.assert_allclose(b.grad_norm, a.grad_norm, rtol=1e-9)
    assert np.array_equal(b.train_acc, a.train_acc) and np.array_equal(b.distinct, a.distinct)


@needs_numba
def test_compiled_engine_matches_in_float32():
    ts = TrainScenario(steps=200, restarts=4, activation="tanh", batch_size=50)
    a = training.train(ts, engine="numpy", records=4)
    b = training.train(ts, engine="numba", records=4)
    # float32 rounding (6e-8) per step, 200 steps, a few operations deep: 1e-4 of the parameters' scale.
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-4 * np.abs(a.theta).max())
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-4)


def test_an_activation_without_kernel_code_trains_with_numpy(monkeypatch):
    """A new activation is one registry entry: without a kernel branch (kernel_code None) ``auto`` trains it
    with the numpy engine, to the same numbers, and only an explicit ``engine="numba"`` is refused."""
    new = dataclasses.replace(activations.get("elu"), name="elu_copy", kernel_code=None)
    monkeypatch.setitem(activations._REGISTRY, "elu_copy", new)
    ts = TrainScenario(activation="elu_copy", steps=30, restarts=2, hidden=(6, 5), dtype="float64", lr=0.05)
    auto = training.train(ts, engine="auto", records=3)
    ref = training.train(ts, engine="numpy", records=3)
    assert auto.engine == "numpy"
    assert np.array_equal(auto.theta, ref.theta) and np.array_equal(auto.loss, ref.loss)
    # The registry's elu under another name: the numpy engine's elu to the bit.
    assert np.array_equal(auto.theta, training.train(ts.replace(activation="elu"), engine="numpy", records=3).theta)
    with pytest.raises(ValueError, match="no kernel code for activation 'elu_copy'"):
        training.train(ts, engine="numba", records=3)
    if _train_jit.AVAILABLE:
        assert training.train(ts.replace(activation="elu"), engine="auto", records=3).engine == "numba"
    # The kernel's codes are the registry's, one branch each.
    assert _train_jit.ACT_CODES == {a: activations.get(a).kernel_code for a in COMPILED}
    assert len(set(_train_jit.ACT_CODES.values())) == len(_train_jit.ACT_CODES)


@needs_numba
@pytest.mark.parametrize("act", COMPILED)
def test_compiled_activations_match_the_registry(act):
    a = activations.get(act)
    with np.errstate(all="ignore"):
        z = np.concatenate([np.linspace(-50, 50, 2001), np.geomspace(1e-300, 1e300, 400), -np.geomspace(1e-300, 1e300, 400),
                            [0.0, -0.0, 700, -700, 710, -710, 745, -745, np.inf, -np.inf, np.nan]])
        f, ref = _train_jit.act_values(_train_jit.ACT_CODES[act], z, False), a.fn(z)
        d = _train_jit.act_values(_train_jit.ACT_CODES[act], z, True)
        dref = a.deriv(z) if a.deriv_from_output is None else a.deriv_from_output(ref)
    # A few ulp relative, or a few ulp of 1 absolute where the registry's own formula cancels (elu's e^z - 1).
    np.testing.assert_allclose(f, ref, rtol=8 * EPS64, atol=8 * EPS64)
    ok = np.isfinite(z)  # at NaN the kernel's f' may be 0 or 1 instead of NaN: g * f' is NaN anyway
    np.testing.assert_allclose(d[ok], dref[ok], rtol=8 * EPS64, atol=8 * EPS64)
    with np.errstate(all="ignore"):
        z32 = z.astype(np.float32)  # beyond 3.4e38: +-inf
        f32, ref32 = _train_jit.act_values(_train_jit.ACT_CODES[act], z32, False), a.fn(z32)
    # float32 outputs are rounded once from float64 arithmetic: within an ulp (6e-8) of the registry's.
    np.testing.assert_allclose(f32, ref32, rtol=2.4e-7, atol=2.4e-7)


@needs_numba
def test_compiled_exp_is_accurate_to_an_ulp_with_the_right_limits():
    x = np.concatenate([np.random.default_rng(0).uniform(-708, 709.7, 100_000), -np.geomspace(1e-300, 700, 2000),
                        np.geomspace(1e-300, 700, 2000)])
    e, m1 = _train_jit.exp_values(x, False), _train_jit.exp_values(x, True)
    assert np.max(np.abs(e - np.exp(x)) / np.exp(x)) <= 1.0 * EPS64
    assert np.max(np.abs(m1 - np.expm1(x)) / np.abs(np.expm1(x))) <= 1.0 * EPS64
    lim = np.array([np.inf, -np.inf, np.nan, 710.0, -709.0, 1e300, -1e300])
    assert np.array_equal(_train_jit.exp_values(lim, False), [np.inf, 0, np.nan, np.inf, 0, np.inf, 0], equal_nan=True)
    assert np.array_equal(_train_jit.exp_values(lim, True), [np.inf, -1, np.nan, np.inf, -1, np.inf, -1],
                          equal_nan=True)


# ---------------------------------------------------------------------------------------------------
# Replay by an independent implementation
# ---------------------------------------------------------------------------------------------------

def _replay(params, X, y, lr, steps, recorded, batch=None, rng=None):
    """Plain gradient descent, one restart, ReLU: the loss on (X, y) at the recorded steps.

    Written from the textbook formulas, sharing nothing with initlab but the initial parameters (and,
    for mini-batches, the documented batch order: one permutation per epoch, consecutive slices).
    """
    Ws = [w.astype(np.float64) for w, _ in params]
    bs = [b.astype(np.float64) for _, b in params]
    L, n = len(Ws), len(y)
    order, out = None, []

    def forward(x):
        acts, pres = [x], []
        for i in range(L):
            z = acts[-1] @ Ws[i] + bs[i]
            pres.append(z)
            acts.append(np.maximum(z, 0.0) if i < L - 1 else z)
        return acts, pres

    for t in range(steps + 1):
        if t in recorded:
            s = forward(X)[0][-1][:, 0]
            out.append(np.mean(np.logaddexp(0.0, s) - y * s))
        if t == steps:
            break
        if batch is None:
            xb, yb = X, y
        else:
            spe = -(-n // batch)
            if t % spe == 0:
                order = rng.permutation(n)
            idx = order[(t % spe) * batch:(t % spe + 1) * batch]
            xb, yb = X[idx], y[idx]
        acts, pres = forward(xb)
        g = ((1.0 / (1.0 + np.exp(-acts[-1][:, 0])) - yb) / len(yb))[:, None]
        for i in range(L - 1, -1, -1):
            gW, gb = acts[i].T @ g, g.sum(axis=0)
            if i > 0:
                g = (g @ Ws[i].T) * (pres[i - 1] > 0)
            Ws[i] = Ws[i] - lr * gW
            bs[i] = bs[i] - lr * gb
    return np.array(out)


@pytest.mark.parametrize("batch_size", [0, 64])
def test_initial_params_replayed_independently_give_the_same_loss_curve(batch_size):
    ts = _he(TrainScenario(steps=1500, restarts=3, dtype="float64", batch_size=batch_size, seed=5))
    res = training.train(ts, records=15)
    X, y = res.data.X_train, res.data.y_train.astype(np.float64)
    recorded = set(res.recorded_steps.tolist())
    for r in range(ts.restarts):
        # The documented batch stream of restart r: SeedSequence(seed + r).spawn(3)[2].
        rng = np.random.default_rng(np.random.SeedSequence(ts.seed + r).spawn(3)[2])
        curve = _replay(training.initial_params(ts, r), X, y, ts.lr, ts.steps, recorded,
                        batch=None if ts.full_batch else ts.batch, rng=rng)
        # Different summation orders only: ~1e-16 per operation, growing at most linearly over 1500 steps.
        np.testing.assert_allclose(res.loss[r], curve, rtol=1e-10)


# ---------------------------------------------------------------------------------------------------
# The classic comparison (the course notebook's reference behaviour)
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classic():
    base = TrainScenario()  # circles 300/100, noise 0.05, (10, 5) relu, sgd lr 0.01, 15000 steps, 10 restarts
    zeros, he, big = base.with_init("zeros"), _he(base), base.with_init("random_normal", stddev=10.0)
    return dict(zip(("zeros", "he", "big"), training.train_many([zeros, he, big])))


@pytest.mark.slow
def test_zero_init_never_leaves_the_symmetric_point(classic):
    r = classic["zeros"]
    # All weights 0: every hidden unit outputs relu(0) = 0, so dL/dW = 0 everywhere and only the output
    # bias could move; its gradient is mean(p - y) = 0.5 - 0.5 on balanced classes. The logit stays 0:
    # p = 1/2, loss ln 2, every point classified alike, accuracy exactly 1/2 on both balanced sets.
    assert r.recorded_steps[-1] == 15000 and r.complete
    np.testing.assert_allclose(r.loss, math.log(2), rtol=1e-6)  # float32 rounding of ln 2
    assert (r.train_acc == 0.5).all() and (r.test_acc == 0.5).all()
    assert (r.distinct == 1).all()
    assert (r.grad_norm[:, :, :2] == 0).all()


def test_he_init_learns_the_circles(classic):
    runs = classic["he"].runs
    assert runs.test_acc.median() >= 0.9
    assert runs.finite.all()
    assert (runs.distinct_units_1 == 10).all() and (runs.distinct_units_2 == 5).all()


def test_normal_times_ten_is_clearly_worse_and_more_spread_than_he(classic):
    he, big = classic["he"], classic["big"]
    he_acc, big_acc = he.runs.test_acc, big.runs.test_acc
    assert big_acc.median() <= he_acc.median() - 0.1
    iqr = lambda s: s.quantile(0.75) - s.quantile(0.25)  # noqa: E731
    assert iqr(big_acc) > iqr(he_acc) and big_acc.max() - big_acc.min() >= 0.2
    # Weights of std 10: the logit's std is about 10 sqrt(2) x sqrt(10 * 100 / 2) x ... ~ 5000 at step 0
    # (each relu layer multiplies the second moment by fan_in x 100 / 2), so the loss ~ E|s| / 2 is huge.
    assert np.median(big.loss[:, 0]) > 100 > np.median(he.loss[:, 0])


def test_classic_runs_report_their_seeds_and_history(classic):
    r = classic["he"]
    assert r.runs.seed.tolist() == list(range(10))
    h = r.history
    assert list(h.columns) == ["restart", "step", "loss", "train_acc", "test_acc", "test_loss"]
    assert len(h) == 10 * len(r.recorded_steps) and h.step.iloc[0] == 0 and h.step.iloc[-1] == 15000
    lay = r.layers
    assert set(lay.layer) == {1, 2, 3} and lay.distinct_units[lay.layer == 3].isna().all()


# ---------------------------------------------------------------------------------------------------
# Symmetry, non-finite values, results
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_constant_init_keeps_one_unit_per_layer_while_it_learns(engine):
    ts = TrainScenario(steps=2000, restarts=2).with_init("constant", value=0.3)
    r = training.train(ts, records=10, engine=engine)
    assert (r.distinct == 1).all()
    assert r.loss[0, -1] < r.loss[0, 0] - 0.1  # it does learn: the network of one unit per layer
    W1 = r.params(0, 2000)[0][0]
    assert np.ptp(W1, axis=1).max() == 0.0  # bit-identical units, not just close


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [0, 64])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_units_that_start_identical_stay_bit_identical_in_every_engine(engine, dtype, batch_size):
    """Units with equal incoming weights compute equal outputs and get equal gradients: in exact arithmetic
    they never separate (zero / constant init never breaks symmetry). An engine must keep that exactly:
    the user test saw the numpy engine (BLAS matmul, different kernels for different output columns)
    report 2 distinct units with tanh, ones, lr 1.0 in float32 (spread 9e-3 after 3000 steps; constant
    0.3: 1.8). So every recorded snapshot must hold exactly equal units: in layer 1 (inputs x1, x2 differ)
    every column of W equals the others, in deeper layers every weight equals every other, biases alike."""
    for init, params in (("ones", {}), ("constant", {"value": 0.3})):
        ts = TrainScenario(activation="tanh", lr=1.0, steps=3000, restarts=2, dtype=dtype, batch_size=batch_size)
        r = training.train(ts.with_init(init, **params), records=30, engine=engine)
        assert (r.distinct == 1).all()
        assert not np.array_equal(r.theta[:, -1], r.theta[:, 0])  # they did move
        for restart in range(ts.restarts):
            for step in r.recorded_steps:
                p = r.params(restart, int(step))
                assert np.ptp(p[0][0], axis=1).max() == 0 and np.ptp(p[0][1]) == 0, (init, step)
                for w, b in p[1:]:
                    assert np.ptp(w) == 0 and np.ptp(b) == 0, (init, step)


def test_distinct_units_counts_groups_within_the_tolerance():
    W = np.array([[[1.0, 1.0, 2.0, 1.0 + 1e-12], [0.5, 0.5, 0.5, 0.5]]])  # (1 run, fan_in 2, 4 units)
    b = np.array([[0.0, 0.0, 0.0, 0.0]])
    assert training.distinct_units(W, b, 1e-9).tolist() == [2.0]
    assert training.distinct_units(W, b, 1e-15).tolist() == [3.0]
    assert training.distinct_units(W, b + [[0, 1, 0, 0]], 1e-9).tolist() == [3.0]
    assert np.isnan(training.distinct_units(W * np.inf, b, 1e-9)).all()


def _distinct_by_definition(W, b, rtol):
    """distinct_units word for word: unit k duplicates an earlier unit j when every incoming weight and the bias
    differ by at most rtol x the layer's largest |parameter|; NaN for a run holding inf or NaN."""
    out = []
    for Wr, br in zip(W.astype(np.float64), b.astype(np.float64)):
        F = np.concatenate([Wr.T, br[:, None]], axis=1)  # (units, fan_in + 1)
        if not np.isfinite(F).all():
            out.append(np.nan)
            continue
        tol = rtol * np.abs(F).max()
        dup = [any(np.abs(F[k] - F[j]).max() <= tol for j in range(k)) for k in range(len(F))]
        out.append(float(len(F) - sum(dup)))
    return np.array(out)


def test_distinct_units_is_its_definition_on_random_layers():
    """distinct_units (pairwise, feature by feature, stopping once no pair can be within the tolerance) against
    its definition pair by pair, on 600 random layers with planted equal, near-equal (1e-9 apart), constant
    and non-finite units, float32 and float64, three tolerances (0: exactly equal)."""
    rng = np.random.default_rng(11)
    for _ in range(600):
        runs, fan_in, units = (int(v) for v in rng.integers(1, [6, 8, 9]))
        dt = [np.float32, np.float64][int(rng.integers(2))]
        W = rng.normal(size=(runs, fan_in, units)).astype(dt)
        b = rng.normal(size=(runs, units)).astype(dt)
        for r in range(runs):
            case = int(rng.integers(6))
            if case == 0:
                W[r], b[r] = 0.5, 0.0
            elif case == 1 and units > 1:
                W[r, :, 1] = W[r, :, 0] * (1 + 1e-9 * int(rng.integers(3)))
                b[r, 1] = b[r, 0]
            elif case == 2:
                W[r, 0, 0] = [np.inf, np.nan, -np.inf][int(rng.integers(3))]
            elif case == 3 and units > 2:
                W[r, 1:, 2] = W[r, 1:, 0]
                b[r, 2] = b[r, 0]
            elif case == 4 and units > 1:
                W[r, :, 1] = W[r, :, 0]
                b[r, 1] = b[r, 0] + 1e-3
        for rtol in (1e-6, 1e-12, 0.0):
            np.testing.assert_array_equal(training.distinct_units(W, b, rtol), _distinct_by_definition(W, b, rtol))


@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_a_diverging_run_is_recorded_not_raised(engine):
    # Linear units with N(0, 100^2) weights and lr 10: the first update is ~1e12, the next forward pass
    # overflows float32. No exception and no numpy warning (pytest turns RuntimeWarning into errors).
    ts = TrainScenario(activation="linear", steps=20, restarts=2, hidden=(64, 64, 64), lr=10.0)
    r = training.train(ts.with_init("random_normal", stddev=100.0), records=20, engine=engine)
    runs = r.runs
    assert not runs.finite.any() and (runs.nonfinite_step <= 5).all()
    assert np.isfinite(r.loss[:, 0]).all() and np.isnan(r.loss[:, -1]).all()
    # NaN logits predict nothing: no accuracy (NaN), not 0 (every point "wrong", below chance).
    assert np.isnan(r.train_acc[:, -1]).all() and np.isnan(r.test_acc[:, -1]).all()
    assert np.isnan(r.distinct[:, -1]).all()
    assert runs.nonfinite_step.dtype == "Int64"
    ok = training.train(TrainScenario(steps=3, restarts=1), records=1)
    assert ok.runs.finite.all() and ok.runs.nonfinite_step.isna().all()


def _summarized(r):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "All-NaN slice", no "Mean of empty slice": nothing may escape
        with np.errstate(all="raise"):
            return training.summarize(r)


@pytest.fixture(scope="module")
def half_diverged():
    # Linear units (the moons are nearly linearly separable: ~0.88), N(0, 3^2) weights and lr 0.2: the
    # restarts whose first steps overshoot blow up (loss inf, then NaN), the others learn. Seeded.
    ts = TrainScenario(dataset="moons", steps=300, restarts=10, lr=0.2, activation="linear")
    return training.train(ts.with_init("random_normal", stddev=3.0), records=10)


def test_summary_leaves_diverged_restarts_out_and_counts_them(half_diverged):
    r = half_diverged
    s = _summarized(r)
    bad = ~np.isfinite(r.loss).all(axis=1)
    assert s.restarts == 10 and s.diverged == bad.sum() == r.diverged.sum() and 0 < s.diverged < 10
    acc = r.test_acc[~bad, -1]
    assert np.isnan(r.test_acc[bad, -1]).all() and np.isfinite(acc).all()
    # The finding: counted as 0 (the old recorded accuracy), the diverged half dragged the median below
    # chance (0.5) although every restart that trained reached ~0.88.
    assert np.median(np.where(bad, 0.0, r.test_acc[:, -1])) < 0.5 < 0.8 < s.acc_min
    assert (s.acc_min, s.acc_q1, s.acc_median, s.acc_q3, s.acc_max) == tuple(
        float(np.percentile(acc, q)) for q in (0, 25, 50, 75, 100))
    assert s.loss_median == float(np.median(r.loss[~bad, -1])) < 0.5
    # Step 0 comes before any update: every restart's loss is finite there and all of them count.
    assert s.loss0_nonfinite == 0 and s.loss0_median == float(np.median(r.loss[:, 0]))
    assert s.distinct_median == (10.0, 5.0)
    assert all(isinstance(v, float) for v in (s.acc_median, s.loss_median, s.loss0_median, *s.distinct_median))


def test_summary_of_restarts_that_all_diverge_is_none_not_nan():
    ts = TrainScenario(activation="linear", steps=20, restarts=3, hidden=(64, 64, 64), lr=10.0)
    r = training.train(ts.with_init("random_normal", stddev=100.0), records=20)
    s = _summarized(r)
    assert s.restarts == s.diverged == 3
    assert (s.acc_median, s.acc_q1, s.acc_q3, s.acc_min, s.acc_max, s.loss_median) == (None,) * 6
    assert s.distinct_median == (None, None, None)
    assert s.loss0_median == float(np.median(r.loss[:, 0])) > 1e6 and s.loss0_nonfinite == 0
    # Weights too large for the dtype would already overflow at step 0 (the schema's bounds keep float32
    # finite there, so the records are set by hand): those restarts are counted, the rest summarized.
    loss = np.array(r.loss)
    loss[:2, 0] = [np.inf, np.nan]
    s = _summarized(dataclasses.replace(r, loss=loss))
    assert s.loss0_nonfinite == 2 and s.loss0_median == float(r.loss[2, 0])
    loss[2, 0] = np.inf
    s = _summarized(dataclasses.replace(r, loss=loss))
    assert s.loss0_nonfinite == 3 and s.loss0_median is None


def test_results_are_read_only_and_dataframes_are_fresh_copies():
    r = training.train(TrainScenario(steps=10, restarts=2), records=2)
    for name in ("loss", "train_acc", "test_acc", "test_loss", "grad_norm", "distinct", "theta", "seeds",
                 "recorded_steps"):
        arr = getattr(r, name)
        with pytest.raises(ValueError):
            arr.flat[0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.steps_done = 0
    h = r.history
    h.loc[0, "loss"] = -1.0
    assert r.history.loc[0, "loss"] != -1.0


def test_decision_function_reproduces_the_recorded_accuracy():
    r = training.train(TrainScenario(steps=400, restarts=2), records=4)
    for step in r.recorded_steps:
        for k in range(2):
            s = r.decision_function(r.data.X_train, k, int(step))
            assert ((s > 0) == (r.data.y_train == 1)).mean() == r.train_acc[k, r._index(int(step))]
    with pytest.raises(ValueError, match="was not recorded"):
        r.params(0, 7)


def test_record_steps_start_at_zero_end_at_the_last_step_and_are_even():
    steps = training.record_steps(15000, 100)
    assert steps[0] == 0 and steps[-1] == 15000 and len(steps) == 101 and set(np.diff(steps)) == {150}
    assert training.record_steps(7, 100).tolist() == list(range(8))
    assert training.record_steps(10, 3).tolist() == [0, 3, 7, 10]


# ---------------------------------------------------------------------------------------------------
# Together, chunked, with progress
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_training_together_equals_training_apart(engine):
    base = TrainScenario(steps=300, restarts=3, batch_size=50)
    scs = [base, base.with_init("random_normal", stddev=1.0), base.with_init("glorot_uniform")]
    together = training.train_many(scs, records=5, engine=engine)
    for s, t in zip(scs, together):
        apart = training.train(s, records=5, engine=engine)
        assert t.scenario == s
        # Bit for bit: the app keeps results one initializer at a time, whether they were trained alone or
        # with others, so any difference would make the same link's digits depend on what ran first.
        np.testing.assert_array_equal(t.theta, apart.theta)
        np.testing.assert_array_equal(t.loss, apart.loss)


def test_training_together_requires_scenarios_that_differ_only_in_init():
    with pytest.raises(ValueError, match="may differ only in init.*also changes lr"):
        training.train_many([TrainScenario(), TrainScenario(lr=0.1)])
    with pytest.raises(ValueError, match="at least one"):
        training.train_many([])


@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_the_batch_order_does_not_depend_on_how_many_epochs_are_held(engine, monkeypatch):
    ts = TrainScenario(steps=50, restarts=3, batch_size=100, dtype="float64")  # 3 steps per epoch
    ref = training.train(ts, records=4, engine=engine)
    init = training._BatchOrder.__init__

    def small(self, *a, **kw):
        init(self, *a, **kw)
        self.max_epochs = 2

    monkeypatch.setattr(training._BatchOrder, "__init__", small)
    assert np.array_equal(training.train(ts, records=4, engine=engine).theta, ref.theta)


def test_same_scenario_same_numbers():
    ts = TrainScenario(steps=300, restarts=2, batch_size=16)
    a, b = training.train(ts, records=3), training.train(ts, records=3)
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.loss, b.loss, equal_nan=True)


def test_progress_and_chunks_show_partial_results_early():
    ts = TrainScenario(steps=1000, restarts=2)
    seen = []
    final = training.train(ts, records=10, progress=lambda frac, step: seen.append((frac, step)))
    assert seen[0] == (0.0, 0) and seen[-1] == (1.0, 1000) and len(seen) == 11
    assert all(b[0] > a[0] for a, b in zip(seen, seen[1:]))
    parts = list(training.iter_train([ts], records=10))
    assert [p[0].steps_done for p in parts] == list(range(0, 1001, 100))
    assert parts[0][0].loss.shape == (2, 1) and not parts[0][0].complete and parts[-1][0].complete
    assert np.array_equal(parts[-1][0].theta, final.theta)
    assert parts[3][0].history.step.max() == 300


def test_without_numba_training_falls_back_to_numpy():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.modules['numba'] = None\n"  # import numba now raises ImportError
            "from initlab.training import engine as training\n"
            "from initlab.training.scenario import TrainScenario\n"
            "r = training.train(TrainScenario(steps=20, restarts=2), records=2)\n"
            "assert r.engine == 'numpy' and r.complete, r.engine\n"
            "training.warm_up()\n"
            "print('ok')")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_engine_names_are_checked():
    with pytest.raises(ValueError, match="engine must be one of"):
        training.train(TrainScenario(steps=1, restarts=1), engine="torch")
    assert isinstance(training.train(TrainScenario(steps=1, restarts=1), engine="numpy").history, pd.DataFrame)


def test_lsuv_stage_gives_every_layer_unit_variance_on_the_training_inputs():
    """LSUV in the Training tab: from an orthogonal start each layer is rescaled on the
    scaled training inputs until Var(z) is within the tolerance of 1, whatever initializer was asked."""
    from initlab.signal.lsuv import TOL
    from initlab.training.engine import initial_params, make_data

    for act in ("relu", "tanh"):
        ts = TrainScenario(lsuv=True, init="random_normal", stddev=10.0, activation=act, dtype="float64")
        h = np.asarray(make_data(ts).X_train, dtype=np.float64)
        params = initial_params(ts, 1)
        for w, b in params:
            z = h @ w + b
            assert abs(z.var() - 1) < TOL
            h = np.maximum(z, 0) if act == "relu" else np.tanh(z)
        # the same orthogonal start whatever the initializer asked for: LSUV replaces it
        other = initial_params(ts.replace(init="zeros", stddev=None), 1)
        for (w1, _), (w2, _) in zip(params, other):
            np.testing.assert_array_equal(w1, w2)


def test_lsuv_rescales_a_digits_network_on_its_64_pixel_inputs():
    """LSUV on real data: every layer of a 64-32-16-10 network, the softmax's logits included, has Var(z)
    within the tolerance of 1 on the 1437 training images (pixels / 16)."""
    from initlab.signal.lsuv import TOL
    from initlab.training.engine import initial_params, make_data

    ts = TrainScenario(dataset="digits", classes=10, n_train=1437, hidden=(32, 16), lsuv=True, init="orthogonal",
                       dtype="float64")
    h = np.asarray(make_data(ts).X_train, dtype=np.float64)
    assert h.shape == (1437, 64)
    for w, b in initial_params(ts, 0):
        z = h @ w + b
        assert abs(z.var() - 1) < TOL
        h = np.maximum(z, 0)


def test_lsuv_is_a_training_comparison_entry():
    from initlab.pages import train_comparison

    pairs = dict(train_comparison(TrainScenario(), ("lsuv", "he")))
    assert pairs["LSUV (orthogonal, rescaled on the data)"].lsuv and not pairs["He N(0, √(2/n))"].lsuv


def test_the_budget_cuts_restarts_first_down_to_five_then_steps():
    """64,64,64,64 with 50 restarts and 100000 steps used to keep 36 restarts and cut the steps to 74 (He
    ended at 0.515: nothing learned). Restarts go first, to MIN_RESTARTS_KEPT, and the notices say so."""
    from initlab.training.scenario import MIN_RESTARTS_KEPT, repair

    ts, notices = repair(TrainScenario(hidden=(64, 64, 64, 64), restarts=50, steps=100_000))
    assert ts.restarts == MIN_RESTARTS_KEPT == 5
    # 5 restarts x (steps x 300 + 51 records x 400 examples) x (2*64 + 3*64*64 + 64 = 12480 weights) <= 1e10:
    # (1e10 / 12480 - 5 x 51 x 400) / (5 x 300) = 466 steps
    assert ts.steps == 466
    check_train_budget(ts)
    text = " ".join(n.message for n in notices)
    assert "Restarts reduced from 50 to 5, the fewest a budget cut keeps" in text
    assert "Steps reduced from 100000 to 466, since 5 restarts must remain" in text
    # Restarts alone suffice: steps untouched (20 x (60000 x 300 + 51 x 400) x 75 = 2.7e10; 7 restarts = 9.46e9 fit)
    ts, notices = repair(TrainScenario(restarts=20, steps=60_000))
    assert (ts.restarts, ts.steps) == (7, 60_000) and [n.key for n in notices] == ["tr_restarts"]
    # Fewer restarts than the floor asked for: kept, the steps go
    ts, _ = repair(TrainScenario(restarts=2, steps=100_000, n_train=2000))
    assert ts.restarts == 2 and ts.steps < 100_000


def test_a_network_over_the_budget_at_one_restart_and_one_step_gets_fewer_points():
    """Found by the link round trip (hypothesis): 21 BatchNorm layers up to 64 wide on 1609 test points need
    ~265 MB at one restart, whatever the steps (the records evaluate every point). The repair used to
    say "Steps reduced from 20789 to 20789" and leave it over the budget; it now cuts the points, says so,
    and the result trains within the budget (a second repair changes nothing)."""
    from initlab.training.scenario import repair

    hidden = (64, 2, 64, 2, 64, 1, 1, 1, 11, 12, 17, 19, 52, *(64,) * 8)
    ts = TrainScenario(n_train=10, n_test=1609, hidden=hidden, norm="batch", steps=20_789, restarts=1)
    with pytest.raises(BudgetError):
        check_train_budget(ts)
    fixed, notices = repair(ts)
    check_train_budget(fixed)
    assert (fixed.n_train, fixed.steps, fixed.restarts) == (10, 20_789, 1) and fixed.n_test < 1609
    assert [n.key for n in notices] == ["tr_n_test"]
    assert notices[0].message.startswith(f"Reduced the test points from 1609 to {fixed.n_test}, since the records")
    with pytest.raises(BudgetError):  # the most points that fit
        check_train_budget(fixed.replace(n_test=fixed.n_test + 1))
    assert repair(fixed)[1] == []


def test_budget_messages_print_numbers_that_differ():
    """"= 1e+10 multiply-adds, more computation than the 1e+10": a value just over the limit printed like it."""
    from initlab.schema import over_limit

    assert over_limit(1.0000001e10, 1e10) == ("1.0000001e10", "1e10")
    assert over_limit(2.7e10, 1e10) == ("2.7e10", "1e10")
    assert over_limit(1.5e8 + 1, 1.5e8) == ("1.50000001e8", "1.5e8")
    # (348 steps x 2000 examples + 51 records x 2100 examples) x 12480 weights = 1.0023e10: just over, printed so
    ts = TrainScenario(restarts=1, steps=348, hidden=(64, 64, 64, 64), n_train=2000)
    with pytest.raises(BudgetError) as err:
        check_train_budget(ts)
    need, most = re.search(r"= (\S+) multiply-adds, more computation than the (\S+) one", str(err.value)).groups()
    assert need != most and float(need) > float(most)


# --- the course notebook (Deep Learning Specialization, course 2 week 1, "Initialization"), reproduced ----------

def _course_scenarios():
    from initlab.pages import TRAIN_INITS
    from initlab.training.summaries import COURSE_C2W1, COURSE_C2W1_COMPARE

    out = {}
    for name in COURSE_C2W1_COMPARE:
        init, params, _ = TRAIN_INITS[name]
        out[name] = COURSE_C2W1.replace(init=init, **params)
    return out


def test_course_weights_are_the_notebooks_draws():
    # np.random.seed(3); W_l = np.random.randn(n_l, n_{l-1}) * scale for l = 1..L: initlab's kernel is W_l.T.
    scs = _course_scenarios()
    np.random.seed(3)
    layers = [2, 10, 5, 1]
    drawn = [np.random.randn(layers[l], layers[l - 1]) for l in range(1, 4)]
    for (w, b), raw, n in zip(training.initial_params(scs["normal_10"], 0), drawn, layers):
        assert np.array_equal(w, (raw * 10).T) and not b.any()
    for (w, _), raw, n in zip(training.initial_params(scs["he"], 0), drawn, layers):
        np.testing.assert_allclose(w, (raw * np.sqrt(2.0 / n)).T, rtol=1e-15, atol=0)
    # The data: np.random.seed(1) / seed(2) before make_circles, inputs not scaled.
    skd = pytest.importorskip("sklearn.datasets")
    data = training.make_data(scs["he"])
    np.random.seed(1)
    X, y = skd.make_circles(n_samples=300, noise=.05)
    np.random.seed(2)
    Xt, yt = skd.make_circles(n_samples=100, noise=.05)
    assert np.array_equal(data.X_train, X) and np.array_equal(data.y_train, y)
    assert np.array_equal(data.X_test, Xt) and np.array_equal(data.y_test, yt)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_course_numbers_are_the_notebooks_printed_ones(engine):
    from initlab.training import summaries

    if engine == "numba" and not _train_jit.AVAILABLE:
        pytest.skip("numba not installed")
    scs = _course_scenarios()
    results = dict(zip(scs, training.train_many(list(scs.values()), engine=engine)))
    assert list(results["he"].recorded_steps) == list(range(0, 15001, 1000))  # records=15: every 1000 steps
    ours = summaries.course_numbers(results)
    for name, printed in summaries.COURSE_C2W1_PRINTED.items():
        got = ours[name]
        assert got[2:] == pytest.approx(printed[2:], abs=1e-12), name  # accuracies: equal
        if name == "normal_10":
            # Sums up to 1e3: the order in which they are added moves the fourth digit of this cost.
            assert got[1] == pytest.approx(printed[1], rel=1e-3)
            # The notebook's cost formula gives its inf; the loss from the logits is finite.
            assert printed[0] == math.inf and got[0] == math.inf
            assert results[name].loss[0, 0] == pytest.approx(1773.586, abs=1e-3)
            assert results[name].diverged.tolist() == [False]  # an inf cost is not a divergence
        else:
            assert got[:2] == pytest.approx(printed[:2], rel=1e-12, abs=0), name
            # Where no sigmoid saturates, the naive cost and the stable loss are the same number (to rounding).
            np.testing.assert_allclose(results[name].cost, results[name].loss, rtol=1e-12)
    rows = summaries.course_table(summaries.COURSE_C2W1, results)
    assert [r["Initialization"] for r in rows] == ["zeros", "N(0, 1) × 10", "He, × √(2/n)"]
    assert rows[1]["cost at 0 (notebook)"] == "inf" == rows[1]["cost at 0 (initlab)"]
    assert rows[1]["loss at 0 from the logits (initlab)"].startswith("1773.58")
    assert "cost" in results["he"].history.columns


def test_naive_cost_is_the_notebooks_formula():
    # compute_loss of the notebook, verbatim in numpy, against initlab's on logits that saturate and not.
    z = np.array([[-800.0, -40.0, -3.0, 0.0, 2.5, 40.0, 800.0]])
    y = np.array([0, 1, 0, 1, 0, 1, 0])
    with np.errstate(all="ignore"):
        a3 = 1 / (1 + np.exp(-z))
        logprobs = np.multiply(-np.log(a3), y) + np.multiply(-np.log(1 - a3), 1 - y)
        want = 1.0 / 7 * np.nansum(logprobs)
    got = training.naive_cost(z, y)
    assert got.shape == (1,) and got[0] == want == math.inf  # z = 800 on class 0: log(1 - 1) = -inf
    z2, y2 = z[:, 1:-1], y[1:-1]
    with np.errstate(all="ignore"):
        a = 1 / (1 + np.exp(-z2))
        want2 = 1.0 / 5 * np.nansum(np.multiply(-np.log(a), y2) + np.multiply(-np.log(1 - a), 1 - y2))
    assert training.naive_cost(z2, y2)[0] == want2
    # The stable loss of the same logits is finite and, away from saturation, the same number.
    stable = np.mean(np.logaddexp(0, z2 * (1 - 2 * y2)))
    assert np.isfinite(want2) and want2 == pytest.approx(stable, rel=1e-12)


def test_course_inf_is_a_naive_log_of_a_sigmoid_rounded_to_one():
    # Every step-0 logit of the x 10 network is large, so a positive one's sigmoid is exactly 1 in float64.
    ts = _course_scenarios()["normal_10"]
    data = training.make_data(ts)
    a = data.X_train
    params = training.initial_params(ts, 0)
    for i, (w, b) in enumerate(params):
        a = a @ w + b
        if i < len(params) - 1:
            a = np.maximum(a, 0)
    z = a[:, 0]
    assert np.abs(z).min() >= 62.7
    assert (1 / (1 + np.exp(-z[z > 0])) == 1.0).all()
    with np.errstate(divide="ignore"):
        assert np.isinf(-np.log(1 - 1 / (1 + np.exp(-z[data.y_train == 0])))).any()
