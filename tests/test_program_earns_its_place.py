"""The program must matter: the search reads a held-out loss, learns where only the
program carries the signal, works on a model with two outputs, and is never shipped
when it made the model's answers worse than the program it started from."""

import numpy as np
import pytest
from scipy.special import softmax

from skbar import PAPER_BAR, BlackBoxReprogrammingClassifier
from skbar.fit import AnswerCache, finish, remember_start, searched_is_better
from skbar.optim import GradientDescent
from skbar.oracles import FunctionOracle, ProgramOnlyOracle, RandomNetworkOracle, TopKOracle
from skbar.heads import LinearHead, Objective, resolve_objective


class GreyFrameOracle:
    """Reads the sample's brightness clearly only through a grey frame: a frame far from
    grey drowns the signal under a distractor (a program can only hurt)."""

    input_shape = (16, 16, 1)

    def predict_proba(self, canvases):
        canvases = np.asarray(canvases)
        n = len(canvases)
        centre = canvases[:, 6:10, 6:10, 0]
        frame = np.concatenate([canvases[:, :6].reshape(n, -1),
                                canvases[:, 10:].reshape(n, -1)], axis=1)
        clarity = np.exp(-30 * ((frame - 0.5) ** 2).mean(axis=1))
        signal = (centre.mean(axis=(1, 2)) - 0.5) * clarity
        distractor = centre[:, 0, 0] - 0.5
        logits = np.stack([8 * signal, -8 * signal, 2 * distractor, np.zeros(n)], axis=1)
        return softmax(logits, axis=1)


class TowardsWhite(GradientDescent):
    """A user's update rule that ignores the gradient and whitens the frame."""

    def update(self, w, g):
        return w + 1.0


def _brightness_task(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 16) * 0.6 + rng.randint(0, 2, (n, 1)) * 0.4
    y = (X.mean(axis=1) > 0.5).astype(int)
    half = n // 2
    return X[:half], y[:half], X[half:], y[half:]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defaults_learn_a_program_only_task_within_5000_queries(seed):
    X, y, X_test, y_test = _brightness_task(seed=seed)
    probe = BlackBoxReprogrammingClassifier(ProgramOnlyOracle(), rescale=False, max_iter=0,
                                            random_state=seed).fit(X, y)
    clf = BlackBoxReprogrammingClassifier(ProgramOnlyOracle(), rescale=False, max_iter=10**6,
                                          max_queries=5000, random_state=seed).fit(X, y)
    assert clf.n_queries_ <= 5000
    assert probe.score(X_test, y_test) < 0.7  # no program, no signal
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.search_check_["kept"] == "searched"


def test_the_search_loss_is_held_out_not_the_heads_own_fit():
    X, y, _, _ = _brightness_task()
    common = dict(rescale=False, max_iter=40, random_state=0)
    held_out = BlackBoxReprogrammingClassifier(RandomNetworkOracle((16, 16, 1), n_classes=30),
                                               **common).fit(X, y)
    fitted = BlackBoxReprogrammingClassifier(RandomNetworkOracle((16, 16, 1), n_classes=30),
                                             head=LinearHead(objective="fitted"),
                                             **common).fit(X, y)
    # After the first refit (step 10) the fitted head is scored on the outputs it was
    # fitted on; the held-out heads on outputs they have not seen.
    assert np.mean(held_out.loss_curve_[10:]) > 1.5 * np.mean(fitted.loss_curve_[10:])


def test_a_search_that_hurts_is_not_shipped():
    X, y, X_test, y_test = _brightness_task()
    common = dict(rescale=False, max_iter=20, random_state=0)
    probe = BlackBoxReprogrammingClassifier(GreyFrameOracle(), **dict(common, max_iter=0))
    probe.fit(X, y)
    clf = BlackBoxReprogrammingClassifier(GreyFrameOracle(), optimizer=TowardsWhite(), **common)
    clf.fit(X, y)
    check = clf.search_check_
    assert check["searched_accuracy"] < check["start_accuracy"] - 0.1
    assert check["kept"] == "start"
    np.testing.assert_array_equal(clf.program_, np.zeros_like(clf.program_))
    assert clf.score(X_test, y_test) == pytest.approx(probe.score(X_test, y_test))
    # Both passes over the training set were paid for, and counted.
    assert clf.n_queries_ == 2 * len(X) + 20 * clf.queries_per_step(len(X))


