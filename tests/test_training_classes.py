"""Real data with ten classes: scikit-learn's digits and blobs / spiral with k classes (shapes, stratification,
scaling, seeds), the softmax output (loss and gradients against a direct computation and finite
differences, ln(classes) at a zero output layer), the compiled kernel against the numpy engine, the
confusion matrix and the misclassified points against a direct computation, and the budget."""

import math

import numpy as np
import pytest

from initlab.signal.scenario import BudgetError
from initlab.training import datasets
from initlab.training import engine as training
from initlab.training import kernel
from initlab.training.scenario import (
    TrainScenario, check_train_budget, estimate_train_macs, repair, repair_architecture,
)
from initlab.weights import activations

EPS64 = np.finfo(np.float64).eps
needs_numba = pytest.mark.skipif(not kernel.AVAILABLE, reason="numba is not installed: only the numpy engine")
ENGINES = ["numpy", pytest.param("numba", marks=needs_numba)]
sklearn = pytest.importorskip("sklearn")


def _digits_raw():
    from sklearn.datasets import load_digits

    b = load_digits()
    return b.data.astype(np.float64), b.target.astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------

def test_digits_is_scikit_learns_stratified_split():
    from sklearn.model_selection import train_test_split

    X, y = _digits_raw()
    for seed in (4, 0, 4):  # the second 4 from the split kept per seed (datasets._digits_split)
        X_tr, y_tr, X_te, y_te = datasets.digits(2000, 2000, seed=seed, scaled=False)
        want = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
        for got, w in zip((X_tr, X_te, y_tr, y_te), want):
            assert np.array_equal(got, w)
        assert X_tr.flags.writeable  # a copy of its own, not the images kept
    assert X_tr.shape == (datasets.DIGITS_TRAIN, 64) and X_te.shape == (datasets.DIGITS_TEST, 64)
    assert X_tr.dtype == np.float64 and y_tr.dtype == np.int64
    # Stratified: every digit's share of each part is its share of the whole, within one image.
    whole = np.bincount(y, minlength=10) / len(y)
    for part in (y_tr, y_te):
        assert np.all(np.abs(np.bincount(part, minlength=10) - whole * len(part)) <= 1)


@pytest.mark.parametrize("n_train, n_test", [(10, 10), (100, 50), (1000, 359)])
def test_a_smaller_digits_set_keeps_every_digits_share(n_train, n_test):
    X_tr, y_tr, X_te, y_te = datasets.digits(n_train, n_test, seed=0)
    assert len(y_tr) == n_train and len(y_te) == n_test
    _, y_all, _, y_all_te = datasets.digits(2000, 2000, seed=0)
    for part, whole in ((y_tr, y_all), (y_te, y_all_te)):
        share = np.bincount(whole, minlength=10) / len(whole)
        assert np.all(np.abs(np.bincount(part, minlength=10) - share * len(part)) <= 1)


def test_digits_inputs_are_pixels_over_16_or_raw_and_the_seed_decides_the_split():
    ts = TrainScenario(dataset="digits", classes=10, n_train=2000, n_test=2000, data_seed=3)
    d, raw = training.make_data(ts), training.make_data(ts.replace(inputs="unscaled"))
    assert np.array_equal(d.X_train * 16, raw.X_train) and np.array_equal(d.X_test * 16, raw.X_test)
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16 and np.array_equal(raw.X_train, np.round(raw.X_train))
    assert d.X_train.max() == 1.0 and np.all(np.isfinite(d.X_train))  # no column divided by a zero spread
    assert d.shift.shape == d.scale.shape == (64,) and np.all(d.scale == 16) and np.all(d.shift == 0)
    assert len(d.y_train) == ts.train_examples == 1437 and len(d.y_test) == ts.test_examples == 360
    assert np.array_equal(training.make_data(ts).X_train, d.X_train)  # the same seed: the same arrays
    other = training.make_data(ts.replace(data_seed=4))
    assert not np.array_equal(other.y_train, d.y_train)
    assert ts.noise != 0 and np.array_equal(training.make_data(ts.replace(noise=0.5)).X_train, d.X_train)  # ignored


