"""initlab: see what the choice of initial weights does to a neural network.

The core (this package, minus ``initlab.ui`` and ``initlab.plots``) needs only numpy and pandas (plus
numba, optional, for the compiled training engine).
``initlab.propagate(initlab.Scenario(...))`` runs a deep MLP forward and backward and returns
per-layer statistics; see :mod:`initlab.signal.network`. ``initlab.train(initlab.TrainScenario(...))`` trains
a small MLP on a toy dataset from many initial points at once; see :mod:`initlab.training.engine`.
``result.verdict()`` / ``result.summary()`` say what happened; ``initlab.plots.figure(result)`` draws it
(needs plotly: ``pip install initlab[app]``).
"""

from initlab.signal.network import Result, propagate
from initlab.signal.scenario import BudgetError, Scenario
from initlab.signal.verdict import Verdict, gradient_verdict, signal_verdict
from initlab.training.scenario import TrainScenario
from initlab.training.engine import TrainResult, TrainSummary, train, train_many

__all__ = ["BudgetError", "Result", "Scenario", "TrainResult", "TrainScenario", "TrainSummary", "Verdict",
           "gradient_verdict", "propagate", "signal_verdict", "train", "train_many"]
__version__ = "0.22.0"
