"""Canvases composed in the model's own input convention (``ModelInput``): the answers a
fit reads are those of ``[0, 1]`` NHWC canvases, and a fit on an ONNX oracle sends them."""

import pickle

import numpy as np
import onnx
import pytest
from test_onnx_oracle import _linear_model

from skbar import BlackBoxReprogrammingClassifier, OnnxOracle
from skbar.canvas import Program
from skbar.canvas._program import Canvases
from skbar.oracles import ComposedInput, FunctionOracle, ModelInput

SIZE = 12  # the canvas; the sample is 8x8 in its centre


class Recording(OnnxOracle):
    """An ONNX oracle that writes down what kind of batch each call sends it."""

    def predict_proba(self, canvases):
        self.sent = getattr(self, "sent", []) + [type(canvases).__name__]
        return super().predict_proba(canvases)


def _data(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 64)
    return X, (X[:, :32].sum(axis=1) > 16).astype(int)


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("layout, channel_order", [("NCHW", "RGB"), ("NCHW", "BGR"),
                                                   ("NHWC", "RGB"), ("NHWC", "BGR")])
def test_canvases_in_the_models_convention_answer_as_nhwc_canvases(tmp_path, fuse, layout,
                                                                   channel_order):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, layout, size=SIZE)
    oracle = OnnxOracle(path, scale=255, mean=[120, 110, 100], std=[60, 50, 40],
                        channel_order=channel_order, output="logits", batch_size=3,
                        fuse_preprocessing=fuse)
    program = Program((SIZE, SIZE, 3), (8, 8), (4, 4))
    rng = np.random.RandomState(0)
    grey = np.broadcast_to(rng.rand(5, 8, 8, 1).astype(np.float32), (5, 8, 8, 3))
    in_model, plain = (Canvases(program, model_input=oracle.model_input).load(grey),
                       Canvases(program).load(grey))
    for _ in range(2):  # a second frame over the same buffer
        frame = program.frame(rng.randn(*program.w_shape))
        batch = in_model.compose(frame)
        assert isinstance(batch, ModelInput) and batch.shape[0] == 5
        np.testing.assert_allclose(oracle.predict_proba(batch),
                                   oracle.predict_proba(plain.compose(frame)),
                                   rtol=0, atol=1e-5)


def _short_fit(tmp_path):
    """A 20-class NCHW model's file, the data, and a short seeded fit's parameters."""
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", n_classes=20, size=SIZE)
    params = dict(sample_shape=(8, 8), embed_size=8, program_shape=(4, 4), max_iter=6,
                  batch_size=8, random_state=0, select="last")
    return path, _data(), params


def _recording(path, **options):
    return Recording(path, scale=255, mean=[127] * 3, std=[128] * 3, output="logits",
                     **options)


