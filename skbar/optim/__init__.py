"""How the program is searched: zeroth-order gradient estimators, the update rules that step
on their estimates, and evolution strategies that search without one.

Every optimiser speaks one ask/tell protocol (:class:`Optimizer`): the fit's search loop
asks for candidate programs, pays for their losses and tells them back.
"""

from ._base import GradientDescent, Optimizer
from ._evolution import CMAES
from ._gradient import SPSA, RandomDirections, estimate_gradient
from ._optimizers import SGD, SPSAGC, Adam

__all__ = ["Adam", "CMAES", "GradientDescent", "Optimizer", "RandomDirections", "SGD", "SPSA",
           "SPSAGC", "estimate_gradient"]
