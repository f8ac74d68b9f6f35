"""skbar: black-box adversarial reprogramming (BAR) as a scikit-learn estimator."""

import importlib

from . import callbacks, canvas, fit, heads, optim
from ._classifier import PAPER_BAR, BlackBoxReprogrammingClassifier
from .fit import CheckpointError
from .fit._select import ProbeShippedWarning
from .oracles import BudgetExhausted, HttpOracle, OnnxOracle, OracleError

__version__ = "0.2.0.dev0"

# Public submodules that ``import skbar`` does not load: ``skbar.zoo`` and the others
# are imported on first access (PEP 562), so that ``import skbar`` stays quick and an
# optional dependency (torch for ``baselines``, matplotlib for ``plotting``) is needed
# only by the code that uses it.
_LAZY_SUBMODULES = ("baselines", "datasets", "losses", "mapping", "oracles", "output_mapping",
                    "plotting", "program", "zoo")

__all__ = [
    "BlackBoxReprogrammingClassifier",
    "BudgetExhausted",
    "CheckpointError",
    "HttpOracle",
    "OnnxOracle",
    "OracleError",
    "PAPER_BAR",
    "ProbeShippedWarning",
    "callbacks",
    "canvas",
    "fit",
    "heads",
    "optim",
    # Not "baselines" nor "plotting": a star import must not need an optional extra; not
    # the deprecated modules.
    *(name for name in _LAZY_SUBMODULES
      if name not in ("baselines", "plotting", "mapping", "output_mapping", "program")),
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
