"""Keras / PyTorch snippets: they compile for every initializer and carry the right calls and numbers."""

import contextlib
import dataclasses
import io
import math
import sys
import types

import numpy as np
import pytest

from initlab.teaching import codegen
from initlab.weights import initializers
from initlab.signal.scenario import Scenario

INITS = initializers.names()
ACTS = ("linear", "relu", "tanh", "gelu", "leaky_relu")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("init", INITS)
def test_snippets_compile(init, act):
    s = Scenario(init=init, activation=act, depth=3, width=16, batch=4)
    for code in (codegen.keras_snippet(s), codegen.pytorch_snippet(s)):
        compile(code, "<snippet>", "exec")
        assert "print(" in code and "range(3)" in code


@pytest.mark.parametrize("extra", [dict(shared=True), dict(bias="constant", bias_value=0.1),
                                   dict(bias="random_normal", bias_value=-0.3), dict(inputs="raw"),
                                   dict(inputs="minmax"), dict(dtype="float64")])
def test_options_compile_and_appear(extra):
    s = Scenario(depth=4, width=8, batch=2, **extra)
    k, t = codegen.keras_snippet(s), codegen.pytorch_snippet(s)
    for code in (k, t):
        compile(code, "<snippet>", "exec")
    if extra.get("shared"):
        assert "[one] * 4" in k and "[one] * 4" in t
    if extra.get("bias") == "constant":
        assert "Constant(value=0.1)" in k and "constant_(b, 0.1)" in t
    if extra.get("bias") == "random_normal":
        assert "stddev=0.3" in k and "std=0.3" in t  # the engine uses |bias_value| as the std
    if extra.get("inputs") == "raw":
        assert "* 255.0" in k and "* 255.0" in t
    if extra.get("dtype") == "float64":
        assert 'set_floatx("float64")' in k and "torch.float64" in t


def test_random_normal_numbers():
    s = Scenario(init="random_normal", stddev=1.0, activation="linear", depth=250)
    k, t = codegen.keras_snippet(s), codegen.pytorch_snippet(s)
    assert "RandomNormal(mean=0.0, stddev=1.0)" in k and "nn.init.normal_(w, mean=0.0, std=1.0)" in t
    assert "range(250)" in k and "Linear(256, 256" in t
    d = codegen.keras_snippet(Scenario(init="random_normal"))
    assert "stddev=0.05" in d  # the Keras default when the scenario leaves it unset


def test_keras_names_and_torch_equivalents():
    def both(**kw):
        s = Scenario(depth=2, width=256, batch=2, **kw)
        return codegen.keras_snippet(s), codegen.pytorch_snippet(s)

    k, t = both(init="glorot_uniform")
    assert "GlorotUniform()" in k and "xavier_uniform_(w)" in t
    k, t = both(init="he_normal", activation="relu")
    sd = math.sqrt(2 / 256) / initializers.TRUNCATED_NORMAL_STD  # Keras rescales the truncated draw
    assert "HeNormal()" in k and f"std={sd!r}" in t and f"a={-2 * sd!r}" in t and "trunc_normal_" in t
    k, t = both(init="he_uniform")
    assert "HeUniform()" in k and 'kaiming_uniform_(w, nonlinearity="relu")' in t
    k, t = both(init="small_uniform")
    assert "RandomUniform(minval=0.0, maxval=0.1)" in k and "uniform_(w, a=0.0, b=0.1)" in t
    k, t = both(init="torch_linear")
    assert "RandomUniform(minval=-0.0625, maxval=0.0625)" in k and "a=math.sqrt(5)" in t  # 1/sqrt(256)
    k, t = both(init="xavier_heuristic")
    assert "maxval=0.0625" in k and "b=0.0625" in t
    k, t = both(init="torch_kaiming_normal", nonlinearity="relu", mode="fan_out")
    assert 'VarianceScaling(scale=2.0000000000000004, mode="fan_out", distribution="untruncated_normal")' in k
    assert 'kaiming_normal_(w, a=0.0, mode="fan_out", nonlinearity="relu")' in t
    k, t = both(init="torch_trunc_normal", stddev=0.02)
    assert "trunc_normal_init" in k and "nn.init.trunc_normal_(w, mean=0.0, std=0.02, a=-2.0, b=2.0)" in t
    k, t = both(init="variance_scaling", scale=2.0, mode="fan_avg", distribution="uniform")
    assert 'VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")' in k
    assert f"b={math.sqrt(3 * 2 / 256)!r}" in t
    k, t = both(init="orthogonal", gain=1.5)
    assert "Orthogonal(gain=1.5)" in k and "orthogonal_(w, gain=1.5)" in t
    k, t = both(init="identity")
    assert "Identity(gain=1.0)" in k and "eye_(w)" in t
    k, t = both(init="truncated_normal", stddev=0.1)
    assert "TruncatedNormal(mean=0.0, stddev=0.1)" in k and "a=-0.2, b=0.2" in t
    k, t = both(init="constant", value=0.3)
    assert "Constant(value=0.3)" in k and "constant_(w, 0.3)" in t
    k, t = both(init="zeros", activation="gelu")
    assert "Zeros()" in k and "zeros_(w)" in t and "approximate=True" in k and 'approximate="tanh"' in t


