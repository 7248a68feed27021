"""Cross-check initlab against real Keras 3 and PyTorch by running the snippets of initlab.teaching.codegen.

Optional: Keras and PyTorch are not test requirements, so the module skips when they are missing::

    pip install torch==2.13.0 keras
    KERAS_BACKEND=torch OPENBLAS_NUM_THREADS=1 python -m pytest tests/test_frameworks.py -q

(``KERAS_BACKEND`` defaults to torch here, so the second line works without it too.)

Every initializer of ``initializers.names()`` is run three ways: ``initlab.propagate`` (column
``act_std`` of ``Result.layers``), ``codegen.keras_snippet`` and ``codegen.pytorch_snippet`` (executed in
a fresh namespace, their printed per-layer std parsed). The three draw different numbers (their own
generators, even their own input batch), so they are compared statistically, with tolerances
derived below, not fitted.

Setting: a *linear* network (h_l = h_{l-1} W_l, zero biases), depth L = 6, width n = 128, batch B = 128.
Linear, because then the expectation of every layer's variance given the input batch x is exact for
any initializer, whatever its mean and variance (tanh or ReLU would need approximations), and the
log-std compares scales without explosion or vanishing mattering (the ``ones`` network grows by 128
per layer and stays finite in float32 at this depth). The nonlinearities are checked apart, exactly
(:func:`test_snippet_activation_is_initlabs`), and the kernels themselves against initlab's theory of
each initializer (:func:`test_kernels_match_initlab_theory`: mean, std, range, a new matrix per layer),
which resolves a 3% error in a kernel's std where six layers of activations resolve ~5% per layer.

**Expectation given x** (:func:`expected_var`). The population variance of h is
``std^2 = t / (Bn) - c / (Bn)^2`` with ``t = ||h||_F^2`` and ``c = (1^T h 1)^2``. For a kernel with iid
entries of mean mu and variance s^2, ``E[W W^T] = n mu^2 J + n s^2 I`` and ``E[W 1 1^T W^T] =
n^2 mu^2 J + n s^2 I`` (J = all ones), so with ``a = ||h 1||^2`` and ``d = ||h^T 1||^2``::

    t' = n mu^2 a + n s^2 t        a' = n^2 mu^2 a + n s^2 t
    c' = n^2 mu^2 c + n s^2 d      d' = n mu^2 c + n s^2 d

is exact in expectation (only mu and s matter; they come from initlab's ``Initializer.mean/std``).
Orthogonal (gain g, Haar Q): ``||h Q||_F = ||h||_F`` exactly, ``E (v^T Q 1)^2 = ||v||^2``, so
``t' = g^2 t`` and ``c' = d' = g^2 d``. Identity: everything times g^2. Constant kernels (zeros, ones,
constant) have s = 0: the recursion is then the exact value, not just its expectation.

**Fluctuation given x** (:func:`log_std_variance`). The recursion is linear, ``E[S_i | S_{i-1}] =
M S_{i-1}`` for the state S = (t, a, c, d), so with ``e = (1/(Bn), 0, -1/(Bn)^2, 0)``::

    std_l^2 - E[std_l^2 | x] = sum_{i<=l} e^T M^(l-i) eps_i,    eps_i = S_i - M S_{i-1}

a sum of martingale differences (uncorrelated), of variance ``sum_i g^T Cov(eps_i | h_{i-1}) g``. Each
of t, a, c, d is a quadratic form in the kernel's entries, so ``Cov(eps_i | h_{i-1})`` is exact for
Gaussian entries (``2 s^4 tr(G1 G2) + 4 s^2 mu^2 1^T G1 G2 1``, evaluated on initlab's own
activations) and an upper bound for the lighter-tailed uniform and truncated normals (their
fourth-moment term is negative); ``Var(log std) = Var(std^2) / (4 E[std^2]^2)``. For zero-mean kernels
this is ``1/4 sum_i 2 m2_i / n^2``, ``m2 = n tr(H^2) / (tr H)^2`` of ``H = h^T h``: about 1 + n/B for the
input, growing by ~1 per layer as the spectrum of a product of random matrices spreads (Fuss-Catalan).
At layer 6 the std of log std is ~0.03, ~5x the naive ``1/sqrt(2 B n)``: the kernels (n^2 entries),
not the B n activations, set the sampling error. :func:`test_tolerance_model_matches_initlab_spread`
checks the model against initlab's spread over many seeds.

**Residual and normalised networks** (end of the module): no closed form there, so the same normal model
runs on the spread measured over 200 seeds of initlab (``test_block_std_matches_initlab``), and the
formulas of :mod:`initlab.signal.blocks` are checked exactly against the frameworks' own BatchNorm /
LayerNorm with initlab's weights copied in (``test_blocks_equal_framework_with_initlabs_weights``:
per-block outputs and weight gradients to float rounding).

**Test**: ``r = log std - 1/2 log E[std^2 | own x]`` for initlab and for the snippet; ``|r_fw - r_il| <=
Z sqrt(2 V_l)`` with Z = 5 (two-sided normal tail 6e-7 per check: the seeds are fixed, but over
random seeds the ~550 checks would raise a false alarm less than once in 3000 runs), plus the 4
printed significant digits (5e-4 in log) and float rounding. Orthogonal adds the one random term it has, ``c``: about a
chi-square with one degree of freedom times E c, bounded by Z^2 E c. Zeros must print exactly 0.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
from dataclasses import dataclass

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported, so one command suffices

_REASON = ("Keras/PyTorch cross-check skipped: install with `pip install torch==2.13.0 keras` "
           "and run with KERAS_BACKEND=torch")
torch = pytest.importorskip("torch", reason=_REASON)
keras = pytest.importorskip("keras", reason=_REASON)

from initlab import propagate  # noqa: E402
from initlab.weights import activations
from initlab.teaching import codegen
from initlab.weights import initializers
from initlab.signal import network
from initlab.signal.scenario import Scenario  # noqa: E402

DEPTH, WIDTH, BATCH, SEED = 6, 128, 128, 3
Z = 5.0  # tolerance in standard deviations of the derived sampling error
PRINT_LOG_TOL = 5.01e-4  # 4 printed significant digits: |log(printed / true)| <= -log(1 - 5e-4)
DEGENERATE = ("zeros", "ones", "constant", "identity")
GAUSSIAN = ("random_normal", "torch_kaiming_normal", "torch_xavier_normal")  # kurtosis 3: the bound is tight

# Keras' convert_to_numpy calls np.array on torch tensors, which numpy 2.4 flags (Keras' business, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

torch.set_num_threads(1)  # the machine is shared; these matrices are small


# ------------------------------------------------------------------------------------------------
# Running a snippet


@dataclass
class Run:
    """What a snippet printed (per layer: std, inf/NaN fraction), its notes and its namespace."""

    std: np.ndarray
    bad: np.ndarray
    notes: list[str]
    ns: dict

    def kernels(self) -> list[np.ndarray]:
        """The weight matrices in Keras layout (fan_in, fan_out), float64."""
        if "layers" in self.ns:
            return [np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float64)
                    for layer in self.ns["layers"]]
        return [layer.weight.detach().numpy().astype(np.float64).T for layer in self.ns["linears"]]


_LINE = re.compile(r"layer\s+(\d+)\s+std\s+(\S+)(?:\s+\(([\d.]+)% inf/nan\))?")


def run_snippet(framework: str, s: Scenario) -> Run:
    """Execute ``codegen.<framework>_snippet(s)`` in a fresh namespace and parse what it printed."""
    code = codegen.keras_snippet(s) if framework == "keras" else codegen.pytorch_snippet(s)
    ns: dict = {"__name__": f"snippet_{framework}"}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{framework} snippet: {s.init}>", "exec"), ns)
    finally:
        keras.config.set_floatx("float32")  # the Keras snippet sets global state
    std, bad, notes = [], [], []
    for line in out.getvalue().splitlines():
        m = _LINE.fullmatch(line.strip())
        if m is None:
            notes.append(line)
            continue
        assert int(m.group(1)) == len(std) + 1, line
        std.append(float(m.group(2)))
        bad.append(float(m.group(3)) / 100 if m.group(3) else 0.0)
    assert len(std) == s.depth, out.getvalue()
    return Run(np.array(std), np.array(bad), notes, ns)


def keras_computes_float64() -> bool:
    """Whether Keras ops keep float64: Keras 3 maps it to float32 in ``backend.result_type`` on every
    backend but TensorFlow (asked, not assumed, so a Keras that changes this shows up here)."""
    return keras.backend.result_type("float64", "float64") == "float64"


# ------------------------------------------------------------------------------------------------
# The theory (see the module docstring)


def _kernel_moments(init: initializers.Initializer, n: int) -> tuple[float, float]:
    """(mean, std) of one kernel entry, from initlab's theory of the initializer."""
    return init.mean(n, n), init.std(n, n)


