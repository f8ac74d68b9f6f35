"""The head's refits: closed-form ridge fits on the answers paid for, sharing their log
scores and kernel across the fits on the same answers, equal to scikit-learn's Ridge."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import skbar.heads._label_maps as label_maps
from skbar.fit import holdout_correct
from skbar.heads import LinearHead, LogScores, Objective, RowsOf, fit_linear_map, log_scores


def _answers(n, k, seed=0, left_out=0.2):
    """Random answers of ``n`` samples over ``k`` classes, some left out (top-k style)."""
    rng = np.random.RandomState(seed)
    scores = rng.dirichlet(np.full(k, 0.3), size=n)
    scores[rng.rand(n, k) < left_out] = 0.0
    return scores.astype(np.float32), rng


def _relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("n, k", [(60, 90), (90, 90), (150, 40)])  # dual, primal, primal
@pytest.mark.parametrize("shared", [True, False])
def test_ridge_on_every_subset_equals_sklearn_ridge(n, k, shared):
    scores, rng = _answers(n, k)
    targets = rng.randn(n, 4)
    design = LogScores(scores, shared=shared)
    subsets = [None, np.sort(rng.choice(n, n // 2, replace=False)), np.arange(1, n, 2),
               np.sort(rng.choice(n, 4 * n // 5, replace=False))]
    for rows in subsets:
        picked = slice(None) if rows is None else rows
        expected = Ridge(alpha=10.0).fit(log_scores(scores[picked].astype(np.float64)),
                                         targets[picked])
        coef, intercept = label_maps._ridge(design, rows, targets[picked], 10.0)
        assert _relative(coef, expected.coef_) < 1e-8
        assert _relative(intercept, expected.intercept_) < 1e-8


@pytest.mark.parametrize("n_rows", [100, 50])  # a primal fit, then a dual one (K = 80)
def test_ridge_read_a_chunk_at_a_time_equals_the_whole(monkeypatch, n_rows):
    scores, rng = _answers(130, 80, seed=1)
    targets = rng.randn(130, 3)
    rows = np.sort(rng.choice(130, n_rows, replace=False))
    expected = Ridge(alpha=3.0).fit(log_scores(scores[rows].astype(np.float64)), targets[rows])
    # Too many answers to hold whole: the log scores are formed 32 rows at a time.
    monkeypatch.setattr(label_maps, "HELD_VALUES", 100)
    monkeypatch.setattr(label_maps, "FIT_ROWS", 32)
    design = LogScores(scores)
    assert design.features is None
    coef, intercept = label_maps._ridge(design, rows, targets[rows], 3.0)
    assert _relative(coef, expected.coef_) < 1e-8
    assert _relative(intercept, expected.intercept_) < 1e-8


@pytest.mark.parametrize("n, k", [(80, 120), (120, 50)])
def test_a_head_fitted_on_shared_answers_equals_one_fitted_on_its_rows_alone(n, k):
    scores, rng = _answers(n, k, seed=2)
    y = rng.randint(0, 3, size=n)
    label_map = np.arange(6).reshape(3, 2)
    shared = LogScores(scores)
    rows, other = np.arange(0, n, 2), np.arange(1, n, 2)
    alone = fit_linear_map(RowsOf(scores, rows), y[rows], 3, 10.0, label_map,
                           (RowsOf(scores, other), y[other]))
    together = fit_linear_map(RowsOf(shared, rows), y[rows], 3, 10.0, label_map,
                              (RowsOf(shared, other), y[other]))
    for a, b in zip(together, alone):
        assert _relative(a, b) < 1e-8
    whole = fit_linear_map(scores, y, 3, 10.0, label_map)
    for a, b in zip(fit_linear_map(shared, y, 3, 10.0, label_map), whole):
        assert _relative(a, b) < 1e-8


def _head(scores, y, label_map):
    head = LinearHead()
    head.start(scores, y, label_map, 3)
    return head


def _old_holdout(head, scores, y):
    """The check's folds, each head fitted on its own rows' answers (no sharing)."""
    import copy

    from sklearn.model_selection import StratifiedKFold

    correct = np.zeros(len(y), dtype=bool)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(scores, y):
        fold = copy.deepcopy(head)
        fold.refit(scores[train], y[train])
        correct[test] = np.argmax(fold.transform(scores[test]), axis=1) == y[test]
    return correct


def test_the_check_and_the_objective_s_refits_read_shared_answers_as_their_own():
    scores, rng = _answers(150, 200, seed=3)
    y = rng.randint(0, 3, size=150)
    scores[y == 1, 7] += 0.5  # some signal, so that the folds are not all wrong
    label_map = np.arange(6).reshape(3, 2)
    head = _head(scores, y, label_map)
    np.testing.assert_array_equal(holdout_correct(head, scores, y),
                                  _old_holdout(head, scores, y))
    objective = Objective("held-out", _head(scores, y, label_map))
    objective.refit(scores, y, np.arange(150))
    assert isinstance(objective.head.coef_, np.ndarray)
    np.testing.assert_allclose(objective.head.coef_, head.coef_, rtol=1e-8, atol=1e-10)
    for half, (coef, intercept) in enumerate(objective.half_heads_):
        rows, other = np.arange(half, 150, 2), np.arange(1 - half, 150, 2)
        alone = head.fit_coef(scores[rows], y[rows], (scores[other], y[other]))
        assert _relative(coef, alone[0]) < 1e-8 and _relative(intercept, alone[1]) < 1e-8


def test_the_search_refits_the_half_heads_alone_and_the_whole_head_where_a_half_cannot():
    scores, rng = _answers(150, 200, seed=3)
    y = rng.randint(0, 3, size=150)
    label_map = np.arange(6).reshape(3, 2)
    objective = Objective("held-out", _head(scores, y, label_map))
    started = objective.head.coef_.copy()
    later, _ = _answers(150, 200, seed=4)  # the answers of a later program
    objective.refit(later, y, np.arange(150))
    # The search reads the halves: the whole head keeps its fit from the start.
    assert objective.half_heads_ is not None
    np.testing.assert_array_equal(objective.head.coef_, started)
    # Every odd sample of one class: that half cannot be fitted, the whole head is.
    one_class = y.copy()
    one_class[1::2] = 0
    objective.refit(later, one_class, np.arange(150))
    assert objective.half_heads_ is None
    refitted = _head(later, one_class, label_map).coef_
    assert _relative(objective.head.coef_, refitted) < 1e-8
    np.testing.assert_array_equal(objective.proba(later[:5], np.arange(5)),
                                  objective.head.transform(later[:5]))


def test_a_checkpoint_keeps_the_half_heads_the_search_reads():
    scores, rng = _answers(150, 200, seed=3)
    y = rng.randint(0, 3, size=150)
    label_map = np.arange(6).reshape(3, 2)
    objective = Objective("held-out", _head(scores, y, label_map))
    objective.refit(_answers(150, 200, seed=4)[0], y, np.arange(150))
    restored = Objective("held-out", _head(scores, y, label_map))
    restored.set_state(objective.get_state(), 200)
    for (coef, intercept), (kept_coef, kept_intercept) in zip(restored.half_heads_,
                                                              objective.half_heads_):
        np.testing.assert_array_equal(coef, kept_coef)
        np.testing.assert_array_equal(intercept, kept_intercept)
    idx = np.arange(10)
    np.testing.assert_array_equal(restored.proba(scores[idx], idx),
                                  objective.proba(scores[idx], idx))


def test_the_ridge_solve_is_scipys_and_falls_back_on_eigenvalues_when_ill_conditioned():
    from scipy.linalg import eigh, solve

    rng = np.random.RandomState(0)
    features = rng.randn(40, 60)
    gram, rhs = features @ features.T, rng.randn(40, 3)
    expected = solve(gram + 10.0 * np.eye(40), rhs, assume_a="pos")
    np.testing.assert_array_equal(label_maps._solve_psd(gram.copy(), rhs, 10.0), expected)
    # Rank one at 1e20 over a ridge of 1e-3: a Cholesky solve would lose every digit.
    direction = rng.randn(40, 1)
    huge = 1e20 * direction @ direction.T
    values, vectors = eigh(huge + 1e-3 * np.eye(40))
    fallback = vectors @ ((vectors.T @ rhs) / np.maximum(values, 1e-3)[:, None])
    np.testing.assert_allclose(label_maps._solve_psd(huge.copy(), rhs, 1e-3), fallback,
                               rtol=1e-12)
