"""What a fit and a prediction read: the oracle, the callbacks, ``X`` as samples, and
every setting, checked before the first query.

Mixed into :class:`~skbar.BlackBoxReprogrammingClassifier`: ``X`` is checked as
scikit-learn checks it (image files as they are) and prepared a batch at a time
(:class:`~skbar.canvas.Samples`), never copied whole.
"""

import sys

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from ._parts import FitContext, check_before_paying, make_loss, plain, resolve_parts
from ._validation import check_like_fit
from .callbacks import ProgressBar, as_callbacks, check_checkpoints_writable
from .canvas import Program, Samples, data_range
from .fit import PASS_ROWS, data_fingerprint
from .oracles import QueryCounter, check_oracle, oracle_input_shape


class InputsMixin:
    """The oracle, the callbacks and the samples of the estimator."""

    def _get_oracle(self):
        if self.oracle is not None:
            return check_oracle(self.oracle)
        from .zoo import load

        return load()

    def _callbacks(self):
        callbacks = as_callbacks(self.callbacks)
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _samples(self, X, canvas_shape, keep=False):
        """``X``'s samples as pixels in [0, 1], resized and with the canvas's channels,
        each prepared when a batch takes it (:class:`~skbar.canvas.Samples`), and kept
        where ``keep`` (a fit's)."""
        check_like_fit(self, X)
        return Samples(X, canvas_shape[2], sample_shape=self.sample_shape,
                       embed_size=self.embed_size,
                       data_range=(self.data_min_, self.data_max_) if self.rescale else None,
                       keep=keep)

    def _check_input(self, X, y=None, fitting=False):
        """``X`` (and ``y``) checked as scikit-learn does; image files as they are.

        :class:`~skbar.datasets.ImageFiles` decodes images only when a batch indexes it,
        so it is not converted here: its shape is checked against ``fit`` (by
        ``check_like_fit``) and its pixels by each batch.
        """
        # ImageFiles only exists once skbar.datasets is imported: a fit on arrays does
        # not import it (and scipy.signal with it).
        datasets = sys.modules.get("skbar.datasets")
        if datasets is None or not isinstance(X, datasets.ImageFiles):
            if fitting:
                return validate_data(self, X, y, allow_nd=True, dtype="numeric",
                                     ensure_min_samples=2)
            return validate_data(self, X, reset=False, allow_nd=True, dtype="numeric")
        if not fitting:
            return X
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        if len(X) < 2:
            raise ValueError(f"Found {len(X)} sample(s) while a minimum of 2 is required.")
        self.n_features_in_ = X.shape[1]  # as validate_data counts an n-d array's features
        return X, y

    def _prepare(self, X):
        """``X`` validated against ``fit``, as :class:`~skbar.canvas.Samples`, and the program."""
        X = self._check_input(X)
        samples = self._samples(X, self.canvas_shape_)
        program = Program(self.canvas_shape_, samples.sample_size,
                          self._program_shape(self.canvas_shape_))
        return samples, program

    def _program_shape(self, canvas_shape):
        if isinstance(self.program_shape, str):  # "auto"
            return (min(8, canvas_shape[0]), min(8, canvas_shape[1]))
        return self.program_shape

    def _chunk_rows(self):
        """Samples sent per oracle call by a pass over the training set or a prediction."""
        return max(self.batch_size, PASS_ROWS)

    def _prepare_fit(self, X, y):
        """Everything a fit needs, every setting checked, before the first query."""
        X, y = self._check_input(X, y, fitting=True)
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y has a single class ({plain(classes[0])!r}); reprogramming "
                             "needs at least two.")
        oracle = self._get_oracle()
        canvas_shape = oracle_input_shape(oracle)
        parts = resolve_parts(self)
        n_source = getattr(oracle, "n_classes", None)
        check_before_paying(self, parts, classes.size, n_source)
        callbacks = self._callbacks()
        check_checkpoints_writable(callbacks)
        resume = self._initial_state(callbacks, X, y, classes, oracle, parts)
        if resume is None:
            self._forget(keep_cache=self.warm_start)
            self.data_min_, self.data_max_ = data_range(X)
        else:
            self.data_min_, self.data_max_ = float(resume["data_min"]), float(resume["data_max"])
        self.sample_shape_in_ = X.shape[1:]
        self._data_fingerprint = data_fingerprint(X, y)
        samples = self._samples(X, canvas_shape, keep=True)
        program = Program(canvas_shape, samples.sample_size, self._program_shape(canvas_shape))
        self.classes_, self.mask_, self.canvas_shape_ = classes, program.mask, canvas_shape
        self.gradient_ = parts.gradient
        fit = FitContext(X=X, parts=parts, samples=samples, program=program, y=y_encoded,
                   counter=QueryCounter(oracle, self.max_queries),
                   rng=check_random_state(self.random_state),
                   loss_fn=make_loss(self, y, classes), callbacks=callbacks,
                   n_source=None if n_source is None else int(n_source))
        if resume is not None:
            self._restore(resume, fit)
        return fit

    def _check_affordable(self, fit, n_views, cache=None):
        n = (len(fit.samples) if cache is None else len(cache.unknown(len(fit.samples))))
        n *= n_views
        if not fit.counter.can_afford(n):
            raise ValueError(
                f"The first pass queries every training sample once under each of {n_views} "
                f"view(s) ({n} queries; label_map='frequency' and head='linear' need it) but "
                f"max_queries={self.max_queries}; raise max_queries, or use "
                "label_map='random' with head='average'.")

    def _ask_n_source(self, fit, w):
        """The model's classes, from one query, for an oracle that does not say."""
        canvas = fit.program.compose(fit.program.frame(w), fit.samples.take([0]))
        return int(fit.counter(canvas).shape[1])