def expected_var(s: Scenario, x: np.ndarray) -> np.ndarray:
    """E[std_l^2 | x], l = 1..depth, for the linear network of ``s`` fed the batch ``x`` (exact).

    Recursion on t = ||h||_F^2, a = ||h 1||^2, c = (1^T h 1)^2, d = ||h^T 1||^2 (module docstring).
    """
    init = initializers.get(s.init, **s.init_params())
    h = np.asarray(x, dtype=np.float64)
    b, n = h.shape
    t, a = float(np.sum(h * h)), float(np.sum(h.sum(axis=1) ** 2))
    c, d = float(h.sum()) ** 2, float(np.sum(h.sum(axis=0) ** 2))
    out = []
    for _ in range(s.depth):
        if s.init in ("orthogonal", "identity"):
            g2 = init.params["gain"] ** 2
            if s.init == "orthogonal":  # Haar Q: E[Q 1 1^T Q^T] = I, ||hQ|| = ||h||
                t, a, c, d = g2 * t, g2 * t, g2 * d, g2 * d
            else:
                t, a, c, d = g2 * t, g2 * a, g2 * c, g2 * d
        else:
            mu, sd = _kernel_moments(init, n)
            m2, s2 = mu * mu, sd * sd
            t, a, c, d = (n * m2 * a + n * s2 * t, n * n * m2 * a + n * s2 * t,
                          n * n * m2 * c + n * s2 * d, n * m2 * c + n * s2 * d)
        out.append(t / (b * n) - c / (b * n) ** 2)
    return np.array(out)


def orthogonal_c_share(s: Scenario, x: np.ndarray) -> np.ndarray:
    """E[c_l] / (Bn)^2 / E[std_l^2]: the share of the one random term of an orthogonal network."""
    h = np.asarray(x, dtype=np.float64)
    b, n = h.shape
    g2 = initializers.get(s.init, **s.init_params()).params["gain"] ** 2
    d0 = float(np.sum(h.sum(axis=0) ** 2))
    ec = np.array([g2 ** (l + 1) * d0 for l in range(s.depth)]) / (b * n) ** 2
    return ec / expected_var(s, x)


def _state(h: np.ndarray) -> np.ndarray:
    """(t, a, c, d) = (||h||_F^2, ||h 1||^2, (1^T h 1)^2, ||h^T 1||^2) of a (B, n) activation."""
    u, v = h.sum(axis=1), h.sum(axis=0)
    return np.array([float(np.sum(h * h)), float(u @ u), float(v.sum()) ** 2, float(v @ v)])


