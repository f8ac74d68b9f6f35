"""The input program: a target sample embedded in the source canvas, framed by ``P = tanh(W * M)``.

Tsai et al. (2020), eq. (1): ``X~_i = pad(T_i) + P`` with ``P = tanh(W ⊙ M)``, where the
mask ``M`` is 0 exactly over the embedded sample and 1 elsewhere. skbar's canvases live
in ``[0, 1]``, so the program is brought into the pixel range as ``(tanh(W) + 1) / 2``
over the frame; the sample's own pixels are never touched.

``W`` may live in a reduced space ``(h, w, C)`` and be bilinearly upsampled to the canvas
(AutoZOOM's dimension reduction, Tu et al. 2019): the zeroth-order search then works in
``h * w * C`` dimensions instead of ``H * W * C``.
"""

import numpy as np
from PIL import Image

from ..oracles._canvas import ComposedInput, ModelInput


def to_images(X, sample_shape=None):
    """Target samples as an image batch ``(n, h, w, c)``.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), (n, h, w) or (n, h, w, c)
        2-D rows, as pipelines hand them over, are reshaped to ``sample_shape`` when it
        is given, else to the smallest square that holds them, zero-padded.
    sample_shape : tuple of int, optional
        ``(h, w)`` or ``(h, w, c)`` for 2-D ``X``.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        n, n_features = X.shape
        if sample_shape is not None:
            shape = tuple(int(s) for s in sample_shape)
            if len(shape) not in (2, 3) or int(np.prod(shape)) != n_features:
                raise ValueError(
                    f"sample_shape={tuple(sample_shape)} does not hold {n_features} features: "
                    "expected (h, w) or (h, w, c) with h * w * c == n_features."
                )
            images = X.reshape((n,) + shape)
        else:
            side = int(np.ceil(np.sqrt(n_features)))
            padded = np.zeros((n, side * side), dtype=np.float32)
            padded[:, :n_features] = X
            images = padded.reshape(n, side, side)
    elif X.ndim in (3, 4):
        images = X
    else:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), 3-D (n, h, w) or 4-D (n, h, w, c); "
            f"got an array of rank {X.ndim}."
        )
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def resize_images(images, size):
    """Resize an image batch ``(n, h, w, c)`` to ``size = (h', w')`` with Pillow (bilinear)."""
    size = tuple(int(s) for s in size)
    if images.shape[1:3] == size:
        return images
    if images.shape[1] <= size[0] and images.shape[2] <= size[1] and len(images):
        return _enlarge(images, size)
    out = np.empty((images.shape[0],) + size + (images.shape[3],), dtype=np.float32)
    for i, image in enumerate(images):
        for c in range(images.shape[3]):
            # Pillow's 32-bit float mode keeps the values as they are (no 8-bit rounding).
            channel = Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F")
            out[i, ..., c] = np.asarray(channel.resize(size[::-1], Image.BILINEAR))
    return out


def _enlarge(images, size):
    """:func:`resize_images` where no side shrinks, in two Pillow calls for the whole batch.

    Pillow resizes the rows first, then the columns, each output pixel from its own row
    (then column) alone. Every row of the batch, side by side as one tall image, then
    every column, as one wide image, give each image the numbers its own resize gives,
    bit for bit, without a call per image and channel. (Shrinking reads a window that
    Pillow clips to the image: a strip would not.)
    """
    n, h, w, c = images.shape
    H, W = size
    x = np.ascontiguousarray(np.asarray(images, dtype=np.float32).transpose(0, 3, 1, 2))
    if W != w:  # every row of every image and channel, one above the other
        rows = Image.fromarray(x.reshape(n * c * h, w), mode="F")
        x = np.asarray(rows.resize((W, n * c * h), Image.BILINEAR)).reshape(n, c, h, W)
    if H != h:  # every column, side by side
        columns = Image.fromarray(np.ascontiguousarray(
            x.transpose(2, 0, 1, 3).reshape(h, n * c * W)), mode="F")
        x = np.asarray(columns.resize((n * c * W, H), Image.BILINEAR)).reshape(
            H, n, c, W).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def match_channels(images, n_channels):
    """Repeat grey images over the canvas channels; refuse a channel count that can't fit."""
    c = images.shape[3]
    if c == n_channels:
        return images
    if c == 1:
        return np.repeat(images, n_channels, axis=3)
    raise ValueError(
        f"Samples have {c} channels but the canvas has {n_channels}; "
        "only grey (1-channel) samples are repeated over channels."
    )


