"""A small random network to stand in for a source model in tests, docs and examples."""

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
