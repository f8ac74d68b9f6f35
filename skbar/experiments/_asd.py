"""The paper's ASD task: the data, the embedding pipeline and the scorers of its table.

Tsai et al. (2020), section 4.1: autism (ASD) vs control from ABIDE, one 200x200
correlation matrix per subject embedded in the source model's input, 10-fold
cross-validation, accuracy, sensitivity and specificity.
"""

import numpy as np
from sklearn.metrics import make_scorer, recall_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import Bunch

from .._classifier import BlackBoxReprogrammingClassifier
from ..datasets import load_abide, make_asd_cohort

#: The label of ASD subjects in ``load_abide`` and ``make_asd_cohort`` (controls are 0).
ASD, CONTROL = 1, 0


def load_asd_task(abide_root=None, *, n_asd=503, n_control=531, n_regions=200,
                  difficulty=1.0, random_state=0):
    """The ASD task's data: real ABIDE when ``abide_root`` is given, else the SIMULATED cohort.

    Parameters
    ----------
    abide_root : str or Path, optional
        A folder of ABIDE Preprocessed CC200 files and the phenotypic CSV
        (:func:`skbar.datasets.load_abide`). None simulates a cohort instead
        (:func:`skbar.datasets.make_asd_cohort`).
    n_asd, n_control, n_regions, difficulty, random_state
        The simulated cohort's size, atlas, effect size and seed (the paper's 503 + 531
        subjects and 200 regions by default); ignored for ABIDE.

    Returns
    -------
    task : :class:`~sklearn.utils.Bunch`
        ``data`` (n, R, R) correlation matrices in [-1, 1], ``target`` (1 = ASD,
        0 = control), ``simulated`` (bool) and ``name``, a line saying which data it is.
    """
    if abide_root is not None:
        data, target = load_abide(abide_root, n_regions=n_regions, return_X_y=True)
        name = f"ABIDE Preprocessed CC200 from {abide_root}"
        simulated = False
    else:
        data, target = make_asd_cohort(n_asd, n_control, n_regions=n_regions,
                                       difficulty=difficulty, random_state=random_state,
                                       return_X_y=True)
        name = (f"SIMULATED ASD cohort (make_asd_cohort, difficulty={difficulty}, "
                f"random_state={random_state}), not ABIDE")
        simulated = True
    name += (f": {int((target == ASD).sum())} ASD + {int((target == CONTROL).sum())} control, "
             f"{data.shape[1]}x{data.shape[2]} correlation matrices")
    return Bunch(data=data, target=target, simulated=simulated, name=name)


def correlation_to_pixels(X):
    """Correlations in [-1, 1] as pixel values in [0, 1]: ``(r + 1) / 2``.

    A fixed map, the same for every fold and grid point, where the estimator's
    ``rescale=True`` would stretch each training fold's own range.
    """
    return (np.asarray(X, dtype=np.float32) + 1.0) * 0.5


def upper_triangle(X):
    """The ``R (R - 1) / 2`` distinct correlations of each ``(R, R)`` matrix, as features."""
    X = np.asarray(X)
    i, j = np.triu_indices(X.shape[1], k=1)
    return X[:, i, j]


def pixels_pipeline(estimator, name="bar"):
    """``correlation_to_pixels``, then ``estimator`` as step ``name``: every model reads the
    same pixels."""
    return Pipeline([("pixels", FunctionTransformer(correlation_to_pixels)), (name, estimator)])


def make_bar_pipeline(oracle, **params):
    """BAR on correlation matrices: ``correlation_to_pixels``, then the estimator.

    Parameters
    ----------
    oracle : object
        The source model (see :class:`~skbar.BlackBoxReprogrammingClassifier`).
    **params
        Further estimator parameters (``q``, ``m``, ``embed_size``, ...). Unless given,
        ``output_mapping="average"``, ``gradient="random"`` and ``antithetic=False``: the
        paper's BAR.

    Returns
    -------
    Pipeline
        Steps ``"pixels"`` and ``"bar"``: grid parameters read ``bar__q``, ``bar__m``.
    """
    # The paper's BAR unless told otherwise: the fixed multi-label average and one-sided
    # differences, so that the tables compare the method as published.
    params = {"rescale": False, "output_mapping": "average", "gradient": "random",
              "antithetic": False, **params}
    return pixels_pipeline(BlackBoxReprogrammingClassifier(oracle, **params))


def fit_queries(estimator, X=None, y=None):
    """Images the estimator sent to its source model during ``fit`` (a scorer).

    Reads ``n_queries_`` of the last step of a pipeline; 0 for a model that never
    queries one (e.g. a baseline trained on the data alone). Used as a scorer so that
    ``cross_validate`` and ``GridSearchCV`` report it per fold beside the accuracy;
    it sends nothing to the model.
    """
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    return int(getattr(final, "n_queries_", 0))


def asd_scoring():
    """The scorers of the paper's ASD table, and the queries each fit spent.

    Returns
    -------
    scoring : dict
        ``accuracy``; ``sensitivity``, the recall of ASD (label 1); ``specificity``, the
        recall of controls (label 0); ``queries``, :func:`fit_queries`. scikit-learn
        predicts once per fold for the three metrics together.
    """
    return {
        "accuracy": "accuracy",
        "sensitivity": make_scorer(recall_score, pos_label=ASD, zero_division=0.0),
        "specificity": make_scorer(recall_score, pos_label=CONTROL, zero_division=0.0),
        "queries": fit_queries,
    }
