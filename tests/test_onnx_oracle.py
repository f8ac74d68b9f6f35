import pickle

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from scipy.special import softmax

from skbar.optim import SPSA
from skbar import BlackBoxReprogrammingClassifier, OnnxOracle


def _linear_model(path, layout, n_classes=5, size=6, seed=0, softmax_output=False):
    """A tiny ONNX classifier: flatten, MatMul, Add (and Softmax); weights kept for checks."""
    rng = np.random.RandomState(seed)
    d = size * size * 3
    weights = rng.randn(d, n_classes).astype(np.float32)
    bias = rng.randn(n_classes).astype(np.float32)
    shape = ["n", 3, size, size] if layout == "NCHW" else ["n", size, size, 3]
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits" if not softmax_output else "z"]),
    ]
    if softmax_output:
        nodes.append(helper.make_node("Softmax", ["z"], ["logits"], axis=1))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", n_classes])],
        initializer=[helper.make_tensor("W", TensorProto.FLOAT, weights.shape, weights.ravel()),
                     helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    onnx.save(model, path)
    return weights, bias


def _expected(canvases, weights, bias, layout, scale=1.0, mean=0.0, std=1.0, bgr=False):
    x = canvases[..., ::-1] if bgr else canvases
    x = (x * scale - np.asarray(mean)) / np.asarray(std)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return softmax(x.reshape(len(x), -1).astype(np.float64) @ weights + bias, axis=1)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_layout_is_read_off_the_model_and_preprocessing_applied(tmp_path, layout):
    path = str(tmp_path / "m.onnx")
    weights, bias = _linear_model(path, layout)
    oracle = OnnxOracle(path, scale=255, mean=[120, 110, 100], std=[60, 50, 40],
                        channel_order="BGR", output="logits", batch_size=3)
    assert oracle.input_shape == (6, 6, 3) and oracle.n_classes == 5
    canvases = np.random.RandomState(1).rand(7, 6, 6, 3).astype(np.float32)
    expected = _expected(canvases, weights, bias, layout, 255, [120, 110, 100], [60, 50, 40],
                         bgr=True)
    np.testing.assert_allclose(oracle.predict_proba(canvases), expected, rtol=1e-4, atol=1e-6)


def test_probability_outputs_pass_through_and_auto_detects_them(tmp_path):
    path = str(tmp_path / "p.onnx")
    weights, bias = _linear_model(path, "NCHW", softmax_output=True)
    canvases = np.random.RandomState(2).rand(4, 6, 6, 3).astype(np.float32)
    expected = _expected(canvases, weights, bias, "NCHW")
    for output in ("auto", "probabilities"):
        got = OnnxOracle(path, output=output).predict_proba(canvases)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_session_is_lazy_left_out_of_pickles_and_reopened(tmp_path):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NHWC")
    oracle = OnnxOracle(path, providers=["CPUExecutionProvider"])
    assert oracle._session is None
    canvases = np.random.RandomState(3).rand(2, 6, 6, 3).astype(np.float32)
    before = oracle.predict_proba(canvases)
    assert oracle.active_providers == ["CPUExecutionProvider"]
    copy = pickle.loads(pickle.dumps(oracle))
    assert copy._session is None
    np.testing.assert_array_equal(copy.predict_proba(canvases), before)


def test_providers_may_carry_their_options(tmp_path):
    # As ONNX Runtime takes them: (name, options) pairs beside plain names, e.g.
    # ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}).
    path = str(tmp_path / "m.onnx")
    weights, bias = _linear_model(path, "NHWC")
    canvases = np.random.RandomState(4).rand(3, 6, 6, 3).astype(np.float32)
    oracle = OnnxOracle(path, providers=[("CPUExecutionProvider", {"arena_extend_strategy":
                                                                   "kSameAsRequested"})])
    np.testing.assert_allclose(oracle.predict_proba(canvases),
                               _expected(canvases, weights, bias, "NHWC"), rtol=1e-4, atol=1e-6)
    assert oracle.active_providers == ["CPUExecutionProvider"]
    assert pickle.loads(pickle.dumps(oracle)).providers == oracle.providers


def test_onnx_oracle_drives_the_estimator(tmp_path, task):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", n_classes=8, size=8)
    X, y, X_test, _ = task
    clf = BlackBoxReprogrammingClassifier(OnnxOracle(path), m=2, max_iter=3, q=2,
                                          gradient=SPSA(antithetic=False), batch_size=16,
                                          random_state=0).fit(X, y)
    # The initial outputs, 3 steps of (q + 1) minibatches, the final pass of the head.
    assert clf.n_queries_ == len(X) + 3 * 3 * 16 + len(X)
    assert clf.predict(X_test).shape == (len(X_test),)


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        OnnxOracle(str(tmp_path / "nope.onnx"))
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW")
    with pytest.raises(ValueError, match="channel_order"):
        OnnxOracle(path, channel_order="RBG").predict_proba(np.zeros((1, 6, 6, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        OnnxOracle(path, batch_size=0)
    with pytest.raises(ValueError, match="layout"):
        OnnxOracle(path, layout="CHWN").predict_proba(np.zeros((1, 6, 6, 3)))
