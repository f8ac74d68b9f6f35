"""What the ASD example scripts share: pipelines, scorers, baselines, tables and options.

The scripts beside this file (``asd_cross_validation.py``, ``grid_search_q_m.py``,
``ablations.py``) reproduce the structure of the ASD experiments of Tsai et al. (2020)
and import it from their own folder (``python examples/<script>.py`` puts the folder on
``sys.path``). It is lab code, not part of the package: the reusable parts are in
:mod:`skbar.datasets` (:func:`~skbar.datasets.load_asd_task`,
:func:`~skbar.datasets.correlation_to_pixels`) and :mod:`skbar.baselines` (white-box AR and
fine-tuning, with the ``torch`` extra).

- the pipelines: :func:`make_bar_pipeline`, :func:`pixels_pipeline`, and the baselines
  that need no gradient of the source model, :func:`make_logistic_baseline`,
  :func:`make_mlp_baseline` (trained from scratch) and :func:`make_linear_probe`
  (logistic regression on the black-box outputs);
- the scores: :func:`asd_scoring` (accuracy, sensitivity, specificity and the queries each
  fit spent), :func:`cross_validate_methods` (every method on the same folds, a
  :class:`CVReport`), :func:`grid_search_q_m`, and the Markdown tables;
- the command-line options: :func:`experiment_parser` and the helpers that read it.

Every method is scored by :func:`sklearn.model_selection.cross_validate` (or
``GridSearchCV``); folds and grid points run in parallel through joblib, so the same call
runs on local processes or, inside ``joblib.parallel_backend("dask")``, on a Dask cluster.
See ``docs/experiments.md`` for the figures and the commands that made them.
"""

import argparse
import contextlib
import os
import platform
import time
from dataclasses import dataclass, field

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer, recall_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skbar import BlackBoxReprogrammingClassifier
from skbar.datasets import ASD, CONTROL, correlation_to_pixels, load_asd_task, upper_triangle
from skbar.optim import Adam
from skbar.oracles import RandomNetworkOracle
from skbar.heads import LinearHead

# ------------------------------------------------------------------- pipelines


def pixels_pipeline(estimator, name="bar"):
    """``correlation_to_pixels``, then ``estimator``: every model reads the same pixels.

    Parameters
    ----------
    estimator : estimator
        A model of images in [0, 1].
    name : str, default="bar"
        Its step's name: grid parameters read ``<name>__<parameter>``.

    Returns
    -------
    Pipeline
        Steps ``"pixels"`` and ``name``.
    """
    return Pipeline([("pixels", FunctionTransformer(correlation_to_pixels)), (name, estimator)])


def make_bar_pipeline(oracle, **params):
    """BAR on correlation matrices: ``correlation_to_pixels``, then the estimator.

    Parameters
    ----------
    oracle : object
        The source model (see :class:`~skbar.BlackBoxReprogrammingClassifier`).
    **params
        Further estimator parameters (``q``, ``m``, ``embed_size``, ...). Unless given,
        ``head="average"`` and ``gradient="random"`` (one-sided differences
        along directions on the sphere): the paper's BAR.

    Returns
    -------
    Pipeline
        Steps ``"pixels"`` and ``"bar"``: grid parameters read ``bar__q``, ``bar__m``.
    """
    # The paper's BAR unless told otherwise: the fixed multi-label average and one-sided
    # differences, so that the tables compare the method as published.
    params = {"rescale": False, "head": "average", "gradient": "random", **params}
    return pixels_pipeline(BlackBoxReprogrammingClassifier(oracle, **params))


def make_logistic_baseline():
    """Logistic regression on the upper triangle: the simulated cohort's calibration model.

    ``make_asd_cohort`` is calibrated so that this model reaches about 71% 10-fold
    accuracy on the full cohort at ``difficulty=1``: the ceiling a linear read-out of the
    raw data gets.

    Returns
    -------
    Pipeline
        Steps ``"features"`` (:func:`~skbar.datasets.upper_triangle`) and ``"logistic"``.
    """
    return Pipeline([
        ("features", FunctionTransformer(upper_triangle)),
        ("logistic", LogisticRegression(max_iter=1000)),
    ])


def make_mlp_baseline(hidden_layer_sizes=(64,), alpha=1.0, max_iter=200, random_state=0):
    """A small network trained from scratch on the target data alone.

    One hidden layer over the standardised upper triangle, with strong L2 (``alpha``)
    and early stopping: about 20,000 inputs and a thousand subjects.

    Parameters
    ----------
    hidden_layer_sizes, alpha, max_iter, random_state
        As in :class:`~sklearn.neural_network.MLPClassifier`.

    Returns
    -------
    Pipeline
        Steps ``"features"``, ``"scale"`` and ``"mlp"``.
    """
    return Pipeline([
        ("features", FunctionTransformer(upper_triangle)),
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=hidden_layer_sizes, alpha=alpha,
                              early_stopping=True, max_iter=max_iter,
                              random_state=random_state)),
    ])


