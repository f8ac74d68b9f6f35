"""Hardening of the fit itself (issue 25, rows 8, 9 and 15): every setting checked before
the first query, what the first pass paid for kept, a resume tied to its optimiser."""

import numpy as np
import pytest

from skbar import BlackBoxReprogrammingClassifier, CheckpointError
from skbar.callbacks import CheckpointSaver, LoadInitState
from skbar.oracles import RandomNetworkOracle
from skbar.optim import SGD, SPSA, Adam

N = 60


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(N, 16)
    return X, (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0.5)  # three classes


def _oracle(n_classes=10):
    return RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=n_classes)


@pytest.mark.parametrize("params, message", [
    ({"optimizer": "cma", "q": 1}, "needs q >= 2, got q=1"),
    ({"m": 4}, r"3 target classes with m=4 source labels each need 12"),
    ({"label_map": np.array([[0], [1], [12]]), "m": 1}, r"outside \[0, 10\)"),
    ({"label_map": np.array([[0, 1], [2, 3], [4, 5]]), "m": 3},
     "label_map has 2 source labels per class but m=3"),
    ({"optimizer": SGD(learning_rate=-1.0)}, "'learning_rate' parameter of SGD"),
    ({"gradient": SPSA(beta=0.0)}, "'beta' parameter of SPSA"),
    ({"head": "average", "objective": "held-out"}, "objective='held-out' fits the head"),
])
def test_a_setting_that_could_only_fail_later_is_refused_before_any_query(data, params,
                                                                           message):
    if params.get("optimizer") == "cma":
        pytest.importorskip("cma", reason="CMA-ES is the optional `es` extra")
    X, y = data
    oracle = _oracle()
    with pytest.raises(ValueError, match=message):
        BlackBoxReprogrammingClassifier(oracle, max_iter=2, **params).fit(X, y)
    assert oracle.n_images == 0


def test_more_classes_than_the_oracle_answers_is_refused_before_any_query(data):
    X, y = data
    oracle = _oracle(n_classes=2)
    with pytest.raises(ValueError, match="y has 3 classes but the oracle answers 2"):
        BlackBoxReprogrammingClassifier(oracle).fit(X, y)
    assert oracle.n_images == 0


def test_a_checkpoint_saver_of_a_bad_period_is_refused_when_made():
    with pytest.raises(ValueError, match="every must be a positive whole number of steps, "
                                         "got '10'"):
        CheckpointSaver("fit.npz", every="10")


class _StopAfter:
    """An oracle that raises KeyboardInterrupt once it has answered ``n`` images."""

    def __init__(self, n):
        self.model, self.n = _oracle(), n
        self.input_shape, self.n_classes = self.model.input_shape, self.model.n_classes

    def predict_proba(self, canvases):
        if self.model.n_images + len(canvases) > self.n:
            raise KeyboardInterrupt
        return self.model.predict_proba(canvases)


def test_an_interrupted_first_pass_keeps_what_it_paid_for_and_a_warm_start_pays_the_rest():
    rng = np.random.RandomState(0)
    X = rng.rand(150, 16)
    y = (X[:, 0] > 0.5).astype(int)
    oracle = _StopAfter(100)  # the first pass sends chunks of 64: the second is refused
    clf = BlackBoxReprogrammingClassifier(oracle, max_iter=2, batch_size=8, q=2,
                                          random_state=0)
    with pytest.raises(KeyboardInterrupt), pytest.warns(RuntimeWarning, match="interrupted"):
        clf.fit(X, y)
    assert clf.stop_reason_ == "interrupted" and clf.n_queries_ == 128  # 64 answered, 64 lost
    assert int(clf._cache.known.sum()) == 64
    oracle.n = 10**6
    clf.set_params(warm_start=True).fit(X, y)
    # The warm start pays for the 86 samples not answered, then the steps and final pass.
    step = 2 * 2 * 8
    assert oracle.model.n_images == 64 + 86 + 2 * step + 150
    assert clf.n_queries_ == 128 + 86 + 2 * step + 150
    # ... and learns what a fit never interrupted learns.
    whole = BlackBoxReprogrammingClassifier(_oracle(), max_iter=2, batch_size=8, q=2,
                                            random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.head_.coef_, whole.head_.coef_, rtol=1e-12)


def test_a_warm_start_with_nothing_to_continue_fits_afresh(data):
    X, y = data
    clf = BlackBoxReprogrammingClassifier(_oracle(), max_iter=1, warm_start=True,
                                          random_state=0).fit(X, y)
    assert clf.n_iter_ == 1


@pytest.mark.parametrize("first, then", [
    ("adam", "sgd"), ("sgd", "spsa-gc"), (Adam(), "spsa-gc")])
def test_a_checkpoint_resumes_its_own_optimiser_only(data, tmp_path, first, then):
    X, y = data
    path = tmp_path / "fit.npz"
    BlackBoxReprogrammingClassifier(_oracle(), optimizer=first, max_iter=2,
                                    callbacks=[CheckpointSaver(path)]).fit(X, y)
    oracle = _oracle()
    with pytest.raises(CheckpointError, match="field 'optimizer' is '.*', but this "
                                              "estimator's optimizer is"):
        BlackBoxReprogrammingClassifier(oracle, optimizer=then, max_iter=2,
                                        callbacks=[LoadInitState(path)]).fit(X, y)
    assert oracle.n_images == 0


