"""Deprecated: :mod:`skbar.heads` (removed in 0.3); ``OutputMapping`` is ``Head``."""

import warnings

from .heads import HEADS as OUTPUT_MAPPINGS  # noqa: F401
from .heads import Head as OutputMapping  # noqa: F401
from .heads import IterativeLabelMapping, LinearHead, MultiLabelAverage  # noqa: F401

warnings.warn("skbar.output_mapping moved to skbar.heads in skbar 0.2.", FutureWarning,
              stacklevel=2)
