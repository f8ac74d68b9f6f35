import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from skbar import BlackBoxReprogrammingClassifier, OracleError
from skbar.callbacks import CheckpointSaver, QueryCost
from skbar.heads import fit_linear_map
from skbar.optim import CMAES, SPSA, Adam
from skbar.oracles import FunctionOracle, RandomNetworkOracle
from skbar.heads import IterativeLabelMapping, LinearHead


# The paper's estimator (fixed multi-label average, one-sided differences, a full-size
# program), whose query counts the tests below work out by hand.
PAPER = {"head": "average", "gradient": "random", "program_shape": None, "q": 10,
         "batch_size": 16}


def _clf(oracle=None, **params):
    params = {**PAPER, "m": 2, "optimizer": Adam(learning_rate=0.05), "random_state": 0,
              **params}
    return BlackBoxReprogrammingClassifier(oracle or RandomNetworkOracle(), **params)


def test_zeroth_order_training_learns_a_task_the_untrained_program_cannot(task):
    X, y, X_test, y_test = task
    untrained = _clf(label_map="random", max_iter=0).fit(X, y)
    assert abs(untrained.score(X_test, y_test) - 0.5) <= 0.1

    oracle = RandomNetworkOracle()
    trained = _clf(oracle, label_map="random", q=20, batch_size=32, max_iter=400).fit(X, y)
    accuracy = trained.score(X_test, y_test)
    # Longer runs (1,000 steps) on this oracle and task reach 0.75-0.87.
    assert accuracy >= 0.70, accuracy
    # The count is what the oracle really received during fit: 400 steps of (q + 1) = 21
    # minibatches of 32, and no query for a random mapping.
    assert trained.n_queries_ == 400 * 21 * 32 == oracle.n_images - len(X_test)
    assert np.mean(trained.loss_curve_[-20:]) < 0.8 * np.mean(trained.loss_curve_[:20])


def test_frequency_mapping_queries_are_counted(task):
    X, y, _, _ = task
    oracle = RandomNetworkOracle()
    clf = _clf(oracle, label_map="frequency", max_iter=3).fit(X, y)
    assert clf.n_queries_ == len(X) + 3 * 11 * 16 == oracle.n_images
    assert clf.label_map_.shape == (2, 2) and np.unique(clf.label_map_).size == 4


@pytest.mark.parametrize("budget", [1000, 3719, 5000])
def test_the_budget_is_never_exceeded(task, budget):
    X, y, _, _ = task
    oracle = RandomNetworkOracle()
    clf = _clf(oracle, label_map="frequency", max_iter=10**6, max_queries=budget).fit(X, y)
    assert clf.n_queries_ == oracle.n_images <= budget
    # It stops only when one more step would not fit.
    assert budget - clf.n_queries_ < 11 * 16
    assert clf.stop_reason_ == "max_queries"


def test_frequency_mapping_beyond_the_budget_is_refused_before_any_query(task):
    X, y, _, _ = task
    oracle = RandomNetworkOracle()
    with pytest.raises(ValueError, match="max_queries=100"):
        _clf(oracle, label_map="frequency", max_queries=100).fit(X, y)
    assert oracle.n_images == 0


def test_peak_batch_does_not_grow_with_q(task):
    X, y, _, _ = task
    for q in (2, 40):
        oracle = RandomNetworkOracle()
        _clf(oracle, label_map="random", q=q, max_iter=2, batch_size=8).fit(X, y)
        assert oracle.largest_batch == 8


def test_same_seed_same_program_bit_for_bit(task):
    X, y, _, _ = task
    a = _clf(max_iter=20, random_state=3).fit(X, y)
    b = _clf(max_iter=20, random_state=3).fit(X, y)
    c = _clf(max_iter=20, random_state=4).fit(X, y)
    assert np.array_equal(a.program_, b.program_)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.program_, c.program_)


def test_any_label_type_and_probabilities_sum_to_one(task):
    X, y, X_test, _ = task
    labels = np.array(["control", "ASD"])[y]
    clf = _clf(max_iter=5).fit(X, labels)
    assert set(clf.classes_) == {"ASD", "control"}
    assert set(clf.predict(X_test)) <= {"ASD", "control"}
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.decision_function(X_test),
                               np.log(proba[:, 1]) - np.log(proba[:, 0]))


