import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skbar.canvas import Program, bilinear_matrix, resize_images, to_images


@settings(max_examples=60, deadline=None)
@given(H=st.integers(1, 40), W=st.integers(1, 40), C=st.sampled_from([1, 3]),
       data=st.data())
def test_mask_is_zero_exactly_over_the_embedded_sample(H, W, C, data):
    h = data.draw(st.integers(1, H))
    w = data.draw(st.integers(1, W))
    program = Program((H, W, C), (h, w))
    samples = np.full((2, h, w, C), 7.0, dtype=np.float32)  # a value no frame can take
    canvases = program.compose(program.frame(np.zeros(program.w_shape)), samples)
    under_sample = canvases[0] == 7.0
    assert np.array_equal(program.mask == 0, under_sample)
    assert int((program.mask == 0).sum()) == h * w * C
    # Centred: the frame is as wide on each side as it can be (to one pixel).
    rows = np.flatnonzero(under_sample[:, :, 0].any(axis=1))
    cols = np.flatnonzero(under_sample[:, :, 0].any(axis=0))
    assert abs(rows[0] - (H - 1 - rows[-1])) <= 1 and abs(cols[0] - (W - 1 - cols[-1])) <= 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), reduced=st.booleans())
def test_program_never_touches_the_sample_and_stays_in_pixel_range(seed, reduced):
    rng = np.random.RandomState(seed)
    program = Program((12, 10, 3), (4, 6), program_shape=(3, 5) if reduced else None)
    w = rng.randn(*program.w_shape) * 10
    samples = rng.rand(3, 4, 6, 3).astype(np.float32)
    canvases = program.compose(program.frame(w), samples)
    assert np.array_equal(canvases[:, 4:8, 2:8, :], samples)
    frame_pixels = canvases[:, program.mask == 1]
    assert frame_pixels.min() >= 0.0 and frame_pixels.max() <= 1.0
    # P = tanh(W * M) in pixel range: (tanh(W) + 1) / 2 on the frame.
    expected = (np.tanh(program.upsample(w)) + 1) / 2
    np.testing.assert_allclose(canvases[0][program.mask == 1], expected[program.mask == 1],
                               rtol=1e-6)


def test_reduced_program_is_bilinear_and_keeps_constants():
    program = Program((32, 32, 3), (8, 8), program_shape=(4, 4))
    assert program.w_shape == (4, 4, 3) and program.dim == 48
    np.testing.assert_allclose(program.upsample(np.full((4, 4, 3), 0.3)), 0.3)
    A = bilinear_matrix(8, 2)
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    np.testing.assert_allclose(A @ np.array([0.0, 1.0]), [0, 0, 0.125, 0.375, 0.625, 0.875, 1, 1])


def test_to_images_lays_rows_out_in_the_smallest_square():
    X = np.arange(10, dtype=float).reshape(2, 5)
    images = to_images(X)
    assert images.shape == (2, 3, 3, 1)
    assert images[0].ravel().tolist() == [0, 1, 2, 3, 4, 0, 0, 0, 0]
    assert to_images(np.zeros((2, 12)), sample_shape=(2, 2, 3)).shape == (2, 2, 2, 3)
    with pytest.raises(ValueError, match="sample_shape"):
        to_images(np.zeros((2, 12)), sample_shape=(5, 5))
    with pytest.raises(ValueError, match="rank 5"):
        to_images(np.zeros((1, 2, 2, 2, 2)))


def test_resize_keeps_float_values_and_program_refuses_oversized_samples():
    images = np.full((1, 4, 4, 1), 0.123456, dtype=np.float32)
    np.testing.assert_allclose(resize_images(images, (9, 7)), 0.123456, rtol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        Program((8, 8, 3), (9, 4))