def test_layout_is_explained():
    s = Scenario(depth=2, width=8, batch=2)
    assert "(out_features, in_features)" in codegen.pytorch_snippet(s)
    assert "(fan_in, fan_out)" in codegen.keras_snippet(s)


def test_invalid_scenario_raises():
    with pytest.raises(ValueError, match="nope"):
        codegen.keras_snippet(Scenario(init="nope"))


# ------------------------------------------------------------------------------------------------
# Running the snippets without Keras or PyTorch: a numpy stand-in for the few Keras calls they make,
# and the std helper they define. tests/test_frameworks.py runs them on the real frameworks.


def _fake_keras(backend: str = "numpy") -> types.ModuleType:
    """A numpy stand-in for the Keras 3 calls a snippet makes; its Dense layers are linear, no bias."""

    class Dense:
        def __init__(self, units, activation=None, kernel_initializer=None, bias_initializer=None):
            self.units, self.kernel_initializer, self.kernel = units, kernel_initializer, None

        def __call__(self, h):
            if self.kernel is None:  # Keras builds (draws) the kernel on the first call
                self.kernel = np.asarray(self.kernel_initializer((h.shape[1], self.units), dtype=str(h.dtype)))
            return h @ self.kernel

    keras = types.ModuleType("keras")
    keras.config = types.SimpleNamespace(set_floatx=lambda name: None)
    keras.utils = types.SimpleNamespace(set_random_seed=lambda seed: None)
    keras.backend = types.SimpleNamespace(backend=lambda: backend)
    keras.layers = types.SimpleNamespace(Dense=Dense)
    keras.initializers = types.SimpleNamespace(Ones=lambda: lambda shape, dtype: np.ones(shape, dtype=dtype))
    keras.ops = types.SimpleNamespace(convert_to_tensor=lambda x, dtype=None: np.asarray(x, dtype=dtype),
                                      convert_to_numpy=np.asarray, std=np.std)
    return keras


def _run_keras(s: Scenario, monkeypatch, backend: str = "numpy") -> tuple[dict, str]:
    """Execute ``keras_snippet(s)`` on the numpy stand-in; (its namespace, what it printed)."""
    monkeypatch.setitem(sys.modules, "keras", _fake_keras(backend))
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.errstate(all="ignore"):  # the old np.std overflowed here
        exec(compile(codegen.keras_snippet(s), "<keras snippet>", "exec"), ns)
    return ns, out.getvalue()


def test_keras_trunc_normal_draws_a_new_matrix_per_layer(monkeypatch):
    # The generator used to be seeded inside the initializer function: every layer got the same matrix.
    s = Scenario(init="torch_trunc_normal", activation="linear", depth=3, width=8, batch=2)
    code = codegen.keras_snippet(s)
    body = code.split("def trunc_normal_init")[1].split("\n\n")[0]
    assert "default_rng" not in body and "trunc_rng = np.random.default_rng" in code
    ns, _ = _run_keras(s, monkeypatch)
    k = [layer.kernel for layer in ns["layers"]]
    assert not np.array_equal(k[0], k[1]) and not np.array_equal(k[1], k[2])
    assert all(np.all((w >= -2.0) & (w <= 2.0)) for w in k)
    ns2, _ = _run_keras(s, monkeypatch)  # still reproducible: the same seed gives the same matrices
    assert all(np.array_equal(a.kernel, b.kernel) for a, b in zip(ns["layers"], ns2["layers"]))