@pytest.mark.parametrize("field", ["head_coef", "optimizer_t", "objective_kind"])
def test_a_checkpoint_missing_a_part_s_field_names_it_before_any_query(data, tmp_path, field):
    X, y = data
    path = tmp_path / "fit.npz"
    BlackBoxReprogrammingClassifier(_oracle(), max_iter=2,
                                    callbacks=[CheckpointSaver(path)]).fit(X, y)
    saved = dict(np.load(path))
    del saved[field]
    np.savez(path, **saved)
    oracle = _oracle()
    with pytest.raises(CheckpointError, match=f"field '{field}' is missing"):
        BlackBoxReprogrammingClassifier(oracle, max_iter=2,
                                        callbacks=[LoadInitState(path)]).fit(X, y)
    assert oracle.n_images == 0


def test_a_warm_start_on_another_oracle_is_refused_before_any_query(data):
    X, y = data
    clf = BlackBoxReprogrammingClassifier(_oracle(), max_iter=2).fit(X, y)
    other = _oracle(n_classes=6)
    with pytest.raises(CheckpointError, match="'n_source_classes' is 10, but the oracle has 6"):
        clf.set_params(oracle=other, warm_start=True).fit(X, y)
    assert other.n_images == 0


def test_load_init_state_resumes_a_fit_as_the_in_process_warm_start_does(data, tmp_path):
    X, y = data
    path = tmp_path / "fit.npz"
    saver = CheckpointSaver(path)
    first = BlackBoxReprogrammingClassifier(_oracle(), max_iter=3, random_state=0,
                                            callbacks=[saver]).fit(X, y)
    resumed = BlackBoxReprogrammingClassifier(_oracle(), max_iter=3, random_state=0,
                                              callbacks=[saver, LoadInitState(saver)]).fit(X, y)
    first.set_params(warm_start=True, callbacks=None).fit(X, y)
    assert resumed.n_iter_ == first.n_iter_ == 6
    np.testing.assert_array_equal(resumed.optimizer_.w_, first.optimizer_.w_)


def test_a_fit_that_ships_its_start_says_so_once_with_both_accuracies(data):
    import warnings

    from skbar import ProbeShippedWarning

    X, y = data
    # Two steps of a toy search do not read better than the probe: the start is shipped.
    clf = BlackBoxReprogrammingClassifier(_oracle(), max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    shipped = [w for w in caught if issubclass(w.category, ProbeShippedWarning)]
    assert clf.search_check_["kept"] == "start" and len(shipped) == 1
    message = str(shipped[0].message)
    assert f"{clf.search_check_['searched_accuracy']:.3f} against " \
           f"{clf.search_check_['start_accuracy']:.3f}" in message
    # The budget it suggests: 10,000 at least, twice what was spent where that is more.
    assert f"max_queries={max(10_000, 2 * clf.n_queries_):,}" in message
    assert "select='last'" in message
    assert issubclass(ProbeShippedWarning, UserWarning)
    # select="last" ships where the search ended, and says nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbeShippedWarning)
        last = BlackBoxReprogrammingClassifier(_oracle(), max_iter=2, random_state=0,
                                               select="last").fit(X, y)
    assert last.search_check_ is None
    np.testing.assert_array_equal(last.program_, last.optimizer_.w_)


def test_a_surrogate_s_program_is_where_the_paid_search_starts_and_its_queries_are_free(data):
    from skbar.fit import Surrogate

    X, y = data
    local, paid = _oracle(), _oracle()
    surrogate = Surrogate(local, max_queries=2000)
    clf = BlackBoxReprogrammingClassifier(paid, surrogate=surrogate, max_iter=0,
                                          random_state=0).fit(X, y)
    free = BlackBoxReprogrammingClassifier(_oracle(), max_queries=2000, max_iter=10**9,
                                           select="last", random_state=0).fit(X, y)
    # No paid step: the program shipped is the surrogate's, or the probe where that reads
    # no better on the oracle; either way both passes were paid, and nothing more.
    assert clf.n_queries_ == paid.n_images == 2 * N
    assert clf.n_surrogate_queries_ == local.n_images == free.n_queries_ <= 2000
    np.testing.assert_array_equal(clf.optimizer_.w_, free.optimizer_.w_)
    assert clf.search_check_ is not None
    shipped = free.optimizer_.w_ if clf.search_check_["kept"] == "searched" else 0.0
    np.testing.assert_array_equal(clf.program_, np.zeros_like(clf.program_) + shipped)
    with pytest.raises(ValueError, match="must take the same canvas"):
        BlackBoxReprogrammingClassifier(
            paid, surrogate=Surrogate(RandomNetworkOracle(input_shape=(16, 16, 1)))).fit(X, y)
    with pytest.raises(ValueError, match="max_queries must be a positive whole number"):
        Surrogate(max_queries=0)
    with pytest.raises(ValueError, match="gradients must be 'zeroth-order' or 'true'"):
        Surrogate(gradients="exact")
    with pytest.raises(ValueError, match="model must be a zoo name"):
        Surrogate(local, gradients="true")