def test_image_inputs_of_rank_3_and_4(task):
    X, y, _, _ = task
    images = X.reshape(-1, 4, 4)
    clf = _clf(max_iter=2, embed_size=6).fit(images, y)
    assert clf.reprogram(images[:3]).shape == (3, 8, 8, 1)
    clf = _clf(RandomNetworkOracle(input_shape=(8, 8, 3)), max_iter=2).fit(images[..., None], y)
    canvases = clf.reprogram(images[:1, :, :, None])
    # Grey values are repeated over the canvas channels.
    np.testing.assert_array_equal(canvases[0, 2:6, 2:6, 0], canvases[0, 2:6, 2:6, 2])


# --------------------------------------------------------------- bad input

def test_bad_inputs_get_errors_that_name_the_problem(task):
    X, y, _, _ = task
    with pytest.raises(ValueError, match="NaN"):
        _clf().fit(np.where(np.eye(len(X), X.shape[1]) > 0, np.nan, X), y)
    with pytest.raises(ValueError, match="infinity|inf"):
        _clf().fit(np.where(np.eye(len(X), X.shape[1]) > 0, np.inf, X), y)
    with pytest.raises(ValueError, match="rank 5|dim"):
        _clf().fit(np.zeros((4, 2, 2, 2, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="single class"):
        _clf().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="m <= 3"):
        _clf(m=4).fit(X, y % 3 + (X[:, 0] > 0.5))  # 3 classes, K = 10
    with pytest.raises(ValueError, match="input_shape"):
        _clf(lambda canvases: np.ones((len(canvases), 4))).fit(X, y)


@pytest.mark.parametrize("answer, message", [
    (lambda c: np.ones((len(c), 4, 1)), "shape"),
    (lambda c: np.ones((len(c) + 1, 4)), "shape"),
    (lambda c: np.full((len(c), 4), np.nan), "NaN"),
    (lambda c: -np.ones((len(c), 4)), "negative"),
    (lambda c: 1 / 0, "ZeroDivisionError"),
])
def test_misbehaving_oracles_get_clear_errors(task, answer, message):
    X, y, _, _ = task
    clf = _clf(FunctionOracle(answer, (8, 8, 1)), label_map="random", max_iter=3)
    with pytest.raises(OracleError, match=message):
        clf.fit(X, y)


# ------------------------------------------------- nothing paid for is lost

class FlakyOracle(RandomNetworkOracle):
    """Fails once, after a set number of images."""

    def __init__(self, fail_after, error=ConnectionError):
        super().__init__()
        self.fail_after, self.error = fail_after, error

    def predict_proba(self, canvases):
        if self.fail_after is not None and self.n_images >= self.fail_after:
            self.fail_after = None
            self.n_images += len(canvases)  # received, then lost: a provider bills them
            raise self.error("model server went away")
        return super().predict_proba(canvases)


def test_a_failed_fit_keeps_what_it_learned_and_warm_start_continues(task, tmp_path):
    X, y, X_test, y_test = task
    oracle = FlakyOracle(fail_after=176 * 25)
    clf = _clf(oracle, label_map="random", max_iter=60, warm_start=True,
               callbacks=[CheckpointSaver(tmp_path / "fit.npz", every=5)])
    with pytest.raises(OracleError, match="kept on the estimator and in .*fit.npz.*warm_start=True"):
        clf.fit(X, y)
    # 25 whole steps, and the first minibatch of the step that failed.
    assert clf.n_iter_ == 25 and clf.n_queries_ == oracle.n_images == 176 * 25 + 16
    assert clf.stop_reason_ == "oracle_error"
    learned = clf.program_.copy()
    assert np.abs(learned).sum() > 0
    clf.predict(X_test)  # usable as it is

    clf.fit(X, y)  # the server is back: continue, without repeating the 25 steps paid for
    assert clf.n_iter_ == 85 and clf.n_queries_ == oracle.n_images - len(X_test) == 176 * 85 + 16

    # The checkpoint holds the same state; a new estimator resumes from the file.
    fresh = _clf(oracle, label_map="random", max_iter=0, warm_start=True,
                 callbacks=CheckpointSaver(tmp_path / "fit.npz")).fit(X, y)
    assert fresh.n_iter_ == 85 and np.array_equal(fresh.program_, clf.program_)


def test_resuming_gives_the_same_program_as_an_uninterrupted_fit(task, tmp_path):
    X, y, _, _ = task
    straight = _clf(label_map="random", max_iter=30).fit(X, y)
    first = _clf(label_map="random", max_iter=12,
                 callbacks=[CheckpointSaver(tmp_path / "a.npz")]).fit(X, y)
    resumed = _clf(label_map="random", max_iter=18, warm_start=True,
                   callbacks=[CheckpointSaver(tmp_path / "a.npz")]).fit(X, y)
    assert first.n_iter_ == 12 and resumed.n_iter_ == 30
    np.testing.assert_array_equal(resumed.program_, straight.program_)
    assert resumed.n_queries_ == straight.n_queries_


def test_ctrl_c_stops_with_a_message_and_keeps_the_program(task):
    X, y, _, _ = task

    def interrupt(estimator, info):
        if info["n_iter"] == 7:
            raise KeyboardInterrupt

    clf = _clf(label_map="random", max_iter=50, callbacks=interrupt)
    # The interrupt goes on to the caller once the program is kept (issue 12, point 10).
    with pytest.warns(RuntimeWarning, match="interrupted after 7 steps"), \
            pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert clf.stop_reason_ == "interrupted" and clf.n_iter_ == 7
    assert clf.n_queries_ == 7 * 176


def test_callback_returning_true_stops_and_cost_is_reported(task):
    X, y, _, _ = task
    cost, seen = QueryCost(per_1000=1.5), []
    clf = _clf(label_map="random", max_iter=50,
               callbacks=[cost, lambda est, info: seen.append(info) or info["n_iter"] >= 4])
    clf.fit(X, y)
    assert clf.n_iter_ == 4 and clf.stop_reason_ == "callback"
    assert cost.cost_ == pytest.approx(4 * 176 * 1.5 / 1000)
    # Each callback sees what the ones before it added.
    assert seen[-1] == {"n_iter": 4, "loss": clf.loss_curve_[-1], "n_queries": 4 * 176,
                        "cost": pytest.approx(4 * 176 * 1.5 / 1000)}


def test_warm_start_refuses_other_classes(task):
    X, y, _, _ = task
    clf = _clf(max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        clf.fit(X, y + 5)


def test_clone_and_pickle_round_trip(task):
    X, y, X_test, _ = task
    clf = _clf(max_iter=5).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))
    fresh = clone(clf)
    assert not hasattr(fresh, "program_") and fresh.get_params()["m"] == 2