def _noise_cov(h: np.ndarray, mu: float, sd: float) -> np.ndarray:
    """Cov of the next layer's (t, a, c, d) given its input h, for a kernel of iid N(mu, sd^2) entries.

    Each is a quadratic form vec(W)^T (A (x) K) vec(W) (columns stacked): t: (I, H), a: (J, H),
    c: (J, P), d: (I, P), with H = h^T h, P = v v^T, v = h^T 1, J = all ones. For vec(W) ~ N(mu 1, sd^2 I):
    Cov = 2 sd^4 tr(A1 A2) tr(K1 K2) + 4 sd^2 mu^2 (1^T A1 A2 1)(1^T K1 K2 1).
    """
    n = h.shape[1]
    big_h, v = h.T @ h, h.sum(axis=0)
    h1, hv = big_h.sum(axis=1), big_h @ v
    vv, v1 = float(v @ v), float(v.sum())
    # tr(K1 K2) and 1^T K1 K2 1 for K in (H, P), indexed [k1][k2].
    tr_k = np.array([[float(np.sum(big_h * big_h)), float(v @ hv)], [float(v @ hv), vv * vv]])
    one_k = np.array([[float(h1 @ h1), float(h1 @ v) * v1], [float(h1 @ v) * v1, v1 * v1 * vv]])
    # tr(A1 A2) and 1^T A1 A2 1 for A in (I, J).
    tr_a = np.array([[n, n], [n, n * n]], dtype=float)
    one_a = np.array([[n, n * n], [n * n, n ** 3]], dtype=float)
    forms = ((0, 0), (1, 0), (1, 1), (0, 1))  # (A, K) of t, a, c, d
    cov = np.empty((4, 4))
    for i, (a1, k1) in enumerate(forms):
        for j, (a2, k2) in enumerate(forms):
            cov[i, j] = (2 * sd ** 4 * tr_a[a1, a2] * tr_k[k1, k2]
                         + 4 * sd * sd * mu * mu * one_a[a1, a2] * one_k[k1, k2])
    return cov


def log_std_variance(s: Scenario) -> np.ndarray:
    """Var(log std_l | x), l = 1..depth, for an iid kernel, on initlab's own activations.

    The state S = (t, a, c, d) has E[S_i | S_{i-1}] = M S_{i-1} (the linear recursion of
    :func:`expected_var`), so with e = (1/(Bn), 0, -1/(Bn)^2, 0) and noise eps_i = S_i - M S_{i-1},
    ``std_l^2 - E[std_l^2 | x] = sum_i e^T M^(l-i) eps_i``: uncorrelated terms, each of variance
    ``g^T Cov(eps_i) g`` (:func:`_noise_cov`, Gaussian entries: an upper bound for the lighter-tailed
    uniform and truncated normals, whose fourth-moment term is negative). Then Var(log std) =
    Var(std^2) / (4 E[std^2]^2). Zero for the degenerate and orthogonal kernels (handled apart).
    """
    if s.init in DEGENERATE or s.init == "orthogonal":
        return np.zeros(s.depth)
    net = network.build(s)
    b, n = s.batch, s.width
    mu, sd = _kernel_moments(initializers.get(s.init, **s.init_params()), n)
    m2, s2 = mu * mu, sd * sd
    m = np.array([[n * s2, n * m2, 0, 0], [n * s2, n * n * m2, 0, 0],
                  [0, 0, n * n * m2, n * s2], [0, 0, n * m2, n * s2]])
    e = np.array([1.0 / (b * n), 0.0, -1.0 / (b * n) ** 2, 0.0])
    h = net.x.astype(np.float64)
    state, covs = _state(h), []
    for w in net.weights:
        covs.append(_noise_cov(h, mu, sd))
        h = h @ w.astype(np.float64)
    out = []
    for layer in range(1, s.depth + 1):
        mean = e @ np.linalg.matrix_power(m, layer) @ state
        var = 0.0
        for i in range(1, layer + 1):
            g = np.linalg.matrix_power(m, layer - i).T @ e
            var += float(g @ covs[i - 1] @ g)
        out.append(var / (4 * mean * mean))
    return np.array(out)


def arith_log_tol(s: Scenario, computes_in: str) -> float:
    """Float rounding of depth matmuls of length n, bounded by depth * n * eps (Higham's gamma_n)."""
    return s.depth * s.width * float(np.finfo(computes_in).eps)


def scenario(init: str, dtype: str, **kw) -> Scenario:
    """The cross-check setting: linear, depth 6, width and batch 128 (module docstring)."""
    fields = dict(init=init, activation="linear", depth=DEPTH, width=WIDTH, batch=BATCH, seed=SEED, dtype=dtype)
    if init == "constant":
        fields["value"] = 0.01  # constant's default 0.0 is just zeros again
    return Scenario(**{**fields, **kw})


def residuals(s: Scenario, std: np.ndarray, x: np.ndarray) -> np.ndarray:
    """r_l = log std_l - 1/2 log E[std_l^2 | x]: what is left once the input batch is accounted for."""
    return np.log(std) - 0.5 * np.log(expected_var(s, np.asarray(x, dtype=s.dtype)))


# ------------------------------------------------------------------------------------------------
# The cross-check


INITS = initializers.names()
FRAMEWORKS = ("keras", "pytorch")


@pytest.fixture(scope="module")
def initlab_runs() -> dict:
    """initlab's act_std, input batch and Var(log std) per (init, dtype), shared by both frameworks."""
    return {}


