"""Code snippets that rebuild the current scenario in Keras 3 or PyTorch (as text; neither is imported).

Each snippet builds ``depth`` dense layers of ``width`` units with the scenario's activation, kernel
initializer (its parameters as set in ``Scenario.init_params()``, else the initializer's defaults) and
bias init, pushes a batch drawn like ``Scenario.inputs`` through it and prints the std per layer.

Residual and normalised networks (``not s.plain_mlp``; formulas in :mod:`initlab.signal.blocks`) are
built block by block: in Keras with the functional API (``Dense`` without activation, ``Activation``,
``BatchNormalization`` / ``LayerNormalization`` with ``epsilon=s.norm_eps`` and gamma = 1, beta = 0,
``Add``), the model called with ``training=True`` so BatchNormalization normalises with the batch's
statistics (biased variance), as initlab does and as at the first training step; in PyTorch as a small
``nn.Module`` (``BatchNorm1d(width, eps=...)`` in train mode, ``LayerNorm(width, eps=...)``). alpha is a
fixed multiplier of the branch (:meth:`Scenario.alpha`); Fixup (Zhang et al. 2019) draws each branch's
first layer as usual and scales it by depth^(-1/2), and zeroes its last layer, as
:func:`initlab.signal.network.build` does. One line is printed per block: its output h_l, initlab's
``act_std``. A plain network without a norm keeps the plain snippet above, unchanged.

Why one module of ~800 lines: the Keras and the PyTorch translation of every piece (initializer, bias,
norm, block, Fixup) must build the same network, and the framework cross-check
(``tests/test_frameworks.py``) compares them with each other and with initlab; keeping the two side by
side, sharing the input, std and alpha helpers, lets one be read against the other.

Layout: Keras kernels are (fan_in, fan_out), ``torch.nn.Linear.weight`` is (out_features, in_features);
every initializer here depends on the two fans only through the formulas below, so the same numbers
apply to both layouts (and initlab's layers are square anyway).

Exact equivalences used (Keras ``keras/src/initializers``, PyTorch ``torch/nn/init.py``):

* Keras truncated normals draw N(0, sd) and redraw beyond 2 sd; ``VarianceScaling`` (and Glorot / He /
  LeCun normal) use ``sd = sqrt(scale / n) / 0.87962566`` so the truncated draw has variance scale/n.
  PyTorch: ``trunc_normal_(w, 0, sd, -2 sd, 2 sd)`` is the same distribution.
* PyTorch ``kaiming_*_(a, mode, nonlinearity)`` = Keras ``VarianceScaling(scale=gain^2, mode, "uniform"
  / "untruncated_normal")``; ``nn.Linear``'s default is ``kaiming_uniform_(a=sqrt(5))`` = U[+-1/sqrt(n)].
"""

from __future__ import annotations

import math
from typing import Any

from initlab.weights import activations, biases, initializers
from initlab.weights.initializers import TRUNCATED_NORMAL_STD, calculate_gain
from initlab.signal.scenario import Scenario
from initlab.training.scenario import TrainScenario

__all__ = ["keras_snippet", "pytorch_snippet", "pytorch_training_snippet"]

_KERAS_CLASS = {
    "zeros": "Zeros", "ones": "Ones", "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform", "he_normal": "HeNormal", "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal",
}


# The std every snippet prints, defined in the snippet itself: the population std (ddof 0, as initlab's
# act_std) of the finite values, computed in float64 after dividing by max |h|. torch's h.std() and
# keras.ops.std accumulate in float32 and print inf, then NaN, one to three layers before any value
# overflows (width 256, batch 128: from std ~1e36 on; numpy's float32 std already from ~1e19);
# initlab's stats.moments rescales the same way.
_STD_HELPER = [
    "def std(h):",
    '    """(population std of the finite values of h, fraction of h that is inf or NaN), overflow-safe."""',
    "    a = np.asarray(h, dtype=np.float64).ravel()",
    "    finite = a[np.isfinite(a)]",
    "    bad = 1.0 - finite.size / max(a.size, 1)",
    "    if finite.size == 0:",
    '        return float("nan"), bad',
    "    m = float(np.max(np.abs(finite)))  # divide by it so that no square overflows",
    "    return (m * float(np.std(finite / m)) if m > 0 else 0.0), bad",
    "",
    "",
    "def report(i, h):",
    "    sd, bad = std(h)",
    '    print(f"layer {i:4d}  std {sd:.4g}" + (f"  ({bad:.1%} inf/nan)" if bad else ""))',
]


def _torch_act(name: str) -> str:
    """The registry's PyTorch module for activation ``name``, with its note as a trailing comment."""
    act = activations.get(name)
    return act.torch + (f"  # {act.torch_note}" if act.torch_note else "")


def _num(x: float) -> str:
    """A float literal that round-trips (``repr``), e.g. ``1.0``, ``0.0625``, ``0.07216878364870323``."""
    return repr(float(x))


def _params(s: Scenario) -> dict[str, Any]:
    """The initializer's resolved parameters (scenario values, else the initializer's defaults)."""
    return dict(initializers.get(s.init, **s.init_params()).params)


def _fan(mode: str, n: int) -> float:
    """The fan a mode divides by, for square (n x n) layers: fan_avg of n and n is n."""
    return float(n)


def _inputs_code(s: Scenario, lib: str) -> list[str]:
    """Lines drawing the input batch x like ``s.inputs`` with numpy (same for both frameworks)."""
    shape = f"({s.batch}, {s.width})"
    if s.inputs == "standard":
        draw = f"rng.standard_normal({shape})  # standardised features: mean 0, std 1"
    elif s.inputs == "minmax":
        draw = f"rng.random({shape})  # min-max scaled features in [0, 1)"
    else:
        draw = f"rng.random({shape}) * 255.0  # raw, unscaled values in [0, 255) like pixels"
    return [f"rng = np.random.default_rng({s.seed})", f"x = {draw}"]


# ------------------------------------------------------------------------------------------------
# Keras