def _std_helper(code: str) -> dict:
    """The ``std`` and ``report`` functions a snippet defines, executed on their own with numpy."""
    lines = code.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("def std(")), None)
    assert start is not None, "the snippet defines no std helper"
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("def dense", "@torch")))
    ns: dict = {"np": np}
    exec("\n".join(lines[start:end]), ns)
    return ns


@pytest.mark.parametrize("which", ["keras", "pytorch"])
def test_printed_std_does_not_overflow(which):
    """float32 std accumulations overflow while every value is finite (torch's h.std() and
    keras.ops.std printed inf, then NaN, a few layers early; numpy's from ~1e19); the helper divides
    by max |h| first and works in float64, like initlab.numerics.stats.moments."""
    s = Scenario(depth=2, width=8, batch=2)
    std = _std_helper(codegen.keras_snippet(s) if which == "keras" else codegen.pytorch_snippet(s))["std"]
    rng = np.random.default_rng(0)
    big32 = (rng.standard_normal(4096) * 1e30).astype(np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.std(big32))  # what squaring in float32 gives
    assert std(big32) == (pytest.approx(float(np.std(big32.astype(np.float64))), rel=1e-12), 0.0)
    big64 = rng.standard_normal(4096) * 1e200
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.std(big64))
    assert std(big64)[0] == pytest.approx(1e200 * float(np.std(big64 / 1e200)), rel=1e-12)
    with_inf = np.array([1.0, 3.0, np.inf, -np.inf], dtype=np.float32)
    assert std(with_inf) == (1.0, 0.5)  # std of the finite values, and the inf/NaN fraction
    assert std(np.zeros(3)) == (0.0, 0.0)
    sd, bad = std(np.array([np.nan, np.inf]))
    assert math.isnan(sd) and bad == 1.0


def test_keras_snippet_prints_finite_std_up_to_the_float32_limit(monkeypatch):
    # ones, linear, width 128: h_l = 128^(l-1) (x 1) 1^T, so std_l = 128^(l-1) std_b(x 1) exactly, and at
    # depth 18 the largest value is ~1e38 < 3.4e38: finite, though squares overflow from layer ~10 on.
    s = Scenario(init="ones", activation="linear", depth=18, width=128, batch=4)
    ns, out = _run_keras(s, monkeypatch)
    printed = [float(line.split()[3]) for line in out.splitlines() if line.startswith("layer")]
    row_sums = ns["x"].astype(np.float32).sum(axis=1, dtype=np.float64)
    want = [128.0 ** (layer - 1) * float(np.std(row_sums)) for layer in range(1, 19)]
    assert ns["h"].dtype == np.float32 and np.isfinite(ns["h"]).all()
    assert printed == pytest.approx(want, rel=1e-3)  # 4 printed digits, float32 sums


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_float64_warns_off_tensorflow(monkeypatch, dtype):
    # keras.backend.result_type maps float64 to float32 on every backend but TensorFlow, so Keras on
    # torch computes a float64 Dense layer in float32 (overflowing above 3.4e38): the snippet says so.
    s = Scenario(init="ones", activation="linear", depth=2, width=8, batch=2, dtype=dtype)
    for backend, warned in (("torch", dtype == "float64"), ("tensorflow", False)):
        _, out = _run_keras(s, monkeypatch, backend)
        assert ("computes these float64 layers in float32" in out) == warned
        assert ("KERAS_BACKEND=tensorflow" in out) == warned


