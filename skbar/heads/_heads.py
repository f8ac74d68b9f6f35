"""Heads: how the source model's scores become target-class probabilities.

Each is a small estimator-like object, given to
:class:`~skbar.BlackBoxReprogrammingClassifier` as ``head=`` (or named by a
string) and fitted, in ``fit``, into ``head_``. All three start from the
multi-label mapping ``label_map`` (``m`` source labels per target class, chosen by the
estimator's ``label_map``), so ``m`` means something under each:

- :class:`MultiLabelAverage` (``"average"``): the paper's fixed mapping, eq. (2);
- :class:`IterativeLabelMapping` (``"iterative"``): the same average, its labels
  re-chosen by frequency as the program changes (ILM-VP, Chen et al. 2023);
- :class:`LinearHead` (``"linear"``): a ridge head on the log source scores, pulled
  towards the multi-label mapping, refitted on outputs the search has already paid for.

The protocol: :meth:`~Head.start` on the initial outputs (``None`` where the head
needs none), :meth:`~Head.transform` from scores to probabilities, and, for the
``learned`` ones, :meth:`~Head.refit` on the latest outputs. A head reads the scores it
is given, whatever views they come from (:class:`skbar.canvas.Views`); what the search
minimises is the objective's (:mod:`skbar.heads._objectives`), not the head's.
"""

from numbers import Integral, Real

import numpy as np

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .._state import read_field
from ._label_maps import apply_label_map, apply_linear_map, fit_linear_map, frequency_label_map


class Head(BaseEstimator):
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
    refit_final = False

    def start(self, scores, y, label_map, n_classes):
        """Begin from ``label_map`` (and the initial outputs ``scores``, labels ``y``)."""
        self._validate_params()
        self.label_map_ = label_map
        self.n_classes_ = n_classes
        return self

    def transform(self, scores):
        """Target-class probabilities ``(n, n_classes)`` from source scores ``(n, n_scores)``."""
        return apply_label_map(scores, self.label_map_)

    def refit(self, scores, y, idx=None):
        """Refit on the latest outputs paid for: ``scores`` of samples labelled ``y``.

        ``idx`` are the samples' indices in the training set, where known.
        """

    def get_state(self):
        """What a checkpoint keeps beyond ``label_map_``, as a dict of arrays."""
        return {}

    def set_state(self, state, n_scores):
        """Restore :meth:`get_state`'s dict (after ``label_map_`` and ``n_classes_`` are
        set), checking each field against ``n_scores`` scores per sample.

        Raises
        ------
        skbar._state.StateError
        """


class MultiLabelAverage(Head):
    """The multi-label mapping of Tsai et al. (2020), eq. (2), fixed for the whole fit.

    ``h_c(F(X)) = (1/m) sum_{s in S_c} F_s(X)``, normalised over the target classes.
    The program alone must make the model's answers fit the mapping.
    """


class IterativeLabelMapping(Head):
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

    def refit(self, scores, y, idx=None):
        self.label_map_ = frequency_label_map(scores, y, self.n_classes_,
                                              self.label_map_.shape[1])


class LinearHead(Head):
    """A learned linear head on the log source scores, pulled towards the multi-label mapping.

    Closed-form ridge regression (:func:`skbar.heads.fit_linear_map`) whose penalty
    shrinks the head towards the multi-label average of ``label_map_`` rather than
    towards zero, with a fitted temperature. Fitted first on the training set's outputs
    under the initial program (one query per sample and view: the black-box linear
    probe), then refitted on outputs the search has paid for.

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
    objective : str, default="deprecated"
        Deprecated: use the estimator's ``objective``.
    views : int or str, default="deprecated"
        Deprecated: use the estimator's ``views``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_scores)
    intercept_ : ndarray of shape (n_classes,)
    """

    learned = True
    needs_initial_outputs = True
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="neither")],
                              "refit_every": [Interval(Integral, 1, None, closed="left")],
                              "refit_final": ["boolean"],
                              "objective": [StrOptions({"deprecated", "auto", "held-out",
                                                        "average", "fitted"})],
                              "views": [Interval(Integral, 1, None, closed="left"),
                                        StrOptions({"deprecated", "auto"})]}

    def __init__(self, alpha=10.0, refit_every=10, refit_final=True, objective="deprecated",
                 views="deprecated"):
        self.alpha = alpha
        self.refit_every = refit_every
        self.refit_final = refit_final
        self.objective = objective
        self.views = views

    def start(self, scores, y, label_map, n_classes):
        super().start(scores, y, label_map, n_classes)
        self.refit(scores, y, np.arange(len(y)))
        return self

    def refit(self, scores, y, idx=None):
        self.coef_, self.intercept_ = self.fit_coef(scores, y)

    def fit_coef(self, scores, y, calibration=None):
        """``(coef, intercept)`` of this head fitted on ``scores``, ``y`` (temperature fitted
        on ``calibration``, where given), without changing the head."""
        return fit_linear_map(scores, y, self.n_classes_, self.alpha, self.label_map_,
                              calibration)

    def transform(self, scores):
        return apply_linear_map(scores, self.coef_, self.intercept_)

    def get_state(self):
        return {"coef": self.coef_, "intercept": self.intercept_}

    def set_state(self, state, n_scores):
        self.coef_ = read_field(state, "coef", shape=(self.n_classes_, n_scores))
        self.intercept_ = read_field(state, "intercept", shape=(self.n_classes_,))


#: The heads a string names.
HEADS = {"average": MultiLabelAverage, "iterative": IterativeLabelMapping, "linear": LinearHead}
