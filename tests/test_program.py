import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from skbar import BlackBoxReprogrammingClassifier
from skbar.canvas import Program, Views, bilinear_matrix, resize_images, to_images
from skbar.canvas._program import Canvases, keeps_canvases
from skbar.oracles import (FunctionOracle, QueryCounter, RandomNetworkOracle, TopKOracle,
                           call_oracle)


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
    # P = tanh(W * M) in pixel range: (tanh(W) + 1) / 2 = expit(2 W) on the frame, to
    # a float32 canvas's resolution.
    expected = expit(2 * program.upsample(w))
    np.testing.assert_allclose(canvases[0][program.mask == 1], expected[program.mask == 1],
                               rtol=1e-6, atol=1e-7)


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


# ------------------------------------------------------------ canvases composed in place

@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 24), W=st.integers(1, 24), C=st.sampled_from([1, 3]),
       reduced=st.booleans(), data=st.data())
def test_canvases_composed_in_place_equal_program_compose_for_every_candidate(H, W, C,
                                                                              reduced, data):
    h, w = data.draw(st.integers(1, H)), data.draw(st.integers(1, W))
    program = Program((H, W, C), (h, w), (max(1, H // 3), max(1, W // 2)) if reduced else None)
    rng = np.random.RandomState(data.draw(st.integers(0, 10**6)))
    canvases = Canvases(program)
    buffers = set()
    for n in (3, 3, 2):  # two minibatches of one size, then a smaller one
        samples = rng.rand(n, h, w, C).astype(np.float32)
        canvases.load(samples)
        for _ in range(3):  # the candidates of a step, one after another
            frame = program.frame(rng.randn(*program.w_shape) * 3)
            composed = canvases.compose(frame)
            np.testing.assert_array_equal(composed, program.compose(frame, samples))
            buffers.add(id(composed))
    assert len(buffers) == 2  # one buffer per minibatch size, reused by every candidate


def test_frame_is_computed_outside_the_sample_alone_and_equals_the_masked_formula():
    program = Program((20, 16, 3), (7, 9), (4, 4))
    w = np.random.RandomState(0).randn(*program.w_shape) * 4
    expected = program.mask * expit(2 * program.upsample(w))  # (tanh(W) + 1) / 2
    frame = program.frame(w)
    assert frame.dtype == np.float32  # float32 arithmetic: to its relative precision
    np.testing.assert_allclose(frame, expected, rtol=1e-6, atol=1e-7)
    # The regions written cover exactly where M is 1, once each.
    covered = np.zeros(program.canvas_shape, dtype=int)
    for region in program.frame_regions:
        covered[region] += 1
    np.testing.assert_array_equal(covered, program.mask)


def _keeping(func, shape):
    oracle = FunctionOracle(func, shape)
    oracle.keeps_canvases = True
    return oracle


def test_an_oracle_that_keeps_its_canvases_is_sent_fresh_arrays_that_stay_as_sent():
    assert keeps_canvases(QueryCounter(TopKOracle(_keeping(np.ones, (8, 8, 1)), 1)))
    assert not keeps_canvases(QueryCounter(RandomNetworkOracle(input_shape=(8, 8, 1))))
    network = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=20, record=False)
    kept, copies = [], []

    def keep(canvases):
        kept.append(canvases)
        copies.append(canvases.copy())
        return network.predict_proba(canvases)

    X = np.random.RandomState(0).rand(40, 16)
    y = (X[:, 0] > 0.5).astype(int)
    params = dict(sample_shape=(4, 4), q=2, max_iter=4, batch_size=8, random_state=0,
                  select="last")
    clf = BlackBoxReprogrammingClassifier(_keeping(keep, (8, 8, 1)), **params).fit(X, y)
    assert len(kept) > 4 * 4  # the search's calls among them
    assert len({id(c) for c in kept}) == len(kept)  # never the same array twice
    for sent, copy in zip(kept, copies):
        np.testing.assert_array_equal(sent, copy)  # not written over after the call
    # The reused buffer changes nothing: the same program, bit for bit.
    reused = BlackBoxReprogrammingClassifier(network, **params).fit(X, y)
    np.testing.assert_array_equal(reused.program_, clf.program_)
    assert reused.n_queries_ == clf.n_queries_


def test_the_search_sends_each_candidate_the_canvases_program_compose_makes():
    """An oracle that does not keep its canvases is sent the one reused buffer, always
    holding, while it runs, what Program.compose makes of the minibatch and candidate."""
    network = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=20, record=False)
    program = Program((8, 8, 1), (4, 4), (2, 2))
    views = Views(program)
    counter = QueryCounter(network)
    canvases = views.minibatch(counter)
    assert not canvases.fresh
    rng = np.random.RandomState(0)
    seen = []
    for step in range(2):
        samples = rng.rand(5, 4, 4, 1).astype(np.float32)
        canvases.load(samples)
        for k in range(3):
            frame = program.frame(rng.randn(*program.w_shape))
            scores = views.answers(counter, frame, canvases, [0])
            fresh = call_oracle(network, program.compose(frame, samples))
            np.testing.assert_array_equal(scores, fresh)
            seen.append(id(canvases.compose(frame)))
    assert len(set(seen)) == 1 and counter.n_queries == 2 * 3 * 5
    with pytest.raises(ValueError, match="view 0 alone"):
        views.answers(counter, frame, canvases, [0, 1])



def _resized_one_by_one(images, size):
    """Pillow's bilinear resize of each image and channel on its own."""
    from PIL import Image

    out = np.empty((len(images),) + size + (images.shape[3],), dtype=np.float32)
    for i, image in enumerate(images):
        for c in range(images.shape[3]):
            channel = Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F")
            out[i, ..., c] = np.asarray(channel.resize(size[::-1], Image.BILINEAR))
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 4), h=st.integers(1, 12),
       w=st.integers(1, 12), channels=st.sampled_from([1, 3]), grow_h=st.integers(0, 40),
       grow_w=st.integers(0, 40))
def test_enlarging_a_batch_at_once_gives_each_image_its_own_resize_bit_for_bit(
        seed, n, h, w, channels, grow_h, grow_w):
    images = np.random.RandomState(seed).rand(n, h, w, channels).astype(np.float32) * 255
    size = (h + grow_h, w + grow_w)
    np.testing.assert_array_equal(resize_images(images, size),
                                  _resized_one_by_one(images, size))
    # Shrinking goes one image at a time, as Pillow clips its window to the image.
    smaller = (max(1, h // 2), w)
    np.testing.assert_array_equal(resize_images(images, smaller),
                                  _resized_one_by_one(images, smaller))
