"""A small budget: two directions a step and a first gain five times the usual, so that a
search of a few steps leaves the grey frame; a large budget keeps the usual settings."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skbar import BlackBoxReprogrammingClassifier
from skbar.optim import SPSAGC
from skbar.oracles import RandomNetworkOracle


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def _fit(X, y, max_queries, max_iter=10**6, **params):
    clf = BlackBoxReprogrammingClassifier(
        RandomNetworkOracle(input_shape=(16, 16, 3), n_classes=100, random_state=0),
        sample_shape=(8, 8), max_iter=max_iter, max_queries=max_queries, random_state=0,
        **params)
    return clf.fit(X, y)


def test_a_small_budget_takes_two_directions_and_steps_five_times_further(digits):
    # 300 samples: the two passes cost 600; 3,000 queries leave 2,400, fewer than the
    # 30 * 10 * 32 = 9,600 that 30 steps at q=5 cost.
    clf = _fit(*digits, max_queries=3000)
    assert clf.q_ == 2
    assert clf.optimizer_.learning_rate == 0.05
    assert clf.n_iter_ == (3000 - 600) // (2 * 2 * 32)
    assert clf.n_queries_ <= 3000


def test_a_large_budget_keeps_five_directions_and_the_usual_gain(digits):
    clf = _fit(*digits, max_queries=600 + 30 * 10 * 32)
    assert clf.q_ == 5
    assert clf.optimizer_.learning_rate == 0.01
    unbounded = _fit(*digits, max_queries=None, max_iter=2)
    assert (unbounded.q_, unbounded.optimizer_.learning_rate) == (5, 0.01)


def test_an_optimizer_or_q_given_is_kept_at_a_small_budget(digits):
    given = _fit(*digits, max_queries=3000, optimizer=SPSAGC(learning_rate=0.02), q=3)
    assert (given.q_, given.optimizer_.learning_rate) == (3, 0.02)
    # The estimator's own parameter is not touched: a clone fits the same way.
    assert given.optimizer.learning_rate == 0.02
    named = _fit(*digits, max_queries=3000, q=5)
    assert (named.q_, named.optimizer_.learning_rate) == (5, 0.05)
    assert named.optimizer == "spsa-gc"


def test_the_larger_gain_moves_the_program_further_in_the_same_steps(digits):
    small = _fit(*digits, max_queries=3000)
    usual = _fit(*digits, max_queries=3000, optimizer=SPSAGC(), q=2)
    assert small.n_iter_ == usual.n_iter_
    moved = [np.linalg.norm(clf.optimizer_.w_) for clf in (small, usual)]
    assert moved[0] > 3 * moved[1]
