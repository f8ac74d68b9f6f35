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
    out = np.empty((images.shape[0],) + size + (images.shape[3],), dtype=np.float32)
    for i, image in enumerate(images):
        for c in range(images.shape[3]):
            # Pillow's 32-bit float mode keeps the values as they are (no 8-bit rounding).
            channel = Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F")
            out[i, ..., c] = np.asarray(channel.resize(size[::-1], Image.BILINEAR))
    return out


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
            self._up_rows = self._up_cols = None
        else:
            hr, wr = (int(s) for s in program_shape[:2])
            if not (1 <= hr <= H and 1 <= wr <= W):
                raise ValueError(
                    f"program_shape={tuple(program_shape)} must lie between (1, 1) and the "
                    f"canvas size ({H}, {W})."
                )
            self.w_shape = (hr, wr, C)
            self._up_rows = bilinear_matrix(H, hr)
            self._up_cols = bilinear_matrix(W, wr)

    @property
    def dim(self):
        """``d``: how many numbers the zeroth-order search moves."""
        return int(np.prod(self.w_shape))

    def upsample(self, w):
        """``W`` on the full canvas (the identity when ``W`` is not reduced)."""
        w = w.reshape(self.w_shape)
        if self._up_rows is None:
            return w
        return np.einsum("Hh,hwc,Ww->HWc", self._up_rows, w, self._up_cols, optimize=True)

    def frame(self, w):
        """The program image in pixel range, ``M ⊙ (tanh(W) + 1) / 2``, shape ``(H, W, C)``."""
        return (self.mask * (np.tanh(self.upsample(w)) + 1.0) * 0.5).astype(np.float32)

    def compose(self, frame, samples):
        """Canvases ``(n, H, W, C)``: the frame with each sample in the centre.

        ``samples`` must already be ``(n, h, w, C)``. The frame is 0 under the sample
        (the mask), so placing the sample there is the paper's ``pad(T) + P``.
        """
        n = samples.shape[0]
        h, w = self.sample_size
        canvases = np.empty((n,) + self.canvas_shape, dtype=np.float32)
        canvases[:] = frame
        canvases[:, self.top:self.top + h, self.left:self.left + w, :] = samples
        return canvases
