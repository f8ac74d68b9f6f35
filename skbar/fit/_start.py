"""The start of a fit: the first paid pass, the label map, the head and the objective.

The frequency label map and a learned head both need the model's answers on every
training sample under the initial program (the grey frame): one query per sample and
view, paid once and shared. What the first pass pays for is kept in the fit's
:class:`~skbar.fit.AnswerCache` chunk by chunk, so an interrupted pass loses nothing: a
warm start pays only for the samples it has not answered.
"""

import contextlib
import copy
from dataclasses import dataclass

import numpy as np

from ..canvas import Views, first_views, resolve_n_views
from ..heads import Objective, answers_top_k, choose_label_map, resolve_objective
from ..oracles import InTurn
from ._cache import AnswerCache

#: Samples sent per oracle call by the passes over the training set (at least).
PASS_ROWS = 64


@dataclass
class Started:
    """What the start of a fit hands to the search."""

    head: object
    objective: object
    views: Views
    cache: AnswerCache
    #: The model's classes, ``K``.
    n_source: int


def answer_chunks(views, w, samples, ask, which=None, rows=None, chunk=PASS_ROWS):
    """``(indices, answers)`` of ``samples`` (those in ``rows``, or all) under the program
    ``w`` and the views ``which`` (all by default), a chunk at a time, asked of ``ask``.

    Where the oracle answers in a worker thread (:class:`~skbar.oracles.InTurn`), the
    next chunk is composed while it answers one: a caller that leaves the loop early
    closes the generator (``contextlib.closing``), which waits for the call in flight.
    """
    frame = views.program.frame(w)  # once, for every chunk
    rows = np.arange(len(samples)) if rows is None else np.asarray(rows)
    starts = range(0, len(rows), chunk)
    with InTurn(ask) as in_turn:
        # View 0 alone: every chunk's canvases in reused buffers, as the search's.
        buffer = (views.minibatch(ask, in_turn.in_flight) if views.reads_program_alone(which)
                  else None)

        def batches():
            for start in starts:
                taken = samples.take(rows[start:start + chunk])
                yield views.compose(frame, taken if buffer is None else buffer.load(taken), which)

        for start, scores in zip(starts, in_turn.answers(batches())):
            yield rows[start:start + chunk], views.side_by_side(np.asarray(scores), which)


def pay_first_pass(views, w, samples, counter, cache, y, which=None, chunk=PASS_ROWS):
    """Pay for the answers of every sample the ``cache`` lacks, under views ``which``
    (all, or the views after view 0, whose columns follow it).

    Returns the cache (made on the first answer, when the number of classes is known,
    unless one is given), filled chunk by chunk as the answers arrive.
    """
    n_views = views.n_sent(which)
    try:
        chunks = answer_chunks(views, w, samples, counter, which, chunk=chunk,
                               rows=None if cache is None else cache.unknown(len(y)))
        with contextlib.closing(chunks):  # an error waits for the call in flight
            for idx, scores in chunks:
                if cache is None:
                    cache = AnswerCache(y, scores.shape[1] // n_views * views.n_views)
                cache.record(idx, scores, start_column=cache.n_scores - scores.shape[1])
    except BaseException as exc:
        # What was paid for stays with the estimator, for a warm start to go on from.
        exc.answer_cache = cache
        raise
    return cache


def first_pass(program, w, samples, counter, y, *, views, refit_final, cache=None,
               chunk=PASS_ROWS):
    """The first pass: view 0 of every sample, then, where ``views="auto"`` finds top-k
    answers, the three fixed views (where the budget allows them).

    Returns ``(views, cache)``.
    """
    n_first = first_views(views)
    cache = pay_first_pass(Views(program, n_first), w, samples, counter, cache, y, chunk=chunk)
    n_views = resolve_n_views(views, top_k=answers_top_k(cache.scores),
                              refit_final=refit_final,
                              can_afford_more=counter.can_afford(3 * len(samples)))
    if n_views != n_first:
        # One top-k answer says little: more views, paid for once here.
        cache = pay_first_pass(Views(program, n_views), w, samples, counter,
                               cache.widen(cache.n_scores * n_views), y,
                               which=list(range(1, n_views)), chunk=chunk)
    cache.complete_under = np.array(w, copy=True)
    return Views(program, n_views), cache


def labels_per_class(m, n_source, n_classes, scores=None):
    """``m``, with ``"auto"`` resolved against the model's classes and, where the first
    answers ``scores`` were paid for, against what it answers: 10 (as in the paper), 3
    where it names only its top classes, never more than ``n_source // n_classes``."""
    if m != "auto":
        return m
    return min(3 if scores is not None and answers_top_k(scores) else 10,
               n_source // n_classes)


def start_head(head, objective, label_map, m, *, views, cache, y, n_classes, n_source, rng):
    """Choose the label maps, start the head on every view's answers and the objective on
    view 0's, and return them.

    Under one view the objective reads through a copy of the head; under several,
    through a one-view head with a label map of its own, chosen on view 0's answers as
    the head's is on all of them. Both start on the samples the cache keeps.
    """
    scores, idx = None, None
    complete = cache is not None and cache.known.all()
    if complete:
        # Shared by the head's fit, the objective's halves and the check's folds.
        scores, y, idx = cache.rows_for(head)
    elif cache is not None and cache.known.any():
        scores, y, idx = cache.scores, cache.labels, cache.kept
    program_scores = None if scores is None else views.program_columns(scores)
    n_scores = n_source * views.n_views
    m = labels_per_class(m, n_source, n_classes, scores)
    head.start(scores, y, choose_label_map(label_map, scores, y, n_classes, n_scores, m, rng),
               n_classes)
    if complete:
        cache.head_is_current = True  # fitted on every answer the cache holds
    kind = resolve_objective(objective, head, scores)
    reader = views.program_head(head, program_scores, y, lambda n_source: choose_label_map(
        label_map if isinstance(label_map, str) else head.label_map_,
        program_scores, y, n_classes, n_source, m, rng), n_classes)
    return head, Objective(kind, reader).start(program_scores, y, idx)


def clone_one_view(head):
    """An unstarted copy of ``head`` (its parameters, none of its fitted state)."""
    from sklearn.base import clone

    return clone(head) if hasattr(head, "get_params") else copy.deepcopy(head)
