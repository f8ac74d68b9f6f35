"""Baselines of the ASD table that need no gradient of the source model.

- trained from scratch on the target data alone: logistic regression and a small
  network (``MLPClassifier``) on the upper triangle of each correlation matrix;
- the linear probe: logistic regression on the black-box outputs for the embedded
  sample, one query per training sample.

The white-box ones (adversarial reprogramming with true gradients, fine-tuning) need
torch and live in :mod:`skbar.experiments._torch`.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ._asd import make_bar_pipeline, upper_triangle


def make_logistic_baseline():
    """Logistic regression on the upper triangle: the simulated cohort's calibration model.

    ``make_asd_cohort`` is calibrated so that this model reaches about 71% 10-fold
    accuracy on the full cohort at ``difficulty=1``: the ceiling a linear read-out of the
    raw data gets.
    """
    return Pipeline([
        ("features", FunctionTransformer(upper_triangle)),
        ("logistic", LogisticRegression(max_iter=1000)),
    ])


def make_mlp_baseline(hidden_layer_sizes=(64,), alpha=1.0, max_iter=200, random_state=0):
    """A small network trained from scratch on the target data alone.

    One hidden layer over the standardised upper triangle, with strong L2 (``alpha``)
    and early stopping: about 20,000 inputs and a thousand subjects.
    """
    return Pipeline([
        ("features", FunctionTransformer(upper_triangle)),
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=hidden_layer_sizes, alpha=alpha,
                              early_stopping=True, max_iter=max_iter,
                              random_state=random_state)),
    ])


def make_linear_probe(oracle, output_alpha=10.0, **params):
    """Logistic regression on the source model's log-probabilities for the embedded sample.

    This is the estimator's learned output mapping with no program search
    (``output_mapping="linear"``, ``max_iter=0``): each training sample is embedded in a
    grey frame and sent once, and a multinomial logistic regression is fitted on the log
    source scores. ``n_queries_`` is the number of training samples.

    Parameters
    ----------
    oracle : object
    output_alpha : float, default=10.0
        L2 regularisation of the ridge output mapping.
    **params
        Embedding parameters (``embed_size``, ``batch_size``, ...).
    """
    return make_bar_pipeline(oracle, mapping="random", output_mapping="linear",
                             output_alpha=output_alpha, max_iter=0, **params)
