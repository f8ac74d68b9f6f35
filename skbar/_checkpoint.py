"""Checkpoints of a fit in a safe format: a plain ``.npz`` of arrays, never a pickle.

A fit pays for every query it makes; a checkpoint keeps what those queries bought (the
program, the optimiser's state, the random stream, the counters) so that a later fit can
continue from it without repeating them.
"""

import os
import tempfile

import numpy as np


def save_checkpoint(path, state):
    """Write ``state`` (a dict of arrays) to ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in state.items()})
        # A crash mid-write leaves the previous checkpoint whole.
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (pickles refused)."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
