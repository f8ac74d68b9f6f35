"""The saved state of a part (head, objective, optimiser): plain arrays, each part checking
its own fields when it is restored.

A part's ``get_state()`` returns a dict of arrays; its ``set_state(state)`` reads them with
:func:`read_field` and raises :class:`StateError` naming the field that is missing or
wrong. The checkpoint (:mod:`skbar.fit._checkpoint`) names the file and the part.
"""

import numpy as np


class StateError(ValueError):
    """A saved state's field is missing or wrong: ``field`` names it, ``problem`` says how."""

    def __init__(self, field, problem):
        super().__init__(f"field {field!r} {problem}")
        self.field = field
        self.problem = problem


def read_field(state, field, *, kinds="f", shape=None, ndim=None, finite=True):
    """``state[field]`` as an array, checked: its kind of numbers, shape and finiteness.

    Raises
    ------
    StateError
    """
    if field not in state:
        raise StateError(field, "is missing (a file from another version of skbar, or of "
                                "another optimiser or head)")
    value = np.asarray(state[field])
    if value.dtype.kind not in kinds:
        raise StateError(field, f"must hold {'integers' if kinds == 'iu' else 'numbers'}, "
                                f"got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise StateError(field, f"must have {ndim} dimensions, got shape {value.shape}")
    if shape is not None and value.shape != tuple(shape):
        raise StateError(field, f"must have shape {tuple(shape)}, got {value.shape}")
    if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise StateError(field, "holds NaN or infinite values")
    return value


def read_text(state, field, allowed=None):
    """``state[field]`` as one string, from ``allowed`` where given."""
    value = read_field(state, field, kinds="U", shape=())
    text = str(value)
    if allowed is not None and text not in allowed:
        raise StateError(field, f"is {text!r}, expected one of {sorted(allowed)}")
    return text
