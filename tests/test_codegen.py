"""Keras / PyTorch snippets: they compile for every initializer and carry the right calls and numbers."""

import math

import pytest

from initlab import codegen, initializers
from initlab.scenario import Scenario

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
