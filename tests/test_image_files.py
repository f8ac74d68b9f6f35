"""Image files as X: decoded a batch at a time, the same fit as the decoded array."""

import numpy as np
import pytest
from PIL import Image

from skbar import BlackBoxReprogrammingClassifier
from skbar.datasets import ImageFiles, load_image_folder
from skbar.oracles import RandomNetworkOracle


@pytest.fixture
def folder(tmp_path):
    rng = np.random.RandomState(0)
    for label, base in [("dark", 60), ("light", 190)]:
        (tmp_path / label).mkdir()
        for i in range(12):
            pixels = np.clip(base + rng.randint(-50, 50, (10, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i:02d}.png")
    return tmp_path


def _fit(X, y):
    oracle = RandomNetworkOracle(input_shape=(16, 16, 3), n_classes=20, record=False)
    return BlackBoxReprogrammingClassifier(oracle, max_iter=4, batch_size=8, q=2,
                                           random_state=0).fit(X, y)


def test_a_lazy_folder_fits_and_predicts_as_the_decoded_one(folder):
    X_lazy, y = load_image_folder(folder, lazy=True)
    X, y_eager = load_image_folder(folder)
    assert isinstance(X_lazy, ImageFiles) and X_lazy.shape == X.shape == (24, 10, 10, 3)
    np.testing.assert_array_equal(y, y_eager)
    lazy, eager = _fit(X_lazy, y), _fit(X, y)
    np.testing.assert_array_equal(lazy.program_, eager.program_)
    assert lazy.n_queries_ == eager.n_queries_
    np.testing.assert_array_equal(lazy.predict_proba(X_lazy), eager.predict_proba(X))
    np.testing.assert_array_equal(lazy.reprogram(X_lazy[:3]), eager.reprogram(X[:3]))


def test_an_unreadable_file_is_named_before_any_query(folder):
    bad = folder / "light" / "05.png"
    bad.write_bytes(b"not an image")
    X, y = load_image_folder(folder, size=10, lazy=True)  # headers are not read
    oracle = RandomNetworkOracle(input_shape=(16, 16, 3), n_classes=20)
    clf = BlackBoxReprogrammingClassifier(oracle, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="05.png"):
        clf.fit(X, y)
    assert oracle.n_images == 0


def test_image_files_of_another_size_than_fit_are_refused(folder):
    X, y = load_image_folder(folder, lazy=True)
    clf = _fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        clf.predict(ImageFiles(X.paths, size=12))
