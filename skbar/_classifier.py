"""BlackBoxReprogrammingClassifier: wires the oracle, canvas, head, objective and search.

A fit reads as three calls: :meth:`~BlackBoxReprogrammingClassifier._start` (the first
paid pass, the label map, the head and the objective), ``_search`` (the steps, from
:func:`skbar.fit.run_search`, which returns its result) and ``_finish`` (the final pass
and the choice of program). Each is a few lines over :mod:`skbar.fit`.
"""

import contextlib
import copy
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._inputs import InputsMixin
from ._parts import (GRADIENTS, LOSSES, OPTIMIZERS, resolve_gain, resolve_parts, resolve_q,
                     small_budget)
from ._renamed import RenamedMixin
from .canvas import Views, first_views
from .fit import (SELECT, AnswerCache, SearchSetup, answer_chunks, finish, first_pass,
                  remember_start, reserve_for_final_pass, run_search, start_head, stop_reasons)
from .fit._resume import ResumableMixin
from .fit._select import warn_probe_shipped
from .heads import HEADS, OBJECTIVES
from .oracles import QueryCounter

#: The method of Tsai et al. (2020) as published, as estimator parameters: the fixed
#: multi-label average, random unit directions on the sphere with one-sided differences
#: (``b = d``), a full-resolution ``W``, SGD at their step size (0.05), one query per
#: sample, and the program where the search ended. Use it as
#: ``BlackBoxReprogrammingClassifier(oracle, **PAPER_BAR, m=..., q=...)``.
PAPER_BAR = {"head": "average", "gradient": "random", "program_shape": None,
             "optimizer": "sgd"}


