"""What the search learns on top five answers, read without the fit's check.

An experiment, not a part of skbar. On the benchmark's ``digits-top5`` (EfficientNet-Lite0
at 96 px answering its five best classes, digits at 64 px) the defaults read four views
of each sample, the learned program and three fixed random programs, and ship the
searched program only where the fit's check finds it better. Here the one-view search
runs to about the defaults' budget (``LinearHead(views=1)``), and its last program
(``optimizer_.w_``, whatever its own check chose) is read through four views in two
ways, beside the grey frame:

- fixed views, as the defaults read it: the program, then the three fixed programs;
- views centred on the program: the program plus each fixed program.

Each is scored by a ridge head pulled towards the frequency mapping (``m = 3``), fitted
on the training answers, and by the fit's check against the grey frame (5-fold
cross-validated accuracy on the training answers, one standard error of the paired
difference: :func:`skbar.fit.searched_is_better`).

    python experiments/views_without_check.py --seeds 0,1,2,3,4
"""

import numpy as np
from _benchmark import load_task
from sklearn.model_selection import StratifiedKFold
from view_search import answers_under, cross_validated_right, fixed_programs, head, run_seeds

from skbar import BlackBoxReprogrammingClassifier
from skbar.fit import searched_is_better
from skbar.heads import apply_linear_map
from skbar.heads import LinearHead

N_VIEWS = 4


def run(seed, budget, oracle):
    X, y, X_test, y_test, embed = load_task("digits-top5", seed)
    # The first pass of the defaults reads four views, this fit one: the difference
    # comes off its budget, so that its search takes about the defaults' steps.
    clf = BlackBoxReprogrammingClassifier(
        oracle, embed_size=64, max_iter=10**9, max_queries=budget - (N_VIEWS - 1) * len(X),
        head=LinearHead(views=1), random_state=seed, **embed).fit(X, y)
    classes = clf.classes_
    y, y_test = np.searchsorted(classes, y), np.searchsorted(classes, y_test)
    fixed = fixed_programs(clf)
    searched = clf.optimizer_.w_.reshape(clf.program_.shape)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))

    def answers(samples, programs):
        return [answers_under(clf, oracle, samples, w) for w in programs]

    def read(programs):
        """Test accuracy of the head on these views, and which training samples the
        check's cross-validated head gets right."""
        train, test = answers(X, programs), answers(X_test, programs)
        coef, intercept = head(train, y, classes.size)
        accuracy = np.mean(apply_linear_map(np.hstack(test), coef, intercept).argmax(1) == y_test)
        return accuracy, cross_validated_right(train, y, classes.size, folds)

    grey, grey_right = read(fixed)
    line = f"seed {seed}: {clf.n_iter_} steps; grey frame {grey:.3f} (cv {grey_right.mean():.3f})"
    for name, programs in (("fixed views", [searched] + list(fixed[1:])),
                           ("centred views", [searched + w for w in fixed])):
        accuracy, right = read(programs)
        check = "ships it" if searched_is_better(grey_right, right) else "keeps the grey frame"
        line += f"; {name} {accuracy:.3f} (cv {right.mean():.3f}, the check {check})"
    print(line, flush=True)


if __name__ == "__main__":
    run_seeds(run, __doc__, default_seeds="0,1,2,3,4")
