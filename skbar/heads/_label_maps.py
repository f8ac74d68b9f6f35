"""Multi-label mapping: from source-class scores to target-class scores.

Tsai et al. (2020), section 3.2: each target class ``c`` owns ``m`` source labels, and its
score is their average, ``h_c(F(X)) = (1/m) sum_{s in S_c} F_s(X)``. The sets ``S_c`` are
disjoint: a source label never counts for two target classes (the released BAR code's
frequency mapping broke this; here every map is checked).

A label map is an integer array of shape ``(n_classes, m)`` of source-class indices.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment


def check_label_map(label_map, n_classes, n_source):
    """Validate an explicit label map and return it as an int array.

    Raises
    ------
    ValueError
        If its shape is not ``(n_classes, m)``, an index is outside ``[0, n_source)``,
        or a source label is used twice.
    """
    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.shape[0] != n_classes or label_map.shape[1] < 1:
        raise ValueError(
            f"mapping must be an array of shape (n_classes={n_classes}, m); "
            f"got shape {label_map.shape}."
        )
    if not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError("mapping must hold integer source-class indices.")
    if label_map.min() < 0 or label_map.max() >= n_source:
        raise ValueError(
            f"mapping holds source-class indices outside [0, {n_source}): "
            f"min {label_map.min()}, max {label_map.max()}."
        )
    if np.unique(label_map).size != label_map.size:
        raise ValueError("mapping uses a source label for more than one target slot.")
    return label_map.astype(np.intp)


def check_mapping_size(n_classes, n_source, m):
    if n_classes * m > n_source:
        raise ValueError(
            f"{n_classes} target classes with m={m} source labels each need "
            f"{n_classes * m} distinct source labels, but the oracle has {n_source}; "
            f"use m <= {n_source // n_classes}."
        )


def random_label_map(n_classes, n_source, m, random_state):
    """``m`` distinct source labels per target class, drawn at random without replacement."""
    check_mapping_size(n_classes, n_source, m)
    chosen = random_state.choice(n_source, size=n_classes * m, replace=False)
    return chosen.reshape(n_classes, m).astype(np.intp)


def choose_label_map(how, scores, y, n_classes, n_source, m, rng):
    """The label map of a fit: ``m`` source labels of ``n_source`` per target class.

    Parameters
    ----------
    how : {"frequency", "random"} or array of shape (n_classes, m)
        By frequency on the first answers ``scores`` (:func:`frequency_label_map`), at
        random from ``rng`` (:func:`random_label_map`), or given (checked; its indices
        are read modulo ``n_source``, the model's class each stands for).
    scores : ndarray of shape (n_samples, n_source) or None
    y : ndarray of shape (n_samples,)
    n_classes, n_source, m : int
    rng : numpy.random.RandomState
    """
    if isinstance(how, str) and how == "frequency":
        return frequency_label_map(scores, y, n_classes, m)
    if isinstance(how, str):
        return random_label_map(n_classes, n_source, m, rng)
    return np.asarray(how, dtype=np.intp) % n_source


def frequency_label_map(source_scores, y, n_classes, m):
    """The ``m`` source labels each target class's data already predicts most.

    The paper's frequency mapping, made disjoint: the "frequency" of source label ``s``
    for class ``c`` is the mean score the oracle gives ``s`` on the class-``c`` samples
    (soft counts: with few samples, arg-max counts are mostly ties at zero). Labels are
    then assigned so that the total frequency is as large as possible with no label
    shared, an assignment problem solved exactly (Hungarian algorithm) with each class
    standing in ``m`` rows.

    Parameters
    ----------
    source_scores : ndarray of shape (n_samples, n_source)
        The oracle's scores on the target data before reprogramming.
    y : ndarray of shape (n_samples,)
        Encoded target labels in ``[0, n_classes)``.
    """
    n_source = source_scores.shape[1]
    check_mapping_size(n_classes, n_source, m)
    frequency = np.zeros((n_classes, n_source))
    for c in range(n_classes):
        members = source_scores[y == c]
        if len(members):
            frequency[c] = members.mean(axis=0)
    rows, cols = linear_sum_assignment(np.repeat(frequency, m, axis=0), maximize=True)
    label_map = np.empty((n_classes, m), dtype=np.intp)
    label_map.reshape(-1)[rows] = cols
    # Within a class, most frequent label first: easier to read in a report.
    order = np.argsort(-np.take_along_axis(frequency, label_map, axis=1), axis=1, kind="stable")
    return np.take_along_axis(label_map, order, axis=1)


def apply_label_map(source_scores, label_map):
    """Target-class probabilities: the average score of each class's source labels, normalised.

    Returns an array of shape ``(n_samples, n_classes)`` whose rows sum to one.
    """
    target = source_scores[:, label_map].mean(axis=2)
    total = target.sum(axis=1, keepdims=True)
    # Sparse (top-k) oracles can give a class no score at all: keep the row a distribution.
    n_classes = label_map.shape[0]
    zero = total[:, 0] <= 0
    target[zero] = 1.0 / n_classes
    total[zero] = 1.0
    return target / total


def log_scores(source_scores):
    """The source scores as log-probabilities: what a learned head reads.

    Log-probabilities are the logits up to a per-row constant, which a softmax head
    ignores: the head reads the oracle's evidence, not its saturated probabilities.

    A score of exactly zero is one the oracle did not give: an API that answers only its
    top ``k`` classes leaves the others out. Its log is taken as one nat below the
    lowest score the row does give (it ranked below all of them), not as ``log(0)``: a
    label entering or leaving the top ``k`` then moves the features by about a nat, not
    by the 27 of a clipped ``log(1e-12)``, and the head reads the answers better.
    """
    scores = np.asarray(source_scores)
    given = scores > 0
    if given.all():
        return np.log(scores)
    lowest = np.where(given, scores, np.inf).min(axis=1, keepdims=True)
    floor = np.log(np.where(np.isfinite(lowest), lowest, _LEFT_OUT)) - 1.0
    return np.where(given, np.log(np.where(given, scores, 1.0)), floor)


#: The score taken for a row that gives none at all.
_LEFT_OUT = 1e-12


def answers_top_k(source_scores, rows=2048):
    """Whether the oracle answers only its top classes: most rows leave some out (score 0).

    Read ``rows`` rows at a time (no mask of the whole array)."""
    source_scores = np.asarray(source_scores)
    leaving_out = sum(int(np.any(source_scores[start:start + rows] == 0, axis=1).sum())
                      for start in range(0, len(source_scores), rows))
    return bool(leaving_out / max(len(source_scores), 1) > 0.5)


def label_map_prior(label_map, n_source):
    """The multi-label mapping as a linear map on log source scores, ``(n_classes, n_source)``.

    Row ``c`` averages the log scores of class ``c``'s ``m`` source labels (the log of
    their geometric mean, the multi-label average of eq. (2) in the log domain), minus
    the mean of that over the classes (a softmax ignores a shift common to all classes).
    """
    n_classes, m = label_map.shape
    prior = np.zeros((n_classes, n_source))
    np.put_along_axis(prior, label_map, 1.0 / m, axis=1)
    return prior - prior.mean(axis=0)


def fit_linear_map(source_scores, y, n_classes, alpha=10.0, label_map=None, calibration=None):
    """A learned head: ridge regression from log source scores to the classes.

    The alternative to the fixed multi-label average (see ILM-VP, Chen et al. 2023, and
    the "linear probe" of black-box transfer): each target class gets a weight for every
    source class, fitted on outputs the fit has already paid for. The fit is closed-form
    (ridge regression on one-vs-all +-1 targets), so refitting it every few steps costs a
    fraction of a second; a temperature, fitted by cross-entropy on the same outputs,
    turns its scores into probabilities for the loss.

    With a ``label_map``, the ridge penalty pulls the head towards the multi-label
    mapping instead of towards zero: the head is the mapping (scaled to the targets'
    size) plus a residual that the data must pay for. With few or uninformative
    outputs it stays near the paper's mapping; with many, the data decide.

    Parameters
    ----------
    source_scores : ndarray of shape (n_samples, n_source), RowsOf or LogScores
        The answers; a :class:`LogScores`, or a :class:`RowsOf` of one, shares its log
        scores and kernel with the other fits on the same answers.
    y : ndarray of shape (n_samples,)
        Encoded target labels in ``[0, n_classes)``.
    n_classes : int
    alpha : float
        L2 regularisation of the ridge fit (of the residual, with a ``label_map``).
    label_map : ndarray of shape (n_classes, m), optional
        The multi-label mapping the head starts from (:func:`label_map_prior`).
    calibration : tuple (source_scores, y), optional
        Other outputs to fit the temperature on. A head's temperature fitted on its own
        training outputs is overconfident on new ones; fitted on held-out outputs, it
        makes their loss a fair measure (one scalar learned from them).

    Returns
    -------
    coef : ndarray of shape (n_classes, n_source)
        Already multiplied by the temperature.
    intercept : ndarray of shape (n_classes,)
    """
    from scipy.optimize import minimize_scalar

    design, rows = LogScores.rows_of(source_scores)
    n = len(y)
    targets = np.full((n, n_classes), -1.0)
    targets[np.arange(n), y] = 1.0
    projection = 0.0
    prior = np.zeros((n_classes, design.shape[1]))
    if label_map is not None:
        prior = label_map_prior(label_map, design.shape[1])
        projection = design.apply(rows, prior, 0.0)
        # Scaled by least squares to the targets (never reversed): a mapping the data
        # contradict pulls the head towards zero, as plain ridge would.
        centred = projection - projection.mean(axis=0)
        norm = float(np.sum(centred * centred))
        scale = max(float(np.sum(centred * targets)), 0.0) / norm if norm > 0 else 0.0
        prior *= scale
        projection = projection * scale
    coef, intercept = _ridge(design, rows, targets - projection, alpha)
    coef = coef + prior
    absent = np.setdiff1d(np.arange(n_classes), y)
    intercept[absent] = -1e3  # a class absent from the data is never predicted
    if calibration is not None:
        (design, rows), y = LogScores.rows_of(calibration[0]), calibration[1]
    scores = design.apply(rows, coef, intercept)
    # The cross-entropy at temperature t, from scores shifted so that each row's largest
    # is 0 (no overflow at any t): mean over rows of log sum exp(t z) - t z_y.
    shifted = scores - scores.max(axis=1, keepdims=True)
    labelled = shifted[np.arange(len(y)), y]

    def cross_entropy(log_t):
        t = np.exp(log_t)
        return float(np.mean(np.log(np.exp(t * shifted).sum(axis=1)) - t * labelled))

    temperature = np.exp(minimize_scalar(cross_entropy, bounds=(-3, 5), method="bounded").x)
    return coef * temperature, intercept * temperature


class RowsOf:
    """The rows ``idx`` of ``scores``, read a slice at a time: what the head's fit reads
    of a subset (a fold, a half) without copying the subset whole.

    Supports what :func:`fit_linear_map` uses: ``len``, ``shape``, slicing and
    ``numpy.asarray``. Over a :class:`LogScores`, the fit reads the shared log scores.
    """

    def __init__(self, scores, idx):
        self.scores = scores
        self.idx = np.asarray(idx)
        self.shape = (len(self.idx), scores.shape[1])

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, part):
        return self.scores[self.idx[part]]

    def __array__(self, dtype=None, copy=None):
        rows = self.scores[self.idx]
        return rows if dtype is None else rows.astype(dtype)


#: Rows of log scores formed at a time by the head's fit: 16 MB of float64 at 1,000
#: classes, however many samples are kept.
FIT_ROWS = 2048

#: Log scores a :class:`LogScores` holds whole (float64: 64 MB); more answers are read
#: a chunk of rows at a time at each fit (memory then follows ``n_source``).
HELD_VALUES = 2**23

#: Rows up to which a :class:`LogScores` forms the kernel of every pair of its rows,
#: sliced by the dual fits on its subsets (128 MB of float64 at most).
KERNEL_ROWS = 4096


class LogScores:
    """Answers that several ridge fits read, their log scores formed once for all.

    A refit of the head, the objective's two half heads and the check's five folds fit
    the same answers, or subsets of their rows. Each would take the log of every score
    and, in the dual form (fewer samples than scores), form its samples' kernel. Shared,
    the logs are taken once, and the kernel of all the rows is formed once and sliced
    for each subset: with the rows' features ``F`` centred on their mean, the kernel of
    a subset ``S`` centred on its own mean is ``J (F F^T)[S, S] J``, ``J`` the centring
    matrix of ``S``.

    Parameters
    ----------
    source_scores : ndarray of shape (n, n_source) or RowsOf
        Read whole now where ``n * n_source`` is at most :data:`HELD_VALUES` or there
        are fewer rows than scores (a dual fit reads them whole anyway); else a chunk
        of rows at a time at every fit, as :func:`fit_linear_map` reads plain scores.
    shared : bool, default=True
        Whether several fits will read it: the kernel of every pair of rows is then
        formed on the first dual fit (up to :data:`KERNEL_ROWS` rows, and twice as many
        rows as scores). A single fit forms its own rows' kernel only.

    Reads as the raw scores where an array is expected (``len``, ``shape``, slicing,
    ``numpy.asarray``), for the heads that read scores, not log scores.
    """

    def __init__(self, source_scores, shared=True):
        self.scores = source_scores
        self.shape = tuple(source_scores.shape)
        n, k = self.shape
        self.features = self.mean = None
        if n * k <= HELD_VALUES or n < k:
            self.features = log_scores(np.asarray(source_scores, dtype=np.float64))
            self.mean = self.features.mean(axis=0)
        self._kernel = None
        self._last_rows = self._last_held = None  # _held's last copy
        self._share_kernel = shared and self.features is not None and n <= min(2 * k,
                                                                              KERNEL_ROWS)

    @classmethod
    def rows_of(cls, source_scores):
        """``(design, rows)`` of ``source_scores``: its shared :class:`LogScores` and rows
        (None: all), or one of its own for a single fit."""
        if isinstance(source_scores, cls):
            return source_scores, None
        if isinstance(source_scores, RowsOf) and isinstance(source_scores.scores, cls):
            return source_scores.scores, source_scores.idx
        return cls(source_scores, shared=False), None

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, part):
        return self.scores[part]

    def __array__(self, dtype=None, copy=None):
        scores = np.asarray(self.scores)
        return scores if dtype is None else scores.astype(dtype)

    def n_rows(self, rows):
        return self.shape[0] if rows is None else len(rows)

    def _held(self, rows):
        """The log scores of ``rows``: a copy, kept for the next call with the same
        ``rows`` (a fit reads its rows three or four times: its projection on the label
        map, its mean, its kernel, its scores for the temperature)."""
        if rows is None:
            return self.features
        if self._last_rows is not rows:
            self._last_rows, self._last_held = rows, self.features[rows]
        return self._last_held

    def chunks(self, rows):
        """``(slice, log scores)`` of consecutive rows of ``rows``: never all at once."""
        if self.features is not None:
            held = self._held(rows)
            for start in range(0, len(held), FIT_ROWS):
                part = slice(start, start + FIT_ROWS)
                yield part, held[part]
            return
        yield from _log_chunks(self.scores if rows is None else RowsOf(self.scores, rows))

    def apply(self, rows, coef, intercept):
        """``log_scores(rows) @ coef.T + intercept``."""
        out = np.empty((self.n_rows(rows), coef.shape[0]))
        for part, features in self.chunks(rows):
            out[part] = features @ coef.T + intercept
        return out

    def row_mean(self, rows):
        """The mean log scores of ``rows``."""
        if self.features is not None:
            return self.mean if rows is None else self._held(rows).mean(axis=0)
        total = np.zeros(self.shape[1])
        for _, features in self.chunks(rows):
            total += features.sum(axis=0)
        return total / self.n_rows(rows)

    def kernel(self, rows):
        """The kernel ``(F_S - mean) (F_S - mean)^T`` of ``rows`` centred on their mean,
        and those centred features (for a dual fit: fewer rows than scores)."""
        if self.features is None:  # too many to hold, but a subset of fewer than K
            features = log_scores(np.asarray(RowsOf(self.scores, rows), dtype=np.float64))
        else:
            features = self._held(rows)
        centred = features - self.row_mean(rows)
        if not self._share_kernel:
            return centred @ centred.T, centred
        if self._kernel is None:
            whole = self.features - self.mean
            self._kernel = whole @ whole.T
        if rows is None:  # centred on the mean of all rows already
            return self._kernel.copy(), centred
        # A subset's, centred on its own mean: J K J, J = I - 1 1^T / n (in place).
        kernel = np.take(np.take(self._kernel, rows, axis=0), rows, axis=1)
        row_means = kernel.mean(axis=1)
        kernel -= row_means[:, None]
        kernel -= row_means[None, :]
        kernel += row_means.mean()
        return kernel, centred


def _log_chunks(source_scores, rows=FIT_ROWS):
    """``(slice, log scores)`` of consecutive rows: the features, never all at once."""
    for start in range(0, len(source_scores), rows):
        part = slice(start, min(start + rows, len(source_scores)))
        yield part, log_scores(np.asarray(source_scores[part], dtype=np.float64))


def _ridge(design, rows, targets, alpha):
    """Ridge regression with an intercept from the log scores of ``design``'s ``rows``
    (None: all) to ``targets``.

    The closed form scikit-learn's ``Ridge(solver="cholesky")`` solves, in whichever form
    is smaller: the dual ``(n, n)`` system where there are fewer samples than scores, else
    the primal ``(K, K)`` one, its Gram matrix summed a chunk of rows at a time (memory
    follows ``K``, not the number of samples). An ill-conditioned system (large log
    scores of the classes a top-k answer leaves out) is solved through its eigenvalues.

    Returns ``(coef, intercept)`` of shapes ``(n_targets, K)`` and ``(n_targets,)``.
    """
    n, k = design.n_rows(rows), design.shape[1]
    target_mean = targets.mean(axis=0)
    targets = targets - target_mean
    mean = design.row_mean(rows)
    if n < k:
        kernel, features = design.kernel(rows)
        coef = _solve_psd(kernel, targets, alpha).T @ features
    else:
        gram, cross = np.zeros((k, k)), np.zeros((k, targets.shape[1]))
        for part, features in design.chunks(rows):
            features = features - mean
            gram += features.T @ features
            cross += features.T @ targets[part]
        coef = _solve_psd(gram, cross, alpha).T
    return coef, target_mean - mean @ coef.T


def _solve_psd(matrix, rhs, alpha):
    """``(matrix + alpha I)^-1 rhs`` for a positive semi-definite ``matrix`` (overwritten)."""
    from scipy.linalg import eigh, lapack

    matrix.flat[::matrix.shape[0] + 1] += alpha
    # What scipy.linalg.solve(assume_a="pos") does (a Cholesky factor, its condition
    # number), without its general-purpose checks, which cost a third of the solve.
    factor, solution, info = lapack.dposv(matrix, rhs)
    if info == 0:
        rcond, _ = lapack.dpocon(factor, np.linalg.norm(matrix, 1))
        if rcond >= np.finfo(np.float64).eps:
            return solution
    values, vectors = eigh(matrix)
    return vectors @ ((vectors.T @ rhs) / np.maximum(values, alpha)[:, None])


def apply_linear_map(source_scores, coef, intercept):
    """Target-class probabilities from a learned head (rows sum to one)."""
    from scipy.special import softmax

    return softmax(log_scores(source_scores) @ coef.T + intercept, axis=1)