class BlackBoxReprogrammingClassifier(ResumableMixin, InputsMixin, RenamedMixin, ClassifierMixin,
                                      BaseEstimator):
    """Black-box adversarial reprogramming (BAR) of a pretrained classifier.

    Repurposes a source model that can only be queried for a new target task: each
    target sample is embedded in the centre of the model's input canvas, a universal
    learned program ``P = tanh(W ⊙ M)`` fills the rest, and a multi-label mapping turns
    the model's source-class scores into target-class scores. ``W`` is trained by
    zeroth-order optimisation, from loss values alone.

    The method is made of parts, each a parameter: how ``W`` is searched (``gradient``,
    ``optimizer``, ``objective``), how source scores become target scores (``head``,
    built on the multi-label mapping ``label_map`` with ``m`` labels per class), how
    often each sample is sent (``views``), which program is shipped (``select``), what
    the loss is, and what happens beside the search (``callbacks``). A part is named by a string
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
    q : int or "auto", default="auto"
        Loss evaluations that inform one step: random directions per gradient estimate
        (a step costs ``(q + 1) * batch_size`` queries, ``2 q * batch_size`` with
        two-sided differences), or candidates per generation of an evolution strategy
        (``optimizer="cma"``: ``q * batch_size``). ``"auto"`` is 5, or 2 at a small budget,
        where what is left after the first pass (and the final pass it reserves) buys
        fewer than 30 steps at 5: there more steps do more than better estimates.
        Resolved in ``q_``.
    m : int or "auto", default="auto"
        Source labels per target class in the multi-label mapping. Every head
        starts from it: the average over them (``"average"``, ``"iterative"``) or the
        mapping the learned head is pulled towards (``"linear"``). ``"auto"`` is 10 (as
        in the paper's experiments); 3 where the initial outputs show that the model
        answers only its top classes (most leave classes out with a score of 0), as
        its answers name few labels; and never more than the oracle's classes allow
        (``K // n_classes``: 1 for a two-class task on a model with two outputs).
    label_map : {"frequency", "random"} or array of shape (n_classes, m), default="frequency"
        How the ``m`` source labels of each class are chosen: those the target data
        already predicts most (costs one query per training sample, shared with the
        learned head's first fit), at random, or given explicitly (then ``m`` must
        equal its number of columns).
    head : {"linear", "average", "iterative"} or Head, default="linear"
        How source scores become target scores (:mod:`skbar.heads`): a
        learned ridge head on the log source scores pulled towards the multi-label
        mapping (:class:`~skbar.heads.LinearHead`), refitted on outputs
        already paid for and once more on the final program; the paper's fixed
        multi-label average (:class:`~skbar.heads.MultiLabelAverage`); or
        the average with its labels re-chosen as the program changes
        (:class:`~skbar.heads.IterativeLabelMapping`, ILM-VP).
    objective : {"auto", "held-out", "average", "fitted"}, default="auto"
        What the search minimises (:mod:`skbar.heads`, :class:`~skbar.heads.Objective`):
        the loss of heads fitted on one half of the samples, read on the other
        (``"held-out"``); the multi-label average of the label map, in the log domain
        (``"average"``, the paper's objective); or the head itself, on the answers it was
        fitted on (``"fitted"``). ``"auto"``: held-out for a learned linear head on full
        answers, the average for one on top-k answers, the head itself otherwise.
    views : int or "auto", default="auto"
        How many times each sample is sent in the first and final passes of ``fit`` and
        in ``predict``: view 0 under the learned program, view ``k >= 1`` under a fixed
        random program, the same in every fit (:class:`skbar.canvas.Views`); the head
        reads every view's answers, the search view 0's alone (a step costs what it costs
        with one view). ``"auto"`` reads four where the first answers show that the model
        names only its top classes (and the budget allows them), else one. Several views
        need a learned head with ``refit_final=True``.
    select : {"checked", "last"}, default="checked"
        Which program ``fit`` ships: the searched one only where the head, cross-validated
        on the training answers, reads it better than the program the search started
        from by more than one standard error (``"checked"``; a warning,
        :class:`~skbar.ProbeShippedWarning`, says when the start is shipped); or where the
        search ended (``"last"``). The check reads answers the fit has paid for anyway.
    surrogate : Surrogate or None, default=None
        A local model searched for free first (:class:`skbar.fit.Surrogate`, e.g.
        ``Surrogate("efficientnet-lite1")``): the search on the oracle starts from the
        program the surrogate's search ended at, and the check compares what it ships
        with the grey frame's probe paid on the oracle. The surrogate's queries are not
        counted in ``n_queries_`` (``n_surrogate_queries_``).
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
        gain (:class:`~skbar.optim.SPSAGC`, first gain 0.01, or 0.05 at a small budget
        as ``q`` defines it, so that a search of a few steps moves), SGD (the paper's, step
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
    head_ : Head
        The fitted head (a learned head's ``coef_``, ``intercept_``).
    objective_ : Objective
        What the search minimised, ``"auto"`` resolved (``objective_.kind``). Under
        several views it reads through a one-view head of its own, started on view 0's
        answers with a label map of its own (chosen as ``label_map_`` is; an explicit
        ``label_map`` is read modulo the model's classes).
    gradient_, optimizer_ : object
        The gradient estimator and optimiser the fit ran (the optimiser's state; the
        default's first gain as the budget set it, ``optimizer_.learning_rate``).
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
    q_ : int
        The ``q`` the search ran, ``"auto"`` resolved.
    loss_curve_ : list of float
        Minibatch loss at each step, before the step.
    stop_reason_ : str
        Why the last fit stopped: "max_iter", "max_queries", "callback",
        "interrupted", "oracle_error" or "error" (a callback raised, or a checkpoint
        could not be written).
    search_check_ : dict or None
        How the fit chose the program it ships: the cross-validated accuracy of the
        head on the training outputs under the program the search started from
        (``"start_accuracy"``) and under the searched one (``"searched_accuracy"``), both
        paid for, one standard error of their paired difference (``"margin"``), and which
        was kept (``"kept"``: ``"searched"`` where it is better by more than the
        margin, else ``"start"``). None where there was no final pass to compare.
    n_source_classes_ : int
        The model's classes ``K``.
    n_scores_ : int
        The scores the head reads per sample: ``K`` times ``n_views_``.
    n_views_ : int
        Views each sample is sent under (``views``, ``"auto"`` resolved).
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
    and composed a batch at a time; a fit keeps the prepared samples for its later steps
    where they fit in ``skbar.canvas._samples.KEPT_BYTES`` (256 MiB), else prepares each batch
    again. A learned head keeps
    the latest ``K`` scores (float32) of each training sample for its refits, of
    50,000 samples at most (``skbar.fit.MAX_REFIT_SAMPLES``): beyond that, of a
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
        "q": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "m": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "label_map": [StrOptions({"frequency", "random"}), "array-like"],
        "head": [StrOptions(set(HEADS)), HasMethods(["start", "transform", "refit"])],
        "objective": [StrOptions({"auto", *OBJECTIVES})],
        "views": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "select": [StrOptions(set(SELECT))],
        "surrogate": [HasMethods(["search"]), None],
        "loss": [StrOptions(set(LOSSES)), callable],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "gradient": [StrOptions(set(GRADIENTS)),
                     HasMethods(["perturb", "estimate", "n_evaluations"])],
        "optimizer": [StrOptions(set(OPTIMIZERS)),
                      HasMethods(["start", "ask", "tell", "n_evaluations", "get_state",
                                  "set_state"])],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "max_queries": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "callbacks": [list, tuple, callable, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "mapping": [StrOptions({"deprecated", "frequency", "random"}), "array-like"],
        "output_mapping": [StrOptions({"deprecated", *HEADS}),
                           HasMethods(["start", "transform", "refit"])],
    }

    def __init__(self, oracle=None, *, sample_shape=None, embed_size=None, rescale=True,
                 program_shape="auto", q="auto", m="auto", label_map="frequency", head="linear",
                 objective="auto", views="auto", select="checked", surrogate=None, loss="focal",
                 class_weight=None, gradient="spsa", optimizer="spsa-gc", batch_size=32,
                 max_iter=100, max_queries=None, warm_start=False, callbacks=None, verbose=0,
                 random_state=None, mapping="deprecated", output_mapping="deprecated"):
        self.oracle = oracle
        self.sample_shape = sample_shape
        self.embed_size = embed_size
        self.rescale = rescale
        self.program_shape = program_shape
        self.q = q
        self.m = m
        self.label_map = label_map
        self.head = head
        self.objective = objective
        self.views = views
        self.select = select
        self.surrogate = surrogate
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
        self.mapping = mapping
        self.output_mapping = output_mapping

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the program on ``(X, y)`` by querying the oracle: start, search, finish.

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
            If the oracle fails or answers malformed scores. What was paid for before
            the failure is kept on the estimator (and in a checkpoint, with a
            :class:`~skbar.callbacks.CheckpointSaver`), so ``warm_start=True``
            continues from it.
        skbar.fit.CheckpointError
            A ``ValueError``, raised before any query, when the checkpoint a fit would
            resume from is unreadable, malformed, or from another estimator, optimiser,
            oracle or training set; it names the file and the field.
        KeyboardInterrupt
            Re-raised once the fit has stopped, saved its checkpoint and kept what it
            paid for (``stop_reason_ == "interrupted"``), so that a script looping over
            fits stops too; ``warm_start=True`` continues from it.
        """
        fit = self._prepare_fit(X, y)  # every check before the first query
        self.stop_reason_ = "max_iter"
        try:
            with stop_reasons(self, fit.counter, fit.checkpoint_paths):
                if not self.__sklearn_is_fitted__():
                    self._start(fit)
                for callback in fit.callbacks:
                    callback.on_fit_begin(self)
                result = self._search(fit)
                self._finish(fit, moved=result.n_steps > 0 or self._started_elsewhere())
        finally:
            if getattr(self, "_cache", None) is not None:
                # The estimator keeps the answers for a warm start, not their kernel.
                self._cache.log_scores = None
            info = {"n_iter": getattr(self, "n_iter_", 0), "n_queries": fit.counter.n_queries,
                    "loss": self.loss_curve_[-1] if getattr(self, "loss_curve_", None)
                    else float("nan")}
            check = getattr(self, "search_check_", None)
            if check is not None:
                info["shipped"] = "searched program" if check["kept"] == "searched" else \
                    "start (probe)"
            for callback in fit.callbacks:
                callback.on_fit_end(self, info)
        return self

    def _start(self, fit):
        """The first pass, the label maps, the head and the objective."""
        parts, program = fit.parts, fit.program
        w = np.zeros(program.w_shape)
        head = parts.head
        needs_pass = (isinstance(parts.label_map, str) and parts.label_map == "frequency"
                      or head.needs_initial_outputs or parts.views not in ("auto", 1))
        cache = getattr(self, "_cache", None)
        if cache is not None and not np.array_equal(cache.y, fit.y):
            cache = None  # answers of other samples
        if cache is not None:
            # A warm start after an interrupted first pass: what it paid for counts.
            fit.counter.n_queries = getattr(self, "n_queries_", 0)
        if needs_pass:
            self._check_affordable(fit, first_views(parts.views), cache)
            try:
                views, cache = first_pass(program, w, fit.samples, fit.counter, fit.y,
                                          views=parts.views, refit_final=head.refit_final,
                                          cache=cache, chunk=self._chunk_rows())
            except BaseException as exc:
                self._cache = getattr(exc, "answer_cache", None)
                raise
            self._cache = cache
            n_source = cache.n_scores // views.n_views
        else:
            views = Views(program, first_views(parts.views))
            n_source = fit.n_source or self._ask_n_source(fit, w)
            cache = AnswerCache(fit.y, n_source * views.n_views)
        self.head_, self.objective_ = start_head(
            head, parts.objective, parts.label_map, self.m, views=views, cache=cache,
            y=fit.y, n_classes=self.classes_.size, n_source=n_source, rng=fit.rng)
        self._cache, self._views = cache, views
        self.n_source_classes_, self.n_views_ = int(n_source), views.n_views
        self.n_scores_ = int(n_source) * views.n_views
        self.label_map_ = self.head_.label_map_
        if self.surrogate is not None:
            # Where a free search on a local model ended: the paid search starts there.
            w, self.n_surrogate_queries_ = self.surrogate.search(
                self, fit.X, self.classes_[fit.y], program.canvas_shape)
        self.program_ = w
        self.n_queries_, self.n_iter_, self.loss_curve_ = fit.counter.n_queries, 0, []
        left = fit.counter.remaining() - reserve_for_final_pass(head, views, cache,
                                                                len(fit.samples))
        small = small_budget(parts.optimizer, parts.gradient, left,
                             min(self.batch_size, len(fit.samples)))
        self.q_ = resolve_q(self.q, parts.optimizer, small)
        optimizer = resolve_gain(self.optimizer, parts.optimizer, small)
        self.optimizer_ = optimizer.start(w, self.q_, self.gradient_, fit.rng)
        self._rng = fit.rng

    def _search(self, fit):
        """The steps of the search; the estimator takes each step's result as it comes."""
        fit.counter.n_classes = self.n_source_classes_
        cache, views = self._cache, self._views
        reserve = reserve_for_final_pass(self.head_, views, cache, len(fit.samples))
        cache.start = None
        self.search_check_ = None
        if self.select == "checked" and reserve and (self.max_iter or self._started_elsewhere()):
            cache.start = remember_start(self.head_, cache)
        setup = SearchSetup(
            optimizer=self.optimizer_, objective=self.objective_, views=views,
            samples=fit.samples, y=fit.y, loss_fn=fit.loss_fn, counter=fit.counter, cache=cache,
            rng=self._rng, max_iter=self.max_iter, batch_size=self.batch_size, q=self.q_,
            gradient=self.gradient_, reserve=reserve, n_iter_before=self.n_iter_)
        n_iter_before = self.n_iter_

        def on_step(result):
            self.program_, self.n_iter_ = result.w, n_iter_before + result.n_steps
            self.label_map_ = self.head_.label_map_
            self.loss_curve_.append(result.losses[-1])
            self.n_queries_ = fit.counter.n_queries
            info = {"n_iter": self.n_iter_, "loss": result.losses[-1],
                    "n_queries": self.n_queries_}
            # Every callback sees every step (a progress bar after a stopping one too).
            return any([bool(callback.on_step_end(self, info)) for callback in fit.callbacks])

        result = run_search(setup, on_step)
        self.stop_reason_ = result.stop_reason
        return result

    def _finish(self, fit, moved):
        """The final pass, the choice of program, the head's last refit."""
        reserve = reserve_for_final_pass(self.head_, self._views, self._cache,
                                         len(fit.samples))
        final_pass = bool(reserve) and moved and fit.counter.can_afford(reserve)
        done = finish(self.head_, self._views, self._cache, fit.samples, fit.counter,
                      self.program_, final_pass=final_pass, chunk=self._chunk_rows())
        self.program_, self.search_check_ = done.program, done.check
        self.label_map_ = self.head_.label_map_
        self.n_queries_ = fit.counter.n_queries
        if done.check is not None and done.check["kept"] == "start":
            warn_probe_shipped(done.check, self.n_queries_)

    def queries_per_step(self, n_samples):
        """What one step of the search costs, in queries, with ``n_samples`` training samples.

        ``optimizer.n_evaluations * min(batch_size, n_samples)``: ``(q + 1) * batch``
        for one-sided gradient estimates, ``2 q * batch`` for two-sided ones, ``q *
        batch`` for CMA-ES. The search reads one view of each sample, whatever
        ``n_views_``. Needs no fit; with ``q="auto"``, the ``q`` the last fit resolved
        (``q_``), else 5.
        """
        parts = resolve_parts(self, warn=False)
        q = self.q if self.q != "auto" else getattr(self, "q_", 5)
        return parts.optimizer.n_evaluations(q, parts.gradient) * min(self.batch_size,
                                                                            n_samples)

    def refit_head(self, X, y):
        """Refit the learned head on ``X``'s answers under the current program.

        What the final pass of a fit does, for a program set from outside (white-box
        AR) or a fit stopped early (the query-efficiency benchmark scores every budget
        of one run this way). The oracle is called directly, not through the budget, and
        ``n_queries_`` is left as it is. ``head_`` is replaced by a refitted copy. Where
        the last fit in this process paid for the answers of the program it started from,
        on these same samples, and ``select="checked"``, the better of the two programs is
        kept, as the fit's own final pass does (``search_check_``).

        Returns
        -------
        n_queries : int
            The images sent: one per sample under the program, and one per sample and
            fixed view unless the fit paid for those on these samples.
        """
        check_is_fitted(self)
        samples, program = self._prepare(X)
        y_encoded = np.searchsorted(self.classes_, np.asarray(y))
        cache = getattr(self, "_cache", None)
        if cache is None or not cache.fits(y_encoded, self.n_scores_):
            cache = AnswerCache(y_encoded, self.n_scores_)
        else:
            cache = copy.copy(cache)
            cache.scores, cache.known = cache.scores.copy(), cache.known.copy()
        views = Views(program, self.n_views_)
        which = views.to_pay(cache.complete)
        self.head_ = copy.deepcopy(self.head_)  # a shallow copy keeps the one it had
        if self.select != "checked":
            cache.start = None
        done = finish(self.head_, views, cache, samples, QueryCounter(self._get_oracle()),
                      self.program_, chunk=self._chunk_rows())
        if done.check is not None:
            self.program_, self.search_check_ = done.program, done.check
        self.label_map_ = self.head_.label_map_
        return len(samples) * views.n_sent(which)

    # -------------------------------------------------------------- predict

    def predict_proba(self, X):
        """Target-class probabilities of the reprogrammed model (rows sum to one).

        Each sample is sent under every view (``n_views_`` queries a sample).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, h, w) or (n, h, w, c)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        samples, program = self._prepare(X)
        ask = QueryCounter(self._get_oracle())  # no budget: checked answers, counted
        chunks = answer_chunks(Views(program, self.n_views_), self.program_, samples, ask,
                               chunk=self._chunk_rows())
        with contextlib.closing(chunks):  # an error waits for the call in flight
            return np.concatenate([self.head_.transform(scores) for _, scores in chunks], axis=0)

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
        """The canvases the oracle sees for ``X`` under view 0: each sample framed by the
        learned program.

        Returns
        -------
        canvases : ndarray of shape (n_samples, H, W, C), float32 in [0, 1]
        """
        check_is_fitted(self)
        samples, program = self._prepare(X)
        frame = program.frame(self.program_)
        canvases = np.empty((len(samples),) + tuple(self.canvas_shape_), dtype=np.float32)
        for idx, chunk in samples.chunks(self._chunk_rows()):
            canvases[idx] = program.compose(frame, chunk)
        return canvases

    # ------------------------------------------- state, checkpoints, pickles

    def __sklearn_is_fitted__(self):
        return hasattr(self, "head_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A few hundred queries of a toy oracle do not reach the 83% that scikit-learn's
        # common checks ask of any classifier on their blob problems.
        tags.classifier_tags.poor_score = True
        return tags

    # ------------------------------------------------------------- helpers

    def _started_elsewhere(self):
        """Whether the program differs from the one every training answer was paid under
        (a surrogate's start): the final pass is then needed even without a step."""
        under = self._cache.complete_under
        return under is not None and not np.array_equal(under, self.program_)

