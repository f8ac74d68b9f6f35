"""BlackBoxReprogrammingClassifier: wires the oracle, program, mapping, loss and optimiser."""

import copy
import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checkpoint import load_checkpoint, save_checkpoint
from ._progress import progress_bar
from .losses import cross_entropy, focal_loss
from .mapping import (apply_label_map, apply_linear_map, check_label_map, check_mapping_size,
                      fit_linear_map, frequency_label_map, random_label_map)
from .optim import CMAES, SGD, SPSAGC, Adam, RandomDirectionEstimator
from .oracles import BudgetExhausted, OracleError, QueryCounter, call_oracle, oracle_input_shape
from .program import Program, match_channels, resize_images, to_images


def _search_step(f, w, estimator, optimizer, rng):
    """One step of the search from ``w``: return ``(new_w, loss near w)``.

    A gradient step estimates the gradient from values of ``f`` (at the optimiser's
    look-ahead point, if it has one) and steps on it; an evolution strategy ranks
    candidates of its own.
    """
    if hasattr(optimizer, "search_step"):
        return optimizer.search_step(f, w, rng)
    at = optimizer.lookahead(w) if hasattr(optimizer, "lookahead") else w
    g, f_w = estimator.estimate(f, at, rng)
    return optimizer.step(w, g), f_w


class _LatestOutputs:
    """The latest oracle output paid for on each training sample: refit data for free.

    Refits of the output mapping read one row per distinct sample, each from the most
    recent program it was queried under, so no row is counted twice and none is lost.
    """

    def __init__(self, y, initial=None):
        self.y = y
        self.n_samples = n_samples = len(y)
        self.scores = None if initial is None else np.asarray(initial, dtype=np.float32)
        self.known = np.full(n_samples, initial is not None)

    def record(self, idx, scores):
        if self.scores is None:
            self.scores = np.zeros((self.n_samples, scores.shape[1]), dtype=np.float32)
        self.scores[idx] = scores
        self.known[idx] = True

    def __bool__(self):
        return bool(self.known.any())


#: The method of Tsai et al. (2020) as published, as estimator parameters: the fixed
#: multi-label average, random unit directions on the sphere with one-sided differences
#: (``b = d``), a full-resolution ``W`` and SGD at their step size. Use it as
#: ``BlackBoxReprogrammingClassifier(oracle, **PAPER_BAR, m=..., q=...)``.
PAPER_BAR = {"output_mapping": "average", "gradient": "random", "antithetic": False,
             "program_shape": None, "optimizer": "sgd", "learning_rate": 0.05}


