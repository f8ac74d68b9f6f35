"""Experiment: ``GridSearchCV`` over ``q`` and ``m`` as the gallery's grid runs it.

300 digits, EfficientNet-Lite0 at 32 px (24 px samples), 3-fold stratified CV; prints
each grid point's mean accuracy and its spread over the folds.

Usage::

    python experiments/grid_q_m.py checked 5000    # select, max_queries a fit
    python experiments/grid_q_m.py checked 5000 600 32   # ... digits, canvas pixels
"""

import sys
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbar import BlackBoxReprogrammingClassifier, zoo


def main(argv=None):
    args = list(argv or sys.argv[1:]) + ["checked", "5000", "300", "32"][len(argv or sys.argv[1:]):]
    select, budget, n, size = args[0], int(args[1]), int(args[2]), int(args[3])
    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    X, y = X[:n], y[:n]
    oracle = zoo.load("efficientnet-lite0", image_size=size)
    clf = BlackBoxReprogrammingClassifier(oracle, sample_shape=(8, 8), embed_size=size * 3 // 4,
                                          select=select, max_queries=budget, max_iter=10**6,
                                          random_state=0)
    started = time.time()
    search = GridSearchCV(clf, {"q": [2, 5], "m": [1, 3]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    results = search.cv_results_
    for params, mean, spread in zip(results["params"], results["mean_test_score"],
                                    results["std_test_score"]):
        print(select, budget, n, size, params, f"{mean:.3f} ± {spread:.3f}", flush=True)
    print(f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