def test_no_warning_on_a_normal_fit(task):
    X, y, _, _ = task
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _clf(max_iter=3).fit(X, y)


def _head_on(oracle, clf, X, y):
    """The ridge head fitted afresh on ``X``'s outputs under ``clf``'s program."""
    return fit_linear_map(oracle.predict_proba(clf.reprogram(X)), y, 2, 10.0, clf.label_map_)


def test_learned_output_mapping_starts_as_a_linear_probe_and_ends_on_the_final_program(task):
    X, y, X_test, y_test = task
    oracle = RandomNetworkOracle(record=False)
    start = _clf(oracle, head="linear", label_map="random", max_iter=0).fit(X, y)
    assert start.n_queries_ == len(X)  # one query per training sample, nothing more
    coef, intercept = _head_on(oracle, start, X, y)
    # (float32 outputs of the oracle here, float64 in the fit)
    np.testing.assert_allclose(start.head_.coef_, coef, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(start.head_.intercept_, intercept, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(start.predict_proba(X_test).sum(axis=1), 1.0)

    trained = _clf(oracle, head=LinearHead(refit_every=10), label_map="random", q=20,
                   batch_size=32, max_iter=200).fit(X, y)
    # Refits during the search use outputs already paid for; the final pass costs one
    # query per sample: the count is the probe's, the steps' and the final pass's.
    assert trained.n_queries_ == len(X) + 200 * 21 * 32 + len(X)
    assert trained.score(X_test, y_test) > start.score(X_test, y_test)
    # The shipped head is the ridge fit on the outputs of the shipped program.
    coef, intercept = _head_on(oracle, trained, X, y)
    np.testing.assert_allclose(trained.head_.coef_, coef, rtol=1e-5, atol=1e-8)


def test_final_pass_is_held_in_reserve_from_the_budget(task):
    X, y, _, _ = task
    oracle = RandomNetworkOracle()
    clf = _clf(oracle, head="linear", label_map="random", q=5, batch_size=16,
               max_iter=10**6, max_queries=2000).fit(X, y)
    # 200 initial outputs, steps of 6 x 16 = 96 while 96 + 200 more fit, 200 final ones.
    n_steps = (2000 - 200 - 200) // 96
    assert clf.n_iter_ == n_steps and clf.stop_reason_ == "max_queries"
    assert clf.n_queries_ == 200 + n_steps * 96 + 200 <= 2000
    assert oracle.n_images == clf.n_queries_

    free = _clf(oracle, head=LinearHead(refit_final=False), label_map="random", q=5,
                batch_size=16, max_iter=10**6, max_queries=2000).fit(X, y)
    assert free.n_iter_ == (2000 - 200) // 96
    assert free.n_queries_ == 200 + free.n_iter_ * 96


def test_iterative_label_mapping_rechooses_disjoint_labels_for_free(task):
    X, y, X_test, y_test = task
    oracle = RandomNetworkOracle()
    clf = _clf(oracle, head=IterativeLabelMapping(refit_every=10), label_map="random",
               m=2, q=20, batch_size=32, max_iter=200).fit(X, y)
    # The refits during the search are free; the final one costs a pass over X.
    assert clf.n_queries_ == 200 * 21 * 32 + len(X) == oracle.n_images
    first = _clf(label_map="random", m=2, max_iter=0).fit(X, y).label_map_
    assert not np.array_equal(clf.label_map_, first)  # re-chosen under the program
    assert np.unique(clf.label_map_).size == clf.label_map_.size
    assert clf.score(X_test, y_test) >= 0.7


@pytest.mark.parametrize("params, per_step", [
    # BlackVIP's SPSA-GC: random signs, two-sided, q=4 -> 8 minibatches a step.
    ({"gradient": SPSA(antithetic=True), "optimizer": "spsa-gc", "q": 4}, 8),
    # CMA-ES on a 4x4x1 program, q = 12 candidates a generation.
    ({"optimizer": CMAES(sigma=0.5), "program_shape": (4, 4), "q": 12}, 12),
])
def test_spsa_gc_and_cma_es_lower_the_loss_and_count_every_query(task, params, per_step):
    if isinstance(params["optimizer"], CMAES):
        pytest.importorskip("cma", reason="CMA-ES is the optional `es` extra")
    X, y, _, _ = task
    oracle = RandomNetworkOracle()
    clf = _clf(oracle, label_map="random", batch_size=16, max_iter=60, **params).fit(X, y)
    assert clf.n_queries_ == 60 * per_step * 16 == oracle.n_images
    first, last = np.mean(clf.loss_curve_[:10]), np.mean(clf.loss_curve_[-10:])
    assert last < first - 0.02, (first, last)
    again = _clf(label_map="random", batch_size=16, max_iter=60, **params).fit(X, y)
    np.testing.assert_array_equal(again.program_, clf.program_)  # reproducible


def test_cma_es_warm_start_continues_from_the_saved_mean_and_step_size(task, tmp_path):
    pytest.importorskip("cma", reason="CMA-ES is the optional `es` extra")
    X, y, _, _ = task
    params = dict(label_map="random", optimizer="cma", program_shape=(4, 4), batch_size=16, q=12,
                  gradient="spsa", callbacks=[CheckpointSaver(tmp_path / "cma.npz")])
    first = _clf(max_iter=5, **params).fit(X, y)
    resumed = _clf(max_iter=5, warm_start=True, **params).fit(X, y)
    assert resumed.n_iter_ == 10 and resumed.n_queries_ == 10 * 12 * 16
    saved = np.load(tmp_path / "cma.npz")
    assert int(saved["optimizer_t"]) == 10 and float(saved["optimizer_sigma"]) > 0
    assert not np.array_equal(resumed.program_, first.program_)
