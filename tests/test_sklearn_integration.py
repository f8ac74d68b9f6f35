"""skbar where the user said it must work: common checks, pipelines, search, CV, joblib."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skbar import BlackBoxReprogrammingClassifier
from skbar.optim import Adam
from skbar.oracles import RandomNetworkOracle


def _small():
    return BlackBoxReprogrammingClassifier(
        RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=30, record=False), m=3, q=4, batch_size=8,
        max_iter=30, head="average", gradient="random",
        optimizer=Adam(learning_rate=0.1), random_state=0)


@parametrize_with_checks([_small(), BlackBoxReprogrammingClassifier(
    RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=30, record=False), m=3, q=2,
    batch_size=8, max_iter=5, random_state=0)])
def test_sklearn_common_checks(estimator, check):
    # No expected failure: the poor_score tag says that a few hundred queries of a toy
    # oracle do not reach the 83% the checks ask of a classifier on their blobs.
    check(estimator)


def test_pipeline_grid_search_over_q_and_m_in_parallel(task):
    X, y, X_test, y_test = task
    pipe = make_pipeline(MinMaxScaler(), _small().set_params(rescale=False))
    search = GridSearchCV(pipe, {"blackboxreprogrammingclassifier__q": [2, 6],
                                 "blackboxreprogrammingclassifier__m": [1, 3]},
                          cv=3, n_jobs=2)
    search.fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_params_["blackboxreprogrammingclassifier__q"] in (2, 6)
    queries = search.best_estimator_[-1].n_queries_
    q = search.best_params_["blackboxreprogrammingclassifier__q"]
    assert queries == len(X) + 30 * (q + 1) * 8  # frequency mapping, then 30 steps
    assert 0.0 <= search.score(X_test, y_test) <= 1.0


def test_ten_fold_stratified_cross_validation_in_parallel(task):
    X, y, _, _ = task
    scores = cross_val_score(_small().set_params(max_iter=20), X, y,
                             cv=StratifiedKFold(10, shuffle=True, random_state=0), n_jobs=2)
    assert scores.shape == (10,) and np.all((scores >= 0) & (scores <= 1))
    # The same folds and seeds give the same scores, whether run in parallel or not.
    serial = cross_val_score(_small().set_params(max_iter=20), X, y,
                             cv=StratifiedKFold(10, shuffle=True, random_state=0), n_jobs=1)
    np.testing.assert_array_equal(scores, serial)


def test_fitted_estimator_pickles_with_its_oracle(task):
    X, y, X_test, _ = task
    clf = _small().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X_test), clf.predict(X_test))


@pytest.mark.parametrize("params, message", [
    ({"q": 0}, "'q' parameter"),
    ({"label_map": "often"}, "'label_map' parameter"),
    ({"loss": "hinge"}, "'loss' parameter"),
    ({"max_queries": -5}, "'max_queries' parameter"),
])
def test_bad_parameters_are_named(task, params, message):
    X, y, _, _ = task
    with pytest.raises(ValueError, match=message):
        _small().set_params(**params).fit(X, y)