@pytest.mark.parametrize("name", datasets.MULTICLASS)
@pytest.mark.parametrize("classes", [3, 7, 10])
def test_blobs_and_spiral_make_k_classes(name, classes):
    n = 103
    X, y = datasets.make(name, n, noise=0.0, seed=2, classes=classes)
    assert X.shape == (n, 2) and y.dtype == np.int64
    want = [n // classes + (c >= classes - n % classes) for c in range(classes)]
    assert np.bincount(y, minlength=classes).tolist() == want
    if name == "blobs":  # centre c at angle pi + 2 pi c / k on the circle of radius distance / 2 = 1
        for c in range(classes):
            a = math.pi + 2 * math.pi * c / classes
            mean = X[y == c].mean(axis=0)
            # cluster std 0.5 over ~10 points: the mean is within 5 standard errors (5 * 0.5 / sqrt(10))
            assert np.hypot(*(mean - [math.cos(a), math.sin(a)])) < 5 * 0.5 / math.sqrt(want[c])
    else:  # arm c: every point at angle 2 pi turns r + 2 pi c / k, r its radius
        for c in range(classes):
            pts = X[y == c][np.hypot(*X[y == c].T) > 0]  # r = 0, the arm's first point: no angle
            r = np.hypot(*pts.T)
            t = np.arctan2(pts[:, 1], pts[:, 0])
            off = (t - 2 * math.pi * 1.75 * r - 2 * math.pi * c / classes) / (2 * math.pi)
            assert np.allclose(off, np.round(off), atol=1e-9)


def test_two_classes_are_the_same_arrays_as_before():
    # The two-arm spiral by the formula the dataset had before k arms (angle 2 pi turns r + c pi).
    rng = np.random.default_rng(5)
    parts = []
    for c, m in ((0, 50), (1, 51)):
        r = np.arange(m) / m
        t = 2.0 * math.pi * 1.75 * r + c * math.pi
        parts.append(np.column_stack([r * np.cos(t), r * np.sin(t)]))
    X = np.concatenate(parts)
    order = rng.permutation(101)
    X = X[order] + rng.normal(scale=0.05, size=X.shape)
    got, _ = datasets.make("spiral", 101, 0.05, seed=5, classes=2)
    assert np.array_equal(got, X)
    for name in datasets.NAMES:
        a, b = datasets.make(name, 60, 0.1, 3), datasets.make(name, 60, 0.1, 3, classes=2)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_datasets_refuse_what_they_cannot_make():
    with pytest.raises(ValueError, match="two classes"):
        datasets.make("circles", 10, classes=3)
    with pytest.raises(ValueError, match="classes"):
        datasets.make("blobs", 10, classes=11)
    with pytest.raises(ValueError, match="datasets.digits"):
        datasets.make("digits", 10)
    with pytest.raises(ValueError, match="n_train"):
        datasets.digits(9, 100)


# ---------------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------------

def test_the_network_takes_the_datasets_inputs_and_one_output_per_class():
    assert TrainScenario().sizes == (2, 10, 5, 1) and TrainScenario().classes == 2
    ts = TrainScenario(dataset="digits", classes=10, hidden=(32,))
    assert ts.sizes == (64, 32, 10) and ts.layer_shapes == ((64, 32), (32, 10)) and ts.softmax
    res = TrainScenario(dataset="blobs", classes=4, hidden=(6, 6), block="residual")
    assert res.layer_shapes == ((2, 6), (6, 6), (6, 4))


def test_impossible_classes_and_costs_are_repaired_with_a_notice():
    ts, notes = repair_architecture(TrainScenario(dataset="digits"))
    assert ts.classes == 10 and [n.key for n in notes] == ["tr_classes"] and "10 classes" in notes[0].message
    ts, notes = repair_architecture(TrainScenario(dataset="circles", classes=5))
    assert ts.classes == 2 and [n.key for n in notes] == ["tr_classes"]
    ts, notes = repair(TrainScenario(dataset="spiral", classes=3, cost="naive"))
    assert ts.cost == "stable" and [n.key for n in notes] == ["tr_cost"]
    assert repair_architecture(TrainScenario(dataset="spiral", classes=3))[1] == []


def test_a_digits_comparison_fits_the_budget_and_full_batch_does_not():
    """3 initializers x 10 restarts x 2000 steps, hidden (32,), batch 64: each scenario's forward passes are
    10 x 2000 x 64 x (64 * 32 + 32 * 10) = 3.0e9 multiply-adds, and its 51 records evaluate the 1437 + 360
    images 10 x 51 times, 2.2e9 more: within the 1e10 cap; full batch (1437 images a step) trains on
    1437 / 64 = 22 times as many, 7.0e10 in all: 7 times over, which the message says."""
    ts = TrainScenario(dataset="digits", classes=10, hidden=(32,), restarts=10, steps=2000, batch_size=64,
                       n_train=2000, n_test=2000)
    assert estimate_train_macs(ts) == 10 * (2000 * 64 + 51 * (1437 + 360)) * (64 * 32 + 32 * 10)
    for init in ("zeros", "glorot_uniform", "torch_kaiming_normal"):
        check_train_budget(ts.with_init(init))
    full = ts.replace(batch_size=0)
    assert full.batch == 1437 and estimate_train_macs(full) == 10 * (2000 * 1437 + 51 * 1797) * 2368
    with pytest.raises(BudgetError, match="multiply-adds") as err:
        check_train_budget(full)
    assert err.value.limit == "computation" and estimate_train_macs(full) / 1e10 == pytest.approx(7.02, abs=0.01)
    fixed, notes = repair(full)
    assert notes and (fixed.restarts < 10 or fixed.steps < 2000)
    check_train_budget(fixed)


# ---------------------------------------------------------------------------------------------------
# The softmax output
# ---------------------------------------------------------------------------------------------------

def test_the_softmax_loss_is_logsumexp_minus_the_true_logit():
    """Against the textbook -log(e^(s_y) / sum e^(s_k)) on moderate logits (both exact to a few ulp: 1e-13
    relative), and finite where that one overflows (logits of 1000: e^1000 = inf)."""
    rng = np.random.default_rng(0)
    S = rng.normal(0, 3, size=(2, 7, 5))
    y = rng.integers(0, 5, size=7)
    loss, acc = training._softmax_loss_acc(S, y)
    p = np.exp(S) / np.exp(S).sum(axis=-1, keepdims=True)
    want = -np.log(p[:, np.arange(7), y]).mean(axis=-1)
    np.testing.assert_allclose(loss, want, rtol=1e-13)
    assert np.array_equal(acc, (S.argmax(axis=-1) == y).mean(axis=-1))
    big = S + 1000.0
    np.testing.assert_allclose(training._softmax_loss_acc(big, y)[0], want, rtol=1e-12)  # shift-invariant
    S[1, 3, 2] = np.nan
    assert np.isnan(training._softmax_loss_acc(S, y)[1][1]) and np.isfinite(training._softmax_loss_acc(S, y)[1][0])


def _theta(ts, runs, rng):
    th = np.stack([training.initial_theta(ts, r) for r in range(runs)])
    return th + rng.normal(0.0, 0.3, size=th.shape)


@pytest.mark.parametrize("arch", [{}, dict(block="residual", norm="batch", branch_layers=2),
                                  dict(norm="layer")], ids=["plain", "residual-batch", "layer"])
def test_softmax_gradients_match_finite_differences(arch):
    """dL/dtheta of the backward pass against central differences of the forward pass, every parameter of two
    runs, float64, tanh (smooth). With h = eps^(1/3) the error of a central difference is ~eps^(2/3) ~ 4e-11
    times the loss's size and third derivative (O(1)-O(10) here), hence 1e-7 absolute plus 1e-6 relative,
    as the two-class test of the block engine."""
    ts = TrainScenario(dataset="blobs", classes=4, dtype="float64", hidden=(3, 3), activation="tanh",
                       init="glorot_normal", nonlinearity=None, bias="random_normal", bias_value=0.3, **arch)
    assert not ts.architecture_problems()
    rng = np.random.default_rng(3)
    runs, n = 2, 9
    theta = _theta(ts, runs, rng)
    X = rng.normal(size=(n, 2))
    y = rng.integers(0, 4, size=n)
    act = activations.get(ts.activation)
    lay = training._layout(ts)
    xT = training._features_major(X)

    def logits(th):
        if ts.plain_mlp:
            Ws, bs = training._views(th, ts.sizes)
            return np.swapaxes(training._forward(Ws, bs, X, act)[0][-1], -1, -2)
        return training._Pass(ts, training._net(th, lay), act, xT).logits

    def loss(th):
        return training._softmax_loss_acc(np.swapaxes(logits(th), -1, -2), y)[0].sum()  # summed over runs

    grad = np.full_like(theta, np.nan)
    if ts.plain_mlp:
        Ws, bs = training._views(theta, ts.sizes)
        gWs, gbs = training._views(grad, ts.sizes)
        zs, hs = training._forward(Ws, bs, X, act)
        d = np.swapaxes(training._softmax_grad(np.swapaxes(zs[-1], -1, -2), y), -1, -2)
        training._backward(Ws, zs, hs, d, act, gWs, gbs)
    else:
        p = training._Pass(ts, training._net(theta, lay), act, xT)
        p.backward(training._softmax_grad(p.logits, y), training._net(grad, lay))
    h = EPS64 ** (1 / 3)
    fd = np.empty_like(theta)
    for r in range(runs):
        for j in range(theta.shape[1]):
            up, down = theta.copy(), theta.copy()
            up[r, j] += h
            down[r, j] -= h
            fd[r, j] = (loss(up) - loss(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dataset, classes", [("digits", 10), ("spiral", 3)])
@pytest.mark.parametrize("arch", [{}, dict(block="residual", norm="batch")], ids=["plain", "residual-batch"])
def test_a_zero_output_layer_starts_at_ln_classes(engine, dataset, classes, arch):
    """All logits 0: softmax is 1/C for every class, the loss exactly ln C (ln 10 = 2.302585 for digits),
    on the training and the test set; ln C is one log of a whole number and the mean of equal terms, exact
    to a few ulp (8 eps relative)."""
    ts = TrainScenario(dataset=dataset, classes=classes, init="zeros", hidden=(4, 4), steps=2, restarts=2,
                       dtype="float64", n_train=50, n_test=20, **arch)
    r = training.train(ts, records=1, engine=engine)
    np.testing.assert_allclose(r.loss[:, 0], math.log(classes), rtol=8 * EPS64)
    np.testing.assert_allclose(r.test_loss[:, 0], math.log(classes), rtol=8 * EPS64)
    assert math.log(10) == pytest.approx(2.302585, abs=1e-6)


@needs_numba
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("case", [
    dict(dataset="digits", classes=10, hidden=(12,), batch_size=32),
    dict(dataset="blobs", classes=5, hidden=(6, 5)),
    dict(dataset="spiral", classes=3, hidden=(6, 6), block="residual", norm="batch", batch_size=16),
    dict(dataset="digits", classes=10, hidden=(6, 6), block="residual", norm="layer", norm_position="post",
         batch_size=25),
], ids=["digits-plain-minibatch", "blobs-plain-full", "spiral-residual-batchnorm", "digits-residual-layernorm"])
def test_the_kernel_trains_a_softmax_as_the_numpy_engine(case, optimizer):
    """float64, 30 steps: as the two-class comparisons (tests/test_training_blocks.py), the engines differ only
    in the order of sums, fused multiply-adds and the exp (a few ulp an operation; measured ~1e-13 after
    30 steps); 1e-10 relative leaves three orders. A wrong term in the softmax's gradient (a missing 1/n,
    the wrong class) moves the losses by 1e-3 within a step."""
    ts = TrainScenario(steps=30, restarts=2, n_train=80, n_test=40, dtype="float64", activation="tanh",
                       optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.1, **case)
    a, b = (training.train(ts, engine=e, records=3) for e in ("numpy", "numba"))
    assert b.engine == "numba"
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-10)
    np.testing.assert_allclose(b.test_loss, a.test_loss, rtol=1e-10)
    scale = np.abs(a.theta).max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(b.theta / scale, a.theta / scale, rtol=0, atol=1e-10)
    assert np.array_equal(a.train_acc, b.train_acc) and np.array_equal(a.test_acc, b.test_acc)
    assert a.loss[0, -1] < a.loss[0, 0]  # it learns


@needs_numba
def test_wide_softmax_mlps_train_by_blas_only_from_distinct_units():
    """A digits MLP with a layer of BLAS_MIN_WEIGHTS or more trains by BLAS (kernel.run_mlp_steps) in the runs
    whose units all start different; a run with units made equal by the init (zeros, a constant), a
    two-class network and a narrow one keep the hand loops."""
    wide = TrainScenario(dataset="digits", classes=10, hidden=(16,), restarts=3, n_train=40, n_test=12)
    assert 64 * 16 >= kernel.BLAS_MIN_WEIGHTS > 64 * 4
    theta = np.stack([training.initial_theta(wide, r) for r in range(3)])
    assert training._blas_runs(wide, theta).tolist() == [True] * 3
    theta[1, :64 * 16] = 0.5  # run 1: every unit of layer 1 the same (its biases are 0)
    assert training._blas_runs(wide, theta).tolist() == [True, False, True]
    for ts in (wide.replace(hidden=(4,)), wide.replace(dataset="spiral", classes=2, hidden=(32, 32))):
        theta = np.stack([training.initial_theta(ts, r) for r in range(3)])
        assert not training._blas_runs(ts, theta).any()


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blas_runs_and_hand_loop_runs_train_together_as_apart(dtype):
    """A comparison of a random init (BLAS) with a constant one (the hand loops, which keep its units
    bit-identical): each run as it trains alone, bit for bit, and the constant run's units stay equal."""
    ts = TrainScenario(dataset="digits", classes=10, hidden=(16,), steps=30, restarts=2, n_train=100, n_test=30,
                       batch_size=32, dtype=dtype, lr=0.5)
    const = ts.with_init("constant", value=0.05)
    both = training.train_many([ts, const], records=3)
    for together, alone in zip(both, (training.train(ts, records=3), training.train(const, records=3))):
        np.testing.assert_array_equal(together.theta, alone.theta)
        np.testing.assert_array_equal(together.loss, alone.loss)
        np.testing.assert_array_equal(together.test_acc, alone.test_acc)
    W1 = both[1].params(0, 30)[0][0]
    assert np.ptp(W1, axis=1).max() == 0.0 and (both[1].distinct == 1).all()
    assert not np.array_equal(both[1].theta[:, -1], both[1].theta[:, 0])  # it moved


@needs_numba
@pytest.mark.parametrize("batch_size", [64, 0])  # full batch: every step the whole set (it once read the test set)
def test_the_blas_kernel_records_what_the_numpy_engine_records(batch_size: int):
    """float64, digits, hidden (32,), mini-batches of 64 with a short last one or full batch, relu: the BLAS
    kernel sums in gemm's order (a few ulp an operation, as the hand loops' reassociated sums); every record
    agrees to 1e-10 relative, accuracies and dead shares exactly."""
    ts = TrainScenario(dataset="digits", classes=10, hidden=(32,), steps=40, restarts=2, n_train=300, n_test=90,
                       batch_size=batch_size, dtype="float64", init="random_normal", stddev=0.1, lr=0.5)
    a, b = (training.train(ts, engine=e, records=4) for e in ("numpy", "numba"))
    for name in ("loss", "test_loss", "grad_norm", "update_ratio"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-10 * np.abs(a.theta).max())
    for name in ("train_acc", "test_acc", "dead_share", "saturated_share", "distinct"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@needs_numba
def test_the_blas_kernel_float32_records_agree_with_the_numpy_engine():
    """float32: the BLAS kernel's softmax is float32 arithmetic (kernel._softmax_out32, exponentials by _vexp32_shifted)
    where the numpy engine takes numpy's exp; after 40 steps the records agree to a float32 rounding grown
    over the steps (measured 2e-7 relative; asserted 1e-5, ~100 ulp), the parameters to 1e-5 of the largest,
    the accuracies and dead shares to one example of the set (a point on a decision boundary may flip)."""
    ts = TrainScenario(dataset="digits", classes=10, hidden=(32,), steps=40, restarts=2, n_train=300, n_test=90,
                       batch_size=64, dtype="float32", init="random_normal", stddev=0.1, lr=0.5)
    a, b = (training.train(ts, engine=e, records=4) for e in ("numpy", "numba"))
    for name in ("loss", "test_loss", "grad_norm", "update_ratio"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-5 * np.abs(a.theta).max())
    for name, size in (("train_acc", 300), ("test_acc", 90), ("dead_share", 32)):
        assert np.nanmax(np.abs(getattr(a, name) - getattr(b, name))) <= 1 / size, name
    assert np.array_equal(a.distinct, b.distinct)


@needs_numba
def test_the_float32_exponential_is_within_an_ulp():
    """kernel._vexp32_shifted (Cephes' expf, as the float32 softmax takes it: e^(logit - shift), summed per
    example) against float64 exp on 2e6 points of [-87.3, 88.7] in one row of logits, shift 0: within 1 ulp
    of the float32 result (Cephes: peak relative error 1e-7 < 2^-23; measured 0.996 ulp; asserted 1.5 for
    CPUs that do not contract to FMA), the sums their sums, and its limits: NaN, +-inf, 0 below the smallest
    normal float32."""
    def exp32(x):
        n = len(x)
        e, sums = np.empty(n, np.float32), np.zeros(n, np.float32)
        kernel._vexp32_shifted(x.reshape(1, 1, n), 0, np.zeros(n, np.float32), sums, e, np.zeros(n, np.int32), 1, n)
        assert np.array_equal(sums, e, equal_nan=True)  # one class: each sum is its one exponential
        return e

    x = np.linspace(-87.3, 88.7, 2_000_001).astype(np.float32)
    e = exp32(x)
    ref = np.exp(x.astype(np.float64))
    ulp = np.abs(e.astype(np.float64) - ref) / np.spacing(ref.astype(np.float32)).astype(np.float64)
    assert ulp.max() <= 1.5
    out = exp32(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 89.0, -87.4, -100.0], np.float32))
    assert np.isnan(out[0]) and out[1] == np.inf and np.array_equal(out[2:], [0, 1, 1, np.inf, 0, 0])


@needs_numba
def test_layer_sums_of_squares_give_update_ratio_and_norms():
    """kernel.layer_sq_sums, which the compiled engine's float32 records take, against update_ratio and
    stats.norms per layer: the same numbers to float64 rounding, NaN and inf as they give them."""
    from initlab.numerics import stats

    ts = TrainScenario(dataset="digits", classes=10, hidden=(32, 16))
    lay = training._layout(ts)
    offs = np.array(lay.woff, np.int64)
    sizes = np.array([fi * fo for fi, fo in lay.shapes], np.int64)
    rng = np.random.default_rng(5)
    before = rng.normal(size=(6, lay.P)).astype(np.float32)
    after = before + (rng.normal(size=before.shape) * 1e-3).astype(np.float32)
    before[1] = 0
    after[2, 5] = np.nan
    before[3, 7] = after[3, 7] = np.inf
    out = np.empty((6, len(offs), 2))
    kernel.layer_sq_sums(before, after, offs, sizes, out)
    Wb, Wa = training._net(before, lay).Ws, training._net(after, lay).Ws
    with np.errstate(all="ignore"):
        ratio = np.sqrt(out[..., 0]) / np.sqrt(out[..., 1])
    want = np.stack([training.update_ratio(b, a) for b, a in zip(Wb, Wa)], axis=1)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(ratio[ok], want[ok], rtol=1e-13)
    assert np.isnan(want[1]).all() and (out[1, :, 1] == 0).all()  # ||W_before|| = 0: the engine says NaN
    np.testing.assert_allclose(np.sqrt(out[..., 1]), np.stack([stats.norms(w) for w in Wb], axis=1), rtol=1e-13)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_compiled_softmax_records_are_numpys(dtype):
    """kernel.softmax_loss_acc against the engine's _softmax_loss_acc on the records' layout, with a NaN, an inf
    and a -inf logit and a tie (the first largest wins): the loss to the dtype's rounding (numpy sums in
    the logits' dtype), the accuracy exactly (NaN for a run with a NaN logit)."""
    rng = np.random.default_rng(3)
    L = (rng.standard_normal((5, 10, 60)) * 4).astype(dtype)
    L[1, 3, 7] = np.nan
    L[2, 4, 9] = np.inf
    L[3, 2, 1] = -np.inf
    L[4, :, 5] = 1.0
    y = rng.integers(0, 10, 60)
    for start in (0, 13):
        loss, acc = kernel.softmax_loss_acc(L, y[start:], start, 60)
        with np.errstate(all="ignore"):
            want_loss, want_acc = training._softmax_loss_acc(np.swapaxes(L, 1, 2)[:, start:], y[start:])
        np.testing.assert_allclose(loss, want_loss, rtol=10 * np.finfo(dtype).eps)
        assert np.array_equal(acc, want_acc, equal_nan=True)


# ---------------------------------------------------------------------------------------------------
# Results: logits, probabilities, confusion, misclassified
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_result():
    ts = TrainScenario(dataset="digits", classes=10, hidden=(16,), steps=100, restarts=2, batch_size=64,
                       optimizer="adam", n_train=400, n_test=120, dtype="float64")
    return training.train(ts, records=2)


def test_the_recorded_numbers_are_those_of_the_logits(digits_result):
    r = digits_result
    for k, step in enumerate(r.recorded_steps):
        S = r.decision_function(r.data.X_test, 1, int(step))
        assert S.shape == (120, 10) and S.dtype == np.float64
        loss, acc = training._softmax_loss_acc(S[None], r.data.y_test)
        assert loss[0] == pytest.approx(r.test_loss[1, k], rel=1e-12) and acc[0] == r.test_acc[1, k]
        P = r.predict_proba(r.data.X_test, 1, int(step))
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=4 * EPS64 * 10)  # ten terms of rounding
        np.testing.assert_allclose(-np.log(P[np.arange(120), r.data.y_test]).mean(), r.test_loss[1, k], rtol=1e-12)


