"""A fit prepares each training sample once: read, rescaled and resized at most once a fit,
within a bounded memory (``skbar.canvas._samples.KEPT_BYTES``), with the same program."""

import numpy as np
import pytest

import skbar.canvas._samples
from skbar import BlackBoxReprogrammingClassifier
from skbar.canvas import Samples
from skbar.oracles import RandomNetworkOracle


def _data(n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 17, size=(n, 64)).astype(np.uint8)
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(int)
    return X, y


@pytest.fixture
def resized(monkeypatch):
    """How many images Samples has resized, counted at Pillow's wrapper."""
    count = [0]
    resize = skbar.canvas._samples.resize_images

    def counting(images, size):
        count[0] += len(images)
        return resize(images, size)

    monkeypatch.setattr(skbar.canvas._samples, "resize_images", counting)
    return count


def _fit(X, y):
    oracle = RandomNetworkOracle(input_shape=(16, 16, 3), n_classes=20, record=False)
    return BlackBoxReprogrammingClassifier(oracle, embed_size=12, q=2, max_iter=15,
                                           batch_size=8, select="last",
                                           random_state=0).fit(X, y)


def test_a_fit_resizes_each_training_sample_once_and_learns_the_same_program(
        resized, monkeypatch):
    X, y = _data()
    kept = _fit(X, y)
    # The first pass, 15 steps of 8 samples and the final pass read the samples 60 +
    # 120 + 60 times; each is resized once.
    assert kept.n_iter_ == 15 and resized[0] == len(X)

    resized[0] = 0
    monkeypatch.setattr(skbar.canvas._samples, "KEPT_BYTES", 0)
    per_batch = _fit(X, y)
    assert resized[0] >= len(X) + 15 * 8  # prepared per batch: minibatches resized again
    np.testing.assert_array_equal(kept.program_, per_batch.program_)
    assert kept.n_queries_ == per_batch.n_queries_
    np.testing.assert_array_equal(kept.predict_proba(X), per_batch.predict_proba(X))


def test_samples_are_kept_only_within_the_bound_and_only_when_asked(resized, monkeypatch):
    X, _ = _data(50)
    whole = 50 * 12 * 12 * 1 * 4  # grey samples are kept before the channels are repeated
    monkeypatch.setattr(skbar.canvas._samples, "KEPT_BYTES", whole)
    kept = Samples(X, 3, embed_size=12, data_range=(0.0, 16.0), keep=True)
    assert kept._kept.nbytes == whole
    fresh = Samples(X, 3, embed_size=12, data_range=(0.0, 16.0))
    idx = np.array([7, 3, 49, 7, 0])
    for _ in range(3):
        np.testing.assert_array_equal(kept.take(idx), fresh.take(idx))
    assert kept.take(idx).shape == (5, 12, 12, 3)
    # 1 + 3 samples (7, 3, 49; 0 at the start) by the kept, 1 + 3 x 5 by the other.
    assert resized[0] == 4 + 16

    monkeypatch.setattr(skbar.canvas._samples, "KEPT_BYTES", whole - 1)
    over = Samples(X, 3, embed_size=12, data_range=(0.0, 16.0), keep=True)
    assert over._kept is None
    expected = fresh.take(idx)
    resized[0] = 0
    np.testing.assert_array_equal(over.take(idx), expected)
    assert resized[0] == len(idx)  # past the bound, a batch is prepared as it is taken