def test_a_fit_on_an_onnx_oracle_sends_model_input_and_learns_the_same_program(tmp_path):
    path, (X, y), params = _short_fit(tmp_path)
    oracle = _recording(path)
    clf = BlackBoxReprogrammingClassifier(oracle, **params).fit(X, y)
    # Every query of the fit (first pass, steps, final pass) in the model's convention.
    assert set(oracle.sent) == {"ModelInput"} and clf.n_queries_ > 0
    # The same fit on the same model, sent [0, 1] NHWC canvases (no model_input).
    plain = _recording(path)
    hidden = FunctionOracle(plain.predict_proba, (SIZE, SIZE, 3))
    reference = BlackBoxReprogrammingClassifier(hidden, **params).fit(X, y)
    assert set(plain.sent) == {"ndarray"}
    assert clf.n_queries_ == reference.n_queries_
    np.testing.assert_allclose(clf.program_, reference.program_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert oracle.sent[-1] == "ModelInput"  # predictions too


def test_a_model_input_batch_of_another_shape_is_refused(tmp_path):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", size=SIZE)
    oracle = OnnxOracle(path)
    nhwc = np.zeros((2, SIZE, SIZE, 3), np.float32)  # the canvas layout, not the model's
    with pytest.raises(ValueError, match=r"float32 of shape \(2, 3, 12, 12\), got float32 "
                                         r"\(2, 12, 12, 3\)"):
        oracle.predict_proba(ModelInput(nhwc))


def test_a_float16_model_takes_nhwc_canvases_only(tmp_path):
    path = str(tmp_path / "m16.onnx")
    _linear_model(path, "NCHW", size=SIZE, float16=True)
    oracle = Recording(path)
    assert oracle.model_input is None
    X, y = _data()
    BlackBoxReprogrammingClassifier(oracle, sample_shape=(8, 8), embed_size=8, max_iter=2,
                                    batch_size=8, random_state=0, select="last").fit(X, y)
    assert set(oracle.sent) == {"ndarray"}


def test_the_model_input_session_is_left_out_of_pickles(tmp_path):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", size=SIZE)
    oracle = OnnxOracle(path, output="logits")
    batch = ModelInput(np.random.RandomState(0).rand(2, 3, SIZE, SIZE).astype(np.float32))
    answers = oracle.predict_proba(batch)
    copy = pickle.loads(pickle.dumps(oracle))
    assert copy._model_session is None and copy._composed == {}
    np.testing.assert_array_equal(copy.predict_proba(batch), answers)


def _at_opset(path, opset):
    """The model at ``path`` declared at another opset (its nodes exist in both)."""
    model = onnx.load(path)
    model.opset_import[0].version = opset
    onnx.save(model, path)


@pytest.mark.parametrize("opset", [9, 13])  # Pad's pads an attribute, then an input
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_samples_and_frames_composed_by_the_graph_answer_as_canvases_composed_here(
        tmp_path, layout, opset):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, layout, size=SIZE)
    _at_opset(path, opset)
    oracle = OnnxOracle(path, scale=255, mean=[120, 110, 100], std=[60, 50, 40],
                        channel_order="BGR", output="logits", batch_size=3,
                        compose_on_device=True)
    assert oracle.composes_on_device
    program = Program((SIZE, SIZE, 3), (8, 8), (4, 4))
    on_device = Canvases(program, model_input=oracle.model_input, on_device=True)
    here = Canvases(program, model_input=oracle.model_input)
    rng = np.random.RandomState(0)
    for _ in range(2):  # new samples each step: the copy the oracle keeps is renewed
        samples = rng.rand(5, 8, 8, 3).astype(np.float32)  # 5 samples, batches of 3
        on_device.load(samples), here.load(samples)
        for _ in range(2):  # candidates of a step: the samples stay, the frame changes
            frame = program.frame(rng.randn(*program.w_shape))
            batch, canvases = on_device.compose(frame), here.compose(frame)
            assert isinstance(batch, ComposedInput) and batch.shape == canvases.shape
            np.testing.assert_allclose(oracle.predict_proba(batch),
                                       oracle.predict_proba(canvases), rtol=0, atol=1e-5)


def test_a_fit_that_composes_on_the_device_learns_the_same_program(tmp_path):
    path, (X, y), params = _short_fit(tmp_path)
    fits = {}
    for choice in (True, False):
        oracle = _recording(path, compose_on_device=choice)
        fits[choice] = BlackBoxReprogrammingClassifier(oracle, **params).fit(X, y)
        # The search's steps and passes, in the form the oracle takes.
        assert set(oracle.sent) == {"ComposedInput" if choice else "ModelInput"}
    assert fits[True].n_queries_ == fits[False].n_queries_
    np.testing.assert_allclose(fits[True].program_, fits[False].program_, rtol=0, atol=1e-6)


def test_composing_on_the_device_is_for_cuda_unless_asked_and_needs_the_graph(tmp_path):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NCHW", size=SIZE)
    assert not OnnxOracle(path, providers=["CPUExecutionProvider"]).composes_on_device
    with pytest.raises(ValueError, match="compose_on_device=True .* needs "
                                         "fuse_preprocessing=True"):
        OnnxOracle(path, compose_on_device=True, fuse_preprocessing=False)
    with pytest.raises(ValueError, match="compose_on_device must be 'auto', True or False"):
        OnnxOracle(path, compose_on_device="yes")
    half = str(tmp_path / "m16.onnx")
    _linear_model(half, "NCHW", size=SIZE, float16=True)
    assert not OnnxOracle(half, compose_on_device=True).composes_on_device


def test_a_device_that_cannot_compose_leaves_the_fit_to_the_host_with_one_warning(
        tmp_path, monkeypatch):
    path, (X, y), params = _short_fit(tmp_path)
    reference = BlackBoxReprogrammingClassifier(_recording(path, compose_on_device=False),
                                                **params).fit(X, y)

    def no_device(self, box):
        raise RuntimeError("no CUDA kernel for Pad")

    monkeypatch.setattr(OnnxOracle, "_open_composed", no_device)
    oracle = _recording(path, compose_on_device=True)
    with pytest.warns(RuntimeWarning, match="could not compose canvases where the model "
                                            "runs .*no CUDA kernel for Pad") as caught:
        clf = BlackBoxReprogrammingClassifier(oracle, **params).fit(X, y)
    assert sum("could not compose" in str(w.message) for w in caught) == 1
    assert clf.n_queries_ == reference.n_queries_
    np.testing.assert_allclose(clf.program_, reference.program_, rtol=0, atol=1e-6)
