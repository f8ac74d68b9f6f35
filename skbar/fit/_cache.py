"""The answers a fit keeps: paid for once, read by every refit and by the final choice.

One :class:`AnswerCache` per fit holds the latest answers of each training sample under
every view (float32, ``n_scores`` columns), filled by the first pass, by each step of the
search (view 0's columns of the minibatch, under the program near the current one) and by
the final pass. The head refits on all of it, the objective on view 0's columns; the
fixed views' columns never change once paid for. It also holds what the final choice
compares the searched program against (:class:`StartOutputs`).
"""

import numpy as np

from ..heads import LogScores, RowsOf

#: The most training samples whose latest answers are kept for refits (``n_scores``
#: float32 each: 200 MB at 50,000 x 1,000 classes); beyond it, a fixed random subset.
MAX_REFIT_SAMPLES = 50_000


class StartOutputs:
    """What the search must beat: the program it started from, the head refitted on that
    program's answers, and which training samples that head gets right out of fold."""

    def __init__(self, program, head, correct):
        self.program = program
        self.head = head
        self.correct = correct


class AnswerCache:
    """The latest answers paid for on each training sample.

    Parameters
    ----------
    y : ndarray of shape (n,)
        The encoded labels of every training sample.
    n_scores : int
        Scores per sample: the model's classes times the views.
    max_rows : int, optional
        Keep the answers of at most this many samples: a fixed random subset (the same
        for a given ``n``, whatever the seed of the fit), so memory holds ``max_rows *
        n_scores`` float32 scores however large the training set. Refits and the final
        choice read this subset only. None keeps every sample.

    Attributes
    ----------
    kept : ndarray of int
        The samples whose answers are kept, in increasing order.
    scores : ndarray of shape (len(kept), n_scores), float32, or None
        None until the first answer is kept.
    known : ndarray of shape (len(kept),) of bool
        Rows whose every column has been paid for.
    complete_under : ndarray or None
        The program every kept row's view-0 answers were taken under, when one pass
        covered them all.
    start : StartOutputs or None
        Set by the fit where the final choice will compare against the start.
    head_is_current : bool
        Whether the fit's head was last fitted on exactly the answers held now (set by
        whoever fits it; any new answer clears it).
    log_scores : LogScores or None
        The answers held now as the log scores a linear head reads, formed once for the
        fits that read them (:meth:`rows_for`); any new answer
        clears it, and so does the end of the fit (it may hold a large kernel).
    """

    def __init__(self, y, n_scores, max_rows="default"):
        if isinstance(max_rows, str):
            max_rows = MAX_REFIT_SAMPLES  # read now, so that a test can lower it
        self.y = y
        n = len(y)
        if max_rows is None or n <= max_rows:
            self.kept = np.arange(n)
        else:
            # Its own stream: the fit's random state draws exactly as without a cap.
            self.kept = np.sort(np.random.RandomState(0).choice(n, int(max_rows), replace=False))
        self._row = np.full(n, -1, dtype=np.intp)
        self._row[self.kept] = np.arange(len(self.kept))
        self.max_rows = max_rows
        self.n_scores = int(n_scores)
        self.scores = None  # allocated on the first answer kept
        self.known = np.zeros(len(self.kept), dtype=bool)
        self.complete_under = None
        self.start = None
        self.head_is_current = False
        self.log_scores = None

    def fits(self, y, n_scores):
        """Whether this cache holds answers of these samples (a warm start on the same data)."""
        return (np.array_equal(self.y, y) and self.n_scores == n_scores
                and self.max_rows == MAX_REFIT_SAMPLES)

    @property
    def labels(self):
        """The labels of the kept samples, row for row with ``scores``."""
        return self.y[self.kept]

    @property
    def complete(self):
        """Whether every kept sample's every view has been paid for."""
        return bool(self.known.all())

    def record(self, idx, scores, start_column=0):
        """Keep ``scores`` as the latest answers of samples ``idx``, in the columns from
        ``start_column`` on: view 0's alone, beside the fixed views' answers (which do not
        change), or the views after it. A row is known once its last column is paid for."""
        if self.scores is None:
            self.scores = np.zeros((len(self.kept), self.n_scores), dtype=np.float32)
        rows = self._row[idx]
        keep = rows >= 0
        end = start_column + scores.shape[1]
        self.scores[rows[keep], start_column:end] = scores[keep]
        if end == self.n_scores:
            self.known[rows[keep]] = True
        self.complete_under = None
        self.head_is_current = False
        self.log_scores = None

    def widen(self, n_scores):
        """A cache of ``n_scores`` columns per sample holding these answers as its first
        columns (more views of the same samples, to be paid for)."""
        wider = AnswerCache(self.y, n_scores, self.max_rows)
        wider.record(self.kept, self.scores)
        return wider

    def unknown(self, n):
        """The samples among ``range(n)`` whose answers a pass must still pay for."""
        missing = np.ones(n, dtype=bool)
        missing[self.kept[self.known]] = False
        return np.flatnonzero(missing)

    def rows_for(self, head):
        """:meth:`known_rows`, the answers as a :class:`~skbar.heads.LogScores` for a
        linear head, kept until the next answer: the head's fit, the halves of the
        objective and the check's folds read the same answers, whose log scores and
        kernel are then formed once for all of them."""
        scores, labels, idx = self.known_rows()
        if hasattr(head, "fit_coef") and len(labels):
            if self.log_scores is None:
                self.log_scores = LogScores(scores)
            scores = self.log_scores
        return scores, labels, idx

    def known_rows(self):
        """``(scores, labels, indices)`` of the rows paid for."""
        if self.scores is None:
            return np.zeros((0, self.n_scores), np.float32), self.labels[:0], self.kept[:0]
        if self.known.all():
            return self.scores, self.labels, self.kept  # no copy
        rows = np.flatnonzero(self.known)
        return RowsOf(self.scores, rows), self.labels[rows], self.kept[rows]
