"""What the pages compute, as pure functions of hashable arguments, and what every preset link needs.

Each *kind* of product is one function of plain, hashable arguments (a :class:`Scenario`, names,
numbers, tuples of them), so that the app can cache it and :mod:`initlab.ui.results.store` can keep it on disk:

==============  ============================================  =============================================
kind            arguments                                     value
==============  ============================================  =============================================
propagate       scenario                                      :class:`initlab.signal.network.Result`
predict         scenario                                      :class:`initlab.theory.meanfield.Prediction` or None
jacobian        scenario                                      :class:`initlab.signal.spectra.JacobianSpectra`
range_curves    inits, n_max, fan_out (0: m = n), seed        DataFrame of :func:`initlab.teaching.ranges.range_curves`
phase           activation, sw2_max, sb2_max                  :class:`initlab.theory.meanfield.PhaseDiagram`
depth_curve     activation, sb2, sw2_max                      :class:`initlab.theory.meanfield.DepthScaleCurve`
==============  ============================================  =============================================

:func:`preset_products` lists, for every preset, what its link's opening page computes (its tab with
the preset's views); ``python -m initlab.ui.results.build DIR`` computes that list once and stores it
(:mod:`initlab.ui.results.store`).
A new kind is one entry of :data:`COMPUTE`; what a page computes is its own module's ``products``
(:mod:`initlab.ui.pages`). The kinds are pure functions (numpy and pandas); the Streamlit caches live in
:mod:`initlab.ui.results.cache`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from initlab.signal import network
from initlab.teaching import ranges
from initlab.signal import spectra
from initlab.theory import meanfield as theory
from initlab.training import engine as training
from initlab.teaching.presets import PRESETS, Preset
from initlab.signal.scenario import Scenario
from initlab.training.scenario import TrainScenario

GRID = 120  # points per axis of the phase diagram (goal: at least 100 x 100, under 0.2 s)
DEPTH_CURVE_POINTS = 200

Key = tuple[Hashable, ...]


def phase(activation: str, sw2_max: float, sb2_max: float) -> theory.PhaseDiagram:
    """chi1 over (sigma_w^2, sigma_b^2) in [0, sw2_max] x [0, sb2_max] (the left edge starts just above 0)."""
    sw2 = np.linspace(sw2_max / GRID, sw2_max, GRID)
    sb2 = np.linspace(0.0, sb2_max, GRID)
    return theory.phase_diagram(activation, sw2, sb2)


def depth_curve(activation: str, sb2: float, sw2_max: float) -> theory.DepthScaleCurve:
    """Depth scales against sigma_w^2 at one sigma_b^2 (about 0.3 s for tanh)."""
    sw2 = np.linspace(sw2_max / DEPTH_CURVE_POINTS, sw2_max, DEPTH_CURVE_POINTS)
    return theory.depth_scale_curve(activation, sw2, sb2)


def spectra_depths(depth: int) -> tuple[int, ...]:
    """A few depths for the Jacobian spectra: 1, a quarter, half and all of the network."""
    return tuple(sorted({1, max(1, depth // 4), max(1, depth // 2), depth}))


def jacobian(s: Scenario) -> spectra.JacobianSpectra:
    """Singular values of dh_l/dh_0 at :func:`spectra_depths`."""
    return spectra.jacobian_singular_values(s, spectra_depths(s.depth))


def range_entries(inits: tuple[str, ...]) -> list[Any]:
    """Initializers that are one of the tutorial's classic curves keep its label."""
    classic = {c.init: c.label for c in ranges.CLASSIC if not c.params}
    classic["torch_kaiming_normal"] = "He N(0, √(2/n))"  # PyTorch's default kaiming_normal_ is exactly it
    return [(n, {}, classic[n]) if n in classic else n for n in inits]


