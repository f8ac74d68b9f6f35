"""Checkpoints of a fit in a safe format: a plain ``.npz`` of arrays, never a pickle.

A fit pays for every query it makes; a checkpoint keeps what those queries bought (the
program, the optimiser's state, the random stream, the counters) so that a later fit can
continue from it without repeating them.

A file is read back as data, not trusted: :func:`check_resume` checks every field (its
type, shape and range, and that it belongs to this estimator, this oracle and this
training set) before anything is restored or paid for, and names the file and the field
when one is wrong. A resume that passes cannot spend more than ``max_queries`` less the
queries the file says were spent.
"""

import hashlib
import numbers
import os
import zipfile

import numpy as np

from .._io import atomic_write
from .._state import StateError
from ..canvas import data_range, iter_chunks

# What an MT19937 state is made of (numpy.random.RandomState.get_state()).
_MT_KEYS = 624


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not fit the fit resuming it."""


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


#: The fields a checkpoint holds (:meth:`BlackBoxReprogrammingClassifier.get_fit_state`),
#: besides the states of the head, the objective and the optimiser, saved under the name
#: of their part (:data:`PARTS`). A member of the file named otherwise is refused.
FIELDS = frozenset({
    "program", "label_map", "classes", "n_queries", "n_iter", "loss_curve",
    "n_source_classes", "n_views", "data_min", "data_max", "rng_keys", "rng_pos",
    "rng_has_gauss", "rng_cached", "head", "optimizer", "canvas_shape", "data_fingerprint",
    "q",
})


def _is_field(name):
    return name in FIELDS or (name.startswith(tuple(f"{part}_" for part in PARTS))
                              and name.isidentifier())


def _check_members(archive, file_size):
    """Check the members of a checkpoint's zip from its directory and the arrays'
    headers, before any array is read: the names, and sizes that fit in the file.

    :func:`save_checkpoint` stores every array uncompressed, so each takes in memory
    what it takes on disk; a compressed member (a 2.5 MB file can unpack to 2.5 GB),
    or an array header promising more bytes than its member holds, is refused.

    Raises
    ------
    ValueError
        Naming the member.
    """
    members = archive.infolist()
    names = [info.filename for info in members]
    for info in members:
        name = info.filename
        if not (name.endswith(".npy") and _is_field(name[:-len(".npy")])):
            raise ValueError(f"member {name!r} is not a field skbar writes")
        if names.count(name) > 1:
            raise ValueError(f"member {name!r} is there twice")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise ValueError(
                f"member {name!r} is compressed ({info.compress_size} bytes that unpack to "
                f"{info.file_size}); skbar writes checkpoints uncompressed")
    if sum(info.compress_size for info in members) > file_size:
        raise ValueError("its members claim more bytes than the file holds")
    for info in members:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            if dtype.hasobject:
                raise ValueError(f"member {info.filename!r} holds Python objects (a pickle)")
            size = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size != info.file_size:
            raise ValueError(f"member {info.filename!r} holds {info.file_size} bytes, but "
                             f"its header describes {size}")


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (pickles refused).

    The file is checked before any array is read (:func:`_check_members`): only the
    fields skbar writes, each uncompressed, each of the size its header says.

    Raises
    ------
    CheckpointError
        If the file is not a readable ``.npz`` of plain arrays; the message names it.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(archive, os.path.getsize(path))
            state = {}
            for info in archive.infolist():
                with archive.open(info) as f:
                    state[info.filename[:-len(".npy")]] = np.lib.format.read_array(
                        f, allow_pickle=False)
            return state
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        # CheckpointError is a ValueError, raised outside the except block below.
        problem = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
    raise CheckpointError(
        f"The checkpoint {path!r} cannot be read as a skbar checkpoint "
        f"(a .npz of plain arrays): {problem}. Delete or move it to start afresh.")


def data_fingerprint(X, y):
    """A SHA-256 of the training data, so that a checkpoint resumes only on its own data."""
    digest = hashlib.sha256()
    # The float32 bytes, read a chunk at a time: the digest of the whole array converted
    # once (as skbar did before it read X in batches), without that copy.
    digest.update(f"{np.dtype(np.float32).str}{X.shape}".encode())
    for chunk in iter_chunks(X):
        digest.update(np.ascontiguousarray(chunk, dtype=np.float32))  # no copy to bytes
        del chunk  # before the next one is read: one chunk in memory, not two
    digest.update("\x00".join(map(str, np.asarray(y).ravel().tolist())).encode())
    return digest.hexdigest()


class _Fields:
    """Reads one checkpoint's fields, each checked, with errors naming file and field."""

    def __init__(self, state, path):
        self.state = state
        self.path = os.fspath(path)

    def fail(self, field, problem):
        raise CheckpointError(f"The checkpoint {self.path!r}: field {field!r} {problem}.")

    def get(self, field):
        if field not in self.state:
            self.fail(field, "is missing (a file from another version of skbar, or edited); "
                             "delete it to start afresh")
        return np.asarray(self.state[field])

    def integer(self, field, low=0, high=None):
        value = self.get(field)
        if value.shape != () or value.dtype.kind not in "iu":
            self.fail(field, f"must be one integer, got a {value.dtype} array of shape "
                             f"{value.shape}")
        value = int(value)
        if value < low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            self.fail(field, f"must be {bound}, got {value}")
        return value

    def number(self, field):
        value = self.get(field)
        if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value):
            self.fail(field, f"must be one finite number, got {value!r}")
        return float(value)

    def text(self, field):
        value = self.get(field)
        if value.shape != () or value.dtype.kind != "U":
            self.fail(field, f"must be one string, got a {value.dtype} array of shape "
                             f"{value.shape}")
        return str(value)

    def array(self, field, kinds="f", ndim=None, shape=None, finite=True):
        value = self.get(field)
        if value.dtype.kind not in kinds:
            self.fail(field, f"must hold {'integers' if kinds == 'iu' else 'numbers'}, got "
                             f"{value.dtype}")
        if ndim is not None and value.ndim != ndim:
            self.fail(field, f"must have {ndim} dimensions, got shape {value.shape}")
        if shape is not None and value.shape != tuple(shape):
            self.fail(field, f"must have shape {tuple(shape)}, got {value.shape}")
        if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            self.fail(field, "holds NaN or infinite values")
        return value