def test_the_check_compares_the_same_samples_on_the_same_folds_and_ships_the_start_head():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 30)
    telling = np.eye(6)[2 * y] * 0.8 + 0.2 / 6  # class c answers source label 2c
    noise = softmax(rng.randn(90, 6), axis=1)  # the search scrambled the answers
    head = LinearHead().start(telling, y, np.array([[0], [2], [4]]), 3)
    probe_coef = head.coef_.copy()
    cache = AnswerCache(y, 6)
    cache.record(np.arange(90), telling)
    cache.complete_under = np.zeros(4)
    cache.start = remember_start(head, cache)

    class Views:  # one view: the search's answers are every column
        n_views = 1

        def to_pay(self, fixed_known):
            return None

        def reads_program_alone(self, which):
            return False  # the samples go to `compose` as they are, no buffer

        def compose(self, frame, samples, which=None):
            return samples  # the oracle below reads sample indices

        def side_by_side(self, scores, which=None):
            return scores

        class program:
            frame = staticmethod(lambda w: None)

    class Samples:
        def __len__(self):
            return 90

        def take(self, idx):
            return idx

    done = finish(head, Views(), cache, Samples(), lambda idx: noise[idx], np.ones(4))
    assert done.check["start_accuracy"] == 1.0
    assert done.check["searched_accuracy"] < 0.6
    assert done.check["kept"] == "start"
    np.testing.assert_array_equal(done.program, np.zeros(4))
    # The head shipped is the probe's, fitted on the start's answers.
    np.testing.assert_allclose(head.coef_, probe_coef, rtol=1e-5, atol=1e-8)


def test_defaults_work_on_a_model_with_two_outputs_without_setting_m():
    X, y, X_test, y_test = _brightness_task()
    two = FunctionOracle(lambda c: ProgramOnlyOracle().predict_proba(c)[:, :2] /
                         ProgramOnlyOracle().predict_proba(c)[:, :2].sum(1, keepdims=True),
                         (16, 16, 1))
    clf = BlackBoxReprogrammingClassifier(two, rescale=False, max_iter=10**6,
                                          max_queries=5000, random_state=0).fit(X, y)
    assert clf.label_map_.shape == (2, 1)
    assert clf.score(X_test, y_test) >= 0.9
    # m set by hand is still checked against what the model can give.
    with pytest.raises(ValueError, match="2 target classes with m=3 source labels"):
        BlackBoxReprogrammingClassifier(two, rescale=False, m=3, max_iter=1).fit(X, y)


def test_m_auto_is_10_or_as_many_as_the_model_has_classes_for():
    X, y, _, _ = _brightness_task()
    few = BlackBoxReprogrammingClassifier(ProgramOnlyOracle(), rescale=False, max_iter=0)
    assert few.fit(X, y).label_map_.shape == (2, 4)  # 8 source classes, 2 target classes
    many = BlackBoxReprogrammingClassifier(RandomNetworkOracle((16, 16, 1), n_classes=30),
                                           rescale=False, max_iter=0)
    assert many.fit(X, y).label_map_.shape == (2, 10)


def test_paper_bar_still_learns_the_program_only_task():
    X, y, X_test, y_test = _brightness_task()
    clf = BlackBoxReprogrammingClassifier(ProgramOnlyOracle(), rescale=False, max_iter=10**6,
                                          max_queries=2000, random_state=0, **PAPER_BAR)
    assert clf.fit(X, y).score(X_test, y_test) >= 0.95