def test_torch_linear_bias_in_both_snippets():
    s = Scenario(depth=2, width=256, batch=2, bias="torch_linear")
    k, t = codegen.keras_snippet(s), codegen.pytorch_snippet(s)
    for code in (k, t):
        compile(code, "<snippet>", "exec")
    assert "RandomUniform(minval=-0.0625, maxval=0.0625)" in k  # 1/sqrt(256)
    assert "nn.init.uniform_(b, -1 / math.sqrt(256), 1 / math.sqrt(256))" in t


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [0, 32])
def test_training_snippet_compiles_and_starts_from_initlabs_weights(optimizer: str, batch_size: int) -> None:
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(optimizer=optimizer, batch_size=batch_size, activation="tanh", hidden=(7, 3), restarts=4)
    code = codegen.pytorch_training_snippet(ts, 3)
    compile(code, "<training snippet>", "exec")
    assert "initial_params(ts, restart)" in code and "make_data(ts)" in code and "restart = 3 " in code
    assert "lin.weight.copy_(torch.tensor(W.T" in code and "lin.bias.copy_(torch.tensor(b" in code
    assert code.count("nn.Tanh()") == 1 and "if i < 2:" in code  # an activation after each hidden layer only
    assert "for step, idx in enumerate(batches(ts, restart)):" in code and "randperm" not in code
    assert ("torch.optim" in code) == (optimizer != "adam")  # Adam is written out as Keras 3 computes it
    for bad in (4, -1, 1.0, True):
        with pytest.raises(ValueError, match="restart must be a whole number in \\[0, 3\\]"):
            codegen.pytorch_training_snippet(ts, bad)


@pytest.mark.parametrize("batch_size", [0, 30, 32])
def test_training_snippets_batches_are_the_engines(monkeypatch, batch_size: int) -> None:
    """The snippet iterates over ``training.batches(ts, restart)``: it must list exactly the examples the
    engine trains restart ``restart`` on, update by update (one shuffle per epoch, 300 = 9 x 32 + a short
    12), across epochs and across the engine's windows of held epochs (2 here). Seen from inside the numpy
    engine: the inputs of every forward pass of a training step (the records evaluate all points)."""
    from initlab.training import engine as training
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(steps=45, restarts=3, batch_size=batch_size, hidden=(3,), dtype="float64")
    restart = 2
    assert "for step, idx in enumerate(batches(ts, restart)):" in codegen.pytorch_training_snippet(ts, restart)
    seen = []
    forward, init = training._forward, training._BatchOrder.__init__

    def spy(Ws, bs, x, act):
        if x.ndim == 3 or x.shape[0] == ts.n_train:  # a step's batches (runs, batch, 2), or all points
            seen.append(np.array(x))
        return forward(Ws, bs, x, act)

    def two_epochs(self, *a, **kw):
        init(self, *a, **kw)
        self.max_epochs = 2

    monkeypatch.setattr(training, "_forward", spy)
    monkeypatch.setattr(training._BatchOrder, "__init__", two_epochs)
    res = training.train(ts, records=1, engine="numpy")  # records step 0 and 45 only
    X = res.data.X_train
    steps = seen[1:-1]  # seen[0], seen[-1]: the records' evaluations of the training set
    assert len(steps) == ts.steps
    order = list(training.batches(ts, restart))
    assert len(order) == ts.steps and order[9].size == (12 if batch_size == 32 else ts.batch)
    for t, idx in enumerate(order):
        x = steps[t] if steps[t].ndim == 2 else steps[t][restart]
        assert np.array_equal(x, X[idx]), t


@pytest.mark.parametrize("act", ["leaky_relu", "softplus"])
def test_activation_code_comes_from_the_registry(act, monkeypatch):
    """The three snippets print the registry's Keras / PyTorch expressions: mark one activation's entry and
    every snippet must follow it (no activation map of codegen's own)."""
    from initlab.training.scenario import TrainScenario
    from initlab.weights import activations

    marked = dataclasses.replace(activations.get(act), keras="MARK_KERAS", torch="MARK_TORCH()", torch_note="note")
    monkeypatch.setitem(activations._REGISTRY, act, marked)
    s = Scenario(depth=2, width=4, batch=2, activation=act)
    assert "activation=MARK_KERAS," in codegen.keras_snippet(s)
    assert "\nact = MARK_TORCH()  # note\n" in codegen.pytorch_snippet(s)
    code = codegen.pytorch_training_snippet(TrainScenario(activation=act, hidden=(3,), restarts=1), 0)
    assert "layers.append(MARK_TORCH())\n" in code  # no trailing comment inside the call
