"""Toy source models for tests, docs, examples and benchmarks: no download, no weights."""

import numpy as np
from scipy.special import softmax


class RandomNetworkOracle:
    """A fixed random one-hidden-layer ReLU network over the canvas: a tiny "source model".

    Its hidden units see the whole canvas, so the frame around an embedded sample decides
    which of them are active and thus how the sample is read out: like a real network,
    it can be reprogrammed, and a plain linear read-out of it cannot do everything.

    Parameters
    ----------
    input_shape : tuple of int, default=(8, 8, 1)
        The canvas ``(H, W, C)``.
    n_hidden : int, default=64
    n_classes : int, default=10
        K, the number of source classes.
    random_state : int, default=0
    record : bool, default=True
        Keep the counters below. Off, the oracle has no state that a call changes (as
        scikit-learn's common checks require of an estimator's parameters).

    Attributes
    ----------
    n_images : int
        Images this oracle has answered for: what a provider would bill.
    largest_batch : int
        The most canvases it was sent in one call.
    """

    def __init__(self, input_shape=(8, 8, 1), n_hidden=64, n_classes=10, random_state=0,
                 record=True):
        rng = np.random.RandomState(random_state)
        self.input_shape = tuple(input_shape)
        self.n_classes = n_classes
        d = int(np.prod(input_shape))
        self._hidden = rng.randn(d, n_hidden) * 2 / np.sqrt(d)
        # Centred on a grey canvas, so about half of the units are active at the start.
        self._bias = rng.randn(n_hidden) * 0.5 - 0.5 * self._hidden.sum(axis=0)
        self._out = rng.randn(n_hidden, n_classes) * 3 / np.sqrt(n_hidden)
        self.record = record
        self.n_images = 0
        self.largest_batch = 0

    def predict_proba(self, canvases):
        canvases = np.asarray(canvases)
        if canvases.shape[1:] != self.input_shape:
            raise ValueError(f"expected canvases of shape (n,) + {self.input_shape}, "
                             f"got {canvases.shape}")
        if self.record:
            self.n_images += len(canvases)
            self.largest_batch = max(self.largest_batch, len(canvases))
        hidden = np.maximum(canvases.reshape(len(canvases), -1) @ self._hidden + self._bias, 0)
        return softmax(hidden @ self._out, axis=1)

    def __repr__(self):
        return f"RandomNetworkOracle(input_shape={self.input_shape}, n_classes={self.n_classes})"


class ProgramOnlyOracle:
    """A toy model blind without a program: only the frame can carry the signal.

    Source logit ``k`` is ``20 (c - 1/2)(s_k - 1/2)``, where ``c`` is the mean brightness
    of the canvas's centre (where the sample is embedded) and ``s_k`` that of the
    ``k``-th of 8 stripes of the frame's left edge. Under the initial grey frame every
    ``s_k`` is 1/2 and every answer ties, whatever the sample: a probe on its outputs is
    at chance, and a program that sets the stripes apart makes them telling.

    The canvas is ``(16, 16, 1)``, for samples of 16 values embedded at 4x4 or smaller.

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.full((2, 16, 16, 1), 0.5)
    >>> grey[1, 6:10, 6:10] = 1.0  # another sample, the same grey frame
    >>> np.allclose(ProgramOnlyOracle().predict_proba(grey), 1 / 8)
    True
    """

    input_shape = (16, 16, 1)
    n_classes = 8

    def predict_proba(self, canvases):
        canvases = np.asarray(canvases)
        centre = canvases[:, 6:10, 6:10, 0].mean(axis=(1, 2)) - 0.5
        stripes = np.stack([canvases[:, 2 * k:2 * k + 2, :3, 0].mean(axis=(1, 2))
                            for k in range(self.n_classes)], axis=1) - 0.5
        return softmax(20 * centre[:, None] * stripes, axis=1)

    def __repr__(self):
        return "ProgramOnlyOracle()"
