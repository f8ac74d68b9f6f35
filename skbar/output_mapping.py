"""Output mappings: how the source model's scores become target-class probabilities.

Each is a small estimator-like object, given to
:class:`~skbar.BlackBoxReprogrammingClassifier` as ``output_mapping=`` (or named by a
string) and fitted, in ``fit``, into ``output_mapping_``. All three start from the
multi-label mapping ``label_map`` (``m`` source labels per target class, chosen by the
estimator's ``mapping``), so ``m`` means something under each:

- :class:`MultiLabelAverage` (``"average"``): the paper's fixed mapping, eq. (2);
- :class:`IterativeLabelMapping` (``"iterative"``): the same average, its labels
  re-chosen by frequency as the program changes (ILM-VP, Chen et al. 2023);
- :class:`LinearHead` (``"linear"``): a ridge head on the log source scores, pulled
  towards the multi-label mapping, refitted on outputs the search has already paid for.

The protocol: :meth:`~OutputMapping.start` on the initial outputs (``None`` where the
mapping needs none), :meth:`~OutputMapping.transform` from scores to probabilities, and,
for the ``learned`` ones, :meth:`~OutputMapping.refit` on the latest outputs.
"""

from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from .mapping import apply_label_map, apply_linear_map, fit_linear_map, frequency_label_map


class OutputMapping(BaseEstimator):
    """Base class: the multi-label average over ``label_map_``, never refitted.

    Attributes
    ----------
    label_map_ : ndarray of shape (n_classes, m)
        The source labels of each target class.
    """

    _parameter_constraints = {}
    #: Refitted on the outputs of the search (every ``refit_every`` steps and, with
    #: ``refit_final``, on a last pass over the training set under the final program).
    learned = False
    #: Needs the scores of every training sample under the initial program to start.
    needs_initial_outputs = False

    def start(self, scores, y, label_map, n_classes):
        """Begin from ``label_map`` (and the initial outputs ``scores``, labels ``y``)."""
        self._validate_params()
        self.label_map_ = label_map
        self.n_classes_ = n_classes
        return self

    def transform(self, scores):
        """Target-class probabilities ``(n, n_classes)`` from source scores ``(n, K)``."""
        return apply_label_map(scores, self.label_map_)

    def refit(self, scores, y):
        """Refit on the latest outputs paid for: ``scores`` of samples labelled ``y``."""

    def get_state(self):
        """What a checkpoint keeps beyond ``label_map_``, as a dict of arrays."""
        return {}

    def set_state(self, state):
        """Restore :meth:`get_state`'s dict."""


class MultiLabelAverage(OutputMapping):
    """The multi-label mapping of Tsai et al. (2020), eq. (2), fixed for the whole fit.

    ``h_c(F(X)) = (1/m) sum_{s in S_c} F_s(X)``, normalised over the target classes.
    The program alone must make the model's answers fit the mapping.
    """


class IterativeLabelMapping(OutputMapping):
    """Iterative label mapping (ILM-VP, Chen et al., CVPR 2023): the average over labels
    re-chosen, by frequency, under the current program.

    Parameters
    ----------
    refit_every : int, default=10
        Steps between re-choices, from outputs the search already paid for.
    refit_final : bool, default=True
        Re-choose once more on a pass over the training set under the final program
        (one query per training sample, held in reserve from ``max_queries``).
    """

    learned = True
    _parameter_constraints = {"refit_every": [Interval(Integral, 1, None, closed="left")],
                              "refit_final": ["boolean"]}

    def __init__(self, refit_every=10, refit_final=True):
        self.refit_every = refit_every
        self.refit_final = refit_final

    def refit(self, scores, y):
        self.label_map_ = frequency_label_map(scores, y, self.n_classes_,
                                              self.label_map_.shape[1])


class LinearHead(OutputMapping):
    """A learned linear head on the log source scores, pulled towards the multi-label mapping.

    Closed-form ridge regression (:func:`skbar.mapping.fit_linear_map`) whose penalty
    shrinks the head towards the multi-label average of ``label_map_`` rather than
    towards zero, with a fitted temperature. Fitted first on the training set's outputs
    under the initial program (one query per sample: the black-box linear probe), then
    refitted on outputs the search has paid for.

    Parameters
    ----------
    alpha : float, default=10.0
        L2 regularisation of the head's departure from the multi-label mapping.
    refit_every : int, default=10
        Steps between refits, from outputs the search already paid for.
    refit_final : bool, default=True
        When the search ends, query every training sample once under the final program
        and refit on those outputs: the head then reads the outputs of the program it
        is shipped with (small changes of the program change the model's answers a
        lot). One query per training sample, held in reserve from ``max_queries``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, K)
    intercept_ : ndarray of shape (n_classes,)
    """

    learned = True
    needs_initial_outputs = True
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="neither")],
                              "refit_every": [Interval(Integral, 1, None, closed="left")],
                              "refit_final": ["boolean"]}

    def __init__(self, alpha=10.0, refit_every=10, refit_final=True):
        self.alpha = alpha
        self.refit_every = refit_every
        self.refit_final = refit_final

    def start(self, scores, y, label_map, n_classes):
        super().start(scores, y, label_map, n_classes)
        self.refit(scores, y)
        return self

    def refit(self, scores, y):
        self.coef_, self.intercept_ = fit_linear_map(scores, y, self.n_classes_, self.alpha,
                                                     self.label_map_)

    def transform(self, scores):
        return apply_linear_map(scores, self.coef_, self.intercept_)

    def get_state(self):
        return {"coef": self.coef_, "intercept": self.intercept_}

    def set_state(self, state):
        self.coef_, self.intercept_ = state["coef"], state["intercept"]


OUTPUT_MAPPINGS = {"average": MultiLabelAverage, "iterative": IterativeLabelMapping,
                   "linear": LinearHead}