def make_linear_probe(oracle, output_alpha=10.0, **params):
    """The black-box linear probe: a ridge head on the source model's log-probabilities.

    This is the estimator's learned output mapping with no program search
    (``head="linear"``, ``max_iter=0``): each training sample is embedded in a
    grey frame and sent once, and the ridge head, pulled towards the frequency mapping
    those same outputs give, is fitted on the log source scores. ``n_queries_`` is the
    number of training samples.

    Parameters
    ----------
    oracle : object
        The source model.
    output_alpha : float, default=10.0
        L2 regularisation of the ridge output mapping.
    **params
        Embedding parameters (``embed_size``, ``batch_size``, ...).

    Returns
    -------
    Pipeline
        As :func:`make_bar_pipeline`.
    """
    return make_bar_pipeline(oracle, label_map="frequency", head=LinearHead(output_alpha),
                             max_iter=0, **params)


# --------------------------------------------------------------------- scoring


def fit_queries(estimator, X=None, y=None):
    """Images the estimator sent to its source model during ``fit`` (a scorer).

    Reads ``n_queries_`` of the last step of a pipeline; 0 for a model that never
    queries one (e.g. a baseline trained on the data alone). Used as a scorer so that
    ``cross_validate`` and ``GridSearchCV`` report it per fold beside the accuracy;
    it sends nothing to the model.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted.
    X, y : ignored
        A scorer's signature.

    Returns
    -------
    int
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


def ten_fold(random_state=0, n_splits=10):
    """The paper's split: stratified 10-fold cross-validation, shuffled with a fixed seed.

    Parameters
    ----------
    random_state : int, default=0
    n_splits : int, default=10

    Returns
    -------
    StratifiedKFold
    """
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)


# ---------------------------------------------------------------- runs, tables

_METRICS = ("accuracy", "sensitivity", "specificity")
_MEAN_STD = "{:.3f} ± {:.3f}"
_CV_COLUMNS = [
    ("method", "method", "{}"),
    ("accuracy", ("accuracy_mean", "accuracy_std"), _MEAN_STD),
    ("sensitivity", ("sensitivity_mean", "sensitivity_std"), _MEAN_STD),
    ("specificity", ("specificity_mean", "specificity_std"), _MEAN_STD),
    ("queries / fold", "queries_mean", "{:,.0f}"),
    ("fit s / fold", "fit_time_mean", "{:.1f}"),
    ("wall s", "wall_time", "{:.0f}"),
]


@dataclass
class CVReport:
    """Cross-validated scores of several methods on the same folds.

    Attributes
    ----------
    rows : list of dict
        One per method: ``method``, ``<metric>_mean`` and ``<metric>_std`` for accuracy,
        sensitivity and specificity, ``queries_mean`` (images sent to the source model
        by each fold's fit), ``fit_time_mean`` (seconds per fold) and ``wall_time``
        (seconds for all the method's folds, in parallel).
    results : dict
        ``cross_validate``'s output per method: per-fold arrays ``test_accuracy``,
        ``test_queries``, ``fit_time``, ..., ``indices`` (each fold's train and test
        rows) and ``estimator`` when asked for.
    """

    rows: list = field(default_factory=list)
    results: dict = field(default_factory=dict)

    def to_markdown(self):
        """The rows as a Markdown table, one line per method."""
        return format_table(self.rows, _CV_COLUMNS)

    __str__ = to_markdown


def cross_validate_methods(methods, X, y, cv=None, n_jobs=None, return_estimator=False,
                           verbose=0, report=None):
    """Score each method on the same folds: accuracy, sensitivity, specificity, queries, time.

    Parameters
    ----------
    methods : dict of str to estimator
        Name and (unfitted) estimator of each row, in order.
    X : array-like of shape (n_samples, R, R)
    y : array-like of shape (n_samples,)
        1 = ASD, 0 = control.
    cv : cross-validation splitter, default=None
        :func:`ten_fold` when None. A splitter with a fixed ``random_state`` gives every
        method the same folds.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib; a Dask cluster inside
        ``joblib.parallel_backend("dask")``).
    return_estimator : bool, default=False
        Keep each fold's fitted estimator in ``results``.
    verbose : int, default=0
        Passed to ``cross_validate`` (less one); 1 also prints a line of progress as each
        method is done (not its row: the table is :meth:`CVReport.to_markdown`).
    report : CVReport, optional
        Append to this report instead of a new one.

    Returns
    -------
    CVReport
    """
    cv = ten_fold() if cv is None else cv
    report = CVReport() if report is None else report
    for name, estimator in methods.items():
        started = time.perf_counter()
        result = cross_validate(estimator, X, y, cv=cv, scoring=asd_scoring(), n_jobs=n_jobs,
                                return_estimator=return_estimator, return_indices=True,
                                verbose=max(verbose - 1, 0))
        wall = time.perf_counter() - started
        row = {"method": name}
        for metric in _METRICS:
            row[f"{metric}_mean"] = float(np.mean(result[f"test_{metric}"]))
            row[f"{metric}_std"] = float(np.std(result[f"test_{metric}"]))
        row["queries_mean"] = float(np.mean(result["test_queries"]))
        row["fit_time_mean"] = float(np.mean(result["fit_time"]))
        row["wall_time"] = wall
        report.rows.append(row)
        report.results[name] = result
        if verbose:
            # Progress only: the table is the caller's to print, once, at the end.
            print(f"done: {name}, accuracy {row['accuracy_mean']:.3f}, "
                  f"{row['queries_mean']:,.0f} queries a fold, {wall:.0f} s", flush=True)
    return report


def grid_search_q_m(estimator, X, y, q=(2, 5, 10), m=(1, 3, 5), cv=None, n_jobs=None,
                    step="bar", refit=False, verbose=0):
    """``GridSearchCV`` over BAR's ``q`` and ``m``, with the queries each grid point spent.

    The queries are read off each fold's fitted estimator by the ``queries`` scorer of
    :func:`asd_scoring`, so ``cv_results_`` holds them beside the accuracy: no refit,
    no callback.

    Parameters
    ----------
    estimator : Pipeline
        With the reprogramming classifier as step ``step`` (see
        :func:`make_bar_pipeline`).
    X, y : arrays
    q, m : sequence of int
        The grid.
    cv : splitter, default=None
        3-fold stratified, shuffled with seed 0, when None.
    n_jobs : int, default=None
        Grid points and folds fitted in parallel.
    step : str, default="bar"
    refit : bool, default=False
        Refit the best point on all of ``X`` (more queries); the table does not need it.
    verbose : int, default=0

    Returns
    -------
    search : GridSearchCV
        Fitted; ``cv_results_`` has ``mean_test_accuracy`` and ``mean_test_queries``.
    rows : list of dict
        One per ``(q, m)``: ``q``, ``m``, ``accuracy_mean``, ``accuracy_std``,
        ``queries_mean`` (per fold), ``fit_time_mean`` and ``rank``.
    """
    cv = StratifiedKFold(3, shuffle=True, random_state=0) if cv is None else cv
    search = GridSearchCV(estimator, {f"{step}__q": list(q), f"{step}__m": list(m)},
                          scoring=asd_scoring(), refit="accuracy" if refit else False,
                          cv=cv, n_jobs=n_jobs, verbose=verbose)
    search.fit(X, y)
    res = search.cv_results_
    rows = [{
        "q": int(res[f"param_{step}__q"][i]), "m": int(res[f"param_{step}__m"][i]),
        "accuracy_mean": float(res["mean_test_accuracy"][i]),
        "accuracy_std": float(res["std_test_accuracy"][i]),
        "queries_mean": float(res["mean_test_queries"][i]),
        "fit_time_mean": float(res["mean_fit_time"][i]),
        "rank": int(res["rank_test_accuracy"][i]),
    } for i in range(len(res["params"]))]
    return search, rows


def grid_table(rows):
    """The ``rows`` of :func:`grid_search_q_m` as a Markdown table, sorted by ``q`` then ``m``."""
    return format_table(sorted(rows, key=lambda r: (r["q"], r["m"])), [
        ("q", "q", "{}"), ("m", "m", "{}"),
        ("accuracy", ("accuracy_mean", "accuracy_std"), _MEAN_STD),
        ("queries / fold", "queries_mean", "{:,.0f}"),
        ("fit s / fold", "fit_time_mean", "{:.1f}"),
        ("rank", "rank", "{}"),
    ])


def best_grid_point(rows):
    """Of the ``rows`` of :func:`grid_search_q_m`, the one ranked first by mean accuracy;
    the cheaper one on a tie."""
    return min(rows, key=lambda r: (r["rank"], r["queries_mean"]))


def format_table(rows, columns):
    """A Markdown table.

    Parameters
    ----------
    rows : list of dict
    columns : list of (header, key or tuple of keys, format string)
        A cell is ``format.format(*values)``.

    Returns
    -------
    str
        The header, the rule (the first column left-aligned, the others right-aligned)
        and one line per row.
    """
    def cell(row, keys, fmt):
        keys = keys if isinstance(keys, tuple) else (keys,)
        return fmt.format(*(row[k] for k in keys))

    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(cell(row, keys, fmt) for _, keys, fmt in columns) + " |"
            for row in rows]
    return "\n".join([header, rule] + body)


# ------------------------------------------------------- command-line options


def experiment_parser(description):
    """An ``argparse`` parser with the options every ASD experiment takes.

    Parameters
    ----------
    description : str
        The script's ``--help`` description.

    Returns
    -------
    argparse.ArgumentParser
        Option groups "data", "source model", "BAR" and "parallelism"; a script adds its
        own options and may change the defaults (``set_defaults``).
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--abide-root", default=None,
                      help="folder of ABIDE Preprocessed CC200 files and the phenotypic CSV; "
                           "without it, the SIMULATED cohort (make_asd_cohort)")
    data.add_argument("--n-asd", type=int, default=503, help="simulated ASD subjects")
    data.add_argument("--n-control", type=int, default=531, help="simulated controls")
    data.add_argument("--n-regions", type=int, default=200, help="simulated regions")
    data.add_argument("--folds", type=int, default=10, help="stratified CV folds")
    data.add_argument("--seed", type=int, default=0, help="cohort, folds and estimators")
    model = parser.add_argument_group("source model")
    model.add_argument("--model", default="efficientnet-lite0",
                       help="skbar.zoo model, or 'toy' for a RandomNetworkOracle (a smoke run)")
    model.add_argument("--image-size", type=int, default=128,
                       help="resolution the model runs at (its own: 224)")
    model.add_argument("--embed-size", type=int, default=112,
                       help="pixels the correlation matrix is resized to on the canvas")
    bar = parser.add_argument_group("BAR")
    bar.add_argument("--max-queries", type=int, default=2000,
                     help="query budget of each fold's fit, the frequency mapping's included")
    bar.add_argument("--q", type=int, default=4, help="random directions per gradient estimate")
    bar.add_argument("--m", type=int, default=3, help="source labels per target class")
    bar.add_argument("--batch-size", type=int, default=8)
    bar.add_argument("--learning-rate", type=float, default=0.1)
    bar.add_argument("--program-size", type=int, default=8,
                     help="side of the reduced program W, upsampled to the canvas (AutoZOOM)")
    run = parser.add_argument_group("parallelism")
    run.add_argument("--n-jobs", type=int, default=2, help="folds / grid points in parallel")
    run.add_argument("--scheduler", default=None,
                     help="address of a Dask scheduler (tcp://...), or 'local' for a "
                          "LocalCluster of --n-jobs worker processes: run the folds there "
                          "through joblib's Dask backend")
    return parser