def test_scores_a_top_k_answer_leaves_out_are_read_one_nat_below_its_lowest():
    from skbar.heads import log_scores

    scores = np.array([[0.5, 0.3, 0.0, 0.2], [0.25, 0.25, 0.25, 0.25]])
    features = log_scores(scores)
    np.testing.assert_allclose(features[0], np.log([0.5, 0.3, 0.2 / np.e, 0.2]))
    np.testing.assert_allclose(features[1], np.log(0.25))  # full answers as they are


def test_the_search_reads_the_average_on_top_k_answers_and_held_out_heads_otherwise():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 20)
    full = softmax(rng.randn(40, 12), axis=1)
    top3 = full * (full >= np.sort(full, axis=1)[:, [-3]])
    label_map = np.array([[0, 1], [2, 3]])
    head = LinearHead().start(full, y, label_map, 2)
    assert resolve_objective("auto", head, full) == "held-out"
    head = LinearHead().start(top3, y, label_map, 2)
    assert resolve_objective("auto", head, top3) == "average"
    # The average in the log domain: class c's score is the mean log score of its labels.
    objective = Objective("average", head).start(top3, y)
    proba = objective.proba(top3, np.arange(40))
    from skbar.heads import log_scores

    logits = log_scores(top3)[:, label_map].mean(axis=2)
    np.testing.assert_allclose(proba, softmax(logits, axis=1), rtol=1e-6)
    # A checkpoint keeps which objective the search read, and the head it reads through.
    restored = Objective("fitted", LinearHead())
    restored.head.n_classes_ = 2
    restored.set_state(objective.get_state(), 12)
    assert restored.kind == "average"
    np.testing.assert_array_equal(restored.head.coef_, head.coef_)


def test_top_k_oracle_answers_the_k_best_scores_and_the_fit_reads_it_as_top_k():
    full = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=12, random_state=0)
    canvases = np.random.RandomState(0).rand(6, 8, 8, 1).astype(np.float32)
    scores = full.predict_proba(canvases)
    answers = TopKOracle(full, k=3).predict_proba(canvases)
    assert np.all((answers > 0).sum(axis=1) == 3)
    best = np.argsort(-scores, axis=1)[:, :3]
    np.testing.assert_allclose(np.take_along_axis(answers, best, axis=1),
                               np.take_along_axis(scores, best, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(TopKOracle(full, k=12).predict_proba(canvases) > 0, True)
    assert TopKOracle(full, k=3).input_shape == (8, 8, 1)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            TopKOracle(full, k=bad)

    X = np.random.RandomState(1).rand(40, 16)
    y = np.repeat([0, 1], 20)
    clf = BlackBoxReprogrammingClassifier(TopKOracle(full, k=3), m=2, max_iter=2,
                                          random_state=0).fit(X, y)
    assert clf.objective_.kind == "average"
    # m="auto" is 3 labels per class on top-k answers (10, or K // n_classes, otherwise).
    big = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=60, random_state=0)
    on_top_k = BlackBoxReprogrammingClassifier(TopKOracle(big, k=5), max_iter=0).fit(X, y)
    on_all = BlackBoxReprogrammingClassifier(big, max_iter=0).fit(X, y)
    assert on_top_k.label_map_.shape == (2, 3) and on_all.label_map_.shape == (2, 10)


@pytest.mark.parametrize("better, worse, shipped", [
    (1, 0, False),  # one image of 100 better, none worse: exactly one standard error
    (3, 1, False),  # lfw's seed 5: 2 points "better" at exactly one standard error
    (2, 0, True),
    (10, 3, True),
    (3, 3, False),
    (0, 2, False),
])
def test_the_check_ships_a_search_better_by_more_than_one_standard_error(better, worse, shipped):
    before = np.zeros(100, dtype=bool)
    after = np.zeros(100, dtype=bool)
    after[:better] = True
    before[better:better + worse] = True
    before[50:], after[50:] = True, True  # half of them both get right
    gain = after.astype(float) - before
    standard_error = np.std(gain, ddof=1) / np.sqrt(len(gain))
    assert searched_is_better(before, after) is shipped
    if (better - worse) ** 2 != better + worse:  # away from the tie, the float rule agrees
        assert bool(gain.mean() > standard_error) is shipped