def _initlab(cache: dict, s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    key = (s.init, s.dtype)
    if key not in cache:
        res = propagate(s)
        assert res.first_nonfinite_layer is None
        cache[key] = (res.layers["act_std"].to_numpy(), network.build(s).x, log_std_variance(s),
                      res.layers["act_nonfinite"].to_numpy())
    return cache[key]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("init", INITS)
def test_activation_std_matches_initlab(init, framework, dtype, initlab_runs):
    """Per-layer activation std of the snippet vs initlab.propagate, every initializer (docstring)."""
    s = scenario(init, dtype)
    il_std, il_x, var, il_bad = _initlab(initlab_runs, s)
    fw = run_snippet(framework, s)
    assert not fw.bad.any() and not il_bad.any()
    if init == "zeros":  # every layer is exactly 0 in all three
        assert np.all(fw.std == 0) and np.all(il_std == 0)
        return
    fw_dtype = dtype if framework == "pytorch" or keras_computes_float64() else "float32"
    r_fw = residuals(s, fw.std, fw.ns["x"])
    r_il = residuals(s, il_std, il_x)
    rounding = PRINT_LOG_TOL + arith_log_tol(s, fw_dtype) + arith_log_tol(s, dtype)
    c_term = 0.0
    if init == "orthogonal":
        c_term = Z * Z * (orthogonal_c_share(s, fw.ns["x"]) + orthogonal_c_share(s, il_x))
    tol = Z * np.sqrt(2 * var) + c_term + rounding
    msg = (f"{framework} {init} {dtype}: layer, residual snippet / initlab, tolerance:\n"
           + "\n".join(f"  {i + 1}  {a:+.5f} {b:+.5f}  {t:.5f}" for i, (a, b, t) in enumerate(zip(r_fw, r_il, tol))))
    assert np.all(np.abs(r_fw - r_il) <= tol), msg
    # initlab against the same theory (half the variance: one sample, not a difference of two).
    il_tol = Z * np.sqrt(var) + c_term + arith_log_tol(s, dtype)
    assert np.all(np.abs(r_il) <= il_tol), msg


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("init", INITS)
def test_kernels_match_initlab_theory(init, framework):
    """The snippet's kernels: mean, std and range of their L n^2 entries vs initlab's Initializer.

    For iid entries the sample mean has std s / sqrt(N) and the sample std has relative std
    sqrt((kappa - 1) / (4 N)) <= sqrt(2 / (4 N)) (kurtosis kappa <= 3 here), N = L n^2 = 98304: Z of
    those is 1.1%. A new matrix per layer unless ``shared``. Degenerate kernels: equal to initlab's.
    """
    s = scenario(init, "float64")
    init_ = initializers.get(s.init, **s.init_params())
    ks = run_snippet(framework, s).kernels()
    n, big_n = s.width, s.depth * s.width * s.width
    if init in DEGENERATE:
        want = network.build(s).weights[0]
        if framework == "keras" and not keras_computes_float64():
            want = want.astype(np.float32).astype(np.float64)  # Keras' Constant(0.01) is float32's 0.01
        for k in ks:
            np.testing.assert_array_equal(k, want)
        return
    assert all(not np.array_equal(ks[i], ks[i + 1]) for i in range(len(ks) - 1)), "layers share a matrix"
    w = np.concatenate([k.ravel() for k in ks])
    mu, sd = init_.mean(n, n), init_.std(n, n)
    eps32 = float(np.finfo(np.float32).eps)  # Keras off TensorFlow may draw in float32
    assert abs(w.mean() - mu) <= Z * sd / math.sqrt(big_n) + eps32 * abs(mu), (w.mean(), mu)
    if init == "orthogonal":  # every Q^T Q = gain^2 I: the sum of squares is exact, not sampled
        g = init_.params["gain"]
        for k in ks:
            np.testing.assert_allclose(k.T @ k, g * g * np.eye(n), atol=1e-5)
    assert w.std() == pytest.approx(sd, rel=float(Z * math.sqrt(2 / (4 * big_n)) + 1e-6))
    lim = init_.limits(n, n)
    if lim is not None:
        slack = 4 * eps32 * max(abs(lim[0]), abs(lim[1]))  # bounds rounded to the drawing dtype
        assert lim[0] - slack <= w.min() and w.max() <= lim[1] + slack, (w.min(), w.max(), lim)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_float32_std_is_finite_up_to_the_limit(framework):
    """ones, float32, depth 18: values reach ~1e38 < 3.4e38 (the old snippets printed inf/NaN there).

    h_l = 128^(l-1) (x 1) 1^T exactly, so std_l = 128^(l-1) std_b(x 1): the snippet (own x) and
    initlab (own x) must both equal it, to the printed digits and float32 rounding.
    """
    s = scenario("ones", "float32").replace(depth=18)
    fw = run_snippet(framework, s)
    res = propagate(s)
    assert not fw.bad.any() and res.first_nonfinite_layer is None
    rounding = PRINT_LOG_TOL + 2 * arith_log_tol(s, "float32")
    for std, x, tol in ((fw.std, fw.ns["x"], rounding), (res.layers["act_std"].to_numpy(), network.build(s).x,
                                                         rounding - PRINT_LOG_TOL)):
        np.testing.assert_allclose(np.log(std), 0.5 * np.log(expected_var(s, x.astype(np.float32))), rtol=0, atol=tol)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_float64_beyond_the_float32_range(framework):
    """ones, float64, depth 22: values reach ~1e45, beyond float32. initlab and torch stay exact.

    Keras 3 computes float64 layers in float32 on every backend but TensorFlow: there the snippet must
    say so, and the layers past 3.4e38 overflow; the others still equal the exact value.
    """
    s = scenario("ones", "float64").replace(depth=22)
    fw = run_snippet(framework, s)
    want = 0.5 * np.log(expected_var(s, fw.ns["x"]))
    ok = np.ones(s.depth, dtype=bool)
    if framework == "keras" and not keras_computes_float64():
        assert any("computes these float64 layers in float32" in line for line in fw.notes), fw.notes
        # h_l = 128^(l-1) (x 1) 1^T: the layers whose largest value passes float32's limit overflow.
        peak = np.abs(fw.ns["x"].sum(axis=1)).max() * float(s.width) ** np.arange(s.depth)
        ok = peak < float(np.finfo(np.float32).max) / 2
        assert ok.sum() < s.depth and fw.bad[~ok].all(), (fw.std, fw.bad)
    else:
        assert not any("float32" in line for line in fw.notes) and not fw.bad.any()
    np.testing.assert_allclose(np.log(fw.std[ok]), want[ok], rtol=0,
                               atol=PRINT_LOG_TOL + arith_log_tol(s, "float32"))
    res = propagate(s)
    assert res.first_nonfinite_layer is None
    np.testing.assert_allclose(np.log(res.layers["act_std"].to_numpy()),
                               0.5 * np.log(expected_var(s, network.build(s).x)), rtol=0, atol=1e-10)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("act", activations.names())
def test_snippet_activation_is_initlabs(act, framework):
    """The statistical checks run linear networks; the nonlinearity is checked here, deterministically:
    the snippet's first layer applied to its own input equals initlab's ``activations.get(act).fn`` of
    the same pre-activations ``x W`` (zero biases), to float32 rounding (Keras off TensorFlow)."""
    s = Scenario(init="he_normal", activation=act, depth=2, width=64, batch=64, seed=SEED, dtype="float64")
    fw = run_snippet(framework, s)
    x = fw.ns["x"]
    want = activations.get(act).fn(x @ fw.kernels()[0])
    if framework == "keras":
        got = keras.ops.convert_to_numpy(fw.ns["layers"][0](keras.ops.convert_to_tensor(x, dtype="float64")))
    else:
        with torch.no_grad():
            got = fw.ns["act"](fw.ns["linears"][0](torch.as_tensor(x, dtype=torch.float64))).numpy()
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert math.log(fw.std[0]) == pytest.approx(math.log(float(np.std(want))), abs=PRINT_LOG_TOL + 1e-5)


# ------------------------------------------------------------------------------------------------
# The tolerance model itself, against initlab's spread over seeds (numpy only; cheap)


# One per shape (in a linear network, kernels that differ only in scale give the very same residuals):
# normal, uniform, truncated normal, mean-shifted uniform, orthogonal.
@pytest.mark.parametrize("init", ["torch_kaiming_normal", "he_uniform", "glorot_normal", "small_uniform",
                                  "orthogonal"])
def test_tolerance_model_matches_initlab_spread(init):
    """Var over K seeds of initlab's residual at the last layer vs the derived Var(log std | x).

    The sample variance of K normal residuals is within 1 +- Z sqrt(2 / (K - 1)) of the true one. The
    model must not underestimate (upper bound, every init) and, for Gaussian kernels where it is exact,
    not overestimate either (lower bound). Orthogonal: its spread must stay within its c term.
    """
    k = 150
    r, v, c = [], [], []
    for seed in range(100, 100 + k):
        s = scenario(init, "float64", seed=seed)
        x = network.build(s).x
        r.append(residuals(s, propagate(s).layers["act_std"].to_numpy(), x)[-1])
        v.append(log_std_variance(s)[-1])
        c.append(orthogonal_c_share(s, x)[-1] if init == "orthogonal" else 0.0)
    r = np.array(r)
    if init == "orthogonal":
        assert np.all(np.abs(r) <= Z * Z * np.array(c) / 2 + 1e-12), (np.abs(r).max(), max(c))
        return
    ratio = float(np.var(r, ddof=1) / np.mean(v))
    band = Z * math.sqrt(2 / (k - 1))
    assert ratio <= 1 + band, ratio
    if init in GAUSSIAN:
        assert ratio >= 1 - band, ratio
    assert abs(float(np.mean(r))) <= Z * math.sqrt(np.mean(v) / k), np.mean(r)  # no bias in the predicted mean


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [0, 30, 32])  # full batch; 300 = 10 x 30; 300 = 9 x 32 + a short 12
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_pytorch_training_snippet_replays_every_recorded_loss(optimizer: str, batch_size: int, dtype: str) -> None:
    """The Training tab's PyTorch code replays the restart shown (here 2 of 3) step for step: initlab's data,
    starting weights and biases (torch_linear: drawn, not zero), batch order (one shuffle per epoch, a short
    last batch) and update formulas. So every loss it records equals ``TrainResult.loss[restart]``.

    Tolerance: both compute the same operations, in other summation orders (and with or without FMA), so
    each step differs by a few rounding errors of the dtype (eps 2.2e-16 / 1.2e-7) relative. Gradient
    descent at these learning rates is stable (the loss falls smoothly, no ReLU kink is resolved at
    1e-10), so the differences add up at most linearly over the 400 steps: 400 x a few eps ~ 1e-13
    in float64 and ~1e-5 relative at worst in float32 (~1e-6 as a random walk): 1e-12 and 1e-5. A wrong
    batch, bias or update is off by 1e-3 or more after a few steps.
    """
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(steps=400, restarts=3, dtype=dtype, optimizer=optimizer, batch_size=batch_size,
                       lr=0.01 if optimizer == "adam" else 0.1, bias="torch_linear")
    restart = 2
    res, want, printed = _replay(ts, restart, rtol=1e-12 if dtype == "float64" else 1e-5)
    assert float(printed[0]) == pytest.approx(want[-1], rel=5e-6)  # 6 significant digits
    assert float(printed[1].split("test accuracy ")[1]) == pytest.approx(res.test_acc[restart, -1], abs=5e-4)


