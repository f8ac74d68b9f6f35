"""Target samples prepared a minibatch at a time, from ``X`` as the user gave it.

``X`` may be bytes or floats, in memory or a ``numpy.memmap``: it is never copied whole.
Each batch is read, converted to float32, rescaled to ``[0, 1]``, laid out as images,
resized and given the canvas's channels only when the search, a prediction or a pass
over the training set needs it (:meth:`Samples.take`), so peak memory follows the batch
size, not the number of samples. The arithmetic is the one a whole-array conversion
does, row by row, so a seeded fit gives the same program bit for bit either way.

A fit takes the same samples again and again (the first pass, every minibatch, the final
pass): its :class:`Samples` keep each sample once prepared (``keep=True``), up to
:data:`KEPT_BYTES`, so that a sample is read and resized once a fit, not once a step.
"""

from numbers import Integral

import numpy as np

from ._program import match_channels, resize_images, to_images

#: Bytes of float32 values read at a time by the passes over the whole of ``X``
#: (range, fingerprint): a chunk holds as many samples as fit, at least one. Bounded in
#: bytes, not samples, so that the pass costs the same few MiB for 8x8 digits and for
#: 224-pixel photographs decoded from an :class:`~skbar.datasets.ImageFiles`.
CHUNK_BYTES = 16 * 2**20

#: Bytes a fit's :class:`Samples` may hold to keep every sample once prepared (float32,
#: before grey is repeated over the canvas's channels). Resizing with Pillow dominates the
#: preparation, and a minibatch would otherwise be resized again at every step. The bound
#: holds about 7,000 grey samples at 96 px or 440 colour ones at 224 px; past it nothing
#: is kept and each batch is prepared as it is taken, so memory follows the batch again.
KEPT_BYTES = 256 * 2**20


def chunk_rows(X):
    """How many samples of ``X`` make a chunk of :data:`CHUNK_BYTES` float32 bytes."""
    row_bytes = 4 * int(np.prod(X.shape[1:], dtype=np.int64))
    return max(1, CHUNK_BYTES // max(row_bytes, 1))


def iter_chunks(X, rows=None):
    """``X`` in consecutive slices of ``rows`` samples (views of a memmap: no copy);
    :func:`chunk_rows` by default."""
    rows = chunk_rows(X) if rows is None else rows
    for start in range(0, X.shape[0], rows):
        yield X[start:start + rows]


def data_range(X):
    """``(min, max)`` of ``X`` as float32 values, read a chunk at a time.

    The same numbers as ``X.astype(np.float32).min()`` and ``.max()``: rounding to
    float32 keeps the order of values, so the extremes round to the extremes.
    """
    low, high = np.inf, -np.inf
    for chunk in iter_chunks(X):
        if chunk.size:
            low = min(low, float(np.float32(chunk.min())))
            high = max(high, float(np.float32(chunk.max())))
        del chunk  # before the next one is read: one chunk in memory, not two
    return low, high


class Samples:
    """``X``'s samples, each prepared for the canvas when a batch asks for it.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n, n_features), (n, h, w) or (n, h, w, c)
        As validated: any numeric dtype. Only the rows a batch takes are read.
    n_channels : int
        The canvas's channels: grey samples are repeated over them.
    sample_shape : tuple of int, optional
        ``(h, w)`` or ``(h, w, c)`` for 2-D ``X`` (see :func:`skbar.canvas.to_images`).
    embed_size : int or tuple of int, optional
        ``(h, w)`` each sample is resized to (Pillow, bilinear).
    data_range : tuple of float, optional
        ``(min, max)`` mapped linearly to ``[0, 1]`` (clipped); None takes ``X`` as
        pixels already, clipped to ``[0, 1]``.
    keep : bool, default=False
        Keep each sample once prepared, for the next batch that takes it, where all of
        them fit in :data:`KEPT_BYTES` (a fit's samples; a prediction's are taken once).

    Attributes
    ----------
    sample_size : tuple of int
        ``(h, w)`` of a prepared sample, as embedded on the canvas.
    """

    def __init__(self, X, n_channels, *, sample_shape=None, embed_size=None, data_range=None,
                 keep=False):
        self.X = X
        self.n_channels = int(n_channels)
        self.sample_shape = sample_shape
        if isinstance(embed_size, Integral):
            embed_size = (embed_size, embed_size)
        self.embed_size = None if embed_size is None else tuple(embed_size)
        self.data_range = data_range
        # One sample prepared now: its size, and any layout error before a query is paid.
        first = self._prepare(np.arange(min(1, len(self))))
        match_channels(first, self.n_channels)
        self.sample_size = tuple(first.shape[1:3])
        # The samples prepared so far (rows where `_known`), or None: nothing kept.
        self._kept = self._known = None
        if keep and len(self) * 4 * int(np.prod(first.shape[1:])) <= KEPT_BYTES:
            self._kept = np.empty((len(self),) + first.shape[1:], dtype=np.float32)
            self._known = np.zeros(len(self), dtype=bool)
            self._kept[:len(first)], self._known[:len(first)] = first, True

    def __len__(self):
        return self.X.shape[0]

    def take(self, idx):
        """The samples ``idx``, prepared: float32 ``(len(idx), h, w, n_channels)`` in [0, 1].

        Grey samples come as a read-only view repeating their one channel.
        """
        idx = np.asarray(idx, dtype=np.intp)
        if self._kept is None:
            images = self._prepare(idx)
        else:
            new = np.unique(idx[~self._known[idx]])
            if len(new):
                self._kept[new], self._known[new] = self._prepare(new), True
            images = self._kept[idx]
        if images.shape[3] == 1 < self.n_channels:
            # Grey over the canvas's channels as a read-only view: every caller copies
            # the samples into canvases, where the broadcast costs nothing.
            return np.broadcast_to(images, images.shape[:3] + (self.n_channels,))
        return match_channels(images, self.n_channels)

    def _prepare(self, idx):
        """The samples ``idx`` read, rescaled, laid out and resized, with their own channels."""
        X = np.asarray(self.X[idx], dtype=np.float32)
        if self.data_range is None:
            X = np.clip(X, 0.0, 1.0)
        else:
            low, high = self.data_range
            span = high - low
            X = np.clip((X - low) / (span if span > 0 else 1.0), 0.0, 1.0)
        images = to_images(X, self.sample_shape)
        if self.embed_size is not None:
            images = resize_images(images, self.embed_size)
        return images

    def chunks(self, rows):
        """``(indices, prepared samples)`` over all of ``X``, ``rows`` at a time, in order."""
        for start in range(0, len(self), rows):
            idx = np.arange(start, min(start + rows, len(self)))
            yield idx, self.take(idx)
