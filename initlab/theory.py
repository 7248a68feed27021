"""Mean-field predictions of the per-layer statistics, to overlay on what the engine measures.

In the limit of infinite width, with zero-mean i.i.d. weights of variance sigma_w^2 / n (n = fan_in =
width here) and biases of variance sigma_b^2, every pre-activation of layer l is Gaussian with the same
variance q_l, which follows the "q-map" (Poole et al. 2016, "Exponential expressivity in deep neural
networks through transient chaos"; Schoenholz et al. 2017, "Deep information propagation")::

    q_1     = sigma_w^2 E[x^2] + sigma_b^2                  x: one input feature
    q_{l+1} = sigma_w^2 E[f(z)^2] + sigma_b^2,   z ~ N(mu_b, q_l)

The backward pass, under the usual gradient-independence assumption, multiplies the variance of the
per-example gradient by chi_l = sigma_w^2 E[f'(z_l)^2] at each layer going down::

    Var(dl/dz_depth) = E[f'(z_depth)^2] Var(dl/dh_depth)
    Var(dl/dz_l)     = E[f'(z_l)^2] sigma_w^2 Var(dl/dz_{l+1})

Xavier/He are exactly the choices that put chi = 1 for linear/ReLU networks. At finite width the measured values scatter around these curves by
O(depth / width) (Roberts, Yaida & Hanin 2022), which is itself a lesson the overlay shows.
Expectations use :func:`initlab.activations.gaussian_expectation` (Gauss-Legendre split at the kink:
plain Gauss-Hermite gets E[relu'(z)^2] wrong by 11% because of the step at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab import activations, initializers
from initlab.scenario import Scenario



@dataclass(frozen=True)
class Prediction:
    """Mean-field per-layer predictions (arrays of length depth, layer 1 first)."""

    pre_std: np.ndarray
    act_std: np.ndarray
    act_mean: np.ndarray
    grad_std: np.ndarray
    chi: np.ndarray  # per-layer backward gain sigma_w^2 E[f'(z)^2]; 1 is the edge of chaos


def _input_moments(inputs: str) -> tuple[float, float]:
    """E[x] and E[x^2] of one input feature for the scenario's input distribution."""
    if inputs == "standard":
        return 0.0, 1.0
    top = 1.0 if inputs == "minmax" else 255.0
    return top / 2, top * top / 3  # U[0, top]


def predict(s: Scenario) -> Prediction | None:
    """The mean-field curves for ``s``, or None where the theory does not apply.

    It does not apply to weights with a non-zero mean (``ones``, ``constant``, ``small_uniform``,
    ``random_normal`` with ``mean != 0``): there every unit shares a common component and the
    pre-activations are not independent Gaussians; nor to constant weights (std 0, e.g. ``zeros``), nor
    to one matrix reused in every layer (``shared``), where the layers are no longer independent. Values are computed in float64; they may overflow
    to inf for exploding scenarios, which is the prediction.
    """
    init = initializers.get(s.init, **s.init_params())
    n = s.width
    if abs(init.mean(n, n)) > 1e-12 or init.std(n, n) == 0 or s.shared:
        return None
    sigma_w2 = n * init.std(n, n) ** 2
    mu_b, var_b = 0.0, 0.0
    if s.bias == "constant":
        mu_b = s.bias_value
    elif s.bias == "random_normal":
        var_b = s.bias_value**2
    act = activations.get(s.activation)
    _, ex2 = _input_moments(s.inputs)
    depth = s.depth
    q = np.empty(depth)
    m1 = np.empty(depth)
    m2 = np.empty(depth)
    d2 = np.empty(depth)
    with np.errstate(all="ignore"):
        qi = sigma_w2 * ex2 + var_b
        for i in range(depth):
            q[i] = qi
            sd = float(np.sqrt(qi)) if np.isfinite(qi) else np.inf
            if not np.isfinite(sd):
                m1[i:], m2[i:], d2[i:], q[i:] = np.nan, np.inf, np.nan, np.inf
                break
            m1[i] = activations.gaussian_expectation(act.fn, mu_b, sd)
            m2[i] = activations.gaussian_expectation(lambda z: act.fn(z) ** 2, mu_b, sd)
            d2[i] = activations.gaussian_expectation(lambda z: act.deriv(z) ** 2, mu_b, sd)
            qi = sigma_w2 * m2[i] + var_b
        chi = sigma_w2 * d2
        top_var = 1.0 if s.loss == "projection" else m2[-1] + 1.0  # E[(h - y)^2], y ~ N(0, 1)
        gvar = np.empty(depth)
        gvar[-1] = d2[-1] * top_var
        for i in range(depth - 2, -1, -1):
            gvar[i] = d2[i] * sigma_w2 * gvar[i + 1]
        act_std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    return Prediction(np.sqrt(q), act_std, m1, np.sqrt(gvar), chi)