def _replay(ts, restart: int, rtol: float):  # type: ignore[no-untyped-def]
    """Run the PyTorch training snippet of ``ts``'s restart and initlab's training; assert every recorded loss
    agrees within ``rtol`` and that the run learns. Returns (initlab's result, its losses, the snippet's
    printed "final training loss ..." fields)."""
    from initlab.training.engine import train

    code = codegen.pytorch_training_snippet(ts, restart)
    ns: dict = {"__name__": "__snippet__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<pytorch training snippet>", "exec"), ns)
    res = train(ts)
    want = res.loss[restart]
    assert sorted(ns["losses"]) == res.recorded_steps.tolist()
    got = np.array([ns["losses"][int(step)] for step in res.recorded_steps])
    np.testing.assert_allclose(got, want, rtol=rtol)
    assert want[-1] < want[0] - 0.05  # it learns: the curve compared is not flat
    return res, want, out.getvalue().split("final training loss ")[1].split(",")


@pytest.mark.parametrize("batch_size", [0, 64])  # full batch; 1437 = 22 x 64 + a short 29
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_pytorch_training_snippet_replays_a_digits_run(optimizer: str, batch_size: int) -> None:
    """Ten classes: the snippet builds digits from scikit-learn itself (load_digits, the stratified
    train_test_split, pixels / 16), trains with nn.CrossEntropyLoss on ten logits and initlab's batch
    order, and every recorded loss equals initlab's softmax run's. Tolerance as the two-class replay's
    (float64, a few eps a step adding up at most linearly over 60 steps: ~1e-14), so 1e-12; a wrong
    class index, 1/n or pixel scale is off by 1e-3 or more within a step."""
    from initlab.training.scenario import TrainScenario

    ts = TrainScenario(dataset="digits", classes=10, hidden=(16,), n_train=2000, n_test=2000, steps=60,
                       restarts=2, records=6, dtype="float64", optimizer=optimizer, batch_size=batch_size,
                       lr=0.01 if optimizer == "adam" else 0.2, bias="torch_linear")
    assert "load_digits()" in codegen.pytorch_training_snippet(ts, 1)
    res, want, printed = _replay(ts, 1, rtol=1e-12)
    assert float(printed[1].split("test accuracy ")[1]) == pytest.approx(res.test_acc[1, -1], abs=5e-4)


