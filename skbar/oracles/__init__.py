"""What skbar can query: any callable, ONNX Runtime models, HTTP model servers."""

from ._base import (BudgetExhausted, FunctionOracle, OracleError, QueryCounter, TopKOracle,
                    call_oracle, check_oracle, oracle_input_shape)
from ._canvas import CanvasAdapter, ComposedInput, ModelInput
from ._dask import DaskOracle
from ._http import HttpOracle
from ._in_turn import InTurn, answers_off_thread
from ._onnx import OnnxOracle
from ._responses import ScoreVectorResponse, TopKResponse
from ._toy import ProgramOnlyOracle, RandomNetworkOracle

__all__ = [
    "BudgetExhausted",
    "CanvasAdapter",
    "ComposedInput",
    "ModelInput",
    "DaskOracle",
    "FunctionOracle",
    "HttpOracle",
    "InTurn",
    "OnnxOracle",
    "OracleError",
    "QueryCounter",
    "ProgramOnlyOracle",
    "RandomNetworkOracle",
    "ScoreVectorResponse",
    "TopKOracle",
    "TopKResponse",
    "answers_off_thread",
    "call_oracle",
    "check_oracle",
    "oracle_input_shape",
]
