"""Heads and objectives: from the source model's scores to target classes.

- label maps (:func:`frequency_label_map`, :func:`random_label_map`): the ``m`` source
  labels of each target class, the paper's multi-label mapping;
- heads (:class:`LinearHead`, :class:`MultiLabelAverage`, :class:`IterativeLabelMapping`):
  what turns scores into the class probabilities a prediction ships;
- :class:`Objective`: what the search minimises.
"""

from ._heads import HEADS, Head, IterativeLabelMapping, LinearHead, MultiLabelAverage
from ._label_maps import (LogScores, RowsOf, answers_top_k, apply_label_map, apply_linear_map, check_label_map,
                          check_mapping_size, choose_label_map, fit_linear_map,
                          frequency_label_map, label_map_prior, log_scores,
                          random_label_map)
from ._objectives import OBJECTIVES, Objective, resolve_objective

__all__ = ["HEADS", "Head", "LogScores", "RowsOf", "IterativeLabelMapping", "LinearHead", "MultiLabelAverage",
           "OBJECTIVES", "Objective", "answers_top_k", "apply_label_map", "apply_linear_map",
           "check_label_map", "check_mapping_size", "choose_label_map", "fit_linear_map",
           "frequency_label_map", "label_map_prior", "log_scores", "random_label_map",
           "resolve_objective"]
