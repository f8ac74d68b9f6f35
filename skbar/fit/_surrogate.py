"""A search started where a free one has already been: a surrogate model's program.

Queries of a local model cost nothing but time. A :class:`Surrogate` runs the
estimator's own search on it (same data, same canvas, same settings), and the search on
the paid oracle starts from the program it ended at, instead of from the grey frame. The
check still compares what is shipped against the grey frame's probe, paid on the
oracle itself, so a program that does not transfer is not shipped.
"""

import warnings
from numbers import Integral

from sklearn.base import clone


class Surrogate:
    """A local model to search on for free before the oracle is paid.

    Parameters
    ----------
    model : str or oracle, default="efficientnet-lite1"
        A zoo model's name (:func:`skbar.zoo.load`, run at the oracle's canvas size), or
        any oracle taking the same canvas.
    max_queries : int, default=20000
        Queries of the surrogate: its search's budget (they cost no money, only time).
    """

    def __init__(self, model="efficientnet-lite1", max_queries=20_000):
        if not isinstance(max_queries, Integral) or isinstance(max_queries, bool) \
                or max_queries < 1:
            raise ValueError(f"Surrogate: max_queries must be a positive whole number of "
                             f"queries, got {max_queries!r}.")
        self.model = model
        self.max_queries = max_queries

    def __repr__(self):
        return f"Surrogate(model={self.model!r}, max_queries={self.max_queries})"

    def oracle(self, canvas_shape):
        """The surrogate as an oracle taking ``canvas_shape`` canvases."""
        from ..oracles import oracle_input_shape

        if isinstance(self.model, str):
            from ..zoo import load

            if canvas_shape[0] != canvas_shape[1] or canvas_shape[2] != 3:
                raise ValueError(f"Surrogate(model={self.model!r}) runs on square RGB "
                                 f"canvases, but the oracle takes {tuple(canvas_shape)}; "
                                 "give an oracle of the same canvas as model.")
            return load(self.model, image_size=canvas_shape[0])
        if tuple(oracle_input_shape(self.model)) != tuple(canvas_shape):
            raise ValueError(f"The surrogate takes canvases of shape "
                             f"{tuple(oracle_input_shape(self.model))}, but the oracle takes "
                             f"{tuple(canvas_shape)}: they must take the same canvas.")
        return self.model

    def search(self, estimator, X, y, canvas_shape):
        """The program ``estimator``'s search ends at on the surrogate, fitted on ``(X, y)``."""
        free = clone(estimator).set_params(
            oracle=self.oracle(canvas_shape), surrogate=None, max_queries=self.max_queries,
            max_iter=10**9, callbacks=None, verbose=0, warm_start=False, select="last")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # its budget ends its search
            free.fit(X, y)
        return free.optimizer_.w_, free.n_queries_