def _keras_init(s: Scenario) -> tuple[list[str], str]:
    """(lines to put before the model, the kernel_initializer expression) for ``s.init`` in Keras 3."""
    p, n, name = _params(s), s.width, s.init
    ki = "keras.initializers"
    if name in _KERAS_CLASS:
        return [], f"{ki}.{_KERAS_CLASS[name]}()"
    if name == "constant":
        return [], f"{ki}.Constant(value={_num(p['value'])})"
    if name == "random_normal":
        return [], f"{ki}.RandomNormal(mean={_num(p['mean'])}, stddev={_num(p['stddev'])})"
    if name == "random_uniform":
        return [], f"{ki}.RandomUniform(minval={_num(p['minval'])}, maxval={_num(p['maxval'])})"
    if name == "truncated_normal":
        return [], f"{ki}.TruncatedNormal(mean={_num(p['mean'])}, stddev={_num(p['stddev'])})"
    if name == "variance_scaling":
        return [], (f'{ki}.VarianceScaling(scale={_num(p["scale"])}, mode="{p["mode"]}", '
                    f'distribution="{p["distribution"]}")')
    if name == "orthogonal":
        return [], f"{ki}.Orthogonal(gain={_num(p['gain'])})"
    if name == "identity":
        return [], f"{ki}.Identity(gain={_num(p['gain'])})"
    if name == "small_uniform":
        return ["# initlab's small_uniform: the tutorial U[0, 0.1] (all positive)."], \
            f"{ki}.RandomUniform(minval=0.0, maxval=0.1)"
    if name in ("xavier_heuristic", "torch_linear"):
        lim = 1.0 / math.sqrt(n)
        return [f"# U[-1/sqrt(n), +1/sqrt(n)] with n = fan_in = {n}: limit {lim:.6g}"
                + (" (PyTorch's nn.Linear default)." if name == "torch_linear" else ".")], \
            f"{ki}.RandomUniform(minval={_num(-lim)}, maxval={_num(lim)})"
    if name in ("torch_kaiming_uniform", "torch_kaiming_normal"):
        gain = calculate_gain(p["nonlinearity"], p["negative_slope"])
        dist = "uniform" if name.endswith("uniform") else "untruncated_normal"
        return [f"# torch kaiming_{dist.split('_')[-1]}_ with gain {gain:.6g} ({p['nonlinearity']}): "
                "exactly VarianceScaling(scale=gain^2)."], \
            f'{ki}.VarianceScaling(scale={_num(gain * gain)}, mode="{p["mode"]}", distribution="{dist}")'
    if name in ("torch_xavier_uniform", "torch_xavier_normal"):
        dist = "uniform" if name.endswith("uniform") else "untruncated_normal"
        return [f"# torch xavier_{dist.split('_')[-1]}_(gain={p['gain']:g}): exactly VarianceScaling(scale=gain^2, "
                "fan_avg); Keras GlorotNormal would be truncated."], \
            f'{ki}.VarianceScaling(scale={_num(p["gain"] ** 2)}, mode="fan_avg", distribution="{dist}")'
    if name == "torch_trunc_normal":
        m, sd, a, b = p["mean"], p["stddev"], p["a"], p["b"]
        lines = [
            f"# torch trunc_normal_(mean={m:g}, std={sd:g}, a={a:g}, b={b:g}): N(mean, std) redrawn outside the",
            "# absolute interval [a, b]. Keras TruncatedNormal cuts at mean +- 2 std instead, so draw it here.",
            "# One generator for all layers: seeding inside the function would give every layer the same matrix.",
            f"trunc_rng = np.random.default_rng({s.seed} + 1)",
            "",
            "def trunc_normal_init(shape, dtype=None):",
            "    g = trunc_rng",
            f"    w = g.normal({_num(m)}, {_num(sd)}, size=shape)",
            f"    bad = (w < {_num(a)}) | (w > {_num(b)})",
            "    while bad.any():",
            f"        w[bad] = g.normal({_num(m)}, {_num(sd)}, size=int(bad.sum()))",
            f"        bad = (w < {_num(a)}) | (w > {_num(b)})",
            "    return keras.ops.convert_to_tensor(w, dtype=dtype)",
        ]
        return lines, "trunc_normal_init"
    raise ValueError(f"no Keras translation for initializer {name!r}")  # pragma: no cover


# Keras 3 runs its ops in float32 when given float64 tensors on every backend but TensorFlow:
# keras.backend.result_type maps float64 to float32 there (BIT64_TO_BIT32_DTYPE in
# keras/src/backend/common/dtypes.py), so Dense's matmul has float32 precision and overflows above
# 3.4e38. A float64 snippet cannot avoid that from inside Keras; it says so where it matters.
_KERAS_FLOAT64_NOTE = [
    "# float64: Keras 3 computes float64 layers in float32 on every backend but TensorFlow",
    "# (keras.backend.result_type maps float64 to float32), so values overflow above 3.4e38 as in float32.",
    'if keras.backend.backend() != "tensorflow":',
    '    print(f"note: the {keras.backend.backend()} backend computes these float64 layers in float32; "',
    '          "run with KERAS_BACKEND=tensorflow for float64 arithmetic")',
]


def _keras_head(s: Scenario, title: list[str]) -> tuple[str, list[str]]:
    """``(kernel initializer code, the start of every Keras snippet)``: ``title``, imports, dtype and seed,
    the initializer's set-up lines and the std helper."""
    pre, kinit = _keras_init(s)
    return kinit, [
        *title,
        "# Keras kernels are (fan_in, fan_out); for these square layers fan_in = fan_out.",
        "import numpy as np",
        "import keras",
        "",
        f'keras.config.set_floatx("{s.dtype}")',
        f"keras.utils.set_random_seed({s.seed})",
        *(_KERAS_FLOAT64_NOTE if s.dtype == "float64" else []),
        *pre,
        "",
        *_STD_HELPER,
        "",
        "",
    ]


