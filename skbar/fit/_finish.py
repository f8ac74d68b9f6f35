"""The end of a fit: a final pass under the searched program, the check, the last refit.

A learned head must read the answers of the program it is shipped with (small changes of
the program change the model's answers a lot): with ``refit_final``, every training
sample is sent once more under the final program (view 0 alone where the fixed views'
answers are known), and the head is refitted on those answers. Under ``select="checked"``
the searched program is shipped only where it reads better than the program the search
started from (:mod:`skbar.fit._select`).
"""

import contextlib
import copy
from dataclasses import dataclass

import numpy as np

from ._cache import StartOutputs
from ._search import refit_on_cache
from ._select import compare_with_start, holdout_correct
from ._start import PASS_ROWS, answer_chunks


@dataclass
class Finished:
    """What the end of a fit ships."""

    #: The program shipped: where the search ended, or where it started.
    program: object
    #: The check's verdict (``search_check_``), or None where there was none.
    check: object = None


def reserve_for_final_pass(head, views, cache, n):
    """Queries the search must leave for the final pass over ``n`` samples."""
    if not (head.learned and head.refit_final):
        return 0
    return n * views.n_sent(views.to_pay(cache is not None and cache.complete))


def remember_start(head, cache):
    """Keep what the check compares against: the program one pass covered every sample
    under (a new fit's first pass: the grey frame), the head refitted on its answers, and
    which samples that head gets right out of fold. None where no pass covered them all."""
    if cache is None or cache.complete_under is None:
        return None
    program = cache.complete_under
    start_head = copy.deepcopy(head)
    known = cache.rows_for(head)
    if not cache.head_is_current:  # else the copy is that refit already
        refit_on_cache(start_head, cache, known=known)
    scores, labels, _ = known
    return StartOutputs(np.array(program, copy=True), start_head,
                        holdout_correct(head, scores, labels))


def finish(head, views, cache, samples, ask, w, *, final_pass=True, chunk=None):
    """Pay for the final pass under ``w`` (where ``final_pass``), choose the program to
    ship, and refit ``head`` on the answers of that program.

    Returns
    -------
    Finished
    """
    if not head.learned:
        return Finished(w)
    result = Finished(w)
    if final_pass:
        which = views.to_pay(cache.complete)
        chunks = answer_chunks(views, w, samples, ask, which, chunk=chunk or PASS_ROWS)
        with contextlib.closing(chunks):  # an error waits for the call in flight
            for idx, scores in chunks:
                cache.record(idx, scores)
        cache.complete_under = np.array(w, copy=True)
    known = cache.rows_for(head)
    if final_pass and cache.start is not None:
        scores, labels, _ = known
        result.check = compare_with_start(head, cache.start, scores, labels)
        if result.check is not None and result.check["kept"] == "start":
            # The probe reads better: ship it, with its head as it was fitted.
            restore_head(head, cache.start.head)
            result.program = cache.start.program
            return result
    refit_on_cache(head, cache, known=known)
    cache.head_is_current = True
    return result


def restore_head(head, fitted):
    """Give ``head`` the fitted state of ``fitted`` (a copy of it), in place: the
    objective that reads through ``head`` then reads it too."""
    head.__dict__.update(copy.deepcopy(fitted.__dict__))