BLOCK_RUNS = {  # residual and normalised training networks (initlab.training.engine), 3 hidden layers of 6
    "rezero_pre_batchnorm": dict(block="residual", norm="batch", branch_layers=2, residual_learned=True,
                                 residual_scale=0.0),
    "post_batchnorm": dict(block="residual", norm="batch", norm_position="post", branch_layers=2),
    "plain_batchnorm": dict(norm="batch"),
    "pre_layernorm_learned": dict(block="residual", norm="layer", residual_rule="inv_sqrt_depth", residual_learned=True),
    "post_no_norm": dict(block="residual", norm_position="post", branch_layers=2),
}


@pytest.mark.parametrize("batch_size", [0, 32, 23])  # full batch; a short last batch of 12; 300 = 13 x 23 + 1
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("arch", sorted(BLOCK_RUNS))
def test_pytorch_training_snippet_replays_residual_and_normalised_runs(arch: str, optimizer: str,
                                                                      batch_size: int) -> None:
    """The snippet replays residual and normalised networks too: PyTorch's own BatchNorm1d (momentum 0.1,
    unbiased running variance, batch statistics in training, running ones in evaluation mode (model.train(False)), which initlab
    records) and LayerNorm, learned gamma, beta and alpha, the merged last batch of one (batch 23 with a
    BatchNorm), biases before a BatchNorm fixed in both (their gradient is exactly 0).

    Tolerance as the plain replay's (float64: a few eps per step, adding up at most linearly over 200
    steps, ~1e-13), so 1e-12. The learning rates keep the descent stable (at lr 0.1 with momentum 0.9 a
    LayerNorm run jumps, and a jump amplifies rounding differences without bound: measured 0.3 relative)."""
    from initlab.training.scenario import TrainScenario

    lr = {"sgd": 0.03, "momentum": 0.01, "adam": 0.005}[optimizer]
    ts = TrainScenario(steps=200, restarts=3, dtype="float64", optimizer=optimizer, batch_size=batch_size, lr=lr,
                       hidden=(6, 6, 6), bias="torch_linear", norm_eps=1e-5, **BLOCK_RUNS[arch])
    assert ts.merge_last_batch == (batch_size == 23 and ts.norm == "batch")
    restart = 2
    res, want, printed = _replay(ts, restart, rtol=1e-12)
    assert float(printed[1].split("test accuracy ")[1]) == pytest.approx(res.test_acc[restart, -1], abs=5e-4)


@pytest.mark.parametrize("name", ["zeros", "normal_10", "he"])
def test_pytorch_training_snippet_replays_the_course_preset(name: str) -> None:
    """The course notebook's preset (legacy weight draws, unscaled scikit-learn circles, 15 records) is
    replayed like any other run. 15000 float64 steps: zeros and He agree to 1e-9 relative (a few eps a step);
    N(0, 1) x 10's sums reach 1e3, so the order of additions moves its loss: measured 2.2e-3 relative at step
    7000, while it drops fastest, and ~1e-5 at the notebook's step 14000: 1e-2 along the curve, 1e-3 at 14000."""
    from initlab.pages import TRAIN_INITS
    from initlab.teaching.presets import PRESETS
    from initlab.training.engine import train

    init, params, _ = TRAIN_INITS[name]
    ts = PRESETS["course_c2w1"].views["train"].replace(init=init, **params)
    code = codegen.pytorch_training_snippet(ts, 0)
    ns: dict = {"__name__": "__snippet__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<pytorch training snippet>", "exec"), ns)
    res = train(ts)
    assert sorted(ns["losses"]) == res.recorded_steps.tolist() == list(range(0, 15001, 1000))
    got = np.array([ns["losses"][int(step)] for step in res.recorded_steps])
    np.testing.assert_allclose(got, res.loss[0], rtol=1e-2 if name == "normal_10" else 1e-9)
    assert got[14] == pytest.approx(res.loss[0, 14], rel=1e-3 if name == "normal_10" else 1e-9)


# ------------------------------------------------------------------------------------------------
# Residual and normalised networks (initlab.signal.blocks)
#
# Nonlinear blocks have no closed-form Var(log std | x) like the linear networks above, so the sampling
# error is measured instead, with the same normal model: initlab's log act_std per block over K seeds
# (new weights and a new input batch every seed) gives mean m_l and sample variance v_l. A snippet run
# is one more independent draw of the same network (its own weights, its own batch of the same law), so
# ``log std_fw - m_l`` has mean 0 and variance V_l (1 + 1/K). The true V_l is bounded from the measured
# one with the band the tolerance-model test above uses: the sample variance of K normal values is within
# 1 +- Z sqrt(2 / (K - 1)) of the true one, so V_l <= v_l / (1 - Z sqrt(2 / (K - 1))) (K = 200: 2 v_l).
# Tolerance: Z sqrt(V_l (1 + 1/K)), plus the 4 printed digits and float rounding. Z = 5 as above.

