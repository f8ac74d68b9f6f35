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