def bilinear_matrix(n_out, n_in):
    """The ``(n_out, n_in)`` matrix of 1-D bilinear upsampling (half-pixel centres)."""
    if n_out == n_in:
        return np.eye(n_out)
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    A = np.zeros((n_out, n_in))
    A[np.arange(n_out), lo] += 1 - frac
    A[np.arange(n_out), hi] += frac
    return A


class Program:
    """Where the sample sits on the canvas, the mask, and the map from ``W`` to canvases.

    Parameters
    ----------
    canvas_shape : tuple of int
        The source model's input ``(H, W, C)``.
    sample_size : tuple of int
        ``(h, w)`` of the embedded sample, centred on the canvas.
    program_shape : tuple of int, optional
        ``(h_r, w_r)`` of the trainable ``W`` before bilinear upsampling; the full canvas
        when None.

    Attributes
    ----------
    mask : ndarray of shape (H, W, C)
        ``M``: 0 exactly over the embedded sample, 1 elsewhere.
    w_shape : tuple of int
        Shape of the trainable ``W``.
    """

    def __init__(self, canvas_shape, sample_size, program_shape=None):
        H, W, C = (int(s) for s in canvas_shape)
        h, w = (int(s) for s in sample_size)
        if h > H or w > W:
            raise ValueError(
                f"The embedded sample ({h}x{w}) does not fit on the {H}x{W} canvas; "
                "pass a smaller embed_size."
            )
        self.canvas_shape = (H, W, C)
        self.top, self.left = (H - h) // 2, (W - w) // 2
        self.sample_size = (h, w)
        self.mask = np.ones(self.canvas_shape, dtype=np.float32)
        self.mask[self.top:self.top + h, self.left:self.left + w, :] = 0.0
        if program_shape is None:
            self.w_shape = self.canvas_shape
            self._up_rows = self._up_cols_t = None
        else:
            hr, wr = (int(s) for s in program_shape[:2])
            if not (1 <= hr <= H and 1 <= wr <= W):
                raise ValueError(
                    f"program_shape={tuple(program_shape)} must lie between (1, 1) and the "
                    f"canvas size ({H}, {W})."
                )
            self.w_shape = (hr, wr, C)
            self._up_rows = bilinear_matrix(H, hr)
            self._up_cols_t = np.ascontiguousarray(bilinear_matrix(W, wr).T)
        # Where M is 1, as up to four blocks of whole rows or columns (above, below, left
        # and right of the sample): what a frame writes, so that the pixels under the
        # sample are neither computed nor written.
        bottom, right = self.top + h, self.left + w
        self.frame_regions = tuple(region for region, size in (
            ((slice(0, self.top), slice(0, W)), self.top * W),
            ((slice(bottom, H), slice(0, W)), (H - bottom) * W),
            ((slice(self.top, bottom), slice(0, self.left)), h * self.left),
            ((slice(self.top, bottom), slice(right, W)), h * (W - right))) if size)

    @property
    def dim(self):
        """``d``: how many numbers the zeroth-order search moves."""
        return int(np.prod(self.w_shape))

    def upsample(self, w):
        """``W`` on the full canvas (the identity when ``W`` is not reduced)."""
        w = w.reshape(self.w_shape)
        if self._up_rows is None:
            return w
        (H, W, C), (hr, wr, _) = self.canvas_shape, self.w_shape
        # Two matrix products: the rows (H, hr) x (hr, wr * C), then the columns of
        # every (row, channel) pair, (H * C, wr) x (wr, W); returned as an (H, W, C) view.
        rows = (self._up_rows @ w.reshape(hr, wr * C)).reshape(H, wr, C)
        both = rows.transpose(0, 2, 1).reshape(H * C, wr) @ self._up_cols_t
        return both.reshape(H, C, W).transpose(0, 2, 1)

    def frame(self, w):
        """The program image in pixel range, ``M ⊙ (tanh(W) + 1) / 2``, shape ``(H, W, C)``.

        Computed on the frame alone (where ``M`` is 1); 0 under the sample.
        """
        full = self.upsample(w)
        frame = np.zeros(self.canvas_shape, dtype=np.float32)
        # In float32, the canvas's own precision (float64 costs five times as much, for
        # digits the canvas rounds away), as 1 / (1 + exp(-2 W)), which equals
        # (tanh(W) + 1) / 2 and keeps its relative precision near 0, where the tanh form
        # cancels. exp overflows to infinity for W below -44: the pixel is then 0.
        with np.errstate(over="ignore"):
            for region in self.frame_regions:
                pixels = frame[region]
                np.multiply(full[region], -2.0, out=pixels, casting="same_kind")
                np.exp(pixels, out=pixels)
                pixels += 1.0
                np.reciprocal(pixels, out=pixels)
        return frame

    def compose(self, frame, samples):
        """Canvases ``(n, H, W, C)``: the frame with each sample in the centre.

        ``samples`` must already be ``(n, h, w, C)``. The frame is 0 under the sample
        (the mask), so placing the sample there is the paper's ``pad(T) + P``. A new
        array at every call; :class:`Canvases` reuses one.
        """
        canvases = np.empty((samples.shape[0],) + self.canvas_shape, dtype=np.float32)
        self.embed(canvases, samples)
        self.write_frame(canvases, frame)
        return canvases

    def embed(self, canvases, samples):
        """Write ``samples`` ``(n, h, w, C)`` into the centre of ``canvases`` (in place)."""
        h, w = self.sample_size
        centre = canvases[:, self.top:self.top + h, self.left:self.left + w, :]
        if samples.ndim == 4 and samples.shape[3] > 1 and samples.strides[3] == 0:
            # Grey repeated over the channels (a broadcast view): a channel at a time,
            # twice as fast as numpy's copy of a repeated axis.
            for c in range(samples.shape[3]):
                centre[..., c] = samples[..., c]
        else:
            centre[...] = samples

    def write_frame(self, canvases, frame):
        """Write ``frame``'s pixels where ``M`` is 1 into every canvas (in place): the
        pixels under the sample are left as they are."""
        for region in self.frame_regions:
            canvases[(slice(None),) + region] = frame[region]


