"""Training residual and normalised networks: the schema's new fields and their repairs, gradients of the
whole loss against finite differences for every architecture, BatchNorm's running statistics against
PyTorch's update rule computed directly, the merged last mini-batch, snapshots that reproduce the
network as it was at every record, and the compiled kernel's programs against the numpy engine."""

import dataclasses
import itertools

import numpy as np
import pytest

from initlab.training import engine as training
from initlab.training import kernel
from initlab.training.scenario import TRAIN, TrainScenario, irrelevant, repair
from initlab.weights import activations

EPS64 = np.finfo(np.float64).eps
COMPILED = [a for a in activations.names() if activations.get(a).kernel_code is not None]  # the kernel's branches
needs_numba = pytest.mark.skipif(not kernel.AVAILABLE, reason="numba is not installed: only the numpy engine")
ENGINES = ["numpy", pytest.param("numba", marks=needs_numba)]

# Every architecture the engine builds (besides the plain MLP): plain layers with a norm, and residual
# blocks of one or two layers with the norm before the branch (pre) or on the sum (post), without a norm,
# with a fixed or a learned alpha.
ARCHS = [
    dict(norm="batch"), dict(norm="layer"),
    *[dict(block="residual", norm=n, norm_position=p, branch_layers=m)
      for n, p, m in itertools.product(("none", "batch", "layer"), ("pre", "post"), (1, 2))],
    dict(block="residual", norm="batch", branch_layers=2, residual_learned=True, residual_scale=0.5),
    dict(block="residual", norm="none", norm_position="post", residual_learned=True, residual_scale=0.5),
    dict(block="residual", norm="layer", branch_layers=2, residual_rule="inv_sqrt_depth", residual_learned=True),
]


def _name(arch: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in arch.items())


# ---------------------------------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------------------------------

def test_the_default_network_is_the_plain_mlp_with_the_plain_layout():
    ts = TrainScenario()
    assert ts.plain_mlp and not ts.residual and ts.blocks == 0 and ts.norm_widths == ()
    assert ts.layer_shapes == tuple(zip(ts.sizes[:-1], ts.sizes[1:]))
    assert training._layout(ts).P == training._offsets(ts.sizes)[2]
    assert np.array_equal(training.initial_theta(ts, 0), training._pack(training.initial_params(ts, 0)))


def test_architecture_fields_reuse_the_signal_specs_and_get_training_keys():
    for name in ("block", "norm", "norm_position", "branch_layers", "residual_rule", "residual_scale", "norm_eps"):
        assert TRAIN.field(name).key == f"tr_{name}"
    assert TRAIN.field("residual_learned").key == "tr_residual_learned"


def test_impossible_networks_are_repaired_with_a_notice():
    ts, notices = repair(TrainScenario(block="residual", hidden=(8, 6, 8), steps=100))
    assert ts.hidden == (8, 8, 8) and [n.key for n in notices] == ["tr_hidden"]
    ts, notices = repair(TrainScenario(block="residual", hidden=(8,), steps=100))
    assert ts.block == "plain" and [n.key for n in notices] == ["tr_block"]
    ts, notices = repair(TrainScenario(norm="batch", batch_size=1, steps=100))
    assert ts.norm == "none" and [n.key for n in notices] == ["tr_norm"]
    ts, notices = repair(TrainScenario(norm="layer", hidden=(4, 1), steps=100))
    assert ts.norm == "none" and [n.key for n in notices] == ["tr_norm"]
    ts, notices = repair(TrainScenario(block="residual", hidden=(4, 4), residual_rule="fixup", steps=100))
    assert ts.branch_layers == 2 and [n.key for n in notices] == ["tr_branch_layers"]
    ts, notices = repair(TrainScenario(norm="batch", lsuv=True, steps=100))
    assert not ts.lsuv and [n.key for n in notices] == ["tr_lsuv"]
    with pytest.raises(ValueError, match="same width"):
        TrainScenario(block="residual", hidden=(8, 6)).validate()


