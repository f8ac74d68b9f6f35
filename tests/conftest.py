import numpy as np
import pytest


def make_task(n_train=200, n_test=400, n_features=16, seed=1):
    """A linearly separable two-class task on 4x4 'images' with values in [0, 1]."""
    rng = np.random.RandomState(seed)
    direction = rng.randn(n_features)
    X = rng.rand(n_train + n_test, n_features)
    scores = X @ direction
    y = (scores > np.median(scores[:n_train])).astype(int)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


@pytest.fixture
def task():
    return make_task()
