"""Bias schemes: each scheme's draw agrees with its declared moments, and every consumer reads the one table.

Statistical tolerances are derived: for N iid draws the sample mean has standard error sqrt(var / N) and
the sample variance sqrt((mu4 - var^2) / N) (mu4 the fourth central moment, estimated from the sample);
5 standard errors are allowed (a false alarm once in 1.7 million per check; the draws are seeded anyway).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from initlab.weights import biases

SEED = 20240611
Z5 = 5.0
DTYPES = [np.float32, np.float64]


def rng(seed: int = SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("scheme", biases.NAMES)
@pytest.mark.parametrize("value, fan_in", [(0.3, 7), (-0.4, 64)])
def test_each_scheme_draws_what_its_moments_declare(scheme, value, fan_in):
    n = 400_000
    mean, var = biases.moments(scheme, value, fan_in)
    b = biases.draw(scheme, value, fan_in, (n,), rng(), np.float64)
    if var == 0:  # a constant: every bias is the declared mean, exactly
        assert np.all(b == mean)
        return
    m, s2 = b.mean(), b.var()
    mu4 = np.mean((b - m) ** 4)
    assert abs(m - mean) <= Z5 * math.sqrt(var / n)
    assert abs(s2 - var) <= Z5 * math.sqrt((mu4 - s2 * s2) / n)


def test_the_table_states_the_formulas_and_sources():
    assert biases.moments("torch_linear", 0.7, 12) == (0.0, 1.0 / 36)  # U[+-1/sqrt(n)]: 1/(3n), value unused
    assert biases.moments("random_normal", -0.5, 3) == (0.0, 0.25)
    assert biases.moments("constant", -0.5, 3) == (-0.5, 0.0)
    assert "reset_parameters" in biases.get("torch_linear").source
    assert biases.WITHOUT_VALUE == ("zeros", "torch_linear")
    for scheme in biases.NAMES:
        assert biases.get(scheme).formula and biases.get(scheme).source


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scheme", biases.NAMES)
def test_biases_drawn_layer_by_layer_equal_one_draw_for_all_layers(scheme, dtype):
    # network.build draws all its layers' biases in one call, training.initial_params one layer at a
    # time; both call biases.draw, so a scheme means the same numbers only if the stream is consumed
    # alike (float32 draws take 32-bit halves of 64-bit words: the odd sizes here split words).
    whole = biases.draw(scheme, 0.3, 7, (3, 5), rng(), dtype)
    g = rng()
    parts = np.stack([biases.draw(scheme, 0.3, 7, (5,), g, dtype) for _ in range(3)])
    assert whole.dtype == np.dtype(dtype) and np.array_equal(whole, parts)
    assert biases.is_zero(scheme, 0.0) == (scheme != "torch_linear")  # torch_linear ignores the value
    if scheme == "torch_linear":
        assert np.abs(whole).max() <= 1 / math.sqrt(7) and whole.std() > 0


def test_zero_biases_consume_nothing_and_print_the_zeros_code():
    for scheme in ("zeros", "constant", "random_normal"):
        g = rng()
        assert not biases.draw(scheme, 0.0, 5, (4,), g).any()
        assert g.random() == rng().random()  # the stream is untouched
        assert biases.keras_code(scheme, 0.0, 5) == '"zeros"'
        assert biases.torch_code(scheme, 0.0, 5).startswith("nn.init.zeros_(b)")


def test_unknown_bias_schemes_are_named():
    with pytest.raises(ValueError, match="Unknown bias scheme 'he_normal'; choose one of"):
        biases.draw("he_normal", 0.1, 4, (4,), rng())
    with pytest.raises(ValueError, match="fan_in must be a positive integer"):
        biases.draw("torch_linear", 0.1, 0, (4,), rng())


@pytest.mark.parametrize("scheme", biases.NAMES)
def test_every_consumer_reads_the_table(scheme, monkeypatch):
    """Replace one scheme's entry by a marked one: the deep-signal engine, the training, the mean-field
    theory, the scenario and both code snippets must all follow it, so no copy of a scheme can hide in one."""
    from initlab.signal import network
    from initlab.signal.scenario import FIELD_BY_NAME, Scenario
    from initlab.teaching import codegen
    from initlab.theory import meanfield
    from initlab.training import engine
    from initlab.training.scenario import TrainScenario

    marked = dataclasses.replace(
        biases.get(scheme), zero=lambda value: False,
        moments=lambda value, fan_in: (0.0, 1000.0 + fan_in),
        sample=lambda value, fan_in, shape, rng, dtype: np.full(shape, 1000.0 + fan_in, dtype=dtype),
        keras=lambda value, fan_in: f"MARK_KERAS_{fan_in}", torch=lambda value, fan_in: f"MARK_TORCH_{fan_in}")
    monkeypatch.setitem(biases._SCHEMES, scheme, marked)
    assert FIELD_BY_NAME["bias"].choices is biases.NAMES

    s = Scenario(depth=3, width=8, batch=2, bias=scheme, bias_value=0.2)
    assert np.array_equal(network.build(s).biases, np.full((3, 8), 1008.0, dtype=np.float32))
    ts = TrainScenario(hidden=(5, 3), restarts=1, bias=scheme, bias_value=0.2)
    for (_, b), fan_in in zip(engine.initial_params(ts, 0), ts.sizes[:-1]):
        assert np.array_equal(b, np.full(b.shape, 1000.0 + fan_in))  # each layer with its own fan-in
    assert meanfield.bias_variance(s) == 1008.0
    assert "bias_initializer=MARK_KERAS_8)" in codegen.keras_snippet(s)
    assert "\n    MARK_TORCH_8\n" in codegen.pytorch_snippet(s)
