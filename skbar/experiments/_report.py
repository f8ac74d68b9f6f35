"""Run the experiments on shared folds and turn scikit-learn's results into tables.

Every method is scored by :func:`sklearn.model_selection.cross_validate` (or
``GridSearchCV``) on the same splitter, with the scorers of :func:`asd_scoring`; folds
and grid points run in parallel through joblib, so the same call runs on local
processes or, inside ``joblib.parallel_backend("dask")``, on a Dask cluster.
"""

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from ._asd import asd_scoring

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


def ten_fold(random_state=0, n_splits=10):
    """The paper's split: stratified 10-fold cross-validation, shuffled with a fixed seed."""
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)


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
        Passed to ``cross_validate``; 1 also prints each method's row when it is done.
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
            lines = format_table([row], _CV_COLUMNS).splitlines()
            print("\n".join(lines if len(report.rows) == 1 else lines[-1:]), flush=True)
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
    """The grid search's rows as a Markdown table, sorted by ``q`` then ``m``."""
    return format_table(sorted(rows, key=lambda r: (r["q"], r["m"])), [
        ("q", "q", "{}"), ("m", "m", "{}"),
        ("accuracy", ("accuracy_mean", "accuracy_std"), _MEAN_STD),
        ("queries / fold", "queries_mean", "{:,.0f}"),
        ("fit s / fold", "fit_time_mean", "{:.1f}"),
        ("rank", "rank", "{}"),
    ])


def best_grid_point(rows):
    """The row ranked first by mean accuracy; the cheaper one on a tie."""
    return min(rows, key=lambda r: (r["rank"], r["queries_mean"]))


def format_table(rows, columns):
    """A Markdown table.

    Parameters
    ----------
    rows : list of dict
    columns : list of (header, key or tuple of keys, format string)
        A cell is ``format.format(*values)``.
    """
    def cell(row, keys, fmt):
        keys = keys if isinstance(keys, tuple) else (keys,)
        return fmt.format(*(row[k] for k in keys))

    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(cell(row, keys, fmt) for _, keys, fmt in columns) + " |"
            for row in rows]
    return "\n".join([header, rule] + body)
