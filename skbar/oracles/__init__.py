"""What skbar can query: any callable, ONNX Runtime models, HTTP model servers."""

from ._base import BudgetExhausted, OracleError, QueryCounter, call_oracle, oracle_input_shape
from ._canvas import CanvasAdapter, softmax
from ._onnx import OnnxOracle
from ._toy import RandomNetworkOracle

__all__ = [
    "BudgetExhausted",
    "CanvasAdapter",
    "OnnxOracle",
    "OracleError",
    "QueryCounter",
    "RandomNetworkOracle",
    "call_oracle",
    "oracle_input_shape",
    "softmax",
]