def test_confusion_and_misclassified_are_the_direct_count(digits_result):
    r = digits_result
    step = int(r.recorded_steps[-1])
    pred = r.decision_function(r.data.X_test, 0, step).argmax(axis=1)
    want = np.zeros((10, 10), np.int64)
    for t, p in zip(r.data.y_test, pred):
        want[t, p] += 1
    got = r.confusion(0, step)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(got.sum(axis=1), np.bincount(r.data.y_test, minlength=10))
    assert np.trace(got) / 120 == r.test_acc[0, -1]
    assert np.array_equal(r.misclassified(0, step), np.flatnonzero(pred != r.data.y_test))


def test_two_classes_keep_one_logit_and_get_two_probability_columns():
    ts = TrainScenario(steps=20, restarts=1, n_train=40, n_test=30, dtype="float64")
    r = training.train(ts, records=1)
    s = r.decision_function(r.data.X_test, 0, 20)
    assert s.shape == (30,)
    P = r.predict_proba(r.data.X_test, 0, 20)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-s)), rtol=1e-15)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=2 * EPS64)
    c = r.confusion(0, 20)
    assert c.shape == (2, 2) and np.trace(c) / 30 == r.test_acc[0, -1]
    assert np.array_equal(r.misclassified(0, 20), np.flatnonzero((s > 0) != (r.data.y_test == 1)))