def test_irrelevant_architecture_fields_go_back_to_their_defaults():
    assert {"norm_position", "branch_layers", "residual_rule", "residual_scale", "residual_learned",
            "norm_eps"} <= set(irrelevant(TrainScenario()))
    ts, notices = repair(TrainScenario(norm_position="post", residual_learned=True, norm_eps=1e-5, steps=100))
    assert ts == TrainScenario(steps=100) and notices == []
    res = TrainScenario(block="residual", hidden=(4, 4), residual_rule="inv_sqrt_depth", steps=100)
    assert "residual_scale" in irrelevant(res) and "norm_eps" in irrelevant(res)


def test_a_link_carries_the_architecture():
    ts = TrainScenario(block="residual", hidden=(6, 6, 6), norm="batch", residual_learned=True, residual_scale=0.0,
                       norm_eps=1e-5, steps=100)
    raw = TRAIN.encode(ts, TrainScenario())
    assert {"tr_block", "tr_norm", "tr_residual_learned", "tr_residual_scale", "tr_norm_eps"} <= set(raw)
    back, notices, _ = TRAIN.decode(raw, TrainScenario())
    assert (back, notices) == (ts, [])


# ---------------------------------------------------------------------------------------------------
# Gradients of the whole loss
# ---------------------------------------------------------------------------------------------------

def _perturbed(ts: TrainScenario, runs: int, rng: np.random.Generator) -> np.ndarray:
    """The initial parameters of ``runs`` restarts, every one moved by N(0, 0.3): gamma != 1, beta != 0 and
    alpha != its start, so that every path of the network (and every parameter's gradient) is exercised."""
    theta = np.stack([training.initial_theta(ts, r) for r in range(runs)])
    return theta + rng.normal(0.0, 0.3, size=theta.shape)


@pytest.mark.parametrize("minibatch", [False, True])
@pytest.mark.parametrize("arch", ARCHS, ids=_name)
def test_gradients_of_the_whole_loss_match_finite_differences(arch, minibatch):
    _check_gradients(arch, minibatch, "tanh")


@pytest.mark.parametrize("act", activations.names())
def test_gradients_match_finite_differences_for_every_activation(act):
    """Every activation's derivative in the block engine (f' from the input of f, where the plain engine
    may take it from the output), in the architecture with every kind of parameter. A kink (relu, ...)
    inside a step of 6e-6 would break a difference; at these random points none is that close."""
    _check_gradients(dict(block="residual", norm="batch", branch_layers=2, residual_learned=True,
                          residual_scale=0.5), True, act)