def keras_snippet(s: Scenario) -> str:
    """Keras 3 code (text) that builds ``s``'s network and prints the output std of every layer.

    ``depth`` ``Dense(width)`` layers with ``s.activation``, ``kernel_initializer`` = the Keras
    equivalent of ``s.init`` (see the module docstring) and the bias init; ``shared`` reuses one
    Dense layer (one weight matrix) for every layer. Kernels are (fan_in, fan_out). Residual or
    normalised networks: the functional API, block by block (module docstring).
    """
    s.validate()
    if not s.plain_mlp:
        return _keras_blocks(s)
    kinit, head = _keras_head(s, [f"# initlab scenario in Keras 3: {s.depth} x Dense({s.width}, {s.activation}), "
                                  f"kernel {s.init}."])
    lines = [
        *head,
        "def dense():",
        f"    return keras.layers.Dense({s.width}, activation={activations.get(s.activation).keras},",
        f"                              kernel_initializer={kinit},",
        f"                              bias_initializer={biases.keras_code(s.bias, s.bias_value, s.width)})",
        "",
    ]
    if s.shared:
        lines += ["one = dense()  # the same layer (one weight matrix) reused in every position",
                  f"layers = [one] * {s.depth}"]
    else:
        lines += [f"layers = [dense() for _ in range({s.depth})]"]
    lines += [
        "",
        *_inputs_code(s, "keras"),
        f'h = keras.ops.convert_to_tensor(x, dtype="{s.dtype}")',
        "for i, layer in enumerate(layers, start=1):",
        "    h = layer(h)",
        "    report(i, keras.ops.convert_to_numpy(h))",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# PyTorch


def _trunc(sd: float, why: str) -> list[str]:
    return [f"    # {why}.",
            f"    # N(0, {sd:.6g}) redrawn beyond 2 of those sd, so the std after truncation is "
            f"{sd * TRUNCATED_NORMAL_STD:.6g};",
            "    # torch's trunc_normal_ takes absolute bounds a, b.",
            f"    nn.init.trunc_normal_(w, mean=0.0, std={_num(sd)}, a={_num(-2 * sd)}, b={_num(2 * sd)})"]


def _torch_init(s: Scenario) -> list[str]:
    """Body lines (indented 4) initialising the (out, in) weight ``w`` in place like ``s.init``."""
    p, n, name = _params(s), s.width, s.init
    if name == "zeros":
        return ["    nn.init.zeros_(w)"]
    if name == "ones":
        return ["    nn.init.ones_(w)"]
    if name == "constant":
        return [f"    nn.init.constant_(w, {_num(p['value'])})"]
    if name == "random_normal":
        return [f"    nn.init.normal_(w, mean={_num(p['mean'])}, std={_num(p['stddev'])})"]
    if name == "random_uniform":
        return [f"    nn.init.uniform_(w, a={_num(p['minval'])}, b={_num(p['maxval'])})"]
    if name == "small_uniform":
        return ["    nn.init.uniform_(w, a=0.0, b=0.1)  # the tutorial U[0, 0.1]: all positive"]
    if name == "truncated_normal":
        m, sd = p["mean"], p["stddev"]
        return ["    # Keras TruncatedNormal: N(mean, stddev) redrawn beyond mean +- 2 stddev (not rescaled).",
                f"    nn.init.trunc_normal_(w, mean={_num(m)}, std={_num(sd)}, a={_num(m - 2 * sd)}, "
                f"b={_num(m + 2 * sd)})"]
    if name in ("variance_scaling", "glorot_normal", "he_normal", "lecun_normal", "glorot_uniform", "he_uniform",
                "lecun_uniform"):
        scale, mode, dist = {
            "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
            "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
            "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
        }.get(name, (p.get("scale"), p.get("mode"), p.get("distribution")))
        var = scale / max(1.0, _fan(mode, n))
        if name == "glorot_uniform":
            return ["    nn.init.xavier_uniform_(w)  # = Keras GlorotUniform: U[+-sqrt(6/(fan_in+fan_out))]"]
        if name == "he_uniform":
            return ['    nn.init.kaiming_uniform_(w, nonlinearity="relu")  # = Keras HeUniform: U[+-sqrt(6/fan_in)]']
        if name == "lecun_uniform":
            return ['    nn.init.kaiming_uniform_(w, nonlinearity="linear")  # = Keras LecunUniform: U[+-sqrt(3/fan_in)]']
        if dist == "uniform":
            lim = math.sqrt(3.0 * var)
            return [f"    # Keras VarianceScaling(scale={scale:g}, {mode}, uniform): U[+-sqrt(3 scale / n)], n = {n}",
                    f"    nn.init.uniform_(w, a={_num(-lim)}, b={_num(lim)})"]
        if dist == "untruncated_normal":
            return [f"    # Keras VarianceScaling(scale={scale:g}, {mode}, untruncated_normal): N(0, sqrt(scale / n))",
                    f"    nn.init.normal_(w, mean=0.0, std={_num(math.sqrt(var))})"]
        return _trunc(math.sqrt(var) / TRUNCATED_NORMAL_STD,
                      f"Keras {name} = variance_scaling(scale={scale:g}, {mode}, truncated_normal), n = {n}")
    if name == "orthogonal":
        return [f"    nn.init.orthogonal_(w, gain={_num(p['gain'])})"]
    if name == "identity":
        return ["    nn.init.eye_(w)  # torch's eye_ has no gain argument",
                f"    w.mul_({_num(p['gain'])})"]
    if name == "xavier_heuristic":
        lim = 1.0 / math.sqrt(n)
        return [f"    nn.init.uniform_(w, a={_num(-lim)}, b={_num(lim)})  # U[+-1/sqrt(n)], n = fan_in = {n}"]
    if name == "torch_linear":
        return ["    # nn.Linear's own default (already applied at construction): U[+-1/sqrt(fan_in)]",
                "    nn.init.kaiming_uniform_(w, a=math.sqrt(5))"]
    if name in ("torch_kaiming_uniform", "torch_kaiming_normal"):
        fn = "kaiming_uniform_" if name.endswith("uniform") else "kaiming_normal_"
        return [f'    nn.init.{fn}(w, a={_num(p["negative_slope"])}, mode="{p["mode"]}", '
                f'nonlinearity="{p["nonlinearity"]}")']
    if name in ("torch_xavier_uniform", "torch_xavier_normal"):
        fn = "xavier_uniform_" if name.endswith("uniform") else "xavier_normal_"
        return [f"    nn.init.{fn}(w, gain={_num(p['gain'])})"]
    if name == "torch_trunc_normal":
        return [f"    nn.init.trunc_normal_(w, mean={_num(p['mean'])}, std={_num(p['stddev'])}, "
                f"a={_num(p['a'])}, b={_num(p['b'])})"]
    raise ValueError(f"no PyTorch translation for initializer {name!r}")  # pragma: no cover


def _torch_head(s: Scenario, title: list[str]) -> list[str]:
    """The start of every PyTorch snippet: ``title``, imports, seed and dtype, the std helper and
    ``init_`` (the scenario's weight and bias init for one ``nn.Linear``)."""
    return [
        *title,
        "# nn.Linear.weight is (out_features, in_features), the transpose of a Keras kernel.",
        "import math",
        "",
        "import numpy as np",
        "import torch",
        "from torch import nn",
        "",
        f"torch.manual_seed({s.seed})",
        f"dtype = torch.{s.dtype}",
        "",
        *_STD_HELPER,
        "",
        "",
        "@torch.no_grad()",
        "def init_(layer):",
        "    w, b = layer.weight, layer.bias",
        *_torch_init(s),
        "    " + biases.torch_code(s.bias, s.bias_value, s.width),
        "",
    ]


def pytorch_snippet(s: Scenario) -> str:
    """PyTorch code (text) that builds ``s``'s network and prints the output std of every layer.

    ``depth`` ``nn.Linear(width, width)`` layers, each followed by ``s.activation``; the weight is
    re-initialised with the ``torch.nn.init`` equivalent of ``s.init`` (Keras-only semantics such as
    the 0.8796-rescaled truncated normal written out with ``trunc_normal_`` and explicit bounds) and
    the bias per ``s.bias``. ``nn.Linear.weight`` is (out_features, in_features); torch computes
    fan_in from its second dimension, so the fans mean the same as in Keras. Residual or normalised
    networks: an ``nn.Module`` whose forward returns every block's output (module docstring).
    """
    s.validate()
    if not s.plain_mlp:
        return _torch_blocks(s)
    lines = _torch_head(s, [f"# initlab scenario in PyTorch: {s.depth} x Linear({s.width}, {s.width}) + "
                            f"{s.activation}, weights {s.init}."])
    if s.shared:
        lines += [f"one = nn.Linear({s.width}, {s.width}, dtype=dtype)",
                  "init_(one)",
                  f"linears = [one] * {s.depth}  # the same weight matrix in every layer"]
    else:
        lines += [f"linears = [nn.Linear({s.width}, {s.width}, dtype=dtype) for _ in range({s.depth})]",
                  "for layer in linears:",
                  "    init_(layer)"]
    lines += [
        f"act = {_torch_act(s.activation)}",
        "",
        *_inputs_code(s, "torch"),
        "h = torch.as_tensor(x, dtype=dtype)",
        "with torch.no_grad():",
        "    for i, layer in enumerate(linears, start=1):",
        "        h = act(layer(h))",
        "        report(i, h.numpy())",
        "",
    ]
    return "\n".join(lines)


def pytorch_training_snippet(ts: TrainScenario, restart: int) -> str:
    """PyTorch code that replays restart ``restart`` of ``ts`` step for step, and prints what initlab records.

    The data, the initial weights and the batch order come from initlab itself (``make_data``,
    ``initial_params``: Keras layout (fan_in, fan_out), transposed into ``nn.Linear.weight``;
    :func:`initlab.training.engine.batches`: one shuffle per epoch from the restart's own stream, a short last
    batch), so every update sees the same examples. The optimizer is the PyTorch equivalent of initlab's
    Keras-3 formulas (SGD; SGD with momentum, the same update for a constant learning rate; Adam written
    out as Keras 3 computes it, since ``torch.optim.Adam`` adds epsilon after the bias correction). The
    snippet records the full-training-set loss at initlab's recorded steps (``losses``, as
    ``TrainResult.loss[restart]``), the last one after the last update, and prints it with the test
    accuracy. ``ValueError`` if ``restart`` is not one of the scenario's restarts.

    Three or more classes: ``nn.CrossEntropyLoss`` on one logit per class (log-softmax, as initlab's
    categorical cross-entropy) with the labels as class indices, accuracy by argmax. digits with its whole
    split (n_train >= 1437 and n_test >= 360) is built in the snippet from scikit-learn itself
    (``load_digits``, ``train_test_split(test_size=0.2, stratify=y, random_state=data_seed)``, pixels / 16),
    the same arrays as ``make_data``; a smaller subset comes from ``make_data``.
    """
    from initlab.training.scenario import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON
    from initlab.training import datasets
    from initlab.training.engine import check_restart

    restart = check_restart(ts, restart)
    dtype = "torch.float64" if ts.dtype == "float64" else "torch.float32"
    opt = {"sgd": f"torch.optim.SGD(model.parameters(), lr={_num(ts.lr)})",
           "momentum": f"torch.optim.SGD(model.parameters(), lr={_num(ts.lr)}, momentum={_num(ts.momentum)})",
           "adam": None}[ts.optimizer]
    fields = ", ".join(f"{k}={v!r}" for k, v in ts.changes().items())
    ce = ts.softmax
    ydt = "torch.long" if ce else dtype  # class indices for CrossEntropyLoss, 0./1. for BCEWithLogitsLoss
    whole_digits = ts.dataset == "digits" and ts.n_train >= datasets.DIGITS_TRAIN and ts.n_test >= datasets.DIGITS_TEST
    if whole_digits:
        div = " / 16.0" if ts.inputs == "standard" else ""  # standard: pixels / 16, in [0, 1]
        data_lines = [
            "from sklearn.datasets import load_digits",
            "from sklearn.model_selection import train_test_split",
            "digits = load_digits()  # 1797 8x8 images, bundled with scikit-learn (nothing is downloaded)",
            "X_tr, X_te, y_tr, y_te = train_test_split(digits.data, digits.target, test_size=0.2,",
            "                                          stratify=digits.target, random_state=ts.data_seed)",
            f"X = torch.tensor(X_tr{div}, dtype={dtype}); y = torch.tensor(y_tr, dtype={ydt})",
            f"Xt = torch.tensor(X_te{div}, dtype={dtype}); yt = torch.tensor(y_te, dtype={ydt})",
        ]
    else:
        data_lines = [
            "data = make_data(ts)",
            f"X = torch.tensor(data.X_train, dtype={dtype}); y = torch.tensor(data.y_train, dtype={ydt})",
            f"Xt = torch.tensor(data.X_test, dtype={dtype}); yt = torch.tensor(data.y_test, dtype={ydt})",
        ]
    head = (lambda out: out) if ce else (lambda out: f"{out}[:, 0]")
    lines = [
        "# Train the same network in PyTorch, from initlab's own data, starting weights and batch order.",
        "# pip install torch==2.13.0, then run it from the initlab folder (it imports initlab for these).",
        "import math",
        "",
        "import torch",
        "from torch import nn",
        "from initlab import TrainScenario",
        "from initlab.training.engine import batches, initial_params, make_data, record_steps",
        "",
        f"ts = TrainScenario({fields})",
        f"restart = {restart}  # replays initlab's restart {restart} (seed ts.seed + restart)",
        *data_lines,
        *(_torch_plain_model(ts, dtype) if ts.plain_mlp else _torch_block_model(ts, dtype)),
        "loss_fn = nn.CrossEntropyLoss()  # mean categorical cross-entropy, from the logits by log-softmax" if ce else
        "loss_fn = nn.BCEWithLogitsLoss()  # mean binary cross-entropy, computed stably from the logits",
    ]
    if opt is not None:
        lines.append(f"opt = {opt}")
        zero, update = "    opt.zero_grad()", ["    opt.step()"]
    else:
        # Keras 3's Adam, as initlab runs it: torch.optim.Adam adds epsilon after the bias correction.
        lines += ["params = [p for p in model.parameters() if p.requires_grad]",
                  "m = [torch.zeros_like(p) for p in params]; v = [torch.zeros_like(p) for p in params]",
                  f"lr, b1, b2, eps = {_num(ts.lr)}, {ADAM_BETA1}, {ADAM_BETA2}, {ADAM_EPSILON}"]
        zero = "    model.zero_grad()"
        update = ["    with torch.no_grad():  # Keras 3 Adam",
                  "        alpha = lr * math.sqrt(1 - b2 ** (step + 1)) / (1 - b1 ** (step + 1))",
                  "        for p, mp, vp in zip(params, m, v):",
                  "            mp += (p.grad - mp) * (1 - b1); vp += (p.grad * p.grad - vp) * (1 - b2)",
                  "            p -= mp * alpha / (vp.sqrt() + eps)"]
    if ts.plain_mlp:
        loss_lines = ["def train_loss():",
                      "    with torch.no_grad():",
                      f"        return loss_fn({head('model(X)')}, y).item()"]
    else:  # initlab records the evaluated network: BatchNorm with its running statistics
        loss_lines = ["def train_loss():",
                      "    model.train(False)  # evaluation mode: BatchNorm uses its running statistics, as initlab's records",
                      "    with torch.no_grad():",
                      f"        loss = loss_fn({head('model(X)')}, y).item()",
                      "    model.train()",
                      "    return loss"]
    lines += [
        "",
        *loss_lines,
        "",
        "",
        "recorded = set(record_steps(ts.steps, ts.records).tolist())  # the steps of initlab's loss curve",
        "losses = {}  # step -> loss on the whole training set before that step's update",
        "for step, idx in enumerate(batches(ts, restart)):  # initlab's examples for every update",
        "    if step in recorded:",
        "        losses[step] = train_loss()",
        "    idx = torch.from_numpy(idx)",
        zero,
        f"    loss_fn({head('model(X[idx])')}, y[idx]).backward()",
        *update,
        "losses[ts.steps] = train_loss()  # after the last update, as initlab's last record",
        *([] if ts.plain_mlp else ["model.train(False)  # evaluation mode for the test accuracy"]),
        "with torch.no_grad():",
        ("    acc = (model(Xt).argmax(dim=1) == yt).to(torch.float64).mean().item()" if ce else
         "    acc = ((model(Xt)[:, 0] > 0) == (yt == 1)).to(torch.float64).mean().item()"),
        "print(f'final training loss {losses[ts.steps]:.6g}, test accuracy {acc:.3f}')",
    ]
    return "\n".join(lines) + "\n"


def _torch_plain_model(ts: TrainScenario, dtype: str) -> list[str]:
    """The training snippet's plain MLP: ``nn.Sequential`` of Linear and activation layers."""
    return [
        "layers = []",
        "for i, (W, b) in enumerate(initial_params(ts, restart)):",
        f"    lin = nn.Linear(*W.shape, dtype={dtype})",
        "    with torch.no_grad():",
        f"        lin.weight.copy_(torch.tensor(W.T, dtype={dtype}))  # Keras (in, out) -> torch (out, in)",
        f"        lin.bias.copy_(torch.tensor(b, dtype={dtype}))",
        "    layers.append(lin)",
        f"    if i < {len(ts.hidden)}:",
        f"        layers.append({activations.get(ts.activation).torch})",
        "model = nn.Sequential(*layers)  # logits; the " + ("softmax" if ts.softmax else "sigmoid") + " is in the loss",
    ]


def _torch_block_model(ts: TrainScenario, dtype: str) -> list[str]:
    """The training snippet's residual or normalised network (:mod:`initlab.training.engine`'s formulas):
    the Linear layers from ``initial_params`` (stem, branch layers block by block, head), PyTorch's own
    norms (``BatchNorm1d`` with momentum 0.1: what initlab's running statistics follow; ``LayerNorm``),
    gamma and beta from 1 and 0, and alpha a ``nn.Parameter`` per block when it is learned."""
    eps = _num(ts.norm_eps)
    norm = {"batch": f"nn.BatchNorm1d(w, eps={eps}, momentum=0.1, dtype={dtype})",
            "layer": f"nn.LayerNorm(w, eps={eps}, dtype={dtype})"}.get(ts.norm)
    m, B = ts.layers_per_block, ts.blocks
    alpha = "self.alpha[{k}]" if ts.alpha_learned else repr(ts.alpha())
    lines = [
        "",
        "",
        "class Net(nn.Module):",
        f'    """{_train_formula(ts)}"""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.lins = nn.ModuleList()",
        "        for W, b in initial_params(ts, restart):  # the stem, the branch layers block by block, the head",
        f"            lin = nn.Linear(*W.shape, dtype={dtype})",
        "            with torch.no_grad():",
        f"                lin.weight.copy_(torch.tensor(W.T, dtype={dtype}))  # Keras (in, out) -> torch (out, in)",
        f"                lin.bias.copy_(torch.tensor(b, dtype={dtype}))",
        "            self.lins.append(lin)",
        f"        self.f = {activations.get(ts.activation).torch}",
    ]
    if ts.cancelled_biases:
        lines += [f"        for i in {list(ts.cancelled_biases)}:  # biases just before a BatchNorm: their gradient "
                  "is exactly 0,",
                  "            self.lins[i].bias.requires_grad_(False)  # as initlab's (not Adam-amplified "
                  "rounding noise)"]
    if norm is not None:
        lines.append(f"        self.norms = nn.ModuleList([{norm} for w in ts.norm_widths])  # gamma 1, beta 0")
    if ts.alpha_learned:
        lines.append(f"        self.alpha = nn.Parameter(torch.full(({B},), {ts.alpha()!r}, dtype={dtype}))"
                     "  # learned, one per block")
    lines += ["", "    def forward(self, h):", "        lins = iter(self.lins)"]
    if norm is not None:
        lines.append("        norms = iter(self.norms)")
    nrm = (lambda x: f"next(norms)({x})") if norm is not None else (lambda x: x)
    if not ts.residual:
        lines += [f"        for _ in range({len(ts.hidden)}):",
                  f"            h = self.f({nrm('next(lins)(h)')})"]
    else:
        lines.append(f"        h = self.f({nrm('next(lins)(h)')})  # the stem, a plain layer")
        lines.append(f"        for k in range({B}):")
        a = alpha.format(k="k")
        if ts.norm_position == "pre":
            lines.append("            x = h")
            lines += [f"            x = next(lins)(self.f({nrm('x')}))"] * m
            lines.append(f"            h = h + {a} * x")
        else:
            lines.append("            x = self.f(next(lins)(h))")
            if m == 2:
                lines.append("            x = next(lins)(x)")
            lines.append(f"            h = {nrm(f'h + {a} * x')}")
    lines += ["        return next(lins)(h)  # the head: " + (f"{ts.outputs} logits, one per class" if ts.softmax else "one logit"),
              "", "", "model = Net()  # logits; the " + ("softmax" if ts.softmax else "sigmoid") + " is in the loss"]
    return lines


def _train_formula(ts: TrainScenario) -> str:
    """One line saying what the training network computes."""
    n = {"none": "", "batch": "BatchNorm", "layer": "LayerNorm"}[ts.norm]
    if not ts.residual:
        return f"{len(ts.hidden)} x (Linear -> {n} -> f), then the head Linear(., {ts.outputs})."
    a = "learned alpha_k" if ts.alpha_learned else f"alpha = {ts.alpha():g}"
    one = ts.layers_per_block == 1
    if ts.norm_position == "pre":
        branch = "f(N(x)) W + b" if one else "f(N(f(N(x)) W1 + b1)) W2 + b2"
    else:
        branch = "f(x W + b)" if one else "f(x W1 + b1) W2 + b2"
    outer = ("h + alpha B(h)" if ts.norm_position == "pre" or not n else "N(h + alpha B(h))")
    return (f"Stem Linear({ts.features}, w) -> {n or 'no norm'} -> f, then {ts.blocks} residual blocks h <- {outer}, "
            f"B(x) = {branch} (N = {n or 'identity'}, {a}), then the head Linear(w, {ts.outputs}).")


# ------------------------------------------------------------------------------------------------
# Residual and normalised networks (initlab.signal.blocks): one builder per framework, the plain MLP
# above stays as it was.


def _formula(s: Scenario) -> list[str]:
    """Comment lines with the block's formula (the one of :mod:`initlab.signal.blocks`)."""
    n = {"none": "", "batch": "BatchNorm", "layer": "LayerNorm"}[s.norm]
    if not s.residual:
        return [f"# Every layer: h_l = f(N(h_(l-1) W + b)), N = {n} (Linear -> Norm -> f, Ioffe & Szegedy 2015)."] + (
            ["# The BatchNorm subtracts each unit's batch mean, so the bias b before it cancels exactly."]
            if s.norm == "batch" else [])
    nn_ = f"N = {n}" if n else "no norm"
    if s.norm_position == "pre":
        branch = "f(N(x)) W + b" if s.branch_layers == 1 else "f(N(f(N(x)) W1 + b1)) W2 + b2"
        if not n:
            branch = branch.replace("N(x)", "x").replace("N(f(x) W1 + b1)", "f(x) W1 + b1")
        return [f"# Every block (pre-norm, {nn_}): h_l = h_(l-1) + alpha * B(h_(l-1)), B(x) = {branch};",
                "# the identity path is never normalised (pre-activation ResNet, pre-LN Transformer)."]
    branch = "f(x W + b)" if s.branch_layers == 1 else "f(x W1 + b1) W2 + b2"
    outer = "N(h_(l-1) + alpha * B(h_(l-1)))" if n else "h_(l-1) + alpha * B(h_(l-1))"
    return [f"# Every block (post-norm, {nn_}): h_l = {outer}, B(x) = {branch}",
            "# (post-LN Transformer: the sum is normalised)." if n else "# (no norm on the sum)."]


def _title(s: Scenario, framework: str) -> str:
    """First line of a block snippet: what the network is, in a few words."""
    norm = {"none": "", "batch": ", BatchNorm", "layer": ", LayerNorm"}[s.norm]
    if not s.residual:
        return (f"# initlab scenario in {framework}: {s.depth} x (Linear({s.width}){norm} + {s.activation}), "
                f"weights {s.init}.")
    return (f"# initlab scenario in {framework}: {s.depth} residual blocks ({s.norm_position}-norm{norm}, "
            f"{s.branch_layers} x Linear({s.width}) per branch, {s.activation}), weights {s.init}.")


def _alpha_lines(s: Scenario) -> list[str]:
    """``ALPHA = ...`` with why it has this value (residual networks only)."""
    a = s.alpha()
    if s.residual_rule == "inv_sqrt_depth":
        why = (f"1/sqrt(depth) = 1/sqrt({s.depth}): GPT-2's 1/sqrt(2 n_layer) counts two branches per "
               "Transformer block, here there is one per block")
    elif s.residual_rule == "fixup":
        why = "Fixup keeps alpha = 1; its scaling is in the weights (FIXUP)"
    elif a == 0:
        return ["# alpha = 0: the network starts as the identity. ReZero and SkipInit make alpha a learned scalar",
                "# per block starting at 0; at initialization it is this fixed 0.",
                f"ALPHA = {_num(a)}"]
    else:
        why = "the branch scale, a fixed multiplier of the branch at initialization"
    return [f"ALPHA = {_num(a)}  # {why}"]


def _fixup_lines(s: Scenario) -> list[str]:
    """``FIXUP = ...`` with its source (Fixup scenarios only)."""
    return [f"# Fixup (Zhang et al. 2019, sec. 3): with L = {s.depth} branches of m = 2 layers, each branch's first",
            "# layer is drawn as usual then scaled by L^(-1/(2m-2)) = L^(-1/2), its last layer starts at zero.",
            f"FIXUP = {_num(float(s.depth) ** -0.5)}"]


def _uses_fixup(s: Scenario) -> bool:
    return s.residual and s.residual_rule == "fixup"


def _keras_norm(s: Scenario) -> list[str]:
    """``def norm(): ...`` for Keras (nothing without a norm)."""
    if s.norm == "none":
        return []
    if s.norm == "batch":
        layer = (f"keras.layers.BatchNormalization(epsilon={_num(s.norm_eps)}, momentum=0.99)"
                 "  # gamma = 1, beta = 0")
        why = ["    # Each unit normalised over the batch with its mean and biased variance when called with",
               "    # training=True (below), as at the first training step; momentum only moves the running",
               "    # averages used at inference, so it plays no part here."]
    else:
        layer = (f"keras.layers.LayerNormalization(epsilon={_num(s.norm_eps)})"
                 "  # over the last axis (the units); gamma = 1, beta = 0")
        why = ["    # Each example normalised over its units (mean and biased variance)."]
    return ["def norm():", *why, f"    return {layer}", "", ""]


def _keras_block_body(s: Scenario) -> list[str]:
    """The body (indented 4) of ``def block(h)`` returning the block's output (Keras functional API)."""
    n = (lambda t: f"norm()({t})") if s.norm != "none" else (lambda t: t)
    fix = _uses_fixup(s)
    if not s.residual:
        return [f"    return act()({n('linear()(h)')})"]
    if s.norm_position == "pre":
        lines = []
        src = "h"
        for k in range(s.branch_layers):
            last = k == s.branch_layers - 1
            arg = f"last={last}" if fix else ""
            lines.append(f"    branch = linear({arg})(act()({n(src)}))")
            src = "branch"
        add = "keras.layers.Add()([h, ALPHA * branch])"
        return lines + [f"    return {add}  # the identity path is never normalised"]
    arg = (lambda last: f"last={last}") if fix else (lambda last: "")
    lines = [f"    branch = act()(linear({arg(s.branch_layers == 1)})(h))"]
    if s.branch_layers == 2:
        lines.append(f"    branch = linear({arg(True)})(branch)")
    add = "keras.layers.Add()([h, ALPHA * branch])"
    if s.norm == "none":
        return lines + [f"    return {add}"]
    return lines + [f"    return norm()({add})  # post-norm: the sum is normalised"]


def _keras_linear(s: Scenario, kinit: str) -> list[str]:
    """``dense()`` and ``linear()``: the weight layers, kept in ``dense_layers`` in initlab's order."""
    bias = biases.keras_code(s.bias, s.bias_value, s.width)
    lines = [
        "def dense(kernel_initializer=None):",
        "    # No activation here: f comes after the norm (or in the branch), as its own layer.",
        "    if kernel_initializer is None:",
        f"        kernel_initializer = {kinit}  # a new one per layer: a new matrix",
        f"    return keras.layers.Dense({s.width}, kernel_initializer=kernel_initializer,",
        f"                              bias_initializer={bias})",
        "",
        "",
    ]
    if _uses_fixup(s):
        lines += [
            *_fixup_lines(s),
            "",
            "",
            "def fixup_first():",
            f"    init = {kinit}",
            "",
            "    def draw(shape, dtype=None):",
            "        return init(shape, dtype=dtype) * FIXUP",
            "    return draw",
            "",
            "",
        ]
    lines.append("dense_layers = []  # every weight layer, block after block (a branch's first, then its last)")
    if s.shared:
        if _uses_fixup(s):
            lines += ["one = {False: dense(fixup_first()), True: dense(keras.initializers.Zeros())}  "
                      "# one matrix reused by every first, one by every last layer"]
        else:
            lines += ["one = dense()  # the same layer (one weight matrix) reused in every position"]
    lines += ["", ""]
    if _uses_fixup(s):
        lines += ["def linear(last):",
                  "    layer = " + ("one[last]" if s.shared else
                                    "dense(keras.initializers.Zeros() if last else fixup_first())")]
    else:
        lines += ["def linear():", "    layer = " + ("one" if s.shared else "dense()")]
    lines += ["    dense_layers.append(layer)", "    return layer", "", ""]
    return lines


def _keras_blocks(s: Scenario) -> str:
    """:func:`keras_snippet` for residual or normalised networks (functional API, ``training=True``)."""
    kinit, head = _keras_head(s, [_title(s, "Keras 3"), *_formula(s)])
    lines = [
        *head,
        *_keras_linear(s, kinit),
        *_keras_norm(s),
        "def act():",
        f"    return keras.layers.Activation({activations.get(s.activation).keras})",
        "",
        "",
    ]
    if s.residual:
        lines += [*_alpha_lines(s), "", ""]
    lines += [
        "def block(h):",
        *_keras_block_body(s),
        "",
        "",
        f"inputs = keras.Input(shape=({s.width},))",
        "h, outputs = inputs, []",
        f"for _ in range({s.depth}):",
        "    h = block(h)",
        "    outputs.append(h)  # every block's output h_l" + (" (the residual stream)" if s.residual else "")
        + ": initlab's act_std",
        "model = keras.Model(inputs, outputs)",
        "",
        *_inputs_code(s, "keras"),
        f'h = keras.ops.convert_to_tensor(x, dtype="{s.dtype}")',
    ]
    if s.norm == "batch":
        lines.append("# training=True: BatchNormalization uses this batch's statistics, as at the first training step.")
    lines += [
        "hs = model(h, training=True)",
        "for i, h in enumerate(hs, start=1):",
        "    report(i, keras.ops.convert_to_numpy(h))",
        "",
    ]
    return "\n".join(lines)


def _torch_norm(s: Scenario) -> str:
    """The PyTorch norm module expression (train mode for BatchNorm1d: see the snippet)."""
    if s.norm == "batch":
        return f"nn.BatchNorm1d({s.width}, eps={_num(s.norm_eps)}, dtype=dtype)"
    return f"nn.LayerNorm({s.width}, eps={_num(s.norm_eps)}, dtype=dtype)"


def _torch_forward(s: Scenario) -> list[str]:
    """The body of ``Net.forward`` (indented 8 inside the block loop)."""
    k = s.layers_per_block
    has_norm = s.norm != "none"
    n = (lambda j, t: f"self.norms[{j}]({t})") if has_norm else (lambda j, t: t)
    nj = (lambda j: f"{k} * i + {j}" if j else f"{k} * i") if k > 1 else (lambda j: "i")
    w = (lambda j: f"self.linears[{nj(j)}]")
    if not s.residual:
        body = [f"h = self.act({n('i', w(0) + '(h)')})"]
    elif s.norm_position == "pre":
        body, src = [], "h"
        for j in range(k):
            body.append(f"branch = {w(j)}(self.act({n(nj(j), src)}))")
            src = "branch"
        body.append("h = h + ALPHA * branch  # the identity path is never normalised")
    else:
        body = [f"branch = self.act({w(0)}(h))"]
        if k == 2:
            body.append(f"branch = {w(1)}(branch)")
        body.append("h = self.norms[i](h + ALPHA * branch)  # post-norm: the sum is normalised" if has_norm
                    else "h = h + ALPHA * branch")
    return ["        " + line for line in body]


def _torch_blocks(s: Scenario) -> str:
    """:func:`pytorch_snippet` for residual or normalised networks (an ``nn.Module``, train mode)."""
    k = s.layers_per_block
    n_layers = s.depth * k
    fix = _uses_fixup(s)
    lines = [*_torch_head(s, [_title(s, "PyTorch"), *_formula(s)]), ""]
    if s.residual:
        lines += _alpha_lines(s)
    if fix:
        lines += _fixup_lines(s)
    if s.residual:
        lines += [""]
    order = "block after block (a branch's first, then its last)" if k > 1 else "one per block"
    if s.shared:
        if fix:
            lines += [f"first, last = nn.Linear({s.width}, {s.width}, dtype=dtype), nn.Linear({s.width}, {s.width}, dtype=dtype)",
                      "init_(first)",
                      "init_(last)",
                      f"linears = [first, last] * {s.depth}  # one matrix for every first, one for every last layer"]
        else:
            lines += [f"one = nn.Linear({s.width}, {s.width}, dtype=dtype)",
                      "init_(one)",
                      f"linears = [one] * {n_layers}  # the same weight matrix in every layer"]
    else:
        lines += [f"linears = [nn.Linear({s.width}, {s.width}, dtype=dtype) for _ in range({n_layers})]"
                  f"  # {order}",
                  "for layer in linears:",
                  "    init_(layer)"]
    if fix and s.shared:
        lines += ["with torch.no_grad():",
                  "    first.weight.mul_(FIXUP)",
                  "    last.weight.zero_()"]
    elif fix:
        lines += ["with torch.no_grad():",
                  "    for layer in linears[0::2]:  # each branch's first layer",
                  "        layer.weight.mul_(FIXUP)",
                  "    for layer in linears[1::2]:  # each branch's last layer",
                  "        layer.weight.zero_()"]
    n_norms = (s.depth * k if s.norm_position == "pre" else s.depth) if s.residual else s.depth
    lines += [
        f"act = {_torch_act(s.activation)}",
        "",
        "",
        "class Net(nn.Module):",
        f'    """{s.depth} blocks; forward returns every block\'s output h_l."""',
        "",
        "    def __init__(self, linears):",
        "        super().__init__()",
        "        self.linears = nn.ModuleList(linears)",
    ]
    if s.norm != "none":
        lines.append(f"        self.norms = nn.ModuleList({_torch_norm(s)} for _ in range({n_norms}))"
                     + ("  # gamma = 1, beta = 0" if s.norm == "batch" else "  # over the units; gamma = 1, beta = 0"))
    lines += [
        "        self.act = act",
        "",
        "    def forward(self, h):",
        "        outs = []",
        f"        for i in range({s.depth}):",
        *["    " + line for line in _torch_forward(s)],
        "            outs.append(h)  # the block's output h_l" + (" (the residual stream)" if s.residual else "")
        + ": initlab's act_std",
        "        return outs",
        "",
        "",
        "model = Net(linears)",
    ]
    if s.norm == "batch":
        lines.append("model.train()  # BatchNorm1d uses this batch's statistics (biased variance), as at the first "
                     "training step")
    lines += [
        "",
        *_inputs_code(s, "torch"),
        "h = torch.as_tensor(x, dtype=dtype)",
        "with torch.no_grad():",
        "    hs = model(h)",
        "for i, h in enumerate(hs, start=1):",
        "    report(i, h.numpy())",
        "",
    ]
    return "\n".join(lines)
