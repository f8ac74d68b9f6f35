"""Zeroth-order gradient estimators: gradients from loss values alone.

Every estimator here calls the loss ``f`` at a few points around ``w`` and never asks for
a true gradient. Each call of ``f`` costs one minibatch of oracle queries, and all the
calls of one estimate see the same minibatch, so their differences measure the program
and not the data.
"""

import numpy as np


def _unit_directions(q, d, distribution, rng):
    if distribution == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(q, d))
    u = rng.standard_normal((q, d))
    if distribution == "sphere":
        u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u


class RandomDirectionEstimator:
    """The random-direction estimate of Tsai et al. (2020), eq. (4), after AutoZOOM.

    ``g = (b / q) * sum_j (f(w + beta u_j) - f(w)) / beta * u_j``

    with ``u_j`` drawn uniformly from the unit sphere. With ``b = d`` (the default) the
    estimate is unbiased for the gradient of a smoothed ``f``; its cosine with the true
    gradient grows like ``sqrt(q / d)``.

    Parameters
    ----------
    q : int
        Number of random directions per estimate.
    beta : float
        Smoothing radius of the finite differences.
    b : float, optional
        Scaling of the estimate; ``d`` (the dimension) when None.
    distribution : {"sphere", "gaussian", "rademacher"}
        Unit directions on the sphere (the paper); standard Gaussian ones (for which
        the natural scaling is ``b = 1``; see Nesterov & Spokoiny 2017); or random
        signs, +-1 in every coordinate, the simultaneous perturbations of SPSA (Spall
        1992), also scaled by ``b = 1``.
    antithetic : bool
        Two-sided differences ``(f(w + beta u) - f(w - beta u)) / (2 beta)``: 2q
        evaluations instead of q + 1, with the even part of the error cancelled.
    """

    def __init__(self, q=25, beta=0.01, b=None, distribution="sphere", antithetic=False):
        if int(q) < 1:
            raise ValueError(f"q must be a positive integer, got {q!r}.")
        if not beta > 0:
            raise ValueError(f"beta (the smoothing radius) must be positive, got {beta!r}.")
        if distribution not in ("sphere", "gaussian", "rademacher"):
            raise ValueError("distribution must be 'sphere', 'gaussian' or 'rademacher', "
                             f"got {distribution!r}.")
        self.q = int(q)
        self.beta = float(beta)
        self.b = b
        self.distribution = distribution
        self.antithetic = bool(antithetic)

    def n_evaluations(self):
        """Calls of ``f`` per estimate: what one step costs, in minibatches."""
        return 2 * self.q if self.antithetic else self.q + 1

    def estimate(self, f, w, rng):
        """Return ``(g, f_w)``: the gradient estimate at ``w`` and the loss there.

        For antithetic estimates ``f_w`` is the mean of the evaluations around ``w``,
        which estimates ``f(w)`` to second order without spending a query on it.
        """
        d = w.size
        b = (d if self.distribution == "sphere" else 1.0) if self.b is None else self.b
        directions = _unit_directions(self.q, d, self.distribution, rng)
        flat = w.reshape(-1)
        g = np.zeros(d)
        if self.antithetic:
            values = []
            for u in directions:
                f_plus = f((flat + self.beta * u).reshape(w.shape))
                f_minus = f((flat - self.beta * u).reshape(w.shape))
                g += (f_plus - f_minus) / (2 * self.beta) * u
                values += [f_plus, f_minus]
            f_w = float(np.mean(values))
        else:
            f_w = f(w)
            for u in directions:
                g += (f((flat + self.beta * u).reshape(w.shape)) - f_w) / self.beta * u
        return (b / self.q) * g.reshape(w.shape), f_w
