"""The paper's experiments: ASD 10-fold CV, the q/m grid, ablations and baselines.

Each is one command in ``examples/`` (``asd_cross_validation.py``, ``grid_search_q_m.py``,
``ablations.py``); the pieces they share live here:

- the task: :func:`load_asd_task` (real ABIDE or the SIMULATED cohort),
  :func:`make_bar_pipeline`, :func:`asd_scoring` (accuracy, sensitivity, specificity and
  the queries each fit spent);
- the runs: :func:`cross_validate_methods` (every method on the same folds, a
  :class:`CVReport`), :func:`grid_search_q_m`;
- the baselines: :func:`make_logistic_baseline`, :func:`make_mlp_baseline` (trained from
  scratch), :func:`make_linear_probe` (logistic regression on the black-box outputs),
  and, with torch, :class:`WhiteBoxReprogrammingClassifier` (AR with true gradients) and
  :class:`FineTuningClassifier`.

See ``docs/experiments.md`` for the figures and the commands that made them.
"""

from ._asd import (
    ASD,
    CONTROL,
    asd_scoring,
    correlation_to_pixels,
    fit_queries,
    load_asd_task,
    make_bar_pipeline,
    pixels_pipeline,
    upper_triangle,
)
from ._baselines import make_linear_probe, make_logistic_baseline, make_mlp_baseline
from ._report import (
    CVReport,
    best_grid_point,
    cross_validate_methods,
    format_table,
    grid_search_q_m,
    grid_table,
    ten_fold,
)
from ._torch import FineTuningClassifier, WhiteBoxReprogrammingClassifier, torch_available

__all__ = [
    "ASD",
    "CONTROL",
    "CVReport",
    "FineTuningClassifier",
    "WhiteBoxReprogrammingClassifier",
    "asd_scoring",
    "best_grid_point",
    "correlation_to_pixels",
    "cross_validate_methods",
    "fit_queries",
    "format_table",
    "grid_search_q_m",
    "grid_table",
    "load_asd_task",
    "make_bar_pipeline",
    "make_linear_probe",
    "make_logistic_baseline",
    "make_mlp_baseline",
    "pixels_pipeline",
    "ten_fold",
    "torch_available",
    "upper_triangle",
]
