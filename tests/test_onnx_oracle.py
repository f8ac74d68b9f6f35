import pickle

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from scipy.special import softmax

from skbar.optim import SPSA
from skbar import BlackBoxReprogrammingClassifier, OnnxOracle


def _linear_model(path, layout, n_classes=5, size=6, seed=0, softmax_output=False,
                  float16=False, flat_name="flat", dynamic=False):
    """A tiny ONNX classifier: flatten, MatMul, Add (and Softmax); weights kept for checks.

    ``float16`` makes the input float16 (cast to float32 inside); ``flat_name`` names the
    flattened tensor; ``dynamic`` leaves the input's height and width unnamed sizes.
    """
    rng = np.random.RandomState(seed)
    d = size * size * 3
    weights = rng.randn(d, n_classes).astype(np.float32)
    bias = rng.randn(n_classes).astype(np.float32)
    side = "side" if dynamic else size
    shape = ["n", 3, side, side] if layout == "NCHW" else ["n", side, side, 3]
    nodes = [
        helper.make_node("Flatten", ["x"], [flat_name], axis=1),
        helper.make_node("MatMul", [flat_name, "W"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits" if not softmax_output else "z"]),
    ]
    if softmax_output:
        nodes.append(helper.make_node("Softmax", ["z"], ["logits"], axis=1))
    if float16:
        nodes.insert(0, helper.make_node("Cast", ["x16"], ["x"], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x16" if float16 else "x",
                                       TensorProto.FLOAT16 if float16 else TensorProto.FLOAT,
                                       shape)],
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
        oracle = OnnxOracle(path, output=output)
        got = oracle.predict_proba(canvases)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
        assert oracle._adapter.output_ == "probabilities"  # no second softmax


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
    # A pickle made before fuse_preprocessing existed opens with the conventions in the graph.
    state = oracle.__getstate__()
    del state["fuse_preprocessing"]
    old = OnnxOracle.__new__(OnnxOracle)
    old.__dict__.update(state)
    np.testing.assert_array_equal(old.predict_proba(canvases), before)
    assert old.preprocessing_in_graph


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


# --- the conventions as nodes of the graph ------------------------------------------

_CONVENTIONS = {
    "zoo (one scale, one offset)": dict(scale=255, mean=[127] * 3, std=[128] * 3),
    "per channel, BGR": dict(scale=255, mean=[120, 110, 100], std=[60, 50, 40],
                             channel_order="BGR"),
    "scale only": dict(scale=255),
    "none": dict(),
}


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("conventions", _CONVENTIONS, ids=list(_CONVENTIONS))
@pytest.mark.parametrize("output", ["logits", "auto"])
def test_conventions_in_the_graph_answer_as_numpy_did(tmp_path, layout, conventions, output):
    path = str(tmp_path / "m.onnx")
    weights, bias = _linear_model(path, layout, n_classes=7, size=8)
    kwargs = dict(_CONVENTIONS[conventions], output=output, batch_size=4)
    fused = OnnxOracle(path, **kwargs)
    host = OnnxOracle(path, fuse_preprocessing=False, **kwargs)
    assert fused.preprocessing_in_graph and not host.preprocessing_in_graph
    assert fused.input_shape == host.input_shape == (8, 8, 3)
    assert fused.n_classes == host.n_classes == 7
    # The graph takes the canvases themselves: NHWC float32, the batch dimension kept.
    (canvas,) = fused._session.get_inputs()
    assert canvas.type == "tensor(float)" and canvas.shape == ["n", 8, 8, 3]
    canvases = np.random.RandomState(5).rand(10, 8, 8, 3).astype(np.float32)
    got = fused.predict_proba(canvases)
    assert got.dtype == np.float64 and got.shape == (10, 7)
    np.testing.assert_allclose(got, host.predict_proba(canvases), rtol=0, atol=1e-5)
    c = _CONVENTIONS[conventions]
    expected = _expected(canvases, weights, bias, layout, c.get("scale", 1.0),
                         c.get("mean", 0.0), c.get("std", 1.0),
                         bgr=c.get("channel_order") == "BGR")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_the_host_leaves_canvases_to_the_graph(tmp_path, monkeypatch):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", size=8)
    oracle = OnnxOracle(path, scale=255, mean=[127] * 3, std=[128] * 3, output="logits")
    oracle._open()
    # No NumPy work per batch: neither the adapter's transform nor its softmax runs.
    for name in ("to_model", "to_scores"):
        monkeypatch.setattr(oracle._adapter, name, None)
    fed, answered = [], []
    run = oracle._session.run

    def spy(names, feeds):
        fed.append(feeds["skbar/canvas"])
        answered.append(run(names, feeds)[0])
        return [answered[-1]]

    monkeypatch.setattr(oracle._session, "run", spy)
    canvases = np.random.RandomState(7).rand(6, 8, 8, 3).astype(np.float32)
    got = oracle.predict_proba(canvases)
    # A C-contiguous float32 batch goes in as it is, and its answer comes out as it is.
    assert np.shares_memory(fed[0], canvases) and fed[0].shape == canvases.shape
    assert got is answered[0]
    # Chunks of a larger batch are views of it, not copies.
    oracle.batch_size = 4
    oracle.predict_proba(canvases)
    assert [np.shares_memory(x, canvases) for x in fed[1:]] == [True, True]
    assert [len(x) for x in fed[1:]] == [4, 2]
    # Anything else is made a contiguous float32 array once, then passed on.
    oracle.predict_proba(canvases.astype(np.float64)[:, ::-1])
    assert fed[-1].dtype == np.float32 and fed[-1].flags.c_contiguous


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_dynamic_model_takes_the_canvas_size_given(tmp_path, layout):
    path = str(tmp_path / "d.onnx")
    weights, bias = _linear_model(path, layout, dynamic=True)
    kwargs = dict(scale=255, mean=[120, 110, 100], std=[60, 50, 40], output="logits")
    assert OnnxOracle(path, **kwargs).input_shape is None
    oracle = OnnxOracle(path, input_shape=(6, 6, 3), **kwargs)
    assert oracle.preprocessing_in_graph
    assert oracle._session.get_inputs()[0].shape == ["n", 6, 6, 3]
    canvases = np.random.RandomState(10).rand(4, 6, 6, 3).astype(np.float32)
    np.testing.assert_allclose(
        oracle.predict_proba(canvases),
        _expected(canvases, weights, bias, layout, 255, [120, 110, 100], [60, 50, 40]),
        rtol=0, atol=1e-5)


def test_float16_model_gets_a_cast_node(tmp_path):
    path = str(tmp_path / "h.onnx")
    weights, bias = _linear_model(path, "NCHW", float16=True)
    canvases = np.random.RandomState(8).rand(3, 6, 6, 3).astype(np.float32)
    oracle = OnnxOracle(path, scale=255, mean=[127] * 3, std=[128] * 3, output="logits")
    expected = _expected(canvases, weights, bias, "NCHW", 255, 127, 128)
    assert oracle.preprocessing_in_graph
    # float16 keeps about three digits of each input.
    np.testing.assert_allclose(oracle.predict_proba(canvases), expected, rtol=0, atol=1e-2)


def test_a_graph_the_nodes_do_not_fit_runs_as_it_is(tmp_path):
    path = str(tmp_path / "m.onnx")
    weights, bias = _linear_model(path, "NCHW", flat_name="skbar/flat")  # skbar's own name
    oracle = OnnxOracle(path, scale=255, output="logits")
    with pytest.warns(RuntimeWarning, match="own graph, with the conventions in NumPy"):
        assert not oracle.preprocessing_in_graph
    canvases = np.random.RandomState(9).rand(3, 6, 6, 3).astype(np.float32)
    np.testing.assert_allclose(oracle.predict_proba(canvases),
                               _expected(canvases, weights, bias, "NCHW", 255),
                               rtol=0, atol=1e-5)


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