def range_curves(inits: tuple[str, ...], n_max: int, fan_out: int, seed: int) -> pd.DataFrame:
    """Weight-range curves for the Weight ranges page (fan_out 0: tied to the number of inputs).

    Expensive initializers (orthogonal: a QR factorization per draw) are sampled at fewer n so that
    every request draws in about a second; :func:`range_plan` says so in words.
    """
    rng = np.random.default_rng(seed)
    return ranges.range_curves(range_entries(inits), n_max, fan_out=fan_out or None, rng=rng)


def range_plan(inits: tuple[str, ...], n_max: int, fan_out: int) -> str:
    """The sentence saying how a Weight ranges request was thinned to draw in about a second ("" if not)."""
    return ranges.plan_ranges(range_entries(inits), n_max, fan_out=fan_out or None).note


def train(ts: TrainScenario) -> training.TrainResult:
    """All restarts of one training scenario (one initializer of a Training page's comparison); kept per
    scenario, so a comparison without one of its initializers reuses the others."""
    return training.train(ts)


COMPUTE: dict[str, Callable[..., Any]] = {
    "train": train,
    "propagate": network.propagate,
    "predict": theory.predict,
    "jacobian": jacobian,
    "range_curves": range_curves,
    "phase": phase,
    "depth_curve": depth_curve,
}


def compute(kind: str, args: Key) -> Any:
    """The product ``kind`` of ``args``, computed (no cache)."""
    return COMPUTE[kind](*args)


def compute_all(items: list[tuple[str, Key]], echo: Callable[[str], None] | None = None
                ) -> list[tuple[str, Key, Any]]:
    """``(kind, args, value)`` for each item, computed in order; ``echo`` gets one line per item."""
    out = []
    for i, (kind, args) in enumerate(items, 1):
        t = time.perf_counter()
        out.append((kind, args, compute(kind, args)))
        if echo is not None:
            what = (", ".join(f"{k}={v}" for k, v in args[0].changes().items()) or "defaults") \
                if isinstance(args[0], (Scenario, TrainScenario)) else repr(args)
            echo(f"[{i}/{len(items)}] {kind} {time.perf_counter() - t:.2f} s  {what}")
    return out


# ------------------------------------------------------------------------------ what the pages need










def page_products(tab: str, s: Scenario, views: Mapping[str, Any]) -> list[tuple[str, Key]]:
    """What the page ``tab`` computes for the scenario ``s`` with these views (section id -> view): the
    page's own ``products`` (:mod:`initlab.ui.pages`), next to the code that draws it."""
    from initlab.ui import pages  # the pages import this module's kinds through the caches

    return pages.products(tab, s, views)


def preset_products(presets: dict[str, Preset] | None = None) -> list[tuple[str, Key]]:
    """Everything the opening pages of the bare link (the default scenario on the Signal page) and of
    the preset links compute, without repeats, in preset order."""
    pages = [("signal", Scenario(), {})] + [(p.tab, p.scenario, p.views)
                                             for p in (PRESETS if presets is None else presets).values()]
    out: list[tuple[str, Key]] = []
    seen: set[tuple[str, Key]] = set()
    for tab, s, views in pages:
        for item in page_products(tab, s, views):
            if item not in seen:
                seen.add(item)
                out.append(item)
    return out


def scenarios_to_warm() -> list[Scenario]:
    """Every scenario a preset link propagates (its own, a Compare page's variants, the Theory page's
    LSUV variant), without repeats: what a server computes in the background without a store."""
    return [args[0] for kind, args in preset_products() if kind == "propagate"]


def warm_up_list() -> list[Scenario | TrainScenario]:
    """Every computation a preset link's opening page needs: its scenario (on the Compare page its
    variants, on the Theory page its LSUV variant), and for a Training preset each initializer of its
    comparison (a training scenario)."""
    out: list[Scenario | TrainScenario] = list(scenarios_to_warm())
    out += [args[0] for kind, args in preset_products() if kind == "train"]
    return out
