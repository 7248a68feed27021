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
from initlab.weights import activations, initializers
from initlab.weights import biases as initlab_biases
from initlab.signal.scenario import Scenario

INITS = initializers.names()
ACTS = ("linear", "relu", "tanh", "gelu", "leaky_relu")


@pytest.mark.parametrize("extra", [dict(shared=True), dict(bias="constant", bias_value=0.1),
                                   dict(bias="random_normal", bias_value=-0.3), dict(bias="torch_linear"),
                                   dict(inputs="raw"), dict(inputs="minmax"), dict(dtype="float64")])
def test_options_take_effect(extra, monkeypatch):
    """Each option as written and as run (numpy stand-ins of Keras and PyTorch): one shared matrix,
    the bias init, the inputs and the dtype of the scenario."""
    s = Scenario(depth=4, width=64, batch=2, **extra)
    k, t = codegen.keras_snippet(s), codegen.pytorch_snippet(s)
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
    for framework in ("keras", "pytorch"):
        ns, out = _run(framework, s, monkeypatch)
        layers = _check_run(framework, s, ns, out)  # inputs, dtype, printed stds
        kernels = np.stack([w for w, _ in layers])
        biases_ = np.concatenate([b for _, b in layers])
        assert np.array_equal(kernels[0], kernels[1]) == bool(extra.get("shared")), framework
        want_mean, want_var = initlab_biases.moments(s.bias, s.bias_value, s.width)
        n = biases_.size
        assert biases_.mean() == pytest.approx(want_mean, abs=5 * math.sqrt(want_var / n) + 1e-7), framework
        assert biases_.std() == pytest.approx(math.sqrt(want_var), rel=5 / math.sqrt(2 * n), abs=1e-7), framework
        if s.bias == "torch_linear":
            assert np.abs(biases_).max() <= 1 / math.sqrt(64), framework


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


_TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated at +-2 (Keras' rescaling constant)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _trunc_normal(rng, shape, mean, std, a, b):
    """N(mean, std) redrawn outside [a, b] (the distribution of both frameworks' truncated normals)."""
    w = rng.normal(mean, std, size=shape)
    bad = (w < a) | (w > b)
    while bad.any():
        w[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (w < a) | (w > b)
    return w


def _orthogonal(rng, rows, cols, gain):
    """Both frameworks: QR of a Gaussian matrix (tall side first), signs fixed by diag(R), times gain."""
    a = rng.standard_normal((rows, cols) if rows >= cols else (cols, rows))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return gain * (q if rows >= cols else q.T)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


# The activations as the frameworks document them (not initlab's code): Keras by name, PyTorch by module.
_KERAS_ACTS = {
    "linear": lambda x: x, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0), "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),  # Keras slope 0.2
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x / (1 + np.exp(-x)), "softplus": lambda x: np.logaddexp(0, x),
}


def _fake_keras(backend: str = "numpy") -> types.ModuleType:
    """A numpy stand-in for the Keras 3 calls a snippet makes, drawing as Keras documents its initializers
    (``keras/src/initializers``: fans from a (fan_in, fan_out) kernel; VarianceScaling's truncated normal
    rescaled by 1/0.8796); Dense computes ``activation(h @ kernel + bias)``."""
    state = {"rng": np.random.default_rng(0), "floatx": "float32"}

    def draw(f):  # an initializer: f(rng, shape) -> array, cast to the layer's dtype
        return lambda shape, dtype=None: np.asarray(f(state["rng"], shape), dtype=dtype or state["floatx"])

    def variance_scaling(scale=1.0, mode="fan_in", distribution="truncated_normal"):
        def f(rng, shape):
            fan = {"fan_in": shape[0], "fan_out": shape[1], "fan_avg": (shape[0] + shape[1]) / 2}[mode]
            var = scale / max(1.0, fan)
            if distribution == "uniform":
                lim = math.sqrt(3 * var)
                return rng.uniform(-lim, lim, size=shape)
            if distribution == "untruncated_normal":
                return rng.normal(0, math.sqrt(var), size=shape)
            sd = math.sqrt(var) / _TRUNC_STD
            return _trunc_normal(rng, shape, 0.0, sd, -2 * sd, 2 * sd)
        return draw(f)

    init = types.SimpleNamespace(
        Zeros=lambda: draw(lambda rng, shape: np.zeros(shape)),
        Ones=lambda: draw(lambda rng, shape: np.ones(shape)),
        Constant=lambda value=0.0: draw(lambda rng, shape: np.full(shape, value)),
        RandomNormal=lambda mean=0.0, stddev=0.05: draw(lambda rng, shape: rng.normal(mean, stddev, size=shape)),
        RandomUniform=lambda minval=-0.05, maxval=0.05: draw(lambda rng, shape: rng.uniform(minval, maxval, shape)),
        TruncatedNormal=lambda mean=0.0, stddev=0.05: draw(
            lambda rng, shape: _trunc_normal(rng, shape, mean, stddev, mean - 2 * stddev, mean + 2 * stddev)),
        VarianceScaling=variance_scaling,
        GlorotUniform=lambda: variance_scaling(1.0, "fan_avg", "uniform"),
        GlorotNormal=lambda: variance_scaling(1.0, "fan_avg", "truncated_normal"),
        HeUniform=lambda: variance_scaling(2.0, "fan_in", "uniform"),
        HeNormal=lambda: variance_scaling(2.0, "fan_in", "truncated_normal"),
        LecunUniform=lambda: variance_scaling(1.0, "fan_in", "uniform"),
        LecunNormal=lambda: variance_scaling(1.0, "fan_in", "truncated_normal"),
        Orthogonal=lambda gain=1.0: draw(lambda rng, shape: _orthogonal(rng, *shape, gain)),
        Identity=lambda gain=1.0: draw(lambda rng, shape: gain * np.eye(*shape)),
    )

    class Dense:
        def __init__(self, units, activation=None, kernel_initializer=None, bias_initializer="zeros"):
            self.units, self.kernel, self.bias = units, None, None
            self.kernel_initializer = kernel_initializer
            self.bias_initializer = init.Zeros() if bias_initializer == "zeros" else bias_initializer
            self.activation = _KERAS_ACTS[activation or "linear"] if not callable(activation) else activation

        def __call__(self, h):
            if self.kernel is None:  # Keras builds (draws) the weights on the first call
                dtype = h.dtype if isinstance(h, _Symbol) else str(h.dtype)
                self.kernel = np.asarray(self.kernel_initializer((h.shape[1], self.units), dtype=dtype))
                self.bias = np.asarray(self.bias_initializer((self.units,), dtype=dtype))
            if isinstance(h, _Symbol):
                return _Symbol(lambda v, training: self(v), [h], (None, self.units), h.dtype)
            return self.activation(h @ self.kernel + self.bias)

    class Layer:
        """A shape-preserving layer: ``call(value, training)``; on a symbolic input it returns a node."""

        def __call__(self, h):
            if isinstance(h, _Symbol) or isinstance(h, list) and isinstance(h[0], _Symbol):
                parents = h if isinstance(h, list) else [h]
                one = parents[0]
                return _Symbol(lambda *v, training: self.call(list(v) if isinstance(h, list) else v[0], training),
                               parents, one.shape, one.dtype)
            return self.call(h, False)

    class Activation(Layer):
        def __init__(self, activation):
            self.fn = _KERAS_ACTS[activation] if isinstance(activation, str) else activation

        def call(self, h, training):
            return self.fn(h)

    class Add(Layer):
        def call(self, hs, training):
            return hs[0] + hs[1]

    class BatchNormalization(Layer):
        """Keras documents: (x - mean) / sqrt(var + epsilon) * gamma + beta, with the batch's mean and
        variance in training, the moving averages (0 and 1 at start) otherwise."""

        def __init__(self, epsilon=1e-3, momentum=0.99):
            self.epsilon, self.momentum = epsilon, momentum

        def call(self, h, training):
            mean, var = (h.mean(axis=0), h.var(axis=0)) if training else (0.0, 1.0)
            return (h - mean) / np.sqrt(var + self.epsilon)

    class LayerNormalization(Layer):
        def __init__(self, epsilon=1e-3):
            self.epsilon = epsilon

        def call(self, h, training):
            return (h - h.mean(axis=-1, keepdims=True)) / np.sqrt(h.var(axis=-1, keepdims=True) + self.epsilon)

    class Model:
        def __init__(self, inputs, outputs):
            self.inputs, self.outputs = inputs, outputs

        def __call__(self, x, training=False):
            memo = {id(self.inputs): x}
            return [o.evaluate(memo, training) for o in self.outputs]

    def keras_input(shape):
        return _Symbol(None, [], (None, *shape), state["floatx"])

    def set_random_seed(seed):
        state["rng"] = np.random.default_rng(seed)

    keras = types.ModuleType("keras")
    keras.config = types.SimpleNamespace(set_floatx=lambda name: state.update(floatx=name))
    keras.utils = types.SimpleNamespace(set_random_seed=set_random_seed)
    keras.backend = types.SimpleNamespace(backend=lambda: backend)
    keras.layers = types.SimpleNamespace(Dense=Dense, Activation=Activation, Add=Add, BatchNormalization=BatchNormalization,
                                         LayerNormalization=LayerNormalization)
    keras.Input, keras.Model = keras_input, Model
    keras.initializers = init
    keras.activations = types.SimpleNamespace(gelu=lambda x, approximate=False: _gelu_tanh(x) if approximate
                                              else pytest.fail("the snippets use the tanh GELU"))
    keras.ops = types.SimpleNamespace(convert_to_tensor=lambda x, dtype=None: np.asarray(x, dtype=dtype),
                                      convert_to_numpy=np.asarray, std=np.std)
    keras.state = state
    return keras


class _Symbol:
    """A node of a Keras functional graph in the numpy stand-in: ``fn(*parent values, training)``."""

    def __init__(self, fn, parents, shape, dtype):
        self.fn, self.parents, self.shape, self.dtype = fn, parents, shape, dtype

    def __rmul__(self, a):  # ALPHA * branch
        return _Symbol(lambda v, training: a * v, [self], self.shape, self.dtype)

    def evaluate(self, memo, training):
        if id(self) not in memo:
            memo[id(self)] = self.fn(*[p.evaluate(memo, training) for p in self.parents], training=training)
        return memo[id(self)]


class _Tensor(np.ndarray):
    """A numpy array with the few torch.Tensor methods the snippets call."""

    def numpy(self):
        return np.asarray(self)

    def mul_(self, g):
        self *= g
        return self

    def zero_(self):
        self[...] = 0
        return self


def _fake_torch() -> types.ModuleType:
    """A numpy stand-in for the torch calls a snippet makes, drawing as ``torch/nn/init.py`` documents
    (fan_in = weight.shape[1], fan_out = weight.shape[0]; kaiming gains of ``calculate_gain``)."""
    state = {"rng": np.random.default_rng(0)}
    rng = lambda: state["rng"]  # noqa: E731

    def fill(t, values):
        t[...] = values
        return t

    def fans(t):
        return t.shape[1], t.shape[0]

    def gain(nonlinearity, a):  # torch.nn.init.calculate_gain, written out from its docs
        return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75,
                "leaky_relu": math.sqrt(2 / (1 + a * a))}[nonlinearity]

    def kaiming(t, a, mode, nonlinearity):
        fan = fans(t)[0 if mode == "fan_in" else 1]
        return gain(nonlinearity, a) / math.sqrt(fan)

    init = types.SimpleNamespace(
        zeros_=lambda t: fill(t, 0.0), ones_=lambda t: fill(t, 1.0), constant_=lambda t, v: fill(t, v),
        eye_=lambda t: fill(t, np.eye(*t.shape)),
        normal_=lambda t, mean=0.0, std=1.0: fill(t, rng().normal(mean, std, t.shape)),
        uniform_=lambda t, a=0.0, b=1.0: fill(t, rng().uniform(a, b, t.shape)),
        trunc_normal_=lambda t, mean=0.0, std=1.0, a=-2.0, b=2.0: fill(t, _trunc_normal(rng(), t.shape, mean, std, a, b)),
        xavier_uniform_=lambda t, gain=1.0: fill(t, rng().uniform(-1, 1, t.shape) * gain * math.sqrt(6 / sum(fans(t)))),
        xavier_normal_=lambda t, gain=1.0: fill(t, rng().normal(0, gain * math.sqrt(2 / sum(fans(t))), t.shape)),
        kaiming_uniform_=lambda t, a=0.0, mode="fan_in", nonlinearity="leaky_relu": fill(
            t, rng().uniform(-1, 1, t.shape) * math.sqrt(3) * kaiming(t, a, mode, nonlinearity)),
        kaiming_normal_=lambda t, a=0.0, mode="fan_in", nonlinearity="leaky_relu": fill(
            t, rng().normal(0, kaiming(t, a, mode, nonlinearity), t.shape)),
        orthogonal_=lambda t, gain=1.0: fill(t, _orthogonal(rng(), *t.shape, gain)),
    )

    class Linear:
        def __init__(self, fan_in, fan_out, dtype=np.float32):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's own default: U[+-1/sqrt(fan_in)] for both
            self.weight = rng().uniform(-bound, bound, (fan_out, fan_in)).astype(dtype).view(_Tensor)
            self.bias = rng().uniform(-bound, bound, fan_out).astype(dtype).view(_Tensor)

        def __call__(self, h):
            return h @ self.weight.T + self.bias

    def module(f):
        return lambda *a, **kw: (lambda x: np.asarray(f(x, *a, **kw)).view(_Tensor))

    class Module:
        def __init__(self):
            self.training = True  # torch modules start in train mode

        def train(self, mode=True):  # like torch: the mode of every submodule too
            self.training = mode
            for value in vars(self).values():
                for sub in value if isinstance(value, list) else [value]:
                    if isinstance(sub, BatchNorm1d):
                        sub.training = mode
            return self

        def eval(self):
            return self.train(False)

        def __call__(self, *a):
            return self.forward(*a)

    class BatchNorm1d:
        """torch documents: (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta over the batch, the biased
        variance in training mode; the running estimates (0 and 1 at start) in eval mode."""

        def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=None):
            self.num_features, self.eps, self.training = num_features, eps, True

        def __call__(self, h):
            assert h.shape[1] == self.num_features
            mean, var = (h.mean(axis=0), h.var(axis=0)) if self.training else (0.0, 1.0)
            return ((h - mean) / np.sqrt(var + self.eps)).view(_Tensor)

    class LayerNorm:
        def __init__(self, normalized_shape, eps=1e-5, dtype=None):
            self.shape, self.eps = normalized_shape, eps

        def __call__(self, h):
            assert h.shape[-1] == self.shape
            return ((h - h.mean(axis=-1, keepdims=True)) / np.sqrt(h.var(axis=-1, keepdims=True) + self.eps)).view(_Tensor)

    nn = types.SimpleNamespace(
        init=init, Linear=Linear, Module=Module, ModuleList=list, BatchNorm1d=BatchNorm1d, LayerNorm=LayerNorm,
        Identity=module(lambda x: x), Sigmoid=module(_KERAS_ACTS["sigmoid"]), Tanh=module(np.tanh),
        ReLU=module(_KERAS_ACTS["relu"]), SiLU=module(_KERAS_ACTS["silu"]),
        LeakyReLU=module(lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x)),
        ELU=module(lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))),
        SELU=module(_KERAS_ACTS["selu"]),
        GELU=module(lambda x, approximate="none": _gelu_tanh(x) if approximate == "tanh"
                    else pytest.fail("the snippets use the tanh GELU")),
        Softplus=module(lambda x, beta=1.0, threshold=20.0: np.where(x * beta > threshold, x,
                                                                     np.logaddexp(0, beta * x) / beta)),
    )

    class no_grad(contextlib.ContextDecorator):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def manual_seed(seed):
        state["rng"] = np.random.default_rng(seed)

    torch = types.ModuleType("torch")
    torch.nn, torch.no_grad, torch.manual_seed = nn, no_grad, manual_seed
    torch.float32, torch.float64 = np.float32, np.float64
    torch.as_tensor = lambda x, dtype=None: np.asarray(x, dtype=dtype).view(_Tensor)
    return torch