def load_task(args):
    """The ASD data the options name (see :func:`skbar.datasets.load_asd_task`)."""
    return load_asd_task(args.abide_root, n_asd=args.n_asd, n_control=args.n_control,
                         n_regions=args.n_regions, random_state=args.seed)


def make_oracle(args):
    """The source model: the zoo's at ``--image-size``, or the toy network for ``--model toy``.

    With folds in parallel, each process runs the model on one thread: two processes of
    two threads on two cores only fight.
    """
    if args.model == "toy":
        size = args.embed_size + 8
        return RandomNetworkOracle(input_shape=(size, size, 3), n_classes=100, record=False)
    from skbar import zoo

    threads = 1 if (args.n_jobs or 1) != 1 or args.scheduler else None
    return zoo.load(args.model, image_size=args.image_size, n_threads=threads)


def bar_params(args, **overrides):
    """BlackBoxReprogrammingClassifier parameters from the options, then ``overrides``."""
    params = {"embed_size": args.embed_size, "q": args.q, "m": args.m,
              "batch_size": args.batch_size, "optimizer": Adam(args.learning_rate), "program_shape": (args.program_size, args.program_size),
              "max_iter": 10**9, "max_queries": args.max_queries, "random_state": args.seed}
    params.update(overrides)
    return params


@contextlib.contextmanager
def parallel_backend(args):
    """joblib's Dask backend on the cluster at ``--scheduler``; the default backend otherwise."""
    if args.scheduler is None:
        yield
        return
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        address = args.scheduler
        if address == "local":
            address = stack.enter_context(LocalCluster(
                n_workers=args.n_jobs, threads_per_worker=1, processes=True))
        client = stack.enter_context(Client(address))
        # The workers unpickle this module's scorer (fit_queries) by name; it is not part
        # of the installed package, so send them this file.
        client.upload_file(__file__)
        stack.enter_context(joblib.parallel_backend("dask"))
        yield


def describe_run(args, task, started):
    """Lines saying what ran where, for the top of an example's output."""
    model = (f"toy RandomNetworkOracle ({args.embed_size + 8} px)" if args.model == "toy"
             else f"{args.model} at {args.image_size} px")
    return (f"data: {task.name}\n"
            f"model: {model}, matrix embedded at "
            f"{args.embed_size} px; {args.folds}-fold stratified CV (seed {args.seed}); "
            f"n_jobs={args.n_jobs}{' on ' + args.scheduler if args.scheduler else ''}\n"
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
            f"{time.perf_counter() - started:.0f} s so far")
