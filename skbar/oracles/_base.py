"""The oracle contract: the only door through which skbar reaches a source model.

An oracle takes a float32 batch of canvases ``(n, H, W, C)`` with pixel values in
``[0, 1]`` and returns an ``(n, K)`` array of non-negative scores over the K source
classes. Anything with a ``predict_proba`` method, or any plain callable, is one.
"""

import inspect
import os
from numbers import Integral

import numpy as np


class OracleError(RuntimeError):
    """The oracle failed, or answered something that is not a score matrix."""


class BudgetExhausted(RuntimeError):
    """A query would have exceeded the budget; nothing was sent."""


def oracle_input_shape(oracle):
    """The canvas shape ``(H, W, C)`` the oracle takes: its ``input_shape`` attribute.

    Raises
    ------
    ValueError
        If the oracle does not say what its canvas shape is.
    """
    shape = getattr(oracle, "input_shape", None)
    if shape is None:
        raise ValueError(
            "The canvas shape is unknown: the oracle has no `input_shape` attribute. Wrap a "
            "plain function as skbar.oracles.FunctionOracle(func, input_shape=(H, W, C))."
        )
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes, got {shape}.")
    return shape


def check_oracle(oracle):
    """The ``oracle`` a user gave, as an object skbar can query; checked before any query.

    Parameters
    ----------
    oracle : object, str or os.PathLike
        An object with a ``predict_proba(canvases)`` method and an ``input_shape``
        attribute (the canvas ``(H, W, C)``), returned as it is; or the path of an
        ``.onnx`` file, opened as :class:`~skbar.OnnxOracle` ``(path)`` with its defaults.

    Returns
    -------
    oracle : object

    Raises
    ------
    ValueError
        If ``oracle`` lacks ``predict_proba`` or ``input_shape`` (the message names what
        it lacks), or is a path to something other than an ``.onnx`` file.
    FileNotFoundError
        If the ``.onnx`` file does not exist.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.oracles import FunctionOracle, check_oracle
    >>> oracle = FunctionOracle(lambda c: np.ones((len(c), 4)), (8, 8, 3))
    >>> check_oracle(oracle) is oracle
    True
    >>> check_oracle(lambda c: np.ones((len(c), 4)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: oracle must have a predict_proba(canvases) method and an input_shape ...
    """
    if isinstance(oracle, (str, os.PathLike)):
        path = os.fspath(oracle)
        if not str(path).lower().endswith(".onnx"):
            raise ValueError(
                f"oracle is the path {path!r}, which does not end in .onnx; a path is opened "
                "as skbar.OnnxOracle(path), for an ONNX model only. Give any other model as "
                "an object with predict_proba(canvases) and input_shape.")
        from ._onnx import OnnxOracle

        return OnnxOracle(path)
    missing = [name for name, present in (
        ("predict_proba", callable(getattr(oracle, "predict_proba", None))),
        # Looked up without running a property: an HTTP or Dask oracle asks its server.
        ("input_shape", inspect.getattr_static(oracle, "input_shape", None) is not None
         or hasattr(oracle, "input_shape"))) if not present]
    if missing:
        raise ValueError(
            "oracle must have a predict_proba(canvases) method and an input_shape attribute "
            f"(H, W, C), or be the path of an .onnx file; got a {type(oracle).__name__}, "
            f"which has no {' and no '.join(missing)}. Wrap a plain function as "
            "skbar.oracles.FunctionOracle(func, input_shape=(H, W, C)).")
    return oracle


class FunctionOracle:
    """A plain function as an oracle, with the canvas shape it takes.

    Parameters
    ----------
    func : callable
        ``func(canvases)``: a float32 batch ``(n, H, W, C)`` in ``[0, 1]`` to ``(n, K)``
        non-negative scores.
    input_shape : tuple of int
        The canvas ``(H, W, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.oracles import FunctionOracle
    >>> oracle = FunctionOracle(lambda canvases: np.ones((len(canvases), 4)), (8, 8, 3))
    >>> oracle.predict_proba(np.zeros((2, 8, 8, 3))).shape
    (2, 4)
    """

    def __init__(self, func, input_shape):
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}.")
        self.func = func
        self.input_shape = tuple(input_shape)

    def predict_proba(self, canvases):
        return self.func(canvases)

    def __repr__(self):
        name = getattr(self.func, "__name__", type(self.func).__name__)
        return f"FunctionOracle({name}, input_shape={self.input_shape})"


class TopKOracle:
    """Another oracle's answers cut to its ``k`` best classes, as many prediction APIs
    answer: those ``k`` scores, and zeros for every class left out.

    For measuring what a fit makes of such an API before paying for one (the estimator
    reads a zero as a class left out, :func:`skbar.heads.log_scores`).

    Parameters
    ----------
    oracle : object
        Anything :func:`call_oracle` accepts, with ``input_shape``.
    k : int, default=5

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.oracles import FunctionOracle, TopKOracle
    >>> full = FunctionOracle(lambda c: np.tile([0.1, 0.4, 0.2, 0.3], (len(c), 1)), (8, 8, 3))
    >>> TopKOracle(full, k=2).predict_proba(np.zeros((1, 8, 8, 3)))
    array([[0. , 0.4, 0. , 0.3]])
    """

    def __init__(self, oracle, k=5):
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        self.oracle = oracle
        self.k = int(k)
        self.input_shape = oracle_input_shape(oracle)

    @property
    def releases_gil(self):
        """Whether the oracle cut may answer in a worker thread (its own ``releases_gil``)."""
        return bool(getattr(self.oracle, "releases_gil", False))

    def predict_proba(self, canvases):
        scores = call_oracle(self.oracle, canvases)
        if self.k >= scores.shape[1]:
            return scores
        top = np.argpartition(-scores, self.k - 1, axis=1)[:, :self.k]
        kept = np.zeros_like(scores)
        np.put_along_axis(kept, top, np.take_along_axis(scores, top, axis=1), axis=1)
        return kept

    def __repr__(self):
        return f"TopKOracle({self.oracle!r}, k={self.k})"


