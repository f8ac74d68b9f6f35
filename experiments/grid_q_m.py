"""Experiment: GridSearchCV over q and m on 300 digits, Lite0 at 32 px; argv: select budget."""
import sys, warnings, time
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from skbar import BlackBoxReprogrammingClassifier, zoo
warnings.simplefilter("ignore")
select, budget = sys.argv[1], int(sys.argv[2])
X, y = load_digits(return_X_y=True)
X, y = X[:300], y[:300]
oracle = zoo.load("efficientnet-lite0", image_size=32)
clf = BlackBoxReprogrammingClassifier(oracle, sample_shape=(8, 8), embed_size=24, select=select,
                                      max_queries=budget, max_iter=10**6, random_state=0)
t = time.time()
search = GridSearchCV(clf, {"q": [2, 5], "m": [1, 3]}, cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
r = search.cv_results_
for p, m, s in zip(r["params"], r["mean_test_score"], r["std_test_score"]):
    print(select, budget, p, f"{m:.3f} ± {s:.3f}", flush=True)
print("seconds", time.time() - t)
