"""Losses on mapped target-class probabilities: pure functions of ``(proba, y)``.

``proba`` is ``(n_samples, n_classes)`` with rows summing to one; ``y`` holds encoded
labels in ``[0, n_classes)``. Each returns the mean over the batch.
"""

import numpy as np

# Probabilities are clipped here before the log: a mapped class can get exactly 0 from an
# oracle that answers only its top-k labels.
_EPS = 1e-12


def _true_class_proba(proba, y):
    return np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)


def cross_entropy(proba, y, class_weight=None):
    """``-w_y log p_y``, averaged."""
    p = _true_class_proba(proba, y)
    w = 1.0 if class_weight is None else class_weight[y]
    return float(np.mean(-w * np.log(p)))


def focal_loss(proba, y, gamma=2.0, class_weight=None):
    """Focal loss (Lin et al. 2017), as in Tsai et al. (2020), eq. (3).

    ``L = -w_y (1 - p_y)^gamma log p_y``: well-classified samples are down-weighted, so
    the search attends to the hard ones. ``gamma = 0`` is cross-entropy.
    """
    p = _true_class_proba(proba, y)
    w = 1.0 if class_weight is None else class_weight[y]
    return float(np.mean(-w * (1.0 - p) ** gamma * np.log(p)))
