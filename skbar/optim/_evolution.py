"""Evolution strategies: search the program by ranking candidates, without a gradient.

An evolution strategy spends its queries differently from a gradient estimate: each step
(a generation) draws a population of candidate programs around the current one, scores
every candidate on the same minibatch, and moves towards the better ones. Only the
ranking of the losses matters, so it is indifferent to the loss's scale.
"""

import warnings
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._state import StateError, read_field

from ._base import Optimizer


def _import_cma():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cma warns when matplotlib is missing
            import cma
    except ImportError as exc:
        raise ImportError(
            "optimizer='cma' needs the cma package (CMA-ES, Hansen): "
            "pip install 'skbar[es]' or pip install cma."
        ) from exc
    return cma


class CMAES(Optimizer):
    """CMA-ES (Hansen & Ostermeier 2001) from the ``cma`` package, on the program ``W``.

    The estimator's ``q`` is the population: ``q`` candidate programs per generation,
    each scored on the step's minibatch (cma's own default is ``4 + 3 ln d``). No
    gradient estimator is used.

    Parameters
    ----------
    sigma : float, default=0.1
        Initial step size: the spread of the first population around ``W``.

    Notes
    -----
    Candidates are drawn from the fit's random state, so a fit is reproducible. A
    checkpoint keeps the mean, the step size and the generation count; a resumed fit
    restarts the covariance from the identity.
    """

    _parameter_constraints = {"sigma": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, sigma=0.1):
        self.sigma = sigma

    def start(self, w, q, gradient, rng):
        super().start(w, q, gradient, rng)
        if q < 2:
            raise ValueError(f"CMA-ES ranks q candidates per generation and needs q >= 2, got q={q}.")
        self._es = None
        self._sigma0 = float(self.sigma)
        return self

    def n_evaluations(self, q, gradient):
        return q

    def ask(self):
        if self._es is None:
            # Started at the first step, so its draws follow the step's minibatch draw.
            self._es = self._new_es()
        self._candidates = self._es.ask()
        return [np.asarray(c).reshape(self.w_.shape) for c in self._candidates]

    def tell(self, losses):
        self._es.tell(self._candidates, list(losses))
        self.w_ = np.asarray(self._es.mean).reshape(self.w_.shape).copy()
        self.t_ += 1
        return float(np.mean(losses))

    def _new_es(self):
        cma = _import_cma()
        rng = self.rng_
        options = {"seed": np.nan, "verbose": -9, "verb_log": 0, "verb_disp": 0,
                   "randn": lambda n, d: rng.standard_normal((n, d)), "popsize": int(self.q_),
                   "tolx": 0, "tolfun": 0, "tolfunhist": 0, "tolstagnation": np.inf,
                   "maxiter": np.inf, "CMA_diagonal": self.w_.size > 1000}
        return cma.CMAEvolutionStrategy(self.w_.reshape(-1), self._sigma0, options)

    def get_state(self):
        sigma = self._sigma0 if self._es is None else float(self._es.sigma)
        return {"t": np.array(self.t_), "sigma": np.array(sigma)}

    def set_state(self, state):
        super().set_state(state)
        sigma = float(read_field(state, "sigma", shape=()))
        if not sigma > 0:
            raise StateError("sigma", f"must be a positive step size, got {sigma}")
        self._sigma0 = sigma
        self._es = None