def call_oracle(oracle, canvases, charge=None):
    """Send ``canvases`` to ``oracle`` and return its scores as a checked float64 matrix.

    Scores are normalised to sum to one per row when they do not already, so an oracle
    may answer probabilities or any non-negative scores.

    An oracle whose ``charges_queries`` attribute is true is handed ``charge``, a
    callable it must call with the number of images before each attempt to send them
    (retries included): ``charge(n)`` raises :class:`BudgetExhausted` rather than let
    an attempt pass the budget; ``charge(-n)`` refunds an attempt that provably never
    left (a refused connection). Every other oracle is charged once per call, before it.

    Raises
    ------
    OracleError
        If the oracle raises, or answers a matrix of the wrong shape, with NaN, infinite
        or negative entries, or a row of zeros.
    """
    n = canvases.shape[0]
    fn = oracle.predict_proba if hasattr(oracle, "predict_proba") else oracle
    charges_itself = bool(getattr(oracle, "charges_queries", False))
    if charge is not None and not charges_itself:
        charge(n)
    try:
        scores = fn(canvases, charge=charge) if charges_itself else fn(canvases)
    except (OracleError, BudgetExhausted, KeyboardInterrupt):
        raise
    except Exception as exc:  # any failure of a foreign model becomes one error type
        raise OracleError(f"The oracle raised {type(exc).__name__}: {exc}") from exc
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise OracleError(f"The oracle returned something that is not numeric: {exc}") from exc
    if scores.ndim != 2 or scores.shape[0] != n:
        raise OracleError(
            f"The oracle returned scores of shape {scores.shape} for {n} inputs; "
            f"expected ({n}, n_source_classes)."
        )
    # The row sums first: finite sums (nearly always) say that every score is finite,
    # which saves a pass over the answers.
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is handled below
        totals = scores.sum(axis=1, keepdims=True)
    summed = bool(np.all(np.isfinite(totals)))
    if not summed and not np.all(np.isfinite(scores)):
        raise OracleError("The oracle returned NaN or infinite scores.")
    if scores.size and scores.min() < 0:
        raise OracleError(
            "The oracle returned negative scores; expected probabilities or non-negative "
            "scores (wrap a logit model so that it applies a softmax)."
        )
    if not summed:
        # Finite scores near the float64 maximum (1e308) sum to infinity, and would
        # normalise to rows of zeros: divide them by each row's largest score first.
        scores = scores / scores.max(axis=1, keepdims=True)
        totals = scores.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise OracleError("The oracle returned a row of all-zero scores.")
    return scores / totals


class QueryCounter:
    """Counts every image sent to an oracle and refuses a batch that would pass the budget.

    Parameters
    ----------
    oracle : object
        Anything :func:`call_oracle` accepts.
    max_queries : int or None
        The hard budget, in images. None means unlimited.
    n_queries : int
        Queries already spent (by an earlier, warm-started fit).

    Attributes
    ----------
    n_classes : int or None
        The number of scores per image the oracle answers: set by the first answer
        (or by the fit, from its label mapping); an answer with another number is an
        :class:`OracleError`.
    """

    def __init__(self, oracle, max_queries=None, n_queries=0):
        self.oracle = oracle
        self.max_queries = max_queries
        self.n_queries = int(n_queries)
        self.n_classes = None
        self._charged_in_call = 0

    def remaining(self):
        if self.max_queries is None:
            return np.inf
        return self.max_queries - self.n_queries

    def can_afford(self, n_images):
        return n_images <= self.remaining()

    def charge(self, n_images):
        """Spend ``n_images`` queries, or raise :class:`BudgetExhausted` and spend none.

        Called before the images are sent: an image that reached a paid API is spent
        even if its answer is lost. A negative ``n_images`` refunds images charged
        earlier in the same call that provably never left, never more than that.
        """
        if n_images < 0:
            if -n_images > self._charged_in_call:
                raise OracleError(
                    f"The oracle asked to refund {-n_images} images but was charged "
                    f"{self._charged_in_call} in this call; a refund never exceeds a charge."
                )
            self.n_queries += int(n_images)
            self._charged_in_call += int(n_images)
            return
        if not self.can_afford(n_images):
            raise BudgetExhausted(
                f"Sending {n_images} more images would pass max_queries={self.max_queries} "
                f"({self.n_queries} spent)."
            )
        self.n_queries += int(n_images)
        self._charged_in_call += int(n_images)

    def __call__(self, canvases):
        self._charged_in_call = 0
        scores = call_oracle(self.oracle, canvases, charge=self.charge)
        if self.n_classes is None:
            self.n_classes = scores.shape[1]
        elif scores.shape[1] != self.n_classes:
            raise OracleError(
                f"The oracle answered {scores.shape[1]} scores per image, but "
                f"{self.n_classes} before (or in the checkpoint resumed): its number of "
                "classes changed during the fit."
            )
        return scores
