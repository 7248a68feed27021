"""Pure figures: results in, plotly figures out (no streamlit, no randomness). ``signal`` holds the
shared style (palette, ticks, reference lines) and the Signal / Gradients / Compare / Weight ranges
figures; ``training`` and ``theory`` the figures of those tabs.

:func:`figure` is the one call a notebook needs: ``initlab.plots.figure(initlab.propagate(s))``. It lives
here and not as ``Result.figure()``: the core (``initlab.signal``, ``initlab.training``) may not import
plotly, nor, by the layering rule (tests/test_layering.py, which reads imports inside functions too),
this package, which sits above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported inside figure(): importing initlab.plots.style stays as light as before
    import plotly.graph_objects as go

    from initlab.signal.network import Result
    from initlab.training.engine import TrainResult

__all__ = ["figure"]


def figure(results: Result | TrainResult | Mapping[str, Result] | Mapping[str, TrainResult], what: str | None = None,
           **kwargs: Any) -> go.Figure:
    """The main chart of what :func:`initlab.propagate` or :func:`initlab.train` returned.

    A :class:`~initlab.signal.network.Result` (or a label -> result mapping, one line each): ``what``, a
    per-layer column of ``Result.layers`` against the layer (default ``act_std``, the std of the
    activations; gradient columns ``grad_std``, ``weight_grad_norm``, ``grad_ratio`` are drawn as the
    Gradients page draws them, top down), via :func:`initlab.plots.signal.signal_figure` /
    :func:`~initlab.plots.signal.gradient_figure`. A :class:`~initlab.training.engine.TrainResult` (or a
    mapping): the learning curves of ``what`` (``loss`` by default, or ``test_acc``), median over the
    restarts with the middle half as a band (:func:`initlab.plots.training.curves_figure`). ``kwargs``
    go to that function.
    """
    from initlab.plots import signal, training
    from initlab.signal.network import Result
    from initlab.training.engine import TrainResult

    first = results if isinstance(results, (Result, TrainResult)) else next(iter(results.values()), None)
    if isinstance(first, TrainResult):
        return training.curves_figure(results, what or "loss", **kwargs)  # type: ignore[arg-type]
    column = what or "act_std"
    if column in ("grad_std", "weight_grad_norm", "grad_ratio", "grad_mean"):
        return signal.gradient_figure(results, column, **kwargs)  # type: ignore[arg-type]
    return signal.signal_figure(results, column, **kwargs)  # type: ignore[arg-type]
