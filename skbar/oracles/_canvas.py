"""Adapting skbar's canvas convention to a model's own input convention.

skbar always speaks ``(n, H, W, C)`` float32 RGB in ``[0, 1]``. Models differ: NCHW or
NHWC, RGB or BGR, pixels in ``[0, 255]`` or ``[0, 1]``, normalised per channel. One
:class:`CanvasAdapter` holds those choices, so the ONNX and HTTP oracles share them.
"""

import warnings

import numpy as np
from scipy.special import softmax

from ._base import QueryCounter

_LAYOUTS = ("auto", "NCHW", "NHWC")
_CHANNEL_ORDERS = ("RGB", "BGR")
_OUTPUTS = ("auto", "probabilities", "logits")


def resolve_layout(layout, model_shape):
    """NCHW or NHWC: the given layout, or read off a rank-4 model input shape.

    With ``"auto"``, a dimension of size 1 or 3 in position 1 means NCHW, in position 3
    NHWC; dynamic dimensions (None or a name) are not sizes.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}.")
    if layout != "auto":
        return layout
    if model_shape is None or len(model_shape) != 4:
        raise ValueError(
            f"layout='auto' needs a rank-4 model input, got shape {model_shape}; "
            "pass layout='NCHW' or 'NHWC'."
        )
    c1, c3 = model_shape[1], model_shape[3]
    if isinstance(c1, int) and c1 in (1, 3, 4):
        return "NCHW"
    if isinstance(c3, int) and c3 in (1, 3, 4):
        return "NHWC"
    raise ValueError(
        f"layout='auto' cannot tell channels from the model input shape {model_shape}; "
        "pass layout='NCHW' or 'NHWC'."
    )


def canvas_shape_from_model(model_shape, layout):
    """``(H, W, C)`` from a rank-4 model input shape, or None if a size is dynamic."""
    if layout == "NCHW":
        dims = (model_shape[2], model_shape[3], model_shape[1])
    else:
        dims = (model_shape[1], model_shape[2], model_shape[3])
    if all(isinstance(d, int) and d > 0 for d in dims):
        return dims
    return None


class CanvasAdapter:
    """Turns ``[0, 1]`` NHWC RGB canvases into a model's input, and its output into scores.

    Parameters
    ----------
    layout : {"NCHW", "NHWC"}
    channel_order : {"RGB", "BGR"}
    scale : float
        The canvas is multiplied by it first (255 for models that take byte values).
    mean, std : sequence of float or None
        Per channel, applied after scaling: ``(x * scale - mean) / std``.
    output : {"probabilities", "logits", "auto"}
        Logits go through a softmax. ``"auto"`` decides once, on the first answer
        (:func:`looks_like_probabilities`), and keeps that reading for every later
        answer, so that the same image reads the same in any batch; a later answer
        that contradicts it raises a warning once.

    Attributes
    ----------
    output_ : {"probabilities", "logits"} or None
        What ``output="auto"`` decided; None before the first answer.
    dtype : numpy dtype
        What the model takes.
    gain, offset : ndarray of float32
        The normalisation as one affine map, ``x * gain + offset`` per channel (one
        value, or one per channel).
    """

    def __init__(self, layout, channel_order="RGB", scale=1.0, mean=None, std=None,
                 output="auto", dtype=np.float32):
        if channel_order not in _CHANNEL_ORDERS:
            raise ValueError(
                f"channel_order must be one of {_CHANNEL_ORDERS}, got {channel_order!r}."
            )
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}.")
        self.layout = layout
        self.channel_order = channel_order
        self.scale = float(scale)
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        if self.std is not None and np.any(self.std == 0):
            raise ValueError("std must not contain zeros.")
        self.output = output
        self.output_ = None if output == "auto" else output
        self._contradicted = False
        self.dtype = dtype
        # (x * scale - mean) / std == x * gain + offset: one affine map, per channel.
        std = np.ones(1, np.float32) if self.std is None else self.std
        mean = np.zeros(1, np.float32) if self.mean is None else self.mean
        self.gain = (np.float32(self.scale) / std).astype(np.float32)
        self.offset = (-mean / std).astype(np.float32)
        per_channel = (-1, 1, 1) if layout == "NCHW" else (-1,)
        self._gain = self.gain.reshape(per_channel)
        self._offset = self.offset.reshape(per_channel) if np.any(self.offset) else None

    def to_model(self, canvases):
        """``(n, H, W, C)`` canvases in ``[0, 1]`` as a new array of the model's input."""
        canvases = np.asarray(canvases, dtype=np.float32)
        n, H, W, C = canvases.shape
        out = np.empty(self.batch_shape(n, H, W, C), dtype=self.dtype)
        self.write(out, canvases)
        return out

    def batch_shape(self, n, height, width, channels):
        """The shape of ``n`` images of the model's input, in its layout."""
        if self.layout == "NCHW":
            return (n, channels, height, width)
        return (n, height, width, channels)

    def at(self, rows, cols):
        """The index of the pixels ``(rows, cols)`` of every image of a batch in the
        model's layout (every channel)."""
        if self.layout == "NCHW":
            return (slice(None), slice(None), rows, cols)
        return (slice(None), rows, cols)

    def write(self, out, images):
        """Write ``images`` ``(n, h, w, C)``, RGB in ``[0, 1]``, into ``out``, a batch of
        the model's input (its layout, channel order and normalisation), in place: in
        two passes over ``out``, none over a copy of ``images``."""
        x = np.asarray(images, dtype=np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        np.multiply(x, self._gain, out=out, casting="unsafe")
        if self._offset is not None:
            out += self._offset

    def to_scores(self, outputs):
        out = np.asarray(outputs, dtype=np.float64)
        out = out.reshape(out.shape[0], -1)
        if self.output == "auto":
            self._decide(out)
        return softmax(out, axis=1) if self.output_ == "logits" else out

    def _decide(self, out):
        if out.shape[0] == 0:
            return
        seen = "probabilities" if looks_like_probabilities(out) else "logits"
        if self.output_ is None:
            self.output_ = seen
        elif seen != self.output_ and not self._contradicted:
            self._contradicted = True
            warnings.warn(
                f"output='auto' read the model's first answer as {self.output_}, but a later "
                f"one looks like {seen}; every answer is still read as {self.output_}. "
                "Pass output='probabilities' or output='logits' to say which it is.",
                RuntimeWarning, stacklevel=3)


class ModelInput:
    """Images already in a model's own input convention, for an oracle that takes them.

    skbar hands oracles ``(n, H, W, C)`` RGB canvases in ``[0, 1]``. An oracle whose
    ``model_input`` attribute is a :class:`CanvasAdapter` (its model's layout, channel
    order and normalisation) also takes a batch composed in that convention, wrapped in
    this class, and runs it as it is: a fit composes its canvases so (the program's frame
    normalised once a candidate, each sample once a step), and neither the host nor the
    graph transposes or normalises any canvas. Everything between the fit and the oracle
    (the query counter) passes it through; only its ``shape`` is read.

    Parameters
    ----------
    array : ndarray
        ``(n, C, H, W)`` or ``(n, H, W, C)``, the model's dtype.
    """

    def __init__(self, array):
        self.array = array
        self.shape = array.shape

    def __len__(self):
        return self.shape[0]


class ComposedInput:
    """A minibatch's samples and one frame, both in a model's input convention, for an
    oracle that composes the canvases itself (``composes_on_device``).

    The search sends the same samples under each candidate frame of a step: such an
    oracle keeps them where its model runs (the GPU) and receives one frame a candidate,
    not a minibatch of canvases. Its answers are those of the :class:`ModelInput` batch
    composed on the host from the same samples and frame.

    Parameters
    ----------
    samples : ndarray
        ``(n, C, h, w)`` or ``(n, h, w, C)``: the samples alone, in the model's layout.
    frame : ndarray
        ``(1, C, H, W)`` or ``(1, H, W, C)``: the program's frame, zero under the samples.
    box : tuple of int
        ``(top, left, h, w)``: where the samples sit on the canvas.
    version : int
        Changes whenever new samples are written into the same ``samples`` array, so
        that the oracle knows when the copy it keeps is stale.
    """

    def __init__(self, samples, frame, box, version):
        self.samples, self.frame, self.box, self.version = samples, frame, box, version
        self.shape = samples.shape[:1] + frame.shape[1:]

    def __len__(self):
        return self.shape[0]


def _called(ask):
    """The oracle ``ask`` calls: ``ask`` itself, or the one a query counter wraps."""
    return ask.oracle if isinstance(ask, QueryCounter) else ask


def model_input_of(ask):
    """The input convention (a :class:`CanvasAdapter`) of the oracle ``ask`` calls, where
    it takes :class:`ModelInput` batches; None otherwise. ``ask`` is an oracle or a query
    counter around one (its ``oracle`` attribute)."""
    return getattr(_called(ask), "model_input", None)


def composes_on_device(ask):
    """Whether the oracle ``ask`` calls takes :class:`ComposedInput` minibatches."""
    return model_input_of(ask) is not None and bool(getattr(_called(ask),
                                                            "composes_on_device", False))


def looks_like_probabilities(out, atol=0.05):
    """Whether every row of ``out`` lies in ``[0, 1]`` and sums to one within ``atol``.

    The tolerance admits probabilities rounded by a server (rows summing to 0.99);
    logits seldom stay within ``[0, 1]`` and sum to one.
    """
    out = np.asarray(out, dtype=np.float64)
    return bool(np.all((out >= 0) & (out <= 1))
                and np.allclose(out.sum(axis=1), 1, rtol=0, atol=atol))
