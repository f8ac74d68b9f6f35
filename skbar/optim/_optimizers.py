"""First-order update rules fed with zeroth-order gradient estimates."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ._base import GradientDescent

_POSITIVE = [Interval(Real, 0, None, closed="neither")]
_NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]


class SGD(GradientDescent):
    """``w <- w - alpha_t g`` with ``alpha_t = learning_rate / (1 + decay * t)``.

    The update of Tsai et al. (2020), Algorithm 1 (``W_{t+1} = W_t - alpha_t g``).

    Parameters
    ----------
    learning_rate : float, default=0.05
        Step size ``alpha`` (the paper's ``eta``).
    decay : float, default=0.0
        Inverse-time decay of the step size.
    """

    _parameter_constraints = {"learning_rate": _POSITIVE, "decay": _NON_NEGATIVE}

    def __init__(self, learning_rate=0.05, decay=0.0):
        self.learning_rate = learning_rate
        self.decay = decay

    def update(self, w, g):
        return w - self.learning_rate / (1.0 + self.decay * self.t_) * g


class Adam(GradientDescent):
    """Adam (Kingma & Ba 2015) on estimated gradients: ZO-AdaMM (Chen et al. 2019).

    Its per-coordinate step normalisation makes the step size independent of the
    estimator's scaling ``b``, which zeroth-order estimates set only loosely: steps are
    about ``learning_rate`` in every coordinate whatever the noise, so it is kept small.

    Parameters
    ----------
    learning_rate : float, default=0.01
    decay : float, default=0.0
        ``alpha_t = learning_rate / (1 + decay * t)``.
    beta1, beta2, eps : float
        Adam's moment decays and denominator guard.
    """

    _parameter_constraints = {"learning_rate": _POSITIVE, "decay": _NON_NEGATIVE,
                              "beta1": [Interval(Real, 0, 1, closed="left")],
                              "beta2": [Interval(Real, 0, 1, closed="left")],
                              "eps": _POSITIVE}

    def __init__(self, learning_rate=0.01, decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = learning_rate
        self.decay = decay
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def start(self, w, q, gradient, rng):
        super().start(w, q, gradient, rng)
        self.m_ = self.v_ = None
        return self

    def update(self, w, g):
        if self.m_ is None:
            self.m_, self.v_ = np.zeros_like(g), np.zeros_like(g)
        alpha = self.learning_rate / (1.0 + self.decay * self.t_)
        t = self.t_ + 1
        self.m_ = self.beta1 * self.m_ + (1 - self.beta1) * g
        self.v_ = self.beta2 * self.v_ + (1 - self.beta2) * g * g
        m_hat = self.m_ / (1 - self.beta1 ** t)
        v_hat = self.v_ / (1 - self.beta2 ** t)
        return w - alpha * m_hat / (np.sqrt(v_hat) + self.eps)

    def get_state(self):
        state = super().get_state()
        if self.m_ is not None:
            state.update(m=self.m_, v=self.v_)
        return state

    def set_state(self, state):
        super().set_state(state)
        if "m" in state or "v" in state:
            self.m_, self.v_ = self._read_like_w(state, "m"), self._read_like_w(state, "v")


class SPSAGC(GradientDescent):
    """SPSA with gradient correction: the update rule of BlackVIP (Oh et al., CVPR 2023).

    A Nesterov-accelerated step on simultaneous-perturbation estimates: the gradient is
    estimated at the look-ahead point ``w + momentum * v`` rather than at ``w``, which
    corrects the momentum before it is applied,

    ``v <- momentum * v - a_t g(w + momentum * v)``, ``w <- w + v``,

    with Spall's decaying gain ``a_t = learning_rate / (t + 1 + stability) ** alpha``.
    Paired with :class:`~skbar.optim.SPSA` (random-sign perturbations) it is BlackVIP's
    SPSA-GC.

    Parameters
    ----------
    learning_rate : float, default=0.01
        The first gain ``a_0``.
    momentum : float, default=0.9
    alpha : float, default=0.602
        Decay exponent of the gain (Spall's choice).
    stability : float, default=0.0
        Offset of the step count in the gain.
    """

    _parameter_constraints = {"learning_rate": _POSITIVE,
                              "momentum": [Interval(Real, 0, 1, closed="left")],
                              "alpha": _NON_NEGATIVE, "stability": _NON_NEGATIVE}

    def __init__(self, learning_rate=0.01, momentum=0.9, alpha=0.602, stability=0.0):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.alpha = alpha
        self.stability = stability

    def start(self, w, q, gradient, rng):
        super().start(w, q, gradient, rng)
        self.velocity_ = None
        return self

    def lookahead(self, w):
        return w if self.velocity_ is None else w + self.momentum * self.velocity_

    def update(self, w, g):
        if self.velocity_ is None:
            self.velocity_ = np.zeros_like(g)
        gain = self.learning_rate / (self.t_ + 1 + self.stability) ** self.alpha
        self.velocity_ = self.momentum * self.velocity_ - gain * g
        return w + self.velocity_

    def get_state(self):
        state = super().get_state()
        if self.velocity_ is not None:
            state["v"] = self.velocity_
        return state

    def set_state(self, state):
        super().set_state(state)
        if "v" in state:
            self.velocity_ = self._read_like_w(state, "v")
