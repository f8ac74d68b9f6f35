"""Warm starts and checkpoints of the estimator: what a fit continues from, and its state.

A fit continues from a callback's file (:class:`~skbar.callbacks.LoadInitState`, or a
:class:`~skbar.callbacks.CheckpointSaver` under ``warm_start``), checked whole before any
query, or, with ``warm_start``, from the estimator's last fit in this process. Either
way it goes through :meth:`ResumableMixin.get_fit_state`'s dict: each part restores and
checks its own fields.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..canvas import Views
from ..heads import Objective
from ._cache import AnswerCache
from ._checkpoint import CheckpointError, check_resume, restore_part, with_parts
from ._start import clone_one_view


class ResumableMixin:
    """The state of a fit, saved and restored (mixed into the estimator)."""

    def _initial_state(self, callbacks, X, y, classes, oracle, parts):
        """What the fit continues from: a callback's file (checked whole first), or, with
        ``warm_start``, this estimator's last fit in this process; None to start afresh."""
        for callback in callbacks:
            found = callback.initial_state(self)
            if found is not None:
                path, state = found
                check_resume(state, path, self, X, y, classes, oracle,
                             {"head": parts.head, "optimizer": parts.optimizer}, parts.views)
                self._state_path = path
                return state
        if not (self.warm_start and self.__sklearn_is_fitted__()):
            return None
        state = self.get_fit_state()
        self._state_path = "the estimator's last fit"
        if not np.array_equal(np.asarray(state["classes"]), classes.astype(str)):
            raise ValueError(
                f"warm_start: the classes of y {classes.tolist()} differ from those the program "
                f"was trained for {np.asarray(state['classes']).tolist()}.")
        # The parts and the oracle as a file's are (a warm start may read new data).
        check_resume(state, self._state_path, self, X, y, classes, oracle,
                     {"head": parts.head, "optimizer": parts.optimizer}, parts.views,
                     same_data=False)
        return state

    def _forget(self, keep_cache):
        """Drop what an earlier fit learned (a new fit starts afresh); with ``keep_cache``,
        keep the answers an interrupted first pass paid for."""
        for name in ("head_", "objective_", "optimizer_", "program_", "search_check_"):
            self.__dict__.pop(name, None)
        if not keep_cache:
            self.__dict__.pop("_cache", None)

    def get_fit_state(self):
        """Everything the fit has paid for, as a dict of plain arrays (a checkpoint's content).

        The program, the head, the objective, the optimiser's state, the random stream,
        the query count and the data range: :class:`~skbar.callbacks.CheckpointSaver`
        writes it, and a warm start continues from it bit for bit. Each part saves its
        own fields under its name (``head_coef``, ``optimizer_t``, ...).
        """
        check_is_fitted(self)
        kind, keys, pos, has_gauss, cached = self._rng.get_state()
        core = {
            "program": self.program_, "label_map": self.label_map_,
            "classes": np.asarray(self.classes_).astype(str),
            "n_queries": self.n_queries_, "n_iter": self.n_iter_, "q": self.q_,
            "loss_curve": np.asarray(self.loss_curve_, dtype=float),
            "n_source_classes": self.n_source_classes_, "n_views": self.n_views_,
            "data_min": self.data_min_, "data_max": self.data_max_,
            "rng_keys": keys, "rng_pos": pos, "rng_has_gauss": has_gauss, "rng_cached": cached,
            # What ties the file to its fit, compared on resume (skbar.fit.check_resume).
            "head": type(self.head_).__name__, "optimizer": type(self.optimizer_).__name__,
            "canvas_shape": self.canvas_shape_,
            "data_fingerprint": getattr(self, "_data_fingerprint", ""),
        }
        return with_parts(core, {"head": self.head_, "objective": self.objective_,
                                 "optimizer": self.optimizer_})

    def _restore(self, state, fit):
        """Continue from ``state`` (checked already): every part restores its own fields."""
        path, program = self._state_path, fit.program
        if tuple(state["program"].shape) != program.w_shape:
            raise CheckpointError(
                f"The checkpoint {str(path)!r}: field 'program' has shape "
                f"{tuple(state['program'].shape)}, this estimator's has {program.w_shape}; "
                "program_shape or the oracle changed.")
        self.program_ = np.array(state["program"], dtype=float)
        self.n_source_classes_, self.n_views_ = (int(state["n_source_classes"]),
                                                 int(state["n_views"]))
        self.n_scores_ = self.n_source_classes_ * self.n_views_
        head = fit.parts.head
        head.label_map_ = self.label_map_ = np.array(state["label_map"], dtype=np.intp)
        head.n_classes_ = self.classes_.size
        restore_part(head, state, "head", path, self.n_scores_)
        reader = clone_one_view(head)
        reader.n_classes_ = self.classes_.size
        objective = Objective("fitted", reader)
        restore_part(objective, state, "objective", path, self.n_source_classes_)
        self.head_, self.objective_ = head, objective
        self.n_queries_, self.n_iter_ = int(state["n_queries"]), int(state["n_iter"])
        self.loss_curve_ = [float(v) for v in state["loss_curve"]]
        fit.counter.n_queries = self.n_queries_
        fit.rng.set_state(("MT19937", np.asarray(state["rng_keys"], dtype=np.uint32),
                           int(state["rng_pos"]), int(state["rng_has_gauss"]),
                           float(state["rng_cached"])))
        self.q_ = int(state["q"]) if "q" in state else (5 if self.q == "auto" else self.q)
        self.optimizer_ = fit.parts.optimizer.start(self.program_, self.q_, fit.parts.gradient,
                                                    fit.rng)
        restore_part(self.optimizer_, state, "optimizer", path)
        self._rng = fit.rng
        cache = getattr(self, "_cache", None)
        if cache is None or not cache.fits(fit.y, self.n_scores_):
            self._cache = AnswerCache(fit.y, self.n_scores_)
        self._views = Views(program, self.n_views_)

    def __getstate__(self):
        # The cache of answers is for a warm start in this process: it can be large (a
        # row of scores per training sample), so pickles and clones leave it out.
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its own
        for name in ("_cache", "_views", "_state_path"):
            state.pop(name, None)
        return state

