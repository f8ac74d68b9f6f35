"""Zeroth-order gradient estimators: gradients from loss values alone.

An estimator never asks for a true gradient. It proposes points around ``w``
(:meth:`perturb`), the search loop pays for the loss at each of them on one minibatch,
and the estimator turns those values into a gradient (:meth:`estimate`). Every point
costs one minibatch of oracle queries, and all the points of one estimate see the same
minibatch, so their differences measure the program and not the data.

The number of directions ``q`` is the estimator's parameter of the
:class:`~skbar.BlackBoxReprogrammingClassifier` (so that a grid over ``q`` reaches it);
the objects here hold how each direction is drawn and differenced.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions, validate_params


class RandomDirections(BaseEstimator):
    """The random-direction estimate of Tsai et al. (2020), eq. (4), after AutoZOOM.

    ``g = (b / q) * sum_j (f(w + beta u_j) - f(w)) / beta * u_j``

    with ``u_j`` drawn uniformly from the unit sphere. With ``b = d`` (the default) the
    estimate is unbiased for the gradient of a smoothed ``f``; its cosine with the true
    gradient grows like ``sqrt(q / d)``.

    Parameters
    ----------
    beta : float, default=0.01
        Smoothing radius of the finite differences: ``w`` moves by ``beta`` as a whole.
    b : float, default=None
        Scaling of the estimate; ``d`` (the dimension) on the sphere, 1 for Gaussian
        directions, when None.
    distribution : {"sphere", "gaussian"}, default="sphere"
        Unit directions on the sphere (the paper), or standard Gaussian ones (for which
        the natural scaling is ``b = 1``; Nesterov & Spokoiny 2017).
    antithetic : bool, default=False
        Two-sided differences ``(f(w + beta u) - f(w - beta u)) / (2 beta)``: ``2 q``
        evaluations instead of ``q + 1``, with the even part of the error cancelled.
        The paper's are one-sided.

    See Also
    --------
    SPSA : Random signs in every coordinate.
    """

    _parameter_constraints = {
        "beta": [Interval(Real, 0, None, closed="neither")],
        "b": [Interval(Real, 0, None, closed="neither"), None],
        "distribution": [StrOptions({"sphere", "gaussian"})],
        "antithetic": ["boolean"],
    }

    def __init__(self, beta=0.01, b=None, distribution="sphere", antithetic=False):
        self.beta = beta
        self.b = b
        self.distribution = distribution
        self.antithetic = antithetic

    def n_evaluations(self, q):
        """Losses one estimate with ``q`` directions needs: what a step costs, in minibatches."""
        return 2 * q if self.antithetic else q + 1

    def perturb(self, w, q, rng):
        """The points to evaluate the loss at, and the directions they were drawn along.

        Returns
        -------
        points : list of ndarray
            Of ``w``'s shape: ``w`` then ``w + beta u_j`` (one-sided), or
            ``w + beta u_j, w - beta u_j`` for each ``j`` (antithetic).
        directions : ndarray of shape (q, d)
        """
        self._validate_params()
        directions = self._directions(q, w.size, rng)
        flat = w.reshape(-1)
        points = [] if self.antithetic else [w]
        for u in directions:
            points.append((flat + self.beta * u).reshape(w.shape))
            if self.antithetic:
                points.append((flat - self.beta * u).reshape(w.shape))
        return points, directions

    def estimate(self, losses, directions, shape):
        """Return ``(g, f_w)``: the gradient estimate and the loss near ``w``.

        ``losses`` are the loss values at the points of :meth:`perturb`, in its order.
        For antithetic estimates ``f_w`` is the mean of the evaluations around ``w``,
        which estimates ``f(w)`` to second order without spending a query on it.
        """
        q, d = directions.shape
        g = np.zeros(d)
        if self.antithetic:
            for u, f_plus, f_minus in zip(directions, losses[0::2], losses[1::2]):
                g += (f_plus - f_minus) / (2 * self.beta) * u
            f_w = float(np.mean(losses))
        else:
            f_w = losses[0]
            for u, f_u in zip(directions, losses[1:]):
                g += (f_u - f_w) / self.beta * u
        return (self._scaling(d) / q) * g.reshape(shape), f_w

    def _directions(self, q, d, rng):
        u = rng.standard_normal((q, d))
        if self.distribution == "sphere":
            u /= np.linalg.norm(u, axis=1, keepdims=True)
        return u

    def _scaling(self, d):
        if self.b is not None:
            return self.b
        return d if self.distribution == "sphere" else 1.0


class SPSA(RandomDirections):
    """Simultaneous perturbation (Spall 1992): random signs, +-1 in every coordinate.

    ``g = (1 / q) * sum_j (f(w + beta u_j) - f(w - beta u_j)) / (2 beta) * u_j``,
    ``u_j`` in ``{-1, +1}^d``: BlackVIP's estimator (Oh et al., CVPR 2023). Each
    coordinate of ``w`` moves by ``beta``; the estimate is unbiased with ``b = 1``.

    Parameters
    ----------
    beta : float, default=0.01
        Perturbation of each coordinate of ``w``.
    b : float, default=None
        Scaling of the estimate; 1 when None.
    antithetic : bool, default=True
        Two-sided differences (``2 q`` evaluations); one-sided ones cost ``q + 1``.
    """

    _parameter_constraints = {
        "beta": [Interval(Real, 0, None, closed="neither")],
        "b": [Interval(Real, 0, None, closed="neither"), None],
        "antithetic": ["boolean"],
    }

    def __init__(self, beta=0.01, b=None, antithetic=True):
        self.beta = beta
        self.b = b
        self.antithetic = antithetic

    def _directions(self, q, d, rng):
        return rng.choice(np.array([-1.0, 1.0]), size=(q, d))

    def _scaling(self, d):
        return 1.0 if self.b is None else self.b


@validate_params({"q": [Interval(Integral, 1, None, closed="left")]},
                 prefer_skip_nested_validation=True)
def estimate_gradient(f, w, q, gradient, rng):
    """Estimate the gradient of ``f`` at ``w`` from ``q`` directions: ``(g, f_w)``.

    A convenience for using an estimator on its own, outside a fit: it evaluates
    ``f`` at every point of ``gradient.perturb`` and returns ``gradient.estimate``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.optim import SPSA, estimate_gradient
    >>> f = lambda w: float(np.sum(w ** 2))
    >>> w = np.ones(3)
    >>> g, f_w = estimate_gradient(f, w, 2000, SPSA(), np.random.RandomState(0))
    >>> bool(np.allclose(g, 2 * w, atol=0.3)), round(f_w, 4)  # the true gradient is 2 w
    (True, 3.0003)
    """
    points, directions = gradient.perturb(w, q, rng)
    return gradient.estimate([f(p) for p in points], directions, w.shape)