def _run_torch(s: Scenario, monkeypatch) -> tuple[dict, str]:
    """Execute ``pytorch_snippet(s)`` on the numpy stand-in; (its namespace, what it printed)."""
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
        exec(compile(codegen.pytorch_snippet(s), "<pytorch snippet>", "exec"), ns)
    return ns, out.getvalue()


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


def _weights(framework: str, ns: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel in Keras layout (fan_in, fan_out), bias) of every layer a snippet ran, float64."""
    if framework == "keras":
        return [(np.asarray(la.kernel, np.float64), np.asarray(la.bias, np.float64)) for la in ns["layers"]]
    return [(np.asarray(la.weight, np.float64).T, np.asarray(la.bias, np.float64)) for la in ns["linears"]]


def _printed(out: str) -> list[float]:
    return [float(line.split()[3]) for line in out.splitlines() if line.startswith("layer")]


def _run(framework: str, s: Scenario, monkeypatch) -> tuple[dict, str]:
    return (_run_keras if framework == "keras" else _run_torch)(s, monkeypatch)


def _check_run(framework: str, s: Scenario, ns: dict, out: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """What every snippet run must show: the scenario's input batch (seed, inputs, dtype), depth layers of
    width x width, and printed stds equal to initlab's activation applied to the snippet's own weights."""
    rng = np.random.default_rng(s.seed)
    draw = rng.standard_normal if s.inputs == "standard" else rng.random
    want_x = draw((s.batch, s.width)) * (255.0 if s.inputs == "raw" else 1.0)
    assert np.array_equal(ns["x"], want_x)
    assert np.asarray(ns["h"]).dtype == np.dtype(s.dtype)
    layers = _weights(framework, ns)
    assert len(layers) == s.depth and all(w.shape == (s.width, s.width) and b.shape == (s.width,) for w, b in layers)
    fn = activations.get(s.activation).fn
    h, want, tol = ns["x"].astype(s.dtype).astype(np.float64), [], []
    for w, b in layers:
        h = fn(h @ w + b)
        want.append(float(np.std(h)))
        # the snippet rounds to its dtype: a saturated tanh layer's std (~1e-8) is rounding, not signal
        tol.append(8 * float(np.finfo(s.dtype).eps) * max(1.0, float(np.max(np.abs(h)))))
    got = _printed(out)
    assert len(got) == len(want)
    for layer, (g, w, t) in enumerate(zip(got, want, tol), start=1):
        assert g == pytest.approx(w, rel=1e-3, abs=t), f"layer {layer}"  # 4 printed digits
    return layers


@pytest.mark.parametrize("framework", ["keras", "pytorch"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("init", INITS)
def test_snippets_draw_initlabs_kernels(init, act, framework, monkeypatch):
    """Run on numpy stand-ins of the framework calls (drawing as the frameworks document), a snippet draws
    kernels with initlab's theoretical mean and std for the initializer and its default parameters, within
    its bounds, a new matrix per layer, and prints the std initlab's activation gives on those kernels."""
    s = Scenario(init=init, activation=act, depth=3, width=64, batch=4, seed=7)
    ns, out = _run(framework, s, monkeypatch)
    kernels = np.stack([w for w, _ in _check_run(framework, s, ns, out)])
    assert all(not b.any() for _, b in _weights(framework, ns))  # the scenario's zero biases
    ini = initializers.get(init, **s.init_params())
    mean, sd, lim = ini.mean(64, 64), ini.std(64, 64), ini.limits(64, 64)
    n = kernels.size
    # 5 sampling standard errors (iid entries: std of a mean sd/sqrt(n), of a std ~ sd/sqrt(2n) for these
    # light-tailed laws; orthogonal's entries are near-independent at this size) plus float32 rounding.
    assert kernels.mean() == pytest.approx(mean, abs=5 * sd / math.sqrt(n) + 1e-7)
    assert kernels.std() == pytest.approx(sd, rel=5 / math.sqrt(2 * n), abs=1e-7)
    if lim is not None:
        assert kernels.min() >= lim[0] - 1e-6 and kernels.max() <= lim[1] + 1e-6
    if sd > 0 and init != "identity":  # a random kernel: a new matrix per layer
        assert not np.array_equal(kernels[0], kernels[1])


