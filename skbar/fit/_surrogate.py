"""A search started where a free one has already been: a surrogate model's program.

Queries of a local model cost nothing but time. A :class:`Surrogate` runs the
estimator's own search on it (same data, same canvas, same settings), and the search on
the paid oracle starts from the program it ended at, instead of from the grey frame. The
check still compares what is shipped against the grey frame's probe, paid on the
oracle itself, so a program that does not transfer is not shipped.
"""

import warnings
from numbers import Integral

import numpy as np
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
    gradients : {"zeroth-order", "true"}, default="zeroth-order"
        How the surrogate's program is searched: by the estimator's own zeroth-order
        search, or with true gradients through the zoo model's torch network
        (:class:`skbar.baselines.WhiteBoxReprogrammingClassifier`, the ``torch`` extra;
        ``max_iter`` steps of Adam, ``model`` a zoo name).
    max_iter : int, default=100
        Steps of the search with true gradients.
    """

    def __init__(self, model="efficientnet-lite1", max_queries=20_000,
                 gradients="zeroth-order", max_iter=100):
        if gradients not in ("zeroth-order", "true"):
            raise ValueError(f"Surrogate: gradients must be 'zeroth-order' or 'true', got "
                             f"{gradients!r}.")
        if gradients == "true" and not isinstance(model, str):
            raise ValueError("Surrogate(gradients='true') trains through a zoo model's torch "
                             "network: model must be a zoo name, e.g. 'efficientnet-lite1'.")
        if not isinstance(max_queries, Integral) or isinstance(max_queries, bool) \
                or max_queries < 1:
            raise ValueError(f"Surrogate: max_queries must be a positive whole number of "
                             f"queries, got {max_queries!r}.")
        self.model = model
        self.max_queries = max_queries
        self.gradients = gradients
        self.max_iter = max_iter

    def __repr__(self):
        extra = "" if self.gradients == "zeroth-order" else \
            f", gradients={self.gradients!r}, max_iter={self.max_iter}"
        return f"Surrogate(model={self.model!r}, max_queries={self.max_queries}{extra})"

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
        """The program ``estimator``'s search ends at on the surrogate, fitted on ``(X, y)``,
        and the surrogate's queries."""
        if self.gradients == "true":
            return self._true_gradients(estimator, X, y, canvas_shape)
        free = clone(estimator).set_params(
            oracle=self.oracle(canvas_shape), surrogate=None, max_queries=self.max_queries,
            max_iter=10**9, callbacks=None, verbose=0, warm_start=False, select="last")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # its budget ends its search
            free.fit(X, y)
        return free.optimizer_.w_, free.n_queries_

    def _true_gradients(self, estimator, X, y, canvas_shape):
        from ..baselines import WhiteBoxReprogrammingClassifier

        self.oracle(canvas_shape)  # the same checks of the canvas
        white = WhiteBoxReprogrammingClassifier(
            self.model, image_size=canvas_shape[0], sample_shape=estimator.sample_shape,
            embed_size=estimator.embed_size, rescale=estimator.rescale,
            program_shape=estimator._program_shape(canvas_shape), output_mapping="linear",
            learning_rate=0.01, max_iter=self.max_iter, random_state=estimator.random_state)
        white.fit(X, y)
        return np.array(white.bar_.program_, dtype=float), int(white.n_queries_)
