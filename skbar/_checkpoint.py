"""Checkpoints of a fit in a safe format: a plain ``.npz`` of arrays, never a pickle.

A fit pays for every query it makes; a checkpoint keeps what those queries bought (the
program, the optimiser's state, the random stream, the counters) so that a later fit can
continue from it without repeating them.
"""

import os

import numpy as np

from ._io import atomic_write


def save_checkpoint(path, state):
    """Write ``state`` (a dict of arrays) to ``path`` atomically.

    A crash or an interrupt while writing leaves the previous checkpoint whole.

    Parameters
    ----------
    path : str or os.PathLike
    state : dict of str to array-like
    """
    with atomic_write(path) as f:
        np.savez(f, **{k: np.asarray(v) for k, v in state.items()})


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (pickles refused)."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