@pytest.mark.parametrize("framework", ["keras", "pytorch"])
@pytest.mark.parametrize("act", activations.names())
def test_snippet_activation_is_initlabs(act, framework, monkeypatch):
    """Every activation: the framework expression the snippet writes computes initlab's function (the
    printed stds of a tanh-free random network are initlab's on the same weights, layer by layer)."""
    s = Scenario(init="random_normal", stddev=0.3, activation=act, depth=4, width=32, batch=16, seed=3,
                 bias="random_normal", bias_value=0.5)
    ns, out = _run(framework, s, monkeypatch)
    _check_run(framework, s, ns, out)


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


# ------------------------------------------------------------------------------------------------
# Residual and normalised networks (initlab.signal.blocks): the snippets build the same blocks.

RES = dict(block="residual")
BLOCK_ARCHS = {
    "plain-batch": dict(norm="batch"),
    "plain-layer": dict(norm="layer"),
    **{f"{p}-{n}-{k}": dict(**RES, norm=n, norm_position=p, branch_layers=k)
       for p in ("pre", "post") for n in ("none", "batch", "layer") for k in (1, 2)},
    "invsqrt": dict(**RES, norm="layer", residual_rule="inv_sqrt_depth"),
    "alpha0": dict(**RES, norm="batch", branch_layers=2, residual_scale=0.0),
    "alpha-half-eps-torch": dict(**RES, norm="batch", norm_position="post", residual_scale=0.5, norm_eps=1e-5),
    "fixup-pre": dict(**RES, branch_layers=2, residual_rule="fixup"),
    "fixup-post-layer": dict(**RES, branch_layers=2, residual_rule="fixup", norm="layer", norm_position="post"),
}


