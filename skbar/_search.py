"""The search loop of a fit: minibatches, the query budget, refits of the output mapping.

One step: draw a minibatch, ask the optimiser for its candidate programs, pay for the
oracle's answers on each (through the budgeted counter), tell the optimiser their
losses, and let the callbacks see the result. Everything a step needs is resolved by
the estimator before the loop starts; the loop knows nothing of which optimiser,
gradient estimator or output mapping it runs.
"""

import warnings

import numpy as np

from .callbacks import CheckpointSaver
from .oracles import BudgetExhausted, OracleError


class LatestOutputs:
    """The latest oracle output paid for on each training sample: refit data for free.

    Refits of the output mapping read one row per distinct sample, each from the most
    recent program it was queried under, so no row is counted twice and none is lost.
    """

    def __init__(self, y, initial=None):
        self.y = y
        self.scores = None if initial is None else np.asarray(initial, dtype=np.float32)
        self.known = np.full(len(y), initial is not None)

    def record(self, idx, scores):
        if self.scores is None:
            self.scores = np.zeros((len(self.y), scores.shape[1]), dtype=np.float32)
        self.scores[idx] = scores
        self.known[idx] = True

    def __bool__(self):
        return bool(self.known.any())


def refit_output_mapping(mapping, seen):
    """Refit ``mapping`` on the latest outputs in ``seen`` (needs two classes among them)."""
    labels = seen.y[seen.known]
    if np.unique(labels).size >= 2:
        mapping.refit(seen.scores[seen.known], labels)


def run_search(est, *, counter, program, samples, y, loss_fn, seen, rng, callbacks):
    """Train ``est.program_`` for up to ``est.max_iter`` steps; set what a fit reports.

    Parameters
    ----------
    est : BlackBoxReprogrammingClassifier
        Resolved: ``optimizer_`` started at ``program_``, ``output_mapping_`` started.
    counter : skbar.oracles.QueryCounter
        Every query goes through it: it holds the budget.
    program : skbar.program.Program
    samples : ndarray of shape (n, h, w, C)
        The training samples, ready to embed.
    y : ndarray of shape (n,)
        Encoded labels.
    loss_fn : callable
        ``loss_fn(proba, y)``.
    seen : LatestOutputs
        The refit data of a learned output mapping.
    rng : numpy.random.RandomState
    callbacks : list of skbar.callbacks.Callback
    """
    optimizer, mapping = est.optimizer_, est.output_mapping_
    n = samples.shape[0]
    batch = min(est.batch_size, n)
    step_cost = optimizer.n_evaluations(est.q, est.gradient_) * batch
    # Queries kept back for the final pass over the training set.
    reserve = n if mapping.learned and mapping.refit_final else 0
    est.stop_reason_ = "max_iter"
    first_step = est.n_iter_

    def evaluate(candidates, idx):
        losses = []
        for k, w_trial in enumerate(candidates):
            scores = counter(program.compose(program.frame(w_trial), samples[idx]))
            if k == 0 and mapping.learned:
                # The step's first outputs, at or near the current program: free data
                # for refitting the output mapping (one evaluation a step).
                seen.record(idx, scores)
            losses.append(loss_fn(mapping.transform(scores), y[idx]))
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
            if mapping.learned and est.n_iter_ % mapping.refit_every == 0:
                refit_output_mapping(mapping, seen)
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
                for idx, canvases in est._canvas_chunks(program, samples):
                    seen.record(idx, counter(canvases))
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
    except OracleError as exc:
        est.stop_reason_ = "oracle_error"
        saved = [c.path for c in callbacks if isinstance(c, CheckpointSaver)]
        raise OracleError(
            f"{str(exc).rstrip('.')}. The fit stopped after {est.n_iter_} steps and "
            f"{counter.n_queries} queries; the program learned so far is kept on the estimator"
            + "".join(f" and in {str(path)!r}" for path in saved)
            + " (fit again with warm_start=True to continue)."
        ) from exc
    finally:
        est.n_queries_ = counter.n_queries
        info = {"n_iter": est.n_iter_, "n_queries": est.n_queries_,
                "loss": est.loss_curve_[-1] if est.loss_curve_ else float("nan")}
        for callback in callbacks:
            callback.on_fit_end(est, info)
