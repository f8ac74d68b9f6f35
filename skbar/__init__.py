"""skbar: black-box adversarial reprogramming (BAR) as a scikit-learn estimator."""

from .oracles import OnnxOracle, OracleError

__version__ = "0.1.0"

__all__ = ["OnnxOracle", "OracleError"]