class BlackBoxReprogrammingClassifier(ClassifierMixin, BaseEstimator):
    """Black-box adversarial reprogramming (BAR) of a pretrained classifier.

    Repurposes a source model that can only be queried for a new target task: each
    target sample is embedded in the centre of the model's input canvas, a universal
    learned program ``P = tanh(W ⊙ M)`` fills the rest, and a multi-label mapping turns
    the model's source-class scores into target-class scores. ``W`` is trained by
    zeroth-order optimisation, from loss values alone.

    Parameters
    ----------
    oracle : object, default=None
        The source model: anything with ``predict_proba(canvases)``, or a callable, that
        takes a float32 batch ``(n, H, W, C)`` in ``[0, 1]`` and returns ``(n, K)``
        non-negative scores. None uses the built-in EfficientNet-Lite0
        (:func:`skbar.zoo.load`).
    input_shape : tuple of int, default=None
        The canvas ``(H, W, C)`` when the oracle has no ``input_shape`` attribute.
    sample_shape : tuple of int, default=None
        ``(h, w)`` or ``(h, w, c)`` to reshape 2-D ``X`` rows into; else each row is
        laid out in the smallest square that holds it, zero-padded.
    embed_size : int or tuple of int, default=None
        ``(h, w)`` the sample is resized to (Pillow, bilinear) before it is embedded;
        its own size when None.
    rescale : bool, default=True
        Map ``X`` linearly from the range seen in ``fit`` to ``[0, 1]`` pixels (clipped
        at predict time). False takes ``X`` as pixels in ``[0, 1]`` already.
    q : int, default=5
        Random directions per gradient estimate. A step costs ``(q + 1) * batch_size``
        queries (``2 q * batch_size`` when ``antithetic``).
    m : int, default=3
        Source labels per target class in the multi-label mapping.
    mapping : {"frequency", "random"} or array of shape (n_classes, m), default="frequency"
        How source labels are assigned: those the target data already predicts most
        (costs one query per training sample), at random, or given explicitly.
    output_mapping : {"average", "iterative", "linear"}, default="linear"
        How source scores become target scores: the paper's multi-label average over
        ``label_map_``; the same average with ``label_map_`` re-chosen by frequency every
        ``refit_every`` steps under the current program (iterative label mapping,
        ILM-VP, Chen et al. 2023); or a learned linear map (closed-form ridge regression
        on the log source scores, with a fitted temperature), fitted on the training data's outputs
        under the initial program (one query per sample). Refits during the search use
        outputs it has already paid for: no extra query (see ``refit_final`` for the
        last one).
    output_alpha : float, default=10.0
        L2 regularisation of the learned linear output mapping (a ridge fit).
    refit_every : int, default=10
        Steps between refits of the iterative or learned output mapping.
    refit_final : bool, default=True
        When the search ends, query every training sample once under the final program
        and refit the iterative or learned output mapping on those outputs: the mapping
        then reads the outputs of the program it is shipped with (tiny changes of the
        program change the source model's answers a lot). Costs one query per training
        sample, held in reserve from ``max_queries``. False refits on the latest output
        paid for on each sample during the search, at no extra query.
    loss : {"focal", "ce"}, default="focal"
        Focal loss or cross-entropy on the mapped probabilities.
    gamma : float, default=2.0
        Focal loss focusing parameter.
    class_weight : "balanced", dict or None, default=None
        Per-class weights ``w`` of the loss.
    beta : float, default=0.01
        Smoothing radius of the finite differences: a perturbation moves each coordinate
        of ``W`` by ``beta`` with ``gradient="spsa"``, and ``W`` as a whole by ``beta``
        with ``gradient="random"``.
    b : float, default=None
        Scaling of the gradient estimate; when None, the search dimension ``d`` for
        directions on the sphere (the paper's choice) and 1 for SPSA's random signs.
    antithetic : bool, default=True
        Two-sided differences along each direction.
    program_shape : "auto", tuple of int or None, default="auto"
        ``(h, w)`` of a reduced ``W``, bilinearly upsampled to the canvas (AutoZOOM);
        ``"auto"`` is 8x8 (or the canvas, if smaller); None is the full canvas.
    optimizer : {"sgd", "adam", "spsa-gc", "cma"} or object, default="spsa-gc"
        The update rule on the gradient estimate: SGD (the paper's), Adam (ZO-AdaMM),
        or SPSA-GC, BlackVIP's Nesterov step with decaying gain (see
        :class:`skbar.optim.SPSAGC`); or "cma", CMA-ES from the ``cma`` package, which
        searches by ranking ``4 + 3 ln d`` candidate programs per step and uses no
        gradient estimate (a step costs that many minibatches). An object with
        ``step(w, g)``, ``get_state``, ``set_state`` (and optionally ``lookahead(w)``,
        the point to estimate the gradient at), or with ``search_step(f, w, rng)``,
        ``n_evaluations(d)``, ``get_state``, ``set_state`` for a search of its own.
    gradient : {"random", "spsa"} or object, default="spsa"
        The zeroth-order estimator: random unit directions on the sphere (the paper's,
        scaled by ``b``), or SPSA's random signs (+-1 in every coordinate, scaled by 1);
        both built from ``q``, ``beta`` and ``antithetic``. An object with
        ``estimate(f, w, rng)`` and ``n_evaluations()`` replaces them.
    learning_rate : float, default=0.01
        Step size ``alpha`` (the paper's ``eta``, 0.05); for SPSA-GC the first gain
        ``a_0``, which decays as ``(t + 1) ** -0.602``. Adam's steps are about this size
        in every coordinate whatever the noise of the estimate, so it is kept small.
        For ``optimizer="cma"``, the initial step size ``sigma`` of the population.
    lr_decay : float, default=0.0
        ``alpha_t = learning_rate / (1 + lr_decay * t)``.
    batch_size : int, default=32
        Target samples per minibatch.
    max_iter : int, default=100
        Optimisation steps (in addition to those already taken, with ``warm_start``).
    max_queries : int, default=None
        Hard budget of images sent to the oracle during ``fit``, the frequency
        mapping's included, and summed over warm-started fits. The fit stops before it
        would send one image more.
    warm_start : bool, default=False
        Continue from the program, optimiser state and query count of the previous fit,
        or of ``checkpoint`` when the estimator has not been fitted in this process.
    checkpoint : str or path, default=None
        An ``.npz`` file the fit's state is saved to every ``checkpoint_every`` steps
        and when it stops.
    checkpoint_every : int, default=10
    cost_per_1000 : float, default=None
        Price of 1,000 queries; when given, ``cost_`` reports the money spent.
    verbose : int, default=0
        1 shows a progress bar of queries spent with the running loss.
    callback : callable, default=None
        ``callback(estimator, info)`` after every step; returning True stops the fit.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    label_map_ : ndarray of shape (n_classes, m)
        Source-class indices mapped to each target class.
    output_coef_, output_intercept_ : ndarray or None
        The learned linear output mapping, with ``output_mapping="linear"``.
    program_ : ndarray
        The trained ``W``, of shape ``program_shape + (C,)`` or the canvas shape.
    mask_ : ndarray of shape (H, W, C)
        ``M``: 0 exactly over the embedded sample, 1 elsewhere.
    n_queries_ : int
        Images sent to the oracle during ``fit`` (all fits, with ``warm_start``).
    n_iter_ : int
        Optimisation steps taken.
    loss_curve_ : list of float
        Minibatch loss at each step, before the step.
    stop_reason_ : str
        Why the last fit stopped: "max_iter", "max_queries", "callback",
        "interrupted" or "oracle_error".
    cost_ : float or None
        ``n_queries_ * cost_per_1000 / 1000``.
    n_source_classes_ : int
        K, the number of source classes.

    See Also
    --------
    skbar.OnnxOracle : An oracle over an ONNX image classifier.

    Notes
    -----
    The estimator reaches the model only through ``oracle``: no step uses a true
    gradient. Peak memory of a step holds one minibatch of canvases, whatever ``q``.

    References
    ----------
    Y.-Y. Tsai, P.-Y. Chen and T.-Y. Ho. "Transfer Learning without Knowing:
    Reprogramming Black-box Machine Learning Models with Scarce Data and Limited
    Resources." ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar import BlackBoxReprogrammingClassifier
    >>> rng = np.random.RandomState(0)
    >>> weights = rng.randn(8 * 8 * 3, 10)
    >>> def oracle(canvases):
    ...     logits = canvases.reshape(len(canvases), -1) @ weights
    ...     e = np.exp(logits - logits.max(axis=1, keepdims=True))
    ...     return e / e.sum(axis=1, keepdims=True)
    >>> X = rng.rand(40, 4)
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> clf = BlackBoxReprogrammingClassifier(oracle, input_shape=(8, 8, 3), q=5,
    ...                                       max_iter=5, random_state=0).fit(X, y)
    >>> clf.n_queries_  # 40 initial outputs, 5 steps of 2 q x 32 images, 40 final ones
    1680
    """

    _parameter_constraints = {
        "oracle": "no_validation",
        "input_shape": [tuple, list, None],
        "sample_shape": [tuple, list, None],
        "embed_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "rescale": ["boolean"],
        "q": [Interval(Integral, 1, None, closed="left")],
        "m": [Interval(Integral, 1, None, closed="left")],
        "mapping": [StrOptions({"frequency", "random"}), "array-like"],
        "output_mapping": [StrOptions({"average", "iterative", "linear"})],
        "output_alpha": [Interval(Real, 0, None, closed="neither")],
        "refit_every": [Interval(Integral, 1, None, closed="left")],
        "refit_final": ["boolean"],
        "loss": [StrOptions({"focal", "ce"})],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "b": [Interval(Real, 0, None, closed="neither"), None],
        "antithetic": ["boolean"],
        "program_shape": [StrOptions({"auto"}), tuple, list, None],
        "optimizer": [StrOptions({"sgd", "adam", "spsa-gc", "cma"}),
                      HasMethods(["step", "get_state", "set_state"]),
                      HasMethods(["search_step", "n_evaluations", "get_state", "set_state"])],
        "gradient": [StrOptions({"random", "spsa"}), HasMethods(["estimate", "n_evaluations"])],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "max_queries": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "checkpoint": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "cost_per_1000": [Interval(Real, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "callback": [callable, None],
        "random_state": ["random_state"],
    }

    def __init__(self, oracle=None, *, input_shape=None, sample_shape=None, embed_size=None,
                 rescale=True, q=5, m=3, mapping="frequency", output_mapping="linear",
                 output_alpha=10.0, refit_every=10, refit_final=True, loss="focal", gamma=2.0,
                 class_weight=None, beta=0.01, b=None, antithetic=True, program_shape="auto",
                 optimizer="spsa-gc", gradient="spsa", learning_rate=0.01, lr_decay=0.0,
                 batch_size=32, max_iter=100, max_queries=None, warm_start=False,
                 checkpoint=None, checkpoint_every=10, cost_per_1000=None, verbose=0,
                 callback=None, random_state=None):
        self.oracle = oracle
        self.input_shape = input_shape
        self.sample_shape = sample_shape
        self.embed_size = embed_size
        self.rescale = rescale
        self.q = q
        self.m = m
        self.mapping = mapping
        self.output_mapping = output_mapping
        self.output_alpha = output_alpha
        self.refit_every = refit_every
        self.refit_final = refit_final
        self.loss = loss
        self.gamma = gamma
        self.class_weight = class_weight
        self.beta = beta
        self.b = b
        self.antithetic = antithetic
        self.program_shape = program_shape
        self.optimizer = optimizer
        self.gradient = gradient
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_queries = max_queries
        self.warm_start = warm_start
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.cost_per_1000 = cost_per_1000
        self.verbose = verbose
        self.callback = callback
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the program on ``(X, y)`` by querying the oracle.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, h, w) or (n, h, w, c)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : object

        Raises
        ------
        skbar.OracleError
            If the oracle fails or answers malformed scores. What was learned before
            the failure is kept on the estimator (and in ``checkpoint``), so
            ``warm_start=True`` continues from it.
        """
        X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32,
                             ensure_min_samples=2)
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}); reprogramming needs at least two."
            )
        oracle = self._get_oracle()
        canvas_shape = oracle_input_shape(oracle, self.input_shape)

        resume = self._resume_state(classes)
        if resume is None:
            self.data_min_, self.data_max_ = float(X.min()), float(X.max())
            self._refit_data = None
        samples = self._samples(X, canvas_shape)
        program = Program(canvas_shape, samples.shape[1:3], self._program_shape(canvas_shape))

        estimator = self._make_gradient_estimator()
        optimizer = self._make_optimizer()
        rng = check_random_state(self.random_state)
        counter = QueryCounter(oracle, self.max_queries)
        loss_fn = self._make_loss(y_encoded, classes)

        self.classes_ = classes
        self.mask_ = program.mask
        self.canvas_shape_ = canvas_shape
        if resume is not None:
            self._restore(resume, program, optimizer, rng, counter)
        else:
            self.n_queries_, self.n_iter_, self.loss_curve_ = 0, 0, []
            self.program_ = np.zeros(program.w_shape)
            try:
                self._initial_mapping(counter, program, samples, y_encoded, classes.size, rng)
            except (OracleError, BudgetExhausted) as exc:
                # The mapping's queries are spent even though no mapping was made.
                self.stop_reason_ = ("max_queries" if isinstance(exc, BudgetExhausted)
                                     else "oracle_error")
                raise type(exc)(
                    f"{exc} The fit stopped while choosing the label mapping, after "
                    f"{counter.n_queries} queries (n_queries_); nothing was learned yet."
                ) from exc
            finally:
                self.n_queries_ = counter.n_queries
                self.cost_ = self._cost()
        self._optimizer, self._rng = optimizer, rng

        self._train(counter, program, samples, y_encoded, estimator, optimizer, loss_fn, rng)
        return self

    def _train(self, counter, program, samples, y, estimator, optimizer, loss_fn, rng):
        n = samples.shape[0]
        batch = min(self.batch_size, n)
        w = self.program_
        step_cost = self._queries_per_step(estimator, optimizer, w.size, n)
        learned = self.output_mapping in ("iterative", "linear")
        # Queries kept back for the final pass over the training set.
        reserve = n if learned and self.refit_final else 0
        # Outputs the refits learn from: at first the training set under the initial
        # program, then, step by step, each minibatch under the current one.
        seen = getattr(self, "_refit_data", None)
        if seen is None or not np.array_equal(seen.y, y):  # a new fit, or new data
            seen = _LatestOutputs(y, getattr(self, "_initial_outputs", None))
        # Kept for a warm start in this process (not pickled).
        self._refit_data, self._initial_outputs = seen, None
        bar = progress_bar(self.max_queries, initial=counter.n_queries,
                           enabled=bool(self.verbose))
        self.stop_reason_ = "max_iter"
        first_step = self.n_iter_
        try:
            for _ in range(self.max_iter):
                if not counter.can_afford(step_cost + reserve):
                    self.stop_reason_ = "max_queries"
                    break
                idx = rng.choice(n, size=batch, replace=False)
                batch_samples, batch_y = samples[idx], y[idx]
                recorded = False

                def f(w_trial):
                    nonlocal recorded
                    canvases = program.compose(program.frame(w_trial), batch_samples)
                    scores = counter(canvases)
                    if learned and not recorded:
                        # The step's first outputs, near the current program: free data
                        # for refitting the output mapping (one evaluation a step).
                        seen.record(idx, scores)
                        recorded = True
                    return loss_fn(self._map_scores(scores), batch_y)

                spent_before = counter.n_queries
                w, f_w = _search_step(f, w, estimator, optimizer, rng)
                self.program_ = w
                self.n_iter_ += 1
                if learned and self.n_iter_ % self.refit_every == 0:
                    self._refit_output_mapping(seen, y)
                self.loss_curve_.append(f_w)
                self.n_queries_ = counter.n_queries
                bar.update(counter.n_queries - spent_before)
                bar.set_postfix(loss=f"{f_w:.4f}", **self._cost_postfix())
                if self.checkpoint is not None and self.n_iter_ % self.checkpoint_every == 0:
                    self._save_checkpoint(optimizer, rng)
                if self.callback is not None and self.callback(
                        self, {"n_iter": self.n_iter_, "loss": f_w,
                               "n_queries": self.n_queries_}):
                    self.stop_reason_ = "callback"
                    break
            moved = self.n_iter_ > first_step  # else the outputs are those of w already
            if learned and reserve and moved and counter.can_afford(reserve):
                # The head must read the outputs of the program it is shipped with.
                self._final_pass(counter, program, samples, seen, bar)
            if learned and seen:
                self._refit_output_mapping(seen, y)
        except BudgetExhausted as exc:
            # An oracle that retries can run into the budget mid-step: the step is lost,
            # the program before it is kept.
            self.stop_reason_ = "max_queries"
            warnings.warn(f"The fit stopped at the query budget: {exc}", RuntimeWarning)
        except KeyboardInterrupt:
            self.stop_reason_ = "interrupted"
            warnings.warn(
                f"The fit was interrupted after {self.n_iter_} steps and {counter.n_queries} "
                "queries; the program learned so far is kept (fit again with "
                "warm_start=True to continue).", RuntimeWarning)
        except OracleError as exc:
            self.stop_reason_ = "oracle_error"
            raise OracleError(
                f"{str(exc).rstrip('.')}. The fit stopped after {self.n_iter_} steps and {counter.n_queries} "
                "queries; the program learned so far is kept on the estimator"
                + (f" and in {os.fspath(self.checkpoint)!r}" if self.checkpoint else "")
                + " (fit again with warm_start=True to continue)."
            ) from exc
        finally:
            self.n_queries_ = counter.n_queries
            self.cost_ = self._cost()
            bar.close()
            if self.checkpoint is not None:
                self._save_checkpoint(optimizer, rng)

    def _final_pass(self, counter, program, samples, seen, bar):
        """Query every training sample once under the current program into ``seen``."""
        for idx, canvases in self._canvas_chunks(program, samples):
            seen.record(idx, counter(canvases))
            bar.update(idx.size)

    def _canvas_chunks(self, program, samples):
        """``(indices, canvases)`` of ``samples`` under the current program, a chunk at a time."""
        frame = program.frame(self.program_)
        chunk = max(self.batch_size, 64)
        for start in range(0, samples.shape[0], chunk):
            idx = np.arange(start, min(start + chunk, samples.shape[0]))
            yield idx, program.compose(frame, samples[idx])

    def _refit_to_program(self, X, y):
        """Refit the output mapping on ``X``'s outputs under the current program.

        What the final pass of a fit does, for a program set from outside (white-box
        AR) or a fit stopped early (the query-efficiency benchmark). The oracle is called
        directly, not through a budget. Returns the number of images sent.
        """
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        samples = self._samples(X, self.canvas_shape_)
        program = Program(self.canvas_shape_, samples.shape[1:3],
                          self._program_shape(self.canvas_shape_))
        oracle = self._get_oracle()
        scores = np.concatenate([call_oracle(oracle, canvases)
                                 for _, canvases in self._canvas_chunks(program, samples)])
        y_encoded = np.searchsorted(self.classes_, np.asarray(y))
        self._refit_output_mapping(_LatestOutputs(y_encoded, scores), y_encoded)
        return samples.shape[0]

    def _queries_per_step(self, estimator, optimizer, d, n_samples):
        """What one step of the search costs, for a ``W`` of ``d`` numbers."""
        evaluations = (optimizer.n_evaluations(d) if hasattr(optimizer, "search_step")
                       else estimator.n_evaluations())
        return evaluations * min(self.batch_size, n_samples)

    # ------------------------------------------------------------- predict

    def predict_proba(self, X):
        """Target-class probabilities of the reprogrammed model (rows sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, h, w) or (n, h, w, c)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        oracle = self._get_oracle()
        samples = self._samples(X, self.canvas_shape_)
        program = Program(self.canvas_shape_, samples.shape[1:3],
                          self._program_shape(self.canvas_shape_))
        proba = [self._map_scores(call_oracle(oracle, canvases))
                 for _, canvases in self._canvas_chunks(program, samples)]
        return np.concatenate(proba, axis=0)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    def decision_function(self, X):
        """Log-probabilities per class; for two classes, the log-odds of ``classes_[1]``."""
        log_proba = self.predict_log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """The target class with the highest mapped probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def reprogram(self, X):
        """The canvases the oracle sees for ``X``: each sample framed by the learned program.

        Returns
        -------
        canvases : ndarray of shape (n_samples, H, W, C), float32 in [0, 1]
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        samples = self._samples(X, self.canvas_shape_)
        program = Program(self.canvas_shape_, samples.shape[1:3],
                          self._program_shape(self.canvas_shape_))
        return program.compose(program.frame(self.program_), samples)

    def __getstate__(self):
        # The refit data are a cache of outputs for a warm start in this process: they
        # can be large (one row of source scores per training sample), so pickles and
        # clones leave them out.
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its own
        state.pop("_refit_data", None)
        state.pop("_initial_outputs", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------- helpers

    def _get_oracle(self):
        if self.oracle is not None:
            return self.oracle
        from .zoo import load

        return load()

    def _samples(self, X, canvas_shape):
        """``X`` as pixels in [0, 1], resized and with the canvas's channels."""
        if self.rescale:
            span = self.data_max_ - self.data_min_
            X = (X - self.data_min_) / (span if span > 0 else 1.0)
            X = np.clip(X, 0.0, 1.0)
        images = to_images(X, self.sample_shape)
        if self.embed_size is not None:
            size = self.embed_size
            size = (size, size) if isinstance(size, Integral) else tuple(size)
            images = resize_images(images, size)
        return match_channels(images, canvas_shape[2])

    def _program_shape(self, canvas_shape):
        if isinstance(self.program_shape, str):  # "auto"
            return (min(8, canvas_shape[0]), min(8, canvas_shape[1]))
        return self.program_shape

    def _make_gradient_estimator(self):
        if isinstance(self.gradient, str):
            distribution = "rademacher" if self.gradient == "spsa" else "sphere"
            return RandomDirectionEstimator(self.q, self.beta, self.b, distribution,
                                            antithetic=self.antithetic)
        return copy.deepcopy(self.gradient)

    def _make_optimizer(self):
        if self.optimizer == "sgd":
            return SGD(self.learning_rate, self.lr_decay)
        if self.optimizer == "adam":
            return Adam(self.learning_rate, self.lr_decay)
        if self.optimizer == "spsa-gc":
            return SPSAGC(self.learning_rate)
        if self.optimizer == "cma":
            return CMAES(sigma=self.learning_rate)
        return copy.deepcopy(self.optimizer)

    def _make_loss(self, y, classes):
        n_classes = classes.size
        if self.class_weight is None:
            weights = None
        elif self.class_weight == "balanced":
            counts = np.bincount(y, minlength=n_classes)
            weights = len(y) / (n_classes * np.maximum(counts, 1))
        else:
            weights = np.array([self.class_weight.get(c, 1.0) for c in classes], dtype=float)
        if self.loss == "focal":
            return lambda proba, yb: focal_loss(proba, yb, self.gamma, weights)
        return lambda proba, yb: cross_entropy(proba, yb, weights)

    def _initial_mapping(self, counter, program, samples, y, n_classes, rng):
        """Set ``label_map_`` (and the learned output mapping), paying through ``counter``.

        The frequency mapping and the learned output mapping both need the oracle's
        scores on every training sample under the initial program: one query each,
        made once and shared.
        """
        frequency = isinstance(self.mapping, str) and self.mapping == "frequency"
        scores = None
        if frequency or self.output_mapping == "linear":
            if not counter.can_afford(samples.shape[0]):
                raise ValueError(
                    f"mapping='frequency' and output_mapping='linear' query every training "
                    f"sample once ({samples.shape[0]} queries) but max_queries="
                    f"{self.max_queries}; raise max_queries, or use mapping='random' with "
                    "output_mapping='average'."
                )
            scores = np.concatenate([counter(canvases) for _, canvases
                                     in self._canvas_chunks(program, samples)])
            n_source = scores.shape[1]
        else:
            n_source = getattr(self._get_oracle(), "n_classes", None)
            if n_source is None:
                # An oracle that does not say how many classes it has is asked once.
                one = program.compose(program.frame(self.program_), samples[:1])
                n_source = counter(one).shape[1]
        self.n_source_classes_ = int(n_source)
        if frequency:
            self.label_map_ = frequency_label_map(scores, y, n_classes, self.m)
        elif isinstance(self.mapping, str):
            self.label_map_ = random_label_map(n_classes, self.n_source_classes_, self.m, rng)
        else:
            self.label_map_ = check_label_map(self.mapping, n_classes, self.n_source_classes_)
            check_mapping_size(n_classes, self.n_source_classes_, self.label_map_.shape[1])
        # Kept for the first refits of an iterative or learned mapping (not pickled).
        self._initial_outputs = scores
        self.output_coef_ = self.output_intercept_ = None
        if self.output_mapping == "linear":
            self.output_coef_, self.output_intercept_ = fit_linear_map(
                scores, y, n_classes, self.output_alpha)

    def _map_scores(self, scores):
        """Target-class probabilities from source scores, by the fitted output mapping."""
        if self.output_coef_ is not None:
            return apply_linear_map(scores, self.output_coef_, self.output_intercept_)
        return apply_label_map(scores, self.label_map_)

    def _refit_output_mapping(self, seen, y):
        """Refit the output mapping on the latest outputs the search paid for.

        One row per training sample, from the last program it was queried under (at or
        near the current one; the initial program for samples not drawn since): no
        extra query.
        """
        labels = y[seen.known]
        if np.unique(labels).size < 2:
            return
        scores = seen.scores[seen.known]
        if self.output_mapping == "iterative":
            self.label_map_ = frequency_label_map(scores, labels, self.classes_.size,
                                                  self.label_map_.shape[1])
        else:
            self.output_coef_, self.output_intercept_ = fit_linear_map(
                scores, labels, self.classes_.size, self.output_alpha)

    def _cost(self):
        if self.cost_per_1000 is None:
            return None
        return self.n_queries_ * self.cost_per_1000 / 1000.0

    def _cost_postfix(self):
        cost = self._cost()
        return {} if cost is None else {"cost": f"{cost:.2f}"}

    # -------------------------------------------------- warm start, checkpoints

    def _resume_state(self, classes):
        """What a warm start continues from: this estimator's last fit, or the checkpoint."""
        if not self.warm_start:
            return None
        if hasattr(self, "program_"):
            state = self._state(self._optimizer, self._rng)
        elif self.checkpoint is not None and os.path.exists(self.checkpoint):
            state = load_checkpoint(self.checkpoint)
        else:
            return None
        if not np.array_equal(np.asarray(state["classes"]).astype(str), classes.astype(str)):
            raise ValueError(
                f"warm_start: the classes of y {classes.tolist()} differ from those the program "
                f"was trained for {np.asarray(state['classes']).tolist()}."
            )
        self.data_min_, self.data_max_ = float(state["data_min"]), float(state["data_max"])
        return state

    def _state(self, optimizer, rng):
        """Everything a fit has paid for, as a dict of plain arrays."""
        kind, keys, pos, has_gauss, cached = rng.get_state()
        state = {
            "program": self.program_, "label_map": self.label_map_,
            "classes": np.asarray(self.classes_).astype(str),
            "n_queries": self.n_queries_, "n_iter": self.n_iter_,
            "loss_curve": np.asarray(self.loss_curve_, dtype=float),
            "n_source_classes": self.n_source_classes_,
            "data_min": self.data_min_, "data_max": self.data_max_,
            "rng_keys": keys, "rng_pos": pos, "rng_has_gauss": has_gauss, "rng_cached": cached,
        }
        if self.output_coef_ is not None:
            state.update(output_coef=self.output_coef_, output_intercept=self.output_intercept_)
        state.update({f"optimizer_{k}": v for k, v in optimizer.get_state().items()})
        return state

    def _restore(self, state, program, optimizer, rng, counter):
        if tuple(state["program"].shape) != program.w_shape:
            raise ValueError(
                f"warm_start: the saved program has shape {tuple(state['program'].shape)}, "
                f"this estimator's has {program.w_shape}; program_shape or the oracle changed."
            )
        self.program_ = np.array(state["program"], dtype=float)
        self.label_map_ = np.array(state["label_map"], dtype=np.intp)
        self.output_coef_ = state.get("output_coef")
        self.output_intercept_ = state.get("output_intercept")
        self.n_source_classes_ = int(state["n_source_classes"])
        self.n_queries_, self.n_iter_ = int(state["n_queries"]), int(state["n_iter"])
        self.loss_curve_ = [float(v) for v in state["loss_curve"]]
        counter.n_queries = self.n_queries_
        rng.set_state(("MT19937", np.asarray(state["rng_keys"], dtype=np.uint32),
                       int(state["rng_pos"]), int(state["rng_has_gauss"]),
                       float(state["rng_cached"])))
        optimizer.set_state({k[len("optimizer_"):]: v for k, v in state.items()
                             if k.startswith("optimizer_")})

    def _save_checkpoint(self, optimizer, rng):
        save_checkpoint(self.checkpoint, self._state(optimizer, rng))
