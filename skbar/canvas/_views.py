"""Views: the frames each sample is sent under, and where each view's answers sit.

A model that answers only its top five classes says little about one sample; the same
sample under several frames says much more. View 0 frames a sample with the learned
program ``W``; view ``k >= 1`` with a fixed random program ``V_k``, the same in every fit
and whatever ``W``, so its answers never change as the program is learned and are paid
for once. The answers of ``n`` views sit side by side: view ``k``'s ``K`` scores are
columns ``k * K`` to ``(k + 1) * K``.

:class:`Views` is the one place that knows this: which frames there are, which views a
pass must pay for, and the column layout. The search reads view 0 alone
(:meth:`Views.program_columns`); the head reads every column it is given.
"""

import copy

import numpy as np
from sklearn.base import clone

from ..oracles._canvas import composes_on_device, model_input_of
from ._program import Canvases, keeps_canvases

#: Views read under ``views="auto"`` where the model answers only its top classes.
AUTO_VIEWS_TOP_K = 4


class Views:
    """The views of a fit: view 0 under the learned program, views 1+ under fixed ones.

    Parameters
    ----------
    program : skbar.canvas.Program
        Where the sample sits and how a ``W`` becomes a frame.
    n_views : int, default=1

    Attributes
    ----------
    n_views : int
    """

    def __init__(self, program, n_views=1):
        self.program = program
        self.n_views = int(n_views)
        self._fixed = None  # the fixed frames, computed on first use

    def fixed_programs(self):
        """The ``W`` of every view, ``(n_views,) + w_shape``; row 0, all zeros, stands for
        the learned program, which view 0 reads instead.

        Drawn from a fixed stream (standard normal, seed 0), so a fitted estimator needs
        nothing stored to send a sample under the same views again.
        """
        programs = np.random.RandomState(0).standard_normal(
            (self.n_views,) + self.program.w_shape)
        programs[0] = 0.0
        return programs

    def _fixed_frames(self):
        if self._fixed is None:
            self._fixed = np.stack([self.program.frame(w) for w in self.fixed_programs()])
        return self._fixed

    def answers(self, ask, frame, samples, which=None):
        """The answers for ``samples`` under the views ``which`` (all by default), side by side.

        Parameters
        ----------
        ask : callable
            Canvases ``(N, H, W, C)`` to scores ``(N, K)``: the oracle or a query counter.
            All canvases go in one call, ``len(samples) * len(which)`` queries.
        frame : ndarray of shape (H, W, C)
            The learned program's frame (view 0), computed once by the caller.
        samples : ndarray of shape (n, h, w, C) or skbar.canvas.Canvases
            The samples, or a minibatch of them already written into a reused buffer
            (:meth:`minibatch`), for view 0 alone (``which=[0]``): the search's hot path.
        which : sequence of int, optional

        Returns
        -------
        scores : ndarray of shape (n, len(which) * K)
        """
        return self.side_by_side(np.asarray(ask(self.compose(frame, samples, which))), which)

    def compose(self, frame, samples, which=None):
        """What :meth:`answers` sends for ``samples`` under the views ``which``: every
        view's canvases in one batch, view by view (a reused buffer's for
        :class:`~skbar.canvas.Canvases`)."""
        which = self._which(which)
        if isinstance(samples, Canvases):
            if which != [0]:
                raise ValueError(f"A reused minibatch is read under view 0 alone, not {which}.")
            return samples.compose(frame)  # the program alone, composed in place
        if which == [0]:
            return self.program.compose(frame, samples)
        fixed = self._fixed_frames()
        return np.concatenate([
            self.program.compose(frame if k == 0 else fixed[k], samples) for k in which])

    def side_by_side(self, scores, which=None):
        """The answers to a batch :meth:`compose` made, ``(len(which) * n, K)``, as one row
        per sample, ``(n, len(which) * K)``."""
        n_sent = len(self._which(which))
        if n_sent == 1:
            return scores
        n = scores.shape[0] // n_sent
        return scores.reshape(n_sent, n, -1).transpose(1, 0, 2).reshape(n, -1)

    def _which(self, which):
        return list(range(self.n_views) if which is None else which)

    def reads_program_alone(self, which):
        """Whether the views ``which`` (None: all) are view 0 alone."""
        return self._which(which) == [0]

    def minibatch(self, ask, in_flight=1):
        """A :class:`~skbar.canvas.Canvases` for the minibatches sent to ``ask`` under view 0:
        one buffer, reused from candidate to candidate and step to step, unless the
        oracle keeps the arrays it is sent (:func:`~skbar.canvas.keeps_canvases`); in the
        oracle's own input convention where it takes one (``model_input``), and as
        samples and frames where it composes them itself (``composes_on_device``);
        ``in_flight`` buffers taken in turn (:class:`~skbar.oracles.InTurn`'s)."""
        return Canvases(self.program, fresh=keeps_canvases(ask), model_input=model_input_of(ask),
                        on_device=composes_on_device(ask), in_flight=in_flight)

    def program_columns(self, scores):
        """View 0's answers (under the learned program) among all views' ``scores``."""
        if self.n_views == 1:
            return scores  # every column (also a subset of rows that reads no columns)
        return scores[:, :scores.shape[1] // self.n_views]

    def program_head(self, head, program_scores, y, label_map, n_classes):
        """The head the search's objective reads view 0 through: a copy of ``head`` under
        one view; under several, a one-view head of its own, started on view 0's answers
        ``program_scores`` with ``label_map``, a callable of the model's class count
        returning the label map (chosen as the head's is)."""
        if self.n_views == 1:
            return copy.deepcopy(head)
        reader = clone(head)
        reader.start(program_scores, y, label_map(program_scores.shape[1]), n_classes)
        return reader

    def to_pay(self, fixed_known):
        """The views a pass over the training set must send: view 0 alone where the
        fixed views' answers of every sample are known already (``fixed_known``), else
        every view (None)."""
        return [0] if self.n_views > 1 and fixed_known else None

    def n_sent(self, which):
        """Images sent per sample by a pass over ``which`` views (None: all)."""
        return self.n_views if which is None else len(which)


def first_views(views):
    """The views a first pass reads before ``"auto"`` is decided (one)."""
    return 1 if views == "auto" else int(views)


def check_views(views, head):
    """Refuse several views for a head that does not read them (before any query)."""
    if views not in ("auto", 1) and not (head.learned and head.refit_final):
        raise ValueError(
            f"views={views} needs a learned head refitted on the final pass (the search "
            "reads one view; the head reads them all only there): use head='linear' with "
            "refit_final=True, or views=1.")


def resolve_n_views(views, *, top_k, refit_final, can_afford_more):
    """The number of views a fit reads, ``"auto"`` resolved.

    ``"auto"`` reads :data:`AUTO_VIEWS_TOP_K` where the first answers show that the model
    names only its top classes (``top_k``), the head is refitted on a final pass (the
    fixed views are read only there) and the budget allows the extra views
    (``can_afford_more``); else 1.
    """
    if views != "auto":
        return int(views)
    return AUTO_VIEWS_TOP_K if (top_k and refit_final and can_afford_more) else 1
