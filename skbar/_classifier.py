"""BlackBoxReprogrammingClassifier: wires the oracle, program, mapping, loss and optimiser."""

import copy
import functools
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (check_consistent_length, check_is_fitted, column_or_1d,
                                      validate_data)

from ._checkpoint import check_resume, data_fingerprint
from ._samples import Samples, data_range
from ._search import (MAX_REFIT_SAMPLES, LatestOutputs, final_pass_views,
                      keep_better_program, refit_output_mapping, run_search)
from ._validation import check_like_fit
from .callbacks import CheckpointSaver, ProgressBar, as_callbacks, check_checkpoints_writable
from .losses import cross_entropy, focal_loss
from .mapping import (answers_top_k, check_label_map, check_mapping_size, frequency_label_map,
                      random_label_map)
from .optim import CMAES, SGD, SPSA, SPSAGC, Adam, RandomDirections
from .oracles import (BudgetExhausted, OracleError, QueryCounter, call_oracle, check_oracle,
                      oracle_input_shape)
from .output_mapping import OUTPUT_MAPPINGS
from .program import Program

_GRADIENTS = {"spsa": SPSA, "random": RandomDirections}
_OPTIMIZERS = {"spsa-gc": SPSAGC, "sgd": SGD, "adam": Adam, "cma": CMAES}
_LOSSES = {"focal": focal_loss, "ce": cross_entropy}

#: The method of Tsai et al. (2020) as published, as estimator parameters: the fixed
#: multi-label average, random unit directions on the sphere with one-sided differences
#: (``b = d``), a full-resolution ``W``, SGD at their step size (0.05) and one query per
#: sample. Use it as
#: ``BlackBoxReprogrammingClassifier(oracle, **PAPER_BAR, m=..., q=...)``.
PAPER_BAR = {"output_mapping": "average", "gradient": "random", "program_shape": None,
             "optimizer": "sgd"}


def _one_view_copy(mapping):
    """An unstarted copy of the output mapping ``mapping`` that reads one view."""
    copy_ = clone(mapping)
    if "views" in copy_.get_params():
        copy_.set_params(views=1)
    return copy_


