"""skbar.datasets.load_image_folder: one sub-folder per class, read as the files are."""

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from skbar import BlackBoxReprogrammingClassifier
from skbar.datasets import load_image_folder
from skbar.oracles import RandomNetworkOracle


def write(path, pixels, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, **kwargs)
    return path


@pytest.fixture
def folder(tmp_path):
    """Two classes, PNG and JPEG, RGB and greyscale, with files and folders to skip."""
    rng = np.random.RandomState(0)
    for i in range(4):
        write(tmp_path / "cats" / f"{i}.png", rng.randint(0, 100, (6, 5, 3)))
        write(tmp_path / "dogs" / f"{i}.PNG", rng.randint(150, 256, (6, 5)))  # greyscale
    write(tmp_path / "dogs" / "4.jpeg", np.full((6, 5, 3), 200), quality=100)
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "cats" / ".thumb.png").write_bytes(b"hidden, skipped")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "README").write_text("a file beside the class folders")
    return tmp_path


def test_reads_one_class_per_sub_folder_in_sorted_order(folder):
    X, y = load_image_folder(folder)
    assert X.shape == (9, 6, 5, 3) and X.dtype == np.float32
    assert list(y) == ["cats"] * 4 + ["dogs"] * 5
    assert 0.0 <= X.min() and X.max() <= 1.0
    # Pixels as written: the first cat exactly, the greyscale dogs in all three channels.
    expected = np.asarray(Image.open(folder / "cats" / "0.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(X[0], expected)
    np.testing.assert_array_equal(X[4, ..., 0], X[4, ..., 2])
    assert np.abs(X[8] - 200 / 255).max() < 0.02  # the JPEG, nearly lossless


def test_the_images_are_ready_for_fit(folder):
    X, y = load_image_folder(folder, size=8)
    clf = BlackBoxReprogrammingClassifier(RandomNetworkOracle(input_shape=(16, 16, 3)),
                                          max_iter=3, random_state=0).fit(X, y)
    assert set(clf.classes_) == {"cats", "dogs"} and clf.predict(X).shape == (9,)
    # Dark cats and light dogs: a model on the pixels alone tells them apart.
    assert LogisticRegression().fit(X.reshape(9, -1), y).score(X.reshape(9, -1), y) == 1.0


def test_mixed_sizes_are_refused_unless_a_size_is_given(folder):
    write(folder / "dogs" / "big.png", np.zeros((12, 10, 3)))
    with pytest.raises(ValueError, match=r"different sizes: .*0\.png' is 5x6 pixels but "
                                         r".*big\.png' is 10x12; pass size="):
        load_image_folder(folder)
    X, y = load_image_folder(folder, size=(4, 3))
    assert X.shape == (10, 4, 3, 3) and list(y).count("dogs") == 6


def test_empty_folders_and_unreadable_files_are_named(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write(tmp_path / "flat" / "0.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="has no sub-folder; expected one sub-folder"):
        load_image_folder(tmp_path / "flat")
    (folder / "birds").mkdir()
    (folder / "birds" / "list.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"class folder .*birds' holds no PNG or JPEG"):
        load_image_folder(folder)
    (folder / "birds" / "list.txt").unlink()
    (folder / "birds" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    for size in (None, 8):  # read for its size, or decoded to be resized
        with pytest.raises(ValueError, match=r"Cannot read .*broken\.jpg' as an image"):
            load_image_folder(folder, size=size)


@pytest.mark.parametrize("size", [0, (4,), (4, 0), 2.5])
def test_a_bad_size_is_refused(folder, size):
    with pytest.raises(ValueError, match="size must be a positive int"):
        load_image_folder(folder, size=size)
