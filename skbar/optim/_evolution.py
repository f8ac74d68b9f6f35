"""Evolution strategies: search the program by ranking candidates, without a gradient.

An evolution strategy spends its queries differently from a gradient estimate: each step
(a generation) draws a population of candidate programs around the current one, scores
every candidate on the same minibatch, and moves towards the better ones. Only the
ranking of the losses matters, so it is indifferent to the loss's scale.
"""

import warnings

import numpy as np


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


class CMAES:
    """CMA-ES (Hansen & Ostermeier 2001) from the ``cma`` package, on the program ``W``.

    Parameters
    ----------
    sigma : float, default=0.1
        Initial step size: the spread of the first population around ``W``.
    population_size : int, default=None
        Candidates per generation; cma's default ``4 + 3 ln d`` when None.

    Notes
    -----
    Candidates are drawn from the fit's random state, so a fit is reproducible. A
    checkpoint keeps the mean, the step size and the generation count; a resumed fit
    restarts the covariance from the identity.
    """

    def __init__(self, sigma=0.1, population_size=None):
        if not sigma > 0:
            raise ValueError(f"sigma (CMA-ES's initial step size) must be positive, got {sigma!r}.")
        self.sigma = float(sigma)
        self.population_size = population_size
        self._es = None
        self._state = {}

    def _start(self, w, rng):
        cma = _import_cma()
        sigma = float(self._state.get("sigma", self.sigma))
        options = {"seed": np.nan, "verbose": -9, "verb_log": 0, "verb_disp": 0,
                   "randn": lambda n, d: rng.standard_normal((n, d)),
                   "tolx": 0, "tolfun": 0, "tolfunhist": 0, "tolstagnation": np.inf,
                   "maxiter": np.inf, "CMA_diagonal": w.size > 1000}
        if self.population_size is not None:
            options["popsize"] = int(self.population_size)
        self._es = cma.CMAEvolutionStrategy(w.reshape(-1), sigma, options)

    def n_evaluations(self, d):
        """Candidates per generation: what one step costs, in minibatches."""
        if self.population_size is not None:
            return int(self.population_size)
        return 4 + int(3 * np.log(d))

    def search_step(self, f, w, rng):
        """One generation: return ``(new_w, mean loss of the candidates)``."""
        if self._es is None:
            self._start(w, rng)
        candidates = self._es.ask()
        losses = [f(np.asarray(c).reshape(w.shape)) for c in candidates]
        self._es.tell(candidates, losses)
        return np.asarray(self._es.mean).reshape(w.shape).copy(), float(np.mean(losses))

    def get_state(self):
        if self._es is None:
            return dict(self._state)
        generation = int(self._state.get("generation", 0)) + self._es.countiter
        return {"sigma": np.array(self._es.sigma), "generation": np.array(generation)}

    def set_state(self, state):
        self._state = dict(state)
        self._es = None