class Canvases:
    """One minibatch's canvases under one program after another, composed in place.

    The search sends the same samples under each of a step's candidate programs: the
    samples are written into the centre of a buffer once (on the first :meth:`compose`
    after :meth:`load`), and each program then writes its frame alone, everything
    outside the sample's rectangle. The buffer is kept from step to step.

    The array :meth:`compose` returns is that buffer: a later :meth:`compose` overwrites
    it. Hand it to the oracle and take the answers before composing again, or, to
    compose the next batch while the oracle answers this one
    (:class:`~skbar.oracles.InTurn`), ask for ``in_flight=2`` buffers, taken in turn: an
    array then stays intact until the compose after next. An oracle that keeps the
    arrays it is sent beyond its call (for a later look, or a lazy computation) says so
    with a true ``keeps_canvases`` attribute, and is then sent a new array at every
    call (``fresh=True``).

    Parameters
    ----------
    program : Program
    fresh : bool, default=False
        Compose every call into a new array, none reused.
    model_input : skbar.oracles.CanvasAdapter, optional
        Compose in this model's input convention (the oracle's ``model_input``; see
        :class:`~skbar.oracles.ModelInput`), not as ``[0, 1]`` NHWC canvases. Ignored
        where ``fresh``.
    on_device : bool, default=False
        With ``model_input``: compose nothing, and send the samples and each frame in
        that convention (:class:`~skbar.oracles.ComposedInput`) to an oracle that
        composes them itself.
    in_flight : int, default=1
        Buffers taken in turn (each sent batch a new object where ``fresh`` or
        ``on_device``, so one is enough there).
    """

    def __init__(self, program, fresh=False, model_input=None, on_device=False, in_flight=1):
        self.program = program
        self.fresh = bool(fresh)
        self.model_input = None if self.fresh else model_input
        self.on_device = self.model_input is not None and bool(on_device)
        (h, w), top, left = program.sample_size, program.top, program.left
        self._box = (top, left, h, w)  # where the samples sit on the canvas
        self._centre = (slice(top, top + h), slice(left, left + w))
        self.samples = None
        self._version = 0  # of the samples: changes at every load
        # The host's buffers, taken in turn, and the version of the samples each holds.
        self._buffers = [None] * max(1, int(in_flight))
        self._holds = [None] * len(self._buffers)
        self._turn = 0
        self._on_device = None  # the samples alone, in the model's convention (on_device)

    def load(self, samples):
        """Take the minibatch ``samples`` ``(n, h, w, C)``, for the composes that follow."""
        self.samples = samples
        self._version += 1
        if self.on_device:  # the samples alone, in a new array; the oracle composes
            convention = self.model_input
            self._on_device = np.empty(convention.batch_shape(len(samples), *samples.shape[1:]),
                                       dtype=np.float32)
            convention.write(self._on_device, samples)
        return self

    def compose(self, frame):
        """The minibatch's canvases under ``frame``: :meth:`Program.compose`'s, in the
        buffer next in turn (a new array where ``fresh``). With a ``model_input``
        convention, the buffer is in it, wrapped as a :class:`~skbar.oracles.ModelInput`:
        the frame is converted once, not once per canvas."""
        if self.fresh:
            return self.program.compose(frame, self.samples)
        convention = self.model_input
        if convention is None:
            buffer = self._with_samples()
            self.program.write_frame(buffer, frame)
            return buffer
        model_frame = convention.to_model(frame[np.newaxis])
        if self.on_device:
            model_frame[convention.at(*self._centre)] = 0.0
            return ComposedInput(self._on_device, model_frame, self._box, self._version)
        buffer = self._with_samples()
        for region in self.program.frame_regions:
            at = convention.at(*region)
            buffer[at] = model_frame[at]
        return ModelInput(buffer)

    def _with_samples(self):
        """The buffer next in turn, the current samples written into its centre (once per
        buffer and minibatch)."""
        turn = self._turn
        self._turn = (turn + 1) % len(self._buffers)
        samples, convention = self.samples, self.model_input
        buffer = self._buffers[turn]
        if buffer is None or len(buffer) != len(samples):
            shape = (len(samples),) + self.program.canvas_shape
            if convention is not None:
                shape = convention.batch_shape(*shape)
            buffer = self._buffers[turn] = np.empty(shape, dtype=np.float32)
            self._holds[turn] = None
        if self._holds[turn] != self._version:
            if convention is None:
                self.program.embed(buffer, samples)
            else:
                convention.write(buffer[convention.at(*self._centre)], samples)
            self._holds[turn] = self._version
        return buffer


def keeps_canvases(oracle):
    """Whether ``oracle``, or an oracle it wraps (its ``oracle`` attribute, as a query
    counter or :class:`~skbar.oracles.TopKOracle` has), keeps the arrays it is sent."""
    seen = set()
    while oracle is not None and id(oracle) not in seen:
        if getattr(oracle, "keeps_canvases", False):
            return True
        seen.add(id(oracle))
        oracle = getattr(oracle, "oracle", None)
    return False
