"""One "did you mean ...?" rule for links, constructors and registries (initlab.numerics.names)."""

import pytest

from initlab.ui.links import decode_query
from initlab.numerics.names import nearest, suggestion
from initlab.weights import activations, initializers


@pytest.mark.parametrize("typed, meant", [
    ("relu", "relu"),  # itself
    ("ReLU", "relu"),  # case
    ("he-normal", "he_normal"),  # dash for underscore
    ("xavier", "glorot_uniform"),  # alias: Glorot & Bengio's own formula, Keras's name for it
    ("Xavier_Normal", "glorot_normal"),
    ("kaiming", "he_normal"),
    ("kaiming_normal", "torch_kaiming_normal"),  # spelling (difflib ratio 0.82)
    ("glorot_unifrom", "glorot_uniform"),
    ("nope", None),
])
def test_nearest_name(typed, meant):
    valid = initializers.names() + activations.names()
    aliases = {**initializers.ALIASES, **activations.ALIASES}
    assert nearest(typed, valid, aliases) == meant


def test_an_alias_counts_only_where_its_target_is_valid():
    assert nearest("xavier", ["he_normal", "zeros"], initializers.ALIASES) is None


def test_suggestion_puts_the_guess_before_the_list():
    assert suggestion("tanhh", ["tanh", "relu"]) == "; did you mean 'tanh'? (choose one of tanh, relu)"
    assert suggestion("zz", ["tanh", "relu"]) == "; choose one of tanh, relu"


def test_registries_and_links_suggest_the_same_name():
    with pytest.raises(ValueError, match="did you mean 'glorot_uniform'"):
        initializers.get("xavier")
    with pytest.raises(ValueError, match="did you mean 'relu'"):
        activations.get("ReLU")
    notices = decode_query({"init": "xavier", "activation": "ReLU"}, {}).notices
    assert [n.message for n in notices] == [
        "`init`: `xavier` is not one of the choices (did you mean `glorot_uniform`?); using glorot_uniform",
        "`activation`: `ReLU` is not one of the choices (did you mean `relu`?); using tanh"]
