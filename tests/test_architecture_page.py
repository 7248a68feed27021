"""The residual and normalised networks in the app: the Architecture expander, Compare by architecture,
impossible requests from a link (AppTest; the numbers themselves are tests/test_blocks.py's)."""

from __future__ import annotations

from tests.app_util import open_clean


def _query(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: (v if isinstance(v, str) else v[0]) for k, v in at.query_params.items()}


def test_the_expander_shows_the_block_formula_and_only_the_fields_that_mean_something():
    at = open_clean({"block": "residual", "norm": "batch", "norm_position": "post"})
    assert not at.exception
    keys = {w.key for w in (*at.sidebar.selectbox, *at.sidebar.number_input)}
    assert {"net.block", "net.norm", "net.norm_position", "net.branch_layers", "net.residual_rule",
            "net.residual_scale", "net.norm_eps"} <= keys
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "`h = N(h + α·B(h))`, `B(x) = f(x W + b)`, α = 1; N a BatchNorm (ε = 0.001)" in captions
    plain = open_clean({"norm": "batch"})
    keys = {w.key for w in (*plain.sidebar.selectbox, *plain.sidebar.number_input)}
    assert "net.residual_scale" not in keys and "net.norm_position" not in keys and "net.norm_eps" in keys
    assert "the bias init changes nothing here" in " ".join(c.value for c in plain.sidebar.caption)


def test_pytorchs_epsilon_is_one_click_away():
    at = open_clean({"norm": "layer"})
    [button] = [b for b in at.sidebar.button if b.key == "norm_eps_flip"]
    assert button.label == "Use PyTorch's ε = 1e-05"
    button.click().run()
    assert not at.exception
    assert at.sidebar.number_input(key="net.norm_eps").value == 1e-5 and _query(at)["norm_eps"] == "1e-05"
    [back] = [b for b in at.sidebar.button if b.key == "norm_eps_flip"]
    assert back.label == "Use Keras' ε = 0.001"


def test_compare_by_architecture_draws_each_network_with_its_mean_field_curve():
    at = open_clean({"tab": "compare", "cmp_by": "architecture", "init": "he_normal", "activation": "relu"})
    assert not at.exception
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [t.get("name") for t in charts[0]["data"]]
    for label in ("plain", "residual", "residual + pre-LayerNorm", "residual + post-LayerNorm"):
        assert label in names and f"{label} (mean-field)" in names, (label, names)
    assert any("Dotted: each network's mean-field prediction" in c.value for c in at.caption)


def test_impossible_networks_from_a_link_get_a_notice_and_a_fallback():
    at = open_clean({"norm": "batch", "batch": "1", "block": "residual", "residual_rule": "fixup",
                     "residual_scale": "nan"})
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "a BatchNorm over a batch of 1 always outputs 0" in text and "Using no normalization" in text
    assert "Fixup is defined for branches of two layers" in text and "Using 2 layers per branch" in text
    assert "`residual_scale` ignored: the rule fixup sets alpha" in text
    assert at.sidebar.selectbox(key="net.norm").value == "none"
    assert at.sidebar.number_input(key="net.branch_layers").value == 2