class BlackBoxReprogrammingClassifier(ClassifierMixin, BaseEstimator):
    """Black-box adversarial reprogramming (BAR) of a pretrained classifier.

    Repurposes a source model that can only be queried for a new target task: each
    target sample is embedded in the centre of the model's input canvas, a universal
    learned program ``P = tanh(W ⊙ M)`` fills the rest, and a multi-label mapping turns
    the model's source-class scores into target-class scores. ``W`` is trained by
    zeroth-order optimisation, from loss values alone.

    The method is made of parts, each a parameter: how ``W`` is searched (``gradient``,
    ``optimizer``), how source scores become target scores (``output_mapping``, built
    on the multi-label mapping ``mapping`` with ``m`` labels per class), what the loss
    is, and what happens beside the search (``callbacks``). A part is named by a string
    or given as an object whose own parameters a grid reaches, e.g.
    ``{"optimizer": [SPSAGC()], "optimizer__learning_rate": [0.005, 0.02]}``.

    Parameters
    ----------
    oracle : object, default=None
        The source model: anything with ``predict_proba(canvases)`` and ``input_shape``
        ``(H, W, C)``, that takes a float32 batch ``(n, H, W, C)`` in ``[0, 1]`` and
        returns ``(n, K)`` non-negative scores (wrap a plain function in
        :class:`skbar.oracles.FunctionOracle`). None uses the built-in
        EfficientNet-Lite0 (:func:`skbar.zoo.load`).
    sample_shape : tuple of int, default=None
        ``(h, w)`` or ``(h, w, c)`` to reshape 2-D ``X`` rows into; else each row is
        laid out in the smallest square that holds it, zero-padded.
    embed_size : int or tuple of int, default=None
        ``(h, w)`` the sample is resized to (Pillow, bilinear) before it is embedded;
        its own size when None.
    rescale : bool, default=True
        Map ``X`` linearly from the range seen in ``fit`` to ``[0, 1]`` pixels (clipped
        at predict time). False takes ``X`` as pixels in ``[0, 1]`` already: values a
        little outside are clipped, values more than 0.25 outside (bytes, standardised
        data) are refused.
    program_shape : "auto", tuple of int or None, default="auto"
        ``(h, w)`` of a reduced ``W``, bilinearly upsampled to the canvas (AutoZOOM);
        ``"auto"`` is 8x8 (or the canvas, if smaller); None is the full canvas.
    q : int, default=5
        Loss evaluations that inform one step: random directions per gradient estimate
        (a step costs ``(q + 1) * batch_size`` queries, ``2 q * batch_size`` with
        two-sided differences), or candidates per generation of an evolution strategy
        (``optimizer="cma"``: ``q * batch_size``).
    m : int or "auto", default="auto"
        Source labels per target class in the multi-label mapping. Every output mapping
        starts from it: the average over them (``"average"``, ``"iterative"``) or the
        mapping the learned head is pulled towards (``"linear"``). ``"auto"`` is 10 (as
        in the paper's experiments); 3 where the initial outputs show that the model
        answers only its top classes (most leave classes out with a score of 0), as
        its answers name few labels; and never more than the oracle's classes allow
        (``K // n_classes``: 1 for a two-class task on a model with two outputs).
    mapping : {"frequency", "random"} or array of shape (n_classes, m), default="frequency"
        How the ``m`` source labels of each class are chosen: those the target data
        already predicts most (costs one query per training sample, shared with the
        learned head's first fit), at random, or given explicitly (then ``m`` must
        equal its number of columns).
    output_mapping : {"linear", "average", "iterative"} or OutputMapping, default="linear"
        How source scores become target scores (:mod:`skbar.output_mapping`): a
        learned ridge head on the log source scores pulled towards the multi-label
        mapping (:class:`~skbar.output_mapping.LinearHead`), refitted on outputs
        already paid for and once more on the final program; the paper's fixed
        multi-label average (:class:`~skbar.output_mapping.MultiLabelAverage`); or
        the average with its labels re-chosen as the program changes
        (:class:`~skbar.output_mapping.IterativeLabelMapping`, ILM-VP).
    loss : {"focal", "ce"} or callable, default="focal"
        Focal loss (gamma 2, the paper's eq. (3)) or cross-entropy on the mapped
        probabilities; or ``loss(proba, y, class_weight=w)``, e.g.
        ``functools.partial(skbar.losses.focal_loss, gamma=1.0)``.
    class_weight : "balanced", dict or None, default=None
        Per-class weights ``w`` of the loss.
    gradient : {"spsa", "random"} or object, default="spsa"
        The zeroth-order gradient estimator, from ``q`` directions: SPSA's random signs
        with two-sided differences (:class:`~skbar.optim.SPSA`), or the paper's random
        unit directions on the sphere with one-sided differences and ``b = d``
        (:class:`~skbar.optim.RandomDirections`). An object sets ``beta``, ``b``,
        ``antithetic``. Not used by ``optimizer="cma"`` (a warning says so).
    optimizer : {"spsa-gc", "sgd", "adam", "cma"} or Optimizer, default="spsa-gc"
        How ``W`` moves (:mod:`skbar.optim`): BlackVIP's Nesterov step with decaying
        gain (:class:`~skbar.optim.SPSAGC`, first gain 0.01), SGD (the paper's, step
        0.05), Adam (ZO-AdaMM, step 0.01), or CMA-ES (:class:`~skbar.optim.CMAES`,
        ``cma`` package), which ranks ``q`` candidate programs per step and uses no
        gradient. An object sets its step size and other settings.
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
        or, when the estimator has not been fitted in this process, from the file of a
        :class:`~skbar.callbacks.CheckpointSaver` among ``callbacks``.
    callbacks : callable, Callback or list of them, default=None
        Called after every step with ``(estimator, info)``; one returning True stops
        the fit. :mod:`skbar.callbacks` has a progress bar, a checkpoint saver and a
        query cost counter.
    verbose : int, default=0
        1 adds a :class:`~skbar.callbacks.ProgressBar` after ``callbacks``.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    label_map_ : ndarray of shape (n_classes, m)
        Source-class indices mapped to each target class.
    output_mapping_ : OutputMapping
        The fitted output mapping (a learned head's ``coef_``, ``intercept_``).
    gradient_, optimizer_ : object
        The gradient estimator and optimiser the fit ran (the optimiser's state).
    program_ : ndarray
        The trained ``W``, of shape ``program_shape + (C,)`` or the canvas shape: where
        the search ended, or, where that read no better (``search_check_``), the
        program it started from. ``optimizer_.w_`` is where the search ended.
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
        "interrupted", "oracle_error" or "error" (a callback raised, or a checkpoint
        could not be written).
    search_check_ : dict or None
        How the fit chose the program it ships: the cross-validated accuracy of the
        output mapping on the training outputs under the program the search started from
        (``"start_accuracy"``) and under the searched one (``"searched_accuracy"``), both
        paid for, one standard error of their paired difference (``"margin"``), and which
        was kept (``"kept"``: ``"searched"`` where it is better by more than the
        margin, else ``"start"``). None where there was no final pass to compare.
    n_source_classes_ : int
        The number of scores the head reads: the oracle's classes ``K`` times
        ``n_views_``.
    n_views_ : int
        How many times each sample is sent to the oracle, in the first and the final
        pass of ``fit`` and in ``predict``, each time under another view of the program:
        the output mapping's ``views`` (:class:`~skbar.output_mapping.LinearHead`),
        ``"auto"`` resolved; 1 for the multi-label average. The search reads one.
    search_mapping_ : OutputMapping
        What the search's loss reads: ``output_mapping_`` itself under one view. Under
        several, a one-view copy of it, started on the answers under the program itself
        (view 0), with a label map of its own chosen there as ``label_map_`` is (an
        explicit ``mapping`` is read modulo the model's classes): each step then pays
        for one answer per sample, and the views only in the first and the final pass,
        where the shipped head is fitted.
    canvas_shape_ : tuple of int
        The oracle's canvas ``(H, W, C)``.
    sample_shape_in_ : tuple of int
        The shape of one sample of ``X`` in ``fit``; ``predict*`` refuse another.

    See Also
    --------
    skbar.OnnxOracle : An oracle over an ONNX image classifier.
    skbar.HttpOracle : An oracle behind an Open Inference Protocol server.

    Notes
    -----
    The estimator reaches the model only through ``oracle``: no step uses a true
    gradient. Peak memory of a step holds one minibatch of canvases, whatever ``q``:
    ``X`` (bytes or floats, in memory or a ``numpy.memmap``) is read, rescaled, resized
    and composed a batch at a time, never copied whole. A learned output mapping keeps
    the latest ``K`` scores (float32) of each training sample for its refits, of
    50,000 samples at most (``skbar._search.MAX_REFIT_SAMPLES``): beyond that, of a
    fixed random subset of 50,000, the same whatever the seed, on which the head is
    refitted and the final choice of program (``search_check_``) is made; the search
    still draws its minibatches from every sample.

    References
    ----------
    Y.-Y. Tsai, P.-Y. Chen and T.-Y. Ho. "Transfer Learning without Knowing:
    Reprogramming Black-box Machine Learning Models with Scarce Data and Limited
    Resources." ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar import BlackBoxReprogrammingClassifier
    >>> from skbar.oracles import RandomNetworkOracle
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(40, 16)
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> oracle = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=10)
    >>> clf = BlackBoxReprogrammingClassifier(oracle, q=5, max_iter=5, random_state=0)
    >>> clf.fit(X, y).n_queries_  # 40 initial outputs, 5 steps of 2 q x 32 images, 40 final
    1680
    >>> clf.queries_per_step(len(X))
    320
    """

    _parameter_constraints = {
        "oracle": "no_validation",
        "sample_shape": [tuple, list, None],
        "embed_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "rescale": ["boolean"],
        "program_shape": [StrOptions({"auto"}), tuple, list, None],
        "q": [Interval(Integral, 1, None, closed="left")],
        "m": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "mapping": [StrOptions({"frequency", "random"}), "array-like"],
        "output_mapping": [StrOptions(set(OUTPUT_MAPPINGS)),
                           HasMethods(["start", "transform", "refit"])],
        "loss": [StrOptions(set(_LOSSES)), callable],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "gradient": [StrOptions(set(_GRADIENTS)),
                     HasMethods(["perturb", "estimate", "n_evaluations"])],
        "optimizer": [StrOptions(set(_OPTIMIZERS)),
                      HasMethods(["start", "ask", "tell", "n_evaluations", "get_state",
                                  "set_state"])],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "max_queries": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "callbacks": [list, tuple, callable, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(self, oracle=None, *, sample_shape=None, embed_size=None, rescale=True,
                 program_shape="auto", q=5, m="auto", mapping="frequency", output_mapping="linear",
                 loss="focal", class_weight=None, gradient="spsa", optimizer="spsa-gc",
                 batch_size=32, max_iter=100, max_queries=None, warm_start=False,
                 callbacks=None, verbose=0, random_state=None):
        self.oracle = oracle
        self.sample_shape = sample_shape
        self.embed_size = embed_size
        self.rescale = rescale
        self.program_shape = program_shape
        self.q = q
        self.m = m
        self.mapping = mapping
        self.output_mapping = output_mapping
        self.loss = loss
        self.class_weight = class_weight
        self.gradient = gradient
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.max_queries = max_queries
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.verbose = verbose
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
            the failure is kept on the estimator (and in a checkpoint, with a
            :class:`~skbar.callbacks.CheckpointSaver`), so ``warm_start=True``
            continues from it.
        skbar._checkpoint.CheckpointError
            A ``ValueError``, raised before any query, when the checkpoint a warm start
            would resume from is unreadable, malformed, or from another estimator,
            oracle or training set; it names the file and the field.
        KeyboardInterrupt
            Re-raised once the fit has stopped, saved its checkpoint and kept the program
            learned so far (``stop_reason_ == "interrupted"``), so that a script looping
            over fits stops too; ``warm_start=True`` continues from it.
        """
        # X as given (bytes, floats, a memmap, image files): prepared a batch at a time,
        # never copied whole.
        X, y = self._check_input(X, y, fitting=True)
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"y has a single class ({classes.tolist()[0]!r}); reprogramming needs at "
                "least two."
            )
        oracle = self._get_oracle()
        canvas_shape = oracle_input_shape(oracle)
        callbacks = self._callbacks()
        check_checkpoints_writable(callbacks)  # before a query is paid for

        resume = self._resume_state(X, y, classes, callbacks, oracle)
        if resume is None:
            self.data_min_, self.data_max_ = data_range(X)
            self._refit_data = None
        self.sample_shape_in_ = X.shape[1:]
        self._data_fingerprint = data_fingerprint(X, y)
        samples = self._samples(X, canvas_shape)
        program = Program(canvas_shape, samples.sample_size, self._program_shape(canvas_shape))

        self.gradient_, optimizer, mapping = self._resolve_parts()
        rng = check_random_state(self.random_state)
        counter = QueryCounter(oracle, self.max_queries)
        loss_fn = self._make_loss(y, classes)

        self.classes_ = classes
        self.mask_ = program.mask
        self.canvas_shape_ = canvas_shape
        if resume is not None:
            self._restore(resume, program, mapping, rng, counter)
        else:
            self.n_queries_, self.n_iter_, self.loss_curve_ = 0, 0, []
            self.program_ = np.zeros(program.w_shape)
            try:
                self._start_output_mapping(mapping, counter, program, samples, y_encoded, rng)
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
                if not hasattr(self, "output_mapping_") or self.output_mapping_ is not mapping:
                    # Nothing learned to save, but the cost and the progress are told.
                    info = {"n_iter": 0, "n_queries": self.n_queries_, "loss": float("nan"),
                            "before_search": True}
                    for callback in callbacks:
                        callback.on_fit_end(self, info)
        # Every answer from here on must have the number of scores the label map reads.
        counter.n_classes = self.n_source_classes_ // self.n_views_
        self.optimizer_ = optimizer.start(self.program_, self.q, self.gradient_, rng)
        if resume is not None:
            optimizer.set_state({k[len("optimizer_"):]: v for k, v in resume.items()
                                 if k.startswith("optimizer_")})
        self._rng = rng

        # Outputs the refits learn from: at first the training set under the initial
        # program, then, step by step, each minibatch under the current one.
        seen = getattr(self, "_refit_data", None)
        if (seen is None or not np.array_equal(seen.y, y_encoded)  # a new fit, or new data
                or seen.max_rows != MAX_REFIT_SAMPLES):
            seen = LatestOutputs(y_encoded, getattr(self, "_initial_outputs", None),
                                 np.array(self.program_, copy=True), MAX_REFIT_SAMPLES)
        # The search's own refit data: the same, unless it reads one view of several.
        search_seen = seen
        if self.n_views_ > 1:
            n_source = self.n_source_classes_ // self.n_views_
            search_seen = getattr(self, "_search_refit_data", None)
            initial = getattr(self, "_initial_outputs", None)
            if search_seen is None or seen is not getattr(self, "_refit_data", None):
                search_seen = LatestOutputs(
                    y_encoded, None if initial is None else initial[:, :n_source],
                    np.array(self.program_, copy=True), MAX_REFIT_SAMPLES)
        # Kept for a warm start in this process (not pickled).
        self._refit_data, self._search_refit_data, self._initial_outputs = seen, search_seen, None

        for callback in callbacks:
            callback.on_fit_begin(self)
        run_search(self, counter=counter, program=program, samples=samples, y=y_encoded,
                   loss_fn=loss_fn, seen=seen, search_seen=search_seen, rng=rng,
                   callbacks=callbacks)
        return self

    def queries_per_step(self, n_samples):
        """What one step of the search costs, in queries, with ``n_samples`` training samples.

        ``optimizer.n_evaluations * min(batch_size, n_samples)``: ``(q + 1) * batch``
        for one-sided gradient estimates, ``2 q * batch`` for two-sided ones, ``q *
        batch`` for CMA-ES. The search reads one view of each sample, whatever
        ``n_views_`` (``search_mapping_``). Needs no fit (the oracle is asked for its
        canvas shape only).
        """
        gradient, optimizer, _ = self._resolve_parts(warn=False)
        return optimizer.n_evaluations(self.q, gradient) * min(self.batch_size, n_samples)

    def refit_output_mapping(self, X, y):
        """Refit the learned output mapping on ``X``'s outputs under the current program.

        What the final pass of a fit does, for a program set from outside (white-box
        AR) or a fit stopped early (the query-efficiency benchmark scores every budget
        of one run this way). The oracle is called directly, not through the budget, and
        ``n_queries_`` is left as it is. ``output_mapping_`` is replaced by a refitted copy.
        Where the last fit in this process paid for the outputs of the program it started
        from, on these same samples, the better of the two programs is kept, as the fit's
        own final pass does (``search_check_``).

        Returns
        -------
        n_queries : int
            The number of images sent: one per sample under the program, and one per
            sample and fixed view unless the fit paid for those on these samples.
        """
        check_is_fitted(self)
        samples, program = self._prepare(X)
        oracle = self._get_oracle()
        y_encoded = np.searchsorted(self.classes_, np.asarray(y))
        start = getattr(self, "_start_outputs", None)
        if not (start is not None and np.array_equal(start.y, y_encoded)
                and start.max_rows == MAX_REFIT_SAMPLES):
            start = None
        # The fixed views' answers, where the fit paid for them on these samples.
        seen = start.copy() if start is not None else LatestOutputs(
            y_encoded, max_rows=MAX_REFIT_SAMPLES)
        views = final_pass_views(self, seen, len(samples))
        for idx, scores in self._answer_chunks(program, samples,
                                               functools.partial(call_oracle, oracle), views):
            seen.record(idx, scores, first_columns=views is not None)
        seen.complete_under = np.array(self.program_, copy=True)
        # A new mapping object: a shallow copy of the estimator keeps the one it had.
        self.output_mapping_ = copy.deepcopy(self.output_mapping_)
        if start is not None:
            # As the fit's final pass: the program the fit started from, if it reads better.
            keep_better_program(self, self.output_mapping_, start, seen)
        refit_output_mapping(self.output_mapping_, seen)
        self.label_map_ = self.output_mapping_.label_map_
        return len(samples) * (self.n_views_ if views is None else len(views))

    def _answer_chunks(self, program, samples, ask, views=None):
        """``(indices, scores)`` of ``samples`` under the current program and its views
        (:meth:`~skbar.program.Program.answers`), a chunk at a time, asked of ``ask``."""
        frame = program.frame(self.program_)  # once, for every chunk
        for idx, chunk in samples.chunks(max(self.batch_size, 64)):
            yield idx, program.answers(ask, frame, chunk, self.n_views_, views)

    def _canvas_chunks(self, program, samples):
        """``(indices, canvases)`` of ``samples`` under the current program, a chunk at a time.

        ``samples`` is a :class:`~skbar._samples.Samples`: each chunk is read from ``X``
        and prepared only when it is composed.
        """
        frame = program.frame(self.program_)
        for idx, chunk in samples.chunks(max(self.batch_size, 64)):
            yield idx, program.compose(frame, chunk)

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
        samples, program = self._prepare(X)
        oracle = self._get_oracle()
        proba = [self.output_mapping_.transform(scores) for _, scores
                 in self._answer_chunks(program, samples, functools.partial(call_oracle, oracle))]
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
        samples, program = self._prepare(X)
        canvases = np.empty((len(samples),) + tuple(self.canvas_shape_), dtype=np.float32)
        for idx, chunk in self._canvas_chunks(program, samples):
            canvases[idx] = chunk
        return canvases

    def __getstate__(self):
        # The refit data are a cache of outputs for a warm start in this process: they
        # can be large (one row of source scores per training sample), so pickles and
        # clones leave them out.
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its own
        state.pop("_refit_data", None)
        state.pop("_initial_outputs", None)
        state.pop("_search_refit_data", None)
        state.pop("_start_outputs", None)
        return state

    def __copy__(self):
        # A shallow copy in this process shares the caches of outputs already paid for
        # (``__getstate__`` leaves them out of pickles and deep copies), so a copy's
        # ``refit_output_mapping`` ends a stopped fit as the fit itself would.
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A few hundred queries of a toy oracle do not reach the 83% that scikit-learn's
        # common checks ask of any classifier on their blob problems.
        tags.classifier_tags.poor_score = True
        return tags

    # ------------------------------------------------------------- helpers

    def _get_oracle(self):
        if self.oracle is not None:
            return check_oracle(self.oracle)
        from .zoo import load

        return load()

    def _samples(self, X, canvas_shape):
        """``X``'s samples as pixels in [0, 1], resized and with the canvas's channels,
        each prepared when a batch takes it (:class:`~skbar._samples.Samples`)."""
        check_like_fit(self, X)
        return Samples(X, canvas_shape[2], sample_shape=self.sample_shape,
                       embed_size=self.embed_size,
                       data_range=(self.data_min_, self.data_max_) if self.rescale else None)

    def _check_input(self, X, y=None, fitting=False):
        """``X`` (and ``y``) checked as scikit-learn does; image files as they are.

        :class:`~skbar.datasets.ImageFiles` decodes images only when a batch indexes it,
        so it is not converted here: its shape is checked against ``fit`` (by
        ``check_like_fit``) and its pixels by each batch.
        """
        from .datasets import ImageFiles

        if not isinstance(X, ImageFiles):
            if fitting:
                return validate_data(self, X, y, allow_nd=True, dtype="numeric",
                                     ensure_min_samples=2)
            return validate_data(self, X, reset=False, allow_nd=True, dtype="numeric")
        if not fitting:
            return X
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        if len(X) < 2:
            raise ValueError(f"Found {len(X)} sample(s) while a minimum of 2 is required.")
        self.n_features_in_ = X.shape[1]  # as validate_data counts an n-d array's features
        return X, y

    def _prepare(self, X):
        """``X`` validated against ``fit``, as :class:`~skbar._samples.Samples`, and the program."""
        X = self._check_input(X)
        samples = self._samples(X, self.canvas_shape_)
        program = Program(self.canvas_shape_, samples.sample_size,
                          self._program_shape(self.canvas_shape_))
        return samples, program

    def _program_shape(self, canvas_shape):
        if isinstance(self.program_shape, str):  # "auto"
            return (min(8, canvas_shape[0]), min(8, canvas_shape[1]))
        return self.program_shape

    def _resolve_parts(self, warn=True):
        """The gradient estimator, optimiser and output mapping, each a fresh object."""
        def resolve(value, names):
            return names[value]() if isinstance(value, str) else clone(value)

        gradient = resolve(self.gradient, _GRADIENTS)
        optimizer = resolve(self.optimizer, _OPTIMIZERS)
        mapping = resolve(self.output_mapping, OUTPUT_MAPPINGS)
        if warn and isinstance(optimizer, CMAES) and not (
                isinstance(self.gradient, str) and self.gradient == "spsa"):
            warnings.warn("gradient has no effect with optimizer='cma': CMA-ES ranks q candidate "
                          "programs per step and estimates no gradient.", UserWarning)
        return gradient, optimizer, mapping

    def _callbacks(self):
        callbacks = as_callbacks(self.callbacks)
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _make_loss(self, y, classes):
        weights = None
        if self.class_weight is not None:
            weights = compute_class_weight(self.class_weight, classes=classes, y=y)
        loss = _LOSSES[self.loss] if isinstance(self.loss, str) else self.loss
        return functools.partial(loss, class_weight=weights)

    def _labels_per_class(self, n_classes, scores=None):
        """``m``, with ``"auto"`` resolved against the oracle's number of classes and, where
        the initial outputs ``scores`` were paid for, against what it answers."""
        if self.m != "auto":
            return self.m
        per_class = self.n_source_classes_ // n_classes
        if per_class < 1:
            raise ValueError(
                f"The oracle answers {self.n_source_classes_} scores but y has {n_classes} "
                "classes: a label mapping needs at least one source label per target class.")
        # A top-k answer names few labels: fewer per class are named more often.
        return min(3 if scores is not None and answers_top_k(scores) else 10, per_class)

    def _start_output_mapping(self, mapping, counter, program, samples, y, rng):
        """Choose ``label_map_`` and start the output mapping, paying through ``counter``.

        The frequency mapping and the learned head both need the oracle's scores on
        every training sample under the initial program: one query each (each view), made
        once and shared.
        """
        n_classes = self.classes_.size
        frequency = isinstance(self.mapping, str) and self.mapping == "frequency"
        scores = None
        # The views the mapping reads, checked before anything is paid for.
        views = getattr(mapping, "views", 1)
        if hasattr(mapping, "_validate_params"):
            mapping._validate_params()
        refit_final = getattr(mapping, "refit_final", True)
        if views not in ("auto", 1) and not refit_final:
            raise ValueError(
                f"output_mapping reads views={views} but refit_final=False: the head reads "
                "every view only in the final pass (the search reads one); set "
                "refit_final=True or views=1.")
        if frequency or mapping.needs_initial_outputs:
            self.n_views_ = 1 if views == "auto" else views
            if not counter.can_afford(len(samples) * self.n_views_):
                raise ValueError(
                    f"mapping='frequency' and output_mapping='linear' query every training "
                    f"sample once under each of {self.n_views_} view(s) "
                    f"({len(samples) * self.n_views_} queries) but max_queries="
                    f"{self.max_queries}; raise max_queries, or use mapping='random' with "
                    "output_mapping='average'."
                )
            scores = np.concatenate([s for _, s in self._answer_chunks(program, samples, counter)])
            if (views == "auto" and refit_final and answers_top_k(scores)
                    and counter.can_afford(3 * len(samples))):
                # One top-k answer says little: three more views, paid for once here
                # (where the budget allows them; else the fit reads one).
                self.n_views_ = 4
                scores = np.hstack([scores, np.concatenate([s for _, s in self._answer_chunks(
                    program, samples, counter, views=[1, 2, 3])])])
            n_source = scores.shape[1]
        else:
            # Nothing is known of the answers yet: "auto" is one view.
            self.n_views_ = 1 if views == "auto" else views
            n_source = getattr(self._get_oracle(), "n_classes", None)
            if n_source is None:
                # An oracle that does not say how many classes it has is asked once.
                one = program.compose(program.frame(self.program_), samples.take([0]))
                n_source = counter(one).shape[1]
            n_source *= self.n_views_
        self.n_source_classes_ = int(n_source)
        m = self._labels_per_class(n_classes, scores)
        if frequency:
            label_map = frequency_label_map(scores, y, n_classes, m)
        elif isinstance(self.mapping, str):
            label_map = random_label_map(n_classes, self.n_source_classes_, m, rng)
        else:
            label_map = check_label_map(self.mapping, n_classes, self.n_source_classes_)
            if self.m != "auto" and label_map.shape[1] != self.m:
                raise ValueError(
                    f"mapping has {label_map.shape[1]} source labels per class but m={self.m}; "
                    f"set m={label_map.shape[1]}.")
            check_mapping_size(n_classes, self.n_source_classes_, label_map.shape[1])
        self.output_mapping_ = mapping.start(scores, y, label_map, n_classes)
        self.label_map_ = mapping.label_map_
        self._start_search_mapping(mapping, scores, y, m, frequency, rng)
        # Kept for the first refits of a learned mapping (not pickled).
        self._initial_outputs = scores

    def _start_search_mapping(self, mapping, scores, y, m, frequency, rng):
        """Set ``search_mapping_``: ``mapping`` itself under one view; under several, a
        one-view copy started on view 0's answers, with its own ``m`` labels per class.

        On a top-k answer a step of the search under four views costs four times as
        much, and 50,000 queries buy it a quarter of the steps; read on the program's
        own answers, the search takes them all, and the views are paid for only where
        the shipped head is fitted.
        """
        if self.n_views_ == 1:
            self.search_mapping_ = mapping
            return
        n_classes, n_source = self.classes_.size, self.n_source_classes_ // self.n_views_
        view = None if scores is None else scores[:, :n_source]
        if frequency:
            label_map = frequency_label_map(view, y, n_classes, m)
        elif isinstance(self.mapping, str):
            label_map = random_label_map(n_classes, n_source, m, rng)
        else:
            # The user's labels, each read as the model's class it stands for in its view.
            label_map = np.asarray(self.label_map_) % n_source
        self.search_mapping_ = _one_view_copy(mapping).start(view, y, label_map, n_classes)

    # -------------------------------------------------- warm start, checkpoints

    def get_fit_state(self):
        """Everything the fit has paid for, as a dict of plain arrays (a checkpoint's content).

        The program, the output mapping, the optimiser's state, the random stream, the
        query count and the data range: :class:`~skbar.callbacks.CheckpointSaver`
        writes it, and a warm start continues from it bit for bit.
        """
        check_is_fitted(self)
        kind, keys, pos, has_gauss, cached = self._rng.get_state()
        state = {
            "program": self.program_, "label_map": self.label_map_,
            "classes": np.asarray(self.classes_).astype(str),
            "n_queries": self.n_queries_, "n_iter": self.n_iter_,
            "loss_curve": np.asarray(self.loss_curve_, dtype=float),
            "n_source_classes": self.n_source_classes_, "n_views": self.n_views_,
            "data_min": self.data_min_, "data_max": self.data_max_,
            "rng_keys": keys, "rng_pos": pos, "rng_has_gauss": has_gauss, "rng_cached": cached,
            # What ties the file to its fit, compared on resume (skbar._checkpoint).
            "output_mapping": type(self.output_mapping_).__name__,
            "canvas_shape": self.canvas_shape_,
            "data_fingerprint": getattr(self, "_data_fingerprint", ""),
        }
        state.update({f"output_{k}": v for k, v in self.output_mapping_.get_state().items()})
        if self.search_mapping_ is not self.output_mapping_:
            state["search_label_map"] = self.search_mapping_.label_map_
            state.update({f"search_output_{k}": v
                          for k, v in self.search_mapping_.get_state().items()})
        state.update({f"optimizer_{k}": v for k, v in self.optimizer_.get_state().items()})
        return state

    def _resume_state(self, X, y, classes, callbacks, oracle):
        """What a warm start continues from: this estimator's last fit, or a checkpoint.

        A checkpoint is checked whole (:func:`~skbar._checkpoint.check_resume`) before
        anything is restored or paid for.
        """
        if not self.warm_start:
            return None
        if hasattr(self, "program_"):
            state = self.get_fit_state()
        else:
            savers = [c for c in callbacks if isinstance(c, CheckpointSaver)]
            state = savers[0].load() if savers else None
            if state is None:
                return None
            check_resume(state, savers[0].path, self, X, y, classes, oracle,
                         self._resolve_parts(warn=False)[2])
        if not np.array_equal(np.asarray(state["classes"]).astype(str), classes.astype(str)):
            raise ValueError(
                f"warm_start: the classes of y {classes.tolist()} differ from those the program "
                f"was trained for {np.asarray(state['classes']).tolist()}."
            )
        self.data_min_, self.data_max_ = float(state["data_min"]), float(state["data_max"])
        return state

    def _restore(self, state, program, mapping, rng, counter):
        if tuple(state["program"].shape) != program.w_shape:
            raise ValueError(
                f"warm_start: the saved program has shape {tuple(state['program'].shape)}, "
                f"this estimator's has {program.w_shape}; program_shape or the oracle changed."
            )
        self.program_ = np.array(state["program"], dtype=float)
        self.label_map_ = np.array(state["label_map"], dtype=np.intp)
        mapping._validate_params()
        mapping.label_map_, mapping.n_classes_ = self.label_map_, self.classes_.size
        mapping.set_state({k[len("output_"):]: v for k, v in state.items()
                           if k.startswith("output_")})
        self.output_mapping_ = self.search_mapping_ = mapping
        self.n_source_classes_ = int(state["n_source_classes"])
        self.n_views_ = int(state.get("n_views", 1))
        if self.n_views_ > 1:
            search = _one_view_copy(mapping)
            search.label_map_ = np.array(state["search_label_map"], dtype=np.intp)
            search.n_classes_ = self.classes_.size
            search.set_state({k[len("search_output_"):]: v for k, v in state.items()
                              if k.startswith("search_output_")})
            self.search_mapping_ = search
        self.n_queries_, self.n_iter_ = int(state["n_queries"]), int(state["n_iter"])
        self.loss_curve_ = [float(v) for v in state["loss_curve"]]
        counter.n_queries = self.n_queries_
        rng.set_state(("MT19937", np.asarray(state["rng_keys"], dtype=np.uint32),
                       int(state["rng_pos"]), int(state["rng_has_gauss"]),
                       float(state["rng_cached"])))
