"""Zeroth-order gradient estimators, the optimisers that step on their estimates, and
evolution strategies that search without one."""

from ._evolution import CMAES
from ._gradient import RandomDirectionEstimator
from ._optimizers import SGD, SPSAGC, Adam

__all__ = ["Adam", "CMAES", "RandomDirectionEstimator", "SGD", "SPSAGC"]