def _check_gradients(arch: dict, minibatch: bool, act_name: str) -> None:
    """dL/dtheta of the engine's backward pass (training mode: batch statistics) against central
    differences of its forward pass, every parameter of two runs, in float64. Every architecture with tanh:
    smooth, so the differences converge (a ReLU kink inside the step would not).

    Error of a central difference with step h: truncation h^2 / 6 |L'''| plus rounding ~ eps |L| / h; with
    h = eps^(1/3) ~ 6e-6 both are ~ eps^(2/3) ~ 4e-11 times the size of the loss and its third derivative
    (O(1) to O(100) here: a few layers of O(1) weights), hence an absolute tolerance of 1e-7 plus 1e-6
    relative."""
    ts = TrainScenario(dtype="float64", hidden=(3, 3, 3), activation=act_name, init="glorot_normal",
                       nonlinearity=None, bias="random_normal", bias_value=0.3, **arch)
    assert not ts.architecture_problems()
    rng = np.random.default_rng(7)
    runs, n = 2, 9
    theta = _perturbed(ts, runs, rng)
    X = rng.normal(size=(n, 2))
    y = rng.integers(0, 2, size=n).astype(np.float64)
    if minibatch:  # each run its own examples, as a mini-batch step: inputs (runs, 2, n)
        idx = np.stack([rng.permutation(n)[:6] for _ in range(runs)])
        xT, yb = training._features_major(X[idx]), y[idx][:, None, :]
    else:
        xT, yb = training._features_major(X), y[None, None, :]
    lay = training._layout(ts)
    act = activations.get(ts.activation)

    def loss(th):
        p = training._Pass(ts, training._net(th, lay), act, xT)
        s = p.logits[:, 0, :]
        return training._SOFTPLUS(s * (1 - 2 * yb[:, 0, :])).mean(axis=-1).sum()  # summed over the runs

    p = training._Pass(ts, training._net(theta, lay), act, xT)
    grad = np.full_like(theta, np.nan)  # every entry must be written
    p.backward(training._output_grad(p.logits, yb), training._net(grad, lay))
    h = EPS64 ** (1 / 3)
    fd = np.empty_like(theta)
    for r in range(runs):
        for j in range(lay.P):
            up, down = theta.copy(), theta.copy()
            up[r, j] += h
            down[r, j] -= h
            fd[r, j] = (loss(up) - loss(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


def test_a_fixed_alpha_is_not_a_parameter_and_a_learned_one_is():
    fixed = TrainScenario(block="residual", hidden=(4, 4, 4), residual_scale=0.0)
    learned = fixed.replace(residual_learned=True)
    assert training._layout(learned).P == training._layout(fixed).P + 2
    assert np.array_equal(training.initial_theta(learned, 0)[-2:], [0.0, 0.0])  # ReZero: alpha starts at 0


# ---------------------------------------------------------------------------------------------------
# BatchNorm: running statistics, the merged last batch
# ---------------------------------------------------------------------------------------------------

def _reference_bn_stats(ts: TrainScenario, theta: np.ndarray, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per norm of a plain BatchNorm network: the batch mean and unbiased variance over the examples ``x``
    (m, 2), written out directly (Ioffe & Szegedy 2015, Alg. 1; PyTorch BatchNorm1d in training mode)."""
    lay = training._layout(ts)
    net = training._net(theta, lay)
    act = activations.get(ts.activation)
    h, out = x, []
    for l in range(len(ts.hidden)):
        z = h @ net.Ws[l] + net.bs[l]
        mean, var = z.mean(axis=0), z.var(axis=0)
        out.append((mean, z.var(axis=0, ddof=1)))
        h = act.fn((z - mean) / np.sqrt(var + ts.norm_eps) * net.gammas[l] + net.betas[l])
    return out


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batchnorm_running_statistics_follow_pytorchs_rule(optimizer):
    """running = (1 - 0.1) running + 0.1 batch statistic (unbiased variance), from mean 0 and variance 1,
    once per update with the parameters before it: recomputed step by step from the recorded snapshots
    and the batch order. n = 33, batch 8: the last batch of every epoch is merged (9 examples)."""
    ts = TrainScenario(dtype="float64", hidden=(5, 4), norm="batch", n_train=33, n_test=20, batch_size=8,
                       steps=12, restarts=2, optimizer=optimizer, lr=0.05, norm_eps=1e-5)
    assert ts.merge_last_batch
    res = training.train(ts, records=ts.steps)
    assert np.array_equal(res.recorded_steps, np.arange(ts.steps + 1))
    X = res.data.X_train
    for r in range(ts.restarts):
        running = [(np.zeros(w), np.ones(w)) for w in ts.norm_widths]
        for t, idx in enumerate(training.batches(ts, r)):
            got = res.norms(r, t)
            for (m, v), d in zip(running, got):
                # Same formula, sums in another order: a few ulp of the values per step.
                np.testing.assert_allclose(d["running_mean"], m, rtol=1e-12, atol=1e-14)
                np.testing.assert_allclose(d["running_var"], v, rtol=1e-12, atol=1e-14)
            stats = _reference_bn_stats(ts, res.theta[r, t], X[idx])
            running = [(0.9 * m + 0.1 * bm, 0.9 * v + 0.1 * bv) for (m, v), (bm, bv) in zip(running, stats)]
        for (m, v), d in zip(running, res.norms(r, ts.steps)):
            np.testing.assert_allclose(d["running_mean"], m, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(d["running_var"], v, rtol=1e-12, atol=1e-14)


def test_a_last_batch_of_one_example_is_merged_only_with_batchnorm():
    plain = TrainScenario(n_train=33, batch_size=8, steps=10, restarts=1)
    sizes = [len(i) for i in training.batches(plain, 0)]
    assert sizes == [8, 8, 8, 8, 1, 8, 8, 8, 8, 1]  # Keras' short last batch, as before
    bn = plain.replace(norm="batch")
    order = list(training.batches(bn, 0))
    assert [len(i) for i in order] == [8, 8, 8, 9, 8, 8, 8, 9, 8, 8]
    for e in range(2):  # every epoch is still one permutation of the training set
        assert sorted(np.concatenate(order[4 * e:4 * e + 4]).tolist()) == list(range(33))
    assert not plain.replace(norm="batch", batch_size=10).merge_last_batch  # 33 % 10 == 3: nothing to merge
    assert not plain.replace(norm="layer").merge_last_batch


# ---------------------------------------------------------------------------------------------------
# Training: records, snapshots, engines
# ---------------------------------------------------------------------------------------------------

RESIDUAL_BN = dict(block="residual", hidden=(6, 6, 6), norm="batch", branch_layers=2, residual_learned=True,
                   residual_scale=0.0, n_train=60, n_test=40, batch_size=16, steps=40, restarts=3,
                   optimizer="adam", lr=0.02, dataset="moons")


def test_snapshots_reproduce_the_evaluated_network_at_every_record():
    """The decision function at a recorded step (parameters and running statistics of then) gives back the
    recorded losses and accuracies, which were measured on the evaluated network (running statistics)."""
    ts = TrainScenario(dtype="float64", **RESIDUAL_BN)
    res = training.train(ts, records=4)
    d = res.data
    for r, k in itertools.product(range(ts.restarts), range(len(res.recorded_steps))):
        step = int(res.recorded_steps[k])
        s_train = res.decision_function(d.X_train, r, step)
        s_test = res.decision_function(d.X_test, r, step)
        loss, acc = training._loss_acc(s_train[None], d.y_train)
        test_loss, test_acc = training._loss_acc(s_test[None], d.y_test)
        assert (acc[0], test_acc[0]) == (res.train_acc[r, k], res.test_acc[r, k])
        np.testing.assert_allclose([loss[0], test_loss[0]], [res.loss[r, k], res.test_loss[r, k]], rtol=1e-14)
    # Step 0: the initial parameters and the initial running statistics (mean 0, variance 1).
    net0 = res.norms(0, 0)
    assert all(np.array_equal(n["running_mean"], np.zeros(6)) and np.array_equal(n["running_var"], np.ones(6))
               for n in net0)
    assert np.array_equal(res.theta[0, 0], training.initial_theta(ts, 0))
    assert not np.array_equal(res.norm_state[:, -1], res.norm_state[:, 0])  # they moved
    assert res.alpha.shape == (3, len(res.recorded_steps), 2) and np.all(res.alpha[:, 0] == 0)
    assert np.all(res.alpha[:, -1] != 0)  # ReZero's alpha is trained away from 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_restart_is_the_first_restart_of_the_next_seed(engine):
    """Restarts run batched but independently: restart 2 is restart 0 of seed + 2, bit for bit (the
    overflow-safe norm decides slice by slice, never for all runs at once; the kernel runs one run at a
    time)."""
    ts = TrainScenario(**RESIDUAL_BN)
    a = training.train(ts, records=2, engine=engine)
    b = training.train(ts.replace(seed=2, restarts=1), records=2, engine=engine)
    assert np.array_equal(a.theta[2], b.theta[0]) and np.array_equal(a.norm_state[2], b.norm_state[0])
    assert np.array_equal(a.loss[2], b.loss[0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("arch", ARCHS, ids=_name)
def test_every_architecture_trains_and_records(arch, engine):
    ts = TrainScenario(hidden=(4, 4, 4), steps=30, restarts=2, batch_size=20, n_train=50, n_test=30, lr=0.05,
                       **arch)
    res = training.train(ts, records=3, engine=engine)
    L = len(ts.layer_shapes)
    assert res.engine == engine and res.grad_norm.shape == (2, 4, L) and res.distinct.shape == (2, 4, L - 1)
    assert np.isfinite(res.loss).all() and np.isfinite(res.grad_norm).all() and (res.grad_norm[:, 0] > 0).any()
    assert len(res.params(0, 30)) == L and len(res.norms(0, 30)) == len(ts.norm_widths)
    assert res.weight_norm.shape == (2, 4, L)
    assert res.layers.shape[0] == 2 * 4 * L and len(res.runs) == 2


def test_the_setup_line_says_what_the_network_is():
    from initlab.training.summaries import setup_line

    ts = TrainScenario(block="residual", hidden=(6, 6, 6), norm="batch", branch_layers=2, residual_learned=True,
                       residual_scale=0.0)
    assert ("hidden layers 6 × 3 (stem + 2 residual blocks, pre-norm BatchNorm, 2 layers per branch, alpha "
            "learned from 0), relu") in setup_line(ts)
    assert "hidden layers 10, 5 (LayerNorm after each), relu" in setup_line(TrainScenario(norm="layer"))
    assert "hidden layers 10, 5, relu" in setup_line(TrainScenario())


def test_auto_takes_the_compiled_engine_for_every_network_it_has_the_activation_of(monkeypatch):
    """``auto`` trains residual and normalised networks compiled whenever the activation has a kernel branch;
    an activation without one trains with numpy, and only an explicit ``engine="numba"`` is refused."""
    ts = TrainScenario(norm="layer", block="residual", hidden=(4, 4), steps=5, restarts=1)
    assert training.train(ts, records=1).engine == ("numba" if kernel.AVAILABLE else "numpy")
    new = dataclasses.replace(activations.get("elu"), name="elu_copy", kernel_code=None)
    monkeypatch.setitem(activations._REGISTRY, "elu_copy", new)
    assert training.train(ts.replace(activation="elu_copy"), records=1).engine == "numpy"
    with pytest.raises(ValueError, match="no kernel code for activation 'elu_copy'"):
        training.train(ts.replace(activation="elu_copy"), engine="numba")


def test_zero_init_in_residual_branches_is_broken_by_the_identity_path():
    """Zeros in every branch and the stem random: the identity path gives every branch unit its own
    gradient, so the branch layers' units come apart (a plain network keeps them equal)."""
    ts = TrainScenario(block="residual", hidden=(5, 5), steps=50, restarts=1, dtype="float64", lr=0.1)
    init = training.initial_theta(ts, 0)
    lay = training._layout(ts)
    zero = training._net(init[None].copy(), lay)
    assert zero.Ws[1].any()  # the branch starts random; zero it below through a custom start
    trainer = training._Trainer([ts], 2, "numpy")
    net = training._net(trainer.theta, lay)
    net.Ws[1][...] = 0
    net.bs[1][...] = 0
    trainer.snap[:, 0] = trainer.theta
    trainer.k = 0
    trainer._record()
    assert trainer.distinct[0, 0, 1] == 1  # every branch unit alike at the start
    while not trainer.done:
        trainer.advance()
    assert trainer.distinct[0, -1, 1] == 5


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("arch", [dict(norm="batch"), dict(block="residual", norm="batch", norm_position="post",
                                                                  branch_layers=2),
                                  dict(block="residual", norm="layer", residual_learned=True)], ids=_name)
def test_a_blown_up_run_is_recorded_not_raised(arch, engine):
    """N(0, 100^2) weights and lr 5 with momentum: the runs overflow (float32), and the record says so
    (NaN or inf, diverged) without an exception or a numpy warning, as for plain networks."""
    ts = TrainScenario(hidden=(6, 6, 6), steps=60, restarts=3, batch_size=32, lr=5.0, optimizer="momentum",
                       **arch).with_init("random_normal", stddev=100.0)
    res = training.train(ts, records=3, engine=engine)
    assert res.engine == engine and res.loss.shape == (3, 4)
    if "block" in arch:
        assert res.diverged.any()  # measured: all three, in both engines
    res.decision_function(res.data.X_test, 0, 60)
    res.summary()


# ---------------------------------------------------------------------------------------------------
# The compiled kernel: one program of ops per network, against the numpy engine
# ---------------------------------------------------------------------------------------------------

# ARCHS and Fixup (its zero last branch layers, its scaled first ones).
KERNEL_ARCHS = [*ARCHS, dict(block="residual", norm="batch", branch_layers=2, residual_rule="fixup")]
# 56 training points: full batch; batches of 16 (a short last batch of 8); batches of 11 (a last batch of
# 1, merged into the one before it with a BatchNorm, a batch of its own otherwise).
BATCHES = {"full": 0, "minibatch": 16, "merged": 11}


def _both_engines(dtype: str, **changes) -> tuple[training.TrainResult, training.TrainResult]:
    ts = TrainScenario(hidden=(5, 5, 5), steps=30, restarts=2, n_train=56, n_test=30, dtype=dtype,
                       activation="tanh", bias="random_normal", bias_value=0.1, dataset="moons")
    ts = ts.replace(**{"lr": 0.01 if changes.get("optimizer") == "adam" else 0.05, **changes})
    assert not ts.architecture_problems()
    return training.train(ts, engine="numpy", records=3), training.train(ts, engine="numba", records=3)


def _assert_same_training(a: training.TrainResult, b: training.TrainResult, rtol: float) -> None:
    """The records of the two engines agree within ``rtol`` (parameters and running statistics relative to
    their largest magnitude in the run); accuracies exactly."""
    np.testing.assert_allclose(b.loss, a.loss, rtol=rtol)
    np.testing.assert_allclose(b.test_loss, a.test_loss, rtol=rtol)
    for x, y in ((a.theta, b.theta), (a.norm_state, b.norm_state)):
        scale = np.abs(x).max(axis=(1, 2), keepdims=True) if x.size else 1.0
        np.testing.assert_allclose(y / scale, x / scale, rtol=0, atol=rtol)
    np.testing.assert_allclose(b.grad_norm, a.grad_norm, rtol=100 * rtol, atol=rtol * a.grad_norm.max())
    assert np.array_equal(b.train_acc, a.train_acc) and np.array_equal(b.test_acc, a.test_acc)
    assert np.array_equal(b.distinct, a.distinct)


@needs_numba
@pytest.mark.parametrize("batches", BATCHES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("arch", KERNEL_ARCHS, ids=_name)
def test_the_kernel_trains_every_architecture_as_the_numpy_engine(arch, optimizer, batches):
    """float64, 30 steps. Both engines compute the same operations; they differ in the order of sums (the
    kernel's vectorised, reassociated ones, numpy's pairwise ones: the weight gradients and a norm's
    statistics alike), fused multiply-adds, f' taken from the activation's output or input, and the
    exp: a few ulp (2.2e-16) per operation. Through ~15 operations a pass and 30 steps of a stable
    descent they add up about linearly, to ~1e-13 (measured over these cases: losses 1e-13, parameters
    8e-14 of their largest); 1e-10 leaves three orders for a BatchNorm's 1 / sigma over batches of 8 to
    amplify them. A real difference (a wrong batch, term, alpha or running statistic) moves the losses
    by 1e-4 or more within a few steps. The gradient norms are measured on the full training set by each
    engine's own code: 100 times looser, since a small one is the difference of larger terms (measured:
    2e-12)."""
    a, b = _both_engines("float64", optimizer=optimizer, batch_size=BATCHES[batches], **arch)
    assert a.scenario.merge_last_batch == (batches == "merged" and arch.get("norm") == "batch")
    _assert_same_training(a, b, rtol=1e-10)


@needs_numba
@pytest.mark.parametrize("arch", KERNEL_ARCHS, ids=_name)
def test_the_kernel_trains_every_architecture_as_the_numpy_engine_in_float32(arch):
    """float32, 30 Adam steps with the merged last batch. The same differences as in float64 with a unit
    roundoff of 6e-8: adding up linearly over ~15 operations and 30 steps, ~3e-5 at worst (measured: losses
    2e-6, gradient norms 5e-5 < 100 x 1e-4); 1e-4 leaves a margin of 3 and stays far below what a wrong
    term changes."""
    a, b = _both_engines("float32", optimizer="adam", batch_size=BATCHES["merged"], **arch)
    _assert_same_training(a, b, rtol=1e-4)


@needs_numba
@pytest.mark.parametrize("act", COMPILED)
def test_the_kernel_trains_a_residual_batchnorm_network_as_numpy_with_every_activation(act):
    """Every activation with a kernel branch in the network with every kind of parameter (pre-norm
    BatchNorm, two layers a branch, learned alpha), merged mini-batches, Adam; tolerances as above.
    Measured: 2e-13 or less, except the parameters of the linear activation, 1.3e-11: there a block's first
    beta reaches the next BatchNorm through linear maps only, so its gradient is 0 in exact arithmetic and
    rounding noise (~1e-17) in each engine, which Adam turns into steps of lr x noise / epsilon ~ 1e-12:
    ~3e-11 at most after 30 steps."""
    a, b = _both_engines("float64", activation=act, optimizer="adam", batch_size=BATCHES["merged"],
                         block="residual", norm="batch", branch_layers=2, residual_learned=True,
                         residual_scale=0.5)
    _assert_same_training(a, b, rtol=1e-10)


@needs_numba
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype, factor", [("float64", 1e155), ("float64", 1e-155), ("float32", 1e19)])
@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_the_kernel_normalises_overflowing_slices_as_the_numpy_engine(norm, dtype, factor):
    """The first layer's weights scaled so far that its norm's plain variance overflows (its squares: 1e310
    > 1.8e308 in float64, 1e38 x 32 examples > 3.4e38 in float32) or underflows below tiny / eps (1e-310):
    both engines switch those slices to the overflow-safe form of initlab.signal.blocks.normalize, so they
    still agree (to a few ulp a step, as above; float32's own 1e-4) and the numbers stay finite. Without
    that form the kernel's normalised values would be NaN, 0 or tiny, and the first norm's gamma and beta
    (whose gradients are sums over them) would train differently."""
    ts = TrainScenario(hidden=(6, 6, 6), steps=5, restarts=2, batch_size=32, lr=1e-3, dtype=dtype, norm=norm)
    out = []
    for engine in ("numpy", "numba"):
        trainer = training._Trainer([ts], ts.steps, engine)
        training._net(trainer.theta, training._layout(ts)).Ws[0][...] *= factor
        trainer.k = 0
        trainer._record()
        while not trainer.done:
            trainer.advance()
        out.append(trainer.results()[0])
    a, b = out
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(b.loss, a.loss, rtol=rtol)
    assert np.isfinite(a.theta).all() and np.isfinite(b.theta).all()
    na, nb = (training._net(r.theta.astype(np.float64), training._layout(ts)) for r in (a, b))
    for x, y in zip(na.gammas + na.betas, nb.gammas + nb.betas):  # their gradients are sums over u
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * np.abs(x).max())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("arch", [dict(norm="batch"), dict(block="residual", norm="batch", branch_layers=2),
                                  dict(block="residual", norm="batch", norm_position="post", branch_layers=2),
                                  dict(block="residual", norm="batch")], ids=_name)
def test_biases_a_batchnorm_cancels_stay_at_their_initial_value(arch, engine):
    """Their gradient is exactly 0 (TrainScenario.cancelled_biases), so even Adam, which divides rounding
    noise by its epsilon into real steps, never moves them; every other bias moves (tanh: no dead unit)."""
    ts = TrainScenario(hidden=(5, 5, 5), steps=40, restarts=2, batch_size=16, n_train=56, optimizer="adam",
                       lr=0.01, bias="random_normal", bias_value=0.1, activation="tanh", **arch)
    res = training.train(ts, records=4, engine=engine)
    bs = training._net(res.theta, training._layout(ts)).bs
    assert ts.cancelled_biases
    for l, b in enumerate(bs):
        if l in ts.cancelled_biases:
            assert np.array_equal(b, np.broadcast_to(b[:, :1], b.shape)), l  # every record the initial one
        else:
            assert (b[:, -1] != b[:, 0]).all(), l


def test_a_program_shares_gradient_buffers_and_accumulates_the_residual_stream():
    """A plain MLP is LINEAR, ACT, ..., OUTPUT, each activation's f' applied in place; a deep residual
    network hands the stream's gradient on by adding to one buffer, and needs a few buffers, not one per
    slot (32 pre-norm BatchNorm blocks of two layers, built with Program directly)."""
    K = kernel
    plain, dmap, _ = training._kernel_program(TrainScenario(hidden=(10, 5)))
    assert plain[:, K.F_OP].tolist() == [K.OP_LINEAR, K.OP_ACT, K.OP_LINEAR, K.OP_ACT, K.OP_LINEAR, K.OP_OUTPUT]
    assert plain[:, K.F_DACC].tolist() == [K.GRAD_NONE, K.GRAD_SAME, K.GRAD_WRITE, K.GRAD_SAME, K.GRAD_WRITE,
                                           K.GRAD_WRITE]
    prog = K.Program(inputs=2)
    o = iter(range(0, 10**6, 100))  # parameter offsets do not matter here
    h = prog.act(prog.norm(prog.linear(0, 8, next(o), next(o), True), K.NORM_BATCH, next(o), 1e-3, 0), 3)
    for _ in range(32):
        x = h
        for _ in range(2):
            x = prog.linear(prog.act(prog.norm(x, K.NORM_BATCH, next(o), 1e-3, 0), 3), 8, next(o), next(o))
        h = prog.add(h, x)
    prog.output(prog.linear(h, 1, next(o), next(o)))
    ops, dmap, fc = prog.build("float32")
    assert len(dmap) > 250 and dmap.max() + 1 <= 4
    first_norms = [r for r in ops if r[K.F_OP] == K.OP_NORM][1::2]  # every block's first norm reads the stream
    assert len(first_norms) == 32 and all(r[K.F_DACC] == K.GRAD_ADD for r in first_norms)
    assert fc.dtype == np.float32
    # What the buffer sharing cannot serve is refused, not miscomputed.
    bad = K.Program(inputs=2)
    h = bad.linear(0, 4, 0, 8)
    s = bad.add(h, bad.act(h, 3))
    bad.output(bad.linear(bad.add(s, h), 1, 12, 16))  # h read again after its first sum
    with pytest.raises(ValueError, match="read after its sum"):
        bad.build("float64")
    unread = K.Program(inputs=2)
    unread.act(unread.linear(0, 4, 0, 8), 3)  # an output nothing reads
    unread.output(unread.linear(0, 1, 12, 14))
    with pytest.raises(ValueError, match="read by nothing"):
        unread.build("float64")


@needs_numba
def test_warm_up_compiles_what_every_network_runs():
    """Every network is data (a program) for one compiled function per dtype, so after warm_up training
    any architecture, full batch, in mini-batches or with a merged last batch, compiles nothing more."""
    training.warm_up()
    compiled = (kernel._kernel, kernel._mlp_kernel, kernel.softmax_loss_acc)
    before = [len(f.signatures) for f in compiled]
    for arch, dtype, batch in itertools.product(KERNEL_ARCHS[::3], ("float32", "float64"), (0, 16, 11)):
        ts = TrainScenario(hidden=(3, 3, 3), steps=2, restarts=1, n_train=56, n_test=10, batch_size=batch,
                           dtype=dtype, **arch)
        assert training.train(ts, records=1).engine == "numba"
    # Records closer together than an epoch, several restarts: the batch order's window of held epochs is then
    # a slice of them, which numba would have compiled the whole kernel again for (a non-contiguous layout).
    training.train(TrainScenario(hidden=(3,), steps=40, restarts=3, n_train=56, batch_size=8), records=20)
    # Digits, wide enough for the BLAS kernel, from a random and a zero init (the hand loops), both dtypes.
    for dtype, batch in itertools.product(("float32", "float64"), (0, 16)):
        ts = TrainScenario(dataset="digits", classes=10, hidden=(16,), steps=3, restarts=2, n_train=40, n_test=12,
                           batch_size=batch, dtype=dtype)
        training.train_many([ts, ts.with_init("zeros")], records=2)
    assert [len(f.signatures) for f in compiled] == before
