"""First-order update rules fed with zeroth-order gradient estimates.

Each optimiser keeps its state in a dict of arrays (``get_state`` / ``set_state``), so a
fit can be checkpointed to a plain ``.npz`` file and resumed exactly.
"""

import numpy as np


class SGD:
    """``w <- w - alpha_t g`` with ``alpha_t = learning_rate / (1 + decay * t)``.

    The update of Tsai et al. (2020), Algorithm 1 (``W_{t+1} = W_t - alpha_t g``).
    """

    def __init__(self, learning_rate=0.05, decay=0.0):
        self.learning_rate = float(learning_rate)
        self.decay = float(decay)
        self.t = 0

    def step(self, w, g):
        alpha = self.learning_rate / (1.0 + self.decay * self.t)
        self.t += 1
        return w - alpha * g

    def get_state(self):
        return {"t": np.array(self.t)}

    def set_state(self, state):
        self.t = int(state["t"])


class Adam:
    """Adam (Kingma & Ba 2015) on estimated gradients: ZO-AdaMM (Chen et al. 2019).

    Its per-coordinate step normalisation makes the step size independent of the
    estimator's scaling ``b``, which zeroth-order estimates set only loosely.
    """

    def __init__(self, learning_rate=0.05, decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = float(learning_rate)
        self.decay = float(decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        self.m = self.v = None

    def step(self, w, g):
        if self.m is None:
            self.m = np.zeros_like(g)
            self.v = np.zeros_like(g)
        alpha = self.learning_rate / (1.0 + self.decay * self.t)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return w - alpha * m_hat / (np.sqrt(v_hat) + self.eps)

    def get_state(self):
        state = {"t": np.array(self.t)}
        if self.m is not None:
            state.update(m=self.m, v=self.v)
        return state

    def set_state(self, state):
        self.t = int(state["t"])
        if "m" in state:
            self.m, self.v = np.array(state["m"]), np.array(state["v"])


class SPSAGC:
    """SPSA with gradient correction: the update rule of BlackVIP (Oh et al., CVPR 2023).

    A Nesterov-accelerated step on simultaneous-perturbation estimates: the gradient is
    estimated at the look-ahead point ``w + momentum * v`` rather than at ``w``, which
    corrects the momentum before it is applied,

    ``v <- momentum * v - a_t g(w + momentum * v)``, ``w <- w + v``,

    with Spall's decaying gain ``a_t = learning_rate / (t + 1 + stability) ** alpha``.
    Pair it with ``gradient="spsa"`` (random-sign perturbations) for BlackVIP's SPSA-GC.
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, alpha=0.602, stability=0.0):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.alpha = float(alpha)
        self.stability = float(stability)
        self.t = 0
        self.v = None

    def lookahead(self, w):
        """The point the next gradient is estimated at."""
        return w if self.v is None else w + self.momentum * self.v

    def step(self, w, g):
        if self.v is None:
            self.v = np.zeros_like(g)
        gain = self.learning_rate / (self.t + 1 + self.stability) ** self.alpha
        self.t += 1
        self.v = self.momentum * self.v - gain * g
        return w + self.v

    def get_state(self):
        state = {"t": np.array(self.t)}
        if self.v is not None:
            state["v"] = self.v
        return state

    def set_state(self, state):
        self.t = int(state["t"])
        if "v" in state:
            self.v = np.array(state["v"])
