"""The paper's ASD task as arrays: real ABIDE or the simulated cohort, and its features.

Tsai et al. (2020), section 4.1, classify autism (ASD) against controls from one 200x200
correlation matrix per subject. :func:`load_asd_task` gives those matrices from either
source behind one call, :func:`correlation_to_pixels` turns them into pixel values for a
source model's canvas, and :func:`upper_triangle` into flat features for the models
trained on the data alone.
"""

import numpy as np
from sklearn.utils import Bunch

from ._abide import load_abide
from ._simulated_asd import make_asd_cohort

#: The target of ASD subjects in :func:`load_abide`, :func:`make_asd_cohort` and
#: :func:`load_asd_task`.
ASD = 1
#: The target of control subjects.
CONTROL = 0


def load_asd_task(abide_root=None, *, n_asd=503, n_control=531, n_regions=200,
                  difficulty=1.0, random_state=0):
    """Load the ASD task's data: real ABIDE when ``abide_root`` is given, else SIMULATED.

    Parameters
    ----------
    abide_root : str or Path, optional
        A folder of ABIDE Preprocessed CC200 files and the phenotypic CSV, read by
        :func:`load_abide`. None simulates a cohort instead, with
        :func:`make_asd_cohort`.
    n_asd, n_control : int, default=503, 531
        Simulated ASD and control subjects (the paper's ABIDE counts); ignored for ABIDE.
    n_regions : int, default=200
        Regions of the atlas: the side of each correlation matrix.
    difficulty : float, default=1.0
        The simulated cohort's difficulty (see :func:`make_asd_cohort`); ignored for
        ABIDE.
    random_state : int, RandomState instance or None, default=0
        Seed of the simulated cohort; ignored for ABIDE.

    Returns
    -------
    task : :class:`~sklearn.utils.Bunch`
        data : ndarray of shape (n_subjects, n_regions, n_regions)
            Correlation matrices, in [-1, 1].
        target : ndarray of shape (n_subjects,)
            :data:`ASD` (1) or :data:`CONTROL` (0).
        simulated : bool
            Whether the data are the simulated cohort rather than ABIDE.
        name : str
            One line saying which data these are and how many subjects of each group,
            for the top of a report: a simulated cohort must never pass for ABIDE.

    Examples
    --------
    >>> from skbar.datasets import load_asd_task
    >>> task = load_asd_task(n_asd=10, n_control=10, n_regions=16)
    >>> task.data.shape, task.simulated
    ((20, 16, 16), True)
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
    """Map correlations in [-1, 1] to pixel values in [0, 1]: ``(r + 1) / 2``.

    A fixed map, the same for every fold and grid point, where an estimator's
    ``rescale=True`` would stretch each training fold's own range. Wrapped in a
    :class:`~sklearn.preprocessing.FunctionTransformer`, it is the first step of a
    pipeline.

    Parameters
    ----------
    X : array-like
        Correlations, of any shape: typically ``(n_subjects, R, R)`` matrices.

    Returns
    -------
    pixels : ndarray of the shape of ``X``, float32
        In [0, 1]: -1 is black, 0 grey, 1 white.
    """
    return (np.asarray(X, dtype=np.float32) + 1.0) * 0.5


def upper_triangle(X):
    """The distinct correlations of each matrix, as a flat feature vector.

    A correlation matrix is symmetric with a unit diagonal, so only the entries above the
    diagonal carry information.

    Parameters
    ----------
    X : array-like of shape (n_subjects, R, R)
        Correlation matrices.

    Returns
    -------
    features : ndarray of shape (n_subjects, R * (R - 1) / 2)
        Row by row, the entries above the diagonal.
    """
    X = np.asarray(X)
    i, j = np.triu_indices(X.shape[1], k=1)
    return X[:, i, j]