def _block_weights(framework: str, ns: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel in Keras layout, bias) of every weight layer of a block snippet, in initlab's order, float64."""
    if framework == "keras":
        return [(np.asarray(la.kernel, np.float64), np.asarray(la.bias, np.float64)) for la in ns["dense_layers"]]
    return [(np.asarray(la.weight, np.float64).T, np.asarray(la.bias, np.float64)) for la in ns["linears"]]


def _check_block_run(framework: str, s: Scenario, ns: dict, out: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """A block snippet's run: the scenario's input batch, depth x layers_per_block weight layers, and printed
    stds (one per block) equal to initlab's blocks (initlab.signal.blocks.forward) on the snippet's own
    weights, fed its batch in float64."""
    from initlab.signal import blocks

    rng = np.random.default_rng(s.seed)
    draw = rng.standard_normal if s.inputs == "standard" else rng.random
    assert np.array_equal(ns["x"], draw((s.batch, s.width)) * (255.0 if s.inputs == "raw" else 1.0))
    assert all(np.asarray(h).dtype == np.dtype(s.dtype) for h in ns["hs"])
    layers = _block_weights(framework, ns)
    k = s.layers_per_block
    assert len(layers) == s.depth * k
    assert all(w.shape == (s.width, s.width) and b.shape == (s.width,) for w, b in layers)
    arch, act = blocks.Arch.of(s), activations.get(s.activation)
    h, want, tol = ns["x"].astype(s.dtype).astype(np.float64), [], []
    for i in range(s.depth):
        group = layers[i * k:(i + 1) * k]
        _, h, _ = blocks.forward(arch, act, h, [w for w, _ in group], [b for _, b in group])
        want.append(float(np.std(h)))
        tol.append(8 * float(np.finfo(s.dtype).eps) * max(1.0, float(np.max(np.abs(h)))))
    got = _printed(out)
    assert len(got) == s.depth
    for block, (g, w, t) in enumerate(zip(got, want, tol), start=1):
        assert g == pytest.approx(w, rel=1e-3, abs=t), f"block {block}"  # 4 printed digits
    return layers


@pytest.mark.parametrize("framework", ["keras", "pytorch"])
@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("arch", list(BLOCK_ARCHS))
def test_block_snippets_compute_initlabs_blocks(arch, act, framework, monkeypatch):
    """Run on the numpy stand-ins (norms as the frameworks document them: batch statistics only in training
    mode), a residual / normalised snippet prints, block by block, the std initlab's blocks give on the
    snippet's own weights; its kernels have the initializer's law (Fixup: the first layer of each branch
    scaled by depth^(-1/2), the last one zero), a new matrix per layer, and the scenario's biases."""
    init = "he_normal" if act == "relu" else "glorot_uniform"
    s = Scenario(init=init, activation=act, depth=4, width=48, batch=16, seed=5, bias="random_normal",
                 bias_value=0.2, **BLOCK_ARCHS[arch])
    ns, out = _run(framework, s, monkeypatch)
    layers = _check_block_run(framework, s, ns, out)
    kernels = np.stack([w for w, _ in layers])
    ini = initializers.get(init)
    sd = ini.std(48, 48)
    if s.residual_rule == "fixup" and s.residual:
        firsts, lasts = kernels[0::2], kernels[1::2]
        assert not lasts.any()
        kernels, sd = firsts, sd * s.depth ** -0.5
    n = kernels.size
    # 5 sampling standard errors of a mean and of a std of n iid entries (as for the plain snippets)
    assert kernels.mean() == pytest.approx(0.0, abs=5 * sd / math.sqrt(n) + 1e-7)
    assert kernels.std() == pytest.approx(sd, rel=5 / math.sqrt(2 * n), abs=1e-7)
    assert not np.array_equal(kernels[0], kernels[1])
    b = np.concatenate([b for _, b in layers])
    assert b.std() == pytest.approx(0.2, rel=5 / math.sqrt(2 * b.size))


@pytest.mark.parametrize("framework", ["keras", "pytorch"])
@pytest.mark.parametrize("extra", [dict(shared=True), dict(shared=True, residual_rule="fixup"),
                                   dict(dtype="float64"), dict(inputs="raw", bias="zeros")])
def test_block_snippet_options(extra, framework, monkeypatch):
    """Options on a residual, pre-LayerNorm network of 2-layer branches: one shared matrix (with Fixup: one
    for every first layer, one, zero, for every last), the dtype, the inputs."""
    s = Scenario(init="he_uniform", activation="relu", depth=3, width=32, batch=8, block="residual", norm="layer",
                 branch_layers=2, **extra)
    ns, out = _run(framework, s, monkeypatch)
    layers = _check_block_run(framework, s, ns, out)
    kernels = [w for w, _ in layers]
    if s.shared and s.residual_rule == "fixup":
        assert all(np.array_equal(w, kernels[0]) for w in kernels[0::2]) and not np.any(kernels[1::2])
    elif s.shared:
        assert all(np.array_equal(w, kernels[0]) for w in kernels)
    else:
        assert not np.array_equal(kernels[0], kernels[1])


def test_block_snippets_name_the_layers_epsilon_and_alpha():
    def both(**kw):
        s = Scenario(init="he_normal", activation="relu", depth=6, width=128, batch=4, **kw)
        return codegen.keras_snippet(s), codegen.pytorch_snippet(s)

    k, t = both(norm="batch")
    assert "keras.layers.BatchNormalization(epsilon=0.001, momentum=0.99)" in k and "training=True" in k
    assert "nn.BatchNorm1d(128, eps=0.001, dtype=dtype)" in t and "model.train()" in t
    assert "self.act(self.norms[i](self.linears[i](h)))" in t  # Linear -> Norm -> f
    assert "act()(norm()(linear()(h)))" in k
    assert "Add" not in k and "ALPHA" not in t  # plain blocks: no residual branch
    assert "bias b before it cancels" in k and "bias b before it cancels" in t
    k, t = both(norm="layer", norm_eps=1e-5, block="residual")
    assert "keras.layers.LayerNormalization(epsilon=1e-05)" in k and "nn.LayerNorm(128, eps=1e-05, dtype=dtype)" in t
    assert "keras.layers.Add()([h, ALPHA * branch])" in k and "h = h + ALPHA * branch" in t
    assert "ALPHA = 1.0" in k and "ALPHA = 1.0" in t and "model.train()" not in t
    k, t = both(norm="layer", block="residual", norm_position="post", branch_layers=2)
    assert "return norm()(keras.layers.Add()([h, ALPHA * branch]))" in k
    assert "h = self.norms[i](h + ALPHA * branch)" in t
    k, t = both(block="residual", residual_rule="inv_sqrt_depth")
    assert f"ALPHA = {1 / math.sqrt(6)!r}" in k and f"ALPHA = {1 / math.sqrt(6)!r}" in t
    assert "Normalization" not in k and "Norm" not in t.split("class Net")[1]  # norm none: B(x) = f(x) W + b
    k, t = both(block="residual", residual_scale=0.0)
    assert "ALPHA = 0.0" in k and "ReZero and SkipInit make alpha a learned scalar" in k
    assert "ReZero and SkipInit make alpha a learned scalar" in t
    k, t = both(block="residual", residual_rule="fixup", branch_layers=2)
    assert f"FIXUP = {6 ** -0.5!r}" in k and f"FIXUP = {6 ** -0.5!r}" in t
    assert "init(shape, dtype=dtype) * FIXUP" in k and "keras.initializers.Zeros() if last" in k
    assert "layer.weight.mul_(FIXUP)" in t and "layer.weight.zero_()" in t
    for code in (k, t):
        assert "Zhang et al. 2019" in code and "L^(-1/2)" in code


@pytest.mark.parametrize("arch", list(BLOCK_ARCHS))
def test_block_snippets_compile_and_plain_ones_do_not_change(arch):
    s = Scenario(depth=3, width=16, batch=4, **BLOCK_ARCHS[arch])
    for code in (codegen.keras_snippet(s), codegen.pytorch_snippet(s)):
        compile(code, "<snippet>", "exec")
    # A plain network without a norm keeps the plain snippet: Dense layers with their activation.
    plain = s.replace(block="plain", norm="none")
    assert "keras.layers.Dense(16, activation=" in codegen.keras_snippet(plain)
    assert "class Net" not in codegen.pytorch_snippet(plain)
