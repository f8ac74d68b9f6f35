"""The search loop of a fit: minibatches, the query budget, refits of the output mapping.

One step: draw a minibatch, ask the optimiser for its candidate programs, pay for the
oracle's answers on each (through the budgeted counter), tell the optimiser their
losses, and let the callbacks see the result. Everything a step needs is resolved by
the estimator before the loop starts; the loop knows nothing of which optimiser,
gradient estimator or output mapping it runs.
"""

import copy
import warnings

import numpy as np

from .callbacks import CheckpointSaver
from .oracles import BudgetExhausted, OracleError


#: The most training samples whose latest outputs a learned output mapping keeps for its
#: refits (``K`` float32 scores each: 200 MB at 50,000 x 1,000 classes): beyond it, a
#: fixed random subset of this many (see :class:`LatestOutputs`).
MAX_REFIT_SAMPLES = 50_000


class LatestOutputs:
    """The latest oracle output paid for on each training sample: refit data for free.

    Refits of the output mapping read one row per distinct sample, each from the most
    recent program it was queried under, so no row is counted twice and none is lost.

    Parameters
    ----------
    y : ndarray of shape (n,)
        The encoded labels of every training sample.
    initial : ndarray of shape (n, K), optional
        Outputs of every sample under ``program``, from one pass.
    program : ndarray, optional
    max_rows : int, optional
        Keep the outputs of at most this many samples: a fixed random subset (the same
        for a given ``n``, whatever the seed of the fit), so memory holds ``max_rows * K``
        float32 scores however large the training set. The refits and the final choice
        between the searched and the starting program (:func:`keep_better_program`)
        then read this subset only; the outputs of the other samples are paid for and
        used by the search, but not kept. None keeps every sample.

    Attributes
    ----------
    kept : ndarray of int
        The samples whose outputs are kept, in increasing order.
    scores : ndarray of shape (len(kept), K), float32, or None
    known : ndarray of shape (len(kept),) of bool
    """

    def __init__(self, y, initial=None, program=None, max_rows=None):
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
        self.scores = None if initial is None else np.asarray(initial, dtype=np.float32)[
            self.kept if len(self.kept) < n else slice(None)]
        self.known = np.full(len(self.kept), initial is not None)
        #: The program every row was taken under, when one pass covered them all.
        self.complete_under = None if initial is None else program

    @property
    def labels(self):
        """The labels of the kept samples, row for row with ``scores``."""
        return self.y[self.kept]

    def record(self, idx, scores, first_columns=False):
        """Keep ``scores`` as the latest outputs of samples ``idx``; with
        ``first_columns``, as the first columns of rows whose others stay (view 0's
        answers beside the fixed views' ones)."""
        rows = self._row[idx]
        keep = rows >= 0
        if first_columns:
            self.scores[rows[keep], :scores.shape[1]] = scores[keep]
        else:
            if self.scores is None:
                self.scores = np.zeros((len(self.kept), scores.shape[1]), dtype=np.float32)
            self.scores[rows[keep]] = scores[keep]
            self.known[rows[keep]] = True
        self.complete_under = None

    def copy(self):
        """A copy whose scores are its own (the outputs under the program so far)."""
        new = copy.copy(self)
        new.scores = None if self.scores is None else self.scores.copy()
        new.known = self.known.copy()
        return new

    def __bool__(self):
        return bool(self.known.any())


def holdout_correct(mapping, scores, y, n_splits=5):
    """Whether each sample is classified right by ``mapping`` refitted, by cross-validation,
    on the other samples' ``scores``: what it would score on samples it was not fitted on.
    The folds depend on ``y`` only, so two sets of outputs of the same samples are
    compared on the same folds. None with fewer than two samples of some class.
    """
    from sklearn.model_selection import StratifiedKFold

    n_splits = min(n_splits, int(np.bincount(y).min()))
    if n_splits < 2:
        return None
    correct = np.zeros(len(y), dtype=bool)
    for train, test in StratifiedKFold(n_splits, shuffle=True, random_state=0).split(scores, y):
        fold = copy.deepcopy(mapping)
        fold.refit(scores[train], y[train])
        correct[test] = np.argmax(fold.transform(scores[test]), axis=1) == y[test]
    return correct


