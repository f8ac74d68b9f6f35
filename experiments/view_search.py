"""Views chosen on the true objective: a (1+1) random search over the fixed views.

An experiment, not a part of skbar. On top five answers (the benchmark's ``digits-top5``)
the defaults read each sample under four views, the program and three fixed random
programs, and search the program alone. Here the budget buys views instead of search
steps: each round draws a new random program, pays one pass over the training set for
its answers (one query per sample), puts it in place of one of the three fixed views
(in turn), and keeps it only where the head's 5-fold cross-validated
accuracy on the training answers is better by more than one standard error of the paired
difference (:func:`skbar.fit.searched_is_better`, the fit's own check). The head is
skbar's ridge head pulled towards the frequency mapping (``m = 3``), as the defaults'.
A prediction still costs four queries.

    python experiments/view_search.py --seeds 0,1,2,3 --budget 50000

Prints, per seed, the test accuracy at the start (the four-view probe), near 20,000
queries and at the budget, with the cross-validated accuracy and the rounds kept.
"""

import argparse

import numpy as np
from _benchmark import load_task
from sklearn.model_selection import StratifiedKFold

from skbar import BlackBoxReprogrammingClassifier, zoo
from skbar.fit import searched_is_better
from skbar.heads import apply_linear_map, fit_linear_map, frequency_label_map
from skbar.oracles import TopKOracle

N_VIEWS, M, ALPHA = 4, 3, 10.0
EMBED = 64  # the sample's size on the canvas, as the fits below embed it


def fixed_programs(clf):
    """The defaults' fixed views for ``clf``'s program shape (row 0, zeros, is view 0)."""
    shape = (clf.canvas_shape_, (EMBED, EMBED), clf.program_.shape[:2])
    try:  # skbar 0.2: the views own their fixed programs
        from skbar.canvas import Program, Views
    except ImportError:  # skbar 0.1: the program drew them
        from skbar.program import Program
        return Program(*shape).view_programs(N_VIEWS)
    return Views(Program(*shape), N_VIEWS).fixed_programs()


def answers_under(clf, oracle, X, w):
    """The oracle's answers for ``X`` framed by the program ``w``, through the fitted
    estimator's own embedding (:meth:`~skbar.BlackBoxReprogrammingClassifier.reprogram`);
    ``clf.program_`` is left at ``w``."""
    clf.program_ = np.asarray(w, dtype=clf.program_.dtype).reshape(clf.program_.shape)
    canvases = clf.reprogram(X)
    return np.concatenate([oracle.predict_proba(canvases[i:i + 256])
                           for i in range(0, len(canvases), 256)])


def head(train_views, y, n_classes):
    """The ridge head on the views' answers side by side, and the answers it reads."""
    scores = np.hstack(train_views)
    label_map = frequency_label_map(scores, y, n_classes, M)
    return fit_linear_map(scores, y, n_classes, ALPHA, label_map)


def cross_validated_right(views, y, n_classes, folds):
    """Which training samples the head gets right when it is fitted on the other folds."""
    scores, right = np.hstack(views), np.zeros(len(y), bool)
    for fit_rows, held_out in folds:
        coef, intercept = head([scores[fit_rows]], y[fit_rows], n_classes)
        right[held_out] = apply_linear_map(scores[held_out], coef, intercept).argmax(1) == y[held_out]
    return right


def run(seed, budget, oracle):
    X, y, X_test, y_test, embed = load_task("digits-top5", seed)
    # The estimator embeds the samples and holds the program; no search (max_iter=0).
    clf = BlackBoxReprogrammingClassifier(oracle, embed_size=64, max_iter=0,
                                          views=1,
                                          random_state=seed, **embed).fit(X, y)
    classes, y, y_test = clf.classes_, np.searchsorted(clf.classes_, y), np.searchsorted(clf.classes_, y_test)

    def answers(samples, offset):
        return answers_under(clf, oracle, samples, offset)

    def test_accuracy():
        coef, intercept = head(train, y, classes.size)
        return np.mean(apply_linear_map(np.hstack(test), coef, intercept).argmax(1) == y_test)

    offsets = list(fixed_programs(clf))  # the defaults' four views to start
    train = [answers(X, o) for o in offsets]
    test = [answers(X_test, o) for o in offsets]  # scoring only, not counted
    spent = N_VIEWS * len(X)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    right = cross_validated_right(train, y, classes.size, folds)
    print(f"seed {seed}: {spent:,d} queries, test {test_accuracy():.3f} "
          f"(cv {right.mean():.3f})", flush=True)
    rng = np.random.RandomState(100 + seed)
    rounds = kept = 0
    reported_20k = False
    while spent + len(X) <= budget:
        slot = 1 + rounds % (N_VIEWS - 1)  # view 0, the program itself, stays
        rounds += 1
        offset = rng.standard_normal(clf.program_.shape)
        trial = list(train)
        trial[slot] = answers(X, offset)
        spent += len(X)
        trial_right = cross_validated_right(trial, y, classes.size, folds)
        if searched_is_better(right, trial_right):
            train, right, kept = trial, trial_right, kept + 1
            test[slot] = answers(X_test, offset)
        if (spent + len(X) > 20000 and not reported_20k) or spent + len(X) > budget:
            reported_20k = True
            print(f"  {spent:,d} queries, {kept} of {rounds} offsets kept: test "
                  f"{test_accuracy():.3f} (cv {right.mean():.3f})", flush=True)


def run_seeds(run, doc, default_seeds):
    """The command line of a top-five experiment: ``run(seed, budget, oracle)`` for each
    of ``--seeds``, on EfficientNet-Lite0 at 96 px answering its five best classes."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--seeds", default=default_seeds)
    parser.add_argument("--budget", type=int, default=50000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    oracle = TopKOracle(zoo.load("efficientnet-lite0", image_size=96, n_threads=args.threads), 5)
    for seed in (int(s) for s in args.seeds.split(",")):
        run(seed, args.budget, oracle)


if __name__ == "__main__":
    run_seeds(run, __doc__, default_seeds="0,1,2")