# ---------------------------------------------------------------------------------------------------
# Recorded per layer: dead and saturated units, update-to-weight ratios; what every unit computes
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_dead_and_saturated_shares_are_counted_from_the_snapshots(engine, act):
    """At every record, from the snapshot's own forward pass over the training set: a unit is dead when
    its ReLU output is 0 on every point, saturated when f'(z) < threshold on every point. Counts of units
    over a width, so exact. Large biases (N(0, 8)) make both happen; the notion that does not apply to an
    activation is NaN."""
    a = activations.get(act)
    ts = TrainScenario(dataset="blobs", classes=3, hidden=(12, 8), activation=act, init="random_normal",
                       stddev=1.0, bias="random_normal", bias_value=8.0, steps=20, restarts=2, n_train=60, n_test=20, dtype="float64", lr=0.05)
    r = training.train(ts, records=4, engine=engine)
    assert r.dead_share.shape == r.saturated_share.shape == (2, len(r.recorded_steps), 2)
    seen = 0.0
    for i in range(2):
        for k, step in enumerate(r.recorded_steps):
            Ws, bs = zip(*r.params(i, int(step)))
            h = r.data.X_train
            for l in range(2):
                z = h @ Ws[l] + bs[l]
                h = a.fn(z)
                dead = np.mean(np.all(h == 0, axis=0)) if a.can_die else np.nan
                sat = (np.mean(np.all(a.deriv(z) < a.saturation_threshold, axis=0))
                       if a.saturation_threshold is not None else np.nan)
                np.testing.assert_allclose(r.dead_share[i, k, l], dead, rtol=0, atol=1e-15)
                np.testing.assert_allclose(r.saturated_share[i, k, l], sat, rtol=0, atol=1e-15)
                seen += np.nan_to_num(dead) + np.nan_to_num(sat)
    if act in ("relu", "tanh", "sigmoid"):
        assert seen > 0  # the test saw dead or saturated units, not only zeros


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_ratios_are_the_last_update_over_the_weights_it_started_from(engine, optimizer):
    """With every step recorded, the recorded ratio at step t is ||W_t - W_(t-1)|| / ||W_(t-1)|| from the
    snapshots t - 1 and t, for every weight layer: the same float64 arithmetic on the same numbers, so
    equal to rounding (1e-13 relative: the norms' scaling by the max differs in order of operations from
    np.linalg.norm by a few ulp). NaN at step 0 and for a zero-initialised layer (undefined)."""
    ts = TrainScenario(dataset="spiral", classes=3, hidden=(6, 5), steps=12, restarts=2, n_train=40, n_test=20,
                       dtype="float64", optimizer=optimizer, batch_size=16, activation="tanh")
    r = training.train(ts, records=12, engine=engine)
    assert r.recorded_steps.tolist() == list(range(13)) and r.update_ratio.shape == (2, 13, 3)
    assert np.isnan(r.update_ratio[:, 0]).all()
    for i in range(2):
        for t in range(1, 13):
            for l, ((W0, _), (W1, _)) in enumerate(zip(r.params(i, t - 1), r.params(i, t))):
                want = np.linalg.norm(W1 - W0) / np.linalg.norm(W0)
                np.testing.assert_allclose(r.update_ratio[i, t, l], want, rtol=1e-13)
    zero = training.train(ts.replace(init="zeros"), records=3, engine=engine)
    Ws = [w for w, _ in zero.params(0, 0)]
    assert all(np.all(w == 0) for w in Ws) and np.isnan(zero.update_ratio[:, 1]).all()