def searched_is_better(before, after):
    """Whether ``after`` is right more often than ``before`` by more than one standard
    error of the paired difference (both boolean, sample by sample).

    With ``b`` samples only ``after`` gets right and ``w`` only ``before`` does, the mean
    difference ``(b - w) / n`` exceeds its standard error exactly when ``b > w`` and
    ``(b - w) ** 2 > b + w`` (McNemar's statistic above 1). Counted in integers, so a
    tie at one standard error (one sample better of a hundred, none worse) is not
    decided by rounding: it is not better.
    """
    b = int(np.sum(after & ~before))
    w = int(np.sum(before & ~after))
    return b > w and (b - w) ** 2 > b + w


def keep_better_program(est, mapping, start, seen):
    """Ship the searched program only where it reads better than the one the search
    started from.

    Both have been paid for on every training sample (``start`` holds the outputs under
    the starting program, ``seen`` those under the final one). The output mapping is
    cross-validated on each, on the same folds, and the searched program is kept only
    where its accuracy is higher by more than one standard error of the paired
    difference: a search that only looks better by chance is not worth shipping, and
    the program it started from (the grey frame: the black-box linear probe) is never
    worse than itself. Sets ``est.search_check_``.
    """
    labels = seen.labels
    before = holdout_correct(mapping, start.scores, labels)
    after = holdout_correct(mapping, seen.scores, labels)
    if before is None or after is None:
        return
    gain = after.astype(float) - before
    margin = float(np.std(gain, ddof=1) / np.sqrt(len(gain)))
    kept = "searched" if searched_is_better(before, after) else "start"
    est.search_check_ = {"start_accuracy": float(before.mean()),
                         "searched_accuracy": float(after.mean()),
                         "margin": margin, "kept": kept}
    if kept == "start":
        est.program_ = start.complete_under
        seen.scores, seen.complete_under = start.scores, start.complete_under


def final_pass_views(est, seen, n):
    """The views a final pass over ``n`` training samples pays for: view 0 alone where
    ``seen`` holds every sample's answers under the fixed views (they do not change as
    the program is learned), else all of them (None)."""
    if (est.n_views_ > 1 and seen.scores is not None and len(seen.kept) == n
            and seen.known.all() and seen.scores.shape[1] == est.n_source_classes_):
        return [0]
    return None


def refit_output_mapping(mapping, seen):
    """Refit ``mapping`` on the latest outputs in ``seen`` (needs two classes among them)."""
    labels = seen.labels[seen.known]
    if np.unique(labels).size >= 2:
        mapping.refit(seen.scores[seen.known], labels, seen.kept[seen.known])


