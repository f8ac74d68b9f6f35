"""skbar: black-box adversarial reprogramming (BAR) as a scikit-learn estimator."""

from . import callbacks, optim, output_mapping
from ._classifier import PAPER_BAR, BlackBoxReprogrammingClassifier
from .oracles import BudgetExhausted, HttpOracle, OnnxOracle, OracleError

__version__ = "0.1.0"

__all__ = [
    "BlackBoxReprogrammingClassifier",
    "BudgetExhausted",
    "HttpOracle",
    "OnnxOracle",
    "OracleError",
    "PAPER_BAR",
    "callbacks",
    "optim",
    "output_mapping",
]