def _check_label_map(fields, field, n_classes, n_source):
    """A label map: one row of disjoint source classes in ``[0, n_source)`` per class."""
    label_map = fields.array(field, kinds="iu", ndim=2)
    if label_map.shape[0] != n_classes or label_map.shape[1] < 1:
        fields.fail(field, f"must have one row per class ({n_classes}), got shape "
                           f"{label_map.shape}")
    if label_map.min() < 0 or label_map.max() >= n_source:
        fields.fail(field, f"must hold source classes in [0, {n_source}), got "
                           f"[{label_map.min()}, {label_map.max()}]")
    if np.unique(label_map).size != label_map.size:
        fields.fail(field, "maps one source class to two target slots; the slots "
                           "must be disjoint")


#: The parts whose state a checkpoint holds, each under its own prefix.
PARTS = ("head", "objective", "optimizer")


def part_state(state, part):
    """The fields of ``part`` (``"head_coef"`` -> ``"coef"``)."""
    prefix = f"{part}_"
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def with_parts(core, parts):
    """A checkpoint's state: the ``core`` fields and each part's own, under its name."""
    state = dict(core)
    for name, part in parts.items():
        state.update({f"{name}_{k}": v for k, v in part.get_state().items()})
    return state


def restore_part(part, state, name, path, *args):
    """``part.set_state`` on its fields of ``state``; a field it refuses is a
    :class:`CheckpointError` naming the file and ``name_field``."""
    try:
        part.set_state(part_state(state, name), *args)
    except StateError as exc:
        _Fields(state, path).fail(f"{name}_{exc.field}", exc.problem)


