"""Zeroth-order gradient estimators and the optimisers that step on their estimates."""

from ._gradient import RandomDirectionEstimator
from ._optimizers import SGD, Adam

__all__ = ["Adam", "RandomDirectionEstimator", "SGD"]
