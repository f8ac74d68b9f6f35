"""The one protocol every search of the program speaks: ask, pay, tell.

A fit's search loop (:mod:`skbar.fit`) does not know how a program is improved. It
asks the optimiser for the candidate programs of the next step, pays for the loss of
each on one minibatch, and tells the optimiser those losses, which then moves its
current program ``w_`` (the ask/tell interface of pycma and scikit-optimize). A
first-order rule gets its candidates from a zeroth-order gradient estimator; an
evolution strategy draws its own.
"""

import numpy as np
from sklearn.base import BaseEstimator

from .._state import StateError, read_field


class Optimizer(BaseEstimator):
    """Base class of the optimisers: :meth:`start`, then :meth:`ask` / :meth:`tell` per step.

    Subclasses keep their state in attributes ending in ``_`` and in a dict of arrays
    (:meth:`get_state` / :meth:`set_state`), so a fit can be checkpointed to a plain
    ``.npz`` file and resumed exactly.
    """

    _parameter_constraints = {}

    def start(self, w, q, gradient, rng):
        """Begin a search at ``w``.

        Parameters
        ----------
        w : ndarray
            The program ``W`` to start from.
        q : int
            The estimator's ``q``: directions per gradient estimate, or candidates per
            generation of an evolution strategy.
        gradient : object
            The zeroth-order gradient estimator (``perturb`` / ``estimate``), for the
            optimisers that step on a gradient.
        rng : numpy.random.RandomState
            The fit's random stream: every random draw of the search comes from it.
        """
        self._validate_params()
        self.w_ = np.asarray(w, dtype=float)
        self.q_, self.gradient_, self.rng_ = q, gradient, rng
        self.t_ = 0
        return self

    def n_evaluations(self, q, gradient):
        """Losses asked for per step: what a step costs, in minibatches."""
        raise NotImplementedError

    def ask(self):
        """The candidate programs whose losses the next step needs (a list of arrays)."""
        raise NotImplementedError

    def tell(self, losses):
        """Take the losses of the candidates of :meth:`ask`, in order; update ``w_``.

        Returns
        -------
        loss : float
            The step's estimate of the loss near the program before the step.
        """
        raise NotImplementedError

    def get_state(self):
        """The search state beyond ``w_``, as a dict of arrays."""
        return {"t": np.array(self.t_)}

    def set_state(self, state):
        """Continue from :meth:`get_state`'s dict (after :meth:`start` at the saved ``w``).

        Raises
        ------
        skbar._state.StateError
            Naming the field that is missing or does not fit this optimiser.
        """
        t = read_field(state, "t", kinds="iu", shape=())
        if int(t) < 0:
            raise StateError("t", f"must be >= 0, got {int(t)}")
        self.t_ = int(t)

    def _read_like_w(self, state, field):
        """``state[field]``, which must have the program's shape."""
        return np.array(read_field(state, field, shape=self.w_.shape), dtype=float)


class GradientDescent(Optimizer):
    """A first-order update rule fed with zeroth-order gradient estimates.

    Each step estimates the gradient at :meth:`lookahead` (``w`` itself unless the
    rule looks ahead) from the gradient estimator's candidates, then applies
    :meth:`update`. Subclasses define :meth:`update`.
    """

    def n_evaluations(self, q, gradient):
        return gradient.n_evaluations(q)

    def lookahead(self, w):
        """The point the next gradient is estimated at."""
        return w

    def ask(self):
        at = self.lookahead(self.w_)
        points, self._directions = self.gradient_.perturb(at, self.q_, self.rng_)
        return points

    def tell(self, losses):
        g, f_w = self.gradient_.estimate(losses, self._directions, self.w_.shape)
        self.w_ = self.update(self.w_, g)
        self.t_ += 1
        return f_w

    def update(self, w, g):
        """The new ``w`` from the gradient estimate ``g`` at step ``t_`` (before it counts)."""
        raise NotImplementedError
