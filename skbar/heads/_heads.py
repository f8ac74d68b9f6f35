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

import numpy as np

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .mapping import (answers_top_k, apply_label_map, apply_linear_map, fit_linear_map,
                      frequency_label_map, label_map_prior)


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
    #: How many views of each sample the mapping reads: the estimator sends each sample
    #: under that many views of the program and hands the answers over side by side
    #: (:meth:`skbar.program.Program.answers`).
    views = 1

    def start(self, scores, y, label_map, n_classes):
        """Begin from ``label_map`` (and the initial outputs ``scores``, labels ``y``)."""
        self._validate_params()
        self.label_map_ = label_map
        self.n_classes_ = n_classes
        return self

    def transform(self, scores):
        """Target-class probabilities ``(n, n_classes)`` from source scores ``(n, K)``."""
        return apply_label_map(scores, self.label_map_)

    def objective_proba(self, scores, idx):
        """The probabilities the search's loss scores, for training samples ``idx``.

        :meth:`transform` by default: the search trains the program for the mapping it
        is shipped with.
        """
        return self.transform(scores)

    def refit(self, scores, y, idx=None):
        """Refit on the latest outputs paid for: ``scores`` of samples labelled ``y``.

        ``idx`` are the samples' indices in the training set, where known.
        """

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

    def refit(self, scores, y, idx=None):
        self.label_map_ = frequency_label_map(scores, y, self.n_classes_,
                                              self.label_map_.shape[1])


