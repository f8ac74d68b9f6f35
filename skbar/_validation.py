"""Checks of the samples given to a fitted estimator, beyond scikit-learn's own.

``validate_data(reset=False)`` compares the number of features only, i.e. ``X.shape[1]``:
images ``(n, 4, 8)`` after ``(n, 4, 4)``, or grey after RGB, pass it and would be
embedded, cropped or padded without a word.
"""

from .canvas import data_range

#: With ``rescale=False``, how far outside ``[0, 1]`` a value may lie and be clipped
#: rather than refused: test data scaled by a ``MinMaxScaler`` fitted on the training
#: set stray a little; bytes (0-255) or standardised data (-5 to 5) do not pass.
PIXEL_SLACK = 0.25


def check_like_fit(estimator, X):
    """Check ``X`` against ``fit``: the same sample shape and, without rescaling, pixels.

    Parameters
    ----------
    estimator : BlackBoxReprogrammingClassifier
        Its ``sample_shape_in_`` (set by ``fit``) and ``rescale``.
    X : ndarray or numpy.memmap of shape (n, ...)
        As ``validate_data`` returned it (any numeric dtype); values beyond ``[0, 1]``
        by less than :data:`PIXEL_SLACK` are clipped batch by batch
        (:class:`skbar.canvas.Samples`).

    Raises
    ------
    ValueError
        If a sample's shape (height, width, channels) is not the one ``fit`` saw, or,
        with ``rescale=False``, if a value lies more than :data:`PIXEL_SLACK` outside
        ``[0, 1]``. ``X`` is read a chunk at a time, never copied whole.
    """
    expected = getattr(estimator, "sample_shape_in_", None)
    if expected is not None and tuple(X.shape[1:]) != tuple(expected):
        raise ValueError(
            f"X has samples of shape {tuple(X.shape[1:])}, but {type(estimator).__name__} "
            f"was fitted on samples of shape {tuple(expected)}; give it images of the same "
            "size and channels (resize or convert them first)."
        )
    if estimator.rescale or not X.size:
        return
    low, high = data_range(X)
    if low < -PIXEL_SLACK or high > 1 + PIXEL_SLACK:
        raise ValueError(
            f"rescale=False takes X as pixels in [0, 1], but X spans [{low:g}, {high:g}]; "
            "divide bytes by 255, or set rescale=True to map the range seen in fit to [0, 1]."
        )
