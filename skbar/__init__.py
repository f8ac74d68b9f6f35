"""skbar: black-box adversarial reprogramming (BAR) as a scikit-learn estimator."""

import importlib

from . import callbacks, optim, output_mapping
from ._classifier import PAPER_BAR, BlackBoxReprogrammingClassifier
from .oracles import BudgetExhausted, HttpOracle, OnnxOracle, OracleError

__version__ = "0.1.0"

# Public submodules that ``import skbar`` does not load: ``skbar.zoo`` and the others
# are imported on first access (PEP 562), so that ``import skbar`` stays quick and an
# optional dependency (torch for ``baselines``, matplotlib for ``plotting``) is needed
# only by the code that uses it.
_LAZY_SUBMODULES = ("baselines", "datasets", "losses", "mapping", "oracles", "plotting",
                    "program", "zoo")

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
    # Not "baselines" nor "plotting": a star import must not need an optional extra.
    *(name for name in _LAZY_SUBMODULES if name not in ("baselines", "plotting")),
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
