"""Objectives: what the search minimises, named apart from the head that predicts.

The head turns the answers into the probabilities a prediction ships. The search needs
something else: a loss that says how much the *program* helps. :class:`Objective` gives
the search the target-class probabilities of a minibatch from its answers under one
view (view 0, the learned program's), one of three ways:

- ``"held-out"``: the training samples are split in two halves (by index parity), a head
  is fitted on each, and a sample is scored by the head fitted on the other half. A head
  scored on the very outputs it was fitted on fits them almost exactly, so its loss says
  little about what the program adds; the held-out one measures how well the model's
  answers, under the program, separate samples the head has not seen;
- ``"average"``: the paper's multi-label average over the label map, in the log domain.
  A model that answers only its top ``k`` classes can be read only through the few
  labels it names, so the program must make it name the labels of the sample's class;
- ``"fitted"``: the head itself, scored on the outputs it was fitted on (for the fixed
  average head, the paper's objective as published).

``"auto"`` is ``"held-out"`` for a learned linear head on full answers, ``"average"`` for
one on top-k answers, and ``"fitted"`` for the heads that are not fitted to outputs.
"""

import numpy as np

from .._state import StateError, read_field, read_text
from ._label_maps import (LogScores, RowsOf, answers_top_k, apply_linear_map, check_label_map,
                          label_map_prior, log_scores)

OBJECTIVES = ("held-out", "average", "fitted")


def resolve_objective(objective, head, scores):
    """``objective`` with ``"auto"`` resolved for ``head`` and the first answers ``scores``.

    Raises
    ------
    ValueError
        ``"held-out"`` for a head that cannot be fitted on half the samples.
    """
    if objective == "held-out" and not hasattr(head, "fit_coef"):
        raise ValueError(
            f"objective='held-out' fits the head on each half of the samples, but "
            f"head={type(head).__name__} is not fitted to outputs; use head='linear' or "
            "objective='auto'.")
    if objective != "auto":
        return objective
    if not hasattr(head, "fit_coef"):
        return "fitted"
    return "average" if scores is not None and answers_top_k(scores) else "held-out"


class Objective:
    """The target-class probabilities the search's loss scores.

    Parameters
    ----------
    kind : {"held-out", "average", "fitted"}
    head : Head
        The started head of its own it reads view 0 through (saved with it): a copy of
        the shipped head under one view; under several, a one-view head started on view
        0's answers with a label map of its own (:meth:`skbar.canvas.Views.program_head`).

    Attributes
    ----------
    half_heads_ : list of two (coef, intercept) or None
        The cross-fitted heads of ``"held-out"``, after a refit.
    """

    def __init__(self, kind, head):
        self.kind = kind
        self.head = head
        self.half_heads_ = None
        self._average = None

    @property
    def learned(self):
        """Whether it is refitted on the search's answers (every ``refit_every`` steps)."""
        return self.head.learned

    @property
    def refit_every(self):
        return self.head.refit_every

    def start(self, scores, y, idx=None):
        """Begin on the first answers of the program's own view (the head is started), of
        training samples ``idx`` (all by default)."""
        self._fit_halves(scores, y, np.arange(len(y)) if idx is None else idx)
        return self

    def refit(self, scores, y, idx):
        """Refit on the latest answers of samples ``idx`` (labels ``y``).

        ``"held-out"`` reads the two half heads alone: the whole head is refitted only
        where they cannot be (a half without two classes), and otherwise keeps its fit
        from the start. Each half forms its own kernel (half the work of the kernel of
        all the rows); their log scores are taken once.
        """
        scores = self._shared(scores)
        self._fit_halves(scores, y, idx)
        if self.half_heads_ is None:
            self.head.refit(scores, y, idx)

    def _shared(self, scores):
        """``scores`` as a :class:`~skbar.heads.LogScores` for the fits of a linear head,
        each half forming its own kernel (half the work of the kernel of all rows)."""
        if scores is None or not hasattr(self.head, "fit_coef") or isinstance(scores, LogScores):
            return scores
        return LogScores(scores, shared=False)

    def _fit_halves(self, scores, y, idx):
        self.half_heads_ = None
        self._average = None  # the label map may have changed
        if self.kind != "held-out" or idx is None or scores is None:
            return
        scores = self._shared(scores)
        halves = [np.flatnonzero(np.asarray(idx) % 2 == half) for half in (0, 1)]
        if all(np.unique(y[rows]).size >= 2 for rows in halves):
            # Each half's head, its temperature fitted on the other half (where it is
            # used): an overconfident head would make the held-out loss explode.
            self.half_heads_ = [
                self.head.fit_coef(RowsOf(scores, rows), y[rows],
                                   (RowsOf(scores, other), y[other]))
                for rows, other in zip(halves, halves[::-1])]

    def proba(self, scores, idx):
        """Target-class probabilities ``(len(idx), n_classes)`` of training samples ``idx``
        from their answers ``scores`` under the program's view."""
        if self.kind == "average":
            # The log of each class's labels' geometric mean: smooth where a top-k answer
            # leaves labels out. Built once after each refit, not at every evaluation.
            if self._average is None:
                self._average = label_map_prior(self.head.label_map_, scores.shape[1])
            return apply_linear_map(scores, self._average, 0.0)
        if self.kind == "fitted" or self.half_heads_ is None:
            return self.head.transform(scores)
        # The log in float32, twice as fast as in float64, at this step's hot path: the
        # loss moves by about 1e-7, far below what a step's directions change it by.
        features = log_scores(np.asarray(scores, dtype=np.float32))
        logits = np.empty((len(idx), self.head.n_classes_))
        odd = np.asarray(idx) % 2 == 1
        for rows, (coef, intercept) in ((~odd, self.half_heads_[1]), (odd, self.half_heads_[0])):
            # A sample of one half is scored by the head fitted on the other.
            logits[rows] = features[rows] @ coef.T + intercept
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def get_state(self):
        """The kind, the head it reads through and, after a refit, the half heads."""
        state = {"kind": np.array(self.kind), "label_map": self.head.label_map_}
        state.update({f"head_{k}": v for k, v in self.head.get_state().items()})
        for half, (coef, intercept) in enumerate(self.half_heads_ or ()):
            state[f"half_{half}_coef"], state[f"half_{half}_intercept"] = coef, intercept
        return state

    def set_state(self, state, n_scores):
        """Restore :meth:`get_state`'s dict. Where it holds no half heads (a checkpoint
        saved before the first refit, or by an older skbar), ``"held-out"`` reads the
        whole head until the next refit."""
        self.kind = read_text(state, "kind", OBJECTIVES)
        label_map = read_field(state, "label_map", kinds="iu", ndim=2)
        try:
            label_map = check_label_map(label_map, self.head.n_classes_, n_scores)
        except ValueError as exc:
            raise StateError("label_map", str(exc)) from exc
        self.head.label_map_ = label_map
        try:
            self.head.set_state({k[len("head_"):]: v for k, v in state.items()
                                 if k.startswith("head_")}, n_scores)
        except StateError as exc:
            raise StateError(f"head_{exc.field}", exc.problem) from exc
        self.half_heads_ = None
        if "half_0_coef" in state:
            n_classes = self.head.n_classes_
            self.half_heads_ = [
                (read_field(state, f"half_{half}_coef", shape=(n_classes, n_scores)),
                 read_field(state, f"half_{half}_intercept", shape=(n_classes,)))
                for half in (0, 1)]
        self._average = None
