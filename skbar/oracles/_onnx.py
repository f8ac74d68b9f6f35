"""An oracle over any ONNX image classifier, run by ONNX Runtime."""

import hashlib
import os

import numpy as np

from ._base import OracleError
from ._canvas import CanvasAdapter, canvas_shape_from_model, resolve_layout


def default_providers():
    """CUDA where this onnxruntime build has it, the CPU otherwise."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def read_checked(path, sha256):
    """The bytes of the file ``path``, once checked to have the SHA-256 ``sha256``.

    Raises
    ------
    OracleError
        If they do not: the message names the file and both digests.
    """
    with open(path, "rb") as f:
        data = f.read()
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        # A model changed on disk still parses, and would predict wrongly without a word.
        raise OracleError(
            f"The model file {path!r} has changed: its SHA-256 is {found}, not {sha256} as "
            "when this oracle was made. For a cached zoo model, skbar.zoo.load() rebuilds it.")
    return data


class OnnxOracle:
    """A black-box ONNX image classifier: canvases in, class scores out.

    The model is only ever run forward; skbar never reads its weights or gradients.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file.
    providers : list of str or (str, dict), optional
        ONNX Runtime execution providers, in order of preference, each a name or a
        ``(name, options)`` pair, e.g. ``("CUDAExecutionProvider",
        {"cudnn_conv_algo_search": "HEURISTIC"})``. By default the CUDA execution
        provider when it is available, else the CPU one.
    layout : {"auto", "NCHW", "NHWC"}, default="auto"
        The model's input layout; ``"auto"`` reads it off the model's input shape.
    channel_order : {"RGB", "BGR"}, default="RGB"
    scale : float, default=1.0
        The ``[0, 1]`` canvas is multiplied by it first (e.g. 255).
    mean, std : sequence of float, optional
        Per-channel normalisation applied after scaling.
    output : {"auto", "probabilities", "logits"}, default="auto"
        Logits go through a softmax.
    batch_size : int, default=64
        Largest batch handed to ONNX Runtime in one run.
    input_shape : tuple of int, optional
        The canvas ``(H, W, C)``, needed only when the model's spatial size is dynamic.
    n_threads : int, optional
        ONNX Runtime's intra-op threads; its own default when None.
    sha256 : str, optional
        The SHA-256 (hex) the file must have. When given, the file is checked each time
        a session opens it: on first use, and again in an unpickled copy or a joblib or
        Dask worker; ONNX Runtime runs the very bytes checked. :func:`skbar.zoo.load`
        gives the digest of the cached model.

    Attributes
    ----------
    input_shape : tuple of int
        The canvas shape ``(H, W, C)``.
    n_classes : int
        Number of source classes K.
    """

    def __init__(self, path, providers=None, layout="auto", channel_order="RGB", scale=1.0,
                 mean=None, std=None, output="auto", batch_size=64, input_shape=None,
                 n_threads=None, sha256=None):
        self.path = os.fspath(path)
        self.providers = None if providers is None else list(providers)
        self.layout = layout
        self.channel_order = channel_order
        self.scale = scale
        self.mean = mean
        self.std = std
        self.output = output
        self.batch_size = batch_size
        self._input_shape = None if input_shape is None else tuple(input_shape)
        self.n_threads = n_threads
        self.sha256 = None if sha256 is None else str(sha256).lower()
        self._session = None
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"No ONNX model at {self.path!r}.")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")

    # The session is opened on first use and left out of pickles, so the oracle clones,
    # pickles and travels to joblib workers; each process opens its own.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = None
        state.pop("_adapter", None)
        return state

    def _open(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self.n_threads is not None:
                options.intra_op_num_threads = int(self.n_threads)
            providers = self.providers or default_providers()
            sha256 = getattr(self, "sha256", None)  # None in a pickle from before it
            model = self.path if sha256 is None else read_checked(self.path, sha256)
            self._session = ort.InferenceSession(model, options, providers=providers)
            model_input = self._session.get_inputs()[0]
            self._input_name = model_input.name
            shape = [d if isinstance(d, int) else None for d in model_input.shape]
            layout = resolve_layout(self.layout, shape)
            dtype = np.float16 if "float16" in model_input.type else np.float32
            self._adapter = CanvasAdapter(layout, self.channel_order, self.scale, self.mean,
                                          self.std, self.output, dtype)
            if self._input_shape is None:
                self._input_shape = canvas_shape_from_model(shape, layout)
            out_shape = self._session.get_outputs()[0].shape
            self._n_classes = out_shape[-1] if isinstance(out_shape[-1], int) else None
        return self._session

    @property
    def input_shape(self):
        self._open()
        return self._input_shape

    @property
    def n_classes(self):
        self._open()
        return self._n_classes

    @property
    def active_providers(self):
        """The execution providers ONNX Runtime actually uses for this model."""
        return self._open().get_providers()

    def predict_proba(self, canvases):
        """Class scores ``(n, K)`` for canvases ``(n, H, W, C)`` in ``[0, 1]``."""
        session = self._open()
        canvases = np.asarray(canvases)
        chunks = []
        for start in range(0, canvases.shape[0], int(self.batch_size)):
            x = self._adapter.to_model(canvases[start:start + int(self.batch_size)])
            logits = session.run(None, {self._input_name: x})[0]
            chunks.append(self._adapter.to_scores(logits))
        return np.concatenate(chunks, axis=0)

    __call__ = predict_proba

    def __repr__(self):
        return f"OnnxOracle({self.path!r})"