def run_search(est, *, counter, program, samples, y, loss_fn, seen, search_seen, rng,
               callbacks):
    """Train ``est.program_`` for up to ``est.max_iter`` steps; set what a fit reports.

    Parameters
    ----------
    est : BlackBoxReprogrammingClassifier
        Resolved: ``optimizer_`` started at ``program_``, ``output_mapping_`` started.
    counter : skbar.oracles.QueryCounter
        Every query goes through it: it holds the budget.
    program : skbar.program.Program
    samples : skbar._samples.Samples
        The training samples, each prepared to embed when a minibatch takes it.
    y : ndarray of shape (n,)
        Encoded labels.
    loss_fn : callable
        ``loss_fn(proba, y)``.
    seen : LatestOutputs
        The refit data of a learned output mapping.
    search_seen : LatestOutputs
        Those of ``est.search_mapping_``, the mapping the search's loss reads: ``seen``
        itself, unless the output mapping reads several views and the search one.
    rng : numpy.random.RandomState
    callbacks : list of skbar.callbacks.Callback
    """
    optimizer, mapping, search = est.optimizer_, est.output_mapping_, est.search_mapping_
    n = len(samples)
    batch = min(est.batch_size, n)
    # Every evaluation sends each sample of the minibatch once, under the program itself.
    step_cost = optimizer.n_evaluations(est.q, est.gradient_) * batch
    # Queries kept back for the final pass over the training set: under the program
    # alone, where the fixed views' answers are known already.
    final_views = final_pass_views(est, seen, n)
    reserve = 0
    if mapping.learned and mapping.refit_final:
        reserve = n * (est.n_views_ if final_views is None else len(final_views))
    est.stop_reason_ = "max_iter"
    first_step = est.n_iter_
    # The outputs under the starting program, when one pass covered every sample (the
    # initial outputs of a new fit): the search must beat them to be kept.
    start, est.search_check_ = None, None
    if reserve and seen.complete_under is not None and np.array_equal(
            seen.complete_under, est.program_):
        start = seen.copy()
        start.complete_under = np.array(est.program_, copy=True)
    # Kept for refit_output_mapping, which ends a stopped fit as this one ends (not pickled).
    est._start_outputs = start

    def evaluate(candidates, idx):
        batch_samples = samples.take(idx)  # read and prepared once, for every candidate
        losses = []
        for k, w_trial in enumerate(candidates):
            scores = program.answers(counter, program.frame(w_trial), batch_samples)
            if k == 0 and search.learned:
                # The step's first outputs, at or near the current program: free data
                # for refitting the search's mapping (one evaluation a step).
                search_seen.record(idx, scores)
            losses.append(loss_fn(search.objective_proba(scores, idx), y[idx]))
        return losses

    try:
        for _ in range(est.max_iter):
            if not counter.can_afford(step_cost + reserve):
                est.stop_reason_ = "max_queries"
                break
            idx = rng.choice(n, size=batch, replace=False)
            loss = optimizer.tell(evaluate(optimizer.ask(), idx))
            est.program_ = optimizer.w_
            est.n_iter_ += 1
            if search.learned and est.n_iter_ % search.refit_every == 0:
                refit_output_mapping(search, search_seen)
                est.label_map_ = mapping.label_map_
            est.loss_curve_.append(loss)
            est.n_queries_ = counter.n_queries
            info = {"n_iter": est.n_iter_, "loss": loss, "n_queries": est.n_queries_}
            # Every callback sees every step (a progress bar after a stopping one too).
            if any([bool(callback.on_step_end(est, info)) for callback in callbacks]):
                est.stop_reason_ = "callback"
                break
        if mapping.learned:
            moved = est.n_iter_ > first_step  # else the outputs are those of w already
            if reserve and moved and counter.can_afford(reserve):
                # The mapping must read the outputs of the program it is shipped with.
                for idx, scores in est._answer_chunks(program, samples, counter, final_views):
                    seen.record(idx, scores, first_columns=final_views is not None)
                seen.complete_under = np.array(est.program_, copy=True)
                if start is not None:
                    keep_better_program(est, mapping, start, seen)
                if search_seen is not seen:
                    # The shipped program's own answers (view 0), for the search's refits
                    # when a warm start goes on.
                    view = seen.scores.shape[1] // est.n_views_
                    search_seen.record(seen.kept, seen.scores[:, :view])
            if seen:
                refit_output_mapping(mapping, seen)
                est.label_map_ = mapping.label_map_
    except BudgetExhausted as exc:
        # An oracle that retries can run into the budget mid-step: the step is lost,
        # the program before it is kept.
        est.stop_reason_ = "max_queries"
        warnings.warn(f"The fit stopped at the query budget: {exc}", RuntimeWarning)
    except KeyboardInterrupt:
        est.stop_reason_ = "interrupted"
        warnings.warn(
            f"The fit was interrupted after {est.n_iter_} steps and {counter.n_queries} "
            "queries; the program learned so far is kept (fit again with "
            "warm_start=True to continue).", RuntimeWarning)
        # Ctrl-C is the user's, not the fit's: once the program is kept and the
        # checkpoint saved (below), it goes on to stop the caller's loop too.
        raise
    except OracleError as exc:
        est.stop_reason_ = "oracle_error"
        saved = [c.path for c in callbacks if isinstance(c, CheckpointSaver)]
        raise OracleError(
            f"{str(exc).rstrip('.')}. The fit stopped after {est.n_iter_} steps and "
            f"{counter.n_queries} queries; the program learned so far is kept on the estimator"
            + "".join(f" and in {str(path)!r}" for path in saved)
            + " (fit again with warm_start=True to continue)."
        ) from exc
    except Exception:
        # A callback raised, or a checkpoint could not be written.
        est.stop_reason_ = "error"
        raise
    finally:
        est.n_queries_ = counter.n_queries
        info = {"n_iter": est.n_iter_, "n_queries": est.n_queries_,
                "loss": est.loss_curve_[-1] if est.loss_curve_ else float("nan")}
        for callback in callbacks:
            callback.on_fit_end(est, info)