def test_update_ratios_do_not_overflow():
    """Weights of 1e200: ||W||^2 would overflow; the overflow-safe norms give the ratio (here of a difference
    of 1e190 in one entry: 1e-10 / sqrt(entries))."""
    W0 = np.full((2, 4, 3), 1e200)
    W1 = W0.copy()
    W1[:, 0, 0] += 1e190
    np.testing.assert_allclose(training.update_ratio(W0, W1), 1e-10 / math.sqrt(12), rtol=1e-6)
    assert np.isnan(training.update_ratio(np.zeros((1, 2, 2)), np.ones((1, 2, 2)))).all()


@pytest.mark.parametrize("arch", [{}, dict(norm="batch"), dict(block="residual", norm="layer", norm_position="post")],
                         ids=["plain", "plain-batchnorm", "residual-post-layernorm"])
def test_hidden_outputs_are_every_layers_values(arch):
    """Per hidden layer (plain) or the stem then every block (residual), (m, width) float64; the head applied
    to the last one gives the decision function (the same arithmetic: 1e-12 relative)."""
    ts = TrainScenario(dataset="digits", classes=10, hidden=(7, 7, 7), steps=10, restarts=1, n_train=50, n_test=20,
                       dtype="float64", batch_size=10, **arch)
    r = training.train(ts, records=2)
    pts = r.data.X_test[:9]
    outs = r.hidden_outputs(pts, 0, 10)
    assert [o.shape for o in outs] == [(9, 7)] * 3 and all(o.dtype == np.float64 for o in outs)
    W, b = r.params(0, 10)[-1]
    np.testing.assert_allclose(outs[-1] @ W + b, r.decision_function(pts, 0, 10), rtol=1e-12, atol=1e-12)
    if not arch:  # plain: layer by layer from the parameters
        h = pts
        for (W, b), o in zip(r.params(0, 10)[:-1], outs):
            h = np.maximum(h @ W + b, 0)
            np.testing.assert_allclose(o, h, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("engine", ENGINES)
def test_dead_shares_of_a_residual_network_are_counted_from_the_snapshots(engine):
    """Post-norm residual blocks without a norm (stem f(x W0 + b0); block h + alpha (f(h W1 + b1) W2 + b2)): the
    activation layers are the stem's and each block's first, computed here from the snapshots; exact
    counts. Large biases make dead units."""
    ts = TrainScenario(dataset="spiral", classes=3, hidden=(8, 8, 8), block="residual", norm_position="post",
                       branch_layers=2, bias="random_normal", bias_value=4.0, steps=10, restarts=2, n_train=60,
                       n_test=20, dtype="float64")
    r = training.train(ts, records=2, engine=engine)
    assert training.activation_layers(ts) == 3 and r.dead_share.shape == (2, 3, 3)
    assert np.isnan(r.saturated_share).all()  # relu: dead, never saturated
    seen = 0.0
    for i in range(2):
        for k, step in enumerate(r.recorded_steps):
            P = r.params(i, int(step))
            h = np.maximum(r.data.X_train @ P[0][0] + P[0][1], 0)
            want = [np.mean(np.all(h == 0, axis=0))]
            for blk in range(2):
                (W1, b1), (W2, b2) = P[1 + 2 * blk], P[2 + 2 * blk]
                a = np.maximum(h @ W1 + b1, 0)
                want.append(np.mean(np.all(a == 0, axis=0)))
                h = h + ts.alpha() * (a @ W2 + b2)
            np.testing.assert_array_equal(r.dead_share[i, k], want)
            seen += sum(want)
    assert seen > 0


def test_saturated_shares_of_a_batchnorm_network_use_the_running_statistics():
    """A plain tanh network with BatchNorm: the activation sees gamma (z - running mean) / sqrt(running var +
    eps) + beta (the evaluated network); from the snapshots' norms, saturated when tanh' < 0.1 on every
    training point. Counts of units: exact (the same float64 formula, up to the order of a few operations,
    far from changing a comparison at these points)."""
    ts = TrainScenario(dataset="blobs", classes=4, hidden=(10, 10), norm="batch", activation="tanh", steps=40,
                       restarts=2, n_train=64, n_test=20, batch_size=16, dtype="float64", lr=0.5,
                       bias="random_normal", bias_value=3.0)
    r = training.train(ts, records=2)
    a = activations.get("tanh")
    for i in range(2):
        for k, step in enumerate(r.recorded_steps):
            h = r.data.X_train
            want = []
            for (W, b), nrm in zip(r.params(i, int(step))[:-1], r.norms(i, int(step))):
                y = (nrm["gamma"] * (h @ W + b - nrm["running_mean"]) / np.sqrt(nrm["running_var"] + ts.norm_eps)
                     + nrm["beta"])
                want.append(np.mean(np.all(a.deriv(y) < a.saturation_threshold, axis=0)))
                h = np.tanh(y)
            np.testing.assert_array_equal(r.saturated_share[i, k], want)
    assert np.isnan(r.dead_share).all()  # tanh cannot die
    assert r.saturated_share.sum() > 0  # the test saw saturated units


@needs_numba
@pytest.mark.parametrize("arch", [dict(block="residual", norm="batch", branch_layers=2, activation="tanh"),
                                  dict(norm="layer", activation="sigmoid"),
                                  dict(block="residual", norm_position="post", activation="relu")],
                         ids=["pre-batchnorm-tanh", "layernorm-sigmoid", "post-relu"])
def test_the_kernel_counts_dead_and_saturated_units_as_the_numpy_engine(arch):
    """The compiled records count the units in the kernel's evaluation pass (f' as its backward pass takes it),
    the numpy ones from their own pass: the same counts (a unit flips only if one of its values sits within
    rounding of the threshold on every point; none does here), NaN in the same places."""
    ts = TrainScenario(hidden=(8, 8, 8), steps=30, restarts=3, n_train=100, n_test=30, bias="random_normal",
                       bias_value=3.0, dtype="float64", batch_size=20, **arch)
    a, b = (training.train(ts, records=5, engine=e) for e in ("numpy", "numba"))
    assert np.array_equal(a.dead_share, b.dead_share, equal_nan=True)
    assert np.array_equal(a.saturated_share, b.saturated_share, equal_nan=True)
    assert np.nansum(a.dead_share) + np.nansum(a.saturated_share) > 0 or arch.get("activation") == "sigmoid"


def test_classes_follow_a_dataset_chosen_without_them_and_a_request_for_others_is_said():
    """Choosing digits in the form (classes left at 2) or a link that names only the dataset: the classes
    follow it silently. A link that asks for classes the dataset cannot have gets them repaired, with a notice."""
    fixed, notes = repair(TrainScenario(dataset="digits", steps=500), None, set())
    assert fixed.classes == 10 and notes == []
    fixed, notes = repair(TrainScenario(dataset="circles", classes=10, steps=500), None, {"dataset"})
    assert fixed.classes == 2 and notes == []
    fixed, notes = repair(TrainScenario(dataset="digits", classes=3, steps=500), None, {"dataset", "classes"})
    assert fixed.classes == 10 and [n.key for n in notes] == ["tr_classes"]
