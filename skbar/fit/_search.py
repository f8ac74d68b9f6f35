"""The search: steps of ask, pay, tell, until the budget, the steps or a callback end it.

One step draws a minibatch, asks the optimiser for its candidate programs, pays for the
oracle's answers on each under the program's own view (through the budgeted counter),
tells the optimiser their losses, and reports the step. The loop knows nothing of which
optimiser, gradient estimator, head or objective it runs, and nothing of the estimator:
it takes the parts and returns a :class:`SearchResult`, which ``fit`` assigns.
"""

import contextlib
import warnings
from dataclasses import dataclass, field

from ..oracles import BudgetExhausted, InTurn, OracleError


@dataclass
class SearchResult:
    """What a search returns.

    Attributes
    ----------
    w : ndarray
        Where the search ended (the optimiser's ``w_``).
    losses : list of float
        The minibatch loss of each step taken, before the step.
    stop_reason : str
        ``"max_iter"``, ``"max_queries"`` or ``"callback"``.
    """

    w: object
    losses: list = field(default_factory=list)
    stop_reason: str = "max_iter"

    @property
    def n_steps(self):
        return len(self.losses)


@dataclass
class SearchSetup:
    """The parts a search runs, resolved by ``fit`` before anything is paid for."""

    optimizer: object
    objective: object
    views: object
    samples: object
    y: object
    loss_fn: object
    counter: object
    cache: object
    rng: object
    max_iter: int
    batch_size: int
    q: int
    gradient: object
    #: Queries held back for the final pass.
    reserve: int = 0
    #: Steps taken by earlier (warm-started) fits: refits fall every ``refit_every``
    #: steps counted from the first fit.
    n_iter_before: int = 0


def run_search(setup, on_step):
    """Take up to ``setup.max_iter`` steps from the optimiser's current program.

    Parameters
    ----------
    setup : SearchSetup
    on_step : callable
        ``on_step(result)`` after every step, with the result so far; returning True
        stops the search (``stop_reason == "callback"``).

    Returns
    -------
    SearchResult
        Also where an exception stops the search midway: it is attached to the exception
        as ``exc.search_result``, so that ``fit`` keeps what was learned before it.
    """
    s = setup
    optimizer, objective, program = s.optimizer, s.objective, s.views.program
    n = len(s.samples)
    batch = min(s.batch_size, n)
    step_cost = optimizer.n_evaluations(s.q, s.gradient) * batch
    result = SearchResult(w=optimizer.w_)

    # Where the oracle answers in a worker thread, the next candidate's canvases are
    # composed, and the last answers read, while it answers one (InTurn).
    with InTurn(s.counter) as in_turn:
        # Buffers of canvases for the whole search: each step writes its samples into
        # them once, each candidate its frame alone.
        canvases = s.views.minibatch(s.counter, in_turn.in_flight)

        def evaluate(candidates, idx, refit_first):
            canvases.load(s.samples.take(idx))  # read and prepared once, for every candidate
            sent = (s.views.compose(program.frame(w_trial), canvases, [0])
                    for w_trial in candidates)
            losses = []
            for k, scores in enumerate(in_turn.answers(sent)):
                if k == 0 and objective.learned:
                    if refit_first:
                        # The refit the steps before call for, on their answers: the
                        # first loss needs it, the queries do not, so it runs while the
                        # oracle answers the step's second candidate.
                        refit_on_cache(objective, s.cache, s.views)
                    # The step's first answers, at or near the current program: free data
                    # for the refits (one evaluation a step), in view 0's columns.
                    s.cache.record(idx, scores)
                losses.append(s.loss_fn(objective.proba(scores, idx), s.y[idx]))
            return losses

        try:
            for _ in range(s.max_iter):
                if not s.counter.can_afford(step_cost + s.reserve):
                    result.stop_reason = "max_queries"
                    break
                idx = s.rng.choice(n, size=batch, replace=False)
                # The objective is refitted every `refit_every` steps counted from the
                # first fit, at the start of the step after.
                done = s.n_iter_before + result.n_steps
                refit = objective.learned and done > 0 and done % objective.refit_every == 0
                result.losses.append(optimizer.tell(evaluate(optimizer.ask(), idx, refit)))
                result.w = optimizer.w_
                if on_step(result):
                    result.stop_reason = "callback"
                    break
        except BaseException as exc:
            exc.search_result = result
            raise
    return result


def refit_on_cache(part, cache, views=None, known=None):
    """Refit ``part`` (a head, or an objective with ``views``: view 0's columns) on the
    latest answers in ``cache`` (``known``: its :meth:`~AnswerCache.rows_for`, where the
    caller has them already); needs two classes among them."""
    scores, labels, idx = cache.rows_for(part) if known is None else known
    if views is not None:
        scores = views.program_columns(scores)
    if len(labels) and len(set(labels.tolist())) >= 2:
        part.refit(scores, labels, idx)


@contextlib.contextmanager
def stop_reasons(estimator, counter, checkpoint_paths):
    """Turn what stops a fit into ``estimator.stop_reason_``, keeping what was paid for.

    Running out of budget mid-step stops the fit with a warning; Ctrl-C stops it and is
    raised again (it is the user's, and stops the caller's loop too); an oracle failure
    is raised again saying what was kept and where; anything else (a callback raised, a
    checkpoint could not be written) is ``"error"``.
    """
    try:
        yield
    except BudgetExhausted as exc:
        # An oracle that retries can run into the budget mid-step: the step is lost,
        # the program before it is kept.
        estimator.stop_reason_ = "max_queries"
        warnings.warn(f"The fit stopped at the query budget: {exc}", RuntimeWarning)
    except KeyboardInterrupt:
        estimator.stop_reason_ = "interrupted"
        warnings.warn(
            f"The fit was interrupted after {getattr(estimator, 'n_iter_', 0)} steps and "
            f"{counter.n_queries} queries; what it paid for is kept (fit again with "
            "warm_start=True to continue).", RuntimeWarning)
        raise
    except OracleError as exc:
        estimator.stop_reason_ = "oracle_error"
        raise OracleError(
            f"{str(exc).rstrip('.')}. The fit stopped after {getattr(estimator, 'n_iter_', 0)} "
            f"steps and "
            f"{counter.n_queries} queries; what it paid for is kept on the estimator"
            + "".join(f" and in {str(path)!r}" for path in checkpoint_paths)
            + " (fit again with warm_start=True to continue)."
        ) from exc
    except Exception:
        estimator.stop_reason_ = "error"
        raise
    finally:
        estimator.n_queries_ = counter.n_queries