class LinearHead(OutputMapping):
    """A learned linear head on the log source scores, pulled towards the multi-label mapping.

    Closed-form ridge regression (:func:`skbar.mapping.fit_linear_map`) whose penalty
    shrinks the head towards the multi-label average of ``label_map_`` rather than
    towards zero, with a fitted temperature. Fitted first on the training set's outputs
    under the initial program (one query per sample and view: the black-box linear
    probe), then refitted on outputs the search has paid for.

    What the search's loss reads (``objective``) depends on what the model answers:

    - a model that gives a score for every class: a *held-out* loss. The training
      samples are split in two halves (by index parity), a head is fitted on each half,
      and the loss of a sample is computed with the head fitted on the other half. A
      head scored on the very outputs it was fitted on fits them almost exactly, so its
      loss says little about what the program adds; the held-out one measures how well
      the model's answers, under the program, separate samples the head has not seen;
    - a model that answers only its top ``k`` classes: the multi-label average of the
      paper, in the log domain. The head can only read the few labels the model names,
      so the program must make the model name the labels of the sample's class. With
      true gradients through the whole of EfficientNet-Lite0, read through its top five
      answers on digits, a program trained for the average takes a head's accuracy
      from 0.63 to 0.88, one trained for a head only to 0.72; trained on the top five
      answers alone, the average takes it to about 0.68.

    Parameters
    ----------
    alpha : float, default=10.0
        L2 regularisation of the head's departure from the multi-label mapping.
    objective : {"auto", "held-out", "average", "fitted"}, default="auto"
        What the search's loss reads: the cross-fitted heads above (``"held-out"``); the
        multi-label average over ``label_map_``, in the log domain (``"average"``, the
        paper's objective, with a learned head shipped at the end); or the head fitted on
        all outputs, the very ones it is scored on (``"fitted"``: the loss then nears
        zero). ``"auto"`` reads the average where most initial outputs leave classes
        out (a top-k answer), else the held-out heads.
    refit_every : int, default=10
        Steps between refits, from outputs the search already paid for.
    refit_final : bool, default=True
        When the search ends, query every training sample once under the final program
        and refit on those outputs: the head then reads the outputs of the program it
        is shipped with (small changes of the program change the model's answers a
        lot). One query per training sample, held in reserve from ``max_queries``.
    views : int or "auto", default="auto"
        How many times each sample is sent to the oracle, in ``fit`` and in
        ``predict``: view 0 frames it with the learned program ``W``, view ``k >= 1``
        with a fixed random program ``V_k``, the same in every fit and whatever ``W``
        (:meth:`skbar.program.Program.view_programs`); the head reads the answers of all
        views side by side (``views * K`` scores). An answer that names only the model's
        top five classes says little about a sample; four, each under another frame,
        say much more: on digits through the top five answers of EfficientNet-Lite0,
        four views take the probe from 0.63 to about 0.80 (``docs/query_efficiency.md``).
        The search trains ``W`` on view 0's answers alone, through a one-view copy of
        this head (``BlackBoxReprogrammingClassifier.search_mapping_``), so a step costs
        what it costs without views. The fit pays for every view once, in its first
        pass; the final pass, where the head is refitted on the searched program, pays
        for view 0 only (the fixed views' answers have not changed); a prediction pays
        for every view. Several views need ``refit_final=True``. ``"auto"`` is 4 where
        the initial outputs show that the model answers only its top classes (as for
        ``objective``) and ``refit_final`` is set, else 1.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, K)
    intercept_ : ndarray of shape (n_classes,)
    objective_ : str
        The objective the search read, ``"auto"`` resolved.
    """

    learned = True
    needs_initial_outputs = True
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="neither")],
                              "objective": [StrOptions({"auto", "held-out", "average",
                                                        "fitted"})],
                              "refit_every": [Interval(Integral, 1, None, closed="left")],
                              "refit_final": ["boolean"],
                              "views": [Interval(Integral, 1, None, closed="left"),
                                        StrOptions({"auto"})]}

    def __init__(self, alpha=10.0, objective="auto", refit_every=10, refit_final=True,
                 views="auto"):
        self.alpha = alpha
        self.objective = objective
        self.refit_every = refit_every
        self.refit_final = refit_final
        self.views = views

    def start(self, scores, y, label_map, n_classes):
        super().start(scores, y, label_map, n_classes)
        self.objective_ = self.objective
        if self.objective == "auto":
            self.objective_ = "average" if answers_top_k(scores) else "held-out"
        self.refit(scores, y, np.arange(len(y)))
        return self

    def refit(self, scores, y, idx=None):
        self.coef_, self.intercept_ = self._fit(scores, y)
        self._average = None
        self.half_heads_ = None
        if self.objective_ == "held-out" and idx is not None:
            halves = [np.asarray(idx) % 2 == half for half in (0, 1)]
            if all(np.unique(y[rows]).size >= 2 for rows in halves):
                # Each half's head, its temperature fitted on the other half (where it is
                # used): an overconfident head would make the held-out loss explode.
                self.half_heads_ = [
                    self._fit(scores[rows], y[rows], (scores[other], y[other]))
                    for rows, other in zip(halves, halves[::-1])]

    def _fit(self, scores, y, calibration=None):
        return fit_linear_map(scores, y, self.n_classes_, self.alpha, self.label_map_,
                              calibration)

    def transform(self, scores):
        return apply_linear_map(scores, self.coef_, self.intercept_)

    def objective_proba(self, scores, idx):
        if self.objective_ == "average":
            # The multi-label average in the log domain (the log of each class's labels'
            # geometric mean): smooth where a top-k answer leaves labels out. Built once
            # after each refit, not at every evaluation of the search.
            if self._average is None:
                self._average = label_map_prior(self.label_map_, scores.shape[1])
            return apply_linear_map(scores, self._average, 0.0)
        if self.objective_ == "fitted" or self.half_heads_ is None:
            return self.transform(scores)
        proba = np.empty((len(idx), self.n_classes_))
        for half in (0, 1):
            rows = np.asarray(idx) % 2 == half
            # A sample of one half is scored by the head fitted on the other.
            proba[rows] = apply_linear_map(scores[rows], *self.half_heads_[1 - half])
        return proba

    _OBJECTIVES = ("held-out", "average", "fitted")

    def get_state(self):
        return {"coef": self.coef_, "intercept": self.intercept_,
                "objective": np.array(self._OBJECTIVES.index(self.objective_))}

    def set_state(self, state):
        self.coef_, self.intercept_ = state["coef"], state["intercept"]
        code = int(state["objective"]) if "objective" in state else 0
        self.objective_ = self._OBJECTIVES[min(max(code, 0), len(self._OBJECTIVES) - 1)]
        self._average = None
        self.half_heads_ = None  # until the next refit, the search reads the full head


OUTPUT_MAPPINGS = {"average": MultiLabelAverage, "iterative": IterativeLabelMapping,
                   "linear": LinearHead}