def check_checkpoint(state, path):
    """Check the fit's own fields of a checkpoint: types, shapes, ranges, consistency.

    The parts (head, objective, optimiser) check theirs when they are restored.

    Parameters
    ----------
    state : dict of str to ndarray
        As :func:`load_checkpoint` returns it.
    path : str or os.PathLike
        For the messages.

    Raises
    ------
    CheckpointError
        Naming the file and the first field that is missing or wrong.
    """
    fields = _Fields(state, path)
    fields.array("program", kinds="f", ndim=3)
    classes = fields.get("classes")
    if classes.ndim != 1 or classes.size < 2 or classes.dtype.kind != "U":
        fields.fail("classes", f"must be 2 or more class names, got {classes!r}")
    n_source = fields.integer("n_source_classes", low=2)
    n_views = fields.integer("n_views", low=1)
    _check_label_map(fields, "label_map", classes.size, n_source * n_views)
    fields.integer("n_queries")
    fields.integer("n_iter")
    if "q" in state:
        fields.integer("q", low=1)
    fields.array("loss_curve", kinds="fiu", ndim=1, finite=False)
    if fields.number("data_min") > fields.number("data_max"):
        fields.fail("data_min", "is larger than data_max")
    fields.array("rng_keys", kinds="iu", shape=(_MT_KEYS,))
    fields.integer("rng_pos", high=_MT_KEYS)
    fields.integer("rng_has_gauss", high=1)
    fields.number("rng_cached")
    fields.text("head")
    fields.text("optimizer")
    canvas = fields.array("canvas_shape", kinds="iu", shape=(3,))
    if canvas.min() < 1:
        fields.fail("canvas_shape", f"must be three positive sizes, got {canvas.tolist()}")
    if len(fields.text("data_fingerprint")) != 64:
        fields.fail("data_fingerprint", "must be a SHA-256 in hex")


def check_resume(state, path, estimator, X, y, classes, oracle, parts, n_views, same_data=True):
    """Check that a checkpoint belongs to this fit, before anything is restored or paid.

    :func:`check_checkpoint` first, then what ties the file to the fit: the classes, the
    head and its ``m``, the optimiser, the views, the oracle (canvas and number of
    classes) and the training data (a SHA-256 of ``X`` and ``y``, and the data range
    ``rescale`` uses).

    Parameters
    ----------
    state : dict of str to ndarray
    path : str or os.PathLike
    estimator : BlackBoxReprogrammingClassifier
    X, y : ndarray
        The training data of the fit resuming, as ``fit`` validated them.
    classes : ndarray
    oracle : object
    parts : dict
        The estimator's ``head`` and ``optimizer``, resolved (not started).
    n_views : int or "auto"
        The views the estimator reads.
    same_data : bool, default=True
        Whether the data must be the file's (False for an in-process warm start, which
        may continue on new data).

    Raises
    ------
    CheckpointError
        Naming the file and the field that does not fit.
    """
    from ..oracles import oracle_input_shape

    check_checkpoint(state, path)
    fields = _Fields(state, path)
    saved = fields.get("classes")
    if not np.array_equal(saved, np.asarray(classes).astype(str)):
        fields.fail("classes", f"holds {saved.tolist()}, but y has {classes.tolist()}")
    for part in ("head", "optimizer"):
        name = type(parts[part]).__name__
        if fields.text(part) != name:
            fields.fail(part, f"is {fields.text(part)!r}, but this estimator's {part} is "
                              f"{name!r}: a checkpoint resumes the same {part} only")
    m = fields.get("label_map").shape[1]
    if isinstance(estimator.m, numbers.Integral) and m != estimator.m:  # else m="auto"
        fields.fail("label_map", f"has m={m} source labels per class, but this estimator "
                                 f"has m={estimator.m}")
    canvas, takes = tuple(int(s) for s in fields.get("canvas_shape")), oracle_input_shape(oracle)
    if canvas != takes:
        fields.fail("canvas_shape", f"is {canvas}, but the oracle takes {takes}: another oracle")
    saved_views = fields.integer("n_views", low=1)
    if isinstance(n_views, numbers.Integral) and saved_views != n_views:  # else "auto"
        fields.fail("n_views", f"is {saved_views}, but this estimator reads views={n_views}")
    n_source = getattr(oracle, "n_classes", None)
    if n_source is not None and int(n_source) != fields.integer("n_source_classes"):
        fields.fail("n_source_classes", f"is {fields.integer('n_source_classes')}, but the "
                                        f"oracle has {int(n_source)} classes: another oracle")
    if not same_data:
        return
    if fields.text("data_fingerprint") != data_fingerprint(X, y):
        fields.fail("data_fingerprint", "differs from this training set's: a checkpoint "
                                        "continues the fit of its own data only. Give each "
                                        "fit its own path (in cross-validation, one per fold)")
    low, high = data_range(X)
    if estimator.rescale and (fields.number("data_min"), fields.number("data_max")) != (
            low, high):
        fields.fail("data_min", f"and data_max are [{fields.number('data_min')}, "
                                f"{fields.number('data_max')}], but the training data spans "
                                f"[{low}, {high}]")