K_SEEDS = 200
SPREAD_SEEDS = range(1000, 1000 + K_SEEDS)  # disjoint from SEED: the snippets' draws are not among them
HE_RELU = dict(init="he_normal", activation="relu")
GLOROT_TANH = dict(init="glorot_uniform", activation="tanh")
RES = dict(block="residual")

# pre and post, 1 and 2 layers, batch / layer / no norm, alpha 1, 1/sqrt(depth), 0 and Fixup; He + ReLU and
# Glorot + tanh; plain blocks with a norm. The ids say what each one is.
BLOCK_CASES = {
    "plain-batch-he": dict(norm="batch", **HE_RELU),
    "plain-layer-glorot-bias": dict(norm="layer", bias="random_normal", bias_value=0.2, **GLOROT_TANH),
    "pre-none-1-he": dict(**RES, **HE_RELU),
    "pre-batch-1-he": dict(**RES, norm="batch", **HE_RELU),
    "pre-layer-2-glorot-invsqrt": dict(**RES, norm="layer", branch_layers=2, residual_rule="inv_sqrt_depth",
                                       **GLOROT_TANH),
    "pre-batch-2-he-alpha0": dict(**RES, norm="batch", branch_layers=2, residual_scale=0.0, **HE_RELU),
    "post-layer-1-he": dict(**RES, norm="layer", norm_position="post", **HE_RELU),
    "post-batch-2-glorot": dict(**RES, norm="batch", norm_position="post", branch_layers=2, **GLOROT_TANH),
    "post-none-2-glorot-invsqrt": dict(**RES, norm_position="post", branch_layers=2, residual_rule="inv_sqrt_depth",
                                       **GLOROT_TANH),
    "fixup-pre-none-he-bias": dict(**RES, branch_layers=2, residual_rule="fixup", bias="random_normal",
                                   bias_value=0.1, **HE_RELU),
    "fixup-post-layer-glorot": dict(**RES, norm="layer", norm_position="post", branch_layers=2,
                                    residual_rule="fixup", **GLOROT_TANH),
}


def block_scenario(case: str, seed: int = SEED, **kw) -> Scenario:
    """A case of :data:`BLOCK_CASES` at the cross-check's size (depth 6, width and batch 128), float64."""
    return Scenario(**{**dict(depth=DEPTH, width=WIDTH, batch=BATCH, seed=seed, dtype="float64"),
                       **BLOCK_CASES[case], **kw})


def variance_upper_bound(v: np.ndarray, k: int) -> np.ndarray:
    """The true variance bounded from the sample variance ``v`` of ``k`` normal values (Z sd of its band)."""
    band = Z * math.sqrt(2 / (k - 1))
    assert band < 1, "too few seeds to bound the variance"
    return v / (1 - band)


@pytest.fixture(scope="module")
def block_spread() -> dict:
    """Per case: (mean, sample variance) over :data:`SPREAD_SEEDS` of initlab's log act_std per block."""
    return {}


def _spread(cache: dict, case: str) -> tuple[np.ndarray, np.ndarray]:
    if case not in cache:
        logs = np.array([np.log(propagate(block_scenario(case, seed)).layers["act_std"].to_numpy())
                         for seed in SPREAD_SEEDS])
        cache[case] = (logs.mean(axis=0), logs.var(axis=0, ddof=1))
    return cache[case]


def _block_rounding(s: Scenario, computes_in: str) -> float:
    """Float rounding of the L = depth x branch_layers matmuls of length n (Higham's gamma_n each); the
    norms add a few eps per block, far below."""
    return s.depth * s.layers_per_block * s.width * float(np.finfo(computes_in).eps)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_block_std_matches_initlab(case, framework, block_spread):
    """Per-block std of the snippet (residual / normalised network) vs initlab's act_std over seeds."""
    s = block_scenario(case)
    mean, v = _spread(block_spread, case)
    fw = run_snippet(framework, s)
    assert not fw.bad.any()
    fw_dtype = "float64" if framework == "pytorch" or keras_computes_float64() else "float32"
    rounding = PRINT_LOG_TOL + _block_rounding(s, fw_dtype) + _block_rounding(s, "float64")
    tol = Z * np.sqrt(variance_upper_bound(v, K_SEEDS) * (1 + 1 / K_SEEDS)) + rounding
    d = np.log(fw.std) - mean
    msg = (f"{framework} {case}: block, log std snippet - initlab's mean over {K_SEEDS} seeds, tolerance:\n"
           + "\n".join(f"  {i + 1}  {a:+.5f}  {t:.5f}" for i, (a, t) in enumerate(zip(d, tol))))
    assert np.all(np.abs(d) <= tol), msg
    # initlab's own run at this seed is one more draw of the same law (no 1/K: m is nearly exact).
    il = np.log(propagate(s).layers["act_std"].to_numpy())
    assert np.all(np.abs(il - mean) <= Z * np.sqrt(variance_upper_bound(v, K_SEEDS)) + _block_rounding(s, "float64"))
    if s.residual and s.alpha() == 0 or _uses_identity(s):
        # h_l = x exactly at every block: the printed std is the snippet's own input's, to 4 digits.
        want = float(np.std(np.asarray(fw.ns["x"], dtype=s.dtype)))
        np.testing.assert_allclose(np.log(fw.std), math.log(want), rtol=0, atol=PRINT_LOG_TOL + 1e-6)


def _uses_identity(s: Scenario) -> bool:
    """A network that is exactly the identity at initialization: alpha = 0 (pre-norm or no norm), or
    Fixup's zero last layers with zero biases and no post-norm."""
    if not s.residual or (s.norm != "none" and s.norm_position == "post"):
        return False
    zero_bias = s.bias == "zeros"
    return s.alpha() == 0 or (s.residual_rule == "fixup" and zero_bias)


