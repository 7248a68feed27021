"""initlab: see what the choice of initial weights does to a neural network.

The core (this package, minus ``initlab.ui`` and ``initlab.plots``) needs only numpy and pandas.
``initlab.propagate(initlab.Scenario(...))`` runs a deep MLP forward and backward and returns
per-layer statistics; see :mod:`initlab.network`.
"""

from initlab.network import Result, propagate
from initlab.scenario import BudgetError, Scenario

__all__ = ["BudgetError", "Result", "Scenario", "propagate"]
__version__ = "0.1.0"
