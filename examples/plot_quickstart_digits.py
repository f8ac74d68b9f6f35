"""
==================================================
Quickstart: reprogram an ImageNet model for digits
==================================================

Repurpose EfficientNet-Lite0, an ImageNet classifier we only query for its output
probabilities, to recognise scikit-learn's handwritten digits. The estimator trains a
*program*, a frame of pixels around each digit, so that the model's ImageNet answers
read as digit labels; it sees no weight and no gradient of the model.

The model is run at 96x96 pixels and the fit is given 3,000 queries, so the example takes
seconds; ``skbar demo`` runs the same task at 128 pixels with 20,000 queries.
"""

# %%
# The task and the model
# ----------------------
# ``skbar.zoo.load`` returns the built-in model as an oracle: a ``predict_proba`` over
# canvases of ``(96, 96, 3)`` pixels in ``[0, 1]`` answering 1000 ImageNet scores.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skbar import BlackBoxReprogrammingClassifier, zoo

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=300, test_size=300, stratify=y, random_state=0)
oracle = zoo.load("efficientnet-lite0", image_size=96)
oracle.input_shape

# %%
# Fit under a hard budget
# -----------------------
# ``max_queries`` is a hard budget: the fit stops before it would send one image more.
# Each 8x8 digit is resized to 64x64 pixels at the centre of the canvas; the program
# covers the frame around it.
import warnings

from skbar import ProbeShippedWarning

clf = BlackBoxReprogrammingClassifier(
    oracle, sample_shape=(8, 8), embed_size=64, max_queries=3000, max_iter=10**6,
    random_state=0)
with warnings.catch_warnings(record=True) as caught:  # printed below, as a user reads it
    warnings.simplefilter("always", ProbeShippedWarning)
    clf.fit(X_train, y_train)
for warning in caught:
    print(f"{warning.category.__name__}: {warning.message}")
print(f"test accuracy {clf.score(X_test, y_test):.3f} after {clf.n_queries_:,d} queries "
      f"({clf.n_iter_} steps, stopped on {clf.stop_reason_})")

# %%
# Did the program earn its place?
# -------------------------------
# The fit paid for the model's answers on every training sample both under the grey
# frame it started from (the black-box linear probe) and under the searched program. It
# cross-validates the head on each and ships the searched program only where it reads
# better by more than one standard error; ``search_check_`` says what it found. Here the
# searched program reads several points better. Where it does not (a task on which no
# program helps, or a budget too small), the fit ships the grey frame, is exactly the
# probe, never worse, and says so with a ``ProbeShippedWarning``.
print(clf.search_check_)

# %%
# What the model sees
# -------------------
# :class:`~skbar.plotting.ReprogrammingDisplay` shows the learned program and a few test
# digits exactly as they are sent to the model, with the predicted label of each.
import matplotlib.pyplot as plt

from skbar.plotting import LabelMappingDisplay, QueryCurveDisplay, ReprogrammingDisplay

display = ReprogrammingDisplay.from_estimator(clf, X_test[:9], y_test[:9])
display.figure_.tight_layout()

# %%
# The training loss against the queries
# -------------------------------------
# :class:`~skbar.plotting.QueryCurveDisplay` draws the minibatch loss of every step at
# the queries spent by then. The search reads its loss through heads fitted on the
# answers paid for so far, refitted every 10 steps: between refits the loss rises as the
# program moves away from the answers they were fitted on, and it falls at each refit.
QueryCurveDisplay.from_estimator(clf, name="skbar defaults")
plt.tight_layout()

# %%
# The label mapping
# -----------------
# Each digit is read from ``m`` ImageNet labels; the default output mapping is a ridge
# head whose weights :class:`~skbar.plotting.LabelMappingDisplay` shows, with the
# ImageNet names of the labels.
LabelMappingDisplay.from_estimator(clf, source_names="imagenet")
plt.tight_layout()
plt.show()