def test_seed_spread_model_on_the_identity():
    """The measured-spread tolerance on a case whose spread is known: with alpha = 0 every block outputs x,
    so log act_std is log std(x), whose variance for N(B n) Gaussian values is 1 / (2 N) (Var(s^2) = 2 s^4
    / N, delta method; the mean's removal changes it by O(1/N^2)). The sample variance over K seeds must be
    in its band 1 +- Z sqrt(2 / (K - 1)), and its upper bound must cover the truth."""
    mean, v = _spread({}, "pre-batch-2-he-alpha0")
    n = BATCH * WIDTH
    assert np.all(v == v[0])  # every block is x itself
    ratio = v[0] / (1 / (2 * n))
    assert abs(ratio - 1) <= Z * math.sqrt(2 / (K_SEEDS - 1)), ratio
    assert variance_upper_bound(v, K_SEEDS)[0] >= 1 / (2 * n)
    assert abs(mean[0]) <= Z * math.sqrt(1 / (2 * n) / K_SEEDS) + 1 / (2 * n)  # E log std(x) ~ -1/(4N) - ...


# Exact: initlab's own weights and batch copied into the framework networks the snippets build. The
# randomness is gone, so the per-block outputs and the weight gradients must agree to float rounding:
# each weight layer's product of length n is off by at most gamma_n = n eps relative (Higham 2002, 3.5),
# the backward pass goes through the same layers again and the norms add a few eps per block, so with
# L weight layers the error is below 2 L n eps of the largest value (float64, n = 32, L <= 8: 1.1e-13,
# measured 2e-15 with torch; Keras off TensorFlow computes in float32: 6.1e-5, measured 7e-7). A wrong
# epsilon (1e-5 for 1e-3) moves unit-variance outputs by ~5e-4, a wrong formula by far more.
EXACT_CASES = {
    **{f"{p}-{n}-{k}": dict(**RES, norm=n, norm_position=p, branch_layers=k)
       for p in ("pre", "post") for n in ("none", "batch", "layer") for k in (1, 2)},
    "plain-batch": dict(norm="batch"), "plain-layer": dict(norm="layer"),
    "fixup": dict(**RES, branch_layers=2, residual_rule="fixup"),
    "invsqrt-pre-layer": dict(**RES, norm="layer", residual_rule="inv_sqrt_depth"),
    "alpha-half-post-batch-eps-torch": dict(**RES, norm="batch", norm_position="post", residual_scale=0.5,
                                            norm_eps=1e-5),
}


def exact_scenario(case: str, act: str) -> Scenario:
    init = "he_normal" if act == "relu" else "glorot_normal"
    return Scenario(init=init, activation=act, depth=4, width=32, batch=24, seed=SEED, dtype="float64",
                    bias="random_normal", bias_value=0.3, **EXACT_CASES[case])


def _initlab_blocks(net: network.Network) -> list[np.ndarray]:
    """initlab's per-block outputs h_l (initlab.signal.blocks.forward, as propagate runs them)."""
    from initlab.signal import blocks

    k, h, out = net.arch.branch, net.x, []
    for i in range(len(net.weights) // k):
        idx = range(i * k, (i + 1) * k)
        _, h, _ = blocks.forward(net.arch, net.activation, h, [net.weights[j] for j in idx],
                                 [net.biases[j] for j in idx])
        out.append(h)
    return out


def _framework_blocks(framework: str, s: Scenario, net: network.Network) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The snippet's network with initlab's weights, biases and batch: (per-block outputs, dL/dW per weight
    layer in Keras layout), L = mean over the batch of r_b . h_out[b] (the projection loss)."""
    fw = run_snippet(framework, s)
    layers = fw.ns["dense_layers"] if framework == "keras" else fw.ns["linears"]
    assert len(layers) == len(net.weights)
    if framework == "keras":
        for layer, w, b in zip(layers, net.weights, net.biases):
            layer.set_weights([w, b])
        params = [layer.kernel.value for layer in layers]
        with torch.enable_grad():
            hs = fw.ns["model"](keras.ops.convert_to_tensor(net.x, dtype="float64"), training=True)
    else:
        with torch.no_grad():
            for layer, w, b in zip(layers, net.weights, net.biases):
                layer.weight.copy_(torch.from_numpy(w.T))  # Keras (in, out) -> torch (out, in)
                layer.bias.copy_(torch.from_numpy(b))
        params = [layer.weight for layer in layers]
        model = fw.ns["model"]
        assert model.training  # BatchNorm1d on batch statistics
        hs = model(torch.from_numpy(net.x))
    loss = (torch.from_numpy(net.target).to(hs[-1].dtype) * hs[-1]).sum() / s.batch
    grads = torch.autograd.grad(loss, params)
    dws = [g.detach().double().numpy() for g in grads]
    if framework == "pytorch":
        dws = [g.T for g in dws]
    return [h.detach().double().numpy() for h in hs], dws


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("case", list(EXACT_CASES))
def test_blocks_equal_framework_with_initlabs_weights(case, act, framework):
    """initlab.signal.blocks vs real BatchNorm1d / LayerNorm / BatchNormalization / LayerNormalization: the
    same weights give the same per-block outputs, act_std and weight gradients (float rounding, above)."""
    s = exact_scenario(case, act)
    net = network.build(s)
    res = propagate(s, keep_grads=True)
    ours = _initlab_blocks(net)
    hs, dws = _framework_blocks(framework, s, net)
    computes_in = "float64" if framework == "pytorch" or keras_computes_float64() else "float32"
    tol = 2 * len(net.weights) * s.width * float(np.finfo(computes_in).eps)
    assert len(hs) == len(ours) == s.depth and len(dws) == len(res.weight_grads) == len(net.weights)
    for i, (got, want) in enumerate(zip(hs, ours), start=1):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max(), err_msg=f"block {i}")
    np.testing.assert_allclose([np.std(h) for h in hs], res.layers["act_std"].to_numpy(), rtol=tol)
    for j, (got, want) in enumerate(zip(dws, res.weight_grads)):
        scale = max(np.abs(w).max() for w in res.weight_grads)  # Fixup's zero layers have tiny gradients too
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale, err_msg=f"weight layer {j + 1}")
