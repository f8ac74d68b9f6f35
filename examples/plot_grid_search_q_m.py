"""
================================
Grid search over ``q`` and ``m``
================================

The estimator is a scikit-learn classifier, so ``GridSearchCV`` tunes it like any other.
Here it searches the number of random directions per gradient estimate ``q`` and the
number of ImageNet labels per class ``m`` (the paper's study of section 4.3), on 600
digits, with the built-in model at 32 pixels and 5,000 queries a fit.

Every fit gets the same budget, so ``q`` trades the quality of each gradient estimate
against the number of steps. A fold trains on 400 digits: the passes over them before
and after the search cost 800 queries, and a step of SPSA costs ``2 q`` queries per
sample of the minibatch, so ``q=2`` buys 32 steps of 32 samples where ``q=5`` buys 13.
At this budget the steps win, by more than the spread between folds. ``m`` is the number
of labels the learned head starts from; it matters less.

The fit ships a searched program only where it reads better than the grey frame it
started from (the black-box linear probe), so the grid compares programs that earned
their place, and cross-validation picks among them. A scorer reads the queries each fit
spent from its ``n_queries_``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbar import BlackBoxReprogrammingClassifier, zoo

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
oracle = zoo.load("efficientnet-lite0", image_size=32)
clf = BlackBoxReprogrammingClassifier(oracle, sample_shape=(8, 8), embed_size=24,
                                      max_queries=5000, max_iter=10**6, random_state=0)


def queries(estimator, X, y):
    """The queries the fit spent (a scorer that reads the fitted estimator)."""
    return estimator.n_queries_


# Fitted in the statement that builds it: a block ending in ``search.fit(X, y)`` would
# show the search's repr, and with it the oracle's path in this machine's model cache.
search = GridSearchCV(
    clf, {"q": [2, 5], "m": [1, 3]},
    scoring={"accuracy": "accuracy", "queries": queries}, refit="accuracy",
    cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)

# %%
# The table of the grid (mean ± standard deviation over the three folds), and the best
# point.
results = search.cv_results_
for params, accuracy, spread, spent in zip(
        results["params"], results["mean_test_accuracy"], results["std_test_accuracy"],
        results["mean_test_queries"]):
    print(f"q={params['q']:2d} m={params['m']}: accuracy {accuracy:.3f} ± {spread:.3f}, "
          f"{spent:,.0f} queries a fit")
print("best:", search.best_params_)

# %%
# Mean cross-validated accuracy of each grid point.
grid = np.array(results["mean_test_accuracy"]).reshape(2, 2)  # rows m, columns q
fig, ax = plt.subplots(figsize=(4, 3))
image = ax.imshow(grid, cmap="viridis")
ax.set_xticks([0, 1], ["q=2", "q=5"])
ax.set_yticks([0, 1], ["m=1", "m=3"])
for (i, j), value in np.ndenumerate(grid):
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white")
fig.colorbar(image, ax=ax, label="CV accuracy")
fig.tight_layout()
plt.show()
