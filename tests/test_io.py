"""One atomic writer: a file is replaced whole or not at all, and no temporary file stays."""

import os

import numpy as np
import pytest

from skbar.fit import load_checkpoint, save_checkpoint
from skbar._io import atomic_write


@pytest.fixture
def previous(tmp_path):
    """A file already there, which a write may replace."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"previous contents")
    return path


@pytest.mark.parametrize("mode, data", [("wb", b"new contents"), ("w", "new contents, \u00e9")])
def test_a_write_that_succeeds_replaces_the_file(previous, mode, data):
    with atomic_write(previous, mode) as f:
        f.write(data)
        # Until the block ends, readers still see the previous file.
        assert previous.read_bytes() == b"previous contents"
    written = previous.read_bytes() if mode == "wb" else previous.read_text(encoding="utf-8")
    assert written == data
    assert os.listdir(previous.parent) == [previous.name]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_leaves_the_previous_file_and_no_temporary(previous, error):
    with pytest.raises(type(error)):
        with atomic_write(previous) as f:
            f.write(b"half of the new")
            raise error
    assert previous.read_bytes() == b"previous contents"
    assert os.listdir(previous.parent) == [previous.name]


def test_missing_folders_are_created(tmp_path):
    path = tmp_path / "cache" / "models" / "model.onnx"
    with atomic_write(path) as f:
        f.write(b"weights")
    assert path.read_bytes() == b"weights"


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
def test_the_new_file_has_the_permissions_open_would_give(tmp_path):
    # Not mkstemp's owner-only 0o600: a shared model cache must stay readable to others.
    previous_umask = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "model.onnx") as f:
            f.write(b"weights")
    finally:
        os.umask(previous_umask)
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == 0o640


def test_an_unknown_mode_is_refused_before_any_file_is_made(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "data.bin", "ab"):
            pass
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_that_fails_to_save_keeps_the_previous_one(tmp_path):
    path = tmp_path / "fit.npz"
    save_checkpoint(path, {"program": np.zeros((2, 2)), "n_queries": 10})
    # An array numpy cannot build stops the save after the file was opened.
    with pytest.raises(ValueError):
        save_checkpoint(path, {"program": np.ones((2, 2)), "n_queries": [[1], [2, 3]]})
    state = load_checkpoint(path)
    np.testing.assert_array_equal(state["program"], np.zeros((2, 2)))
    assert int(state["n_queries"]) == 10
    assert os.listdir(tmp_path) == [path.name]
