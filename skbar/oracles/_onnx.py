"""An oracle over any ONNX image classifier, run by ONNX Runtime."""

import hashlib
import os
import warnings

import numpy as np

from ._base import OracleError
from ._canvas import (CanvasAdapter, ComposedInput, ModelInput, canvas_shape_from_model,
                      resolve_layout)
from ._onnx_graph import FRAME, SAMPLES, model_inputs, with_conventions


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
    compose_on_device : {"auto", True, False}, default="auto"
        Let a fit send a minibatch's samples once and one frame a candidate program
        (:class:`ComposedInput`), which a third graph composes into canvases where the
        model runs, the samples kept there (ONNX Runtime's I/O binding) from candidate
        to candidate. ``"auto"``: where the model runs on CUDA. The answers are those of
        canvases composed on the host. Needs ``fuse_preprocessing`` and a float32 model.
    fuse_preprocessing : bool, default=True
        Write the conventions above (the layout transpose, the channel order, the scale,
        mean and std, the cast to a float16 model's dtype, and the softmax of logits) into
        the graph ONNX Runtime runs, as nodes around the model, so that they run with it,
        on its device, and the canvases go to it as they are. The file on disk is left
        unchanged. False runs the model's own graph and does that work in NumPy around
        every run. A model the nodes do not fit (several inputs, an input that is neither
        float32 nor float16, an opset before 7) runs its own graph, with a warning.

    Attributes
    ----------
    input_shape : tuple of int
        The canvas shape ``(H, W, C)``.
    n_classes : int
        Number of source classes K.
    preprocessing_in_graph : bool
        Whether the conventions run as nodes of the graph (see ``fuse_preprocessing``).
    releases_gil : bool
        True: ONNX Runtime runs the model outside Python's lock, so a fit composes the
        next batch of canvases while the model answers this one
        (:class:`~skbar.oracles.InTurn`), calling the oracle from one worker thread, one
        call at a time.

    Notes
    -----
    Canvases that are already a C-contiguous float32 array go to ONNX Runtime without a
    copy; a batch that fits in ``batch_size`` is answered with the array ONNX Runtime
    returns.
    """

    releases_gil = True

    def __init__(self, path, providers=None, layout="auto", channel_order="RGB", scale=1.0,
                 mean=None, std=None, output="auto", batch_size=64, input_shape=None,
                 n_threads=None, sha256=None, fuse_preprocessing=True,
                 compose_on_device="auto"):
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
        self.fuse_preprocessing = fuse_preprocessing
        self.compose_on_device = compose_on_device
        self._session = self._model_session = self._adapter = None
        self._composed, self._kept_samples = {}, None
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"No ONNX model at {self.path!r}.")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if compose_on_device not in ("auto", True, False):
            raise ValueError(f"compose_on_device must be 'auto', True or False, got "
                             f"{compose_on_device!r}.")
        if compose_on_device is True and not fuse_preprocessing:
            raise ValueError("compose_on_device=True composes canvases in the graph: it "
                             "needs fuse_preprocessing=True.")

    # The sessions are opened on first use and left out of pickles, so the oracle clones,
    # pickles and travels to joblib workers; each process opens its own.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = state["_model_session"] = state["_adapter"] = None
        state["_composed"], state["_kept_samples"] = {}, None
        return state

    def _open(self):
        """The session for ``[0, 1]`` NHWC canvases."""
        if self._session is None:
            self._session, self._input_name, self._outputs = self._new_session("canvas")
        return self._session

    def _open_model_input(self):
        """The session for batches in the model's own convention (:class:`ModelInput`),
        opened on the first such batch: no nodes in front of the model."""
        if getattr(self, "_model_session", None) is None:
            self._open()  # the conventions, read off the model
            self._model_session, self._model_input_name, self._model_outputs = \
                self._new_session("model")
        return self._model_session

    def _open_composed(self, box):
        """The session composing samples at ``box`` and a frame into canvases, and its
        outputs; one a box, opened on its first batch."""
        composed = getattr(self, "_composed", None)
        if composed is None:  # a pickle from before it
            composed = self._composed = {}
        if box not in composed:
            self._open()
            session, _, outputs = self._new_session("composed", box)
            composed[box] = (session, outputs)
        return composed[box]

    def _new_session(self, front, box=None):
        """``(session, input name, outputs)``: outputs None where the conventions run in
        NumPy (:class:`CanvasAdapter`), else the fused graph's to fetch."""
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto

        # The graph alone (not an external file's weights) says the input's layout,
        # dtype and size. A file with a digest is read once, checked, and ONNX Runtime
        # runs the very bytes checked.
        sha256 = getattr(self, "sha256", None)  # None in a pickle from before it
        checked = None if sha256 is None else read_checked(self.path, sha256)
        model = (onnx.load(self.path, load_external_data=False) if checked is None
                 else onnx.load_model_from_string(checked))
        if getattr(self, "_adapter", None) is None:
            model_input = model_inputs(model)[0]
            tensor_type = model_input.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else None
                     for d in tensor_type.shape.dim]
            layout = resolve_layout(self.layout, shape)
            dtype = np.float16 if tensor_type.elem_type == TensorProto.FLOAT16 else np.float32
            self._adapter = CanvasAdapter(layout, self.channel_order, self.scale, self.mean,
                                          self.std, self.output, dtype)
            if self._input_shape is None:
                self._input_shape = canvas_shape_from_model(shape, layout)
        source, outputs = (self.path if checked is None else checked), None
        if getattr(self, "fuse_preprocessing", True):  # absent from older pickles
            try:
                source, outputs = self._fused(model, front, box)
            except ValueError as exc:  # the file runs as it is, conventions in NumPy
                if front == "composed":
                    raise
                warnings.warn(f"OnnxOracle({self.path!r}) runs the model's own graph, "
                              f"with the conventions in NumPy: {exc}.", RuntimeWarning,
                              stacklevel=4)
        del model
        options = ort.SessionOptions()
        if self.n_threads is not None:
            options.intra_op_num_threads = int(self.n_threads)
        session = ort.InferenceSession(source, options,
                                       providers=self.providers or default_providers())
        out_shape = session.get_outputs()[0].shape
        self._n_classes = out_shape[-1] if isinstance(out_shape[-1], int) else None
        return session, session.get_inputs()[0].name, outputs

    def _fused(self, model, front="canvas", box=None):
        """The serialised model with the conventions as nodes, and the outputs to fetch."""
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, os.path.dirname(os.path.abspath(self.path)))
        fused, outputs = with_conventions(model, self._adapter.layout, self.channel_order,
                                          self._adapter.gain, self._adapter.offset,
                                          self._input_shape, self.output, front, box)
        return fused.SerializeToString(), outputs

    @property
    def input_shape(self):
        self._open()
        return self._input_shape

    @property
    def n_classes(self):
        self._open()
        return self._n_classes

    @property
    def preprocessing_in_graph(self):
        self._open()
        return self._outputs is not None

    @property
    def active_providers(self):
        """The execution providers ONNX Runtime actually uses for this model."""
        return self._open().get_providers()

    @property
    def model_input(self):
        """The model's input convention (a :class:`CanvasAdapter`: layout, channel order,
        normalisation): this oracle also takes batches composed in it, wrapped in a
        :class:`ModelInput`, which a fit sends. None for a float16 model."""
        self._open()
        return self._adapter if self._adapter.dtype == np.float32 else None

    @property
    def composes_on_device(self):
        """Whether a fit sends this oracle :class:`ComposedInput` minibatches (see
        ``compose_on_device``)."""
        choice = getattr(self, "compose_on_device", False)  # absent from older pickles
        if choice is False or self.model_input is None or not self.preprocessing_in_graph:
            return False
        return choice is True or "CUDAExecutionProvider" in self.active_providers

    def predict_proba(self, canvases):
        """Class scores ``(n, K)``, float64, for canvases ``(n, H, W, C)`` in ``[0, 1]``,
        for a :class:`ModelInput` batch in the model's own convention
        (:attr:`model_input`), run as it is, or for a :class:`ComposedInput` minibatch,
        composed by the graph."""
        if isinstance(canvases, ComposedInput):
            return self._predict_composed(canvases)
        if isinstance(canvases, ModelInput):
            session, name = self._open_model_input(), self._model_input_name
            outputs, images = self._model_outputs, canvases.array
            expected = self._adapter.batch_shape(len(images), *self._input_shape)
            if images.shape != expected or images.dtype != np.float32:
                raise ValueError(
                    f"A ModelInput batch for this model must be float32 of shape "
                    f"{expected}, got {images.dtype} {images.shape}.")
        else:
            session, name, outputs = self._open(), self._input_name, self._outputs
            # A C-contiguous float32 array goes through as it is; slices of it along the
            # batch stay contiguous, so no chunk is copied either.
            images = np.ascontiguousarray(canvases, dtype=np.float32)
        step = int(self.batch_size)
        chunks = [self._run(session, name, outputs, images[start:start + step],
                            in_model_convention=isinstance(canvases, ModelInput))
                  for start in range(0, max(len(images), 1), step)]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)

    def _predict_composed(self, batch):
        if not getattr(self, "_composing_failed", False):
            try:
                return self._run_composed(batch)
            except Exception as exc:  # a device path must not stop a fit: the host's
                self._composing_failed = True
                warnings.warn(
                    f"OnnxOracle({self.path!r}) could not compose canvases where the model "
                    f"runs ({type(exc).__name__}: {exc}); it composes them on the host "
                    "from now on, with the same answers.", RuntimeWarning, stacklevel=3)
        return self.predict_proba(ModelInput(self._compose_here(batch)))

    def _compose_here(self, batch):
        """The canvases of ``batch``, composed on the host in the model's convention."""
        canvases = np.empty(batch.shape, dtype=np.float32)
        canvases[...] = batch.frame
        top, left, h, w = batch.box
        canvases[self._adapter.at(slice(top, top + h), slice(left, left + w))] = batch.samples
        return canvases

    def _run_composed(self, batch):
        session, outputs = self._open_composed(tuple(int(v) for v in batch.box))
        device = "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"
        frame = np.ascontiguousarray(batch.frame, dtype=np.float32)
        step = int(self.batch_size)
        chunks = []
        for start in range(0, max(len(batch), 1), step):
            binding = session.io_binding()
            binding.bind_ortvalue_input(SAMPLES, self._samples_on(device, batch, start, step))
            binding.bind_cpu_input(FRAME, frame)
            for name in outputs:
                binding.bind_output(name, "cpu")
            session.run_with_iobinding(binding)
            chunks.append(self._answer(binding.copy_outputs_to_cpu()))
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)

    def _samples_on(self, device, batch, start, step):
        """The samples ``[start, start + step)`` of ``batch`` on ``device``: copied there on
        the minibatch's first candidate, kept for the others (same array, same version)."""
        import onnxruntime as ort

        key = (batch.version, start, device)
        kept = getattr(self, "_kept_samples", None)
        if kept is None or kept[1] is not batch.samples or kept[0] != key:
            part = np.ascontiguousarray(batch.samples[start:start + step], dtype=np.float32)
            kept = self._kept_samples = (key, batch.samples,
                                         ort.OrtValue.ortvalue_from_numpy(part, device, 0))
        return kept[2]

    def _run(self, session, name, outputs, images, in_model_convention):
        if outputs is None:
            x = images if in_model_convention else self._adapter.to_model(images)
            return self._adapter.to_scores(session.run(None, {name: x})[0])
        return self._answer(session.run(outputs, {name: images}))

    def _answer(self, answers):
        """The scores among the fused graph's outputs."""
        if len(answers) == 1:
            return answers[0]
        # output="auto": the graph returns the scores and their softmax; which one is
        # the answer is decided on the first, and kept (CanvasAdapter.to_scores).
        scores, probabilities = answers
        self._adapter._decide(scores)
        return probabilities if self._adapter.output_ == "logits" else scores

    __call__ = predict_proba

    def __repr__(self):
        return f"OnnxOracle({self.path!r})"
