import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skbar.heads import apply_label_map, check_label_map, frequency_label_map, random_label_map


@settings(max_examples=80, deadline=None)
@given(n_classes=st.integers(2, 8), m=st.integers(1, 6), extra=st.integers(0, 20),
       seed=st.integers(0, 10**6))
def test_mappings_never_share_a_source_label_between_classes(n_classes, m, extra, seed):
    rng = np.random.RandomState(seed)
    n_source = n_classes * m + extra
    scores = rng.dirichlet(np.ones(n_source) * 0.3, size=5 * n_classes)
    y = np.repeat(np.arange(n_classes), 5)
    for label_map in (random_label_map(n_classes, n_source, m, rng),
                      frequency_label_map(scores, y, n_classes, m)):
        assert label_map.shape == (n_classes, m)
        assert np.unique(label_map).size == n_classes * m
        assert label_map.min() >= 0 and label_map.max() < n_source


def test_frequency_mapping_takes_what_each_class_already_predicts():
    # Class 0 samples favour source labels 4 and 1; class 1 favours 4 as well, then 2 and 3.
    scores = np.array([
        [0.0, 0.3, 0.0, 0.0, 0.7, 0.0],
        [0.0, 0.3, 0.0, 0.0, 0.7, 0.0],
        [0.0, 0.0, 0.3, 0.2, 0.5, 0.0],
        [0.0, 0.0, 0.3, 0.2, 0.5, 0.0],
    ])
    y = np.array([0, 0, 1, 1])
    label_map = frequency_label_map(scores, y, 2, 2)
    # Label 4 is contested; the released BAR code would have given it to both classes.
    # The optimal disjoint assignment gives it to class 0 (0.7 > 0.5).
    assert label_map.tolist() == [[4, 1], [2, 3]]


def test_apply_label_map_averages_each_class_labels_and_normalises():
    scores = np.array([[0.1, 0.2, 0.3, 0.4]])
    proba = apply_label_map(scores, np.array([[0, 1], [2, 3]]))
    np.testing.assert_allclose(proba, [[0.15 / 0.5, 0.35 / 0.5]])
    # A top-k oracle may give none of a row's mapped labels any score.
    np.testing.assert_allclose(apply_label_map(np.array([[0, 0, 1.0]]), np.array([[0], [1]])),
                               [[0.5, 0.5]])


def test_explicit_label_maps_are_checked():
    assert check_label_map([[0, 1], [2, 3]], 2, 4).dtype == np.intp
    with pytest.raises(ValueError, match="shape"):
        check_label_map([[0, 1, 2]], 2, 4)
    with pytest.raises(ValueError, match="outside"):
        check_label_map([[0], [9]], 2, 4)
    with pytest.raises(ValueError, match="more than one"):
        check_label_map([[0, 1], [1, 2]], 2, 4)
    with pytest.raises(ValueError, match="m <= 2"):
        random_label_map(3, 8, 3, np.random.RandomState(0))
